//! One line per row, written from the measured numbers, saying who won and why (never a fixed
//! claim: the same row can read either way on another machine).

use std::fmt::Write as _;

use super::report::Row;
use super::spec::{BATCH, ColumnId, RowId, SqliteMode};
use crate::measure::{human_rate, human_us};

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

/// Redis's p50 against the best SQLite column's, for one row.
struct Duel {
    /// Redis p50.
    r: f64,
    /// Best SQLite p50.
    s: f64,
    /// "SQLite wal" and the like.
    sq: String,
    sqlite_wins: bool,
}

/// One line, from the measured numbers, saying who won this row and why.
pub fn explain(row: &Row, id: RowId, clients: usize) -> String {
    let redis = row.p50(ColumnId::Redis);
    let best = best_sqlite(row);
    let (Some(r), Some((mode, s))) = (redis, best) else {
        return match (redis, best) {
            (Some(r), None) => format!("Redis only: {} {}", human_us(r), row.unit),
            (None, Some((m, s))) => format!("SQLite {} only: {} {}", m.id(), human_us(s), row.unit),
            _ => "no figures".to_string(),
        };
    };
    let d = Duel {
        r,
        s,
        sq: format!("SQLite {}", mode.id()),
        sqlite_wins: s < r,
    };
    let mut out = match id {
        RowId::SingleRead | RowId::Session => point_read(&d, id == RowId::Session),
        RowId::BatchLoop => batch_loop(&d),
        RowId::BatchMulti => batch_multi(&d),
        RowId::CounterIncr => counter(&d, row),
        RowId::PipelineOneByOne => one_by_one(&d),
        RowId::PipelineBatched => batched(&d),
        RowId::Top10NoIndex | RowId::Top10Index => top10(&d, id == RowId::Top10Index),
        RowId::RankNoIndex | RowId::RankIndex => rank(&d, id == RowId::RankIndex),
        RowId::ConcurrentIncr => concurrent(row, clients),
    };
    // Redis vs the best SQLite within 10%: say it is a tie rather than crown a winner.
    if id != RowId::ConcurrentIncr && r.max(s) / r.min(s).max(f64::MIN_POSITIVE) < 1.1 {
        out.push_str(" — within 10%: call it a tie");
    }
    // Durability columns, when measured.
    if let Some(a) = row.p50(ColumnId::RedisAlways) {
        let _ = write!(
            out,
            "; AOF always costs Redis {} ({})",
            human_us(a),
            ratio(a, r)
        );
    }
    out
}

fn point_read(d: &Duel, session: bool) -> String {
    let (what, command) = if session {
        ("session row", "HGETALL")
    } else {
        ("point read", "GET")
    };
    if d.sqlite_wins {
        format!(
            "{} in-process {what}: no network hop, {} faster than a loopback {command}",
            d.sq,
            ratio(d.r, d.s)
        )
    } else {
        format!(
            "Redis {} faster than the best SQLite {what} here: the round trip is cheap on this machine and SQLite's lookup is not",
            ratio(d.s, d.r)
        )
    }
}

fn batch_loop(d: &Duel) -> String {
    if d.sqlite_wins {
        format!(
            "every GET pays a round trip; {} pays a B-tree lookup: {} faster per read — batch Redis reads instead (next row)",
            d.sq,
            ratio(d.r, d.s)
        )
    } else {
        format!(
            "Redis {} faster per read even one call at a time",
            ratio(d.s, d.r)
        )
    }
}

fn batch_multi(d: &Duel) -> String {
    let per_key = human_us(d.r / BATCH as f64);
    if d.sqlite_wins {
        format!(
            "MGET pays one round trip for 100 keys ({per_key} per key), yet {} with IN (…) is still {} faster",
            d.sq,
            ratio(d.r, d.s)
        )
    } else {
        format!(
            "MGET pays one round trip for 100 keys ({per_key} per key): {} faster than {} with IN (…)",
            ratio(d.s, d.r),
            d.sq
        )
    }
}

fn counter(d: &Duel, row: &Row) -> String {
    let mut t = if d.sqlite_wins {
        format!(
            "{} UPDATE commits in process, {} faster than INCR",
            d.sq,
            ratio(d.r, d.s)
        )
    } else {
        format!(
            "INCR {} faster than the best committed SQLite UPDATE ({})",
            ratio(d.s, d.r),
            d.sq
        )
    };
    let wal = row.p50(ColumnId::Sqlite(SqliteMode::Wal));
    let journal = row.p50(ColumnId::Sqlite(SqliteMode::Journal));
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

fn one_by_one(d: &Duel) -> String {
    if d.sqlite_wins {
        format!(
            "100 round trips vs 100 in-process writes: {} {} faster — which is why you pipeline (next row)",
            d.sq,
            ratio(d.r, d.s)
        )
    } else {
        format!(
            "100 SETs one by one still beat 100 autocommit writes ({}) by {}: each SQLite commit is a journal sync",
            d.sq,
            ratio(d.s, d.r)
        )
    }
}

fn batched(d: &Duel) -> String {
    if d.sqlite_wins {
        format!(
            "one pipeline = one round trip; one transaction = one commit: {} {} faster",
            d.sq,
            ratio(d.r, d.s)
        )
    } else {
        format!(
            "one pipeline = one round trip: Redis {} faster than one SQLite transaction ({})",
            ratio(d.s, d.r),
            d.sq
        )
    }
}

fn top10(d: &Duel, indexed: bool) -> String {
    if d.sqlite_wins {
        format!(
            "{} {} faster: {}",
            d.sq,
            ratio(d.r, d.s),
            if indexed {
                "it walks the score index backwards and stops after 10 rows"
            } else {
                "a bounded top-10 sort of 10,000 rows is still cheaper than a round trip"
            }
        )
    } else {
        format!(
            "the sorted set reads its first 10 entries, already in order (ZREVRANGE is the deprecated form): {} faster than {}",
            ratio(d.s, d.r),
            if indexed {
                format!("{} even with an index", d.sq)
            } else {
                format!("{} scanning all 10,000 rows", d.sq)
            }
        )
    }
}

fn rank(d: &Duel, indexed: bool) -> String {
    if d.sqlite_wins {
        format!(
            "{} {} faster: {}",
            d.sq,
            ratio(d.r, d.s),
            if indexed {
                "COUNT over the score index is cheaper than a round trip at 10,000 players"
            } else {
                "even counting 10,000 rows beats the round trip"
            }
        )
    } else {
        format!(
            "ZREVRANK is O(log N) in the skip list; {} {} the higher scores: {} slower",
            d.sq,
            if indexed {
                "counts index entries for all"
            } else {
                "scans every row to count"
            },
            ratio(d.s, d.r)
        )
    }
}

fn concurrent(row: &Row, clients: usize) -> String {
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
