//! Resuming in the middle of a lesson: `--from-step N` replays the steps before N quietly
//! (commands, solutions, waits' passing time, races' final state), so step N and every step
//! after it pass exactly as in a run from the start: from the middle, from the last step, and
//! from the step right after every wait.

mod common;

use common::{TestRedis, assert_success, run, stdout};

#[test]
fn every_lesson_resumed_from_its_middle_and_its_last_step_passes() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp home");
    let lessons = redislab::lesson::loader::load_all(None).expect("lessons load");
    for l in &lessons {
        let n = l.lesson.steps.len();
        let mut starts = vec![n.div_ceil(2), n];
        // Right after a wait step: the replay must let the wait's time pass too.
        for (i, step) in l.lesson.steps.iter().enumerate() {
            if matches!(step.kind, redislab::lesson::model::StepKind::Wait { .. }) && i + 2 <= n {
                starts.push(i + 2);
            }
        }
        starts.sort();
        starts.dedup();
        for from in starts {
            let out = run(redis.redislab(home.path()).args([
                "lesson",
                &l.lesson.id,
                "--auto",
                "--from-step",
                &from.to_string(),
            ]));
            assert_success(&out);
            assert!(
                !stdout(&out).contains('✗'),
                "lesson {} resumed at step {from} printed a failed check:\n{}",
                l.lesson.id,
                stdout(&out)
            );
        }
    }
}
