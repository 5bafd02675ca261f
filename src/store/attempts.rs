//! The attempt log and the review boxes. The log keeps every try at a step or a quiz question
//! (checks passed or failed, hints, retries, solutions shown, wrong answers, skips, time spent)
//! so `redislab stats` can say which steps were hard; the boxes bring back what was missed on a
//! Leitner schedule for `redislab review`. Times are passed in (`at`, `now`): the caller owns
//! the clock, so tests can set it.

use anyhow::{Context, Result};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::{BUSY_WAIT, Store, retry_busy};

/// The schema, run by `Store::open` with the other tables: a database from before the log
/// existed gains both tables the first time it is opened.
pub(super) const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS attempt (
        id        INTEGER PRIMARY KEY,
        lesson_id TEXT NOT NULL,
        item      TEXT NOT NULL,
        kind      TEXT NOT NULL,
        detail    TEXT,
        seconds   INTEGER,
        at        INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS attempt_by_item ON attempt (lesson_id, item);
    CREATE TABLE IF NOT EXISTS review_box (
        lesson_id  TEXT NOT NULL,
        item       TEXT NOT NULL,
        box        INTEGER NOT NULL,
        due_at     INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (lesson_id, item)
    );";

/// What a row of the log is about: a step or a quiz question of a lesson (both 1-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    Step(usize),
    Question(usize),
}

impl Item {
    /// `step:3`, `quiz:2`: how the database and the export document name it.
    pub fn key(self) -> String {
        match self {
            Item::Step(n) => format!("step:{n}"),
            Item::Question(n) => format!("quiz:{n}"),
        }
    }

    pub fn parse(text: &str) -> Option<Item> {
        let (kind, n) = text.split_once(':')?;
        let n: usize = n.parse().ok().filter(|n| *n > 0)?;
        match kind {
            "step" => Some(Item::Step(n)),
            "quiz" => Some(Item::Question(n)),
            _ => None,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A step's checks passed (with the time spent when it was the step's last row).
    Passed,
    /// A step's checks failed.
    Failed,
    Hint,
    /// The learner ran the step again from its start.
    Retry,
    /// The lesson's solution was shown.
    Solution,
    /// A typed command that missed the goal, or a wrong quiz choice (`detail`: the text).
    Wrong,
    /// A right quiz (or review) answer.
    Right,
    Skip,
}

pub const KINDS: &[Kind] = &[
    Kind::Passed,
    Kind::Failed,
    Kind::Hint,
    Kind::Retry,
    Kind::Solution,
    Kind::Wrong,
    Kind::Right,
    Kind::Skip,
];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Passed => "passed",
            Kind::Failed => "failed",
            Kind::Hint => "hint",
            Kind::Retry => "retry",
            Kind::Solution => "solution",
            Kind::Wrong => "wrong",
            Kind::Right => "right",
            Kind::Skip => "skip",
        }
    }

    pub fn parse(text: &str) -> Option<Kind> {
        KINDS.iter().copied().find(|k| k.as_str() == text)
    }
}

/// One row of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub lesson_id: String,
    pub item: Item,
    pub kind: Kind,
    /// The wrong answer as typed or chosen (untrusted text: escape it to show it).
    pub detail: Option<String>,
    /// Seconds spent on the step, on the row that ended it.
    pub seconds: Option<u64>,
    /// Unix seconds.
    pub at: i64,
}

/// Leitner boxes: how long after being put in box N (1–4) an item is due again. A right
/// answer moves it up a box, a wrong one back to box 1; right in the last box retires it.
pub const BOX_DAYS: [i64; 4] = [1, 3, 7, 21];
/// The box of an item answered right in the last one: learned, never due again unless missed.
pub const LEARNED: u8 = BOX_DAYS.len() as u8 + 1;
const DAY: i64 = 24 * 60 * 60;

/// The box after an answer.
pub fn next_box(current: u8, right: bool) -> u8 {
    if right { (current + 1).min(LEARNED) } else { 1 }
}

/// When an item put in `bx` at `now` is due (`i64::MAX` once learned).
pub fn due_at(bx: u8, now: i64) -> i64 {
    match BOX_DAYS.get(usize::from(bx).wrapping_sub(1)) {
        Some(days) => now.saturating_add(days * DAY),
        None => i64::MAX,
    }
}

/// An item in the review boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewBox {
    pub lesson_id: String,
    /// `step:N` or `quiz:N`.
    pub item: String,
    /// 1–4, or 5 once learned.
    #[serde(rename = "box")]
    pub bx: u8,
    /// Unix seconds when it is due.
    pub due_at: i64,
    pub updated_at: i64,
}

impl Store {
    /// Appends rows to the log, in one transaction.
    pub fn log(&mut self, rows: &[Attempt]) -> Result<()> {
        self.write(|tx| {
            for a in rows {
                tx.execute(
                    "INSERT INTO attempt (lesson_id, item, kind, detail, seconds, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        a.lesson_id,
                        a.item.key(),
                        a.kind.as_str(),
                        a.detail,
                        a.seconds.map(|s| s.min(i64::MAX as u64) as i64),
                        a.at
                    ],
                )?;
            }
            Ok(())
        })
        .context("could not save the attempt log")
    }

    /// The log, oldest first; one lesson's or all.
    pub fn attempts(&self, lesson: Option<&str>) -> Result<Vec<Attempt>> {
        let rows = retry_busy(BUSY_WAIT, || {
            let mut stmt = self.conn.prepare(
                "SELECT lesson_id, item, kind, detail, seconds, at FROM attempt
                 WHERE ?1 IS NULL OR lesson_id = ?1 ORDER BY at, id",
            )?;
            let rows = stmt.query_map(params![lesson], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .context("could not read the attempt log")?;
        // A row this redislab cannot read (written by a newer one) is left out, not an error.
        Ok(rows
            .into_iter()
            .filter_map(|(lesson_id, item, kind, detail, seconds, at)| {
                Some(Attempt {
                    lesson_id,
                    item: Item::parse(&item)?,
                    kind: Kind::parse(&kind)?,
                    detail,
                    seconds: seconds.map(|s| s.max(0) as u64),
                    at,
                })
            })
            .collect())
    }

    /// A miss (a wrong quiz answer, a step that needed its solution): the item goes to box 1.
    pub fn missed(&mut self, lesson: &str, item: Item, now: i64) -> Result<()> {
        self.put_in_box(lesson, item, 1, now)
    }

    /// A review answer: up a box when right, back to box 1 when wrong. Returns the new box.
    pub fn answered(&mut self, lesson: &str, item: Item, right: bool, now: i64) -> Result<u8> {
        let current = self
            .review_boxes()?
            .into_iter()
            .find(|b| b.lesson_id == lesson && b.item == item.key())
            .map(|b| b.bx)
            .unwrap_or(1);
        let bx = next_box(current, right);
        self.put_in_box(lesson, item, bx, now)?;
        Ok(bx)
    }

    fn put_in_box(&mut self, lesson: &str, item: Item, bx: u8, now: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO review_box (lesson_id, item, box, due_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(lesson_id, item) DO UPDATE SET box = ?3, due_at = ?4, updated_at = ?5",
                params![lesson, item.key(), bx, due_at(bx, now), now],
            )
        })
        .map(|_| ())
        .context("could not save the review schedule")
    }

    /// Every item in the boxes, learned ones included, by lesson and item.
    pub fn review_boxes(&self) -> Result<Vec<ReviewBox>> {
        retry_busy(BUSY_WAIT, || {
            let mut stmt = self.conn.prepare(
                "SELECT lesson_id, item, box, due_at, updated_at FROM review_box
                 ORDER BY lesson_id, item",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(ReviewBox {
                    lesson_id: r.get(0)?,
                    item: r.get(1)?,
                    bx: r.get::<_, i64>(2)?.clamp(1, i64::from(LEARNED)) as u8,
                    due_at: r.get(3)?,
                    updated_at: r.get(4)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .context("could not read the review schedule")
    }

    /// The items due at `now`, the longest overdue first.
    pub fn due(&self, now: i64) -> Result<Vec<ReviewBox>> {
        let mut due: Vec<ReviewBox> = self
            .review_boxes()?
            .into_iter()
            .filter(|b| b.bx < LEARNED && b.due_at <= now)
            .collect();
        due.sort_by(|a, b| {
            (a.due_at, &a.lesson_id, &a.item).cmp(&(b.due_at, &b.lesson_id, &b.item))
        });
        Ok(due)
    }

    /// How many items are due at `now` (what `list` and the menu show).
    pub fn due_count(&self, now: i64) -> Result<usize> {
        let n: i64 = retry_busy(BUSY_WAIT, || {
            self.conn.query_row(
                "SELECT COUNT(*) FROM review_box WHERE box < ?1 AND due_at <= ?2",
                params![LEARNED, now],
                |r| r.get(0),
            )
        })
        .context("could not read the review schedule")?;
        Ok(n.max(0) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn boxes_move_up_on_a_right_answer_and_back_to_one_on_a_wrong_one() {
        assert_eq!(next_box(1, true), 2);
        assert_eq!(next_box(4, true), LEARNED);
        assert_eq!(next_box(LEARNED, true), LEARNED);
        assert_eq!(next_box(3, false), 1);
        assert_eq!(due_at(1, NOW), NOW + DAY);
        assert_eq!(due_at(2, NOW), NOW + 3 * DAY);
        assert_eq!(due_at(4, NOW), NOW + 21 * DAY);
        assert_eq!(due_at(LEARNED, NOW), i64::MAX);
    }

    #[test]
    fn a_missed_item_is_due_after_a_day_and_moves_with_each_answer() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        s.missed("07", Item::Question(2), NOW).unwrap();
        assert_eq!(s.due_count(NOW).unwrap(), 0, "not due the same day");
        assert_eq!(s.due_count(NOW + DAY - 1).unwrap(), 0);
        assert_eq!(s.due(NOW + DAY).unwrap().len(), 1, "due after one day");
        let later = NOW + DAY;
        assert_eq!(s.answered("07", Item::Question(2), true, later).unwrap(), 2);
        assert_eq!(s.due_count(later + 3 * DAY - 1).unwrap(), 0);
        assert_eq!(s.due_count(later + 3 * DAY).unwrap(), 1);
        let later = later + 3 * DAY;
        assert_eq!(
            s.answered("07", Item::Question(2), false, later).unwrap(),
            1
        );
        assert_eq!(s.due(later + DAY).unwrap()[0].bx, 1);
    }

    #[test]
    fn the_log_keeps_rows_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path()).unwrap();
        let row = |kind, at| Attempt {
            lesson_id: "07".into(),
            item: Item::Step(3),
            kind,
            detail: None,
            seconds: None,
            at,
        };
        s.log(&[row(Kind::Hint, 2), row(Kind::Failed, 1)]).unwrap();
        let got: Vec<Kind> = s
            .attempts(Some("07"))
            .unwrap()
            .iter()
            .map(|a| a.kind)
            .collect();
        assert_eq!(got, vec![Kind::Failed, Kind::Hint]);
        assert!(s.attempts(Some("08")).unwrap().is_empty());
        assert_eq!(Item::parse("quiz:4"), Some(Item::Question(4)));
        assert_eq!(Item::parse("step:0"), None);
    }

    /// A database written before the log existed opens, keeps its progress, and gains the log.
    #[test]
    fn a_database_from_before_the_log_gains_it() {
        let dir = tempfile::tempdir().unwrap();
        let old = rusqlite::Connection::open(dir.path().join("progress.db")).unwrap();
        old.execute_batch(
            "CREATE TABLE progress (lesson_id TEXT PRIMARY KEY, last_step INTEGER NOT NULL DEFAULT 0,
                 completed_at INTEGER, best_score INTEGER, quiz_total INTEGER, updated_at INTEGER NOT NULL);
             CREATE TABLE step_outcome (lesson_id TEXT NOT NULL, step INTEGER NOT NULL,
                 outcome TEXT NOT NULL, PRIMARY KEY (lesson_id, step));
             INSERT INTO progress (lesson_id, last_step, updated_at) VALUES ('03', 4, 1);",
        )
        .unwrap();
        drop(old);
        let mut s = Store::open(dir.path()).unwrap();
        assert_eq!(s.get("03").unwrap().unwrap().last_step, 4);
        s.missed("03", Item::Step(2), NOW).unwrap();
        assert_eq!(s.due_count(NOW + DAY).unwrap(), 1);
    }
}
