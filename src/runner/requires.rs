//! Whether this server can run a step or lesson that declares `requires`: its commands, its
//! options, whether redislab manages it, whether it is a Redis Cluster (with replicas). Commands
//! are looked up with `COMMAND INFO`, options (`SET IFEQ`) in the command's `COMMAND DOCS`: the
//! server says what it has. A version number would mislead, because Valkey reports a Redis version for
//! compatibility whatever its own release is. A step that cannot run is skipped, never failed,
//! and the skip says which servers have what it needs (the lesson's `note`).

use anyhow::Result;
use redis::Value;

use crate::lesson::model::Requires;
use crate::redis::connect::{Server, parse_version};
use crate::redis::docs;
use crate::redis::fence::Fenced;

/// Why `req` is not met on this server (`None`: it is).
pub async fn unmet(server: &Server, admin: &mut Fenced, req: &Requires) -> Result<Option<String>> {
    let here = format!("{} {}", server.product, server.version);
    let why = first_unmet(server, admin, req, &here).await?;
    Ok(why.map(|w| match &req.note {
        Some(note) => format!("{w}. {note}"),
        None => w,
    }))
}

async fn first_unmet(
    server: &Server,
    admin: &mut Fenced,
    req: &Requires,
    here: &str,
) -> Result<Option<String>> {
    if let Some(v) = &req.redis {
        if server.version_tuple() < parse_version(v) {
            return Ok(Some(format!(
                "needs Redis {v} or later; this server is {here}"
            )));
        }
    }
    for c in &req.commands {
        if !has_command(admin, c).await? {
            return Ok(Some(format!(
                "needs the {} command, which {here} does not have",
                c.to_ascii_uppercase()
            )));
        }
    }
    for o in &req.options {
        let Some((command, token)) = docs::split_option(o) else {
            return Ok(Some(format!("`{o}` is not written as COMMAND OPTION")));
        };
        let has = docs::tokens(admin, &command.to_ascii_lowercase())
            .await?
            .is_some_and(|t| t.iter().any(|t| t.eq_ignore_ascii_case(token)));
        if !has {
            let shown = command.replace('|', " ").to_ascii_uppercase();
            return Ok(Some(format!(
                "needs {shown}'s {} option, which {here} does not have",
                token.to_ascii_uppercase()
            )));
        }
    }
    if (req.cluster || req.replicas) && server.cluster.is_none() {
        return Ok(Some(
            "needs a Redis Cluster: start redislab's own with `redislab server start --cluster` \
             and add `--managed --cluster`, or give a cluster node's URL with --redis-url"
                .into(),
        ));
    }
    if req.replicas && !has_replicas(admin).await? {
        return Ok(Some(
            "needs a Redis Cluster with replicas: `redislab server stop --cluster`, then \
             `redislab server start --cluster --replicas 1`"
                .into(),
        ));
    }
    let managed_cluster = if req.cluster || req.replicas {
        " --cluster"
    } else {
        ""
    };
    if req.managed && !server.is_managed() {
        return Ok(Some(format!(
            "needs redislab's managed server (run with --managed{managed_cluster})"
        )));
    }
    Ok(None)
}

/// The commands and options of `req` this server lacks, as a learner reads them (`DELIFEQ`,
/// `SET ... IFEQ`), when they are all that is missing: `None` when something else is unmet too
/// (a version, a cluster, the managed server), or when nothing is.
pub async fn only_commands_missing(
    server: &Server,
    admin: &mut Fenced,
    req: &Requires,
) -> Result<Option<Vec<String>>> {
    let rest = Requires {
        commands: Vec::new(),
        options: Vec::new(),
        ..req.clone()
    };
    if first_unmet(server, admin, &rest, "").await?.is_some() {
        return Ok(None);
    }
    let mut missing = Vec::new();
    for c in &req.commands {
        if !has_command(admin, c).await? {
            missing.push(c.to_ascii_uppercase());
        }
    }
    for o in &req.options {
        let Some((command, token)) = docs::split_option(o) else {
            return Ok(None);
        };
        let has = docs::tokens(admin, &command.to_ascii_lowercase())
            .await?
            .is_some_and(|t| t.iter().any(|t| t.eq_ignore_ascii_case(token)));
        if !has {
            missing.push(format!(
                "{} ... {}",
                command.replace('|', " ").to_ascii_uppercase(),
                token.to_ascii_uppercase()
            ));
        }
    }
    Ok((!missing.is_empty()).then_some(missing))
}

/// Whether the cluster's `CLUSTER NODES` lists a replica.
async fn has_replicas(admin: &mut Fenced) -> Result<bool> {
    let nodes: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query_async(admin)
        .await?;
    Ok(crate::redis::managed_cluster::parse_nodes(&nodes)
        .iter()
        .any(|n| !n.master))
}

async fn has_command(admin: &mut Fenced, name: &str) -> Result<bool> {
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg(name)
        .query_async(admin)
        .await?;
    Ok(match &info {
        Value::Array(items) => items.first().is_some_and(|i| *i != Value::Nil),
        _ => false,
    })
}
