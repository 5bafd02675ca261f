//! `kind: run`: the lesson's commands, run for the learner or typed by them. Typed commands
//! behave as in redis-cli: each reply shows as soon as it is sent. A few words are the
//! learner's, never Redis's: `quit`/`exit` leave, `skip` skips the step, `help` lists them.

use anyhow::Result;

use super::{Ctx, Done, Ran};
use crate::lesson::model::{CommandSpec, Step};
use crate::redis::fence::Origin;
use crate::redis::fence::Verdict;
use crate::runner::checks::reply_text;
use crate::runner::seam::{Event, StepAction};
use crate::runner::typed_args;

/// What the typing prompt understands besides Redis commands.
pub const WORDS: &str = "Enter runs the suggested command · type your own · `hint` · `solution` runs the rest · `retry` starts the step over · `skip` · `back` · `help SET` shows a command's syntax · `quit` leaves (progress is saved)";

pub async fn run(ctx: &mut Ctx<'_, '_>, step: &Step, commands: &[CommandSpec]) -> Result<Ran> {
    // A command may use a value saved by an earlier command of the same step: the preview
    // shows it as written, and it is filled in just before it runs.
    let planned = ctx.planned(commands);
    ctx.show(Event::Preview(&planned)).await?;
    let action = if ctx.auto {
        StepAction::Run
    } else {
        ctx.ask(|p| p.step_action("run")).await?
    };
    match action {
        StepAction::Quit => Ok(Ran::Quit),
        StepAction::Back => Ok(Ran::Back),
        StepAction::Skip => Ok(Ran::Skipped("skipped by you".into())),
        StepAction::Run => {
            let executed = ctx.engine.run_commands(commands).await?;
            // A lesson line the fence refuses is a bug in the lesson: `validate --live` says so.
            let problems = executed
                .iter()
                .filter_map(|x| Some(format!("{} was refused: {}", x.line, x.refused.as_ref()?)))
                .collect();
            Ok(Ran::Done(Done {
                executed,
                show_executed: true,
                problems,
                ..Done::default()
            }))
        }
        StepAction::TypeIt => type_it(ctx, commands, &step.accepts).await,
    }
}

async fn type_it(
    ctx: &mut Ctx<'_, '_>,
    commands: &[CommandSpec],
    accepts: &[Vec<String>],
) -> Result<Ran> {
    ctx.show(Event::Notice(WORDS)).await?;
    loop {
        if let Some(ran) = type_once(ctx, commands, accepts).await? {
            return Ok(ran);
        }
        // `retry`: the keys go back to the step's start and typing starts over.
        if let Some(before) = ctx.before {
            ctx.engine.restore(before).await?;
        }
        ctx.show(Event::Notice(
            "The keys are back as the step found them: type its commands again.",
        ))
        .await?;
    }
}

/// One pass of typing the step's commands. `None`: the learner asked to start over.
async fn type_once(
    ctx: &mut Ctx<'_, '_>,
    commands: &[CommandSpec],
    accepts: &[Vec<String>],
) -> Result<Option<Ran>> {
    let mut out = Vec::new();
    // Whether a command of the learner's own (not the lesson's line) was accepted.
    let mut typed_own = false;
    for (at, spec) in commands.iter().enumerate() {
        // Filled in now, so values saved by the commands before it are known; each argument
        // on its own and quoted where needed (a script is one argument), so the line shown as
        // the suggestion and in the hint types as shown.
        let line = ctx.planned(std::slice::from_ref(spec)).remove(0).line;
        if let Some(e) = run_if_untypable(ctx, spec, &line).await? {
            out.push(e);
            continue;
        }
        loop {
            // Inside MULTI, redis-cli's prompt says so (the connection knows whether it is); a
            // command of another client says whose.
            let in_transaction = ctx.engine.in_transaction(spec.connection());
            let prompt = match (spec.connection(), in_transaction) {
                (Some(name), true) => format!("[{name}] redis(TX)>"),
                (Some(name), false) => format!("[{name}] redis>"),
                (None, true) => "redis(TX)>".to_string(),
                (None, false) => "redis>".to_string(),
            };
            let Some(typed) = ctx.ask(|p| p.command(&prompt, &line)).await? else {
                return Ok(Some(Ran::Quit));
            };
            let word = typed.trim().to_ascii_lowercase();
            let executed = match word.as_str() {
                "quit" | "exit" => return Ok(Some(Ran::Quit)),
                "skip" => return Ok(Some(Ran::Skipped("skipped by you".into()))),
                "back" => return Ok(Some(Ran::Back)),
                "retry" => return Ok(None),
                "hint" | "goal" => {
                    let hint =
                        format!("this command is `{line}`: type it, or press Enter to run it");
                    ctx.show(Event::Hint(Some(&hint))).await?;
                    continue;
                }
                // The step's own commands, from this one on, run for the learner.
                "solution" => {
                    let planned = ctx.planned(&commands[at..]);
                    ctx.show(Event::Solution(&planned)).await?;
                    let rest = ctx.engine.run_commands(&commands[at..]).await?;
                    ctx.show(Event::Executed(&rest)).await?;
                    out.extend(rest);
                    return Ok(Some(Ran::Done(Done {
                        executed: out,
                        show_executed: false,
                        ..Done::default()
                    })));
                }
                w if w == "?" || w == "help" || w.starts_with("help ") => {
                    ctx.help(&typed, WORDS).await?;
                    continue;
                }
                // Enter alone runs the lesson's own line.
                "" => {
                    ctx.engine
                        .run_line(spec.line(), spec.connection(), spec.save_as())
                        .await?
                }
                _ => {
                    if let Some(why) =
                        other_command(&typed, &line).or_else(|| other_options(&typed, &line))
                    {
                        if !accepted_here(ctx, accepts, at, &typed) {
                            let why = with_alternatives(ctx, accepts, at, &line, why);
                            ctx.show(Event::Refused(&why)).await?;
                            continue;
                        }
                    }
                    typed_own |= !typed.split_whitespace().eq(line.split_whitespace());
                    let e = ctx.engine.run_typed(&typed, spec.connection()).await?;
                    if let (Some(name), None) = (spec.save_as(), &e.refused) {
                        ctx.engine.vars.set(name, reply_text(&e.reply));
                    }
                    e
                }
            };
            if let Some(why) = &executed.refused {
                ctx.show(Event::Refused(why)).await?;
                continue;
            }
            if !shown(ctx, &typed, &line, &executed, in_transaction).await? {
                continue;
            }
            out.push(executed);
            break;
        }
    }
    Ok(Some(Ran::Done(Done {
        executed: out,
        show_executed: false,
        typed_own,
        ..Done::default()
    })))
}

/// A typed command that is not the step's command at all (GET where the step writes) is not
/// sent either: it would stand in for the step's command, its reply would be saved where the
/// step saves one, and the next steps would start from a state they were not written for.
/// `None`: the same command.
fn other_command(typed: &str, line: &str) -> Option<String> {
    let name = |l: &str| {
        l.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase()
    };
    let (yours, its) = (name(typed), name(line));
    if yours == its {
        return None;
    }
    Some(format!(
        "not sent. This step's command is `{line}`, and yours is {yours}: the steps after this one \
         start from what this one leaves. Type it (key and values may differ), or press Enter to \
         run it; the sandbox takes any command."
    ))
}

/// A typed command that is the step's command with other option words (NX left out, `$` for
/// `0` ...) is not sent: what a step leaves behind is what the next steps start from, and its
/// checks cannot see every option (NX changes nothing when the key is free). Keys and values
/// may differ; the checks judge those. `None`: send it.
fn other_options(typed: &str, line: &str) -> Option<String> {
    let name = |l: &str| {
        l.split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase()
    };
    if name(typed) != name(line) {
        return None;
    }
    let words = |l: &str| -> Vec<String> {
        l.split_whitespace()
            .skip(1)
            .map(str::to_ascii_uppercase)
            .filter(|w| super::OPTIONS.contains(&w.as_str()))
            .collect()
    };
    let (yours, its) = (words(typed), words(line));
    if yours == its {
        return None;
    }
    let missing: Vec<&String> = its.iter().filter(|w| !yours.contains(w)).collect();
    let extra: Vec<&String> = yours.iter().filter(|w| !its.contains(w)).collect();
    let list = |ws: &[&String]| {
        ws.iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let differs = match (missing.is_empty(), extra.is_empty()) {
        (false, true) => format!("yours leaves out {}", list(&missing)),
        (true, false) => format!("yours adds {}", list(&extra)),
        (false, false) => format!(
            "yours adds {} and leaves out {}",
            list(&extra),
            list(&missing)
        ),
        (true, true) => "yours has its options in another order".to_string(),
    };
    Some(format!(
        "not sent. This step's command is `{line}`: {differs}, and the steps after this one start \
         from what it leaves. Type it with the same options (key and values may differ), or press \
         Enter to run it."
    ))
}

/// Whether the lesson declares a line of the typed one's shape (the same command and option
/// words, any keys and values) as another right answer for command `at` (its `accepts`, each
/// variant proved against every later step by `validate --live`).
fn accepted_here(ctx: &Ctx<'_, '_>, accepts: &[Vec<String>], at: usize, typed: &str) -> bool {
    let typed = super::exercise::shape(typed);
    accepts
        .iter()
        .filter_map(|v| v.get(at))
        .any(|line| super::exercise::shape(&ctx.soft(line)) == typed)
}

/// A refusal, with the other right answers the lesson declares for command `at` whose option
/// words differ from the step's own (the learner may type any of those instead).
fn with_alternatives(
    ctx: &Ctx<'_, '_>,
    accepts: &[Vec<String>],
    at: usize,
    line: &str,
    why: String,
) -> String {
    let mut others: Vec<String> = Vec::new();
    for v in accepts.iter().filter_map(|v| v.get(at)) {
        let shown = ctx.planned(&[CommandSpec::Line(v.clone())]).remove(0).line;
        if other_options(&shown, line).is_some() && !others.contains(&shown) {
            others.push(shown);
        }
    }
    if others.is_empty() {
        return why;
    }
    let list: Vec<String> = others.iter().map(|o| format!("`{o}`")).collect();
    format!("{why} The lesson also accepts {}.", list.join(" or "))
}

/// A command this server will not take from a keyboard (a script on a server redislab does not
/// own) runs for the learner instead of refusing forever.
async fn run_if_untypable(
    ctx: &mut Ctx<'_, '_>,
    spec: &CommandSpec,
    line: &str,
) -> Result<Option<crate::runner::Executed>> {
    let Ok(args) = typed_args(line) else {
        return Ok(None);
    };
    let Verdict::Refuse(why) = ctx
        .engine
        .server
        .fence()
        .admit(&args, Origin::Learner)
        .await?
    else {
        return Ok(None);
    };
    // Not a refusal: the step goes on, with the lesson's own line.
    let note = format!("redislab sends this one for you, as the lesson wrote it: {why}");
    ctx.show(Event::Notice(&note)).await?;
    let e = ctx
        .engine
        .run_line(spec.line(), spec.connection(), spec.save_as())
        .await?;
    ctx.show(Event::Executed(std::slice::from_ref(&e))).await?;
    Ok(Some(e))
}

/// Shows what a typed (or Enter-run) command did; `false` if it was a typo to type again.
/// A typo (a command Redis does not know, or the wrong number of arguments) is answered and
/// typed again, as in redis-cli: it does not use up the step's command. A typed command is
/// already on the screen (the prompt's own line): only its reply follows, as in redis-cli;
/// Enter alone shows the line it ran. Inside MULTI an error at queueing time dooms the
/// transaction (EXEC will answer EXECABORT), so that is said instead of "type it again".
async fn shown(
    ctx: &mut Ctx<'_, '_>,
    typed: &str,
    line: &str,
    executed: &crate::runner::Executed,
    in_transaction: bool,
) -> Result<bool> {
    let entered = typed.trim().is_empty();
    let as_written = typed.split_whitespace().eq(line.split_whitespace());
    if in_transaction
        && !entered
        && !as_written
        && matches!(executed.reply, redis::Value::ServerError(_))
    {
        ctx.show(Event::Reply(&executed.reply)).await?;
        tape(ctx, executed).await?;
        ctx.show(Event::Notice(super::DOOMED)).await?;
        return Ok(false);
    }
    if !entered && !as_written && is_typo(&executed.reply) {
        ctx.show(Event::Reply(&executed.reply)).await?;
        tape(ctx, executed).await?;
        ctx.show(Event::Notice(
            "That was not the step's command: type it again, or press Enter to run it.",
        ))
        .await?;
        return Ok(false);
    }
    if entered {
        ctx.show(Event::Executed(std::slice::from_ref(executed)))
            .await?;
    } else {
        ctx.show(Event::Reply(&executed.reply)).await?;
    }
    tape(ctx, executed).await?;
    Ok(true)
}

/// The tape line under a command the learner sent.
async fn tape(ctx: &mut Ctx<'_, '_>, executed: &crate::runner::Executed) -> Result<()> {
    if let Some(t) = &executed.trip {
        ctx.show(Event::Tape(t)).await?;
    }
    Ok(())
}

/// Whether Redis refused the line as written rather than ran it.
fn is_typo(reply: &redis::Value) -> bool {
    match reply {
        redis::Value::ServerError(e) => {
            let detail = e.details().unwrap_or_default();
            detail.starts_with("unknown command") || detail.starts_with("wrong number of arguments")
        }
        _ => false,
    }
}
