//! Variables in lesson commands: `${ns}`, `${random}`, `${now_ms}`, `${now_s}` and values saved
//! from earlier replies. Only `${name}` with a known name is replaced, so Lua tables and JSON
//! braces pass through untouched. `${name+1}` adds an integer offset to a saved number.
//!
//! Every value remembers where it came from: the lesson file (trusted) or a reply from the
//! server (tainted: a learner may have written it). The command gate never runs a script whose
//! text is tainted, so a reply can never become code.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

/// The variables of one lesson run. The clock is injected so tests can fix it.
#[derive(Debug, Clone)]
pub struct Vars {
    values: BTreeMap<String, Value>,
    clock: fn() -> i64,
}

#[derive(Debug, Clone)]
struct Value {
    text: String,
    /// Came from a reply (or from text that used one), not from the lesson file.
    tainted: bool,
}

/// A template with its variables filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expanded {
    pub text: String,
    /// Some of the text came from a server reply.
    pub tainted: bool,
}

pub fn system_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub fn random_token() -> String {
    let mut b = [0u8; 8];
    rand::fill(&mut b[..]);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Names the engine provides; everything else must be saved first.
pub const BUILTIN: &[&str] = &["ns", "random", "now_ms", "now_s"];

impl Vars {
    pub fn new(namespace: &str) -> Self {
        Self::with_clock(namespace, system_clock_ms)
    }

    pub fn with_clock(namespace: &str, clock: fn() -> i64) -> Self {
        let mut v = Vars {
            values: BTreeMap::new(),
            clock,
        };
        v.set_trusted("ns", namespace.to_string());
        v.new_step();
        v
    }

    /// A fresh `${random}` for the next step.
    pub fn new_step(&mut self) {
        self.set_trusted("random", random_token());
    }

    /// A value saved from a reply: tainted.
    pub fn set(&mut self, name: &str, value: String) {
        self.set_value(name, value, true);
    }

    /// A value the lesson file wrote (or the engine made).
    pub fn set_trusted(&mut self, name: &str, value: String) {
        self.set_value(name, value, false);
    }

    /// Sets a value, tainted or not.
    pub fn set_value(&mut self, name: &str, text: String, tainted: bool) {
        self.values
            .insert(name.to_string(), Value { text, tainted });
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(|v| v.text.as_str())
    }

    /// Replaces `${name}`. An unknown name is an error naming it (a typo in a lesson).
    pub fn expand(&self, template: &str) -> Result<String> {
        self.expand_tracked(template).map(|e| e.text)
    }

    /// Like `expand`, and says whether any of the result came from a reply.
    pub fn expand_tracked(&self, template: &str) -> Result<Expanded> {
        let mut out = String::with_capacity(template.len());
        let mut tainted = false;
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(Expanded { text: out, tainted });
            };
            let Some((name, offset)) = parse_ref(&after[..end]) else {
                out.push_str("${");
                rest = after;
                continue;
            };
            let now = (self.clock)();
            let (value, from_reply) = match name {
                "now_ms" => (now.to_string(), false),
                "now_s" => ((now / 1000).to_string(), false),
                _ => match self.values.get(name) {
                    Some(v) => (v.text.clone(), v.tainted),
                    None => bail!(
                        "unknown variable ${{{name}}} (saved with save_as or let before use?)"
                    ),
                },
            };
            tainted |= from_reply;
            match offset {
                0 => out.push_str(&value),
                n => {
                    // A missing key read as (nil) counts as 0, as INCR would count it.
                    let base: i64 = if value == "(nil)" {
                        0
                    } else {
                        value.trim().parse().map_err(|_| {
                            anyhow::anyhow!(
                                "${{{}}}: {name} is {value:?}, not an integer",
                                &after[..end]
                            )
                        })?
                    };
                    out.push_str(&base.saturating_add(n).to_string());
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Expanded { text: out, tainted })
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `name`, `name+3` or `name-1`: the name and the integer offset.
fn parse_ref(s: &str) -> Option<(&str, i64)> {
    match s.find(['+', '-']) {
        None => is_name(s).then_some((s, 0)),
        Some(at) => {
            let (name, off) = s.split_at(at);
            let digits = &off[1..];
            if !is_name(name) || digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let n: i64 = digits.parse().ok()?;
            Some((name, if off.starts_with('-') { -n } else { n }))
        }
    }
}

/// Variable names a template uses (for validation).
pub fn names_in(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if parse_ref(&after[..end]).is_some() => {
                if let Some((name, _)) = parse_ref(&after[..end]) {
                    out.push(name.to_string());
                }
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> i64 {
        1_700_000_000_123
    }

    #[test]
    fn expands_known_names_only() {
        let mut v = Vars::with_clock("lab", fixed);
        v.set("token", "abc".into());
        assert_eq!(
            v.expand("SET ${ns}:lock ${token} PX 30000").unwrap(),
            "SET lab:lock abc PX 30000"
        );
        assert_eq!(
            v.expand("${now_ms} ${now_s}").unwrap(),
            "1700000000123 1700000000"
        );
        assert_eq!(
            v.expand("EVAL \"return {1,2}\" 0").unwrap(),
            "EVAL \"return {1,2}\" 0"
        );
        assert_eq!(v.expand("${ not a var}").unwrap(), "${ not a var}");
        assert!(v.expand("${nope}").is_err());
        assert_eq!(names_in("a ${ns}:x ${tok_1} ${}"), vec!["ns", "tok_1"]);
    }

    #[test]
    fn offsets_and_taint() {
        let mut v = Vars::with_clock("lab", fixed);
        v.set("n", "41".into());
        v.set_trusted("script", "return 1".into());
        assert_eq!(v.expand("SET k ${n+1}").unwrap(), "SET k 42");
        assert_eq!(v.expand("${n-41}").unwrap(), "0");
        v.set("missing", "(nil)".into());
        assert_eq!(v.expand("${missing+1}").unwrap(), "1");
        v.set("word", "abc".into());
        assert!(v.expand("${word+1}").is_err());
        assert_eq!(v.expand("${n+}").unwrap(), "${n+}");
        assert!(v.expand_tracked("${n}").unwrap().tainted);
        assert!(!v.expand_tracked("${script} ${ns}").unwrap().tainted);
        assert_eq!(names_in("${n+1} ${a-2}"), vec!["n", "a"]);
    }

    #[test]
    fn random_changes_per_step() {
        let mut v = Vars::with_clock("lab", fixed);
        let a = v.expand("${random}").unwrap();
        assert_eq!(a, v.expand("${random}").unwrap());
        v.new_step();
        assert_ne!(a, v.expand("${random}").unwrap());
    }
}
