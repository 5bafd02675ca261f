//! What a step can check: a reply, a key's state (type, encoding, TTL, value, length, members,
//! scores, fields), or a number a race, scenario or compare step reported.

use serde::{Deserialize, Serialize};

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
    /// OBJECT ENCODING: one name, or a list of names that are all right (a small list is
    /// `quicklist` on Redis 7.0 and `listpack` from 7.2 on).
    #[serde(default)]
    pub encoding: Option<OneOrMany>,
    /// TTL in seconds: `none` for no TTL, or a range `{min: 25, max: 30}`.
    #[serde(default)]
    pub ttl: Option<TtlCheck>,
    /// A string key's value.
    #[serde(default)]
    pub value: Option<String>,
    /// Length or cardinality.
    #[serde(default)]
    pub len: Option<i64>,
    /// Length or cardinality at least / at most this.
    #[serde(default)]
    pub min_len: Option<i64>,
    #[serde(default)]
    pub max_len: Option<i64>,
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

/// A single name or a list of names.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn names(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(s) => vec![s.as_str()],
            OneOrMany::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
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
