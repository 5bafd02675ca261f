//! Walks a lesson from a step to the end: each step through `steps::run`, progress saved after
//! every step, then the quiz. Questions go through the `Prompter` and everything shown through
//! the `View`, so tests, `--auto` and `validate --live` need no terminal.

use anyhow::Result;

use crate::lesson::model::{Lesson, StepKind};
use crate::progress::Store;
use crate::runner::Engine;
use crate::runner::steps::{self, Ctx, StepEnd};

pub use crate::runner::seam::{Event, ExerciseAction, Planned, Prompter, Silent, StepAction, View};

pub struct Options {
    pub auto: bool,
    /// 1-based first step.
    pub from_step: usize,
    pub answers: Option<Vec<usize>>,
    /// Ask the quiz at the end (interactive) or grade `answers`.
    pub quiz: bool,
}

#[derive(Debug, Default)]
pub struct Summary {
    pub failed_steps: Vec<(usize, String)>,
    pub skipped_steps: Vec<(usize, String)>,
    /// Step at which the learner quit (progress saved up to the step before).
    pub quit_at: Option<usize>,
    pub completed: bool,
    pub score: Option<(u32, u32)>,
    /// Per exercise: (step, checks failed before the solution, checks passed after).
    pub exercise_proofs: Vec<(usize, bool, bool)>,
    /// Predict questions whose reply matched no choice.
    pub stale_predictions: Vec<(usize, String)>,
}

pub struct Walker<'a, 'b> {
    pub engine: &'a mut Engine<'b>,
    pub lesson: &'a Lesson,
    pub prompter: &'a mut dyn Prompter,
    pub view: &'a mut dyn View,
    pub store: Option<&'a mut Store>,
    pub options: Options,
}

impl<'b> Walker<'_, 'b> {
    fn ctx(&mut self) -> Ctx<'_, 'b> {
        Ctx {
            engine: &mut *self.engine,
            lesson: self.lesson,
            prompter: &mut *self.prompter,
            view: &mut *self.view,
            auto: self.options.auto,
        }
    }

    /// Replays steps before `upto` without showing them (commands only), so state and saved
    /// values exist when a lesson resumes in the middle.
    async fn replay(&mut self, upto: usize) -> Result<()> {
        for step in self.lesson.steps.iter().take(upto.saturating_sub(1)) {
            if self.engine.unmet(step.requires.as_ref()).await?.is_some() {
                continue;
            }
            self.engine.begin_step(step)?;
            match &step.kind {
                StepKind::Run { commands } => {
                    self.engine.run_commands(commands).await?;
                }
                StepKind::Exercise { solution, .. } => {
                    self.engine.run_commands(solution).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub async fn walk(mut self) -> Result<Summary> {
        let mut summary = Summary::default();
        let lesson = self.lesson;
        let n = lesson.steps.len();
        if let Some(reason) = self.engine.unmet(lesson.requires.as_ref()).await? {
            anyhow::bail!("lesson {} {reason}", lesson.id);
        }
        self.engine.set_lesson_keys(&lesson.keys);
        self.engine.run_quiet(&lesson.setup).await?;
        let from = self.options.from_step.clamp(1, n.max(1));
        if from > 1 {
            self.replay(from).await?;
            self.view.show(Event::Resuming {
                lesson: &lesson.id,
                step: from,
                steps: n,
            });
        } else {
            let shown = Lesson {
                introduction: self.ctx().soft(&lesson.introduction),
                ..lesson.clone()
            };
            self.view.show(Event::Intro {
                lesson: &shown,
                steps: n,
            });
        }
        for i in from..=n {
            let step = &lesson.steps[i - 1];
            let text = self.ctx().soft(&step.text);
            self.view.show(Event::StepHeader {
                index: i,
                steps: n,
                title: &step.title,
                kind: step.kind.name(),
                text: &text,
            });
            match steps::run(&mut self.ctx(), step).await? {
                StepEnd::Quit => {
                    summary.quit_at = Some(i);
                    return Ok(summary);
                }
                StepEnd::Skipped(why) => {
                    self.view.show(Event::Skipped(&why));
                    summary.skipped_steps.push((i, why));
                }
                StepEnd::Done {
                    passed,
                    failed_before,
                } => {
                    if let Some(before) = failed_before {
                        summary.exercise_proofs.push((i, before, passed));
                    }
                    if !passed {
                        self.view.show(Event::FailedStep {
                            index: i,
                            title: &step.title,
                        });
                        summary.failed_steps.push((i, step.title.clone()));
                    }
                }
            }
            if let Some(store) = self.store.as_deref_mut() {
                store.record_step(&lesson.id, i, i == n)?;
            }
        }
        summary.completed = true;
        if self.options.quiz {
            let answers = self.options.answers.clone();
            match crate::runner::quiz::ask(&mut self.ctx(), answers.as_deref(), &mut summary)
                .await?
            {
                Some((score, total)) => {
                    self.view.show(Event::Score { score, total });
                    if let Some(store) = self.store.as_deref_mut() {
                        store.record_quiz(&lesson.id, score, total)?;
                    }
                    summary.score = Some((score, total));
                }
                None => summary.quit_at = Some(n + 1),
            }
        }
        Ok(summary)
    }

    /// Runs only the quiz; `None` if the learner left.
    pub async fn quiz(&mut self, summary: &mut Summary) -> Result<Option<(u32, u32)>> {
        let answers = self.options.answers.clone();
        crate::runner::quiz::ask(&mut self.ctx(), answers.as_deref(), summary).await
    }
}
