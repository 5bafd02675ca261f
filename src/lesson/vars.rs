//! Variables in lesson commands: `${ns}`, `${random}`, `${now_ms}`, `${now_s}` and values saved
//! from earlier replies. Only `${name}` with a known name is replaced, so Lua tables and JSON
//! braces pass through untouched.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

/// The variables of one lesson run. The clock is injected so tests can fix it.
#[derive(Debug, Clone)]
pub struct Vars {
    values: BTreeMap<String, String>,
    clock: fn() -> i64,
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
        let mut values = BTreeMap::new();
        values.insert("ns".to_string(), namespace.to_string());
        let mut v = Vars { values, clock };
        v.new_step();
        v
    }

    /// A fresh `${random}` for the next step.
    pub fn new_step(&mut self) {
        self.values.insert("random".into(), random_token());
    }

    pub fn set(&mut self, name: &str, value: String) {
        self.values.insert(name.to_string(), value);
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Replaces `${name}`. An unknown name is an error naming it (a typo in a lesson).
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let name = &after[..end];
            if !is_name(name) {
                out.push_str("${");
                rest = after;
                continue;
            }
            let now = (self.clock)();
            let value = match name {
                "now_ms" => now.to_string(),
                "now_s" => (now / 1000).to_string(),
                _ => match self.values.get(name) {
                    Some(v) => v.clone(),
                    None => bail!(
                        "unknown variable ${{{name}}} (saved with save_as or let before use?)"
                    ),
                },
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Variable names a template uses (for validation).
pub fn names_in(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if is_name(&after[..end]) => {
                out.push(after[..end].to_string());
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
    fn random_changes_per_step() {
        let mut v = Vars::with_clock("lab", fixed);
        let a = v.expand("${random}").unwrap();
        assert_eq!(a, v.expand("${random}").unwrap());
        v.new_step();
        assert_ne!(a, v.expand("${random}").unwrap());
    }
}
