//! Starting the managed cluster with nothing but the servers themselves (no redis-cli): each
//! node is started cluster-enabled, the masters claim a third of the slots each
//! (`CLUSTER ADDSLOTSRANGE`, or `ADDSLOTS` before 7.0), meet one another (`CLUSTER MEET`),
//! replicas follow their master (`CLUSTER REPLICATE`), and the start returns only once every
//! node says `cluster_state:ok` and every replica's link to its master is up.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use redis::{Cmd, Value};

use super::{
    MASTERS, ManagedCluster, conf_path, forget, load, log_path, node_dir, parse_nodes,
    password_path, pid_path, ping, query, recorded, stop_node,
};
use crate::redis::binaries::{Binaries, none_found};
use crate::redis::managed::{quote, random_hex, spawn_daemon, write_private};

/// Slots in a Redis Cluster.
const SLOTS: usize = 16384;
/// How long a node may take to answer its first PING.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// How long the nodes may take to find each other and agree the cluster is whole.
const JOIN_WITHIN: Duration = Duration::from_secs(30);

/// Starts `MASTERS × (1 + replicas)` nodes and joins them. On any failure, every node started
/// is stopped and its files removed, and the error names what did not come up.
pub(super) async fn start(
    dir: &Path,
    binaries: &Binaries,
    replicas: usize,
) -> Result<ManagedCluster> {
    let binary = binaries.server().with_context(|| none_found(binaries))?;
    let _ = fs::remove_dir_all(failed_logs(dir));
    let ports = free_ports(MASTERS * (1 + replicas))?;
    let password = random_hex(16);
    write_private(&password_path(dir), &password)?;
    let joined = async {
        for &port in &ports {
            launch(&binary, dir, port, &password).await?;
        }
        join(dir, &ports, &password).await?;
        load(dir)
            .await?
            .context("the managed cluster stopped right after it started")
    };
    match joined.await {
        Ok(c) => Ok(c),
        Err(e) => {
            let started = recorded(dir);
            let _ = fs::create_dir_all(failed_logs(dir));
            for (port, pid, node) in &started {
                let _ = stop_node(*port, *pid, &password).await;
                let _ = fs::rename(log_path(node), failed_log(dir, *port));
            }
            forget(dir, &started);
            Err(e)
        }
    }
}

/// Where the logs of a start that failed are kept (the nodes' own folders are removed).
fn failed_logs(dir: &Path) -> PathBuf {
    dir.join("failed-start")
}
fn failed_log(dir: &Path, port: u16) -> PathBuf {
    failed_logs(dir).join(format!("node-{port}.log"))
}

/// Ports for the nodes whose cluster bus port (port + 10000) is free as well; all held open
/// until every one is chosen, so no two nodes get the same.
fn free_ports(n: usize) -> Result<Vec<u16>> {
    let mut held = Vec::new();
    for _ in 0..n * 50 {
        if held.len() == n {
            break;
        }
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").context("could not find a free port")?;
        let port = listener
            .local_addr()
            .context("could not read the chosen port")?
            .port();
        let Some(bus) = port.checked_add(10000) else {
            continue;
        };
        if let Ok(bus_listener) = std::net::TcpListener::bind(("127.0.0.1", bus)) {
            held.push((port, listener, bus_listener));
        }
    }
    anyhow::ensure!(
        held.len() == n,
        "could not find {n} free ports with free cluster bus ports"
    );
    Ok(held.into_iter().map(|(p, _, _)| p).collect())
}

/// Writes one node's config (owner-only: it holds the password) and starts it.
async fn launch(binary: &Path, dir: &Path, port: u16, password: &str) -> Result<()> {
    let node = node_dir(dir, port);
    fs::create_dir_all(&node).with_context(|| format!("could not create {}", node.display()))?;
    let conf = format!(
        "# Written by redislab: one node of a private, throwaway cluster. Nothing is saved to disk.\n\
         port {port}\nbind 127.0.0.1\nprotected-mode yes\nsave \"\"\nappendonly no\n\
         daemonize yes\npidfile {pid}\nlogfile {log}\ndir {dir}\n\
         cluster-enabled yes\ncluster-config-file nodes.conf\ncluster-node-timeout 5000\n\
         repl-diskless-sync yes\nrepl-diskless-sync-delay 0\n\
         requirepass {password}\nmasterauth {password}\n",
        pid = quote(&pid_path(&node)),
        log = quote(&log_path(&node)),
        dir = quote(&node),
    );
    write_private(&conf_path(&node), &conf)?;
    fs::write(node.join("redis.port"), port.to_string())
        .with_context(|| format!("could not record the port in {}", node.display()))?;
    spawn_daemon(binary, &conf_path(&node)).await
}

/// Waits until `problem` finds nothing wrong; past `within`, fails with the last problem.
async fn wait_until(
    within: Duration,
    mut problem: impl AsyncFnMut() -> Option<String>,
) -> Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let Some(p) = problem().await else {
            return Ok(());
        };
        if Instant::now() > deadline {
            bail!("{p} within {} s", within.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What went wrong with a node, and where its log will be once the failed start is cleaned up.
fn node_said(dir: &Path, port: u16, what: &str) -> String {
    format!(
        "the managed cluster's node 127.0.0.1:{port} {what} (log: {})",
        failed_log(dir, port).display()
    )
}

async fn join(dir: &Path, ports: &[u16], password: &str) -> Result<()> {
    wait_until(ANSWER_WITHIN, async || {
        for &p in ports {
            if !ping(p, password).await {
                return Some(node_said(dir, p, "did not answer"));
            }
        }
        None
    })
    .await?;
    let (masters, replicas) = ports.split_at(MASTERS);
    let send = async |port: u16, cmd: &Cmd| -> Result<Value> {
        let reply: Value = query(port, password, cmd)
            .await
            .map_err(|e| anyhow!(node_said(dir, port, &format!("refused {}: {e}", name(cmd)))))?;
        Ok(reply)
    };
    for (i, &port) in masters.iter().enumerate() {
        // Distinct epochs up front, as redis-cli does, so the nodes need not settle a tie.
        let _ = query::<Value>(
            port,
            password,
            &cluster(&["SET-CONFIG-EPOCH", &(i + 1).to_string()]),
        )
        .await;
        let (lo, hi) = (i * SLOTS / MASTERS, (i + 1) * SLOTS / MASTERS - 1);
        let range = cluster(&["ADDSLOTSRANGE", &lo.to_string(), &hi.to_string()]);
        if query::<Value>(port, password, &range).await.is_err() {
            // Before Redis 7.0: every slot by name.
            let mut each = cluster(&["ADDSLOTS"]);
            each.arg((lo..=hi).collect::<Vec<_>>());
            send(port, &each).await?;
        }
    }
    for &port in &ports[1..] {
        send(
            ports[0],
            &cluster(&["MEET", "127.0.0.1", &port.to_string()]),
        )
        .await?;
    }
    for (k, &replica) in replicas.iter().enumerate() {
        let master = masters[k % MASTERS];
        let id: String = query(master, password, &cluster(&["MYID"]))
            .await
            .map_err(|e| anyhow!(node_said(dir, master, &format!("did not give its id: {e}"))))?;
        // The replica must have heard of its master through the others before it can follow it.
        wait_until(JOIN_WITHIN, async || {
            match query::<Value>(replica, password, &cluster(&["REPLICATE", &id])).await {
                Ok(_) => None,
                Err(e) => Some(node_said(
                    dir,
                    replica,
                    &format!("could not follow 127.0.0.1:{master} ({e})"),
                )),
            }
        })
        .await?;
    }
    wait_until(JOIN_WITHIN, async || {
        settled(dir, ports, replicas, password).await
    })
    .await
}

/// What still keeps the cluster from serving, if anything: a node not yet `cluster_state:ok`,
/// one that does not see every other node settled in its role (every replica with the master
/// it follows), or a replica whose link to its master is down.
async fn settled(dir: &Path, ports: &[u16], replicas: &[u16], password: &str) -> Option<String> {
    for &p in ports {
        let info = query::<String>(p, password, &cluster(&["INFO"]))
            .await
            .unwrap_or_default();
        if !info.lines().any(|l| l.trim() == "cluster_state:ok") {
            return Some(node_said(dir, p, "did not reach cluster_state:ok"));
        }
        let nodes = query::<String>(p, password, &cluster(&["NODES"]))
            .await
            .unwrap_or_default();
        let lines = parse_nodes(&nodes);
        // Exactly the masters serve slots, and every other node is already known as a replica.
        let masters = lines.iter().filter(|l| l.master).count();
        let serving = lines.iter().all(|l| l.master != l.slots.is_empty());
        // A replica counts once this node knows which master it follows.
        let following = lines.iter().filter(|l| !l.master).all(|l| {
            l.master_id
                .as_deref()
                .is_some_and(|id| lines.iter().any(|m| m.master && m.id == id))
        });
        if lines.len() != ports.len()
            || masters != MASTERS
            || !serving
            || !following
            || lines.iter().any(|l| l.unsettled)
        {
            return Some(node_said(
                dir,
                p,
                "did not see every node of the cluster in its place",
            ));
        }
    }
    for &r in replicas {
        let mut info = redis::cmd("INFO");
        info.arg("replication");
        let text = query::<String>(r, password, &info)
            .await
            .unwrap_or_default();
        if !text.lines().any(|l| l.trim() == "master_link_status:up") {
            return Some(node_said(
                dir,
                r,
                "did not get its master's data (master_link_status is not up)",
            ));
        }
    }
    None
}

fn cluster(args: &[&str]) -> Cmd {
    let mut c = redis::cmd("CLUSTER");
    for a in args {
        c.arg(*a);
    }
    c
}

/// `CLUSTER MEET`, for an error message.
fn name(cmd: &Cmd) -> String {
    cmd.args_iter()
        .take(2)
        .filter_map(|a| match a {
            redis::Arg::Simple(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ")
}
