//! Scenario `script-cache`: on a Redis Cluster each master keeps its own script cache. A script
//! loaded on one master is unknown to the others: EVALSHA there answers NOSCRIPT, until the
//! client sends the script itself (EVAL), which is what a cluster client does when it meets
//! NOSCRIPT.
//!
//! Each command goes through the fence, on a plain connection to one chosen master, so where it
//! runs is certain (a cluster client would route a keyless SCRIPT LOAD to every master). The
//! script touches no key; it stays in the cache like any loaded script. A comment with a fresh
//! number makes it a new script on every run, so an earlier run's cache cannot answer for it.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use redis::Value;

use super::params::{Param, WAIT_ONLY, WaitOnly};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::cluster::Node;
use crate::redis::connect::Rights;
use crate::redis::fence::RawConn;
use crate::redis::render::{error_text, printable_str};

/// The script's body: a greeting, no keys.
const BODY: &str = "return 'hello from ' .. ARGV[1]";

pub struct ScriptCache;

impl Scenario for ScriptCache {
    const NAME: &'static str = "script-cache";
    const SUMMARY: &'static str = "on a Redis Cluster each master has its own script cache: a script loaded on one is NOSCRIPT on another until sent whole";
    const PARAMS: &'static [Param] = WAIT_ONLY;
    type Params = WaitOnly;

    async fn run(ctx: &ScenarioContext<'_>, p: WaitOnly) -> Result<ScenarioReport> {
        let wait = p.wait();
        let mut conn = ctx.server.connection().await?;
        let masters = conn.masters().await.context("listing the masters")?;
        let [first, second, ..] = masters.as_slice() else {
            bail!("script-cache needs a Redis Cluster with at least two masters");
        };
        let script = format!("-- run {:016x}\n{BODY}", rand::random::<u64>());
        let script = script.as_str();
        let mut a = node_conn(ctx, first, wait).await?;
        let mut b = node_conn(ctx, second, wait).await?;
        let mut rows = Vec::new();
        ctx.ticker.start(4, "loading a script on one master");
        let mut step = async |conn: &mut RawConn, node: &Node, args: &[&str]| -> Result<Value> {
            let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            conn.send(&args).await?;
            let reply = conn.next(wait).await?;
            rows.push(vec![
                shown_command(&args, script),
                format!(":{}", node.1),
                shown(&reply),
            ]);
            ctx.ticker.tick(1);
            Ok(reply)
        };
        let sha = match step(&mut a, first, &["SCRIPT", "LOAD", script]).await? {
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            other => bail!("SCRIPT LOAD replied {other:?}"),
        };
        let here = step(&mut a, first, &["EVALSHA", &sha, "0", "A"]).await?;
        let there = step(&mut b, second, &["EVALSHA", &sha, "0", "B"]).await?;
        let whole = step(&mut b, second, &["EVAL", script, "0", "B"]).await?;
        let is_text = |v: &Value| matches!(v, Value::BulkString(_));
        let mut report = ScenarioReport {
            header: vec!["command".into(), "master".into(), "reply".into()],
            rows,
            ..Default::default()
        };
        let flag = |b: bool| f64::from(u8::from(b));
        let m = &mut report.metrics;
        m.insert("evalsha_where_loaded".into(), flag(is_text(&here)));
        m.insert(
            "noscript_elsewhere".into(),
            flag(matches!(&there, Value::ServerError(e) if e.code() == "NOSCRIPT")),
        );
        m.insert("eval_elsewhere".into(), flag(is_text(&whole)));
        report.notes.push(format!(
            "The script was loaded on :{} only; :{} learnt it from the EVAL that sent it whole.",
            first.1, second.1
        ));
        Ok(report)
    }
}

/// The learner's connection to one master.
async fn node_conn(ctx: &ScenarioContext<'_>, node: &Node, wait: Duration) -> Result<RawConn> {
    ctx.server
        .raw_connection(Rights::Learner, Some(node), wait, false)
        .await
        .with_context(|| format!("connecting to {}:{}", node.0, node.1))
}

/// A long script is named, not repeated.
fn shown_command(args: &[Vec<u8>], script: &str) -> String {
    args.iter()
        .map(|a| {
            let text = String::from_utf8_lossy(a);
            if text == script {
                "‹script›".to_string()
            } else if text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit()) {
                format!("{}…", &text[..8])
            } else {
                printable_str(&text).into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn shown(v: &Value) -> String {
    match v {
        Value::ServerError(e) => printable_str(&error_text(e.code(), e.details())).into_owned(),
        Value::BulkString(b) => {
            let text = String::from_utf8_lossy(b);
            if text.len() == 40 {
                format!("\"{}…\"", &text[..8])
            } else {
                format!("\"{}\"", printable_str(&text))
            }
        }
        Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(", "),
        Value::Int(i) => format!("(integer) {i}"),
        other => printable_str(&format!("{other:?}")).into_owned(),
    }
}
