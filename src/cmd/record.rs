//! Writes the attempt log. The engine only reports events; this `View` passes every one on to
//! the screen and turns the ones that matter into rows of the log (and misses into review
//! boxes), saved as they happen, so Ctrl-C or a crash loses nothing already done. The clock is
//! passed in, so tests set the time.

use crate::runner::seam::{Event, View};
use crate::store::attempts::{Attempt, Item, Kind};
use crate::store::{Outcome, Store};

/// Unix seconds, from wherever the caller takes time.
pub type Clock = Box<dyn Fn() -> i64>;

pub struct Recorder<'v> {
    inner: &'v mut dyn View,
    store: Store,
    lesson: String,
    clock: Clock,
    /// Put misses in the review boxes (off in `review`, which moves the boxes itself).
    schedule: bool,
    /// The step being walked: its number, whether it is an exercise, when it began.
    step: Option<(usize, bool, i64)>,
    /// The last check outcome of the step, kept until the step ends so it carries the time.
    judged: Option<Attempt>,
    /// When the current question was shown.
    question_at: i64,
    /// The first error saving the log (a view cannot fail: the lesson goes on).
    pub error: Option<anyhow::Error>,
}

impl<'v> Recorder<'v> {
    pub fn new(
        inner: &'v mut dyn View,
        store: Store,
        lesson: &str,
        clock: Clock,
        schedule: bool,
    ) -> Self {
        Recorder {
            inner,
            store,
            lesson: lesson.to_string(),
            clock,
            schedule,
            step: None,
            judged: None,
            question_at: 0,
            error: None,
        }
    }

    fn row(&self, item: Item, kind: Kind, detail: Option<&str>, seconds: Option<u64>) -> Attempt {
        Attempt {
            lesson_id: self.lesson.clone(),
            item,
            kind,
            detail: detail.map(str::to_string),
            seconds,
            at: (self.clock)(),
        }
    }

    fn save(&mut self, rows: &[Attempt]) {
        if let Err(e) = self.store.log(rows) {
            self.error.get_or_insert(e);
        }
    }

    fn miss(&mut self, item: Item) {
        if !self.schedule {
            return;
        }
        let now = (self.clock)();
        if let Err(e) = self.store.missed(&self.lesson, item, now) {
            self.error.get_or_insert(e);
        }
    }

    fn step_row(&mut self, kind: Kind, detail: Option<&str>) {
        if let Some((n, _, _)) = self.step {
            let row = self.row(Item::Step(n), kind, detail, None);
            self.save(&[row]);
        }
    }

    /// Seconds since the current step began.
    fn spent(&self) -> Option<u64> {
        self.step
            .map(|(_, _, began)| ((self.clock)() - began).max(0) as u64)
    }

    /// The step's last check outcome, with the time spent on the step.
    fn flush(&mut self) {
        if let Some(mut row) = self.judged.take() {
            row.seconds = self.spent();
            self.save(&[row]);
        }
    }

    /// An outcome that is not the step's last (a retry or the solution follows): saved as is.
    fn save_judged(&mut self) {
        if let Some(prev) = self.judged.take() {
            self.save(&[prev]);
        }
    }

    fn record(&mut self, event: &Event<'_>) {
        match event {
            // The same step again (a retry) keeps counting from its first start.
            Event::StepHeader { index, kind, .. }
                if self.step.map(|(n, _, _)| n) != Some(*index) =>
            {
                self.flush();
                self.step = Some((*index, *kind == "exercise", (self.clock)()));
            }
            Event::Hint(_) => self.step_row(Kind::Hint, None),
            Event::Retried => {
                self.save_judged();
                self.step_row(Kind::Retry, None)
            }
            Event::Missed(line) => self.step_row(Kind::Wrong, Some(line)),
            Event::Solution(_) | Event::ThreeTries(_) => {
                self.save_judged();
                self.step_row(Kind::Solution, None);
                if let Some((n, true, _)) = self.step {
                    self.miss(Item::Step(n));
                }
            }
            Event::Judged { passed } => {
                // An earlier outcome of the same step (a failed try before a retry) is saved as
                // it was; only the last one carries the time.
                self.save_judged();
                if let Some((n, _, _)) = self.step {
                    let kind = if *passed { Kind::Passed } else { Kind::Failed };
                    self.judged = Some(self.row(Item::Step(n), kind, None, None));
                }
            }
            Event::Skipped(why) => {
                self.judged = None;
                if let Some((n, _, _)) = self.step {
                    let row = self.row(Item::Step(n), Kind::Skip, Some(why), self.spent());
                    self.save(&[row]);
                }
            }
            Event::StepEnded { outcome, .. } => {
                if *outcome != Outcome::Skipped {
                    self.flush();
                }
                self.step = None;
            }
            Event::Question { .. } => self.question_at = (self.clock)(),
            Event::Graded {
                number,
                chosen,
                correct,
                ..
            } => {
                let seconds = Some(((self.clock)() - self.question_at).max(0) as u64);
                let row = if *correct {
                    self.row(Item::Question(*number), Kind::Right, None, seconds)
                } else {
                    self.row(Item::Question(*number), Kind::Wrong, Some(chosen), seconds)
                };
                self.save(&[row]);
                if !correct {
                    self.miss(Item::Question(*number));
                }
            }
            _ => {}
        }
    }
}

impl View for Recorder<'_> {
    fn show(&mut self, event: Event<'_>) {
        self.record(&event);
        self.inner.show(event);
    }

    fn ticker(&mut self, label: &str) -> Box<dyn crate::measure::Ticker> {
        self.inner.ticker(label)
    }
}

impl Drop for Recorder<'_> {
    /// A walk left in the middle of a step (quit after a failure) keeps its last outcome.
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;
    use crate::runner::seam::Silent;

    /// A walk through one exercise: a miss, a hint, a retry, the solution, a pass; the clock
    /// moves 10 s per event, and the time spent lands on the step's last outcome.
    #[test]
    fn events_become_rows_with_the_time_spent() {
        let dir = tempfile::tempdir().unwrap();
        let t = Rc::new(Cell::new(1000));
        let clock = {
            let t = t.clone();
            Box::new(move || t.get())
        };
        let mut silent = Silent;
        let store = Store::open(dir.path()).unwrap();
        let mut r = Recorder::new(&mut silent, store, "07", clock, true);
        let tick = |r: &mut Recorder<'_>, e: Event<'_>| {
            r.show(e);
            t.set(t.get() + 10);
        };
        let header = || Event::StepHeader {
            index: 2,
            steps: 3,
            title: "t",
            kind: "exercise",
            text: "",
        };
        tick(&mut r, header());
        tick(&mut r, Event::Missed("SET lab:k \u{1b}[31mv"));
        tick(&mut r, Event::Hint(Some("h")));
        tick(&mut r, Event::Judged { passed: false });
        tick(&mut r, Event::Retried);
        tick(&mut r, header());
        tick(&mut r, Event::Solution(&[]));
        tick(&mut r, Event::Judged { passed: true });
        tick(
            &mut r,
            Event::StepEnded {
                index: 2,
                outcome: Outcome::Passed,
            },
        );
        assert!(r.error.is_none());
        drop(r);
        let s = Store::open(dir.path()).unwrap();
        let rows = s.attempts(Some("07")).unwrap();
        let kinds: Vec<Kind> = rows.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                Kind::Wrong,
                Kind::Hint,
                Kind::Failed,
                Kind::Retry,
                Kind::Solution,
                Kind::Passed
            ]
        );
        assert_eq!(rows[0].detail.as_deref(), Some("SET lab:k \u{1b}[31mv"));
        assert_eq!(
            rows.last().unwrap().seconds,
            Some(80),
            "from the first header"
        );
        assert_eq!(
            s.due_count(1000 + 86_400 * 2).unwrap(),
            1,
            "the solution was needed"
        );
    }
}
