//! The lesson list as a learner scans it: one line per lesson, grouped by part in the suggested
//! order, fitting one 80×24 screen for the whole course. Long descriptions live in
//! `lesson ID --info` and the README, not here.

use colored::Colorize;
use unicode_width::UnicodeWidthStr;

use crate::untrusted::prose;

/// One lesson's line, as data: `cmd::list` fills it, this module draws it.
pub struct Line {
    pub part: String,
    pub id: String,
    pub title: String,
    pub minutes: u32,
    pub progress: String,
    pub quiz: Option<String>,
}

/// The whole list, `width` columns wide. The part is named on its first lesson's line.
pub fn list(lines: &[Line], width: usize) -> String {
    let width = width.max(60);
    let part_w = if width >= 76 {
        lines.iter().map(|l| l.part.width()).max().unwrap_or(0) + 2
    } else {
        0
    };
    // id, time and progress columns, then the quiz score.
    let fixed = part_w + 4 + 9 + 14 + 5;
    let title_w = width.saturating_sub(fixed).clamp(16, 44);
    let mut out = String::new();
    let header = format!(
        "{:part_w$}{:4}{:title_w$}{:>7}  {:14}{}",
        if part_w > 0 { "part" } else { "" },
        "id",
        "lesson",
        "time",
        "progress",
        "quiz"
    );
    out.push_str(&format!("{}\n", header.trim_end().dimmed()));
    let mut last_part = "";
    for l in lines {
        let part = if part_w > 0 && l.part != last_part {
            l.part.as_str()
        } else {
            ""
        };
        last_part = &l.part;
        let title = cut(&prose(&l.title), title_w - 1);
        let pad = title_w.saturating_sub(title.width());
        let row = format!(
            "{:part_w$}{:4}{title}{}{:>7}  {:14}{}",
            part,
            prose(&l.id),
            " ".repeat(pad),
            format!("~{} min", l.minutes),
            l.progress,
            l.quiz.as_deref().unwrap_or("")
        );
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// `lesson ID --info`: what the lesson covers, its steps, and how long it takes.
pub fn info(
    lesson: &crate::lesson::model::Lesson,
    part: &str,
    minutes: u32,
    width: usize,
) -> String {
    use super::text::{flow, labeled};
    let mut out = format!(
        "{}\n",
        format!("Lesson {} · {}", prose(&lesson.id), prose(&lesson.title)).bold()
    );
    let field = |label: &str, text: &str| {
        labeled(label, &label.bold().to_string(), &prose(text), "", width)
    };
    out.push_str(&field("Part:     ", part));
    out.push_str(&field("Structure:", &lesson.structure));
    out.push_str(&field("Used for: ", &lesson.use_case));
    out.push_str(&field("The idea: ", &lesson.concept));
    out.push_str(&field(
        "Length:   ",
        &format!(
            "{} steps and {} quiz questions, about {minutes} minutes (an estimate from its reading and steps)",
            lesson.steps.len(),
            lesson.quiz.len()
        ),
    ));
    if lesson.requires.as_ref().is_some_and(|r| r.cluster) {
        out.push_str(&field(
            "Needs:    ",
            "a Redis Cluster (`redislab server start --cluster`, then `--managed --cluster`)",
        ));
    }
    out.push('\n');
    out.push_str(&flow(&prose(&lesson.introduction), "", width));
    out.push('\n');
    for (i, step) in lesson.steps.iter().enumerate() {
        let line = format!(
            "{:>2}. {} [{}]",
            i + 1,
            prose(&step.title),
            step.kind.name()
        );
        out.push_str(&flow(&line, "", width));
    }
    out
}

/// A lesson's recap, as its end shows it and `lesson ID --summary` prints it: the lesson's own
/// `recap`, or, for a lesson without one, its one idea.
pub fn recap(lesson: &crate::lesson::model::Lesson, width: usize) -> String {
    use super::text::flow;
    let body = lesson.recap.as_deref().unwrap_or(&lesson.concept);
    format!(
        "{}\n{}",
        format!(
            "Recap · lesson {} · {}",
            prose(&lesson.id),
            prose(&lesson.title)
        )
        .bold(),
        flow(&prose(body), "  ", width)
    )
}

/// `text` cut to `max` columns with `…`.
fn cut(text: &str, max: usize) -> String {
    if text.width() <= max {
        return text.to_string();
    }
    let mut out = String::new();
    for c in text.chars() {
        if out.width() + c.to_string().width() + 1 > max {
            break;
        }
        out.push(c);
    }
    format!("{}…", out.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(part: &str, id: &str, title: &str) -> Line {
        Line {
            part: part.into(),
            id: id.into(),
            title: title.into(),
            minutes: 25,
            progress: "next: step 4".into(),
            quiz: Some("7/8".into()),
        }
    }

    #[test]
    fn one_line_per_lesson_within_the_width_and_the_part_named_once() {
        colored::control::set_override(false);
        let lines = vec![
            line("Foundations", "01", "The five core types"),
            line("Caching", "02", "Cache-aside"),
            line(
                "Caching",
                "03",
                "A title far too long to fit in the column it is given here",
            ),
        ];
        for width in [60, 80, 120] {
            let out = list(&lines, width);
            assert_eq!(out.lines().count(), 4, "{out}");
            assert!(out.lines().all(|l| l.width() <= width), "{width}:\n{out}");
            assert!(out.contains("~25 min"), "{out}");
        }
        let out = list(&lines, 80);
        assert_eq!(out.matches("Caching").count(), 1, "{out}");
        assert!(out.contains('…'), "{out}");
    }
}
