//! Shared helpers for redislab's integration tests: private redis-servers on free ports (never
//! 6379), a `redislab` command builder that can never stumble onto a real local Redis,
//! redis-cli as the reference, and fingerprints of keys outside the namespace.
//!
//! Every test binary includes this with `mod common;` and uses a different subset of it.
// Test fixtures reach the servers directly, to set up and to check what redislab did.
#![allow(clippy::disallowed_methods)]
#![allow(dead_code)]
pub mod cluster;
pub mod reader;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An address where nothing listens: what tests give `REDISLAB_LOCAL_ADDR`, so the localhost
/// probe never finds the developer's own Redis on 6379.
pub const DEAD_LOCAL_ADDR: &str = "127.0.0.1:1";

/// The namespace redislab uses by default.
pub const NS: &str = "lab";

/// Keys `seed_foreign_keys` creates, all outside the namespace.
pub const FOREIGN_KEYS: &[&str] = &[
    "foreign:string",
    "foreign:list",
    "foreign:hash",
    "foreign:set",
    "foreign:zset",
    "foreign:stream",
];

/// Path to the redislab binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_redislab"))
}

/// A port nothing listens on right now (bind 127.0.0.1:0, read the port, release it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    let port = listener.local_addr().expect("read the chosen port").port();
    drop(listener);
    assert_ne!(port, 6379, "tests must never use port 6379");
    port
}

/// Panics with a clear message when a tool the tests need is missing: tests never skip.
pub fn require_on_path(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not on PATH: the integration tests need a real Redis. \
         Install it with `bash scripts/install-redis.sh` (or `apt-get install -y redis-server`)."
    );
}

/// A `redislab` command with no Redis URL at all: it resolves Redis by itself (a dead localhost
/// address, so only the managed server under `home` can be found). Colour off, and none of the
/// caller's redislab variables leak in.
pub fn redislab_bare(home: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("--home")
        .arg(home)
        .env("REDISLAB_LOCAL_ADDR", DEAD_LOCAL_ADDR)
        .env("NO_COLOR", "1")
        .env_remove("REDIS_URL")
        .env_remove("REDISLAB_NAMESPACE")
        .env_remove("REDISLAB_LESSONS")
        .env_remove("REDISLAB_HOME")
        .env_remove("CLICOLOR_FORCE")
        .stdin(Stdio::null());
    cmd
}

/// Runs a command with `input` on its stdin (a pipe, so never a terminal) and collects output.
pub fn run_with_stdin(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the command");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = input.to_string();
    // Write on another thread: a large input must not deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(input.as_bytes());
    });
    let out = child.wait_with_output().expect("wait for the command");
    writer.join().expect("stdin writer thread");
    out
}

/// Runs a command with no stdin and collects output.
pub fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .expect("run the command (is the binary built?)")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts exit code 0, showing both streams otherwise.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "expected success, got {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

/// Sends one command over plain RESP and returns the first reply line (without CRLF).
fn raw_command(port: u16, password: Option<&str>, args: &[&str]) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut req = Vec::new();
    let mut push = |args: &[&str]| {
        req.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            req.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
    };
    if let Some(pw) = password {
        push(&["AUTH", pw]);
    }
    push(args);
    s.write_all(&req).ok()?;
    let mut text = String::new();
    let mut buf = [0u8; 512];
    let wanted = if password.is_some() { 2 } else { 1 };
    while text.matches("\r\n").count() < wanted {
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    text.split("\r\n").nth(wanted - 1).map(str::to_string)
}

/// Waits until `port` answers PING (up to `timeout`). Returns whether it did.
pub fn wait_for_ping(port: u16, password: Option<&str>, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if raw_command(port, password, &["PING"]).as_deref() == Some("+PONG") {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until nothing accepts connections on `port` (up to `timeout`).
pub fn wait_until_closed(port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_err() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A private redis-server on a free loopback port, with no persistence, killed on drop.
pub struct TestRedis {
    child: Child,
    port: u16,
    password: Option<String>,
}

impl TestRedis {
    /// Starts a fresh server and waits until it answers PING.
    pub fn start() -> TestRedis {
        Self::start_with(&[])
    }

    /// Starts a server requiring `password` (AUTH).
    pub fn start_with_password(password: &str) -> TestRedis {
        let mut s = Self::start_inner(&["--requirepass", password], Some(password));
        s.password = Some(password.to_string());
        s
    }

    /// Starts a server with extra `redis-server` arguments (`--maxmemory 1mb`, ...).
    pub fn start_with(extra: &[&str]) -> TestRedis {
        Self::start_inner(extra, None)
    }

    /// Starts a private Valkey server (`valkey-server`, see `scripts/install-valkey.sh`).
    pub fn start_valkey() -> TestRedis {
        Self::start_binary("valkey-server", &[], None)
    }

    fn start_inner(extra: &[&str], password: Option<&str>) -> TestRedis {
        Self::start_binary("redis-server", extra, password)
    }

    fn start_binary(binary: &str, extra: &[&str], password: Option<&str>) -> TestRedis {
        require_on_path(binary);
        require_on_path("redis-cli");
        // A port can be taken between release and bind: retry a few times.
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(binary)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("{binary} is on PATH but could not be started: {e}"));
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if raw_command(port, password, &["PING"]).as_deref() == Some("+PONG") {
                    return TestRedis {
                        child,
                        port,
                        password: password.map(str::to_string),
                    };
                }
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = format!("{binary} on port {port} exited with {status}");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_err = format!("{binary} on port {port} did not answer PING in 5 s");
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        panic!("could not start a private {binary}: {last_err}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT` (with the password when the server has one).
    pub fn url(&self) -> String {
        match &self.password {
            Some(pw) => format!("redis://:{pw}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// `127.0.0.1:PORT`, for `REDISLAB_LOCAL_ADDR`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redislab --redis-url <this server> --home <home>`, with a dead localhost address,
    /// colour off and none of the caller's redislab variables.
    pub fn redislab(&self, home: &Path) -> Command {
        let mut cmd = redislab_bare(home);
        cmd.arg("--redis-url").arg(self.url());
        cmd
    }

    fn cli_base(&self) -> Command {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &self.port.to_string()]);
        if let Some(pw) = &self.password {
            cmd.args(["-a", pw, "--no-auth-warning"]);
        }
        cmd
    }

    /// One command through `redis-cli --no-raw`, its stdout (formatted as redis-cli shows it).
    pub fn cli(&self, args: &[&str]) -> String {
        let out = self
            .cli_base()
            .arg("--no-raw")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed: {out:?}");
        stdout(&out)
    }

    /// One command through `redis-cli --raw`: bare values, one per line.
    pub fn cli_raw(&self, args: &[&str]) -> String {
        let out = self
            .cli_base()
            .arg("--raw")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli");
        assert!(out.status.success(), "redis-cli {args:?} failed: {out:?}");
        stdout(&out)
    }

    /// Feeds `input` (one command per line) to `redis-cli --no-raw` and returns its stdout:
    /// the reference every rendering test compares with.
    pub fn cli_session(&self, input: &str) -> String {
        let out = run_with_stdin(self.cli_base().arg("--no-raw"), input);
        assert!(out.status.success(), "redis-cli session failed: {out:?}");
        stdout(&out)
    }

    /// Deletes everything (the server is private to the test).
    pub fn flushall(&self) {
        assert_eq!(self.cli(&["FLUSHALL"]).trim(), "OK");
    }

    /// Every key, sorted (SCAN, not KEYS).
    pub fn all_keys(&self) -> Vec<String> {
        let out = self
            .cli_base()
            .args(["--scan", "--pattern", "*"])
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli --scan");
        let mut keys: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Keys under `<namespace>:`, sorted.
    pub fn keys_in(&self, namespace: &str) -> Vec<String> {
        let prefix = format!("{namespace}:");
        self.all_keys()
            .into_iter()
            .filter(|k| k.starts_with(&prefix))
            .collect()
    }

    /// Creates one key of every type outside the namespace (see `FOREIGN_KEYS`); the string
    /// has a TTL, the others have none.
    pub fn seed_foreign_keys(&self) {
        self.cli(&["SET", "foreign:string", "keep me", "EX", "100000"]);
        self.cli(&["RPUSH", "foreign:list", "a", "b", "c"]);
        self.cli(&["HSET", "foreign:hash", "f1", "v1", "f2", "v2"]);
        self.cli(&["SADD", "foreign:set", "x", "y", "z"]);
        self.cli(&["ZADD", "foreign:zset", "1", "one", "2.5", "two"]);
        self.cli(&["XADD", "foreign:stream", "1-1", "f", "v"]);
        self.cli(&["XADD", "foreign:stream", "2-1", "g", "w"]);
        self.cli(&["XGROUP", "CREATE", "foreign:stream", "grp", "0"]);
    }

    /// A comparable description of every key outside `lab:` (type, contents, whether it has a
    /// TTL): equal before and after means nothing outside the namespace was touched, created or
    /// deleted.
    pub fn foreign_fingerprint(&self) -> String {
        self.fingerprint_outside(NS)
    }

    pub fn fingerprint_outside(&self, namespace: &str) -> String {
        let prefix = format!("{namespace}:");
        let mut out = String::new();
        for key in self.all_keys() {
            if key.starts_with(&prefix) {
                continue;
            }
            out.push_str(&self.describe_key(&key));
        }
        out
    }

    /// `key`, its type, contents (members sorted where Redis does not order them) and TTL state.
    pub fn describe_key(&self, key: &str) -> String {
        let key_type = self.cli_raw(&["TYPE", key]).trim().to_string();
        let contents = match key_type.as_str() {
            "string" => self.cli(&["GET", key]),
            "list" => self.cli(&["LRANGE", key, "0", "-1"]),
            "hash" => {
                let mut pairs: Vec<String> = self
                    .cli_raw(&["HGETALL", key])
                    .lines()
                    .collect::<Vec<_>>()
                    .chunks(2)
                    .map(|c| c.join("="))
                    .collect();
                pairs.sort();
                pairs.join("\n")
            }
            "set" => self.cli(&["SORT", key, "ALPHA"]),
            "zset" => self.cli(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
            "stream" => format!(
                "{}{}",
                self.cli(&["XRANGE", key, "-", "+"]),
                self.cli(&["XINFO", "GROUPS", key])
            ),
            other => format!("(unexpected type {other})"),
        };
        let ttl: i64 = self.cli_raw(&["PTTL", key]).trim().parse().unwrap_or(-3);
        let ttl = if ttl >= 0 { "has TTL" } else { "no TTL" };
        format!("== {key} [{key_type}, {ttl}]\n{contents}\n")
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A redislab home in a temporary directory whose managed redis-server (if one got started)
/// is stopped on drop, even when the test panics.
pub struct ManagedHome {
    dir: tempfile::TempDir,
}

impl ManagedHome {
    pub fn new() -> ManagedHome {
        require_on_path("redis-server");
        ManagedHome {
            dir: tempfile::tempdir().expect("create a temporary redislab home"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `redislab --home <this>` with no URL and a dead localhost address: it uses (and starts
    /// if needed) the managed server.
    pub fn redislab(&self) -> Command {
        redislab_bare(self.path())
    }

    /// The managed server's recorded port, if one is recorded.
    pub fn port(&self) -> Option<u16> {
        std::fs::read_to_string(self.path().join("server/redis.port"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    /// The managed server's recorded pid, if one is recorded.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.path().join("server/redis.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    }

    /// The managed server's admin password (from its redis.conf).
    pub fn password(&self) -> Option<String> {
        std::fs::read_to_string(self.path().join("server/redis.conf"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("requirepass "))
            .map(|p| p.trim().to_string())
    }

    /// redis-cli as the managed server's admin (full rights), `--no-raw`.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self.port().expect("the managed server is running");
        let pw = self.password().expect("the managed server has a password");
        let out = Command::new("redis-cli")
            .args([
                "-p",
                &port.to_string(),
                "-a",
                &pw,
                "--no-auth-warning",
                "--no-raw",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run redis-cli");
        stdout(&out)
    }

    pub fn stop(&self) -> Output {
        run(self.redislab().args(["server", "stop"]))
    }
}

impl Default for ManagedHome {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ManagedHome {
    fn drop(&mut self) {
        let _ = self.redislab().args(["server", "stop"]).output();
        // If redislab could not stop it (e.g. a broken build), kill it by its pid.
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args(["-9", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}
