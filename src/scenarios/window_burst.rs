//! Scenario `window-burst`: a burst across a window edge: fixed window allows 2x, sliding log and token bucket do not.
//!
//! One user sends `requests` requests spread evenly from `before_edge_ms` before a window edge
//! to `after_edge_ms` after it (by default 59.1 s … 60.95 s after a window start, limit 10 per
//! 60 s). Every timestamp is computed and passed in explicitly, never read from a clock, so the
//! run is the same every time. Three limiters, each in its own task on its own connection:
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

use anyhow::{Context, Result, anyhow, bail};
use redis::aio::MultiplexedConnection;
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

const MAX_LIMIT: u64 = 10_000;
const MIN_WINDOW_S: u64 = 5;
const MAX_WINDOW_S: u64 = 86_400;
const MAX_REQUESTS: usize = 5_000;
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Requests allowed per window.
    #[serde(default = "default_limit")]
    pub limit: u64,
    /// Window length in seconds.
    #[serde(default = "default_window_s")]
    pub window_s: u64,
    /// Requests in the burst.
    #[serde(default = "default_requests")]
    pub requests: usize,
    /// The first request comes this many ms before the window edge.
    #[serde(default = "default_before_edge_ms")]
    pub before_edge_ms: u64,
    /// The last request comes this many ms after the window edge.
    #[serde(default = "default_after_edge_ms")]
    pub after_edge_ms: u64,
}

fn default_limit() -> u64 {
    10
}

fn default_window_s() -> u64 {
    60
}

fn default_requests() -> usize {
    20
}

fn default_before_edge_ms() -> u64 {
    900
}

fn default_after_edge_ms() -> u64 {
    950
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if params.limit == 0 || params.limit > MAX_LIMIT {
        bail!(
            "window-burst: `limit` must be between 1 and {MAX_LIMIT}, got {}",
            params.limit
        );
    }
    if params.window_s < MIN_WINDOW_S || params.window_s > MAX_WINDOW_S {
        bail!(
            "window-burst: `window_s` must be between {MIN_WINDOW_S} and {MAX_WINDOW_S}, got {}",
            params.window_s
        );
    }
    if params.requests == 0 || params.requests > MAX_REQUESTS {
        bail!(
            "window-burst: `requests` must be between 1 and {MAX_REQUESTS}, got {}",
            params.requests
        );
    }
    let window_ms = params.window_s * 1000;
    if params.before_edge_ms > window_ms || params.after_edge_ms >= window_ms {
        bail!(
            "window-burst: `before_edge_ms` must be at most the window ({window_ms} ms) and `after_edge_ms` below it, got {} and {}",
            params.before_edge_ms,
            params.after_edge_ms
        );
    }
    Ok(())
}

/// Request times in ms, relative to the start of the window before the edge: evenly spread from
/// `window − before` to `window + after`.
fn request_times(params: &Params) -> Vec<u64> {
    let window_ms = params.window_s * 1000;
    let first = window_ms - params.before_edge_ms;
    let span = params.before_edge_ms + params.after_edge_ms;
    let n = params.requests as u64;
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

/// The most timestamps (sorted) inside any window `(t − window, t]` — the same half-open window
/// the sliding log uses (ZREMRANGEBYSCORE removes scores ≤ now − window).
fn max_in_any_window(sorted: &[u64], window_ms: u64) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for (hi, &t) in sorted.iter().enumerate() {
        while sorted[lo] + window_ms <= t {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limiter {
    Fixed,
    Sliding,
    Bucket,
}

/// Which requests one limiter let through, and what it left in Redis.
#[derive(Debug, Clone, Default)]
struct Outcome {
    allowed: Vec<bool>,
    allowed_times: Vec<u64>,
    max_in_window: usize,
}

impl Outcome {
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

struct Keys {
    fixed_prefix: String,
    sliding: String,
    bucket: String,
}

impl Keys {
    fn fixed(&self, window_index: u64) -> String {
        format!("{}:{window_index}", self.fixed_prefix)
    }
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
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
    let keys = Keys {
        fixed_prefix: ctx.key(&format!("ratelimit:fixed:{USER}")),
        sliding: ctx.key(&format!("ratelimit:sliding:{USER}")),
        bucket: ctx.key(&format!("ratelimit:bucket:{USER}")),
    };

    let mut conn = ctx.server.connection().await?;
    let mut reset = redis::cmd("DEL");
    reset.arg(&keys.sliding).arg(&keys.bucket);
    let mut indexes: Vec<u64> = times.iter().map(|t| (base + t) / window_ms).collect();
    indexes.dedup();
    for i in &indexes {
        reset.arg(keys.fixed(*i));
    }
    reset
        .query_async::<i64>(&mut conn)
        .await
        .context("resetting the limiters")?;

    ctx.progress.set_length(3 * times.len() as u64);
    ctx.progress.set_message(format!(
        "{} requests across a window edge, limit {} per {} s",
        params.requests, params.limit, params.window_s
    ));
    let sliding_script = redis::Script::new(SLIDING_SCRIPT);
    let bucket_script = redis::Script::new(BUCKET_SCRIPT);
    sliding_script
        .load_async(&mut conn)
        .await
        .context("loading the sliding-log script")?;
    bucket_script
        .load_async(&mut conn)
        .await
        .context("loading the token-bucket script")?;

    let mut tasks = Vec::new();
    for limiter in [Limiter::Fixed, Limiter::Sliding, Limiter::Bucket] {
        let mut conn = ctx.server.connection().await?;
        let times = times.clone();
        let progress = ctx.progress.clone();
        let script = match limiter {
            Limiter::Bucket => bucket_script.clone(),
            _ => sliding_script.clone(),
        };
        let key = match limiter {
            Limiter::Fixed => keys.fixed_prefix.clone(),
            Limiter::Sliding => keys.sliding.clone(),
            Limiter::Bucket => keys.bucket.clone(),
        };
        let (limit, window_s) = (params.limit, params.window_s);
        tasks.push(tokio::spawn(async move {
            let mut allowed = Vec::with_capacity(times.len());
            for (seq, t) in times.iter().enumerate() {
                let now = base + t;
                let ok = match limiter {
                    Limiter::Fixed => fixed(&mut conn, &key, now, limit, window_s).await?,
                    Limiter::Sliding => {
                        let (ok, _count): (i64, i64) = script
                            .key(&key)
                            .arg(now)
                            .arg(window_s * 1000)
                            .arg(limit)
                            .arg(format!("{now}-{seq}"))
                            .invoke_async(&mut conn)
                            .await?;
                        ok == 1
                    }
                    Limiter::Bucket => {
                        let (ok, _tokens): (i64, i64) = script
                            .key(&key)
                            .arg(now)
                            .arg(limit)
                            .arg(window_s * 1000)
                            .invoke_async(&mut conn)
                            .await?;
                        ok == 1
                    }
                };
                allowed.push(ok);
                progress.inc(1);
            }
            anyhow::Ok(allowed)
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        let allowed = task.await.context("a limiter task panicked")??;
        let allowed_times: Vec<u64> = times
            .iter()
            .zip(&allowed)
            .filter(|(_, ok)| **ok)
            .map(|(t, _)| *t)
            .collect();
        outcomes.push(Outcome {
            max_in_window: max_in_any_window(&allowed_times, window_ms),
            allowed,
            allowed_times,
        });
    }
    let [fixed_o, sliding_o, bucket_o]: [Outcome; 3] = outcomes
        .try_into()
        .map_err(|_| anyhow!("window-burst: expected three outcomes"))?;
    Ok(report(
        &params, &times, &keys, &indexes, &fixed_o, &sliding_o, &bucket_o,
    ))
}

/// One fixed-window request: the counter of the window `now` falls in.
async fn fixed(
    conn: &mut MultiplexedConnection,
    prefix: &str,
    now_ms: u64,
    limit: u64,
    window_s: u64,
) -> Result<bool> {
    let key = format!("{prefix}:{}", now_ms / 1000 / window_s);
    let (count,): (u64,) = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg(&key)
        .cmd("EXPIRE")
        .arg(&key)
        .arg(window_s)
        .arg("NX")
        .ignore()
        .query_async(conn)
        .await?;
    Ok(count <= limit)
}

#[allow(clippy::too_many_arguments)]
fn report(
    params: &Params,
    times: &[u64],
    keys: &Keys,
    indexes: &[u64],
    fixed: &Outcome,
    sliding: &Outcome,
    bucket: &Outcome,
) -> ScenarioReport {
    let secs = |t: u64| format!("{:.3} s", t as f64 / 1000.0);
    let n = times.len();
    let row = |name: &str, o: &Outcome, state: &str| {
        vec![
            name.to_string(),
            o.count().to_string(),
            (n - o.count()).to_string(),
            o.max_in_window.to_string(),
            o.first_rejected(times)
                .map(secs)
                .unwrap_or_else(|| "never".into()),
            state.to_string(),
        ]
    };
    let mut report = ScenarioReport {
        header: vec![
            "limiter".into(),
            "allowed".into(),
            "rejected".into(),
            format!("most allowed in any {} s", params.window_s),
            "first rejected at".into(),
            "state in Redis".into(),
        ],
        rows: vec![
            row(
                "fixed window (INCR + EXPIRE NX)",
                fixed,
                "one counter per window",
            ),
            row(
                "sliding log (sorted set + Lua)",
                sliding,
                "one member per allowed request",
            ),
            row("token bucket (hash + Lua)", bucket, "two fields"),
        ],
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("limit".into(), params.limit as f64);
    m.insert("window_s".into(), params.window_s as f64);
    m.insert("requests".into(), n as f64);
    m.insert("fixed_allowed".into(), fixed.count() as f64);
    m.insert("sliding_allowed".into(), sliding.count() as f64);
    m.insert("bucket_allowed".into(), bucket.count() as f64);
    m.insert("fixed_max_in_window".into(), fixed.max_in_window as f64);
    m.insert("sliding_max_in_window".into(), sliding.max_in_window as f64);
    m.insert("bucket_max_in_window".into(), bucket.max_in_window as f64);

    let limit = params.limit as usize;
    let (first, last) = (
        times.first().copied().unwrap_or(0),
        times.last().copied().unwrap_or(0),
    );
    let notes = &mut report.notes;
    notes.push(format!(
        "{n} requests from {} to {} (the window edge is at {}), limit {limit} per {} s; every timestamp was passed in, none read from a clock.",
        secs(first),
        secs(last),
        secs(params.window_s * 1000),
        params.window_s
    ));
    if fixed.max_in_window > limit {
        notes.push(format!(
            "The fixed window let {} through within a single {} s stretch, {:.1}× the limit: the edge started a fresh counter and the old one did not count any more.",
            fixed.max_in_window,
            params.window_s,
            fixed.max_in_window as f64 / limit as f64
        ));
    } else {
        notes.push(format!(
            "The fixed window stayed within the limit this time ({} at most): put more requests on both sides of the edge to see it allow up to 2×.",
            fixed.max_in_window
        ));
    }
    if sliding.max_in_window <= limit {
        notes.push(format!(
            "The sliding log allowed {} and never more than {limit} in any {} s: it counts the last {} s from each request, not from a window start.",
            sliding.count(),
            params.window_s,
            params.window_s
        ));
    }
    if bucket.max_in_window <= limit {
        notes.push(format!(
            "The token bucket allowed {}: a burst can spend at most its {limit} tokens, and they come back at {limit} per {} s. Over a longer stretch it can allow up to capacity + refill in one window; it trades exactness for O(1) memory.",
            bucket.count(),
            params.window_s
        ));
    } else {
        notes.push(format!(
            "The token bucket let {} through within one {} s stretch: a full bucket ({limit}) plus what refilled meanwhile. It bounds bursts by its capacity, not the count per window.",
            bucket.max_in_window, params.window_s
        ));
    }
    let fixed_keys: Vec<String> = indexes.iter().map(|i| keys.fixed(*i)).collect();
    notes.push(format!(
        "Keys left to inspect, each expiring within {} s: {}, {}, {}.",
        params.window_s,
        fixed_keys.join(", "),
        keys.sliding,
        keys.bucket
    ));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            limit: 10,
            window_s: 60,
            requests: 20,
            before_edge_ms: 900,
            after_edge_ms: 950,
        }
    }

    #[test]
    fn params_are_checked() {
        assert!(validate(&params()).is_ok());
        assert!(
            validate(&Params {
                limit: 0,
                ..params()
            })
            .is_err()
        );
        assert!(
            validate(&Params {
                window_s: 1,
                ..params()
            })
            .is_err()
        );
        assert!(
            validate(&Params {
                requests: 0,
                ..params()
            })
            .is_err()
        );
        assert!(
            validate(&Params {
                after_edge_ms: 60_000,
                ..params()
            })
            .is_err()
        );
        let parsed: Params = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!((parsed.limit, parsed.requests), (10, 20));
        assert!(serde_json::from_value::<Params>(serde_json::json!({"now": 1})).is_err());
    }

    #[test]
    fn times_straddle_the_edge() {
        let t = request_times(&params());
        assert_eq!(t.len(), 20);
        assert_eq!(t[0], 59_100);
        assert_eq!(t[19], 60_950);
        assert_eq!(t.iter().filter(|&&x| x < 60_000).count(), 10);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        let one = request_times(&Params {
            requests: 1,
            ..params()
        });
        assert_eq!(one, vec![59_100]);
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
        assert_eq!(max_in_any_window(&[0, 1, 2, 60_001, 60_002], 60_000), 3);
        let t = request_times(&params());
        assert_eq!(max_in_any_window(&t, 60_000), 20);
    }
}
