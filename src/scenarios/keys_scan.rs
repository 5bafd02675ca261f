//! Scenario `keys-vs-scan`: why `KEYS` is forbidden in production and `SCAN` is not. A server
//! runs one command at a time, and `KEYS pattern` walks the whole keyspace in one command,
//! whatever its pattern: every other client waits until it ends. `SCAN` walks the same keys in
//! many short calls, a cursor going from 0 back to 0, and other clients are served between them.
//!
//! It needs many keys, so it runs on a private server (see `private`), never on the learner's.
//! `keys` keys are written, one in a thousand a "user" key, the rest "event" keys. Another
//! client sends PING after PING and times each while the first client runs `KEYS` for the user
//! keys, then while it walks them with `SCAN ... MATCH ... COUNT`. During the walk new keys are
//! written between calls (half as many again, so the table grows), as a live server's would be:
//! SCAN still returns every key that was there from start to end. MATCH filters each page
//! after the server took its COUNT of slots, so many pages come back empty.

use std::collections::HashMap;

use anyhow::{Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::private::{Pinged, Private, args, while_pinging, worst};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::measure::human_us;

/// Keys per MSET.
const BATCH: u64 = 1000;
/// One key in this many is a user key.
const EVERY: u64 = 1000;

pub struct KeysVsScan;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub keys: u64,
    pub count: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            keys: 100_000,
            count: 1000,
        }
    }
}

impl Scenario for KeysVsScan {
    const NAME: &'static str = "keys-vs-scan";
    const SUMMARY: &'static str = "KEYS walks the whole keyspace in one command and another client's PING waits for it; a SCAN loop walks it in short calls";
    const PARAMS: &'static [Param] = &[
        int(
            "keys",
            1000,
            1_000_000,
            "keys written on the private server (one in a thousand a user key)",
        ),
        int(
            "count",
            10,
            100_000,
            "the COUNT hint of each SCAN call (slots looked at per call)",
        ),
    ];
    const TIMED: bool = true;
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let mut s = match Private::start(ctx).await? {
            Ok(s) => s,
            Err(why) => {
                return Ok(ScenarioReport {
                    skipped: Some(why),
                    ..Default::default()
                });
            }
        };
        let found = play(&mut s, ctx, &p).await?;
        let program = s.program.clone();
        drop(s);
        Ok(report(&p, &found, &program))
    }
}

struct Found {
    users: u64,
    keys_found: u64,
    keys_pings: Vec<f64>,
    keys_us: f64,
    scan_pings: Vec<f64>,
    scan_us: f64,
    calls: u64,
    empty_pages: u64,
    returned: u64,
    distinct: u64,
    missing: u64,
    written_during: u64,
    /// Server time of the one KEYS, and of one SCAN call on average (INFO commandstats).
    keys_server_us: u64,
    scan_server_us_per_call: f64,
}

fn user(ctx: &ScenarioContext<'_>, i: u64) -> String {
    if i.is_multiple_of(EVERY) {
        ctx.key(&format!("ops:user:{i}"))
    } else {
        ctx.key(&format!("ops:event:{i}"))
    }
}

async fn mset(s: &mut Private, keys: impl Iterator<Item = String>) -> Result<()> {
    let mut cmd = vec![b"MSET".to_vec()];
    for k in keys {
        cmd.push(k.into_bytes());
        cmd.push(b"x".to_vec());
    }
    if cmd.len() > 1 {
        s.send(&cmd).await?;
    }
    Ok(())
}

async fn play(s: &mut Private, ctx: &ScenarioContext<'_>, p: &Params) -> Result<Found> {
    ctx.ticker.start(p.keys / BATCH + 1, "writing keys");
    let mut i = 0;
    while i < p.keys {
        let end = (i + BATCH).min(p.keys);
        mset(s, (i..end).map(|i| user(ctx, i))).await?;
        ctx.ticker.tick(1);
        i = end;
    }
    let users = p.keys.div_ceil(EVERY);
    let pattern = ctx.key("ops:user:*");
    let display = s.display.clone();
    let mut pinger = s.other().await?;

    ctx.ticker.message("KEYS, while another client PINGs");
    let keys = args(&[b"KEYS", pattern.as_bytes()]);
    let Pinged {
        out: keys_found,
        pings_us: keys_pings,
        work_us: keys_us,
    } = while_pinging(&display, &mut pinger, async {
        match s.send(&keys).await? {
            Value::Array(items) => Ok(items.len() as u64),
            other => bail!("KEYS replied {other:?}"),
        }
    })
    .await?;

    ctx.ticker
        .message("a SCAN loop, while another client PINGs");
    // Half as many keys again, written between the calls: the table grows during the walk.
    let grow = p.keys / 2;
    let count = p.count.to_string();
    let Pinged {
        out: (calls, empty_pages, seen, written_during),
        pings_us: scan_pings,
        work_us: scan_us,
    } = while_pinging(&display, &mut pinger, async {
        let mut seen: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut cursor = b"0".to_vec();
        let (mut calls, mut empty, mut written) = (0u64, 0u64, 0u64);
        let per_call = (grow / (p.keys / p.count).max(1)).max(1);
        loop {
            let cmd = vec![
                b"SCAN".to_vec(),
                cursor.clone(),
                b"MATCH".to_vec(),
                pattern.clone().into_bytes(),
                b"COUNT".to_vec(),
                count.clone().into_bytes(),
            ];
            let (next, page) = scan_page(&s.send(&cmd).await?)?;
            calls += 1;
            if page.is_empty() {
                empty += 1;
            }
            for k in page {
                *seen.entry(k).or_default() += 1;
            }
            cursor = next;
            if cursor == b"0" {
                break;
            }
            if written < grow {
                let n = per_call.min(grow - written);
                mset(
                    s,
                    (written..written + n).map(|j| ctx.key(&format!("ops:event:new:{j}"))),
                )
                .await?;
                written += n;
            }
        }
        Ok((calls, empty, seen, written))
    })
    .await?;
    let (_, keys_server_us) = s.command_time("keys").await?;
    let (scan_calls, scan_usec) = s.command_time("scan").await?;
    let scan_server_us_per_call = scan_usec as f64 / scan_calls.max(1) as f64;
    let returned = seen.values().sum();
    let distinct = seen.len() as u64;
    let missing = (0..p.keys)
        .step_by(EVERY as usize)
        .filter(|i| !seen.contains_key(user(ctx, *i).as_bytes()))
        .count() as u64;
    Ok(Found {
        users,
        keys_found,
        keys_pings,
        keys_us,
        scan_pings,
        scan_us,
        calls,
        empty_pages,
        returned,
        distinct,
        missing,
        written_during,
        keys_server_us,
        scan_server_us_per_call,
    })
}

/// `SCAN`'s reply: the next cursor and the page of keys.
fn scan_page(v: &Value) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    if let Value::Array(parts) = v {
        if let [Value::BulkString(cursor), Value::Array(keys)] = parts.as_slice() {
            let keys = keys
                .iter()
                .map(|k| match k {
                    Value::BulkString(b) => Ok(b.clone()),
                    other => bail!("SCAN returned a key {other:?}"),
                })
                .collect::<Result<_>>()?;
            return Ok((cursor.clone(), keys));
        }
    }
    bail!("SCAN replied {v:?}")
}

/// The middle value (0 for none).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The fewest PINGs whose median the table shows: during KEYS only one to three fit (each
/// waits for KEYS to end), and the median of so few says nothing.
const MEDIAN_MIN_PINGS: usize = 5;

/// A median for the table, or `–` when there were too few PINGs to have one.
fn median_shown(v: &[f64]) -> String {
    if v.len() < MEDIAN_MIN_PINGS {
        "–".into()
    } else {
        human_us(median(v))
    }
}

fn report(p: &Params, f: &Found, program: &str) -> ScenarioReport {
    let keys_worst = worst(&f.keys_pings);
    let scan_worst = worst(&f.scan_pings);
    let mut report = ScenarioReport {
        header: vec![
            "walk".into(),
            "calls".into(),
            "server time/call".into(),
            "worst PING".into(),
            "median PING".into(),
            "PINGs".into(),
            "user keys".into(),
        ],
        rows: vec![
            vec![
                "KEYS".into(),
                "1".into(),
                human_us(f.keys_server_us as f64),
                human_us(keys_worst),
                median_shown(&f.keys_pings),
                f.keys_pings.len().to_string(),
                format!("{}/{}", f.keys_found, f.users),
            ],
            vec![
                "SCAN".into(),
                f.calls.to_string(),
                human_us(f.scan_server_us_per_call),
                human_us(scan_worst),
                median_shown(&f.scan_pings),
                f.scan_pings.len().to_string(),
                format!("{}/{}", f.distinct, f.users),
            ],
        ],
        ..Default::default()
    };
    let m = &mut report.metrics;
    let mut put = |k: &str, v: f64| {
        m.insert(k.into(), v);
    };
    put("keys", p.keys as f64);
    put("user_keys", f.users as f64);
    put("keys_found", f.keys_found as f64);
    put("keys_us", f.keys_us);
    put("keys_server_us", f.keys_server_us as f64);
    put("scan_server_us_per_call", f.scan_server_us_per_call);
    put("ping_median_during_keys_us", median(&f.keys_pings));
    put("ping_median_during_scan_us", median(&f.scan_pings));
    // One KEYS against one SCAN call, in server time; and how much of the KEYS the other
    // client's PING waited through.
    put(
        "keys_vs_scan_call",
        f.keys_server_us as f64 / f.scan_server_us_per_call.max(1.0),
    );
    put(
        "ping_waited_share_of_keys",
        keys_worst / (f.keys_server_us as f64).max(1.0),
    );
    put("ping_worst_during_keys_us", keys_worst);
    put("pings_during_keys", f.keys_pings.len() as f64);
    put("scan_us", f.scan_us);
    put("ping_worst_during_scan_us", scan_worst);
    put("pings_during_scan", f.scan_pings.len() as f64);
    put("scan_calls", f.calls as f64);
    put("scan_empty_pages", f.empty_pages as f64);
    put("scan_returned", f.returned as f64);
    put("scan_distinct", f.distinct as f64);
    put("scan_duplicates", (f.returned - f.distinct) as f64);
    put("scan_missing", f.missing as f64);
    put("written_during_scan", f.written_during as f64);
    report.notes.push(format!(
        "This ran on a private {program} with {} keys, never on your server; SCAN used COUNT {}. PINGs: the other client's answers while each walk ran (a median needs {MEDIAN_MIN_PINGS} of them: during KEYS only a few fit, since each waits for KEYS to end, so the worst PING is the figure there).",
        p.keys, p.count
    ));
    report.notes.push(format!(
        "The server spent {} in the one KEYS call, and the other client's PING sent meanwhile took {}: it waited for KEYS to end. A SCAN call took {} of server time on average, and during the loop the other client's median PING took {} ({} answered).",
        human_us(f.keys_server_us as f64),
        human_us(keys_worst),
        human_us(f.scan_server_us_per_call),
        human_us(median(&f.scan_pings)),
        f.scan_pings.len()
    ));
    report.notes.push(format!(
        "The SCAN loop made {} calls from cursor 0 back to 0; {} of them returned no key at all (MATCH filters each page after the server looked at its COUNT of slots). {} keys were written during the walk, and every one of the {} user keys there from start to end came back ({} missing); {} came back twice.",
        f.calls,
        f.empty_pages,
        f.written_during,
        f.users,
        f.missing,
        f.returned - f.distinct
    ));
    report
}
