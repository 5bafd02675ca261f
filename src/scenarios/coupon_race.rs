//! Scenario `coupon-race`: N buyers, limited stock: no lock oversells, SET NX PX with retry and backoff does not.
//!
//! `workers` purchase requests, each on its own connection, race for `stock` coupons three times:
//!
//! 1. **No lock** (the original project's `issue-unsafe`): GET the stock, do the app's work,
//!    check it is above 0, DECR. Every request reads the stock before any of them decrements
//!    (the requests wait for each other at that point, so the race shows on every run instead of
//!    most runs), so every one of them sees stock left and the stock goes negative.
//! 2. **SET NX PX lock**: `SET lock token NX PX lock_ms`; a refused request retries with
//!    exponential backoff plus jitter, a bounded number of times. The holder checks the buyer has
//!    no coupon yet (SISMEMBER), GETs and checks the stock, then MULTI DECR + SADD EXEC, and
//!    releases with a Lua compare-and-delete so it can only ever delete its own lock.
//! 3. **One atomic script**, no lock at all: "if this buyer has none and stock > 0, DECR and
//!    SADD" inside Lua.
//!
//! With `double_click` (default on) the last request is a second click by `user:1`: the unsafe
//! version hands that user two coupons, the other two refuse the second one.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::future::try_join_all;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use tokio::sync::Barrier;

use super::{ScenarioContext, ScenarioReport};

const MAX_WORKERS: usize = 500;
const MAX_STOCK: i64 = 100_000;
const MIN_LOCK_MS: u64 = 1_000;
const MAX_LOCK_MS: u64 = 600_000;
const MAX_ATTEMPTS: u32 = 1_000;
/// The first wait after a refused SET NX; it doubles up to the cap.
const BACKOFF_START: Duration = Duration::from_millis(2);
const BACKOFF_CAP: Duration = Duration::from_millis(50);
/// The coupon keys stay behind for the learner to inspect, then expire.
const KEEP_SECONDS: u64 = 3600;

/// Release only if the lock still holds our token.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
else
  return 0
end
";

/// Lock-free issue: 1 = granted, 0 = sold out, -1 = this buyer already has one.
const ISSUE_SCRIPT: &str = r"
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -1 end
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
if stock <= 0 then return 0 end
redis.call('DECR', KEYS[1])
redis.call('SADD', KEYS[2], ARGV[1])
return 1
";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Concurrent purchase requests, each on its own connection.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Coupons available.
    #[serde(default = "default_stock")]
    pub stock: i64,
    /// The lock's TTL in milliseconds (PX).
    #[serde(default = "default_lock_ms")]
    pub lock_ms: u64,
    /// How many times a request tries SET NX before giving up.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Make the last request a second click by `user:1`.
    #[serde(default = "default_double_click")]
    pub double_click: bool,
}

fn default_workers() -> usize {
    20
}

fn default_stock() -> i64 {
    5
}

fn default_lock_ms() -> u64 {
    30_000
}

fn default_max_attempts() -> u32 {
    50
}

fn default_double_click() -> bool {
    true
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if params.workers == 0 || params.workers > MAX_WORKERS {
        bail!(
            "coupon-race: `workers` must be between 1 and {MAX_WORKERS}, got {}",
            params.workers
        );
    }
    if params.stock < 1 || params.stock > MAX_STOCK {
        bail!(
            "coupon-race: `stock` must be between 1 and {MAX_STOCK}, got {}",
            params.stock
        );
    }
    if params.lock_ms < MIN_LOCK_MS || params.lock_ms > MAX_LOCK_MS {
        bail!(
            "coupon-race: `lock_ms` must be between {MIN_LOCK_MS} and {MAX_LOCK_MS} (it must comfortably outlast the work done under the lock), got {}",
            params.lock_ms
        );
    }
    if params.max_attempts == 0 || params.max_attempts > MAX_ATTEMPTS {
        bail!(
            "coupon-race: `max_attempts` must be between 1 and {MAX_ATTEMPTS}, got {}",
            params.max_attempts
        );
    }
    Ok(())
}

/// The buyer behind request `i` (0-based).
fn buyer_of(i: usize, workers: usize, double_click: bool) -> String {
    if double_click && workers >= 2 && i == workers - 1 {
        "user:1".to_string()
    } else {
        format!("user:{}", i + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    NoLock,
    Lock,
    Script,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Granted,
    SoldOut,
    AlreadyHasOne,
    GaveUp,
}

/// What one request ended with, and how many times it was refused the lock.
#[derive(Debug, Clone)]
struct Attempt {
    buyer: String,
    answer: Answer,
    retries: u64,
    /// The release script found someone else's token (our lock had expired).
    lost_lock: bool,
}

/// What one version ended with.
#[derive(Debug, Clone, Default, PartialEq)]
struct Outcome {
    granted: u64,
    sold_out: u64,
    already: u64,
    gave_up: u64,
    retries: u64,
    lost_locks: u64,
    /// The most coupons one buyer was granted.
    max_per_buyer: u64,
    final_stock: i64,
}

impl Outcome {
    fn from_attempts(attempts: &[Attempt], final_stock: i64) -> Self {
        let mut per_buyer: BTreeMap<&str, u64> = BTreeMap::new();
        let mut o = Outcome {
            final_stock,
            ..Default::default()
        };
        for a in attempts {
            match a.answer {
                Answer::Granted => {
                    o.granted += 1;
                    *per_buyer.entry(a.buyer.as_str()).or_default() += 1;
                }
                Answer::SoldOut => o.sold_out += 1,
                Answer::AlreadyHasOne => o.already += 1,
                Answer::GaveUp => o.gave_up += 1,
            }
            o.retries += a.retries;
            o.lost_locks += u64::from(a.lost_lock);
        }
        o.max_per_buyer = per_buyer.values().copied().max().unwrap_or(0);
        o
    }
}

struct Keys {
    stock: String,
    issued: String,
    lock: String,
}

impl Keys {
    fn new(ctx: &ScenarioContext<'_>, id: &str) -> Self {
        Keys {
            stock: ctx.key(&format!("coupon:{id}:stock")),
            issued: ctx.key(&format!("coupon:{id}:issued")),
            lock: ctx.key(&format!("lock:coupon:{id}")),
        }
    }
}

/// Everything a request task needs.
struct Shared {
    keys: Keys,
    method: Method,
    lock_ms: u64,
    max_attempts: u32,
    release: redis::Script,
    issue: redis::Script,
    /// Every request waits here after its GET (the no-lock version only).
    read_barrier: Barrier,
    start_barrier: Barrier,
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    let nolock = Keys::new(ctx, "nolock");
    let locked = Keys::new(ctx, "locked");
    let atomic = Keys::new(ctx, "atomic");
    let mut conn = ctx.server.connection().await?;
    let mut reset = redis::pipe();
    for k in [&nolock, &locked, &atomic] {
        reset
            .cmd("DEL")
            .arg(&k.stock)
            .arg(&k.issued)
            .arg(&k.lock)
            .ignore();
        reset.cmd("SET").arg(&k.stock).arg(params.stock).ignore();
    }
    reset
        .query_async::<()>(&mut conn)
        .await
        .context("setting up the coupons")?;

    ctx.ticker.start(3 * params.workers as u64, "");
    let conns = try_join_all((0..params.workers).map(|_| ctx.server.connection())).await?;
    let release = redis::Script::new(RELEASE_SCRIPT);
    let issue = redis::Script::new(ISSUE_SCRIPT);
    // Load both up front, so the concurrent requests all find them by their SHA.
    release
        .load_async(&mut conn)
        .await
        .context("loading the release script")?;
    issue
        .load_async(&mut conn)
        .await
        .context("loading the issue script")?;

    let mut outcomes = Vec::new();
    for (keys, method, message) in [
        (nolock, Method::NoLock, "no lock: GET, check, DECR"),
        (locked, Method::Lock, "SET NX PX lock, retry with backoff"),
        (atomic, Method::Script, "one Lua script, no lock"),
    ] {
        ctx.ticker.message(&format!(
            "{} requests for {} coupons: {message}",
            params.workers, params.stock
        ));
        let shared = Arc::new(Shared {
            keys,
            method,
            lock_ms: params.lock_ms,
            max_attempts: params.max_attempts,
            release: release.clone(),
            issue: issue.clone(),
            read_barrier: Barrier::new(params.workers),
            start_barrier: Barrier::new(params.workers),
        });
        let attempts = race(ctx, &conns, &shared, &params).await?;
        let (final_stock, _, _): (Option<i64>, i64, i64) = redis::pipe()
            .cmd("GET")
            .arg(&shared.keys.stock)
            .cmd("EXPIRE")
            .arg(&shared.keys.stock)
            .arg(KEEP_SECONDS)
            .cmd("EXPIRE")
            .arg(&shared.keys.issued)
            .arg(KEEP_SECONDS)
            .query_async(&mut conn)
            .await
            .context("reading the final stock")?;
        outcomes.push(Outcome::from_attempts(&attempts, final_stock.unwrap_or(0)));
    }
    let [unsafe_o, locked_o, atomic_o]: [Outcome; 3] = outcomes
        .try_into()
        .map_err(|_| anyhow::anyhow!("coupon-race: expected three outcomes"))?;
    Ok(report(ctx, &params, &unsafe_o, &locked_o, &atomic_o))
}

/// All requests of one version, started together, each on its own connection.
async fn race(
    ctx: &ScenarioContext<'_>,
    conns: &[MultiplexedConnection],
    shared: &Arc<Shared>,
    params: &Params,
) -> Result<Vec<Attempt>> {
    let tasks = conns.iter().enumerate().map(|(i, conn)| {
        let mut conn = conn.clone();
        let shared = shared.clone();
        let buyer = buyer_of(i, params.workers, params.double_click);
        tokio::spawn(async move {
            shared.start_barrier.wait().await;
            let attempt = match shared.method {
                Method::NoLock => buy_without_lock(&mut conn, &shared, buyer).await?,
                Method::Lock => buy_with_lock(&mut conn, &shared, buyer, i).await?,
                Method::Script => buy_with_script(&mut conn, &shared, buyer).await?,
            };
            anyhow::Ok(attempt)
        })
    });
    let mut attempts = Vec::with_capacity(conns.len());
    for joined in try_join_all(tasks).await.context("a buyer task panicked")? {
        attempts.push(joined?);
        ctx.ticker.tick(1);
    }
    Ok(attempts)
}

fn attempt(buyer: String, answer: Answer) -> Attempt {
    Attempt {
        buyer,
        answer,
        retries: 0,
        lost_lock: false,
    }
}

async fn buy_without_lock(
    conn: &mut MultiplexedConnection,
    s: &Shared,
    buyer: String,
) -> Result<Attempt> {
    let stock: Option<i64> = redis::cmd("GET")
        .arg(&s.keys.stock)
        .query_async(conn)
        .await?;
    // The app's work between reading and writing (the original slept 100 ms here). Every
    // request reads before any decrements, which is what such a pause causes under load.
    s.read_barrier.wait().await;
    if stock.unwrap_or(0) <= 0 {
        return Ok(attempt(buyer, Answer::SoldOut));
    }
    redis::cmd("DECR")
        .arg(&s.keys.stock)
        .query_async::<i64>(conn)
        .await?;
    Ok(attempt(buyer, Answer::Granted))
}

async fn buy_with_lock(
    conn: &mut MultiplexedConnection,
    s: &Shared,
    buyer: String,
    n: usize,
) -> Result<Attempt> {
    let token = format!("{buyer}-{n}-{:016x}", rand::random::<u64>());
    let mut wait = BACKOFF_START;
    let mut retries = 0;
    for tried in 1..=s.max_attempts {
        let won: Option<String> = redis::cmd("SET")
            .arg(&s.keys.lock)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(s.lock_ms)
            .query_async(conn)
            .await?;
        if won.is_some() {
            let answer = issue_under_lock(conn, s, &buyer).await;
            // Release even when the work failed, and only our own lock.
            let released: i64 = s
                .release
                .key(&s.keys.lock)
                .arg(&token)
                .invoke_async(conn)
                .await?;
            return Ok(Attempt {
                buyer,
                answer: answer?,
                retries,
                lost_lock: released == 0,
            });
        }
        if tried < s.max_attempts {
            retries += 1;
            // Jitter keeps the refused requests from retrying in lockstep.
            let spread = rand::random_range(0..=wait.as_millis() as u64);
            tokio::time::sleep(wait + Duration::from_millis(spread)).await;
            wait = (wait * 2).min(BACKOFF_CAP);
        }
    }
    Ok(Attempt {
        buyer,
        answer: Answer::GaveUp,
        retries,
        lost_lock: false,
    })
}

/// The critical section: one coupon per buyer, never below zero.
async fn issue_under_lock(
    conn: &mut MultiplexedConnection,
    s: &Shared,
    buyer: &str,
) -> Result<Answer> {
    let has_one: bool = redis::cmd("SISMEMBER")
        .arg(&s.keys.issued)
        .arg(buyer)
        .query_async(conn)
        .await?;
    if has_one {
        return Ok(Answer::AlreadyHasOne);
    }
    let stock: Option<i64> = redis::cmd("GET")
        .arg(&s.keys.stock)
        .query_async(conn)
        .await?;
    // The same app work as in the unlocked version; here nobody else can get in meanwhile.
    tokio::task::yield_now().await;
    if stock.unwrap_or(0) <= 0 {
        return Ok(Answer::SoldOut);
    }
    redis::pipe()
        .atomic()
        .cmd("DECR")
        .arg(&s.keys.stock)
        .ignore()
        .cmd("SADD")
        .arg(&s.keys.issued)
        .arg(buyer)
        .ignore()
        .query_async::<()>(conn)
        .await?;
    Ok(Answer::Granted)
}

async fn buy_with_script(
    conn: &mut MultiplexedConnection,
    s: &Shared,
    buyer: String,
) -> Result<Attempt> {
    let reply: i64 = s
        .issue
        .key(&s.keys.stock)
        .key(&s.keys.issued)
        .arg(&buyer)
        .invoke_async(conn)
        .await?;
    let answer = match reply {
        1 => Answer::Granted,
        -1 => Answer::AlreadyHasOne,
        _ => Answer::SoldOut,
    };
    Ok(attempt(buyer, answer))
}

fn report(
    ctx: &ScenarioContext<'_>,
    params: &Params,
    nolock: &Outcome,
    locked: &Outcome,
    atomic: &Outcome,
) -> ScenarioReport {
    let stock = params.stock;
    let row = |name: &str, o: &Outcome, retries: String| {
        vec![
            name.to_string(),
            o.granted.to_string(),
            o.final_stock.to_string(),
            oversold(o.granted, stock).to_string(),
            o.max_per_buyer.to_string(),
            format!("{} / {} / {}", o.sold_out, o.already, o.gave_up),
            retries,
        ]
    };
    let mut report = ScenarioReport {
        header: vec![
            "version".into(),
            "granted".into(),
            "final stock".into(),
            "oversold".into(),
            "most to one buyer".into(),
            "refused: sold out / already has one / gave up".into(),
            "lock retries".into(),
        ],
        rows: vec![
            row("no lock: GET, check, DECR", nolock, "-".into()),
            row(
                "SET NX PX lock + backoff",
                locked,
                locked.retries.to_string(),
            ),
            row("atomic Lua script", atomic, "-".into()),
        ],
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("workers".into(), params.workers as f64);
    m.insert("stock".into(), stock as f64);
    m.insert("unsafe_granted".into(), nolock.granted as f64);
    m.insert("unsafe_final_stock".into(), nolock.final_stock as f64);
    m.insert("oversold".into(), oversold(nolock.granted, stock) as f64);
    m.insert("unsafe_max_per_buyer".into(), nolock.max_per_buyer as f64);
    m.insert("locked_granted".into(), locked.granted as f64);
    m.insert("locked_final_stock".into(), locked.final_stock as f64);
    m.insert("locked_max_per_buyer".into(), locked.max_per_buyer as f64);
    m.insert("locked_gave_up".into(), locked.gave_up as f64);
    m.insert("retries".into(), locked.retries as f64);
    m.insert("atomic_granted".into(), atomic.granted as f64);
    m.insert("atomic_final_stock".into(), atomic.final_stock as f64);
    m.insert("atomic_max_per_buyer".into(), atomic.max_per_buyer as f64);

    let requests = params.workers;
    let notes = &mut report.notes;
    let over = oversold(nolock.granted, stock);
    if over > 0 {
        notes.push(format!(
            "Without a lock {} of {requests} requests were granted for {stock} coupons: the stock ended at {}, {over} coupons that never existed. Every request read the stock before anyone decremented it.",
            nolock.granted, nolock.final_stock
        ));
    } else {
        notes.push(format!(
            "Without a lock nothing was oversold: {requests} requests cannot oversell {stock} coupons. Raise `workers` above `stock` to see the race."
        ));
    }
    if nolock.max_per_buyer > 1 {
        notes.push(format!(
            "With no lock and no per-buyer check, user:1 clicked twice and got {} coupons.",
            nolock.max_per_buyer
        ));
    }
    notes.push(format!(
        "With the lock {} were granted and the stock stopped at {}; the refused requests retried {} times in all, waiting longer each time (backoff) by a random amount (jitter).",
        locked.granted, locked.final_stock, locked.retries
    ));
    if locked.gave_up > 0 {
        notes.push(format!(
            "{} requests gave up after {} attempts: a bounded retry turns a long queue into a clear \"try again later\".",
            locked.gave_up, params.max_attempts
        ));
    }
    if locked.lost_locks > 0 {
        notes.push(format!(
            "{} holders found their lock expired before they released it: `lock_ms` is shorter than the work.",
            locked.lost_locks
        ));
    }
    notes.push(format!(
        "The script granted {} with no lock and no retries: check and decrement run as one step inside Redis.",
        atomic.granted
    ));
    if params.double_click && params.workers >= 2 {
        let refused_twice = locked.already + atomic.already;
        if locked.max_per_buyer <= 1 && atomic.max_per_buyer <= 1 && refused_twice > 0 {
            notes.push(format!(
                "The lock and the script never gave user:1 two coupons: SISMEMBER before DECR refused {refused_twice} second click(s). A set of buyers alone would not: SADD dedupes, but the stock has already dropped."
            ));
        } else if locked.max_per_buyer <= 1 && atomic.max_per_buyer <= 1 {
            notes.push(
                "The lock and the script never gave user:1 two coupons (this time its second click came after the stock ran out)."
                    .into(),
            );
        }
    }
    notes.push(format!(
        "The coupons are kept for you to inspect (GET {}, SMEMBERS {}); they expire in {} minutes.",
        ctx.key("coupon:locked:stock"),
        ctx.key("coupon:locked:issued"),
        KEEP_SECONDS / 60
    ));
    report
}

fn oversold(granted: u64, stock: i64) -> i64 {
    (granted as i64 - stock).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            workers: 20,
            stock: 5,
            lock_ms: 30_000,
            max_attempts: 50,
            double_click: true,
        }
    }

    #[test]
    fn params_are_checked() {
        assert!(validate(&params()).is_ok());
        assert!(
            validate(&Params {
                workers: 0,
                ..params()
            })
            .is_err()
        );
        assert!(
            validate(&Params {
                stock: 0,
                ..params()
            })
            .is_err()
        );
        assert!(
            validate(&Params {
                lock_ms: 10,
                ..params()
            })
            .is_err()
        );
        assert!(
            validate(&Params {
                max_attempts: 0,
                ..params()
            })
            .is_err()
        );
        let parsed: Params = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(parsed.workers, 20);
        assert!(serde_json::from_value::<Params>(serde_json::json!({"bogus": 1})).is_err());
    }

    #[test]
    fn last_request_is_a_double_click() {
        assert_eq!(buyer_of(0, 20, true), "user:1");
        assert_eq!(buyer_of(19, 20, true), "user:1");
        assert_eq!(buyer_of(19, 20, false), "user:20");
        assert_eq!(buyer_of(0, 1, true), "user:1");
    }

    #[test]
    fn outcome_counts_per_buyer() {
        let a = |b: &str, answer| attempt(b.to_string(), answer);
        let attempts = vec![
            a("user:1", Answer::Granted),
            a("user:2", Answer::Granted),
            a("user:1", Answer::Granted),
            a("user:3", Answer::SoldOut),
        ];
        let o = Outcome::from_attempts(&attempts, -1);
        assert_eq!(o.granted, 3);
        assert_eq!(o.max_per_buyer, 2);
        assert_eq!(o.sold_out, 1);
        assert_eq!(oversold(o.granted, 2), 1);
        assert_eq!(oversold(1, 2), 0);
    }
}
