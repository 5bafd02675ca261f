//! Why a check failed, when the engine can tell. A diff says what differs ("expected exists,
//! got missing"); a learner also wants the cause: the key's time ran out, a command deleted
//! it, a typo put the value under another name, the write set no TTL. The engine knows the
//! lesson's keys as the step found them (its snapshot) and as they are now, which is enough
//! for these causes; anything else keeps the plain diff.

use anyhow::Result;

use crate::namespace::is_inside;
use crate::redis::render::printable;
use crate::redis::tokenize::tokenize;
use crate::runner::Engine;
use crate::runner::checks::CheckResult;
use crate::runner::snapshot::Snapshot;

/// Fills `why` on the first failed check of each key where the cause is clear. `before`: the
/// lesson's keys when the step began (interactive walks; `None` in `--auto`); `lines`: the
/// command lines the step sent; `replies`: what they answered.
pub async fn explain(
    engine: &mut Engine<'_>,
    results: &mut [CheckResult],
    before: Option<&Snapshot>,
    lines: &[&str],
    replies: &[redis::Value],
) -> Result<()> {
    // EXECABORT: a command was refused while queueing, and EXEC ran none of the block.
    let aborted = replies
        .iter()
        .any(|r| crate::runner::checks::reply_text(r).starts_with("(error) EXECABORT"));
    let mut explained: Vec<String> = Vec::new();
    let mut created: Option<Vec<Vec<u8>>> = None;
    for r in results.iter_mut().filter(|r| !r.passed) {
        let Some(key) = r.key.clone() else { continue };
        if explained.contains(&key) {
            continue;
        }
        let now: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut engine.admin)
            .await?;
        r.why = if now == -2 {
            if created.is_none() {
                created = Some(written_in_step(engine, before, lines).await?);
            }
            let made = created.as_deref().unwrap_or_default();
            if aborted && names(lines, &key) {
                Some(ABORTED.into())
            } else {
                missing(&key, before, made, names(lines, &key))
            }
        } else if r.actual == "no TTL" {
            Some(
                "it has no TTL: the command that wrote it set none (EX, PX or EXPIRE), or a \
                 later write without KEEPTTL removed it"
                    .into(),
            )
        } else if r.expected == "no TTL" && now >= 0 {
            Some(
                "it has a TTL: the command that wrote it gave one (EX, PX, EXPIRE), or kept an \
                 old one (KEEPTTL)"
                    .into(),
            )
        } else {
            None
        };
        if r.why.is_some() {
            explained.push(key);
        }
    }
    Ok(())
}

/// Why a key a transaction would have written is missing, when EXEC answered EXECABORT.
const ABORTED: &str = "EXEC answered EXECABORT: a command was refused while it was queued, so \
                       the transaction ran none of its commands, this write included";

/// A key the check wanted is gone or was never made.
fn missing(
    key: &str,
    before: Option<&Snapshot>,
    created: &[Vec<u8>],
    named_here: bool,
) -> Option<String> {
    let made: Vec<&Vec<u8>> = created.iter().filter(|k| *k != key.as_bytes()).collect();
    let was = match before {
        Some(b) => b.pttl_of(key.as_bytes()),
        // In `--auto` nobody types, so there is nothing to explain but a typo in a lesson.
        None if made.is_empty() => return None,
        None => None,
    };
    Some(match was {
        Some(ms) if ms >= 0 => format!(
            "it was there when this step began, with {} to live: its time ran out, or a \
             command in this step deleted it",
            seconds(ms)
        ),
        Some(_) => "it was there when this step began (no TTL): a command in this step \
                    deleted or renamed it"
            .into(),
        None if named_here => "this step's commands name it, but it does not exist now: a \
                               write to it was refused (NX, XX), or a later command deleted it"
            .into(),
        None if made.is_empty() => "no command in this step created it".into(),
        None => {
            let names: Vec<String> = made
                .iter()
                .take(2)
                .map(|k| printable(k).into_owned())
                .collect();
            format!(
                "this step wrote {} instead: is the key name spelled as the goal says?",
                names.join(" and ")
            )
        }
    })
}

/// Whether one of `lines` names `key` as an argument.
fn names(lines: &[&str], key: &str) -> bool {
    lines
        .iter()
        .filter_map(|line| tokenize(line).ok())
        .any(|args| args.iter().skip(1).any(|a| a == key.as_bytes()))
}

/// Namespace keys the step's commands named that exist now and did not when it began: where
/// a mistyped key name put the value.
async fn written_in_step(
    engine: &mut Engine<'_>,
    before: Option<&Snapshot>,
    lines: &[&str],
) -> Result<Vec<Vec<u8>>> {
    let mut named: Vec<Vec<u8>> = lines
        .iter()
        .filter_map(|line| tokenize(line).ok())
        .flat_map(|args| args.into_iter().skip(1))
        .filter(|a| is_inside(&engine.namespace, a))
        .filter(|a| before.is_none_or(|b| b.pttl_of(a).is_none()))
        .collect();
    named.sort();
    named.dedup();
    let mut out = Vec::new();
    for k in named {
        let exists: i64 = redis::cmd("EXISTS")
            .arg(&k)
            .query_async(&mut engine.admin)
            .await?;
        if exists == 1 {
            out.push(k);
        }
    }
    Ok(out)
}

fn seconds(ms: i64) -> String {
    if ms < 10_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{} s", ms / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_never_made_names_what_the_step_made_instead() {
        let none = Snapshot::default();
        assert_eq!(
            missing("lab:a", Some(&none), &[], false).as_deref(),
            Some("no command in this step created it")
        );
        let why = missing("lab:a", Some(&none), &[b"lab:b".to_vec()], false).unwrap();
        assert!(why.contains("wrote lab:b instead"), "{why}");
        assert_eq!(missing("lab:a", None, &[], false), None);
        let why = missing("lab:a", Some(&none), &[], true).unwrap();
        assert!(why.contains("a later command deleted it"), "{why}");
        assert!(names(&["SET lab:a 1", "DEL lab:a"], "lab:a"));
        assert!(!names(&["SET lab:ab 1"], "lab:a"));
    }

    #[test]
    fn short_times_keep_a_decimal() {
        assert_eq!(seconds(1234), "1.2 s");
        assert_eq!(seconds(30_000), "30 s");
    }
}
