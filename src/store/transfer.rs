//! Progress as a portable document: `progress --export` writes every lesson's saved state to a
//! versioned JSON file and `--import` reads one back, on another machine or after a reset. An
//! import is checked whole before anything is written, and it never replaces progress that was
//! saved here after the file's (unless forced): moving an old backup onto a newer run would
//! silently lose work. Version 2 carries the attempt log and the review boxes too; a version 1
//! file still imports (its lessons' logs come back empty).

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::attempts::{Item, Kind, LEARNED};
use super::{BUSY_WAIT, Store, retry_busy};

/// What a file says it is, so another JSON document is refused by name.
pub const FORMAT: &str = "redislab-progress";
/// The newest document version this redislab writes and reads.
pub const VERSION: u32 = 2;

/// The whole document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub format: String,
    pub version: u32,
    /// Unix seconds when it was written.
    pub exported_at: i64,
    pub lessons: Vec<LessonRecord>,
}

/// One lesson's saved state, as the store holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LessonRecord {
    pub lesson_id: String,
    pub last_step: u32,
    #[serde(default)]
    pub completed_at: Option<i64>,
    #[serde(default)]
    pub best_score: Option<u32>,
    #[serde(default)]
    pub quiz_total: Option<u32>,
    /// Unix seconds of the last change: what "newer" is measured by.
    pub updated_at: i64,
    /// How each step ended the last time it ran.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// The attempt log, oldest first (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptRecord>,
    /// The review boxes (version 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub review: Vec<ReviewRecord>,
}

/// One row of the attempt log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttemptRecord {
    /// `step:N` or `quiz:N`.
    pub item: String,
    /// `passed`, `failed`, `hint`, `retry`, `solution`, `wrong`, `right` or `skip`.
    pub kind: String,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub seconds: Option<u64>,
    pub at: i64,
}

/// One item in the review boxes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRecord {
    /// `step:N` or `quiz:N`.
    pub item: String,
    /// 1–4, or 5 once learned.
    #[serde(rename = "box")]
    pub bx: u8,
    pub due_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    pub step: u32,
    /// `passed`, `failed` or `skipped`.
    pub outcome: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub struct Imported {
    pub lessons: usize,
    /// Lessons whose newer progress here was replaced (only with `force`).
    pub replaced_newer: Vec<String>,
}

/// Why an import was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The file is not a progress document this redislab can read.
    Invalid(String),
    /// Saved progress of these lessons is newer than the file's.
    Newer(Vec<NewerHere>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewerHere {
    pub lesson_id: String,
    pub here: i64,
    pub file: i64,
}

/// A lesson the import may name: its id and how many steps and quiz questions it has.
pub struct Known<'a> {
    pub id: &'a str,
    pub steps: usize,
    pub questions: usize,
}

impl Document {
    /// Parses and checks a document's text against the lessons in use.
    pub fn parse(text: &str, known: &[Known<'_>]) -> Result<Document, Refusal> {
        let probe: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Refusal::Invalid(format!("it is not JSON ({e})")))?;
        let format = probe.get("format").and_then(|f| f.as_str());
        if format != Some(FORMAT) {
            return Err(Refusal::Invalid(format!(
                "it is not a redislab progress file (its \"format\" should be {FORMAT:?})"
            )));
        }
        match probe.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v > u64::from(VERSION) => {
                return Err(Refusal::Invalid(format!(
                    "it is version {v}, newer than this redislab reads ({VERSION}): update redislab"
                )));
            }
            Some(_) => {}
            None => return Err(Refusal::Invalid("it has no \"version\" number".into())),
        }
        let doc: Document = serde_json::from_value(probe)
            .map_err(|e| Refusal::Invalid(format!("it does not have the expected fields ({e})")))?;
        doc.check(known).map_err(Refusal::Invalid)?;
        Ok(doc)
    }

    /// Every value in range: known lessons, once each, steps inside the lesson, sane scores.
    fn check(&self, known: &[Known<'_>]) -> Result<(), String> {
        let mut seen = BTreeSet::new();
        for l in &self.lessons {
            let id = crate::untrusted::printable_str(&l.lesson_id);
            let Some(k) = known.iter().find(|k| k.id == l.lesson_id) else {
                return Err(format!("lesson {id} is not a lesson of this redislab"));
            };
            if !seen.insert(l.lesson_id.as_str()) {
                return Err(format!("lesson {id} appears twice"));
            }
            if l.last_step as usize > k.steps {
                return Err(format!(
                    "lesson {id}: last_step {} is past its {} steps",
                    l.last_step, k.steps
                ));
            }
            match (l.best_score, l.quiz_total) {
                (Some(s), Some(t)) if s > t => {
                    return Err(format!(
                        "lesson {id}: quiz score {s} is above its total {t}"
                    ));
                }
                (Some(_), None) | (None, Some(_)) => {
                    return Err(format!(
                        "lesson {id}: best_score and quiz_total come together"
                    ));
                }
                _ => {}
            }
            if l.updated_at < 0 || l.completed_at.is_some_and(|c| c < 0) {
                return Err(format!("lesson {id}: a time before 1970"));
            }
            let mut steps = BTreeSet::new();
            for s in &l.steps {
                if s.step == 0 || s.step as usize > k.steps {
                    return Err(format!(
                        "lesson {id}: step {} does not exist (it has {})",
                        s.step, k.steps
                    ));
                }
                if !matches!(s.outcome.as_str(), "passed" | "failed" | "skipped") {
                    return Err(format!(
                        "lesson {id}: step {} ended {:?}; expected passed, failed or skipped",
                        s.step,
                        crate::untrusted::printable_str(&s.outcome)
                    ));
                }
                if !steps.insert(s.step) {
                    return Err(format!("lesson {id}: step {} appears twice", s.step));
                }
            }
            let item = |text: &str| -> Result<(), String> {
                let shown = crate::untrusted::printable_str(text);
                match Item::parse(text) {
                    Some(Item::Step(n)) if n <= k.steps => Ok(()),
                    Some(Item::Question(n)) if n <= k.questions => Ok(()),
                    Some(_) => Err(format!("lesson {id}: {shown} does not exist")),
                    None => Err(format!(
                        "lesson {id}: {shown:?} is not a step:N or quiz:N item"
                    )),
                }
            };
            for a in &l.attempts {
                item(&a.item)?;
                if Kind::parse(&a.kind).is_none() {
                    return Err(format!(
                        "lesson {id}: attempt kind {:?} is not one redislab writes",
                        crate::untrusted::printable_str(&a.kind)
                    ));
                }
                if a.at < 0 {
                    return Err(format!("lesson {id}: a time before 1970"));
                }
            }
            let mut boxed = BTreeSet::new();
            for r in &l.review {
                item(&r.item)?;
                if r.bx == 0 || r.bx > LEARNED {
                    return Err(format!(
                        "lesson {id}: review box {} is not 1–{LEARNED}",
                        r.bx
                    ));
                }
                if !boxed.insert(r.item.as_str()) {
                    return Err(format!("lesson {id}: review item {} appears twice", r.item));
                }
            }
        }
        Ok(())
    }
}

impl Store {
    /// Everything saved, as a document. A lesson with only a log (a quiz left half-way) is
    /// there too; a lesson's `updated_at` is its latest change of any kind, log included, so an
    /// import of an older file is refused for it.
    pub fn export(&self) -> Result<Document> {
        let mut lessons = retry_busy(BUSY_WAIT, || {
            let mut stmt = self.conn.prepare(
                "SELECT lesson_id, last_step, completed_at, best_score, quiz_total, updated_at
                 FROM progress ORDER BY lesson_id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(LessonRecord {
                    lesson_id: r.get(0)?,
                    last_step: r.get::<_, i64>(1)?.clamp(0, i64::from(u32::MAX)) as u32,
                    completed_at: r.get(2)?,
                    best_score: r.get::<_, Option<i64>>(3)?.map(|v| v.max(0) as u32),
                    quiz_total: r.get::<_, Option<i64>>(4)?.map(|v| v.max(0) as u32),
                    updated_at: r.get(5)?,
                    steps: Vec::new(),
                    attempts: Vec::new(),
                    review: Vec::new(),
                })
            })?;
            let mut lessons = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            let mut stmt = self.conn.prepare(
                "SELECT step, outcome FROM step_outcome WHERE lesson_id = ?1 ORDER BY step",
            )?;
            for l in &mut lessons {
                let rows = stmt.query_map(params![l.lesson_id], |r| {
                    Ok(StepRecord {
                        step: r.get::<_, i64>(0)?.clamp(0, i64::from(u32::MAX)) as u32,
                        outcome: r.get(1)?,
                    })
                })?;
                l.steps = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            }
            Ok(lessons)
        })
        .context("could not read progress")?;
        let mut record = |id: &str, at: i64| -> usize {
            let i = match lessons.iter().position(|l| l.lesson_id == id) {
                Some(i) => i,
                None => {
                    lessons.push(LessonRecord {
                        lesson_id: id.to_string(),
                        last_step: 0,
                        completed_at: None,
                        best_score: None,
                        quiz_total: None,
                        updated_at: at,
                        steps: Vec::new(),
                        attempts: Vec::new(),
                        review: Vec::new(),
                    });
                    lessons.len() - 1
                }
            };
            lessons[i].updated_at = lessons[i].updated_at.max(at);
            i
        };
        let attempts = self.attempts(None)?;
        let boxes = self.review_boxes()?;
        let mut placed = Vec::new();
        for a in attempts {
            placed.push((
                record(&a.lesson_id, a.at),
                Some(AttemptRecord {
                    item: a.item.key(),
                    kind: a.kind.as_str().to_string(),
                    detail: a.detail,
                    seconds: a.seconds,
                    at: a.at,
                }),
                None,
            ));
        }
        for b in boxes {
            placed.push((
                record(&b.lesson_id, b.updated_at),
                None,
                Some(ReviewRecord {
                    item: b.item,
                    bx: b.bx,
                    due_at: b.due_at,
                    updated_at: b.updated_at,
                }),
            ));
        }
        for (i, a, r) in placed {
            lessons[i].attempts.extend(a);
            lessons[i].review.extend(r);
        }
        lessons.sort_by(|a, b| a.lesson_id.cmp(&b.lesson_id));
        Ok(Document {
            format: FORMAT.to_string(),
            version: VERSION,
            exported_at: super::now_s(),
            lessons,
        })
    }

    /// Writes a checked document in one transaction: each lesson it names is replaced whole
    /// (its steps too); lessons it does not name stay. Refused, with nothing written, when
    /// progress saved here is newer than the file's and `force` is off.
    pub fn import(&mut self, doc: &Document, force: bool) -> Result<Result<Imported, Refusal>> {
        let newer = self
            .export()?
            .lessons
            .into_iter()
            .filter_map(|here| {
                let file = doc.lessons.iter().find(|l| l.lesson_id == here.lesson_id)?;
                (here.updated_at > file.updated_at).then(|| NewerHere {
                    lesson_id: here.lesson_id.clone(),
                    here: here.updated_at,
                    file: file.updated_at,
                })
            })
            .collect::<Vec<_>>();
        if !newer.is_empty() && !force {
            return Ok(Err(Refusal::Newer(newer)));
        }
        self.write(|tx| {
            for l in &doc.lessons {
                tx.execute(
                    "DELETE FROM step_outcome WHERE lesson_id = ?1",
                    params![l.lesson_id],
                )?;
                tx.execute(
                    "INSERT INTO progress (lesson_id, last_step, completed_at, best_score, quiz_total, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT(lesson_id) DO UPDATE SET last_step = ?2, completed_at = ?3,
                         best_score = ?4, quiz_total = ?5, updated_at = ?6",
                    params![
                        l.lesson_id,
                        i64::from(l.last_step),
                        l.completed_at,
                        l.best_score,
                        l.quiz_total,
                        l.updated_at
                    ],
                )?;
                for s in &l.steps {
                    tx.execute(
                        "INSERT INTO step_outcome (lesson_id, step, outcome) VALUES (?1, ?2, ?3)",
                        params![l.lesson_id, i64::from(s.step), s.outcome],
                    )?;
                }
                // The file's log and boxes replace this lesson's, as its steps do.
                tx.execute("DELETE FROM attempt WHERE lesson_id = ?1", params![l.lesson_id])?;
                tx.execute("DELETE FROM review_box WHERE lesson_id = ?1", params![l.lesson_id])?;
                for a in &l.attempts {
                    tx.execute(
                        "INSERT INTO attempt (lesson_id, item, kind, detail, seconds, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            l.lesson_id,
                            a.item,
                            a.kind,
                            a.detail,
                            a.seconds.map(|s| s.min(i64::MAX as u64) as i64),
                            a.at
                        ],
                    )?;
                }
                for r in &l.review {
                    tx.execute(
                        "INSERT INTO review_box (lesson_id, item, box, due_at, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![l.lesson_id, r.item, r.bx, r.due_at, r.updated_at],
                    )?;
                }
            }
            Ok(())
        })
        .context("could not save the imported progress")?;
        Ok(Ok(Imported {
            lessons: doc.lessons.len(),
            replaced_newer: newer.into_iter().map(|n| n.lesson_id).collect(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Outcome;

    const KNOWN: &[Known<'static>] = &[
        Known {
            id: "07",
            steps: 9,
            questions: 5,
        },
        Known {
            id: "11",
            steps: 4,
            questions: 5,
        },
    ];

    #[test]
    fn a_document_goes_round_and_comes_back_the_same() {
        let a = tempfile::tempdir().unwrap();
        let mut s = Store::open(a.path()).unwrap();
        s.record_step("07", 1, false, Outcome::Passed).unwrap();
        s.record_step("07", 2, false, Outcome::Failed).unwrap();
        s.record_quiz("07", 3, 5).unwrap();
        let doc = s.export().unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        let back = Document::parse(&text, KNOWN).unwrap();
        let b = tempfile::tempdir().unwrap();
        let mut t = Store::open(b.path()).unwrap();
        t.import(&back, false).unwrap().unwrap();
        assert_eq!(t.export().unwrap().lessons, doc.lessons);
        assert_eq!(t.get("07").unwrap(), s.get("07").unwrap());
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        let bad = |text: &str| match Document::parse(text, KNOWN) {
            Err(Refusal::Invalid(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert!(bad("[").contains("not JSON"));
        assert!(bad(r#"{"format":"x","version":1}"#).contains("not a redislab progress file"));
        assert!(bad(r#"{"format":"redislab-progress","version":9}"#).contains("update redislab"));
        let doc = |lesson: &str| {
            format!(
                r#"{{"format":"redislab-progress","version":1,"exported_at":0,"lessons":[{lesson}]}}"#
            )
        };
        assert!(
            bad(&doc(r#"{"lesson_id":"99","last_step":1,"updated_at":5}"#)).contains("lesson 99")
        );
        assert!(
            bad(&doc(r#"{"lesson_id":"11","last_step":5,"updated_at":5}"#))
                .contains("past its 4 steps")
        );
        assert!(
            bad(&doc(
                r#"{"lesson_id":"11","last_step":1,"updated_at":5,"steps":[{"step":1,"outcome":"won"}]}"#
            ))
            .contains("expected passed")
        );
        assert!(
            bad(&doc(
                r#"{"lesson_id":"11","last_step":1,"updated_at":5,"best_score":6,"quiz_total":5}"#
            ))
            .contains("above its total")
        );
    }

    #[test]
    fn the_attempt_log_and_review_boxes_go_round_too() {
        use crate::store::attempts::{Attempt, Item, Kind};
        let a = tempfile::tempdir().unwrap();
        let mut s = Store::open(a.path()).unwrap();
        s.record_step("07", 1, false, Outcome::Failed).unwrap();
        let now = super::super::now_s();
        s.log(&[
            Attempt {
                lesson_id: "07".into(),
                item: Item::Step(1),
                kind: Kind::Wrong,
                detail: Some("SET lab:k v".into()),
                seconds: None,
                at: now,
            },
            Attempt {
                lesson_id: "11".into(),
                item: Item::Question(2),
                kind: Kind::Wrong,
                detail: Some("(nil)".into()),
                seconds: Some(4),
                at: now,
            },
        ])
        .unwrap();
        s.missed("11", Item::Question(2), now).unwrap();
        let doc = s.export().unwrap();
        assert_eq!(doc.version, 2);
        let text = serde_json::to_string(&doc).unwrap();
        let back = Document::parse(&text, KNOWN).unwrap();
        let b = tempfile::tempdir().unwrap();
        let mut t = Store::open(b.path()).unwrap();
        t.import(&back, false).unwrap().unwrap();
        assert_eq!(t.attempts(None).unwrap(), s.attempts(None).unwrap());
        assert_eq!(t.review_boxes().unwrap(), s.review_boxes().unwrap());
        // A newer try here makes the file older: refused, and nothing changes.
        t.log(&[Attempt {
            lesson_id: "11".into(),
            item: Item::Question(2),
            kind: Kind::Right,
            detail: None,
            seconds: None,
            at: now + 100,
        }])
        .unwrap();
        assert!(matches!(
            t.import(&back, false).unwrap(),
            Err(Refusal::Newer(_))
        ));
        assert_eq!(t.attempts(Some("11")).unwrap().len(), 2);
    }

    #[test]
    fn a_version_1_file_still_imports() {
        let text = r#"{"format":"redislab-progress","version":1,"exported_at":5,"lessons":[
            {"lesson_id":"07","last_step":2,"updated_at":5,"steps":[{"step":2,"outcome":"failed"}]}]}"#;
        let doc = Document::parse(text, KNOWN).unwrap();
        let d = tempfile::tempdir().unwrap();
        let mut s = Store::open(d.path()).unwrap();
        s.import(&doc, false).unwrap().unwrap();
        assert_eq!(s.get("07").unwrap().unwrap().failed, vec![2]);
        assert!(s.attempts(None).unwrap().is_empty());
        let bad = r#"{"format":"redislab-progress","version":2,"exported_at":5,"lessons":[
            {"lesson_id":"07","last_step":2,"updated_at":5,"review":[{"item":"quiz:9","box":1,"due_at":1,"updated_at":1}]}]}"#;
        assert!(
            matches!(Document::parse(bad, KNOWN), Err(Refusal::Invalid(w)) if w.contains("does not exist"))
        );
    }
}
