//! Attacks on the trust boundary, against real redis-servers: a corpus of sandbox lines that
//! try to reach beyond the namespace (on a foreign server and on the managed one), hostile lesson
//! files `validate` must reject, and the command classes checked against a live server.
// Attacks reach the servers directly, to play the hostile server and to check what changed.
#![allow(clippy::disallowed_methods)]

mod common;
#[path = "attack/lessons.rs"]
mod lessons;
#[path = "attack/managed.rs"]
mod managed;
#[path = "attack/output.rs"]
mod output;
#[path = "attack/property.rs"]
mod property;
#[path = "attack/silent.rs"]
mod silent;

use common::{ManagedHome, TestRedis, assert_success, run, run_with_stdin};
use managed::admin_cli;

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
        // The quotes redis-cli puts around the line would stick to whichever rule comes first.
        let user = user.replace('"', "");
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

/// A lesson from a `--lessons` folder that declares the managed server still may not act on the
/// whole server: other namespaces share it. Validation passes (the file is well formed), the
/// lesson runs, and its FLUSHALL, CONFIG SET and SCRIPT FLUSH are refused while it may still
/// read a setting; another namespace's key survives.
#[test]
fn a_folder_lesson_on_the_managed_server_cannot_act_on_the_whole_server() {
    let home = ManagedHome::new();
    assert_success(&run(home.redislab().args(["server", "start"])));
    admin_cli(&home, &["SET", "alice:keep", "1"]);
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/folder-wide");
    let valid = run(home.redislab().args(["--lessons", folder, "validate"]));
    assert_success(&valid);
    let out =
        run(home
            .redislab()
            .args(["--managed", "--lessons", folder, "lesson", "90", "--auto"]));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(text.contains("\"maxmemory\""), "{text}");
    for name in ["FLUSHALL", "CONFIG", "SCRIPT"] {
        assert!(
            text.contains(&format!(
                "(refused) {name} acts on the whole server, and other namespaces share it"
            )),
            "{name} was not refused:\n{text}"
        );
    }
    assert_eq!(admin_cli(&home, &["GET", "alice:keep"]), "\"1\"\n");
    assert_eq!(
        admin_cli(&home, &["CONFIG", "GET", "maxmemory"]),
        "1) \"maxmemory\"\n2) \"0\"\n"
    );
    assert_success(&home.stop());
}

/// The guard and `validate` can never disagree: every server-wide command in the generated
/// table is refused by the sandbox on a foreign server and rejected by `validate` in a lesson
/// that does not declare the managed server (reading a setting, CONFIG GET, is the one thing a
/// lesson may show).
#[test]
fn guard_and_validate_agree_on_every_server_wide_command() {
    use redislab::redis::classes::Class;
    use redislab::redis::command_table::TABLE;
    let lines: Vec<String> = TABLE
        .iter()
        .filter(|(_, c)| *c == Class::ServerWide)
        .map(|(name, _)| name.replace('|', " ").to_ascii_uppercase())
        .collect();
    assert!(lines.len() > 50, "{lines:?}");

    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    let out = run_with_stdin(
        redis.redislab(home.path()).arg("sandbox"),
        &(lines.join("\n") + "\n"),
    );
    assert_success(&out);
    let err = common::stderr(&out);
    assert_eq!(err.matches("(refused)").count(), lines.len(), "{err}");
    assert_eq!(
        common::stdout(&out),
        "",
        "a server-wide command reached the server"
    );

    let steps: String = lines.iter().map(|l| format!("      - {l}\n")).collect();
    let quiz: String = (1..=5)
        .map(|i| {
            format!(
                "  - question: Q{i}?\n    choices: [a, b]\n    answer: 1\n    explanation: E.\n"
            )
        })
        .collect();
    let text = format!(
        "format_version: 1\nid: \"40\"\nslug: agree\ntitle: t\nstructure: s\nuse_case: u\nconcept: c\n\
         introduction: i\nkeys: [\"${{ns}}:a:*\"]\nsteps:\n  - kind: run\n    title: t\n    text: t\n\
         \x20   commands:\n{steps}    checks: [{{reply: OK}}]\nquiz:\n{quiz}"
    );
    let files = vec![("40-agree.yaml".to_string(), text)];
    let (_, problems) = futures_util::FutureExt::now_or_never(
        redislab::lesson::validate::validate_texts(&files, None),
    )
    .expect("static validation does not wait")
    .expect("validation runs");
    let flagged: Vec<String> = problems.iter().map(|p| p.message.clone()).collect();
    let allowed = ["CONFIG GET"];
    for line in lines.iter().filter(|l| !allowed.contains(&l.as_str())) {
        assert!(
            flagged.iter().any(|m| {
                m.starts_with(&format!("{line} acts on the whole server"))
                    || m.starts_with(&format!("{line} leaves the connection's database"))
            }),
            "validate accepts {line}: {flagged:#?}"
        );
    }
    assert_eq!(flagged.len(), lines.len() - allowed.len(), "{flagged:#?}");
}
