//! Scenario `eviction`: a full Redis evicts keys by its `maxmemory-policy`, and a lock is a key
//! like any other. The volatile-* policies choose only among keys with a TTL, and every lock
//! has one: under memory pressure the lock is the first key to go, while keys without a TTL
//! stay. `noeviction` evicts nothing and refuses the write instead (OOM).
//!
//! Changing `maxmemory` on the learner's server would squeeze everyone who shares it, so this
//! runs on a private redis-server started for the step and stopped after it; the learner's own
//! server is never touched. Its commands still pass a gate (the namespace rule, with the
//! server-wide CONFIG SET allowed because redislab owns this server).
//!
//! Deterministic by construction: `keys` keys without a TTL and one lock with a TTL are
//! written, then `maxmemory` is set 1 MiB above the memory measured right then (not a guess
//! about the machine), and 16 KiB values without a TTL are written one at a time until the
//! server refuses a write (under allkeys-*, which never refuses, until its first eviction).
//! Under a volatile-* policy the lock is the only candidate, so it is always the one evicted
//! (`maxmemory-samples` cannot matter), and once it is gone nothing may be evicted: the next
//! write over the limit is refused.

use anyhow::{Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int, name, names};
use super::private::{Private, args};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::render::{error_text, printable_str};

/// The policies Redis and Valkey both know.
pub const POLICIES: &[&str] = &[
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
];
/// Room left above the seeded data before the limit.
const MARGIN_BYTES: u64 = 1 << 20;
/// One fill value.
const VALUE_BYTES: usize = 16 * 1024;
/// The fill loop's bound: four times what the margin can hold, so a server that never reaches
/// its limit ends the step with an error instead of growing.
const MAX_FILL: u64 = 4 * MARGIN_BYTES / VALUE_BYTES as u64 + 64;
/// Keys per MSET / EXISTS (one round trip).
const BATCH: usize = 1000;
/// The lock's TTL: long enough that it never expires during the run.
const LOCK_TTL_MS: u64 = 600_000;

pub struct Eviction;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub policy: String,
    pub keys: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            policy: "volatile-lru".into(),
            keys: 10_000,
        }
    }
}

impl Scenario for Eviction {
    const NAME: &'static str = "eviction";
    const SUMMARY: &'static str = "a full Redis evicts by its policy: volatile-* evicts the lock (it has a TTL) and keeps keys without one; noeviction refuses the write";
    const PARAMS: &'static [Param] = &[
        name(
            "policy",
            "the maxmemory-policy: volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random or noeviction",
        ),
        int(
            "keys",
            1,
            100_000,
            "keys written without a TTL before the lock",
        ),
    ];
    type Params = Params;

    fn check(p: &Params) -> Result<()> {
        if !POLICIES.contains(&p.policy.as_str()) {
            bail!(
                "eviction: `policy` must be one of {}, got {:?}",
                POLICIES.join(", "),
                p.policy
            );
        }
        Ok(())
    }

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let mut s = match Private::start(ctx).await? {
            Ok(s) => s,
            Err(why) => {
                return Ok(ScenarioReport {
                    skipped: Some(why),
                    ..Default::default()
                });
            }
        };
        let found = s.play(ctx, &p).await?;
        let program = s.program.clone();
        drop(s);
        Ok(report(&p, &found, &program))
    }
}

/// What one run found.
#[derive(Debug, Clone, Default, PartialEq)]
struct Found {
    maxmemory: u64,
    fill_writes: u64,
    /// The error text of the refused write, if one was refused.
    refused: Option<String>,
    evicted_keys: u64,
    lock_kept: bool,
    kept: u64,
}

impl Private {
    async fn play(&mut self, ctx: &ScenarioContext<'_>, p: &Params) -> Result<Found> {
        let data: Vec<String> = (0..p.keys)
            .map(|i| ctx.key(&format!("eviction:data:{i}")))
            .collect();
        let lock = ctx.key("eviction:lock:order:1");
        ctx.ticker
            .start(p.keys + MAX_FILL, "writing keys without a TTL");
        for chunk in data.chunks(BATCH) {
            let mut mset = vec![b"MSET".to_vec()];
            for key in chunk {
                mset.push(key.clone().into_bytes());
                mset.push(b"kept".to_vec());
            }
            self.send(&mset).await?;
            ctx.ticker.tick(chunk.len() as u64);
        }
        let ttl = LOCK_TTL_MS.to_string();
        let set_lock = args(&[b"SET", lock.as_bytes(), b"token", b"PX", ttl.as_bytes()]);
        self.send(&set_lock).await?;
        let used = self.info("memory", "used_memory").await?;
        let maxmemory = used + MARGIN_BYTES;
        self.set("maxmemory-policy", &p.policy).await?;
        // Free evicted keys at once, so the memory INFO reports follows each eviction.
        self.set("lazyfree-lazy-eviction", "no").await?;
        self.set("maxmemory", &maxmemory.to_string()).await?;
        ctx.ticker.message("writing data until the server is full");
        let (fill_writes, refused) = self.fill(ctx, p.policy.starts_with("allkeys")).await?;
        let evicted_keys = self.info("stats", "evicted_keys").await?;
        let lock_kept = self.exists(std::slice::from_ref(&lock)).await? == 1;
        let kept = self.exists(&data).await?;
        Ok(Found {
            maxmemory,
            fill_writes,
            refused,
            evicted_keys,
            lock_kept,
            kept,
        })
    }

    /// Writes fill values until the server refuses one (OOM). An allkeys-* policy can always
    /// evict and never refuses: then until its first eviction.
    async fn fill(
        &mut self,
        ctx: &ScenarioContext<'_>,
        until_evicted: bool,
    ) -> Result<(u64, Option<String>)> {
        let value = vec![b'x'; VALUE_BYTES];
        for i in 0..MAX_FILL {
            let key = ctx.key(&format!("eviction:fill:{i}"));
            let reply = self
                .send(&[b"SET".to_vec(), key.into_bytes(), value.clone()])
                .await?;
            ctx.ticker.tick(1);
            if let Value::ServerError(e) = &reply {
                let text = error_text(e.code(), e.details());
                if e.code() != "OOM" {
                    bail!(
                        "the private server refused a write: {}",
                        printable_str(&text)
                    );
                }
                return Ok((i, Some(text)));
            }
            // The INFO is a command too: before running it, a full server evicts.
            if until_evicted && self.info("stats", "evicted_keys").await? > 0 {
                return Ok((i + 1, None));
            }
        }
        bail!(
            "the private server took {MAX_FILL} writes of {VALUE_BYTES} bytes without reaching its maxmemory: it does not enforce the limit"
        )
    }

    async fn exists(&mut self, keys: &[String]) -> Result<u64> {
        let mut n = 0;
        for chunk in keys.chunks(BATCH) {
            let mut cmd = vec![b"EXISTS".to_vec()];
            cmd.extend(chunk.iter().map(|k| k.clone().into_bytes()));
            match self.send(&cmd).await? {
                Value::Int(k) => n += k as u64,
                other => bail!("EXISTS replied {other:?}"),
            }
        }
        Ok(n)
    }
}

fn report(p: &Params, f: &Found, program: &str) -> ScenarioReport {
    let refused = u64::from(f.refused.is_some());
    let mut report = ScenarioReport {
        header: vec![
            "policy".into(),
            "keys without TTL kept".into(),
            "lock (with TTL)".into(),
            "keys evicted".into(),
            "write refused".into(),
        ],
        rows: vec![vec![
            p.policy.clone(),
            format!("{} of {}", f.kept, p.keys),
            if f.lock_kept { "kept" } else { "evicted" }.into(),
            f.evicted_keys.to_string(),
            if refused == 1 { "yes (OOM)" } else { "no" }.into(),
        ]],
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("lock_evicted".into(), f64::from(u8::from(!f.lock_kept)));
    m.insert("no_ttl_keys_kept".into(), f.kept as f64);
    m.insert("keys".into(), p.keys as f64);
    m.insert("evicted_keys".into(), f.evicted_keys as f64);
    m.insert("write_refused".into(), refused as f64);
    m.insert("fill_writes".into(), f.fill_writes as f64);
    report.notes.push(format!(
        "This ran on a private {program} started for this step (maxmemory {} bytes, 1 MiB above its data), never on your server.",
        f.maxmemory
    ));
    report.notes.push(outcome(p, f));
    report
}

/// What happened, in one sentence.
fn outcome(p: &Params, f: &Found) -> String {
    let lock = if f.lock_kept {
        "kept the lock".to_string()
    } else {
        "evicted the lock".to_string()
    };
    let lost = p.keys - f.kept.min(p.keys);
    let data = match lost {
        0 => format!("kept all {} keys without a TTL", p.keys),
        n => format!("evicted {n} of the {} keys without a TTL", p.keys),
    };
    let end = match &f.refused {
        Some(text) => format!(", and refused the next write: {}", printable_str(text)),
        None => ".".to_string(),
    };
    format!(
        "Full after {} writes, the server {lock}, {data}{end}",
        f.fill_writes
    )
}

/// Scenario `eviction-cache`: the same full server, now used as a pure cache with a hot set.
/// Every policy runs the same requests on a fresh private server: 90% of them go to a hot
/// tenth of the keys, the rest are spread over the others; a request is a GET, and a miss
/// writes the entry (`SET ... EX ttl`, 10 to 60 minutes by key, as a cache-aside read does).
/// The memory limit holds about an eighth of the keys; halfway, the hot set moves. The hit
/// ratio is counted over the second half of the requests, once the cache is warm. The
/// requests come from a fixed seed, so every policy sees the same ones, and every run the same.
pub struct EvictionCache;

/// Requests that go to the hot set, in percent; the hot set is `HOT_SHARE` of the keys.
const HOT_PERCENT: u64 = 90;
const HOT_SHARE: u64 = 10;
/// The limit holds about one key in this many.
const FIT_ONE_IN: u64 = 8;
/// One cache entry.
const ENTRY_BYTES: usize = 1024;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheParams {
    pub policies: Vec<String>,
    pub keys: u64,
    pub requests: u64,
}

impl Default for CacheParams {
    fn default() -> Self {
        CacheParams {
            policies: [
                "allkeys-lru",
                "allkeys-lfu",
                "allkeys-random",
                "volatile-ttl",
                "noeviction",
            ]
            .map(String::from)
            .to_vec(),
            keys: 2000,
            requests: 10_000,
        }
    }
}

impl Scenario for EvictionCache {
    const NAME: &'static str = "eviction-cache";
    const SUMMARY: &'static str = "a full cache with a hot set under each maxmemory-policy: hit ratio, evicted keys, writes refused";
    const PARAMS: &'static [Param] = &[
        names(
            "policies",
            "the maxmemory-policies to run, one private server each (as `eviction` names them)",
        ),
        int(
            "keys",
            100,
            20_000,
            "distinct cache keys; the limit holds about an eighth of them, a tenth are hot",
        ),
        int(
            "requests",
            1000,
            100_000,
            "requests per policy (the hit ratio counts the second half)",
        ),
    ];
    type Params = CacheParams;

    fn check(p: &CacheParams) -> Result<()> {
        if p.policies.is_empty() || p.policies.len() > POLICIES.len() {
            bail!(
                "eviction-cache: `policies` must name 1 to {} policies",
                POLICIES.len()
            );
        }
        for policy in &p.policies {
            if !POLICIES.contains(&policy.as_str()) {
                bail!(
                    "eviction-cache: `policies` must be among {}, got {policy:?}",
                    POLICIES.join(", ")
                );
            }
        }
        Ok(())
    }

    async fn run(ctx: &ScenarioContext<'_>, p: CacheParams) -> Result<ScenarioReport> {
        let mut rows = Vec::new();
        let mut program = String::new();
        ctx.ticker.start(
            p.requests * p.policies.len() as u64,
            "a cache under each policy",
        );
        for policy in &p.policies {
            let mut s = match Private::start(ctx).await? {
                Ok(s) => s,
                Err(why) => {
                    return Ok(ScenarioReport {
                        skipped: Some(why),
                        ..Default::default()
                    });
                }
            };
            ctx.ticker.message(policy);
            rows.push(s.cache(ctx, &p, policy).await?);
            program = s.program.clone();
            drop(s);
        }
        Ok(cache_report(&p, &rows, &program))
    }
}

/// One policy's run.
#[derive(Debug, Clone, Default)]
struct CacheRun {
    policy: String,
    hits: u64,
    counted: u64,
    evicted_keys: u64,
    refused: u64,
    kept: u64,
}

impl CacheRun {
    fn hit_ratio(&self) -> f64 {
        self.hits as f64 / self.counted.max(1) as f64
    }
}

/// A small fixed-seed generator (xorshift64*): the same requests for every policy and run.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Private {
    async fn cache(
        &mut self,
        ctx: &ScenarioContext<'_>,
        p: &CacheParams,
        policy: &str,
    ) -> Result<CacheRun> {
        let key = |i: u64| ctx.key(&format!("eviction:cache:{i}"));
        let value = vec![b'v'; ENTRY_BYTES];
        // Entries of different kinds get different TTLs, 10 to 60 minutes, fixed per key.
        let set = |i: u64| {
            vec![
                b"SET".to_vec(),
                key(i).into_bytes(),
                value.clone(),
                b"EX".to_vec(),
                (600 + (i * 7919) % 3000).to_string().into_bytes(),
            ]
        };
        // What one entry costs here, measured: write a sample, read the memory, delete it.
        let sample = 100.min(p.keys);
        let before = self.info("memory", "used_memory").await?;
        for i in 0..sample {
            self.send(&set(i)).await?;
        }
        let after = self.info("memory", "used_memory").await?;
        let mut del = vec![b"DEL".to_vec()];
        del.extend((0..sample).map(|i| key(i).into_bytes()));
        self.send(&del).await?;
        let per_entry = after.saturating_sub(before) / sample.max(1);
        let base = self.info("memory", "used_memory").await?;
        let maxmemory = base + per_entry * p.keys / FIT_ONE_IN;
        self.set("maxmemory-policy", policy).await?;
        self.set("lazyfree-lazy-eviction", "no").await?;
        self.set("maxmemory", &maxmemory.to_string()).await?;
        let hot = (p.keys / HOT_SHARE).max(1);
        let mut draws = Draws(0x9E37_79B9_7F4A_7C15);
        let mut run = CacheRun {
            policy: policy.to_string(),
            ..Default::default()
        };
        for r in 0..p.requests {
            // Halfway, the hot set moves to the next tenth of the keys, as today's popular
            // items replace yesterday's.
            let counted = r >= p.requests / 2;
            let first = if counted { hot } else { 0 };
            let i = if draws.next() % 100 < HOT_PERCENT {
                first + draws.next() % hot
            } else {
                (first + hot + draws.next() % (p.keys - hot).max(1)) % p.keys
            };
            let got = self.send(&[b"GET".to_vec(), key(i).into_bytes()]).await?;
            if !matches!(got, Value::Nil) {
                if counted {
                    run.hits += 1;
                }
            } else if let Value::ServerError(e) = self.send(&set(i)).await? {
                if e.code() != "OOM" {
                    bail!(
                        "the private server refused a write: {}",
                        printable_str(&error_text(e.code(), e.details()))
                    );
                }
                run.refused += 1;
            }
            if counted {
                run.counted += 1;
            }
            ctx.ticker.tick(1);
        }
        run.evicted_keys = self.info("stats", "evicted_keys").await?;
        run.kept = self
            .info_text("keyspace")
            .await
            .map(|t| keyspace_keys(&t))?;
        Ok(run)
    }
}

/// `db0:keys=123,expires=...` → 123.
fn keyspace_keys(info: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix("db0:keys="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `allkeys-lru` → `allkeys_lru`, for metric names.
pub fn metric_name(policy: &str) -> String {
    policy.replace('-', "_")
}

fn cache_report(p: &CacheParams, rows: &[CacheRun], program: &str) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "policy".into(),
            "hit ratio".into(),
            "evicted".into(),
            "refused (OOM)".into(),
            "keys held".into(),
        ],
        ..Default::default()
    };
    for r in rows {
        report.rows.push(vec![
            r.policy.clone(),
            format!("{:.1}%", 100.0 * r.hit_ratio()),
            r.evicted_keys.to_string(),
            r.refused.to_string(),
            r.kept.to_string(),
        ]);
        let name = metric_name(&r.policy);
        let m = &mut report.metrics;
        m.insert(format!("{name}_hit_ratio"), r.hit_ratio());
        m.insert(format!("{name}_evicted_keys"), r.evicted_keys as f64);
        m.insert(format!("{name}_refused_writes"), r.refused as f64);
    }
    let best = rows
        .iter()
        .max_by(|a, b| a.hit_ratio().total_cmp(&b.hit_ratio()));
    let worst = rows
        .iter()
        .min_by(|a, b| a.hit_ratio().total_cmp(&b.hit_ratio()));
    let m = &mut report.metrics;
    m.insert("keys".into(), p.keys as f64);
    if let Some(lru) = rows.iter().find(|r| r.policy == "allkeys-lru") {
        for r in rows.iter().filter(|r| r.policy != "allkeys-lru") {
            m.insert(
                format!("{}_vs_allkeys_lru", metric_name(&r.policy)),
                r.hit_ratio() / lru.hit_ratio().max(f64::MIN_POSITIVE),
            );
        }
    }
    m.insert(
        "best_is_allkeys".into(),
        f64::from(u8::from(
            best.is_some_and(|b| b.policy.starts_with("allkeys-")),
        )),
    );
    report.notes.push(format!(
        "Each policy ran on a fresh private {program}, never on your server: {} keys, {}% of {} requests to a hot {} (a different {} from halfway), a limit that holds about one key in {FIT_ONE_IN}; the hit ratio counts the second half.",
        p.keys,
        HOT_PERCENT,
        p.requests,
        p.keys / HOT_SHARE,
        p.keys / HOT_SHARE
    ));
    if let (Some(best), Some(worst)) = (best, worst) {
        let refused: Vec<String> = rows
            .iter()
            .filter(|r| r.refused > 0)
            .map(|r| format!("{} refused {} writes", r.policy, r.refused))
            .collect();
        report.notes.push(format!(
            "For a pure cache, this run's table says {} ({}): the best hit ratio ({:.1}%), against {:.1}% for {}{}.",
            best.policy,
            if best.policy.starts_with("allkeys-") {
                "an allkeys-* policy: every key is a candidate"
            } else {
                "not an allkeys-* policy"
            },
            100.0 * best.hit_ratio(),
            100.0 * worst.hit_ratio(),
            worst.policy,
            if refused.is_empty() {
                String::new()
            } else {
                format!("; {}", refused.join(", "))
            }
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyspace_lines_give_the_key_count() {
        assert_eq!(
            keyspace_keys("# Keyspace\r\ndb0:keys=42,expires=3,avg_ttl=0\r\n"),
            42
        );
        assert_eq!(keyspace_keys("# Keyspace\r\n"), 0);
    }

    #[test]
    fn only_known_policies_pass() {
        let mut p = Params::default();
        assert!(Eviction::check(&p).is_ok());
        p.policy = "volatile-lfu".into();
        assert!(Eviction::check(&p).is_ok());
        p.policy = "lru".into();
        assert!(Eviction::check(&p).is_err());
    }
}
