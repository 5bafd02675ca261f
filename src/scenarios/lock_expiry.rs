//! Scenario `lock-expiry`: a holder outlives its lock: plain DEL frees someone else's lock, compare-and-delete does not.
//!
//! Worker A (its own task and connection) takes `SET lock tokenA NX PX lock_ms` and then stalls
//! (a GC pause, a slow disk) for `stall_ms`, longer than its lock lives. Time passing is
//! simulated, never slept: while A is stalled the lock's expiry is brought forward with
//! `PEXPIRE lock 1`, and the scenario waits until the key is really gone, which is exactly what
//! the server does when the TTL runs out. Worker B then takes the lock, A wakes up and releases,
//! and worker C tries to take the lock.
//!
//! Run twice: once releasing with a plain DEL (A deletes B's lock, C gets in, and B and C both
//! believe they hold it), once with the compare-and-delete script (A deletes nothing, C is
//! refused). Both lock keys are deleted at the end.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::{ScenarioContext, ScenarioReport};

const MIN_LOCK_MS: u64 = 1_000;
const MAX_LOCK_MS: u64 = 3_600_000;
/// How long to wait for the server to drop an expired key before calling it stuck.
const EXPIRY_DEADLINE: Duration = Duration::from_secs(2);

/// Release only if the lock still holds our token.
const RELEASE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// The lock's TTL in milliseconds (PX).
    #[serde(default = "default_lock_ms")]
    pub lock_ms: u64,
    /// How long worker A stalls while holding the lock (simulated), in milliseconds.
    #[serde(default = "default_stall_ms")]
    pub stall_ms: u64,
}

fn default_lock_ms() -> u64 {
    30_000
}

fn default_stall_ms() -> u64 {
    45_000
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if params.lock_ms < MIN_LOCK_MS || params.lock_ms > MAX_LOCK_MS {
        bail!(
            "lock-expiry: `lock_ms` must be between {MIN_LOCK_MS} and {MAX_LOCK_MS} (the later holders' locks must not really expire during the run), got {}",
            params.lock_ms
        );
    }
    if params.stall_ms <= params.lock_ms || params.stall_ms > 10 * MAX_LOCK_MS {
        bail!(
            "lock-expiry: `stall_ms` must be longer than `lock_ms` ({}) and at most {}: the story is a holder that outlives its lock, got {}",
            params.lock_ms,
            10 * MAX_LOCK_MS,
            params.stall_ms
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    PlainDel,
    CompareAndDelete,
}

impl Release {
    fn label(self) -> &'static str {
        match self {
            Release::PlainDel => "plain DEL",
            Release::CompareAndDelete => "compare-and-delete",
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default, PartialEq)]
struct Outcome {
    /// A's release removed the lock while it held B's token.
    foreign_lock_deleted: bool,
    /// Workers that believe they hold the lock at the end (B, and C if it got in).
    concurrent_holders: u64,
    release_reply: i64,
    c_acquired: bool,
    rows: Vec<Vec<String>>,
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    let naive_key = ctx.key("lock:job:naive");
    let safe_key = ctx.key("lock:job:safe");
    let mut conn = ctx.server.connection().await?;
    redis::cmd("DEL")
        .arg(&naive_key)
        .arg(&safe_key)
        .query_async::<i64>(&mut conn)
        .await
        .context("resetting the locks")?;
    let script = redis::Script::new(RELEASE_SCRIPT);
    ctx.ticker.start(2 * 4, "");

    ctx.ticker
        .message("A stalls past its TTL, then releases with a plain DEL");
    let naive = story(ctx, &params, &naive_key, Release::PlainDel, &script).await;
    ctx.ticker
        .message("A stalls past its TTL, then releases with compare-and-delete");
    let safe = match naive {
        Ok(_) => story(ctx, &params, &safe_key, Release::CompareAndDelete, &script).await,
        Err(_) => Err(anyhow!("skipped")),
    };
    // Leave no lock behind, whatever happened.
    let cleanup = redis::cmd("DEL")
        .arg(&naive_key)
        .arg(&safe_key)
        .query_async::<i64>(&mut conn)
        .await
        .context("deleting the locks");
    let naive = naive?;
    let safe = safe?;
    cleanup?;
    Ok(report(&params, &naive, &safe, &naive_key, &safe_key))
}

async fn set_nx(conn: &mut MultiplexedConnection, key: &str, token: &str, px: u64) -> Result<bool> {
    let reply: Option<String> = redis::cmd("SET")
        .arg(key)
        .arg(token)
        .arg("NX")
        .arg("PX")
        .arg(px)
        .query_async(conn)
        .await?;
    Ok(reply.is_some())
}

async fn get(conn: &mut MultiplexedConnection, key: &str) -> Result<Option<String>> {
    Ok(redis::cmd("GET").arg(key).query_async(conn).await?)
}

/// One run of the story: A takes the lock and stalls, the lock expires, B takes it, A releases,
/// C tries.
async fn story(
    ctx: &ScenarioContext<'_>,
    params: &Params,
    key: &str,
    release: Release,
    script: &redis::Script,
) -> Result<Outcome> {
    let tag = |w: &str| format!("worker-{w}-{:08x}", rand::random::<u32>());
    let (token_a, token_b, token_c) = (tag("a"), tag("b"), tag("c"));
    let lock_ms = params.lock_ms;
    let mut rows = Vec::new();
    let mut row = |t: u64, who: &str, command: String, reply: String, holds: &str| {
        rows.push(vec![
            release.label().to_string(),
            format!("{:.3} s", t as f64 / 1000.0),
            who.to_string(),
            command,
            reply,
            holds.to_string(),
        ]);
    };

    // Worker A: its own task and connection. It stalls until told to wake up.
    let (acquired_tx, acquired_rx) = oneshot::channel::<bool>();
    let (wake_tx, wake_rx) = oneshot::channel::<()>();
    let mut conn_a = ctx.server.connection().await?;
    let a = {
        let key = key.to_string();
        let token = token_a.clone();
        let script = script.clone();
        tokio::spawn(async move {
            let acquired = set_nx(&mut conn_a, &key, &token, lock_ms).await?;
            // The receiver only goes away if the scenario failed; then nobody waits for A.
            let _ = acquired_tx.send(acquired);
            // Stalled: a GC pause, a slow disk, a long query...
            wake_rx.await.context("worker A was never woken up")?;
            let released: i64 = match release {
                Release::PlainDel => redis::cmd("DEL").arg(&key).query_async(&mut conn_a).await?,
                Release::CompareAndDelete => {
                    script
                        .key(&key)
                        .arg(&token)
                        .invoke_async(&mut conn_a)
                        .await?
                }
            };
            anyhow::Ok(released)
        })
    };
    let acquired_a = acquired_rx
        .await
        .context("worker A stopped before taking the lock")?;
    if !acquired_a {
        bail!("lock-expiry: worker A could not take {key}: something else holds it");
    }
    row(
        0,
        "A",
        format!("SET {key} {token_a} NX PX {lock_ms}"),
        "OK".into(),
        "A",
    );
    ctx.ticker.tick(1);

    // Time passes while A is stalled: bring the expiry forward and wait until the key is gone.
    let mut conn = ctx.server.connection().await?;
    expire_now(&mut conn, key).await?;
    row(
        lock_ms,
        "server",
        "(TTL runs out: the lock expires while A is still working)".into(),
        "-".into(),
        "nobody",
    );

    let mut conn_b = ctx.server.connection().await?;
    let acquired_b = set_nx(&mut conn_b, key, &token_b, lock_ms).await?;
    if !acquired_b {
        bail!("lock-expiry: worker B could not take the expired lock {key}");
    }
    row(
        lock_ms + 1,
        "B",
        format!("SET {key} {token_b} NX PX {lock_ms}"),
        "OK".into(),
        "B",
    );
    ctx.ticker.tick(1);

    // A wakes up and releases "its" lock.
    let before = get(&mut conn, key).await?;
    wake_tx
        .send(())
        .map_err(|_| anyhow!("lock-expiry: worker A stopped while stalled"))?;
    let release_reply = a.await.context("worker A panicked")??;
    let after = get(&mut conn, key).await?;
    let b_token_before = before.as_deref() == Some(token_b.as_str());
    let foreign_lock_deleted = b_token_before && after.is_none();
    let command = match release {
        Release::PlainDel => format!("DEL {key}"),
        Release::CompareAndDelete => format!("EVAL <compare-and-delete> 1 {key} {token_a}"),
    };
    let holds_after = if after.as_deref() == Some(token_b.as_str()) {
        "B"
    } else {
        "nobody (B's lock is gone, B does not know)"
    };
    row(
        params.stall_ms,
        "A",
        command,
        format!("(integer) {release_reply}"),
        holds_after,
    );
    ctx.ticker.tick(1);

    let mut conn_c = ctx.server.connection().await?;
    let c_acquired = set_nx(&mut conn_c, key, &token_c, lock_ms).await?;
    row(
        params.stall_ms + 1,
        "C",
        format!("SET {key} {token_c} NX PX {lock_ms}"),
        if c_acquired { "OK" } else { "(nil)" }.into(),
        if c_acquired {
            "B and C, both at once"
        } else {
            "B"
        },
    );
    ctx.ticker.tick(1);

    Ok(Outcome {
        foreign_lock_deleted,
        // B never released: it still believes it holds the lock.
        concurrent_holders: 1 + u64::from(c_acquired),
        release_reply,
        c_acquired,
        rows,
    })
}

/// What the server does when a TTL runs out, done now: PEXPIRE 1, then wait until the key is
/// gone (EXISTS also deletes a key whose time is up).
async fn expire_now(conn: &mut MultiplexedConnection, key: &str) -> Result<()> {
    redis::cmd("PEXPIRE")
        .arg(key)
        .arg(1)
        .query_async::<i64>(conn)
        .await?;
    let deadline = tokio::time::Instant::now() + EXPIRY_DEADLINE;
    loop {
        let exists: i64 = redis::cmd("EXISTS").arg(key).query_async(conn).await?;
        if exists == 0 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("lock-expiry: {key} did not expire within {EXPIRY_DEADLINE:?} of PEXPIRE 1");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn report(
    params: &Params,
    naive: &Outcome,
    safe: &Outcome,
    naive_key: &str,
    safe_key: &str,
) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "release".into(),
            "time".into(),
            "who".into(),
            "command".into(),
            "reply".into(),
            "lock held by".into(),
        ],
        rows: naive.rows.iter().chain(&safe.rows).cloned().collect(),
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("lock_ms".into(), params.lock_ms as f64);
    m.insert("stall_ms".into(), params.stall_ms as f64);
    m.insert(
        "naive_foreign_lock_deleted".into(),
        f64::from(u8::from(naive.foreign_lock_deleted)),
    );
    m.insert(
        "naive_concurrent_holders".into(),
        naive.concurrent_holders as f64,
    );
    m.insert("naive_release_reply".into(), naive.release_reply as f64);
    m.insert(
        "safe_foreign_lock_deleted".into(),
        f64::from(u8::from(safe.foreign_lock_deleted)),
    );
    m.insert(
        "safe_concurrent_holders".into(),
        safe.concurrent_holders as f64,
    );
    m.insert("safe_release_reply".into(), safe.release_reply as f64);

    let notes = &mut report.notes;
    notes.push(format!(
        "A stalled {:.1} s holding a {:.1} s lock: the lock expired under it and B took it, as it should.",
        params.stall_ms as f64 / 1000.0,
        params.lock_ms as f64 / 1000.0
    ));
    if naive.foreign_lock_deleted {
        notes.push(format!(
            "Plain DEL replied {} and deleted B's lock: DEL does not ask whose lock it is.",
            naive.release_reply
        ));
    }
    if naive.c_acquired {
        notes.push(format!(
            "C then took the lock while B was still working: {} clients held it at once, the very thing a lock exists to prevent.",
            naive.concurrent_holders
        ));
    }
    if !safe.foreign_lock_deleted && !safe.c_acquired {
        notes.push(format!(
            "Compare-and-delete replied {}: the key held B's token, not A's, so nothing was deleted and C was refused ({} holder).",
            safe.release_reply, safe.concurrent_holders
        ));
    }
    notes.push(
        "Compare-and-delete stops A from freeing B's lock; it cannot stop A's stale work itself. For that: a TTL longer than the work, a watchdog that extends it, or fencing tokens."
            .into(),
    );
    notes.push(format!(
        "Time was simulated: PEXPIRE 1 stood for the TTL running out. Both locks ({naive_key}, {safe_key}) were deleted at the end."
    ));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked() {
        let p = |lock_ms, stall_ms| Params { lock_ms, stall_ms };
        assert!(validate(&p(30_000, 45_000)).is_ok());
        assert!(validate(&p(30_000, 30_000)).is_err());
        assert!(validate(&p(10, 45_000)).is_err());
        let parsed: Params = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!((parsed.lock_ms, parsed.stall_ms), (30_000, 45_000));
        assert!(serde_json::from_value::<Params>(serde_json::json!({"ttl": 1})).is_err());
    }
}
