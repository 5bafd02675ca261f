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

use super::params::{Param, int, name};
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

#[cfg(test)]
mod tests {
    use super::*;

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
