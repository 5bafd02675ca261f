//! The terminal's side of the runner's `View` seam. It turns each lesson event into text that
//! fits the terminal (`term::lesson` draws the pieces), pauses before output would scroll off
//! the screen (`term::pager`), and shows a long script once, by name: the first time an
//! argument of more than a line appears it is printed as `‹script 1› = "..."`, and every command
//! after that says `‹script 1›` instead of repeating 300 characters.

use colored::Colorize;

use super::lesson::*;
use super::text::{flow, labeled};
use crate::measure::Ticker;
use crate::redis::render::render;
use crate::redis::tokenize::{display_args, tokenize};
use crate::runner::Executed;
use crate::runner::seam::{Event, Planned, View};

/// An argument longer than this is shown once and then by name.
const LONG_ARG: usize = 90;

/// Draws lesson events on the terminal.
pub struct TermView {
    /// A person is reading: pause instead of scrolling a screen away.
    paging: bool,
    /// Long arguments already shown, in order: `‹script N›` is `named[N - 1]`.
    named: Vec<Vec<u8>>,
    /// How the learner ran redislab (`redislab --redis-url ...`), so a suggested command runs
    /// against the same server as written.
    invocation: String,
}

impl TermView {
    /// `interactive`: a person reads along (paging on); `--auto` output never pauses.
    pub fn new(interactive: bool) -> Self {
        TermView {
            paging: interactive,
            named: Vec::new(),
            invocation: "redislab".into(),
        }
    }

    /// Suggested commands start with this (`redislab --redis-url ... --home ...`).
    pub fn invoked_as(mut self, invocation: String) -> Self {
        self.invocation = invocation;
        self
    }

    fn print(&self, text: &str) {
        // Esc at a pause asks what Esc at a prompt asks.
        let leave = || super::prompt::leave_for_sure().unwrap_or(false);
        super::pager::print(text, self.paging, &leave);
    }

    /// A suggested `redislab sandbox|inspect|reset` runs against this learner's server and home:
    /// it gets the options the lesson was started with (`--managed --cluster`, `--home` ...).
    fn runnable(&self, text: &str) -> String {
        if self.invocation == "redislab" {
            return text.to_string();
        }
        ["sandbox", "inspect", "reset"]
            .iter()
            .fold(text.to_string(), |t, sub| {
                t.replace(
                    &format!("`redislab {sub}"),
                    &format!("`{} {sub}", self.invocation),
                )
            })
    }

    /// A command line with its long arguments replaced by names; new names are defined in
    /// `defs` first.
    fn shorten(&mut self, line: &str, defs: &mut String, width: usize) -> String {
        let Ok(args) = tokenize(line) else {
            return line.to_string();
        };
        if args.iter().all(|a| a.len() <= LONG_ARG) {
            return line.to_string();
        }
        let mut parts = Vec::with_capacity(args.len());
        for a in args {
            if a.len() <= LONG_ARG {
                parts.push(display_args(std::slice::from_ref(&a)));
                continue;
            }
            let n = match self.named.iter().position(|x| *x == a) {
                Some(i) => i + 1,
                None => {
                    self.named.push(a.clone());
                    let n = self.named.len();
                    let text = String::from_utf8_lossy(&a);
                    let kind = if text.contains("redis.call") {
                        "script"
                    } else {
                        "text"
                    };
                    let label = format!("‹{kind} {n}› =");
                    if text.contains('\n') {
                        // A script keeps its own lines (a Function's shebang must end its
                        // line): shown as written, one line each, not as one escaped string.
                        defs.push_str(&format!("  {}\n", label.cyan()));
                        for l in text.lines() {
                            defs.push_str(&format!(
                                "    {}\n",
                                crate::redis::render::printable_str(l)
                            ));
                        }
                    } else {
                        defs.push_str(&labeled(
                            &label,
                            &label.cyan().to_string(),
                            &crate::untrusted::prose(&text),
                            "  ",
                            width,
                        ));
                    }
                    n
                }
            };
            let text = String::from_utf8_lossy(&a);
            let kind = if text.contains("redis.call") {
                "script"
            } else {
                "text"
            };
            parts.push(format!("‹{kind} {n}›"));
        }
        parts.join(" ")
    }

    fn planned(&mut self, lines: &[Planned], width: usize) -> String {
        let mut defs = String::new();
        let short: Vec<Planned> = lines
            .iter()
            .map(|p| Planned {
                line: self.shorten(&p.line, &mut defs, width),
                connection: p.connection.clone(),
            })
            .collect();
        format!("{defs}{}", preview_planned(&short, width))
    }

    fn executed(&mut self, e: &[Executed], width: usize) -> String {
        let mut defs = String::new();
        let short: Vec<Executed> = e
            .iter()
            .map(|x| Executed {
                line: self.shorten(&x.line, &mut defs, width),
                ..x.clone()
            })
            .collect();
        format!("{defs}{}", executed(&short, width))
    }
}

impl View for TermView {
    fn show(&mut self, event: Event<'_>) {
        let width = usize::from(super::width());
        let text = match &event {
            Event::Refused(why) => {
                let why = self.runnable(why);
                super::notice_lines(&flow(&format!("(refused) {why}"), "", width));
                return;
            }
            Event::Notice(t) => flow(&self.runnable(t), "  ", width).dimmed().to_string(),
            Event::Skipped(why) => skipped(&self.runnable(why)),
            Event::Preview(p) => self.planned(p, width),
            Event::Solution(p) => format!("  {}\n{}", "Solution:".bold(), self.planned(p, width)),
            Event::ThreeTries(p) => format!(
                "  {}\n{}",
                "Three tries: here is the solution.".yellow(),
                self.planned(p, width)
            ),
            Event::Executed(e) => self.executed(e, width),
            Event::Keys(k) => super::lesson::keys(k, &self.invocation),
            other => text(other, width),
        };
        if text.is_empty() {
            return;
        }
        self.print(&text);
    }

    fn ticker(&mut self, label: &str) -> Box<dyn Ticker> {
        Box::new(super::ticker::Bar::new(false, label))
    }
}

/// One event as the terminal shows it, `width` columns wide.
pub fn text(event: &Event<'_>, width: usize) -> String {
    // Goals, hints and the like are lesson texts (and may quote saved replies).
    let line = |label: &str, styled: String, t: &str| {
        labeled(label, &styled, &crate::untrusted::prose(t), "  ", width)
    };
    match event {
        Event::Intro { lesson, steps } => intro(lesson, *steps, width),
        Event::Resuming {
            lesson,
            step,
            steps,
        } => format!(
            "\n{}\n",
            format!("Lesson {lesson} · resuming at step {step}/{steps}").dimmed()
        ),
        Event::StepHeader {
            index,
            steps,
            title,
            kind,
            text,
        } => step_header(*index, *steps, title, kind, text, width),
        Event::Preview(p) | Event::Solution(p) | Event::ThreeTries(p) => preview_planned(p, width),
        Event::Executed(e) => executed(e, width),
        Event::Reply(v) => render(v),
        Event::Tape(t) => super::tape::line(t),
        Event::TapeTotal { yours, model, why } => super::tape::total(*yours, *model, *why),
        Event::Checks(r) => checks(r, width),
        Event::Explain { results, prompt } => super::lesson::explain(results, prompt),
        Event::Keys(k) => keys(k, "redislab"),
        Event::After(a) => after(a, width),
        Event::Compare(r) => compare(r, width),
        Event::Report(r) => scenario(r, width),
        Event::ForcedBy(t) => line(
            "How the race is forced:",
            "How the race is forced:".bold().to_string(),
            t,
        ),
        Event::Goal(g) => line("Your turn:", "Your turn:".bold().to_string(), g),
        Event::Hint(Some(h)) => line("Hint:", "Hint:".yellow().to_string(), h),
        Event::Hint(None) => format!(
            "  {}\n",
            "No more hints: ask for the solution if you are stuck.".dimmed()
        ),
        Event::Correct => format!(
            "  {}\n",
            "Correct: Redis is now in the state the goal asked for.".green()
        ),
        Event::Refused(why) => flow(&format!("(refused) {why}"), "", width),
        Event::Trials(outcomes) => trials(outcomes, width),
        Event::WrongAnswer(why) => line(
            "Not this way:",
            "Not this way:".yellow().bold().to_string(),
            why,
        ),
        Event::Notice(t) => flow(t, "  ", width).dimmed().to_string(),
        Event::CommandHelp(h) => super::command_help(h),
        Event::FastForwarded {
            seconds,
            of,
            expired,
            fields_expired,
        } => flow(
            &super::lesson::fast_forwarded(*seconds, *of, *expired, *fields_expired),
            "",
            width,
        )
        .dimmed()
        .to_string(),
        Event::Skipped(why) => skipped(why),
        Event::OnPrivateServer { server, copied } => {
            let keys = match copied {
                0 => "No lesson keys to copy".to_string(),
                1 => "Your 1 lesson key was copied there".to_string(),
                n => format!("Your {n} lesson keys were copied there"),
            };
            let text = format!(
                "▶ This step runs on a private server redislab started for it: {}. {keys}; your own server is not touched.",
                crate::untrusted::printable_str(server)
            );
            format!("{}", flow(&text, "  ", width).cyan())
        }
        Event::PrivateServerStopped { server, steps } => {
            let (made, before) = match steps {
                1 => ("this step made", "this step"),
                _ => ("these steps made", "these steps"),
            };
            let text = format!(
                "■ The private server ({}) is stopped: the keys {made} there are gone with it. Your server has the lesson's keys as they were before {before}.",
                crate::untrusted::printable_str(server)
            );
            format!("{}", flow(&text, "  ", width).cyan())
        }
        Event::FailedStep { index, title } => failed_step(*index, title),
        Event::Restored { index } => format!(
            "  {}\n",
            format!("↺ the lesson's keys are back as they were before step {index}").cyan()
        ),
        Event::QuizStart { questions } => {
            format!("\n{}\n", format!("Quiz · {questions} questions").bold())
        }
        Event::Question {
            index,
            questions,
            text,
            predict,
        } => question(*index, *questions, text, predict, width),
        Event::Answered(a) => format!(
            "  {} {}\n",
            "your answer:".dimmed(),
            crate::untrusted::prose(a)
        ),
        Event::Graded {
            correct,
            right,
            actual,
            explanation,
            ..
        } => graded(*correct, *right, *actual, explanation, width),
        Event::Score { score: s, total } => score(*s, *total),
        Event::Judged { .. } | Event::Retried | Event::Missed(_) | Event::StepEnded { .. } => {
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::TermView;

    #[test]
    fn a_suggested_command_gets_the_options_the_lesson_was_started_with() {
        let view = TermView::new(false).invoked_as("redislab --managed --cluster".into());
        assert_eq!(
            view.runnable("try it in `redislab sandbox`, or `redislab inspect` it"),
            "try it in `redislab --managed --cluster sandbox`, or `redislab --managed --cluster inspect` it"
        );
        // Other commands keep their own options (server start takes none of these).
        assert_eq!(
            view.runnable("`redislab server start --cluster`"),
            "`redislab server start --cluster`"
        );
        let plain = TermView::new(false);
        assert_eq!(plain.runnable("`redislab sandbox`"), "`redislab sandbox`");
    }
}
