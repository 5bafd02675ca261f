//! Scenario `complexity`: O(1) against O(N): SISMEMBER on a set against LPOS on a list, as they grow.
//!
//! One set and one list grow through the requested sizes (filled with pipelined batches). At
//! each size the same member is looked up `samples` times with SISMEMBER (a hash lookup) and
//! with LPOS on the list's last element (a scan from the head). The table shows round-trip p50s
//! and, when `INFO commandstats` is readable, the time the server itself spent per call.

use std::time::Instant;

use crate::redis::fence::Fenced;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::params::{Param, int, ints};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::measure::human_us;
use crate::measure::stats::Recorder;

/// Arguments per SADD / RPUSH command while filling.
const BATCH: usize = 1000;
/// Commands per pipeline (one round trip) while filling.
const PIPELINE: usize = 10;
const WARM_UP: usize = 5;

pub struct Complexity;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub sizes: Vec<usize>,
    pub samples: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            sizes: vec![1000, 100_000],
            samples: 200,
        }
    }
}

impl Scenario for Complexity {
    const NAME: &'static str = "complexity";
    const SUMMARY: &'static str =
        "O(1) against O(N): SISMEMBER on a set against LPOS on a list, as they grow";
    const PARAMS: &'static [Param] = &[
        ints(
            "sizes",
            1,
            2_000_000,
            "sizes the set and the list grow through, strictly increasing",
        ),
        int("samples", 1, 10_000, "timed lookups per command and size"),
    ];
    const TIMED: bool = true;
    type Params = Params;

    fn check(p: &Params) -> Result<()> {
        if p.sizes.is_empty() {
            bail!("complexity: `sizes` must list at least one size");
        }
        if p.sizes.windows(2).any(|w| w[0] >= w[1]) {
            bail!(
                "complexity: `sizes` must be strictly increasing (the structures only grow), got {:?}",
                p.sizes
            );
        }
        Ok(())
    }

    async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
        if ctx.server.version_tuple() < (6, 0, 6) {
            bail!(
                "complexity needs LPOS, which arrived in Redis 6.0.6 (this server is {})",
                ctx.server.version
            );
        }
        let keys = [
            ctx.key("complexity:members:set"),
            ctx.key("complexity:members:list"),
        ];
        let mut conn = ctx.server.connection().await?;
        del(&mut conn, &keys).await?;
        let largest = params.sizes.last().copied().unwrap_or(0);
        let lookups = params.sizes.len() * 2 * (params.samples + WARM_UP);
        ctx.ticker.start((largest + lookups) as u64, "");
        let result = measure(ctx, &params, &mut conn, &keys).await;
        // Clean up whatever happened: two big keys must not stay behind.
        let cleanup = del(&mut conn, &keys).await;
        let rows = result?;
        cleanup?;
        Ok(report(&rows))
    }
}

/// One command's figures at one size, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Timing {
    /// Round-trip median.
    p50_us: f64,
    /// Time the server spent per call, from `INFO commandstats`.
    server_us: Option<f64>,
}

/// One size's measurements.
struct Row {
    size: usize,
    sismember: Timing,
    lpos: Timing,
}

async fn measure(
    ctx: &ScenarioContext<'_>,
    params: &Params,
    conn: &mut Fenced,
    [set_key, list_key]: &[String; 2],
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut filled = 0usize;
    for &size in &params.sizes {
        ctx.ticker
            .message(&format!("filling a set and a list to {size} elements"));
        fill(ctx, conn, set_key, list_key, filled, size).await?;
        filled = size;
        let target = member(size - 1);
        ctx.ticker
            .message(&format!("timing SISMEMBER and LPOS at {size} elements"));
        let mut sismember = redis::cmd("SISMEMBER");
        sismember.arg(set_key).arg(&target);
        let mut lpos = redis::cmd("LPOS");
        lpos.arg(list_key).arg(&target);
        rows.push(Row {
            size,
            sismember: time(ctx, conn, params.samples, "sismember", &sismember).await?,
            lpos: time(ctx, conn, params.samples, "lpos", &lpos).await?,
        });
    }
    Ok(rows)
}

fn member(i: usize) -> String {
    format!("member:{i}")
}

/// Grows both structures from `from` to `to` elements, `BATCH` arguments per command and
/// `PIPELINE` commands per round trip.
async fn fill(
    ctx: &ScenarioContext<'_>,
    conn: &mut Fenced,
    set_key: &str,
    list_key: &str,
    from: usize,
    to: usize,
) -> Result<()> {
    let mut start = from;
    while start < to {
        let mut pipe = redis::pipe();
        let round_start = start;
        for _ in 0..PIPELINE {
            if start >= to {
                break;
            }
            let end = (start + BATCH).min(to);
            let members: Vec<String> = (start..end).map(member).collect();
            pipe.cmd("SADD").arg(set_key).arg(&members).ignore();
            pipe.cmd("RPUSH").arg(list_key).arg(&members).ignore();
            start = end;
        }
        pipe.query_async::<()>(conn)
            .await
            .context("filling the set and the list")?;
        ctx.ticker.tick((start - round_start) as u64);
    }
    Ok(())
}

/// Sends `cmd` `samples` times (after a short warm-up), one round trip each: the round-trip
/// median, and the server's own time per call between two `INFO commandstats` snapshots.
async fn time(
    ctx: &ScenarioContext<'_>,
    conn: &mut Fenced,
    samples: usize,
    name: &str,
    cmd: &redis::Cmd,
) -> Result<Timing> {
    // The loop below repeats this one command: the fence sees it once, before the clock starts.
    let cmd = &conn.admitted(cmd.clone()).await?;
    for _ in 0..WARM_UP {
        conn.query::<redis::Value>(cmd).await?;
        ctx.ticker.tick(1);
    }
    let mut recorder = Recorder::new(1, 1)?;
    let before = command_stats(conn, name).await;
    for _ in 0..samples {
        let started = Instant::now();
        let reply: redis::Value = conn.query(cmd).await?;
        recorder.record(started.elapsed());
        if matches!(reply, redis::Value::Nil) {
            bail!("the lookup found nothing: the structure was changed while it was being timed");
        }
        ctx.ticker.tick(1);
    }
    let after = command_stats(conn, name).await;
    Ok(Timing {
        p50_us: recorder.summary().p50_us,
        server_us: per_call(before, after),
    })
}

/// `(calls, usec)` for one command from `INFO commandstats`, if the server lets us read it;
/// on a cluster, added up over every master (the keys being timed live on one of them).
async fn command_stats(conn: &mut Fenced, name: &str) -> Option<(u64, u64)> {
    let mut cmd = redis::cmd("INFO");
    cmd.arg("commandstats");
    let replies = conn.on_each_master(&cmd).await.ok()?;
    let mut total: Option<(u64, u64)> = None;
    for reply in replies {
        let info: String = redis::from_redis_value(reply).ok()?;
        if let Some((calls, usec)) = parse_command_stats(&info, name) {
            let (c, u) = total.unwrap_or((0, 0));
            total = Some((c + calls, u + usec));
        }
    }
    total
}

fn parse_command_stats(info: &str, name: &str) -> Option<(u64, u64)> {
    let prefix = format!("cmdstat_{name}:");
    let line = info.lines().find_map(|l| l.strip_prefix(&prefix))?;
    let field = |f: &str| {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(f)?.strip_prefix('='))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((field("calls")?, field("usec")?))
}

/// Server-side microseconds per call between two snapshots (a command never seen before the
/// first snapshot has no line yet, which counts as zero).
fn per_call(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let (c1, u1) = after?;
    let (c0, u0) = before.unwrap_or((0, 0));
    let calls = c1.checked_sub(c0)?;
    if calls == 0 {
        return None;
    }
    Some(u1.saturating_sub(u0) as f64 / calls as f64)
}

async fn del(conn: &mut Fenced, keys: &[String]) -> Result<()> {
    let mut cmd = redis::cmd("DEL");
    cmd.arg(keys);
    cmd.query_async::<i64>(conn)
        .await
        .context("deleting the complexity scenario's keys")?;
    Ok(())
}

/// `b / a`, or `None` when `a` is not a positive time.
fn growth(a: f64, b: f64) -> Option<f64> {
    (a > 0.0).then(|| b / a)
}

fn report(rows: &[Row]) -> ScenarioReport {
    let server = |t: Timing| t.server_us.map_or_else(|| "—".into(), human_us);
    let mut report = ScenarioReport {
        header: vec![
            "elements".into(),
            "SISMEMBER p50".into(),
            "LPOS (last) p50".into(),
            "SISMEMBER on server".into(),
            "LPOS on server".into(),
        ],
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.size.to_string(),
                    human_us(r.sismember.p50_us),
                    human_us(r.lpos.p50_us),
                    server(r.sismember),
                    server(r.lpos),
                ]
            })
            .collect(),
        ..Default::default()
    };
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return report;
    };
    let size_growth = last.size as f64 / first.size as f64;
    let o1 = growth(first.sismember.p50_us, last.sismember.p50_us).unwrap_or(0.0);
    let on = growth(first.lpos.p50_us, last.lpos.p50_us).unwrap_or(0.0);
    let server_growth = |a: Timing, b: Timing| growth(a.server_us?, b.server_us?);
    let o1_server = server_growth(first.sismember, last.sismember);
    let on_server = server_growth(first.lpos, last.lpos);
    let m = &mut report.metrics;
    m.insert("o1_growth".into(), o1);
    m.insert("on_growth".into(), on);
    m.insert("size_growth".into(), size_growth);
    m.insert("sismember_p50_us_smallest".into(), first.sismember.p50_us);
    m.insert("sismember_p50_us_largest".into(), last.sismember.p50_us);
    m.insert("lpos_p50_us_smallest".into(), first.lpos.p50_us);
    m.insert("lpos_p50_us_largest".into(), last.lpos.p50_us);
    if let Some(g) = o1_server {
        m.insert("o1_server_growth".into(), g);
    }
    if let Some(g) = on_server {
        m.insert("on_server_growth".into(), g);
    }
    report.notes = notes(first, last, o1, on, on_server);
    report
}

/// What this run's numbers say, and only that.
fn notes(first: &Row, last: &Row, o1: f64, on: f64, on_server: Option<f64>) -> Vec<String> {
    if first.size == last.size {
        return vec![format!(
            "Only one size ({}) was measured: give two or more sizes to see growth.",
            first.size
        )];
    }
    let mut notes = vec![format!(
        "The structures grew ×{:.0} ({} → {} elements): SISMEMBER's p50 changed ×{o1:.1}, LPOS's ×{on:.1}.",
        last.size as f64 / first.size as f64,
        first.size,
        last.size
    )];
    // Every number in a sentence is one of the two above, or their plain quotient.
    notes.push(if on > 2.0 * o1.max(1.0) {
        if o1 <= 1.0 {
            format!(
                "LPOS's p50 grew ×{on:.1} while SISMEMBER's did not grow (×{o1:.1}): one cost follows the size, the other does not."
            )
        } else {
            format!(
                "LPOS's p50 grew ×{on:.1}, {:.1} times SISMEMBER's ×{o1:.1}.",
                on / o1
            )
        }
    } else {
        format!(
            "LPOS's p50 grew only ×{on:.1}, not even twice SISMEMBER's ×{o1:.1}: at these sizes the round trip hides the scan; try a larger size."
        )
    });
    if let (Some(a), Some(b)) = (
        first.sismember.server_us.zip(last.sismember.server_us),
        first.lpos.server_us.zip(last.lpos.server_us),
    ) {
        notes.push(format!(
            "On the server itself (INFO commandstats): SISMEMBER {} → {}, LPOS {} → {} (×{:.0}).",
            human_us(a.0),
            human_us(a.1),
            human_us(b.0),
            human_us(b.1),
            on_server.unwrap_or(0.0)
        ));
        if first.sismember.p50_us > 0.0 {
            notes.push(format!(
                "A SISMEMBER took {} end to end and {} of that on the server: the rest, {:.0}%, was the round trip.",
                human_us(first.sismember.p50_us),
                human_us(a.0),
                100.0 * (1.0 - a.0 / first.sismember.p50_us).max(0.0)
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::validate;
    use serde_json::json;

    #[test]
    fn commandstats_parsing_and_per_call() {
        let info = "# Commandstats\r\ncmdstat_lpos:calls=10,usec=250,usec_per_call=25.00,rejected_calls=0,failed_calls=0\r\ncmdstat_get:calls=1,usec=1,usec_per_call=1.00\r\n";
        assert_eq!(parse_command_stats(info, "lpos"), Some((10, 250)));
        assert_eq!(parse_command_stats(info, "sismember"), None);
        assert_eq!(per_call(Some((10, 250)), Some((20, 450))), Some(20.0));
        assert_eq!(per_call(None, Some((4, 40))), Some(10.0));
        assert_eq!(per_call(Some((4, 40)), Some((4, 40))), None);
    }

    #[test]
    fn sizes_must_grow() {
        let ok = |v| validate("complexity", &v).is_ok();
        assert!(ok(json!({"sizes": [10, 100]})));
        assert!(!ok(json!({"sizes": [100, 10]})));
        assert!(!ok(json!({"sizes": []})));
        assert!(!ok(json!({"sizes": [0]})));
        assert!(!ok(json!({"samples": 0})));
    }

    #[test]
    fn notes_say_what_the_numbers_say() {
        let t = |p50_us, server_us| Timing { p50_us, server_us };
        let row = |size, s, l| Row {
            size,
            sismember: s,
            lpos: l,
        };
        let first = row(1000, t(50.0, Some(1.0)), t(60.0, Some(10.0)));
        let last = row(100_000, t(50.0, Some(1.0)), t(600.0, Some(1000.0)));
        let n = notes(&first, &last, 1.0, 10.0, Some(100.0));
        assert!(
            n[1].starts_with("LPOS's p50 grew ×10.0 while SISMEMBER's did not grow"),
            "{n:?}"
        );
        // A SISMEMBER that got faster is not a denominator of 1: no ratio the numbers above
        // do not give.
        let n = notes(&first, &last, 0.3, 10.4, None);
        assert!(n[1].contains("×10.4") && n[1].contains("×0.3"), "{n:?}");
        assert!(!n[1].contains("as much"), "{n:?}");
        let n = notes(&first, &last, 2.0, 10.0, None);
        assert!(n[1].contains("5.0 times SISMEMBER's ×2.0"), "{n:?}");
        assert!(n[3].contains("98%"), "{n:?}");
        let n = notes(&first, &last, 1.0, 1.5, None);
        assert!(n[1].contains("grew only ×1.5"), "{n:?}");
    }
}
