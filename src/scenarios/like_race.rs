//! Scenario `like-race`: concurrent like toggles: check-then-act drifts from the set, an atomic script does not.
//!
//! One user taps "like" on one post `toggles` times at once (double taps, retries, two open
//! tabs), each toggle on its own connection. The naive toggle is the original project's: it asks
//! SISMEMBER outside any transaction, then runs MULTI SADD+INCR (or SREM+DECR) EXEC. Every
//! toggle that saw "not liked" increments the counter, although SADD added nothing after the
//! first. The atomic toggle is one Lua script that only moves the counter when SADD or SREM
//! actually changed the set.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use futures_util::future::try_join_all;
use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use tokio::sync::Barrier;

use super::{ScenarioContext, ScenarioReport};

const MAX_TOGGLES: usize = 500;
/// The keys stay behind for the learner to inspect, then expire.
const KEEP_SECONDS: u64 = 3600;

/// Toggle in one step: the counter moves only when the set really changed.
const TOGGLE_SCRIPT: &str = r"
local removed = redis.call('SREM', KEYS[1], ARGV[1])
if removed == 1 then
  redis.call('DECR', KEYS[2])
  return 0
end
local added = redis.call('SADD', KEYS[1], ARGV[1])
if added == 1 then
  redis.call('INCR', KEYS[2])
end
return 1
";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Concurrent like-toggles by the same user on the same post.
    #[serde(default = "default_toggles")]
    pub toggles: usize,
}

fn default_toggles() -> usize {
    20
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if params.toggles == 0 || params.toggles > MAX_TOGGLES {
        bail!(
            "like-race: `toggles` must be between 1 and {MAX_TOGGLES}, got {}",
            params.toggles
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Method {
    CheckThenAct,
    Script,
}

struct Keys {
    members: String,
    counter: String,
}

/// What one version ended with.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Outcome {
    liked: u64,
    unliked: u64,
    counter: i64,
    members: i64,
}

impl Outcome {
    fn drift(&self) -> i64 {
        (self.counter - self.members).abs()
    }
}

const USER: &str = "user:1";

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    let naive = Keys {
        members: ctx.key("post:naive:liked_users"),
        counter: ctx.key("post:naive:likes"),
    };
    let atomic = Keys {
        members: ctx.key("post:atomic:liked_users"),
        counter: ctx.key("post:atomic:likes"),
    };
    let mut conn = ctx.server.connection().await?;
    redis::cmd("DEL")
        .arg(&naive.members)
        .arg(&naive.counter)
        .arg(&atomic.members)
        .arg(&atomic.counter)
        .query_async::<i64>(&mut conn)
        .await
        .context("resetting the post's likes")?;

    ctx.ticker.start(2 * params.toggles as u64, "");
    let conns = try_join_all((0..params.toggles).map(|_| ctx.server.connection())).await?;
    let script = redis::Script::new(TOGGLE_SCRIPT);
    // Load once up front, so the concurrent toggles all find it by its SHA.
    script
        .load_async(&mut conn)
        .await
        .context("loading the toggle script")?;

    ctx.ticker.message(&format!(
        "{} toggles: SISMEMBER, then MULTI … EXEC",
        params.toggles
    ));
    let naive_outcome = race(ctx, &conns, &naive, Method::CheckThenAct, &script).await?;
    ctx.ticker
        .message(&format!("{} toggles: one Lua script", params.toggles));
    let atomic_outcome = race(ctx, &conns, &atomic, Method::Script, &script).await?;

    let naive_outcome = finish(&mut conn, &naive, naive_outcome).await?;
    let atomic_outcome = finish(&mut conn, &atomic, atomic_outcome).await?;
    Ok(report(
        &params,
        naive_outcome,
        atomic_outcome,
        &naive,
        &atomic,
    ))
}

/// Runs `toggles` concurrent toggles (one per connection), all starting together.
async fn race(
    ctx: &ScenarioContext<'_>,
    conns: &[MultiplexedConnection],
    keys: &Keys,
    method: Method,
    script: &redis::Script,
) -> Result<Outcome> {
    let barrier = Arc::new(Barrier::new(conns.len()));
    let tasks = conns.iter().map(|conn| {
        let mut conn = conn.clone();
        let barrier = barrier.clone();
        let members = keys.members.clone();
        let counter = keys.counter.clone();
        let script = script.clone();
        tokio::spawn(async move {
            barrier.wait().await;
            let liked = match method {
                Method::CheckThenAct => {
                    let is_member: bool = redis::cmd("SISMEMBER")
                        .arg(&members)
                        .arg(USER)
                        .query_async(&mut conn)
                        .await?;
                    // The decision was taken on a value another toggle may change right now.
                    tokio::task::yield_now().await;
                    let mut pipe = redis::pipe();
                    pipe.atomic();
                    if is_member {
                        pipe.cmd("SREM").arg(&members).arg(USER).ignore();
                        pipe.cmd("DECR").arg(&counter).ignore();
                    } else {
                        pipe.cmd("SADD").arg(&members).arg(USER).ignore();
                        pipe.cmd("INCR").arg(&counter).ignore();
                    }
                    pipe.query_async::<()>(&mut conn).await?;
                    !is_member
                }
                Method::Script => {
                    let liked: i64 = script
                        .key(&members)
                        .key(&counter)
                        .arg(USER)
                        .invoke_async(&mut conn)
                        .await?;
                    liked == 1
                }
            };
            anyhow::Ok(liked)
        })
    });
    let mut outcome = Outcome::default();
    for joined in try_join_all(tasks)
        .await
        .context("a toggle task panicked")?
    {
        ctx.ticker.tick(1);
        if joined? {
            outcome.liked += 1;
        } else {
            outcome.unliked += 1;
        }
    }
    Ok(outcome)
}

/// Reads the counter and the set size, and leaves both with an expiry.
async fn finish(
    conn: &mut MultiplexedConnection,
    keys: &Keys,
    outcome: Outcome,
) -> Result<Outcome> {
    let (counter, members): (Option<i64>, i64) = redis::pipe()
        .cmd("GET")
        .arg(&keys.counter)
        .cmd("SCARD")
        .arg(&keys.members)
        .cmd("EXPIRE")
        .arg(&keys.counter)
        .arg(KEEP_SECONDS)
        .ignore()
        .cmd("EXPIRE")
        .arg(&keys.members)
        .arg(KEEP_SECONDS)
        .ignore()
        .query_async(conn)
        .await
        .context("reading the counter and the set")?;
    Ok(Outcome {
        counter: counter.unwrap_or(0),
        members,
        ..outcome
    })
}

fn report(
    params: &Params,
    naive: Outcome,
    atomic: Outcome,
    naive_keys: &Keys,
    atomic_keys: &Keys,
) -> ScenarioReport {
    let row = |name: &str, o: &Outcome| {
        vec![
            name.to_string(),
            o.liked.to_string(),
            o.unliked.to_string(),
            o.counter.to_string(),
            o.members.to_string(),
            o.drift().to_string(),
        ]
    };
    let mut report = ScenarioReport {
        header: vec![
            "toggle".into(),
            "\"liked\"".into(),
            "\"unliked\"".into(),
            "likes counter".into(),
            "SCARD liked_users".into(),
            "drift".into(),
        ],
        rows: vec![
            row("SISMEMBER, then MULTI/EXEC", &naive),
            row("Lua script (SADD/SREM decides)", &atomic),
        ],
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("toggles".into(), params.toggles as f64);
    m.insert("naive_counter".into(), naive.counter as f64);
    m.insert("naive_members".into(), naive.members as f64);
    m.insert("naive_drift".into(), naive.drift() as f64);
    m.insert("naive_liked".into(), naive.liked as f64);
    m.insert("naive_unliked".into(), naive.unliked as f64);
    m.insert("atomic_counter".into(), atomic.counter as f64);
    m.insert("atomic_members".into(), atomic.members as f64);
    m.insert("atomic_drift".into(), atomic.drift() as f64);
    m.insert("atomic_liked".into(), atomic.liked as f64);
    m.insert("atomic_unliked".into(), atomic.unliked as f64);

    let notes = &mut report.notes;
    if naive.drift() > 0 {
        notes.push(format!(
            "Check-then-act: {} toggles saw \"not liked\" and incremented, {} saw \"liked\" and decremented, yet the set holds {} member(s): the counter says {}, off by {}.",
            naive.liked,
            naive.unliked,
            naive.members,
            naive.counter,
            naive.drift()
        ));
        notes.push(
            "MULTI/EXEC made SADD+INCR atomic, but the SISMEMBER that chose between them ran before it, outside the transaction."
                .into(),
        );
    } else {
        notes.push(format!(
            "Check-then-act did not drift this time (counter {} = SCARD {}): the race window is still there; run it again or add toggles.",
            naive.counter, naive.members
        ));
    }
    if atomic.drift() == 0 {
        notes.push(format!(
            "The script ran {} toggles one at a time on the server ({} liked, {} unliked): counter {} = SCARD {}, which is exactly what alternating toggles give.",
            params.toggles, atomic.liked, atomic.unliked, atomic.counter, atomic.members
        ));
    } else {
        notes.push(format!(
            "The script's counter ({}) differs from SCARD ({}): something else wrote to these keys during the run.",
            atomic.counter, atomic.members
        ));
    }
    notes.push(
        "Simpler still: drop the counter and answer \"how many likes\" with SCARD, which can never drift."
            .into(),
    );
    notes.push(format!(
        "The keys were kept for you to inspect ({}, {}, {}, {}; an empty set is simply absent); they expire in {} minutes.",
        naive_keys.counter,
        naive_keys.members,
        atomic_keys.counter,
        atomic_keys.members,
        KEEP_SECONDS / 60
    ));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_is_absolute() {
        let o = Outcome {
            counter: 1,
            members: 3,
            ..Default::default()
        };
        assert_eq!(o.drift(), 2);
    }

    #[test]
    fn toggles_are_bounded() {
        assert!(validate(&Params { toggles: 20 }).is_ok());
        assert!(validate(&Params { toggles: 0 }).is_err());
        assert!(validate(&Params { toggles: 501 }).is_err());
    }
}
