//! `kind: wait`: the one place where lesson time visibly runs. A countdown shows the watched
//! keys' TTLs; a key press (or `--auto`) fast-forwards the time left by shortening the TTLs
//! with PEXPIRE, so nobody sits through a minute.

use anyhow::Result;

use super::{Ctx, Done, Ran};
use crate::lesson::model::Step;
use crate::runner::seam::Event;

pub async fn run(
    ctx: &mut Ctx<'_, '_>,
    step: &Step,
    seconds: u64,
    keys: Option<&Vec<String>>,
) -> Result<Ran> {
    ctx.engine.thaw().await?;
    if step.show_keys.as_ref().is_none_or(|k| !k.is_empty()) {
        let before = ctx.engine.key_table(ctx.lesson, Some(step)).await?;
        ctx.show(Event::Keys(&before)).await?;
    }
    let remaining = if ctx.auto {
        seconds
    } else {
        let mut watch = ttl_watcher(ctx, keys)?;
        match ctx
            .ask_while_time_runs(|p| p.countdown(seconds, &mut watch))
            .await?
        {
            None => return Ok(Ran::Quit),
            Some(r) => r,
        }
    };
    if remaining > 0 {
        let (expired, fields_expired) =
            ctx.engine.fast_forward(ctx.lesson, keys, remaining).await?;
        ctx.show(Event::FastForwarded {
            seconds: remaining,
            of: seconds,
            expired,
            fields_expired,
        })
        .await?;
    }
    Ok(Ran::Done(Done::default()))
}

/// A function that reads the watched keys' TTLs (`lab:x 4.8s`), for the countdown.
fn ttl_watcher(
    ctx: &Ctx<'_, '_>,
    keys: Option<&Vec<String>>,
) -> Result<impl FnMut() -> String + use<>> {
    let patterns = keys.cloned().unwrap_or_else(|| ctx.lesson.keys.clone());
    let exact: Vec<String> = patterns
        .iter()
        .map(|p| ctx.engine.expand(p))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .filter(|p| !p.contains('*'))
        .take(3)
        .collect();
    let handle = tokio::runtime::Handle::current();
    let mut conn = ctx.engine.admin.clone();
    Ok(move || {
        handle.block_on(async {
            let mut parts = Vec::new();
            for k in &exact {
                let pttl: i64 = redis::cmd("PTTL")
                    .arg(k)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or(-2);
                let shown = match pttl {
                    -2 => "gone".to_string(),
                    -1 => "no TTL".to_string(),
                    ms => crate::inspect::human_ttl(Some(ms)),
                };
                parts.push(format!("{k} {shown}"));
            }
            parts.join(" · ")
        })
    })
}
