//! The learner's side of the conversation, with inquire. Ctrl-C at any prompt leaves (progress
//! is saved by the caller); Esc asks first, so a stray Esc never ends a lesson. A yes/no question
//! is a two-item menu, so typed text is never taken as an answer. Raw mode for the countdown is
//! restored by a guard.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use inquire::Select;
use inquire::error::InquireError;

use crate::runner::walk::{ExerciseAction, FailureAction, Prompter, StepAction};

pub struct Inquire;

/// Whether the learner left with Ctrl-C (exit 130) rather than chose to leave (Esc, then
/// "leave"; the Quit entry; `quit` typed), which ends a lesson normally (exit 0).
static CTRL_C: AtomicBool = AtomicBool::new(false);

/// The misses at which the exercise prompt last said its words (`usize::MAX`: another prompt
/// came since, so they are said again).
static LABEL_FOR_MISSES: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(usize::MAX);

/// Whether a prompt was left with Ctrl-C.
pub fn left_with_ctrl_c() -> bool {
    CTRL_C.load(Ordering::Relaxed)
}

/// Every prompt starts a new screen for the pager. `true`: the learner pressed Ctrl-C at the
/// pager's pause, or Esc and then "Leave", so this prompt answers "quit" without asking.
fn prompting() -> bool {
    LABEL_FOR_MISSES.store(usize::MAX, Ordering::Relaxed);
    super::pager::prompted();
    let interrupted = super::pager::take_interrupt();
    if interrupted {
        CTRL_C.store(true, Ordering::Relaxed);
    }
    let left = super::pager::take_left();
    interrupted || left
}

/// Shows a prompt until it is answered. `None`: the learner left (Ctrl-C, or Esc and then
/// "leave").
fn ask<T>(mut prompt: impl FnMut() -> Result<T, InquireError>) -> Result<Option<T>> {
    loop {
        match tokio::task::block_in_place(&mut prompt) {
            Ok(v) => return Ok(Some(v)),
            Err(InquireError::OperationInterrupted) => {
                CTRL_C.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            Err(InquireError::OperationCanceled) => {
                if leave_for_sure()? {
                    return Ok(None);
                }
            }
            Err(InquireError::NotTTY) => {
                anyhow::bail!(
                    "this needs a terminal: run with --auto to go through without prompts"
                )
            }
            Err(e) => return Err(anyhow::anyhow!("prompt failed: {e}")),
        }
    }
}

/// Reads a command at a `redis>` prompt with the one line editor, under a dim line saying what
/// it takes (if there is one to say). `None`: the learner left (Ctrl-C, Ctrl-D, or Esc and then "leave").
fn ask_line(label: Option<&str>, prompt: &str, suggestion: Option<&str>) -> Result<Option<String>> {
    use super::line::{Read, read};
    let prompt = format!("{} ", prompt.trim_end());
    // Flowed to the terminal, so a narrow one wraps it between words.
    let label = label.map(|l| super::text::flow(l, "  ", usize::from(super::width())));
    // Shown once: after Esc and "stay" the answer line sits right under it.
    if let Some(label) = &label {
        super::out(&format!("{}\n", super::dim(label)));
    }
    loop {
        match read(&prompt, suggestion)? {
            Read::Line(s) => {
                if s.trim().is_empty() && suggestion.is_some() && super::stdout_is_terminal() {
                    // The suggestion runs and is shown as it runs: the empty prompt goes.
                    super::out("\x1b[1A\x1b[2K");
                }
                return Ok(Some(s));
            }
            Read::Interrupted => {
                CTRL_C.store(true, Ordering::Relaxed);
                return Ok(None);
            }
            Read::Eof => return Ok(None),
            Read::Esc { empty } => {
                // The empty prompt Esc was pressed at goes: the question takes its place.
                // The empty prompt goes; the question's answer takes its line.
                if empty {
                    super::line::forget_empty_prompt();
                }
                if leave_for_sure()? {
                    return Ok(None);
                }
            }
        }
    }
}

/// A menu of fixed answers: no filtering (typed text is never taken as an answer), and once
/// answered it shows the answer without its explanation in brackets, so the line stays short.
fn menu<'a>(question: &'a str, options: Vec<&'a str>) -> Select<'a, &'a str> {
    Select::new(question, options)
        .without_help_message()
        .without_filtering()
        .with_formatter(&short_answer)
}

fn short_answer(o: inquire::list_option::ListOption<&&str>) -> String {
    o.value.split(" (").next().unwrap_or(o.value).to_string()
}

/// Esc was pressed (at a prompt or at the pager's pause): leave the lesson, or stay where you
/// were?
pub(super) fn leave_for_sure() -> Result<bool> {
    let options = vec!["Stay here", "Leave the lesson (progress is saved)"];
    let r = tokio::task::block_in_place(|| menu("Leave the lesson?", options.clone()).prompt());
    Ok(match r {
        Ok(s) => s.starts_with("Leave"),
        Err(InquireError::OperationInterrupted) => {
            CTRL_C.store(true, Ordering::Relaxed);
            true
        }
        Err(_) => false,
    })
}

impl Prompter for Inquire {
    fn step_action(&mut self, kind: &str) -> Result<StepAction> {
        if prompting() {
            return Ok(StepAction::Quit);
        }
        let mut options = vec!["Run it (Enter)"];
        if kind == "run" {
            options.push("Type it yourself");
        }
        options.extend([
            "Skip this step",
            "Back to the previous step",
            "Quit (progress is saved)",
        ]);
        let r = ask(|| menu("What now?", options.clone()).prompt())?;
        Ok(match r {
            None => StepAction::Quit,
            Some(s) if s.starts_with("Run") => StepAction::Run,
            Some(s) if s.starts_with("Type") => StepAction::TypeIt,
            Some(s) if s.starts_with("Skip") => StepAction::Skip,
            Some(s) if s.starts_with("Back") => StepAction::Back,
            Some(_) => StepAction::Quit,
        })
    }

    fn command(&mut self, prompt: &str, suggestion: &str) -> Result<Option<String>> {
        if prompting() {
            return Ok(None);
        }
        ask_line(None, prompt, Some(suggestion))
    }

    fn exercise_action(&mut self, misses: usize, prompt: &str) -> Result<ExerciseAction> {
        // The words the prompt takes are said once, and again after each miss: not above every
        // command of a transaction typed line by line.
        let said_already = LABEL_FOR_MISSES.load(Ordering::Relaxed) == misses;
        if prompting() {
            return Ok(ExerciseAction::Quit);
        }
        let label = if misses == 0 {
            "your command (or: hint, goal, solution, retry, help, skip, back, quit)"
        } else {
            "try again (or: hint, goal, solution, retry, help, skip, back, quit)"
        };
        let r = ask_line((!said_already).then_some(label), prompt, None)?;
        LABEL_FOR_MISSES.store(misses, Ordering::Relaxed);
        Ok(match r {
            None => ExerciseAction::Quit,
            Some(s) => match s.trim().to_ascii_lowercase().as_str() {
                "" | "help" => ExerciseAction::Type("help".into()),
                "hint" => ExerciseAction::Hint,
                "solution" => ExerciseAction::Solution,
                "goal" => ExerciseAction::Goal,
                "skip" => ExerciseAction::Skip,
                "back" => ExerciseAction::Back,
                "quit" | "exit" => ExerciseAction::Quit,
                _ => ExerciseAction::Type(s),
            },
        })
    }

    fn choose(&mut self, _question: &str, choices: &[String]) -> Result<Option<usize>> {
        if prompting() {
            return Ok(None);
        }
        let width = usize::from(super::width());
        let numbered = menu_choices(choices, width);
        // Once answered, "> your answer: " and the choice share one line.
        let room = width.saturating_sub(18).max(20);
        // Typing a choice's number keeps only that choice, so Enter answers it; typed words
        // keep the choices that contain them. The help line says exactly that.
        let r = ask(|| {
            Select::new("your answer:", numbered.clone())
                .with_scorer(&by_number_or_words)
                .with_help_message("type a choice's number (or ↑↓), then Enter · Esc leaves")
                .with_formatter(&|o| super::text::cut(o.value, room))
                .prompt()
        })?;
        Ok(r.and_then(|s| numbered.iter().position(|n| *n == s))
            .map(|i| i + 1))
    }

    fn confirm(&mut self, question: &str, default: bool) -> Result<Option<bool>> {
        if prompting() {
            return Ok(None);
        }
        // A menu, not a y/n line: a command typed here by mistake is not taken as an answer.
        let (yes, no) = ("Yes", "No");
        let options = if default {
            vec![yes, no]
        } else {
            vec![no, yes]
        };
        let r = ask(|| menu(question, options.clone()).prompt())?;
        Ok(r.map(|s| s == yes))
    }

    fn after_failure(&mut self, kind: &str, back_to: Option<usize>) -> Result<FailureAction> {
        if prompting() {
            return Ok(FailureAction::Quit);
        }
        let back = match back_to {
            Some(k) => {
                format!("Back to step {k}, which left the state this step cannot start from")
            }
            None => "Back to the previous step".to_string(),
        };
        let mut options: Vec<String> = Vec::new();
        if back_to.is_some() {
            options.push(back.clone());
        }
        options.push("Retry this step (its keys go back as they were)".into());
        options.push("Explain the checks (what they asked Redis)".into());
        if matches!(kind, "exercise" | "run") {
            options.push("Show the solution (keys go back, then its commands run)".into());
        }
        options.push("Go on anyway (the step counts as failed)".into());
        if back_to.is_none() {
            options.push(back);
        }
        options.push("Quit (progress is saved)".into());
        let options: Vec<&str> = options.iter().map(String::as_str).collect();
        let r = ask(|| menu("This step's checks failed. What now?", options.clone()).prompt())?;
        Ok(match r {
            None => FailureAction::Quit,
            Some(s) if s.starts_with("Retry") => FailureAction::Retry,
            Some(s) if s.starts_with("Explain") => FailureAction::Explain,
            Some(s) if s.starts_with("Show") => FailureAction::ShowSolution,
            Some(s) if s.starts_with("Go on") => FailureAction::GoOn,
            Some(s) if s.starts_with("Back") => FailureAction::Back,
            Some(_) => FailureAction::Quit,
        })
    }

    fn countdown(
        &mut self,
        seconds: u64,
        watch: &mut dyn FnMut() -> String,
    ) -> Result<Option<u64>> {
        if prompting() {
            return Ok(None);
        }
        use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
        struct RawGuard;
        impl Drop for RawGuard {
            fn drop(&mut self) {
                let _ = crossterm::terminal::disable_raw_mode();
            }
        }
        let pb = super::ticker::bar(false, "waiting");
        pb.set_length(seconds);
        crossterm::terminal::enable_raw_mode()
            .map_err(|e| anyhow::anyhow!("could not read key presses: {e}"))?;
        let _guard = RawGuard;
        let start = Instant::now();
        let mut last_watch: Option<Instant> = None;
        let result = tokio::task::block_in_place(|| -> Result<Option<u64>> {
            loop {
                let elapsed = start.elapsed();
                pb.set_position(elapsed.as_secs().min(seconds));
                if last_watch.is_none_or(|t| t.elapsed() >= Duration::from_millis(250)) {
                    pb.set_message(format!("{} · any key fast-forwards", watch()));
                    last_watch = Some(Instant::now());
                }
                if elapsed >= Duration::from_secs(seconds) {
                    return Ok(Some(0));
                }
                if event::poll(Duration::from_millis(100))? {
                    if let Event::Key(k) = event::read()? {
                        if k.kind != KeyEventKind::Press {
                            continue;
                        }
                        let ctrl_c = k.code == KeyCode::Char('c')
                            && k.modifiers.contains(KeyModifiers::CONTROL);
                        if ctrl_c || k.code == KeyCode::Esc {
                            return Ok(None);
                        }
                        let left = Duration::from_secs(seconds).saturating_sub(start.elapsed());
                        return Ok(Some(left.as_secs_f64().ceil() as u64));
                    }
                }
            }
        });
        pb.finish_and_clear();
        result
    }
}

/// For `--auto` and tests: any question is a bug.
pub struct NoPrompts;

impl Prompter for NoPrompts {
    fn step_action(&mut self, _: &str) -> Result<StepAction> {
        Ok(StepAction::Run)
    }
    fn command(&mut self, _: &str, s: &str) -> Result<Option<String>> {
        Ok(Some(s.to_string()))
    }
    fn exercise_action(&mut self, _: usize, _: &str) -> Result<ExerciseAction> {
        Ok(ExerciseAction::Solution)
    }
    fn choose(&mut self, _: &str, _: &[String]) -> Result<Option<usize>> {
        anyhow::bail!("the quiz needs a terminal or --answers")
    }
    fn confirm(&mut self, _: &str, default: bool) -> Result<Option<bool>> {
        Ok(Some(default))
    }
    fn after_failure(&mut self, _: &str, _: Option<usize>) -> Result<FailureAction> {
        Ok(FailureAction::GoOn)
    }
    fn countdown(&mut self, seconds: u64, _: &mut dyn FnMut() -> String) -> Result<Option<u64>> {
        Ok(Some(seconds))
    }
}

/// The quiz menu's filter: a number keeps the choice with that number; words keep the choices
/// containing them (any case); nothing typed keeps all, in order.
fn by_number_or_words(typed: &str, _: &String, line: &str, index: usize) -> Option<i64> {
    let typed = typed.trim();
    let order = -(index as i64);
    if typed.is_empty() {
        return Some(order);
    }
    if typed.chars().all(|c| c.is_ascii_digit()) {
        return line.starts_with(&format!("{typed}. ")).then_some(order);
    }
    line.to_lowercase()
        .contains(&typed.to_lowercase())
        .then_some(order)
}

/// The quiz menu's lines. A menu line longer than the screen would wrap mid-word and lose its
/// indent, so when any choice is too long the choices are printed in full above the menu
/// (flowed at word boundaries) and the menu shows each cut to the width with `…`.
fn menu_choices(choices: &[String], width: usize) -> Vec<String> {
    let numbered: Vec<String> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{}. {}", i + 1, crate::untrusted::prose(c)))
        .collect();
    // "> " before each line, and one column spare.
    let room = width.saturating_sub(3).max(20);
    if numbered.iter().all(|n| n.chars().count() <= room) {
        return numbered;
    }
    let mut full = String::new();
    for n in &numbered {
        let number = n.split(' ').next().unwrap_or_default();
        full.push_str(&super::text::labeled(
            number,
            number,
            &n[number.len() + 1..],
            "  ",
            width,
        ));
    }
    super::out(&full);
    numbered
        .into_iter()
        .map(|n| super::text::cut(&n, room))
        .collect()
}

/// A yes/no question on the terminal (Enter says yes). Esc or Ctrl-C says no.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    let answer =
        tokio::task::block_in_place(|| inquire::Confirm::new(question).with_default(true).prompt());
    match answer {
        Ok(yes) => Ok(yes),
        Err(
            inquire::InquireError::OperationCanceled | inquire::InquireError::OperationInterrupted,
        ) => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("could not ask on the terminal")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_choices_are_cut_to_the_screen_and_numbered() {
        let choices = vec!["short".to_string(), "a".repeat(80)];
        let lines = super::menu_choices(&choices, 60);
        assert_eq!(lines[0], "1. short");
        assert_eq!(lines[1].chars().count(), 57);
        assert!(lines[1].starts_with("2. aaa") && lines[1].ends_with('…'));
        let fits = super::menu_choices(&choices[..1], 60);
        assert_eq!(fits, vec!["1. short".to_string()]);
    }
}
