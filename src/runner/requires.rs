//! Whether this server can run a lesson or a step: its version, its commands, whether redislab
//! manages it, whether it is a Redis Cluster (with replicas). A `requires` that is not met skips
//! the lesson or step with the reason, never fails it.

use anyhow::Result;
use redis::Value;

use super::Engine;
use crate::lesson::model::Requires;
use crate::redis::connect::parse_version;

impl Engine<'_> {
    /// Why a requirement is not met on this server (`None`: fine).
    pub async fn unmet(&mut self, req: Option<&Requires>) -> Result<Option<String>> {
        let Some(req) = req else { return Ok(None) };
        if let Some(v) = &req.redis {
            if self.server.version_tuple() < parse_version(v) {
                return Ok(Some(format!(
                    "needs Redis {v} or later; this server is {}",
                    self.server.version
                )));
            }
        }
        for c in &req.commands {
            let info: Value = redis::cmd("COMMAND")
                .arg("INFO")
                .arg(c)
                .query_async(&mut self.admin)
                .await?;
            let missing = match &info {
                Value::Array(items) => items.first().is_none_or(|i| *i == Value::Nil),
                _ => true,
            };
            if missing {
                return Ok(Some(format!(
                    "needs the {c} command, which this server does not have"
                )));
            }
        }
        if (req.cluster || req.replicas) && self.server.cluster.is_none() {
            return Ok(Some(
                "needs a Redis Cluster: start redislab's own with `redislab server start --cluster` \
                 and add `--managed --cluster`, or give a cluster node's URL with --redis-url"
                    .into(),
            ));
        }
        if req.replicas && !self.has_replicas().await? {
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
        if req.managed && !self.server.is_managed() {
            return Ok(Some(format!(
                "needs redislab's managed server (run with --managed{managed_cluster})"
            )));
        }
        Ok(None)
    }

    /// Whether the cluster's `CLUSTER NODES` lists a replica.
    async fn has_replicas(&mut self) -> Result<bool> {
        let nodes: String = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut self.admin)
            .await?;
        Ok(crate::redis::managed_cluster::parse_nodes(&nodes)
            .iter()
            .any(|n| !n.master))
    }
}
