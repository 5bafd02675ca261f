//! The report model: every figure a run produced, serialisable, with one line of explanation
//! per row computed from the numbers (never a fixed claim).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::spec::{ColumnId, RowId};
use crate::measure::stats::Stats;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub meta: Meta,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Things the reader should know about this run (skipped columns, checks).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub redislab: String,
    pub server: String,
    pub server_product: String,
    pub server_version: String,
    pub managed: bool,
    pub sqlite_version: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub cpu_model: Option<String>,
    /// Samples per cell asked for (batch rows take fewer, each holding 100 operations).
    pub iterations: u64,
    pub warmup: u64,
    /// Per-cell time cap in seconds, if any.
    pub cell_budget_s: Option<f64>,
    pub clients: usize,
    pub quick: bool,
    /// Unix time the run started.
    pub started_unix: u64,
    pub wall_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub id: String,
    pub engine: String,
    pub title: String,
    /// The settings this column ran with.
    pub settings: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    /// "case" or "case/variant".
    pub id: String,
    pub case: String,
    pub variant: String,
    pub label: String,
    /// What one latency figure covers.
    pub unit: String,
    pub redis_command: String,
    pub sqlite_statement: String,
    pub cells: Vec<Cell>,
    /// Column id with the lowest p50.
    pub fastest: Option<String>,
    pub explanation: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    pub column: String,
    pub stats: Option<Stats>,
    /// Why there are no figures, or a check made on the result.
    pub note: Option<String>,
}

impl Row {
    pub fn new(row: RowId) -> Row {
        Row {
            id: row.id(),
            case: row.case().id().to_string(),
            variant: row.variant().to_string(),
            label: row.label().to_string(),
            unit: row.unit().to_string(),
            redis_command: row.redis_command().to_string(),
            sqlite_statement: row.sqlite_statement().to_string(),
            cells: Vec::new(),
            fastest: None,
            explanation: String::new(),
        }
    }

    pub fn cell(&self, column: &str) -> Option<&Stats> {
        self.cells
            .iter()
            .find(|c| c.column == column)
            .and_then(|c| c.stats.as_ref())
    }

    pub(super) fn p50(&self, column: ColumnId) -> Option<f64> {
        self.cell(column.id()).map(|s| s.p50_us)
    }

    /// Marks the fastest column. Call once every cell is in (then `explain` can read it).
    pub fn finish(&mut self) {
        self.fastest = self
            .cells
            .iter()
            .filter_map(|c| c.stats.as_ref().map(|s| (c.column.clone(), s.p50_us)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(c, _)| c);
    }
}

/// Every figure as CSV: one line per (row, column).
pub fn to_csv(report: &Report) -> String {
    let mut out = String::from(
        "row,case,variant,unit,column,engine,settings,samples,ops,p50_us,p95_us,p99_us,mean_us,min_us,max_us,ops_per_sec,fastest,note\n",
    );
    for row in &report.rows {
        for cell in &row.cells {
            let col = report.columns.iter().find(|c| c.id == cell.column);
            let (engine, settings) = col
                .map(|c| (c.engine.as_str(), c.settings.as_str()))
                .unwrap_or(("", ""));
            let fastest = row.fastest.as_deref() == Some(cell.column.as_str());
            let figures = match &cell.stats {
                Some(s) => format!(
                    "{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1}",
                    s.samples,
                    s.ops,
                    s.p50_us,
                    s.p95_us,
                    s.p99_us,
                    s.mean_us,
                    s.min_us,
                    s.max_us,
                    s.ops_per_sec
                ),
                None => ",,,,,,,,".to_string(),
            };
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{}",
                csv_field(&row.id),
                csv_field(&row.case),
                csv_field(&row.variant),
                csv_field(&row.unit),
                csv_field(&cell.column),
                csv_field(engine),
                csv_field(settings),
                figures,
                fastest,
                csv_field(cell.note.as_deref().unwrap_or(""))
            );
        }
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(p50: f64) -> Stats {
        Stats {
            samples: 10,
            ops: 10,
            p50_us: p50,
            p95_us: p50,
            p99_us: p50 * 2.0,
            mean_us: p50,
            min_us: p50,
            max_us: p50 * 3.0,
            ops_per_sec: 1e6 / p50,
            seconds: 1.0,
        }
    }

    fn row_with(redis: f64, mem: f64) -> Row {
        let mut r = Row::new(RowId::SingleRead);
        r.cells.push(Cell {
            column: "redis".into(),
            stats: Some(stats(redis)),
            note: None,
        });
        r.cells.push(Cell {
            column: "sqlite-memory".into(),
            stats: Some(stats(mem)),
            note: None,
        });
        r.finish();
        r.explanation = crate::bench::explain::explain(&r, RowId::SingleRead, 1);
        r
    }

    #[test]
    fn explanation_follows_the_numbers() {
        let r = row_with(40.0, 1.0);
        assert_eq!(r.fastest.as_deref(), Some("sqlite-memory"));
        assert!(r.explanation.contains("40×"), "{}", r.explanation);
        assert!(r.explanation.contains("no network hop"));
        let r = row_with(1.0, 40.0);
        assert_eq!(r.fastest.as_deref(), Some("redis"));
        assert!(r.explanation.starts_with("Redis 40×"), "{}", r.explanation);
    }

    #[test]
    fn csv_quotes() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
