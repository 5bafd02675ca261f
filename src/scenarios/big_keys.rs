//! Scenario `big-keys`: finding big keys without blocking, and deleting one without blocking.
//! A sampling walk (`SCAN` plus `MEMORY USAGE` on each key, what `redis-cli --memkeys` does)
//! finds the big key among small ones. Then `DEL` of a set of `members` members frees every
//! member before it replies, and another client's PING waits for it; `UNLINK` of an equal set
//! only unlinks the key and frees the members on a background thread. `SLOWLOG GET` catches
//! the DEL, and its duration (in microseconds) is set beside the time the client measured.
//!
//! It writes a million-member set and changes `slowlog-log-slower-than`, so it runs on a
//! private server (see `private`). Valkey 8 and later make DEL lazy by default
//! (`lazyfree-lazy-user-del yes`); the server's own default is read and reported, then set to
//! `no` for the demonstration, so DEL is the blocking DEL on every server.

use anyhow::{Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::private::{Pinged, Private, args, int_of, while_pinging, worst};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::measure::human_us;

/// Members per SADD.
const BATCH: u64 = 10_000;
/// Small keys the big one hides among.
const SMALL: u64 = 2000;
/// SLOWLOG's threshold for this step, in microseconds (10 ms).
const SLOWER_THAN_US: u64 = 10_000;

pub struct BigKeys;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub members: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { members: 1_000_000 }
    }
}

impl Scenario for BigKeys {
    const NAME: &'static str = "big-keys";
    const SUMMARY: &'static str = "SCAN + MEMORY USAGE finds a big set among small keys; DEL of it blocks another client, UNLINK does not; SLOWLOG catches the DEL";
    const PARAMS: &'static [Param] = &[int(
        "members",
        10_000,
        2_000_000,
        "members of the big set (two such sets are written: one for DEL, one for UNLINK)",
    )];
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

#[derive(Default)]
struct Found {
    scanned: u64,
    top: Vec<(String, u64)>,
    lazy_default: String,
    del_us: f64,
    del_pings: Vec<f64>,
    unlink_us: f64,
    unlink_pings: Vec<f64>,
    slowlog_del_us: Option<u64>,
    slowlog_unlink_us: Option<u64>,
}

async fn play(s: &mut Private, ctx: &ScenarioContext<'_>, p: &Params) -> Result<Found> {
    let big = ctx.key("ops:big:followers");
    let copy = ctx.key("ops:big:followers:copy");
    ctx.ticker
        .start(2 * p.members.div_ceil(BATCH) + 1, "writing two big sets");
    let mut mset = vec![b"MSET".to_vec()];
    for i in 0..SMALL {
        mset.push(ctx.key(&format!("ops:small:{i}")).into_bytes());
        mset.push(format!("value {i}").into_bytes());
    }
    s.send(&mset).await?;
    ctx.ticker.tick(1);
    for key in [&big, &copy] {
        let mut i = 0;
        while i < p.members {
            let end = (i + BATCH).min(p.members);
            let mut sadd = vec![b"SADD".to_vec(), key.clone().into_bytes()];
            sadd.extend((i..end).map(|m| format!("user:{m}").into_bytes()));
            s.send(&sadd).await?;
            ctx.ticker.tick(1);
            i = end;
        }
    }

    ctx.ticker.message("sampling: SCAN and MEMORY USAGE");
    let mut found = Found::default();
    let mut cursor = b"0".to_vec();
    let pattern = ctx.key("ops:*");
    loop {
        let reply = s
            .send(&[
                b"SCAN".to_vec(),
                cursor.clone(),
                b"MATCH".to_vec(),
                pattern.clone().into_bytes(),
                b"COUNT".to_vec(),
                b"1000".to_vec(),
            ])
            .await?;
        let (next, page) = match &reply {
            Value::Array(parts) => match parts.as_slice() {
                [Value::BulkString(c), Value::Array(keys)] => (c.clone(), keys.clone()),
                _ => bail!("SCAN replied {reply:?}"),
            },
            _ => bail!("SCAN replied {reply:?}"),
        };
        for k in page {
            let Value::BulkString(name) = k else {
                bail!("SCAN returned a key {k:?}")
            };
            let bytes = match s
                .send(&[b"MEMORY".to_vec(), b"USAGE".to_vec(), name.clone()])
                .await?
            {
                Value::Int(n) => n.max(0) as u64,
                _ => 0,
            };
            found.scanned += 1;
            found
                .top
                .push((String::from_utf8_lossy(&name).into_owned(), bytes));
            found.top.sort_by_key(|t| std::cmp::Reverse(t.1));
            found.top.truncate(3);
        }
        cursor = next;
        if cursor == b"0" {
            break;
        }
    }

    found.lazy_default = config_get(s, "lazyfree-lazy-user-del").await?;
    s.set("lazyfree-lazy-user-del", "no").await?;
    s.set("slowlog-log-slower-than", &SLOWER_THAN_US.to_string())
        .await?;
    s.send(&args(&[b"SLOWLOG", b"RESET"])).await?;

    let display = s.display.clone();
    let mut pinger = s.other().await?;
    ctx.ticker.message("DEL, while another client PINGs");
    let del = args(&[b"DEL", big.as_bytes()]);
    let Pinged {
        out,
        pings_us,
        work_us,
    } = while_pinging(&display, &mut pinger, async {
        int_of("DEL", &s.send(&del).await?)
    })
    .await?;
    if out != 1 {
        bail!("DEL of the big set deleted {out} keys");
    }
    (found.del_us, found.del_pings) = (work_us, pings_us);
    ctx.ticker.message("UNLINK, while another client PINGs");
    let unlink = args(&[b"UNLINK", copy.as_bytes()]);
    let Pinged {
        out,
        pings_us,
        work_us,
    } = while_pinging(&display, &mut pinger, async {
        int_of("UNLINK", &s.send(&unlink).await?)
    })
    .await?;
    if out != 1 {
        bail!("UNLINK of the copy deleted {out} keys");
    }
    (found.unlink_us, found.unlink_pings) = (work_us, pings_us);

    let log = s.send(&args(&[b"SLOWLOG", b"GET", b"10"])).await?;
    found.slowlog_del_us = slowlog_duration(&log, "DEL");
    found.slowlog_unlink_us = slowlog_duration(&log, "UNLINK");
    Ok(found)
}

async fn config_get(s: &mut Private, name: &str) -> Result<String> {
    match s.send(&args(&[b"CONFIG", b"GET", name.as_bytes()])).await? {
        Value::Array(v) => match v.as_slice() {
            [_, Value::BulkString(b)] => Ok(String::from_utf8_lossy(b).into_owned()),
            _ => Ok("(not set)".into()),
        },
        Value::Map(v) => Ok(v
            .first()
            .and_then(|(_, b)| match b {
                Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .unwrap_or_else(|| "(not set)".into())),
        other => bail!("CONFIG GET {name} replied {other:?}"),
    }
}

/// The duration (µs) of the first SLOWLOG entry whose command is `command`. An entry is
/// `[id, unix time, duration in µs, [args], client address, client name]`.
fn slowlog_duration(log: &Value, command: &str) -> Option<u64> {
    let Value::Array(entries) = log else {
        return None;
    };
    entries.iter().find_map(|e| {
        let Value::Array(fields) = e else { return None };
        let Some(Value::Int(us)) = fields.get(2) else {
            return None;
        };
        let Some(Value::Array(argv)) = fields.get(3) else {
            return None;
        };
        match argv.first() {
            Some(Value::BulkString(name)) if name.eq_ignore_ascii_case(command.as_bytes()) => {
                Some((*us).max(0) as u64)
            }
            _ => None,
        }
    })
}

fn report(p: &Params, f: &Found, program: &str) -> ScenarioReport {
    let del_worst = worst(&f.del_pings);
    let unlink_worst = worst(&f.unlink_pings);
    let logged = |v: Option<u64>| match v {
        Some(us) => format!("{us} µs"),
        None => "not logged".into(),
    };
    let mut report = ScenarioReport {
        header: vec![
            "command".into(),
            "reply after".into(),
            "worst PING".into(),
            format!("SLOWLOG (> {} ms)", SLOWER_THAN_US / 1000),
        ],
        rows: vec![
            vec![
                "DEL".into(),
                human_us(f.del_us),
                human_us(del_worst),
                logged(f.slowlog_del_us),
            ],
            vec![
                "UNLINK".into(),
                human_us(f.unlink_us),
                human_us(unlink_worst),
                logged(f.slowlog_unlink_us),
            ],
        ],
        ..Default::default()
    };
    let biggest = f.top.first().cloned().unwrap_or_default();
    let big_found = biggest.0.contains(":ops:big:followers");
    // Read as microseconds, the logged duration fits inside the time the client waited; read
    // as milliseconds it would be a thousand times longer than the whole wait.
    let us_fit = f
        .slowlog_del_us
        .is_some_and(|us| (us as f64) <= f.del_us * 1.05 && (us as f64) >= f.del_us / 10.0);
    let m = &mut report.metrics;
    let mut put = |k: &str, v: f64| {
        m.insert(k.into(), v);
    };
    put("scanned_keys", f.scanned as f64);
    put("biggest_bytes", biggest.1 as f64);
    put("biggest_is_big_set", f64::from(u8::from(big_found)));
    put("del_us", f.del_us);
    put("unlink_us", f.unlink_us);
    put("ping_worst_during_del_us", del_worst);
    put("ping_worst_during_unlink_us", unlink_worst);
    put(
        "slowlog_del_us",
        f.slowlog_del_us.map(|v| v as f64).unwrap_or(-1.0),
    );
    put(
        "slowlog_has_del",
        f64::from(u8::from(f.slowlog_del_us.is_some())),
    );
    put(
        "slowlog_has_unlink",
        f64::from(u8::from(f.slowlog_unlink_us.is_some())),
    );
    put("slowlog_units_are_us", f64::from(u8::from(us_fit)));
    put("del_vs_unlink", f.del_us / f.unlink_us.max(1.0));
    put(
        "ping_waited_share_of_del",
        del_worst / f.slowlog_del_us.unwrap_or(0).max(1) as f64,
    );
    put(
        "lazy_user_del_by_default",
        f64::from(u8::from(f.lazy_default == "yes")),
    );
    let top: Vec<String> = f
        .top
        .iter()
        .map(|(k, b)| format!("{k} ({b} bytes)"))
        .collect();
    report.notes.push(format!(
        "On a private {program}, never on your server; each command deleted a set of {} members, and the worst PING is another client's meanwhile. The sampling walk looked at {} keys with SCAN and MEMORY USAGE; the biggest: {}.",
        p.members,
        f.scanned,
        top.join(", ")
    ));
    report.notes.push(format!(
        "DEL replied after {} and the other client's PING waited up to {}; UNLINK replied after {}, the PING waited up to {}. SLOWLOG logged the DEL at {}: {} the {} the client waited.",
        human_us(f.del_us),
        human_us(del_worst),
        human_us(f.unlink_us),
        human_us(unlink_worst),
        logged(f.slowlog_del_us),
        if us_fit {
            "read as microseconds, it fits within"
        } else {
            "read as microseconds, it does not fit within"
        },
        human_us(f.del_us)
    ));
    // Valkey logged about 100 ms of a 249 ms DEL in one run: say so rather than let the two
    // figures disagree silently.
    if let Some(logged_us) = f.slowlog_del_us {
        let share = logged_us as f64 / f.del_us.max(1.0);
        if us_fit && share < 0.7 {
            report.notes.push(format!(
                "The slow log times the command's own run, not what the client waited: here it logged {:.0}% of the wait, so {} of it went to work the server did outside that span (the PING waited too, so the server was busy, not the network).",
                share * 100.0,
                human_us(f.del_us - logged_us as f64)
            ));
        }
    }
    report.notes.push(format!(
        "This server's own lazyfree-lazy-user-del was {:?} (Redis 7.0 says no; Valkey 8 and later say yes, which makes every DEL lazy like UNLINK); this step set it to no.",
        f.lazy_default
    ));
    report
}
