//! Lesson scripts are trusted by where they come from, never by reading them. No scan of Lua can
//! tell what a script will touch (`local c = redis.call`, `redis['call']`, `KEYS[1]:sub(5)` ...),
//! so on a server redislab does not own, a lesson's script runs only if its exact text is one
//! shipped inside this binary (the embedded lessons, compared by SHA1). Any other script, from a
//! `--lessons` folder, a reply or the learner's typing, runs only on the managed server or
//! cluster, where the learner's ACL user fences it.
//!
//! `declares_its_keys` stays as a lint for our own lessons: `validate` reports it and a test
//! holds every shipped script to it. It protects nothing at run time.

use std::collections::{BTreeMap, HashSet};
use std::sync::OnceLock;

use super::model::{Lesson, Step};
use crate::redis::tokenize::tokenize;

/// The script a command carries: EVAL/EVAL_RO's body, SCRIPT LOAD's, FUNCTION LOAD's library.
pub fn script_of(args: &[Vec<u8>]) -> Option<&[u8]> {
    let upper = |i: usize| {
        args.get(i)
            .map(|a| a.to_ascii_uppercase())
            .unwrap_or_default()
    };
    match (upper(0).as_slice(), upper(1).as_slice()) {
        (b"EVAL" | b"EVAL_RO", _) => args.get(1).map(Vec::as_slice),
        (b"SCRIPT", b"LOAD") => args.get(2).map(Vec::as_slice),
        (b"FUNCTION", b"LOAD") if args.len() > 2 => args.last().map(Vec::as_slice),
        _ => None,
    }
}

pub use crate::redis::fence::{NOT_SHIPPED, sha1_hex};

/// Whether `text` is, byte for byte, a script of a lesson built into this binary.
pub fn is_shipped(text: &[u8]) -> bool {
    shipped().contains(&sha1_hex(text))
}

fn shipped() -> &'static HashSet<String> {
    static SHIPPED: OnceLock<HashSet<String>> = OnceLock::new();
    SHIPPED.get_or_init(|| {
        let mut out = HashSet::new();
        if let Ok(files) = super::loader::sources(None) {
            for (source, text) in files {
                if let Ok(lesson) = super::parse::parse(&source, &text) {
                    for (_, script) in lesson_scripts(&lesson) {
                        out.insert(sha1_hex(&script));
                    }
                }
            }
        }
        out
    })
}

/// Every script a lesson can send, with the step it belongs to (`None`: the lesson's setup or
/// quiz). A script named through a `let` variable (`EVAL ${release} ...`) is that variable's
/// text; one built from any other variable is kept as written, so it never matches a shipped
/// text.
pub fn lesson_scripts(lesson: &Lesson) -> Vec<(Option<usize>, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, step) in lesson.steps.iter().enumerate() {
        out.extend(step_scripts(step).into_iter().map(|s| (Some(i), s)));
    }
    for part in [
        serde_json::to_value(&lesson.setup),
        serde_json::to_value(&lesson.quiz),
    ]
    .into_iter()
    .flatten()
    {
        out.extend(scripts_in(&part).into_iter().map(|s| (None, s)));
    }
    out
}

/// The scripts one step can send (its commands, solution, race, trials, checks ...).
pub fn step_scripts(step: &Step) -> Vec<Vec<u8>> {
    serde_json::to_value(step)
        .map(|v| scripts_in(&v))
        .unwrap_or_default()
}

/// Why `step` cannot run on a server redislab does not own: it sends a script that is not
/// shipped with redislab.
pub fn needs_managed(step: &Step) -> Option<String> {
    step_scripts(step)
        .iter()
        .any(|s| !is_shipped(s))
        .then(|| NOT_SHIPPED.to_string())
}

fn scripts_in(value: &serde_json::Value) -> Vec<Vec<u8>> {
    let mut lets = BTreeMap::new();
    collect_lets(value, &mut lets);
    let mut strings = Vec::new();
    collect_strings(value, &mut strings);
    let mut out = Vec::new();
    for s in strings {
        let Ok(args) = tokenize(s) else { continue };
        let Some(script) = script_of(&args) else {
            continue;
        };
        let text = String::from_utf8_lossy(script);
        let resolved = text
            .strip_prefix("${")
            .and_then(|t| t.strip_suffix('}'))
            .and_then(|name| lets.get(name));
        out.push(match resolved {
            Some(v) => v.as_bytes().to_vec(),
            None => script.to_vec(),
        });
    }
    out
}

/// Every `let` table anywhere in `value` (a step's, a race's, a group's), merged.
fn collect_lets(value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "let" || k == "let_vars" {
                    if let serde_json::Value::Object(vars) = v {
                        for (name, text) in vars {
                            if let serde_json::Value::String(t) = text {
                                out.insert(name.clone(), t.clone());
                            }
                        }
                    }
                }
                collect_lets(v, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_lets(v, out)),
        _ => {}
    }
}

fn collect_strings<'v>(value: &'v serde_json::Value, out: &mut Vec<&'v str>) {
    match value {
        serde_json::Value::String(s) => out.push(s),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Whether a Lua script names every key it touches through `KEYS`: each `redis.call` /
/// `redis.pcall` names its command as a string, and its first argument (if any) is `KEYS[n]`
/// or a local set from `KEYS[n]`. A lint for lessons redislab ships (a test holds every one of
/// them to it); it is no defence, since Lua has too many ways around it.
pub fn declares_its_keys(script: &str) -> Result<(), String> {
    let key_locals = locals_from_keys(script);
    for call in ["redis.call(", "redis.pcall("] {
        let mut rest = script;
        while let Some(at) = rest.find(call) {
            rest = &rest[at + call.len()..];
            let args = rest.trim_start();
            let Some(quote) = args.chars().next().filter(|c| *c == '\'' || *c == '"') else {
                return Err(format!(
                    "{call}...) must name its command as a string, so the keys it touches can be checked"
                ));
            };
            let Some(end) = args[1..].find(quote) else {
                return Err(format!("{call}...) has an unclosed string"));
            };
            let command = &args[1..1 + end];
            let after = args[end + 2..].trim_start();
            let Some(first) = after.strip_prefix(',') else {
                continue; // No arguments: `redis.call('TIME')`.
            };
            let first = first.trim_start();
            let ident: String = first
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let declared =
                first.starts_with("KEYS[") || (!ident.is_empty() && key_locals.contains(&ident));
            if !declared {
                return Err(format!(
                    "redis.call('{command}', ...) must name its key as KEYS[n] (or a local set from KEYS[n]), so it can be checked to be inside the namespace"
                ));
            }
        }
    }
    Ok(())
}

/// The lint as `validate` applies it: to EVAL and SCRIPT LOAD bodies. A function library
/// (`#!lua name=...`, sent with FUNCTION LOAD) names its keys through its own parameter and
/// needs the managed server anyway.
pub fn lint(script: &[u8]) -> Result<(), String> {
    if script.starts_with(b"#!") {
        return Ok(());
    }
    declares_its_keys(&String::from_utf8_lossy(script))
}

/// Names assigned from `KEYS[...]`: `local key = KEYS[1]`.
fn locals_from_keys(script: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    let mut rest = script;
    while let Some(at) = rest.find("local ") {
        rest = &rest[at + 6..];
        let ident: String = rest
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let tail = rest.trim_start()[ident.len()..].trim_start();
        if let Some(value) = tail.strip_prefix('=') {
            if value.trim_start().starts_with("KEYS[") && !ident.is_empty() {
                out.insert(ident);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_must_declare_their_keys() {
        assert!(declares_its_keys("return redis.call('GET', KEYS[1])").is_ok());
        assert!(
            declares_its_keys("local key = KEYS[1] redis.call('ZCARD', key) redis.call('TIME')")
                .is_ok()
        );
        assert!(declares_its_keys("redis.call('DEL','counter')").is_err());
        assert!(declares_its_keys("local k = 'victim' redis.call('DEL', k)").is_err());
        assert!(declares_its_keys("local c = 'DEL' redis.call(c, KEYS[1])").is_err());
        assert!(declares_its_keys("redis.pcall(\"SET\", KEYS[2], ARGV[1])").is_ok());
        assert!(declares_its_keys("return 1").is_ok());
    }

    #[test]
    fn the_sha_is_the_one_redis_gives() {
        // `SCRIPT LOAD "return 1"` on any Redis.
        assert_eq!(
            sha1_hex(b"return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn shipped_scripts_are_known_and_others_are_not() {
        let release = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
        assert!(is_shipped(release.as_bytes()));
        assert!(!is_shipped(b"return redis.call('FLUSHALL')"));
        assert!(!is_shipped(format!("{release} ").as_bytes()));
    }

    /// Every script a shipped lesson sends is shipped (so it runs on any server) and names its
    /// keys only through KEYS[n].
    #[test]
    fn every_shipped_script_is_trusted_and_declares_its_keys() {
        let mut seen = 0;
        for (source, text) in super::super::loader::sources(None).expect("embedded lessons") {
            let lesson = super::super::parse::parse(&source, &text).expect("parses");
            for (step, script) in lesson_scripts(&lesson) {
                let text = String::from_utf8_lossy(&script);
                assert!(is_shipped(&script), "{source} step {step:?}: {text}");
                if let Err(why) = lint(&script) {
                    panic!("{source} step {step:?}: {why}\n{text}");
                }
                seen += 1;
            }
            for step in &lesson.steps {
                assert_eq!(needs_managed(step), None, "{source}: {}", step.title);
            }
        }
        assert!(seen >= 10, "only {seen} shipped scripts found");
    }
}
