//! redislab's own Redis Cluster on loopback, for learning what changes when keys are spread
//! over several masters. Like the single managed server it keeps no data on disk, shares one
//! admin password between its nodes, fences each namespace with an ACL user (on every node) and
//! is found again under `<home>/cluster/` by every later command. Starting and joining the
//! nodes lives in `start`.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod start;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, RedisResult, Value};

use crate::redis::conn::Opener;
use crate::redis::managed::{self, is_server_process, read_trimmed};

/// Masters a managed cluster has: the fewest Redis Cluster accepts for failover votes.
pub const MASTERS: usize = 3;
/// Replicas per master `server start --cluster --replicas N` accepts.
pub const MAX_REPLICAS: u8 = 2;

/// The running managed cluster: its nodes, masters first (each by port), then replicas.
#[derive(Debug, Clone)]
pub struct ManagedCluster {
    pub dir: PathBuf,
    pub nodes: Vec<Node>,
    password: String,
}

/// One node of the managed cluster, as its files and `CLUSTER NODES` describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub port: u16,
    pub pid: Option<u32>,
    pub dir: PathBuf,
    pub role: Role,
    /// Slot ranges it serves, as `CLUSTER NODES` lists them (`0-5460`).
    pub slots: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Master,
    /// A replica of the master on this port (`None` while it has none).
    Replica(Option<u16>),
}

impl Node {
    pub fn log_path(&self) -> PathBuf {
        log_path(&self.dir)
    }
}

impl ManagedCluster {
    pub fn masters(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.role == Role::Master)
    }

    /// The node redislab names the cluster by: its first master.
    pub fn first_port(&self) -> u16 {
        self.masters().next().map(|n| n.port).unwrap_or_default()
    }

    /// `redis://[user]:password@127.0.0.1:port` for every master (`user` none: the admin).
    fn urls(&self, user: Option<&str>) -> Vec<String> {
        self.masters()
            .map(|n| node_url(user, &self.password, n.port))
            .collect()
    }
}

pub fn dir(home: &Path) -> PathBuf {
    home.join("cluster")
}

fn password_path(dir: &Path) -> PathBuf {
    dir.join("redis.password")
}
fn node_dir(dir: &Path, port: u16) -> PathBuf {
    dir.join(format!("node-{port}"))
}
fn conf_path(node: &Path) -> PathBuf {
    node.join("redis.conf")
}
fn pid_path(node: &Path) -> PathBuf {
    node.join("redis.pid")
}
fn log_path(node: &Path) -> PathBuf {
    node.join("redis.log")
}

fn node_url(user: Option<&str>, password: &str, port: u16) -> String {
    format!("redis://{}:{password}@127.0.0.1:{port}", user.unwrap_or(""))
}

/// The recorded nodes: `(port, pid, dir)` of every `node-<port>/` folder.
fn recorded(dir: &Path) -> Vec<(u16, Option<u32>, PathBuf)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(u16, Option<u32>, PathBuf)> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let port = path
                .file_name()?
                .to_str()?
                .strip_prefix("node-")?
                .parse()
                .ok()?;
            let pid = read_trimmed(&pid_path(&path)).and_then(|p| p.parse().ok());
            Some((port, pid, path))
        })
        .collect();
    out.sort();
    out
}

/// Reads the recorded cluster and checks that every node answers. `Ok(None)`: not running
/// (the files of a cluster that died are removed). A cluster with some nodes still running and
/// others gone, or that no longer accepts redislab's password, is an error naming the node:
/// starting a second cluster beside it would orphan the first.
pub async fn status(home: &Path) -> Result<Option<ManagedCluster>> {
    load(&dir(home)).await
}

async fn load(dir: &Path) -> Result<Option<ManagedCluster>> {
    let recorded = recorded(dir);
    if recorded.is_empty() {
        return Ok(None);
    }
    keep_private(dir, &recorded);
    let password = read_trimmed(&password_path(dir)).unwrap_or_default();
    let mut down = Vec::new();
    for (port, pid, path) in &recorded {
        if !ping(*port, &password).await {
            down.push((*port, *pid, path.clone()));
        }
    }
    if down.is_empty() {
        let nodes = describe(&recorded, &password).await?;
        return Ok(Some(ManagedCluster {
            dir: dir.to_path_buf(),
            nodes,
            password,
        }));
    }
    let alive = |pid: &Option<u32>| pid.is_some_and(is_server_process);
    if !recorded.iter().any(|(_, pid, _)| alive(pid)) {
        // Every node died (or the machine rebooted): forget the cluster.
        forget(dir, &recorded);
        return Ok(None);
    }
    let (port, pid, path) = &down[0];
    let why = if alive(pid) {
        "runs but does not accept redislab's password (its configuration was changed)"
    } else {
        "is not running"
    };
    bail!(
        "the managed cluster is broken: node 127.0.0.1:{port} {why} (log: {}); \
         stop it with `redislab server stop --cluster` and start it again",
        log_path(path).display()
    )
}

/// The nodes' roles and slots from `CLUSTER NODES` (asked of the first node that answers),
/// masters first.
async fn describe(recorded: &[(u16, Option<u32>, PathBuf)], password: &str) -> Result<Vec<Node>> {
    let mut text = None;
    for (port, _, _) in recorded {
        if let Ok(t) = query::<String>(*port, password, &cluster_nodes()).await {
            text = Some(t);
            break;
        }
    }
    let lines =
        parse_nodes(&text.context("no node of the managed cluster answered CLUSTER NODES")?);
    let port_of = |id: &str| lines.iter().find(|l| l.id == id).map(|l| l.port);
    let mut nodes: Vec<Node> = recorded
        .iter()
        .map(|(port, pid, dir)| {
            let line = lines.iter().find(|l| l.port == *port);
            Node {
                port: *port,
                pid: *pid,
                dir: dir.clone(),
                role: match line {
                    Some(l) if !l.master => Role::Replica(l.master_id.as_deref().and_then(port_of)),
                    _ => Role::Master,
                },
                slots: line.map(|l| l.slots.clone()).unwrap_or_default(),
            }
        })
        .collect();
    nodes.sort_by_key(|n| (n.role != Role::Master, n.port));
    Ok(nodes)
}

fn cluster_nodes() -> Cmd {
    let mut c = redis::cmd("CLUSTER");
    c.arg("NODES");
    c
}

/// One line of `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NodeLine {
    pub id: String,
    pub port: u16,
    pub master: bool,
    pub master_id: Option<String>,
    /// `handshake`, `noaddr`, `fail` or `fail?`: not a settled member yet (or any more).
    pub unsettled: bool,
    pub slots: Vec<String>,
}

/// `CLUSTER NODES`: `<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slots>...`;
/// slots being moved (`[slot->-id]`) are left out.
pub(crate) fn parse_nodes(text: &str) -> Vec<NodeLine> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let addr = f.get(1)?.split(['@', ',']).next()?;
            let port = addr.rsplit_once(':')?.1.parse().ok()?;
            let flags: Vec<&str> = f.get(2)?.split(',').collect();
            Some(NodeLine {
                id: f.first()?.to_string(),
                port,
                master: flags.contains(&"master"),
                master_id: f.get(3).filter(|m| **m != "-").map(|m| m.to_string()),
                unsettled: flags
                    .iter()
                    .any(|x| matches!(*x, "handshake" | "noaddr" | "fail" | "fail?")),
                slots: f
                    .iter()
                    .skip(8)
                    .filter(|s| !s.starts_with('['))
                    .map(|s| s.to_string())
                    .collect(),
            })
        })
        .collect()
}

/// Puts the password file and every node's config back to owner-only (they hold the password).
fn keep_private(dir: &Path, recorded: &[(u16, Option<u32>, PathBuf)]) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let files = recorded.iter().map(|(_, _, d)| conf_path(d));
        for path in std::iter::once(password_path(dir)).chain(files) {
            if let Ok(meta) = fs::metadata(&path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
                }
            }
        }
    }
}

/// Removes the recorded state: every node's folder and the password file.
fn forget(dir: &Path, recorded: &[(u16, Option<u32>, PathBuf)]) {
    for (_, _, path) in recorded {
        let _ = fs::remove_dir_all(path);
    }
    let _ = fs::remove_file(password_path(dir));
}

/// The running managed cluster, started (with `replicas` per master) if needed; `true` when
/// this call started it.
pub async fn ensure_running(home: &Path, replicas: u8) -> Result<(ManagedCluster, bool)> {
    ensure_running_with(home, &crate::redis::binaries::Binaries::new(home), replicas).await
}

/// The same, with its nodes' program found by `binaries` (a throwaway cluster in a temporary
/// folder still runs the server of redislab's own home).
pub async fn ensure_running_with(
    home: &Path,
    binaries: &crate::redis::binaries::Binaries,
    replicas: u8,
) -> Result<(ManagedCluster, bool)> {
    let dir = dir(home);
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    // One starter at a time: two commands launched together must not start two clusters.
    let lock = fs::File::create(dir.join("start.lock"))
        .with_context(|| format!("could not create a lock file in {}", dir.display()))?;
    lock.lock()
        .context("could not lock the managed cluster's directory")?;
    let result = match load(&dir).await {
        Ok(Some(c)) => Ok((c, false)),
        Ok(None) => start::start(&dir, binaries, usize::from(replicas.min(MAX_REPLICAS)))
            .await
            .map(|c| (c, true)),
        Err(e) => Err(e),
    };
    let _ = lock.unlock();
    result
}

/// Stops every node (replicas first, so no master waits for one to catch up) and removes the
/// state. `Ok(false)` if nothing was running.
pub async fn stop(home: &Path) -> Result<bool> {
    let dir = dir(home);
    let recorded = recorded(&dir);
    let password = read_trimmed(&password_path(&dir)).unwrap_or_default();
    let running = recorded
        .iter()
        .any(|(_, pid, _)| pid.is_some_and(is_server_process));
    let order: Vec<u16> = match describe(&recorded, &password).await {
        Ok(nodes) => nodes.iter().rev().map(|n| n.port).collect(),
        Err(_) => recorded.iter().map(|(p, _, _)| *p).collect(),
    };
    for port in order {
        if let Some((_, pid, _)) = recorded.iter().find(|(p, _, _)| *p == port) {
            stop_node(port, *pid, &password).await?;
        }
    }
    forget(&dir, &recorded);
    Ok(running)
}

/// SHUTDOWN NOSAVE with the password; if the node is still there after that (it no longer
/// takes the password, or hangs), SIGTERM to its pid, then SIGKILL.
async fn stop_node(port: u16, pid: Option<u32>, password: &str) -> Result<()> {
    if let Ok(mut conn) = node_conn(port, password).await {
        // NOW (7.0+) skips waiting for replicas; an older server refuses it and gets the plain form.
        let now: RedisResult<Value> = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .arg("NOW")
            .query_async(&mut conn)
            .await;
        if matches!(now, Ok(Value::ServerError(_))) || now.is_err_and(|e| !e.is_io_error()) {
            let _: RedisResult<Value> = redis::cmd("SHUTDOWN")
                .arg("NOSAVE")
                .query_async(&mut conn)
                .await;
        }
    }
    let gone = async |limit: Duration| {
        let deadline = Instant::now() + limit;
        loop {
            let alive = pid.is_some_and(is_server_process) || ping(port, password).await;
            if !alive {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    if gone(Duration::from_secs(10)).await {
        return Ok(());
    }
    let pid = pid
        .filter(|p| is_server_process(*p))
        .with_context(|| format!("the managed cluster's node on port {port} did not stop"))?;
    for signal in ["-TERM", "-KILL"] {
        let _ = tokio::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .await;
        if gone(Duration::from_secs(5)).await {
            return Ok(());
        }
    }
    bail!("the managed cluster's node on port {port} (pid {pid}) did not stop")
}

/// Creates (or refreshes) the namespace's learner ACL user on every node: ACL users are not
/// shared by a cluster, and a replica promoted by a failover must know the learner too.
async fn ensure_learner(c: &ManagedCluster, namespace: &str) -> Result<()> {
    for n in &c.nodes {
        let on = || format!("on the managed cluster's node 127.0.0.1:{}", n.port);
        let mut conn = node_conn(n.port, &c.password)
            .await
            .with_context(|| format!("could not connect {}", on()))?;
        let setuser = managed::learner_acl(&mut conn, &c.password, namespace).await?;
        let _: () = setuser
            .query_async(&mut conn)
            .await
            .with_context(|| format!("could not create the learner's ACL user {}", on()))?;
    }
    Ok(())
}

/// What connecting to the managed cluster takes (`connect::managed_cluster_server` connects):
/// the admin's client and every master's admin URL, and the namespace's learner user, created on
/// every node if it is missing.
pub(in crate::redis) struct Access {
    pub admin: Client,
    pub admin_urls: Vec<String>,
    pub display: String,
    pub learner: Opener,
}

/// The admin's and the learner's ways in, for `namespace`: the same rights as on the single
/// managed server.
pub(in crate::redis) async fn access(c: &ManagedCluster, namespace: &str) -> Result<Access> {
    ensure_learner(c, namespace).await?;
    let first = c.first_port();
    let display = format!("127.0.0.1:{first}");
    let admin = Client::open(node_url(None, &c.password, first))
        .context("could not build the managed cluster's address")?;
    let user = managed::learner_user(namespace);
    let learner = Opener {
        client: Client::open(node_url(Some(&user), &c.password, first))
            .context("could not build the learner's address")?,
        cluster: Some(
            crate::redis::cluster::Nodes::new(c.urls(Some(&user)))
                .context("could not build the learner's cluster client")?,
        ),
        display: display.clone(),
    };
    Ok(Access {
        admin,
        admin_urls: c.urls(None),
        display,
        learner,
    })
}

/// A connection to one node as admin, quick to give up: a missing node is the common failure.
async fn node_conn(port: u16, password: &str) -> RedisResult<MultiplexedConnection> {
    let client = Client::open(node_url(None, password, port))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(500)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn query<T: redis::FromRedisValue>(port: u16, password: &str, cmd: &Cmd) -> RedisResult<T> {
    let mut conn = node_conn(port, password).await?;
    cmd.query_async(&mut conn).await
}

async fn ping(port: u16, password: &str) -> bool {
    matches!(
        query::<String>(port, password, &redis::cmd("PING"))
            .await
            .as_deref(),
        Ok("PONG")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_nodes_lines_give_roles_and_slots() {
        let text = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460\n\
                    b2 127.0.0.1:7001@17001,host master - 0 1 2 connected 5461-10922 [5461->-a1]\n\
                    c3 127.0.0.1:7003@17003 slave a1 0 1 1 connected\n\
                    d4 127.0.0.1:7004@17004 handshake - 0 0 0 connected\n";
        let lines = parse_nodes(text);
        assert_eq!(lines.len(), 4);
        assert!(lines[0].master && !lines[0].unsettled);
        assert_eq!(lines[0].slots, vec!["0-5460"]);
        assert_eq!(lines[1].port, 7001);
        assert_eq!(lines[1].slots, vec!["5461-10922"]);
        assert!(!lines[2].master);
        assert_eq!(lines[2].master_id.as_deref(), Some("a1"));
        assert!(lines[3].unsettled);
    }
}
