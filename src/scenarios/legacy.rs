//! The six scenarios written before the `Scenario` trait, each with its own `Params` and
//! `validate`. Race steps replace them; until then this keeps them reachable by name.

use anyhow::{Result, bail};

use super::params::parse;
use super::{
    ScenarioContext, ScenarioReport, cache_stampede, counter_race, coupon_race, like_race,
    lock_expiry, stream_crash,
};

pub(super) const SCENARIOS: &[(&str, &str)] = &[
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
        "stream-crash",
        "a consumer crashes before XACK: XPENDING shows it, XAUTOCLAIM hands it to the survivor",
    ),
];

pub(super) fn knows(name: &str) -> bool {
    SCENARIOS.iter().any(|(n, _)| *n == name)
}

pub(super) fn check(name: &str, params: &serde_json::Value) -> Result<()> {
    match name {
        "cache-stampede" => cache_stampede::validate(&parse(name, params)?),
        "counter-race" => counter_race::validate(&parse(name, params)?),
        "like-race" => like_race::validate(&parse(name, params)?),
        "coupon-race" => coupon_race::validate(&parse(name, params)?),
        "lock-expiry" => lock_expiry::validate(&parse(name, params)?),
        "stream-crash" => stream_crash::validate(&parse(name, params)?),
        _ => bail!("unknown scenario {name:?}"),
    }
}

pub(super) async fn run(
    name: &str,
    params: &serde_json::Value,
    ctx: &ScenarioContext<'_>,
) -> Result<ScenarioReport> {
    match name {
        "cache-stampede" => cache_stampede::run(ctx, parse(name, params)?).await,
        "counter-race" => counter_race::run(ctx, parse(name, params)?).await,
        "like-race" => like_race::run(ctx, parse(name, params)?).await,
        "coupon-race" => coupon_race::run(ctx, parse(name, params)?).await,
        "lock-expiry" => lock_expiry::run(ctx, parse(name, params)?).await,
        "stream-crash" => stream_crash::run(ctx, parse(name, params)?).await,
        _ => bail!("unknown scenario {name:?}"),
    }
}
