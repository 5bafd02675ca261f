//! A scripted learner walks real lessons through the `Prompter` and `View` seams the way a
//! person does: before every answer it "reads" for a minute, which it simulates by shortening
//! every TTL in the namespace by 60 s (what a real minute does to them), never by sleeping.
//! Every lesson must still pass every check: lesson time stands still while a person reads.

mod common;

use anyhow::Result;
use common::TestRedis;
use redislab::lesson::loader;
use redislab::redis::connect::connect;
use redislab::runner::Engine;
use redislab::runner::walk::{Event, ExerciseAction, Options, Prompter, StepAction, View, Walker};
use redislab::settings::Settings;

/// Answers as `--auto` would, after "reading" for `reading_s` seconds before every answer.
struct SlowReader {
    conn: redis::Connection,
    reading_s: i64,
    /// What it typed, for the assertions.
    readings: usize,
}

impl SlowReader {
    /// A minute passes: every TTL under `lab:` loses 60 s; keys whose TTL runs out expire.
    fn read(&mut self) {
        self.readings += 1;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("lab:*")
            .query(&mut self.conn)
            .expect("KEYS on the test server");
        for k in keys {
            let pttl: i64 = redis::cmd("PTTL")
                .arg(&k)
                .query(&mut self.conn)
                .expect("PTTL");
            if pttl > 0 {
                let left = pttl - self.reading_s * 1000;
                let _: i64 = redis::cmd("PEXPIRE")
                    .arg(&k)
                    .arg(left.max(0))
                    .query(&mut self.conn)
                    .expect("PEXPIRE");
            }
        }
    }
}

impl Prompter for SlowReader {
    fn step_action(&mut self, _: &str) -> Result<StepAction> {
        self.read();
        Ok(StepAction::Run)
    }
    fn command(&mut self, _: &str, suggestion: &str) -> Result<Option<String>> {
        self.read();
        Ok(Some(suggestion.to_string()))
    }
    fn exercise_action(&mut self, _: usize) -> Result<ExerciseAction> {
        self.read();
        Ok(ExerciseAction::Solution)
    }
    fn choose(&mut self, _: &str, _: &[String]) -> Result<Option<usize>> {
        Ok(Some(1))
    }
    fn confirm(&mut self, _: &str, default: bool) -> Result<Option<bool>> {
        self.read();
        Ok(Some(default))
    }
    fn countdown(&mut self, seconds: u64, _: &mut dyn FnMut() -> String) -> Result<Option<u64>> {
        // A wait step is where time visibly runs: the learner presses a key at once.
        Ok(Some(seconds))
    }
}

/// Keeps the failed checks' descriptions.
#[derive(Default)]
struct Failures(Vec<String>);

impl View for Failures {
    fn show(&mut self, event: Event<'_>) {
        if let Event::Checks(results) = event {
            for r in results.iter().filter(|r| !r.passed) {
                self.0.push(format!(
                    "{}: expected {}, got {}",
                    r.what, r.expected, r.actual
                ));
            }
        }
    }
    fn ticker(&mut self, _: &str) -> Box<dyn redislab::measure::Ticker> {
        Box::new(redislab::measure::Silent)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lesson_passes_when_the_learner_reads_a_minute_before_every_answer() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let client = redis::Client::open(redis.url()).expect("client");
    let lessons = loader::load_all(None).expect("lessons load");
    for l in &lessons {
        let lesson = &l.lesson;
        let mut engine = Engine::new(&server, "lab").await.expect("engine");
        let mut reader = SlowReader {
            conn: client.get_connection().expect("connection"),
            reading_s: 60,
            readings: 0,
        };
        let mut failures = Failures::default();
        let walker = Walker {
            engine: &mut engine,
            lesson,
            prompter: &mut reader,
            view: &mut failures,
            store: None,
            options: Options {
                auto: false,
                from_step: 1,
                answers: Some(vec![1; lesson.quiz.len()]),
                quiz: true,
            },
        };
        let summary = walker
            .walk()
            .await
            .unwrap_or_else(|e| panic!("lesson {}: {e:#}", lesson.id));
        assert!(
            summary.failed_steps.is_empty(),
            "lesson {} after a minute of reading before each answer: failing steps {:?}: {:#?}",
            lesson.id,
            summary.failed_steps,
            failures.0
        );
        assert!(
            reader.readings >= lesson.steps.len() / 2,
            "lesson {}: the learner was asked too little to prove anything",
            lesson.id
        );
    }
}
