//! `redislab inspect [PATTERN]`: the namespace's keys as a table or JSON, once or watched.

use std::time::Duration;

use anyhow::{Context, Result};

use crate::cli::InspectArgs;
use crate::inspect::snapshot;
use crate::namespace;
use crate::settings::Settings;
use crate::term;

pub async fn run(settings: &Settings, args: InspectArgs) -> Result<u8> {
    let server = super::connect(settings).await?;
    // The whole database is read with a connection that can only read.
    let mut conn = match args.all {
        true => server.read_only_admin(),
        false => server.admin(),
    };
    let pattern = match (&args.pattern, args.all) {
        (Some(p), true) => p.clone(),
        (None, true) => "*".to_string(),
        (Some(p), false) => namespace::scoped(&settings.namespace, p),
        (None, false) => namespace::all_keys(&settings.namespace),
    };
    if args.json {
        let snap = snapshot(&mut conn, &pattern, args.limit).await?;
        term::out(&format!(
            "{}\n",
            crate::redis::render::json_safe(
                &serde_json::to_string_pretty(&snap).context("could not encode JSON")?
            )
        ));
        return Ok(0);
    }
    if !args.watch {
        let snap = snapshot(&mut conn, &pattern, args.limit).await?;
        term::out(&render(&snap, &pattern, args.limit));
        return Ok(0);
    }
    // Listening before the first screen: a Ctrl-C right after it must still end with 130.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("could not listen for Ctrl-C")?;
    loop {
        let snap = snapshot(&mut conn, &pattern, args.limit).await?;
        let screen = format!(
            "{}{}\n{}",
            if term::stdout_is_terminal() {
                "\x1b[2J\x1b[H"
            } else {
                ""
            },
            term::dim(&format!("{} · every 1s · Ctrl-C to stop", server.banner())),
            render(&snap, &pattern, args.limit)
        );
        term::out(&screen);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = interrupt.recv() => return Ok(crate::error::code::INTERRUPTED),
        }
    }
}

fn render(snap: &crate::inspect::Snapshot, pattern: &str, limit: usize) -> String {
    if snap.keys.is_empty() {
        return format!("{}\n", term::dim(&format!("(no keys match {pattern})")));
    }
    let mut out = term::table::keys(&snap.keys);
    out.push('\n');
    let count = snap.keys.len();
    let note = if snap.truncated {
        format!("{count} keys shown (limit {limit}; more match {pattern} — use --limit)")
    } else {
        format!(
            "{count} key{} matching {pattern}",
            if count == 1 { "" } else { "s" }
        )
    };
    out.push_str(&term::dim(&note));
    out.push('\n');
    out
}
