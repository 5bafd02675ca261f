//! `redislab bench`: an honest Redis vs SQLite benchmark. Same data, same machine, one run;
//! warm-up, then many iterations recorded per operation in HDR histograms; p50, p99 and ops/s
//! per cell; one line per row saying who won and why, written from the numbers.
//!
//! Measuring lives here; drawing (table, chart, progress styles) lives in `term::bench`.
//! - `spec`: case ids, rows, columns; `data`: the rows both engines hold
//! - `redis_side`, `sqlite_side`: the workloads; `stats`: histograms; `report`: the result
//! - `throughput`: a lean GET load generator to compare with `redis-benchmark`

pub mod data;
pub mod redis_side;
pub mod report;
pub mod spec;
pub mod sqlite_side;
pub mod throughput;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget};
use serde::Serialize;

use crate::error::{self, Exit, code};
use crate::redis::connect::Server;
use redis_side::{RedisBench, Target};
pub use report::{Cell, Column, Meta, Report, Row};
pub use spec::{Case, ColumnId, RowId, SqliteMode};
use sqlite_side::SqliteDb;

/// Set from outside (Ctrl-C) to stop a run at the next operation; clean-up still happens.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What to run. `Options::default()` is the full default run (under a minute).
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// A few seconds in all.
    pub quick: bool,
    /// Exact samples per cell (no time cap). Overrides `quick`.
    pub iterations: Option<u64>,
    /// Cases to run; empty = all.
    pub cases: Vec<Case>,
    /// SQLite modes; empty = all three.
    pub sqlite: Vec<SqliteMode>,
    /// Clients for concurrent-incr.
    pub clients: usize,
    /// On the managed server, also measure Redis with AOF everysec and always.
    pub durable: bool,
    #[serde(skip)]
    pub cancel: Cancel,
}

pub const DEFAULT_CLIENTS: usize = 8;

impl Default for Options {
    fn default() -> Self {
        Options {
            quick: false,
            iterations: None,
            cases: Vec::new(),
            sqlite: Vec::new(),
            clients: DEFAULT_CLIENTS,
            durable: true,
            cancel: Cancel::default(),
        }
    }
}

impl Options {
    /// The quick run lessons use.
    pub fn quick() -> Self {
        Options {
            quick: true,
            ..Options::default()
        }
    }

    fn cases(&self) -> Vec<Case> {
        if self.cases.is_empty() {
            Case::ALL.to_vec()
        } else {
            Case::ALL
                .into_iter()
                .filter(|c| self.cases.contains(c))
                .collect()
        }
    }

    fn modes(&self) -> Vec<SqliteMode> {
        if self.sqlite.is_empty() {
            SqliteMode::ALL.to_vec()
        } else {
            SqliteMode::ALL
                .into_iter()
                .filter(|m| self.sqlite.contains(m))
                .collect()
        }
    }

    fn base_plan(&self) -> Plan {
        match (self.iterations, self.quick) {
            (Some(n), _) => Plan {
                samples: n.max(1),
                warmup: (n / 10).clamp(1, 500),
                budget: None,
            },
            (None, true) => Plan {
                samples: 300,
                warmup: 30,
                budget: Some(Duration::from_millis(100)),
            },
            (None, false) => Plan {
                samples: 5_000,
                warmup: 300,
                budget: Some(Duration::from_millis(800)),
            },
        }
    }
}

/// Parses `--only` values; the error is one line naming the valid ids.
pub fn parse_cases(values: &[String]) -> std::result::Result<Vec<Case>, String> {
    values
        .iter()
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            Case::parse(v).ok_or_else(|| {
                format!(
                    "unknown case {:?}: use one of {}",
                    v.trim(),
                    Case::ALL.map(|c| c.id()).join(", ")
                )
            })
        })
        .collect()
}

/// Parses `--sqlite` values.
pub fn parse_modes(values: &[String]) -> std::result::Result<Vec<SqliteMode>, String> {
    values
        .iter()
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            SqliteMode::parse(v).ok_or_else(|| {
                format!(
                    "unknown SQLite mode {:?}: use one of memory, wal, journal",
                    v.trim()
                )
            })
        })
        .collect()
}

/// How many samples a cell takes.
#[derive(Debug, Clone)]
pub struct Plan {
    pub samples: u64,
    pub warmup: u64,
    /// Stop measuring a cell after this long (keeps slow cells, like fsync per commit, short).
    pub budget: Option<Duration>,
}

/// Fewest samples a time-capped cell keeps.
const MIN_SAMPLES: u64 = 10;

impl Plan {
    fn for_row(&self, row: RowId) -> Plan {
        if row.is_batch() {
            Plan {
                samples: (self.samples / 20).max(self.samples.min(10)),
                warmup: (self.warmup / 20).max(2),
                budget: self.budget,
            }
        } else {
            self.clone()
        }
    }

    #[inline]
    pub fn over_budget(&self, spent: Duration, samples: u64) -> bool {
        self.budget
            .is_some_and(|b| spent > b && samples >= MIN_SAMPLES)
    }
}

/// What the workloads need besides their data: the stop flag and the cell's progress bar.
#[derive(Clone)]
pub struct Ctx {
    pub cancel: Cancel,
    pub bar: ProgressBar,
}

impl Ctx {
    #[inline]
    pub fn cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// The error a cancelled run ends with.
pub fn interrupted() -> anyhow::Error {
    Exit::new(
        code::INTERRUPTED,
        "interrupted: the benchmark keys and temporary files were removed",
    )
    .into()
}

struct Bars {
    _multi: MultiProgress,
    overall: ProgressBar,
    cell: ProgressBar,
}

impl Bars {
    fn new(total: u64, show: bool) -> Bars {
        let multi = MultiProgress::with_draw_target(if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let overall = multi.add(ProgressBar::new(total));
        overall.set_style(crate::term::bench::overall_style());
        let cell = multi.add(ProgressBar::new(0));
        cell.set_style(crate::term::bench::cell_style());
        Bars {
            _multi: multi,
            overall,
            cell,
        }
    }

    fn start_cell(&self, row: RowId, column: ColumnId, len: u64) {
        self.cell.reset();
        self.cell.set_length(len);
        self.cell.set_position(0);
        self.cell
            .set_message(format!("{} · {}", row.id(), column.title()));
        self.overall.set_message(row.id());
    }

    fn end_cell(&self) {
        self.overall.inc(1);
    }

    fn finish(&self) {
        self.cell.finish_and_clear();
        self.overall.finish_and_clear();
    }
}

/// Runs the benchmark and returns every figure. Keys live under `<namespace>:bench:` and SQLite
/// files in a temporary directory; both are removed before this returns, on success, on error
/// and when `options.cancel` is set. Never runs CONFIG SET on a server it does not manage.
pub async fn run_suite(
    server: &Server,
    namespace: &str,
    options: Options,
    progress: bool,
) -> Result<Report> {
    // The measuring loop gets a thread and a single-threaded runtime of its own: on the shared
    // multi-threaded runtime every reply would hop between worker threads, and the wake-ups
    // (tens of µs on a small machine) would be charged to Redis.
    let target = Target::of(server);
    let namespace = namespace.to_string();
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("could not start the benchmark's runtime")?;
        rt.block_on(suite(&target, &namespace, options, progress))
    })
    .await
    .map_err(|e| anyhow::anyhow!("the benchmark thread failed: {e}"))?
}

async fn suite(
    server: &Target,
    namespace: &str,
    options: Options,
    progress: bool,
) -> Result<Report> {
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let cases = options.cases();
    let modes = options.modes();
    let rows: Vec<RowId> = cases
        .iter()
        .flat_map(|c| c.rows().iter().copied())
        .collect();
    let durable = options.durable && server.managed;
    let write_rows = rows.iter().filter(|r| r.writes()).count();
    let total_cells = rows.len() * (1 + modes.len()) + if durable { 2 * write_rows } else { 0 };
    let bars = Bars::new(total_cells as u64, progress);
    let ctx = Ctx {
        cancel: options.cancel.clone(),
        bar: bars.cell.clone(),
    };

    let tmp = tempfile::Builder::new()
        .prefix("redislab-bench-")
        .tempdir()
        .context("could not create a temporary directory for the SQLite files")?;
    let mut redis = RedisBench::new(server, namespace).await?;
    let mut state = Run {
        server,
        namespace,
        options: &options,
        ctx,
        bars: &bars,
        modes: &modes,
        rows: &rows,
        durable,
        dbs: Vec::new(),
        results: rows.iter().map(|r| Row::new(*r)).collect(),
        columns: Vec::new(),
        notes: Vec::new(),
    };
    let outcome = state.run(&mut redis, tmp.path()).await;
    bars.finish();

    // Clean-up, whatever happened: databases closed, files removed, keys deleted.
    let Run {
        results,
        columns,
        mut notes,
        dbs,
        ..
    } = state;
    drop(dbs);
    let tmp_result = tmp.close();
    let pattern = format!("{}*", redis_side::prefix(namespace));
    let display = redis.display().to_string();
    let del = crate::namespace::delete_matching(redis.conn(), namespace, &pattern).await;
    outcome?;
    del.map_err(|e| {
        error::connection(format!(
            "could not remove the benchmark keys ({pattern}) from Redis at {display}: {}",
            format!("{e:#}").replace('\n', " ")
        ))
    })?;
    tmp_result.context("could not remove the temporary SQLite files")?;

    if server.managed && !options.durable {
        notes.push("durable Redis columns skipped (--no-durable)".to_string());
    } else if !server.managed {
        notes.push(
            "durable Redis columns (AOF everysec / always) need --managed: redislab never runs CONFIG SET on your server"
                .to_string(),
        );
    }
    let plan = options.base_plan();
    let meta = Meta {
        redislab: env!("CARGO_PKG_VERSION").to_string(),
        server: server.display.clone(),
        server_product: server.product.clone(),
        server_version: server.version.clone(),
        managed: server.managed,
        sqlite_version: rusqlite::version().to_string(),
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        cpu_model: cpu_model(),
        iterations: plan.samples,
        warmup: plan.warmup,
        cell_budget_s: plan.budget.map(|b| b.as_secs_f64()),
        clients: options.clients.max(1),
        quick: options.quick && options.iterations.is_none(),
        started_unix,
        wall_seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Report {
        meta,
        columns,
        rows: results,
        notes,
    })
}

fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|r| r.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// One run's working state.
struct Run<'a> {
    server: &'a Target,
    namespace: &'a str,
    options: &'a Options,
    ctx: Ctx,
    bars: &'a Bars,
    modes: &'a [SqliteMode],
    rows: &'a [RowId],
    durable: bool,
    dbs: Vec<SqliteDb>,
    results: Vec<Row>,
    columns: Vec<Column>,
    notes: Vec<String>,
}

impl Run<'_> {
    async fn run(&mut self, redis: &mut RedisBench, dir: &std::path::Path) -> Result<()> {
        // Leftovers from a crashed run would skew the data: start clean (inside the namespace).
        let pattern = format!("{}*", redis_side::prefix(self.namespace));
        crate::namespace::delete_matching(redis.conn(), self.namespace, &pattern)
            .await
            .map_err(|e| {
                error::connection(format!(
                    "Redis at {}: {}",
                    redis.display(),
                    format!("{e:#}").replace('\n', " ")
                ))
            })?;
        redis.seed().await?;
        let base_settings = match redis.persistence().await {
            Some((a, f)) if a == "yes" => {
                format!("appendonly yes, appendfsync {f} (as configured)")
            }
            Some(_) => "appendonly no (as configured): in memory only".to_string(),
            None => "the server's own persistence settings (CONFIG GET not allowed)".to_string(),
        };
        self.columns.push(column(ColumnId::Redis, base_settings));
        if self.durable {
            self.columns.push(column(
                ColumnId::RedisEverysec,
                "appendonly yes, appendfsync everysec (set for this run, then restored)".into(),
            ));
            self.columns.push(column(
                ColumnId::RedisAlways,
                "appendonly yes, appendfsync always (set for this run, then restored)".into(),
            ));
        }
        for &m in self.modes {
            self.columns
                .push(column(ColumnId::Sqlite(m), m.settings().to_string()));
        }
        for &mode in self.modes {
            let dir = dir.to_path_buf();
            let db = tokio::task::spawn_blocking(move || SqliteDb::open(mode, &dir))
                .await
                .context("a SQLite thread failed")??;
            self.dbs.push(db);
        }

        for idx in 0..self.rows.len() {
            let row = self.rows[idx];
            self.measure_redis(redis, idx, row, ColumnId::Redis).await?;
            for k in 0..self.dbs.len() {
                self.measure_sqlite(idx, row, k).await?;
            }
        }
        if self.durable {
            self.durable_columns(redis).await?;
        }
        let clients = self.options.clients.max(1);
        for (i, r) in self.results.iter_mut().enumerate() {
            // Cells in column order.
            let order: Vec<String> = self.columns.iter().map(|c| c.id.clone()).collect();
            r.cells.sort_by_key(|c| {
                order
                    .iter()
                    .position(|o| *o == c.column)
                    .unwrap_or(usize::MAX)
            });
            for col in &self.columns {
                if !r.cells.iter().any(|c| c.column == col.id) {
                    r.cells.push(Cell {
                        column: col.id.clone(),
                        stats: None,
                        note: Some("reads do not touch the AOF: same as the Redis column".into()),
                    });
                }
            }
            r.finish(self.rows[i], clients);
        }
        Ok(())
    }

    fn plan(&self, row: RowId) -> Plan {
        self.options.base_plan().for_row(row)
    }

    async fn measure_redis(
        &mut self,
        redis: &mut RedisBench,
        idx: usize,
        row: RowId,
        col: ColumnId,
    ) -> Result<()> {
        let plan = self.plan(row);
        self.bars.start_cell(row, col, plan.samples);
        let (stats, note) = if row == RowId::ConcurrentIncr {
            let clients = self.options.clients;
            let (s, n) = redis
                .concurrent(self.server, clients, &plan, &self.ctx)
                .await?;
            (s, Some(n))
        } else {
            (redis.measure(row, &plan, &self.ctx).await?, None)
        };
        self.results[idx].cells.push(Cell {
            column: col.id().to_string(),
            stats: Some(stats),
            note,
        });
        self.bars.end_cell();
        Ok(())
    }

    async fn measure_sqlite(&mut self, idx: usize, row: RowId, k: usize) -> Result<()> {
        let plan = self.plan(row);
        let db = self.dbs.remove(k);
        let col = ColumnId::Sqlite(db.mode);
        self.bars.start_cell(row, col, plan.samples);
        let ctx = self.ctx.clone();
        let clients = self.options.clients;
        let joined = tokio::task::spawn_blocking(move || {
            let r = if row == RowId::ConcurrentIncr {
                db.concurrent(clients, &plan, &ctx)
                    .map(|(s, n)| (s, Some(n)))
            } else {
                db.measure(row, &plan, &ctx).map(|s| (s, None))
            };
            (db, r)
        })
        .await
        .context("a SQLite thread failed")?;
        let (db, r) = joined;
        self.dbs.insert(k, db);
        let (stats, note) = r?;
        self.results[idx].cells.push(Cell {
            column: col.id().to_string(),
            stats: Some(stats),
            note,
        });
        self.bars.end_cell();
        Ok(())
    }

    /// AOF everysec, then always, on the managed server; the previous settings are restored
    /// even when a measurement fails.
    async fn durable_columns(&mut self, redis: &mut RedisBench) -> Result<()> {
        let display = redis.display().to_string();
        let conn = redis.conn();
        let old_aof = redis_side::config_get(conn, "appendonly").await?;
        let old_fsync = redis_side::config_get(conn, "appendfsync").await?;
        let measured = self.durable_inner(redis, &display).await;
        let conn = redis.conn();
        let r1 = redis_side::config_set(conn, &display, "appendfsync", &old_fsync).await;
        let r2 = redis_side::config_set(conn, &display, "appendonly", &old_aof).await;
        measured?;
        r1?;
        r2?;
        Ok(())
    }

    async fn durable_inner(&mut self, redis: &mut RedisBench, display: &str) -> Result<()> {
        for (col, fsync) in [
            (ColumnId::RedisEverysec, "everysec"),
            (ColumnId::RedisAlways, "always"),
        ] {
            let conn = redis.conn();
            redis_side::config_set(conn, display, "appendfsync", fsync).await?;
            redis_side::config_set(conn, display, "appendonly", "yes").await?;
            redis_side::wait_for_aof(conn, display, &self.ctx).await?;
            for idx in 0..self.rows.len() {
                let row = self.rows[idx];
                if row.writes() {
                    self.measure_redis(redis, idx, row, col).await?;
                }
            }
        }
        Ok(())
    }
}

fn column(id: ColumnId, settings: String) -> Column {
    Column {
        id: id.id().to_string(),
        engine: id.engine().to_string(),
        title: id.title().to_string(),
        settings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_ids() {
        assert_eq!(
            parse_cases(&["top10".into(), "rank".into()]),
            Ok(vec![Case::Top10, Case::Rank])
        );
        let e = parse_cases(&["nope".into()]).unwrap_err();
        assert!(e.contains("unknown case \"nope\""), "{e}");
        assert!(parse_modes(&["wal".into()]).is_ok());
        assert!(parse_modes(&["disk".into()]).is_err());
    }

    #[test]
    fn plans() {
        let o = Options::quick();
        let p = o.base_plan();
        assert!(p.budget.is_some());
        let b = p.for_row(RowId::BatchLoop);
        assert!(b.samples >= 10 && b.samples < p.samples);
        let exact = Options {
            iterations: Some(50),
            ..Options::default()
        };
        assert!(exact.base_plan().budget.is_none());
        assert_eq!(exact.base_plan().samples, 50);
    }
}
