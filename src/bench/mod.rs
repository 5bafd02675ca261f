//! `redislab bench`: an honest Redis vs SQLite benchmark. Same data, same machine, one run;
//! warm-up, then many iterations recorded per operation in HDR histograms; p50, p99 and ops/s
//! per cell; one line per row saying who won and why, written from the numbers.
//!
//! Measuring lives here and reports progress through `measure::Ticker`; drawing (table, chart,
//! progress bars) lives in the terminal module, `term/bench.rs`.
//! - `spec`: case ids, rows, columns; `data`: the rows both engines hold
//! - `suite`: one run, cell by cell (`redis::aof_restore` keeps the AOF settings it changes)
//! - `redis_side`, `sqlite_side`: the workloads; `report`: the result; `explain`: its words
//! - `throughput` (+ `wire`): a lean GET load generator to compare with `redis-benchmark`

pub mod data;
mod explain;
pub mod redis_side;
pub mod report;
pub mod spec;
pub mod sqlite_side;
mod suite;
pub mod throughput;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use crate::error::{Exit, code};
pub use crate::measure::sampler::Plan;
use crate::measure::{Silent, Ticker};
pub use report::{Cell, Column, Meta, Report, Row};
pub use spec::{Case, ColumnId, RowId, SqliteMode};
pub use suite::run_suite;

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
    /// The managed server's directory, where the durable columns record the settings they
    /// change (see `durable`). Without it they are not measured.
    #[serde(skip)]
    pub managed_dir: Option<PathBuf>,
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
            managed_dir: None,
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
            (Some(n), _) => Plan::exact(n.max(1), (n / 10).clamp(1, 500)),
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

    /// The plan of one row: batch rows take fewer samples, each holding 100 operations.
    fn plan_for(&self, row: RowId) -> Plan {
        let base = self.base_plan();
        if row.is_batch() {
            Plan {
                samples: (base.samples / 20).max(base.samples.min(10)),
                warmup: (base.warmup / 20).max(2),
                budget: base.budget,
            }
        } else {
            base
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

/// Where a run reports progress: cells done overall, and samples within the current cell.
#[derive(Clone)]
pub struct Progress {
    pub overall: Arc<dyn Ticker>,
    pub cell: Arc<dyn Ticker>,
}

impl Progress {
    /// Shows nothing (tests, `--json` callers that want no bar, lessons).
    pub fn silent() -> Progress {
        Progress {
            overall: Arc::new(Silent),
            cell: Arc::new(Silent),
        }
    }
}

/// What the workloads need besides their data: the stop flag and the cell's progress.
#[derive(Clone)]
pub struct Ctx {
    pub cancel: Cancel,
    pub cell: Arc<dyn Ticker>,
}

impl Ctx {
    /// `Err(interrupted())` once the run was asked to stop.
    #[inline]
    pub fn check(&self) -> Result<()> {
        if self.cancel.is_cancelled() {
            Err(interrupted())
        } else {
            Ok(())
        }
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
        assert_eq!(o.plan_for(RowId::SingleRead), p);
        let b = o.plan_for(RowId::BatchLoop);
        assert!(b.samples >= 10 && b.samples < p.samples);
        let exact = Options {
            iterations: Some(50),
            ..Options::default()
        };
        assert!(exact.base_plan().budget.is_none());
        assert_eq!(exact.base_plan().samples, 50);
    }
}
