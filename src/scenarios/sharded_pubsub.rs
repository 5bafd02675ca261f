//! Scenario `sharded-pubsub`: on a Redis Cluster a classic PUBLISH is copied to every node and
//! counts only the receivers of the node it was sent to; SPUBLISH stays on the node that owns the
//! channel's slot and counts the receivers there.
//!
//! Two subscribers join first, each on a plain connection to one chosen master: a sharded one
//! (SSUBSCRIBE `<ns>:{news}:live`) on the master that owns that channel's slot, and a classic one
//! (SUBSCRIBE `<ns>:news:classic`) on another master. Each is confirmed by its server before
//! anything is published. Where the owner has a replica, a third sharded subscriber joins there:
//! the whole shard takes sharded subscribers, and SPUBLISH on the master reaches the replica's
//! subscriber though it counts only the master's own. Another connection tries SSUBSCRIBE on the
//! other master, which answers MOVED. Then one SPUBLISH and one PUBLISH are sent to the owner, and each subscriber
//! waits for its message (up to `wait_ms`, never a bare sleep). Channels are not keys: nothing
//! is left behind.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use super::params::{Param, int};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::connect::Rights;

/// How long connecting and a subscription's confirmation may take.
const CONNECT: Duration = Duration::from_secs(3);
use crate::redis::cluster::{self, Node};

pub struct ShardedPubSub;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub wait_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { wait_ms: 2_000 }
    }
}

impl Scenario for ShardedPubSub {
    const NAME: &'static str = "sharded-pubsub";
    const SUMMARY: &'static str = "on a Redis Cluster, SPUBLISH stays on the channel's shard; a classic PUBLISH reaches every node";
    const PARAMS: &'static [Param] = &[int(
        "wait_ms",
        100,
        30_000,
        "how long each subscriber waits for its message, in milliseconds",
    )];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
        let wait = Duration::from_millis(params.wait_ms);
        let mut conn = ctx.server.learner_connection().await?;
        let masters = conn
            .masters()
            .await
            .context("listing the cluster's masters")?;
        if masters.len() < 2 {
            bail!("sharded-pubsub needs a Redis Cluster with at least two masters");
        }
        let (shard, everyone) = (ctx.key("{news}:live"), ctx.key("news:classic"));
        let slots: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .context("reading the cluster's slot map")?;
        let slot = cluster::key_slot(shard.as_bytes());
        let mut shard_nodes = cluster::slot_shards(slots)
            .into_iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            .map(|(_, _, nodes)| nodes)
            .context("no master serves the channel's slot")?;
        let owner = shard_nodes.remove(0);
        // The shard's replicas take sharded subscribers too, and get what its master publishes.
        let replica = shard_nodes.into_iter().next();
        let other = masters
            .iter()
            .find(|m| **m != owner)
            .cloned()
            .context("the cluster has a single master")?;
        ctx.ticker.start(2, "subscribing on two masters");
        let sharded = listen(ctx, &owner, "SSUBSCRIBE", &shard, wait).await?;
        let classic = listen(ctx, &other, "SUBSCRIBE", &everyone, wait).await?;
        let on_replica = match &replica {
            Some(r) => Some(listen(ctx, r, "SSUBSCRIBE", &shard, wait).await?),
            None => None,
        };
        let moved = refused_elsewhere(ctx, &other, &shard).await?;
        ctx.ticker
            .message(&format!("publishing on 127.0.0.1:{}", owner.1));
        let count = async |verb: &str, channel: &str| -> Result<i64> {
            let mut publish = redis::cmd(verb);
            publish.arg(channel).arg("hello");
            let reply = conn.clone().on_node(Some(&owner), &publish).await?;
            redis::from_redis_value(reply).with_context(|| format!("{verb}'s reply"))
        };
        let spublish = count("SPUBLISH", &shard).await?;
        ctx.ticker.tick(1);
        let publish = count("PUBLISH", &everyone).await?;
        ctx.ticker.tick(1);
        let (sharded, classic) = (received(sharded).await?, received(classic).await?);
        let replica_received = match on_replica {
            Some(task) => Some(received(task).await?),
            None => None,
        };
        ctx.ticker.finish();
        let mut report = report(&owner, &other, spublish, sharded, publish, classic);
        report.metrics.insert(
            "replica_subscribers".to_string(),
            f64::from(u8::from(replica.is_some())),
        );
        report.metrics.insert(
            "replica_received".to_string(),
            f64::from(u8::from(replica_received == Some(true))),
        );
        if let (Some(r), Some(got)) = (&replica, replica_received) {
            report.rows.insert(
                1,
                vec![
                    "SPUBLISH".into(),
                    format!("a replica of the shard ({}:{})", r.0, r.1),
                    "not counted".into(),
                    if got { "yes" } else { "no" }.into(),
                ],
            );
            report.notes.push(format!(
                "SPUBLISH counted {spublish}: only its own node's subscribers; the replica's subscriber {} the message all the same",
                if got { "got" } else { "did not get" }
            ));
        }
        report.metrics.insert(
            "sharded_elsewhere_refused".to_string(),
            f64::from(u8::from(moved)),
        );
        Ok(report)
    }
}

/// A subscriber on its own connection and task: returns once the server confirmed the
/// subscription; the task then waits up to `wait` for one message and says whether it came.
async fn listen(
    ctx: &ScenarioContext<'_>,
    node: &Node,
    verb: &'static str,
    channel: &str,
    wait: Duration,
) -> Result<JoinHandle<Result<bool>>> {
    let command = vec![verb.as_bytes().to_vec(), channel.as_bytes().to_vec()];
    let mut con = ctx
        .server
        .raw_connection(Rights::Learner, Some(node), CONNECT, false)
        .await
        .with_context(|| format!("connecting the {verb} subscriber"))?;
    con.send(&command).await?;
    let confirm = con.next(CONNECT).await?;
    if !first_word_is(&confirm, &verb.to_ascii_lowercase()) {
        bail!("{verb} {channel} was not confirmed: {confirm:?}");
    }
    Ok(tokio::spawn(async move {
        match con.next(wait).await {
            Ok(msg) => Ok(first_word_is(&msg, "message") || first_word_is(&msg, "smessage")),
            Err(e) if e.is_timeout() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }))
}

/// Whether a node that does not own the channel's slot refuses a sharded subscriber (MOVED).
async fn refused_elsewhere(ctx: &ScenarioContext<'_>, node: &Node, channel: &str) -> Result<bool> {
    let command = vec![b"SSUBSCRIBE".to_vec(), channel.as_bytes().to_vec()];
    let mut con = ctx
        .server
        .raw_connection(Rights::Learner, Some(node), CONNECT, false)
        .await
        .context("connecting a sharded subscriber to another node")?;
    con.send(&command).await?;
    Ok(match con.next(CONNECT).await {
        Err(e) => e.code() == Some("MOVED"),
        Ok(Value::ServerError(e)) => e.code() == "MOVED",
        Ok(_) => false,
    })
}

async fn received(task: JoinHandle<Result<bool>>) -> Result<bool> {
    task.await.context("a subscriber's thread failed")?
}

fn first_word_is(v: &Value, word: &str) -> bool {
    match v {
        Value::Array(items) | Value::Push { data: items, .. } => match items.first() {
            Some(Value::BulkString(b)) => b.eq_ignore_ascii_case(word.as_bytes()),
            Some(Value::SimpleString(s)) => s.eq_ignore_ascii_case(word),
            _ => false,
        },
        _ => false,
    }
}

fn report(
    owner: &Node,
    other: &Node,
    spublish: i64,
    sharded: bool,
    publish: i64,
    classic: bool,
) -> ScenarioReport {
    let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
    let metrics = BTreeMap::from([
        ("spublish_receivers".to_string(), spublish as f64),
        ("sharded_received".to_string(), f64::from(u8::from(sharded))),
        ("publish_receivers".to_string(), publish as f64),
        ("classic_received".to_string(), f64::from(u8::from(classic))),
    ]);
    ScenarioReport {
        header: vec![
            "sent to the shard's node".into(),
            "subscriber on".into(),
            "receivers counted".into(),
            "message arrived".into(),
        ],
        rows: vec![
            vec![
                "SPUBLISH".into(),
                format!("the same node ({}:{})", owner.0, owner.1),
                spublish.to_string(),
                yes(sharded),
            ],
            vec![
                "PUBLISH".into(),
                format!("another node ({}:{})", other.0, other.1),
                publish.to_string(),
                yes(classic),
            ],
        ],
        metrics,
        notes: vec![format!(
            "PUBLISH counted {publish} receivers and its subscriber on another node {} it",
            if classic { "still got" } else { "did not get" }
        )],
        skipped: None,
    }
}
