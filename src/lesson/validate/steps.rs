//! The rules for each step kind's own fields, and how a lesson line is filled in for checking:
//! the commands a step runs, a race's metrics, a script's keys, hostile stand-ins for values.

use super::{Ctx, STANDIN_NS, check_sql, key_ref, names_in, ranges};
use crate::lesson::model::{Check, CommandSpec, Step, StepKind};

/// The commands a step runs (checking what its kind needs on the way).
pub(super) fn step_commands(ctx: &mut Ctx<'_>, n: usize, step: &Step) -> Vec<CommandSpec> {
    let mut all = own_commands(ctx, n, step);
    all.extend(accepted(ctx, n, step));
    all
}

/// The lines of a step's `accepts` variants, which obey the same rules as its own commands.
/// A run step is typed one command at a time, so each of its variants has one line per
/// command; an exercise's variant is whatever the learner types at its prompt.
fn accepted(ctx: &mut Ctx<'_>, n: usize, step: &Step) -> Vec<CommandSpec> {
    let mut out = Vec::new();
    for (v, variant) in step.accepts.iter().enumerate() {
        let at = variant.first().map(String::as_str).unwrap_or("accepts:");
        if variant.is_empty() {
            ctx.err(
                "accepts:",
                format!("step {n}: accepts variant {} has no command", v + 1),
            );
        }
        if let StepKind::Run { commands } = &step.kind {
            if !variant.is_empty() && variant.len() != commands.len() {
                ctx.err(
                    at,
                    format!(
                        "step {n}: accepts variant {} has {} line(s), but the step has {} command(s): a run step is typed one command at a time, so a variant gives one line for each",
                        v + 1,
                        variant.len(),
                        commands.len()
                    ),
                );
            }
        }
        if step.checks.is_empty() {
            ctx.err(
                at,
                format!("step {n}: accepts needs checks: they are what must hold for a variant"),
            );
        }
        out.extend(variant.iter().cloned().map(CommandSpec::Line));
    }
    out
}

fn own_commands(ctx: &mut Ctx<'_>, n: usize, step: &Step) -> Vec<CommandSpec> {
    match &step.kind {
        StepKind::Run { commands } => commands.clone(),
        StepKind::Exercise {
            solution,
            goal,
            trials,
            wrong_answers,
            ..
        } => {
            if !wrong_answers.is_empty() && trials.is_empty() && step.checks.is_empty() {
                ctx.err(
                    goal,
                    format!("step {n}: wrong answers need checks or trials to refuse them"),
                );
            }
            if solution.is_empty() {
                ctx.err(goal, format!("step {n}: an exercise needs a solution"));
            }
            if step.checks.is_empty() {
                ctx.err(
                    goal,
                    format!(
                        "step {n}: an exercise needs checks (they judge the learner's command)"
                    ),
                );
            }
            // Trial set-ups, declared wrong answers and `keep` reads are lesson commands too.
            let mut all = solution.clone();
            if let StepKind::Exercise { keep, .. } = &step.kind {
                all.extend(keep.iter().map(|(name, line)| {
                    CommandSpec::Full(crate::lesson::model::FullCommand {
                        cmd: line.clone(),
                        save_as: Some(name.clone()),
                        connection: None,
                    })
                }));
            }
            all.extend(
                trials
                    .iter()
                    .flat_map(|t| &t.setup)
                    .chain(wrong_answers.iter().map(|w| &w.cmd))
                    .cloned()
                    .map(CommandSpec::Line),
            );
            all
        }
        StepKind::Race(race) => {
            race_problems(ctx, n, race, &step.checks);
            race.command_lines()
                .into_iter()
                .map(|l| CommandSpec::Line(l.to_string()))
                .collect()
        }
        StepKind::Compare {
            redis,
            sqlite,
            iterations,
        } => {
            if let Some(m) = ranges::int("compare iterations", (*iterations).into()) {
                ctx.err("iterations:", format!("step {n}: {m}"));
            }
            let mut all: Vec<CommandSpec> =
                redis.setup.iter().cloned().map(CommandSpec::Line).collect();
            all.extend(redis.commands.iter().cloned().map(CommandSpec::Line));
            check_sql(ctx, n, &sqlite.setup, &sqlite.statements);
            all
        }
        StepKind::Scenario { scenario, params } => {
            if let Some(check) = super::SCENARIO_CHECK.get() {
                if let Err(e) = check(scenario, params) {
                    ctx.err(scenario, format!("step {n}: {e:#}"));
                }
            }
            Vec::new()
        }
        StepKind::Wait { seconds, keys } => {
            if let Some(m) = ranges::int("wait seconds", (*seconds).into()) {
                ctx.err("seconds:", format!("step {n}: {m}"));
            }
            for k in keys.iter().flatten() {
                key_ref(ctx, n, k);
            }
            Vec::new()
        }
    }
}

/// A race's own rules, and every metric its checks name must be one it reports.
fn race_problems(ctx: &mut Ctx<'_>, n: usize, race: &crate::lesson::race::Race, checks: &[Check]) {
    for p in race.problems() {
        ctx.err("rounds:", format!("step {n}: {p}"));
    }
    let metrics = race.metrics();
    for c in checks {
        for m in c.metric.iter().chain(c.equals_metric.iter()) {
            if !metrics.contains(m) {
                ctx.err(
                    m,
                    format!(
                        "step {n}: the race reports no metric `{m}` ({})",
                        crate::lesson::race::short_list(&metrics)
                    ),
                );
            }
        }
    }
}

/// What a run could put into an argument: the stand-in namespace for `${ns}`, a number for
/// `${v+1}`, and for every other variable a value with a space, quotes and a glob in it.
pub(super) fn stand_in(arg: &str) -> String {
    const HOSTILE: &str = "a victim*'\"";
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let replaced = if names_in(&format!("${{{inner}}}")).is_empty() {
            format!("${{{inner}}}")
        } else if inner == "ns" {
            STANDIN_NS.to_string()
        } else if inner.contains(['+', '-']) {
            "8".to_string()
        } else {
            HOSTILE.to_string()
        };
        out.push_str(&replaced);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
