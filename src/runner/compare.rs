//! The compare step: one job timed in Redis and in SQLite (in memory, and a file with WAL),
//! measured on the spot after a warm-up. Numbers are never written into a lesson. The timing
//! uses the benchmark's tools: `measure::sampler` for the loop, HDR percentiles for the figures.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::redis::fence::Fenced;
use anyhow::{Context, Result};
use rusqlite::Connection;
use serde::Serialize;

use crate::lesson::model::{RedisSide, SqliteSide};
use crate::measure::sampler::{Plan, Sampler};
use crate::measure::stats::Recorder;
use crate::measure::{Silent, on_own_thread};
use crate::redis::fence::Origin;
use crate::redis::tokenize::tokenize;

#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub label: String,
    pub p50_us: f64,
    pub p99_us: f64,
    pub ops_per_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    pub iterations: u32,
    pub rows: Vec<Measured>,
    pub metrics: BTreeMap<String, f64>,
    /// What this run showed, written from its own numbers (never a fixed claim).
    pub conclusion: String,
}

/// A sampler for `iterations` timed runs after `warmup`, one operation each.
fn sampler(iterations: u32, warmup: u32) -> Result<Sampler<'static>> {
    let plan = Plan::exact(u64::from(iterations), u64::from(warmup));
    Ok(Sampler::new(plan, Recorder::new(1, 1)?, &Silent))
}

fn summarize(label: String, s: Sampler<'_>) -> Measured {
    let stats = s.into_recorder().summary();
    Measured {
        label,
        p50_us: stats.p50_us,
        p99_us: stats.p99_us,
        ops_per_s: stats.ops_per_sec,
    }
}

/// Times the Redis side: `commands` are already variable-expanded.
pub async fn time_redis(
    conn: &mut Fenced,
    side: &RedisSide,
    commands: &[String],
    iterations: u32,
) -> Result<Measured> {
    // The lesson wrote these: the fence admits each once, as a lesson's, before any clock.
    let mut cmds = Vec::new();
    for c in commands {
        let args = tokenize(c).map_err(|e| anyhow::anyhow!("{e} in {c:?}"))?;
        let args = crate::redis::fence::own_args(&args);
        cmds.push(conn.admitted_from(&args, Origin::Lesson).await?);
    }
    let pipe = Fenced::pipeline_of(&cmds);
    let once = async |conn: &mut Fenced| -> Result<()> {
        if side.pipeline {
            let _: Vec<redis::Value> = conn.query_pipeline(&pipe).await?;
        } else {
            for c in &cmds {
                let _: redis::Value = conn.query(c).await?;
            }
        }
        Ok(())
    };
    let mut s = sampler(iterations, (iterations / 10).max(200))?;
    while s.warm_up().is_some() {
        once(conn).await?;
    }
    while s.sample().is_some() {
        let t = Instant::now();
        once(conn).await?;
        s.record(t);
    }
    let label = side.label.clone().unwrap_or_else(|| {
        let first = commands
            .first()
            .and_then(|c| c.split_whitespace().next())
            .unwrap_or("Redis");
        if side.pipeline {
            format!("Redis {first} (pipeline)")
        } else {
            format!("Redis {first}")
        }
    });
    Ok(summarize(label, s))
}

/// Times the Redis side on a thread and single-threaded runtime of its own (see
/// `measure::on_own_thread`), with its own connection.
pub async fn time_redis_isolated(
    opener: crate::redis::connect::FencedOpener,
    side: RedisSide,
    commands: Vec<String>,
    iterations: u32,
) -> Result<Measured> {
    on_own_thread("the compare step's timing", move || async move {
        let mut conn = opener
            .open(Some(std::time::Duration::from_secs(10)))
            .await?;
        time_redis(&mut conn, &side, &commands, iterations).await
    })
    .await
}

/// Times the SQLite side on one connection (prepared, cached statements).
pub fn time_sqlite(
    conn: &Connection,
    side: &SqliteSide,
    iterations: u32,
    label: &str,
) -> Result<Measured> {
    for sql in &side.setup {
        conn.execute_batch(sql)
            .with_context(|| format!("SQLite setup failed: {sql}"))?;
    }
    let once = || -> Result<()> {
        if side.transaction {
            conn.execute_batch("BEGIN")?;
        }
        for sql in &side.statements {
            let mut stmt = conn
                .prepare_cached(sql)
                .with_context(|| format!("SQLite statement failed: {sql}"))?;
            if stmt.column_count() > 0 {
                let mut rows = stmt.query([])?;
                while let Some(row) = rows.next()? {
                    // Read the first column so the row is really fetched.
                    let _: rusqlite::types::Value = row.get(0)?;
                }
            } else {
                stmt.execute([])?;
            }
        }
        if side.transaction {
            conn.execute_batch("COMMIT")?;
        }
        Ok(())
    };
    let mut s = sampler(iterations, (iterations / 10).max(10))?;
    while s.warm_up().is_some() {
        once()?;
    }
    while s.sample().is_some() {
        let t = Instant::now();
        once()?;
        s.record(t);
    }
    Ok(summarize(
        side.label
            .clone()
            .map(|l| format!("{l} ({label})"))
            .unwrap_or_else(|| format!("SQLite {label}")),
        s,
    ))
}

/// Both SQLite modes: in memory, and a WAL file in a temporary folder removed afterwards.
pub fn time_sqlite_modes(side: &SqliteSide, iterations: u32) -> Result<(Measured, Measured)> {
    let mem =
        Connection::open_in_memory().context("could not open an in-memory SQLite database")?;
    let m = time_sqlite(&mem, side, iterations, "in memory")?;
    let dir = tempfile::tempdir().context("could not create a temporary folder for SQLite")?;
    let file =
        Connection::open(dir.path().join("compare.db")).context("could not open a SQLite file")?;
    file.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")?;
    let w = time_sqlite(&file, side, iterations, "WAL file")?;
    drop(file);
    Ok((m, w))
}

pub fn report(iterations: u32, redis: Measured, memory: Measured, wal: Measured) -> CompareReport {
    let mut metrics = BTreeMap::new();
    metrics.insert("redis_p50_us".into(), redis.p50_us);
    metrics.insert("sqlite_memory_p50_us".into(), memory.p50_us);
    metrics.insert("sqlite_wal_p50_us".into(), wal.p50_us);
    // How many times Redis's p50 each SQLite mode took: below 1 means SQLite was faster.
    let ratio = |m: &Measured| {
        if redis.p50_us > 0.0 {
            m.p50_us / redis.p50_us
        } else {
            f64::NAN
        }
    };
    metrics.insert("sqlite_memory_vs_redis".into(), ratio(&memory));
    metrics.insert("sqlite_wal_vs_redis".into(), ratio(&wal));
    let conclusion = conclusion(&redis, &[&memory, &wal]);
    CompareReport {
        iterations,
        rows: vec![redis, memory, wal],
        metrics,
        conclusion,
    }
}

/// "On this run Redis (GET) was fastest at p50: SQLite in memory took 1.4× as long, ...".
fn conclusion(redis: &Measured, sqlite: &[&Measured]) -> String {
    let side = |m: &Measured| {
        let r = m.p50_us / redis.p50_us;
        if !r.is_finite() {
            format!("{} could not be compared", m.label)
        } else if r >= 1.05 {
            format!("{} took {r:.1}× as long as Redis", m.label)
        } else if r <= 0.95 {
            format!("{} was {:.1}× faster than Redis", m.label, 1.0 / r)
        } else {
            format!("{} was about as fast as Redis", m.label)
        }
    };
    let parts: Vec<String> = sqlite.iter().map(|m| side(m)).collect();
    format!(
        "On this run, at p50: {} ({}: {}).",
        parts.join("; "),
        redis.label,
        crate::measure::human_us(redis.p50_us)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_conclusion_is_written_from_the_numbers() {
        let m = |label: &str, p50: f64| Measured {
            label: label.into(),
            p50_us: p50,
            p99_us: p50,
            ops_per_s: 0.0,
        };
        let r = report(
            10,
            m("Redis GET", 10.0),
            m("SQLite in memory", 1.0),
            m("SQLite WAL file", 30.0),
        );
        assert_eq!(
            r.conclusion,
            "On this run, at p50: SQLite in memory was 10.0× faster than Redis; SQLite WAL file took 3.0× as long as Redis (Redis GET: 10.0 µs)."
        );
        assert_eq!(r.metrics["sqlite_memory_vs_redis"], 0.1);
        assert_eq!(r.metrics["sqlite_wal_vs_redis"], 3.0);
    }

    use super::*;

    #[test]
    fn sqlite_runs_warm_up_plus_iterations_and_reports_hdr_figures() {
        let side = SqliteSide {
            setup: vec!["CREATE TABLE t (x INTEGER)".into()],
            statements: vec!["INSERT INTO t VALUES (1)".into()],
            transaction: true,
            label: None,
        };
        let conn = Connection::open_in_memory().expect("sqlite");
        let m = time_sqlite(&conn, &side, 50, "in memory").expect("timed");
        assert_eq!(m.label, "SQLite in memory");
        // 10 warm-up runs (the minimum) and 50 timed ones, each one insert.
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count");
        assert_eq!(rows, 60);
        assert!(m.p50_us > 0.0 && m.p50_us <= m.p99_us, "{m:?}");
        assert!(m.ops_per_s > 0.0, "{m:?}");
        let (mem, wal) = time_sqlite_modes(&side, 20).expect("both modes");
        assert_eq!(mem.label, "SQLite in memory");
        assert_eq!(wal.label, "SQLite WAL file");
        let r = report(20, m, mem, wal);
        assert_eq!(r.rows.len(), 3);
        assert_eq!(r.metrics.len(), 5);
    }
}
