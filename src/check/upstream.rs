//! Where the check proxy sends the workers' commands: the learner's server, or, with
//! `--failover`, a private primary and its replica that a failover fault swaps. A failover
//! here is what Sentinel does, made deterministic: the replica is first brought level with the
//! primary (by replication offset, not by waiting a while), then promoted; the command at the
//! fault runs on the old primary alone, which acknowledges it; then the old primary becomes a
//! replica of the new one and drops what only it had, and every connection that was open
//! closes at its next command, as Sentinel closes them. Nothing else of the learner's server is
//! used: these two servers are started for the check and stopped with it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redis::Value;

use crate::redis::connect::Server;
use crate::redis::fence::{Fenced, Origin, Outcome, own_args};
use crate::redis::throwaway::Throwaway;

/// How long a replica may take to catch up (a first sync, or a demoted primary's resync).
const SETTLE: Duration = Duration::from_secs(10);

/// The server the workers reach now, and for `--failover` the pair behind it.
pub struct Upstream {
    now: Mutex<Current>,
    pair: Option<tokio::sync::Mutex<Pair>>,
}

#[derive(Clone)]
struct Current {
    /// Bumped by each failover: a connection opened before it is closed at its next command.
    generation: u64,
    server: Arc<Server>,
}

/// Two private servers of the learner's product; `primary` indexes the one that takes writes.
struct Pair {
    nodes: [Node; 2],
    primary: usize,
}

struct Node {
    /// Kept so the server is stopped when the check ends (whichever way).
    process: Throwaway,
    /// The engine's view of it, for the workers' connections and the invariant's reads.
    server: Arc<Server>,
    /// redislab's own fenced connection, for REPLICAOF and INFO (it owns this server).
    own: Fenced,
}

impl Upstream {
    /// The learner's server, with no failover.
    pub fn single(server: Arc<Server>) -> Upstream {
        Upstream {
            now: Mutex::new(Current {
                generation: 0,
                server,
            }),
            pair: None,
        }
    }

    /// A private primary and replica of the learner's product (valkey-server beside a Valkey),
    /// found where `learner` finds its binaries; the check's keys live in `learner`'s namespace
    /// there too. Returns the program's name with it, for the verdict.
    pub async fn pair(learner: &Server) -> Result<(Upstream, String)> {
        let binaries = &learner.binaries;
        let same_product = (learner.product == "Valkey")
            .then(|| binaries.find(&["valkey-server"]))
            .flatten();
        let Some(binary) = same_product.or_else(|| binaries.server()) else {
            bail!(
                "--failover starts a private primary and replica, and {}",
                crate::redis::binaries::none_found(binaries)
            );
        };
        let namespace = learner.fence().namespace().to_string();
        // A full sync without the default 5 s wait for more replicas to join.
        let quick = ["--repl-diskless-sync-delay", "0"];
        let primary = Throwaway::start_with(&binary, &quick).await?;
        let port = primary.port.to_string();
        let replica_args = [
            quick[0],
            quick[1],
            "--replicaof",
            "127.0.0.1",
            port.as_str(),
        ];
        let replica = Throwaway::start_with(&binary, &replica_args).await?;
        let nodes = [
            Node::open(primary, &namespace).await?,
            Node::open(replica, &namespace).await?,
        ];
        let program = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "redis-server".into());
        let upstream = Upstream {
            now: Mutex::new(Current {
                generation: 0,
                server: nodes[0].server.clone(),
            }),
            pair: Some(tokio::sync::Mutex::new(Pair { nodes, primary: 0 })),
        };
        upstream.settle().await?;
        Ok((upstream, program))
    }

    fn current(&self) -> Current {
        // A poisoned lock means a panic elsewhere already failed the run; keep the data.
        self.now.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The server that takes writes now.
    pub fn server(&self) -> Arc<Server> {
        self.current().server
    }

    /// The server now and its generation, for a connection opened now.
    pub fn connect_to(&self) -> (u64, Arc<Server>) {
        let c = self.current();
        (c.generation, c.server)
    }

    pub fn generation(&self) -> u64 {
        self.current().generation
    }

    pub fn has_replica(&self) -> bool {
        self.pair.is_some()
    }

    /// Waits until the replica is connected and has every write the primary has (a no-op
    /// without a pair).
    pub async fn settle(&self) -> Result<()> {
        let Some(pair) = &self.pair else {
            return Ok(());
        };
        pair.lock().await.settle().await
    }

    /// The first half of a failover: the replica, level with the primary, stops replicating
    /// and takes writes. The primary does not know yet: what it acknowledges from now on is
    /// lost.
    pub async fn promote(&self) -> Result<()> {
        let Some(pair) = &self.pair else {
            return Ok(());
        };
        let mut pair = pair.lock().await;
        pair.settle().await?;
        let replica = 1 - pair.primary;
        pair.nodes[replica]
            .own(&[b"REPLICAOF", b"NO", b"ONE"])
            .await?;
        Ok(())
    }

    /// The second half: the workers' traffic goes to the promoted replica, and the old
    /// primary becomes its replica (dropping the writes only it had) once it has caught up.
    pub async fn switch(&self) -> Result<()> {
        let Some(pair) = &self.pair else {
            return Ok(());
        };
        let mut pair = pair.lock().await;
        let old = pair.primary;
        let new = 1 - old;
        {
            let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
            now.generation += 1;
            now.server = pair.nodes[new].server.clone();
        }
        pair.primary = new;
        let port = pair.nodes[new].process.port.to_string();
        pair.nodes[old]
            .own(&[b"REPLICAOF", b"127.0.0.1", port.as_bytes()])
            .await?;
        pair.settle().await
    }
}

impl Node {
    async fn open(process: Throwaway, namespace: &str) -> Result<Node> {
        let server = Arc::new(process.managed_server(namespace).await?);
        let own = process.connection(namespace).await?;
        Ok(Node {
            process,
            server,
            own,
        })
    }

    /// One of redislab's own commands on this server (it owns it: REPLICAOF passes the fence).
    async fn own(&mut self, args: &[&[u8]]) -> Result<Value> {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        let shown = crate::redis::tokenize::display_args(&args);
        let port = self.process.port;
        match self
            .own
            .run(&own_args(&args), Origin::Own)
            .await
            .with_context(|| format!("{shown} on the private server on port {port}"))?
        {
            Outcome::Reply(Value::ServerError(e)) => {
                bail!("{shown} on the private server on port {port}: {e:?}")
            }
            Outcome::Reply(v) => Ok(v),
            Outcome::Refused(why) => bail!("{shown}: {why}"),
            Outcome::Subscribe => bail!("{shown}: not sent"),
        }
    }

    /// A field of `INFO replication`.
    async fn replication(&mut self, field: &str) -> Result<String> {
        let text = match self.own(&[b"INFO", b"replication"]).await? {
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::VerbatimString { text, .. } => text,
            other => bail!("INFO replication replied {other:?}"),
        };
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .map(|v| v.trim().to_string())
            .with_context(|| format!("INFO replication has no {field}"))
    }
}

impl Pair {
    async fn settle(&mut self) -> Result<()> {
        let started = Instant::now();
        let (p, r) = (self.primary, 1 - self.primary);
        loop {
            let target: u64 = self.nodes[p]
                .replication("master_repl_offset")
                .await?
                .parse()
                .unwrap_or(0);
            let up = self.nodes[r].replication("master_link_status").await? == "up";
            let have: u64 = if up {
                self.nodes[r]
                    .replication("slave_repl_offset")
                    .await?
                    .parse()
                    .unwrap_or(0)
            } else {
                0
            };
            if up && have >= target {
                return Ok(());
            }
            if started.elapsed() > SETTLE {
                bail!(
                    "the private replica did not catch up with its primary in {} s",
                    SETTLE.as_secs()
                );
            }
            // Waiting for a condition the servers report, not for luck: replication is
            // asynchronous, and this is how long it takes here.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
