//! What the attempt log says about the learner: per lesson totals and the hardest steps, each
//! with its history. Pure: it reads rows and returns a value, which `stats` prints as a table
//! or as JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use super::attempts::{Attempt, Item, Kind};

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stats {
    /// Totals per lesson, by lesson id.
    pub lessons: Vec<LessonTotals>,
    /// Steps by how hard they were, hardest first (at most `limit`).
    pub hardest: Vec<StepStats>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub hints: u32,
    pub retries: u32,
    pub solutions: u32,
    pub wrong: u32,
    pub skips: u32,
    /// Seconds spent on steps (quiz time apart).
    pub seconds: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LessonTotals {
    pub lesson_id: String,
    pub title: String,
    #[serde(flatten)]
    pub counts: Counts,
    pub quiz_right: u32,
    pub quiz_wrong: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StepStats {
    pub lesson_id: String,
    pub step: usize,
    pub title: String,
    #[serde(flatten)]
    pub counts: Counts,
    /// How hard, by one measure: a solution weighs 4, a failed check 2, a wrong try, a hint and
    /// a retry 1 each, and every full minute 1.
    pub difficulty: u64,
    /// Every row, oldest first.
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HistoryEntry {
    /// Unix seconds.
    pub at: i64,
    pub kind: &'static str,
    /// The wrong answer typed, or why a step was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
}

impl Counts {
    fn add(&mut self, a: &Attempt) {
        match a.kind {
            Kind::Passed => self.passed += 1,
            Kind::Failed => self.failed += 1,
            Kind::Hint => self.hints += 1,
            Kind::Retry => self.retries += 1,
            Kind::Solution => self.solutions += 1,
            Kind::Wrong => self.wrong += 1,
            Kind::Skip => self.skips += 1,
            Kind::Right => {}
        }
        self.seconds += a.seconds.unwrap_or(0);
    }

    fn difficulty(&self) -> u64 {
        u64::from(self.solutions) * 4
            + u64::from(self.failed) * 2
            + u64::from(self.wrong + self.hints + self.retries)
            + self.seconds / 60
    }
}

/// The report from the log. `title(lesson, step)`: a lesson's title (`step` 0) or a step's;
/// `limit`: how many hardest steps to keep. Steps with nothing hard about them are left out.
pub fn summarize(
    attempts: &[Attempt],
    title: &dyn Fn(&str, usize) -> String,
    limit: usize,
) -> Stats {
    let mut lessons: BTreeMap<&str, LessonTotals> = BTreeMap::new();
    let mut steps: BTreeMap<(&str, usize), StepStats> = BTreeMap::new();
    for a in attempts {
        let l = lessons.entry(&a.lesson_id).or_insert_with(|| LessonTotals {
            lesson_id: a.lesson_id.clone(),
            title: title(&a.lesson_id, 0),
            counts: Counts::default(),
            quiz_right: 0,
            quiz_wrong: 0,
        });
        match a.item {
            Item::Question(_) => match a.kind {
                Kind::Right => l.quiz_right += 1,
                Kind::Wrong => l.quiz_wrong += 1,
                _ => {}
            },
            Item::Step(n) => {
                l.counts.add(a);
                let s = steps.entry((&a.lesson_id, n)).or_insert_with(|| StepStats {
                    lesson_id: a.lesson_id.clone(),
                    step: n,
                    title: title(&a.lesson_id, n),
                    counts: Counts::default(),
                    difficulty: 0,
                    history: Vec::new(),
                });
                s.counts.add(a);
                s.history.push(HistoryEntry {
                    at: a.at,
                    kind: a.kind.as_str(),
                    detail: a.detail.clone(),
                    seconds: a.seconds,
                });
            }
        }
    }
    let mut hardest: Vec<StepStats> = steps
        .into_values()
        .map(|mut s| {
            s.difficulty = s.counts.difficulty();
            s
        })
        .filter(|s| s.difficulty > 0)
        .collect();
    hardest.sort_by(|a, b| {
        b.difficulty
            .cmp(&a.difficulty)
            .then(b.counts.seconds.cmp(&a.counts.seconds))
            .then((&a.lesson_id, a.step).cmp(&(&b.lesson_id, b.step)))
    });
    hardest.truncate(limit);
    Stats {
        lessons: lessons.into_values().collect(),
        hardest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(lesson: &str, item: Item, kind: Kind, seconds: Option<u64>) -> Attempt {
        Attempt {
            lesson_id: lesson.into(),
            item,
            kind,
            detail: None,
            seconds,
            at: 10,
        }
    }

    #[test]
    fn the_step_that_needed_the_solution_is_the_hardest() {
        let rows = vec![
            row("01", Item::Step(1), Kind::Passed, Some(30)),
            row("01", Item::Step(2), Kind::Hint, None),
            row("01", Item::Step(2), Kind::Passed, Some(200)),
            row("07", Item::Step(3), Kind::Failed, None),
            row("07", Item::Step(3), Kind::Solution, None),
            row("07", Item::Step(3), Kind::Passed, Some(10)),
            row("07", Item::Question(2), Kind::Wrong, None),
        ];
        let s = summarize(&rows, &|l, n| format!("{l}/{n}"), 10);
        assert_eq!(s.hardest.len(), 2, "an easy step is not listed");
        assert_eq!(
            (s.hardest[0].lesson_id.as_str(), s.hardest[0].step),
            ("07", 3)
        );
        assert_eq!(s.hardest[1].difficulty, 1 + 3);
        assert_eq!(s.lessons[0].counts.seconds, 230);
        assert_eq!(s.lessons[1].quiz_wrong, 1);
        assert_eq!(s.lessons[1].title, "07/0");
    }
}
