//! Scenario `window-burst`: a burst across a window edge: a fixed window lets twice its limit through; the sliding log never more than the limit in any window; a token bucket, within the seconds of a burst, no more than its capacity (over a whole minute it also serves the refill).
//!
//! One user sends `requests` requests spread evenly from `before_edge_ms` before a window edge
//! to `after_edge_ms` after it (by default 59.1 s … 60.95 s after a window start, limit 10 per
//! 60 s). Every timestamp is computed and passed in explicitly, never read from a clock, so the
//! run is the same every time. Three limiters, run together, each on its own connection:
//!
//! - **Fixed window**: `ratelimit:fixed:{user}:{t / window}`, MULTI INCR + `EXPIRE key window NX`
//!   EXEC (7.0+). The edge starts a fresh counter, so up to 2× the limit gets through.
//! - **Sliding log**: one sorted set per user; a Lua script drops entries older than the window
//!   (`ZREMRANGEBYSCORE key -inf now-window`), counts (ZCARD), and only if under the limit adds
//!   `now` with a unique member and PEXPIREs the key. Rejected requests are not recorded.
//! - **Token bucket**: a hash with `units` and `last_ms`; capacity = limit, refilled at
//!   limit per window. One token is stored as `window_ms` units, so the refill is exactly
//!   `limit` units per millisecond and all arithmetic stays in integers (Lua turns non-integer
//!   numbers into integers when returning, and float drift would make 0.99999 tokens refuse).
//!
//! Then, for each limiter, the most requests it allowed inside any window of `window_s` is
//! computed from the allowed timestamps. Keys are left behind and expire within one window.

use crate::redis::fence::Fenced;
use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use super::params::{Param, bounded, int};
use super::{Scenario, ScenarioContext, ScenarioReport, max_in_any_window};

const USER: &str = "42";
/// A fixed, window-aligned "now" (November 2023), so keys and replies are the same every run.
const EPOCH_MS: u64 = 1_700_000_000_000;

/// Sliding log. ARGV: now_ms, window_ms, limit, member. Returns {allowed (0/1), count}.
const SLIDING_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, count + 1}
end
return {0, count}
";

/// Token bucket. ARGV: now_ms, capacity, window_ms. One token = window_ms units; the bucket
/// refills `capacity` units per ms (= capacity tokens per window). Returns {allowed, tokens left}.
const BUCKET_SCRIPT: &str = r"
local now = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local full = capacity * window
local state = redis.call('HMGET', KEYS[1], 'units', 'last_ms')
local units = tonumber(state[1])
local last = tonumber(state[2])
if units == nil or last == nil then
  units = full
  last = now
end
if now > last then
  units = math.min(full, units + (now - last) * capacity)
  last = now
end
local allowed = 0
if units >= window then
  units = units - window
  allowed = 1
end
redis.call('HSET', KEYS[1], 'units', units, 'last_ms', last)
redis.call('PEXPIRE', KEYS[1], window)
return {allowed, math.floor(units / window)}
";

pub struct WindowBurst;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub limit: u64,
    pub window_s: u64,
    pub requests: u64,
    pub before_edge_ms: u64,
    pub after_edge_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            limit: 10,
            window_s: 60,
            requests: 20,
            before_edge_ms: 900,
            after_edge_ms: 950,
        }
    }
}

impl Scenario for WindowBurst {
    const NAME: &'static str = "window-burst";
    const SUMMARY: &'static str = "a burst across a window edge: a fixed window allows 2x; the sliding log and, within a burst, the token bucket do not";
    const PARAMS: &'static [Param] = &[
        int("limit", 1, 10_000, "requests allowed per window"),
        int("window_s", 5, 86_400, "window length in seconds"),
        int("requests", 1, 5_000, "requests in the burst, evenly spread"),
        int(
            "before_edge_ms",
            0,
            86_400_000,
            "the first request comes this many ms before the window edge (at most the window)",
        ),
        int(
            "after_edge_ms",
            0,
            86_399_999,
            "the last request comes this many ms after the edge (less than the window)",
        ),
    ];
    type Params = Params;

    fn check(p: &Params) -> Result<()> {
        let window_ms = p.window_s * 1000;
        bounded(Self::NAME, "before_edge_ms", p.before_edge_ms, 0, window_ms)?;
        bounded(
            Self::NAME,
            "after_edge_ms",
            p.after_edge_ms,
            0,
            window_ms - 1,
        )
    }

    async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
        burst(ctx, params).await
    }
}

/// Request times in ms, relative to the start of the window before the edge: evenly spread from
/// `window − before` to `window + after`.
fn request_times(params: &Params) -> Vec<u64> {
    let first = params.window_s * 1000 - params.before_edge_ms;
    let span = params.before_edge_ms + params.after_edge_ms;
    let n = params.requests;
    (0..n)
        .map(|i| {
            if n == 1 {
                first
            } else {
                first + i * span / (n - 1)
            }
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limiter {
    Fixed,
    Sliding,
    Bucket,
}

const LIMITERS: [Limiter; 3] = [Limiter::Fixed, Limiter::Sliding, Limiter::Bucket];

/// Which requests one limiter let through.
#[derive(Debug, Clone, Default)]
struct Outcome {
    allowed: Vec<bool>,
    allowed_times: Vec<u64>,
    max_in_window: usize,
}

impl Outcome {
    fn new(times: &[u64], allowed: Vec<bool>, window_ms: u64) -> Self {
        let allowed_times: Vec<u64> = times
            .iter()
            .zip(&allowed)
            .filter(|(_, ok)| **ok)
            .map(|(t, _)| *t)
            .collect();
        Outcome {
            max_in_window: max_in_any_window(&allowed_times, window_ms),
            allowed,
            allowed_times,
        }
    }

    fn count(&self) -> usize {
        self.allowed_times.len()
    }

    fn first_rejected(&self, times: &[u64]) -> Option<u64> {
        self.allowed
            .iter()
            .zip(times)
            .find(|(ok, _)| !**ok)
            .map(|(_, t)| *t)
    }
}

/// Where each limiter keeps its state, and the scripts two of them run.
struct Limiters {
    fixed_prefix: String,
    sliding: String,
    bucket: String,
}

impl Limiters {
    fn fixed(&self, window_index: u64) -> String {
        format!("{}:{window_index}", self.fixed_prefix)
    }

    /// Sends one request at `now` (ms since the epoch) to `limiter`: allowed or not.
    async fn allow(
        &self,
        conn: &mut Fenced,
        limiter: Limiter,
        p: &Params,
        now: u64,
        seq: usize,
    ) -> Result<bool> {
        let window_ms = p.window_s * 1000;
        let (ok, _): (i64, i64) = match limiter {
            Limiter::Fixed => return fixed(conn, &self.fixed(now / window_ms), p).await,
            Limiter::Sliding => {
                let mut call = redis::cmd("EVAL");
                call.arg(SLIDING_SCRIPT).arg(1).arg(&self.sliding);
                call.arg(now).arg(window_ms).arg(p.limit);
                call.arg(format!("{now}-{seq}"));
                call.query_async(conn).await?
            }
            Limiter::Bucket => {
                let mut call = redis::cmd("EVAL");
                call.arg(BUCKET_SCRIPT).arg(1).arg(&self.bucket);
                call.arg(now).arg(p.limit).arg(window_ms);
                call.query_async(conn).await?
            }
        };
        Ok(ok == 1)
    }
}

/// Resets the limiters, sends every request to each of them, and reports.
async fn burst(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    if ctx.server.version_tuple() < (7, 0, 0) {
        bail!(
            "window-burst needs Redis 7.0 or later (EXPIRE … NX), this server is {} {}",
            ctx.server.product,
            ctx.server.version
        );
    }
    let window_ms = params.window_s * 1000;
    let base = EPOCH_MS / window_ms * window_ms;
    let times = request_times(&params);
    let limiters = Limiters {
        fixed_prefix: ctx.key(&format!("ratelimit:fixed:{USER}")),
        sliding: ctx.key(&format!("ratelimit:sliding:{USER}")),
        bucket: ctx.key(&format!("ratelimit:bucket:{USER}")),
    };
    let mut indexes: Vec<u64> = times.iter().map(|t| (base + t) / window_ms).collect();
    indexes.dedup();
    let fixed_keys: Vec<String> = indexes.iter().map(|i| limiters.fixed(*i)).collect();

    let mut conn = ctx.server.connection().await?;
    let mut reset = redis::cmd("DEL");
    reset
        .arg(&limiters.sliding)
        .arg(&limiters.bucket)
        .arg(&fixed_keys);
    reset
        .query_async::<i64>(&mut conn)
        .await
        .context("resetting the limiters")?;

    ctx.ticker.start(
        3 * times.len() as u64,
        &format!(
            "{} requests across a window edge, limit {} per {} s",
            params.requests, params.limit, params.window_s
        ),
    );
    let allowed = crate::measure::run_together(LIMITERS.len(), |i| {
        let (limiters, params, times) = (&limiters, &params, &times);
        async move {
            let mut conn = ctx.server.connection().await?;
            let mut allowed = Vec::with_capacity(times.len());
            for (seq, t) in times.iter().enumerate() {
                let ok = limiters.allow(&mut conn, LIMITERS[i], params, base + t, seq);
                allowed.push(ok.await.context("sending a request to a limiter")?);
                ctx.ticker.tick(1);
            }
            anyhow::Ok(allowed)
        }
    })
    .await?;
    let outcomes: Vec<Outcome> = allowed
        .into_iter()
        .map(|a| Outcome::new(&times, a, window_ms))
        .collect();
    let [fixed_o, sliding_o, bucket_o]: [Outcome; 3] = outcomes
        .try_into()
        .map_err(|_| anyhow!("window-burst: expected three outcomes"))?;
    let mut keys = fixed_keys;
    keys.extend([limiters.sliding.clone(), limiters.bucket.clone()]);
    Ok(report(
        &params,
        &times,
        &keys,
        [&fixed_o, &sliding_o, &bucket_o],
    ))
}

/// One fixed-window request: INCR the counter of the window `now` falls in, and give it a TTL
/// the first time (NX), in one MULTI/EXEC.
async fn fixed(conn: &mut Fenced, key: &str, p: &Params) -> Result<bool> {
    let mut pipe = redis::pipe();
    pipe.atomic()
        .cmd("INCR")
        .arg(key)
        .cmd("EXPIRE")
        .arg(key)
        .arg(p.window_s)
        .arg("NX")
        .ignore();
    let (count,): (u64,) = pipe.query_async(conn).await?;
    Ok(count <= p.limit)
}

fn secs(t: u64) -> String {
    format!("{:.3} s", t as f64 / 1000.0)
}

/// "Fixed window: at most 20 in any 60 s, 2.0× the limit of 10."
fn limit_note(name: &str, o: &Outcome, p: &Params) -> String {
    let ratio = o.max_in_window as f64 / p.limit as f64;
    let verdict = if o.max_in_window as u64 > p.limit {
        "over"
    } else {
        "within"
    };
    format!(
        "{name}: allowed {}, at most {} in any {} s — {ratio:.1}× the limit of {}, {verdict} it.",
        o.count(),
        o.max_in_window,
        p.window_s,
        p.limit
    )
}

fn report(p: &Params, times: &[u64], keys: &[String], o: [&Outcome; 3]) -> ScenarioReport {
    let n = times.len();
    let names = [
        ("fixed window (INCR + EXPIRE NX)", "Fixed window"),
        ("sliding log (sorted set + Lua)", "Sliding log"),
        ("token bucket (hash + Lua)", "Token bucket"),
    ];
    let rows = names
        .iter()
        .zip(o)
        .map(|((label, _), o)| {
            vec![
                label.to_string(),
                o.count().to_string(),
                (n - o.count()).to_string(),
                o.max_in_window.to_string(),
                o.first_rejected(times).map_or_else(|| "never".into(), secs),
            ]
        })
        .collect();
    let mut report = ScenarioReport {
        header: vec![
            "limiter".into(),
            "allowed".into(),
            "rejected".into(),
            format!("most allowed in any {} s", p.window_s),
            "first rejected at".into(),
        ],
        rows,
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("limit".into(), p.limit as f64);
    m.insert("window_s".into(), p.window_s as f64);
    m.insert("requests".into(), n as f64);
    for (prefix, o) in ["fixed", "sliding", "bucket"].iter().zip(o) {
        m.insert(format!("{prefix}_allowed"), o.count() as f64);
        m.insert(format!("{prefix}_max_in_window"), o.max_in_window as f64);
    }
    let (first, last) = (times.first().copied(), times.last().copied());
    report.notes.push(format!(
        "{n} requests from {} to {} (the window edge is at {}); each request is sent with its timestamp passed in, so the window boundaries fall the same way on every run.",
        secs(first.unwrap_or(0)),
        secs(last.unwrap_or(0)),
        secs(p.window_s * 1000),
    ));
    for ((_, name), o) in names.iter().zip(o) {
        report.notes.push(limit_note(name, o, p));
    }
    report
        .notes
        .push(format!("Keys left to inspect: {}.", keys.join(", ")));
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::validate;
    use serde_json::json;

    #[test]
    fn params_are_checked_against_the_table_and_the_window() {
        assert!(validate("window-burst", &json!({})).is_ok());
        let err = |v| {
            validate("window-burst", &v)
                .map_err(|e| format!("{e:#}"))
                .err()
                .unwrap_or_default()
        };
        assert_eq!(
            err(json!({"limit": 0})),
            "window-burst: `limit` must be between 1 and 10000, got 0"
        );
        assert!(err(json!({"window_s": 1})).contains("`window_s`"));
        assert!(err(json!({"requests": 0})).contains("`requests`"));
        assert_eq!(
            err(json!({"after_edge_ms": 60_000})),
            "window-burst: `after_edge_ms` must be between 0 and 59999, got 60000"
        );
        assert!(err(json!({"now": 1})).contains("unknown field `now`"));
    }

    #[test]
    fn times_straddle_the_edge() {
        let t = request_times(&Params::default());
        assert_eq!(t.len(), 20);
        assert_eq!(t[0], 59_100);
        assert_eq!(t[19], 60_950);
        assert_eq!(t.iter().filter(|&&x| x < 60_000).count(), 10);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(max_in_any_window(&t, 60_000), 20);
        let one = request_times(&Params {
            requests: 1,
            ..Params::default()
        });
        assert_eq!(one, vec![59_100]);
    }

    #[test]
    fn notes_follow_the_numbers() {
        let p = Params::default();
        let times = request_times(&p);
        let over = Outcome::new(&times, vec![true; 20], 60_000);
        let within = Outcome::new(&times, (0..20).map(|i| i < 10).collect(), 60_000);
        assert!(limit_note("Fixed window", &over, &p).contains("2.0× the limit of 10, over it"));
        assert!(limit_note("Sliding log", &within, &p).contains("1.0× the limit of 10, within it"));
        assert_eq!(within.first_rejected(&times), Some(times[10]));
    }
}
