//! The range of every number a lesson file can hold, checked before anything runs: a number
//! out of range would otherwise pass the types and then abort (`iterations: 4294967295` asks
//! for tens of GB of samples at once) or run for days (`200000000`). LESSONS.md shows the same
//! table.

use crate::lesson::model::{Check, TtlCheck};

/// `(field, min, max, what it is)`. Integers unless said otherwise.
pub const RANGES: &[(&str, i64, i64, &str)] = &[
    ("format_version", 1, 1, "the lesson format this file uses"),
    (
        "compare iterations",
        1,
        5_000_000,
        "timed iterations of a compare step (8 bytes of samples each: 40 MB at most)",
    ),
    ("wait seconds", 1, 600, "length of a wait step"),
    (
        "check of",
        1,
        1_000,
        "which command's reply (also at most the step's command count)",
    ),
    (
        "check len",
        0,
        1_000_000_000,
        "expected length or cardinality",
    ),
    (
        "check ttl min/max",
        0,
        31_536_000,
        "expected TTL in seconds (a year at most); min ≤ max",
    ),
    (
        "check min/max/equals",
        -1_000_000_000_000,
        1_000_000_000_000,
        "a metric's bound; finite, min ≤ max",
    ),
    (
        "score equals",
        -1_000_000_000_000,
        1_000_000_000_000,
        "a sorted-set score; finite",
    ),
    (
        "question answer",
        1,
        1_000,
        "1-based choice (also at most the number of choices)",
    ),
];

fn range(field: &str) -> (i64, i64) {
    RANGES
        .iter()
        .find(|(f, ..)| *f == field)
        .map(|(_, lo, hi, _)| (*lo, *hi))
        .unwrap_or((i64::MIN, i64::MAX))
}

/// `None` when `value` lies in the field's range, else the message.
pub fn int(field: &str, value: i128) -> Option<String> {
    let (lo, hi) = range(field);
    (value < lo as i128 || value > hi as i128)
        .then(|| format!("{field} is {value}; it must be {lo}–{hi}"))
}

/// The same for a number that may be fractional: also finite.
pub fn float(field: &str, value: f64) -> Option<String> {
    let (lo, hi) = range(field);
    if !value.is_finite() {
        return Some(format!("{field} is {value}; it must be a finite number"));
    }
    (value < lo as f64 || value > hi as f64)
        .then(|| format!("{field} is {value}; it must be {lo}–{hi}"))
}

/// A `min ≤ max` pair, each in range.
pub fn pair(field: &str, min: Option<f64>, max: Option<f64>) -> Vec<String> {
    let mut out: Vec<String> = [min, max]
        .into_iter()
        .flatten()
        .filter_map(|v| float(field, v))
        .collect();
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo > hi {
            out.push(format!("{field}: min {lo} is above max {hi}"));
        }
    }
    out
}

/// Every number in a check against its documented range.
pub fn check(c: &Check, commands: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(of) = c.of {
        out.extend(int("check of", of as i128));
        if let Some(count) = commands.filter(|n| of > *n) {
            out.push(format!(
                "check of is {of}, but the step runs {count} command(s)"
            ));
        }
    }
    if let Some(len) = c.len {
        out.extend(int("check len", len.into()));
    }
    if let Some(TtlCheck::Range { min, max }) = &c.ttl {
        out.extend(pair("check ttl min/max", *min, *max));
    }
    out.extend(pair("check min/max/equals", c.min, c.max));
    if let Some(e) = c.equals {
        out.extend(float("check min/max/equals", e));
    }
    if let Some(s) = &c.score {
        out.extend(float("score equals", s.equals));
    }
    out
}

/// The whole Bounds table of LESSONS.md, from the ranges above and the race's own bounds, so the
/// document cannot drift from what `validate` enforces (a test holds LESSONS.md to it).
pub fn markdown() -> String {
    use crate::lesson::race as r;
    let mut out = String::from("| field | range | meaning |\n|---|---|---|\n");
    for (field, lo, hi, what) in RANGES {
        out.push_str(&format!(
            "| `{field}` | {} – {} | {what} |\n",
            num(*lo),
            num(*hi)
        ));
    }
    let rows = [
        (
            "race workers (all groups together)",
            format!("1 – {}", num(r::MAX_WORKERS.into())),
            "concurrent workers, one connection each",
        ),
        (
            "race repeat",
            format!("1 – {}", num(r::MAX_REPEAT.into())),
            "passes of each worker's list in a round",
        ),
        (
            "race commands per round",
            format!("at most {}", num(r::MAX_ROUND_COMMANDS as i64)),
            "workers × repeat × commands (retries aside)",
        ),
        (
            "race pause_ms",
            format!("0 – {}", num(r::MAX_PAUSE_MS as i64)),
            "the app's own work, in milliseconds",
        ),
        (
            "race retry.attempts",
            format!("1 – {}", num(r::MAX_ATTEMPTS.into())),
            "sends before giving up",
        ),
        (
            "race retry.backoff_ms, max_backoff_ms",
            format!("at most {}, backoff ≤ max", num(r::MAX_BACKOFF_MS as i64)),
            "the backoff's start and cap, in milliseconds",
        ),
        (
            "race planned waiting",
            format!(
                "at most {} s of worker time",
                num((r::MAX_PLANNED_MS / 1000) as i64)
            ),
            "Σ over rounds of workers × repeat × (every pause_ms + every retry's backoff run to its last attempt), `when` counted as if it held: 200 workers may wait 9 s each, one worker 30 minutes",
        ),
    ];
    for (field, range, what) in rows {
        out.push_str(&format!("| `{field}` | {range} | {what} |\n"));
    }
    out
}

/// 5000000 → `5 000 000`; ±10¹² as a power.
fn num(n: i64) -> String {
    if n.unsigned_abs() == 1_000_000_000_000 {
        return format!("{}10¹²", if n < 0 { "−" } else { "" });
    }
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    if n < 0 { format!("−{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert_eq!(int("compare iterations", 2000), None);
        assert!(int("compare iterations", 4_294_967_295).is_some());
        assert!(int("compare iterations", 0).is_some());
        assert!(float("check min/max/equals", f64::NAN).is_some());
        assert_eq!(
            pair("check ttl min/max", Some(25.0), Some(30.0)),
            Vec::<String>::new()
        );
        assert_eq!(pair("check ttl min/max", Some(30.0), Some(25.0)).len(), 1);
        assert!(markdown().contains("| `wait seconds` | 1 – 600 |"));
        assert_eq!(num(5_000_000), "5 000 000");
        assert_eq!(num(-1_000_000_000_000), "−10¹²");
    }

    /// The markers around the generated table in LESSONS.md.
    const BEGIN: &str =
        "<!-- bounds: generated from src/lesson/validate/ranges.rs; a test keeps it equal -->";
    const END: &str = "<!-- /bounds -->";

    /// LESSONS.md's Bounds table is this module's table, word for word.
    #[test]
    fn lessons_md_shows_the_bounds_validate_enforces() {
        if std::env::var_os("PRINT_BOUNDS").is_some() {
            println!("{}", markdown());
        }
        let doc = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/LESSONS.md"));
        let start = doc
            .find(BEGIN)
            .map(|i| i + BEGIN.len())
            .expect("LESSONS.md marks the start of the bounds table");
        let end = doc[start..]
            .find(END)
            .map(|i| start + i)
            .expect("LESSONS.md marks the end of the bounds table");
        assert_eq!(
            doc[start..end].trim(),
            markdown().trim(),
            "LESSONS.md's Bounds table differs from the code: paste `markdown()`'s table between the markers"
        );
    }
}
