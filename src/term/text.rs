//! Prose that fits the terminal: lesson texts are written as paragraphs, and this flows them to
//! the terminal's width at word boundaries (never inside a word), keeping indented lines (lists,
//! commands) as their own lines with a hanging indent.

use textwrap::{Options, WordSplitter, wrap};

/// Flows `text` to `width` columns, every line starting with `indent`. The text is escaped
/// first: lesson prose may come from a folder, and may quote a saved reply.
pub fn flow(text: &str, indent: &str, width: usize) -> String {
    flow_styled(&crate::untrusted::prose(text), indent, width)
}

/// `flow` for text the caller built and escaped itself, which may hold its own colours.
fn flow_styled(text: &str, indent: &str, width: usize) -> String {
    let width = width.max(indent.len() + 20);
    let mut out = String::new();
    for (pi, paragraph) in text.trim_end().split("\n\n").enumerate() {
        if pi > 0 {
            out.push('\n');
        }
        let mut running = String::new();
        // The list item being collected: its first line's lead, bullet width and text.
        let mut item: Option<(usize, usize, String)> = None;
        for (li, line) in paragraph.lines().enumerate() {
            let trimmed = line.trim_start();
            let lead = line.len() - trimmed.len();
            // A line indented deeper than the open item continues it.
            if let Some((item_lead, _, text)) = &mut item {
                if lead > *item_lead && !trimmed.starts_with("- ") && !starts_numbered(trimmed) {
                    text.push(' ');
                    text.push_str(trimmed);
                    continue;
                }
            }
            // "8. Both ..." in the middle of a sentence is text, not a list.
            let numbered = starts_numbered(trimmed) && (lead > 0 || li == 0 || item.is_some());
            let is_item = lead > 0 || trimmed.starts_with("- ") || numbered;
            if is_item {
                push_wrapped(&mut out, &running, indent, indent, width);
                running.clear();
                flush_item(&mut out, item.take(), indent, width);
                item = Some((lead, bullet_width(trimmed), trimmed.to_string()));
            } else {
                flush_item(&mut out, item.take(), indent, width);
                if !running.is_empty() {
                    running.push(' ');
                }
                running.push_str(trimmed);
            }
        }
        flush_item(&mut out, item.take(), indent, width);
        push_wrapped(&mut out, &running, indent, indent, width);
    }
    out
}

/// `label` then `text`, flowed so the text's later lines hang under the text, not the label.
/// `styled_label` is the label as it should be drawn (with colour); it must show as `label`.
pub fn labeled(label: &str, styled_label: &str, text: &str, indent: &str, width: usize) -> String {
    let hang = " ".repeat(indent.len() + label.chars().count() + 1);
    // Flowed as any text is, lists kept as lists, then the label takes the first line's lead.
    // Callers escape the untrusted parts of `text`; its colours are theirs.
    let out = flow_styled(text, &hang, width);
    match out.strip_prefix(&hang) {
        Some(rest) => format!("{indent}{styled_label} {rest}"),
        None => out,
    }
}

/// Writes a collected list item with its hanging indent.
fn flush_item(out: &mut String, item: Option<(usize, usize, String)>, indent: &str, width: usize) {
    if let Some((lead, bullet, text)) = item {
        let first = format!("{indent}{}", " ".repeat(lead));
        let hang = format!("{first}{}", " ".repeat(bullet));
        push_wrapped(out, &text, &first, &hang, width);
    }
}

fn push_wrapped(out: &mut String, text: &str, first: &str, rest: &str, width: usize) {
    if text.trim().is_empty() {
        return;
    }
    let opts = Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .break_words(false)
        // Key names and commands are words: never split them at a hyphen.
        .word_splitter(WordSplitter::NoHyphenation);
    for l in wrap(text, opts) {
        out.push_str(l.trim_end());
        out.push('\n');
    }
}

fn starts_numbered(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && s[digits..].starts_with(". ")
}

/// How far a list item's later lines hang: past `- ` or `12. `.
fn bullet_width(s: &str) -> usize {
    if s.starts_with("- ") {
        2
    } else if starts_numbered(s) {
        s.find(". ").map(|i| i + 2).unwrap_or(0)
    } else {
        0
    }
}

/// `line` cut to `room` screen columns, an ellipsis marking the cut: for menu entries, which a
/// terminal would otherwise wrap in the middle of a word.
pub fn cut(line: &str, room: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if line.width() <= room {
        return line.to_string();
    }
    let mut kept = String::new();
    let mut used = 0;
    for c in line.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > room {
            break;
        }
        used += w;
        kept.push(c);
    }
    format!("{}…", kept.trim_end())
}

#[cfg(test)]
mod tests {

    #[test]
    fn cut_keeps_lines_that_fit_and_marks_a_cut_by_screen_columns() {
        assert_eq!(super::cut("short", 10), "short");
        assert_eq!(super::cut("abcdefghij", 6), "abcde…");
        // A wide character takes two columns.
        assert_eq!(super::cut("日本語のテキスト", 7), "日本語…");
    }
    use super::*;

    #[test]
    fn a_labeled_text_keeps_the_colours_its_caller_gave_it() {
        let text = "expected \u{1b}[32m3\u{1b}[0m, got \u{1b}[31m2\u{1b}[0m";
        let out = labeled("✗", "✗", text, "  ", 80);
        assert!(out.contains("\u{1b}[32m3"), "{out:?}");
        assert!(!out.contains("\\x1b"), "{out:?}");
    }

    #[test]
    fn a_labeled_text_keeps_its_list_items_on_their_own_lines() {
        let text = "What the rows show:\n- one GET costs a round trip\n- MGET of 100 costs one round trip, not a hundred, when the keys are many\n\nThen a paragraph.";
        let out = labeled("→", "→", text, "  ", 40);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "  → What the rows show:", "{out}");
        assert_eq!(lines[1], "    - one GET costs a round trip", "{out}");
        assert!(lines[2].starts_with("    - MGET of 100"), "{out}");
        // A wrapped item hangs under its text, not under the bullet.
        assert!(lines[3].starts_with("      "), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= 40), "{out}");
        assert!(out.contains("\n\n    Then a paragraph."), "{out}");
    }

    #[test]
    fn paragraphs_flow_and_never_break_a_word() {
        let text = "Redis runs one command at a time,\nso no other client can get in between.\n\nSecond paragraph.";
        let out = flow(text, "", 30);
        for line in out.lines() {
            assert!(line.chars().count() <= 30, "{line:?}");
        }
        assert!(out.contains("\n\nSecond paragraph."), "{out}");
        assert!(out.contains("between."), "{out}");
        let long = flow("a lab:coupon:1:stock-that-is-very-long-indeed word", "", 20);
        assert!(
            long.contains("lab:coupon:1:stock-that-is-very-long-indeed"),
            "{long}"
        );
    }

    #[test]
    fn list_items_keep_their_lines_and_hang() {
        let text = "Three rounds:\n\n  - no protection: every request that misses queries the database;\n  - a lock";
        let out = flow(text, "", 40);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[2], "  - no protection: every request that");
        assert!(lines[3].starts_with("    misses"), "{out}");
        assert_eq!(lines.last().copied(), Some("  - a lock"));
    }

    #[test]
    fn continuation_lines_join_their_item_and_numbers_mid_sentence_stay_text() {
        let text = "Three rounds:\n  - a lock: on a miss, a request must win\n    the lock before it loads;\n  - jitter\n";
        let out = flow(text, "", 80);
        assert!(
            out.contains("  - a lock: on a miss, a request must win the lock before it loads;"),
            "{out}"
        );
        let mid = flow(
            "User 1 taps like in two tabs on post\n8. Both SISMEMBERs say no.",
            "",
            80,
        );
        assert_eq!(mid.lines().count(), 1, "{mid}");
        let list = flow("  1. GET the key.\n  2. SET it.", "", 80);
        assert_eq!(list.lines().count(), 2, "{list}");
    }

    #[test]
    fn labels_hang_their_text() {
        let out = labeled(
            "Look:",
            "Look:",
            "one two three four five six seven",
            "",
            20,
        );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("Look: one"), "{out}");
        assert!(lines[1].starts_with("      "), "{out}");
    }
}
