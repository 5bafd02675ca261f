//! `kind: exercise`: the learner types until Redis is in the goal state. Each typed command's
//! reply shows at once, then the checks judge the state; hints on request, the solution on
//! request or after three misses. `--auto` runs the solution (and records whether the checks
//! failed before it, which `validate --live` uses to prove the exercise is real).

use anyhow::Result;

use super::{Ctx, Done, Ran};
use crate::lesson::model::{CommandSpec, Step};
use crate::runner::seam::{Event, ExerciseAction};

pub async fn run(
    ctx: &mut Ctx<'_, '_>,
    step: &Step,
    goal: &str,
    hints: &[String],
    solution: &[CommandSpec],
) -> Result<Ran> {
    let goal = ctx.engine.expand(goal)?;
    ctx.view.show(Event::Goal(&goal));
    let before = ctx
        .engine
        .check(&step.checks, &[], &Default::default())
        .await?;
    let failed_before = before.iter().any(|r| !r.passed);
    if ctx.auto {
        return Ok(Ran::Done(Done {
            executed: ctx.engine.run_commands(solution).await?,
            show_executed: true,
            failed_before: Some(failed_before),
            ..Done::default()
        }));
    }
    let mut misses = 0;
    let mut hint_at = 0;
    loop {
        ctx.engine.freeze().await?;
        match ctx.prompter.exercise_action(misses)? {
            ExerciseAction::Quit => return Ok(Ran::Quit),
            ExerciseAction::Skip => return Ok(Ran::Skipped("skipped by you".into())),
            ExerciseAction::Back => return Ok(Ran::Back),
            ExerciseAction::Hint => {
                let hint = hints.get(hint_at).map(|h| ctx.soft(h));
                ctx.view.show(Event::Hint(hint.as_deref()));
                hint_at += 1;
            }
            ExerciseAction::Solution => {
                let planned = ctx.planned(solution);
                ctx.view.show(Event::Solution(&planned));
                return run_solution(ctx, solution).await;
            }
            ExerciseAction::Type(line) => {
                let executed = ctx.engine.run_typed(&line, None).await?;
                if let Some(why) = &executed.refused {
                    ctx.view.show(Event::Refused(why));
                    continue;
                }
                ctx.view.show(Event::Reply(&executed.reply));
                let results = ctx
                    .engine
                    .check(
                        &step.checks,
                        std::slice::from_ref(&executed.reply),
                        &Default::default(),
                    )
                    .await?;
                if results.iter().all(|r| r.passed) {
                    ctx.view.show(Event::Correct);
                    return Ok(Ran::Done(Done {
                        executed: vec![executed],
                        ..Done::default()
                    }));
                }
                misses += 1;
                ctx.view.show(Event::Checks(&results));
                if misses >= 3 {
                    let planned = ctx.planned(solution);
                    ctx.view.show(Event::ThreeTries(&planned));
                    ctx.engine.freeze().await?;
                    if ctx.prompter.confirm("Run the solution now?", true)? != Some(false) {
                        return run_solution(ctx, solution).await;
                    }
                }
            }
        }
    }
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
