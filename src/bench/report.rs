//! The report model: every figure a run produced, serialisable, with one line of explanation
//! per row computed from the numbers (never a fixed claim).

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::spec::{ColumnId, RowId, SqliteMode};
use crate::measure::stats::Stats;
use crate::measure::{human_rate, human_us};

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

    fn p50(&self, column: ColumnId) -> Option<f64> {
        self.cell(column.id()).map(|s| s.p50_us)
    }

    /// Marks the fastest column and writes the explanation. Call once every cell is in.
    pub fn finish(&mut self, row: RowId, clients: usize) {
        self.fastest = self
            .cells
            .iter()
            .filter_map(|c| c.stats.as_ref().map(|s| (c.column.clone(), s.p50_us)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(c, _)| c);
        self.explanation = explain(self, row, clients);
    }
}

fn ratio(slow: f64, fast: f64) -> String {
    let r = if fast > 0.0 { slow / fast } else { 0.0 };
    if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.1}×")
    }
}

/// The best SQLite column of a row (lowest p50).
fn best_sqlite(row: &Row) -> Option<(SqliteMode, f64)> {
    SqliteMode::ALL
        .into_iter()
        .filter_map(|m| row.p50(ColumnId::Sqlite(m)).map(|p| (m, p)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
}

/// One line, from the measured numbers, saying who won this row and why.
pub fn explain(row: &Row, id: RowId, clients: usize) -> String {
    let redis = row.p50(ColumnId::Redis);
    let best = best_sqlite(row);
    let wal = row.p50(ColumnId::Sqlite(SqliteMode::Wal));
    let journal = row.p50(ColumnId::Sqlite(SqliteMode::Journal));
    let (Some(r), Some((mode, s))) = (redis, best) else {
        return match (redis, best) {
            (Some(r), None) => format!("Redis only: {} {}", human_us(r), row.unit),
            (None, Some((m, s))) => format!("SQLite {} only: {} {}", m.id(), human_us(s), row.unit),
            _ => "no figures".to_string(),
        };
    };
    let sqlite_wins = s < r;
    let sq = format!("SQLite {}", mode.id());
    let mut out = match id {
        RowId::SingleRead | RowId::Session => {
            let what = if id == RowId::Session {
                "session row"
            } else {
                "point read"
            };
            if sqlite_wins {
                format!(
                    "{sq} in-process {what}: no network hop, {} faster than a loopback {}",
                    ratio(r, s),
                    if id == RowId::Session {
                        "HGETALL"
                    } else {
                        "GET"
                    }
                )
            } else {
                format!(
                    "Redis {} faster than the best SQLite {what} here: the round trip is cheap on this machine and SQLite's lookup is not",
                    ratio(s, r)
                )
            }
        }
        RowId::BatchLoop => {
            if sqlite_wins {
                format!(
                    "every GET pays a round trip; {sq} pays a B-tree lookup: {} faster per read — batch Redis reads instead (next row)",
                    ratio(r, s)
                )
            } else {
                format!(
                    "Redis {} faster per read even one call at a time",
                    ratio(s, r)
                )
            }
        }
        RowId::BatchMulti => {
            let per_key = r / super::spec::BATCH as f64;
            if sqlite_wins {
                format!(
                    "MGET pays one round trip for 100 keys ({} per key), yet {sq} with IN (…) is still {} faster",
                    human_us(per_key),
                    ratio(r, s)
                )
            } else {
                format!(
                    "MGET pays one round trip for 100 keys ({} per key): {} faster than {sq} with IN (…)",
                    human_us(per_key),
                    ratio(s, r)
                )
            }
        }
        RowId::CounterIncr => {
            let mut t = if sqlite_wins {
                format!(
                    "{sq} UPDATE commits in process, {} faster than INCR",
                    ratio(r, s)
                )
            } else {
                format!(
                    "INCR {} faster than the best committed SQLite UPDATE ({sq})",
                    ratio(s, r)
                )
            };
            if let (Some(j), Some(w)) = (journal, wal) {
                let _ = write!(
                    t,
                    "; the journal's fsync per commit costs {} vs WAL+NORMAL's {} ({})",
                    human_us(j),
                    human_us(w),
                    ratio(j, w)
                );
            }
            t
        }
        RowId::PipelineOneByOne => {
            if sqlite_wins {
                format!(
                    "100 round trips vs 100 in-process writes: {sq} {} faster — which is why you pipeline (next row)",
                    ratio(r, s)
                )
            } else {
                format!(
                    "100 SETs one by one still beat 100 autocommit writes ({sq}) by {}: each SQLite commit is a journal sync",
                    ratio(s, r)
                )
            }
        }
        RowId::PipelineBatched => {
            if sqlite_wins {
                format!(
                    "one pipeline = one round trip; one transaction = one commit: {sq} {} faster",
                    ratio(r, s)
                )
            } else {
                format!(
                    "one pipeline = one round trip: Redis {} faster than one SQLite transaction ({sq})",
                    ratio(s, r)
                )
            }
        }
        RowId::Top10NoIndex | RowId::Top10Index => {
            let indexed = id == RowId::Top10Index;
            if sqlite_wins {
                format!(
                    "{sq} {} faster: {}",
                    ratio(r, s),
                    if indexed {
                        "it walks the score index backwards and stops after 10 rows"
                    } else {
                        "a bounded top-10 sort of 10,000 rows is still cheaper than a round trip"
                    }
                )
            } else {
                format!(
                    "the sorted set reads its first 10 entries, already in order (ZREVRANGE is the deprecated form): {} faster than {}",
                    ratio(s, r),
                    if indexed {
                        format!("{sq} even with an index")
                    } else {
                        format!("{sq} scanning all 10,000 rows")
                    }
                )
            }
        }
        RowId::RankNoIndex | RowId::RankIndex => {
            let indexed = id == RowId::RankIndex;
            if sqlite_wins {
                format!(
                    "{sq} {} faster: {}",
                    ratio(r, s),
                    if indexed {
                        "COUNT over the score index is cheaper than a round trip at 10,000 players"
                    } else {
                        "even counting 10,000 rows beats the round trip"
                    }
                )
            } else {
                format!(
                    "ZREVRANK is O(log N) in the skip list; {sq} {} the higher scores: {} slower",
                    if indexed {
                        "counts index entries for all"
                    } else {
                        "scans every row to count"
                    },
                    ratio(s, r)
                )
            }
        }
        RowId::ConcurrentIncr => {
            let rr = row
                .cell(ColumnId::Redis.id())
                .map(|x| x.ops_per_sec)
                .unwrap_or(0.0);
            let best_rate = SqliteMode::ALL
                .into_iter()
                .filter_map(|m| {
                    row.cell(ColumnId::Sqlite(m).id())
                        .map(|x| (m, x.ops_per_sec))
                })
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best_rate {
                Some((m, sr)) if sr > rr => format!(
                    "{clients} clients: SQLite {} commits {}/s vs Redis {}/s — in one process; another process could not share the memory DB, and the file's single writer lock serialises them",
                    m.id(),
                    human_rate(sr),
                    human_rate(rr)
                ),
                Some((m, sr)) => format!(
                    "{clients} clients: Redis serves {}/s atomic INCRs, {} the best SQLite ({} at {}/s), where writers queue for one file lock",
                    human_rate(rr),
                    ratio(rr, sr),
                    m.id(),
                    human_rate(sr)
                ),
                None => format!("{clients} clients: Redis {}/s", human_rate(rr)),
            }
        }
    };
    // Redis vs the best SQLite within 10%: say it is a tie rather than crown a winner.
    if id != RowId::ConcurrentIncr && r.max(s) / r.min(s).max(f64::MIN_POSITIVE) < 1.1 {
        out.push_str(" — within 10%: call it a tie");
    }
    // Durability columns, when measured.
    if let (Some(a), Some(r)) = (row.p50(ColumnId::RedisAlways), redis) {
        let _ = write!(
            out,
            "; AOF always costs Redis {} ({})",
            human_us(a),
            ratio(a, r)
        );
    }
    out
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
        r.finish(RowId::SingleRead, 1);
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
