//! Scenario `slot-migration`: while a slot moves from one master to another, the old owner
//! still serves the keys it has and answers ASK for those it no longer has; the new owner
//! serves a key of that slot only after ASKING (else MOVED: the slot is not its yet).
//!
//! Forced and undone on every run: on redislab's managed cluster the slot of
//! `<ns>:{moving}:...` is marked IMPORTING on a second master and MIGRATING on its owner, one
//! key is written there first, the four commands run on plain connections to each node, and
//! both nodes are set STABLE again whatever happened, so the slot never leaves its owner.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use redis::Value;

use super::params::{Param, WAIT_ONLY, WaitOnly};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::cluster::{self, Node};
use crate::redis::connect::Rights;
use crate::redis::fence::RawConn;
use crate::redis::render::{error_text, printable_str};

pub struct SlotMigration;

impl Scenario for SlotMigration {
    const NAME: &'static str = "slot-migration";
    const SUMMARY: &'static str = "while a slot migrates, its old master answers ASK for the keys it no longer has, and the new one serves them only after ASKING";
    const PARAMS: &'static [Param] = WAIT_ONLY;
    type Params = WaitOnly;

    async fn run(ctx: &ScenarioContext<'_>, p: WaitOnly) -> Result<ScenarioReport> {
        let wait = p.wait();
        let here = ctx.key("{moving}:here");
        let missing = ctx.key("{moving}:not-here");
        let slot = cluster::key_slot(here.as_bytes());
        let mut conn = ctx.server.connection().await?;
        let masters = conn.masters().await.context("listing the masters")?;
        let slots: Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
            .context("reading the slot map")?;
        let owner = cluster::slot_owners(slots)
            .into_iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            .map(|(_, _, node)| node)
            .context("no master serves the slot")?;
        let Some(target) = masters.iter().find(|m| **m != owner).cloned() else {
            bail!("slot-migration needs a Redis Cluster with at least two masters");
        };
        let mut n = Nodes {
            src: node_conn(ctx, &owner, wait).await?,
            tgt: node_conn(ctx, &target, wait).await?,
            rows: Vec::new(),
            wait,
        };
        let src_id = id(n.src(&["CLUSTER", "MYID"]).await?)?;
        let tgt_id = id(n.tgt(&["CLUSTER", "MYID"]).await?)?;
        n.src(&["SET", &here, "stays until moved"]).await?;
        let slot_text = slot.to_string();
        ctx.ticker
            .start(4, "migrating a slot, then putting it back");
        let played = async {
            n.tgt(&["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &src_id])
                .await?;
            n.src(&["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &tgt_id])
                .await?;
            let existing = n.show(ctx, Side::Src, &["GET", &here], &owner).await?;
            let asked = n.show(ctx, Side::Src, &["GET", &missing], &owner).await?;
            let moved = n.show(ctx, Side::Tgt, &["GET", &missing], &target).await?;
            n.show(ctx, Side::Tgt, &["ASKING"], &target).await?;
            let answered = n.show(ctx, Side::Tgt, &["GET", &missing], &target).await?;
            anyhow::Ok(Found {
                existing,
                asked,
                moved,
                answered,
            })
        }
        .await;
        // Whatever happened, the slot stays with its owner.
        let undone = async {
            n.tgt(&["CLUSTER", "SETSLOT", &slot_text, "STABLE"]).await?;
            n.src(&["CLUSTER", "SETSLOT", &slot_text, "STABLE"]).await?;
            n.src(&["DEL", &here]).await
        }
        .await;
        ctx.ticker.finish();
        let found = played?;
        undone?;
        Ok(report(&found, n.rows, slot, &target))
    }
}

#[derive(Debug)]
struct Found {
    existing: Value,
    asked: Value,
    moved: Value,
    answered: Value,
}

#[derive(Clone, Copy)]
enum Side {
    Src,
    Tgt,
}

/// The slot's owner and the master it moves to, each on a plain connection of its own (ASKING
/// holds for the next command on the same connection only).
struct Nodes {
    src: RawConn,
    tgt: RawConn,
    rows: Vec<Vec<String>>,
    wait: Duration,
}

impl Nodes {
    async fn send(&mut self, side: Side, args: &[&str]) -> Result<Value> {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        let conn = match side {
            Side::Src => &mut self.src,
            Side::Tgt => &mut self.tgt,
        };
        conn.send(&args).await?;
        Ok(conn.next(self.wait).await?)
    }

    async fn src(&mut self, args: &[&str]) -> Result<Value> {
        self.send(Side::Src, args).await
    }

    async fn tgt(&mut self, args: &[&str]) -> Result<Value> {
        self.send(Side::Tgt, args).await
    }

    /// Sends and keeps a table row: the command, the node, the reply.
    async fn show(
        &mut self,
        ctx: &ScenarioContext<'_>,
        side: Side,
        args: &[&str],
        node: &Node,
    ) -> Result<Value> {
        let reply = self.send(side, args).await?;
        let role = match side {
            Side::Src => "old owner",
            Side::Tgt => "new owner",
        };
        self.rows.push(vec![
            args.join(" "),
            format!("{role} :{}", node.1),
            shown(&reply),
        ]);
        ctx.ticker.tick(1);
        Ok(reply)
    }
}

/// redislab's own connection to one master (migrating a slot is server-wide).
async fn node_conn(ctx: &ScenarioContext<'_>, node: &Node, wait: Duration) -> Result<RawConn> {
    ctx.server
        .raw_connection(Rights::Admin, Some(node), wait, false)
        .await
        .with_context(|| format!("connecting to {}:{}", node.0, node.1))
}

fn id(v: Value) -> Result<String> {
    match v {
        Value::BulkString(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Value::SimpleString(s) => Ok(s),
        other => bail!("CLUSTER MYID replied {other:?}"),
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::ServerError(e) => printable_str(&error_text(e.code(), e.details())).into_owned(),
        Value::Nil => "(nil)".into(),
        Value::Okay => "OK".into(),
        Value::BulkString(b) => format!("\"{}\"", printable_str(&String::from_utf8_lossy(b))),
        other => printable_str(&format!("{other:?}")).into_owned(),
    }
}

fn error_code(v: &Value) -> Option<&str> {
    match v {
        Value::ServerError(e) => Some(e.code()),
        _ => None,
    }
}

fn report(f: &Found, rows: Vec<Vec<String>>, slot: u16, target: &Node) -> ScenarioReport {
    let asked_target = match &f.asked {
        Value::ServerError(e) => e
            .details()
            .is_some_and(|d| d.ends_with(&format!(":{}", target.1))),
        _ => false,
    };
    let flag = |b: bool| f64::from(u8::from(b));
    let mut report = ScenarioReport {
        header: vec!["command".into(), "sent to".into(), "reply".into()],
        rows,
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert(
        "existing_served".into(),
        flag(matches!(&f.existing, Value::BulkString(_))),
    );
    m.insert(
        "missing_asked".into(),
        flag(error_code(&f.asked) == Some("ASK")),
    );
    m.insert("ask_names_new_owner".into(), flag(asked_target));
    m.insert(
        "moved_without_asking".into(),
        flag(error_code(&f.moved) == Some("MOVED")),
    );
    m.insert(
        "answered_after_asking".into(),
        flag(matches!(f.answered, Value::Nil)),
    );
    report.notes.push(format!(
        "Slot {slot} was marked MIGRATING on its owner and IMPORTING on :{}, then set STABLE again: it never moved.",
        target.1
    ));
    report
}
