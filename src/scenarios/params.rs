//! Scenario parameters as data: each scenario lists its parameters once (name, type, range,
//! meaning), and that one table both checks a lesson's values and prints the reference that
//! `redislab validate` shows, so the two can never disagree.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// What kind of value a parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A whole number.
    Integer,
    /// A list of whole numbers; the range applies to each.
    Integers,
    /// A list of names (checked by the scenario itself).
    Names,
    /// One name (checked by the scenario itself).
    Name,
}

impl Kind {
    fn text(self) -> &'static str {
        match self {
            Kind::Integer => "integer",
            Kind::Integers => "list of integers",
            Kind::Names => "list of names",
            Kind::Name => "name",
        }
    }
}

/// One parameter of one scenario. The default comes from the scenario's `Params::default()`.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
    /// Inclusive bounds for numbers (each element, for a list).
    pub range: Option<(u64, u64)>,
    pub meaning: &'static str,
}

/// An integer parameter between `min` and `max`.
pub const fn int(name: &'static str, min: u64, max: u64, meaning: &'static str) -> Param {
    Param {
        name,
        kind: Kind::Integer,
        range: Some((min, max)),
        meaning,
    }
}

/// A list of integers, each between `min` and `max`.
pub const fn ints(name: &'static str, min: u64, max: u64, meaning: &'static str) -> Param {
    Param {
        name,
        kind: Kind::Integers,
        range: Some((min, max)),
        meaning,
    }
}

/// A list of names.
pub const fn names(name: &'static str, meaning: &'static str) -> Param {
    Param {
        name,
        kind: Kind::Names,
        range: None,
        meaning,
    }
}

/// One name.
pub const fn name(name: &'static str, meaning: &'static str) -> Param {
    Param {
        name,
        kind: Kind::Name,
        range: None,
        meaning,
    }
}

/// One row of a scenario's parameter reference, ready to print.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamDoc {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub default: String,
    pub range: String,
    pub meaning: String,
}

/// The one range check: "window-burst: `limit` must be between 1 and 10000, got 0".
pub fn bounded(scenario: &str, name: &str, value: u64, min: u64, max: u64) -> Result<()> {
    if value < min || value > max {
        bail!("{scenario}: `{name}` must be between {min} and {max}, got {value}");
    }
    Ok(())
}

/// Checks every value of `values` (the parsed parameters, serialized back) against the table.
pub fn check_ranges(scenario: &str, table: &[Param], values: &Value) -> Result<()> {
    for p in table {
        let Some((min, max)) = p.range else { continue };
        let numbers: Vec<&Value> = match values.get(p.name) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(v) => vec![v],
            None => bail!(
                "{scenario}: the parameter table names `{}`, which the parameters lack: a bug in the scenario",
                p.name
            ),
        };
        for v in numbers {
            let n = v.as_u64().with_context(|| {
                format!("{scenario}: `{}` must be a whole number, got {v}", p.name)
            })?;
            bounded(scenario, p.name, n, min, max)?;
        }
    }
    Ok(())
}

/// Parses a lesson's `params` (absent = all defaults); unknown fields are refused by the type.
pub fn parse<P: DeserializeOwned>(scenario: &str, params: &Value) -> Result<P> {
    let value = if params.is_null() {
        Value::Object(Default::default())
    } else {
        params.clone()
    };
    serde_json::from_value(value).with_context(|| {
        format!("invalid params for scenario {scenario} (`redislab validate` lists its parameters)")
    })
}

/// Meaning shown for a field of the parameters that the table forgot (a test refuses it).
pub const UNDOCUMENTED: &str = "(undocumented)";

/// The printable reference: the table, with defaults read from `defaults`, then any field of
/// `defaults` the table does not list.
pub fn docs(table: &[Param], defaults: &Value) -> Vec<ParamDoc> {
    let listed = |name: &str| table.iter().any(|p| p.name == name);
    let forgotten = defaults
        .as_object()
        .into_iter()
        .flat_map(|o| o.iter())
        .filter(|(name, _)| !listed(name))
        .map(|(name, v)| ParamDoc {
            name: name.clone(),
            kind: "—".into(),
            default: v.to_string(),
            range: "—".into(),
            meaning: UNDOCUMENTED.into(),
        });
    let mut out: Vec<ParamDoc> = table
        .iter()
        .map(|p| ParamDoc {
            name: p.name.to_string(),
            kind: p.kind.text().to_string(),
            default: defaults
                .get(p.name)
                .map(Value::to_string)
                .unwrap_or_else(|| "—".into()),
            range: p
                .range
                .map(|(min, max)| format!("{min}–{max}"))
                .unwrap_or_else(|| "—".into()),
            meaning: p.meaning.to_string(),
        })
        .collect();
    out.extend(forgotten);
    out
}

/// The parameters of a demonstration whose only knob is how long each reply may take.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct WaitOnly {
    pub wait_ms: u64,
}

impl Default for WaitOnly {
    fn default() -> Self {
        WaitOnly { wait_ms: 5_000 }
    }
}

impl WaitOnly {
    pub fn wait(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.wait_ms)
    }
}

/// `WaitOnly`'s table row.
pub const WAIT_ONLY: &[Param] = &[int(
    "wait_ms",
    100,
    30_000,
    "how long each reply may take, in milliseconds",
)];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TABLE: &[Param] = &[
        int("limit", 1, 10, "requests per window"),
        ints("sizes", 1, 100, "sizes"),
        names("cases", "case ids"),
    ];

    #[test]
    fn ranges_name_the_scenario_the_parameter_and_the_value() {
        let ok = json!({"limit": 10, "sizes": [1, 100], "cases": []});
        assert!(check_ranges("demo", TABLE, &ok).is_ok());
        let e = check_ranges(
            "demo",
            TABLE,
            &json!({"limit": 0, "sizes": [1], "cases": []}),
        );
        assert_eq!(
            e.map_err(|e| e.to_string()).err().as_deref(),
            Some("demo: `limit` must be between 1 and 10, got 0")
        );
        let e = check_ranges(
            "demo",
            TABLE,
            &json!({"limit": 1, "sizes": [5, 101], "cases": []}),
        );
        assert_eq!(
            e.map_err(|e| e.to_string()).err().as_deref(),
            Some("demo: `sizes` must be between 1 and 100, got 101")
        );
    }

    #[test]
    fn docs_read_defaults_from_the_values() {
        let d = docs(TABLE, &json!({"limit": 5, "sizes": [1, 2], "cases": []}));
        assert_eq!(d[0].default, "5");
        assert_eq!(d[0].range, "1–10");
        assert_eq!(d[1].default, "[1,2]");
        assert_eq!(d[1].kind, "list of integers");
        assert_eq!(d[2].range, "—");
        let d = docs(
            TABLE,
            &json!({"limit": 5, "sizes": [], "cases": [], "extra": 1}),
        );
        assert_eq!(d[3].meaning, UNDOCUMENTED);
    }
}
