//! Attacks on the trust boundary, against real redis-servers: a corpus of sandbox lines that
//! try to reach beyond the namespace (on a foreign server and on the managed one), hostile lesson
//! files `validate` must reject, and the command classes checked against a live server.

mod common;

use common::{ManagedHome, TestRedis, assert_success, run, run_with_stdin};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build a runtime")
}

/// The checked-in command classes are what a real server says today.
#[test]
fn command_table_matches_the_server() {
    let redis = TestRedis::start();
    let generated = runtime().block_on(async {
        let client = redis::Client::open(redis.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let infos = redislab::redis::classes::server_infos(&mut conn)
            .await
            .expect("COMMAND");
        let version = redis.cli_raw(&["INFO", "server"]);
        let version = version
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("?")
            .trim()
            .to_string();
        redislab::redis::classes::generate(&infos, &format!("redis-server {version}"))
    });
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/redis/command_table.rs");
    if std::env::var_os("REDISLAB_REGENERATE").is_some() {
        std::fs::write(path, &generated).expect("write command_table.rs");
    }
    let checked_in = std::fs::read_to_string(path).expect("read command_table.rs");
    assert!(
        checked_in == generated,
        "src/redis/command_table.rs is out of date: run `REDISLAB_REGENERATE=1 cargo test --test attack command_table`"
    );
}

/// The managed server's admin password (its own file: a CONFIG REWRITE reformats redis.conf).
fn admin_password(home: &ManagedHome) -> String {
    std::fs::read_to_string(home.path().join("server/redis.password"))
        .expect("read the managed server's password file")
        .trim()
        .to_string()
}

/// redis-cli as the managed server's admin.
fn admin_cli(home: &ManagedHome, args: &[&str]) -> String {
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
        &["MODULE", "LIST"],
    ] {
        let reply = as_learner(&home, "bob", attack);
        assert!(
            reply.contains("NOPERM"),
            "{attack:?} as the learner: {reply}"
        );
    }
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

/// Sets keys whose names and values carry terminal escapes and bidi controls, as any client of
/// a shared server could.
fn seed_evil_keys(redis: &TestRedis) {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let evil: &[u8] = b"evil\x1b]0;TITLE\x07\x1b[2J";
    let mut key = b"lab:".to_vec();
    key.extend_from_slice(evil);
    let bidi = "lab:\u{202E}txt.exe".as_bytes().to_vec();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(evil)
        .query(&mut conn)
        .expect("SET");
    let _: () = redis::cmd("SET")
        .arg(evil)
        .arg("x")
        .query(&mut conn)
        .expect("SET");
    let _: () = redis::cmd("HSET")
        .arg(&bidi)
        .arg(evil)
        .arg(evil)
        .query(&mut conn)
        .expect("HSET");
    let _: () = redis::cmd("XADD")
        .arg("lab:stream")
        .arg("*")
        .arg(evil)
        .arg(evil)
        .query(&mut conn)
        .expect("XADD");
}

fn assert_no_raw_controls(out: &std::process::Output, what: &str) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !bytes.contains(&0x1b) && !bytes.contains(&0x07) && !text.contains('\u{202E}'),
            "{what} wrote a raw control character to {name}:\n{text}"
        );
    }
}

/// B10: key names, values, fields and errors from the server never reach the terminal raw.
#[test]
fn server_text_is_escaped_everywhere_it_is_printed() {
    let redis = TestRedis::start();
    seed_evil_keys(&redis);
    let home = tempfile::tempdir().expect("home");
    let inspect = run(redis.redislab(home.path()).arg("inspect"));
    assert_success(&inspect);
    assert_no_raw_controls(&inspect, "inspect");
    assert!(
        common::stdout(&inspect).contains(r"evil\x1b]0;TITLE"),
        "{}",
        common::stdout(&inspect)
    );
    let all = run(redis.redislab(home.path()).args(["inspect", "--all"]));
    assert_success(&all);
    assert_no_raw_controls(&all, "inspect --all");
    let json = run(redis.redislab(home.path()).args(["inspect", "--json"]));
    assert_success(&json);
    assert_no_raw_controls(&json, "inspect --json");
    let sandbox = run_with_stdin(
        redis.redislab(home.path()).args(["sandbox", "--inspect"]),
        "SCAN 0 MATCH lab:* COUNT 100\nHGETALL \"lab:\u{202E}txt.exe\"\nXRANGE lab:stream - +\nGET lab:x\n",
    );
    assert_success(&sandbox);
    assert_no_raw_controls(&sandbox, "sandbox");
}

/// B9: a password in any URL form is never printed, in the banner or in an error.
#[test]
fn no_url_form_prints_its_password() {
    let redis = TestRedis::start_with_password("hunter2");
    let home = tempfile::tempdir().expect("home");
    let port = redis.port();
    for url in [
        format!("redis://127.0.0.1:{port}/?password=hunter2"),
        format!("redis://:hunter2@127.0.0.1:{port}"),
        format!("redis://default:hunter2@127.0.0.1:{port}/0"),
        "redis://127.0.0.1:1/?password=hunter2".to_string(),
        format!("redis://:wrong-hunter2@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}/?db=0&password=wrong-hunter2#x"),
        "redis+unix:///nonexistent/redis.sock?pass=hunter2".to_string(),
        "hunter2".to_string(),
    ] {
        for via_env in [false, true] {
            let mut cmd = common::redislab_bare(home.path());
            if via_env {
                cmd.env("REDIS_URL", &url);
            } else {
                cmd.arg("--redis-url").arg(&url);
            }
            let out = run(cmd.args(["inspect", "--limit", "1"]));
            let all = format!("{}{}", common::stdout(&out), common::stderr(&out));
            assert!(
                !all.contains("hunter2"),
                "{url} (env: {via_env}) printed its password:\n{all}"
            );
        }
    }
}

/// Starts `inspect --watch` and returns it once its first screen is out.
fn watching(
    redis: &TestRedis,
    home: &std::path::Path,
) -> (std::process::Child, std::process::ChildStdout) {
    use std::io::Read;
    let mut child = redis
        .redislab(home)
        .args(["inspect", "--watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn inspect --watch");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("lab:watched") {
        let n = stdout.read(&mut buf).expect("read inspect --watch");
        assert!(
            n > 0,
            "inspect --watch ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    (child, stdout)
}

fn finish(child: std::process::Child, stdout: std::process::ChildStdout) -> (Option<i32>, String) {
    drop(stdout); // nothing reads the screens any more; a full pipe must not hold it up
    let out = child.wait_with_output().expect("wait for inspect --watch");
    (out.status.code(), common::stderr(&out))
}

/// B11: a server that goes away, or stops answering, mid-run ends the run with exit 2 and one
/// line naming it — not exit 1 with "broken pipe: broken pipe".
#[test]
fn a_lost_or_silent_server_is_exit_2_naming_it() {
    let home = tempfile::tempdir().expect("home");
    let redis = TestRedis::start();
    redis.cli(&["SET", "lab:watched", "1"]);
    let addr = redis.addr();
    let (child, stdout) = watching(&redis, home.path());
    drop(redis);
    let (code, err) = finish(child, stdout);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err.lines().last(),
        Some(format!("error: lost the connection to Redis at {addr}").as_str())
    );

    let redis = TestRedis::start();
    redis.cli(&["SET", "lab:watched", "1"]);
    let pid = redis
        .cli_raw(&["INFO", "server"])
        .lines()
        .find_map(|l| l.strip_prefix("process_id:").map(|p| p.trim().to_string()))
        .expect("process_id");
    let (child, stdout) = watching(&redis, home.path());
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let (code, err) = finish(child, stdout);
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status();
    assert_eq!(code, Some(2), "{err}");
    let want = format!(
        "error: Redis at {} did not answer within 10 s",
        redis.addr()
    );
    assert_eq!(err.lines().last(), Some(want.as_str()), "{err}");
}

/// The attack corpus in sections (split at `# --` lines, at most 30 lines each), so a MULTI and
/// its EXEC run in one sandbox.
fn attack_batches() -> Vec<String> {
    let text = include_str!("fixtures/hostile/sandbox-attacks.txt");
    let mut batches: Vec<Vec<&str>> = vec![Vec::new()];
    for line in text.lines() {
        if line.starts_with("# --") || batches.last().is_some_and(|b| b.len() >= 30) {
            batches.push(Vec::new());
        }
        if !line.starts_with('#') && !line.trim().is_empty() {
            batches.last_mut().expect("a batch").push(line);
        }
    }
    let total: usize = batches.iter().map(Vec::len).sum();
    assert!(total >= 200, "the corpus has only {total} attack lines");
    batches
        .into_iter()
        .filter(|b| !b.is_empty())
        .map(|b| b.join("\n") + "\n")
        .collect()
}

/// What must never change, read with full rights through `cli`: every key outside `lab:`
/// (type, serialized value, whether it has a TTL), database 1, the settings that expose or
/// wipe a server, users, functions.
fn server_fingerprint(cli: &dyn Fn(&[&str]) -> String, keys: &[String]) -> String {
    let mut out = String::new();
    for k in keys.iter().filter(|k| !k.starts_with("lab:")) {
        out.push_str(&format!("== {k} {}", cli(&["TYPE", k])));
        out.push_str(&cli(&["DUMP", k]));
        out.push_str(if cli(&["PTTL", k]).contains("-1") {
            "no TTL\n"
        } else {
            "TTL\n"
        });
    }
    for setting in [
        "maxmemory",
        "maxmemory-policy",
        "protected-mode",
        "requirepass",
        "bind",
        "save",
        "dir",
        "dbfilename",
        "appendonly",
    ] {
        out.push_str(&cli(&["CONFIG", "GET", setting]));
    }
    // Users and their rules (Redis lists a user's rules in no fixed order).
    for user in cli(&["ACL", "LIST"]).lines() {
        let mut rules: Vec<&str> = user.split_whitespace().collect();
        rules.sort();
        out.push_str(&rules.join(" "));
        out.push('\n');
    }
    out.push_str(&cli(&["FUNCTION", "LIST"]));
    out.push_str(&cli(&["ROLE"]));
    out
}

fn assert_no_panic(out: &std::process::Output, batch: &str) {
    let err = common::stderr(out);
    assert!(
        out.status.code().is_some_and(|c| c == 0)
            && !err.contains("internal error")
            && !err.contains("panicked"),
        "the sandbox failed on this batch ({:?}):\n{batch}\n--- stderr\n{err}",
        out.status.code()
    );
    // Every line got an answer (a reply or a refusal): the sandbox did not stop early.
    let answers = common::stdout(out)
        .lines()
        .filter(|l| !l.starts_with("   "))
        .count()
        + err.lines().count()
        - 1;
    assert!(
        answers >= batch.lines().count(),
        "{answers} answers to {} lines:\n{batch}\n--- stdout\n{}\n--- stderr\n{err}",
        batch.lines().count(),
        common::stdout(out)
    );
}

/// Every attack line on a server redislab does not own: nothing outside `lab:` changes, no
/// setting changes, nothing lands in another database, nothing panics.
#[test]
fn attack_corpus_on_a_foreign_server() {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    redis.cli(&["SET", "victim", "keep me"]);
    let home = tempfile::tempdir().expect("home");
    let cli = |args: &[&str]| redis.cli(args);
    let keys = redis.all_keys();
    let before = server_fingerprint(&cli, &keys);
    for batch in attack_batches() {
        let out = run_with_stdin(redis.redislab(home.path()).arg("sandbox"), &batch);
        assert_no_panic(&out, &batch);
        let now: Vec<String> = redis
            .all_keys()
            .into_iter()
            .filter(|k| !k.starts_with("lab:"))
            .collect();
        let was: Vec<String> = keys
            .iter()
            .filter(|k| !k.starts_with("lab:"))
            .cloned()
            .collect();
        assert_eq!(now, was, "keys outside lab: changed after:\n{batch}");
        assert_eq!(
            server_fingerprint(&cli, &keys),
            before,
            "the server changed after:\n{batch}"
        );
        let db1 = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port().to_string(), "-n", "1", "DBSIZE"])
            .output()
            .expect("redis-cli");
        assert_eq!(
            common::stdout(&db1).trim(),
            "0",
            "database 1 gained keys after:\n{batch}"
        );
    }
}

/// The same corpus on the managed server, as namespace `lab` beside another namespace's keys.
#[test]
fn attack_corpus_on_the_managed_server() {
    let home = ManagedHome::new();
    assert_success(&run(home.redislab().args(["server", "start"])));
    for (k, v) in [
        ("victim", "keep me"),
        ("alice:keep", "1"),
        ("foreign:string", "x"),
    ] {
        admin_cli(&home, &["SET", k, v]);
    }
    admin_cli(&home, &["RPUSH", "foreign:list", "a", "b"]);
    admin_cli(&home, &["XADD", "foreign:stream", "1-1", "f", "v"]);
    admin_cli(&home, &["XGROUP", "CREATE", "foreign:stream", "grp", "0"]);
    let cli = |args: &[&str]| admin_cli(&home, args);
    let keys: Vec<String> = [
        "victim",
        "alice:keep",
        "foreign:string",
        "foreign:list",
        "foreign:stream",
    ]
    .map(String::from)
    .to_vec();
    // The first sandbox creates the learner's ACL user; that is the state to keep.
    assert_success(&run_with_stdin(
        home.redislab().args(["--managed", "sandbox"]),
        "PING\n",
    ));
    let before = server_fingerprint(&cli, &keys);
    let port = home.port().expect("port");
    for batch in attack_batches() {
        let out = run_with_stdin(home.redislab().args(["--managed", "sandbox"]), &batch);
        assert_no_panic(&out, &batch);
        assert_eq!(
            home.port(),
            Some(port),
            "the managed server changed after:\n{batch}"
        );
        assert_eq!(
            server_fingerprint(&cli, &keys),
            before,
            "the server changed after:\n{batch}"
        );
        let db1 = admin_cli(
            &home,
            &[
                "EVAL",
                "redis.call('SELECT', 1) return redis.call('DBSIZE')",
                "0",
            ],
        );
        assert_eq!(
            db1, "(integer) 0\n",
            "database 1 gained keys after:\n{batch}"
        );
    }
    assert_success(&home.stop());
}

fn hostile_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile")
}

/// Every hostile lesson file is rejected by `validate`, for the reason its first line names.
#[test]
fn validate_rejects_every_hostile_lesson() {
    let home = tempfile::tempdir().expect("home");
    let mut files: Vec<_> = std::fs::read_dir(hostile_dir())
        .expect("read the hostile fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut rejected = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read fixture");
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` line", f.display()));
        let out = run(common::redislab_bare(home.path()).arg("validate").arg(f));
        if expect == "(valid)" {
            assert_success(&out); // the template every hostile file is made from is fine
            continue;
        }
        assert_eq!(
            out.status.code(),
            Some(1),
            "{} was accepted:\n{}",
            f.display(),
            common::stdout(&out)
        );
        assert!(
            common::stdout(&out).contains(expect),
            "{}: expected {expect:?}, got:\n{}",
            f.display(),
            common::stdout(&out)
        );
        rejected += 1;
    }
    assert!(rejected >= 20, "only {rejected} hostile lessons");
}

/// B2: `lesson`, `quiz` and `reset` refuse an override folder with problems before anything
/// runs, listing them as file:line:col.
#[test]
fn override_lessons_with_problems_never_run() {
    let redis = TestRedis::start();
    redis.cli(&["SET", "victim", "keep me"]);
    let home = tempfile::tempdir().expect("home");
    for args in [
        &["lesson", "50", "--auto"][..],
        &["quiz", "50"],
        &["reset", "50"],
    ] {
        let out = run(redis
            .redislab(home.path())
            .arg("--lessons")
            .arg(hostile_dir())
            .args(args));
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let err = common::stderr(&out);
        assert!(
            err.contains("have problems, so none of them runs"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains("50-flushall.yaml:16:9: FLUSHALL acts on the whole server"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(redis.cli(&["GET", "victim"]), "\"keep me\"\n");
}

/// Lessons that pass every static check and still reach outside the namespace when run: only
/// the lesson gate (every outgoing command checked, scripts included) can stop them.
fn gate_lesson_keeps(id: &str, victim: &str) {
    let redis = TestRedis::start();
    redis.cli(&["SET", victim, "keep me"]);
    let home = tempfile::tempdir().expect("home");
    let gate = hostile_dir().join("gate");
    assert_success(&run(common::redislab_bare(home.path())
        .arg("validate")
        .arg(&gate)));
    let _ = run(redis
        .redislab(home.path())
        .arg("--lessons")
        .arg(&gate)
        .args(["lesson", id, "--auto"]));
    assert_eq!(
        redis.cli(&["GET", victim]),
        "\"keep me\"\n",
        "lesson {id} deleted {victim}"
    );
}

#[test]
#[ignore = "needs the lesson gate"]
fn gate_b1_a_saved_sha_cannot_run_a_foreign_script() {
    gate_lesson_keeps("90", "victim");
}

#[test]
#[ignore = "needs the lesson gate"]
fn gate_b3_a_variable_with_a_space_cannot_add_a_key() {
    gate_lesson_keeps("91", "victim");
}

#[test]
#[ignore = "needs the lesson gate"]
fn gate_a_script_cannot_touch_undeclared_keys() {
    gate_lesson_keeps("92", "counter");
}

/// A small fixed-seed generator (xorshift64*): the property tests below are reproducible
/// without another dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Lines made of the characters the tokenizer treats specially, plus random bytes.
fn random_line(rng: &mut Rng) -> String {
    const PIECES: &[&str] = &[
        "\"", "'", "\\", "\\x", "\\x4", "\\x41", "\\n", "\\\"", "\\'", " ", "  ", "\t", "a", "SET",
        "lab:k", "é", "\u{202E}", "\x1b", "\0", "\\xzz", "\"\"", "''", "x\"y", "\r\n",
    ];
    let mut s = String::new();
    for _ in 0..rng.below(12) {
        if rng.below(5) == 0 {
            let b = rng.next() as u8;
            s.push_str(&String::from_utf8_lossy(&[b]));
        } else {
            s.push_str(*rng.pick(PIECES));
        }
    }
    s
}

/// The tokenizer never panics, and what it accepts survives a round trip through the
/// display form (which quotes as redis-cli does).
#[test]
fn tokenizer_property() {
    use redislab::redis::tokenize::{display_args, tokenize};
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    for _ in 0..20_000 {
        let line = random_line(&mut rng);
        if let Ok(args) = tokenize(&line) {
            let shown = display_args(&args);
            assert_eq!(
                tokenize(&shown).ok(),
                Some(args),
                "line {line:?} shown as {shown:?}"
            );
        }
    }
}

/// Mutations of real lessons: lines dropped, duplicated, swapped, truncated, or given hostile
/// YAML. Parsing and the static validation return problems, never panic.
#[test]
fn lesson_loader_property() {
    use futures_util::FutureExt;
    let lessons = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    let mut texts: Vec<String> = std::fs::read_dir(&lessons)
        .expect("read lessons/")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read lesson"))
        .collect();
    texts.sort();
    const HOSTILE: &[&str] = &[
        "a: &a [*a, *a]",
        "x: !!binary AAAA",
        "iterations: 18446744073709551616",
        "seconds: -1",
        "of: 0",
        "? [a, b]\n: c",
        "- {",
        "'",
        "\t- x",
        "id: !!int 7",
        "len: 1e400",
        "keys: *undefined",
        "%YAML 9.9",
        "---\n---",
        "steps: {}",
    ];
    let mut rng = Rng(0x5eed_1234_abcd_0002);
    let started = std::time::Instant::now();
    for i in 0..600 {
        let base = rng.pick(&texts);
        let mut lines: Vec<String> = base.lines().map(str::to_string).collect();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(lines.len());
            match rng.below(6) {
                0 => {
                    lines.remove(at);
                }
                1 => lines.insert(at, lines[at].clone()),
                2 => {
                    let other = rng.below(lines.len());
                    lines.swap(at, other);
                }
                3 => {
                    let cut = rng.below(lines[at].len() + 1);
                    let cut = (0..=cut)
                        .rev()
                        .find(|c| lines[at].is_char_boundary(*c))
                        .unwrap_or(0);
                    lines[at].truncate(cut);
                }
                4 => lines.insert(at, rng.pick(HOSTILE).to_string()),
                _ => lines[at].push_str(&random_line(&mut rng)),
            }
            if lines.is_empty() {
                lines.push(String::new());
            }
        }
        let text = lines.join("\n");
        let name = format!("mutant-{i}.yaml");
        let _ = redislab::lesson::loader::parse(&name, &text);
        let files = vec![(name, text)];
        let checked = redislab::lesson::validate::validate_texts(&files, None).now_or_never();
        assert!(checked.is_some(), "static validation waited");
    }
    // Random bytes, too.
    for _ in 0..2_000 {
        let bytes: Vec<u8> = (0..rng.below(200)).map(|_| rng.next() as u8).collect();
        let _ = redislab::lesson::loader::parse("random.yaml", &String::from_utf8_lossy(&bytes));
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(45),
        "took {:?}",
        started.elapsed()
    );
}
