//! Trials: an exercise's answer replayed against other states. The goal's checks only see the
//! state one answer leaves behind, so `SET lock tok EX 30` (without NX) looks as right as the
//! real answer when the lock is free. A trial copies the exercise's keys into scratch keys
//! (`<ns>:trial:...`), prepares another state there (the lock already held by someone else),
//! replays the learner's own commands against the scratch keys, and checks what must still
//! hold. Scratch keys are deleted before and after, and every command passes the fence.

use std::collections::BTreeMap;

use anyhow::Result;

use crate::lesson::model::{Check, CommandSpec, Trial};
use crate::redis::fence::{Arg, Origin};
use crate::runner::checks::{self, CheckResult};
use crate::runner::{Engine, lesson_args, typed_args};

/// The answer to replay.
pub enum Answer<'a> {
    /// What the learner typed (untrusted, as typed).
    Typed(&'a [String]),
    /// The lesson's own commands (a solution or a wrong answer it declares).
    Lesson(&'a [CommandSpec]),
}

/// How one trial went.
#[derive(Debug, Clone)]
pub struct TrialOutcome {
    pub given: String,
    pub why: String,
    pub passed: bool,
    pub results: Vec<CheckResult>,
}

/// The connection trials run on, apart from the learner's.
const CONNECTION: &str = "trial";

/// How long one command of a trial may wait. A trial's state is made up, so a blocking command
/// in the answer (`BLMOVE src dst LEFT RIGHT 0` when the trial emptied `src`) could wait for
/// ever: past this, the trial ends as failed and its connection is closed.
pub const TRIAL_DEADLINE: std::time::Duration = std::time::Duration::from_secs(5);

/// Sends one trial command within `TRIAL_DEADLINE`; `false` when it was still waiting.
async fn send(engine: &mut Engine<'_>, args: &[Arg], origin: Origin) -> Result<bool> {
    match tokio::time::timeout(
        TRIAL_DEADLINE,
        engine.send_args(args, origin, Some(CONNECTION)),
    )
    .await
    {
        Ok(sent) => sent.map(|_| true),
        Err(_) => {
            engine.close_connection(CONNECTION);
            Ok(false)
        }
    }
}

/// Runs every trial of an exercise against `answer`.
pub async fn run_all(
    engine: &mut Engine<'_>,
    goal_checks: &[Check],
    trials: &[Trial],
    answer: &Answer<'_>,
) -> Result<Vec<TrialOutcome>> {
    let mut keys = Vec::new();
    for c in goal_checks {
        if let Some(k) = &c.key {
            let k = engine.expand(k)?.into_bytes();
            if !keys.contains(&k) {
                keys.push(k);
            }
        }
    }
    let ns = engine.namespace.clone();
    let scratch: Vec<(Vec<u8>, Vec<u8>)> = keys
        .iter()
        .filter_map(|k| scratch_key(&ns, k).map(|s| (k.clone(), s)))
        .collect();
    let mut out = Vec::new();
    for t in trials {
        clear(engine, &scratch).await?;
        let outcome = run_one(engine, t, &scratch, answer).await;
        clear(engine, &scratch).await?;
        out.push(outcome?);
    }
    Ok(out)
}

async fn run_one(
    engine: &mut Engine<'_>,
    t: &Trial,
    scratch: &[(Vec<u8>, Vec<u8>)],
    answer: &Answer<'_>,
) -> Result<TrialOutcome> {
    let mut sends: Vec<(Vec<Arg>, Origin)> = Vec::new();
    for line in &t.setup {
        sends.push((
            rewrite(lesson_args(&engine.vars, line)?, scratch),
            Origin::Lesson,
        ));
    }
    match answer {
        Answer::Typed(lines) => {
            for line in *lines {
                if let Ok(args) = typed_args(line) {
                    sends.push((rewrite(args, scratch), Origin::Learner));
                }
            }
        }
        Answer::Lesson(specs) => {
            for spec in *specs {
                let args = rewrite(lesson_args(&engine.vars, spec.line())?, scratch);
                sends.push((args, Origin::Lesson));
            }
        }
    }
    for (args, origin) in &sends {
        if !send(engine, args, *origin).await? {
            let why = engine.expand(&t.why).unwrap_or_else(|_| t.why.clone());
            return Ok(TrialOutcome {
                given: engine.expand(&t.given).unwrap_or_else(|_| t.given.clone()),
                why: format!(
                    "{why} (here the answer was still waiting after {} s: a blocking command with no timeout never returns in this state)",
                    TRIAL_DEADLINE.as_secs()
                ),
                passed: false,
                results: Vec::new(),
            });
        }
    }
    let mut checks = Vec::new();
    for c in &t.checks {
        let mut c = c.clone();
        if let Some(k) = &c.key {
            let real = engine.expand(k)?.into_bytes();
            if let Some((_, s)) = scratch.iter().find(|(r, _)| *r == real) {
                c.key = Some(String::from_utf8_lossy(s).into_owned());
            }
        }
        checks.push(c);
    }
    let results = checks::evaluate(
        &mut engine.admin,
        &checks,
        &[],
        &BTreeMap::new(),
        &engine.vars,
    )
    .await?;
    Ok(TrialOutcome {
        given: engine.expand(&t.given).unwrap_or_else(|_| t.given.clone()),
        why: engine.expand(&t.why).unwrap_or_else(|_| t.why.clone()),
        passed: results.iter().all(|r| r.passed),
        results,
    })
}

/// `lab:lock:coupon:1` → `lab:trial:lock:coupon:1`; `None` for a key outside the namespace.
fn scratch_key(namespace: &str, key: &[u8]) -> Option<Vec<u8>> {
    let prefix = format!("{namespace}:");
    let rest = key.strip_prefix(prefix.as_bytes())?;
    let mut s = format!("{namespace}:trial:").into_bytes();
    s.extend_from_slice(rest);
    Some(s)
}

/// Every argument that is one of the exercise's keys becomes its scratch key.
fn rewrite(args: Vec<Arg>, scratch: &[(Vec<u8>, Vec<u8>)]) -> Vec<Arg> {
    args.into_iter()
        .map(
            |a| match scratch.iter().find(|(real, _)| *real == a.bytes) {
                Some((_, s)) => Arg {
                    bytes: s.clone(),
                    tainted: a.tainted,
                },
                None => a,
            },
        )
        .collect()
}

async fn clear(engine: &mut Engine<'_>, scratch: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
    for (_, s) in scratch {
        let _: i64 = redis::cmd("UNLINK")
            .arg(s)
            .query_async(&mut engine.admin)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_keys_stay_inside_the_namespace() {
        assert_eq!(
            scratch_key("lab", b"lab:lock:coupon:1").as_deref(),
            Some(&b"lab:trial:lock:coupon:1"[..])
        );
        assert_eq!(scratch_key("lab", b"other:x"), None);
        let args = vec![
            Arg {
                bytes: b"SET".to_vec(),
                tainted: true,
            },
            Arg {
                bytes: b"lab:k".to_vec(),
                tainted: true,
            },
            Arg {
                bytes: b"lab:k2".to_vec(),
                tainted: true,
            },
        ];
        let out = rewrite(args, &[(b"lab:k".to_vec(), b"lab:trial:k".to_vec())]);
        assert_eq!(out[1].bytes, b"lab:trial:k");
        assert_eq!(
            out[2].bytes, b"lab:k2",
            "only whole arguments are rewritten"
        );
    }
}
