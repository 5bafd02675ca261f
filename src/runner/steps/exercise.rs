//! `kind: exercise`: the learner types until Redis is in the goal state. Each typed command's
//! reply shows at once, then the checks judge the state, and the learner's commands are
//! replayed against the exercise's `trials` (other states, in scratch keys), so an answer that
//! leaves out the option being taught is refused with a sentence saying what it would break.
//! Hints on request; the solution on request or after three misses, run on the state the
//! exercise started from. `--auto` proves the exercise instead: its declared wrong answers are
//! refused and its solution passes every trial.

use anyhow::Result;

use super::{Ctx, Done, Ran};
use crate::lesson::model::{CommandSpec, Step, StepKind, WrongAnswer};
use crate::runner::seam::{Event, ExerciseAction};
use crate::runner::snapshot::Snapshot;
use crate::runner::trial::{self, Answer};

/// What the exercise prompt understands besides Redis commands.
const EXERCISE_WORDS: &str = "type a Redis command · `hint` · `goal` shows what is still missing · `solution` · `retry` puts the keys back · `help SET` shows a command's syntax · `skip` · `back` · `quit` (progress is saved)";

pub async fn run(ctx: &mut Ctx<'_, '_>, step: &Step) -> Result<Ran> {
    let StepKind::Exercise {
        goal,
        hints,
        solution,
        wrong_answers,
        round_trips_why,
        ..
    } = &step.kind
    else {
        unreachable!("exercise::run is only called for exercises")
    };
    let goal = ctx.engine.expand(goal)?;
    ctx.show(Event::Goal(&goal)).await?;
    let before = ctx
        .engine
        .check(&step.checks, &[], &Default::default())
        .await?;
    let failed_before = before.iter().any(|r| !r.passed);
    if ctx.auto {
        return prove(ctx, step, solution, failed_before).await;
    }
    let mut misses = 0;
    let mut hint_at = 0;
    // What the learner typed since the exercise (or its last reset) began: replayed in trials.
    let mut typed: Vec<String> = Vec::new();
    // Round trips of those commands, for the tape's total at the end.
    let mut trips: u64 = 0;
    let mut in_transaction = false;
    loop {
        // Inside MULTI, redis-cli's prompt says so.
        let prompt = if in_transaction {
            "redis(TX)>"
        } else {
            "redis>"
        };
        match ctx.ask(|p| p.exercise_action(misses, prompt)).await? {
            ExerciseAction::Quit => return Ok(Ran::Quit),
            ExerciseAction::Skip => return Ok(Ran::Skipped("skipped by you".into())),
            ExerciseAction::Back => return Ok(Ran::Back),
            ExerciseAction::Hint => {
                let hint = hints.get(hint_at).map(|h| ctx.soft(h));
                ctx.show(Event::Hint(hint.as_deref())).await?;
                hint_at += 1;
            }
            ExerciseAction::Goal => {
                ctx.show(Event::Goal(&goal)).await?;
                let now = ctx
                    .engine
                    .check(&step.checks, &[], &Default::default())
                    .await?;
                ctx.show(Event::Notice(
                    "Where Redis stands against the goal (✗: still to do):",
                ))
                .await?;
                ctx.show(Event::Checks(&now)).await?;
            }
            ExerciseAction::Solution => {
                let planned = ctx.planned(solution);
                ctx.show(Event::Solution(&planned)).await?;
                return run_solution(ctx, solution).await;
            }
            ExerciseAction::Type(line) => {
                if ctx.help(&line, EXERCISE_WORDS).await? {
                    continue;
                }
                if line.trim().eq_ignore_ascii_case("retry") {
                    ctx.show(Event::Retried).await?;
                    start_over(ctx, &mut typed, &mut in_transaction, "start again").await?;
                    trips = 0;
                    continue;
                }
                let executed = ctx.engine.run_typed(&line, None).await?;
                if let Some(why) = &executed.refused {
                    ctx.show(Event::Refused(why)).await?;
                    continue;
                }
                typed.push(line.clone());
                ctx.show(Event::Reply(&executed.reply)).await?;
                if let Some(t) = &executed.trip {
                    trips += t.round_trips;
                    ctx.show(Event::Tape(t)).await?;
                }
                if in_transaction && matches!(executed.reply, redis::Value::ServerError(_)) {
                    ctx.show(Event::Notice(super::DOOMED)).await?;
                }
                // Inside MULTI the commands are only queued: judge after EXEC (or DISCARD).
                if track_transaction(&line, &mut in_transaction) {
                    continue;
                }
                if judge(ctx, step, &typed, &executed.reply).await? {
                    ctx.show(Event::Correct).await?;
                    // Each line of the lesson's solution is one round trip.
                    let why = round_trips_why.as_deref().map(|w| ctx.soft(w));
                    ctx.show(Event::TapeTotal {
                        yours: trips,
                        model: solution.len() as u64,
                        why: why.as_deref(),
                    })
                    .await?;
                    return Ok(Ran::Done(Done {
                        executed: vec![executed],
                        typed_own: true,
                        ..Done::default()
                    }));
                }
                ctx.show(Event::Missed(&line)).await?;
                if let Some(w) = matching_wrong_answer(ctx, wrong_answers, &line) {
                    ctx.show(Event::WrongAnswer(&w)).await?;
                }
                misses += 1;
                // Start the next try from the exercise's own state, so an earlier try cannot
                // make a right answer look wrong.
                if ctx.before.is_some() {
                    start_over(ctx, &mut typed, &mut in_transaction, "try again").await?;
                    trips = 0;
                }
                if misses >= 3 && offer_solution(ctx, solution).await? {
                    return run_solution(ctx, solution).await;
                }
            }
        }
    }
}

/// Puts the keys back as the exercise found them and forgets the tries typed so far.
async fn start_over(
    ctx: &mut Ctx<'_, '_>,
    typed: &mut Vec<String>,
    in_transaction: &mut bool,
    then: &str,
) -> Result<()> {
    if let Some(before) = ctx.before {
        ctx.engine.restore(before).await?;
    }
    typed.clear();
    *in_transaction = false;
    let note = format!("The keys are back as the exercise found them: {then}.");
    ctx.show(Event::Notice(&note)).await?;
    Ok(())
}

/// Follows MULTI … EXEC in what the learner types; `true` while a transaction is open.
fn track_transaction(line: &str, in_transaction: &mut bool) -> bool {
    let word = line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    match word.as_str() {
        "MULTI" => *in_transaction = true,
        "EXEC" | "DISCARD" => *in_transaction = false,
        _ => {}
    }
    *in_transaction
}

/// Three misses: shows the solution and asks whether to run it.
async fn offer_solution(ctx: &mut Ctx<'_, '_>, solution: &[CommandSpec]) -> Result<bool> {
    let planned = ctx.planned(solution);
    ctx.show(Event::ThreeTries(&planned)).await?;
    Ok(ctx
        .ask(|p| p.confirm("Run the solution now?", true))
        .await?
        != Some(false))
}

/// Whether the learner's commands reached the goal and hold in every trial; shows why not.
async fn judge(
    ctx: &mut Ctx<'_, '_>,
    step: &Step,
    typed: &[String],
    reply: &redis::Value,
) -> Result<bool> {
    let mut results = ctx
        .engine
        .check(
            &step.checks,
            std::slice::from_ref(reply),
            &Default::default(),
        )
        .await?;
    if !results.iter().all(|r| r.passed) {
        let lines: Vec<&str> = typed.iter().map(String::as_str).collect();
        crate::runner::why::explain(
            ctx.engine,
            &mut results,
            ctx.before,
            &lines,
            std::slice::from_ref(reply),
        )
        .await?;
        ctx.show_checks(&results).await?;
        return Ok(false);
    }
    if let Some(why) = collides(ctx, step).await? {
        ctx.show(Event::WrongAnswer(&why)).await?;
        return Ok(false);
    }
    let StepKind::Exercise { trials, .. } = &step.kind else {
        return Ok(true);
    };
    if trials.is_empty() {
        return Ok(true);
    }
    let outcomes = trial::run_all(ctx.engine, &step.checks, trials, &Answer::Typed(typed)).await?;
    ctx.show(Event::Trials(&outcomes)).await?;
    Ok(outcomes.iter().all(|o| o.passed))
}

/// A value the learner chose (what the exercise `keep`s, such as a lock token) that a later
/// step gives another client (`worker-c-token`): the steps after this one could not tell the
/// learner's from theirs, so it is refused. Numbers are not compared (a later `5` is a count).
pub(super) async fn collides(ctx: &mut Ctx<'_, '_>, step: &Step) -> Result<Option<String>> {
    let StepKind::Exercise { keep, .. } = &step.kind else {
        return Ok(None);
    };
    let Some(at) = ctx.lesson.steps.iter().position(|s| std::ptr::eq(s, step)) else {
        return Ok(None);
    };
    let later: Vec<Vec<u8>> = ctx.lesson.steps[at + 1..]
        .iter()
        .flat_map(|s| match &s.kind {
            StepKind::Run { commands } => commands.clone(),
            StepKind::Exercise { solution, .. } => solution.clone(),
            _ => Vec::new(),
        })
        .filter_map(|c| crate::redis::tokenize::tokenize(c.line()).ok())
        .flat_map(|args| args.into_iter().skip(1))
        .filter(|a| !a.windows(2).any(|w| w == b"${"))
        .filter(|a| !a.iter().all(u8::is_ascii_digit))
        .collect();
    for line in keep.values() {
        let e = ctx.engine.run_line(line, None, None).await?;
        let value = crate::runner::checks::reply_text(&e.reply);
        if later.iter().any(|a| *a == value.as_bytes()) {
            return Ok(Some(format!(
                "`{}` is a value the lesson gives another client in a later step, so the steps \
                 after this one could not tell yours from theirs: choose another.",
                crate::redis::render::printable_str(&value)
            )));
        }
    }
    Ok(None)
}

/// The lesson's sentence for a typed line it knows is wrong. Lines match by shape — the same
/// command with the same options, whatever the key, token or number — so `SET k tok EX 30`
/// matches a declared `SET k my-token EX 30`.
fn matching_wrong_answer(ctx: &Ctx<'_, '_>, wrong: &[WrongAnswer], line: &str) -> Option<String> {
    let typed = shape(line);
    wrong
        .iter()
        .find(|w| shape(&ctx.soft(&w.cmd)) == typed)
        .map(|w| ctx.soft(&w.why))
}

/// The command name, its option words in order, and how many other arguments it has.
pub(super) fn shape(line: &str) -> Vec<String> {
    let mut words = line.split_whitespace().map(str::to_ascii_uppercase);
    let mut out: Vec<String> = words.next().into_iter().collect();
    let (options, others): (Vec<String>, Vec<String>) =
        words.partition(|w| super::OPTIONS.contains(&w.as_str()));
    out.extend(options);
    out.push(others.len().to_string());
    out
}

/// `--auto`: every declared wrong answer must be refused (by the goal or a trial), then the
/// solution runs and must pass every trial. What fails is a lesson bug, reported by `validate`.
async fn prove(
    ctx: &mut Ctx<'_, '_>,
    step: &Step,
    solution: &[CommandSpec],
    failed_before: bool,
) -> Result<Ran> {
    let StepKind::Exercise {
        trials,
        wrong_answers,
        ..
    } = &step.kind
    else {
        unreachable!("prove is only called for exercises")
    };
    let mut problems = Vec::new();
    let start: Option<Snapshot> = if wrong_answers.is_empty() {
        None
    } else {
        Some(ctx.engine.snapshot().await?)
    };
    for w in wrong_answers {
        let spec = [CommandSpec::Line(w.cmd.clone())];
        let executed = ctx.engine.run_commands(&spec).await?;
        let replies: Vec<_> = executed.iter().map(|e| e.reply.clone()).collect();
        let goal = ctx
            .engine
            .check(&step.checks, &replies, &Default::default())
            .await?;
        let held = goal.iter().all(|r| r.passed)
            && trial::run_all(ctx.engine, &step.checks, trials, &Answer::Lesson(&spec))
                .await?
                .iter()
                .all(|o| o.passed);
        if held {
            problems.push(format!(
                "the wrong answer `{}` is accepted: add a trial that refuses it",
                w.cmd
            ));
        }
        if let Some(s) = &start {
            ctx.engine.restore(s).await?;
        }
    }
    if !trials.is_empty() {
        let outcomes =
            trial::run_all(ctx.engine, &step.checks, trials, &Answer::Lesson(solution)).await?;
        for o in outcomes.iter().filter(|o| !o.passed) {
            problems.push(format!("the solution fails the trial \"{}\"", o.given));
        }
    }
    Ok(Ran::Done(Done {
        executed: ctx.engine.run_commands(solution).await?,
        show_executed: true,
        failed_before: Some(failed_before),
        problems,
        ..Done::default()
    }))
}

/// Runs the solution on the state the step started from, so it always works, whatever the
/// learner's tries changed meanwhile.
async fn run_solution(ctx: &mut Ctx<'_, '_>, solution: &[CommandSpec]) -> Result<Ran> {
    if let Some(before) = ctx.before {
        ctx.engine.restore(before).await?;
    }
    Ok(Ran::Done(Done {
        executed: ctx.engine.run_commands(solution).await?,
        show_executed: true,
        ..Done::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::shape;

    #[test]
    fn answers_match_by_command_and_options() {
        assert_eq!(
            shape("SET lab:k tok EX 30"),
            shape("set lab:k my-token ex 99")
        );
        assert_ne!(
            shape("SET lab:k tok EX 30"),
            shape("SET lab:k tok NX PX 30000")
        );
        assert_ne!(shape("SETNX lab:k tok"), shape("SET lab:k tok NX"));
        assert_ne!(shape("SADD lab:k a b c"), shape("SADD lab:k a"));
    }
}
