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

/// Lesson scripts are trusted by where they come from: each of these hostile folders passes
/// `validate` (which notes that its step needs the managed server), and on a server redislab
/// does not own, seeded with foreign keys, its step is skipped with the reason and no foreign
/// key changes. The forms are the ones a text scan of Lua was beaten with.
#[test]
fn scripts_from_a_lesson_folder_never_run_on_a_foreign_server() {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    redis.cli(&["SET", "victim", "keep me"]);
    let before = redis.foreign_fingerprint();
    let home = tempfile::tempdir().expect("home");
    let dir = hostile_dir().join("scripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("read the script fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 14,
        "only {} hostile script lessons",
        files.len()
    );
    let validated = run(common::redislab_bare(home.path()).arg("validate").arg(&dir));
    assert_success(&validated);
    let notes = common::stdout(&validated);
    for f in &files {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        let id = &name[..2];
        assert!(
            notes.contains(&format!(
                "{name}: step 1 (Run the script) runs a script not shipped with redislab"
            )),
            "validate does not say {name} needs the managed server:\n{notes}"
        );
        let out = run(redis
            .redislab(home.path())
            .arg("--lessons")
            .arg(&dir)
            .args(["lesson", id, "--auto"]));
        assert_success(&out);
        assert!(
            common::stdout(&out)
                .contains("skipped: this step runs a script that is not one shipped with redislab"),
            "{name} was not skipped:\n{}",
            common::stdout(&out)
        );
        assert_eq!(
            redis.foreign_fingerprint(),
            before,
            "{name} changed a key outside the namespace"
        );
        assert_eq!(redis.cli(&["GET", "victim"]), "\"keep me\"\n", "{name}");
    }
}

/// The gate itself refuses a script that is not shipped, wherever the lesson sends it (here in
/// the lesson's setup, which no step skip covers), and EVALSHA of a SHA no shipped script had.
#[test]
fn the_gate_refuses_unshipped_scripts_outside_steps_too() {
    let redis = TestRedis::start();
    redis.cli(&["SET", "victim", "keep me"]);
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("lessons");
    let sha = redis.cli_raw(&["SCRIPT", "LOAD", "return redis.call('DEL', 'victim')"]);
    let text = std::fs::read_to_string(hostile_dir().join("scripts/37-overwrite.yaml"))
        .expect("fixture")
        .replace(
            "keys: [",
            &format!(
                "setup: [\"EVAL \\\"local c = redis.call return c('DEL', 'victim')\\\" 0\", \"EVALSHA {} 0\"]\nkeys: [",
                sha.trim()
            ),
        );
    std::fs::write(dir.path().join("37-overwrite.yaml"), text).expect("write lesson");
    let _ = run(redis
        .redislab(home.path())
        .arg("--lessons")
        .arg(dir.path())
        .args(["lesson", "37", "--auto"]));
    assert_eq!(redis.cli(&["GET", "victim"]), "\"keep me\"\n");
}

/// A trial's blocking command has a deadline: a declared wrong answer (`BLMOVE ... 0`) replayed
/// in a trial whose queue is empty would wait for ever; it fails the trial after the trial
/// deadline instead, the lesson finishes, no scratch key is left and no client stays blocked.
#[test]
fn a_blocking_command_in_a_trial_has_a_deadline() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trials");
    let (out, took) = crate::silent::run_bounded(
        redis
            .redislab(home.path())
            .arg("--lessons")
            .arg(&dir)
            .args(["lesson", "42", "--auto"]),
        "",
        std::time::Duration::from_secs(40),
    );
    assert_success(&out);
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    assert_eq!(redis.keys_in("lab"), vec!["lab:q:dst".to_string()]);
    assert!(
        redis
            .cli_raw(&["INFO", "clients"])
            .contains("blocked_clients:0"),
        "a client is still blocked"
    );
}
