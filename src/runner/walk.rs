//! Walks a lesson from a step to the end: runs each step through the engine, asks the learner
//! (through a `Prompter`, so tests and `--auto` need no terminal), saves progress after every
//! step, and ends with the quiz. Output goes through `term`; `quiet` silences it for
//! `validate --live`.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::lesson::model::{Check, CommandSpec, Lesson, Step, StepKind};
use crate::progress::Store;
use crate::quiz;
use crate::redis::guard::{Verdict, check as guard};
use crate::redis::render::render;
use crate::redis::tokenize::tokenize;
use crate::runner::checks::CheckResult;
use crate::runner::{Engine, Executed, compare};
use crate::scenarios::{self, ScenarioContext};
use crate::term;

/// What the learner wants to do with a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    Run,
    TypeIt,
    Skip,
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExerciseAction {
    Type(String),
    Hint,
    Solution,
    Skip,
    Quit,
}

/// Every question the walk asks. `Ok(None)` / `Quit` mean the learner left (Esc or Ctrl-C).
pub trait Prompter {
    fn step_action(&mut self, kind: &str) -> Result<StepAction>;
    fn command(&mut self, prompt: &str, suggestion: &str) -> Result<Option<String>>;
    fn exercise_action(&mut self, misses: usize) -> Result<ExerciseAction>;
    fn choose(&mut self, question: &str, choices: &[String]) -> Result<Option<usize>>;
    fn confirm(&mut self, question: &str, default: bool) -> Result<Option<bool>>;
    /// Counts down, showing `watch()` (the watched keys' TTLs) as it goes. Returns the seconds
    /// still to go when the learner asked to fast-forward (0 if the wait ran out), `None` on quit.
    fn countdown(&mut self, seconds: u64, watch: &mut dyn FnMut() -> String)
    -> Result<Option<u64>>;
}

pub struct Options {
    pub auto: bool,
    pub quiet: bool,
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
    pub store: Option<&'a mut Store>,
    pub options: Options,
}

fn kind_name(k: &StepKind) -> &'static str {
    match k {
        StepKind::Run { .. } => "run",
        StepKind::Exercise { .. } => "exercise",
        StepKind::Compare { .. } => "compare",
        StepKind::Scenario { .. } => "scenario",
        StepKind::Wait { .. } => "wait",
    }
}

enum StepEnd {
    Done { passed: bool },
    Skipped(String),
    Quit,
}

impl Walker<'_, '_> {
    fn say(&self, text: &str) {
        if !self.options.quiet {
            term::out(text);
        }
    }

    /// Text with variables filled in; a text naming a not-yet-saved variable shows as written.
    fn soft(&self, text: &str) -> String {
        self.engine
            .expand(text)
            .unwrap_or_else(|_| text.to_string())
    }

    /// Replays steps before `from` quietly (commands only) so state and saved values exist.
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
        self.engine.run_quiet(&lesson.setup).await?;
        let from = self.options.from_step.clamp(1, n.max(1));
        if from > 1 {
            self.replay(from).await?;
        }
        if from == 1 {
            let shown = Lesson {
                introduction: self.soft(&lesson.introduction),
                ..lesson.clone()
            };
            self.say(&term::lesson::intro(&shown, n));
        } else {
            self.say(&format!(
                "\n{}\n",
                term::dim(&format!(
                    "Lesson {} · resuming at step {from}/{n}",
                    lesson.id
                ))
            ));
        }
        for i in from..=n {
            let step = &lesson.steps[i - 1];
            self.say(&term::lesson::step_header(
                i,
                n,
                &step.title,
                kind_name(&step.kind),
                &self.soft(&step.text),
            ));
            match self.step(i, step, &mut summary).await? {
                StepEnd::Quit => {
                    summary.quit_at = Some(i);
                    return Ok(summary);
                }
                StepEnd::Skipped(why) => {
                    self.say(&term::lesson::skipped(&why));
                    summary.skipped_steps.push((i, why));
                }
                StepEnd::Done { passed } => {
                    if !passed {
                        self.say(&term::lesson::failed_step(i, &step.title));
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
            match self.quiz(&mut summary).await? {
                Some((score, total)) => {
                    self.say(&term::lesson::score(score, total));
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

    async fn show_results(
        &mut self,
        step: &Step,
        executed: &[Executed],
        results: &[CheckResult],
    ) -> Result<()> {
        if !self.options.quiet {
            term::out(&term::lesson::executed(executed));
            if !results.is_empty() {
                term::out(&term::lesson::checks(results));
            }
            if step.show_keys.as_ref().is_none_or(|k| !k.is_empty()) {
                let keys = self.engine.key_table(self.lesson, Some(step)).await?;
                term::out(&term::lesson::keys(&keys));
            }
            if let Some(a) = &step.after {
                term::out(&term::lesson::after(
                    &self.engine.expand(a).unwrap_or_else(|_| a.clone()),
                ));
            }
        }
        Ok(())
    }

    async fn check(
        &mut self,
        checks: &[Check],
        executed: &[Executed],
        metrics: &BTreeMap<String, f64>,
    ) -> Result<Vec<CheckResult>> {
        let replies: Vec<_> = executed.iter().map(|e| e.reply.clone()).collect();
        self.engine.check(checks, &replies, metrics).await
    }

    async fn step(&mut self, i: usize, step: &Step, summary: &mut Summary) -> Result<StepEnd> {
        if let Some(reason) = self.engine.unmet(step.requires.as_ref()).await? {
            return Ok(StepEnd::Skipped(reason));
        }
        self.engine.begin_step(step)?;
        match &step.kind {
            StepKind::Run { commands } => self.run_step(step, commands).await,
            StepKind::Exercise {
                goal,
                hints,
                solution,
            } => self.exercise(i, step, goal, hints, solution, summary).await,
            StepKind::Compare {
                iterations,
                redis,
                sqlite,
            } => {
                if !self.options.auto {
                    match self.prompter.step_action("compare")? {
                        StepAction::Quit => return Ok(StepEnd::Quit),
                        StepAction::Skip => return Ok(StepEnd::Skipped("skipped by you".into())),
                        _ => {}
                    }
                }
                let setup: Vec<CommandSpec> =
                    redis.setup.iter().cloned().map(CommandSpec::Line).collect();
                self.engine.run_quiet(&setup).await?;
                let commands = redis
                    .commands
                    .iter()
                    .map(|c| self.engine.expand(c))
                    .collect::<Result<Vec<_>>>()?;
                let iterations = (*iterations).max(1);
                let r = compare::time_redis_isolated(
                    self.engine.server.client.clone(),
                    redis.clone(),
                    commands,
                    iterations,
                )
                .await?;
                let sqlite = sqlite.clone();
                let (m, w) = tokio::task::spawn_blocking(move || {
                    compare::time_sqlite_modes(&sqlite, iterations)
                })
                .await??;
                let report = compare::report(iterations, r, m, w);
                self.say(&term::lesson::compare(&report));
                let results = self.check(&step.checks, &[], &report.metrics).await?;
                self.say(&term::lesson::checks(&results));
                if let Some(a) = &step.after {
                    self.say(&term::lesson::after(&self.engine.expand(a)?));
                }
                Ok(StepEnd::Done {
                    passed: results.iter().all(|r| r.passed),
                })
            }
            StepKind::Scenario { scenario, params } => {
                if !self.options.auto {
                    match self.prompter.step_action("scenario")? {
                        StepAction::Quit => return Ok(StepEnd::Quit),
                        StepAction::Skip => return Ok(StepEnd::Skipped("skipped by you".into())),
                        _ => {}
                    }
                }
                let bar = term::progress::Bar::new(self.options.quiet, scenario);
                let pb = &bar.0;
                let ns = self.engine.namespace.clone();
                let ctx = ScenarioContext {
                    server: self.engine.server,
                    namespace: &ns,
                    ticker: &bar,
                };
                let report = tokio::select! {
                    r = scenarios::run(scenario, params, &ctx) => r?,
                    _ = tokio::signal::ctrl_c() => {
                        pb.finish_and_clear();
                        return Ok(StepEnd::Quit);
                    }
                };
                pb.finish_and_clear();
                self.say(&term::lesson::scenario(&report));
                let results = self.check(&step.checks, &[], &report.metrics).await?;
                self.say(&term::lesson::checks(&results));
                if step.show_keys.as_ref().is_some_and(|k| !k.is_empty()) {
                    let keys = self.engine.key_table(self.lesson, Some(step)).await?;
                    self.say(&term::lesson::keys(&keys));
                }
                if let Some(a) = &step.after {
                    self.say(&term::lesson::after(&self.engine.expand(a)?));
                }
                Ok(StepEnd::Done {
                    passed: results.iter().all(|r| r.passed),
                })
            }
            StepKind::Wait { seconds, keys } => {
                if step.show_keys.as_ref().is_none_or(|k| !k.is_empty()) {
                    let before = self.engine.key_table(self.lesson, Some(step)).await?;
                    self.say(&term::lesson::keys(&before));
                }
                let remaining = if self.options.auto {
                    *seconds
                } else {
                    let mut watch = self.ttl_watcher(keys.as_ref())?;
                    match self.prompter.countdown(*seconds, &mut watch)? {
                        None => return Ok(StepEnd::Quit),
                        Some(r) => r,
                    }
                };
                if remaining > 0 {
                    let expired = self
                        .engine
                        .fast_forward(self.lesson, keys.as_ref(), remaining)
                        .await?;
                    self.say(&format!(
                        "{}\n",
                        term::dim(&format!(
                            "fast-forwarded {remaining}s: every TTL shortened with PEXPIRE ({expired} key(s) expired)"
                        ))
                    ));
                }
                let results = self.check(&step.checks, &[], &BTreeMap::new()).await?;
                self.show_results(step, &[], &results).await?;
                Ok(StepEnd::Done {
                    passed: results.iter().all(|r| r.passed),
                })
            }
        }
    }

    /// A function that reads the watched keys' TTLs (`lab:x 4.8s`), for the countdown.
    fn ttl_watcher(&self, keys: Option<&Vec<String>>) -> Result<impl FnMut() -> String + use<>> {
        let patterns = keys.cloned().unwrap_or_else(|| self.lesson.keys.clone());
        let exact: Vec<String> = patterns
            .iter()
            .map(|p| self.engine.expand(p))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|p| !p.contains('*'))
            .take(3)
            .collect();
        let handle = tokio::runtime::Handle::current();
        let mut conn = self.engine.admin.clone();
        Ok(move || {
            handle.block_on(async {
                let mut parts = Vec::new();
                for k in &exact {
                    let pttl: i64 = redis::cmd("PTTL")
                        .arg(k)
                        .query_async(&mut conn)
                        .await
                        .unwrap_or(-2);
                    let shown = match pttl {
                        -2 => "gone".to_string(),
                        -1 => "no TTL".to_string(),
                        ms => crate::inspect::human_ttl(Some(ms)),
                    };
                    parts.push(format!("{k} {shown}"));
                }
                parts.join(" · ")
            })
        })
    }

    async fn run_step(&mut self, step: &Step, commands: &[CommandSpec]) -> Result<StepEnd> {
        // A command may use a value saved by an earlier command of the same step: the preview
        // shows it as written, and it is filled in just before it runs.
        let lines: Vec<String> = commands.iter().map(|c| self.soft(c.line())).collect();
        self.say(&term::lesson::preview(&lines));
        let action = if self.options.auto {
            StepAction::Run
        } else {
            self.prompter.step_action("run")?
        };
        let executed = match action {
            StepAction::Quit => return Ok(StepEnd::Quit),
            StepAction::Skip => return Ok(StepEnd::Skipped("skipped by you".into())),
            StepAction::Run => self.engine.run_commands(commands).await?,
            StepAction::TypeIt => {
                let mut out = Vec::new();
                for spec in commands {
                    // Expanded now, so values saved by the commands before it are filled in.
                    let line = self.engine.expand(spec.line())?;
                    loop {
                        let Some(typed) = self.prompter.command("redis>", &line)? else {
                            return Ok(StepEnd::Quit);
                        };
                        let typed = if typed.trim().is_empty() {
                            line.clone()
                        } else {
                            typed
                        };
                        if let Some(why) = self.refuse(&typed).await? {
                            term::notice(&format!("(refused) {why}"));
                            continue;
                        }
                        out.push(
                            self.engine
                                .run_line(&typed, spec.connection(), spec.save_as())
                                .await?,
                        );
                        break;
                    }
                }
                out
            }
        };
        let results = self
            .check(&step.checks, &executed, &BTreeMap::new())
            .await?;
        self.show_results(step, &executed, &results).await?;
        Ok(StepEnd::Done {
            passed: results.iter().all(|r| r.passed),
        })
    }

    /// Why a typed command may not run (the namespace rule), if so.
    async fn refuse(&mut self, line: &str) -> Result<Option<String>> {
        let Ok(args) = tokenize(line) else {
            return Ok(Some("Invalid argument(s)".into()));
        };
        if args.is_empty() {
            return Ok(Some("type a command".into()));
        }
        let managed = self.engine.server.is_managed();
        let ns = self.engine.namespace.clone();
        Ok(
            match guard(&mut self.engine.admin, &args, &ns, managed).await? {
                Verdict::Allow => None,
                Verdict::Subscribe => Some(
                    "SUBSCRIBE waits for messages until Ctrl-C: try it in `redislab sandbox`"
                        .into(),
                ),
                Verdict::Refuse(why) => Some(why),
            },
        )
    }

    async fn exercise(
        &mut self,
        i: usize,
        step: &Step,
        goal: &str,
        hints: &[String],
        solution: &[CommandSpec],
        summary: &mut Summary,
    ) -> Result<StepEnd> {
        let goal = self.engine.expand(goal)?;
        self.say(&format!("  {} {}\n", term::heading("Your turn:"), goal));
        let before = self.check(&step.checks, &[], &BTreeMap::new()).await?;
        let failed_before = before.iter().any(|r| !r.passed);
        let solution_lines: Vec<String> = solution.iter().map(|c| self.soft(c.line())).collect();
        if self.options.auto {
            let executed = self.engine.run_commands(solution).await?;
            let results = self
                .check(&step.checks, &executed, &BTreeMap::new())
                .await?;
            let passed = results.iter().all(|r| r.passed);
            summary.exercise_proofs.push((i, failed_before, passed));
            self.show_results(step, &executed, &results).await?;
            return Ok(StepEnd::Done { passed });
        }
        let mut misses = 0;
        let mut hint_at = 0;
        loop {
            match self.prompter.exercise_action(misses)? {
                ExerciseAction::Quit => return Ok(StepEnd::Quit),
                ExerciseAction::Skip => return Ok(StepEnd::Skipped("skipped by you".into())),
                ExerciseAction::Hint => {
                    match hints.get(hint_at) {
                        Some(h) => self.say(&format!(
                            "  {} {}\n",
                            term::warn("Hint:"),
                            self.engine.expand(h)?
                        )),
                        None => self.say(&format!(
                            "  {}\n",
                            term::dim("No more hints: ask for the solution if you are stuck.")
                        )),
                    }
                    hint_at += 1;
                }
                ExerciseAction::Solution => {
                    self.say(&format!(
                        "  {}\n{}",
                        term::heading("Solution:"),
                        term::lesson::preview(&solution_lines)
                    ));
                    let executed = self.engine.run_commands(solution).await?;
                    let results = self
                        .check(&step.checks, &executed, &BTreeMap::new())
                        .await?;
                    self.show_results(step, &executed, &results).await?;
                    return Ok(StepEnd::Done {
                        passed: results.iter().all(|r| r.passed),
                    });
                }
                ExerciseAction::Type(line) => {
                    if let Some(why) = self.refuse(&line).await? {
                        term::notice(&format!("(refused) {why}"));
                        continue;
                    }
                    let executed = vec![self.engine.run_line(&line, None, None).await?];
                    self.say(&render(&executed[0].reply));
                    let results = self
                        .check(&step.checks, &executed, &BTreeMap::new())
                        .await?;
                    if results.iter().all(|r| r.passed) {
                        self.say(&format!(
                            "  {}\n",
                            term::good("Correct: Redis is now in the state the goal asked for.")
                        ));
                        self.show_results(step, &[], &results).await?;
                        return Ok(StepEnd::Done { passed: true });
                    }
                    misses += 1;
                    self.say(&term::lesson::checks(&results));
                    if misses >= 3 {
                        self.say(&format!(
                            "  {}\n{}",
                            term::warn("Three tries: here is the solution."),
                            term::lesson::preview(&solution_lines)
                        ));
                        if self.prompter.confirm("Run the solution now?", true)? != Some(false) {
                            let executed = self.engine.run_commands(solution).await?;
                            let results = self
                                .check(&step.checks, &executed, &BTreeMap::new())
                                .await?;
                            self.show_results(step, &executed, &results).await?;
                            return Ok(StepEnd::Done {
                                passed: results.iter().all(|r| r.passed),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Runs the quiz; `None` if the learner left.
    pub async fn quiz(&mut self, summary: &mut Summary) -> Result<Option<(u32, u32)>> {
        let questions = &self.lesson.quiz;
        let total = questions.len() as u32;
        let mut score = 0;
        self.say(&format!(
            "\n{}\n",
            term::heading(&format!("Quiz · {} questions", questions.len()))
        ));
        for (qi, q) in questions.iter().enumerate() {
            let predict: Vec<String> = q
                .predict
                .iter()
                .flatten()
                .map(|c| self.engine.expand(c))
                .collect::<Result<_>>()?;
            let choices: Vec<String> = q
                .choices
                .iter()
                .map(|c| self.engine.expand(c))
                .collect::<Result<_>>()?;
            self.say(&term::lesson::question(
                qi + 1,
                questions.len(),
                &self.engine.expand(&q.question)?,
                &predict,
            ));
            let chosen = match &self.options.answers {
                Some(a) => a[qi],
                None => match self.prompter.choose(&q.question, &choices)? {
                    Some(c) => c,
                    None => return Ok(None),
                },
            };
            if self.options.answers.is_some() {
                self.say(&format!(
                    "  {} {}\n",
                    term::dim("your answer:"),
                    choices.get(chosen - 1).cloned().unwrap_or_default()
                ));
            }
            let (right, actual) = if q.predict.is_some() {
                let setup: Vec<CommandSpec> =
                    q.setup.iter().cloned().map(CommandSpec::Line).collect();
                self.engine.run_quiet(&setup).await?;
                let mut last = None;
                for line in &predict {
                    last = Some(self.engine.run_line(line, None, None).await?.reply);
                }
                let actual = last.map(|v| render(&v)).unwrap_or_default();
                let expanded = crate::lesson::model::Question {
                    choices: choices.clone(),
                    ..q.clone()
                };
                let right = quiz::predicted_choice(&expanded, &actual);
                if right.is_none() {
                    summary
                        .stale_predictions
                        .push((qi + 1, actual.trim_end().to_string()));
                }
                (right, Some(actual))
            } else {
                (q.answer, None)
            };
            let g = quiz::grade(chosen, right, actual);
            if g.correct {
                score += 1;
            }
            let right_text = right.and_then(|r| choices.get(r - 1)).map(String::as_str);
            self.say(&term::lesson::graded(
                g.correct,
                right_text,
                g.actual.as_deref(),
                &self.engine.expand(&q.explanation)?,
            ));
        }
        Ok(Some((score, total)))
    }
}
