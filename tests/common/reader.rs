//! A scripted learner who reads for a minute before every answer, walking real lessons through
//! the `Prompter` and `View` seams. Reading is simulated by shortening every TTL in the
//! namespace by 60 s (what a real minute does to them), hash fields' own TTLs included where the
//! server has them, never by sleeping. Every lesson must still pass every check: lesson time
//! stands still while a person reads. With `pager_rows`, the learner also reads for a minute
//! at every "Enter for more" the terminal's pager would show on a screen that many rows high
//! (80 columns wide), by the pager's own rule.
// Test fixtures reach the servers directly, to set up and to check what redislab did.
#![allow(clippy::disallowed_methods)]

use anyhow::Result;
use redislab::lesson::loader;
use redislab::redis::connect::connect;
use redislab::runner::Engine;
use redislab::runner::walk::{
    Event, ExerciseAction, FailureAction, Options, Prompter, StepAction, View, Walker,
};
use redislab::settings::Settings;

use std::cell::RefCell;
use std::rc::Rc;

use redislab::term::pager::Screen;

/// Answers as `--auto` would, after "reading" for `reading_s` seconds before every answer.
pub struct SlowReader {
    clock: Rc<RefCell<Reading>>,
}

/// What a minute of reading does to the lesson's keys, shared by the prompts and the pager.
pub struct Reading {
    conn: redis::Connection,
    reading_s: i64,
    /// Whether hash fields can have TTLs of their own on this server.
    field_ttls: bool,
    /// How often it read.
    pub readings: usize,
    /// How often it read at a pager's pause.
    pub pauses: usize,
    /// The screen the pager fills between prompts, when the learner reads at its pauses.
    screen: Option<Screen>,
}

impl Reading {
    pub fn new(mut conn: redis::Connection, reading_s: i64) -> Reading {
        let info: Vec<redis::Value> = redis::cmd("COMMAND")
            .arg("INFO")
            .arg("HPTTL")
            .query(&mut conn)
            .expect("COMMAND INFO");
        let field_ttls = info.first().is_some_and(|i| *i != redis::Value::Nil);
        Reading {
            conn,
            reading_s,
            field_ttls,
            readings: 0,
            pauses: 0,
            screen: None,
        }
    }

    /// A prompt: the pager's screen starts again, and the learner reads.
    fn prompt(&mut self) {
        if let Some(s) = self.screen.as_mut() {
            s.shown = 0;
        }
        self.read();
    }

    /// Output the pager may pause in: a minute of reading at every pause.
    fn output(&mut self, text: &str) {
        let Some(screen) = self.screen.as_mut() else {
            return;
        };
        let pauses = screen.chunks(text).len() - 1;
        for _ in 0..pauses {
            self.pauses += 1;
            self.read();
        }
    }

    /// A minute passes: every TTL under `lab:` loses 60 s, on keys and on hash fields; keys and
    /// fields whose TTL runs out expire.
    fn read(&mut self) {
        self.readings += 1;
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("lab:*")
            .query(&mut self.conn)
            .expect("KEYS on the test server");
        for k in keys {
            if self.field_ttls {
                self.read_fields(&k);
            }
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

    fn read_fields(&mut self, key: &str) {
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query(&mut self.conn)
            .expect("TYPE");
        if kind != "hash" {
            return;
        }
        let fields: Vec<String> = redis::cmd("HKEYS")
            .arg(key)
            .query(&mut self.conn)
            .expect("HKEYS");
        for f in fields {
            let pttl: Vec<i64> = redis::cmd("HPTTL")
                .arg(key)
                .arg("FIELDS")
                .arg(1)
                .arg(&f)
                .query(&mut self.conn)
                .expect("HPTTL");
            if let Some(&ms) = pttl.first().filter(|ms| **ms > 0) {
                let left = ms - self.reading_s * 1000;
                let _: Vec<i64> = redis::cmd("HPEXPIRE")
                    .arg(key)
                    .arg(left.max(0))
                    .arg("FIELDS")
                    .arg(1)
                    .arg(&f)
                    .query(&mut self.conn)
                    .expect("HPEXPIRE");
            }
        }
    }
}

impl Prompter for SlowReader {
    fn step_action(&mut self, _: &str) -> Result<StepAction> {
        self.clock.borrow_mut().prompt();
        Ok(StepAction::Run)
    }
    fn command(&mut self, _: &str, suggestion: &str) -> Result<Option<String>> {
        self.clock.borrow_mut().prompt();
        Ok(Some(suggestion.to_string()))
    }
    fn exercise_action(&mut self, _: usize, _: &str) -> Result<ExerciseAction> {
        self.clock.borrow_mut().prompt();
        Ok(ExerciseAction::Solution)
    }
    fn choose(&mut self, _: &str, _: &[String]) -> Result<Option<usize>> {
        self.clock.borrow_mut().prompt();
        Ok(Some(1))
    }
    fn confirm(&mut self, _: &str, default: bool) -> Result<Option<bool>> {
        self.clock.borrow_mut().prompt();
        Ok(Some(default))
    }
    fn after_failure(&mut self, _: &str, _: Option<usize>) -> Result<FailureAction> {
        Ok(FailureAction::GoOn)
    }
    fn countdown(&mut self, seconds: u64, _: &mut dyn FnMut() -> String) -> Result<Option<u64>> {
        // A wait step is where time visibly runs: the learner presses a key at once.
        Ok(Some(seconds))
    }
}

/// Keeps the failed checks' descriptions and the reasons steps were skipped; with a pager,
/// the learner reads at each of its pauses.
pub struct Failures {
    pub failed: Vec<String>,
    pub skipped: Vec<String>,
    clock: Rc<RefCell<Reading>>,
}

impl View for Failures {
    fn show(&mut self, event: Event<'_>) {
        let text = redislab::term::view::text(&event, 80);
        self.clock.borrow_mut().output(&text);
        match event {
            Event::Checks(results) => {
                for r in results.iter().filter(|r| !r.passed) {
                    self.failed.push(format!(
                        "{}: expected {}, got {}",
                        r.what, r.expected, r.actual
                    ));
                }
            }
            Event::Skipped(why) => self.skipped.push(why.to_string()),
            _ => {}
        }
    }
    fn ticker(&mut self, _: &str) -> Box<dyn redislab::measure::Ticker> {
        Box::new(redislab::measure::Silent)
    }
}

/// Walks the lessons `ids` (all when `None`) on the server at `url` with a learner who reads for
/// a minute before every answer; panics on any failing step. Returns why steps were skipped.
pub async fn walk_reading_a_minute(url: &str, ids: Option<&[&str]>) -> Vec<String> {
    walk_reading(url, ids, None).await
}

/// As `walk_reading_a_minute`, reading a minute at every pause of a pager `rows` high too.
/// Panics unless the pager paused at least once.
pub async fn walk_reading_at_every_pager(url: &str, ids: Option<&[&str]>, rows: usize) {
    walk_reading(url, ids, Some(rows)).await;
}

async fn walk_reading(url: &str, ids: Option<&[&str]>, pager_rows: Option<usize>) -> Vec<String> {
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(url, "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let client = redis::Client::open(url).expect("client");
    let lessons = loader::load_all(None).expect("lessons load");
    let mut skipped = Vec::new();
    let mut pauses = 0;
    for l in &lessons {
        let lesson = &l.lesson;
        if ids.is_some_and(|ids| !ids.contains(&lesson.id.as_str())) {
            continue;
        }
        let mut engine = Engine::new(&server, "lab").await.expect("engine");
        let mut reading = Reading::new(client.get_connection().expect("connection"), 60);
        reading.screen = pager_rows.map(Screen::new);
        let clock = Rc::new(RefCell::new(reading));
        let mut reader = SlowReader {
            clock: clock.clone(),
        };
        let mut failures = Failures {
            failed: Vec::new(),
            skipped: Vec::new(),
            clock: clock.clone(),
        };
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
                keep_until: 0,
            },
        };
        let summary = walker
            .walk()
            .await
            .unwrap_or_else(|e| panic!("lesson {}: {e:#}", lesson.id));
        // A lesson that needs a Redis Cluster does not run on one server.
        if lesson.requires.as_ref().is_some_and(|r| r.cluster) {
            assert!(summary.unavailable.is_some(), "lesson {} ran", lesson.id);
            continue;
        }
        assert!(
            summary.failed_steps.is_empty(),
            "lesson {} after a minute of reading before each answer: failing steps {:?}: {:#?}",
            lesson.id,
            summary.failed_steps,
            failures.failed
        );
        let clock = clock.borrow();
        assert!(
            clock.readings >= lesson.steps.len() / 2,
            "lesson {}: the learner was asked too little to prove anything",
            lesson.id
        );
        pauses += clock.pauses;
        skipped.extend(
            failures
                .skipped
                .into_iter()
                .map(|s| format!("{}: {s}", lesson.id)),
        );
    }
    if pager_rows.is_some() {
        assert!(
            pauses > 0,
            "the pager never paused: the test proves nothing"
        );
    }
    skipped
}
