//! redislab on a private three-master Redis Cluster: the cluster is detected from one node's
//! URL (or a list), inspect and reset reach every master, and every lesson passes in `--auto`
//! with the foreign keys on every master untouched.
// Tests reach the servers directly, to set up and to check what redislab did.
#![allow(clippy::disallowed_methods)]

mod common;

use common::cluster::TestCluster;
use common::{assert_success, run, stderr, stdout};

#[test]
fn a_cluster_is_detected_and_inspect_and_reset_reach_every_master() {
    let cluster = TestCluster::start();
    cluster.seed_foreign_keys();
    let foreign = cluster.foreign_fingerprint();
    for i in 0..30 {
        cluster.cli_raw(&["SET", &format!("lab:user:{i}"), "x"]);
    }
    for node in cluster.nodes() {
        assert!(
            node.all_keys().iter().any(|k| k.starts_with("lab:")),
            "no lab: key landed on {}",
            node.addr()
        );
    }
    let home = tempfile::tempdir().expect("temp home");
    let out = run(cluster.redislab(home.path()).args(["inspect", "--json"]));
    assert_success(&out);
    let first = cluster.nodes()[0].addr();
    assert!(
        stderr(&out).contains(&format!("Redis Cluster · 3 masters · {first}")),
        "{}",
        stderr(&out)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("inspect JSON");
    assert_eq!(json["keys"].as_array().map(Vec::len), Some(30), "{json}");
    // Each key says its slot and the master that serves it.
    for k in json["keys"].as_array().into_iter().flatten() {
        let key = k["key"].as_str().expect("key");
        assert_eq!(
            k["node"].as_str(),
            Some(cluster.node_of(key).addr().as_str()),
            "{k}"
        );
        assert!(k["slot"].as_u64().is_some_and(|s| s < 16384), "{k}");
    }

    // A list of nodes works too, and reset empties the namespace on every master.
    let urls: Vec<String> = cluster.nodes().iter().map(|n| n.url()).collect();
    let out = run(common::redislab_bare(home.path())
        .arg("--redis-url")
        .arg(urls.join(","))
        .args(["reset", "--all"]));
    assert_success(&out);
    assert!(stdout(&out).contains("deleted 30 keys"), "{}", stdout(&out));
    assert!(
        cluster.keys_in("lab").is_empty(),
        "{:?}",
        cluster.keys_in("lab")
    );
    assert_eq!(cluster.foreign_fingerprint(), foreign);
}

#[test]
fn every_lesson_passes_on_a_cluster_and_foreign_keys_on_every_master_stay() {
    let cluster = TestCluster::start();
    cluster.seed_foreign_keys();
    let foreign = cluster.foreign_fingerprint();
    let home = tempfile::tempdir().expect("temp home");
    // The shipped lessons, unchanged: keys that go together carry a hash tag.
    let lessons = redislab::lesson::loader::load_all(None).expect("lessons load");
    for l in &lessons {
        let id = l.lesson.id.as_str();
        let out = run(cluster.redislab(home.path()).args(["lesson", id, "--auto"]));
        assert_success(&out);
        assert!(
            !stdout(&out).contains('✗'),
            "lesson {id} printed a failed check on a cluster:\n{}",
            stdout(&out)
        );
        let strays: Vec<String> = cluster
            .all_keys()
            .into_iter()
            .filter(|k| !k.starts_with("lab:") && !k.starts_with("foreign"))
            .collect();
        assert!(
            strays.is_empty(),
            "lesson {id} left keys outside lab:: {strays:?}"
        );
        assert_eq!(
            cluster.foreign_fingerprint(),
            foreign,
            "lesson {id} changed a key outside the namespace"
        );
    }
    assert_success(&run(cluster.redislab(home.path()).args(["reset", "--all"])));
    assert!(
        cluster.keys_in("lab").is_empty(),
        "{:?}",
        cluster.keys_in("lab")
    );
    assert_eq!(cluster.foreign_fingerprint(), foreign);
}

/// What `redis-cli` prints for `input` typed into one node, as a terminal shows it.
fn redis_cli_on(port: u16, cluster_mode: bool, input: &str) -> String {
    use std::io::Write;
    let mut c = std::process::Command::new("redis-cli");
    if cluster_mode {
        c.arg("-c");
    }
    let mut child = c
        .args(["-p", &port.to_string(), "--no-raw"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to redis-cli");
    let out = child.wait_with_output().expect("redis-cli output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_sandbox_on_a_cluster_scans_every_master_and_shows_what_servers_answer() {
    let cluster = TestCluster::start();
    let home = tempfile::tempdir().expect("temp home");
    // lab:a and lab:b live on different masters of this cluster.
    assert_ne!(
        cluster.node_of("lab:a").port(),
        cluster.node_of("lab:b").port()
    );
    let cross = "MULTI\nINCR lab:a\nINCR lab:b\nEXEC\n";
    let input = format!(
        "SET lab:a 1\nSET lab:b 2\nSET lab:c 3\nSET lab:d 4\n{cross}\
         MULTI\nINCR lab:{{t}}a\nINCR lab:{{t}}b\nEXEC\n\
         MGET lab:a lab:b\n\
         SCAN 0 MATCH lab:* COUNT 100\nSCAN 1 MATCH lab:* COUNT 100\nSCAN 2 MATCH lab:* COUNT 100\n\
         DBSIZE\n"
    );
    let out = common::run_with_stdin(cluster.redislab(home.path()).arg("sandbox"), &input);
    assert_success(&out);
    let text = stdout(&out);
    // The cross-slot transaction, reply for reply what the first key's master sends redis-cli:
    // MOVED for the queued command of another master's slot, then EXECABORT. Nothing invented.
    let owner = cluster.node_of("lab:a").port();
    let real = redis_cli_on(owner, false, cross);
    assert!(real.contains("(error) MOVED "), "{real}");
    assert!(real.contains("(error) EXECABORT"), "{real}");
    assert!(text.contains(&real), "shown:\n{text}\nredis-cli:\n{real}");
    assert!(text.contains("1) (integer) 1\n2) (integer) 1"), "{text}");
    assert_eq!(
        cluster.cli_raw(&["GET", "lab:a"]).trim(),
        "1",
        "the aborted transaction ran"
    );
    // MGET over two slots: the client split it, and the screen says so beside the replies;
    // redis-cli -c gets the server's CROSSSLOT.
    let cli = redis_cli_on(owner, true, "MGET lab:a lab:b\n");
    assert!(cli.contains("CROSSSLOT"), "{cli}");
    assert!(text.contains("1) \"1\"\n2) \"2\""), "{text}");
    assert!(
        stderr(&out).contains("redislab's cluster client split this MGET")
            && stderr(&out).contains("redis-cli -c"),
        "{}",
        stderr(&out)
    );
    // The three SCAN calls walk the three masters: every key shows up once, the last cursor is 0.
    for key in ["lab:a", "lab:b", "lab:c", "lab:d", "lab:{t}a", "lab:{t}b"] {
        assert_eq!(
            text.matches(&format!("\"{key}\"")).count(),
            1,
            "{key} in the SCAN walk:\n{text}"
        );
    }
    assert!(text.contains("1) \"0\""), "{text}");
    // DBSIZE: the six keys are on three masters; the sum is shown, and said to be one.
    assert!(text.contains("(integer) 6"), "{text}");
    assert!(
        stderr(&out).contains("sent DBSIZE to every master")
            && stderr(&out).contains("no single node sent this"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bench_throughput_on_a_cluster_loads_every_master() {
    let cluster = TestCluster::start();
    cluster.seed_foreign_keys();
    let foreign = cluster.foreign_fingerprint();
    let gets = |node: &common::TestRedis| -> u64 {
        node.cli_raw(&["INFO", "commandstats"])
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let before: Vec<u64> = cluster.nodes().iter().map(gets).collect();
    let home = tempfile::tempdir().expect("temp home");
    let out = run(cluster.redislab(home.path()).args([
        "bench",
        "--throughput",
        "--clients",
        "6",
        "--pipeline",
        "4",
        "--requests",
        "600",
        "--json",
    ]));
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(report["requests"], 600, "{report}");
    assert_eq!(report["transport"], "raw");
    // Six clients spread over three masters: each master answered its two clients' GETs, and
    // none answered MOVED (that would have failed the run).
    for (node, was) in cluster.nodes().iter().zip(before) {
        assert_eq!(gets(node) - was, 200, "GETs on {}", node.addr());
    }
    assert!(
        cluster.keys_in("lab").is_empty(),
        "{:?}",
        cluster.keys_in("lab")
    );
    assert_eq!(cluster.foreign_fingerprint(), foreign);
}

/// Given a node other than the first, Pub/Sub counts still match: on a cluster PUBLISH counts
/// only the subscribers of the node it was sent to, so the lesson publishes where its
/// listeners are connected.
#[test]
fn the_pub_sub_lesson_passes_whichever_node_the_url_names() {
    let cluster = TestCluster::start();
    let home = tempfile::tempdir().expect("temp home");
    for node in &cluster.nodes()[1..] {
        let out = run(common::redislab_bare(home.path())
            .arg("--redis-url")
            .arg(node.url())
            .args(["lesson", "10", "--auto"]));
        assert_success(&out);
        assert!(!stdout(&out).contains('✗'), "{}", stdout(&out));
    }
}

/// Lesson 14 needs a cluster and runs on this one, with its quiz: every check passes, every
/// predicted reply matches, and its tagged keys sit in one slot's master.
#[test]
fn the_cluster_lesson_passes_on_a_cluster_with_its_quiz() {
    let cluster = TestCluster::start();
    let home = tempfile::tempdir().expect("temp home");
    let out = run(cluster.redislab(home.path()).args([
        "lesson",
        "14",
        "--auto",
        "--answers",
        "1,2,2,2,2,1,1,3,2,1",
    ]));
    assert_success(&out);
    let text = stdout(&out);
    assert!(!text.contains('✗'), "{text}");
    assert!(text.contains("Score: 9/9"), "{text}");
    // The sharded Pub/Sub step ran: its table and its checks.
    assert!(text.contains("✓ classic received came out at 1,"), "{text}");
    assert!(!stderr(&out).contains("lesson bug"), "{}", stderr(&out));
    let tagged = cluster.node_of("lab:slot:{tags}:all");
    assert_eq!(
        tagged.cli_raw(&["SCARD", "lab:slot:{tags}:all"]).trim(),
        "2"
    );
    assert_eq!(
        cluster.node_of("lab:slot:{tags}:redis").addr(),
        tagged.addr(),
        "a tagged key is on another master"
    );
}

/// SSUBSCRIBE in the sandbox on a cluster connects to the master that owns the channel's slot,
/// wherever the URL points, and prints each sharded message until Ctrl-C.
#[test]
fn the_sandbox_subscribes_to_a_sharded_channel_on_its_master() {
    use std::io::{BufRead, BufReader, Write};
    let cluster = TestCluster::start();
    let home = tempfile::tempdir().expect("temp home");
    let owner = cluster.node_of("lab:{news}:live").addr();
    let elsewhere = cluster
        .nodes()
        .iter()
        .find(|n| n.addr() != owner)
        .expect("another master");
    let mut child = common::redislab_bare(home.path())
        .arg("--redis-url")
        .arg(elsewhere.url())
        .arg("sandbox")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the sandbox");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"SSUBSCRIBE lab:{news}:live\n")
        .expect("type");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l == "3) (integer) 1") {
        seen.push(lines.next().expect("a line").expect("text"));
    }
    assert_eq!(
        cluster
            .cli_raw(&["SPUBLISH", "lab:{news}:live", "hello"])
            .trim(),
        "1"
    );
    while !seen.iter().any(|l: &String| l == "3) \"hello\"") {
        seen.push(lines.next().expect("a line").expect("text"));
    }
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    drop(stdin);
    assert_eq!(child.wait().expect("the sandbox ends").code(), Some(0));
}

/// The reply bound holds on a cluster's node connections too: a value over 64 MiB on a master
/// is refused with one line and exit 2, not buffered.
#[test]
fn a_reply_over_the_limit_from_a_cluster_node_is_refused() {
    let cluster = TestCluster::start();
    let owner = cluster.node_of("lab:big");
    let client = redis::Client::open(owner.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let big = vec![b'x'; 65 * 1024 * 1024];
    let _: () = redis::cmd("SET")
        .arg("lab:big")
        .arg(big)
        .query(&mut conn)
        .expect("SET a 65 MiB value");
    let home = tempfile::tempdir().expect("temp home");
    let out = common::run_with_stdin(
        cluster.redislab(home.path()).arg("sandbox"),
        "STRLEN lab:big\nGET lab:big\n",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(stdout(&out), "(integer) 68157440\n");
    let last = stderr(&out)
        .trim()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(
        last.contains("sent a reply announcing 68157440 bytes"),
        "{}",
        stderr(&out)
    );
}

/// The commands redis-cli prints raw (one field per line, no quotes) print the same way on a
/// cluster, each from one node as redis-cli -c asks one node, never as a map of every node's.
#[test]
fn reports_print_as_redis_cli_prints_them_on_a_cluster() {
    let cluster = TestCluster::start();
    let home = tempfile::tempdir().expect("temp home");
    let port = cluster.nodes()[0].port();
    let out = common::run_with_stdin(
        cluster.redislab(home.path()).arg("sandbox"),
        "MEMORY DOCTOR\n",
    );
    assert_success(&out);
    let real = redis_cli_on(port, true, "MEMORY DOCTOR\n");
    assert_eq!(stdout(&out).trim(), real.trim());
    let out = common::run_with_stdin(
        cluster.redislab(home.path()).arg("sandbox"),
        "CLUSTER INFO\n",
    );
    let text = stdout(&out);
    let real = redis_cli_on(port, true, "CLUSTER INFO\n");
    let fields = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_string()))
            // Which messages a node counts depends on the node (MEET sent or received).
            .filter(|k| !k.starts_with("cluster_stats_messages_meet"))
            .collect()
    };
    assert!(text.starts_with("cluster_state:ok"), "{text}");
    assert!(!text.contains('"') && !text.contains("=>"), "{text}");
    assert_eq!(fields(&text), fields(&real), "{text}\n{real}");
}

/// Every node the slot map names receives the URL's password: the banner names each one, and a
/// loopback seed whose map names a host the user never typed is refused before any node but
/// the seed is contacted, unless `--trust-cluster-nodes` says otherwise.
#[test]
fn the_banner_names_every_node_and_a_foreign_node_is_refused() {
    let cluster = TestCluster::start();
    let home = tempfile::tempdir().expect("temp home");
    let out = run(cluster.redislab(home.path()).args(["inspect"]));
    assert_success(&out);
    let ports: Vec<String> = cluster
        .nodes()
        .iter()
        .map(|n| n.port().to_string())
        .collect();
    let mut sorted = ports.clone();
    sorted.sort();
    assert!(
        stderr(&out).contains(&format!("nodes 127.0.0.1:{}", sorted.join(","))),
        "{}",
        stderr(&out)
    );
    // The seed now announces itself by a name nobody typed.
    let seed = &cluster.nodes()[0];
    seed.cli(&[
        "CONFIG",
        "SET",
        "cluster-announce-hostname",
        "node-7.invalid",
    ]);
    seed.cli(&[
        "CONFIG",
        "SET",
        "cluster-preferred-endpoint-type",
        "hostname",
    ]);
    let out = run(cluster.redislab(home.path()).args(["sandbox"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("names a node at") && err.contains("--trust-cluster-nodes"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}
