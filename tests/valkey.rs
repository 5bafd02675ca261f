//! The shipped lessons on Valkey 9 (installed by `scripts/install-valkey.sh`): every lesson in
//! `--auto` with every check passing, nothing outside the namespace changed, and the banner
//! names Valkey by its `server_name`, not by the Redis version it reports for compatibility.

mod common;

use common::{TestRedis, assert_success, run, stderr, stdout};

#[test]
fn every_lesson_passes_on_valkey_and_stays_inside_the_namespace() {
    let valkey = TestRedis::start_valkey();
    valkey.seed_foreign_keys();
    let foreign = valkey.foreign_fingerprint();
    let home = tempfile::tempdir().expect("temp home");
    let lessons = redislab::lesson::loader::load_all(None).expect("lessons load");
    for l in &lessons {
        let id = &l.lesson.id;
        let out = run(valkey.redislab(home.path()).args(["lesson", id, "--auto"]));
        assert_success(&out);
        assert!(
            !stdout(&out).contains('✗'),
            "lesson {id} printed a failed check on Valkey:\n{}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("Valkey 9"),
            "the banner names Valkey: {}",
            stderr(&out)
        );
        assert_eq!(
            valkey.foreign_fingerprint(),
            foreign,
            "lesson {id} changed a key outside the namespace on Valkey"
        );
    }
}

/// Lessons 04 and 07 on Valkey: the steps that need DELIFEQ, SET ... IFEQ and per-field TTLs
/// run (none is skipped) and pass, next to the classic steps.
#[test]
fn the_steps_with_newer_commands_run_on_valkey() {
    let valkey = TestRedis::start_valkey();
    let home = tempfile::tempdir().expect("temp home");
    let mut seen = String::new();
    for id in ["04", "07"] {
        let out = run(valkey.redislab(home.path()).args(["lesson", id, "--auto"]));
        assert_success(&out);
        let text = stdout(&out);
        assert!(!text.contains('✗'), "lesson {id} failed a check:\n{text}");
        assert!(
            !text.contains("skipped:"),
            "lesson {id} skipped a step on Valkey:\n{text}"
        );
        seen.push_str(&text);
    }
    for shown in [
        "redis> DELIFEQ lab:lock:coupon:1 worker-b-token\n(integer) 0",
        "IFEQ worker-b-token PX 30000\n(nil)",
        "redis> HTTL lab:session:",
        "redis> HGETEX lab:session:",
        "redis> HPERSIST lab:session:",
        "(0 keys and 1 hash field expired)",
        // The classic ways still run beside them.
        "Release with compare-and-delete",
        "Extend the lock you hold",
    ] {
        // Long lines wrap at the terminal's width: compare with all whitespace as one space.
        let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat(&seen).contains(&flat(shown)),
            "{shown:?} not in the output:\n{seen}"
        );
    }
}

/// A learner who reads for a minute before every answer, on Valkey, where hash fields have TTLs
/// of their own that a key's PTTL does not cover: lessons 04 and 07 still pass, nothing skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lessons_04_and_07_pass_on_valkey_when_the_learner_reads_a_minute() {
    let valkey = TestRedis::start_valkey();
    let skipped = common::reader::walk_reading_a_minute(&valkey.url(), Some(&["04", "07"])).await;
    assert!(skipped.is_empty(), "skipped on Valkey: {skipped:?}");
}

/// Lesson time for hash fields: while the learner reads, a field's TTL stands still (it has
/// none, so nothing can expire), and it comes back with the time it had; a field another client
/// wrote meanwhile keeps what that client gave it; a wait's fast-forward expires fields as it
/// does keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_time_covers_hash_fields_with_their_own_ttl() {
    use redislab::redis::connect::connect;
    use redislab::settings::Settings;
    let valkey = TestRedis::start_valkey();
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&valkey.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let mut engine = redislab::runner::Engine::new(&server, "lab")
        .await
        .expect("engine");
    let lessons = redislab::lesson::loader::load_all(None).expect("lessons");
    let lesson = &redislab::lesson::loader::find(&lessons, "04")
        .expect("lesson 04")
        .lesson;
    engine.set_lesson_keys(&["${ns}:session:*".to_string()]);
    valkey.cli(&["HSET", "lab:session:f", "stays", "1"]);
    valkey.cli(&[
        "HSETEX",
        "lab:session:f",
        "PX",
        "60000",
        "FIELDS",
        "1",
        "short",
        "x",
    ]);
    valkey.cli(&[
        "HSETEX",
        "lab:session:only",
        "PX",
        "60000",
        "FIELDS",
        "1",
        "f",
        "y",
    ]);
    valkey.cli(&[
        "HSETEX",
        "lab:session:other",
        "PX",
        "60000",
        "FIELDS",
        "1",
        "f",
        "z",
    ]);
    engine.freeze().await.expect("freeze");
    // While the learner reads, no field's time runs.
    for (key, field) in [("lab:session:f", "short"), ("lab:session:only", "f")] {
        assert_eq!(
            valkey.cli_raw(&["HPTTL", key, "FIELDS", "1", field]).trim(),
            "-1",
            "{key} {field} while frozen"
        );
    }
    // Another client writes a field meanwhile.
    valkey.cli(&["HSET", "lab:session:other", "f", "theirs"]);
    engine.thaw().await.expect("thaw");
    for (key, field, value) in [
        ("lab:session:f", "short", "x"),
        ("lab:session:only", "f", "y"),
    ] {
        assert_eq!(valkey.cli_raw(&["HGET", key, field]).trim(), value);
        let ms: i64 = valkey
            .cli_raw(&["HPTTL", key, "FIELDS", "1", field])
            .trim()
            .parse()
            .expect("a TTL");
        // Real time runs between the commands of this test (each one a redis-cli process):
        // what matters is that the field came back with about its minute.
        assert!(
            (55_000..=60_000).contains(&ms),
            "{key} {field}: {ms} ms left"
        );
    }
    assert_eq!(
        valkey.cli_raw(&["HGET", "lab:session:other", "f"]).trim(),
        "theirs"
    );
    assert_eq!(
        valkey
            .cli_raw(&["HPTTL", "lab:session:other", "FIELDS", "1", "f"])
            .trim(),
        "-1",
        "a field another client wrote keeps what that client gave it"
    );
    let changed: Vec<String> = engine
        .take_changed_meanwhile()
        .into_iter()
        .map(|c| c.key)
        .collect();
    assert_eq!(changed, ["lab:session:other"]);
    assert_eq!(
        valkey
            .cli_raw(&["HPTTL", "lab:session:f", "FIELDS", "1", "stays"])
            .trim(),
        "-1",
        "a field without a TTL gets none"
    );
    let (keys, fields) = engine
        .fast_forward(lesson, Some(&vec!["${ns}:session:*".to_string()]), 61)
        .await
        .expect("fast-forward");
    assert_eq!((keys, fields), (0, 2));
    assert_eq!(valkey.cli_raw(&["HKEYS", "lab:session:f"]).trim(), "stays");
    assert_eq!(valkey.cli_raw(&["EXISTS", "lab:session:only"]).trim(), "0");
}

/// `validate --live` on valkey-server runs every lesson there, and so proves the steps Redis 7.0
/// skips.
#[test]
fn validate_live_runs_on_valkey_server() {
    let home = tempfile::tempdir().expect("temp home");
    let out = run(common::redislab_bare(home.path()).args([
        "validate",
        "--live",
        "--server-binary",
        "valkey-server",
    ]));
    assert_success(&out);
    assert!(
        stdout(&out).contains("lesson files valid, and every step and exercise proved"),
        "{}",
        stdout(&out)
    );
}

/// The newer commands are held to the namespace like any other: their keys come from Valkey's
/// own COMMAND GETKEYS, so none of them reaches a key outside `lab:`.
#[test]
fn the_newer_commands_cannot_reach_outside_the_namespace_on_valkey() {
    let valkey = TestRedis::start_valkey();
    valkey.seed_foreign_keys();
    let foreign = valkey.foreign_fingerprint();
    let home = tempfile::tempdir().expect("temp home");
    let attacks = [
        "DELIFEQ foreign:string \"keep me\"",
        "SET foreign:string x IFEQ \"keep me\"",
        "HSETEX foreign:hash PX 1 FIELDS 1 f1 x",
        "HGETEX foreign:hash PXAT 1 FIELDS 1 f1",
        "HEXPIRE foreign:hash 0 FIELDS 1 f1",
        "HPEXPIRE foreign:hash 0 FIELDS 1 f2",
        "HPEXPIREAT foreign:hash 1 FIELDS 1 f2",
        "HPERSIST foreign:hash FIELDS 1 f1",
    ];
    let mut input = attacks.join("\n");
    input.push_str(
        "\nMULTI\nDELIFEQ foreign:string \"keep me\"\nEXEC\nHSETEX lab:mine EX 100 FIELDS 1 f v\n",
    );
    let out = common::run_with_stdin(valkey.redislab(home.path()).arg("sandbox"), &input);
    assert_success(&out);
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        said.matches("(refused) key foreign:").count() == attacks.len() + 1,
        "every attack was refused:\n{said}"
    );
    assert_eq!(valkey.foreign_fingerprint(), foreign);
    assert_eq!(valkey.cli_raw(&["HGET", "lab:mine", "f"]).trim(), "v");
}
