//! Hostile lesson files: rejected by `validate`, never run from an override folder, and the
//! ones only the lesson gate can stop.

use crate::common::{self, TestRedis, assert_success, run};

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
    // Static validation may already refuse the file (then the loader never runs it); either
    // way, running it must leave the foreign key alone.
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
fn gate_b1_a_saved_sha_cannot_run_a_foreign_script() {
    gate_lesson_keeps("90", "victim");
}

#[test]
fn gate_b3_a_variable_with_a_space_cannot_add_a_key() {
    gate_lesson_keeps("91", "victim");
}

#[test]
fn gate_a_script_cannot_touch_undeclared_keys() {
    gate_lesson_keeps("92", "counter");
}
