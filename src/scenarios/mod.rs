//! Named demonstrations a command list cannot show: many clients racing, time passing. Each
//! lives in its own file with typed parameters (read from the lesson's YAML, unknown fields
//! refused) and returns a report — a small table and named metrics that lesson checks test.
//! Scenarios never print; the bar they are handed is drawn by `term`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::redis::connect::Server;

pub mod bench_suite;
pub mod cache_stampede;
pub mod complexity;
pub mod counter_race;
pub mod coupon_race;
pub mod like_race;
pub mod lock_expiry;
pub mod pubsub_live;
pub mod stream_crash;
pub mod window_burst;

/// What a scenario gets to work with.
pub struct ScenarioContext<'a> {
    pub server: &'a Server,
    /// Keys must start with `<namespace>:`.
    pub namespace: &'a str,
    /// A progress bar (hidden when not on a terminal): set its length, inc it, set a message.
    pub progress: &'a ProgressBar,
}

impl ScenarioContext<'_> {
    /// `lab:` + rest.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.namespace)
    }
}

/// What a scenario found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScenarioReport {
    /// Column headers and rows of the result table.
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Named numbers lesson checks can test (`oversold`, `lost_updates`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// One-line conclusions written from the numbers.
    pub notes: Vec<String>,
}

/// Every scenario: name and one-line summary (shown by `validate` for unknown names).
pub const SCENARIOS: &[(&str, &str)] = &[
    (
        "bench",
        "the quick Redis-vs-SQLite benchmark of `redislab bench`, measured on this machine",
    ),
    (
        "complexity",
        "O(1) against O(N): SISMEMBER on a set against LPOS on a list, as they grow",
    ),
    (
        "cache-stampede",
        "many requests on one expired hot key: database loads without protection, with a lock, with jitter",
    ),
    (
        "counter-race",
        "N workers incrementing: GET+SET loses updates, INCR does not",
    ),
    (
        "like-race",
        "concurrent like toggles: check-then-act drifts from the set, an atomic script does not",
    ),
    (
        "coupon-race",
        "N buyers, limited stock: no lock oversells, SET NX PX with retry and backoff does not",
    ),
    (
        "lock-expiry",
        "a holder outlives its lock: plain DEL frees someone else's lock, compare-and-delete does not",
    ),
    (
        "window-burst",
        "a burst across a window edge: fixed window allows 2x, sliding log and token bucket do not",
    ),
    (
        "pubsub-live",
        "a live subscriber receives, a late one misses: Pub/Sub is fire-and-forget",
    ),
    (
        "stream-crash",
        "a consumer crashes before XACK: XPENDING shows it, XAUTOCLAIM hands it to the survivor",
    ),
];

fn parse<P: DeserializeOwned>(name: &str, params: &serde_json::Value) -> Result<P> {
    let value = if params.is_null() {
        serde_json::json!({})
    } else {
        params.clone()
    };
    serde_json::from_value(value).with_context(|| format!("invalid params for scenario {name}"))
}

/// Checks a scenario exists and its parameters are valid, without running it.
pub fn check(name: &str, params: &serde_json::Value) -> Result<()> {
    match name {
        "bench" => bench_suite::validate(&parse::<bench_suite::Params>(name, params)?),
        "complexity" => complexity::validate(&parse::<complexity::Params>(name, params)?),
        "cache-stampede" => {
            cache_stampede::validate(&parse::<cache_stampede::Params>(name, params)?)
        }
        "counter-race" => counter_race::validate(&parse::<counter_race::Params>(name, params)?),
        "like-race" => like_race::validate(&parse::<like_race::Params>(name, params)?),
        "coupon-race" => coupon_race::validate(&parse::<coupon_race::Params>(name, params)?),
        "lock-expiry" => lock_expiry::validate(&parse::<lock_expiry::Params>(name, params)?),
        "window-burst" => window_burst::validate(&parse::<window_burst::Params>(name, params)?),
        "pubsub-live" => pubsub_live::validate(&parse::<pubsub_live::Params>(name, params)?),
        "stream-crash" => stream_crash::validate(&parse::<stream_crash::Params>(name, params)?),
        _ => bail!(
            "unknown scenario {name:?} (known: {})",
            SCENARIOS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs a scenario by name.
pub async fn run(
    name: &str,
    params: &serde_json::Value,
    ctx: &ScenarioContext<'_>,
) -> Result<ScenarioReport> {
    match name {
        "bench" => bench_suite::run(ctx, parse(name, params)?).await,
        "complexity" => complexity::run(ctx, parse(name, params)?).await,
        "cache-stampede" => cache_stampede::run(ctx, parse(name, params)?).await,
        "counter-race" => counter_race::run(ctx, parse(name, params)?).await,
        "like-race" => like_race::run(ctx, parse(name, params)?).await,
        "coupon-race" => coupon_race::run(ctx, parse(name, params)?).await,
        "lock-expiry" => lock_expiry::run(ctx, parse(name, params)?).await,
        "window-burst" => window_burst::run(ctx, parse(name, params)?).await,
        "pubsub-live" => pubsub_live::run(ctx, parse(name, params)?).await,
        "stream-crash" => stream_crash::run(ctx, parse(name, params)?).await,
        _ => bail!("unknown scenario {name:?}"),
    }
}
