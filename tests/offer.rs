//! Server programs in redislab's home, and the offer of a private valkey-server: a
//! demonstration's private server starts from `<home>/bin` when PATH holds no server, and a step
//! that needs a command the learner's server lacks (DELIFEQ on Redis 7.0) runs on a private
//! valkey-server when the learner agrees, is skipped when they do not, and is never offered in
//! `--auto`. The learner's server receives nothing from such a step.

// The test reaches the private server directly, to see that it is gone.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TestRedis, assert_success, require_on_path, run, stderr, stdout};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/offer")
}

/// The real valkey-server, wherever this machine has it.
fn valkey_server() -> PathBuf {
    require_on_path("valkey-server");
    let path = std::env::var_os("PATH").expect("PATH is set");
    std::env::split_paths(&path)
        .map(|d| d.join("valkey-server"))
        .find(|p| p.is_file())
        .expect("valkey-server is on PATH")
}

#[test]
fn a_private_server_starts_from_the_home_when_path_has_no_server() {
    let redis = TestRedis::start();
    let empty = tempfile::tempdir().expect("a folder for PATH");
    let lesson = |home: &Path| {
        run(redis
            .redislab(home)
            .arg("--lessons")
            .arg(fixtures())
            .args(["lesson", "96", "--auto"])
            .env("PATH", empty.path()))
    };

    // No server program anywhere: the step is skipped, and says where redislab looked.
    let bare = tempfile::tempdir().expect("a home");
    let out = lesson(bare.path());
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("skipped"), "{text}");
    assert!(
        text.contains(&bare.path().join("bin").display().to_string()),
        "{text}"
    );

    // valkey-server in the home's bin (as `server install` leaves it): the step runs there.
    let home = tempfile::tempdir().expect("a home");
    std::fs::create_dir_all(home.path().join("bin")).expect("create bin");
    std::os::unix::fs::symlink(valkey_server(), home.path().join("bin/valkey-server"))
        .expect("link valkey-server");
    let out = lesson(home.path());
    assert_success(&out);
    let text = stdout(&out);
    assert!(!text.contains("skipped"), "{text}");
    assert!(text.contains("On a private valkey-server"), "{text}");
    assert!(
        text.contains("✓ at threshold listpack came out at 1"),
        "{text}"
    );

    // validate --live starts its throwaway server from there too, and doctor lists it.
    let out = run(common::redislab_bare(home.path())
        .args(["validate", "--live"])
        .arg(fixtures())
        .env("PATH", empty.path()));
    assert_success(&out);
    assert!(
        stdout(&out).contains("proved on a live server"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    // (Against the test's server: with none given, doctor would start a managed one.)
    let out = run(redis
        .redislab(home.path())
        .arg("doctor")
        .env("PATH", empty.path()));
    assert!(
        stdout(&out).contains("✓ server binary")
            && stdout(&out).contains("valkey-server in redislab's home"),
        "{}",
        stdout(&out)
    );
}

/// `redislab lesson 95` (the fixture) on a Redis 7.0 in an 80×24 pseudo-terminal.
fn lesson_in_a_pty(redis: &TestRedis, home: &Path) -> rexpect::session::PtySession {
    let script = format!(
        "stty cols 80 rows 24; exec {} --redis-url {} --home {} --lessons {} lesson 95",
        common::bin().display(),
        redis.url(),
        home.display(),
        fixtures().display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("REDISLAB_LOCAL_ADDR", common::DEAD_LOCAL_ADDR)
        .env_remove("REDIS_URL")
        .env_remove("REDISLAB_NAMESPACE")
        .env_remove("REDISLAB_LESSONS")
        .env_remove("REDISLAB_HOME")
        .env_remove("CLICOLOR_FORCE");
    let options = rexpect::session::Options::new()
        .timeout_ms(Some(30_000))
        .strip_ansi_escape_codes(true);
    rexpect::session::spawn_with_options(cmd, options).expect("spawn in a pty")
}

fn send(p: &mut rexpect::session::PtySession, s: &str) {
    p.send(s).expect("send");
    p.flush().expect("flush");
}

/// Reads until `what`, keeping everything seen on the way (the session hands back each byte
/// as a char: decoded as UTF-8 here). A pager met on the way ("Enter for more") is answered
/// with Enter, as a reader would.
fn until(p: &mut rexpect::session::PtySession, seen: &mut String, what: &str) {
    const PAGER: &str = "Enter for more";
    let pattern = format!(
        "({}|{})",
        regex_lite::escape(what),
        regex_lite::escape(PAGER)
    );
    loop {
        let (before, matched) = p
            .exp_regex(&pattern)
            .unwrap_or_else(|e| panic!("never saw {what:?}: {e}\n--- seen so far\n{seen}"));
        for part in [before, matched.clone()] {
            let bytes: Vec<u8> = part.chars().map(|c| c as u32 as u8).collect();
            seen.push_str(&String::from_utf8_lossy(&bytes));
        }
        if matched == what || !matched.contains(PAGER) {
            return;
        }
        send(p, "\r");
    }
}

/// The screen's words with every run of blanks (line breaks included) as one space: a line the
/// terminal wrapped reads whole.
fn flat(seen: &str) -> String {
    seen.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Step 1 (a lock on the learner's server), up to the offer at step 2.
fn to_the_offer(p: &mut rexpect::session::PtySession, seen: &mut String) {
    until(p, seen, "Step 1/4");
    until(p, seen, "What now?");
    send(p, "\r");
    until(p, seen, "Step 2/4");
    until(p, seen, "Run this step on a private valkey-server?");
}

/// The quiz after step 3, answered, and the end of the lesson.
fn through_the_quiz(p: &mut rexpect::session::PtySession, seen: &mut String) {
    for q in 1..=5 {
        until(p, seen, &format!("Question {q}/5"));
        until(p, seen, "your answer:");
        send(p, "\r");
    }
    until(p, seen, "Lesson 95 done");
    p.exp_eof().expect("redislab exits");
}

/// Step 4 runs on the learner's server once steps 2 and 3 are over, whichever way.
fn step_4(p: &mut rexpect::session::PtySession, seen: &mut String) {
    until(p, seen, "Step 4/4");
    until(p, seen, "What now?");
    send(p, "\r");
}

#[test]
fn answering_yes_runs_the_step_on_a_private_valkey_server_and_the_lesson_goes_on() {
    require_on_path("valkey-server");
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    let foreign = redis.foreign_fingerprint();
    let home = tempfile::tempdir().expect("a home");
    let mut p = lesson_in_a_pty(&redis, home.path());
    let mut seen = String::new();
    to_the_offer(&mut p, &mut seen);
    assert!(
        seen.contains("This step needs DELIFEQ, which this server lacks"),
        "{seen}"
    );
    send(&mut p, "\r");
    until(&mut p, &mut seen, "This step runs on a private server");
    until(&mut p, &mut seen, "What now?");
    send(&mut p, "\r");
    // The step's commands, checks and key table, on Valkey: both DELIFEQs answered.
    until(&mut p, &mut seen, "DELIFEQ lab:of:lock tok");
    until(&mut p, &mut seen, "(integer) 1");
    until(&mut p, &mut seen, "lab:of:lock: missing");
    // Step 3 needs DELIFEQ too: offered on the same server, it reads what step 2 made there.
    until(&mut p, &mut seen, "Step 3/4");
    until(&mut p, &mut seen, "Run this step there too?");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "What now?");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "GET lab:of:made");
    until(&mut p, &mut seen, "The private server (Valkey 9");
    until(&mut p, &mut seen, "is stopped");
    step_4(&mut p, &mut seen);
    through_the_quiz(&mut p, &mut seen);

    assert!(
        flat(&seen).contains("Your 1 lesson key was copied there; your own server is not touched"),
        "{seen}"
    );
    assert!(
        flat(&seen).contains("the keys these steps made there are gone with it"),
        "{seen}"
    );
    assert!(!seen.contains("skipped"), "{seen}");
    assert!(!seen.contains('✗'), "{seen}");
    // The address it showed no longer answers: the server went with the step.
    let shown = seen
        .split("Valkey 9.")
        .nth(1)
        .and_then(|rest| rest.split("127.0.0.1:").nth(1))
        .and_then(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse::<u16>()
                .ok()
        })
        .unwrap_or_else(|| panic!("no private server's port on screen:\n{seen}"));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", shown)).is_err(),
        "the private server on port {shown} still answers"
    );
    // The learner's server: the lock step 1 took is still there (DELIFEQ deleted only the
    // copy), step 2's own key never reached it, step 3 ran on it, nothing else changed.
    assert_eq!(redis.cli_raw(&["GET", "lab:of:lock"]).trim(), "tok");
    assert_eq!(redis.cli_raw(&["EXISTS", "lab:of:made"]).trim(), "0");
    assert_eq!(redis.cli_raw(&["GET", "lab:of:after"]).trim(), "1");
    assert_eq!(redis.foreign_fingerprint(), foreign);
    let progress = run(redis
        .redislab(home.path())
        .arg("--lessons")
        .arg(fixtures())
        .args(["progress", "--json"]));
    assert_success(&progress);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&progress)).expect("progress --json is JSON");
    let text = json.to_string();
    assert!(text.contains("\"95\""), "{text}");
}

#[test]
fn answering_no_skips_the_step_and_auto_never_asks() {
    require_on_path("valkey-server");
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("a home");
    let mut p = lesson_in_a_pty(&redis, home.path());
    let mut seen = String::new();
    to_the_offer(&mut p, &mut seen);
    send(&mut p, "\x1b[B\r");
    until(&mut p, &mut seen, "skipped");
    // Step 3 is offered on its own server. Declined step 2 left it nothing to read, so step 2
    // runs there first, quietly, and step 3 finds what it made.
    until(&mut p, &mut seen, "Step 3/4");
    until(
        &mut p,
        &mut seen,
        "Run this step on a private valkey-server?",
    );
    send(&mut p, "\r");
    until(&mut p, &mut seen, "What now?");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "GET lab:of:made");
    until(&mut p, &mut seen, "is stopped");
    step_4(&mut p, &mut seen);
    through_the_quiz(&mut p, &mut seen);
    assert!(
        flat(&seen).contains("Valkey 9.0 and later have DELIFEQ"),
        "{seen}"
    );
    assert!(
        flat(&seen).contains("Step 2, which needs newer commands too, ran there first"),
        "{seen}"
    );
    assert!(!seen.contains('✗'), "{seen}");
    assert_eq!(redis.cli_raw(&["GET", "lab:of:lock"]).trim(), "tok");
    assert_eq!(redis.cli_raw(&["EXISTS", "lab:of:made"]).trim(), "0");

    // --auto: no question, the step skipped with its note, the rest run.
    let out = run(redis
        .redislab(home.path())
        .arg("--lessons")
        .arg(fixtures())
        .args(["lesson", "95", "--auto"]));
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("skipped"), "{text}");
    assert!(!text.contains("Run this step on a private"), "{text}");
    assert!(
        !text.contains("This step runs on a private server"),
        "{text}"
    );
    assert_eq!(redis.cli_raw(&["EXISTS", "lab:of:made"]).trim(), "0");
}

/// The shipped lesson's own newer-command step (07's DELIFEQ release), where a learner meets the
/// offer on Redis 7.0: it passes on the private valkey-server and the lesson goes on to step 7.
#[test]
fn lesson_07s_delifeq_step_passes_on_a_private_valkey_server() {
    require_on_path("valkey-server");
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("a home");
    let script = format!(
        "stty cols 80 rows 24; exec {} --redis-url {} --home {} lesson 07 --from-step 6",
        common::bin().display(),
        redis.url(),
        home.path().display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("REDISLAB_LOCAL_ADDR", common::DEAD_LOCAL_ADDR)
        .env_remove("REDIS_URL")
        .env_remove("REDISLAB_NAMESPACE")
        .env_remove("REDISLAB_LESSONS")
        .env_remove("REDISLAB_HOME")
        .env_remove("CLICOLOR_FORCE");
    let options = rexpect::session::Options::new()
        .timeout_ms(Some(30_000))
        .strip_ansi_escape_codes(true);
    let mut p = rexpect::session::spawn_with_options(cmd, options).expect("spawn in a pty");
    let mut seen = String::new();
    until(&mut p, &mut seen, "Step 6/19");
    until(
        &mut p,
        &mut seen,
        "Run this step on a private valkey-server?",
    );
    send(&mut p, "\r");
    until(&mut p, &mut seen, "This step runs on a private server");
    until(&mut p, &mut seen, "What now?");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "is stopped");
    until(&mut p, &mut seen, "Step 7/19");
    until(&mut p, &mut seen, "What now?");
    // Quit, the menu's last entry.
    send(&mut p, "\x1b[B\x1b[B\x1b[B\x1b[B\r");
    p.exp_eof().expect("redislab exits");
    let flat = flat(&seen);
    assert!(flat.contains("This step needs DELIFEQ"), "{seen}");
    assert!(flat.contains("✓ lab:lock:coupon:1: missing"), "{seen}");
    assert!(!seen.contains('✗'), "{seen}");
    assert!(!seen.contains("skipped"), "{seen}");
    // Step 6 counts as done: the next run resumes after it.
    let progress = run(redis.redislab(home.path()).args(["progress", "--json"]));
    assert_success(&progress);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&progress)).expect("progress --json is JSON");
    let lesson = json
        .as_array()
        .and_then(|a| a.iter().find(|l| l["lesson_id"] == "07"))
        .unwrap_or_else(|| panic!("no lesson 07 in {json:#}"));
    assert_eq!(lesson["last_step"], 6, "{json:#}");
}
