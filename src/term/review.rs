//! How `stats` and `review` look: the hardest steps with their history, per lesson totals, and
//! the line that opens each review item. Values come from `store::stats` and `cmd::review`;
//! every text from a lesson or typed by the learner goes through `untrusted`.

use colored::Colorize;

use super::table::{align_right, new_table};
use super::text::flow;
use crate::store::stats::{Stats, StepStats};
use crate::untrusted::prose;

/// `45s`, `3m 05s`, `1h 02m`.
pub fn duration(seconds: u64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// The whole `stats` screen, `width` columns wide. `date`: a day from Unix seconds.
/// `histories`: how many of the hardest steps show their history.
pub fn stats(s: &Stats, width: usize, date: &dyn Fn(i64) -> String, histories: usize) -> String {
    if s.lessons.is_empty() {
        return format!(
            "{}\n",
            flow(
                "No attempts recorded yet. Take a lesson (`redislab lesson 01`): `stats` then shows which steps were hard, and `review` brings back what you missed.",
                "",
                width
            )
        );
    }
    let mut out = String::new();
    if s.hardest.is_empty() {
        out.push_str(&format!(
            "{}\n\n",
            flow(
                "No hard steps: every step passed without a hint, a retry or the solution.",
                "",
                width
            )
        ));
    } else {
        out.push_str(&format!("{}\n", "Your hardest steps".bold()));
        let mut t = new_table(vec![
            "step", "title", "failed", "hints", "solution", "wrong", "time",
        ]);
        for h in &s.hardest {
            t.add_row(vec![
                format!("{}·{}", prose(&h.lesson_id), h.step),
                prose(&h.title).into_owned(),
                h.counts.failed.to_string(),
                h.counts.hints.to_string(),
                h.counts.solutions.to_string(),
                h.counts.wrong.to_string(),
                duration(h.counts.seconds),
            ]);
        }
        align_right(&mut t, &[2, 3, 4, 5, 6]);
        out.push_str(&format!("{t}\n"));
        for h in s.hardest.iter().take(histories) {
            out.push_str(&history(h, width, date));
        }
        out.push('\n');
    }
    out.push_str(&format!("{}\n", "Per lesson".bold()));
    let mut t = new_table(vec![
        "id", "lesson", "passed", "failed", "hints", "solution", "quiz", "time",
    ]);
    for l in &s.lessons {
        let asked = l.quiz_right + l.quiz_wrong;
        t.add_row(vec![
            prose(&l.lesson_id).into_owned(),
            prose(&l.title).into_owned(),
            l.counts.passed.to_string(),
            l.counts.failed.to_string(),
            l.counts.hints.to_string(),
            l.counts.solutions.to_string(),
            if asked == 0 {
                "-".into()
            } else {
                format!("{}/{asked}", l.quiz_right)
            },
            duration(l.counts.seconds),
        ]);
    }
    align_right(&mut t, &[2, 3, 4, 5, 6, 7]);
    out.push_str(&format!("{t}\n"));
    out
}

/// One step's history, a line per day: what happened, in order.
fn history(h: &StepStats, width: usize, date: &dyn Fn(i64) -> String) -> String {
    let mut out = format!(
        "  {} {}\n",
        format!("{}·{}", prose(&h.lesson_id), h.step).bold(),
        prose(&h.title)
    );
    let mut days: Vec<(String, Vec<String>)> = Vec::new();
    for e in &h.history {
        let day = date(e.at);
        let mut what = e.kind.to_string();
        if let (Some(d), "wrong") = (&e.detail, e.kind) {
            what = format!("wrong `{}`", crate::untrusted::printable_str(d));
        }
        if let Some(s) = e.seconds.filter(|s| *s > 0) {
            what.push_str(&format!(" ({})", duration(s)));
        }
        match days.last_mut() {
            Some((d, items)) if *d == day => items.push(what),
            _ => days.push((day, vec![what])),
        }
    }
    for (day, items) in days {
        let line = format!("{day}: {}", items.join(" · "));
        out.push_str(&flow(&line, "    ", width));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

/// The line before each review item: `Review 2/5 · lesson 07 · question 3 · box 1`.
pub fn item_header(at: usize, of: usize, lesson: &str, what: &str, bx: u8) -> String {
    format!(
        "\n{}\n",
        format!(
            "Review {at}/{of} · lesson {} · {what} · box {bx}",
            prose(lesson)
        )
        .bold()
    )
}

/// Where an answered item went.
pub fn moved(right: bool, bx: u8, due: &str) -> String {
    if right {
        if bx > crate::store::attempts::BOX_DAYS.len() as u8 {
            format!("  {}\n", "Right: learned, it will not come back.".green())
        } else {
            format!(
                "  {}\n",
                format!("Right: up to box {bx}, back on {due}.").green()
            )
        }
    } else {
        format!("  {}\n", format!("Back to box 1: again on {due}.").yellow())
    }
}

/// The end of a review session.
pub fn session_end(right: usize, wrong: usize, left_due: usize, width: usize) -> String {
    let mut text = format!(
        "Reviewed {}: {right} right, {wrong} back to box 1.",
        right + wrong
    );
    if left_due > 0 {
        text.push_str(&format!(
            " {left_due} still due: `redislab review` goes on."
        ));
    }
    format!("\n{}\n", flow(&text, "", width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_answer_is_shown_escaped() {
        use crate::store::attempts::{Attempt, Item, Kind};
        let row = Attempt {
            lesson_id: "07".into(),
            item: Item::Step(2),
            kind: Kind::Wrong,
            detail: Some("SET k \u{1b}[31mred".into()),
            seconds: None,
            at: 0,
        };
        let s = crate::store::stats::summarize(&[row], &|_, _| "t".into(), 5);
        let out = stats(&s, 80, &|_| "1970-01-01".into(), 5);
        assert!(!out.contains("\u{1b}[31m"), "{out:?}");
        assert!(out.contains("wrong `\"SET k \\x1b[31mred\"`"), "{out}");
    }

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(185), "3m 05s");
        assert_eq!(duration(3720), "1h 02m");
    }
}
