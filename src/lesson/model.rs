//! The lesson file format, as typed structs that refuse unknown fields. LESSONS.md documents
//! every field for authors; `validate` checks what types alone cannot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::race::{Column, Group, Race, Round};

pub use super::check::{Check, FieldCheck, OneOrMany, ScoreCheck, TtlCheck};

/// The newest `format_version` this binary understands.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    pub format_version: u32,
    /// Two digits: "07".
    pub id: String,
    pub slug: String,
    pub title: String,
    /// The data structure the pattern uses ("String + Lua").
    pub structure: String,
    /// Where the pattern is used in real systems.
    pub use_case: String,
    /// The one idea to take away.
    pub concept: String,
    /// The part of the course it belongs to (`lesson::course::PARTS`): `list` groups by it.
    #[serde(default)]
    pub part: Option<String>,
    /// Shown before the first step.
    pub introduction: String,
    /// Key patterns inside the namespace that belong to this lesson (`coupon:*`). They scope the
    /// key table, `reset ID` and fast-forward.
    pub keys: Vec<String>,
    #[serde(default)]
    pub requires: Option<Requires>,
    /// Commands run quietly before the first step (and before resuming).
    #[serde(default)]
    pub setup: Vec<CommandSpec>,
    /// What to keep, shown when the lesson ends and by `lesson ID --summary`: a short list of
    /// the pattern, its commands and its pitfalls.
    #[serde(default)]
    pub recap: Option<String>,
    pub steps: Vec<Step>,
    pub quiz: Vec<Question>,
}

/// What a lesson or step needs from the server.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// Minimum server version, "7.0" or "7.4.0".
    #[serde(default)]
    pub redis: Option<String>,
    /// Commands that must exist on the server (`COMMAND INFO` knows them).
    #[serde(default)]
    pub commands: Vec<String>,
    /// Options a command must take on this server, as `COMMAND TOKEN` (`"SET IFEQ"`): the
    /// command's `COMMAND DOCS` must list the token among its arguments.
    #[serde(default)]
    pub options: Vec<String>,
    /// Which servers have what this needs ("Valkey 9.0 and later have DELIFEQ"), said when the
    /// step is skipped.
    #[serde(default)]
    pub note: Option<String>,
    /// Needs redislab's managed server (for server-wide commands).
    #[serde(default)]
    pub managed: bool,
    /// Needs a Redis Cluster (hash slots, CROSSSLOT, sharded Pub/Sub): skipped on one server.
    #[serde(default)]
    pub cluster: bool,
    /// Needs a Redis Cluster whose masters have replicas (implies `cluster`).
    #[serde(default)]
    pub replicas: bool,
}

/// A command, in short form (a string) or long form (with a reply capture and a connection).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum CommandSpec {
    Line(String),
    Full(FullCommand),
}

/// Written by hand rather than `#[serde(untagged)]`, so a mistake in the long form reports
/// the real problem ("unknown field `save`") instead of "did not match any variant".
impl<'de> Deserialize<'de> for CommandSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CommandSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a command line, or a mapping with `cmd` (and `save_as`, `connection`)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CommandSpec, E> {
                Ok(CommandSpec::Line(v.to_string()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<CommandSpec, A::Error> {
                FullCommand::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(CommandSpec::Full)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FullCommand {
    pub cmd: String,
    /// Store the reply (as text) in this variable for later commands: `{name}`.
    #[serde(default)]
    pub save_as: Option<String>,
    /// Run on this named connection (default `main`): two names are two clients.
    #[serde(default)]
    pub connection: Option<String>,
}

impl CommandSpec {
    pub fn line(&self) -> &str {
        match self {
            CommandSpec::Line(l) => l,
            CommandSpec::Full(f) => &f.cmd,
        }
    }
    pub fn save_as(&self) -> Option<&str> {
        match self {
            CommandSpec::Line(_) => None,
            CommandSpec::Full(f) => f.save_as.as_deref(),
        }
    }
    pub fn connection(&self) -> Option<&str> {
        match self {
            CommandSpec::Line(_) => None,
            CommandSpec::Full(f) => f.connection.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "RawStep")]
pub struct Step {
    pub title: String,
    /// Explanation shown before the step runs.
    pub text: String,
    pub kind: StepKind,
    pub checks: Vec<Check>,
    /// Keys or patterns (inside the namespace) shown in the key table after the step;
    /// default: the lesson's `keys`. An empty list hides the table.
    pub show_keys: Option<Vec<String>>,
    /// Variables set before the step's commands run (values may use other variables).
    pub let_vars: BTreeMap<String, String>,
    pub requires: Option<Requires>,
    /// Shown after the step ran: what to look at.
    pub after: Option<String>,
    /// Other right answers a typed step (an exercise, or a run step typed with "Type it
    /// yourself") must accept, each a list of command lines. `validate --live` runs each one
    /// in place of the step's own commands and proves that the step's checks pass and that
    /// every later step still passes from the state it leaves.
    pub accepts: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub enum StepKind {
    /// Commands run one after another, replies shown as redis-cli shows them.
    Run { commands: Vec<CommandSpec> },
    /// The learner types the command; the checks judge the resulting state.
    Exercise {
        goal: String,
        hints: Vec<String>,
        solution: Vec<CommandSpec>,
        /// Other states the learner's own commands are replayed against (in scratch keys).
        trials: Vec<Trial>,
        /// Answers that must be refused; `validate --live` proves each one is.
        wrong_answers: Vec<WrongAnswer>,
        /// Variables read from the state the learner's answer left (`{token: "GET key"}`), so
        /// later texts and commands use what the learner typed, not the solution's values.
        keep: BTreeMap<String, String>,
        /// Why the solution's round trips matter, said beside the tape's totals when the
        /// learner's commands took another number ("MULTI/EXEC or a pipeline").
        round_trips_why: Option<String>,
    },
    /// The same job in Redis and SQLite, timed side by side.
    Compare {
        iterations: u32,
        redis: RedisSide,
        sqlite: SqliteSide,
    },
    /// A named demonstration written in Rust (concurrency, time).
    Scenario {
        scenario: String,
        params: serde_json::Value,
    },
    /// Wait with a countdown; a key press (or --auto) fast-forwards by shortening TTLs.
    Wait {
        seconds: u64,
        keys: Option<Vec<String>>,
    },
    /// Workers racing each other, round by round, written as data (see `race`).
    Race(Race),
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Run { .. } => "run",
            StepKind::Exercise { .. } => "exercise",
            StepKind::Compare { .. } => "compare",
            StepKind::Scenario { .. } => "scenario",
            StepKind::Wait { .. } => "wait",
            StepKind::Race(_) => "race",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KindName {
    Run,
    Exercise,
    Compare,
    Scenario,
    Wait,
    Race,
}

/// Every field any step kind can have, so unknown fields are refused with a position; the
/// conversion to `Step` then refuses fields that do not belong to the step's kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    kind: KindName,
    title: String,
    text: String,
    #[serde(default)]
    checks: Vec<Check>,
    #[serde(default)]
    show_keys: Option<Vec<String>>,
    #[serde(default, rename = "let")]
    let_vars: BTreeMap<String, String>,
    #[serde(default)]
    requires: Option<Requires>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    accepts: Option<Vec<Vec<String>>>,
    #[serde(default)]
    commands: Option<Vec<CommandSpec>>,
    #[serde(default)]
    goal: Option<String>,
    #[serde(default)]
    hints: Option<Vec<String>>,
    #[serde(default)]
    solution: Option<Vec<CommandSpec>>,
    #[serde(default)]
    trials: Option<Vec<Trial>>,
    #[serde(default)]
    wrong_answers: Option<Vec<WrongAnswer>>,
    #[serde(default)]
    keep: Option<BTreeMap<String, String>>,
    #[serde(default)]
    round_trips_why: Option<String>,
    #[serde(default)]
    iterations: Option<u32>,
    #[serde(default)]
    redis: Option<RedisSide>,
    #[serde(default)]
    sqlite: Option<SqliteSide>,
    #[serde(default)]
    scenario: Option<String>,
    #[serde(default)]
    params: Option<serde_json::Value>,
    #[serde(default)]
    seconds: Option<u64>,
    #[serde(default)]
    keys: Option<Vec<String>>,
    #[serde(default)]
    forced_by: Option<String>,
    #[serde(default)]
    workers: Option<u32>,
    #[serde(default)]
    groups: Option<Vec<Group>>,
    #[serde(default)]
    rounds: Option<Vec<Round>>,
    #[serde(default)]
    columns: Option<Vec<Column>>,
}

impl RawStep {
    /// Refuses a field that belongs to another step kind, naming the ones this kind takes.
    fn fields_of_its_kind(&self, kind_text: &str) -> Result<(), String> {
        let mut extra = Vec::new();
        let allowed: &[&str] = match self.kind {
            KindName::Run => &["commands", "accepts"],
            KindName::Exercise => &[
                "goal",
                "accepts",
                "hints",
                "solution",
                "trials",
                "wrong_answers",
                "keep",
                "round_trips_why",
            ],
            KindName::Compare => &["iterations", "redis", "sqlite"],
            KindName::Scenario => &["scenario", "params"],
            KindName::Wait => &["seconds", "keys"],
            KindName::Race => &["forced_by", "workers", "groups", "rounds", "columns"],
        };
        for (name, present) in [
            ("commands", self.commands.is_some()),
            ("accepts", self.accepts.is_some()),
            ("goal", self.goal.is_some()),
            ("hints", self.hints.is_some()),
            ("solution", self.solution.is_some()),
            ("trials", self.trials.is_some()),
            ("wrong_answers", self.wrong_answers.is_some()),
            ("keep", self.keep.is_some()),
            ("round_trips_why", self.round_trips_why.is_some()),
            ("iterations", self.iterations.is_some()),
            ("redis", self.redis.is_some()),
            ("sqlite", self.sqlite.is_some()),
            ("scenario", self.scenario.is_some()),
            ("params", self.params.is_some()),
            ("seconds", self.seconds.is_some()),
            ("keys", self.keys.is_some()),
            ("forced_by", self.forced_by.is_some()),
            ("workers", self.workers.is_some()),
            ("groups", self.groups.is_some()),
            ("rounds", self.rounds.is_some()),
            ("columns", self.columns.is_some()),
        ] {
            if present && !allowed.contains(&name) {
                extra.push(name);
            }
        }
        if !extra.is_empty() {
            return Err(format!(
                "a {kind_text} step does not take `{}` (it takes: {})",
                extra.join("`, `"),
                allowed.join(", ")
            ));
        }
        Ok(())
    }
}

impl TryFrom<RawStep> for Step {
    type Error = String;

    fn try_from(r: RawStep) -> Result<Self, String> {
        let kind_text = format!("{:?}", r.kind).to_lowercase();
        r.fields_of_its_kind(&kind_text)?;
        let missing = |f: &str| format!("a {kind_text} step needs `{f}`");
        let kind = match r.kind {
            KindName::Run => StepKind::Run {
                commands: r.commands.ok_or_else(|| missing("commands"))?,
            },
            KindName::Exercise => StepKind::Exercise {
                goal: r.goal.ok_or_else(|| missing("goal"))?,
                hints: r.hints.unwrap_or_default(),
                solution: r.solution.ok_or_else(|| missing("solution"))?,
                trials: r.trials.unwrap_or_default(),
                wrong_answers: r.wrong_answers.unwrap_or_default(),
                keep: r.keep.unwrap_or_default(),
                round_trips_why: r.round_trips_why,
            },
            KindName::Compare => StepKind::Compare {
                iterations: r.iterations.unwrap_or_else(default_iterations),
                redis: r.redis.ok_or_else(|| missing("redis"))?,
                sqlite: r.sqlite.ok_or_else(|| missing("sqlite"))?,
            },
            KindName::Scenario => StepKind::Scenario {
                scenario: r.scenario.ok_or_else(|| missing("scenario"))?,
                params: r.params.unwrap_or(serde_json::Value::Null),
            },
            KindName::Wait => StepKind::Wait {
                seconds: r.seconds.ok_or_else(|| missing("seconds"))?,
                keys: r.keys,
            },
            KindName::Race => {
                let groups = match (r.workers, r.groups) {
                    (Some(_), Some(_)) => {
                        return Err("a race step takes `workers: N` or `groups`, not both".into());
                    }
                    (Some(n), None) => vec![Group {
                        name: "worker".into(),
                        workers: n,
                        let_vars: BTreeMap::new(),
                    }],
                    (None, Some(g)) => g,
                    (None, None) => return Err(missing("workers` or `groups")),
                };
                StepKind::Race(Race {
                    forced_by: r.forced_by.ok_or_else(|| missing("forced_by"))?,
                    groups,
                    rounds: r.rounds.ok_or_else(|| missing("rounds"))?,
                    columns: r.columns.unwrap_or_default(),
                })
            }
        };
        Ok(Step {
            title: r.title,
            text: r.text,
            kind,
            checks: r.checks,
            show_keys: r.show_keys,
            let_vars: r.let_vars,
            requires: r.requires,
            after: r.after,
            accepts: r.accepts.unwrap_or_default(),
        })
    }
}

fn default_iterations() -> u32 {
    2000
}

/// A state the exercise's answer must also handle. The engine copies the exercise's keys into
/// scratch keys (`<ns>:trial:...`), runs `setup` there, replays the learner's own commands
/// against them, and runs `checks`: an answer that passes the goal but fails a trial is
/// refused with `why`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    /// The state, as the learner reads it: "another client already holds the lock".
    pub given: String,
    /// Commands that prepare the state, written with the exercise's real key names.
    #[serde(default)]
    pub setup: Vec<String>,
    /// What must hold after the learner's commands ran, with the real key names.
    pub checks: Vec<Check>,
    /// What a failing answer would break, shown to the learner.
    pub why: String,
}

/// A typical wrong answer and why it is wrong.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WrongAnswer {
    pub cmd: String,
    /// Shown when a learner types it: what it misses.
    pub why: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSide {
    /// Run once before timing.
    #[serde(default)]
    pub setup: Vec<String>,
    /// Timed: one iteration runs all of them.
    pub commands: Vec<String>,
    /// Send the commands of one iteration as a single pipeline.
    #[serde(default)]
    pub pipeline: bool,
    /// Label for the table ("GET").
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSide {
    /// SQL run once before timing (schema and data).
    #[serde(default)]
    pub setup: Vec<String>,
    /// Timed: one iteration runs all of them (prepared, cached statements).
    pub statements: Vec<String>,
    /// Wrap one iteration in a transaction.
    #[serde(default)]
    pub transaction: bool,
    #[serde(default)]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    pub question: String,
    pub choices: Vec<String>,
    /// 1-based index of the right choice. Omitted for `predict` questions: Redis decides.
    #[serde(default)]
    pub answer: Option<usize>,
    pub explanation: String,
    /// A predict question: these commands run live after the answer, and the choice equal to
    /// the last command's reply (as redis-cli renders it) is the right one.
    #[serde(default)]
    pub predict: Option<Vec<String>>,
    /// Run quietly before `predict`'s commands.
    #[serde(default)]
    pub setup: Vec<String>,
    /// The step (1-based) this question is about: where that step cannot run on this server
    /// (its `requires` is not met), the question is not asked, so nobody is asked about what
    /// they never saw.
    #[serde(default)]
    pub step: Option<usize>,
    /// Cases of values that change together (`${name}` in the question's texts), one picked
    /// each time the question is asked (`lesson::vary`). Empty: the question never changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vary: Vec<std::collections::BTreeMap<String, String>>,
}
