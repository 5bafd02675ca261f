//! The tape drawn: one dim line after a command with what it cost on the wire
//! (`1 round trip · 38 B → 5 B · 61.2 µs`), and an exercise's total beside the lesson's own.
//! The figures come from the engine (`redis::tape::Trip`); only the words are made here.

use crate::measure::human_us;
use crate::redis::tape::Trip;

fn trips(n: u64) -> String {
    if n == 1 {
        "1 round trip".to_string()
    } else {
        format!("{n} round trips")
    }
}

/// The tape's words, without colour: `1 round trip · 38 B → 5 B · 61.2 µs`. Bytes re-encoded
/// rather than read off one socket (a cluster) carry a `~`.
pub fn words(t: &Trip) -> String {
    let about = if t.counted { "" } else { "~" };
    format!(
        "{} · {about}{} B → {about}{} B · {}",
        trips(t.round_trips),
        t.sent,
        t.received,
        human_us(t.waited.as_secs_f64() * 1e6)
    )
}

/// The tape line, dim, with its line break.
pub fn line(t: &Trip) -> String {
    format!("{}\n", super::dim(&words(t)))
}

/// The tape on stderr (the sandbox with stdin piped: stdout stays the replies alone).
pub fn to_stderr(t: &Trip) {
    use colored::Colorize;
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{}", words(t).dimmed());
}

/// An exercise's total beside the lesson's: `3 round trips; the pattern needs 1`, and the
/// lesson's reason when it gives one.
pub fn total(yours: u64, model: u64, why: Option<&str>) -> String {
    let mut text = format!("{}; the pattern needs {model}", trips(yours));
    if let (Some(why), true) = (why, yours != model) {
        // A lesson's text: shown with any control character written out.
        text.push_str(": ");
        text.push_str(&crate::untrusted::prose(why));
    }
    format!("  {}\n", super::dim(&text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_tape_reads_as_one_short_line() {
        let t = Trip {
            round_trips: 1,
            sent: 38,
            received: 5,
            waited: Duration::from_micros(61),
            counted: true,
        };
        assert_eq!(words(&t), "1 round trip · 38 B → 5 B · 61.0 µs");
        let cluster = Trip {
            counted: false,
            round_trips: 3,
            ..t
        };
        assert_eq!(words(&cluster), "3 round trips · ~38 B → ~5 B · 61.0 µs");
    }

    #[test]
    fn the_lessons_reason_shows_only_when_the_counts_differ() {
        colored::control::set_override(false);
        assert_eq!(
            total(3, 1, Some("MULTI/EXEC or a pipeline")),
            "  3 round trips; the pattern needs 1: MULTI/EXEC or a pipeline\n"
        );
        assert_eq!(
            total(1, 1, Some("MULTI/EXEC or a pipeline")),
            "  1 round trip; the pattern needs 1\n"
        );
    }
}
