//! Saved progress in a SQLite database under the redislab home: per lesson the last completed
//! step, when it was completed and the best quiz score. Each write is one transaction, so a
//! crash or Ctrl-C never leaves it half-written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct LessonProgress {
    pub lesson_id: String,
    /// Steps done (0 = not started).
    pub last_step: usize,
    /// Unix seconds when the last step was done, if the lesson was finished.
    pub completed_at: Option<i64>,
    pub best_score: Option<u32>,
    pub quiz_total: Option<u32>,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

pub fn now_s() -> i64 {
    crate::lesson::vars::system_clock_ms() / 1000
}

impl Store {
    /// Opens (creating if needed) `<home>/progress.db`.
    pub fn open(home: &Path) -> Result<Store> {
        std::fs::create_dir_all(home)
            .with_context(|| format!("could not create {}", home.display()))?;
        let path = home.join("progress.db");
        let conn = Connection::open(&path)
            .with_context(|| format!("could not open progress database {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS progress (
                 lesson_id    TEXT PRIMARY KEY,
                 last_step    INTEGER NOT NULL DEFAULT 0,
                 completed_at INTEGER,
                 best_score   INTEGER,
                 quiz_total   INTEGER,
                 updated_at   INTEGER NOT NULL
             );",
        )
        .with_context(|| {
            format!(
                "progress database {} is damaged or not a redislab database",
                path.display()
            )
        })?;
        Ok(Store { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn get(&self, id: &str) -> Result<Option<LessonProgress>> {
        self.conn
            .query_row(
                "SELECT lesson_id, last_step, completed_at, best_score, quiz_total FROM progress WHERE lesson_id = ?1",
                params![id],
                row_to_progress,
            )
            .optional()
            .context("could not read progress")
    }

    pub fn all(&self) -> Result<Vec<LessonProgress>> {
        let mut stmt = self
            .conn
            .prepare("SELECT lesson_id, last_step, completed_at, best_score, quiz_total FROM progress ORDER BY lesson_id")?;
        let rows = stmt.query_map([], row_to_progress)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .context("could not read progress")
    }

    /// Records that `step` (1-based) is done; `completed` when it was the last one.
    pub fn record_step(&mut self, id: &str, step: usize, completed: bool) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO progress (lesson_id, last_step, completed_at, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(lesson_id) DO UPDATE SET last_step = ?2,
                 completed_at = COALESCE(?3, completed_at), updated_at = ?4",
            params![id, step as i64, completed.then(now_s), now_s()],
        )?;
        tx.commit().context("could not save progress")
    }

    /// Keeps the best score.
    pub fn record_quiz(&mut self, id: &str, score: u32, total: u32) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO progress (lesson_id, best_score, quiz_total, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(lesson_id) DO UPDATE SET
                 best_score = MAX(COALESCE(best_score, 0), ?2), quiz_total = ?3, updated_at = ?4",
            params![id, score, total, now_s()],
        )?;
        tx.commit().context("could not save the quiz score")
    }

    pub fn clear(&mut self, id: Option<&str>) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let n = match id {
            Some(id) => tx.execute("DELETE FROM progress WHERE lesson_id = ?1", params![id])?,
            None => tx.execute("DELETE FROM progress", [])?,
        };
        tx.commit().context("could not clear progress")?;
        Ok(n)
    }
}

fn row_to_progress(r: &rusqlite::Row<'_>) -> rusqlite::Result<LessonProgress> {
    Ok(LessonProgress {
        lesson_id: r.get(0)?,
        last_step: r.get::<_, i64>(1)?.max(0) as usize,
        completed_at: r.get(2)?,
        best_score: r.get::<_, Option<i64>>(3)?.map(|v| v.max(0) as u32),
        quiz_total: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u32),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_keeps_best_score() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get("07").unwrap(), None);
        s.record_step("07", 3, false).unwrap();
        s.record_quiz("07", 4, 5).unwrap();
        s.record_quiz("07", 2, 5).unwrap();
        let p = s.get("07").unwrap().unwrap();
        assert_eq!(
            (p.last_step, p.best_score, p.quiz_total, p.completed_at),
            (3, Some(4), Some(5), None)
        );
        s.record_step("07", 9, true).unwrap();
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
}
