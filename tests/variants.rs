//! A typed step's `accepts`: other right answers, each proved by `validate --live` against every
//! later step, so no answer a step accepts can strand the learner two steps later (issue 17,
//! item 2). Engine tests use the fixture lesson 43 (tests/fixtures/variants/): in `strands/`
//! its step 1 accepts `SET ... 10.0`, which step 2's INCR then fails on; in `pinned/` a check
//! on step 1 refuses that answer at once. The PTY tests walk the shipped lessons 11 and 07 as a
//! person types them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{TestRedis, assert_success, run, stderr, stdout};

fn fixture(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/variants")
        .join(dir)
}

fn both(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

fn validate(args: &[&str], path: &Path) -> Output {
    let home = tempfile::tempdir().expect("temp home");
    run(common::redislab_bare(home.path())
        .arg("validate")
        .args(args)
        .arg(path))
}

#[test]
fn a_variant_that_strands_a_later_step_fails_validate_live_naming_both_steps() {
    let out = validate(&["--live"], &fixture("strands"));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "live: step 1 accepts \"SET ${ns}:hits 10.0\", but step 2's own commands then fail"
        ),
        "{}",
        both(&out)
    );
    assert!(
        text.contains("expected 11, found (error) ERR value is not an integer"),
        "the first failed check of step 2 is named:\n{text}"
    );
    assert!(
        text.contains("pin what step 2 (Count one hit) needs with a check on step 1, or list the variant under wrong_answers"),
        "{text}"
    );
    // Statically the same file is fine: only the live replay can see the stranding.
    assert_success(&validate(&[], &fixture("strands")));
}

#[test]
fn the_same_lesson_with_a_pinning_check_passes_validate_live() {
    let out = validate(&["--live"], &fixture("pinned"));
    assert_success(&out);
    assert!(
        stdout(&out).contains(
            "every step and exercise proved on a live server, with 1 accepted variant replayed through every later step"
        ),
        "{}",
        both(&out)
    );
}

/// A variant its own step's checks refuse is a mistake in the lesson too: it belongs under
/// `wrong_answers`, and `validate --live` says so.
#[test]
fn a_variant_its_own_checks_refuse_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(fixture("pinned").join("43-counter-variant.yaml"))
        .expect("read the fixture");
    let text = text.replace(
        "      - [\"INCRBY ${ns}:hits 10\"]",
        "      - [\"INCRBY ${ns}:hits 9\"]",
    );
    let file = dir.path().join("43-counter-variant.yaml");
    std::fs::write(&file, text).expect("write the lesson");
    let out = validate(&["--live"], &file);
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains(
            "live: step 1 accepts \"INCRBY ${ns}:hits 9\", but its own checks refuse it (✗ value of"
        ),
        "{}",
        both(&out)
    );
}

/// `accepts` obeys the static rules of a step's own commands: keys inside `${ns}`, commands that
/// tokenise, one line per command of a run step, and only on a typed step.
#[test]
fn validate_checks_accepts_statically() {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = std::fs::read_to_string(fixture("pinned").join("43-counter-variant.yaml"))
        .expect("read the fixture");
    let file = dir.path().join("43-counter-variant.yaml");
    let cases = [
        (
            base.replace(
                "      - [\"INCRBY ${ns}:hits 10\"]",
                "      - [\"INCRBY hits 10\"]",
            ),
            "key hits is outside the namespace",
        ),
        (
            base.replace(
                "      - [\"INCRBY ${ns}:hits 10\"]",
                "      - [\"INCRBY \\\"${ns}:hits 10\"]",
            ),
            "does not tokenise as redis-cli would",
        ),
        (
            base.replace(
                "    commands: [\"INCR ${ns}:hits\"]",
                "    commands: [\"INCR ${ns}:hits\"]\n    accepts: [[\"INCRBY ${ns}:hits 1\", \"GET ${ns}:hits\"]]",
            ),
            "step 2: accepts variant 1 has 2 line(s), but the step has 1 command(s)",
        ),
        (
            base.replace(
                "    commands: [\"INCR ${ns}:hits\"]",
                "    commands: [\"INCR ${ns}:hits\"]\n  - kind: wait\n    title: Wait\n    text: A second.\n    seconds: 1\n    accepts: [[\"GET ${ns}:hits\"]]",
            ),
            "a wait step does not take `accepts`",
        ),
    ];
    for (text, message) in cases {
        assert_ne!(text, base, "the case changed nothing: {message}");
        std::fs::write(&file, &text).expect("write the lesson");
        let out = validate(&[], &file);
        assert_eq!(out.status.code(), Some(1), "{message}: {}", both(&out));
        assert!(stdout(&out).contains(message), "{message}: {}", both(&out));
    }
}

// ---------------------------------------------------------------------------------------------
// A person at the keyboard, 80×24
// ---------------------------------------------------------------------------------------------

fn pty(redis: &TestRedis, home: &Path, args: &str) -> rexpect::session::PtySession {
    let script = format!(
        "stty cols 80 rows 24; exec {} --redis-url {} --home {} {args}",
        common::bin().display(),
        redis.url(),
        home.display()
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

/// Reads until `what`, pressing Enter at every "Enter for more" on the way.
fn through_pages(p: &mut rexpect::session::PtySession, seen: &mut String, what: &str) {
    let pattern = format!("Enter for more|{}", regex_lite::escape(what));
    for _ in 0..20 {
        let (before, matched) = p
            .exp_regex(&pattern)
            .unwrap_or_else(|e| panic!("never saw {what:?}: {e}\n{seen}"));
        seen.push_str(&before);
        seen.push_str(&matched);
        if matched == what {
            return;
        }
        send(p, "\r");
    }
    panic!("more than 20 pages before {what:?}");
}

/// Clears the line the prompt offers (the suggested command) and types `line`.
fn type_line(p: &mut rexpect::session::PtySession, line: &str) {
    send(p, "\x15");
    send(p, line);
    send(p, "\r");
}

/// What was seen with every run of white space (the screen's own line breaks) as one space.
fn flat(seen: &str) -> String {
    seen.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn leave(p: &mut rexpect::session::PtySession, seen: &mut String) {
    send(p, "\x1b");
    through_pages(p, seen, "Leave the lesson?");
    send(p, "\x1b[B\r");
    p.exp_eof().expect("redislab exits");
}

/// The issue's case: lesson 11 step 6 typed with `$` is refused at once, with the reason, so
/// it can never strand step 7; a declared other right answer (`0` without MKSTREAM) is taken,
/// and step 7 then passes with the lesson's own commands.
#[test]
fn lesson_11_step_6_refuses_dollar_and_takes_a_declared_variant() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp home");
    let mut p = pty(&redis, home.path(), "lesson 11 --from-step 6");
    let mut seen = String::new();
    through_pages(&mut p, &mut seen, "What now?");
    send(&mut p, "\x1b[B\r");
    through_pages(&mut p, &mut seen, "redis>");
    type_line(&mut p, "XGROUP CREATE lab:orders:stream workers $");
    through_pages(&mut p, &mut seen, "(refused)");
    through_pages(&mut p, &mut seen, "redis>");
    let text = flat(&seen);
    assert!(
        text.contains("(refused) not sent") && text.contains("yours adds `$`"),
        "{seen}"
    );
    assert!(
        !redis
            .cli(&["XINFO", "GROUPS", "lab:orders:stream"])
            .contains("workers"),
        "the refused line reached Redis"
    );
    type_line(&mut p, "XGROUP CREATE lab:orders:stream workers 0");
    through_pages(&mut p, &mut seen, "redis>");
    type_line(&mut p, "XINFO GROUPS lab:orders:stream");
    through_pages(&mut p, &mut seen, "Step 7/15");
    through_pages(&mut p, &mut seen, "What now?");
    send(&mut p, "\r");
    through_pages(&mut p, &mut seen, "Step 8/15");
    assert!(
        flat(&seen).contains("All four entries are pending"),
        "step 7 passed after the variant:\n{seen}"
    );
    assert!(!seen.contains("checks failed"), "{seen}");
    through_pages(&mut p, &mut seen, "What now?");
    leave(&mut p, &mut seen);
}

/// Lesson 07 step 3 declares `SET ... NX EX 30` beside `NX PX 30000`: a person may type it, a
/// SET without NX is still refused, and the refusal names the accepted form.
#[test]
fn lesson_07_step_3_takes_nx_ex_30_and_names_it_when_refusing() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp home");
    let mut p = pty(&redis, home.path(), "lesson 07 --from-step 3");
    let mut seen = String::new();
    through_pages(&mut p, &mut seen, "What now?");
    send(&mut p, "\x1b[B\r");
    through_pages(&mut p, &mut seen, "redis>");
    send(&mut p, "\r");
    through_pages(&mut p, &mut seen, "round trip");
    through_pages(&mut p, &mut seen, "redis>");
    type_line(&mut p, "SET lab:lock:coupon:1 tok-1 PX 30000");
    through_pages(&mut p, &mut seen, "(refused)");
    through_pages(&mut p, &mut seen, "redis>");
    let text = flat(&seen);
    assert!(text.contains("yours leaves out `NX`"), "{seen}");
    assert!(
        text.contains("The lesson also accepts `SET lab:lock:coupon:1"),
        "{seen}"
    );
    type_line(&mut p, "SET lab:lock:coupon:1 tok-1 NX EX 30");
    through_pages(&mut p, &mut seen, "round trip");
    through_pages(&mut p, &mut seen, "redis>");
    send(&mut p, "\r");
    through_pages(&mut p, &mut seen, "Step 4/");
    assert!(seen.contains("value of lab:lock:coupon:1: tok-1"), "{seen}");
    assert!(!seen.contains("checks failed"), "{seen}");
    through_pages(&mut p, &mut seen, "What now?");
    leave(&mut p, &mut seen);
}
