//! The managed server: namespaces fenced from each other and from the server itself.
// Attacks reach the servers directly, to play the hostile server and to check what changed.
#![allow(clippy::disallowed_methods)]

use crate::common::{self, ManagedHome, assert_success, run, run_with_stdin};

/// The managed server's admin password (its own file: a CONFIG REWRITE reformats redis.conf).
fn admin_password(home: &ManagedHome) -> String {
    std::fs::read_to_string(home.path().join("server/redis.password"))
        .expect("read the managed server's password file")
        .trim()
        .to_string()
}

/// redis-cli as the managed server's admin.
pub fn admin_cli(home: &ManagedHome, args: &[&str]) -> String {
    let port = home.port().expect("the managed server is running");
    let out = std::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "-a", &admin_password(home)])
        .args(["--no-auth-warning", "--no-raw"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run redis-cli");
    common::stdout(&out)
}

/// redis-cli as the managed server's learner user for `namespace`, bypassing redislab's guard:
/// what the ACL alone allows.
fn as_learner(home: &ManagedHome, namespace: &str, args: &[&str]) -> String {
    let port = home.port().expect("the managed server is running");
    let pw = admin_password(home);
    let out = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &port.to_string(),
            "--user",
            &format!("redislab-{namespace}"),
        ])
        .args(["--pass", &pw, "--no-auth-warning", "--no-raw"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run redis-cli");
    common::stdout(&out)
}

/// B5–B8: one namespace on the managed server can neither wipe, reconfigure, expose nor stop
/// it — refused by the sandbox, and denied by the learner's ACL user even past the sandbox.
#[test]
fn managed_namespaces_cannot_reach_each_other_or_the_server() {
    let home = ManagedHome::new();
    let alice = run_with_stdin(
        home.redislab()
            .args(["--managed", "--namespace", "alice", "sandbox"]),
        "SET alice:keep 1\n",
    );
    assert_success(&alice);
    let attacks = "FLUSHALL\nFLUSHDB\nSWAPDB 0 1\nMULTI\nSWAPDB 0 1\nEXEC\n\
                   CONFIG SET maxmemory-policy allkeys-lru\nCONFIG SET maxmemory 1\n\
                   CONFIG SET protected-mode no\nCONFIG SET requirepass \"\"\n\
                   CONFIG SET bind \"* -::*\"\nCONFIG GET requirepass\nCONFIG REWRITE\n\
                   REPLICAOF 127.0.0.1 1\nSHUTDOWN NOSAVE\n\
                   EVAL \"return redis.call('FLUSHALL')\" 0\n\
                   EVAL \"return redis.call('CONFIG','GET','requirepass')\" 0\n";
    let bob = run_with_stdin(
        home.redislab()
            .args(["--managed", "--namespace", "bob", "sandbox"]),
        attacks,
    );
    assert_success(&bob);
    let pw = admin_password(&home);
    assert!(
        !common::stdout(&bob).contains(&pw),
        "the admin password leaked"
    );
    assert!(
        !common::stderr(&bob).contains(&pw),
        "the admin password leaked"
    );
    assert_eq!(home.cli(&["GET", "alice:keep"]), "\"1\"\n");
    assert_eq!(
        home.cli(&["CONFIG", "GET", "maxmemory"]),
        "1) \"maxmemory\"\n2) \"0\"\n"
    );
    assert_eq!(
        home.cli(&["CONFIG", "GET", "protected-mode"]),
        "1) \"protected-mode\"\n2) \"yes\"\n"
    );

    // Past the sandbox, straight to Redis as the learner: the ACL denies each one.
    for attack in [
        &["FLUSHALL"][..],
        &["FLUSHDB"],
        &["SWAPDB", "0", "1"],
        &["CONFIG", "GET", "requirepass"],
        &["CONFIG", "SET", "maxmemory", "1"],
        &["CONFIG", "REWRITE"],
        &["SHUTDOWN", "NOSAVE"],
        &["REPLICAOF", "127.0.0.1", "1"],
        &["CLIENT", "KILL", "TYPE", "normal"],
        &["FUNCTION", "FLUSH"],
        &["SCRIPT", "FLUSH"],
        &["SELECT", "1"],
        &["MOVE", "bob:x", "1"],
        &["KEYS", "*"],
        &["SCAN", "0"],
        &["EVAL", "return redis.call('SCAN','0')", "0"],
        &["MODULE", "LIST"],
    ] {
        let reply = as_learner(&home, "bob", attack);
        // Inside a script Redis words the same denial differently.
        assert!(
            reply.contains("NOPERM") || reply.contains("can't run this command"),
            "{attack:?} as the learner: {reply}"
        );
    }
    // A SCAN typed in the sandbox still works inside the namespace (it runs on the engine's
    // connection once the guard has held its MATCH to bob:*), and lists no one else's keys.
    let scan = run_with_stdin(
        home.redislab()
            .args(["--managed", "--namespace", "bob", "sandbox"]),
        "SET bob:mine 1\nSCAN 0 MATCH bob:* COUNT 1000\nSCAN 0 MATCH * COUNT 1000\n",
    );
    assert_success(&scan);
    let shown = common::stdout(&scan);
    assert!(shown.contains("\"bob:mine\""), "{shown}");
    assert!(!shown.contains("alice:keep"), "{shown}");
    assert_eq!(as_learner(&home, "bob", &["PING"]), "PONG\n");
    assert!(as_learner(&home, "bob", &["INFO", "server"]).contains("redis_version"));
    assert_eq!(home.cli(&["GET", "alice:keep"]), "\"1\"\n");
    assert_success(&home.stop());
}

/// B6/B7: even when the admin changes the password or rewrites the config, `server status`
/// does not call the server "not running", no second server starts, `server stop` stops it,
/// and redis.conf stays owner-only.
#[test]
fn a_reconfigured_managed_server_is_found_and_stopped() {
    use std::os::unix::fs::PermissionsExt;
    let home = ManagedHome::new();
    assert_success(&run(home.redislab().args(["server", "start"])));
    let port = home.port().expect("port");
    let pid = home.pid().expect("pid");
    assert_eq!(admin_cli(&home, &["CONFIG", "REWRITE"]), "OK\n");
    let mode = std::fs::metadata(home.path().join("server/redis.conf"))
        .expect("redis.conf")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o077,
        0,
        "redis.conf is mode {mode:o} after CONFIG REWRITE"
    );
    let status = run(home.redislab().args(["server", "status"]));
    assert_success(&status);
    assert!(common::stdout(&status).contains(&format!("pid {pid}")));

    assert_eq!(
        admin_cli(&home, &["CONFIG", "SET", "requirepass", ""]),
        "OK\n"
    );
    let status = run(home.redislab().args(["server", "status"]));
    assert!(
        !common::stdout(&status).contains("not running"),
        "status after a password change: {status:?}"
    );
    let inspect = run(home.redislab().args(["--managed", "inspect"]));
    assert!(!inspect.status.success(), "a second server must not start");
    assert_eq!(home.port(), Some(port), "the recorded server changed");
    assert_success(&home.stop());
    assert!(common::wait_until_closed(
        port,
        std::time::Duration::from_secs(5)
    ));
}

/// Every command and subcommand the server documents, with its summary (`COMMAND DOCS`).
fn summaries(v: &redis::Value, out: &mut Vec<(String, String)>) {
    let redis::Value::Array(items) = v else {
        return;
    };
    for pair in items.chunks(2) {
        let (Some(redis::Value::BulkString(name)), Some(redis::Value::Array(doc))) =
            (pair.first(), pair.get(1))
        else {
            continue;
        };
        let mut summary = String::new();
        for field in doc.chunks(2) {
            match (field.first(), field.get(1)) {
                (Some(redis::Value::BulkString(k)), Some(redis::Value::BulkString(s)))
                    if k == b"summary" =>
                {
                    summary = String::from_utf8_lossy(s).into_owned();
                }
                (Some(redis::Value::BulkString(k)), Some(subs)) if k == b"subcommands" => {
                    summaries(subs, out);
                }
                _ => {}
            }
        }
        out.push((String::from_utf8_lossy(name).to_ascii_lowercase(), summary));
    }
}

/// No namespace can list or count another's key names: every keyless command the server
/// reports whose documentation speaks of keys is either denied to the learner user (asked of
/// the server with `ACL DRYRUN`, arguments padded to the command's arity) or reviewed as
/// revealing no key name; `CLUSTER GETKEYSINSLOT` is refused when typed past the guard.
#[test]
fn no_keyless_command_reveals_key_names_to_a_learner() {
    use redislab::redis::classes::{KEY_LISTING, NAMES_NO_KEY};
    let home = ManagedHome::new();
    assert_success(&run(home.redislab().args(["server", "start"])));
    assert_success(&run_with_stdin(
        home.redislab().args(["--managed", "sandbox"]),
        "PING\n",
    ));
    let port = home.port().expect("port");
    let url = format!("redis://:{}@127.0.0.1:{port}", admin_password(&home));
    let client = redis::Client::open(url).expect("client");
    let mut conn = client.get_connection().expect("connect as admin");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let infos = rt.block_on(async {
        let mut a = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        redislab::redis::classes::server_infos(&mut a)
            .await
            .expect("COMMAND")
    });
    let docs: redis::Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .query(&mut conn)
        .expect("COMMAND DOCS");
    let mut documented = Vec::new();
    summaries(&docs, &mut documented);
    assert!(documented.len() > 200, "{}", documented.len());
    let mut checked = 0;
    for (name, summary) in &documented {
        let keyless = infos.iter().any(|i| i.name == *name && !i.has_keys);
        let speaks_of_keys = summary.to_ascii_lowercase().contains("key");
        if !keyless || !speaks_of_keys {
            continue;
        }
        let reviewed = NAMES_NO_KEY.iter().any(|(n, _)| n == name);
        assert!(
            reviewed || KEY_LISTING.contains(&name.as_str()),
            "{name} ({summary}) names no key and speaks of keys: deny it (KEY_LISTING) or say why it reveals none (NAMES_NO_KEY)"
        );
        if reviewed {
            continue;
        }
        let info: redis::Value = redis::cmd("COMMAND")
            .arg("INFO")
            .arg(name)
            .query(&mut conn)
            .expect("COMMAND INFO");
        let arity = match &info {
            redis::Value::Array(a) => match a.first() {
                Some(redis::Value::Array(e)) => match e.get(1) {
                    Some(redis::Value::Int(n)) => n.unsigned_abs() as usize,
                    _ => 1,
                },
                _ => 1,
            },
            _ => 1,
        };
        let mut args: Vec<String> = name.split('|').map(String::from).collect();
        while args.len() < arity {
            args.push("0".into());
        }
        let verdict: redis::RedisResult<String> = redis::cmd("ACL")
            .arg("DRYRUN")
            .arg("redislab-lab")
            .arg(&args)
            .query(&mut conn);
        let verdict = verdict.unwrap_or_else(|e| e.to_string());
        assert!(
            verdict != "OK" && verdict.contains("permission"),
            "the learner may run {args:?}: {verdict}"
        );
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} key-listing commands checked");
    let typed = as_learner(&home, "lab", &["CLUSTER", "GETKEYSINSLOT", "0", "10"]);
    assert!(typed.contains("NOPERM"), "{typed}");
    assert_success(&home.stop());
}

/// The hostile lesson scripts that are skipped on a foreign server do run on the managed one,
/// where the learner's ACL user fences them: not one reaches a key outside the namespace.
#[test]
fn lesson_folder_scripts_are_fenced_by_the_managed_acl() {
    let home = ManagedHome::new();
    assert_success(&run(home.redislab().args(["server", "start"])));
    for (k, v) in [("victim", "keep me"), ("foreign:string", "x")] {
        admin_cli(&home, &["SET", k, v]);
    }
    admin_cli(&home, &["RPUSH", "foreign:list", "a", "b"]);
    let snapshot = || {
        ["victim", "foreign:string", "foreign:list"]
            .iter()
            .map(|k| admin_cli(&home, &["DUMP", k]))
            .collect::<Vec<_>>()
    };
    let before = snapshot();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile/scripts");
    let mut ran = 0;
    for e in std::fs::read_dir(&dir).expect("fixtures") {
        let name = e.expect("entry").file_name().to_string_lossy().into_owned();
        if !name.ends_with(".yaml") {
            continue;
        }
        let out = run(home
            .redislab()
            .arg("--managed")
            .arg("--lessons")
            .arg(&dir)
            .args(["lesson", &name[..2], "--auto"]));
        assert!(
            !common::stdout(&out).contains("skipped: this step runs a script"),
            "{name} was skipped on the managed server"
        );
        assert_eq!(
            snapshot(),
            before,
            "{name} reached a key outside the namespace"
        );
        ran += 1;
    }
    assert!(ran >= 14, "{ran}");
    assert_success(&home.stop());
}
