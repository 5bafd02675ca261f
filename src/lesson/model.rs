//! The lesson file format, as typed structs that refuse unknown fields. LESSONS.md documents
//! every field for authors; `validate` checks what types alone cannot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// Commands that must exist on the server.
    #[serde(default)]
    pub commands: Vec<String>,
    /// Needs redislab's managed server (for server-wide commands).
    #[serde(default)]
    pub managed: bool,
}

/// A command, in short form (a string) or long form (with a reply capture and a connection).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum CommandSpec {
    Line(String),
    Full(FullCommand),
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
#[serde(deny_unknown_fields)]
pub struct Step {
    pub title: String,
    /// Explanation shown before the step runs.
    pub text: String,
    #[serde(flatten)]
    pub kind: StepKind,
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Keys or patterns (inside the namespace) shown in the key table after the step;
    /// default: the lesson's `keys`. An empty list hides the table.
    #[serde(default)]
    pub show_keys: Option<Vec<String>>,
    /// Variables set before the step's commands run (values may use other variables).
    #[serde(default, rename = "let")]
    pub let_vars: BTreeMap<String, String>,
    #[serde(default)]
    pub requires: Option<Requires>,
    /// Shown after the step ran: what to look at.
    #[serde(default)]
    pub after: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// Commands run one after another, replies shown as redis-cli shows them.
    Run { commands: Vec<CommandSpec> },
    /// The learner types the command; the checks judge the resulting state.
    Exercise {
        goal: String,
        #[serde(default)]
        hints: Vec<String>,
        solution: Vec<CommandSpec>,
    },
    /// The same job in Redis and SQLite, timed side by side.
    Compare {
        #[serde(default = "default_iterations")]
        iterations: u32,
        redis: RedisSide,
        sqlite: SqliteSide,
    },
    /// A named demonstration written in Rust (concurrency, time).
    Scenario {
        scenario: String,
        #[serde(default)]
        params: serde_json::Value,
    },
    /// Wait with a countdown; a key press (or --auto) fast-forwards by shortening TTLs.
    Wait {
        seconds: u64,
        /// Keys to fast-forward and watch (default: the lesson's keys).
        #[serde(default)]
        keys: Option<Vec<String>>,
    },
}

fn default_iterations() -> u32 {
    2000
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

/// One expectation about a reply, a key, or a scenario's result. Fields combine: every field
/// that is set must hold.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// The reply equals this text (`OK`, `1`, `(nil)`, `hello`; arrays as redis-cli renders them).
    #[serde(default)]
    pub reply: Option<String>,
    /// The reply (as text) matches this regular expression.
    #[serde(default)]
    pub reply_matches: Option<String>,
    /// Which command's reply (1-based; default: the last one).
    #[serde(default)]
    pub of: Option<usize>,

    /// A key inside the namespace (`{ns}:session:1`).
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default, rename = "type")]
    pub key_type: Option<String>,
    /// TTL in seconds: `none` for no TTL, or a range `{min: 25, max: 30}`.
    #[serde(default)]
    pub ttl: Option<TtlCheck>,
    /// A string key's value.
    #[serde(default)]
    pub value: Option<String>,
    /// Length or cardinality.
    #[serde(default)]
    pub len: Option<i64>,
    /// A member of a set, sorted set or list.
    #[serde(default)]
    pub member: Option<String>,
    #[serde(default)]
    pub not_member: Option<String>,
    /// A sorted set member's score.
    #[serde(default)]
    pub score: Option<ScoreCheck>,
    /// A hash field's value.
    #[serde(default)]
    pub field: Option<FieldCheck>,

    /// A number reported by the step's scenario (or compare).
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub equals: Option<f64>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    /// Another metric this one must equal.
    #[serde(default)]
    pub equals_metric: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum TtlCheck {
    /// `none`: the key has no TTL.
    Keyword(String),
    Range {
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ScoreCheck {
    pub member: String,
    pub equals: f64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCheck {
    pub name: String,
    /// The value; omit to only require the field to exist.
    #[serde(default)]
    pub equals: Option<String>,
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
}
