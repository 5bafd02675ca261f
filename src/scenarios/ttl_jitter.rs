//! Scenario `ttl-jitter`: keys cached together with one TTL all expire together; a random extra
//! TTL (jitter) spreads the expiries out, so the database behind the cache is not hit by every
//! miss in the same second.
//!
//! `keys` keys are written with `EX ttl_s`, and `keys` more with `EX ttl_s + j`, where `j` in
//! 0..=jitter_s comes from a fixed seed (the same every run). Then every key's PTTL is read back
//! and the expiry instants compared: nothing sleeps or waits for a key to expire. All keys are
//! deleted at the end.

use std::time::Instant;

use crate::redis::fence::Fenced;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::{Scenario, ScenarioContext, ScenarioReport, max_in_any_window};

/// Commands per pipeline (one round trip).
const BATCH: usize = 1000;

pub struct TtlJitter;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub keys: u64,
    pub ttl_s: u64,
    pub jitter_s: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            keys: 1000,
            ttl_s: 300,
            jitter_s: 60,
        }
    }
}

impl Scenario for TtlJitter {
    const NAME: &'static str = "ttl-jitter";
    const SUMMARY: &'static str = "keys cached together with one TTL expire in the same second; with TTL jitter they spread out";
    const PARAMS: &'static [Param] = &[
        int("keys", 1, 10_000, "keys written with each kind of TTL"),
        int(
            "ttl_s",
            10,
            86_400,
            "the TTL every key gets, in seconds (long enough to outlast the run)",
        ),
        int(
            "jitter_s",
            1,
            3_600,
            "the largest extra TTL a jittered key gets (0..=jitter_s seconds)",
        ),
    ];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let plain: Vec<String> = (0..p.keys)
            .map(|i| ctx.key(&format!("ttl-jitter:plain:{i}")))
            .collect();
        let jittered: Vec<String> = (0..p.keys)
            .map(|i| ctx.key(&format!("ttl-jitter:jittered:{i}")))
            .collect();
        let mut conn = ctx.server.connection().await?;
        ctx.ticker
            .start(4 * p.keys, "writing keys with and without jitter");
        let result = measure(ctx, &mut conn, &p, &plain, &jittered).await;
        // Clean up whatever happened.
        let cleanup = delete(&mut conn, &plain)
            .await
            .and(delete(&mut conn, &jittered).await);
        let (without, with) = result?;
        cleanup?;
        Ok(report(&p, &without, &with))
    }
}

/// The extra TTL of key `i`: 0..=jitter_s, from a fixed seed (SplitMix64 of the index), so it
/// looks random but is the same on every run.
fn jitter_of(i: u64, jitter_s: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % (jitter_s + 1)
}

/// Writes both sets of keys, then reads them back: sorted expiry instants, in ms from the
/// first PTTL read.
async fn measure(
    ctx: &ScenarioContext<'_>,
    conn: &mut Fenced,
    p: &Params,
    plain: &[String],
    jittered: &[String],
) -> Result<(Vec<u64>, Vec<u64>)> {
    delete(conn, plain).await?;
    delete(conn, jittered).await?;
    write(ctx, conn, plain, |_| p.ttl_s).await?;
    write(ctx, conn, jittered, |i| p.ttl_s + jitter_of(i, p.jitter_s)).await?;
    ctx.ticker.message("reading every key's PTTL");
    let started = Instant::now();
    let without = expiries(ctx, conn, plain, started).await?;
    let with = expiries(ctx, conn, jittered, started).await?;
    Ok((without, with))
}

async fn write(
    ctx: &ScenarioContext<'_>,
    conn: &mut Fenced,
    keys: &[String],
    ttl_of: impl Fn(u64) -> u64,
) -> Result<()> {
    for (n, chunk) in keys.chunks(BATCH).enumerate() {
        let mut pipe = redis::pipe();
        for (j, key) in chunk.iter().enumerate() {
            let ttl = ttl_of((n * BATCH + j) as u64);
            pipe.cmd("SET")
                .arg(key)
                .arg("cached")
                .arg("EX")
                .arg(ttl)
                .ignore();
        }
        pipe.query_async::<()>(conn)
            .await
            .context("writing the ttl-jitter keys")?;
        ctx.ticker.tick(chunk.len() as u64);
    }
    Ok(())
}

/// When each key expires, in ms after `started`: its PTTL plus how long after `started` it was
/// read. Sorted.
async fn expiries(
    ctx: &ScenarioContext<'_>,
    conn: &mut Fenced,
    keys: &[String],
    started: Instant,
) -> Result<Vec<u64>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(BATCH) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("PTTL").arg(key);
        }
        let read_at = started.elapsed().as_millis() as u64;
        let pttls: Vec<i64> = pipe
            .query_async(conn)
            .await
            .context("reading the ttl-jitter keys' PTTL")?;
        for (key, pttl) in chunk.iter().zip(pttls) {
            if pttl < 0 {
                bail!(
                    "ttl-jitter: {key} lost its TTL or vanished (PTTL {pttl}) while being read: is something else writing to the namespace?"
                );
            }
            out.push(read_at + pttl as u64);
        }
        ctx.ticker.tick(chunk.len() as u64);
    }
    out.sort_unstable();
    Ok(out)
}

async fn delete(conn: &mut Fenced, keys: &[String]) -> Result<()> {
    for chunk in keys.chunks(BATCH) {
        let mut del = redis::cmd("DEL");
        del.arg(chunk);
        del.query_async::<i64>(conn)
            .await
            .context("deleting the ttl-jitter keys")?;
    }
    Ok(())
}

/// How a set of expiry instants is spread.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    first_ms: u64,
    last_ms: u64,
    /// The most expiring within any one second.
    busiest: usize,
}

fn spread(sorted: &[u64]) -> Spread {
    Spread {
        first_ms: sorted.first().copied().unwrap_or(0),
        last_ms: sorted.last().copied().unwrap_or(0),
        busiest: max_in_any_window(sorted, 1000),
    }
}

impl Spread {
    fn seconds(&self) -> f64 {
        (self.last_ms - self.first_ms) as f64 / 1000.0
    }
}

fn report(p: &Params, without: &[u64], with: &[u64]) -> ScenarioReport {
    let (a, b) = (spread(without), spread(with));
    let s = |ms: u64| format!("{:.2} s", ms as f64 / 1000.0);
    let row = |label: String, x: &Spread| {
        vec![
            label,
            p.keys.to_string(),
            s(x.first_ms),
            s(x.last_ms),
            format!("{:.2} s", x.seconds()),
            x.busiest.to_string(),
        ]
    };
    let mut report = ScenarioReport {
        header: vec![
            "TTL".into(),
            "keys".into(),
            "first expires in".into(),
            "last expires in".into(),
            "spread".into(),
            "most expiring within one second".into(),
        ],
        rows: vec![
            row(format!("EX {}", p.ttl_s), &a),
            row(format!("EX {} + 0..{}", p.ttl_s, p.jitter_s), &b),
        ],
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("keys".into(), p.keys as f64);
    m.insert(
        "same_second_expiries_without_jitter".into(),
        a.busiest as f64,
    );
    m.insert("same_second_expiries_with_jitter".into(), b.busiest as f64);
    m.insert("spread_seconds_without_jitter".into(), a.seconds());
    m.insert("spread_seconds_with_jitter".into(), b.seconds());
    report.notes = vec![
        format!(
            "All {} keys' TTLs were read back with PTTL, and the jitter comes from a fixed seed: the counts are the same on every run (the times move by the milliseconds the writes took), and nothing waited for a key to expire.",
            2 * p.keys
        ),
        format!(
            "Without jitter {} of {} keys expire within one second; with 0..{} s of jitter the busiest second has {} ({:.0}× fewer), spread over {:.0} s.",
            a.busiest,
            p.keys,
            p.jitter_s,
            b.busiest,
            a.busiest as f64 / b.busiest.max(1) as f64,
            b.seconds()
        ),
    ];
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_fixed_and_covers_its_range() {
        let j: Vec<u64> = (0..1000).map(|i| jitter_of(i, 60)).collect();
        assert!(j.iter().all(|&x| x <= 60));
        assert_eq!((0..=60).filter(|v| j.contains(v)).count(), 61);
        assert_eq!(j, (0..1000).map(|i| jitter_of(i, 60)).collect::<Vec<_>>());
    }

    #[test]
    fn the_report_counts_the_busiest_second() {
        let p = Params::default();
        let without: Vec<u64> = (0..1000).map(|i| 300_000 + i / 100).collect();
        let mut with: Vec<u64> = (0..1000)
            .map(|i| 300_000 + jitter_of(i, 60) * 1000)
            .collect();
        with.sort_unstable();
        let r = report(&p, &without, &with);
        assert_eq!(r.metrics["same_second_expiries_without_jitter"], 1000.0);
        assert!(
            r.metrics["same_second_expiries_with_jitter"] < 50.0,
            "{:?}",
            r.metrics
        );
        assert_eq!(r.metrics["spread_seconds_with_jitter"], 60.0);
    }
}
