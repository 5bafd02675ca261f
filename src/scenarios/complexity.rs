//! Scenario `complexity`: O(1) against O(N): SISMEMBER on a set against LPOS on a list, as they grow.
//!
//! One set and one list grow through the requested sizes (filled with pipelined batches). At
//! each size the same member is looked up `samples` times with SISMEMBER (a hash lookup) and
//! with LPOS on the list's last element (a scan from the head). The table shows round-trip p50s
//! and, when `INFO commandstats` is readable, the time the server itself spent per call.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redis::aio::MultiplexedConnection;
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

/// Arguments per SADD / RPUSH command while filling.
const BATCH: usize = 1000;
/// Commands per pipeline (one round trip) while filling.
const PIPELINE: usize = 10;
const MAX_SIZE: usize = 2_000_000;
const MAX_SAMPLES: usize = 10_000;
const WARM_UP: usize = 5;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Sizes the set and the list grow through, smallest first.
    #[serde(default = "default_sizes")]
    pub sizes: Vec<usize>,
    /// Timed lookups per command and size.
    #[serde(default = "default_samples")]
    pub samples: usize,
}

fn default_sizes() -> Vec<usize> {
    vec![1000, 100_000]
}

fn default_samples() -> usize {
    200
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if params.sizes.is_empty() {
        bail!("complexity: `sizes` must list at least one size");
    }
    if let Some(bad) = params.sizes.iter().find(|s| **s == 0 || **s > MAX_SIZE) {
        bail!("complexity: every size must be between 1 and {MAX_SIZE}, got {bad}");
    }
    if params.sizes.windows(2).any(|w| w[0] >= w[1]) {
        bail!(
            "complexity: `sizes` must be strictly increasing (the structures only grow), got {:?}",
            params.sizes
        );
    }
    if params.samples == 0 || params.samples > MAX_SAMPLES {
        bail!(
            "complexity: `samples` must be between 1 and {MAX_SAMPLES}, got {}",
            params.samples
        );
    }
    Ok(())
}

/// One size's measurements.
struct Row {
    size: usize,
    sismember_p50: Duration,
    lpos_p50: Duration,
    sismember_server_us: Option<f64>,
    lpos_server_us: Option<f64>,
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    if ctx.server.version_tuple() < (6, 0, 6) {
        bail!(
            "complexity needs LPOS, which arrived in Redis 6.0.6 (this server is {})",
            ctx.server.version
        );
    }
    let set_key = ctx.key("complexity:members:set");
    let list_key = ctx.key("complexity:members:list");
    let mut conn = ctx.server.connection().await?;
    del(&mut conn, &[&set_key, &list_key]).await?;

    let largest = params.sizes.last().copied().unwrap_or(0);
    let lookups = params.sizes.len() * 2 * (params.samples + WARM_UP);
    ctx.progress.set_length((largest + lookups) as u64);

    let result = measure(ctx, &params, &mut conn, &set_key, &list_key).await;
    // Clean up whatever happened: two big keys must not stay behind.
    let cleanup = del(&mut conn, &[&set_key, &list_key]).await;
    let rows = result?;
    cleanup?;
    Ok(report(&rows, &set_key, &list_key))
}

async fn measure(
    ctx: &ScenarioContext<'_>,
    params: &Params,
    conn: &mut MultiplexedConnection,
    set_key: &str,
    list_key: &str,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut filled = 0usize;
    for &size in &params.sizes {
        ctx.progress
            .set_message(format!("filling a set and a list to {size} elements"));
        fill(ctx, conn, set_key, list_key, filled, size).await?;
        filled = size;
        let target = member(size - 1);

        ctx.progress
            .set_message(format!("timing SISMEMBER at {size} elements"));
        let before = command_stats(conn, "sismember").await;
        let mut cmd = redis::cmd("SISMEMBER");
        cmd.arg(set_key).arg(&target);
        let sismember = time_samples(ctx, conn, params.samples, &cmd).await?;
        let after = command_stats(conn, "sismember").await;
        let sismember_server_us = per_call(before, after);

        ctx.progress.set_message(format!(
            "timing LPOS of the last element at {size} elements"
        ));
        let before = command_stats(conn, "lpos").await;
        let mut cmd = redis::cmd("LPOS");
        cmd.arg(list_key).arg(&target);
        let lpos = time_samples(ctx, conn, params.samples, &cmd).await?;
        let after = command_stats(conn, "lpos").await;
        let lpos_server_us = per_call(before, after);

        rows.push(Row {
            size,
            sismember_p50: percentile(&sismember, 50.0),
            lpos_p50: percentile(&lpos, 50.0),
            sismember_server_us,
            lpos_server_us,
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
    conn: &mut MultiplexedConnection,
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
        ctx.progress.inc((start - round_start) as u64);
    }
    Ok(())
}

/// Sends a command `samples` times (after a short warm-up), one round trip each, and returns
/// every round-trip time.
async fn time_samples(
    ctx: &ScenarioContext<'_>,
    conn: &mut MultiplexedConnection,
    samples: usize,
    cmd: &redis::Cmd,
) -> Result<Vec<Duration>> {
    for _ in 0..WARM_UP {
        cmd.query_async::<redis::Value>(conn).await?;
        ctx.progress.inc(1);
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let started = Instant::now();
        let reply: redis::Value = cmd.query_async(conn).await?;
        times.push(started.elapsed());
        if matches!(reply, redis::Value::Nil) {
            bail!("the lookup found nothing: the structure was changed while it was being timed");
        }
        ctx.progress.inc(1);
    }
    Ok(times)
}

/// The `p`th percentile (nearest rank) of some durations; zero for none.
pub(crate) fn percentile(samples: &[Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `(calls, usec)` for one command from `INFO commandstats`, if the server lets us read it.
async fn command_stats(conn: &mut MultiplexedConnection, name: &str) -> Option<(u64, u64)> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .ok()?;
    parse_command_stats(&info, name)
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

async fn del(conn: &mut MultiplexedConnection, keys: &[&str]) -> Result<()> {
    redis::cmd("DEL")
        .arg(keys)
        .query_async::<i64>(conn)
        .await
        .context("deleting the scenario's keys")?;
    Ok(())
}

fn fmt_duration(d: Duration) -> String {
    fmt_us(d.as_secs_f64() * 1e6)
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn report(rows: &[Row], set_key: &str, list_key: &str) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "elements".into(),
            "SISMEMBER p50".into(),
            "LPOS (last) p50".into(),
            "SISMEMBER on server".into(),
            "LPOS on server".into(),
        ],
        ..Default::default()
    };
    let server = |v: Option<f64>| v.map(fmt_us).unwrap_or_else(|| "—".into());
    for r in rows {
        report.rows.push(vec![
            r.size.to_string(),
            fmt_duration(r.sismember_p50),
            fmt_duration(r.lpos_p50),
            server(r.sismember_server_us),
            server(r.lpos_server_us),
        ]);
    }
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return report;
    };
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let size_growth = last.size as f64 / first.size as f64;
    let o1 = ratio(us(last.sismember_p50), us(first.sismember_p50));
    let on = ratio(us(last.lpos_p50), us(first.lpos_p50));
    let m = &mut report.metrics;
    m.insert("o1_growth".into(), o1);
    m.insert("on_growth".into(), on);
    m.insert("size_growth".into(), size_growth);
    m.insert("sismember_p50_us_smallest".into(), us(first.sismember_p50));
    m.insert("sismember_p50_us_largest".into(), us(last.sismember_p50));
    m.insert("lpos_p50_us_smallest".into(), us(first.lpos_p50));
    m.insert("lpos_p50_us_largest".into(), us(last.lpos_p50));
    let server_growth = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a),
        _ => None,
    };
    let o1_server = server_growth(first.sismember_server_us, last.sismember_server_us);
    let on_server = server_growth(first.lpos_server_us, last.lpos_server_us);
    if let Some(g) = o1_server {
        m.insert("o1_server_growth".into(), g);
    }
    if let Some(g) = on_server {
        m.insert("on_server_growth".into(), g);
    }

    let notes = &mut report.notes;
    if rows.len() < 2 {
        notes.push(format!(
            "Only one size ({}) was measured: give two or more sizes to see growth.",
            first.size
        ));
    } else {
        notes.push(format!(
            "The structures grew ×{size_growth:.0} ({} → {} elements): SISMEMBER's p50 changed ×{o1:.1}, LPOS's ×{on:.1}.",
            first.size, last.size
        ));
        if on > 2.0 * o1.max(1.0) {
            notes.push(format!(
                "LPOS walks the list from the head, so finding the last element costs more as the list grows (O(N)); SISMEMBER hashes the member, so its time does not follow N (×{o1:.1} for ×{size_growth:.0} more elements: O(1))."
            ));
        } else {
            notes.push(format!(
                "At these sizes LPOS grew only ×{on:.1}: the network round trip still hides the scan. Try a larger size (for example {}) to see O(N) take over.",
                (last.size * 10).min(MAX_SIZE)
            ));
        }
        if let (Some(a), Some(b)) = (
            first.sismember_server_us.zip(last.sismember_server_us),
            first.lpos_server_us.zip(last.lpos_server_us),
        ) {
            notes.push(format!(
                "Time on the server itself (INFO commandstats): SISMEMBER {} → {}, LPOS {} → {} (×{:.0}).",
                fmt_us(a.0),
                fmt_us(a.1),
                fmt_us(b.0),
                fmt_us(b.1),
                on_server.unwrap_or(0.0)
            ));
            notes.push(format!(
                "A SISMEMBER took {} end to end but {} on the server: for an O(1) command the network round trip is nearly the whole cost, which is why pipelining matters.",
                fmt_duration(first.sismember_p50),
                fmt_us(a.0)
            ));
        } else {
            notes.push(format!(
                "A SISMEMBER took {} end to end: for an O(1) command that is mostly the network round trip, which is why pipelining matters.",
                fmt_duration(first.sismember_p50)
            ));
        }
    }
    notes.push(format!(
        "Both keys ({set_key}, {list_key}) were deleted at the end."
    ));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_nearest_rank() {
        let d: Vec<Duration> = [5, 1, 4, 2, 3].map(Duration::from_micros).into();
        assert_eq!(percentile(&d, 50.0), Duration::from_micros(3));
        assert_eq!(percentile(&d, 100.0), Duration::from_micros(5));
        assert_eq!(percentile(&d, 0.0), Duration::from_micros(1));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }

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
        let p = |sizes: Vec<usize>| Params { sizes, samples: 10 };
        assert!(validate(&p(vec![10, 100])).is_ok());
        assert!(validate(&p(vec![100, 10])).is_err());
        assert!(validate(&p(vec![])).is_err());
        assert!(validate(&p(vec![0])).is_err());
    }
}
