//! `redislab bench` against a real, private redis-server (never 6379). No timing assertions:
//! only shape, sign and clean-up.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A throwaway redis-server on a free port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    fn start() -> RedisServer {
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
            l.local_addr().expect("local addr").port()
        };
        assert_ne!(port, 6379);
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be on PATH");
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.command(&["PING"]).as_deref() != Some("+PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Sends one command, returns the first reply line (without CRLF).
    fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        text.split("\r\n").next().map(str::to_string)
    }

    fn dbsize(&self) -> i64 {
        self.command(&["DBSIZE"])
            .and_then(|l| l.strip_prefix(':').and_then(|n| n.parse().ok()))
            .expect("DBSIZE")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn redislab(server_url: &str, home: &Path, tmp: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_redislab"));
    c.args(["--redis-url", server_url, "--home"])
        .arg(home)
        .arg("bench")
        .args(args)
        .env("TMPDIR", tmp)
        .env("NO_COLOR", "1")
        .env_remove("REDIS_URL")
        .env_remove("REDISLAB_NAMESPACE")
        .stdin(Stdio::null());
    c
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn is_empty_dir(p: &Path) -> bool {
    std::fs::read_dir(p).expect("read tmp").next().is_none()
}

fn columns_of(row: &Value) -> Vec<String> {
    row["cells"]
        .as_array()
        .expect("cells")
        .iter()
        .map(|c| c["column"].as_str().expect("column").to_string())
        .collect()
}

#[test]
fn quick_json_has_every_row_and_cleans_up() {
    let server = RedisServer::start();
    let home = tempfile::tempdir().expect("home");
    let tmp = tempfile::tempdir().expect("tmp");
    let files = tempfile::tempdir().expect("out dir");
    let csv = files.path().join("bench.csv");
    let chart = files.path().join("bench.svg");
    let out = redislab(
        &server.url(),
        home.path(),
        tmp.path(),
        &["--quick", "--json", "--clients", "3"],
    )
    .arg("--csv")
    .arg(&csv)
    .arg("--chart")
    .arg(&chart)
    .output()
    .expect("run");
    let report = json(&out);
    let rows = report["rows"].as_array().expect("rows");
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(
        ids,
        [
            "single-read",
            "batch-read/100-calls",
            "batch-read/one-call",
            "counter-incr",
            "pipeline/one-by-one",
            "pipeline/batched",
            "top10/no-index",
            "top10/index",
            "rank/no-index",
            "rank/index",
            "session",
            "concurrent-incr",
        ]
    );
    for row in rows {
        assert_eq!(
            columns_of(row),
            ["redis", "sqlite-memory", "sqlite-wal", "sqlite-journal"],
            "{}",
            row["id"]
        );
        for cell in row["cells"].as_array().expect("cells") {
            let s = &cell["stats"];
            let f = |k: &str| s[k].as_f64().unwrap_or_else(|| panic!("{k} in {cell}"));
            assert!(f("p50_us") > 0.0, "{cell}");
            assert!(f("p99_us") > 0.0, "{cell}");
            assert!(f("ops_per_sec") > 0.0, "{cell}");
            assert!(f("p50_us") <= f("p99_us"), "{cell}");
            assert!(s["samples"].as_u64().expect("samples") > 0);
        }
        assert!(!row["explanation"].as_str().expect("explanation").is_empty());
        assert!(row["fastest"].is_string());
    }
    // Increments are checked, not just timed.
    let conc = rows.last().expect("concurrent row");
    for cell in conc["cells"].as_array().expect("cells") {
        let note = cell["note"].as_str().expect("note");
        assert!(note.starts_with("all "), "{note}");
    }
    // A user's server: no CONFIG SET, and the output says so.
    let notes = report["notes"].to_string();
    assert!(notes.contains("--managed"), "{notes}");
    assert_eq!(report["meta"]["clients"], 3);

    assert_eq!(server.dbsize(), 0, "benchmark keys left behind");
    assert!(is_empty_dir(tmp.path()), "temporary files left behind");
    let csv_text = std::fs::read_to_string(&csv).expect("csv");
    assert!(csv_text.starts_with("row,case,variant"));
    assert_eq!(csv_text.lines().count(), 1 + 12 * 4);
    let svg = std::fs::read_to_string(&chart).expect("svg");
    assert!(svg.contains("<svg"));
}

#[test]
fn only_and_sqlite_filter() {
    let server = RedisServer::start();
    let home = tempfile::tempdir().expect("home");
    let tmp = tempfile::tempdir().expect("tmp");
    let out = redislab(
        &server.url(),
        home.path(),
        tmp.path(),
        &[
            "--only",
            "top10,rank",
            "--sqlite",
            "wal",
            "--iterations",
            "20",
            "--json",
        ],
    )
    .output()
    .expect("run");
    let report = json(&out);
    let rows = report["rows"].as_array().expect("rows");
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().expect("id")).collect();
    assert_eq!(
        ids,
        [
            "top10/no-index",
            "top10/index",
            "rank/no-index",
            "rank/index"
        ]
    );
    for row in rows {
        assert_eq!(columns_of(row), ["redis", "sqlite-wal"]);
        for cell in row["cells"].as_array().expect("cells") {
            assert_eq!(cell["stats"]["samples"], 20);
        }
    }
    assert_eq!(server.dbsize(), 0);
    assert!(is_empty_dir(tmp.path()));

    // The table renders too.
    let out = redislab(
        &server.url(),
        home.path(),
        tmp.path(),
        &[
            "--only",
            "session",
            "--sqlite",
            "memory",
            "--iterations",
            "20",
        ],
    )
    .output()
    .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("session"), "{text}");
    assert!(text.contains('★'), "{text}");
    assert!(text.contains("Why, row by row"), "{text}");
}

#[test]
fn unknown_ids_are_a_one_line_usage_error() {
    let home = tempfile::tempdir().expect("home");
    let tmp = tempfile::tempdir().expect("tmp");
    for args in [["--only", "nope"], ["--sqlite", "disk"]] {
        // No server needed: ids are checked before connecting (port 1 would refuse anyway).
        let out = redislab("redis://127.0.0.1:1", home.path(), tmp.path(), &args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("unknown"), "{err}");
    }
}

#[test]
fn throughput_counts_every_request() {
    let server = RedisServer::start();
    let home = tempfile::tempdir().expect("home");
    let tmp = tempfile::tempdir().expect("tmp");
    let out = redislab(
        &server.url(),
        home.path(),
        tmp.path(),
        &[
            "--throughput",
            "--clients",
            "4",
            "--pipeline",
            "8",
            "--requests",
            "2000",
            "--json",
        ],
    )
    .output()
    .expect("run");
    let r = json(&out);
    assert_eq!(r["requests"], 2000);
    assert_eq!(r["clients"], 4);
    assert_eq!(r["transport"], "raw");
    assert!(r["ops_per_sec"].as_f64().expect("ops") > 0.0);
    assert_eq!(server.dbsize(), 0);
}

#[test]
fn redis_killed_mid_run_is_a_clear_error_and_leaves_nothing() {
    let mut server = RedisServer::start();
    let home = tempfile::tempdir().expect("home");
    let tmp = tempfile::tempdir().expect("tmp");
    let mut child = redislab(
        &server.url(),
        home.path(),
        tmp.path(),
        &[
            "--only",
            "single-read",
            "--sqlite",
            "wal",
            "--iterations",
            "100000000",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn");
    // Wait until the benchmark has written its data, then pull the plug.
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.dbsize() == 0 {
        assert!(
            Instant::now() < deadline,
            "the benchmark never wrote its data"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the benchmark did not stop after Redis died");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read stderr");
    assert_eq!(status.code(), Some(2), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("Redis at 127.0.0.1"), "{err}");
    assert!(is_empty_dir(tmp.path()), "temporary files left behind");
}
