//! Saved progress in a SQLite database under the redislab home: per lesson the last completed
//! step, how each step ended (passed, failed, skipped), when the lesson was completed and the
//! best quiz score, and (in `attempts`) the log of every try and the review boxes. A lesson counts as completed only when no step of it ended failed. Each write is one transaction, so a
//! crash or Ctrl-C never leaves it half-written. Several redislab processes may use it at once
//! (a lesson running, `redislab progress` in another terminal): they wait for each other, and a
//! busy database is never reported as a damaged one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};
use serde::Serialize;

pub mod attempts;
pub mod stats;
pub mod transfer;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LessonProgress {
    pub lesson_id: String,
    /// Steps done (0 = not started).
    pub last_step: usize,
    /// Unix seconds when the last step was done, if the lesson was finished.
    pub completed_at: Option<i64>,
    pub best_score: Option<u32>,
    pub quiz_total: Option<u32>,
    /// Steps whose checks failed the last time they ran.
    pub failed: Vec<usize>,
    /// Steps the learner skipped the last time.
    pub skipped: Vec<usize>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
        }
    }
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

pub fn now_s() -> i64 {
    crate::lesson::vars::system_clock_ms() / 1000
}

/// How long a process waits for another one to finish with the database.
const BUSY_WAIT: Duration = Duration::from_secs(10);

/// Whether an error means "another connection holds the lock" (worth waiting for).
fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Runs `f` until it stops failing with "busy" or `wait` has passed. SQLite's busy timeout
/// covers most waits, but not all (switching to WAL, a read transaction that must become a
/// write), so this loop covers the rest.
fn retry_busy<T>(
    wait: Duration,
    mut f: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        match f() {
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// The error for a failed open: busy, damaged, or another I/O problem — each says so.
fn open_error(e: rusqlite::Error, path: &Path) -> anyhow::Error {
    let path = path.display();
    let message = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
            "progress database {path} is busy: another redislab kept it locked for over {} s; try again",
            BUSY_WAIT.as_secs()
        ),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => format!(
            "progress database {path} is damaged or not a redislab database (move it away to start afresh)"
        ),
        _ => format!("could not open progress database {path}"),
    };
    anyhow::Error::new(e).context(message)
}

impl Store {
    /// Opens (creating if needed) `<home>/progress.db`.
    pub fn open(home: &Path) -> Result<Store> {
        Self::open_waiting(home, BUSY_WAIT)
    }

    /// `open`, waiting at most `wait` for other processes (tests pass a short one).
    pub fn open_waiting(home: &Path, wait: Duration) -> Result<Store> {
        std::fs::create_dir_all(home)
            .with_context(|| format!("could not create {}", home.display()))?;
        let path = home.join("progress.db");
        let conn = Connection::open(&path)
            .with_context(|| format!("could not open progress database {}", path.display()))?;
        conn.busy_timeout(wait)
            .with_context(|| format!("could not open progress database {}", path.display()))?;
        retry_busy(wait, || {
            // Switching to WAL takes an exclusive lock; once the file is WAL it stays so, and
            // asking again would only contend with the other processes.
            let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            }
            conn.execute_batch(
                "PRAGMA synchronous=FULL;
                 CREATE TABLE IF NOT EXISTS progress (
                     lesson_id    TEXT PRIMARY KEY,
                     last_step    INTEGER NOT NULL DEFAULT 0,
                     completed_at INTEGER,
                     best_score   INTEGER,
                     quiz_total   INTEGER,
                     updated_at   INTEGER NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS step_outcome (
                     lesson_id TEXT NOT NULL,
                     step      INTEGER NOT NULL,
                     outcome   TEXT NOT NULL,
                     PRIMARY KEY (lesson_id, step)
                 );",
            )?;
            conn.execute_batch(attempts::SCHEMA)
        })
        .map_err(|e| open_error(e, &path))?;
        Ok(Store { conn, path })
    }

    /// Runs `f` in one write transaction, taken up front (IMMEDIATE) so waiting for another
    /// writer goes through the busy timeout instead of failing half-way.
    fn write<T>(
        &mut self,
        f: impl Fn(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> rusqlite::Result<T> {
        let conn = &mut self.conn;
        retry_busy(BUSY_WAIT, || {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// SQLite's own check of the file (`quick_check`: "ok", or what is wrong) and how many
    /// lessons have saved progress.
    pub fn health(&self) -> Result<(String, usize)> {
        retry_busy(BUSY_WAIT, || {
            let verdict: String = self
                .conn
                .query_row("PRAGMA quick_check", [], |r| r.get(0))?;
            let lessons: i64 = self
                .conn
                .query_row("SELECT COUNT(*) FROM progress", [], |r| r.get(0))?;
            Ok((verdict, lessons.max(0) as usize))
        })
        .context("could not check the progress database")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, id: &str) -> Result<Option<LessonProgress>> {
        let row = retry_busy(BUSY_WAIT, || {
            self.conn
                .query_row(
                    "SELECT lesson_id, last_step, completed_at, best_score, quiz_total FROM progress WHERE lesson_id = ?1",
                    params![id],
                    row_to_progress,
                )
                .optional()
        })
        .context("could not read progress")?;
        row.map(|p| self.with_outcomes(p)).transpose()
    }

    pub fn all(&self) -> Result<Vec<LessonProgress>> {
        let rows = retry_busy(BUSY_WAIT, || {
            let mut stmt = self
                .conn
                .prepare("SELECT lesson_id, last_step, completed_at, best_score, quiz_total FROM progress ORDER BY lesson_id")?;
            let rows = stmt.query_map([], row_to_progress)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .context("could not read progress")?;
        rows.into_iter().map(|p| self.with_outcomes(p)).collect()
    }

    /// Adds the failed and skipped steps to a lesson's row.
    fn with_outcomes(&self, mut p: LessonProgress) -> Result<LessonProgress> {
        let outcomes = retry_busy(BUSY_WAIT, || {
            let mut stmt = self.conn.prepare(
                "SELECT step, outcome FROM step_outcome WHERE lesson_id = ?1 AND outcome != 'passed' ORDER BY step",
            )?;
            let rows = stmt.query_map(params![p.lesson_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .context("could not read progress")?;
        for (step, outcome) in outcomes {
            let step = step.max(0) as usize;
            match outcome.as_str() {
                "failed" => p.failed.push(step),
                _ => p.skipped.push(step),
            }
        }
        Ok(p)
    }

    /// Records that `step` (1-based) is done and how it ended; `last` when it was the lesson's
    /// last step, which completes the lesson unless a step of it ended failed.
    pub fn record_step(
        &mut self,
        id: &str,
        step: usize,
        last: bool,
        outcome: Outcome,
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO step_outcome (lesson_id, step, outcome) VALUES (?1, ?2, ?3)
                 ON CONFLICT(lesson_id, step) DO UPDATE SET outcome = ?3",
                params![id, step as i64, outcome.as_str()],
            )?;
            let failed: i64 = tx.query_row(
                "SELECT COUNT(*) FROM step_outcome WHERE lesson_id = ?1 AND outcome = 'failed'",
                params![id],
                |r| r.get(0),
            )?;
            let completed = (last && failed == 0).then(now_s);
            tx.execute(
                "INSERT INTO progress (lesson_id, last_step, completed_at, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(lesson_id) DO UPDATE SET last_step = ?2,
                     completed_at = CASE WHEN ?5 > 0 THEN NULL ELSE COALESCE(?3, completed_at) END,
                     updated_at = ?4",
                params![id, step as i64, completed, now_s(), failed],
            )
        })
        .map(|_| ())
        .context("could not save progress")
    }

    /// Keeps the best score.
    pub fn record_quiz(&mut self, id: &str, score: u32, total: u32) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO progress (lesson_id, best_score, quiz_total, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(lesson_id) DO UPDATE SET
                     best_score = MAX(COALESCE(best_score, 0), ?2), quiz_total = ?3, updated_at = ?4",
                params![id, score, total, now_s()],
            )
        })
        .map(|_| ())
        .context("could not save the quiz score")
    }

    pub fn clear(&mut self, id: Option<&str>) -> Result<usize> {
        self.write(|tx| match id {
            Some(id) => {
                tx.execute("DELETE FROM step_outcome WHERE lesson_id = ?1", params![id])?;
                tx.execute("DELETE FROM attempt WHERE lesson_id = ?1", params![id])?;
                tx.execute("DELETE FROM review_box WHERE lesson_id = ?1", params![id])?;
                tx.execute("DELETE FROM progress WHERE lesson_id = ?1", params![id])
            }
            None => {
                tx.execute("DELETE FROM step_outcome", [])?;
                tx.execute("DELETE FROM attempt", [])?;
                tx.execute("DELETE FROM review_box", [])?;
                tx.execute("DELETE FROM progress", [])
            }
        })
        .context("could not clear progress")
    }
}

fn row_to_progress(r: &rusqlite::Row<'_>) -> rusqlite::Result<LessonProgress> {
    Ok(LessonProgress {
        lesson_id: r.get(0)?,
        last_step: r.get::<_, i64>(1)?.max(0) as usize,
        completed_at: r.get(2)?,
        best_score: r.get::<_, Option<i64>>(3)?.map(|v| v.max(0) as u32),
        quiz_total: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u32),
        failed: Vec::new(),
        skipped: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_step_keeps_the_lesson_from_counting_as_completed() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.record_step("11", 1, false, Outcome::Passed).unwrap();
        s.record_step("11", 2, false, Outcome::Failed).unwrap();
        s.record_step("11", 3, false, Outcome::Skipped).unwrap();
        s.record_step("11", 4, true, Outcome::Passed).unwrap();
        let p = s.get("11").unwrap().unwrap();
        assert_eq!(p.completed_at, None, "a failed step means not completed");
        assert_eq!(p.failed, vec![2]);
        assert_eq!(p.skipped, vec![3]);
        // Redone and passed: now it is complete.
        s.record_step("11", 2, false, Outcome::Passed).unwrap();
        s.record_step("11", 4, true, Outcome::Passed).unwrap();
        let p = s.get("11").unwrap().unwrap();
        assert!(p.completed_at.is_some());
        assert!(p.failed.is_empty());
    }

    #[test]
    fn records_and_keeps_best_score() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get("07").unwrap(), None);
        s.record_step("07", 3, false, Outcome::Passed).unwrap();
        s.record_quiz("07", 4, 5).unwrap();
        s.record_quiz("07", 2, 5).unwrap();
        let p = s.get("07").unwrap().unwrap();
        assert_eq!(
            (p.last_step, p.best_score, p.quiz_total, p.completed_at),
            (3, Some(4), Some(5), None)
        );
        s.record_step("07", 9, true, Outcome::Passed).unwrap();
        assert!(
            Store::open(dir.path())
                .unwrap()
                .get("07")
                .unwrap()
                .unwrap()
                .completed_at
                .is_some()
        );
        assert_eq!(s.clear(Some("07")).unwrap(), 1);
        assert!(s.all().unwrap().is_empty());
    }

    /// Another process holding the database while this one opens and writes: it waits, and
    /// succeeds, whichever happens first (the barrier makes both orders possible, and the
    /// outcome must be the same in each).
    #[test]
    fn a_concurrent_writer_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let path = dir.path().join("progress.db");
        let mut other = Connection::open(&path).unwrap();
        let tx = other
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .unwrap();
        tx.execute(
            "INSERT INTO progress (lesson_id, last_step, updated_at) VALUES ('01', 1, 0)",
            [],
        )
        .unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let b = barrier.clone();
        let home = dir.path().to_path_buf();
        let opener = std::thread::spawn(move || {
            b.wait();
            let mut s = Store::open(&home)?;
            s.record_step("02", 3, false, Outcome::Passed)?;
            s.all()
        });
        barrier.wait();
        tx.commit().unwrap();
        let all = opener.join().unwrap().unwrap();
        assert_eq!(all.len(), 2);
    }

    /// Still locked after the wait: the message says busy, never damaged.
    #[test]
    fn a_locked_database_is_busy_not_damaged() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path()).unwrap();
        let mut other = Connection::open(dir.path().join("progress.db")).unwrap();
        // Back to a rollback journal, so opening needs the exclusive lock held below.
        let _: String = other
            .query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))
            .unwrap();
        let _tx = other
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .unwrap();
        let e = Store::open_waiting(dir.path(), Duration::from_millis(50))
            .err()
            .expect("the database is locked");
        let text = format!("{e:#}");
        assert!(text.contains("is busy"), "{text}");
        assert!(!text.contains("damaged"), "{text}");
    }
}
