//! Scripted learners walk real lessons through the `Prompter` and `View` seams the way a person
//! does: one reads for a minute before every answer (`common::reader`: lesson time must stand
//! still), the others retry, go back, type wrong answers and ask for help.

mod common;

use anyhow::Result;
use common::{TestRedis, assert_success};
use redislab::lesson::loader;
use redislab::redis::connect::connect;
use redislab::runner::Engine;
use redislab::runner::walk::{
    Event, ExerciseAction, FailureAction, Options, Prompter, StepAction, View, Walker,
};
use redislab::settings::Settings;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lesson_passes_when_the_learner_reads_a_minute_before_every_answer() {
    let redis = TestRedis::start();
    common::reader::walk_reading_a_minute(&redis.url(), None).await;
}

/// Issue 17: "── Enter for more ──" waits for the learner like any prompt, so lesson time stands
/// still there too: at 80×24 almost every step pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_lesson_passes_when_the_learner_reads_a_minute_at_every_pager_at_80x24() {
    let redis = TestRedis::start();
    common::reader::walk_reading_at_every_pager(&redis.url(), None, 24).await;
}

/// A learner with a script of answers; anything not scripted is answered as `--auto` would.
#[derive(Default)]
struct Scripted {
    steps: std::collections::VecDeque<StepAction>,
    typed: std::collections::VecDeque<String>,
    exercise: std::collections::VecDeque<ExerciseAction>,
    failures: std::collections::VecDeque<FailureAction>,
    asked_after_failure: usize,
    /// Every typing prompt shown, as shown.
    prompts: Vec<String>,
    /// The earlier step each failure menu offered to go back to.
    back_to: Vec<Option<usize>>,
    /// Shared with `Seen`: prompts and what was shown, in the order they happened.
    order: Order,
}

/// What a person meets, in order: `prompt`, `reply`, `checks`.
type Order = std::rc::Rc<std::cell::RefCell<Vec<&'static str>>>;

impl Prompter for Scripted {
    fn step_action(&mut self, _: &str) -> Result<StepAction> {
        Ok(self.steps.pop_front().unwrap_or(StepAction::Run))
    }
    fn command(&mut self, prompt: &str, suggestion: &str) -> Result<Option<String>> {
        self.prompts.push(prompt.to_string());
        self.order.borrow_mut().push("prompt");
        Ok(Some(
            self.typed
                .pop_front()
                .unwrap_or_else(|| suggestion.to_string()),
        ))
    }
    fn exercise_action(&mut self, _: usize, _: &str) -> Result<ExerciseAction> {
        Ok(self
            .exercise
            .pop_front()
            .unwrap_or(ExerciseAction::Solution))
    }
    fn choose(&mut self, _: &str, _: &[String]) -> Result<Option<usize>> {
        Ok(Some(1))
    }
    fn confirm(&mut self, _: &str, default: bool) -> Result<Option<bool>> {
        Ok(Some(default))
    }
    /// This learner keeps to their own server: a newer-command step is skipped, as the
    /// scripted step actions expect.
    fn run_elsewhere(&mut self, _: &str) -> Result<Option<bool>> {
        Ok(Some(false))
    }
    fn after_failure(&mut self, _: &str, back_to: Option<usize>) -> Result<FailureAction> {
        self.asked_after_failure += 1;
        self.back_to.push(back_to);
        Ok(self.failures.pop_front().unwrap_or(FailureAction::GoOn))
    }
    fn countdown(&mut self, seconds: u64, _: &mut dyn FnMut() -> String) -> Result<Option<u64>> {
        Ok(Some(seconds))
    }
}

/// Records what a person would see that these tests look for.
#[derive(Default)]
struct Seen {
    failed_checks: usize,
    restored: Vec<usize>,
    headers: Vec<usize>,
    refused: Vec<String>,
    trial_failures: Vec<String>,
    wrong_answers: Vec<String>,
    correct: usize,
    helps: Vec<String>,
    texts: Vec<String>,
    whys: Vec<String>,
    notices: Vec<String>,
    /// Failed checks as `what: expected X, got Y`.
    failures: Vec<String>,
    order: Order,
}

impl View for Seen {
    fn show(&mut self, event: Event<'_>) {
        match event {
            Event::Checks(r) => {
                self.order.borrow_mut().push("checks");
                self.failed_checks += r.iter().filter(|r| !r.passed).count();
                self.whys.extend(r.iter().filter_map(|r| r.why.clone()));
                self.failures.extend(
                    r.iter()
                        .filter(|r| !r.passed)
                        .map(|r| format!("{}: expected {}, got {}", r.what, r.expected, r.actual)),
                );
            }
            Event::Reply(_) => self.order.borrow_mut().push("reply"),
            Event::Restored { index } => self.restored.push(index),
            Event::StepHeader { index, text, .. } => {
                self.headers.push(index);
                self.texts.push(text.to_string());
            }
            Event::Refused(why) => self.refused.push(why.to_string()),
            Event::Trials(t) => self
                .trial_failures
                .extend(t.iter().filter(|t| !t.passed).map(|t| t.why.clone())),
            Event::WrongAnswer(why) => self.wrong_answers.push(why.to_string()),
            Event::Correct => self.correct += 1,
            Event::CommandHelp(h) => self.helps.push(h.syntax.clone()),
            Event::Notice(n) => self.notices.push(n.to_string()),
            _ => {}
        }
    }
    fn ticker(&mut self, _: &str) -> Box<dyn redislab::measure::Ticker> {
        Box::new(redislab::measure::Silent)
    }
}

/// Walks lesson `id` (steps only, no quiz) with a scripted learner.
async fn walk(
    redis: &TestRedis,
    id: &str,
    learner: &mut Scripted,
    seen: &mut Seen,
) -> redislab::runner::walk::Summary {
    walk_in(redis, None, id, learner, seen).await
}

/// `walk`, with the lessons of a folder (`--lessons`) instead of the shipped ones.
async fn walk_in(
    redis: &TestRedis,
    folder: Option<&std::path::Path>,
    id: &str,
    learner: &mut Scripted,
    seen: &mut Seen,
) -> redislab::runner::walk::Summary {
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let lessons = loader::load_all(folder).expect("lessons load");
    let lesson = &loader::find(&lessons, id).expect("lesson").lesson;
    let mut engine = Engine::new(&server, "lab").await.expect("engine");
    let walker = Walker {
        engine: &mut engine,
        lesson,
        prompter: learner,
        view: seen,
        store: None,
        options: Options {
            auto: false,
            from_step: 1,
            answers: None,
            quiz: false,
            keep_until: 0,
        },
    };
    walker.walk().await.expect("the walk ends cleanly")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_step_can_be_retried_from_the_state_it_started_in() {
    let redis = TestRedis::start();
    // Step 1 of lesson 01, typed wrong: the value is not "hello", so its checks fail.
    let mut learner = Scripted {
        steps: [StepAction::TypeIt].into(),
        typed: [
            "SET lab:greeting bye".to_string(),
            "GET lab:greeting".to_string(),
            "TYPE lab:greeting".to_string(),
        ]
        .into(),
        failures: [FailureAction::Retry].into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "01", &mut learner, &mut seen).await;
    assert_eq!(
        learner.asked_after_failure, 1,
        "asked once, after the wrong try"
    );
    assert!(seen.failed_checks >= 1, "the wrong value was reported");
    assert_eq!(
        seen.restored,
        vec![1],
        "the keys went back before the retry"
    );
    assert_eq!(&seen.headers[..2], &[1, 1], "step 1 was shown again");
    assert!(
        summary.failed_steps.is_empty(),
        "the retried step passed: {:?}",
        summary.failed_steps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_typed_reply_shows_before_the_next_prompt_and_the_checks_come_last() {
    let redis = TestRedis::start();
    let order = Order::default();
    let mut learner = Scripted {
        steps: [StepAction::TypeIt].into(),
        order: order.clone(),
        ..Default::default()
    };
    let mut seen = Seen {
        order: order.clone(),
        ..Default::default()
    };
    walk(&redis, "01", &mut learner, &mut seen).await;
    // Lesson 01 step 1 has three commands: like redis-cli, each reply comes before the next
    // prompt, and the step's checks only once all three are in.
    let first: Vec<&str> = order.borrow().iter().take(7).copied().collect();
    assert_eq!(
        first,
        [
            "prompt", "reply", "prompt", "reply", "prompt", "reply", "checks"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_check_says_why_when_the_engine_can_tell() {
    let redis = TestRedis::start();
    // A typo in the key name: the value lands under another key, and the check says where.
    let mut learner = Scripted {
        steps: [StepAction::TypeIt, StepAction::TypeIt].into(),
        typed: [
            "SET lab:greting hello".to_string(),
            "GET lab:greting".to_string(),
            "TYPE lab:greting".to_string(),
        ]
        .into(),
        failures: [FailureAction::Retry].into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    walk(&redis, "01", &mut learner, &mut seen).await;
    assert!(
        seen.whys
            .iter()
            .any(|w| w.contains("this step wrote lab:greting instead")),
        "{:?}",
        seen.whys
    );
    // Step 3 typed with `EXPIRE lab:greeting 0` (its own command, another value), which deletes
    // the key, and its SET aimed at another key: the greeting is gone, and the check says it was
    // there when the step began.
    let redis = TestRedis::start();
    let mut learner = Scripted {
        steps: [StepAction::Run, StepAction::Run, StepAction::TypeIt].into(),
        typed: [
            "EXPIRE lab:greeting 0".to_string(),
            "TTL lab:greeting".to_string(),
            "SET lab:other \"hello again\"".to_string(),
            "TTL lab:greeting".to_string(),
        ]
        .into(),
        failures: [FailureAction::GoOn].into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    walk(&redis, "01", &mut learner, &mut seen).await;
    assert!(
        seen.whys
            .iter()
            .any(|w| w.contains("it was there when this step began (no TTL)")),
        "{:?}",
        seen.whys
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_wrong_answers_then_the_solution_works_on_the_state_the_exercise_started_in() {
    let redis = TestRedis::start();
    // Lesson 07 step 6: take the lock. The learner's tries change the state (another token
    // without a TTL, then a lock that would block NX); the solution must still work.
    let mut learner = Scripted {
        exercise: [
            ExerciseAction::Type("SET lab:lock:coupon:1 mine".into()),
            ExerciseAction::Type("GET lab:lock:coupon:1".into()),
            ExerciseAction::Type("SET foreign:lock x".into()),
            ExerciseAction::Type("PERSIST lab:lock:coupon:1".into()),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "07", &mut learner, &mut seen).await;
    assert_eq!(
        seen.refused.len(),
        1,
        "the key outside the namespace was refused, not counted"
    );
    assert!(
        summary.failed_steps.is_empty(),
        "the solution ran on the exercise's starting state: {:?}",
        summary.failed_steps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_returns_to_the_previous_step_with_its_keys_as_they_were() {
    let redis = TestRedis::start();
    // Run steps 1 and 2 of lesson 01, then go back from step 3 to step 2.
    let mut learner = Scripted {
        steps: [StepAction::Run, StepAction::Run, StepAction::Back].into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "01", &mut learner, &mut seen).await;
    assert_eq!(seen.restored, vec![2]);
    assert_eq!(&seen.headers[..4], &[1, 2, 3, 2]);
    // Step 2's checks expect INCR to reply 1: only true if its counter really went back.
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_taken_without_nx_is_refused_with_what_it_would_break() {
    let redis = TestRedis::start();
    // Lesson 07 step 6: the goal state is reached without NX, but the trial (the lock already
    // held by another client) shows the answer would overwrite it. The right answer then passes.
    let mut learner = Scripted {
        exercise: [
            ExerciseAction::Type("SET lab:lock:coupon:1 tok EX 30".into()),
            ExerciseAction::Type("SET lab:lock:coupon:1 tok NX PX 30000".into()),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "07", &mut learner, &mut seen).await;
    assert_eq!(seen.trial_failures.len(), 1, "{:?}", seen.trial_failures);
    assert!(
        seen.trial_failures[0].contains("NX"),
        "{:?}",
        seen.trial_failures
    );
    assert_eq!(
        seen.wrong_answers.len(),
        1,
        "the lesson's sentence for this mistake"
    );
    assert_eq!(
        seen.correct, 1,
        "the NX answer is accepted after the refusal"
    );
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
    assert!(
        redis.all_keys().iter().all(|k| !k.contains(":trial:")),
        "scratch keys are deleted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_cannot_load_a_script_that_the_next_step_would_run() {
    use redislab::lesson::model::StepKind;
    let redis = TestRedis::start();
    redis.cli(&["SET", "victim", "keep me"]);
    // Lesson 08's SCRIPT LOAD step, typed by the learner on a server redislab does not own:
    // a script of their own is refused; Enter then loads the lesson's, and the next step's
    // EVALSHA calls only that one.
    let lessons = loader::load_all(None).expect("lessons load");
    let lesson = &loader::find(&lessons, "08").expect("lesson 08").lesson;
    let target = lesson
        .steps
        .iter()
        .position(|s| matches!(&s.kind, StepKind::Run { commands } if commands.iter().any(|c| c.line().starts_with("SCRIPT LOAD"))))
        .expect("lesson 08 loads a script");
    let asks_first = lesson.steps[..target]
        .iter()
        .filter(|s| !matches!(s.kind, StepKind::Exercise { .. } | StepKind::Wait { .. }))
        .count();
    let mut steps: std::collections::VecDeque<StepAction> =
        std::iter::repeat_n(StepAction::Run, asks_first).collect();
    steps.push_back(StepAction::TypeIt);
    let mut learner = Scripted {
        steps,
        typed: [
            "SCRIPT LOAD \"redis.call('DEL','victim') return {1,1}\"".to_string(),
            String::new(),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "08", &mut learner, &mut seen).await;
    // Not sent from the keyboard: the lesson's own line runs instead, and the screen says so.
    assert!(
        seen.notices
            .iter()
            .any(|r| r.contains("sends this one for you") && r.contains("SCRIPT LOAD")),
        "the learner's script was not sent: {:?}",
        seen.notices
    );
    assert_eq!(redis.cli(&["GET", "victim"]), "\"keep me\"\n");
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_at_the_exercise_prompt_shows_the_syntax_and_costs_no_try() {
    let redis = TestRedis::start();
    // Lesson 07 step 6: `help SET` twice, then three wrong tries would show the solution; with
    // help not counted, the fourth answer (right) is still the learner's own.
    let mut learner = Scripted {
        exercise: [
            ExerciseAction::Type("help SET".into()),
            ExerciseAction::Type("help".into()),
            ExerciseAction::Type("GET lab:lock:coupon:1".into()),
            ExerciseAction::Type("GET lab:lock:coupon:1".into()),
            ExerciseAction::Type("SET lab:lock:coupon:1 t NX PX 30000".into()),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "07", &mut learner, &mut seen).await;
    assert_eq!(seen.helps.len(), 1, "{:?}", seen.helps);
    assert!(
        seen.helps[0].starts_with("key value [NX|XX]"),
        "{:?}",
        seen.helps
    );
    assert_eq!(seen.correct, 1, "the learner's own answer was accepted");
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_steps_quote_the_token_the_learner_chose() {
    let redis = TestRedis::start();
    let mut learner = Scripted {
        exercise: [ExerciseAction::Type(
            "SET lab:lock:coupon:1 learner-chosen NX PX 30000".into(),
        )]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "07", &mut learner, &mut seen).await;
    assert!(
        seen.texts
            .iter()
            .any(|t| t.contains("your old token, learner-chosen")),
        "no step quoted the learner's token"
    );
    assert!(
        !seen.texts.iter().any(|t| t.contains("my-token")),
        "a step still quotes the solution's token"
    );
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typing_words_hint_retry_and_solution_work_in_a_run_step() {
    let redis = TestRedis::start();
    // Lesson 01 step 1, typed: a hint, a wrong first command, `retry` (the keys go back and
    // typing starts over), Enter for the lesson's own first command, then `solution` for the rest.
    let mut learner = Scripted {
        steps: [StepAction::TypeIt].into(),
        typed: [
            "hint".to_string(),
            "SET lab:greeting bye".to_string(),
            "retry".to_string(),
            String::new(),
            "solution".to_string(),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "01", &mut learner, &mut seen).await;
    assert!(learner.typed.is_empty(), "every scripted word was used");
    assert_eq!(
        learner.asked_after_failure, 0,
        "the step passed without a failure"
    );
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
}

/// Issue 17, item 12: lesson time gives back only what time took. While the learner reads,
/// another client deletes one lesson key and rewrites another without a TTL: the deleted key
/// stays deleted (it did not expire), the rewritten one keeps no TTL, an untouched one gets its
/// time back, and the two changed ones are reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lesson_time_never_overrules_another_client() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let server = connect(&settings).await.expect("connects");
    let mut engine = Engine::new(&server, "lab").await.expect("engine");
    engine.set_lesson_keys(&["${ns}:lock:*".to_string()]);
    for k in [
        "lab:lock:deleted",
        "lab:lock:rewritten",
        "lab:lock:untouched",
    ] {
        redis.cli(&["SET", k, "mine", "PX", "30000"]);
    }
    engine.freeze().await.expect("freeze");
    assert_eq!(redis.cli_raw(&["PTTL", "lab:lock:untouched"]).trim(), "-1");
    redis.cli(&["DEL", "lab:lock:deleted"]);
    redis.cli(&["SET", "lab:lock:rewritten", "theirs"]);
    engine.thaw().await.expect("thaw");
    assert_eq!(redis.cli_raw(&["EXISTS", "lab:lock:deleted"]).trim(), "0");
    assert_eq!(
        redis.cli_raw(&["GET", "lab:lock:rewritten"]).trim(),
        "theirs"
    );
    assert_eq!(redis.cli_raw(&["PTTL", "lab:lock:rewritten"]).trim(), "-1");
    let left: i64 = redis
        .cli_raw(&["PTTL", "lab:lock:untouched"])
        .trim()
        .parse()
        .expect("a TTL");
    assert!((29_000..=30_000).contains(&left), "{left} ms left");
    let changed: Vec<(String, &str)> = engine
        .take_changed_meanwhile()
        .into_iter()
        .map(|c| (c.key, c.how))
        .collect();
    assert_eq!(
        changed,
        [
            ("lab:lock:deleted".to_string(), "deleted"),
            ("lab:lock:rewritten".to_string(), "written")
        ]
    );
}

/// Issue 17, item 12: `MULTI` typed, then `skip`: the transaction is discarded with the step,
/// so the next step's commands run instead of answering QUEUED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipping_a_step_inside_multi_discards_the_transaction() {
    let redis = TestRedis::start();
    let mut learner = Scripted {
        steps: [StepAction::TypeIt].into(),
        typed: ["MULTI".to_string(), "skip".to_string()].into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "01", &mut learner, &mut seen).await;
    assert!(learner.typed.is_empty(), "every scripted word was used");
    assert!(
        !summary.failed_steps.iter().any(|(i, _)| *i == 2),
        "step 2 ran inside the skipped step's transaction: {:?}",
        summary.failed_steps
    );
}

/// Issue 17, item 5: a command Redis refuses while queueing dooms the transaction; the learner
/// is told that EXEC will answer EXECABORT and why, not to type it again. (A mistyped command
/// name is not sent at all in a typed run step: it is not the step's command.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typo_inside_multi_says_exec_will_answer_execabort() {
    let redis = TestRedis::start();
    // Lesson 13 step 1: Enter for the two SETs and MULTI, then DECR without its key (Redis
    // refuses it while queueing: wrong number of arguments), then start over.
    let mut learner = Scripted {
        steps: [StepAction::TypeIt].into(),
        typed: [
            String::new(),
            String::new(),
            String::new(),
            "DECR".to_string(),
            "retry".to_string(),
            "solution".to_string(),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    walk(&redis, "13", &mut learner, &mut seen).await;
    assert!(learner.typed.is_empty(), "every scripted word was used");
    assert!(
        seen.notices.iter().any(|n| n.contains("EXECABORT")),
        "{:#?}",
        seen.notices
    );
    assert!(
        !seen.notices.iter().any(|n| n.contains("type it again")),
        "{:#?}",
        seen.notices
    );
}

/// Issue 17, item 2: a typed command with other options than the step's is not sent, with the
/// reason; the lesson then goes on. Lesson 11 step 6 with `$` (the group would skip every entry
/// step 7 reads), lesson 07 step 3 without NX, and lesson 07 step 3 with another command (GET),
/// which would otherwise count as the step's command and its reply be saved as its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_step_refuses_other_options_and_the_lesson_goes_on() {
    let redis = TestRedis::start();
    // (lesson, steps run before, commands of the step before the typed one, typed, word)
    for (id, before, enters, typed, word) in [
        (
            "11",
            5,
            0,
            "XGROUP CREATE lab:orders:stream workers $",
            "`$`",
        ),
        ("07", 2, 1, "SET lab:lock:coupon:1 mine PX 30000", "`NX`"),
        // Another command altogether would stand in for the step's SET and its saved token.
        ("07", 2, 1, "GET lab:lock:coupon:1", "yours is GET"),
    ] {
        let mut steps: std::collections::VecDeque<StepAction> =
            std::iter::repeat_n(StepAction::Run, before).collect();
        steps.push_back(StepAction::TypeIt);
        let mut learner = Scripted {
            steps,
            // Enter for the commands before, the refused line, then Enter for the lesson's own.
            typed: std::iter::repeat_n(String::new(), enters)
                .chain([typed.to_string()])
                .chain(std::iter::repeat_n(String::new(), 3))
                .collect(),
            ..Default::default()
        };
        let mut seen = Seen::default();
        let summary = walk(&redis, id, &mut learner, &mut seen).await;
        assert!(
            seen.refused
                .iter()
                .any(|r| r.contains("not sent") && r.contains(word)),
            "lesson {id}: {:#?}",
            seen.refused
        );
        assert!(
            summary.failed_steps.is_empty(),
            "lesson {id}: {:?}",
            summary.failed_steps
        );
        assert!(summary.completed, "lesson {id} went on to its end");
    }
}

/// Issue 17, item 2: a variant a step's checks accept can strand a later step, whose own
/// solution then fails too (the fixture lesson 43: step 1 accepts `SET hits 10.0`, step 2's
/// INCR fails on it; shipped lessons pin such variants, as lesson 11 step 6 now does with
/// XINFO GROUPS). The menu then names step 1 and `Back` goes there; typed right, the rest passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranded_step_names_the_step_that_left_its_state_and_goes_back_there() {
    let redis = TestRedis::start();
    let folder =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/variants/strands");
    let mut learner = Scripted {
        exercise: [
            ExerciseAction::Type("SET lab:hits 10.0".into()),
            ExerciseAction::Type("SET lab:hits 10".into()),
        ]
        .into(),
        failures: [FailureAction::ShowSolution, FailureAction::Back].into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk_in(&redis, Some(&folder), "43", &mut learner, &mut seen).await;
    assert_eq!(learner.back_to, [None, Some(1)]);
    assert!(
        seen.notices.iter().any(|n| n.contains("step 1")),
        "{:#?}",
        seen.notices
    );
    assert_eq!(seen.restored.last(), Some(&1));
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
}

/// Lesson 11 step 6 pins the group it creates (XINFO GROUPS: its name, its last-delivered-id):
/// a mistyped group name or a start at 1-4, which the step used to take and step 7 then failed
/// on, now fails step 6 itself, where Retry puts it right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lesson_11_step_6_refuses_a_group_the_next_steps_cannot_use() {
    let redis = TestRedis::start();
    for typed in [
        "XGROUP CREATE lab:orders:stream workrs 0 MKSTREAM",
        "XGROUP CREATE lab:orders:stream workers 1-4",
    ] {
        let mut steps: std::collections::VecDeque<StepAction> =
            std::iter::repeat_n(StepAction::Run, 5).collect();
        steps.push_back(StepAction::TypeIt);
        let mut learner = Scripted {
            steps,
            // The wrong line and the lesson's XINFO GROUPS; after Retry, the lesson's own two.
            typed: [typed.to_string(), String::new()].into(),
            failures: [FailureAction::Retry].into(),
            ..Default::default()
        };
        let mut seen = Seen::default();
        let summary = walk(&redis, "11", &mut learner, &mut seen).await;
        assert_eq!(learner.back_to.len(), 1, "{typed}: step 6 failed once");
        assert!(
            summary.failed_steps.is_empty(),
            "{typed}: {:?}",
            summary.failed_steps
        );
    }
}

/// What the hint typer saw, shared by its prompts and its view.
#[derive(Default)]
struct HintLog {
    /// The last hint shown.
    hint: Option<String>,
    /// Exercise hints shown since the exercise began; `None` once there were no more.
    exercise_hints: Vec<String>,
    no_more_hints: bool,
    refused: Vec<String>,
    /// An exercise whose typed hint was not accepted.
    missed: Vec<String>,
    typed: usize,
    prompts: usize,
    /// The exercise's hint was typed; the next exercise prompt means it missed.
    typed_exercise_hint: bool,
    correct: bool,
}

/// A learner who types every command exactly as the hints show it: in a run step `hint`, then
/// the command it names; in an exercise every hint, then the last one that is a command.
struct HintTyper {
    log: std::rc::Rc<std::cell::RefCell<HintLog>>,
}

impl Prompter for HintTyper {
    fn step_action(&mut self, kind: &str) -> Result<StepAction> {
        Ok(if kind == "run" {
            StepAction::TypeIt
        } else {
            StepAction::Run
        })
    }
    fn command(&mut self, _: &str, suggestion: &str) -> Result<Option<String>> {
        let mut log = self.log.borrow_mut();
        // A hint that never works would ask forever: leave, and the test fails.
        log.prompts += 1;
        if log.prompts > 1000 {
            return Ok(None);
        }
        match log.hint.take() {
            Some(h) => {
                // "this command is `X`: type it, or press Enter to run it"
                let cmd = h.split('`').nth(1).map(str::to_string).unwrap_or_default();
                if cmd.is_empty() || log.refused.len() > 50 {
                    return Ok(Some(suggestion.to_string()));
                }
                log.typed += 1;
                Ok(Some(cmd))
            }
            None => Ok(Some("hint".to_string())),
        }
    }
    fn exercise_action(&mut self, _: usize, _: &str) -> Result<ExerciseAction> {
        let mut log = self.log.borrow_mut();
        if log.typed_exercise_hint {
            log.typed_exercise_hint = false;
            if !log.correct {
                let last = log.exercise_hints.last().cloned().unwrap_or_default();
                log.missed.push(last);
            }
            return Ok(ExerciseAction::Solution);
        }
        if !log.no_more_hints {
            return Ok(ExerciseAction::Hint);
        }
        log.no_more_hints = false;
        let hints = std::mem::take(&mut log.exercise_hints);
        // A hint that is a command: the part after the last ": ", naming a lesson key.
        let typed = hints.iter().rev().find_map(|h| {
            let cmd = h.rsplit(": ").next().unwrap_or(h).trim();
            let first = cmd.split_whitespace().next().unwrap_or_default();
            let is_command = first.len() >= 3
                && first.chars().all(|c| c.is_ascii_uppercase())
                && cmd.contains("lab:")
                && !cmd.contains(", then");
            is_command.then(|| cmd.to_string())
        });
        match typed {
            Some(cmd) => {
                log.typed += 1;
                log.typed_exercise_hint = true;
                log.correct = false;
                log.exercise_hints = vec![cmd.clone()];
                Ok(ExerciseAction::Type(cmd))
            }
            None => Ok(ExerciseAction::Solution),
        }
    }
    fn choose(&mut self, _: &str, _: &[String]) -> Result<Option<usize>> {
        Ok(Some(1))
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

struct HintView {
    log: std::rc::Rc<std::cell::RefCell<HintLog>>,
    failed: Vec<String>,
}

impl View for HintView {
    fn show(&mut self, event: Event<'_>) {
        let mut log = self.log.borrow_mut();
        match event {
            Event::Hint(Some(h)) if h.starts_with("this command is `") => {
                log.hint = Some(h.to_string())
            }
            Event::Hint(Some(h)) => log.exercise_hints.push(h.to_string()),
            Event::Hint(None) => log.no_more_hints = true,
            // A script this server will not take from a keyboard runs for the learner: a
            // notice, not a refusal.
            Event::Refused(why) => log.refused.push(why.to_string()),
            Event::Correct => log.correct = true,
            Event::Checks(results) => self.failed.extend(
                results
                    .iter()
                    .filter(|r| !r.passed)
                    .map(|r| format!("{}: expected {}, got {}", r.what, r.expected, r.actual)),
            ),
            _ => {}
        }
    }
    fn ticker(&mut self, _: &str) -> Box<dyn redislab::measure::Ticker> {
        Box::new(redislab::measure::Silent)
    }
}

/// Walks the lessons `ids` (all that run on one server when `None`) typing every hint as shown;
/// returns how many hints were typed.
async fn type_every_hint(settings: &Settings, ids: Option<&[&str]>) -> usize {
    let server = connect(settings).await.expect("connects");
    let lessons = loader::load_all(None).expect("lessons load");
    let mut typed = 0;
    for l in &lessons {
        let lesson = &l.lesson;
        if lesson.requires.as_ref().is_some_and(|r| r.cluster)
            || ids.is_some_and(|ids| !ids.contains(&lesson.id.as_str()))
        {
            continue;
        }
        let log = std::rc::Rc::new(std::cell::RefCell::new(HintLog::default()));
        let mut learner = HintTyper { log: log.clone() };
        let mut view = HintView {
            log: log.clone(),
            failed: Vec::new(),
        };
        let mut engine = Engine::new(&server, "lab").await.expect("engine");
        let summary = Walker {
            engine: &mut engine,
            lesson,
            prompter: &mut learner,
            view: &mut view,
            store: None,
            options: Options {
                auto: false,
                from_step: 1,
                answers: None,
                quiz: false,
                keep_until: 0,
            },
        }
        .walk()
        .await
        .unwrap_or_else(|e| panic!("lesson {}: {e:#}", lesson.id));
        let log = log.borrow();
        assert_eq!(
            summary.quit_at, None,
            "lesson {}: typing hints never ended",
            lesson.id
        );
        assert!(
            log.refused.is_empty(),
            "lesson {}: a hint typed as shown was refused: {:#?}",
            lesson.id,
            log.refused
        );
        assert!(
            log.missed.is_empty(),
            "lesson {}: an exercise hint typed as shown was not accepted: {:#?}",
            lesson.id,
            log.missed
        );
        assert!(
            summary.failed_steps.is_empty(),
            "lesson {}: steps typed from their hints failed: {:?} {:#?}",
            lesson.id,
            summary.failed_steps,
            view.failed
        );
        typed += log.typed;
    }
    typed
}

/// Issue 17, item 4: every hint and suggested command types as shown. In every lesson, each
/// run step's commands are typed from its `hint` and each exercise's command hint is typed as
/// printed: every step passes, nothing is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hint_types_as_shown_in_every_lesson() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp dir");
    let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
    let typed = type_every_hint(&settings, None).await;
    assert!(typed > 100, "only {typed} hints were typed");
}

/// The same on the managed server, where scripts can be typed: a hint that shows a script
/// (lesson 07's EVAL with a `let` script, lesson 13's FUNCTION LOAD) quotes it, so typed as
/// shown it is one argument.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_hints_type_as_shown_on_the_managed_server() {
    let home = common::ManagedHome::new();
    let mut settings = Settings::for_url("", "lab", home.path().to_path_buf());
    settings.redis_url = None;
    settings.managed = true;
    let typed = type_every_hint(&settings, Some(&["07", "13"])).await;
    assert!(typed > 20, "only {typed} hints were typed");
    assert_success(&home.stop());
}

/// Issue 17, item 6: a SET over the hash the exercise asks about is reported by its type
/// (`type: expected hash, got string`), not by a length that compares a string with a hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_of_the_wrong_type_is_reported_by_its_type_first() {
    let redis = TestRedis::start();
    // Lesson 01 step 9 asks to change one field of the hash lab:user:42.
    let mut steps: std::collections::VecDeque<StepAction> =
        std::iter::repeat_n(StepAction::Run, 7).collect();
    steps.push_back(StepAction::Run);
    let mut learner = Scripted {
        steps,
        exercise: [
            ExerciseAction::Solution,
            ExerciseAction::Type("SET lab:user:42 editor".into()),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    walk(&redis, "01", &mut learner, &mut seen).await;
    assert!(
        seen.failures
            .iter()
            .any(|f| f == "type of lab:user:42: expected hash, got string"),
        "{:#?}",
        seen.failures
    );
    assert!(
        !seen
            .failures
            .iter()
            .any(|f| f.starts_with("length of lab:user:42")),
        "{:#?}",
        seen.failures
    );
}

/// Issue 17, item 9's prompt texts: inside MULTI the prompt is `redis(TX)>`, and a command of
/// another client names it (`[worker-b] redis>`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_prompts_say_the_client_and_the_transaction() {
    let redis = TestRedis::start();
    // Lesson 13 step 1: two SETs, MULTI, then three queued commands and EXEC.
    let mut learner = Scripted {
        steps: [StepAction::TypeIt, StepAction::Quit].into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    walk(&redis, "13", &mut learner, &mut seen).await;
    assert_eq!(
        learner.prompts,
        [
            "redis>",
            "redis>",
            "redis>",
            "redis(TX)>",
            "redis(TX)>",
            "redis(TX)>",
            "redis(TX)>"
        ]
    );
    // Lesson 07 step 4: worker-b tries to take the lock.
    let mut learner = Scripted {
        steps: [
            StepAction::Run,
            StepAction::Run,
            StepAction::Run,
            StepAction::TypeIt,
            StepAction::Quit,
        ]
        .into(),
        ..Default::default()
    };
    walk(&redis, "07", &mut learner, &mut seen).await;
    assert_eq!(learner.prompts, ["[worker-b] redis>"]);
}

/// Issue 17, item 12: a token the learner chooses can never be one the lesson gives another
/// client later (lesson 07 step 9 with `worker-c-token`): it is refused, another is accepted,
/// and the rest of the lesson passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_token_cannot_collide_with_the_lessons_own() {
    let redis = TestRedis::start();
    let mut learner = Scripted {
        exercise: [
            ExerciseAction::Type("SET lab:lock:coupon:1 worker-c-token NX PX 30000".into()),
            ExerciseAction::Type("SET lab:lock:coupon:1 mine NX PX 30000".into()),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "07", &mut learner, &mut seen).await;
    assert!(
        seen.wrong_answers
            .iter()
            .any(|w| w.contains("worker-c-token") && w.contains("choose another")),
        "{:#?}",
        seen.wrong_answers
    );
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
}

/// A step the learner skipped is what strands a later one when its commands never ran: the
/// failure menu names the skipped step, not an earlier one the learner typed correctly, and
/// Back goes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranded_step_names_the_step_the_learner_skipped() {
    let redis = TestRedis::start();
    // Lesson 07 on Redis 7.0: steps 6 and 8 need newer commands and pass by themselves.
    let mut steps: std::collections::VecDeque<StepAction> =
        std::iter::repeat_n(StepAction::Run, 7).collect();
    steps.push_back(StepAction::Skip);
    let mut learner = Scripted {
        steps,
        exercise: [ExerciseAction::Type(
            "SET lab:lock:coupon:1 my-token NX PX 30000".into(),
        )]
        .into(),
        failures: [FailureAction::ShowSolution, FailureAction::Back].into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    walk(&redis, "07", &mut learner, &mut seen).await;
    assert_eq!(
        learner.back_to.get(1),
        Some(&Some(12)),
        "{:#?}",
        seen.notices
    );
    assert!(
        seen.notices
            .iter()
            .any(|n| n.contains("step 12, which you skipped")),
        "{:#?}",
        seen.notices
    );
}

/// Back passes over a step this server cannot run, as going forward does: from lesson 07's
/// step 9 on Redis 7.0 it lands on step 7, not on step 8 (which needs SET ... IFEQ).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_passes_over_a_step_this_server_cannot_run() {
    let redis = TestRedis::start();
    let mut learner = Scripted {
        exercise: [
            ExerciseAction::Back,
            ExerciseAction::Type("SET lab:lock:coupon:1 my-token NX PX 30000".into()),
        ]
        .into(),
        ..Default::default()
    };
    let mut seen = Seen::default();
    let summary = walk(&redis, "07", &mut learner, &mut seen).await;
    assert_eq!(seen.restored.first(), Some(&7), "{:?}", seen.restored);
    assert!(
        summary.failed_steps.is_empty(),
        "{:?}",
        summary.failed_steps
    );
}
