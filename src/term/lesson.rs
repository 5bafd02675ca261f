//! How a lesson looks: step headers, command previews, replies, check diffs, scenario, race
//! and compare tables, quiz feedback. Each function returns the text for a terminal `width`
//! columns wide; `term::view` decides when and where it is printed.

use colored::Colorize;

use crate::lesson::model::Lesson;
use crate::measure::human_us;
use crate::redis::render::{printable_str, render_for};
use crate::runner::checks::CheckResult;
use crate::runner::compare::CompareReport;
use crate::runner::seam::Planned;
use crate::runner::{Executed, KeyTable};
use crate::scenarios::ScenarioReport;
use crate::untrusted::prose;

use super::text::{flow, labeled};

/// One line per trial: held, or what the answer would break there.
pub fn trials(outcomes: &[crate::runner::trial::TrialOutcome], width: usize) -> String {
    let mut out = String::new();
    for t in outcomes {
        if t.passed {
            let text = format!("also right when {}", prose(&t.given));
            out.push_str(&labeled("✓", &"✓".green().to_string(), &text, "  ", width));
        } else {
            let text = format!("when {}: {}", prose(&t.given), prose(&t.why));
            out.push_str(&labeled(
                "✗",
                &"✗".red().bold().to_string(),
                &text,
                "  ",
                width,
            ));
        }
    }
    out
}

/// A preview naming the client of each command when a step uses more than one.
pub fn preview_planned(lines: &[Planned], width: usize) -> String {
    let mut out = String::new();
    for p in lines {
        let who = p
            .connection
            .as_deref()
            .map(|c| format!("[{c}] "))
            .unwrap_or_default();
        let line = format!(
            "  {}{} {}",
            who.dimmed(),
            "›".dimmed(),
            super::command(&p.line)
        );
        out.push_str(&command_lines(&line, "      ", width));
    }
    out
}

/// A (coloured) command line wrapped between arguments, later lines indented under it.
fn command_lines(line: &str, hang: &str, width: usize) -> String {
    let opts = textwrap::Options::new(width)
        .subsequent_indent(hang)
        .break_words(false)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    let mut out = String::new();
    for l in textwrap::wrap(line, opts) {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

pub fn intro(l: &Lesson, steps: usize, width: usize) -> String {
    let time = format!(
        "{steps} steps, then a quiz of {} questions. TTLs stand still while you read or type; they run while a step runs, and in wait steps.",
        l.quiz.len()
    );
    let field = |label: &str, text: &str| {
        labeled(label, &label.bold().to_string(), &prose(text), "", width)
    };
    format!(
        "\n{}\n{}\n{}{}{}\n{}",
        format!("Lesson {} · {}", prose(&l.id), prose(&l.title))
            .bold()
            .underline(),
        flow(&time, "", width).dimmed(),
        field("Structure:", &l.structure),
        field("Used for: ", &l.use_case),
        field("Key idea: ", &l.concept),
        flow(&l.introduction, "", width),
    )
}

pub fn step_header(
    i: usize,
    n: usize,
    title: &str,
    kind: &str,
    text: &str,
    width: usize,
) -> String {
    format!(
        "\n{} {}\n{}",
        format!("Step {i}/{n}").bold().blue(),
        format!("{}  {}", prose(title), format!("[{kind}]").dimmed()).bold(),
        flow(text, "", width)
    )
}

pub fn preview(lines: &[String], width: usize) -> String {
    let planned: Vec<Planned> = lines
        .iter()
        .map(|l| Planned {
            line: l.clone(),
            connection: None,
        })
        .collect();
    preview_planned(&planned, width)
}

pub fn executed(e: &[Executed], width: usize) -> String {
    let mut out = String::new();
    for x in e {
        let who = x
            .connection
            .as_deref()
            .map(|c| format!("[{c}] "))
            .unwrap_or_default();
        let line = format!(
            "{}{}{}",
            who.dimmed(),
            "redis> ".dimmed(),
            super::command(&x.line)
        );
        out.push_str(&command_lines(&line, "    ", width));
        match &x.refused {
            Some(why) => out.push_str(&format!("{} {why}\n", "(refused)".yellow())),
            None => {
                let args = crate::redis::tokenize::tokenize(&x.line).unwrap_or_default();
                match (&x.client_note, &x.reply) {
                    // Nothing came back from a server: only the note is shown, never a reply.
                    (Some(_), redis::Value::Nil) if x.line == "QUIT" => {}
                    _ => out.push_str(&render_for(&args, &x.reply)),
                }
                if let Some(note) = &x.client_note {
                    out.push_str(&flow(note, "", width).dimmed().to_string());
                }
            }
        }
    }
    out
}

pub fn checks(results: &[CheckResult], width: usize) -> String {
    let mut out = String::new();
    for r in results {
        let what = printable_str(&r.what);
        let multi_line = r.actual.contains('\n') || r.expected.contains('\n');
        let (mark, text) = if r.passed && r.what.starts_with("the reply") {
            // A passing reply check is one line: the reply is on the screen just above.
            let text = format!("{what} is as the lesson expects");
            ("✓".green().to_string(), capitalized(&text))
        } else if r.passed && multi_line {
            ("✓".green().to_string(), format!("{what} is as expected"))
        } else if r.passed && r.key.is_none() {
            // A measured number: the value, and what the lesson asked of it.
            (
                "✓".green().to_string(),
                format!(
                    "{what} came out at {}, as expected ({})",
                    printable_str(&r.actual),
                    printable_str(&r.expected)
                ),
            )
        } else if r.passed {
            (
                "✓".green().to_string(),
                format!("{what}: {}", printable_str(&r.actual)),
            )
        } else if multi_line {
            out.push_str(&format!(
                "  {} {}\n",
                "✗".red().bold(),
                capitalized(&format!("{what} is not what the lesson expects:"))
            ));
            out.push_str(&side_by_side(&r.expected, &r.actual, width));
            if let Some(why) = &r.why {
                out.push_str(&labeled(
                    "↳",
                    &"↳".dimmed().to_string(),
                    &prose(why),
                    "    ",
                    width,
                ));
            }
            continue;
        } else {
            (
                "✗".red().bold().to_string(),
                format!(
                    "{what}: expected {}, got {}",
                    printable_str(&r.expected).green(),
                    printable_str(&r.actual).red()
                ),
            )
        };
        out.push_str(&labeled("✓", &mark, &text, "  ", width));
        if let Some(why) = &r.why {
            out.push_str(&labeled(
                "↳",
                &"↳".dimmed().to_string(),
                &prose(why),
                "    ",
                width,
            ));
        }
    }
    out
}

fn capitalized(text: &str) -> String {
    let mut c = text.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// What the lesson expected and what Redis holds, each as redis-cli shows it, in two columns
/// when both fit the screen side by side, else one above the other. Each line is shown as it is
/// (control characters escaped), never as one escaped string.
fn side_by_side(expected: &str, actual: &str, width: usize) -> String {
    let lines =
        |t: &str| -> Vec<String> { t.lines().map(|l| printable_str(l).into_owned()).collect() };
    let (e, a) = (lines(expected), lines(actual));
    let widest = |v: &[String]| v.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let col = widest(&e).max("expected".len());
    let mut out = String::new();
    if 6 + col + 3 + widest(&a).max(3) <= width {
        let pad = " ".repeat(col - "expected".len());
        out.push_str(&format!(
            "      {}{pad}   {}\n",
            "expected".dimmed(),
            "got".dimmed()
        ));
        for i in 0..e.len().max(a.len()) {
            let left = e.get(i).map(String::as_str).unwrap_or("");
            let right = a.get(i).map(String::as_str).unwrap_or("");
            let pad = " ".repeat(col.saturating_sub(left.chars().count()));
            out.push_str(&format!("      {}{pad}   {}\n", left.green(), right.red()));
        }
    } else {
        out.push_str(&format!("      {}\n", "expected:".dimmed()));
        for l in &e {
            out.push_str(&format!("        {}\n", l.green()));
        }
        out.push_str(&format!("      {}\n", "got:".dimmed()));
        for l in &a {
            out.push_str(&format!("        {}\n", l.red()));
        }
    }
    out
}

/// The key table after a step: the step's own keys marked `▸` when other lesson keys are shown
/// too, and how many lesson keys were left out.
/// `invocation` starts the suggested `inspect` (`redislab --redis-url ...`).
pub fn keys(table: &KeyTable, invocation: &str) -> String {
    if table.rows.is_empty() {
        return format!("{}\n", "(no keys of this lesson yet)".dimmed());
    }
    let marks: Vec<bool> = (0..table.rows.len())
        .map(|i| i < table.marked && table.marked < table.rows.len())
        .collect();
    let mut out = format!("{}\n", super::table::keys_marked(&table.rows, &marks));
    if marks.iter().any(|m| *m) {
        out.push_str(&format!(
            "{}\n",
            "▸ this step's keys; the others belong to the lesson".dimmed()
        ));
    }
    if table.more > 0 {
        out.push_str(&format!(
            "{}\n",
            format!(
                "… and {} more key(s) of this lesson: `{invocation} inspect` shows them all",
                table.more
            )
            .dimmed()
        ));
    }
    out
}

pub fn scenario(r: &ScenarioReport, width: usize) -> String {
    let mut out = String::new();
    if !r.header.is_empty() {
        let mut t = super::table::new_table(r.header.iter().map(String::as_str).collect());
        for row in &r.rows {
            t.add_row(row.clone());
        }
        out.push_str(&format!("{t}\n"));
    }
    for n in &r.notes {
        out.push_str(&labeled(
            "→",
            &"→".cyan().to_string(),
            &prose(n),
            "  ",
            width,
        ));
    }
    out
}

pub fn compare(r: &CompareReport, width: usize) -> String {
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
    let note = format!(
        "{} timed iterations each after a warm-up, measured just now on this machine. \
         ops/s is the operations over the time they all took, so a few slow ones lower it \
         while the median (p50) stays put: the two columns can rank the rows differently. \
         A loopback round trip can vary a lot between runs on a busy or virtual machine: \
         run the step again to see your spread.",
        r.iterations
    );
    format!(
        "{t}\n{}{}",
        labeled(
            "→",
            &"→".cyan().to_string(),
            &prose(&r.conclusion),
            "  ",
            width
        ),
        flow(&note, "", width).dimmed()
    )
}

pub fn after(text: &str, width: usize) -> String {
    labeled(
        "Look:",
        &"Look:".bold().to_string(),
        &prose(text),
        "",
        width,
    )
}

pub fn skipped(reason: &str) -> String {
    format!("  {} skipped: {}\n", "↷".yellow(), prose(reason))
}

pub fn failed_step(i: usize, title: &str) -> String {
    format!(
        "{}\n",
        format!("Step {i} ({}) has failing checks.", prose(title))
            .red()
            .bold()
    )
}

pub fn question(i: usize, n: usize, q: &str, predict: &[String], width: usize) -> String {
    // `n == 0`: one question asked alone (a review), named by its number in the lesson's quiz.
    let label = match n {
        0 => format!("Question {i}"),
        n => format!("Question {i}/{n}"),
    };
    let mut out = format!(
        "\n{}",
        labeled(
            &label,
            &label.bold().magenta().to_string(),
            &prose(q),
            "",
            width
        )
    );
    if !predict.is_empty() {
        out.push_str(&preview(predict, width));
    }
    out
}

pub fn graded(
    correct: bool,
    right_text: Option<&str>,
    actual: Option<&str>,
    explanation: &str,
    width: usize,
) -> String {
    let mut out = String::new();
    if correct {
        out.push_str(&format!("  {}\n", "Right.".green().bold()));
    } else {
        match right_text {
            Some(r) => out.push_str(&format!(
                "  {} The answer is: {}\n",
                "Not quite.".red().bold(),
                prose(r)
            )),
            None => out.push_str(&format!("  {}\n", "Not quite.".red().bold())),
        }
    }
    if let Some(a) = actual {
        out.push_str(&format!(
            "  {} {}\n",
            "Redis replied:".dimmed(),
            prose(a.trim_end())
        ));
    }
    out.push_str(&flow(explanation, "  ", width));
    out
}

pub fn score(score: u32, total: u32) -> String {
    format!("\n{}\n", format!("Score: {score}/{total}").bold())
}

/// What a skipped wait did: `waited 1 s of 8 s; the other 7 s passed at once ...`.
pub fn fast_forwarded(skipped: u64, of: u64, expired: u64, fields: u64) -> String {
    let count = |n: u64, one: &str, many: &str| match n {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    };
    let (keys, how) = match fields {
        0 => (
            format!("{} expired", count(expired, "key", "keys")).replace("0 keys", "no key"),
            "PEXPIRE",
        ),
        n => (
            format!(
                "{} and {} expired",
                count(expired, "key", "keys"),
                count(n, "hash field", "hash fields")
            ),
            "PEXPIRE and HPEXPIRE",
        ),
    };
    let waited = of.saturating_sub(skipped);
    let head = if waited == 0 {
        format!("the {of} s passed at once")
    } else {
        format!("waited {waited} s of {of} s; the other {skipped} s passed at once")
    };
    format!("{head}: every TTL of this lesson shortened by {skipped} s with {how} ({keys})")
}

/// The checks as a redis-cli session (`--explain`, "Explain the checks"): under the checks of
/// one key, the commands they sent after the server's prompt and the replies as redis-cli
/// prints them. Every check of a key reads its type first; the session shows that once.
pub fn explain(results: &[CheckResult], prompt: &str) -> String {
    let mut out = format!(
        "  {}\n",
        "What the checks asked Redis (paste any line into redis-cli):".bold()
    );
    let prompt = printable_str(prompt);
    let mut i = 0;
    while i < results.len() {
        let first = &results[i];
        let mut j = i;
        let mut ran: Vec<&crate::runner::checks::Probed> = Vec::new();
        while j < results.len() && (j == i || (first.key.is_some() && results[j].key == first.key))
        {
            let r = &results[j];
            let mark = if r.passed {
                "✓".green().to_string()
            } else {
                "✗".red().bold().to_string()
            };
            out.push_str(&format!("  {mark} {}\n", printable_str(&r.what)));
            for p in &r.ran {
                if !ran.contains(&p) {
                    ran.push(p);
                }
            }
            j += 1;
        }
        if ran.is_empty() {
            let source = if first.key.is_none() && !first.what.starts_with("the reply") {
                "a figure the step measured; no command asks for it"
            } else {
                "the step's own reply, compared as text; no command sent"
            };
            out.push_str(&format!("    {}\n", source.dimmed()));
            for line in first.actual.lines() {
                out.push_str(&format!("    {}\n", printable_str(line)));
            }
        }
        for p in ran {
            out.push_str(&format!(
                "    {prompt}> {}\n",
                crate::redis::tokenize::display_args(&p.args)
            ));
            for line in render_for(&p.args, &p.reply).lines() {
                out.push_str(&format!("    {line}\n"));
            }
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod fast_forward_tests {
    #[test]
    fn a_skipped_wait_says_how_much_was_waited_and_how_much_skipped() {
        assert_eq!(
            super::fast_forwarded(7, 8, 1, 0),
            "waited 1 s of 8 s; the other 7 s passed at once: every TTL of this lesson \
             shortened by 7 s with PEXPIRE (1 key expired)"
        );
        assert!(super::fast_forwarded(8, 8, 0, 0).starts_with("the 8 s passed at once"));
        assert!(super::fast_forwarded(8, 8, 0, 0).ends_with("(no key expired)"));
        assert!(
            super::fast_forwarded(2, 2, 0, 1)
                .ends_with("with PEXPIRE and HPEXPIRE (0 keys and 1 hash field expired)")
        );
    }
}
