//! Scenario `counter-race`: N workers incrementing: GET+SET loses updates, INCR does not.
//!
//! `workers` tasks, each on its own connection, start together. First every worker does
//! `increments` read-modify-write increments (GET, a little work, SET value+1) on one key; then
//! every worker does the same number of INCRs on another key. Two workers that read the same
//! value both write value+1, and one increment is lost; INCR reads and writes in one command.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures_util::future::try_join_all;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use tokio::sync::Barrier;

use super::{ScenarioContext, ScenarioReport};

const MAX_WORKERS: usize = 500;
const MAX_TOTAL: usize = 1_000_000;
/// The counters stay behind for the learner to GET, then expire.
const KEEP_SECONDS: u64 = 3600;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Concurrent workers, each with its own connection.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Increments per worker.
    #[serde(default = "default_increments")]
    pub increments: usize,
}

fn default_workers() -> usize {
    20
}

fn default_increments() -> usize {
    50
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if params.workers == 0 || params.workers > MAX_WORKERS {
        bail!(
            "counter-race: `workers` must be between 1 and {MAX_WORKERS}, got {}",
            params.workers
        );
    }
    if params.increments == 0 || params.workers * params.increments > MAX_TOTAL {
        bail!(
            "counter-race: `increments` must be at least 1 and workers × increments at most {MAX_TOTAL}, got {} × {}",
            params.workers,
            params.increments
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Method {
    GetSet,
    Incr,
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    let naive_key = ctx.key("page:naive:views");
    let atomic_key = ctx.key("page:atomic:views");
    let mut conn = ctx.server.connection().await?;
    redis::cmd("DEL")
        .arg(&naive_key)
        .arg(&atomic_key)
        .query_async::<i64>(&mut conn)
        .await
        .context("resetting the counters")?;

    let expected = params.workers * params.increments;
    ctx.ticker.start(2 * expected as u64, "");
    let conns = try_join_all((0..params.workers).map(|_| ctx.server.connection())).await?;

    ctx.ticker.message(&format!(
        "{} workers × {} GET+SET increments",
        params.workers, params.increments
    ));
    let get_set_time = race(ctx, &conns, &naive_key, params.increments, Method::GetSet).await?;
    ctx.ticker.message(&format!(
        "{} workers × {} INCRs",
        params.workers, params.increments
    ));
    let incr_time = race(ctx, &conns, &atomic_key, params.increments, Method::Incr).await?;

    let read = |key: &str| {
        let key = key.to_string();
        let mut conn = conn.clone();
        async move {
            let v: Option<i64> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
            redis::cmd("EXPIRE")
                .arg(&key)
                .arg(KEEP_SECONDS)
                .query_async::<i64>(&mut conn)
                .await?;
            anyhow::Ok(v.unwrap_or(0))
        }
    };
    let get_set_final = read(&naive_key).await?;
    let incr_final = read(&atomic_key).await?;

    Ok(report(
        &params,
        expected as i64,
        get_set_final,
        incr_final,
        get_set_time,
        incr_time,
        &naive_key,
        &atomic_key,
    ))
}

/// Every worker increments `key` `increments` times by `method`, all starting together.
async fn race(
    ctx: &ScenarioContext<'_>,
    conns: &[MultiplexedConnection],
    key: &str,
    increments: usize,
    method: Method,
) -> Result<Duration> {
    let barrier = Arc::new(Barrier::new(conns.len()));
    let started = Instant::now();
    let tasks = conns.iter().map(|conn| {
        let mut conn = conn.clone();
        let barrier = barrier.clone();
        let key = key.to_string();
        tokio::spawn(async move {
            barrier.wait().await;
            for _ in 0..increments {
                match method {
                    Method::GetSet => {
                        let current: Option<i64> =
                            redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
                        // A real handler does some work here (validation, logging, ...).
                        tokio::task::yield_now().await;
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(current.unwrap_or(0) + 1)
                            .query_async::<()>(&mut conn)
                            .await?;
                    }
                    Method::Incr => {
                        redis::cmd("INCR")
                            .arg(&key)
                            .query_async::<i64>(&mut conn)
                            .await?;
                    }
                }
            }
            anyhow::Ok(())
        })
    });
    for joined in try_join_all(tasks)
        .await
        .context("a worker task panicked")?
    {
        joined?;
        ctx.ticker.tick(increments as u64);
    }
    Ok(started.elapsed())
}

#[allow(clippy::too_many_arguments)]
fn report(
    params: &Params,
    expected: i64,
    get_set_final: i64,
    incr_final: i64,
    get_set_time: Duration,
    incr_time: Duration,
    naive_key: &str,
    atomic_key: &str,
) -> ScenarioReport {
    let lost = expected - get_set_final;
    let lost_incr = expected - incr_final;
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let mut report = ScenarioReport {
        header: vec![
            "method".into(),
            "expected".into(),
            "final value".into(),
            "lost updates".into(),
            "time".into(),
        ],
        rows: vec![
            vec![
                "GET, then SET value+1".into(),
                expected.to_string(),
                get_set_final.to_string(),
                lost.to_string(),
                ms(get_set_time),
            ],
            vec![
                "INCR".into(),
                expected.to_string(),
                incr_final.to_string(),
                lost_incr.to_string(),
                ms(incr_time),
            ],
        ],
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("expected".into(), expected as f64);
    m.insert("get_set_final".into(), get_set_final as f64);
    m.insert("lost_updates".into(), lost as f64);
    m.insert("incr_final".into(), incr_final as f64);
    m.insert("incr_lost_updates".into(), lost_incr as f64);
    m.insert("workers".into(), params.workers as f64);

    let notes = &mut report.notes;
    if lost > 0 {
        let pct = 100.0 * lost as f64 / expected as f64;
        notes.push(format!(
            "GET+SET lost {lost} of {expected} increments ({pct:.0}%): workers that read the same value all wrote value+1 over one another."
        ));
    } else if params.workers > 1 {
        notes.push(format!(
            "GET+SET lost nothing this time ({get_set_final} of {expected}): the race is still there, it just did not hit; run it again or add workers."
        ));
    } else {
        notes.push(
            "With one worker GET+SET cannot race: raise `workers` to see lost updates.".into(),
        );
    }
    if lost_incr == 0 {
        notes.push(format!(
            "INCR reached exactly {incr_final}: it reads, adds and writes inside one command, and Redis runs one command at a time."
        ));
    } else {
        notes.push(format!(
            "INCR ended at {incr_final}, not {expected}: something else wrote to {atomic_key} during the run."
        ));
    }
    notes.push(format!(
        "Both counters were kept for you to inspect (GET {naive_key}, GET {atomic_key}); they expire in {} minutes.",
        KEEP_SECONDS / 60
    ));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked() {
        let p = |workers, increments| Params {
            workers,
            increments,
        };
        assert!(validate(&p(20, 50)).is_ok());
        assert!(validate(&p(0, 50)).is_err());
        assert!(validate(&p(20, 0)).is_err());
        assert!(validate(&p(500, 1_000_000)).is_err());
    }

    #[test]
    fn report_counts_lost_updates() {
        let params = Params {
            workers: 2,
            increments: 5,
        };
        let r = report(
            &params,
            10,
            7,
            10,
            Duration::ZERO,
            Duration::ZERO,
            "lab:a",
            "lab:b",
        );
        assert_eq!(r.metrics["lost_updates"], 3.0);
        assert_eq!(r.metrics["incr_final"], 10.0);
    }
}
