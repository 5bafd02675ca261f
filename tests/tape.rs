//! The tape and `--explain`, against real servers: the bytes and round trips the sandbox's tape
//! prints are the ones the server counted for that connection (`CLIENT LIST`'s `tot-net-in`,
//! `tot-net-out` and `tot-cmds`, which Valkey reports), reading them adds no command
//! (`INFO commandstats`), and the redis-cli session `--explain` prints replays to the same
//! replies in redis-cli.
// Test fixtures reach the servers directly, to check what redislab did.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use common::*;

/// One tape line: `1 round trip · 38 B → 5 B · 61.0 µs` → (round trips, sent, received).
fn parse_tape(line: &str) -> Option<(u64, u64, u64)> {
    let mut parts = line.split(" · ");
    let trips: u64 = parts.next()?.split(' ').next()?.parse().ok()?;
    let bytes = parts.next()?;
    let (sent, received) = bytes.split_once(" → ")?;
    let n = |s: &str| s.trim_end_matches(" B").parse::<u64>().ok();
    parts.next()?;
    Some((trips, n(sent)?, n(received)?))
}

/// A client's fields in `CLIENT LIST`, found by a field's value.
fn client_where(redis: &TestRedis, field: &str, value: &str) -> Vec<(String, String)> {
    let list = redis.cli_raw(&["CLIENT", "LIST"]);
    let line = list
        .lines()
        .find(|l| l.split(' ').any(|f| f == format!("{field}={value}")))
        .unwrap_or_else(|| panic!("no client with {field}={value} in:\n{list}"));
    line.split(' ')
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(fields: &[(String, String)], name: &str) -> u64 {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric {name} in {fields:?}"))
}

const SESSION: &[&str] = &[
    "SET lab:t hello",
    "GET lab:t",
    "GET lab:missing",
    "RPUSH lab:l a b c",
    "LRANGE lab:l 0 -1",
    "HSET lab:h name Ada role admin",
    "HGETALL lab:h",
    "INCR lab:t",
    "MULTI",
    "INCR lab:n",
    "SADD lab:s x",
    "EXEC",
    "ZADD lab:z 1.5 m",
    "ZRANGE lab:z 0 -1 WITHSCORES",
    "SET \"lab:q\" \"two words\\n\"",
    "GETDEL lab:q",
    "DEL lab:none",
];

#[test]
fn the_tape_counts_the_bytes_and_round_trips_the_server_counted() {
    let redis = TestRedis::start_valkey();
    let home = tempfile::tempdir().expect("temp dir");
    let mut child = redis
        .redislab(home.path())
        .args(["sandbox", "--tape"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the sandbox");
    let mut stdin = child.stdin.take().expect("stdin");
    let stderr = child.stderr.take().expect("stderr");
    let mut stdout = child.stdout.take().expect("stdout");
    let (tx, tapes) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(t) = parse_tape(&line) {
                let _ = tx.send(t);
            }
        }
    });
    let drain = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let next = |what: &str| {
        tapes
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("no tape line for {what}"))
    };
    // A first command marks the sandbox's own connection in CLIENT LIST (its last command).
    writeln!(stdin, "ECHO mark-the-learner").expect("write");
    next("ECHO");
    let before = client_where(&redis, "cmd", "echo");
    let id = before
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .expect("an id");

    let mut taped = Vec::new();
    for line in SESSION {
        writeln!(stdin, "{line}").expect("write");
        taped.push(next(line));
    }
    let after = client_where(&redis, "id", &id);
    drop(stdin);
    assert!(child.wait().expect("wait").success());
    reader.join().expect("stderr reader");
    let out = drain.join().expect("stdout reader");
    assert!(
        out.contains("1) \"x\"") || out.contains("(integer) 1"),
        "{out}"
    );

    let (trips, sent, received) = taped
        .iter()
        .fold((0, 0, 0), |(t, s, r), (a, b, c)| (t + a, s + b, r + c));
    assert_eq!(trips, SESSION.len() as u64, "one round trip per line typed");
    assert_eq!(
        sent,
        field(&after, "tot-net-in") - field(&before, "tot-net-in"),
        "bytes sent: the tape against the server's count for the connection"
    );
    assert_eq!(
        received,
        field(&after, "tot-net-out") - field(&before, "tot-net-out"),
        "bytes received: the tape against the server's count for the connection"
    );
    // Each line typed is one command the server processed on that connection (a queued
    // command counts when EXEC runs it, so the transaction's lines still add up).
    assert_eq!(
        trips,
        field(&after, "tot-cmds") - field(&before, "tot-cmds"),
        "round trips against commands the server processed"
    );
    // The first figures, exactly: `SET lab:t hello` is 35 bytes of RESP, `+OK\r\n` 5.
    assert_eq!((taped[0].1, taped[0].2), (35, 5));
}

/// Every command's calls in `INFO commandstats`, added up.
fn total_calls(redis: &TestRedis) -> u64 {
    redis
        .cli_raw(&["INFO", "commandstats"])
        .lines()
        .filter(|l| l.starts_with("cmdstat_"))
        .filter_map(|l| l.split("calls=").nth(1))
        .filter_map(|rest| rest.split(',').next())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

#[test]
fn the_tape_adds_no_command_to_the_server() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp dir");
    let input: String = SESSION.iter().map(|l| format!("{l}\n")).collect();
    let session = |tape: bool| {
        redis.flushall();
        let start = total_calls(&redis);
        let mut cmd = redis.redislab(home.path());
        cmd.arg("sandbox");
        if tape {
            cmd.arg("--tape");
        }
        let out = run_with_stdin(&mut cmd, &input);
        assert_success(&out);
        // The INFO that read `start` counts once in this difference, the same in both runs.
        (total_calls(&redis) - start, out)
    };
    let (without, plain) = session(false);
    let (with, taped) = session(true);
    assert_eq!(
        with, without,
        "the same session sends as many commands with the tape as without"
    );
    assert_eq!(
        stdout(&plain),
        stdout(&taped),
        "stdout stays the replies alone"
    );
    let tape_lines = |o: &std::process::Output| {
        stderr(o)
            .lines()
            .filter(|l| parse_tape(l).is_some())
            .count()
    };
    assert_eq!(tape_lines(&plain), 0, "no tape unless asked, when piped");
    assert_eq!(tape_lines(&taped), SESSION.len());
}

#[test]
fn explain_prints_a_session_that_replays_in_redis_cli() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp dir");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/explain");
    let out = run(redis.redislab(home.path()).args([
        "--lessons",
        fixtures,
        "lesson",
        "97",
        "--auto",
        "--explain",
    ]));
    // The fixture's last check is false on purpose: --auto exits 1, and --explain shows why.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("What the checks asked Redis"), "{text}");
    let prompt = format!("    127.0.0.1:{}> ", redis.port());
    // (command, the reply lines printed under it)
    let mut pairs: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix(&prompt) {
            pairs.push((cmd.to_string(), Vec::new()));
        } else if let (Some(last), Some(reply)) = (pairs.last_mut(), line.strip_prefix("    ")) {
            last.1.push(reply.to_string());
        } else if !line.starts_with("    ") {
            // A check's own line ends the replies above it.
            if let Some(last) = pairs.last_mut() {
                if !last.1.is_empty() {
                    pairs.push((String::new(), Vec::new()));
                }
            }
        }
    }
    let pairs: Vec<_> = pairs.into_iter().filter(|(c, _)| !c.is_empty()).collect();
    let names: Vec<&str> = pairs
        .iter()
        .filter_map(|(c, _)| c.split(' ').next())
        .collect();
    for probe in [
        "TYPE",
        "GET",
        "STRLEN",
        "OBJECT",
        "LLEN",
        "LPOS",
        "SCARD",
        "SISMEMBER",
        "ZSCORE",
        "HLEN",
        "HGET",
        "PTTL",
    ] {
        assert!(names.contains(&probe), "no {probe} in the session:\n{text}");
    }
    for (cmd, printed) in &pairs {
        let replayed = redis.cli_session(&format!("{cmd}\n"));
        let replayed: Vec<&str> = replayed.lines().collect();
        if cmd.starts_with("PTTL") {
            // The TTL ran on meanwhile: the replay reads a little less, never more.
            let ms = |l: &str| {
                l.trim_start_matches("(integer) ")
                    .parse::<i64>()
                    .expect("a TTL in ms")
            };
            let (then, now) = (ms(&printed[0]), ms(replayed[0]));
            assert!(
                now <= then && now > then - 60_000,
                "{cmd}: {then} then, {now} now"
            );
            continue;
        }
        assert_eq!(
            printed.iter().map(String::as_str).collect::<Vec<_>>(),
            replayed,
            "{cmd}: what --explain printed against redis-cli"
        );
    }
    // The failing check shows what Redis held.
    assert!(text.contains("✗ value of lab:ex:s"), "{text}");
}

/// The engine's side, through the seams: a learner who types the answer, or is shown a
/// failed step's checks.
mod engine {
    use super::common::TestRedis;
    use anyhow::Result;
    use redislab::lesson::loader;
    use redislab::redis::connect::connect;
    use redislab::runner::Engine;
    use redislab::runner::checks::CheckResult;
    use redislab::runner::walk::{
        Event, ExerciseAction, FailureAction, Options, Prompter, StepAction, View, Walker,
    };
    use redislab::settings::Settings;
    use std::collections::VecDeque;

    struct Learner {
        typed: VecDeque<ExerciseAction>,
        failures: VecDeque<FailureAction>,
        steps: VecDeque<StepAction>,
    }

    impl Prompter for Learner {
        fn step_action(&mut self, _: &str) -> Result<StepAction> {
            Ok(self.steps.pop_front().unwrap_or(StepAction::Quit))
        }
        fn command(&mut self, _: &str, suggestion: &str) -> Result<Option<String>> {
            Ok(Some(suggestion.to_string()))
        }
        fn exercise_action(&mut self, _: usize, _: &str) -> Result<ExerciseAction> {
            Ok(self.typed.pop_front().unwrap_or(ExerciseAction::Quit))
        }
        fn choose(&mut self, _: &str, _: &[String]) -> Result<Option<usize>> {
            Ok(Some(1))
        }
        fn confirm(&mut self, _: &str, default: bool) -> Result<Option<bool>> {
            Ok(Some(default))
        }
        fn after_failure(&mut self, _: &str, _: Option<usize>) -> Result<FailureAction> {
            Ok(self.failures.pop_front().unwrap_or(FailureAction::Quit))
        }
        fn countdown(
            &mut self,
            seconds: u64,
            _: &mut dyn FnMut() -> String,
        ) -> Result<Option<u64>> {
            Ok(Some(seconds))
        }
    }

    #[derive(Default)]
    struct Seen {
        /// (round trips, sent, received) of each tape line.
        tapes: Vec<(u64, u64, u64)>,
        totals: Vec<(u64, u64)>,
        whys: Vec<String>,
        explained: Vec<Vec<CheckResult>>,
        prompts: Vec<String>,
    }

    impl View for Seen {
        fn show(&mut self, event: Event<'_>) {
            match event {
                Event::Tape(t) => self.tapes.push((t.round_trips, t.sent, t.received)),
                Event::TapeTotal { yours, model, why } => {
                    self.totals.push((yours, model));
                    self.whys.extend(why.map(str::to_string));
                }
                Event::Explain { results, prompt } => {
                    self.explained.push(results.to_vec());
                    self.prompts.push(prompt.to_string());
                }
                _ => {}
            }
        }
        fn ticker(&mut self, _: &str) -> Box<dyn redislab::measure::Ticker> {
            Box::new(redislab::measure::Silent)
        }
    }

    async fn walk(redis: &TestRedis, dir: &str, id: &str, from: usize, l: &mut Learner) -> Seen {
        let home = tempfile::tempdir().expect("temp dir");
        let settings = Settings::for_url(&redis.url(), "lab", home.path().to_path_buf());
        let server = connect(&settings).await.expect("connects");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let lessons = loader::load_all(Some(&dir)).expect("fixtures load");
        let lesson = &loader::find(&lessons, id).expect("lesson").lesson;
        let mut engine = Engine::new(&server, "lab").await.expect("engine");
        let mut seen = Seen::default();
        Walker {
            engine: &mut engine,
            lesson,
            prompter: l,
            view: &mut seen,
            store: None,
            options: Options {
                auto: false,
                from_step: from,
                answers: None,
                quiz: false,
                keep_until: 0,
            },
        }
        .walk()
        .await
        .expect("the walk ends cleanly");
        seen
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_transaction_typed_line_by_line_is_a_round_trip_per_line() {
        let redis = TestRedis::start();
        let type_ = |l: &str| ExerciseAction::Type(l.to_string());
        let mut learner = Learner {
            typed: [type_("MULTI"), type_("SADD lab:fx:set z"), type_("EXEC")].into(),
            failures: VecDeque::new(),
            steps: VecDeque::new(),
        };
        // Fixture 99, step 3: "add z to the set", whose solution is one SADD.
        let seen = walk(&redis, "tests/fixtures/lessons", "99", 3, &mut learner).await;
        assert_eq!(
            seen.tapes,
            vec![
                (1, 15, 5), // *1 $5 MULTI → +OK
                (1, 38, 9), // *3 $4 SADD $10 lab:fx:set $1 z → +QUEUED
                (1, 14, 8), // *1 $4 EXEC → *1 :1
            ]
        );
        assert_eq!(
            seen.totals,
            vec![(3, 1)],
            "3 round trips; the pattern needs 1"
        );
        // The fixture's `round_trips_why`, with its variable filled in.
        assert_eq!(seen.whys, vec!["one SADD adds z to lab:fx:set".to_string()]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn explain_the_checks_shows_what_they_sent_and_the_menu_asks_again() {
        let redis = TestRedis::start();
        let mut learner = Learner {
            typed: VecDeque::new(),
            failures: [FailureAction::Explain, FailureAction::GoOn].into(),
            steps: [StepAction::Run].into(),
        };
        // Fixture 98, step 2: SET lab:fail:b 2, checked against 3.
        let seen = walk(&redis, "tests/fixtures/failing", "98", 2, &mut learner).await;
        assert_eq!(
            seen.explained.len(),
            1,
            "explained once, then the menu again"
        );
        assert_eq!(seen.prompts, vec![redis.addr()]);
        let ran: Vec<(String, redis::Value)> = seen.explained[0]
            .iter()
            .flat_map(|r| r.ran.iter())
            .map(|p| {
                let words: Vec<String> = p
                    .args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                (words.join(" "), p.reply.clone())
            })
            .collect();
        assert_eq!(
            ran,
            vec![
                (
                    "TYPE lab:fail:b".to_string(),
                    redis::Value::SimpleString("string".into())
                ),
                (
                    "GET lab:fail:b".to_string(),
                    redis::Value::BulkString(b"2".to_vec())
                ),
            ]
        );
    }
}

/// On a terminal the tape is on unless `--no-tape`: a person at the sandbox sees it under each
/// reply, in the 80 columns.
fn sandbox_in_a_pty(redis: &TestRedis, home: &std::path::Path, extra: &str) -> String {
    let script = format!(
        "stty cols 80 rows 24; exec {} --redis-url {} --home {} sandbox {extra}",
        bin().display(),
        redis.url(),
        home.display()
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &script])
        .env("TERM", "xterm-256color")
        .env("NO_COLOR", "1")
        .env("REDISLAB_LOCAL_ADDR", DEAD_LOCAL_ADDR)
        .env_remove("REDIS_URL")
        .env_remove("REDISLAB_NAMESPACE")
        .env_remove("REDISLAB_HOME");
    let options = rexpect::session::Options::new()
        .timeout_ms(Some(30_000))
        .strip_ansi_escape_codes(true);
    let mut p = rexpect::session::spawn_with_options(cmd, options).expect("spawn in a pty");
    let mut seen = String::new();
    let prompt = format!("127.0.0.1:{}> ", redis.port());
    let before = p.exp_string(&prompt).expect("the sandbox's prompt");
    seen.push_str(&before);
    for line in ["SET lab:greeting hello", "GET lab:greeting"] {
        p.send(line).expect("type");
        p.send("\r").expect("enter");
        p.flush().expect("flush");
        let before = p.exp_string(&prompt).expect("the next prompt");
        seen.push_str(&before);
    }
    p.send("quit\r").expect("quit");
    p.flush().expect("flush");
    p.exp_eof().expect("the sandbox ends");
    // The session hands back each byte as a char: decode the UTF-8.
    let bytes: Vec<u8> = seen.chars().map(|c| c as u32 as u8).collect();
    String::from_utf8_lossy(&bytes).replace('\r', "")
}

#[test]
fn the_tape_is_on_at_a_terminal_and_no_tape_turns_it_off() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("temp dir");
    let on = sandbox_in_a_pty(&redis, home.path(), "");
    let tapes: Vec<&str> = on.lines().filter(|l| parse_tape(l).is_some()).collect();
    assert_eq!(tapes.len(), 2, "one tape line per command:\n{on}");
    // The request as RESP encodes it; the replies `+OK` and `$5 hello`.
    let set = redis::cmd("SET")
        .arg("lab:greeting")
        .arg("hello")
        .get_packed_command();
    let get = redis::cmd("GET").arg("lab:greeting").get_packed_command();
    assert_eq!(parse_tape(tapes[0]), Some((1, set.len() as u64, 5)), "{on}");
    assert_eq!(
        parse_tape(tapes[1]),
        Some((1, get.len() as u64, 11)),
        "{on}"
    );
    assert!(tapes.iter().all(|l| l.trim_end().chars().count() <= 80));
    let off = sandbox_in_a_pty(&redis, home.path(), "--no-tape");
    assert!(off.contains("\"hello\""), "{off}");
    assert!(!off.lines().any(|l| parse_tape(l).is_some()), "{off}");
}
