//! What is measured: the cases a user names, the rows they expand to, and the engines (columns).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A case id, as `--only` and the JSON name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Case {
    SingleRead,
    BatchRead,
    CounterIncr,
    Pipeline,
    Top10,
    Rank,
    Session,
    ConcurrentIncr,
}

impl Case {
    pub const ALL: [Case; 8] = [
        Case::SingleRead,
        Case::BatchRead,
        Case::CounterIncr,
        Case::Pipeline,
        Case::Top10,
        Case::Rank,
        Case::Session,
        Case::ConcurrentIncr,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Case::SingleRead => "single-read",
            Case::BatchRead => "batch-read",
            Case::CounterIncr => "counter-incr",
            Case::Pipeline => "pipeline",
            Case::Top10 => "top10",
            Case::Rank => "rank",
            Case::Session => "session",
            Case::ConcurrentIncr => "concurrent-incr",
        }
    }

    pub fn parse(s: &str) -> Option<Case> {
        Case::ALL.into_iter().find(|c| c.id() == s.trim())
    }

    pub fn rows(self) -> &'static [RowId] {
        match self {
            Case::SingleRead => &[RowId::SingleRead],
            Case::BatchRead => &[RowId::BatchLoop, RowId::BatchMulti],
            Case::CounterIncr => &[RowId::CounterIncr],
            Case::Pipeline => &[RowId::PipelineOneByOne, RowId::PipelineBatched],
            Case::Top10 => &[RowId::Top10NoIndex, RowId::Top10Index],
            Case::Rank => &[RowId::RankNoIndex, RowId::RankIndex],
            Case::Session => &[RowId::Session],
            Case::ConcurrentIncr => &[RowId::ConcurrentIncr],
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One row of the report: one workload, measured on every column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowId {
    SingleRead,
    BatchLoop,
    BatchMulti,
    CounterIncr,
    PipelineOneByOne,
    PipelineBatched,
    Top10NoIndex,
    Top10Index,
    RankNoIndex,
    RankIndex,
    Session,
    ConcurrentIncr,
}

/// Keys (or writes) in a batch row.
pub const BATCH: usize = 100;

impl RowId {
    pub fn case(self) -> Case {
        match self {
            RowId::SingleRead => Case::SingleRead,
            RowId::BatchLoop | RowId::BatchMulti => Case::BatchRead,
            RowId::CounterIncr => Case::CounterIncr,
            RowId::PipelineOneByOne | RowId::PipelineBatched => Case::Pipeline,
            RowId::Top10NoIndex | RowId::Top10Index => Case::Top10,
            RowId::RankNoIndex | RowId::RankIndex => Case::Rank,
            RowId::Session => Case::Session,
            RowId::ConcurrentIncr => Case::ConcurrentIncr,
        }
    }

    /// Distinguishes rows of one case (`""` when the case has one row).
    pub fn variant(self) -> &'static str {
        match self {
            RowId::BatchLoop => "100-calls",
            RowId::BatchMulti => "one-call",
            RowId::PipelineOneByOne => "one-by-one",
            RowId::PipelineBatched => "batched",
            RowId::Top10NoIndex | RowId::RankNoIndex => "no-index",
            RowId::Top10Index | RowId::RankIndex => "index",
            _ => "",
        }
    }

    /// "case/variant", the row's id in JSON and CSV.
    pub fn id(self) -> String {
        match self.variant() {
            "" => self.case().id().to_string(),
            v => format!("{}/{v}", self.case().id()),
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            RowId::SingleRead => "read one key",
            RowId::BatchLoop => "100 reads, one call each",
            RowId::BatchMulti => "100 keys in one call",
            RowId::CounterIncr => "increment a counter, committed",
            RowId::PipelineOneByOne => "100 writes, one by one",
            RowId::PipelineBatched => "100 writes, batched",
            RowId::Top10NoIndex => "top 10 of 10,000 (no index)",
            RowId::Top10Index => "top 10 of 10,000 (index)",
            RowId::RankNoIndex => "rank of one player (no index)",
            RowId::RankIndex => "rank of one player (index)",
            RowId::Session => "read a session",
            RowId::ConcurrentIncr => "increments from N clients",
        }
    }

    /// What one latency figure of this row covers.
    pub fn unit(self) -> &'static str {
        match self {
            RowId::BatchLoop => "per read (average of 100)",
            RowId::BatchMulti => "per call of 100 keys",
            RowId::PipelineOneByOne | RowId::PipelineBatched => "per 100 writes",
            RowId::ConcurrentIncr => "per increment, under contention",
            _ => "per operation",
        }
    }

    pub fn redis_command(self) -> &'static str {
        match self {
            RowId::SingleRead => "GET key",
            RowId::BatchLoop => "100 × GET key",
            RowId::BatchMulti => "MGET key×100",
            RowId::CounterIncr => "INCR key",
            RowId::PipelineOneByOne => "100 × SET key value",
            RowId::PipelineBatched => "pipeline of 100 SET",
            RowId::Top10NoIndex | RowId::Top10Index => "ZRANGE key 0 9 REV WITHSCORES",
            RowId::RankNoIndex | RowId::RankIndex => "ZREVRANK key member",
            RowId::Session => "HGETALL key",
            RowId::ConcurrentIncr => "INCR key from N connections",
        }
    }

    pub fn sqlite_statement(self) -> &'static str {
        match self {
            RowId::SingleRead => "SELECT v FROM kv WHERE k = ?",
            RowId::BatchLoop => "100 × SELECT v FROM kv WHERE k = ?",
            RowId::BatchMulti => "SELECT k, v FROM kv WHERE k IN (?×100)",
            RowId::CounterIncr => "UPDATE counters SET n = n + 1 WHERE name = ? RETURNING n",
            RowId::PipelineOneByOne => "100 autocommit INSERT OR REPLACE",
            RowId::PipelineBatched => "BEGIN; 100 × INSERT OR REPLACE; COMMIT",
            RowId::Top10NoIndex | RowId::Top10Index => {
                "SELECT id, score FROM players ORDER BY score DESC LIMIT 10"
            }
            RowId::RankNoIndex | RowId::RankIndex => {
                "SELECT COUNT(*) FROM players WHERE score > (score of the player)"
            }
            RowId::Session => "SELECT * FROM sessions WHERE id = ?",
            RowId::ConcurrentIncr => {
                "BEGIN IMMEDIATE; UPDATE … n = n + 1; COMMIT from N connections"
            }
        }
    }

    /// Logical operations in one sample (for ops/s).
    pub fn ops_per_sample(self) -> u32 {
        match self {
            RowId::BatchLoop
            | RowId::BatchMulti
            | RowId::PipelineOneByOne
            | RowId::PipelineBatched => BATCH as u32,
            _ => 1,
        }
    }

    /// Each sample is divided by this before it is recorded (per-op averages).
    pub fn divide_by(self) -> u32 {
        match self {
            RowId::BatchLoop => BATCH as u32,
            _ => 1,
        }
    }

    /// Whether durability settings change this row (it writes).
    pub fn writes(self) -> bool {
        matches!(
            self,
            RowId::CounterIncr
                | RowId::PipelineOneByOne
                | RowId::PipelineBatched
                | RowId::ConcurrentIncr
        )
    }

    /// Rows whose samples each hold many operations run fewer samples.
    pub fn is_batch(self) -> bool {
        self.ops_per_sample() > 1
    }
}

/// How a SQLite database is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SqliteMode {
    Memory,
    Wal,
    Journal,
}

impl SqliteMode {
    pub const ALL: [SqliteMode; 3] = [SqliteMode::Memory, SqliteMode::Wal, SqliteMode::Journal];

    pub fn id(self) -> &'static str {
        match self {
            SqliteMode::Memory => "memory",
            SqliteMode::Wal => "wal",
            SqliteMode::Journal => "journal",
        }
    }

    pub fn parse(s: &str) -> Option<SqliteMode> {
        SqliteMode::ALL.into_iter().find(|m| m.id() == s.trim())
    }

    pub fn settings(self) -> &'static str {
        match self {
            SqliteMode::Memory => "in-memory database, nothing on disk",
            SqliteMode::Wal => "file, journal_mode=WAL, synchronous=NORMAL",
            SqliteMode::Journal => "file, rollback journal (DELETE), synchronous=FULL",
        }
    }
}

/// A column of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnId {
    Redis,
    RedisEverysec,
    RedisAlways,
    Sqlite(SqliteMode),
}

impl ColumnId {
    pub fn id(self) -> &'static str {
        match self {
            ColumnId::Redis => "redis",
            ColumnId::RedisEverysec => "redis-aof-everysec",
            ColumnId::RedisAlways => "redis-aof-always",
            ColumnId::Sqlite(SqliteMode::Memory) => "sqlite-memory",
            ColumnId::Sqlite(SqliteMode::Wal) => "sqlite-wal",
            ColumnId::Sqlite(SqliteMode::Journal) => "sqlite-journal",
        }
    }

    pub fn engine(self) -> &'static str {
        match self {
            ColumnId::Sqlite(_) => "sqlite",
            _ => "redis",
        }
    }

    /// Short name for table headers.
    pub fn title(self) -> &'static str {
        match self {
            ColumnId::Redis => "Redis",
            ColumnId::RedisEverysec => "Redis AOF everysec",
            ColumnId::RedisAlways => "Redis AOF always",
            ColumnId::Sqlite(SqliteMode::Memory) => "SQLite memory",
            ColumnId::Sqlite(SqliteMode::Wal) => "SQLite WAL",
            ColumnId::Sqlite(SqliteMode::Journal) => "SQLite journal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        for c in Case::ALL {
            assert_eq!(Case::parse(c.id()), Some(c));
            for r in c.rows() {
                assert_eq!(r.case(), c);
            }
        }
        for m in SqliteMode::ALL {
            assert_eq!(SqliteMode::parse(m.id()), Some(m));
        }
        assert_eq!(Case::parse("nope"), None);
        assert_eq!(RowId::Top10Index.id(), "top10/index");
        assert_eq!(RowId::Session.id(), "session");
    }
}
