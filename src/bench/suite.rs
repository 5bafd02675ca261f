//! One benchmark run: seeds both engines, measures every (row, column) cell in turn, restores
//! what it changed and removes what it wrote, then assembles the report. The workloads
//! themselves live in `redis_side` and `sqlite_side`.

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use super::SqliteMode;
use super::redis_side::{self, RedisBench, Target};
use super::sqlite_side::SqliteDb;
use super::{Cell, Column, ColumnId, Ctx, Meta, Options, Plan, Progress, Report, Row, RowId};
use crate::error;
use crate::measure::on_own_thread;
use crate::measure::stats::Stats;
use crate::redis::aof_restore::{self as durable, Marker};
use crate::redis::connect::Server;

/// Runs the benchmark and returns every figure. Keys live under `<namespace>:bench:` and SQLite
/// files in a temporary directory; both are removed before this returns, on success, on error
/// and when `options.cancel` is set. Never runs CONFIG SET on a server it does not manage.
pub async fn run_suite(
    server: &Server,
    namespace: &str,
    options: Options,
    progress: Progress,
) -> Result<Report> {
    let target = Target::of(server);
    let namespace = namespace.to_string();
    on_own_thread("the benchmark", move || async move {
        suite(&target, &namespace, options, progress).await
    })
    .await
}

async fn suite(
    server: &Target,
    namespace: &str,
    options: Options,
    progress: Progress,
) -> Result<Report> {
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let modes = options.modes();
    let rows: Vec<RowId> = options
        .cases()
        .iter()
        .flat_map(|c| c.rows().iter().copied())
        .collect();
    let durable_dir = match &options.managed_dir {
        Some(dir) if options.durable && server.managed => Some(dir.as_path()),
        _ => None,
    };
    let write_rows = rows.iter().filter(|r| r.writes()).count();
    let durable_cells = if durable_dir.is_some() {
        2 * write_rows
    } else {
        0
    };
    let total_cells = rows.len() * (1 + modes.len()) + durable_cells;
    progress.overall.start(total_cells as u64, "");

    let tmp = tempfile::Builder::new()
        .prefix("redislab-bench-")
        .tempdir()
        .context("could not create a temporary directory for the SQLite files")?;
    let mut redis = RedisBench::new(server, namespace).await?;
    let mut state = Run {
        namespace,
        options: &options,
        ctx: Ctx {
            cancel: options.cancel.clone(),
            cell: progress.cell.clone(),
        },
        progress: &progress,
        modes: &modes,
        rows: &rows,
        dbs: Vec::new(),
        results: rows.iter().map(|r| Row::new(*r)).collect(),
        columns: Vec::new(),
        notes: Vec::new(),
    };
    let outcome = state.run(server, &mut redis, tmp.path(), durable_dir).await;
    progress.cell.finish();
    progress.overall.finish();

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
    Ok(Report {
        meta: meta(server, &options, &plan, started_unix, started),
        columns,
        rows: results,
        notes,
    })
}

fn meta(
    server: &Target,
    options: &Options,
    plan: &Plan,
    started_unix: u64,
    started: Instant,
) -> Meta {
    Meta {
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
    }
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
    namespace: &'a str,
    options: &'a Options,
    ctx: Ctx,
    progress: &'a Progress,
    modes: &'a [SqliteMode],
    rows: &'a [RowId],
    dbs: Vec<SqliteDb>,
    results: Vec<Row>,
    columns: Vec<Column>,
    notes: Vec<String>,
}

impl Run<'_> {
    async fn run(
        &mut self,
        server: &Target,
        redis: &mut RedisBench,
        dir: &Path,
        durable_dir: Option<&Path>,
    ) -> Result<()> {
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
        // Before any setting changes, the current ones go to disk (see `durable`).
        let marker = match durable_dir {
            Some(d) => self.mark(redis, d).await?,
            None => None,
        };
        self.push_columns(redis, marker.is_some()).await;
        let measured = self.measure_all(server, redis, dir, marker.is_some()).await;
        let Some(marker) = marker else {
            return measured;
        };
        // Restored on success, error and Ctrl-C alike; the file stays only if restoring failed,
        // so the next connection tries again.
        let restored = marker.saved().apply(redis.conn()).await;
        let removed = match &restored {
            Ok(()) => marker.remove(),
            Err(_) => Ok(()),
        };
        measured?;
        restored.with_context(|| format!("Redis at {}", redis.display()))?;
        removed
    }

    /// Records the managed server's AOF settings; `None` when another run holds the record.
    async fn mark(&mut self, redis: &mut RedisBench, dir: &Path) -> Result<Option<Marker>> {
        let saved = durable::Saved::read(redis.conn())
            .await
            .with_context(|| format!("Redis at {}", redis.display()))?;
        let marker = Marker::write(dir, &saved)?;
        if marker.is_none() {
            self.notes.push(
                "durable Redis columns skipped: another redislab bench is changing the managed server's AOF settings right now"
                    .to_string(),
            );
        }
        Ok(marker)
    }

    async fn push_columns(&mut self, redis: &mut RedisBench, durable: bool) {
        let base_settings = match redis.persistence().await {
            Some((a, f)) if a == "yes" => {
                format!("appendonly yes, appendfsync {f} (as configured)")
            }
            Some(_) => "appendonly no (as configured): in memory only".to_string(),
            None => "the server's own persistence settings (CONFIG GET not allowed)".to_string(),
        };
        self.columns.push(column(ColumnId::Redis, base_settings));
        if durable {
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
    }

    async fn measure_all(
        &mut self,
        server: &Target,
        redis: &mut RedisBench,
        dir: &Path,
        durable: bool,
    ) -> Result<()> {
        for &mode in self.modes {
            let dir = dir.to_path_buf();
            let db = tokio::task::spawn_blocking(move || SqliteDb::open(mode, &dir))
                .await
                .context("a SQLite thread failed")??;
            self.dbs.push(db);
        }
        for idx in 0..self.rows.len() {
            let row = self.rows[idx];
            self.measure_redis(server, redis, idx, row, ColumnId::Redis)
                .await?;
            for k in 0..self.dbs.len() {
                self.measure_sqlite(idx, row, k).await?;
            }
        }
        if durable {
            self.durable_columns(server, redis).await?;
        }
        self.finish_rows();
        Ok(())
    }

    /// Cells in column order, a note where a read has no durable figure, the explanations.
    fn finish_rows(&mut self) {
        let clients = self.options.clients.max(1);
        let order: Vec<String> = self.columns.iter().map(|c| c.id.clone()).collect();
        for (i, r) in self.results.iter_mut().enumerate() {
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
            r.finish();
            r.explanation = super::explain::explain(r, self.rows[i], clients);
        }
    }

    fn start_cell(&self, row: RowId, column: ColumnId, samples: u64) {
        self.progress.overall.message(&row.id());
        self.progress
            .cell
            .start(samples, &format!("{} · {}", row.id(), column.title()));
    }

    fn end_cell(&mut self, idx: usize, column: ColumnId, measured: (Stats, Option<String>)) {
        let (stats, note) = measured;
        self.results[idx].cells.push(Cell {
            column: column.id().to_string(),
            stats: Some(stats),
            note,
        });
        self.progress.overall.tick(1);
    }

    async fn measure_redis(
        &mut self,
        server: &Target,
        redis: &mut RedisBench,
        idx: usize,
        row: RowId,
        col: ColumnId,
    ) -> Result<()> {
        let plan = self.options.plan_for(row);
        self.start_cell(row, col, plan.samples);
        let measured = if row == RowId::ConcurrentIncr {
            let clients = self.options.clients;
            let (s, n) = redis.concurrent(server, clients, &plan, &self.ctx).await?;
            (s, Some(n))
        } else {
            (redis.measure(row, &plan, &self.ctx).await?, None)
        };
        self.end_cell(idx, col, measured);
        Ok(())
    }

    async fn measure_sqlite(&mut self, idx: usize, row: RowId, k: usize) -> Result<()> {
        let plan = self.options.plan_for(row);
        let db = self.dbs.remove(k);
        let col = ColumnId::Sqlite(db.mode);
        self.start_cell(row, col, plan.samples);
        let ctx = self.ctx.clone();
        let clients = self.options.clients;
        let (db, r) = tokio::task::spawn_blocking(move || {
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
        self.dbs.insert(k, db);
        self.end_cell(idx, col, r?);
        Ok(())
    }

    /// AOF everysec, then always, on the managed server (restored by the caller).
    async fn durable_columns(&mut self, server: &Target, redis: &mut RedisBench) -> Result<()> {
        let display = redis.display().to_string();
        for (col, fsync) in [
            (ColumnId::RedisEverysec, "everysec"),
            (ColumnId::RedisAlways, "always"),
        ] {
            let conn = redis.conn();
            redis_side::config_set(conn, &display, "appendfsync", fsync).await?;
            redis_side::config_set(conn, &display, "appendonly", "yes").await?;
            durable::die_here_when_testing();
            redis_side::wait_for_aof(conn, &display, &self.ctx).await?;
            for idx in 0..self.rows.len() {
                let row = self.rows[idx];
                if row.writes() {
                    self.measure_redis(server, redis, idx, row, col).await?;
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
