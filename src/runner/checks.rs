//! Evaluates a step's checks against Redis state, replies and scenario metrics. Returns facts
//! (expected against actual), never prints.

use std::collections::BTreeMap;

use crate::redis::fence::Fenced;
use anyhow::Result;
use redis::Value;
use serde::Serialize;

use crate::lesson::model::{Check, TtlCheck};
use crate::lesson::vars::Vars;
use crate::redis::render::{error_text, render};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CheckResult {
    /// What was checked: `reply`, `ttl of lab:x`, `metric oversold`.
    pub what: String,
    pub expected: String,
    pub actual: String,
    pub passed: bool,
    /// The key the check is about, for explaining a failure.
    pub key: Option<String>,
    /// Why it failed, when the engine can tell (`runner::why`).
    pub why: Option<String>,
    /// The commands this check sent and the replies it compared, in order (`--explain`):
    /// what a learner can paste into redis-cli to see the same.
    #[serde(skip)]
    pub ran: Vec<Probed>,
}

/// One command a check sent, and the server's reply.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub args: Vec<Vec<u8>>,
    pub reply: Value,
}

impl CheckResult {
    fn ran(mut self, probes: Vec<Probed>) -> CheckResult {
        self.ran = probes;
        self
    }
}

/// The reply as plain text for checks: `OK`, `1`, `(nil)`, `hello`; arrays as redis-cli shows them.
pub fn reply_text(v: &Value) -> String {
    match v {
        Value::Okay => "OK".into(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Nil => "(nil)".into(),
        Value::Double(d) => d.to_string(),
        Value::ServerError(e) => format!("(error) {}", error_text(e.code(), e.details())),
        other => render(other).trim_end().to_string(),
    }
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        // Two decimals are plenty for a check's diff; trailing zeros add nothing.
        let t = format!("{n:.2}");
        t.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// 28950 → `28.95`, 30000 → `30`.
fn ms_as_seconds(ms: i64) -> String {
    let t = format!("{:.3}", ms as f64 / 1000.0);
    t.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn range_text(min: Option<f64>, max: Option<f64>, unit: &str) -> String {
    match (min, max) {
        (Some(a), Some(b)) if a == b => format!("{}{unit}", fmt_num(a)),
        (Some(a), Some(b)) => format!("{}–{}{unit}", fmt_num(a), fmt_num(b)),
        (Some(a), None) => format!("at least {}{unit}", fmt_num(a)),
        (None, Some(b)) => format!("at most {}{unit}", fmt_num(b)),
        (None, None) => "any".into(),
    }
}

fn result(
    what: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
    passed: bool,
) -> CheckResult {
    CheckResult {
        what: what.into(),
        expected: expected.into(),
        actual: actual.into(),
        passed,
        key: None,
        why: None,
        ran: Vec::new(),
    }
}

/// A check's connection, keeping what it was asked and what it answered.
struct Asker<'c> {
    conn: &'c mut Fenced,
    log: Vec<Probed>,
}

impl Asker<'_> {
    async fn query(&mut self, args: &[&[u8]]) -> Result<Value> {
        let mut cmd = redis::Cmd::new();
        for a in args {
            cmd.arg(*a);
        }
        let reply = redis::aio::ConnectionLike::req_packed_command(self.conn, &cmd).await?;
        self.log.push(Probed {
            args: args.iter().map(|a| a.to_vec()).collect(),
            reply: reply.clone(),
        });
        Ok(reply)
    }

    /// What was asked since the last call.
    fn take(&mut self) -> Vec<Probed> {
        std::mem::take(&mut self.log)
    }
}

/// Evaluates every check. `replies` are the step's replies in order.
pub async fn evaluate(
    conn: &mut Fenced,
    checks: &[Check],
    replies: &[Value],
    metrics: &BTreeMap<String, f64>,
    vars: &Vars,
) -> Result<Vec<CheckResult>> {
    let mut out = Vec::new();
    for c in checks {
        if c.reply.is_some() || c.reply_matches.is_some() {
            let idx =
                c.of.map(|n| n.saturating_sub(1))
                    .unwrap_or(replies.len().saturating_sub(1));
            let actual = replies
                .get(idx)
                .map(reply_text)
                .unwrap_or_else(|| "(no reply)".into());
            let which = if c.of.is_some() {
                format!("the reply to command {}", idx + 1)
            } else {
                "the reply".into()
            };
            if let Some(want) = &c.reply {
                let want = vars.expand(want)?;
                out.push(result(&which, want.clone(), actual.clone(), actual == want));
            }
            if let Some(re) = &c.reply_matches {
                let re_text = vars.expand(re)?;
                let passed = regex_lite::Regex::new(&re_text)
                    .map(|r| r.is_match(&actual))
                    .unwrap_or(false);
                out.push(result(&which, pattern_in_words(&re_text), actual, passed));
            }
        }
        if let Some(key) = &c.key {
            let key = vars.expand(key)?;
            out.extend(key_checks(conn, c, &key, vars).await?);
        }
        if let Some(name) = &c.metric {
            let actual = metrics.get(name).copied();
            let shown = actual.map(fmt_num).unwrap_or_else(|| "not reported".into());
            let what = metric_words(name);
            if let Some(e) = c.equals {
                out.push(result(&what, fmt_num(e), &shown, actual == Some(e)));
            }
            if c.min.is_some() || c.max.is_some() {
                let passed = actual
                    .is_some_and(|a| c.min.is_none_or(|m| a >= m) && c.max.is_none_or(|m| a <= m));
                out.push(result(&what, range_text(c.min, c.max, ""), &shown, passed));
            }
            if let Some(other) = &c.equals_metric {
                let o = metrics.get(other).copied();
                let expected = o.map(fmt_num).unwrap_or_else(|| "not reported".into());
                out.push(result(
                    format!(
                        "{} (the same as {})",
                        metric_words(name),
                        metric_words(other)
                    ),
                    expected,
                    &shown,
                    actual.is_some() && actual == o,
                ));
            }
        }
    }
    Ok(out)
}

/// The range checks on metrics (`min`, `max`) these metrics miss, each as one line
/// (`pipeline speedup: expected at least 2, got 1.67`). No server is asked.
pub fn range_misses(checks: &[Check], metrics: &BTreeMap<String, f64>) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.min.is_some() || c.max.is_some())
        .filter_map(|c| {
            let name = c.metric.as_ref()?;
            let actual = metrics.get(name).copied();
            let passed = actual
                .is_some_and(|a| c.min.is_none_or(|m| a >= m) && c.max.is_none_or(|m| a <= m));
            (!passed).then(|| {
                format!(
                    "{}: expected {}, got {}",
                    metric_words(name),
                    range_text(c.min, c.max, ""),
                    actual.map(fmt_num).unwrap_or_else(|| "not reported".into())
                )
            })
        })
        .collect()
}

/// A metric's name as words: `locked.gave_up` → `gave up (locked)`, `on_growth` → `on growth`.
pub fn metric_words(name: &str) -> String {
    let words = |s: &str| s.replace('_', " ");
    match name.rsplit_once('.') {
        Some((group, last)) => format!("{} ({})", words(last), words(group)),
        None => words(name),
    }
}

/// A `reply_matches` pattern as a learner reads it: literal pieces in order ("containing
/// "1-1", then "1-2"", "starting with (error) EXECABORT", "59 or 60"); a pattern with more
/// than that is described, never printed.
pub fn pattern_in_words(re: &str) -> String {
    let anchored_start = re.starts_with('^');
    let anchored_end = re.ends_with('$') && !re.ends_with("\\$");
    let body = re.trim_start_matches('^');
    let body = if anchored_end {
        &body[..body.len() - 1]
    } else {
        body
    };
    // Alternatives of literal words, the whole reply: `^(59|60)$`.
    if let Some(inner) = body.strip_prefix('(').and_then(|b| b.strip_suffix(')')) {
        let alts: Option<Vec<String>> = inner.split('|').map(literal).collect();
        if let (Some(alts), true) = (alts, anchored_start && anchored_end) {
            return alts.join(" or ");
        }
    }
    let pieces: Option<Vec<String>> = body
        .split("[\\s\\S]*")
        .flat_map(|p| p.split(".*"))
        .map(literal)
        .collect();
    let Some(pieces) = pieces else {
        return "a reply of the form the step's text describes".to_string();
    };
    let pieces: Vec<String> = pieces.into_iter().filter(|p| !p.is_empty()).collect();
    let quoted: Vec<String> = pieces.iter().map(|p| format!("`{p}`")).collect();
    match (anchored_start, anchored_end, pieces.len()) {
        (_, _, 0) => "any reply".to_string(),
        (true, true, 1) => quoted[0].clone(),
        (true, _, _) => format!("a reply starting with {}", quoted.join(", then ")),
        (false, true, 1) => format!("a reply ending with {}", quoted[0]),
        _ => format!("a reply containing {}", quoted.join(", then ")),
    }
}

/// A pattern piece with no regex left in it, unescaped; `None` if it has any.
fn literal(piece: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = piece.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                c if c.is_ascii_alphanumeric() => return None,
                c => out.push(c),
            },
            '.' | '*' | '+' | '?' | '[' | ']' | '(' | ')' | '{' | '}' | '|' | '^' | '$' => {
                return None;
            }
            c => out.push(c),
        }
    }
    Some(out)
}

/// The key a check is about, as Redis describes it now.
struct Probe<'a> {
    key: &'a str,
    k: &'a [u8],
    key_type: String,
    exists: bool,
}

async fn key_checks(
    conn: &mut Fenced,
    c: &Check,
    key: &str,
    vars: &Vars,
) -> Result<Vec<CheckResult>> {
    let k = key.as_bytes();
    let conn = &mut Asker {
        conn,
        log: Vec::new(),
    };
    let key_type = reply_text(&conn.query(&[b"TYPE", k]).await?);
    // Every check of the key reads its type first: each one's commands start with it.
    let typed = conn.take();
    let p = Probe {
        key,
        k,
        exists: key_type != "none",
        key_type,
    };
    // A check of a field implies a hash, of a score a sorted set, of a value a string: a key
    // of another type is reported by its type alone (a string's length is no field count).
    let implied = if c.field.is_some() {
        Some("hash")
    } else if c.score.is_some() {
        Some("zset")
    } else if c.value.is_some() {
        Some("string")
    } else {
        None
    };
    if let (None, Some(want), true) = (&c.key_type, implied, p.exists) {
        if want != p.key_type {
            let mut r = result(format!("type of {key}"), want, p.key_type.clone(), false)
                .ran(typed.clone());
            r.key = Some(key.to_string());
            return Ok(vec![r]);
        }
    }
    let mut out = shape_checks(conn, c, &p).await?;
    out.extend(content_checks(conn, c, &p, vars).await?);
    // A key of another type fails every other check for that one reason (a string's length is
    // not a hash's field count): the type line alone says it.
    if out
        .iter()
        .any(|r| !r.passed && r.what.starts_with("type of "))
    {
        out.retain(|r| r.passed || r.what.starts_with("type of "));
    }
    for r in &mut out {
        r.key = Some(key.to_string());
        let own = std::mem::take(&mut r.ran);
        r.ran = typed.iter().cloned().chain(own).collect();
    }
    Ok(out)
}

/// Existence, type, encoding, TTL and length.
async fn shape_checks(conn: &mut Asker<'_>, c: &Check, p: &Probe<'_>) -> Result<Vec<CheckResult>> {
    let (key, k, exists, key_type) = (p.key, p.k, p.exists, &p.key_type);
    let mut out = Vec::new();
    let yes_no = |b: bool| if b { "exists" } else { "missing" };
    if let Some(want) = c.exists {
        out.push(
            result(
                key.to_string(),
                yes_no(want),
                yes_no(exists),
                want == exists,
            )
            .ran(conn.take()),
        );
    }
    if let Some(want) = &c.key_type {
        out.push(
            result(
                format!("type of {key}"),
                want.clone(),
                key_type.clone(),
                *want == *key_type,
            )
            .ran(conn.take()),
        );
    }
    if let Some(want) = &c.encoding {
        let actual = if exists {
            reply_text(&conn.query(&[b"OBJECT", b"ENCODING", k]).await?)
        } else {
            "no such key".to_string()
        };
        let names = want.names();
        out.push(
            result(
                format!("encoding of {key}"),
                names.join(" or "),
                actual.clone(),
                names.contains(&actual.as_str()),
            )
            .ran(conn.take()),
        );
    }
    if let Some(ttl) = &c.ttl {
        let pttl = match conn.query(&[b"PTTL", k]).await? {
            Value::Int(i) => i,
            _ => -2,
        };
        let actual = match pttl {
            -2 => "no such key".to_string(),
            -1 => "no TTL".to_string(),
            // To the millisecond, so a value just outside a bound never reads as inside it.
            ms => format!("{}s", ms_as_seconds(ms)),
        };
        let (expected, passed) = match ttl {
            TtlCheck::Keyword(w) if w == "none" => ("no TTL".to_string(), pttl == -1),
            TtlCheck::Keyword(w) => (format!("{w:?} (unknown keyword)"), false),
            TtlCheck::Range { min, max } => {
                let secs = pttl as f64 / 1000.0;
                let passed = pttl >= 0
                    && min.is_none_or(|m| secs >= m - 0.001)
                    && max.is_none_or(|m| secs <= m + 0.001);
                (range_text(*min, *max, "s"), passed)
            }
        };
        out.push(result(format!("ttl of {key}"), expected, actual, passed).ran(conn.take()));
    }
    if c.len.is_some() || c.min_len.is_some() || c.max_len.is_some() {
        let cmd: &[u8] = match key_type.as_str() {
            "string" => b"STRLEN",
            "list" => b"LLEN",
            "hash" => b"HLEN",
            "set" => b"SCARD",
            "zset" => b"ZCARD",
            "stream" => b"XLEN",
            _ => b"EXISTS",
        };
        let actual = if exists {
            match conn.query(&[cmd, k]).await? {
                Value::Int(i) => i,
                _ => 0,
            }
        } else {
            0
        };
        let (expected, passed) = match c.len {
            Some(want) => (want.to_string(), actual == want),
            None => (
                range_text(c.min_len.map(|v| v as f64), c.max_len.map(|v| v as f64), ""),
                c.min_len.is_none_or(|m| actual >= m) && c.max_len.is_none_or(|m| actual <= m),
            ),
        };
        out.push(
            result(
                format!("length of {key}"),
                expected,
                actual.to_string(),
                passed,
            )
            .ran(conn.take()),
        );
    }
    Ok(out)
}

/// Value, members, scores and fields.
async fn content_checks(
    conn: &mut Asker<'_>,
    c: &Check,
    p: &Probe<'_>,
    vars: &Vars,
) -> Result<Vec<CheckResult>> {
    let (key, k, key_type) = (p.key, p.k, &p.key_type);
    let mut out = Vec::new();
    if let Some(want) = &c.value {
        let want = vars.expand(want)?;
        let actual = if key_type == "string" {
            reply_text(&conn.query(&[b"GET", k]).await?)
        } else if !p.exists {
            "no such key".to_string()
        } else {
            format!("a {key_type}, not a string")
        };
        out.push(
            result(
                format!("value of {key}"),
                want.clone(),
                actual.clone(),
                actual == want,
            )
            .ran(conn.take()),
        );
    }
    for (member, want) in [(&c.member, true), (&c.not_member, false)] {
        if let Some(m) = member {
            let m = vars.expand(m)?;
            let mb = m.as_bytes();
            let present = match key_type.as_str() {
                "set" => matches!(conn.query(&[b"SISMEMBER", k, mb]).await?, Value::Int(1)),
                "zset" => !matches!(conn.query(&[b"ZSCORE", k, mb]).await?, Value::Nil),
                "list" => matches!(conn.query(&[b"LPOS", k, mb]).await?, Value::Int(_)),
                "hash" => matches!(conn.query(&[b"HEXISTS", k, mb]).await?, Value::Int(1)),
                _ => false,
            };
            let word = |b: bool| if b { "a member" } else { "not a member" };
            out.push(
                result(
                    format!("{m} in {key}"),
                    word(want),
                    word(present),
                    present == want,
                )
                .ran(conn.take()),
            );
        }
    }
    if let Some(s) = &c.score {
        let member = vars.expand(&s.member)?;
        let actual = reply_text(&conn.query(&[b"ZSCORE", k, member.as_bytes()]).await?);
        let passed = actual
            .parse::<f64>()
            .is_ok_and(|a| (a - s.equals).abs() < 1e-9);
        out.push(
            result(
                format!("score of {member} in {key}"),
                fmt_num(s.equals),
                actual,
                passed,
            )
            .ran(conn.take()),
        );
    }
    if let Some(f) = &c.field {
        let name = vars.expand(&f.name)?;
        let v = conn.query(&[b"HGET", k, name.as_bytes()]).await?;
        let actual = reply_text(&v);
        let (expected, passed) = match &f.equals {
            Some(e) => {
                let e = vars.expand(e)?;
                (e.clone(), actual == e && v != Value::Nil)
            }
            None => ("present".to_string(), v != Value::Nil),
        };
        out.push(
            result(format!("field {name} of {key}"), expected, actual, passed).ran(conn.take()),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    #[test]
    fn range_misses_name_each_missed_bound_and_ignore_the_rest() {
        let check =
            |metric: &str, min: Option<f64>, max: Option<f64>| crate::lesson::model::Check {
                metric: Some(metric.into()),
                min,
                max,
                ..Default::default()
            };
        let checks = [
            check("pipeline_speedup", Some(2.0), None),
            check("on_growth", Some(3.0), None),
            check("absent", None, Some(1.0)),
        ];
        let metrics = [
            ("pipeline_speedup".to_string(), 1.67),
            ("on_growth".to_string(), 16.0),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            super::range_misses(&checks, &metrics),
            vec![
                "pipeline speedup: expected at least 2, got 1.67".to_string(),
                "absent: expected at most 1, got not reported".to_string(),
            ]
        );
    }
    #[test]
    fn patterns_read_as_words() {
        use super::pattern_in_words as w;
        assert_eq!(
            w(r#""1-1"[\s\S]*"1-2""#),
            r#"a reply containing `"1-1"`, then `"1-2"`"#
        );
        assert_eq!(
            w(r"^\(error\) EXECABORT"),
            "a reply starting with `(error) EXECABORT`"
        );
        assert_eq!(w("^(59|60)$"), "59 or 60");
        assert_eq!(
            w("^1[01][0-9][0-9]$"),
            "a reply of the form the step's text describes"
        );
        assert_eq!(super::metric_words("locked.gave_up"), "gave up (locked)");
        assert_eq!(super::metric_words("on_growth"), "on growth");
    }

    #[test]
    fn a_ttl_just_outside_a_bound_never_reads_as_inside_it() {
        assert_eq!(super::ms_as_seconds(28_950), "28.95");
        assert_eq!(super::ms_as_seconds(30_000), "30");
        assert_eq!(super::ms_as_seconds(29_999), "29.999");
    }
}
