//! One file per step kind, and the one end of step they all go through. A kind does its own
//! work (run commands, time a comparison, race workers ...) and returns `Ran`; `finish` then
//! checks the result, shows the key table by the one rule below, and says what to look at.
//!
//! The key table rule (LESSONS.md states it too): after every step the table shows the lesson's
//! keys, the step's `show_keys` first and marked, at most `KEY_TABLE_ROWS` rows; `show_keys: []`
//! hides it.

mod compare;
mod exercise;
mod race;
mod run;
mod scenario;
mod wait;

use std::collections::BTreeMap;

use anyhow::Result;

use crate::lesson::model::{CommandSpec, Lesson, Step, StepKind};
use crate::runner::checks::CheckResult;
use crate::runner::seam::{Event, Planned, Prompter, StepAction, View};
use crate::runner::snapshot::Snapshot;
use crate::runner::{Engine, Executed};

/// Everything a step kind may use. The learner is reached only through `show` and `ask`, which
/// stop lesson time first: any output may end in the pager's "Enter for more", and every
/// question waits for a person, so no waiting point can let a TTL run out while they read.
pub struct Ctx<'c, 'e> {
    pub engine: &'c mut Engine<'e>,
    pub lesson: &'c Lesson,
    prompter: &'c mut dyn Prompter,
    view: &'c mut dyn View,
    pub auto: bool,
    /// The lesson's keys as this step found them (interactive walks only).
    pub before: Option<&'c Snapshot>,
}

/// How a step kind's own work ended.
pub enum Ran {
    /// Done: `finish` checks it.
    Done(Done),
    Skipped(String),
    /// The learner asked to go back to the previous step.
    Back,
    Quit,
}

#[derive(Default)]
pub struct Done {
    /// What ran, for reply checks.
    pub executed: Vec<Executed>,
    /// Whether `finish` should show `executed` (false when the replies were shown as typed).
    pub show_executed: bool,
    /// Numbers a compare, scenario or race reported, for metric checks.
    pub metrics: BTreeMap<String, f64>,
    /// For an exercise in `--auto`: did its checks fail before the solution ran?
    pub failed_before: Option<bool>,
    /// Lesson bugs found in `--auto` (a wrong answer accepted, a solution failing a trial).
    pub problems: Vec<String>,
    /// The learner's own commands (not the lesson's lines) made this state.
    pub typed_own: bool,
}

/// How the whole step ended.
pub enum StepEnd {
    Done {
        passed: bool,
        failed_before: Option<bool>,
        problems: Vec<String>,
        /// The learner's own commands made the state this step left.
        typed_own: bool,
    },
    Skipped(String),
    Back,
    Quit,
}

impl<'c, 'e> Ctx<'c, 'e> {
    /// A step's check results; with `--explain`, the commands they sent and their replies too.
    pub async fn show_checks(&mut self, results: &[CheckResult]) -> Result<()> {
        self.show(Event::Checks(results)).await?;
        if self.engine.explain {
            let prompt = self.engine.server.display.clone();
            self.show(Event::Explain {
                results,
                prompt: &prompt,
            })
            .await?;
        }
        Ok(())
    }

    pub fn new(
        engine: &'c mut Engine<'e>,
        lesson: &'c Lesson,
        prompter: &'c mut dyn Prompter,
        view: &'c mut dyn View,
        auto: bool,
        before: Option<&'c Snapshot>,
    ) -> Self {
        Ctx {
            engine,
            lesson,
            prompter,
            view,
            auto,
            before,
        }
    }

    /// Shows an event to the learner, lesson time stopped (the pager may wait on it). Lesson
    /// keys another client changed while time stood still are told first.
    pub async fn show(&mut self, event: Event<'_>) -> Result<()> {
        self.engine.freeze().await?;
        self.tell_changed_meanwhile();
        self.view.show(event);
        Ok(())
    }

    /// Asks the learner, lesson time stopped until they answer.
    pub async fn ask<T>(
        &mut self,
        question: impl FnOnce(&mut dyn Prompter) -> Result<T>,
    ) -> Result<T> {
        self.engine.freeze().await?;
        self.tell_changed_meanwhile();
        question(&mut *self.prompter)
    }

    /// Asks while lesson time runs: a wait step's countdown, the one place it visibly does.
    pub async fn ask_while_time_runs<T>(
        &mut self,
        question: impl FnOnce(&mut dyn Prompter) -> Result<T>,
    ) -> Result<T> {
        self.engine.thaw().await?;
        question(&mut *self.prompter)
    }

    /// A progress ticker for work that runs now (a race, a scenario): no one waits on it.
    pub fn ticker(&mut self, label: &str) -> Box<dyn crate::measure::Ticker> {
        self.view.ticker(label)
    }

    fn tell_changed_meanwhile(&mut self) {
        let changed = self.engine.take_changed_meanwhile();
        if changed.is_empty() {
            return;
        }
        let keys: Vec<String> = changed
            .iter()
            .map(|c| {
                format!(
                    "{} ({})",
                    crate::redis::render::printable_str(&c.key),
                    c.how
                )
            })
            .collect();
        let note = format!(
            "Another client changed lesson keys while you read: {}. Lesson time left them as that client did.",
            keys.join(", ")
        );
        self.view.show(Event::Notice(&note));
    }

    /// Text with variables filled in; a text naming a not-yet-saved variable shows as written.
    pub fn soft(&self, text: &str) -> String {
        self.engine
            .expand(text)
            .unwrap_or_else(|_| text.to_string())
    }

    /// The preview of command specs: the line and the client of each. Each argument is filled
    /// in on its own, as it will be sent (a `let` script stays one argument, shown quoted); an
    /// argument naming a value the step has not saved yet shows as written.
    /// A value an earlier command of the same list saves (`save_as`) is not known yet: it shows
    /// as `‹reply of command N›`, never as `${name}`.
    pub fn planned(&self, specs: &[CommandSpec]) -> Vec<Planned> {
        let mut saved: Vec<(String, usize)> = Vec::new();
        specs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut line = self.preview_line(c.line());
                for (name, n) in &saved {
                    line =
                        line.replace(&format!("${{{name}}}"), &format!("‹reply of command {n}›"));
                }
                if let Some(name) = c.save_as() {
                    saved.push((name.to_string(), i + 1));
                }
                Planned {
                    line,
                    connection: c.connection().map(str::to_string),
                }
            })
            .collect()
    }

    fn preview_line(&self, template: &str) -> String {
        let Ok(args) = crate::redis::tokenize::tokenize(template) else {
            return self.soft(template);
        };
        let filled: Vec<Vec<u8>> = args
            .into_iter()
            .map(|a| match String::from_utf8(a) {
                Ok(text) => self.soft(&text).into_bytes(),
                Err(e) => e.into_bytes(),
            })
            .collect();
        crate::redis::tokenize::display_args(&filled)
    }

    /// The learner's `help` word at a typing prompt: `help` alone lists the words, `help SET`
    /// shows the command's syntax from the server. `false`: the line was not a help request.
    pub async fn help(&mut self, line: &str, words: &str) -> Result<bool> {
        let mut parts = line.split_whitespace();
        let Some(first) = parts.next() else {
            return Ok(false);
        };
        if !(first.eq_ignore_ascii_case("help") || first == "?") {
            return Ok(false);
        }
        let topic: Vec<&str> = parts.collect();
        if topic.is_empty() {
            self.show(Event::Notice(words)).await?;
            return Ok(true);
        }
        let name = topic.join("|").to_ascii_lowercase();
        match crate::redis::docs::help(&mut self.engine.admin, &name).await? {
            Some(h) => self.show(Event::CommandHelp(&h)).await?,
            None => {
                let msg = format!("no documentation for {name:?} on this server");
                self.show(Event::Notice(&msg)).await?;
            }
        }
        Ok(true)
    }

    /// Asks whether to run a step that has nothing to type (compare, scenario, race). Lesson
    /// time stands still while the learner decides; it runs again with the step.
    pub async fn run_or_skip(&mut self, kind: &str) -> Result<Option<Ran>> {
        if self.auto {
            self.engine.thaw().await?;
            return Ok(None);
        }
        let action = self.ask(|p| p.step_action(kind)).await?;
        self.engine.thaw().await?;
        Ok(match action {
            StepAction::Quit => Some(Ran::Quit),
            StepAction::Back => Some(Ran::Back),
            StepAction::Skip => Some(Ran::Skipped("skipped by you".into())),
            _ => None,
        })
    }
}

/// Runs a race's or scenario's work until it is done or the learner presses Ctrl-C (`None`:
/// they leave; progress is kept). The progress bar goes either way.
pub async fn until_ctrl_c<T>(
    ticker: &dyn crate::measure::Ticker,
    work: impl std::future::Future<Output = Result<T>>,
) -> Option<Result<T>> {
    let out = tokio::select! {
        r = work => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    ticker.finish();
    out
}

/// Shows a race's or scenario's table; its metrics go to the step's checks.
pub async fn reported(
    ctx: &mut Ctx<'_, '_>,
    report: &crate::scenarios::ScenarioReport,
) -> Result<Ran> {
    ctx.show(Event::Report(report)).await?;
    Ok(Ran::Done(Done {
        metrics: report.metrics.clone(),
        ..Done::default()
    }))
}

/// How many times a timed step measures before its range checks count.
const MEASURES: usize = 3;

/// A step that times Redis (a compare step, a timed scenario). A busy machine makes one
/// measurement noisy, so when a range check on its figures misses, the step says which and
/// measures again, up to `MEASURES` times in all; the last measurement's figures are checked.
/// Every table stays on screen: the learner sees each measurement, not a hidden retry.
async fn measured(ctx: &mut Ctx<'_, '_>, step: &Step) -> Result<Ran> {
    let mut attempt = 1;
    loop {
        let ran = match &step.kind {
            StepKind::Compare {
                iterations,
                redis,
                sqlite,
            } => compare::run(ctx, *iterations, redis, sqlite).await?,
            StepKind::Scenario { scenario, params } => scenario::run(ctx, scenario, params).await?,
            _ => anyhow::bail!("internal error: step {} measures nothing", step.title),
        };
        let Ran::Done(done) = &ran else {
            return Ok(ran);
        };
        let misses = crate::runner::checks::range_misses(&step.checks, &done.metrics);
        if misses.is_empty() || attempt == MEASURES {
            return Ok(ran);
        }
        attempt += 1;
        let notice = format!(
            "{}. Timings are noisy while the machine is busy, so this is measured again ({attempt} of {MEASURES}).",
            misses.join("; ")
        );
        ctx.show(Event::Notice(&notice)).await?;
    }
}

/// Runs one step of any kind, start to end.
pub async fn run(ctx: &mut Ctx<'_, '_>, step: &Step) -> Result<StepEnd> {
    if let Some(reason) = ctx.engine.unmet(step.requires.as_ref()).await? {
        return Ok(StepEnd::Skipped(reason));
    }
    if let Some(reason) = ctx.engine.script_not_shipped(step) {
        return Ok(StepEnd::Skipped(reason));
    }
    ctx.engine.begin_step(step)?;
    let ran = match &step.kind {
        StepKind::Run { commands } => run::run(ctx, step, commands).await?,
        StepKind::Exercise { .. } => exercise::run(ctx, step).await?,
        StepKind::Compare { .. } => measured(ctx, step).await?,
        StepKind::Scenario { scenario, .. } if crate::scenarios::is_timed(scenario) => {
            measured(ctx, step).await?
        }
        StepKind::Scenario { scenario, params } => scenario::run(ctx, scenario, params).await?,
        StepKind::Wait { seconds, keys } => wait::run(ctx, step, *seconds, keys.as_ref()).await?,
        StepKind::Race(race) => race::run(ctx, race).await?,
    };
    end_of(ctx, step, ran).await
}

/// One of a typed step's `accepts` variants, sent as a learner would type it in place of the
/// step's own commands (a run step's line N on command N's connection, its reply saved where
/// command N saves one), then the usual end: the step's checks must pass. An exercise's
/// variant must also pass its trials and choose no value a later step gives another client,
/// as the learner's typing must; what refuses it is listed in `problems`.
pub async fn accept(ctx: &mut Ctx<'_, '_>, step: &Step, variant: &[String]) -> Result<StepEnd> {
    if let Some(reason) = ctx.engine.unmet(step.requires.as_ref()).await? {
        return Ok(StepEnd::Skipped(reason));
    }
    if let Some(reason) = ctx.engine.script_not_shipped(step) {
        return Ok(StepEnd::Skipped(reason));
    }
    ctx.engine.begin_step(step)?;
    let mut executed = Vec::new();
    let mut problems = Vec::new();
    match &step.kind {
        StepKind::Run { commands } => {
            for (line, spec) in variant.iter().zip(commands) {
                executed.push(
                    ctx.engine
                        .run_line(line, spec.connection(), spec.save_as())
                        .await?,
                );
            }
        }
        StepKind::Exercise { trials, .. } => {
            for line in variant {
                executed.push(ctx.engine.run_line(line, None, None).await?);
            }
            let specs: Vec<CommandSpec> = variant.iter().cloned().map(CommandSpec::Line).collect();
            let outcomes = crate::runner::trial::run_all(
                ctx.engine,
                &step.checks,
                trials,
                &crate::runner::trial::Answer::Lesson(&specs),
            )
            .await?;
            for o in outcomes.iter().filter(|o| !o.passed) {
                problems.push(format!("the trial \"{}\" refuses it ({})", o.given, o.why));
            }
            if let Some(why) = exercise::collides(ctx, step).await? {
                problems.push(format!("it is refused: {why}"));
            }
        }
        _ => anyhow::bail!(
            "step {}: only a run step or an exercise is typed, so only they take `accepts`",
            step.title
        ),
    }
    for e in &executed {
        if let Some(why) = &e.refused {
            problems.push(format!("{} is refused: {why}", e.line));
        }
    }
    let ran = Ran::Done(Done {
        executed,
        show_executed: true,
        problems,
        typed_own: true,
        ..Done::default()
    });
    end_of(ctx, step, ran).await
}

/// The lesson's own answer to a step, run for the learner: a run step's commands or an
/// exercise's solution (the caller has put the keys back first), then the usual end.
pub async fn solve(ctx: &mut Ctx<'_, '_>, step: &Step) -> Result<StepEnd> {
    ctx.engine.begin_step(step)?;
    let specs = match &step.kind {
        StepKind::Run { commands } => commands,
        StepKind::Exercise { solution, .. } => solution,
        _ => return run(ctx, step).await,
    };
    let planned = ctx.planned(specs);
    ctx.show(Event::Solution(&planned)).await?;
    let ran = Ran::Done(Done {
        executed: ctx.engine.run_commands(specs).await?,
        show_executed: true,
        ..Done::default()
    });
    end_of(ctx, step, ran).await
}

async fn end_of(ctx: &mut Ctx<'_, '_>, step: &Step, ran: Ran) -> Result<StepEnd> {
    Ok(match ran {
        Ran::Quit => StepEnd::Quit,
        Ran::Back => StepEnd::Back,
        Ran::Skipped(why) => StepEnd::Skipped(why),
        Ran::Done(done) => {
            keep(ctx.engine, step).await?;
            let passed = finish(ctx, step, &done).await?;
            ctx.show(Event::Judged { passed }).await?;
            StepEnd::Done {
                passed,
                failed_before: done.failed_before,
                problems: done.problems,
                typed_own: done.typed_own,
            }
        }
    })
}

/// An exercise's `keep`: variables read from the state the learner's answer left, so later
/// steps quote what the learner typed. (Replies are tainted values: never code.)
pub async fn keep(engine: &mut crate::runner::Engine<'_>, step: &Step) -> Result<()> {
    if let StepKind::Exercise { keep, .. } = &step.kind {
        for (name, line) in keep {
            engine.run_line(line, None, Some(name)).await?;
        }
    }
    Ok(())
}

/// The one end of every step: replies, checks, the key table, and the `after` text (only when
/// the checks passed: it describes what the learner should now see).
pub async fn finish(ctx: &mut Ctx<'_, '_>, step: &Step, done: &Done) -> Result<bool> {
    let replies: Vec<_> = done.executed.iter().map(|e| e.reply.clone()).collect();
    let mut results = ctx
        .engine
        .check(&step.checks, &replies, &done.metrics)
        .await?;
    let lines: Vec<&str> = done.executed.iter().map(|x| x.line.as_str()).collect();
    crate::runner::why::explain(ctx.engine, &mut results, ctx.before, &lines, &replies).await?;
    if done.show_executed && !done.executed.is_empty() {
        ctx.show(Event::Executed(&done.executed)).await?;
    }
    if !results.is_empty() {
        ctx.show_checks(&results).await?;
    }
    ctx.engine.last_checks = results.clone();
    if step.show_keys.as_ref().is_none_or(|k| !k.is_empty()) {
        let keys = ctx.engine.key_table(ctx.lesson, Some(step)).await?;
        ctx.show(Event::Keys(&keys)).await?;
    }
    let passed = results.iter().all(|r| r.passed);
    if passed {
        if let Some(a) = &step.after {
            let text = ctx.soft(a);
            ctx.show(Event::After(&text)).await?;
        }
    }
    Ok(passed)
}

/// Option words a command's meaning turns on.
pub(super) const OPTIONS: &[&str] = &[
    "NX",
    "XX",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "GET",
    "GT",
    "LT",
    "CH",
    "INCR",
    "MAXLEN",
    "MINID",
    "LIMIT",
    "WITHSCORES",
    "REV",
    "BYSCORE",
    "BYLEX",
    "COUNT",
    "BLOCK",
    "NOACK",
    "FNX",
    "FXX",
    "IFEQ",
    "~",
    "=",
    "*",
    "$",
    ">",
];

/// Said when Redis refused a command queued inside MULTI.
pub const DOOMED: &str = "Redis refused that command while queueing it, so this transaction is doomed: EXEC will now answer EXECABORT and run nothing. Type `retry` to discard it and start the step over.";
