//! The attempt log, `stats` and `review`, on a fixture lesson made for them
//! (tests/fixtures/review: an exercise and a predict question whose values vary) and the failing
//! fixture. The clock is set with REDISLAB_NOW, so "due tomorrow" is decided by the test.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;
use common::{TestRedis, assert_success, run, stdout};
use redislab::lesson::loader;
use redislab::redis::connect::connect;
use redislab::runner::Engine;
use redislab::runner::walk::{
    Event, ExerciseAction, FailureAction, Options, Prompter, Reviewed, StepAction, Summary, View,
    Walker,
};
use redislab::settings::Settings;

const T: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `redislab --lessons <fixture> ...` at time `now`.
fn at(redis: &TestRedis, home: &Path, fixture: &str, now: i64) -> Command {
    let mut cmd = redis.redislab(home);
    cmd.arg("--lessons")
        .arg(fixtures(fixture))
        .env("REDISLAB_NOW", now.to_string());
    cmd
}

fn json(cmd: &mut Command) -> serde_json::Value {
    let out = run(cmd);
    assert_success(&out);
    serde_json::from_str(&stdout(&out)).expect("JSON")
}

#[test]
fn a_missed_question_is_due_after_a_day_not_before() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    // Question 1 answered wrong (APPEND), the predict question right.
    assert_success(&run(at(&redis, home.path(), "review", T).args([
        "quiz",
        "97",
        "--answers",
        "2,2,1,1,1",
    ])));
    let today = json(at(&redis, home.path(), "review", T).args(["review", "--json"]));
    assert_eq!(today["due"].as_array().expect("due").len(), 0, "{today}");
    assert_eq!(today["scheduled"], 1, "{today}");
    assert_eq!(today["next_due_at"], T + DAY, "{today}");
    let tomorrow = json(at(&redis, home.path(), "review", T + DAY).args(["review", "--json"]));
    let due = tomorrow["due"].as_array().expect("due");
    assert_eq!(due.len(), 1, "{tomorrow}");
    assert_eq!(due[0]["item"], "quiz:1");
    assert_eq!(due[0]["box"], 1);
    assert_eq!(due[0]["text"], "Which command adds one?");
    let list = run(at(&redis, home.path(), "review", T + DAY).arg("list"));
    assert!(stdout(&list).contains("1 to review"), "{}", stdout(&list));
    let list = run(at(&redis, home.path(), "review", T).arg("list"));
    assert!(!stdout(&list).contains("to review"), "{}", stdout(&list));
}

#[test]
fn an_auto_lesson_with_a_failed_step_leaves_its_tries_in_stats() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    let empty = run(at(&redis, home.path(), "failing", T).arg("stats"));
    assert_success(&empty);
    assert!(
        stdout(&empty).contains("No attempts recorded yet"),
        "{}",
        stdout(&empty)
    );
    let out = run(at(&redis, home.path(), "failing", T).args(["lesson", "98", "--auto"]));
    assert_eq!(out.status.code(), Some(1));
    let stats = json(at(&redis, home.path(), "failing", T).args(["stats", "--json"]));
    let lesson = &stats["lessons"][0];
    assert_eq!(lesson["lesson_id"], "98", "{stats}");
    assert_eq!(lesson["title"], "Failing fixture");
    assert_eq!(
        (lesson["passed"].as_u64(), lesson["failed"].as_u64()),
        (Some(2), Some(1))
    );
    let hardest = stats["hardest"].as_array().expect("hardest");
    assert_eq!(hardest.len(), 1, "only the failed step was hard: {stats}");
    assert_eq!(hardest[0]["step"], 2);
    assert_eq!(hardest[0]["title"], "A deliberately false check");
    assert_eq!(hardest[0]["history"][0]["kind"], "failed");
    assert_eq!(hardest[0]["history"][0]["at"], T);
    for key in [
        "hints",
        "solutions",
        "wrong",
        "retries",
        "skips",
        "seconds",
        "difficulty",
    ] {
        assert!(hardest[0][key].is_u64(), "{key} in {stats}");
    }
    let text = stdout(&run(at(&redis, home.path(), "failing", T).arg("stats")));
    assert!(text.contains("98·2"), "{text}");
    assert!(text.contains("2027-01-15: failed"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
}

#[test]
fn export_and_import_carry_the_log_and_the_boxes() {
    let redis = TestRedis::start();
    let a = tempfile::tempdir().expect("home");
    let b = tempfile::tempdir().expect("home");
    assert_success(&run(at(&redis, a.path(), "review", T).args([
        "quiz",
        "97",
        "--answers",
        "2,1,1,1,1",
    ])));
    let file = a.path().join("progress.json");
    assert_success(&run(at(&redis, a.path(), "review", T)
        .args(["progress", "--export"])
        .arg(&file)));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("file")).expect("JSON");
    assert_eq!(doc["version"], 2);
    assert_success(&run(at(&redis, b.path(), "review", T)
        .args(["progress", "--import"])
        .arg(&file)));
    for cmd in [["stats", "--json"], ["review", "--json"]] {
        let here = json(at(&redis, a.path(), "review", T + DAY).args(cmd));
        let there = json(at(&redis, b.path(), "review", T + DAY).args(cmd));
        assert_eq!(here, there, "{cmd:?}");
    }
    let due = json(at(&redis, b.path(), "review", T + DAY).args(["review", "--json"]));
    assert_eq!(due["due"].as_array().expect("due").len(), 2, "{due}");
}

#[test]
fn a_database_from_before_the_log_opens_and_gains_it() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    let old = rusqlite::Connection::open(home.path().join("progress.db")).expect("db");
    old.execute_batch(
        "CREATE TABLE progress (lesson_id TEXT PRIMARY KEY, last_step INTEGER NOT NULL DEFAULT 0,
             completed_at INTEGER, best_score INTEGER, quiz_total INTEGER, updated_at INTEGER NOT NULL);
         CREATE TABLE step_outcome (lesson_id TEXT NOT NULL, step INTEGER NOT NULL,
             outcome TEXT NOT NULL, PRIMARY KEY (lesson_id, step));
         INSERT INTO progress (lesson_id, last_step, updated_at) VALUES ('97', 1, 5);",
    )
    .expect("old schema");
    drop(old);
    let review = json(at(&redis, home.path(), "review", T).args(["review", "--json"]));
    assert_eq!(review["scheduled"], 0);
    assert_success(&run(at(&redis, home.path(), "review", T).args([
        "quiz",
        "97",
        "--answers",
        "2,2,1,1,1",
    ])));
    let progress = json(at(&redis, home.path(), "review", T).args(["progress", "--json"]));
    assert_eq!(progress[0]["last_step"], 1, "{progress}");
    let stats = json(at(&redis, home.path(), "review", T).args(["stats", "--json"]));
    assert_eq!(stats["lessons"][0]["quiz_wrong"], 1, "{stats}");
}

/// A learner who answers a question by the text of the choice they pick, and types at the
/// exercise prompt from a script.
struct Learner {
    pick: fn(&str) -> bool,
    exercise: std::collections::VecDeque<ExerciseAction>,
}

impl Prompter for Learner {
    fn step_action(&mut self, _: &str) -> Result<StepAction> {
        Ok(StepAction::Run)
    }
    fn command(&mut self, _: &str, suggestion: &str) -> Result<Option<String>> {
        Ok(Some(suggestion.to_string()))
    }
    fn exercise_action(&mut self, _: usize, _: &str) -> Result<ExerciseAction> {
        Ok(self.exercise.pop_front().unwrap_or(ExerciseAction::Quit))
    }
    fn choose(&mut self, _: &str, choices: &[String]) -> Result<Option<usize>> {
        Ok(choices.iter().position(|c| (self.pick)(c)).map(|i| i + 1))
    }
    fn confirm(&mut self, _: &str, default: bool) -> Result<Option<bool>> {
        Ok(Some(default))
    }
    fn after_failure(&mut self, _: &str, _: Option<usize>) -> Result<FailureAction> {
        Ok(FailureAction::GoOn)
    }
    fn countdown(&mut self, seconds: u64, _: &mut dyn FnMut() -> String) -> Result<Option<u64>> {
        Ok(Some(seconds))
    }
}

/// What the question showed and how it was graded.
#[derive(Default)]
struct Seen {
    commands: Vec<Vec<String>>,
    graded: Vec<(bool, String, String)>,
}

impl View for Seen {
    fn show(&mut self, event: Event<'_>) {
        match event {
            Event::Question { predict, .. } => self.commands.push(predict.to_vec()),
            Event::Graded {
                correct,
                chosen,
                actual,
                ..
            } => self.graded.push((
                correct,
                chosen.to_string(),
                actual.unwrap_or_default().trim().to_string(),
            )),
            _ => {}
        }
    }
    fn ticker(&mut self, _: &str) -> Box<dyn redislab::measure::Ticker> {
        Box::new(redislab::measure::Silent)
    }
}

fn options() -> Options {
    Options {
        auto: false,
        from_step: 1,
        answers: None,
        quiz: false,
        keep_until: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_varying_question_comes_back_with_new_values_graded_by_the_live_reply() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let lessons = loader::load_all(Some(&fixtures("review"))).expect("lessons load");
    let lesson = &loader::find(&lessons, "97").expect("lesson").lesson;
    let mut engine = Engine::new(&server, "lab").await.expect("engine");
    let mut seen = Seen::default();
    // First review: the integer reply, which is right. Second: the string one, which is not.
    for (case, pick) in [
        (
            0,
            (|c: &str| c.starts_with("(integer)")) as fn(&str) -> bool,
        ),
        (1, |c: &str| c.starts_with('"')),
    ] {
        let mut learner = Learner {
            pick,
            exercise: Default::default(),
        };
        let mut walker = Walker {
            engine: &mut engine,
            lesson,
            prompter: &mut learner,
            view: &mut seen,
            store: None,
            options: options(),
        };
        let mut summary = Summary::default();
        let right = walker
            .ask_again(2, case, None, &mut summary)
            .await
            .expect("asked");
        assert_eq!(right, Some(case == 0));
        assert!(summary.stale_predictions.is_empty());
    }
    let [first, second] = &seen.commands[..] else {
        panic!("two questions shown: {:?}", seen.commands)
    };
    assert_ne!(first, second, "new key and values");
    assert!(
        first[1].ends_with(" 5") && second[1].ends_with(" 41"),
        "{first:?} {second:?}"
    );
    assert_ne!(first[0], second[0], "a fresh key each time");
    assert_eq!(
        seen.graded[0],
        (true, "(integer) 6".into(), "(integer) 6".into())
    );
    assert_eq!(
        seen.graded[1],
        (false, "\"42\"".into(), "(integer) 42".into())
    );
    assert!(
        redis
            .keys_in("lab")
            .iter()
            .all(|k| !k.starts_with("lab:rv:")),
        "the question's keys are gone: {:?}",
        redis.keys_in("lab")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_comes_back_at_the_exercise_prompt_and_its_checks_judge() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let lessons = loader::load_all(Some(&fixtures("review"))).expect("lessons load");
    let lesson = &loader::find(&lessons, "97").expect("lesson").lesson;
    let mut engine = Engine::new(&server, "lab").await.expect("engine");
    let tries = [
        // Typed by the learner, from the state step 1 left (a = 1): right.
        (
            vec![ExerciseAction::Type("INCR lab:rv:a".into())],
            Reviewed::Right,
        ),
        // A miss, then the solution: wrong.
        (
            vec![
                ExerciseAction::Type("SET lab:rv:a 3".into()),
                ExerciseAction::Solution,
            ],
            Reviewed::Wrong,
        ),
        (vec![ExerciseAction::Quit], Reviewed::Left),
    ];
    for (typed, expected) in tries {
        let mut learner = Learner {
            pick: |_| false,
            exercise: typed.into(),
        };
        let mut seen = Seen::default();
        let walker = Walker {
            engine: &mut engine,
            lesson,
            prompter: &mut learner,
            view: &mut seen,
            store: None,
            options: options(),
        };
        assert_eq!(walker.review_step(2).await.expect("reviewed"), expected);
    }
}

fn pty(redis: &TestRedis, home: &Path, now: i64, args: &str) -> rexpect::session::PtySession {
    let script = format!(
        "stty cols 80 rows 24; exec {} --redis-url {} --home {} --lessons {} {args}",
        common::bin().display(),
        redis.url(),
        home.display(),
        fixtures("review").display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("REDISLAB_NOW", now.to_string())
        .env("REDISLAB_LOCAL_ADDR", common::DEAD_LOCAL_ADDR)
        .env_remove("REDIS_URL")
        .env_remove("REDISLAB_NAMESPACE")
        .env_remove("REDISLAB_LESSONS")
        .env_remove("REDISLAB_HOME")
        .env_remove("CLICOLOR_FORCE");
    let options = rexpect::session::Options::new()
        .timeout_ms(Some(30_000))
        .strip_ansi_escape_codes(true);
    rexpect::session::spawn_with_options(cmd, options).expect("spawn in a pty")
}

fn send(p: &mut rexpect::session::PtySession, s: &str) {
    p.send(s).expect("send");
    p.flush().expect("flush");
}

/// A person reviews over a terminal: one right answer moves up a box, then Esc leaves and the
/// other item stays due.
#[test]
fn an_interactive_review_saves_each_answer_and_esc_leaves_cleanly() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    // Both questions missed.
    assert_success(&run(at(&redis, home.path(), "review", T).args([
        "quiz",
        "97",
        "--answers",
        "2,1,1,1,1",
    ])));
    let mut p = pty(&redis, home.path(), T + DAY, "review");
    p.exp_string("Review 1/2").expect("first item");
    p.exp_string("Which command adds one?")
        .expect("the question");
    p.exp_string("your answer").expect("the quiz prompt");
    // Type the right choice's text: the list filters to it, Enter answers.
    send(&mut p, "INCR");
    send(&mut p, "\r");
    p.exp_string("Right: up to box 2").expect("moved up");
    p.exp_string("Review 2/2").expect("second item");
    p.exp_string("your answer").expect("the quiz prompt");
    send(&mut p, "\x1b");
    p.exp_string("Leave").expect("asked whether to leave");
    send(&mut p, "\x1b[B\r");
    p.exp_string("Reviewed 1: 1 right").expect("the end");
    p.exp_eof().expect("exits");
    let due = json(at(&redis, home.path(), "review", T + DAY).args(["review", "--json"]));
    let items: Vec<&str> = due["due"]
        .as_array()
        .expect("due")
        .iter()
        .filter_map(|d| d["item"].as_str())
        .collect();
    assert_eq!(items, vec!["quiz:2"], "{due}");
    let later = json(at(&redis, home.path(), "review", T + 4 * DAY).args(["review", "--json"]));
    let boxes: Vec<(String, u64)> = later["due"]
        .as_array()
        .expect("due")
        .iter()
        .map(|d| {
            (
                d["item"].as_str().unwrap_or("").to_string(),
                d["box"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        boxes,
        vec![("quiz:2".to_string(), 1), ("quiz:1".to_string(), 2)],
        "{later}"
    );
}
