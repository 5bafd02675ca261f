//! The `kind: race` grammar: a concurrency demonstration written as lesson data. Worker groups
//! run a small list of actions at once; `sync: all` barriers force the interleaving so the
//! result is the same on every run. The grammar stays deliberately small (commands, barriers,
//! pauses, one-armed `when`, `retry`, `tally`): anything that needs clocks or subscribers is a
//! Rust scenario instead.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

mod rules;

pub use rules::short_list;

/// Bounds an author can rely on (and `validate` enforces), so a typo cannot start a million
/// connections or a loop that never ends.
pub const MAX_WORKERS: u32 = 200;
pub const MAX_REPEAT: u32 = 1_000;
pub const MAX_PAUSE_MS: u64 = 5_000;
pub const MAX_ATTEMPTS: u32 = 1_000;
pub const MAX_BACKOFF_MS: u64 = 1_000;
/// Commands one round may send in total (workers × repeat × actions), a bound on run time.
pub const MAX_ROUND_COMMANDS: u64 = 100_000;

/// A race's total planned waiting in worker-milliseconds (`Race::planned_ms`): 30 minutes of
/// worker time, which 200 workers spend in 9 s and one worker in 30 minutes.
pub const MAX_PLANNED_MS: u64 = 30 * 60 * 1000;

/// Metrics every round reports without being asked.
pub const BUILTIN_METRICS: &[&str] = &["retries", "gave_up"];

#[derive(Debug, Clone, Serialize)]
pub struct Race {
    /// One sentence shown before the race: how it forces its interleaving.
    pub forced_by: String,
    pub groups: Vec<Group>,
    pub rounds: Vec<Round>,
    /// Table columns after the round's label: a title and a metric name (without the round).
    pub columns: Vec<Column>,
}

/// Workers that run the same list with their own variables.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    pub name: String,
    pub workers: u32,
    /// Variables of this group's workers (values may use `${worker}`).
    #[serde(default, rename = "let")]
    pub let_vars: BTreeMap<String, String>,
}

/// One variant of the demonstration: one row of the table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Round {
    /// Short name, the prefix of this round's metrics: `unsafe` → `unsafe.final_stock`.
    pub name: String,
    /// What the table's first column says: `GET then SET`.
    pub label: String,
    /// Run once, in order, before the workers start.
    #[serde(default)]
    pub setup: Vec<String>,
    /// How many times each worker runs its list (`${iteration}` counts from 1).
    #[serde(default = "one")]
    pub repeat: u32,
    /// What every worker does.
    pub worker: Vec<Action>,
    /// After the workers: metric name → a command whose reply is a number (`(nil)` is 0).
    #[serde(default)]
    pub measure: BTreeMap<String, String>,
    /// Run once after `measure` (leave the keys as the next step expects them).
    #[serde(default)]
    pub teardown: Vec<String>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub title: String,
    pub metric: String,
}

/// One thing a worker does.
#[derive(Debug, Clone, Serialize)]
pub enum Action {
    Command(RaceCommand),
    /// Wait until every worker of the round is here.
    Sync,
    /// The app's own work between two commands.
    Pause(u64),
    /// Add one to a tally.
    Tally(String),
    /// Run `then` only when the condition holds.
    When {
        condition: Condition,
        then: Vec<Action>,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct RaceCommand {
    pub cmd: String,
    pub save_as: Option<String>,
    pub retry: Option<Retry>,
    /// Count replies: reply text → tally name. `"*"` counts every reply.
    pub tally: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Stop when the reply is this (`OK`) ...
    #[serde(default)]
    pub until: Option<String>,
    /// ... or when it is anything but this (`(nil)`).
    #[serde(default)]
    pub until_not: Option<String>,
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    /// The first wait; it doubles up to `max_backoff_ms`, each wait a random part of it.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    #[serde(default = "default_max_backoff")]
    pub max_backoff_ms: u64,
}

fn default_attempts() -> u32 {
    100
}
fn default_backoff() -> u64 {
    2
}
fn default_max_backoff() -> u64 {
    50
}

/// `${stock} > 0`: two sides (variables filled in) and an operator. Numbers compare as
/// numbers; anything else only with `==` and `!=`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Condition {
    pub left: String,
    pub op: Op,
    pub right: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Condition {
    pub fn parse(text: &str) -> Result<Condition, String> {
        // Two-character operators first, so `>=` is not read as `>`.
        for (sym, op) in [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            (">", Op::Gt),
            ("<", Op::Lt),
        ] {
            if let Some((l, r)) = text.split_once(sym) {
                let (l, r) = (l.trim(), r.trim());
                if l.is_empty() || r.is_empty() {
                    break;
                }
                return Ok(Condition {
                    left: l.to_string(),
                    op,
                    right: r.to_string(),
                });
            }
        }
        Err(format!(
            "`when: {text}` needs two sides and one of == != > >= < <= (for example `${{stock}} > 0`)"
        ))
    }

    /// Whether it holds for these filled-in sides.
    pub fn holds(&self, left: &str, right: &str) -> bool {
        let nums = (left.trim().parse::<f64>(), right.trim().parse::<f64>());
        match (self.op, nums) {
            (Op::Eq, (Ok(a), Ok(b))) => a == b,
            (Op::Ne, (Ok(a), Ok(b))) => a != b,
            (Op::Eq, _) => left == right,
            (Op::Ne, _) => left != right,
            (op, (Ok(a), Ok(b))) => match op {
                Op::Gt => a > b,
                Op::Ge => a >= b,
                Op::Lt => a < b,
                _ => a <= b,
            },
            // `(nil) > 0` is false, as an app that reads nothing would decide.
            _ => false,
        }
    }
}

/// Every field any action can have; the conversion refuses mixtures.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(default)]
    cmd: Option<String>,
    #[serde(default)]
    save_as: Option<String>,
    #[serde(default)]
    retry: Option<Retry>,
    #[serde(default)]
    tally: Option<TallySpec>,
    #[serde(default)]
    sync: Option<String>,
    #[serde(default)]
    pause_ms: Option<u64>,
    #[serde(default)]
    when: Option<String>,
    #[serde(default, rename = "do")]
    then: Option<Vec<Action>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum TallySpec {
    Name(String),
    ByReply(BTreeMap<String, String>),
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Action;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a command line, or a mapping with one of `cmd`, `sync`, `pause_ms`, `tally`, `when`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Action, E> {
                Ok(Action::Command(RaceCommand {
                    cmd: v.to_string(),
                    save_as: None,
                    retry: None,
                    tally: BTreeMap::new(),
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Action, A::Error> {
                let raw =
                    RawAction::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                raw.into_action().map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl RawAction {
    fn into_action(self) -> Result<Action, String> {
        let has_cmd_fields = self.save_as.is_some() || self.retry.is_some();
        if let Some(cmd) = self.cmd {
            if self.sync.is_some() || self.pause_ms.is_some() || self.when.is_some() {
                return Err("a `cmd` action takes only `save_as`, `retry` and `tally`".into());
            }
            let tally = match self.tally {
                None => BTreeMap::new(),
                Some(TallySpec::Name(n)) => BTreeMap::from([("*".to_string(), n)]),
                Some(TallySpec::ByReply(m)) => m,
            };
            return Ok(Action::Command(RaceCommand {
                cmd,
                save_as: self.save_as,
                retry: self.retry,
                tally,
            }));
        }
        if has_cmd_fields {
            return Err("`save_as` and `retry` belong to a `cmd` action".into());
        }
        let alone = |what: &str, others: bool| {
            if others {
                Err(format!("`{what}` stands alone in its action"))
            } else {
                Ok(())
            }
        };
        if let Some(who) = self.sync {
            alone(
                "sync",
                self.pause_ms.is_some() || self.when.is_some() || self.tally.is_some(),
            )?;
            if who != "all" {
                return Err(format!("`sync: {who}`: the only barrier is `sync: all`"));
            }
            return Ok(Action::Sync);
        }
        if let Some(ms) = self.pause_ms {
            alone("pause_ms", self.when.is_some() || self.tally.is_some())?;
            return Ok(Action::Pause(ms));
        }
        if let Some(when) = self.when {
            alone("when", self.tally.is_some())?;
            let then = self.then.ok_or("`when` needs a `do` list")?;
            return Ok(Action::When {
                condition: Condition::parse(&when)?,
                then,
            });
        }
        if self.then.is_some() {
            return Err("`do` needs a `when`".into());
        }
        match self.tally {
            Some(TallySpec::Name(n)) => Ok(Action::Tally(n)),
            Some(TallySpec::ByReply(_)) => {
                Err("counting replies (`tally: {reply: name}`) needs a `cmd`".into())
            }
            None => {
                Err("an empty action: give `cmd`, `sync`, `pause_ms`, `tally` or `when`".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn race(yaml: &str) -> Result<Vec<Action>, String> {
        serde_saphyr::from_str::<Vec<Action>>(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn actions_parse_and_mixtures_are_refused() {
        let a = race(
            "- GET k\n- {cmd: GET k, save_as: v, tally: {'1': one}}\n- sync: all\n- pause_ms: 5\n- tally: hit\n- when: '${v} > 0'\n  do: [DECR k]\n",
        )
        .expect("parses");
        assert_eq!(a.len(), 6);
        assert!(
            matches!(&a[1], Action::Command(c) if c.tally.get("1").map(String::as_str) == Some("one"))
        );
        assert!(
            matches!(&a[5], Action::When { condition, then } if condition.op == Op::Gt && then.len() == 1)
        );
        assert!(race("- {sync: all, pause_ms: 3}").is_err());
        assert!(race("- {sync: some}").unwrap_err().contains("sync: all"));
        assert!(race("- {when: '${v}'}").is_err());
        assert!(race("- {save_as: v}").is_err());
        assert!(race("- {cmd: GET k, sync: all}").is_err());
    }

    #[test]
    fn conditions_compare_numbers_as_numbers() {
        let c = Condition::parse("${stock} > 0").expect("parses");
        assert!(c.holds("5", "0"));
        assert!(!c.holds("0", "0"));
        assert!(!c.holds("(nil)", "0"));
        assert!(
            Condition::parse("${a} >= 10")
                .expect("parses")
                .holds("10", "10")
        );
        assert!(
            Condition::parse("${r} == OK")
                .expect("parses")
                .holds("OK", "OK")
        );
        assert!(
            Condition::parse("${r} != OK")
                .expect("parses")
                .holds("(nil)", "OK")
        );
        assert!(Condition::parse("no operator").is_err());
        assert!(Condition::parse("> 3").is_err());
    }
}
