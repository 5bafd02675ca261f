//! redislab's own Redis Cluster: `server start --cluster` joins three masters (and replicas)
//! without redis-cli, `--managed --cluster` runs lessons on it with the same rights as on the
//! managed server, every node fences each namespace by ACL, and the password never shows.

mod common;

use std::time::Duration;

use common::cluster::ManagedClusterHome;
use common::{assert_success, run, run_with_stdin, stderr, stdout};

/// Rows of the node table `server status --cluster` prints: `(node, role)`.
fn node_rows(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| l.contains("127.0.0.1:"))
        .map(|l| {
            let cells: Vec<String> = l
                .split(['│', '┆'])
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect();
            (cells[0].clone(), cells.get(1).cloned().unwrap_or_default())
        })
        .collect()
}

/// Everything the commands of a test printed, to prove the password is not in it.
#[derive(Default)]
struct Printed(String);

impl Printed {
    fn keep(&mut self, out: &std::process::Output) {
        self.0.push_str(&stdout(out));
        self.0.push_str(&stderr(out));
    }
}

#[test]
fn a_managed_cluster_with_replicas_runs_lessons_fenced_by_namespace_and_stops() {
    let home = ManagedClusterHome::new();
    let mut printed = Printed::default();
    start_with_replicas(&home, &mut printed);
    lessons_pass(&home, &mut printed);
    let (masters, keys) = keys_on_every_master_are_inspected(&home, &mut printed);
    cross_slot_replies_are_the_servers_own(&home, &masters, &mut printed);
    a_second_namespace_is_fenced(&home, &keys, &mut printed);
    reset_clears_every_master(&home, &masters, &mut printed);
    let password = home.password();
    stop_removes_everything(&home, &mut printed);
    assert!(
        !printed.0.contains(&password),
        "the cluster's password was printed"
    );
}

/// `server start --cluster --replicas 1`: six nodes, three of them masters; a second start
/// says it runs.
fn start_with_replicas(home: &ManagedClusterHome, printed: &mut Printed) {
    let out = run(home
        .redislab()
        .args(["server", "start", "--cluster", "--replicas", "1"]));
    assert_success(&out);
    printed.keep(&out);
    assert!(
        stdout(&out).contains("started the managed Redis Cluster (3 masters, 3 replicas)"),
        "{}",
        stdout(&out)
    );
    let status = run(home.redislab().args(["server", "status", "--cluster"]));
    assert_success(&status);
    printed.keep(&status);
    let rows = node_rows(&stdout(&status));
    assert_eq!(rows.len(), 6, "{}", stdout(&status));
    assert_eq!(
        rows.iter().filter(|(_, role)| role == "master").count(),
        3,
        "{rows:?}"
    );
    assert_eq!(
        rows.iter()
            .filter(|(_, role)| role.starts_with("replica of "))
            .count(),
        3,
        "{rows:?}"
    );
    assert_eq!(home.nodes().len(), 6);
    let again = run(home.redislab().args(["server", "start", "--cluster"]));
    assert_success(&again);
    printed.keep(&again);
    assert!(
        stdout(&again).contains("already running"),
        "{}",
        stdout(&again)
    );
    assert_eq!(node_rows(&stdout(&again)).len(), 6);
}

/// Every lesson passes in `--auto`, under the managed cluster's banner.
fn lessons_pass(home: &ManagedClusterHome, printed: &mut Printed) {
    for id in [
        "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14", "15",
        "16", "17", "18", "19", "20", "21",
    ] {
        let out = run(home.managed("t1").args(["lesson", id, "--auto"]));
        assert_success(&out);
        printed.keep(&out);
        assert!(
            !stdout(&out).contains('✗'),
            "lesson {id} failed a check:\n{}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("Redis Cluster · 3 masters · managed · 127.0.0.1:"),
            "{}",
            stderr(&out)
        );
    }
    // Lesson 14's failover needs the managed cluster with replicas: it ran here, twice (the
    // second time the other way round, the two nodes having swapped roles), and the cluster is
    // whole again after each.
    for _ in 0..2 {
        let failover = run(home
            .managed("t1")
            .args(["lesson", "14", "--auto", "--from-step", "8"]));
        assert_success(&failover);
        printed.keep(&failover);
        assert!(
            stdout(&failover).contains("✓ holders came out at 2,"),
            "{}",
            stdout(&failover)
        );
        let status = run(home.redislab().args(["server", "status", "--cluster"]));
        let rows = node_rows(&stdout(&status));
        assert_eq!(
            rows.iter().filter(|(_, role)| role == "master").count(),
            3,
            "{rows:?}"
        );
        assert_eq!(rows.len(), 6, "{rows:?}");
    }
    // Lesson 13's last step needs the managed server's rights: it ran, and was not skipped.
    let lesson13 = run(home
        .managed("t1")
        .args(["lesson", "13", "--auto", "--from-step", "8"]));
    printed.keep(&lesson13);
    assert!(
        stdout(&lesson13).contains("(error) NOSCRIPT"),
        "{}",
        stdout(&lesson13)
    );
}

/// Lesson keys are on every master, and `inspect` lists exactly them. Returns the masters'
/// ports and the keys.
fn keys_on_every_master_are_inspected(
    home: &ManagedClusterHome,
    printed: &mut Printed,
) -> (Vec<u16>, Vec<String>) {
    // Keys landed on every master, and inspect lists every one of them.
    let masters = home.master_ports();
    assert_eq!(masters.len(), 3);
    let mut on_masters: Vec<String> = Vec::new();
    for &m in &masters {
        let keys = home.keys_on(m, "t1");
        assert!(!keys.is_empty(), "no t1: key on master {m}");
        on_masters.extend(keys);
    }
    on_masters.sort();
    let inspect = run(home
        .managed("t1")
        .args(["inspect", "--json", "--limit", "10000"]));
    assert_success(&inspect);
    printed.keep(&inspect);
    let json: serde_json::Value = serde_json::from_str(&stdout(&inspect)).expect("inspect JSON");
    let mut listed: Vec<String> = json["keys"]
        .as_array()
        .expect("a key list")
        .iter()
        .filter_map(|k| k["key"].as_str().map(str::to_string))
        .collect();
    listed.sort();
    assert_eq!(listed, on_masters);

    (masters, on_masters)
}

/// A cross-slot transaction and a cross-slot MGET typed into the sandbox on the managed
/// cluster show what the servers answer, reply for reply as redis-cli shows them: MOVED for the
/// queued command of another master's slot and EXECABORT at EXEC, sent to the first key's
/// master; the MGET's joined replies are said to be the client's doing.
fn cross_slot_replies_are_the_servers_own(
    home: &ManagedClusterHome,
    masters: &[u16],
    printed: &mut Printed,
) {
    let owner = |key: &str| -> u16 {
        *masters
            .iter()
            .find(|&&m| !home.cli(m, None, &["TYPE", key]).contains("MOVED"))
            .expect("a master owns every slot")
    };
    // Two keys of the namespace on two different masters.
    let first = "t1:xs:a";
    let second = (0..100)
        .map(|i| format!("t1:xs:b{i}"))
        .find(|k| owner(k) != owner(first))
        .expect("a key on another master");
    let tx = format!("MULTI\nSET {first} 1\nSET {second} 2\nEXEC\n");
    let out = run_with_stdin(
        home.managed("t1").arg("sandbox"),
        &format!("{tx}MGET {first} {second}\n"),
    );
    assert_success(&out);
    printed.keep(&out);
    let shown = stdout(&out);
    let mut cli = std::process::Command::new("redis-cli")
        .args(["-p", &owner(first).to_string(), "--pass", &home.password()])
        .args(["--no-auth-warning", "--no-raw"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run redis-cli");
    use std::io::Write;
    cli.stdin
        .take()
        .expect("stdin")
        .write_all(tx.as_bytes())
        .expect("write");
    let real =
        String::from_utf8_lossy(&cli.wait_with_output().expect("redis-cli").stdout).into_owned();
    assert!(
        real.contains("(error) MOVED ") && real.contains("(error) EXECABORT"),
        "{real}"
    );
    assert!(shown.contains(&real), "shown:\n{shown}\nredis-cli:\n{real}");
    assert!(
        stderr(&out).contains("redislab's cluster client split this MGET"),
        "{}",
        stderr(&out)
    );
}

/// Namespace t2 reaches none of t1's keys, on any node, even past redislab's own checks.
fn a_second_namespace_is_fenced(
    home: &ManagedClusterHome,
    on_masters: &[String],
    printed: &mut Printed,
) {
    // A second namespace reaches none of the first's keys, on any node, even past redislab.
    let t2 = run_with_stdin(
        home.managed("t2").arg("sandbox"),
        &format!(
            "GET {}\nSET t2:mine 1\nEVAL \"return redis.call('SET', KEYS[1], 'typed')\" 1 t2:{{s}}:x\nGET t2:{{s}}:x\n",
            on_masters[0]
        ),
    );
    assert_success(&t2);
    printed.keep(&t2);
    let said = format!("{}{}", stdout(&t2), stderr(&t2));
    assert!(said.contains("outside the namespace"), "{said}");
    // A script the learner typed runs, as on the managed server.
    assert!(stdout(&t2).contains("\"typed\""), "{said}");
    for (port, _) in home.nodes() {
        for key in on_masters {
            let read = home.cli(port, Some("redislab-t2"), &["-c", "TYPE", key]);
            assert!(
                read.contains("NOPERM"),
                "t2 read {key} on node {port}: {read}"
            );
        }
        let write = home.cli(
            port,
            Some("redislab-t2"),
            &["-c", "SET", &on_masters[0], "stolen"],
        );
        assert!(write.contains("NOPERM"), "t2 wrote on node {port}: {write}");
        // Nor can it list or count the first's key names slot by slot.
        for args in [
            &["CLUSTER", "GETKEYSINSLOT", "0", "10"][..],
            &["CLUSTER", "COUNTKEYSINSLOT", "0"],
        ] {
            let listed = home.cli(port, Some("redislab-t2"), args);
            assert!(
                listed.contains("NOPERM"),
                "t2 ran {args:?} on node {port}: {listed}"
            );
        }
        let own = home.cli(port, Some("redislab-t2"), &["-c", "SET", "t2:own", "1"]);
        assert!(
            own.contains("OK"),
            "t2 could not write its own key on node {port}: {own}"
        );
    }
}

/// `reset --all` in t1 empties t1 on every master and leaves t2 alone.
fn reset_clears_every_master(home: &ManagedClusterHome, masters: &[u16], printed: &mut Printed) {
    let reset = run(home.managed("t1").args(["reset", "--all"]));
    assert_success(&reset);
    printed.keep(&reset);
    for &m in masters {
        assert_eq!(
            home.keys_on(m, "t1"),
            Vec::<String>::new(),
            "master {m} kept t1 keys"
        );
    }
    assert!(
        masters.iter().any(|&m| !home.keys_on(m, "t2").is_empty()),
        "reset --all in t1 deleted t2's keys"
    );
}

/// `server stop --cluster` stops every node and removes its files; status then exits 3.
fn stop_removes_everything(home: &ManagedClusterHome, printed: &mut Printed) {
    let nodes = home.nodes();
    let stop = run(home.redislab().args(["server", "stop", "--cluster"]));
    assert_success(&stop);
    printed.keep(&stop);
    assert!(
        stdout(&stop).contains("stopped the managed Redis Cluster"),
        "{}",
        stdout(&stop)
    );
    for (port, _) in &nodes {
        assert!(
            common::wait_until_closed(*port, Duration::from_secs(5)),
            "node {port} still listens"
        );
    }
    assert!(home.nodes().is_empty(), "the node folders stayed");
    let status = run(home.redislab().args(["server", "status", "--cluster"]));
    assert_eq!(status.status.code(), Some(3), "{}", stdout(&status));
    printed.keep(&status);
    let password_file = home.path().join("cluster/redis.password");
    assert!(!password_file.exists(), "the password file stayed");
}

/// Every file that holds the password is owner-only, and nothing redislab prints shows it: not
/// the start, status or banner, not CONFIG GET of either password setting, not ACL, not a script.
#[test]
fn the_cluster_password_is_never_printed() {
    let home = ManagedClusterHome::new();
    let start = run(home.redislab().args(["server", "start", "--cluster"]));
    assert_success(&start);
    let password = home.password();
    let mut outputs = vec![start];
    outputs.push(run(home.redislab().args(["server", "status", "--cluster"])));
    let attacks = "CONFIG GET requirepass\nCONFIG GET masterauth\nCONFIG GET *\nACL LIST\n\
                   ACL GETUSER redislab-lab\nEVAL \"return redis.call('CONFIG','GET','masterauth')\" 0\n\
                   CLIENT LIST\nINFO\n";
    outputs.push(run_with_stdin(home.managed("lab").arg("sandbox"), attacks));
    outputs.push(run(home.managed("lab").args(["lesson", "01", "--auto"])));
    outputs.push(run(home.managed("lab").args(["inspect", "--all"])));
    for out in &outputs {
        for text in [stdout(out), stderr(out)] {
            assert!(
                !text.contains(&password),
                "the cluster's password was printed:\n{text}"
            );
        }
    }
    assert_success(&outputs[2]);
    let said = format!("{}{}", stdout(&outputs[2]), stderr(&outputs[2]));
    assert!(said.contains("(refused) CONFIG"), "{said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mut files = vec![home.path().join("cluster/redis.password")];
        for (port, _) in home.nodes() {
            files.push(home.path().join(format!("cluster/node-{port}/redis.conf")));
        }
        assert_eq!(files.len(), 4);
        for f in files {
            let mode = std::fs::metadata(&f)
                .expect("a password file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{} is readable by others", f.display());
        }
    }
}

#[test]
fn cluster_flags_are_refused_where_they_mean_nothing() {
    let home = tempfile::tempdir().expect("temp home");
    let out = run(common::redislab_bare(home.path()).args(["--cluster", "inspect"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("needs --managed"), "{}", stderr(&out));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));
    let out = run(common::redislab_bare(home.path()).args(["server", "start", "--replicas", "1"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--cluster"), "{}", stderr(&out));
    let out = run(common::redislab_bare(home.path()).args([
        "server",
        "start",
        "--cluster",
        "--replicas",
        "3",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(!home.path().join("cluster").exists());
}

/// A cluster that cannot form (here every node runs with cluster mode switched off) fails with
/// one line naming the node and its log, and leaves no node running and no files behind.
#[test]
fn a_failed_start_names_the_node_and_stops_every_node_it_started() {
    let home = ManagedClusterHome::new();
    let real = std::env::split_paths(&std::env::var_os("PATH").expect("PATH"))
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
        .expect("redis-server on PATH");
    let wrapper_dir = tempfile::tempdir().expect("a folder for the wrapper");
    let started = wrapper_dir.path().join("started");
    let wrapper = wrapper_dir.path().join("redis-server");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nexec '{}' \"$@\" --cluster-enabled no\n",
            started.display(),
            real.display()
        ),
    )
    .expect("write the wrapper");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
            .expect("make the wrapper executable");
    }
    let path = std::env::join_paths(std::iter::once(wrapper_dir.path().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").expect("PATH")),
    ))
    .expect("a PATH");
    let out = run(home
        .redislab()
        .env("PATH", path)
        .args(["server", "start", "--cluster"]));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let said = stderr(&out);
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(said.contains("refused CLUSTER ADDSLOTS"), "{said}");
    let log = said
        .split("(log: ")
        .nth(1)
        .and_then(|l| l.split(')').next())
        .expect("the error names a log");
    assert!(
        std::fs::read_to_string(log).is_ok_and(|t| t.contains("Ready to accept connections")),
        "the log {log} it names is not the node's log"
    );
    let confs = std::fs::read_to_string(&started).expect("the wrapper ran");
    let ports: Vec<u16> = confs
        .lines()
        .filter_map(|l| l.split("node-").nth(1)?.split('/').next()?.parse().ok())
        .collect();
    assert_eq!(ports.len(), 3, "{confs}");
    for p in ports {
        assert!(
            common::wait_until_closed(p, Duration::from_secs(5)),
            "node {p} was left running"
        );
    }
    assert!(home.nodes().is_empty(), "node folders were left behind");
    assert!(!home.path().join("cluster/redis.password").exists());
}
