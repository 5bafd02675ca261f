//! A private three-master Redis Cluster for the tests: three cluster-enabled redis-servers on
//! free ports, joined with `redis-cli --cluster create`, killed on drop. Keys live on the master
//! that owns their hash slot, so seeding and fingerprints go through every master.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{FOREIGN_KEYS, NS, TestRedis, redislab_bare, require_on_path, stdout};

/// Three masters, no replicas: every slot has exactly one home.
pub struct TestCluster {
    nodes: Vec<TestRedis>,
    _dir: tempfile::TempDir,
}

impl TestCluster {
    /// Starts three cluster-enabled servers, creates the cluster and waits until every node
    /// reports `cluster_state:ok`.
    pub fn start() -> TestCluster {
        require_on_path("redis-server");
        require_on_path("redis-cli");
        let dir = tempfile::tempdir().expect("a temporary directory for the cluster's files");
        let nodes: Vec<TestRedis> = (0..3)
            .map(|i| {
                let conf = dir.path().join(format!("nodes-{i}.conf"));
                let conf = conf.to_str().expect("temporary path is UTF-8").to_string();
                TestRedis::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &conf,
                    "--cluster-node-timeout",
                    "5000",
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes.iter().map(TestRedis::addr).collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}",
            stdout(&out)
        );
        let cluster = TestCluster { nodes, _dir: dir };
        cluster.wait_until_ok(Duration::from_secs(20));
        cluster
    }

    fn wait_until_ok(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let ok = self.nodes.iter().all(|n| {
                n.cli_raw(&["CLUSTER", "INFO"])
                    .lines()
                    .any(|l| l.trim() == "cluster_state:ok")
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the test cluster did not reach cluster_state:ok in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn nodes(&self) -> &[TestRedis] {
        &self.nodes
    }

    /// The URL redislab is given: one node's, as a user would paste it.
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// `redislab --redis-url <first node> --home <home>`, like `TestRedis::redislab`.
    pub fn redislab(&self, home: &Path) -> Command {
        let mut cmd = redislab_bare(home);
        cmd.arg("--redis-url").arg(self.url());
        cmd
    }

    /// One command through `redis-cli -c` (following MOVED), `--raw`.
    pub fn cli_raw(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-c", "-p", &self.nodes[0].port().to_string(), "--raw"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli -c");
        assert!(
            out.status.success(),
            "redis-cli -c {args:?} failed: {out:?}"
        );
        stdout(&out)
    }

    /// The node that holds `key`: the one that answers for it instead of redirecting.
    pub fn node_of(&self, key: &str) -> &TestRedis {
        self.nodes
            .iter()
            .find(|n| {
                let out = Command::new("redis-cli")
                    .args(["-p", &n.port().to_string(), "--raw", "TYPE", key])
                    .stdin(Stdio::null())
                    .output()
                    .expect("run redis-cli");
                let text = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
                !text.contains("MOVED")
            })
            .expect("some node owns every slot")
    }

    /// Every key on every master, sorted.
    pub fn all_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.nodes.iter().flat_map(TestRedis::all_keys).collect();
        keys.sort();
        keys
    }

    /// Keys under `<namespace>:` on every master, sorted.
    pub fn keys_in(&self, namespace: &str) -> Vec<String> {
        let prefix = format!("{namespace}:");
        self.all_keys()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .collect()
    }

    /// The usual foreign keys (each on the master its slot names), and one more string on every
    /// master that got none of them, so every node has something to protect.
    pub fn seed_foreign_keys(&self) {
        let seed = |key: &str, args: &[&str]| {
            let mut full = args.to_vec();
            full.insert(1, key);
            let reply = self.cli_raw(&full);
            assert!(!reply.contains("ERR"), "seeding {key}: {reply}");
        };
        seed(FOREIGN_KEYS[0], &["SET", "keep me", "EX", "100000"]);
        seed(FOREIGN_KEYS[1], &["RPUSH", "a", "b", "c"]);
        seed(FOREIGN_KEYS[2], &["HSET", "f1", "v1", "f2", "v2"]);
        seed(FOREIGN_KEYS[3], &["SADD", "x", "y", "z"]);
        seed(FOREIGN_KEYS[4], &["ZADD", "1", "one", "2.5", "two"]);
        seed(FOREIGN_KEYS[5], &["XADD", "1-1", "f", "v"]);
        seed(FOREIGN_KEYS[5], &["XADD", "2-1", "g", "w"]);
        self.cli_raw(&["XGROUP", "CREATE", FOREIGN_KEYS[5], "grp", "0"]);
        for i in 0..64 {
            if self.nodes.iter().all(|n| !n.all_keys().is_empty()) {
                break;
            }
            let key = format!("foreign:extra:{i}");
            if self.node_of(&key).all_keys().is_empty() {
                seed(&key, &["SET", "keep me too"]);
            }
        }
        for n in &self.nodes {
            assert!(
                !n.all_keys().is_empty(),
                "no foreign key landed on {}",
                n.addr()
            );
        }
    }

    /// Every key outside `lab:` on every master, described as `TestRedis::describe_key` does
    /// (each by the node that holds it), tagged with that node.
    pub fn foreign_fingerprint(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("-- {}\n{}", n.addr(), n.fingerprint_outside(NS)))
            .collect()
    }
}

/// A temporary redislab home for the managed cluster: `redislab --home <it>` with no URL, and on
/// drop `server stop --cluster`, then SIGKILL to any node still recorded.
pub struct ManagedClusterHome {
    home: super::ManagedHome,
}

impl ManagedClusterHome {
    pub fn new() -> ManagedClusterHome {
        ManagedClusterHome {
            home: super::ManagedHome::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.home.path()
    }

    /// `redislab --home <this>`, resolving Redis by itself.
    pub fn redislab(&self) -> Command {
        self.home.redislab()
    }

    /// `redislab --home <this> --managed --cluster --namespace <ns>`.
    pub fn managed(&self, namespace: &str) -> Command {
        let mut cmd = self.redislab();
        cmd.args(["--managed", "--cluster", "--namespace", namespace]);
        cmd
    }

    /// The admin password, from its owner-only file.
    pub fn password(&self) -> String {
        std::fs::read_to_string(self.path().join("cluster/redis.password"))
            .expect("the managed cluster's password file")
            .trim()
            .to_string()
    }

    /// `(port, pid)` of every recorded node (`cluster/node-<port>/`), by port.
    pub fn nodes(&self) -> Vec<(u16, Option<u32>)> {
        let Ok(entries) = std::fs::read_dir(self.path().join("cluster")) else {
            return Vec::new();
        };
        let mut out: Vec<(u16, Option<u32>)> = entries
            .filter_map(|e| {
                let path = e.ok()?.path();
                let port = path
                    .file_name()?
                    .to_str()?
                    .strip_prefix("node-")?
                    .parse()
                    .ok()?;
                let pid = std::fs::read_to_string(path.join("redis.pid"))
                    .ok()
                    .and_then(|p| p.trim().parse().ok());
                Some((port, pid))
            })
            .collect();
        out.sort();
        out
    }

    /// redis-cli on one node as the admin, or as `user` with the same password, `--raw`.
    pub fn cli(&self, port: u16, user: Option<&str>, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &port.to_string()]);
        if let Some(u) = user {
            cmd.args(["--user", u]);
        }
        let out = cmd
            .args(["--pass", &self.password(), "--no-auth-warning", "--raw"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli");
        format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr))
    }

    /// The ports of the masters, as the first node's `CLUSTER NODES` says.
    pub fn master_ports(&self) -> Vec<u16> {
        let first = self.nodes().first().expect("a recorded node").0;
        let mut ports: Vec<u16> = self
            .cli(first, None, &["CLUSTER", "NODES"])
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(2)
                    .is_some_and(|f| f.contains("master"))
            })
            .filter_map(|l| {
                l.split_whitespace()
                    .nth(1)?
                    .split('@')
                    .next()?
                    .rsplit_once(':')?
                    .1
                    .parse()
                    .ok()
            })
            .collect();
        ports.sort();
        ports
    }

    /// Keys under `<namespace>:` on one node (SCAN, as the admin).
    pub fn keys_on(&self, port: u16, namespace: &str) -> Vec<String> {
        let pattern = format!("{namespace}:*");
        let mut keys: Vec<String> = self
            .cli(port, None, &["--scan", "--pattern", &pattern])
            .lines()
            .map(str::to_string)
            .filter(|k| !k.is_empty())
            .collect();
        keys.sort();
        keys
    }
}

impl Default for ManagedClusterHome {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ManagedClusterHome {
    fn drop(&mut self) {
        let nodes = self.nodes();
        let stopped = self
            .redislab()
            .args(["server", "stop", "--cluster"])
            .output()
            .is_ok_and(|o| o.status.success());
        // If redislab could not stop it (e.g. a broken build), kill every node by its pid.
        for (_, pid) in nodes.into_iter().filter(|_| !stopped) {
            if let Some(pid) = pid {
                let _ = Command::new("kill")
                    .args(["-9", &pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}
