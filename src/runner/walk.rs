//! Walks a lesson from a step to the end: each step through `steps::run`, progress saved after
//! every step, then the quiz. Questions go through the `Prompter` and everything shown through
//! the `View`, so tests, `--auto` and `validate --live` need no terminal.

use anyhow::Result;

use crate::lesson::model::{Lesson, StepKind};
use crate::lesson::vars::Vars;
use crate::runner::Engine;
use crate::runner::snapshot::Snapshot;
use crate::runner::steps::{self, Ctx, StepEnd};
use crate::store::{Outcome, Store};

pub use crate::runner::seam::{
    Event, ExerciseAction, FailureAction, Planned, Prompter, Silent, StepAction, View,
};

pub struct Options {
    pub auto: bool,
    /// 1-based first step.
    pub from_step: usize,
    pub answers: Option<Vec<usize>>,
    /// Ask the quiz at the end (interactive) or grade `answers`.
    pub quiz: bool,
    /// Steps up to this one are not recorded: a restarted lesson keeps its saved place until
    /// the new run passes it.
    pub keep_until: usize,
}

pub use super::summary::Summary;

pub struct Walker<'a, 'b> {
    pub engine: &'a mut Engine<'b>,
    pub lesson: &'a Lesson,
    pub prompter: &'a mut dyn Prompter,
    pub view: &'a mut dyn View,
    pub store: Option<&'a mut Store>,
    pub options: Options,
}

/// How a reviewed step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reviewed {
    /// The learner's own commands reached the goal.
    Right,
    /// The goal was reached only with the solution.
    Wrong,
    /// Skipped: it stays due.
    Skipped,
    /// The learner left (Esc, Ctrl-C, `quit`).
    Left,
    /// This server cannot run it (the reason).
    Unavailable(String),
}

/// What the walk remembers between steps: the steps whose state the learner's own commands
/// made, so a step the lesson's own solution cannot pass can name the one that left its state.
#[derive(Default)]
struct Trail {
    typed_own: Vec<usize>,
    /// Steps the learner skipped (on purpose): their commands never ran.
    skipped: Vec<usize>,
    /// Where `Back` goes instead of the previous step (set by the failure menu).
    back_to: Option<usize>,
}

/// Where the lesson stood before a step: its keys and its variables.
struct Before {
    keys: Snapshot,
    vars: Vars,
}

impl<'b> Walker<'_, 'b> {
    fn ctx<'c>(&'c mut self, before: Option<&'c Snapshot>) -> Ctx<'c, 'b> {
        Ctx::new(
            &mut *self.engine,
            self.lesson,
            &mut *self.prompter,
            &mut *self.view,
            self.options.auto,
            before,
        )
    }

    /// Puts the keys and variables back as they were before step `i`.
    async fn rewind(&mut self, i: usize, to: &Before) -> Result<()> {
        self.engine.restore(&to.keys).await?;
        self.engine.vars = to.vars.clone();
        self.ctx(None).show(Event::Restored { index: i }).await?;
        Ok(())
    }

    /// Replays steps before `upto` without showing them (commands only), so state and saved
    /// values exist when a lesson resumes in the middle.
    async fn replay(&mut self, upto: usize) -> Result<()> {
        self.replay_range(1, upto).await
    }

    /// Replays steps `from` up to (not including) `upto`, as `replay` does.
    async fn replay_range(&mut self, from: usize, upto: usize) -> Result<()> {
        let lesson = self.lesson;
        let first = from.max(1);
        for step in lesson
            .steps
            .iter()
            .take(upto.saturating_sub(1))
            .skip(first - 1)
        {
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
                    steps::keep(self.engine, step).await?;
                }
                // Time that passed in a wait, a race's final state, a compare's data: later
                // steps expect them.
                StepKind::Wait { seconds, keys } => {
                    self.engine
                        .fast_forward(self.lesson, keys.as_ref(), *seconds)
                        .await?;
                }
                StepKind::Race(race) => {
                    let ctx = crate::runner::race::RaceContext {
                        server: self.engine.server,
                        vars: &self.engine.vars,
                        ticker: &crate::measure::Silent,
                    };
                    crate::runner::race::run(race, &ctx).await?;
                }
                StepKind::Compare { redis, .. } => {
                    let setup: Vec<crate::lesson::model::CommandSpec> = redis
                        .setup
                        .iter()
                        .cloned()
                        .map(crate::lesson::model::CommandSpec::Line)
                        .collect();
                    self.engine.run_quiet(&setup).await?;
                }
                StepKind::Scenario { .. } => {}
            }
        }
        Ok(())
    }

    /// Walks the lesson. Whatever way it ends, lesson time runs again afterwards: no key is
    /// left without its TTL.
    pub async fn walk(mut self) -> Result<Summary> {
        self.engine.set_reading(!self.options.auto);
        let walked = self.walk_steps(None).await;
        let thawed = self.engine.thaw().await;
        let summary = walked?;
        thawed?;
        Ok(summary)
    }

    /// `validate --live`'s proof of an `accepts` variant: from `from_step` (the earlier steps
    /// replayed as on resume) in `--auto`, but step `at` runs `variant` as a learner would
    /// type it instead of its own commands; every step after it then runs its own. The
    /// summary says which steps failed: `at` itself when its checks (or an exercise's trials)
    /// refuse the variant, a later one when the variant's state strands it.
    pub async fn walk_variant(mut self, at: usize, variant: &[String]) -> Result<Summary> {
        self.options.auto = true;
        self.options.quiz = false;
        self.engine.set_reading(false);
        let walked = self.walk_steps(Some((at, variant))).await;
        let thawed = self.engine.thaw().await;
        let summary = walked?;
        thawed?;
        Ok(summary)
    }

    async fn walk_steps(&mut self, variant: Option<(usize, &[String])>) -> Result<Summary> {
        let mut summary = Summary::default();
        let lesson = self.lesson;
        let n = lesson.steps.len();
        // A lesson this server cannot run (a cluster lesson on one server) is not a failure.
        if let Some(reason) = self.engine.unmet(lesson.requires.as_ref()).await? {
            summary.unavailable = Some(reason);
            return Ok(summary);
        }
        let from = self.start().await?;
        let mut trail = Trail::default();
        // What each step found, so a failed step can be retried and `back` can rewind.
        let mut before: Vec<Option<Before>> = (0..=n).map(|_| None).collect();
        let mut i = from;
        while i <= n {
            let step = &lesson.steps[i - 1];
            if !self.options.auto {
                before[i] = Some(Before {
                    keys: self.engine.snapshot().await?,
                    vars: self.engine.vars.clone(),
                });
            }
            self.header(i, n).await?;
            // Usually this one step; a run of steps walked on a private valkey-server (each
            // needing a newer command this server lacks) ends together.
            let ends = match self.on_private_valkey(i).await? {
                Some(ends) => ends,
                None => {
                    let end = {
                        let snap = before[i].as_ref().map(|b| &b.keys);
                        match variant {
                            Some((at, lines)) if at == i => {
                                steps::accept(&mut self.ctx(snap), step, lines).await?
                            }
                            _ => steps::run(&mut self.ctx(snap), step).await?,
                        }
                    };
                    let end = self
                        .until_settled(i, end, before[i].as_ref(), from, &mut trail)
                        .await?;
                    vec![(i, end)]
                }
            };
            // However the step was left (skip, back, quit, done), nothing stays open.
            self.engine.close_transactions().await;
            let mut next = i;
            for (k, end) in ends {
                let step = &lesson.steps[k - 1];
                match end {
                    StepEnd::Quit => {
                        summary.quit_at = Some(k);
                        return Ok(summary);
                    }
                    StepEnd::Back => {
                        let mut to = trail.back_to.take().unwrap_or(k - 1);
                        // A step this server cannot run is passed over on the way back, as on
                        // the way forward: back lands on the nearest step that runs.
                        while to > from
                            && self
                                .engine
                                .unmet(lesson.steps[to - 1].requires.as_ref())
                                .await?
                                .is_some()
                        {
                            to -= 1;
                        }
                        next = k;
                        match before[to].as_ref() {
                            Some(b) if k > from && to >= from => {
                                self.rewind(to, b).await?;
                                trail.typed_own.retain(|s| *s < to);
                                trail.skipped.retain(|s| *s < to);
                                next = to;
                            }
                            _ => {
                                self.ctx(None)
                                    .show(Event::Notice(
                                        "This is the first step of this run: there is nothing to go back to.",
                                    ))
                                    .await?
                            }
                        }
                        break;
                    }
                    other => {
                        if matches!(
                            other,
                            StepEnd::Done {
                                typed_own: true,
                                ..
                            }
                        ) {
                            trail.typed_own.push(k);
                        }
                        // Skipped by the learner, not for want of a command on this server.
                        if matches!(other, StepEnd::Skipped(_))
                            && self.engine.unmet(step.requires.as_ref()).await?.is_none()
                        {
                            trail.skipped.push(k);
                        }
                        self.record(k, other, &mut summary).await?
                    }
                }
                let outcome = if summary.failed_steps.last().is_some_and(|(f, _)| *f == k) {
                    Outcome::Failed
                } else if summary.skipped_steps.last().is_some_and(|(s, _)| *s == k) {
                    Outcome::Skipped
                } else {
                    Outcome::Passed
                };
                self.ctx(None)
                    .show(Event::StepEnded { index: k, outcome })
                    .await?;
                if let Some(store) = self.store.as_deref_mut() {
                    if k > self.options.keep_until || k == n {
                        store.record_step(&lesson.id, k, k == n, outcome)?;
                    }
                }
                next = k + 1;
            }
            i = next;
        }
        summary.completed = true;
        if self.options.quiz {
            self.final_quiz(&mut summary).await?;
        }
        Ok(summary)
    }

    /// Checks the lesson can run here, clears or replays the keys, and shows the opening.
    /// Returns the first step to walk.
    async fn start(&mut self) -> Result<usize> {
        let lesson = self.lesson;
        let n = lesson.steps.len();
        self.engine.set_lesson_keys(&lesson.keys);
        let from = self.options.from_step.clamp(1, n.max(1));
        if from == 1 && !lesson.steps.is_empty() {
            self.engine.clear_lesson_keys().await?;
        }
        self.engine.run_quiet(&lesson.setup).await?;
        if from > 1 {
            self.replay(from).await?;
            self.ctx(None)
                .show(Event::Resuming {
                    lesson: &lesson.id,
                    step: from,
                    steps: n,
                })
                .await?;
        } else {
            let shown = Lesson {
                introduction: self.ctx(None).soft(&lesson.introduction),
                ..lesson.clone()
            };
            self.ctx(None)
                .show(Event::Intro {
                    lesson: &shown,
                    steps: n,
                })
                .await?;
        }
        Ok(from)
    }

    /// A failed step, in an interactive walk: retry it, see the solution, go on, or go back,
    /// until the learner settles on one. When the lesson's own solution fails too, the state
    /// the step started from is at fault: the menu names the last earlier step the learner
    /// typed their own commands in (or the previous one) and offers to go back there.
    async fn until_settled(
        &mut self,
        i: usize,
        mut end: StepEnd,
        before: Option<&Before>,
        from: usize,
        trail: &mut Trail,
    ) -> Result<StepEnd> {
        let step = &self.lesson.steps[i - 1];
        let n = self.lesson.steps.len();
        let mut stranded: Option<usize> = None;
        while let (StepEnd::Done { passed: false, .. }, false) = (&end, self.options.auto) {
            let back_to = stranded;
            let action = self
                .ctx(None)
                .ask(|p| p.after_failure(step.kind.name(), back_to))
                .await?;
            if action == FailureAction::Explain {
                let results = self.engine.last_checks.clone();
                let prompt = self.engine.server.display.clone();
                self.ctx(None)
                    .show(Event::Explain {
                        results: &results,
                        prompt: &prompt,
                    })
                    .await?;
                continue;
            }
            let Some(b) = before else { break };
            end = match action {
                FailureAction::GoOn => break,
                FailureAction::Explain => continue,
                FailureAction::Quit => StepEnd::Quit,
                FailureAction::Back => {
                    trail.back_to = stranded;
                    StepEnd::Back
                }
                FailureAction::Retry | FailureAction::ShowSolution => {
                    if action == FailureAction::Retry {
                        self.ctx(None).show(Event::Retried).await?;
                    }
                    self.rewind(i, b).await?;
                    if action == FailureAction::Retry {
                        self.header(i, n).await?;
                        steps::run(&mut self.ctx(Some(&b.keys)), step).await?
                    } else {
                        let end = steps::solve(&mut self.ctx(Some(&b.keys)), step).await?;
                        if matches!(end, StepEnd::Done { passed: false, .. }) && i > from {
                            // The latest step whose own commands did not run as the lesson
                            // wrote them: one the learner typed, or one they skipped.
                            let typed = trail.typed_own.last().copied();
                            let skipped = trail.skipped.last().copied();
                            let k = typed.max(skipped).filter(|k| *k >= from).unwrap_or(i - 1);
                            stranded = Some(k);
                            let why = if skipped == Some(k) && typed != Some(k) {
                                format!(
                                    "The lesson's own commands fail from the state this step started in: step {k}, which you skipped, never ran. Go back to step {k} and run it."
                                )
                            } else if typed == Some(k) {
                                format!(
                                    "The lesson's own commands fail from the state this step started in: step {k}, where you typed your own commands, left it. Go back to step {k} and run it as the lesson does."
                                )
                            } else {
                                format!(
                                    "The lesson's own commands fail from the state this step started in, which step {k} left: go back to step {k}."
                                )
                            };
                            self.ctx(None).show(Event::Notice(&why)).await?;
                        }
                        end
                    }
                }
            };
        }
        Ok(end)
    }

    /// What step `i` lacks here, when a private valkey-server could run it: the newer commands
    /// and options it needs are all it lacks, a person is at the terminal, its scripts may run
    /// on a server redislab does not own, and valkey-server is on PATH or in redislab's home.
    async fn offerable(&mut self, i: usize) -> Result<Option<(Vec<String>, std::path::PathBuf)>> {
        let step = &self.lesson.steps[i - 1];
        let Some(req) = step.requires.as_ref() else {
            return Ok(None);
        };
        if self.options.auto || self.engine.script_not_shipped(step).is_some() {
            return Ok(None);
        }
        let Some(binary) = self.engine.server.binaries.find(&["valkey-server"]) else {
            return Ok(None);
        };
        Ok(self
            .engine
            .missing_commands(req)
            .await?
            .map(|missing| (missing, binary)))
    }

    /// A step this server would skip only for want of a newer command or option (DELIFEQ,
    /// SET ... IFEQ), offered on a private valkey-server that has it (`offerable`). If the
    /// learner agrees, the lesson's keys are copied there (DUMP and RESTORE, TTLs kept) and the
    /// step runs there whole (its commands, checks, key table and failure menu). The steps
    /// right after it that need newer commands too are offered on the same server, from the
    /// state it left there (lesson 04's per-field TTL steps build on each other). Then the
    /// server is stopped, with what the steps made on it. `None`: the step goes its usual way
    /// (and is skipped, as before); otherwise how each step walked there ended.
    async fn on_private_valkey(&mut self, i: usize) -> Result<Option<Vec<(usize, StepEnd)>>> {
        let lesson = self.lesson;
        let n = lesson.steps.len();
        let Some((missing, binary)) = self.offerable(i).await? else {
            return Ok(None);
        };
        let step = &lesson.steps[i - 1];
        let namespace = self.engine.namespace.clone();
        // Started before asking: only a server that answers for the command is offered (what a
        // server has is asked of it, never read from its version). One that cannot be reached
        // or lacks the command too changes nothing: the step is skipped as without one.
        let Ok(throwaway) = crate::redis::throwaway::Throwaway::start_with(&binary, &[]).await
        else {
            return Ok(None);
        };
        let Ok(private) = throwaway.server(&namespace).await else {
            return Ok(None);
        };
        let Ok(mut engine) = Engine::new(&private, &namespace).await else {
            return Ok(None);
        };
        if !matches!(engine.unmet(step.requires.as_ref()).await, Ok(None)) {
            return Ok(None);
        }
        // The why on its own lines, flowed to the screen; the menu's question fits one line.
        let why = format!(
            "This step needs {}, which this server lacks. redislab can run it on a private valkey-server that it starts for this step and stops after (your server is not touched).",
            missing.join(" and ")
        );
        self.ctx(None).show(Event::Notice(&why)).await?;
        let question = "Run this step on a private valkey-server?";
        match self.ctx(None).ask(|p| p.run_elsewhere(question)).await? {
            None => return Ok(Some(vec![(i, StepEnd::Quit)])),
            Some(false) => return Ok(None),
            Some(true) => {}
        }
        let keys = self.engine.snapshot().await?;
        if let Err(e) = keys.restore_all(&mut engine.admin, &namespace, &[]).await {
            // A DUMP from a newer server than this valkey-server reads, say.
            let why = format!(
                "The lesson's keys could not be copied to the private valkey-server ({}), so the step cannot run there.",
                crate::untrusted::printable_str(&format!("{e:#}"))
            );
            self.ctx(None).show(Event::Notice(&why)).await?;
            return Ok(None);
        }
        // The learner's keys wait, lesson time stopped, while the steps run elsewhere.
        self.engine.freeze().await?;
        engine.vars = self.engine.vars.clone();
        engine.explain = self.engine.explain;
        engine.set_lesson_keys(&lesson.keys);
        engine.set_reading(true);
        let shown = format!(
            "{} {} · {}",
            private.product, private.version, private.display
        );
        self.ctx(None)
            .show(Event::OnPrivateServer {
                server: &shown,
                copied: keys.len(),
            })
            .await?;
        // The newer-command steps just before this one never left their keys on the learner's
        // server (they were skipped, or ran on a server now gone), and this one may start from
        // them (lesson 04's steps build on each other): they run there first, quietly, as a
        // resumed lesson replays the steps before it.
        let mut first = i;
        while first > 1 && self.offerable(first - 1).await?.is_some() {
            let earlier = &lesson.steps[first - 2];
            if !matches!(engine.unmet(earlier.requires.as_ref()).await, Ok(None)) {
                break;
            }
            first -= 1;
        }
        if first < i {
            Walker {
                engine: &mut engine,
                lesson,
                prompter: &mut *self.prompter,
                view: &mut *self.view,
                store: None,
                options: Options {
                    auto: false,
                    from_step: i,
                    answers: None,
                    quiz: false,
                    keep_until: 0,
                },
            }
            .replay_range(first, i)
            .await?;
            let why = if first + 1 == i {
                format!(
                    "Step {first}, which needs newer commands too, ran there first, quietly, as the lesson wrote it: this step starts from what it leaves."
                )
            } else {
                format!(
                    "Steps {first} to {}, which need newer commands too, ran there first, quietly, as the lesson wrote them: this step starts from what they leave.",
                    i - 1
                )
            };
            self.ctx(None).show(Event::Notice(&why)).await?;
        }
        let mut ends = Vec::new();
        let mut walked = 0;
        let mut k = i;
        loop {
            let end = self.walk_privately(&mut engine, k).await?;
            walked += 1;
            let go_on = matches!(end, StepEnd::Done { .. } | StepEnd::Skipped(_));
            ends.push((k, end));
            if !go_on || k == n {
                break;
            }
            // The next step, if it needs newer commands too, may run on this same server.
            let Some((missing, _)) = self.offerable(k + 1).await? else {
                break;
            };
            let next = &lesson.steps[k];
            if !matches!(engine.unmet(next.requires.as_ref()).await, Ok(None)) {
                break;
            }
            k += 1;
            self.header(k, n).await?;
            let why = format!(
                "This step needs {} too. It can run on the same private valkey-server, from the keys step {} left there.",
                missing.join(" and "),
                k - 1
            );
            self.ctx(None).show(Event::Notice(&why)).await?;
            match self
                .ctx(None)
                .ask(|p| p.run_elsewhere("Run this step there too?"))
                .await?
            {
                Some(true) => {}
                None => {
                    ends.push((k, StepEnd::Quit));
                    break;
                }
                Some(false) => {
                    let reason = self
                        .engine
                        .unmet(next.requires.as_ref())
                        .await?
                        .unwrap_or_else(|| "skipped by you".into());
                    ends.push((k, StepEnd::Skipped(reason)));
                    break;
                }
            }
        }
        drop(engine);
        drop(private);
        drop(throwaway);
        self.ctx(None)
            .show(Event::PrivateServerStopped {
                server: &shown,
                steps: walked,
            })
            .await?;
        Ok(Some(ends))
    }

    /// Step `k` walked on `engine` (a private server's): run, then the failure menu, whose retry
    /// and solution put back the keys the step found there.
    async fn walk_privately(&mut self, engine: &mut Engine<'_>, k: usize) -> Result<StepEnd> {
        let lesson = self.lesson;
        let step = &lesson.steps[k - 1];
        let mut walker = Walker {
            engine,
            lesson,
            prompter: &mut *self.prompter,
            view: &mut *self.view,
            store: None,
            options: Options {
                auto: false,
                from_step: k,
                answers: None,
                quiz: false,
                keep_until: 0,
            },
        };
        let before = Before {
            keys: walker.engine.snapshot().await?,
            vars: walker.engine.vars.clone(),
        };
        let end = steps::run(&mut walker.ctx(Some(&before.keys)), step).await?;
        let end = walker
            .until_settled(k, end, Some(&before), k, &mut Trail::default())
            .await?;
        walker.engine.close_transactions().await;
        // What the learner typed there leaves no state here: no later step is stranded by it.
        Ok(match end {
            StepEnd::Done {
                passed,
                failed_before,
                problems,
                ..
            } => StepEnd::Done {
                passed,
                failed_before,
                problems,
                typed_own: false,
            },
            other => other,
        })
    }

    /// Notes how a finished (or skipped) step went.
    async fn record(&mut self, i: usize, end: StepEnd, summary: &mut Summary) -> Result<()> {
        let step = &self.lesson.steps[i - 1];
        match end {
            StepEnd::Skipped(why) => {
                self.ctx(None).show(Event::Skipped(&why)).await?;
                summary.skipped_steps.push((i, why));
            }
            StepEnd::Done {
                passed,
                failed_before,
                problems,
                ..
            } => {
                summary
                    .exercise_problems
                    .extend(problems.into_iter().map(|p| (i, p)));
                if let Some(before) = failed_before {
                    summary.exercise_proofs.push((i, before, passed));
                }
                if !passed {
                    self.ctx(None)
                        .show(Event::FailedStep {
                            index: i,
                            title: &step.title,
                        })
                        .await?;
                    summary.failed_steps.push((i, step.title.clone()));
                }
            }
            StepEnd::Quit | StepEnd::Back => {}
        }
        Ok(())
    }

    /// The quiz after the last step, its score saved.
    async fn final_quiz(&mut self, summary: &mut Summary) -> Result<()> {
        let answers = self.options.answers.clone();
        match crate::runner::quiz::ask(&mut self.ctx(None), answers.as_deref(), summary).await? {
            Some((score, total)) => {
                self.ctx(None).show(Event::Score { score, total }).await?;
                if let Some(store) = self.store.as_deref_mut() {
                    store.record_quiz(&self.lesson.id, score, total)?;
                }
                summary.score = Some((score, total));
            }
            None => summary.quit_at = Some(self.lesson.steps.len() + 1),
        }
        Ok(())
    }

    /// Runs only the quiz; `None` if the learner left.
    pub async fn quiz(&mut self, summary: &mut Summary) -> Result<Option<(u32, u32)>> {
        let answers = self.options.answers.clone();
        let asked =
            crate::runner::quiz::ask(&mut self.ctx(None), answers.as_deref(), summary).await;
        // Lesson time stood still while the learner answered: give it back.
        let thawed = self.engine.thaw().await;
        let asked = asked?;
        thawed?;
        Ok(asked)
    }

    /// Review: step `i` (an exercise that needed its solution) once more, from the state the
    /// lesson reaches before it (the earlier steps replayed quietly). The learner types at the
    /// exercise prompt and the step's checks judge, as in the lesson.
    pub async fn review_step(mut self, i: usize) -> Result<Reviewed> {
        self.engine.set_reading(true);
        let reviewed = self.review_step_walk(i).await;
        let thawed = self.engine.thaw().await;
        let reviewed = reviewed?;
        thawed?;
        Ok(reviewed)
    }

    async fn review_step_walk(&mut self, i: usize) -> Result<Reviewed> {
        let lesson = self.lesson;
        let n = lesson.steps.len();
        let Some(step) = lesson.steps.get(i.wrapping_sub(1)) else {
            return Ok(Reviewed::Unavailable(format!("has no step {i}")));
        };
        for requires in [lesson.requires.as_ref(), step.requires.as_ref()] {
            if let Some(reason) = self.engine.unmet(requires).await? {
                return Ok(Reviewed::Unavailable(reason));
            }
        }
        self.engine.set_lesson_keys(&lesson.keys);
        self.engine.clear_lesson_keys().await?;
        self.engine.run_quiet(&lesson.setup).await?;
        self.replay(i).await?;
        let before = self.engine.snapshot().await?;
        self.header(i, n).await?;
        let end = steps::run(&mut self.ctx(Some(&before)), step).await?;
        self.engine.close_transactions().await;
        Ok(match end {
            StepEnd::Done {
                passed, typed_own, ..
            } => {
                if passed && typed_own {
                    Reviewed::Right
                } else {
                    Reviewed::Wrong
                }
            }
            StepEnd::Skipped(_) | StepEnd::Back => Reviewed::Skipped,
            StepEnd::Quit => Reviewed::Left,
        })
    }

    /// Review: quiz question `number` once more, with vary case `case` (`given`: grade this
    /// choice instead of asking). `Some(right)`, or `None` if the learner left.
    pub async fn ask_again(
        &mut self,
        number: usize,
        case: usize,
        given: Option<usize>,
        summary: &mut Summary,
    ) -> Result<Option<bool>> {
        self.engine.set_lesson_keys(&self.lesson.keys);
        let asked =
            crate::runner::quiz::ask_again(&mut self.ctx(None), number, case, given, summary).await;
        let thawed = self.engine.thaw().await;
        let asked = asked?;
        thawed?;
        Ok(asked)
    }

    async fn header(&mut self, i: usize, n: usize) -> Result<()> {
        let step = &self.lesson.steps[i - 1];
        let text = self.ctx(None).soft(&step.text);
        self.ctx(None)
            .show(Event::StepHeader {
                index: i,
                steps: n,
                title: &step.title,
                kind: step.kind.name(),
                text: &text,
            })
            .await
    }
}
