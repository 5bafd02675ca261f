//! The shipped lessons, end to end, on one real private redis-server: every lesson that runs on
//! one server runs in `--auto` with every check passing, nothing outside the namespace changes,
//! `reset ID` removes a lesson's keys and `reset --all` leaves the namespace empty; the cluster
//! lesson is skipped cleanly. `validate --live` proves the exercises are real.

mod common;

use common::{TestRedis, assert_success, run, stdout};

const IDS: [&str; 20] = [
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "15", "16", "17",
    "18", "19", "20", "21",
];

#[test]
fn every_lesson_passes_in_auto_and_stays_inside_the_namespace() {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    let foreign = redis.foreign_fingerprint();
    let home = tempfile::tempdir().expect("temp home");
    for id in IDS {
        let out = run(redis.redislab(home.path()).args(["lesson", id, "--auto"]));
        assert_success(&out);
        assert!(
            !stdout(&out).contains('✗'),
            "lesson {id} printed a failed check:\n{}",
            stdout(&out)
        );
        let strays: Vec<String> = redis
            .all_keys()
            .into_iter()
            .filter(|k| !k.starts_with("lab:") && !k.starts_with("foreign"))
            .collect();
        assert!(
            strays.is_empty(),
            "lesson {id} left keys outside lab:: {strays:?}"
        );
        assert_eq!(
            redis.foreign_fingerprint(),
            foreign,
            "lesson {id} changed a key outside the namespace"
        );
    }
    // Every lesson was recorded as finished.
    let progress = run(redis.redislab(home.path()).args(["progress", "--json"]));
    let all: serde_json::Value = serde_json::from_str(&stdout(&progress)).expect("progress JSON");
    for id in IDS {
        let p = all
            .as_array()
            .and_then(|a| a.iter().find(|p| p["lesson_id"] == id))
            .expect("lesson in progress");
        assert!(
            p["completed_at"].is_i64(),
            "lesson {id} not marked complete: {p}"
        );
    }

    // `reset 07` removes lesson 07's keys and no other lesson's.
    let others_before = redis
        .keys_in("lab")
        .into_iter()
        .filter(|k| k.starts_with("lab:user:"))
        .count();
    assert!(
        others_before > 0,
        "lesson 01 left no user keys to compare with"
    );
    assert_success(&run(redis.redislab(home.path()).args(["reset", "07"])));
    let left = redis.keys_in("lab");
    assert!(
        !left
            .iter()
            .any(|k| k.starts_with("lab:lock:") || k.starts_with("lab:coupon:")),
        "{left:?}"
    );
    assert_eq!(
        left.iter().filter(|k| k.starts_with("lab:user:")).count(),
        others_before
    );

    // Resetting every lesson by id leaves nothing: every key a lesson (or its scenarios) leaves
    // behind is covered by that lesson's key patterns.
    for id in IDS {
        assert_success(&run(redis.redislab(home.path()).args(["reset", id])));
    }
    assert!(
        redis.keys_in("lab").is_empty(),
        "keys no lesson claims: {:?}",
        redis.keys_in("lab")
    );

    // And `reset --all` empties the namespace whatever is in it.
    assert_success(&run(redis
        .redislab(home.path())
        .args(["lesson", "05", "--auto"])));
    assert!(!redis.keys_in("lab").is_empty());
    assert_success(&run(redis.redislab(home.path()).args(["reset", "--all"])));
    assert!(
        redis.keys_in("lab").is_empty(),
        "reset --all left {:?}",
        redis.keys_in("lab")
    );
    assert_eq!(redis.foreign_fingerprint(), foreign);
}

#[test]
fn every_exercise_is_proved_on_a_live_server() {
    let home = tempfile::tempdir().expect("temp home");
    let redis = TestRedis::start();
    let out = run(redis.redislab(home.path()).args(["validate", "--live"]));
    assert_success(&out);
    assert!(
        stdout(&out).contains("21 lesson files valid, and every step and exercise proved"),
        "{}",
        stdout(&out)
    );
}

/// The managed server, as a learner without a Redis meets it: every lesson passes as the
/// namespace's fenced ACL user, beside another namespace whose keys stay as they were.
#[test]
fn every_lesson_passes_in_auto_on_the_managed_server_beside_another_namespace() {
    let home = common::ManagedHome::new();
    let other = common::run_with_stdin(
        home.redislab()
            .args(["--managed", "--namespace", "other", "sandbox"]),
        "SET other:plain 1\nSET other:lease 2 EX 100000\nRPUSH other:list a b c\n",
    );
    assert_success(&other);
    let fingerprint = || {
        [
            home.cli(&["GET", "other:plain"]),
            home.cli(&["GET", "other:lease"]),
            home.cli(&["LRANGE", "other:list", "0", "-1"]),
            home.cli(&["DBSIZE"]),
        ]
        .join("")
    };
    let before = fingerprint();
    for id in IDS {
        let out =
            run(home
                .redislab()
                .args(["--managed", "--namespace", "t1", "lesson", id, "--auto"]));
        assert_success(&out);
        assert!(
            !stdout(&out).contains('✗'),
            "lesson {id} printed a failed check:\n{}",
            stdout(&out)
        );
        let out = run(home
            .redislab()
            .args(["--managed", "--namespace", "t1", "reset", id]));
        assert_success(&out);
        assert_eq!(
            fingerprint(),
            before,
            "lesson {id} touched another namespace"
        );
    }
    assert_success(&home.stop());
}

/// On Redis 7.0, which has none of DELIFEQ, SET ... IFEQ or per-field TTLs, the steps that need
/// them are skipped with the reason and the servers that have them; the classic steps beside
/// them still run and pass.
#[test]
fn steps_with_newer_commands_are_skipped_with_the_servers_that_have_them() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp home");
    let mut seen = String::new();
    for id in ["04", "07"] {
        let out = run(redis.redislab(home.path()).args(["lesson", id, "--auto"]));
        assert_success(&out);
        assert!(!stdout(&out).contains('✗'), "{}", stdout(&out));
        seen.push_str(&stdout(&out));
    }
    let flat = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    let seen = flat(&seen);
    for skip in [
        "skipped: needs the DELIFEQ command, which Redis 7.0.15 does not have. Valkey 9.0 and later have DELIFEQ",
        "skipped: needs SET's IFEQ option, which Redis 7.0.15 does not have. Valkey 8.1 and later, and Redis 8.4 and later, have SET ... IFEQ.",
        "skipped: needs the HSETEX command, which Redis 7.0.15 does not have. Valkey 9.0 and later, and Redis 8.0 and later, have HSETEX.",
        "skipped: needs the HEXPIRE command, which Redis 7.0.15 does not have. Redis 7.4 and later",
    ] {
        assert!(seen.contains(skip), "{skip:?} not in:\n{seen}");
    }
    assert_eq!(seen.matches("skipped: needs").count(), 6, "{seen}");
    assert!(!seen.contains("redis> DELIFEQ") && !seen.contains("redis> HSETEX"));
    // The classic compare-and-extend ran.
    assert!(
        seen.contains("Extend the lock you hold [run]"),
        "the classic extend step ran"
    );
}

/// Lesson 14 needs a Redis Cluster: on one server it and its quiz are skipped with the way to get
/// one, exit 0, without touching a key or recording progress.
#[test]
fn the_cluster_lesson_is_skipped_cleanly_on_one_server() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp home");
    let out = run(redis.redislab(home.path()).args(["lesson", "14", "--auto"]));
    assert_success(&out);
    let said = common::stderr(&out);
    assert!(
        said.contains("Lesson 14 skipped: it needs a Redis Cluster")
            && said.contains("redislab server start --cluster"),
        "{said}"
    );
    assert!(!stdout(&out).contains("Step 1/"), "{}", stdout(&out));
    let quiz =
        run(redis
            .redislab(home.path())
            .args(["quiz", "14", "--answers", "1,1,1,1,1,1,1,1,1,1"]));
    assert_success(&quiz);
    assert!(
        common::stderr(&quiz).contains("needs a Redis Cluster"),
        "{}",
        common::stderr(&quiz)
    );
    assert!(
        redis.keys_in("lab").is_empty(),
        "{:?}",
        redis.keys_in("lab")
    );
    let progress = run(redis.redislab(home.path()).args(["progress", "--json"]));
    let all: serde_json::Value = serde_json::from_str(&stdout(&progress)).expect("progress JSON");
    assert!(
        !all.as_array()
            .is_some_and(|a| a.iter().any(|p| p["lesson_id"] == "14")),
        "{all}"
    );
}
