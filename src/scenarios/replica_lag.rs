//! Scenario `replica-lag`: a replica serves what it has applied, not what its master has; WAIT
//! counts the replicas that acknowledged a write, and that is all it does: on a timeout the
//! write stays on the master (nothing is rolled back), and an acknowledgement is a copy in a
//! replica's memory, not on a disk.
//!
//! Two private servers (see `private`): a master and a replica started with `--replicaof`, both
//! stopped with the step. The lag is forced, never hoped for: once the pair is in sync, the
//! master gets a password its replica does not know and the replica's link is closed
//! (`CLIENT KILL TYPE master` on the replica), so it cannot reconnect and nothing new reaches
//! it until it is given the password (`masterauth`). Every wait is for a condition the servers
//! report (`master_link_status`), bounded.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::private::{Private, args};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::measure::human_us;
use crate::redis::render::printable_str;

/// How long the link may take to come up or go down (a bound, polled).
const LINK_BOUND: Duration = Duration::from_secs(20);
/// The password that cuts the link: only for this throwaway pair.
const PASSWORD: &str = "redislab-replica-lag";

pub struct ReplicaLag;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub wait_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { wait_ms: 500 }
    }
}

impl Scenario for ReplicaLag {
    const NAME: &'static str = "replica-lag";
    const SUMMARY: &'static str = "a replica read right after a write it has not applied returns the old value; WAIT counts acknowledgements and rolls nothing back on a timeout";
    const PARAMS: &'static [Param] = &[int(
        "wait_ms",
        50,
        10_000,
        "the timeout of the WAIT sent while the replica's link is cut, in milliseconds",
    )];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let mut master = match Private::start(ctx).await? {
            Ok(s) => s,
            Err(why) => {
                return Ok(ScenarioReport {
                    skipped: Some(why),
                    ..Default::default()
                });
            }
        };
        let mut replica = master.replica(ctx).await?;
        ctx.ticker.start(3, "waiting for the replica to sync");
        let found = play(ctx, &mut master, &mut replica, &p).await?;
        let program = master.program.clone();
        drop(replica);
        drop(master);
        Ok(report(&p, &found, &program))
    }
}

/// One moment of the story: what the master holds, what WAIT said, what the replica serves.
#[derive(Debug, Clone, PartialEq)]
struct Moment {
    label: &'static str,
    on_master: String,
    wait: i64,
    wait_took: Duration,
    on_replica: String,
}

#[derive(Debug, Clone, PartialEq)]
struct Found {
    moments: Vec<Moment>,
    link_back: Duration,
    /// `rdb_changes_since_last_save` on each: writes that exist on no disk.
    unsaved_master: u64,
    unsaved_replica: u64,
    aof_enabled: u64,
    /// `role:` as the replica names itself in INFO replication.
    replica_role: String,
    /// The server still knows SLAVEOF, REPLICAOF's old name (COMMAND INFO).
    slaveof_known: bool,
}

async fn play(
    ctx: &ScenarioContext<'_>,
    master: &mut Private,
    replica: &mut Private,
    p: &Params,
) -> Result<Found> {
    let key = ctx.key("{order}:1:status");
    until_link(replica, "up").await?;
    let replica_role = replica.info_word("replication", "role").await?;
    let mut moments = Vec::new();

    master
        .send(&args(&[b"SET", key.as_bytes(), b"pending"]))
        .await?;
    let (wait, wait_took) = wait_for(master, 5000).await?;
    moments.push(Moment {
        label: "in sync",
        on_master: get(master, &key).await?,
        wait,
        wait_took,
        on_replica: get(replica, &key).await?,
    });
    ctx.ticker.tick(1);

    ctx.ticker.message("cutting the replica's link");
    master.set("requirepass", PASSWORD).await?;
    replica
        .send(&args(&[b"CLIENT", b"KILL", b"TYPE", b"master"]))
        .await?;
    until_link(replica, "down").await?;
    master
        .send(&args(&[b"SET", key.as_bytes(), b"paid"]))
        .await?;
    let on_replica = get(replica, &key).await?;
    let (wait, wait_took) = wait_for(master, p.wait_ms).await?;
    moments.push(Moment {
        label: "link cut",
        on_master: get(master, &key).await?,
        wait,
        wait_took,
        on_replica,
    });
    ctx.ticker.tick(1);

    ctx.ticker
        .message("giving the replica its master's password");
    let began = Instant::now();
    replica.set("masterauth", PASSWORD).await?;
    until_link(replica, "up").await?;
    let link_back = began.elapsed();
    let (wait, wait_took) = wait_for(master, 5000).await?;
    moments.push(Moment {
        label: "link back",
        on_master: get(master, &key).await?,
        wait,
        wait_took,
        on_replica: get(replica, &key).await?,
    });
    ctx.ticker.tick(1);
    Ok(Found {
        moments,
        link_back,
        unsaved_master: master
            .info("persistence", "rdb_changes_since_last_save")
            .await?,
        unsaved_replica: replica
            .info("persistence", "rdb_changes_since_last_save")
            .await?,
        aof_enabled: master.info("persistence", "aof_enabled").await?
            + replica.info("persistence", "aof_enabled").await?,
        replica_role,
        slaveof_known: knows(replica, "SLAVEOF").await? && knows(replica, "REPLICAOF").await?,
    })
}

/// Whether the server has this command (`COMMAND INFO` answers nil for an unknown one).
async fn knows(s: &mut Private, command: &str) -> Result<bool> {
    Ok(
        match s
            .send(&args(&[b"COMMAND", b"INFO", command.as_bytes()]))
            .await?
        {
            Value::Array(v) => v.first().is_some_and(|e| !matches!(e, Value::Nil)),
            _ => false,
        },
    )
}

/// Asks the replica until its link to the master is `state` (`up` or `down`).
async fn until_link(replica: &mut Private, state: &str) -> Result<()> {
    let deadline = Instant::now() + LINK_BOUND;
    loop {
        let now = replica
            .info_word("replication", "master_link_status")
            .await?;
        if now == state {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the private replica's link to its master was still {now} after {} s",
                LINK_BOUND.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `WAIT 1 timeout_ms` on the master: how many replicas acknowledged, and how long it took.
async fn wait_for(master: &mut Private, timeout_ms: u64) -> Result<(i64, Duration)> {
    let t = timeout_ms.to_string();
    let began = Instant::now();
    match master.send(&args(&[b"WAIT", b"1", t.as_bytes()])).await? {
        Value::Int(n) => Ok((n, began.elapsed())),
        other => bail!("WAIT replied {other:?}"),
    }
}

async fn get(s: &mut Private, key: &str) -> Result<String> {
    Ok(match s.send(&args(&[b"GET", key.as_bytes()])).await? {
        Value::Nil => "(nil)".into(),
        Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
        other => bail!("GET replied {other:?}"),
    })
}

fn report(p: &Params, f: &Found, program: &str) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "moment".into(),
            "master has".into(),
            "WAIT 1 replied".into(),
            "replica serves".into(),
        ],
        ..Default::default()
    };
    for m in &f.moments {
        report.rows.push(vec![
            m.label.into(),
            printable_str(&m.on_master).into_owned(),
            format!(
                "(integer) {} in {}",
                m.wait,
                human_us(m.wait_took.as_secs_f64() * 1e6)
            ),
            printable_str(&m.on_replica).into_owned(),
        ]);
    }
    let at = |i: usize| f.moments.get(i);
    let flag = |b: bool| f64::from(u8::from(b));
    let metrics = &mut report.metrics;
    metrics.insert("wait_in_sync".into(), at(0).map_or(-1.0, |m| m.wait as f64));
    metrics.insert(
        "replica_in_sync".into(),
        flag(at(0).is_some_and(|m| m.on_replica == m.on_master)),
    );
    metrics.insert(
        "replica_read_stale".into(),
        flag(at(1).is_some_and(|m| m.on_replica == "pending" && m.on_master == "paid")),
    );
    metrics.insert(
        "wait_while_cut".into(),
        at(1).map_or(-1.0, |m| m.wait as f64),
    );
    metrics.insert(
        "wait_while_cut_ms".into(),
        at(1).map_or(-1.0, |m| m.wait_took.as_secs_f64() * 1000.0),
    );
    metrics.insert(
        "master_kept_write".into(),
        flag(at(1).is_some_and(|m| m.on_master == "paid")),
    );
    metrics.insert(
        "wait_link_back".into(),
        at(2).map_or(-1.0, |m| m.wait as f64),
    );
    metrics.insert(
        "replica_caught_up".into(),
        flag(at(2).is_some_and(|m| m.on_replica == "paid")),
    );
    metrics.insert("link_back_ms".into(), f.link_back.as_secs_f64() * 1000.0);
    metrics.insert("unsaved_on_master".into(), f.unsaved_master as f64);
    metrics.insert("unsaved_on_replica".into(), f.unsaved_replica as f64);
    metrics.insert("aof_enabled".into(), f.aof_enabled as f64);
    metrics.insert("slaveof_known".into(), flag(f.slaveof_known));
    report.notes.push(format!(
        "This ran on two private {program}s started for this step (a master and a replica started with --replicaof, which INFO replication calls role:{}; {}), never on your server.",
        printable_str(&f.replica_role),
        if f.slaveof_known {
            "SLAVEOF, the old name of REPLICAOF, is still a command there"
        } else {
            "SLAVEOF, the old name of REPLICAOF, is gone there"
        }
    ));
    report.notes.push(format!(
        "With its link cut the replica served the old value; WAIT 1 {} answered 0 after {} ms and the master kept the write. Given the password, the replica was back {} ms later and served the write.",
        p.wait_ms,
        at(1).map_or(0, |m| m.wait_took.as_millis()),
        f.link_back.as_millis()
    ));
    report.notes.push(format!(
        "Neither server had saved the acknowledged write: {} changes since the last save on the master, {} on the replica, and the append-only file off on both.",
        f.unsaved_master, f.unsaved_replica
    ));
    report
}
