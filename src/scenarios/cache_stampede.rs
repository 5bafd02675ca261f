//! Scenario `cache-stampede`: many requests on one expired hot key: database loads without protection, with a lock, with jitter.
//!
//! A real SQLite database (a `products` table in a temporary file) sits behind a cache-aside
//! read: GET the cache key; on a miss, query the database (made expensive with a sleep) and SET
//! the result with EX. `requests` concurrent requests, each on its own Redis connection, arrive
//! just after the hot key expired, three times:
//! - no protection: every request that misses queries the database;
//! - a lock: on a miss, `SET <key>:lock <token> NX PX <ms>`; the winner loads, fills the cache
//!   and releases its own lock (compare-and-delete); the others back off and re-read the cache;
//! - jitter only: TTL 300 + 0..60 s, which changes when a key expires, not who sees it missing.
//!
//! Then what jitter is for: `keys` entries cached at the same moment (a warm-up) with TTL 300
//! all expire in the same second; with 300 + jitter they spread out. The spread is computed
//! from the TTLs written, not by waiting for them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use futures_util::future::try_join_all;
use redis::aio::MultiplexedConnection;
use serde::{Deserialize, Serialize};
use tokio::sync::Barrier;

use super::{ScenarioContext, ScenarioReport};

const HOT_PRODUCT: i64 = 1;
const MAX_REQUESTS: usize = 500;
const MAX_KEYS: usize = 100_000;
/// SET commands per pipeline while warming the cache, and keys per DEL.
const BATCH: usize = 1000;
/// Losers' first wait before re-reading the cache; it doubles up to `BACKOFF_CAP`.
const BACKOFF_START: Duration = Duration::from_millis(10);
const BACKOFF_CAP: Duration = Duration::from_millis(200);

/// Releases the lock only if it still holds our token.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Concurrent requests for the hot product, each on its own connection.
    #[serde(default = "default_requests")]
    pub requests: usize,
    /// How long the "expensive" database query takes.
    #[serde(default = "default_db_delay_ms")]
    pub db_delay_ms: u64,
    /// Cache TTL in seconds.
    #[serde(default = "default_ttl_s")]
    pub ttl_s: u64,
    /// Largest random extra TTL in seconds (0..=jitter_s is added).
    #[serde(default = "default_jitter_s")]
    pub jitter_s: u64,
    /// Cache entries written at once for the expiry-spread comparison.
    #[serde(default = "default_keys")]
    pub keys: usize,
    /// Lock expiry: comfortably longer than the load (2-3x at least).
    #[serde(default = "default_lock_ttl_ms")]
    pub lock_ttl_ms: u64,
    /// How many times a request that lost the lock re-reads the cache before giving up.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
}

fn default_requests() -> usize {
    50
}
fn default_db_delay_ms() -> u64 {
    50
}
fn default_ttl_s() -> u64 {
    300
}
fn default_jitter_s() -> u64 {
    60
}
fn default_keys() -> usize {
    1000
}
fn default_lock_ttl_ms() -> u64 {
    1000
}
fn default_max_retries() -> u32 {
    50
}

pub(crate) fn validate(p: &Params) -> Result<()> {
    if p.requests == 0 || p.requests > MAX_REQUESTS {
        bail!(
            "cache-stampede: `requests` must be between 1 and {MAX_REQUESTS}, got {}",
            p.requests
        );
    }
    if p.db_delay_ms > 5000 {
        bail!(
            "cache-stampede: `db_delay_ms` must be at most 5000, got {}",
            p.db_delay_ms
        );
    }
    if p.ttl_s == 0 || p.ttl_s > 86_400 {
        bail!(
            "cache-stampede: `ttl_s` must be between 1 and 86400, got {}",
            p.ttl_s
        );
    }
    if p.jitter_s == 0 || p.jitter_s > 3600 {
        bail!(
            "cache-stampede: `jitter_s` must be between 1 and 3600, got {}",
            p.jitter_s
        );
    }
    if p.keys == 0 || p.keys > MAX_KEYS {
        bail!(
            "cache-stampede: `keys` must be between 1 and {MAX_KEYS}, got {}",
            p.keys
        );
    }
    if p.lock_ttl_ms < 10 || p.lock_ttl_ms > 60_000 {
        bail!(
            "cache-stampede: `lock_ttl_ms` must be between 10 and 60000, got {}",
            p.lock_ttl_ms
        );
    }
    if p.lock_ttl_ms < 2 * p.db_delay_ms {
        bail!(
            "cache-stampede: `lock_ttl_ms` ({}) must be at least twice `db_delay_ms` ({}): a lock that expires before the load finishes lets a second loader in",
            p.lock_ttl_ms,
            p.db_delay_ms
        );
    }
    if p.max_retries == 0 || p.max_retries > 1000 {
        bail!(
            "cache-stampede: `max_retries` must be between 1 and 1000, got {}",
            p.max_retries
        );
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct Product {
    id: i64,
    name: String,
    price: i64,
    stock: i64,
    description: String,
}

/// The "database": a SQLite file with a products table, and a count of the queries it served.
struct Database {
    path: PathBuf,
    delay: Duration,
    loads: AtomicU64,
}

impl Database {
    /// Creates the products table: the original lab's five products, then generated ones up
    /// to `rows`.
    fn create(dir: &Path, rows: usize, delay: Duration) -> Result<Database> {
        let path = dir.join("shop.db");
        let mut db = rusqlite::Connection::open(&path).context("creating the SQLite database")?;
        db.execute_batch(
            "CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price INTEGER NOT NULL, stock INTEGER NOT NULL, description TEXT NOT NULL);",
        )?;
        let seed = [
            ("Wireless keyboard", 59000, 120, "Bluetooth 5.0 keyboard"),
            ("Mechanical mouse", 35000, 85, "Tactile switches"),
            ("27-inch monitor", 350000, 30, "QHD IPS panel"),
            ("USB-C hub", 45000, 200, "7 ports"),
            ("Laptop stand", 28000, 150, "Aluminium, adjustable"),
        ];
        let tx = db.transaction()?;
        {
            let mut insert = tx.prepare(
                "INSERT INTO products (id, name, price, stock, description) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for id in 1..=rows.max(seed.len()) {
                let (name, price, stock, description) = match seed.get(id - 1) {
                    Some((n, p, s, d)) => (n.to_string(), *p, *s, d.to_string()),
                    None => (
                        format!("Product {id}"),
                        1000 + (id as i64 * 37) % 99_000,
                        (id as i64 * 13) % 500,
                        format!("Catalogue item {id}"),
                    ),
                };
                insert.execute(rusqlite::params![
                    id as i64,
                    name,
                    price,
                    stock,
                    description
                ])?;
            }
        }
        tx.commit()?;
        Ok(Database {
            path,
            delay,
            loads: AtomicU64::new(0),
        })
    }

    fn loads(&self) -> u64 {
        self.loads.load(Ordering::SeqCst)
    }

    /// One expensive query for one product, as JSON (each query opens its own connection,
    /// as a pooled web app would use its own).
    async fn load_product(&self, id: i64) -> Result<String> {
        self.loads.fetch_add(1, Ordering::SeqCst);
        let path = self.path.clone();
        let product = tokio::task::spawn_blocking(move || -> Result<Product> {
            let db = rusqlite::Connection::open(&path)?;
            let p = db.query_row(
                "SELECT id, name, price, stock, description FROM products WHERE id = ?1",
                [id],
                |r| {
                    Ok(Product {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        price: r.get(2)?,
                        stock: r.get(3)?,
                        description: r.get(4)?,
                    })
                },
            )?;
            Ok(p)
        })
        .await
        .context("the database task panicked")??;
        // The query itself takes microseconds in SQLite: this stands in for a slow one.
        tokio::time::sleep(self.delay).await;
        Ok(serde_json::to_string(&product)?)
    }

    /// Every product up to `rows`, as (id, JSON): one cheap query for the warm-up.
    async fn all_products(&self, rows: usize) -> Result<Vec<(i64, String)>> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> Result<Vec<(i64, String)>> {
            let db = rusqlite::Connection::open(&path)?;
            let mut stmt = db.prepare(
                "SELECT id, name, price, stock, description FROM products WHERE id <= ?1 ORDER BY id",
            )?;
            let rows = stmt
                .query_map([rows as i64], |r| {
                    Ok(Product {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        price: r.get(2)?,
                        stock: r.get(3)?,
                        description: r.get(4)?,
                    })
                })?
                .map(|p| {
                    let p = p?;
                    Ok((p.id, serde_json::to_string(&p)?))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
        .context("the database task panicked")?
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Unprotected,
    Lock,
    Jitter,
}

/// How one request was answered.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Served {
    /// From the cache at the first GET.
    Hit,
    /// From the database, then cached.
    Loaded,
    /// From the cache, after waiting for another request's load.
    AfterWait,
    /// Lost the lock every time and gave up (a real app would serve stale data or an error).
    GaveUp,
}

/// What one mode measured.
#[derive(Debug, Default, Clone, Copy)]
struct Round {
    loads: u64,
    hits: usize,
    after_wait: usize,
    gave_up: usize,
    slowest: Duration,
}

/// Settings every request task needs.
struct Shared {
    db: Database,
    key: String,
    lock_key: String,
    ttl_s: u64,
    jitter_s: u64,
    lock_ttl_ms: u64,
    max_retries: u32,
    release: redis::Script,
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    let dir = tempfile::TempDir::new().context("creating a temporary directory")?;
    let db = Database::create(
        dir.path(),
        params.keys,
        Duration::from_millis(params.db_delay_ms),
    )?;
    let key = product_key(ctx, HOT_PRODUCT);
    let shared = Arc::new(Shared {
        db,
        lock_key: format!("{key}:lock"),
        key,
        ttl_s: params.ttl_s,
        jitter_s: params.jitter_s,
        lock_ttl_ms: params.lock_ttl_ms,
        max_retries: params.max_retries,
        release: redis::Script::new(RELEASE_SCRIPT),
    });
    let mut conn = ctx.server.connection().await?;
    ctx.ticker
        .start((3 * params.requests + 2 * params.keys) as u64, "");

    let result = scenario(ctx, &params, &shared, &mut conn).await;
    // Clean up whatever happened.
    let cleanup = cleanup(ctx, &mut conn, &shared, params.keys).await;
    let report = result?;
    cleanup?;
    Ok(report)
}

fn product_key(ctx: &ScenarioContext<'_>, id: i64) -> String {
    ctx.key(&format!("product:{id}"))
}

async fn scenario(
    ctx: &ScenarioContext<'_>,
    params: &Params,
    shared: &Arc<Shared>,
    conn: &mut MultiplexedConnection,
) -> Result<ScenarioReport> {
    shared.release.load_async(conn).await?;
    let conns = try_join_all((0..params.requests).map(|_| ctx.server.connection())).await?;
    let mut rounds = Vec::new();
    for (mode, label) in [
        (Mode::Unprotected, "no protection"),
        (Mode::Lock, "SET NX PX lock"),
        (Mode::Jitter, "TTL jitter only"),
    ] {
        ctx.ticker.message(&format!(
            "{} requests on an expired hot key: {label}",
            params.requests
        ));
        let round = stampede(ctx, conn, &conns, shared, mode).await?;
        rounds.push(round);
    }
    let [plain, locked, jittered] = rounds[..] else {
        bail!("cache-stampede: expected three rounds");
    };

    ctx.ticker.message(&format!(
        "caching {} products at once, TTL {} s",
        params.keys, params.ttl_s
    ));
    let products = shared.db.all_products(params.keys).await?;
    let fixed = warm_up(ctx, conn, &products, params.ttl_s, 0).await?;
    delete_products(conn, ctx, params.keys).await?;
    ctx.ticker.message(&format!(
        "caching {} products at once, TTL {} + 0..{} s",
        params.keys, params.ttl_s, params.jitter_s
    ));
    let spread = warm_up(ctx, conn, &products, params.ttl_s, params.jitter_s).await?;

    Ok(report(
        params,
        plain,
        locked,
        jittered,
        fixed,
        spread,
        &shared.key,
    ))
}

/// Deletes the hot key and its lock, then sends every request at once.
async fn stampede(
    ctx: &ScenarioContext<'_>,
    conn: &mut MultiplexedConnection,
    conns: &[MultiplexedConnection],
    shared: &Arc<Shared>,
    mode: Mode,
) -> Result<Round> {
    redis::cmd("DEL")
        .arg(&shared.key)
        .arg(&shared.lock_key)
        .query_async::<i64>(conn)
        .await
        .context("expiring the hot key")?;
    let loads_before = shared.db.loads();
    let barrier = Arc::new(Barrier::new(conns.len()));
    let tasks = conns.iter().enumerate().map(|(i, conn)| {
        let mut conn = conn.clone();
        let barrier = barrier.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            let started = Instant::now();
            let served = request(&mut conn, &shared, mode, i).await?;
            anyhow::Ok((served, started.elapsed()))
        })
    });
    let mut round = Round::default();
    for joined in try_join_all(tasks)
        .await
        .context("a request task panicked")?
    {
        let (served, took) = joined?;
        ctx.ticker.tick(1);
        round.slowest = round.slowest.max(took);
        match served {
            Served::Hit => round.hits += 1,
            Served::AfterWait => round.after_wait += 1,
            Served::GaveUp => round.gave_up += 1,
            Served::Loaded => {}
        }
    }
    round.loads = shared.db.loads() - loads_before;
    Ok(round)
}

fn ttl_with_jitter(ttl_s: u64, jitter_s: u64) -> u64 {
    if jitter_s == 0 {
        ttl_s
    } else {
        ttl_s + rand::random_range(0..=jitter_s)
    }
}

/// One cache-aside read of the hot product.
async fn request(
    conn: &mut MultiplexedConnection,
    s: &Shared,
    mode: Mode,
    n: usize,
) -> Result<Served> {
    let cached = |conn: &mut MultiplexedConnection| {
        let mut conn = conn.clone();
        let key = s.key.clone();
        async move {
            let v: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut conn).await?;
            anyhow::Ok(v)
        }
    };
    let fill = |conn: &mut MultiplexedConnection, ttl: u64| {
        let mut conn = conn.clone();
        async move {
            let json = s.db.load_product(HOT_PRODUCT).await?;
            redis::cmd("SET")
                .arg(&s.key)
                .arg(json)
                .arg("EX")
                .arg(ttl)
                .query_async::<()>(&mut conn)
                .await?;
            anyhow::Ok(())
        }
    };
    match mode {
        Mode::Unprotected | Mode::Jitter => {
            if cached(conn).await?.is_some() {
                return Ok(Served::Hit);
            }
            let jitter = if mode == Mode::Jitter { s.jitter_s } else { 0 };
            fill(conn, ttl_with_jitter(s.ttl_s, jitter)).await?;
            Ok(Served::Loaded)
        }
        Mode::Lock => {
            let token = format!("{n}-{:016x}", rand::random::<u64>());
            let mut wait = BACKOFF_START;
            for attempt in 0..=s.max_retries {
                let waited = attempt > 0;
                if cached(conn).await?.is_some() {
                    return Ok(if waited {
                        Served::AfterWait
                    } else {
                        Served::Hit
                    });
                }
                let won: Option<String> = redis::cmd("SET")
                    .arg(&s.lock_key)
                    .arg(&token)
                    .arg("NX")
                    .arg("PX")
                    .arg(s.lock_ttl_ms)
                    .query_async(conn)
                    .await?;
                if won.is_some() {
                    // Double-check: the previous holder may have filled the cache between our
                    // GET and our SET NX.
                    let served = if cached(conn).await?.is_some() {
                        Served::AfterWait
                    } else {
                        fill(conn, s.ttl_s).await?;
                        Served::Loaded
                    };
                    s.release
                        .key(&s.lock_key)
                        .arg(&token)
                        .invoke_async::<i64>(conn)
                        .await?;
                    return Ok(served);
                }
                if attempt < s.max_retries {
                    // A little randomness keeps the waiting requests from re-reading in lockstep.
                    let spread = rand::random_range(0..=wait.as_millis() as u64 / 4);
                    tokio::time::sleep(wait + Duration::from_millis(spread)).await;
                    wait = (wait * 2).min(BACKOFF_CAP);
                }
            }
            Ok(Served::GaveUp)
        }
    }
}

/// Caches products 1..=N in pipelined batches, all "at the same moment", and returns how many
/// expire in the busiest second and in how many distinct seconds, from the TTLs chosen.
async fn warm_up(
    ctx: &ScenarioContext<'_>,
    conn: &mut MultiplexedConnection,
    products: &[(i64, String)],
    ttl_s: u64,
    jitter_s: u64,
) -> Result<Spread> {
    let ttls: Vec<u64> = products
        .iter()
        .map(|_| ttl_with_jitter(ttl_s, jitter_s))
        .collect();
    let written_at_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    for (chunk, ttl_chunk) in products.chunks(BATCH).zip(ttls.chunks(BATCH)) {
        let mut pipe = redis::pipe();
        for ((id, json), ttl) in chunk.iter().zip(ttl_chunk) {
            pipe.cmd("SET")
                .arg(product_key(ctx, *id))
                .arg(json)
                .arg("EX")
                .arg(*ttl)
                .ignore();
        }
        pipe.query_async::<()>(conn)
            .await
            .context("warming the cache")?;
        ctx.ticker.tick(chunk.len() as u64);
    }
    Ok(expiry_spread(written_at_ms, &ttls))
}

/// How expiries fall into wall-clock seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct Spread {
    /// Entries expiring in the busiest second.
    busiest: usize,
    /// Distinct seconds in which entries expire.
    seconds: usize,
}

/// Entries written at `written_at_ms` with these TTLs (seconds) expire at
/// `written_at_ms + ttl * 1000`: group them by the wall-clock second that falls in.
fn expiry_spread(written_at_ms: u64, ttls_s: &[u64]) -> Spread {
    let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
    for ttl in ttls_s {
        *per_second
            .entry((written_at_ms + ttl * 1000) / 1000)
            .or_default() += 1;
    }
    Spread {
        busiest: per_second.values().copied().max().unwrap_or(0),
        seconds: per_second.len(),
    }
}

async fn delete_products(
    conn: &mut MultiplexedConnection,
    ctx: &ScenarioContext<'_>,
    rows: usize,
) -> Result<()> {
    let ids: Vec<i64> = (1..=rows.max(1) as i64).collect();
    for chunk in ids.chunks(BATCH) {
        let keys: Vec<String> = chunk.iter().map(|id| product_key(ctx, *id)).collect();
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<i64>(conn)
            .await
            .context("deleting the cached products")?;
    }
    Ok(())
}

async fn cleanup(
    ctx: &ScenarioContext<'_>,
    conn: &mut MultiplexedConnection,
    shared: &Shared,
    rows: usize,
) -> Result<()> {
    redis::cmd("DEL")
        .arg(&shared.key)
        .arg(&shared.lock_key)
        .query_async::<i64>(conn)
        .await?;
    delete_products(conn, ctx, rows).await
}

fn report(
    p: &Params,
    plain: Round,
    locked: Round,
    jittered: Round,
    fixed: Spread,
    spread: Spread,
    hot_key: &str,
) -> ScenarioReport {
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let dash = || "—".to_string();
    let hot = |label: &str, r: &Round| {
        vec![
            format!("{} requests, hot key expired, {label}", p.requests),
            r.loads.to_string(),
            ms(r.slowest),
            dash(),
        ]
    };
    let mass = |label: String, s: &Spread| vec![label, dash(), dash(), s.busiest.to_string()];
    let mut report = ScenarioReport {
        header: vec![
            "case".into(),
            "database loads".into(),
            "slowest request".into(),
            "most expiring in one second".into(),
        ],
        rows: vec![
            hot("no protection", &plain),
            hot("SET NX PX lock", &locked),
            hot(
                &format!("TTL {} + 0..{} s only", p.ttl_s, p.jitter_s),
                &jittered,
            ),
            mass(
                format!("{} keys cached at once, TTL {} s", p.keys, p.ttl_s),
                &fixed,
            ),
            mass(
                format!(
                    "{} keys cached at once, TTL {} + 0..{} s",
                    p.keys, p.ttl_s, p.jitter_s
                ),
                &spread,
            ),
        ],
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("requests".into(), p.requests as f64);
    m.insert("loads_unprotected".into(), plain.loads as f64);
    m.insert("loads_with_lock".into(), locked.loads as f64);
    m.insert("loads_with_jitter".into(), jittered.loads as f64);
    m.insert("lock_waited".into(), locked.after_wait as f64);
    m.insert("lock_gave_up".into(), locked.gave_up as f64);
    m.insert(
        "slowest_ms_unprotected".into(),
        plain.slowest.as_secs_f64() * 1000.0,
    );
    m.insert(
        "slowest_ms_with_lock".into(),
        locked.slowest.as_secs_f64() * 1000.0,
    );
    m.insert(
        "same_second_expiries_without_jitter".into(),
        fixed.busiest as f64,
    );
    m.insert(
        "same_second_expiries_with_jitter".into(),
        spread.busiest as f64,
    );
    m.insert("expiry_seconds_with_jitter".into(), spread.seconds as f64);

    let n = &mut report.notes;
    n.push(format!(
        "No protection: {} of {} requests found {hot_key} missing and ran the same {} ms query.",
        plain.loads, p.requests, p.db_delay_ms
    ));
    if locked.loads == 1 && locked.gave_up == 0 {
        n.push(format!(
            "With the lock, 1 request loaded and {} waited and then read the cache: the slowest took {} (against {} without protection).",
            locked.after_wait,
            ms(locked.slowest),
            ms(plain.slowest)
        ));
    } else {
        n.push(format!(
            "With the lock, {} requests loaded and {} gave up after {} retries: the lock expired before the load finished, or the retries ran out.",
            locked.loads, locked.gave_up, p.max_retries
        ));
    }
    n.push(format!(
        "Jitter alone still meant {} loads (against {}): a random TTL moves when one key expires, not how many requests find it missing at that moment.",
        jittered.loads, plain.loads
    ));
    let together = if fixed.busiest == p.keys {
        format!("all {} expire in the same second", fixed.busiest)
    } else {
        format!("up to {} expire in the same second", fixed.busiest)
    };
    n.push(format!(
        "What jitter is for: of {} keys cached together with TTL {} s, {together}; with 0..{} s of jitter the busiest second has {} (spread over {} seconds).",
        p.keys, p.ttl_s, p.jitter_s, spread.busiest, spread.seconds
    ));
    n.push(
        "All cache keys, the lock and the temporary SQLite database were deleted at the end."
            .into(),
    );
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> Params {
        serde_json::from_value(serde_json::json!({})).unwrap()
    }

    #[test]
    fn defaults_are_valid_and_checked() {
        let p = params();
        assert_eq!(
            (p.requests, p.db_delay_ms, p.ttl_s, p.jitter_s),
            (50, 50, 300, 60)
        );
        assert!(validate(&p).is_ok());
        let short_lock = Params {
            lock_ttl_ms: 60,
            ..params()
        };
        assert!(validate(&short_lock).is_err());
        assert!(
            serde_json::from_value::<Params>(serde_json::json!({"request": 5})).is_err(),
            "unknown fields are refused"
        );
    }

    #[test]
    fn same_ttl_expires_in_one_second() {
        let s = expiry_spread(1_700_000_000_123, &[300; 1000]);
        assert_eq!(
            s,
            Spread {
                busiest: 1000,
                seconds: 1
            }
        );
    }

    #[test]
    fn jittered_ttls_spread_by_second() {
        let ttls: Vec<u64> = (0..610).map(|i| 300 + i % 61).collect();
        let s = expiry_spread(1_700_000_000_999, &ttls);
        assert_eq!(
            s,
            Spread {
                busiest: 10,
                seconds: 61
            }
        );
        assert_eq!(expiry_spread(0, &[]), Spread::default());
    }

    #[test]
    fn jitter_stays_in_range() {
        for _ in 0..200 {
            let t = ttl_with_jitter(300, 60);
            assert!((300..=360).contains(&t));
        }
        assert_eq!(ttl_with_jitter(300, 0), 300);
    }
}
