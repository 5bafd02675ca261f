//! The lessons' race steps against a real private redis-server: each shows both halves of its
//! contrast (the unsafe round breaks, the safe round holds) the same way on ten runs in a row,
//! because barriers force the interleaving; and the race grammar fails fast and clearly.

mod common;

use std::collections::BTreeMap;

use common::TestRedis;
use redislab::lesson::loader;
use redislab::lesson::model::{Lesson, Step, StepKind};
use redislab::measure::Silent;
use redislab::redis::connect::{Server, connect};
use redislab::runner::Engine;
use redislab::runner::race::{self, RaceContext};
use redislab::settings::Settings;

fn lesson(id: &str) -> Lesson {
    let all = loader::load_all(None).expect("embedded lessons load");
    loader::find(&all, id)
        .expect("lesson exists")
        .lesson
        .clone()
}

fn race_step<'a>(lesson: &'a Lesson, title: &str) -> &'a Step {
    lesson
        .steps
        .iter()
        .find(|s| matches!(s.kind, StepKind::Race(_)) && s.title.contains(title))
        .unwrap_or_else(|| panic!("lesson {} has no race step titled {title:?}", lesson.id))
}

async fn server(redis: &TestRedis, home: &std::path::Path) -> Server {
    let settings = Settings::for_url(&redis.url(), "lab", home.to_path_buf());
    connect(&settings)
        .await
        .expect("connects to the test server")
}

/// Runs a step's race once; returns its metrics after asserting every check of the step passed.
async fn run_once(server: &Server, lesson: &Lesson, step: &Step) -> BTreeMap<String, f64> {
    let mut engine = Engine::new(server, "lab").await.expect("engine");
    engine.run_quiet(&lesson.setup).await.expect("lesson setup");
    engine.begin_step(step).expect("step variables");
    let StepKind::Race(r) = &step.kind else {
        unreachable!("a race step")
    };
    let ctx = RaceContext {
        server,
        vars: &engine.vars,
        ticker: &Silent,
    };
    let report = race::run(r, &ctx)
        .await
        .unwrap_or_else(|e| panic!("{}: {e:#}", step.title));
    assert_eq!(report.rows.len(), r.rounds.len(), "one row per round");
    let results = engine
        .check(&step.checks, &[], &report.metrics)
        .await
        .expect("checks run");
    let failed: Vec<_> = results.iter().filter(|r| !r.passed).collect();
    assert!(
        failed.is_empty(),
        "{}: failing checks {failed:?}",
        step.title
    );
    report.metrics
}

/// Ten runs of the same race on one server: the metrics must be the same every time (apart from
/// `ignore`, such as retry counts, which depend on timing and are not part of the claim).
async fn ten_runs(id: &str, title: &str, ignore: &[&str]) -> BTreeMap<String, f64> {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    let before = redis.foreign_fingerprint();
    let home = tempfile::tempdir().expect("temp dir");
    let server = server(&redis, home.path()).await;
    let l = lesson(id);
    let step = race_step(&l, title);
    let strip = |m: BTreeMap<String, f64>| -> BTreeMap<String, f64> {
        m.into_iter()
            .filter(|(k, _)| !ignore.iter().any(|i| k.ends_with(i)))
            .collect()
    };
    let first = strip(run_once(&server, &l, step).await);
    for run in 2..=10 {
        let again = strip(run_once(&server, &l, step).await);
        assert_eq!(again, first, "run {run} of {title:?} differs from run 1");
    }
    assert_eq!(
        redis.foreign_fingerprint(),
        before,
        "the race touched a key outside the namespace"
    );
    first
}

fn m(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    *metrics
        .get(name)
        .unwrap_or_else(|| panic!("metric {name} missing: {metrics:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_race_loses_exactly_the_forced_updates_and_incr_none() {
    let x = ten_runs("05", "a thousand increments", &[]).await;
    assert_eq!(m(&x, "get_set.sent"), 1000.0);
    // Barriers make all 20 workers read the same value in each of the 50 passes.
    assert_eq!(m(&x, "get_set.final"), 50.0);
    assert_eq!(m(&x, "incr.final"), 1000.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn like_race_drifts_naively_and_never_with_the_script() {
    let x = ten_runs("05", "Twenty toggles", &[]).await;
    assert_eq!(m(&x, "naive.counter"), 20.0);
    assert_eq!(m(&x, "naive.members"), 1.0);
    assert_eq!(m(&x, "script.counter"), 0.0);
    assert_eq!(m(&x, "script.members"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupon_race_oversells_without_a_lock_and_never_with_one() {
    // Which five buyers win a safe round depends on who reaches Redis first; the claims do not.
    let x = ten_runs(
        "07",
        "five coupons",
        &["retries", "user1_coupons", "sold_out", "already_had_one"],
    )
    .await;
    assert_eq!(m(&x, "unsafe.granted"), 20.0);
    assert_eq!(m(&x, "unsafe.final_stock"), -15.0);
    assert_eq!(m(&x, "unsafe.most_to_one_buyer"), 2.0);
    for safe in ["locked", "atomic"] {
        assert_eq!(m(&x, &format!("{safe}.granted")), 5.0, "{safe}");
        assert_eq!(m(&x, &format!("{safe}.final_stock")), 0.0, "{safe}");
        assert_eq!(m(&x, &format!("{safe}.most_to_one_buyer")), 1.0, "{safe}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_loads_fifty_times_unprotected_and_once_behind_a_lock() {
    let x = ten_runs("02", "stampede", &["retries"]).await;
    assert_eq!(m(&x, "unprotected.loads"), 50.0);
    assert_eq!(m(&x, "locked.loads"), 1.0);
    assert_eq!(m(&x, "locked.served_from_cache"), 49.0);
    assert_eq!(m(&x, "jitter.loads"), 50.0);
}

/// A lesson with one race step, from YAML written in the test.
fn race_lesson(race: &str) -> Result<Lesson, String> {
    let text = format!(
        "format_version: 1\nid: \"98\"\nslug: race\ntitle: Race\nstructure: String\nuse_case: tests\n\
         concept: races\nintroduction: a race\nkeys: [\"${{ns}}:r:*\"]\nsteps:\n  - kind: race\n    \
         title: The race\n    text: workers\n{race}\nquiz: []\n"
    );
    loader::parse("98-race.yaml", &text).map_err(|e| e.message)
}

#[test]
fn a_race_without_forced_by_or_with_a_sync_inside_when_is_refused() {
    let missing = race_lesson(
        "    workers: 2\n    rounds:\n      - {name: a, label: A, worker: [\"INCR ${ns}:r:n\"]}",
    )
    .expect_err("forced_by is required");
    assert!(missing.contains("forced_by"), "{missing}");
    let l = race_lesson(
        "    forced_by: a barrier\n    workers: 2\n    rounds:\n      - name: a\n        label: A\n        worker:\n          - when: \"${worker} > 1\"\n            do: [{sync: all}]",
    )
    .expect("parses");
    let StepKind::Race(r) = &l.steps[0].kind else {
        unreachable!()
    };
    let problems = r.problems().join("\n");
    assert!(problems.contains("inside `when`"), "{problems}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_worker_command_ends_the_race_at_once_instead_of_leaving_others_at_a_barrier() {
    let redis = TestRedis::start();
    redis.seed_foreign_keys();
    let before = redis.foreign_fingerprint();
    let home = tempfile::tempdir().expect("temp dir");
    let server = server(&redis, home.path()).await;
    // Worker 2 touches a key outside the namespace before the barrier; worker 1 waits there.
    let l = race_lesson(
        "    forced_by: a barrier\n    workers: 2\n    rounds:\n      - name: a\n        label: A\n        worker:\n          - when: \"${worker} == 2\"\n            do: [\"DEL foreign:string\"]\n          - sync: all\n          - INCR ${ns}:r:n",
    )
    .expect("parses");
    let StepKind::Race(r) = &l.steps[0].kind else {
        unreachable!()
    };
    let engine = Engine::new(&server, "lab").await.expect("engine");
    let ctx = RaceContext {
        server: &server,
        vars: &engine.vars,
        ticker: &Silent,
    };
    let err = tokio::time::timeout(std::time::Duration::from_secs(20), race::run(r, &ctx))
        .await
        .expect("the race ends instead of hanging at the barrier")
        .expect_err("the refused command fails the race");
    assert!(
        format!("{err:#}").contains("outside the namespace"),
        "{err:#}"
    );
    assert_eq!(redis.foreign_fingerprint(), before);
}

/// The race example in LESSONS.md, cut out of the file: it parses, passes the static rules,
/// and its checks pass on a real server, so the example an author copies always works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_race_example_in_lessons_md_runs_and_passes() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/LESSONS.md"))
        .expect("LESSONS.md is readable");
    let section = doc
        .split("### `kind: race`")
        .nth(1)
        .expect("LESSONS.md documents kind: race");
    let example = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|s| s.split("```").next())
        .expect("the race section has a yaml example");
    let body: String = example
        .lines()
        .skip(1) // `- kind: race`: race_lesson writes its own
        .map(|l| format!("  {l}\n"))
        .filter(|l| !l.trim_start().starts_with("title:") && !l.trim_start().starts_with("text:"))
        .collect();
    let l = race_lesson(body.trim_end()).unwrap_or_else(|e| panic!("the example: {e}"));
    let step = &l.steps[0];
    let StepKind::Race(r) = &step.kind else {
        unreachable!()
    };
    assert!(r.problems().is_empty(), "{:?}", r.problems());
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp dir");
    let server = server(&redis, home.path()).await;
    let x = run_once(&server, &l, step).await;
    assert_eq!(m(&x, "locked.granted"), 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_race_loses_updates_without_watch_and_none_with_it() {
    // How many EXECs WATCH aborts depends on how the retries interleave; the end value does not.
    let x = ten_runs("13", "with and without WATCH", &["retries", "aborted"]).await;
    assert_eq!(m(&x, "plain.committed"), 4.0);
    assert_eq!(m(&x, "plain.final"), 1.0);
    assert_eq!(m(&x, "watched.final"), 104.0);
    assert_eq!(m(&x, "watched.gave_up_buyers"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_client_lands_inside_a_pipeline_but_not_inside_multi() {
    let x = ten_runs("13", "A pipeline is not a transaction", &[]).await;
    assert_eq!(m(&x, "pipeline.b1_position"), 1.0);
    assert_eq!(m(&x, "multi.b1_position"), 0.0);
}
