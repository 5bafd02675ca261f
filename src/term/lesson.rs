//! How a lesson looks: step headers, command previews, replies, check diffs, scenario, race
//! and compare tables, quiz feedback. `TermView` is the terminal's side of the runner's `View`
//! seam: it turns each event into text on stdout (refusals on stderr).

use colored::Colorize;

use crate::inspect::KeyInfo;
use crate::lesson::model::Lesson;
use crate::measure::{Ticker, human_us};
use crate::redis::render::render;
use crate::runner::Executed;
use crate::runner::checks::CheckResult;
use crate::runner::compare::CompareReport;
use crate::runner::seam::{Event, Planned, View};
use crate::scenarios::ScenarioReport;

/// Draws lesson events on the terminal.
pub struct TermView;

impl View for TermView {
    fn show(&mut self, event: Event<'_>) {
        match event {
            Event::Refused(why) => super::notice(&format!("(refused) {why}")),
            other => super::out(&text(&other)),
        }
    }

    fn ticker(&mut self, label: &str) -> Box<dyn Ticker> {
        Box::new(super::progress::Bar::new(false, label))
    }
}

/// One event as the terminal shows it.
pub fn text(event: &Event<'_>) -> String {
    match event {
        Event::Intro { lesson, steps } => intro(lesson, *steps),
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
        } => step_header(*index, *steps, title, kind, text),
        Event::Preview(p) => preview_planned(p),
        Event::Executed(e) => executed(e),
        Event::Reply(v) => render(v),
        Event::Checks(r) => checks(r),
        Event::Keys(k) => keys(k),
        Event::After(a) => after(a),
        Event::Compare(r) => compare(r),
        Event::Report(r) => scenario(r),
        Event::ForcedBy(t) => format!("  {} {}\n", "How the race is forced:".bold(), t.trim_end()),
        Event::Goal(g) => format!("  {} {g}\n", "Your turn:".bold()),
        Event::Hint(Some(h)) => format!("  {} {h}\n", "Hint:".yellow()),
        Event::Hint(None) => format!(
            "  {}\n",
            "No more hints: ask for the solution if you are stuck.".dimmed()
        ),
        Event::Solution(p) => format!("  {}\n{}", "Solution:".bold(), preview_planned(p)),
        Event::Correct => format!(
            "  {}\n",
            "Correct: Redis is now in the state the goal asked for.".green()
        ),
        Event::ThreeTries(p) => format!(
            "  {}\n{}",
            "Three tries: here is the solution.".yellow(),
            preview_planned(p)
        ),
        Event::Refused(why) => format!("(refused) {why}\n"),
        Event::Trials(outcomes) => trials(outcomes),
        Event::WrongAnswer(why) => format!("  {} {why}\n", "Not this way:".yellow().bold()),
        Event::Notice(t) => format!("  {}\n", t.dimmed()),
        Event::FastForwarded { seconds, expired } => format!(
            "{}\n",
            format!("fast-forwarded {seconds}s: every TTL shortened with PEXPIRE ({expired} key(s) expired)").dimmed()
        ),
        Event::Skipped(why) => skipped(why),
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
        } => question(*index, *questions, text, predict),
        Event::Answered(a) => format!("  {} {a}\n", "your answer:".dimmed()),
        Event::Graded {
            correct,
            right,
            actual,
            explanation,
        } => graded(*correct, *right, *actual, explanation),
        Event::Score { score: s, total } => score(*s, *total),
    }
}

/// One line per trial: held, or what the answer would break there.
pub fn trials(outcomes: &[crate::runner::trial::TrialOutcome]) -> String {
    let mut out = String::new();
    for t in outcomes {
        if t.passed {
            out.push_str(&format!("  {} also right when {}\n", "✓".green(), t.given));
        } else {
            out.push_str(&format!(
                "  {} when {}: {}\n",
                "✗".red().bold(),
                t.given,
                t.why
            ));
        }
    }
    out
}

/// A preview naming the client of each command when a step uses more than one.
pub fn preview_planned(lines: &[Planned]) -> String {
    let mut out = String::new();
    for p in lines {
        let who = p
            .connection
            .as_deref()
            .map(|c| format!("[{c}] "))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {}{} {}\n",
            who.dimmed(),
            "›".dimmed(),
            super::command(&p.line)
        ));
    }
    out
}

pub fn intro(l: &Lesson, steps: usize) -> String {
    format!(
        "\n{}\n{}\n\n{} {}\n{} {}\n{} {}\n\n{}\n{}\n",
        format!("Lesson {} · {}", l.id, l.title).bold().underline(),
        format!(
            "{} steps, then a quiz of {} questions · TTLs stand still while you read or type; they run while a step runs and in wait steps",
            steps,
            l.quiz.len()
        )
        .dimmed(),
        "Structure:".bold(),
        l.structure,
        "Used for: ".bold(),
        l.use_case,
        "Key idea: ".bold(),
        l.concept,
        l.introduction.trim_end(),
        "".dimmed()
    )
}

pub fn step_header(i: usize, n: usize, title: &str, kind: &str, text: &str) -> String {
    format!(
        "\n{} {}\n{}\n",
        format!("Step {i}/{n}").bold().blue(),
        format!("{title}  {}", format!("[{kind}]").dimmed()).bold(),
        text.trim_end()
    )
}

pub fn preview(lines: &[String]) -> String {
    let mut out = String::new();
    for l in lines {
        out.push_str(&format!("  {} {}\n", "›".dimmed(), super::command(l)));
    }
    out
}

pub fn executed(e: &[Executed]) -> String {
    let mut out = String::new();
    for x in e {
        let who = x
            .connection
            .as_deref()
            .map(|c| format!("[{c}] "))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}{}{}\n",
            who.dimmed(),
            "redis> ".dimmed(),
            super::command(&x.line)
        ));
        match &x.refused {
            Some(why) => out.push_str(&format!("{} {why}\n", "(refused)".yellow())),
            None => out.push_str(&render(&x.reply)),
        }
    }
    out
}

pub fn checks(results: &[CheckResult]) -> String {
    let mut out = String::new();
    for r in results {
        if r.passed {
            out.push_str(&format!("  {} {}: {}\n", "✓".green(), r.what, r.actual));
        } else {
            out.push_str(&format!(
                "  {} {}: expected {}, got {}\n",
                "✗".red().bold(),
                r.what,
                r.expected.green(),
                r.actual.red()
            ));
        }
    }
    out
}

pub fn keys(infos: &[KeyInfo]) -> String {
    if infos.is_empty() {
        return format!("{}\n", "(no keys of this lesson yet)".dimmed());
    }
    format!("{}\n", super::table::keys(infos))
}

pub fn scenario(r: &ScenarioReport) -> String {
    let mut out = String::new();
    if !r.header.is_empty() {
        let mut t = super::table::new_table(r.header.iter().map(String::as_str).collect());
        for row in &r.rows {
            t.add_row(row.clone());
        }
        out.push_str(&format!("{t}\n"));
    }
    for n in &r.notes {
        out.push_str(&format!("  {} {n}\n", "→".cyan()));
    }
    out
}

pub fn compare(r: &CompareReport) -> String {
    let fastest = r
        .rows
        .iter()
        .map(|m| m.p50_us)
        .fold(f64::INFINITY, f64::min);
    let mut t = super::table::new_table(vec!["what", "p50", "p99", "ops/s", "vs fastest p50"]);
    for m in &r.rows {
        let ratio = if fastest > 0.0 {
            m.p50_us / fastest
        } else {
            1.0
        };
        t.add_row(vec![
            m.label.clone(),
            human_us(m.p50_us),
            human_us(m.p99_us),
            format!("{:.0}", m.ops_per_s),
            if (ratio - 1.0).abs() < 1e-9 {
                "fastest".to_string()
            } else {
                format!("{ratio:.1}× slower")
            },
        ]);
    }
    super::table::align_right(&mut t, &[1, 2, 3]);
    format!(
        "{t}\n{}\n",
        format!(
            "{} timed iterations each after a warm-up, measured just now on this machine. \
             A loopback round trip can vary a lot between runs on a busy or virtual machine: \
             run the step again to see your spread.",
            r.iterations
        )
        .dimmed()
    )
}

pub fn after(text: &str) -> String {
    format!("{} {}\n", "Look:".bold(), text.trim_end())
}

pub fn skipped(reason: &str) -> String {
    format!("  {} skipped: {reason}\n", "↷".yellow())
}

pub fn failed_step(i: usize, title: &str) -> String {
    format!(
        "{}\n",
        format!("Step {i} ({title}) has failing checks.")
            .red()
            .bold()
    )
}

pub fn question(i: usize, n: usize, q: &str, predict: &[String]) -> String {
    let mut out = format!("\n{} {}\n", format!("Question {i}/{n}").bold().magenta(), q);
    if !predict.is_empty() {
        out.push_str(&preview(predict));
    }
    out
}

pub fn graded(
    correct: bool,
    right_text: Option<&str>,
    actual: Option<&str>,
    explanation: &str,
) -> String {
    let mut out = String::new();
    if correct {
        out.push_str(&format!("  {}\n", "Right.".green().bold()));
    } else {
        match right_text {
            Some(r) => out.push_str(&format!(
                "  {} The answer is: {}\n",
                "Not quite.".red().bold(),
                r
            )),
            None => out.push_str(&format!("  {}\n", "Not quite.".red().bold())),
        }
    }
    if let Some(a) = actual {
        out.push_str(&format!(
            "  {} {}\n",
            "Redis replied:".dimmed(),
            a.trim_end()
        ));
    }
    out.push_str(&format!("  {}\n", explanation.trim_end()));
    out
}

pub fn score(score: u32, total: u32) -> String {
    format!("\n{}\n", format!("Score: {score}/{total}").bold())
}
