//! `bench --throughput`: GET requests per second from C connections, P commands per pipeline,
//! comparable with `redis-benchmark -t get -c C -P P -n N`.
//!
//! Lean on purpose, like redis-benchmark: one single-threaded event loop, one task per client,
//! the pipeline's bytes packed once, replies counted in place with no per-reply allocation.
//! TLS falls back to the redis crate's pipelines.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use redis::RedisError;
use serde::{Deserialize, Serialize};

use super::wire::{read_replies, read_replies_blocking};
use super::{Cancel, interrupted};
use crate::error;
use crate::measure::sampler::ClientRun;
use crate::measure::stats::{Recorder, Stats};
use crate::measure::{Ticker, on_own_thread, run_together};
use crate::redis::connect::{Server, command_error};
use crate::redis::fence::{Block, LoadTarget};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputOptions {
    pub clients: usize,
    pub pipeline: usize,
    pub requests: u64,
}

impl Default for ThroughputOptions {
    /// redis-benchmark's defaults: 50 clients, no pipelining, 100,000 requests.
    fn default() -> Self {
        ThroughputOptions {
            clients: 50,
            pipeline: 1,
            requests: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThroughputReport {
    pub server: String,
    pub server_version: String,
    pub clients: usize,
    pub pipeline: usize,
    pub requests: u64,
    /// GET replies received per second, over the wall time of the whole run.
    pub ops_per_sec: f64,
    pub seconds: f64,
    /// Latency of one pipeline round trip (P commands), like redis-benchmark's latency figures.
    pub round_trip: Stats,
    /// "raw" (packed bytes over TCP or a Unix socket) or "redis-crate" (TLS).
    pub transport: String,
    /// The command, for comparison.
    pub compare_with: String,
}

/// Runs the load. Writes one key, `<namespace>:bench:tp` (on a cluster one per master, each in a
/// slot that master owns), and deletes it afterwards.
pub async fn run(
    server: &Server,
    namespace: &str,
    opts: ThroughputOptions,
    cancel: Cancel,
    ticker: Arc<dyn Ticker>,
) -> Result<ThroughputReport> {
    let key = format!("{}tp", super::redis_side::prefix(namespace));
    let mut conn = server.admin();
    let targets = targets(server, &mut conn, &key, opts.pipeline.max(1)).await?;
    for t in &targets {
        let set: Result<(), RedisError> = redis::cmd("SET")
            .arg(&t.key)
            .arg("xxx")
            .query_async(&mut conn)
            .await;
        set.map_err(|e| command_error(e, &server.display))?;
    }
    let keys: Vec<String> = targets.iter().map(|t| t.key.clone()).collect();
    let load = Load {
        targets,
        pipeline: opts.pipeline.max(1),
        clients: opts.clients.max(1),
        requests: opts.requests.max(1),
        done: Arc::new(AtomicU64::new(0)),
        cancel,
        display: server.display.clone(),
    };
    let (clients, pipeline, requests) = (load.clients, load.pipeline, load.requests);
    let done = load.done.clone();
    ticker.start(
        requests,
        &format!("GET · {clients} clients · pipeline {pipeline}"),
    );
    // The load loops only count; a side task turns the count into progress ten times a second.
    let poller = {
        let (done, ticker) = (done.clone(), ticker.clone());
        tokio::spawn(async move {
            let mut shown = 0;
            loop {
                let now = done.load(Ordering::Relaxed);
                ticker.tick(now - shown);
                shown = now;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let result = match load.targets[0].load.is_plain() {
        // A runtime of its own on one thread: redis-benchmark is one event loop too, and on a
        // small machine a second worker thread would steal the server's core.
        true => {
            on_own_thread("the load generator", move || async move {
                if load.clients == 1 {
                    // One connection needs no event loop: a blocking socket is two system
                    // calls per round trip and the kernel wakes the reader directly.
                    load.blocking()
                } else {
                    load.raw().await
                }
            })
            .await
            .map(|(rec, wall)| (rec, wall, "raw"))
        }
        false => crate_load(server, &keys[0], &load)
            .await
            .map(|(rec, wall)| (rec, wall, "redis-crate")),
    };
    poller.abort();
    ticker.finish();
    let del: Result<(), RedisError> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    let (rec, wall, transport) = result?;
    del.map_err(|e| command_error(e, &server.display))?;
    // Replies actually received (the last round of a client may be shorter than P).
    let replies = done.load(Ordering::Relaxed);
    let secs = wall.as_secs_f64();
    let rate = if secs > 0.0 {
        replies as f64 / secs
    } else {
        0.0
    };
    let mut round_trip = rec.summary_wall(wall);
    round_trip.ops = replies;
    round_trip.ops_per_sec = rate;
    Ok(ThroughputReport {
        server: server.display.clone(),
        server_version: server.version.clone(),
        clients,
        pipeline,
        requests: replies,
        ops_per_sec: rate,
        seconds: secs,
        round_trip,
        transport: transport.to_string(),
        compare_with: format!("redis-benchmark -t get -c {clients} -P {pipeline} -n {requests}"),
    })
}

/// Where a client sends its GETs: the server, or on a cluster one master and a key it owns.
struct Target {
    /// Where the client's plain socket connects, and its log-in.
    load: LoadTarget,
    key: String,
    /// `pipeline` GETs of `key`, admitted by the fence and packed once.
    block: Block,
}

/// The server's targets. On a cluster every master gets one, so the clients (spread over them
/// in turn) measure the whole cluster, never a node answering MOVED.
async fn targets(
    server: &Server,
    conn: &mut crate::redis::fence::Fenced,
    key: &str,
    pipeline: usize,
) -> Result<Vec<Target>> {
    let gets = |key: &str| {
        let mut get = redis::cmd("GET");
        get.arg(key);
        get
    };
    if server.cluster.is_none() {
        return Ok(vec![Target {
            load: server.load_target(None)?,
            block: conn.admitted_block(gets(key), pipeline).await?,
            key: key.to_string(),
        }]);
    }
    let slots: redis::Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .map_err(|e| command_error(e, &server.display))?;
    let owners = crate::redis::cluster::slot_owners(slots);
    let mut masters: Vec<crate::redis::cluster::Node> = Vec::new();
    for (_, _, node) in &owners {
        if !masters.contains(node) {
            masters.push(node.clone());
        }
    }
    let mut out = Vec::new();
    for node in masters {
        let owned = |k: &String| {
            let slot = crate::redis::cluster::key_slot(k.as_bytes());
            owners
                .iter()
                .any(|(lo, hi, n)| *n == node && (*lo..=*hi).contains(&slot))
        };
        let key = (0..)
            .map(|i| format!("{key}:{i}"))
            .find(owned)
            .unwrap_or_else(|| key.to_string());
        out.push(Target {
            load: server.load_target(Some(&node))?,
            block: conn.admitted_block(gets(&key), pipeline).await?,
            key,
        });
    }
    Ok(out)
}

/// One run's settings, shared by every client.
struct Load {
    /// Client `ci` uses `targets[ci % targets.len()]`.
    targets: Vec<Target>,
    pipeline: usize,
    clients: usize,
    requests: u64,
    /// Replies received so far, by all clients.
    done: Arc<AtomicU64>,
    cancel: Cancel,
    display: String,
}

impl Load {
    fn unreachable(&self, e: std::io::Error) -> anyhow::Error {
        error::connection(format!(
            "could not connect to Redis at {}: {e}",
            self.display
        ))
    }

    fn lost(&self, e: std::io::Error) -> anyhow::Error {
        error::connection(format!(
            "lost the connection to Redis at {}: {e}",
            self.display
        ))
    }

    fn refused(&self, e: &str) -> anyhow::Error {
        error::connection(format!("Redis at {} refused: {e}", self.display))
    }

    /// Client `ci`'s part of the requests.
    fn share(&self, ci: usize) -> u64 {
        let n = self.clients as u64;
        self.requests / n + u64::from((ci as u64) < self.requests % n)
    }

    fn target(&self, ci: usize) -> &Target {
        &self.targets[ci % self.targets.len()]
    }

    /// Every client on one event loop, connected and set up before the clock starts.
    async fn raw(&self) -> Result<(Recorder, Duration)> {
        let barrier = &tokio::sync::Barrier::new(self.clients);
        let runs = run_together(self.clients, |ci| async move {
            let target = self.target(ci);
            let mut s = target.load.open().await.map_err(|e| self.unreachable(e))?;
            let mut buf = vec![0u8; 16 * 1024];
            let mut filled = 0usize;
            for c in target.load.login() {
                s.write(c, 1).await.map_err(|e| self.lost(e))?;
                let reply = read_replies(&mut s, &mut buf, &mut filled, 1).await;
                if let Some(e) = reply.map_err(|e| self.lost(e))? {
                    return Err(self.refused(&e));
                }
            }
            barrier.wait().await;
            let start = Instant::now();
            let mut rec = Recorder::new(self.pipeline as u32, 1)?;
            let mut left = self.share(ci);
            while left > 0 {
                if self.cancel.is_cancelled() {
                    return Err(interrupted());
                }
                let n = (left as usize).min(self.pipeline);
                let t = Instant::now();
                s.write(&target.block, n).await.map_err(|e| self.lost(e))?;
                let reply = read_replies(&mut s, &mut buf, &mut filled, n).await;
                if let Some(e) = reply.map_err(|e| self.lost(e))? {
                    bail!("GET failed: {e}");
                }
                rec.record(t.elapsed());
                left -= n as u64;
                self.done.fetch_add(n as u64, Ordering::Relaxed);
            }
            Ok(ClientRun::new(rec, self.share(ci), start))
        })
        .await?;
        let (rec, _, wall) = ClientRun::merge(runs, Recorder::new(self.pipeline as u32, 1)?);
        Ok((rec, wall))
    }

    /// One client on a blocking socket.
    fn blocking(&self) -> Result<(Recorder, Duration)> {
        let target = self.target(0);
        let mut s = target
            .load
            .open_blocking()
            .map_err(|e| self.unreachable(e))?;
        let mut buf = vec![0u8; 16 * 1024];
        let mut filled = 0usize;
        for c in target.load.login() {
            s.write(c, 1).map_err(|e| self.lost(e))?;
            let reply = read_replies_blocking(&mut s, &mut buf, &mut filled, 1);
            if let Some(e) = reply.map_err(|e| self.lost(e))? {
                return Err(self.refused(&e));
            }
        }
        let mut rec = Recorder::new(self.pipeline as u32, 1)?;
        let mut left = self.requests;
        let start = Instant::now();
        while left > 0 {
            if self.cancel.is_cancelled() {
                return Err(interrupted());
            }
            let n = (left as usize).min(self.pipeline);
            let t = Instant::now();
            s.write(&target.block, n).map_err(|e| self.lost(e))?;
            let reply = read_replies_blocking(&mut s, &mut buf, &mut filled, n);
            if let Some(e) = reply.map_err(|e| self.lost(e))? {
                bail!("GET failed: {e}");
            }
            rec.record(t.elapsed());
            left -= n as u64;
            self.done.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok((rec, start.elapsed()))
    }
}

/// TLS: the same load through the redis crate's pipelines (slower; said in the output).
async fn crate_load(server: &Server, key: &str, load: &Load) -> Result<(Recorder, Duration)> {
    let mut pipe = redis::pipe();
    for _ in 0..load.pipeline {
        pipe.cmd("GET").arg(key);
    }
    let pipe = &pipe;
    let per_client = load.requests.div_ceil(load.clients as u64);
    let rounds = per_client.div_ceil(load.pipeline as u64);
    let barrier = &tokio::sync::Barrier::new(load.clients);
    let runs = run_together(load.clients, |_| async move {
        let mut conn = server.connection().await?;
        barrier.wait().await;
        let start = Instant::now();
        let mut rec = Recorder::new(load.pipeline as u32, 1)?;
        for _ in 0..rounds {
            if load.cancel.is_cancelled() {
                return Err(interrupted());
            }
            let t = Instant::now();
            let r: Result<Vec<Option<Vec<u8>>>, RedisError> = pipe.query_async(&mut conn).await;
            r.map_err(|e| command_error(e, &load.display))?;
            rec.record(t.elapsed());
            load.done.fetch_add(load.pipeline as u64, Ordering::Relaxed);
        }
        Ok(ClientRun::new(rec, rounds * load.pipeline as u64, start))
    })
    .await?;
    let (rec, _, wall) = ClientRun::merge(runs, Recorder::new(load.pipeline as u32, 1)?);
    Ok((rec, wall))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        let l = Load {
            targets: Vec::new(),
            pipeline: 4,
            clients: 3,
            requests: 10,
            done: Arc::new(AtomicU64::new(0)),
            cancel: Cancel::default(),
            display: "127.0.0.1:1".into(),
        };
        let shares: Vec<u64> = (0..3).map(|ci| l.share(ci)).collect();
        assert_eq!(shares, [4, 3, 3]);
    }
}
