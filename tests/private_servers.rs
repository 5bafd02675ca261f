//! The private servers a demonstration starts (a server, its replica, a Sentinel) are stopped on
//! every way out of the step: when it ends, and when it fails half-way. This is its own test
//! binary so that no other test starts servers meanwhile: after each run, no server this process
//! started is left but the test's own.

mod common;

use common::TestRedis;
use redislab::measure::Silent;
use redislab::redis::connect::connect;
use redislab::scenarios::{self, ScenarioContext};
use redislab::settings::Settings;
use serde_json::json;
use std::time::Duration;

/// Command lines of this process's children other than the test's own server.
fn stray_children(own_port: u16) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc is readable")
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: the comm may hold spaces, so split after its `)`.
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.get(1) != Some(&me.as_str()) || fields.first() == Some(&"Z") {
            continue;
        }
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
            .unwrap_or_default();
        // A server shows itself as `redis-server 127.0.0.1:PORT` once started.
        let own = format!(":{own_port}");
        if !cmdline.split_whitespace().any(|w| w.ends_with(&own)) {
            found.push(cmdline);
        }
    }
    found
}

/// Runs a scenario; with `cancel_after`, drops it after that long, as Ctrl-C does to a step
/// (the runner selects between the step and the signal). Returns whether it ran to its end.
async fn run(
    redis: &TestRedis,
    name: &str,
    params: &serde_json::Value,
    cancel_after: Option<Duration>,
) -> bool {
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let ctx = ScenarioContext {
        server: &server,
        namespace: "lab",
        ticker: &Silent,
    };
    let step = scenarios::run(name, params, &ctx);
    match cancel_after {
        None => {
            step.await.unwrap_or_else(|e| panic!("{name}: {e:#}"));
            true
        }
        Some(after) => tokio::time::timeout(after, step).await.is_ok(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_servers_stop_when_the_step_ends_and_when_it_is_interrupted() {
    let redis = TestRedis::start();
    let port = redis.port();
    assert!(
        stray_children(port).is_empty(),
        "{:?}",
        stray_children(port)
    );
    for (name, params) in [
        ("lost-reply", json!({"timeout_ms": 50})),
        (
            "connection-pool",
            json!({"requests": 20, "pool": 1, "workers": 2, "rounds": 1, "hold_ms": 1}),
        ),
        ("replica-lag", json!({"wait_ms": 50})),
        ("sentinel-failover", json!({"down_after_ms": 200})),
    ] {
        assert!(run(&redis, name, &params, None).await);
        assert!(
            stray_children(port).is_empty(),
            "{name} left servers running: {:?}",
            stray_children(port)
        );
        // A replica saves what it syncs in its folder: never the one redislab runs in.
        let stray_rdb = std::env::current_dir().expect("cwd").join("dump.rdb");
        assert!(!stray_rdb.exists(), "{name} left {}", stray_rdb.display());
        // Interrupted at several moments: while its servers start, and while they run.
        for ms in [30, 150, 400] {
            run(&redis, name, &params, Some(Duration::from_millis(ms))).await;
            assert!(
                stray_children(port).is_empty(),
                "{name} interrupted after {ms} ms left servers running: {:?}",
                stray_children(port)
            );
        }
    }
}
