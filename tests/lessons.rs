//! Integration tests of the lesson engine against a real, private redis-server: `lesson --auto`
//! on the shipped lesson 01 and on fixture lessons (tests/fixtures/), quiz scoring, resuming,
//! progress surviving `kill -9`, `validate` positions for every kind of bad file, the non-TTY
//! refusal, and one interactive walk through a pseudo-terminal.
//!
//! Fixtures:
//! - tests/fixtures/lessons/99-fixture.yaml: every check kind and every step kind, tiny and fast.
//! - tests/fixtures/failing/98-failing.yaml: step 2 has a deliberately false check.
//! - tests/fixtures/slow/97-slow.yaml: step 2 keeps the process busy for minutes.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestRedis, assert_success, run, stderr, stdout};

/// Correct answers of lessons/01-basic-types.yaml's quiz (question 4 and 5 are predict
/// questions: their right choice is whatever Redis replies, `(integer) 6` and WRONGTYPE).
const LESSON_01_RIGHT: &str = "2,2,3,2,2,2,1,2";
/// Correct answers of the fixture lesson 99 (question 4 is a predict question: `(integer) 2`).
const FIXTURE_RIGHT: &str = "2,1,3,2,1";

fn fixtures(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir)
}

fn home() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary redislab home")
}

/// `redislab --redis-url <redis> --home <home> --lessons tests/fixtures/<dir> ARGS...`
fn fixture_cmd(redis: &TestRedis, home: &Path, dir: &str, args: &[&str]) -> Command {
    let mut cmd = redis.redislab(home);
    cmd.arg("--lessons").arg(fixtures(dir)).args(args);
    cmd
}

fn both(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit {code}, got:\n{}",
        both(out)
    );
}

/// `progress --json`, parsed; panics with the output if it is not JSON.
fn progress_json(redis: &TestRedis, home: &Path, dir: &str) -> serde_json::Value {
    let out = run(&mut fixture_cmd(redis, home, dir, &["progress", "--json"]));
    assert_success(&out);
    serde_json::from_str(&stdout(&out))
        .unwrap_or_else(|e| panic!("progress --json is not JSON ({e}):\n{}", both(&out)))
}

fn progress_of<'a>(all: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    all.as_array()
        .expect("progress --json is an array")
        .iter()
        .find(|p| p["lesson_id"] == id)
        .unwrap_or_else(|| panic!("no progress for lesson {id} in {all:#}"))
}

// ---------------------------------------------------------------------------------------------
// 1. The shipped lesson 01
// ---------------------------------------------------------------------------------------------

#[test]
fn lesson_01_auto_passes() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(redis.redislab(home.path()).args(["lesson", "01", "--auto"]));
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("Lesson 01 done"), "{}", both(&out));
    // --auto without --answers skips the quiz.
    assert!(!text.contains("Score:"), "{}", both(&out));
}

#[test]
fn lesson_01_auto_with_right_answers_scores_7_of_7() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(redis.redislab(home.path()).args([
        "lesson",
        "01",
        "--auto",
        "--answers",
        LESSON_01_RIGHT,
    ]));
    assert_success(&out);
    assert!(stdout(&out).contains("Score: 8/8"), "{}", both(&out));
    // Predict questions are graded against what Redis really replied.
    assert!(
        stdout(&out).contains("Redis replied: (integer) 6"),
        "{}",
        both(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Fixture lessons: every check and step kind; a failing check
// ---------------------------------------------------------------------------------------------

#[test]
fn fixture_lesson_passes_every_check_and_step_kind() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(&mut fixture_cmd(
        &redis,
        home.path(),
        "lessons",
        &["lesson", "99", "--auto", "--answers", FIXTURE_RIGHT],
    ));
    assert_success(&out);
    let text = stdout(&out);
    for want in [
        "Step 1/7",
        "[run]",
        "[exercise]",
        "[compare]",
        "[race]",
        "[wait]",
        // The second named connection is shown as such.
        "[second] redis> GET lab:fx:missing",
        // save_as + let reached a later step's command.
        "SET lab:fx:copy copied-1",
        "20 timed iterations each",
        // A measured number reads as a sentence, not as `metric incr.final: 20`.
        "final (incr) came out at 20, as expected (20)",
        "the 5 s passed at once: every TTL of this lesson shortened by 5 s",
        "Redis replied: (integer) 2",
        "Score: 5/5",
        "Lesson 99 done",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{}", both(&out));
    }
    assert!(!text.contains('✗'), "a check failed:\n{}", both(&out));
    // The wait step really expired the key (fast-forwarded with PEXPIRE).
    assert_eq!(redis.cli(&["EXISTS", "lab:fx:short"]).trim(), "(integer) 0");
    assert_eq!(redis.cli(&["SCARD", "lab:fx:set"]).trim(), "(integer) 3");
}

#[test]
fn fixture_lessons_validate() {
    let home = home();
    let out = run(common::redislab_bare(home.path())
        .arg("validate")
        .arg(fixtures("lessons"))
        .arg(fixtures("failing"))
        .arg(fixtures("slow")));
    assert_success(&out);
    assert!(
        stdout(&out).contains("3 lesson files valid"),
        "{}",
        both(&out)
    );
}

#[test]
fn failing_check_exits_1_and_names_step_2() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(&mut fixture_cmd(
        &redis,
        home.path(),
        "failing",
        &["lesson", "98", "--auto"],
    ));
    assert_code(&out, 1);
    let err = stderr(&out);
    assert!(
        err.contains("lesson 98: failing checks in step 2 (A deliberately false check)"),
        "{}",
        both(&out)
    );
    assert!(
        !err.contains("step 1") && !err.contains("step 3"),
        "{}",
        both(&out)
    );
    // The failed check says what it expected and what it found.
    assert!(stdout(&out).contains('✗'), "{}", both(&out));
}

// ---------------------------------------------------------------------------------------------
// 3. Resuming, and progress after a run
// ---------------------------------------------------------------------------------------------

#[test]
fn from_step_replays_earlier_steps_then_resumes() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(&mut fixture_cmd(
        &redis,
        home.path(),
        "lessons",
        &["lesson", "99", "--auto", "--from-step", "3"],
    ));
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("resuming at step 3"), "{}", both(&out));
    assert!(
        !text.contains("Step 1/7") && !text.contains("Step 2/7"),
        "{}",
        both(&out)
    );
    assert!(text.contains("Step 3/7"), "{}", both(&out));
    // Steps 1 and 2 were replayed quietly: their state exists, including a value built from a
    // reply saved in step 1 (save_as) and a `let` variable of step 2.
    assert_eq!(redis.cli(&["GET", "lab:fx:greeting"]).trim(), "\"hello\"");
    assert_eq!(redis.cli(&["GET", "lab:fx:copy"]).trim(), "\"copied-1\"");
    assert_eq!(redis.cli(&["LLEN", "lab:fx:list"]).trim(), "(integer) 3");
    // 2 members from step 2 + z from the exercise at step 3 (whose check needs all three).
    assert_eq!(redis.cli(&["SCARD", "lab:fx:set"]).trim(), "(integer) 3");

    let all = progress_json(&redis, home.path(), "lessons");
    let p = progress_of(&all, "99");
    assert_eq!(p["last_step"], 7, "{all:#}");
    assert!(p["completed_at"].is_i64(), "{all:#}");
}

#[test]
fn from_step_out_of_range_is_bad_input() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(&mut fixture_cmd(
        &redis,
        home.path(),
        "lessons",
        &["lesson", "99", "--auto", "--from-step", "8"],
    ));
    assert_code(&out, 2);
    assert!(stderr(&out).contains("steps 1–7"), "{}", both(&out));
}

#[test]
fn progress_json_after_auto_run() {
    let redis = TestRedis::start();
    let home = home();
    let before = progress_json(&redis, home.path(), "lessons");
    assert_eq!(
        before,
        serde_json::json!([]),
        "a fresh home has no progress"
    );

    let out = run(&mut fixture_cmd(
        &redis,
        home.path(),
        "lessons",
        &["lesson", "99", "--auto"],
    ));
    assert_success(&out);
    let all = progress_json(&redis, home.path(), "lessons");
    let p = progress_of(&all, "99");
    assert_eq!(p["last_step"], 7, "{all:#}");
    let completed = p["completed_at"].as_i64().expect("completed_at is set");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    assert!(
        (now - completed).abs() < 600,
        "completed_at {completed} is not now ({now})"
    );
    assert!(p["best_score"].is_null(), "no quiz was taken: {all:#}");

    // With answers the score is kept too.
    let out = run(&mut fixture_cmd(
        &redis,
        home.path(),
        "lessons",
        &["lesson", "99", "--auto", "--answers", FIXTURE_RIGHT],
    ));
    assert_success(&out);
    let all = progress_json(&redis, home.path(), "lessons");
    let p = progress_of(&all, "99");
    assert_eq!(
        (&p["best_score"], &p["quiz_total"]),
        (&5.into(), &5.into()),
        "{all:#}"
    );
}

#[test]
fn failing_run_still_records_progress() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(&mut fixture_cmd(
        &redis,
        home.path(),
        "failing",
        &["lesson", "98", "--auto"],
    ));
    assert_code(&out, 1);
    let all = progress_json(&redis, home.path(), "failing");
    assert_eq!(progress_of(&all, "98")["last_step"], 3, "{all:#}");
}

// ---------------------------------------------------------------------------------------------
// 4. Quiz scoring
// ---------------------------------------------------------------------------------------------

fn quiz_01(answers: &str) -> Output {
    let redis = TestRedis::start();
    let home = home();
    run(redis
        .redislab(home.path())
        .args(["quiz", "01", "--answers", answers]))
}

#[test]
fn quiz_all_right_scores_full() {
    let out = quiz_01(LESSON_01_RIGHT);
    assert_success(&out);
    assert!(stdout(&out).contains("Score: 8/8"), "{}", both(&out));
}

#[test]
fn quiz_one_wrong_scores_one_less() {
    let out = quiz_01("1,2,3,2,2,2,1,2");
    assert_success(&out);
    assert!(stdout(&out).contains("Score: 7/8"), "{}", both(&out));
}

#[test]
fn quiz_wrong_predict_answer_scores_one_less() {
    // Question 4 predicts `SET n 5; INCR n`: choice 1 is `"6"` (a bulk string), but Redis
    // replies `(integer) 6`.
    let out = quiz_01("2,2,3,1,2,2,1,2");
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("Score: 7/8"), "{}", both(&out));
    assert!(
        text.contains("Redis replied: (integer) 6"),
        "{}",
        both(&out)
    );
}

#[test]
fn quiz_wrong_number_of_answers_exits_2_with_one_line() {
    let out = quiz_01("2,2,2");
    assert_code(&out, 2);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line:\n{}", both(&out));
    assert!(
        lines[0].contains("--answers needs 8 answers (one per question), got 3"),
        "{}",
        both(&out)
    );
}

#[test]
fn quiz_answer_out_of_range_exits_2() {
    let out = quiz_01("2,2,3,2,2,2,1,9");
    assert_code(&out, 2);
    assert!(
        stderr(&out).contains("answer 8 is 9, but question 8 has choices 1–3"),
        "{}",
        both(&out)
    );
}

#[test]
fn quiz_answer_not_a_number_exits_2() {
    let out = quiz_01("2,2,x,2,2,2,1,2");
    assert_code(&out, 2);
    assert!(stderr(&out).contains("answer 3"), "{}", both(&out));
}

// ---------------------------------------------------------------------------------------------
// 5. Progress survives kill -9
// ---------------------------------------------------------------------------------------------

/// Kills the child (SIGKILL) if the test ends early.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn progress_survives_kill_9() {
    let redis = TestRedis::start();
    let home = home();
    let child = fixture_cmd(&redis, home.path(), "slow", &["lesson", "97", "--auto"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn redislab lesson 97");
    let mut child = KillOnDrop(child);

    // Poll from a second process until step 1 is saved (step 2 then runs for minutes).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(&mut fixture_cmd(
            &redis,
            home.path(),
            "slow",
            &["progress", "--json"],
        ));
        if out.status.success() {
            let all: serde_json::Value = serde_json::from_str(&stdout(&out))
                .unwrap_or_else(|e| panic!("progress --json is not JSON ({e}):\n{}", both(&out)));
            let step = all
                .as_array()
                .and_then(|a| a.iter().find(|p| p["lesson_id"] == "97"))
                .and_then(|p| p["last_step"].as_u64())
                .unwrap_or(0);
            if step >= 1 {
                break;
            }
        }
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("lesson 97 ended ({status}) before progress showed step 1");
        }
        assert!(
            Instant::now() < deadline,
            "progress never showed step 1 of lesson 97 within 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        matches!(child.0.try_wait(), Ok(None)),
        "lesson 97 should still be busy in step 2 when it is killed"
    );
    child.0.kill().expect("kill -9 the lesson process");
    let status = child.0.wait().expect("reap the killed lesson process");
    assert!(!status.success(), "killed process reports {status}");

    // The database still opens and shows the saved step.
    let all = progress_json(&redis, home.path(), "slow");
    let p = progress_of(&all, "97");
    assert!(p["last_step"].as_u64().unwrap_or(0) >= 1, "{all:#}");
    assert!(p["completed_at"].is_null(), "{all:#}");
    let out = run(&mut fixture_cmd(&redis, home.path(), "slow", &["progress"]));
    assert_success(&out);
    let db = rusqlite::Connection::open(home.path().join("progress.db"))
        .expect("open progress.db after kill -9");
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity_check");
    assert_eq!(check, "ok");
}

// ---------------------------------------------------------------------------------------------
// 6. validate
// ---------------------------------------------------------------------------------------------

/// A valid lesson that uses single quotes only, so a stray double quote is really unclosed.
const BASE: &str = "\
format_version: 1
id: '42'
slug: bad
title: Bad lesson
structure: String
use_case: Testing validate
concept: Errors point at the line.
introduction: One bad thing per file.
keys: ['${ns}:bad:*']
steps:
  - kind: run
    title: Set it
    text: One command.
    commands:
      - SET ${ns}:bad:a 1
    checks:
      - {reply: OK}
quiz:
  - {question: 'Q1?', choices: ['a', 'b'], answer: 1, explanation: 'A.'}
  - {question: 'Q2?', choices: ['a', 'b'], answer: 1, explanation: 'A.'}
  - {question: 'Q3?', choices: ['a', 'b'], answer: 1, explanation: 'A.'}
  - {question: 'Q4?', choices: ['a', 'b'], answer: 1, explanation: 'A.'}
  - {question: 'Q5?', choices: ['a', 'b'], answer: 1, explanation: 'A.'}
";

/// `BASE` with `from` replaced by `to` (which must occur exactly once).
fn base_with(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "{from:?} must occur once in BASE"
    );
    BASE.replace(from, to)
}

/// 1-based line and column of the first occurrence of `needle` in `text`.
fn pos(text: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if let Some(c) = line.find(needle) {
            return (i + 1, c + 1);
        }
    }
    panic!("{needle:?} not in the text");
}

struct Validated {
    _dir: tempfile::TempDir,
    path: String,
    out: Output,
}

impl Validated {
    fn text(&self) -> String {
        format!("{}{}", stdout(&self.out), stderr(&self.out))
    }

    /// Exit 1, and a problem line starting `path:line:col: ` that contains `message`.
    fn expect_at(&self, line: usize, col: usize, message: &str) {
        assert_code(&self.out, 1);
        let prefix = format!("{}:{line}:{col}: ", self.path);
        let text = self.text();
        assert!(
            text.lines()
                .any(|l| l.starts_with(&prefix) && l.contains(message)),
            "expected a line starting {prefix:?} containing {message:?}:\n{}",
            both(&self.out)
        );
    }
}

/// Writes `text` as `42-bad.yaml` in a fresh temp dir and runs `redislab validate <file>`.
fn validate_text(text: &str) -> Validated {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("42-bad.yaml");
    std::fs::write(&file, text).expect("write the lesson file");
    let home = dir.path().join("home");
    let out = run(common::redislab_bare(&home).arg("validate").arg(&file));
    Validated {
        path: file.display().to_string(),
        _dir: dir,
        out,
    }
}

#[test]
fn validate_base_is_valid() {
    let v = validate_text(BASE);
    assert_success(&v.out);
    assert!(
        stdout(&v.out).contains("1 lesson file valid"),
        "{}",
        both(&v.out)
    );
}

#[test]
fn validate_unknown_top_level_field() {
    let text = base_with("title: Bad lesson", "titel: Bad lesson");
    let (line, col) = pos(&text, "titel:");
    validate_text(&text).expect_at(line, col, "unknown field `titel`");
}

#[test]
fn validate_unknown_step_field() {
    let text = base_with("    title: Set it", "    titel: Set it");
    let (line, col) = pos(&text, "titel:");
    assert_eq!(col, 5);
    validate_text(&text).expect_at(line, col, "unknown field `titel`");
}

#[test]
fn validate_missing_required_field() {
    let text = base_with("structure: String\n", "");
    let v = validate_text(&text);
    assert_code(&v.out, 1);
    // serde-saphyr reports a position for a missing field; it must at least be `file:L:C:`
    // with L inside the file.
    let out = v.text();
    let line = out
        .lines()
        .find(|l| l.contains("missing field `structure`"))
        .unwrap_or_else(|| panic!("no missing-field message:\n{}", both(&v.out)));
    let rest = line
        .strip_prefix(&format!("{}:", v.path))
        .unwrap_or_else(|| panic!("no file prefix in {line:?}"));
    let mut parts = rest.splitn(3, ':');
    let l: usize = parts
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a line number");
    let c: usize = parts.next().and_then(|s| s.parse().ok()).expect("a column");
    assert!(
        l >= 1 && l <= text.lines().count() + 1 && c >= 1,
        "{line:?}"
    );
}

#[test]
fn validate_duplicate_key() {
    let text = base_with(
        "concept: Errors point at the line.\n",
        "concept: Errors point at the line.\ntitle: Again\n",
    );
    let (line, col) = pos(&text, "title: Again");
    validate_text(&text).expect_at(line, col, "duplicate mapping key: title");
}

#[test]
fn validate_unclosed_quote() {
    let text = base_with("use_case: Testing validate", "use_case: \"Testing validate");
    let (line, col) = pos(&text, "\"Testing");
    validate_text(&text).expect_at(line, col, "unclosed quote");
}

#[test]
fn validate_newer_format_version() {
    let text = base_with("format_version: 1", "format_version: 2");
    let v = validate_text(&text);
    assert_code(&v.out, 1);
    assert!(
        v.text().contains(&format!(
            "{}: format_version 2 is newer than this redislab understands (1): update redislab",
            v.path
        )),
        "{}",
        both(&v.out)
    );
}

#[test]
fn validate_fewer_than_5_questions() {
    let text = base_with(
        "  - {question: 'Q5?', choices: ['a', 'b'], answer: 1, explanation: 'A.'}\n",
        "",
    );
    let (line, col) = pos(&text, "quiz:");
    validate_text(&text).expect_at(line, col, "the quiz has 4 questions; at least 5 are needed");
}

#[test]
fn validate_answer_out_of_range() {
    let text = base_with(
        "{question: 'Q3?', choices: ['a', 'b'], answer: 1,",
        "{question: 'Q3?', choices: ['a', 'b'], answer: 3,",
    );
    let (line, col) = pos(&text, "Q3?");
    validate_text(&text).expect_at(line, col, "question 3: answer 3 is out of range 1–2");
}

#[test]
fn validate_key_outside_namespace() {
    let text = base_with("      - SET ${ns}:bad:a 1", "      - SET foo 1");
    let (line, col) = pos(&text, "SET foo 1");
    validate_text(&text).expect_at(line, col, "key foo is outside the namespace");
}

#[test]
fn validate_unknown_scenario() {
    let text = base_with(
        "      - {reply: OK}\n",
        "      - {reply: OK}\n  - kind: scenario\n    title: Race\n    text: Nope.\n    scenario: no-such-race\n",
    );
    let (line, col) = pos(&text, "no-such-race");
    validate_text(&text).expect_at(line, col, "step 2: unknown scenario \"no-such-race\"");
}

#[test]
fn validate_dangerous_command_needs_managed() {
    let text = base_with(
        "      - SET ${ns}:bad:a 1\n",
        "      - SET ${ns}:bad:a 1\n      - FLUSHALL\n",
    );
    let (line, col) = pos(&text, "FLUSHALL");
    validate_text(&text).expect_at(
        line,
        col,
        "FLUSHALL acts on the whole server: declare `requires: {managed: true}`",
    );
    // Declared, it is accepted.
    let managed = text.replace(
        "keys: ['${ns}:bad:*']\n",
        "keys: ['${ns}:bad:*']\nrequires: {managed: true}\n",
    );
    let v = validate_text(&managed);
    assert_success(&v.out);
}

#[test]
fn validate_requires_options_and_a_note() {
    // An option must be written COMMAND TOKEN.
    let text = base_with(
        "    text: One command.\n",
        "    text: One command.\n    requires: {options: [\"SET IFEQ value\"], note: Valkey 8.1 has it.}\n",
    );
    let (line, col) = pos(&text, "SET IFEQ value");
    validate_text(&text).expect_at(
        line,
        col,
        "step 1: `requires.options` entry \"SET IFEQ value\" must be a command and one option token",
    );
    // A command or an option needs a note that says which servers have it.
    let text = base_with(
        "    text: One command.\n",
        "    text: One command.\n    requires: {commands: [DELIFEQ]}\n",
    );
    let (line, col) = pos(&text, "requires:");
    validate_text(&text).expect_at(
        line,
        col,
        "step 1: `requires` with commands or options needs a `note`",
    );
    // Written well, it is accepted.
    let text = base_with(
        "    text: One command.\n",
        "    text: One command.\n    requires: {commands: [DELIFEQ], options: [\"SET IFEQ\"], note: Valkey 9.0 and later have both.}\n",
    );
    assert_success(&validate_text(&text).out);
}

#[test]
fn validate_command_that_does_not_tokenise() {
    let text = base_with(
        "      - SET ${ns}:bad:a 1",
        "      - 'SET ${ns}:bad:a \"oops'",
    );
    let (line, col) = pos(&text, "SET ${ns}:bad:a \"oops");
    validate_text(&text).expect_at(line, col, "does not tokenise as redis-cli would");
}

/// Writes two lessons with the same id (`id_line` replaces BASE's `id: '42'`) and validates
/// both; returns the second file's text and path, and the output.
fn validate_duplicate_ids(id_line: &str) -> (tempfile::TempDir, String, PathBuf, PathBuf, Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = dir.path().join("42-bad.yaml");
    let second = dir.path().join("42-other.yaml");
    std::fs::write(&first, base_with("id: '42'", id_line)).expect("write");
    let other = base_with("slug: bad", "slug: other").replace("id: '42'", id_line);
    std::fs::write(&second, &other).expect("write");
    let out = run(common::redislab_bare(&dir.path().join("home"))
        .arg("validate")
        .arg(&first)
        .arg(&second));
    (dir, other, first, second, out)
}

#[test]
fn validate_duplicate_ids_across_files() {
    // The documented style: `id: "42"`.
    let (_dir, other, first, second, out) = validate_duplicate_ids("id: \"42\"");
    assert_code(&out, 1);
    let (line, col) = pos(&other, "id: \"42\"");
    let want = format!(
        "{}:{line}:{col}: id \"42\" is also used by {}",
        second.display(),
        first.display()
    );
    assert!(
        stdout(&out).contains(&want),
        "expected {want:?}:\n{}",
        both(&out)
    );
}

#[test]
fn validate_duplicate_single_quoted_ids_have_a_position() {
    // `id: '42'` is the same YAML as `id: "42"`; the problem should point at it all the same.
    let (_dir, other, first, second, out) = validate_duplicate_ids("id: '42'");
    assert_code(&out, 1);
    let (line, col) = pos(&other, "id: '42'");
    let want = format!(
        "{}:{line}:{col}: id \"42\" is also used by {}",
        second.display(),
        first.display()
    );
    assert!(
        stdout(&out).contains(&want),
        "expected {want:?}:\n{}",
        both(&out)
    );
}

#[test]
fn validate_shipped_lessons() {
    let home = home();
    let out = run(common::redislab_bare(home.path()).arg("validate"));
    assert_success(&out);
}

#[test]
fn validate_live_lesson_01() {
    let home = home();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/01-basic-types.yaml");
    let out = run(common::redislab_bare(home.path())
        .args(["validate", "--live"])
        .arg(file));
    assert_success(&out);
    assert!(
        stdout(&out).contains("every step and exercise proved on a live server"),
        "{}",
        both(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 7. Without a terminal and without --auto
// ---------------------------------------------------------------------------------------------

/// Runs `cmd` with stdin from /dev/null; fails the test if it takes more than 10 s (a hang
/// guard, not a timing assertion).
fn run_with_hang_guard(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redislab");
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(10)) {
        Ok(out) => out.expect("wait for redislab"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("redislab did not exit within 10 s without a terminal (it hangs)");
        }
    }
}

#[test]
fn lesson_without_terminal_or_auto_exits_2() {
    let redis = TestRedis::start();
    let home = home();
    let out = run_with_hang_guard(redis.redislab(home.path()).args(["lesson", "01"]));
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--auto"), "{}", both(&out));
}

#[test]
fn fixture_lesson_without_terminal_or_auto_exits_2() {
    let redis = TestRedis::start();
    let home = home();
    let out = run_with_hang_guard(&mut fixture_cmd(
        &redis,
        home.path(),
        "lessons",
        &["lesson", "99"],
    ));
    assert_code(&out, 2);
    assert!(stderr(&out).contains("--auto"), "{}", both(&out));
}

// ---------------------------------------------------------------------------------------------
// 8. One interactive walk in a pseudo-terminal
// ---------------------------------------------------------------------------------------------

#[test]
fn interactive_walk_in_a_pty() {
    let redis = TestRedis::start();
    let home = home();
    let mut cmd = Command::new(common::bin());
    cmd.arg("--redis-url")
        .arg(redis.url())
        .arg("--home")
        .arg(home.path())
        .arg("--lessons")
        .arg(fixtures("lessons"))
        .args(["lesson", "99"])
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

    // Each prompt is matched only after the header of its own step, so the echo of an answered
    // prompt ("What now? Run it (Enter)") can never be taken for the next one.
    let step_prompt = |p: &mut rexpect::session::PtySession, step: usize, prompt: &str| {
        p.exp_string(&format!("Step {step}/7"))
            .unwrap_or_else(|e| panic!("no header of step {step}: {e}"));
        p.exp_string(prompt)
            .unwrap_or_else(|e| panic!("no {prompt:?} prompt at step {step}: {e}"));
    };
    let enter = |p: &mut rexpect::session::PtySession| {
        p.send("\r").expect("send Enter");
        p.flush().expect("flush");
    };

    step_prompt(&mut p, 1, "What now?");
    enter(&mut p);
    step_prompt(&mut p, 2, "What now?");
    enter(&mut p);
    // The exercise: ask for the solution.
    step_prompt(&mut p, 3, "redis>");
    p.send("solution").expect("type");
    enter(&mut p);
    p.exp_string("Solution:").expect("the solution is shown");
    step_prompt(&mut p, 4, "What now?");
    enter(&mut p);
    step_prompt(&mut p, 5, "What now?");
    enter(&mut p);
    step_prompt(&mut p, 6, "What now?");
    enter(&mut p);
    // The wait: any key fast-forwards.
    step_prompt(&mut p, 7, "any key fast-forwards");
    p.send("x").expect("press a key");
    p.flush().expect("flush");
    p.exp_string("lab:fx:short: missing")
        .expect("the wait step's check ran");
    for q in 1..=5 {
        p.exp_string(&format!("Question {q}/5"))
            .unwrap_or_else(|e| panic!("no question {q}: {e}"));
        p.exp_string("your answer:")
            .unwrap_or_else(|e| panic!("no answer prompt for question {q}: {e}"));
        enter(&mut p);
    }
    p.exp_string("Score:").expect("the quiz is scored");
    p.exp_string("Lesson 99 done").expect("the lesson ends");
    p.exp_eof().expect("redislab exits");

    let all = progress_json(&redis, home.path(), "lessons");
    let prog = progress_of(&all, "99");
    assert_eq!(prog["last_step"], 7, "{all:#}");
    assert_eq!(prog["quiz_total"], 5, "{all:#}");
}

/// A shell running redislab in a pseudo-terminal of `cols` × `rows` (set with `stty` before
/// redislab reads the size), colour off, never near a developer's Redis.
fn pty(
    redis: &TestRedis,
    home: &Path,
    cols: u16,
    rows: u16,
    args: &str,
) -> rexpect::session::PtySession {
    let script = format!(
        "stty cols {cols} rows {rows}; exec {} --redis-url {} --home {} {args}",
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

/// Reads until `what`, keeping everything seen on the way.
fn until(p: &mut rexpect::session::PtySession, seen: &mut String, what: &str) {
    let (before, matched) = p
        .exp_regex(&regex_lite::escape(what))
        .unwrap_or_else(|e| panic!("never saw {what:?}: {e}"));
    seen.push_str(&before);
    seen.push_str(&matched);
}

/// No line a person saw is wider than the screen. A prompt redraws itself after `\r`, so each
/// piece is one screen line; the session hands back each byte as a char, so decode the UTF-8.
/// The command line being edited at a `redis>` prompt is the one exception: like a shell's, it
/// continues on the next screen line (the terminal wraps it), and nothing of it is cut.
fn assert_fits(seen: &str, cols: usize) {
    for line in seen.lines().flat_map(|l| l.split('\r')) {
        let line = if line.chars().all(|c| (c as u32) < 256) {
            let bytes: Vec<u8> = line.chars().map(|c| c as u32 as u8).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            line.to_string()
        };
        let editing =
            line.starts_with("redis") || (line.starts_with('[') && line.contains("] redis"));
        if editing && line.contains("> ") {
            continue;
        }
        assert!(
            line.chars().count() <= cols,
            "a line wider than the {cols}-column screen: {line:?}"
        );
    }
}

/// A real lesson in a pseudo-terminal, driven as a person would: Esc asks before it leaves,
/// `quit` while typing never reaches Redis, and nothing printed is wider than the screen.
fn esc_and_quit_at(cols: u16) {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), cols, 200, "lesson 07");
    let mut seen = String::new();
    until(&mut p, &mut seen, "What now?");
    // Esc asks; staying keeps the lesson where it was.
    send(&mut p, "\x1b");
    until(&mut p, &mut seen, "Leave the lesson?");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "What now?");
    send(&mut p, "\r"); // step 1 runs
    until(&mut p, &mut seen, "Step 2/");
    until(&mut p, &mut seen, "What now?");
    // "Type it yourself", then the learner's word `quit`.
    send(&mut p, "\x1b[B");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "redis>");
    send(&mut p, "quit\r");
    until(&mut p, &mut seen, "Progress saved");
    p.exp_eof().expect("redislab exits");
    let stats = redis.cli(&["INFO", "commandstats"]);
    assert!(
        !stats.contains("cmdstat_quit"),
        "QUIT reached Redis:\n{stats}"
    );
    assert_fits(&seen, usize::from(cols));
}

#[test]
fn a_person_at_a_60_column_terminal_presses_esc_and_types_quit() {
    esc_and_quit_at(60);
}

#[test]
fn a_person_at_an_80_column_terminal_presses_esc_and_types_quit() {
    esc_and_quit_at(80);
}

#[test]
fn a_person_at_a_120_column_terminal_presses_esc_and_types_quit() {
    esc_and_quit_at(120);
}

/// A step taller than the screen pauses with "Enter for more" instead of scrolling the start of
/// its output away; Enter shows the rest.
#[test]
fn a_tall_step_pauses_for_enter_instead_of_scrolling_away() {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), 120, 24, "lesson 11 --from-step 7");
    let mut seen = String::new();
    until(&mut p, &mut seen, "What now?");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "Enter for more");
    // Nothing after the pause has been printed yet: the step's `after` text is still to come.
    assert!(
        !seen.contains("All four entries are pending"),
        "printed past the pause:\n{seen}"
    );
    // Enter at each pause until the next step's prompt: a 24-row screen may pause more than once.
    for _ in 0..10 {
        send(&mut p, "\r");
        let (before, matched) = p
            .exp_regex("Enter for more|What now\\?")
            .expect("a pause or the next prompt");
        seen.push_str(&before);
        if matched.starts_with("What") {
            break;
        }
    }
    assert!(
        seen.contains("All four entries are pending"),
        "the rest was shown:\n{seen}"
    );
    send(&mut p, "\x1b");
    until(&mut p, &mut seen, "Leave the lesson?");
    send(&mut p, "\x1b[B\r");
    p.exp_eof().expect("redislab exits");
}

/// `validate --scenarios` prints every scenario a lesson can name, with its parameters.
#[test]
fn validate_prints_the_scenario_reference() {
    let home = home();
    let out = run(common::redislab_bare(home.path()).args(["validate", "--scenarios"]));
    assert_success(&out);
    let text = stdout(&out);
    for (name, param) in [
        ("bench", "clients"),
        ("complexity", "samples"),
        ("failover-lock", "wait_ms"),
        ("pubsub-live", "wait_ms"),
        ("sharded-pubsub", "wait_ms"),
        ("ttl-jitter", "jitter_s"),
        ("window-burst", "before_edge_ms"),
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
        assert!(text.contains(param), "{name}'s {param} missing:\n{text}");
    }
}

/// A lesson line the gate refuses when it runs is a bug in the lesson: `validate --live` names
/// the line and the reason, and fails.
#[test]
fn validate_live_fails_a_lesson_whose_line_the_gate_refuses() {
    let home = home();
    let out = run(common::redislab_bare(home.path())
        .args(["validate", "--live"])
        .arg(fixtures("refused").join("96-refused.yaml")));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains(
            "live: step 1: SUBSCRIBE validate-ns:refused:channel was refused: SUBSCRIBE waits"
        ),
        "{}",
        both(&out)
    );
}

/// An author sees why `validate --live` failed a step: each failing check with what it expected
/// and what it found, as `lesson` prints them.
#[test]
fn validate_live_says_what_a_failing_check_expected_and_found() {
    let home = home();
    let out = run(common::redislab_bare(home.path())
        .args(["validate", "--live"])
        .arg(fixtures("failing").join("98-failing.yaml")));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("live: step 2 (A deliberately false check) has failing checks"),
        "{text}"
    );
    assert!(
        text.contains("✗ value of validate-ns:fail:b: expected 3, found 2"),
        "{text}"
    );
}

/// A question that names a step (`step: N`) is not asked where that step cannot run: the
/// learner is asked only about what they saw, and the score counts only what was asked.
#[test]
fn a_question_about_a_skipped_step_is_not_asked() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(redis
        .redislab(home.path())
        .arg("--lessons")
        .arg(fixtures("step-question"))
        .args(["lesson", "94", "--auto", "--answers", "1,1,2,1,2"]));
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("Question 1/4"), "{text}");
    assert!(!text.contains("What does NOSUCHCOMMAND reply?"), "{text}");
    assert!(text.contains("Third question?"), "{text}");
    assert!(text.contains("Score: 4/4"), "{text}");
}

/// `validate` refuses a question about a command only a skippable step runs, unless the
/// question names that step.
#[test]
fn validate_refuses_a_question_about_a_skippable_step_without_its_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(fixtures("step-question").join("94-step-question.yaml"))
        .expect("fixture")
        .replace(" step: 2,", "");
    let file = dir.path().join("94-step-question.yaml");
    std::fs::write(&file, text).expect("write");
    let home = home();
    let out = run(common::redislab_bare(home.path())
        .arg("validate")
        .arg(&file));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains(
            "question 2 asks about NOSUCHCOMMAND, which only step 2 runs, and that step is skipped where its `requires` is not met: add `step: 2`"
        ),
        "{}",
        both(&out)
    );
}

/// `list` is one line per lesson, grouped by part in the suggested order, and the whole course
/// fits one 24-line screen; `--json` carries each lesson's part and time estimate.
#[test]
fn the_list_is_one_line_per_lesson_by_part_and_fits_one_screen() {
    let home = home();
    let out = run(common::redislab_bare(home.path()).arg("list"));
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.lines().count() <= 24, "{text}");
    let json = run(common::redislab_bare(home.path()).args(["list", "--json"]));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("list JSON");
    let rows = rows.as_array().expect("rows");
    let parts = [
        "Foundations",
        "Caching",
        "Counting",
        "Coordination",
        "Messaging",
        "Operations",
        "Scale",
    ];
    let mut last = 0;
    for r in rows {
        let id = r["id"].as_str().expect("id");
        let part = r["part"].as_str().expect("part");
        let rank = parts
            .iter()
            .position(|p| *p == part)
            .unwrap_or_else(|| panic!("lesson {id} has no known part: {part}"));
        assert!(rank >= last, "lesson {id} is out of the suggested order");
        last = rank;
        assert!(
            r["minutes_estimate"].as_u64().is_some_and(|m| m >= 5),
            "{r}"
        );
        // Each lesson is one line, its part named only on the first of its part.
        assert_eq!(
            text.lines()
                .filter(|l| l.split_whitespace().any(|w| w == id))
                .count(),
            1,
            "{id}:\n{text}"
        );
    }
    for p in parts
        .iter()
        .filter(|p| rows.iter().any(|r| r["part"] == **p))
    {
        assert_eq!(
            text.lines().filter(|l| l.starts_with(p)).count(),
            1,
            "{p}:\n{text}"
        );
    }
}

/// `lesson ID --info` says what a lesson covers without a server; an unknown part is refused.
#[test]
fn lesson_info_needs_no_server_and_parts_are_checked() {
    let home = home();
    let out = run(common::redislab_bare(home.path()).args(["lesson", "07", "--info"]));
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("Part:      Coordination"), "{text}");
    assert!(
        text.contains(" 9. Take the lock yourself [exercise]"),
        "{text}"
    );
    assert!(text.contains("minutes (an estimate"), "{text}");
    let dir = tempfile::tempdir().expect("temp dir");
    let lesson = std::fs::read_to_string(fixtures("failing").join("98-failing.yaml"))
        .expect("fixture")
        .replace("concept:", "part: Astrology\nconcept:");
    let file = dir.path().join("98-failing.yaml");
    std::fs::write(&file, lesson).expect("write");
    let out = run(common::redislab_bare(home.path())
        .arg("validate")
        .arg(&file));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains("part \"Astrology\" is not one of Foundations, Caching"),
        "{}",
        both(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// 9. Issue 17: exits, leftovers and the quiz menu
// ---------------------------------------------------------------------------------------------

/// The exit code of a finished session (its shell `exec`s redislab, so it is redislab's).
fn exit_code(p: &mut rexpect::session::PtySession) -> String {
    format!("{:?}", p.process().wait().expect("wait for redislab"))
}

/// Reads until `what`, pressing Enter at every "Enter for more" on the way.
fn through_pages(p: &mut rexpect::session::PtySession, seen: &mut String, what: &str) {
    let pattern = format!("Enter for more|{}", regex_lite::escape(what));
    for _ in 0..20 {
        let (before, matched) = p
            .exp_regex(&pattern)
            .unwrap_or_else(|e| panic!("never saw {what:?}: {e}"));
        seen.push_str(&before);
        seen.push_str(&matched);
        if matched == what {
            return;
        }
        send(p, "\r");
    }
    panic!("more than 20 pages before {what:?}");
}

/// Esc, then "Leave the lesson", is a choice, not an interruption: exit 0 with the line that
/// says how to resume (Ctrl-C keeps 130).
fn esc_leaves_with_exit_0_at(cols: u16, rows: u16) {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), cols, rows, "lesson 07");
    let mut seen = String::new();
    through_pages(&mut p, &mut seen, "What now?");
    send(&mut p, "\x1b");
    until(&mut p, &mut seen, "Leave the lesson?");
    send(&mut p, "\x1b[B\r");
    until(&mut p, &mut seen, "Resume at step 1 with");
    p.exp_eof().expect("redislab exits");
    let code = exit_code(&mut p);
    assert!(code.ends_with(", 0)"), "exit status {code}");
    assert_fits(&seen, usize::from(cols));
}

#[test]
fn esc_then_leave_exits_0_with_the_resume_line_at_80x24() {
    esc_leaves_with_exit_0_at(80, 24);
}

#[test]
fn esc_then_leave_exits_0_with_the_resume_line_at_60x40() {
    esc_leaves_with_exit_0_at(60, 40);
}

/// A timed step whose range check misses measures again, in view, up to three times; a claim
/// that is false still fails (the retries never hide it).
#[test]
fn a_missed_timing_claim_is_measured_again_in_view_and_still_fails_when_false() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(&mut fixture_cmd(
        &redis,
        home.path(),
        "timed",
        &["lesson", "92", "--auto"],
    ));
    assert!(!out.status.success(), "{}", both(&out));
    let text = stdout(&out);
    // The notice is flowed to the width: join its lines before reading it.
    let joined = text.replace("\n  ", " ").replace('\n', " ");
    for attempt in ["(2 of 3)", "(3 of 3)"] {
        assert!(
            joined.contains(&format!("so this is measured again {attempt}")),
            "no {attempt}:\n{text}"
        );
    }
    assert_eq!(text.matches("│ Redis GET").count(), 3, "{text}");
    assert!(
        text.contains("✗ redis p50 us: expected at most -1"),
        "{text}"
    );
}

/// Every `redis>` prompt reads through one line editor with one history: Up brings back the
/// command typed at the prompt before, and Enter runs it again.
#[test]
fn up_at_a_lesson_prompt_brings_back_the_command_typed_before() {
    let redis = TestRedis::start();
    let home = home();
    let args = format!("--lessons {} lesson 93", fixtures("many-keys").display());
    let mut p = pty(&redis, home.path(), 120, 200, &args);
    let mut seen = String::new();
    until(&mut p, &mut seen, "What now?");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "redis>");
    send(&mut p, "INCR lab:mk:n\r");
    until(&mut p, &mut seen, "(integer) 1");
    until(&mut p, &mut seen, "try again");
    // A miss puts the keys back, so the second INCR also answers 1: Redis counts the calls.
    send(&mut p, "\x1b[A\r");
    until(&mut p, &mut seen, "(integer) 1");
    until(&mut p, &mut seen, "try again");
    let stats = redis.cli(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_incr:calls=2,"), "{stats}");
}

/// `bench` at 60 columns: too narrow for a column per mode, so each row is a block with one line
/// per mode, and no figure is cut across two lines.
#[test]
fn bench_at_60_columns_keeps_every_figure_whole() {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(
        &redis,
        home.path(),
        60,
        200,
        // The progress bars (stderr) redraw with cursor moves this reader cannot follow.
        "bench --quick --only single-read 2>/dev/null",
    );
    let seen = p.exp_eof().expect("bench ends");
    assert_fits(&seen, 60);
    let bytes: Vec<u8> = seen.chars().map(|c| c as u32 as u8).collect();
    let seen = String::from_utf8_lossy(&bytes).into_owned();
    for mode in ["Redis ", "SQLite memory", "SQLite WAL", "SQLite journal"] {
        let line = seen
            .lines()
            .find(|l| l.trim_start().starts_with(mode) && l.contains("p99"))
            .unwrap_or_else(|| panic!("no line for {mode}:\n{seen}"));
        assert!(line.contains("/s"), "{line}");
    }
    assert!(
        !seen.contains('┆'),
        "a table too wide for 60 columns:\n{seen}"
    );
}

/// The menu (`redislab` alone) at 80×24: every entry is one screen line, cut with an ellipsis
/// rather than wrapped in the middle of a word.
#[test]
fn the_menu_fits_80_columns_one_line_per_lesson() {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), 80, 24, "");
    let mut seen = String::new();
    until(&mut p, &mut seen, "Esc to leave");
    assert_fits(&seen, 80);
    let bytes: Vec<u8> = seen.chars().map(|c| c as u32 as u8).collect();
    let seen = String::from_utf8_lossy(&bytes).into_owned();
    assert!(seen.contains('…'), "no long entry was cut:\n{seen}");
    send(&mut p, "\x1b");
    p.exp_eof().expect("the menu closes");
}

/// More lesson keys than the key table has rows, and the learner writes one that sorts last:
/// the table still shows it, marked as the step's, and counts the rest.
#[test]
fn the_key_table_shows_the_key_the_learner_just_wrote() {
    let redis = TestRedis::start();
    let home = home();
    let args = format!("--lessons {} lesson 93", fixtures("many-keys").display());
    let mut p = pty(&redis, home.path(), 120, 200, &args);
    let mut seen = String::new();
    until(&mut p, &mut seen, "What now?");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "redis>");
    send(&mut p, "SET lab:mk:zz 1\r");
    until(&mut p, &mut seen, "Correct");
    until(&mut p, &mut seen, "more key(s) of this lesson");
    // The session hands back each byte as a char: decode the UTF-8 of the table's lines.
    let bytes: Vec<u8> = seen.chars().map(|c| c as u32 as u8).collect();
    let seen = String::from_utf8_lossy(&bytes).into_owned();
    let row = seen
        .lines()
        .find(|l| l.contains("lab:mk:zz") && l.contains('│'))
        .unwrap_or_else(|| panic!("the learner's key is not in the table:\n{seen}"));
    assert!(row.contains('▸'), "not marked as the step's: {row}");
}

/// Esc at the pager's "Enter for more" means what it means at a prompt: it asks. Staying shows
/// the rest of the page and the step's menu; leaving exits 0 with the resume line.
#[test]
fn esc_at_the_pager_asks_and_stays_or_leaves_at_80x24() {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), 80, 24, "lesson 07");
    let mut seen = String::new();
    until(&mut p, &mut seen, "Enter for more");
    send(&mut p, "\x1b");
    until(&mut p, &mut seen, "Leave the lesson?");
    send(&mut p, "\r"); // Stay here
    until(&mut p, &mut seen, "Step 1/");
    through_pages(&mut p, &mut seen, "What now?");
    let mut p = pty(&redis, home.path(), 80, 24, "lesson 07 --from-step 1");
    let mut seen = String::new();
    until(&mut p, &mut seen, "Enter for more");
    send(&mut p, "\x1b");
    until(&mut p, &mut seen, "Leave the lesson?");
    send(&mut p, "\x1b[B\r");
    until(&mut p, &mut seen, "Resume at step 1 with");
    p.exp_eof().expect("redislab exits");
    let code = exit_code(&mut p);
    assert!(code.ends_with(", 0)"), "exit status {code}");
    assert!(!seen.contains("Step 1/"), "the lesson went on:\n{seen}");
}

/// A `kill` (SIGTERM) or a closed terminal (SIGHUP) while a prompt waits: lesson time stands
/// still there (the lock's TTL taken away), so the run gives it back before it ends, says so,
/// and exits with 128 + the signal's number.
fn a_signal_at_a_prompt_gives_lesson_time_back(signal: rexpect::process::Signal, code: u8) {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), 80, 200, "lesson 07 --from-step 4");
    let mut seen = String::new();
    until(&mut p, &mut seen, "What now?");
    assert_eq!(
        redis.cli(&["PTTL", "lab:lock:coupon:1"]),
        "(integer) -1\n",
        "lesson time does not stand still at the prompt"
    );
    p.process_mut().signal(signal).expect("send the signal");
    until(
        &mut p,
        &mut seen,
        &format!("Stopped by {signal:?}. Lesson time given back."),
    );
    p.exp_eof().expect("redislab exits");
    let status = exit_code(&mut p);
    assert!(
        status.ends_with(&format!(", {code})")),
        "exit status {status}"
    );
    let ttl: i64 = redis
        .cli(&["PTTL", "lab:lock:coupon:1"])
        .trim()
        .trim_start_matches("(integer) ")
        .parse()
        .expect("a PTTL");
    assert!(
        (20_000..=30_000).contains(&ttl),
        "the lock did not get its time back: PTTL {ttl}"
    );
}

#[test]
fn sigterm_at_a_prompt_gives_lesson_time_back_and_exits_143() {
    a_signal_at_a_prompt_gives_lesson_time_back(rexpect::process::Signal::SIGTERM, 143);
}

#[test]
fn sighup_at_a_prompt_gives_lesson_time_back_and_exits_129() {
    a_signal_at_a_prompt_gives_lesson_time_back(rexpect::process::Signal::SIGHUP, 129);
}

/// `reset` alone names its three forms.
#[test]
fn reset_without_an_id_lists_its_forms() {
    let home = home();
    let out = run(common::redislab_bare(home.path()).arg("reset"));
    assert_eq!(out.status.code(), Some(2), "{}", both(&out));
    for form in ["reset ID", "reset --all", "reset --progress"] {
        assert!(stderr(&out).contains(form), "{form}: {}", both(&out));
    }
}

/// A quiz's predict questions write scratch keys (`lab:quiz:*`); they are gone once it ends.
#[test]
fn the_quiz_leaves_no_keys_behind() {
    let redis = TestRedis::start();
    let home = home();
    let out = run(redis
        .redislab(home.path())
        .args(["quiz", "01", "--answers", LESSON_01_RIGHT]));
    assert_success(&out);
    assert_eq!(redis.keys_in("lab"), Vec::<String>::new());
}

/// A compare step's timed key (2000 stream entries) is deleted once it is measured.
#[test]
fn a_compare_step_leaves_no_keys_behind() {
    let redis = TestRedis::start();
    let home = home();
    let out =
        run(redis
            .redislab(home.path())
            .args(["lesson", "11", "--auto", "--from-step", "15"]));
    assert_success(&out);
    assert!(
        !redis
            .keys_in("lab")
            .contains(&"lab:orders:bench".to_string()),
        "{:?}",
        redis.keys_in("lab")
    );
}

/// Typing a choice's number in the quiz answers that choice; the help line promises nothing
/// the menu does not do.
fn quiz_number_at(cols: u16, rows: u16) {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), cols, rows, "quiz 01");
    let mut seen = String::new();
    through_pages(&mut p, &mut seen, "your answer:");
    until(&mut p, &mut seen, "Esc leaves");
    send(&mut p, "2");
    send(&mut p, "\r");
    until(&mut p, &mut seen, "Question 2/");
    assert!(seen.contains("your answer: 2. "), "{seen}");
    assert!(!seen.contains("type to filter"), "{seen}");
    send(&mut p, "\x03");
    p.exp_eof().expect("redislab exits");
}

#[test]
fn a_quiz_answer_is_chosen_by_its_number_at_80x24() {
    quiz_number_at(80, 24);
}

#[test]
fn a_quiz_answer_is_chosen_by_its_number_at_60x40() {
    quiz_number_at(60, 40);
}

/// Issue 17, items 6 and 8: a failed reply check reads as redis-cli shows replies: the lesson's
/// pattern in words, expected and got line by line, no regex and no escaped newlines.
fn failure_in_redis_cli_form_at(cols: u16, rows: u16) {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), cols, rows, "lesson 11 --from-step 7");
    let mut seen = String::new();
    through_pages(&mut p, &mut seen, "What now?");
    send(&mut p, "\x1b[B\r");
    through_pages(&mut p, &mut seen, "redis>");
    // alice takes one entry instead of two: the step's first check fails.
    send(
        &mut p,
        "XREADGROUP GROUP workers alice COUNT 1 STREAMS lab:orders:stream >\r",
    );
    through_pages(&mut p, &mut seen, "redis>");
    send(&mut p, "\r");
    through_pages(&mut p, &mut seen, "redis>");
    send(&mut p, "\r");
    through_pages(&mut p, &mut seen, "checks failed");
    for raw in ["[\\s\\S]", "matching /", "\\n", "\\\""] {
        assert!(!seen.contains(raw), "{raw:?} shown:\n{seen}");
    }
    assert!(
        seen.contains("a reply containing `\"1-1\"`, then `\"1-2\"`"),
        "{seen}"
    );
    assert!(seen.contains("expected"), "{seen}");
    assert!(seen.contains("got"), "{seen}");
    send(&mut p, "\x1b");
    until(&mut p, &mut seen, "Leave the lesson?");
    send(&mut p, "\x1b[B\r");
    p.exp_eof().expect("redislab exits");
    assert_fits(&seen, usize::from(cols));
}

#[test]
fn a_failed_check_reads_as_redis_cli_replies_at_80x24() {
    failure_in_redis_cli_form_at(80, 24);
}

#[test]
fn a_failed_check_reads_as_redis_cli_replies_at_60x40() {
    failure_in_redis_cli_form_at(60, 40);
}

/// Issue 17, item 7: `list` fits the screen: one line per lesson below 120 columns.
fn list_fits(cols: u16, rows: u16) {
    let redis = TestRedis::start();
    let home = home();
    let mut p = pty(&redis, home.path(), cols, rows, "list");
    let seen = p.exp_eof().expect("list ends");
    let lines = seen.trim_end().lines().count();
    assert!(
        lines < usize::from(rows),
        "{lines} lines on a {rows}-row screen:\n{seen}"
    );
    assert!(seen.contains("Distributed lock"), "{seen}");
    assert_fits(&seen, usize::from(cols));
}

#[test]
fn list_fits_80x24() {
    list_fits(80, 24);
}

#[test]
fn list_fits_60x40() {
    list_fits(60, 40);
}

/// Hints grow: `validate` refuses an exercise whose first hint is its whole solution.
#[test]
fn validate_refuses_a_first_hint_that_is_the_whole_solution() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = std::fs::read_to_string(fixtures("lessons").join("99-fixture.yaml"))
        .expect("fixture")
        .replace(
            r#"hints: ["SADD adds members."]"#,
            r#"hints: ["SADD ${ns}:fx:set z"]"#,
        );
    let file = dir.path().join("99-fixture.yaml");
    std::fs::write(&file, text).expect("write");
    let home = home();
    let out = run(common::redislab_bare(home.path())
        .arg("validate")
        .arg(&file));
    assert_eq!(out.status.code(), Some(1), "{}", both(&out));
    assert!(
        stdout(&out).contains("the first hint is the whole solution"),
        "{}",
        both(&out)
    );
}

/// `lesson ID --summary` prints the recap without a server; a lesson's end shows it too.
#[test]
fn a_lesson_recaps_itself_at_the_end_and_on_request() {
    let home = home();
    let out = run(common::redislab_bare(home.path())
        .arg("--lessons")
        .arg(fixtures("failing"))
        .args(["lesson", "98", "--summary"]));
    assert_success(&out);
    // The fixture has no recap of its own: its one idea stands in.
    assert!(
        stdout(&out).contains("Recap · lesson 98 · Failing fixture"),
        "{}",
        both(&out)
    );
    assert!(
        stdout(&out).contains("A false check must fail --auto."),
        "{}",
        both(&out)
    );
    let out = run(common::redislab_bare(home.path()).args(["lesson", "07", "--summary"]));
    assert_success(&out);
    assert!(stdout(&out).contains("Recap · lesson 07"), "{}", both(&out));
}
