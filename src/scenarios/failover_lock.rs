//! Scenario `failover-lock`: a lock taken on a master is lost when its replica takes over before
//! the lock was replicated, and a second client then takes the same lock: two holders.
//!
//! Replication is asynchronous, so "before it was replicated" is a window of milliseconds that
//! luck would rarely hit. Here it is forced: the replica is given a wrong password for its master
//! (`CONFIG SET masterauth`) and its link is closed (`CLIENT KILL TYPE master`), so it cannot
//! reconnect and nothing written afterwards reaches it. Client A takes the lock on the master;
//! the replica is read to show it lacks it; the replica is promoted with
//! `CLUSTER FAILOVER TAKEOVER` (no vote, no wait for the master); once the old master agrees it
//! is a replica now, client B takes the lock. Then the new master gets its password back and the
//! old one, now its replica, copies its data: the two have swapped roles. Every wait is for a
//! condition the nodes report, bounded by `wait_ms`.
//! Needs redislab's managed cluster with replicas (it reconfigures a node).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::redis::connect::{Rights, Server};
use crate::redis::fence::Fenced;
use redis::{Cmd, Value};
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::cluster::{self, Node};
use crate::redis::managed_cluster::{NodeLine, parse_nodes};

pub struct FailoverLock;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub wait_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { wait_ms: 15_000 }
    }
}

impl Scenario for FailoverLock {
    const NAME: &'static str = "failover-lock";
    const SUMMARY: &'static str =
        "a lock not yet replicated is lost in a failover, and a second client takes it too";
    const PARAMS: &'static [Param] = &[int(
        "wait_ms",
        1_000,
        60_000,
        "how long each change of the cluster (link down, takeover, resync) may take, in milliseconds",
    )];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
        let lock = ctx.key("{lock}:nightly-report");
        let mut pair = Pair::find(ctx, &lock, Duration::from_millis(params.wait_ms)).await?;
        ctx.ticker
            .start(4, "cutting the replica off from its master");
        let played = pair.play(ctx, &lock).await;
        // Whatever happened, the replica gets its password back.
        let healed = pair.heal(ctx).await;
        ctx.ticker.finish();
        let metrics = played?;
        healed?;
        Ok(report(&pair, metrics))
    }
}

/// The lock's master, one of its replicas, and admin connections to both.
struct Pair {
    master: Node,
    replica: Node,
    m: Node_,
    r: Node_,
    password: String,
    wait: Duration,
}

impl Pair {
    async fn find(ctx: &ScenarioContext<'_>, lock: &str, wait: Duration) -> Result<Pair> {
        let password = ctx
            .server
            .managed_password()
            .context("failover-lock needs redislab's managed cluster")?;
        let mut conn = ctx.server.connection().await?;
        let slot = cluster::key_slot(lock.as_bytes());
        // The views of the nodes settle a moment after a failover (also one of an earlier run):
        // wait until the lock's master and a replica of it agree, and the replica is in sync.
        let deadline = Instant::now() + wait;
        let (master, replica) = loop {
            if let Some(pair) = locate(ctx.server, &mut conn, slot).await? {
                break pair;
            }
            if Instant::now() > deadline {
                bail!(
                    "failover-lock needs a replica of the lock's master, in sync (start the cluster with --replicas 1)"
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        Ok(Pair {
            m: open(ctx.server, &master).await?,
            r: open(ctx.server, &replica).await?,
            master,
            replica,
            password,
            wait,
        })
    }

    async fn play(
        &mut self,
        ctx: &ScenarioContext<'_>,
        lock: &str,
    ) -> Result<BTreeMap<String, f64>> {
        let mut learner = ctx.server.learner_connection().await?;
        let _: Value = redis::cmd("DEL")
            .arg(lock)
            .query_async(&mut learner)
            .await?;
        let _: () = config_set("masterauth", "redislab-link-cut")
            .query_async(&mut self.r)
            .await?;
        let _: Value = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("master")
            .query_async(&mut self.r)
            .await?;
        let r = self.r.clone();
        self.until(
            "the replica's link to its master to go down",
            r,
            Cond::LinkDown,
        )
        .await?;
        ctx.ticker.tick(1);
        let set_nx = |token: &str| {
            let mut c = redis::cmd("SET");
            c.arg(lock).arg(token).arg("NX").arg("PX").arg(60_000);
            c
        };
        let a: Value = set_nx("client-a").query_async(&mut learner).await?;
        let _: () = redis::cmd("READONLY").query_async(&mut self.r).await?;
        let on_replica: Value = redis::cmd("GET").arg(lock).query_async(&mut self.r).await?;
        ctx.ticker
            .message("promoting the replica with CLUSTER FAILOVER TAKEOVER");
        let _: () = redis::cmd("CLUSTER")
            .arg("FAILOVER")
            .arg("TAKEOVER")
            .query_async(&mut self.r)
            .await?;
        let (m, slot) = (self.m.clone(), cluster::key_slot(lock.as_bytes()));
        let promoted = self.replica.1;
        self.until(
            "the old master to follow its replica",
            m,
            Cond::Owner(slot, promoted),
        )
        .await?;
        ctx.ticker.tick(1);
        let after: Value = redis::cmd("GET")
            .arg(lock)
            .query_async(&mut learner)
            .await?;
        let b: Value = set_nx("client-b").query_async(&mut learner).await?;
        ctx.ticker.tick(1);
        let flag = |yes: bool| f64::from(u8::from(yes));
        let (a_took, b_took) = (a == Value::Okay, b == Value::Okay);
        Ok(BTreeMap::from([
            ("a_took".to_string(), flag(a_took)),
            (
                "replica_had_lock".to_string(),
                flag(on_replica != Value::Nil),
            ),
            ("lock_after_failover".to_string(), flag(after != Value::Nil)),
            ("b_took".to_string(), flag(b_took)),
            ("holders".to_string(), flag(a_took) + flag(b_took)),
        ]))
    }

    /// The replica (now master) gets its password back, and the old master, now its replica,
    /// copies its data. The two keep their new roles: the cluster is whole again, three
    /// masters each with a replica, and a second run plays the story the other way round.
    async fn heal(&mut self, ctx: &ScenarioContext<'_>) -> Result<()> {
        let _: () = config_set("masterauth", &self.password)
            .query_async(&mut self.r)
            .await?;
        let _: () = redis::cmd("READWRITE").query_async(&mut self.r).await?;
        let (m, r) = (self.m.clone(), self.r.clone());
        if Cond::Master.holds(&mut m.clone()).await {
            // The takeover never happened: the replica reconnects to its master.
            return self
                .until("the replica to reconnect to its master", r, Cond::LinkUp)
                .await;
        }
        ctx.ticker
            .message("the old master copies the new master's data");
        self.until(
            "the old master to copy the new master's data",
            m,
            Cond::LinkUp,
        )
        .await?;
        // Every node learns the new roles, so whoever asks next sees a whole cluster.
        let id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query_async(&mut r.clone())
            .await?;
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut r.clone())
            .await?;
        for line in parse_nodes(&nodes) {
            let conn = open(ctx.server, &("127.0.0.1".to_string(), line.port)).await?;
            let what = format!("127.0.0.1:{} to see the old master as a replica", line.port);
            self.until(&what, conn, Cond::Follows(self.master.1, id.clone()))
                .await?;
        }
        ctx.ticker.tick(1);
        Ok(())
    }

    /// Polls `cond` on `conn` until it holds; past the bound, fails naming `what`.
    async fn until(&self, what: &str, mut conn: Node_, cond: Cond) -> Result<()> {
        let deadline = Instant::now() + self.wait;
        while !cond.holds(&mut conn).await {
            if Instant::now() > deadline {
                bail!("waited {} ms for {what}", self.wait.as_millis());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }
}

/// What a node must report before the story goes on.
#[derive(Clone)]
enum Cond {
    LinkDown,
    LinkUp,
    Master,
    /// `(slot, port)`: this node sees the master on `port` serving `slot`.
    Owner(u16, u16),
    /// `(port, id)`: this node sees the node on `port` as a replica of the node `id`.
    Follows(u16, String),
}

impl Cond {
    async fn holds(&self, conn: &mut Node_) -> bool {
        match self {
            Cond::LinkDown => info_has(conn, "master_link_status:down").await,
            Cond::LinkUp => info_has(conn, "master_link_status:up").await,
            Cond::Master => info_has(conn, "role:master").await,
            Cond::Owner(slot, port) => owner_of(conn, *slot).await == Some(*port),
            Cond::Follows(port, id) => {
                let text: String = redis::cmd("CLUSTER")
                    .arg("NODES")
                    .query_async(conn)
                    .await
                    .unwrap_or_default();
                parse_nodes(&text).iter().any(|l| {
                    l.port == *port && !l.master && !l.unsettled && l.master_id.as_ref() == Some(id)
                })
            }
        }
    }
}

/// An admin connection to one node; every command passes the fence first.
async fn open(server: &Server, node: &Node) -> Result<Node_> {
    server
        .node_connection(Rights::Admin, Some(node), Some(Duration::from_secs(10)))
        .await
}

/// A node's connection, fenced.
type Node_ = Fenced;

/// The master serving `slot` and a replica of it, once the master lists the replica as its own
/// and the replica's link to it is up; `None` while they do not agree yet.
async fn locate(server: &Server, conn: &mut Fenced, slot: u16) -> Result<Option<(Node, Node)>> {
    let node = |port: u16| ("127.0.0.1".to_string(), port);
    let text: String = redis::cmd("CLUSTER").arg("NODES").query_async(conn).await?;
    let Some(master) = parse_nodes(&text)
        .into_iter()
        .find(|l| l.master && serves(l, slot))
    else {
        return Ok(None);
    };
    let mut m = open(server, &node(master.port)).await?;
    let own: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(&mut m)
        .await?;
    let lines = parse_nodes(&own);
    let Some(me) = lines.iter().find(|l| l.port == master.port && l.master) else {
        return Ok(None);
    };
    let Some(replica) = lines
        .iter()
        .find(|l| !l.unsettled && l.master_id.as_deref() == Some(me.id.as_str()))
    else {
        return Ok(None);
    };
    let mut r = open(server, &node(replica.port)).await?;
    let in_sync = Cond::LinkUp.holds(&mut r).await
        && info_has(&mut r, &format!("master_port:{}", master.port)).await;
    Ok(in_sync.then(|| (node(master.port), node(replica.port))))
}

fn config_set(name: &str, value: &str) -> Cmd {
    let mut c = redis::cmd("CONFIG");
    c.arg("SET").arg(name).arg(value);
    c
}

/// Whether `INFO replication` has this line.
async fn info_has(conn: &mut Node_, line: &str) -> bool {
    let info: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(conn)
        .await
        .unwrap_or_default();
    info.lines().any(|l| l.trim() == line)
}

/// The port of the master serving `slot`, as this node sees it.
async fn owner_of(conn: &mut Node_, slot: u16) -> Option<u16> {
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(conn)
        .await
        .ok()?;
    parse_nodes(&text)
        .into_iter()
        .find(|l| l.master && serves(l, slot))
        .map(|l| l.port)
}

/// Whether a `CLUSTER NODES` line's ranges (`0-5460`, `7`) hold `slot`.
fn serves(line: &NodeLine, slot: u16) -> bool {
    line.slots.iter().any(|r| {
        let (lo, hi) = r.split_once('-').unwrap_or((r, r));
        matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if (lo..=hi).contains(&slot))
    })
}

fn report(pair: &Pair, metrics: BTreeMap<String, f64>) -> ScenarioReport {
    let m = |k: &str| metrics.get(k).copied().unwrap_or_default() > 0.0;
    let yes = |b: bool, y: &str, n: &str| if b { y } else { n }.to_string();
    let (master, replica) = (pair.master.1, pair.replica.1);
    ScenarioReport {
        header: vec!["what happened".into(), "node".into(), "result".into()],
        rows: vec![
            vec![
                "client A: SET NX".into(),
                format!("master :{master}"),
                yes(m("a_took"), "OK", "(nil)"),
            ],
            vec![
                "the replica reads the lock".into(),
                format!("replica :{replica}"),
                yes(m("replica_had_lock"), "client-a", "(nil)"),
            ],
            vec![
                "CLUSTER FAILOVER TAKEOVER".into(),
                format!(":{replica} is master"),
                "done".into(),
            ],
            vec![
                "GET the lock".into(),
                format!("master :{replica}"),
                yes(m("lock_after_failover"), "client-a", "(nil)"),
            ],
            vec![
                "client B: SET NX".into(),
                format!("master :{replica}"),
                yes(m("b_took"), "OK", "(nil)"),
            ],
        ],
        notes: vec![format!(
            "{} clients hold the same lock",
            metrics.get("holders").copied().unwrap_or_default()
        )],
        metrics,
        skipped: None,
    }
}
