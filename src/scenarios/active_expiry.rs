//! Scenario `active-expiry`: expired keys go away even when nobody reads them. Redis deletes an
//! expired key when a command touches it (lazy expiry), and also, about `hz` times a second,
//! samples keys with a TTL and deletes the expired ones (active expiry); otherwise a key
//! written once and never read would hold its memory forever.
//!
//! On a private server (see `private`): `keys` keys with a TTL of `ttl_ms` and as many without
//! one are written, then nothing reads them. Only `INFO` is sent, every 100 ms: it reads the
//! server's counters, not the keys, so it expires nothing itself. `expired_keys` climbs to
//! `keys` and the keyspace shrinks to the keys without a TTL.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::private::Private;
use super::{Scenario, ScenarioContext, ScenarioReport};

/// How long the step waits for the last expiry at most.
const BOUND: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

pub struct ActiveExpiry;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub keys: u64,
    pub ttl_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            keys: 10_000,
            ttl_ms: 1000,
        }
    }
}

impl Scenario for ActiveExpiry {
    const NAME: &'static str = "active-expiry";
    const SUMMARY: &'static str =
        "keys with a TTL that nobody reads are deleted anyway: expired_keys grows with no reads";
    const PARAMS: &'static [Param] = &[
        int(
            "keys",
            100,
            100_000,
            "keys written with a TTL (as many are written without one)",
        ),
        int("ttl_ms", 100, 5000, "their TTL, in milliseconds"),
    ];
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
        ctx.ticker
            .start(p.keys, "writing keys with and without a TTL");
        let ttl = p.ttl_ms.to_string();
        for i in 0..p.keys {
            s.send(&[
                b"SET".to_vec(),
                ctx.key(&format!("ops:expiring:{i}")).into_bytes(),
                b"x".to_vec(),
                b"PX".to_vec(),
                ttl.clone().into_bytes(),
            ])
            .await?;
            ctx.ticker.tick(1);
        }
        let written = Instant::now();
        let mut mset = vec![b"MSET".to_vec()];
        for i in 0..p.keys {
            mset.push(ctx.key(&format!("ops:kept:{i}")).into_bytes());
            mset.push(b"x".to_vec());
        }
        s.send(&mset).await?;
        ctx.ticker.message("no reads: only INFO, every 100 ms");
        let mut samples = Vec::new();
        loop {
            let expired = s.info("stats", "expired_keys").await?;
            let left = keyspace(&s.info_text("keyspace").await?);
            samples.push((written.elapsed().as_millis() as u64, expired, left));
            if expired >= p.keys || written.elapsed() > BOUND {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let reads = s.command_time("get").await?.0;
        let program = s.program.clone();
        drop(s);
        Ok(report(&p, &samples, reads, &program))
    }
}

/// `db0:keys=N,...` → N.
fn keyspace(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix("db0:keys="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn report(p: &Params, samples: &[(u64, u64, u64)], reads: u64, program: &str) -> ScenarioReport {
    let &(last_ms, expired, left) = samples.last().unwrap_or(&(0, 0, 0));
    let mut report = ScenarioReport {
        header: vec![
            "ms after the writes".into(),
            "expired_keys".into(),
            "keys in the database".into(),
        ],
        ..Default::default()
    };
    // At most a dozen rows: the samples spread evenly, with the last.
    let step = samples.len().div_ceil(12).max(1);
    for (i, (ms, e, k)) in samples.iter().enumerate() {
        if i % step == 0 || i + 1 == samples.len() {
            report
                .rows
                .push(vec![ms.to_string(), e.to_string(), k.to_string()]);
        }
    }
    let m = &mut report.metrics;
    m.insert("keys".into(), p.keys as f64);
    m.insert("expired_keys".into(), expired as f64);
    m.insert("keys_left".into(), left as f64);
    m.insert("reads".into(), reads as f64);
    m.insert("ms_to_expire".into(), last_ms as f64);
    report.notes.push(format!(
        "On a private {program}, never on your server: {} keys with a {} ms TTL and {} without one, then {reads} reads of any key.",
        p.keys, p.ttl_ms, p.keys
    ));
    report.notes.push(format!(
        "{expired} keys expired within {last_ms} ms with nobody reading them (active expiry), and {left} keys are left: the ones without a TTL."
    ));
    report
}
