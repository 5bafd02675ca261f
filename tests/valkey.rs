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
