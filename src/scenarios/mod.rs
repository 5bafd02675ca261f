//! Named demonstrations a command list cannot show: many clients at once, time passing, timings
//! as data grows. Each implements `Scenario` in its own file: typed parameters (unknown fields
//! refused, ranges from one table), a `run` that returns a report and never prints.

use std::collections::BTreeMap;
use std::future::Future;

use anyhow::{Context, Result, bail};
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::measure::Ticker;
use crate::redis::connect::Server;
use crate::redis::fence::Fenced;
use crate::redis::fence::{Origin, Outcome};

pub mod active_expiry;
pub mod bench_suite;
pub mod big_keys;
pub mod blocking_pop;
pub mod client_tracking;
pub mod complexity;
pub mod connection_pool;
pub mod encoding;
pub mod eviction;
pub mod failover_lock;
pub mod keys_scan;
pub mod leaky_bucket;
pub mod lost_reply;
pub mod params;
pub mod persistence;
pub mod private;
pub mod pubsub_live;
pub mod replica_lag;
pub mod script_cache;
pub mod sentinel_failover;
pub mod sharded_pubsub;
pub mod slot_migration;
pub mod slow_subscriber;
pub mod subscribed;
pub mod ttl_jitter;
pub mod window_burst;

pub use params::{Param, ParamDoc};

/// What a scenario gets to work with.
pub struct ScenarioContext<'a> {
    pub server: &'a Server,
    /// Keys must start with `<namespace>:`.
    pub namespace: &'a str,
    /// Where progress goes (a bar on a terminal, nothing in tests).
    pub ticker: &'a dyn Ticker,
}

impl ScenarioContext<'_> {
    /// `lab:` + rest.
    pub fn key(&self, rest: &str) -> String {
        format!("{}:{rest}", self.namespace)
    }
}

/// Sends `args` on `conn` (every connection is fenced: the lesson's server's, or a private
/// server's); a refusal becomes an error naming the command.
pub async fn gated(conn: &mut Fenced, args: &[Vec<u8>], display: &str) -> Result<redis::Value> {
    let line = crate::redis::tokenize::display_args(args);
    match conn
        .run(&crate::redis::fence::own_args(args), Origin::Own)
        .await
        .map_err(|e| crate::redis::connect::command_error(e, display))?
    {
        Outcome::Reply(v) => Ok(v),
        Outcome::Refused(why) => bail!("{line}: {why}"),
        Outcome::Subscribe => bail!("{line}: not sent on this connection"),
    }
}

/// What a scenario found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScenarioReport {
    /// Column headers and rows of the result table.
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Named numbers lesson checks can test (`fixed_max_in_window`, ...).
    pub metrics: BTreeMap<String, f64>,
    /// One-line conclusions computed from this run's numbers.
    pub notes: Vec<String>,
    /// Set when the scenario could not run here, and why: the step is skipped, never failed.
    pub skipped: Option<String>,
}

/// One demonstration.
pub trait Scenario: 'static {
    /// The name lessons use: `window-burst`.
    const NAME: &'static str;
    /// One line, shown by `validate` and in the scenario list.
    const SUMMARY: &'static str;
    /// Every field of `Params`, with its range and meaning.
    const PARAMS: &'static [Param];
    /// Its range checks compare timings measured on this machine, which a busy machine makes
    /// noisy: a step whose range check misses measures again (see `runner::steps`).
    const TIMED: bool = false;
    /// `#[serde(default, deny_unknown_fields)]`; `Default` gives the defaults the table shows.
    type Params: DeserializeOwned + Serialize + Default + Send + 'static;

    /// Rules between parameters that a range per parameter cannot say.
    fn check(_params: &Self::Params) -> Result<()> {
        Ok(())
    }

    fn run(
        ctx: &ScenarioContext<'_>,
        params: Self::Params,
    ) -> impl Future<Output = Result<ScenarioReport>> + Send;
}

/// Parses and checks `value` as `S`'s parameters: the type, then the table's ranges, then `check`.
fn params_of<S: Scenario>(value: &serde_json::Value) -> Result<S::Params> {
    let p: S::Params = params::parse(S::NAME, value)?;
    let values = serde_json::to_value(&p)
        .with_context(|| format!("{}: could not read back its parameters", S::NAME))?;
    params::check_ranges(S::NAME, S::PARAMS, &values)?;
    S::check(&p)?;
    Ok(p)
}

type Runner = for<'a> fn(
    &serde_json::Value,
    &'a ScenarioContext<'a>,
) -> Result<BoxFuture<'a, Result<ScenarioReport>>>;

/// A scenario behind its name.
struct Entry {
    name: &'static str,
    summary: &'static str,
    validate: fn(&serde_json::Value) -> Result<()>,
    table: fn() -> Vec<ParamDoc>,
    run: Runner,
    timed: bool,
}

fn entry<S: Scenario>() -> Entry {
    Entry {
        name: S::NAME,
        summary: S::SUMMARY,
        validate: |v| params_of::<S>(v).map(|_| ()),
        table: || {
            let defaults = serde_json::to_value(S::Params::default()).unwrap_or_default();
            params::docs(S::PARAMS, &defaults)
        },
        run: |v, ctx| {
            let p = params_of::<S>(v)?;
            Ok(Box::pin(S::run(ctx, p)))
        },
        timed: S::TIMED,
    }
}

fn registry() -> [Entry; 25] {
    [
        entry::<active_expiry::ActiveExpiry>(),
        entry::<bench_suite::Bench>(),
        entry::<big_keys::BigKeys>(),
        entry::<blocking_pop::BlockingPop>(),
        entry::<client_tracking::ClientTracking>(),
        entry::<complexity::Complexity>(),
        entry::<connection_pool::ConnectionPool>(),
        entry::<encoding::EncodingThreshold>(),
        entry::<eviction::Eviction>(),
        entry::<eviction::EvictionCache>(),
        entry::<failover_lock::FailoverLock>(),
        entry::<keys_scan::KeysVsScan>(),
        entry::<leaky_bucket::LeakyBucket>(),
        entry::<lost_reply::LostReply>(),
        entry::<persistence::Persistence>(),
        entry::<pubsub_live::PubSubLive>(),
        entry::<replica_lag::ReplicaLag>(),
        entry::<script_cache::ScriptCache>(),
        entry::<sentinel_failover::SentinelFailover>(),
        entry::<sharded_pubsub::ShardedPubSub>(),
        entry::<slot_migration::SlotMigration>(),
        entry::<slow_subscriber::SlowSubscriber>(),
        entry::<subscribed::SubscribedRefuses>(),
        entry::<ttl_jitter::TtlJitter>(),
        entry::<window_burst::WindowBurst>(),
    ]
}

fn find(name: &str) -> Option<Entry> {
    registry().into_iter().find(|e| e.name == name)
}

/// Whether the scenario's range checks compare timings (`Scenario::TIMED`).
pub fn is_timed(name: &str) -> bool {
    find(name).is_some_and(|e| e.timed)
}

/// Every scenario: name and one-line summary.
pub fn list() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<_> = registry().iter().map(|e| (e.name, e.summary)).collect();
    all.sort();
    all
}

fn unknown(name: &str) -> anyhow::Error {
    let names: Vec<&str> = list().into_iter().map(|(n, _)| n).collect();
    anyhow::anyhow!("unknown scenario {name:?}: use one of {}", names.join(", "))
}

/// Checks a scenario exists and its parameters are valid, without a server.
pub fn validate(name: &str, params: &serde_json::Value) -> Result<()> {
    match find(name) {
        Some(e) => (e.validate)(params),
        None => Err(unknown(name)),
    }
}

/// The same as `validate`: the check `lesson::validate` is handed at start.
pub fn check(name: &str, params: &serde_json::Value) -> Result<()> {
    validate(name, params)
}

/// A scenario's parameters (name, type, default, range, meaning); `None` for an unknown name
/// and for the scenarios written before the trait.
pub fn parameter_table(name: &str) -> Option<Vec<ParamDoc>> {
    find(name).map(|e| (e.table)())
}

/// Runs a scenario by name.
pub async fn run(
    name: &str,
    params: &serde_json::Value,
    ctx: &ScenarioContext<'_>,
) -> Result<ScenarioReport> {
    match find(name) {
        Some(e) => (e.run)(params, ctx)?.await,
        None => bail!(unknown(name)),
    }
}

/// The most of some sorted instants inside any half-open window `(t − width, t]`.
pub(crate) fn max_in_any_window(sorted: &[u64], width: u64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for (hi, &t) in sorted.iter().enumerate() {
        while sorted[lo] + width <= t {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_matches_its_params_and_its_defaults_pass() {
        for e in registry() {
            (e.validate)(&serde_json::Value::Null)
                .unwrap_or_else(|err| panic!("{} defaults: {err:#}", e.name));
            let table = (e.table)();
            assert!(!table.is_empty(), "{}", e.name);
            for d in table {
                // A default means the table names a real field; a meaning, that no field is
                // missing from the table.
                assert_ne!(d.default, "—", "{}: `{}` is not a field", e.name, d.name);
                assert_ne!(d.meaning, params::UNDOCUMENTED, "{}: `{}`", e.name, d.name);
            }
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = validate("no-such", &serde_json::Value::Null).map_err(|e| e.to_string());
        let msg = e.err().unwrap_or_default();
        assert!(
            msg.contains("window-burst") && msg.contains("ttl-jitter"),
            "{msg}"
        );
        assert!(parameter_table("window-burst").is_some());
        assert!(parameter_table("no-such").is_none());
    }

    #[test]
    fn max_in_window_uses_half_open_windows() {
        assert_eq!(max_in_any_window(&[], 60_000), 0);
        assert_eq!(max_in_any_window(&[5], 60_000), 1);
        // 0 and 60 000 are exactly one window apart: never in the same (t − w, t].
        assert_eq!(max_in_any_window(&[0, 60_000], 60_000), 1);
        assert_eq!(max_in_any_window(&[0, 59_999], 60_000), 2);
        assert_eq!(
            max_in_any_window(&[0, 1, 2, 70_000, 70_001, 100_000, 125_000], 60_000),
            4
        );
    }
}
