//! `redislab notes ID`: a lesson as a Markdown cheat sheet to keep (keys, commands, scripts,
//! pitfalls, recap, the learner's own results), meant to read well on GitHub. Lesson text is
//! someone's file: control characters are written out as escapes (`untrusted::prose`), and
//! anything that could break the document's structure (a pipe in a table cell, a fence inside
//! a code block, a heading marker at the start of a line) is escaped for Markdown.

use std::collections::BTreeMap;

use crate::lesson::course;
use crate::lesson::model::{Check, Lesson, StepKind, TtlCheck};
use crate::store::LessonProgress;
use crate::untrusted::prose;

/// Everything the sheet shows that is not in the lesson itself.
pub struct Context<'a> {
    pub namespace: &'a str,
    pub progress: Option<&'a LessonProgress>,
    /// When it was written, already formatted (`2026-12-05 16:02 UTC`).
    pub generated: &'a str,
    /// Formats Unix seconds as a date.
    pub date: &'a dyn Fn(i64) -> String,
}

/// The whole sheet.
pub fn markdown(lesson: &Lesson, cx: &Context<'_>) -> String {
    let mut md = String::new();
    md.push_str(&format!(
        "# {} · {}\n\n",
        inline(&lesson.id),
        inline(&lesson.title)
    ));
    md.push_str(&format!("> **The idea:** {}\n\n", inline(&lesson.concept)));
    md.push_str("| | |\n|---|---|\n");
    md.push_str(&format!("| Part | {} |\n", cell(course::part_of(lesson))));
    md.push_str(&format!("| Structure | {} |\n", cell(&lesson.structure)));
    md.push_str(&format!("| Used for | {} |\n", cell(&lesson.use_case)));
    md.push_str(&format!(
        "| Estimated time | about {} minutes |\n\n",
        course::minutes(lesson)
    ));
    keys(lesson, cx, &mut md);
    commands(lesson, cx, &mut md);
    scripts(lesson, &mut md);
    recap(lesson, &mut md);
    results(lesson, cx, &mut md);
    md.push_str(&format!(
        "---\n\n*Written by `redislab notes {}` on {}.*\n",
        inline(&lesson.id),
        inline(cx.generated)
    ));
    md
}

fn with_ns(text: &str, ns: &str) -> String {
    text.replace("${ns}", ns)
}

/// The keys the lesson's checks look at, with the type and TTL they expect.
fn keys(lesson: &Lesson, cx: &Context<'_>, md: &mut String) {
    md.push_str("## Keys\n\n");
    let patterns: Vec<String> = lesson
        .keys
        .iter()
        .map(|k| code(&with_ns(k, cx.namespace)))
        .collect();
    if !patterns.is_empty() {
        md.push_str(&format!(
            "The lesson's keys match {}.\n\n",
            patterns.join(", ")
        ));
    }
    // key → (type, TTLs), in the order the lesson first checks them.
    let mut order: Vec<String> = Vec::new();
    let mut seen: BTreeMap<String, (Option<String>, Vec<String>)> = BTreeMap::new();
    let all_checks = lesson.steps.iter().flat_map(|s| s.checks.iter());
    for c in all_checks {
        let Some(key) = &c.key else { continue };
        if c.exists == Some(false) {
            continue;
        }
        let key = with_ns(key, cx.namespace);
        let entry = seen.entry(key.clone()).or_insert_with(|| {
            order.push(key.clone());
            (None, Vec::new())
        });
        if entry.0.is_none() {
            entry.0 = c.key_type.clone();
        }
        if let Some(ttl) = ttl_text(c) {
            if !entry.1.contains(&ttl) {
                entry.1.push(ttl);
            }
        }
    }
    if order.is_empty() {
        md.push_str("This lesson checks no single key.\n\n");
        return;
    }
    md.push_str("| key | type | TTL |\n|---|---|---|\n");
    for key in &order {
        let (ty, ttls) = &seen[key];
        md.push_str(&format!(
            "| {} | {} | {} |\n",
            cell(&code(key)),
            cell(ty.as_deref().unwrap_or("-")),
            cell(&if ttls.is_empty() {
                "-".to_string()
            } else {
                ttls.join(", ")
            })
        ));
    }
    md.push_str(
        "\nTypes and TTLs are what the lesson's checks expect (a TTL as the range a check \
         accepts, in seconds); `redislab inspect` shows what your server holds now.\n\n",
    );
}

fn ttl_text(c: &Check) -> Option<String> {
    let fmt = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v}")
        }
    };
    match c.ttl.as_ref()? {
        TtlCheck::Keyword(k) if k == "none" => Some("none".into()),
        TtlCheck::Keyword(k) => Some(k.clone()),
        TtlCheck::Range {
            min: Some(a),
            max: Some(b),
        } if a == b => Some(format!("{} s", fmt(*a))),
        TtlCheck::Range {
            min: Some(a),
            max: Some(b),
        } => Some(format!("{}–{} s", fmt(*a), fmt(*b))),
        TtlCheck::Range {
            min: Some(a),
            max: None,
        } => Some(format!("≥ {} s", fmt(*a))),
        TtlCheck::Range {
            min: None,
            max: Some(b),
        } => Some(format!("≤ {} s", fmt(*b))),
        TtlCheck::Range { .. } => None,
    }
}

/// Each step's title and the commands it runs (an exercise's: the lesson's solution).
fn commands(lesson: &Lesson, cx: &Context<'_>, md: &mut String) {
    md.push_str("## Commands, step by step\n\n");
    for (i, step) in lesson.steps.iter().enumerate() {
        md.push_str(&format!("### {}. {}\n\n", i + 1, inline(&step.title)));
        let (lines, label): (Vec<String>, Option<&str>) = match &step.kind {
            StepKind::Run { commands } => (
                commands
                    .iter()
                    .map(|c| with_ns(c.line(), cx.namespace))
                    .collect(),
                None,
            ),
            StepKind::Exercise { goal, solution, .. } => {
                md.push_str(&format!(
                    "Exercise: {}\n\n",
                    block_text(&with_ns(goal, cx.namespace))
                ));
                (
                    solution
                        .iter()
                        .map(|c| with_ns(c.line(), cx.namespace))
                        .collect(),
                    Some("A solution:"),
                )
            }
            StepKind::Compare { .. } => {
                (Vec::new(), Some("A timed comparison of Redis and SQLite."))
            }
            StepKind::Scenario { .. } | StepKind::Race(_) => (
                Vec::new(),
                Some("A live demonstration with several clients."),
            ),
            StepKind::Wait { seconds, .. } => {
                md.push_str(&format!("Waits {seconds} s for TTLs to run out.\n\n"));
                (Vec::new(), None)
            }
        };
        if let Some(label) = label {
            md.push_str(label);
            md.push_str("\n\n");
        }
        if !lines.is_empty() {
            md.push_str(&fenced("redis", &lines.join("\n")));
        }
        if let Some(after) = &step.after {
            md.push_str(&format!(
                "{}\n\n",
                block_text(&with_ns(after, cx.namespace))
            ));
        }
    }
}

/// Every script the lesson sends, once, named by its `let` variable where it has one.
fn scripts(lesson: &Lesson, md: &mut String) {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for step in &lesson.steps {
        for (name, value) in &step.let_vars {
            names.entry(value.clone()).or_insert_with(|| name.clone());
        }
    }
    let mut shown: Vec<String> = Vec::new();
    let mut out = String::new();
    for (step, script) in crate::lesson::scripts::lesson_scripts(lesson) {
        let text = String::from_utf8_lossy(&script).into_owned();
        if shown.contains(&text) {
            continue;
        }
        shown.push(text.clone());
        let name = match names.get(&text) {
            Some(n) => format!("`{}`", inline(n).replace('`', "")),
            None => format!("Script {}", shown.len()),
        };
        let place = match step {
            Some(i) => format!(" (step {})", i + 1),
            None => String::new(),
        };
        out.push_str(&format!("### {name}{place}\n\n"));
        out.push_str(&fenced("lua", &text));
    }
    if !out.is_empty() {
        md.push_str("## Scripts\n\n");
        md.push_str(&out);
    }
}

/// The recap, with its pitfalls in their own list.
fn recap(lesson: &Lesson, md: &mut String) {
    let Some(recap) = &lesson.recap else { return };
    let items: Vec<&str> = recap
        .lines()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect();
    let (pitfalls, rest): (Vec<&str>, Vec<&str>) =
        items.iter().partition(|l| l.starts_with("Pitfall:"));
    if !pitfalls.is_empty() {
        md.push_str("## Pitfalls\n\n");
        for p in pitfalls {
            let p = p.trim_start_matches("Pitfall:").trim();
            md.push_str(&format!("- {}\n", inline(p)));
        }
        md.push('\n');
    }
    if !rest.is_empty() {
        md.push_str("## Recap\n\n");
        for r in rest {
            md.push_str(&format!("- {}\n", inline(r)));
        }
        md.push('\n');
    }
}

fn results(lesson: &Lesson, cx: &Context<'_>, md: &mut String) {
    md.push_str("## Your results\n\n");
    let steps = lesson.steps.len();
    let id = inline(&lesson.id);
    let Some(p) = cx.progress else {
        md.push_str(&format!(
            "Not started yet: `redislab lesson {id}` starts it, `redislab quiz {id}` asks the quiz alone.\n\n"
        ));
        return;
    };
    md.push_str("| | |\n|---|---|\n");
    let done = match p.completed_at {
        Some(at) => format!("all {steps} steps, completed {}", (cx.date)(at)),
        None => format!("{} of {steps} steps", p.last_step.min(steps)),
    };
    md.push_str(&format!("| Steps | {} |\n", cell(&done)));
    let list = |v: &[usize]| {
        v.iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !p.failed.is_empty() {
        md.push_str(&format!("| Failed steps | {} |\n", list(&p.failed)));
    }
    if !p.skipped.is_empty() {
        md.push_str(&format!("| Skipped steps | {} |\n", list(&p.skipped)));
    }
    let quiz = match (p.best_score, p.quiz_total) {
        (Some(s), Some(t)) => format!("best score {s} of {t}"),
        _ => format!("not taken yet (`redislab quiz {id}`)"),
    };
    md.push_str(&format!("| Quiz | {} |\n\n", cell(&quiz)));
}

/// Text for one line (a heading, a list item, a table cell): controls escaped, line breaks
/// joined, and a leading character that would start a heading, list or quote escaped.
fn inline(text: &str) -> String {
    let one = prose(text).replace(['\n', '\t'], " ");
    let one = one.trim();
    match one.chars().next() {
        Some('#' | '>' | '=' | '|') => format!("\\{one}"),
        _ => one.to_string(),
    }
}

/// A table cell: `inline`, with every pipe escaped (GitHub splits cells on a bare `|`, even
/// inside a code span).
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

/// Prose kept as paragraphs; a line that would open a fence, heading or HTML block is escaped.
fn block_text(text: &str) -> String {
    prose(text.trim())
        .lines()
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("```")
                || t.starts_with("~~~")
                || t.starts_with('#')
                || t.starts_with('<')
            {
                format!("\\{t}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A code span that holds any text: a longer run of backticks than the text contains.
fn code(text: &str) -> String {
    let text = prose(text).replace(['\n', '\t'], " ");
    let longest = longest_run(&text, '`');
    if longest == 0 {
        return format!("`{text}`");
    }
    let ticks = "`".repeat(longest + 1);
    format!("{ticks} {text} {ticks}")
}

/// A fenced block that no line of `text` can close early.
fn fenced(info: &str, text: &str) -> String {
    let text = prose(text);
    let fence = "`".repeat((longest_run(&text, '`') + 1).max(3));
    format!("{fence}{info}\n{}\n{fence}\n\n", text.trim_end())
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for ch in text.chars() {
        if ch == c {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r##"
format_version: 1
id: "90"
slug: hostile
title: "Pipes | and \e]0;title\a controls"
structure: "String | Hash"
use_case: "a | b"
concept: "one idea"
introduction: "hello"
keys: ["a|b:*"]
recap: |
  - Pitfall: a | b
  - The pattern: ``` fence
steps:
  - kind: run
    title: "# not a heading"
    text: "t"
    commands:
      - "SET ${ns}:a|b \"x```y\""
    checks:
      - {key: "${ns}:a|b", type: string, ttl: {min: 25, max: 30}}
    after: "```\nclosed?"
quiz: []
"##;

    #[test]
    fn lesson_text_cannot_break_the_markdown() {
        let lesson = crate::lesson::loader::parse("hostile.yaml", HOSTILE).unwrap();
        let date = |_: i64| "DATE".to_string();
        let md = markdown(
            &lesson,
            &Context {
                namespace: "lab",
                progress: None,
                generated: "NOW",
                date: &date,
            },
        );
        assert!(!md.chars().any(|c| c.is_control() && c != '\n'), "{md}");
        assert!(md.contains("\\x1b]0;title\\x07"), "{md}");
        assert!(md.contains("| `lab:a\\|b` | string | 25–30 s |"), "{md}");
        assert!(md.contains("| Structure | String \\| Hash |"), "{md}");
        assert!(md.contains("### 1. \\# not a heading"), "{md}");
        // The command holds three backticks: its fence is longer.
        assert!(
            md.contains("````redis\nSET lab:a|b \"x```y\"\n````"),
            "{md}"
        );
        assert!(md.contains("\\```\nclosed?"), "{md}");
        // Every table row has the same number of unescaped pipes as its header.
        for line in md.lines().filter(|l| l.starts_with('|')) {
            let bare = line.replace("\\|", "");
            let n = bare.matches('|').count();
            assert!(n == 3 || n == 4, "{line}");
        }
    }
}
