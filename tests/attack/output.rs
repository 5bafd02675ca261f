//! What reaches the terminal: escaped server text, no passwords, one line for a lost server.
// Attacks reach the servers directly, to play the hostile server and to check what changed.
#![allow(clippy::disallowed_methods)]

use crate::common::{self, TestRedis, assert_success, run, run_with_stdin};

/// Sets keys whose names and values carry terminal escapes and bidi controls, as any client of
/// a shared server could.
fn seed_evil_keys(redis: &TestRedis) {
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let evil: &[u8] = b"evil\x1b]0;TITLE\x07\x1b[2J";
    let mut key = b"lab:".to_vec();
    key.extend_from_slice(evil);
    let bidi = "lab:\u{202E}txt.exe".as_bytes().to_vec();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(evil)
        .query(&mut conn)
        .expect("SET");
    let _: () = redis::cmd("SET")
        .arg(evil)
        .arg("x")
        .query(&mut conn)
        .expect("SET");
    let _: () = redis::cmd("HSET")
        .arg(&bidi)
        .arg(evil)
        .arg(evil)
        .query(&mut conn)
        .expect("HSET");
    let _: () = redis::cmd("XADD")
        .arg("lab:stream")
        .arg("*")
        .arg(evil)
        .arg(evil)
        .query(&mut conn)
        .expect("XADD");
}

fn assert_no_raw_controls(out: &std::process::Output, what: &str) {
    for (name, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !bytes.contains(&0x1b)
                && !bytes.contains(&0x07)
                && !text.contains('\u{202E}')
                && !text.contains('\u{9b}'),
            "{what} wrote a raw control character to {name}:\n{text}"
        );
    }
}

/// B10: key names, values, fields and errors from the server never reach the terminal raw.
#[test]
fn server_text_is_escaped_everywhere_it_is_printed() {
    let redis = TestRedis::start();
    seed_evil_keys(&redis);
    let home = tempfile::tempdir().expect("home");
    let inspect = run(redis.redislab(home.path()).arg("inspect"));
    assert_success(&inspect);
    assert_no_raw_controls(&inspect, "inspect");
    assert!(
        common::stdout(&inspect).contains(r"evil\x1b]0;TITLE"),
        "{}",
        common::stdout(&inspect)
    );
    let all = run(redis.redislab(home.path()).args(["inspect", "--all"]));
    assert_success(&all);
    assert_no_raw_controls(&all, "inspect --all");
    let json = run(redis.redislab(home.path()).args(["inspect", "--json"]));
    assert_success(&json);
    assert_no_raw_controls(&json, "inspect --json");
    let sandbox = run_with_stdin(
        redis.redislab(home.path()).args(["sandbox", "--inspect"]),
        "SCAN 0 MATCH lab:* COUNT 100\nHGETALL \"lab:\u{202E}txt.exe\"\nXRANGE lab:stream - +\nGET lab:x\n",
    );
    assert_success(&sandbox);
    assert_no_raw_controls(&sandbox, "sandbox");
}

/// B9: a password in any URL form is never printed, in the banner or in an error.
#[test]
fn no_url_form_prints_its_password() {
    let redis = TestRedis::start_with_password("hunter2");
    let home = tempfile::tempdir().expect("home");
    let port = redis.port();
    for url in [
        format!("redis://127.0.0.1:{port}/?password=hunter2"),
        format!("redis://:hunter2@127.0.0.1:{port}"),
        format!("redis://default:hunter2@127.0.0.1:{port}/0"),
        "redis://127.0.0.1:1/?password=hunter2".to_string(),
        format!("redis://:wrong-hunter2@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}/?db=0&password=wrong-hunter2#x"),
        "redis+unix:///nonexistent/redis.sock?pass=hunter2".to_string(),
        "hunter2".to_string(),
    ] {
        for via_env in [false, true] {
            let mut cmd = common::redislab_bare(home.path());
            if via_env {
                cmd.env("REDIS_URL", &url);
            } else {
                cmd.arg("--redis-url").arg(&url);
            }
            let out = run(cmd.args(["inspect", "--limit", "1"]));
            let all = format!("{}{}", common::stdout(&out), common::stderr(&out));
            assert!(
                !all.contains("hunter2"),
                "{url} (env: {via_env}) printed its password:\n{all}"
            );
        }
    }
}

/// Starts `inspect --watch` and returns it once its first screen is out.
fn watching(
    redis: &TestRedis,
    home: &std::path::Path,
) -> (std::process::Child, std::process::ChildStdout) {
    running_until(
        redis.redislab(home).args(["inspect", "--watch"]),
        "lab:watched",
    )
}

/// Starts `cmd` and returns it once `marker` appeared on its stdout.
fn running_until(
    cmd: &mut std::process::Command,
    marker: &str,
) -> (std::process::Child, std::process::ChildStdout) {
    use std::io::Read;
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn redislab");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let n = stdout.read(&mut buf).expect("read redislab's output");
        assert!(
            n > 0,
            "redislab ended before {marker:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    (child, stdout)
}

fn finish(child: std::process::Child, stdout: std::process::ChildStdout) -> (Option<i32>, String) {
    drop(stdout); // nothing reads the screens any more; a full pipe must not hold it up
    let out = child.wait_with_output().expect("wait for inspect --watch");
    (out.status.code(), common::stderr(&out))
}

/// B11: a server that goes away, or stops answering, mid-run ends the run with exit 2 and one
/// line naming it — not exit 1 with "broken pipe: broken pipe".
#[test]
fn a_lost_or_silent_server_is_exit_2_naming_it() {
    let home = tempfile::tempdir().expect("home");
    let redis = TestRedis::start();
    redis.cli(&["SET", "lab:watched", "1"]);
    let addr = redis.addr();
    let (child, stdout) = watching(&redis, home.path());
    drop(redis);
    let (code, err) = finish(child, stdout);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err.lines().last(),
        Some(format!("error: lost the connection to Redis at {addr}").as_str())
    );

    let redis = TestRedis::start();
    redis.cli(&["SET", "lab:watched", "1"]);
    let pid = redis
        .cli_raw(&["INFO", "server"])
        .lines()
        .find_map(|l| l.strip_prefix("process_id:").map(|p| p.trim().to_string()))
        .expect("process_id");
    let (child, stdout) = watching(&redis, home.path());
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let (code, err) = finish(child, stdout);
    let _ = std::process::Command::new("kill")
        .args(["-CONT", &pid])
        .status();
    assert_eq!(code, Some(2), "{err}");
    let want = format!(
        "error: Redis at {} did not answer within 10 s",
        redis.addr()
    );
    assert_eq!(err.lines().last(), Some(want.as_str()), "{err}");
}

/// B11 in a lesson: the server goes away during a compare step; exit 2, the server named.
#[test]
fn a_server_lost_during_a_lesson_is_exit_2_naming_it() {
    let home = tempfile::tempdir().expect("home");
    let redis = TestRedis::start();
    let addr = redis.addr();
    let slow = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/slow");
    let mut cmd = redis.redislab(home.path());
    cmd.arg("--lessons")
        .arg(slow)
        .args(["lesson", "97", "--auto"]);
    let (child, stdout) = running_until(&mut cmd, "Millions of round trips");
    drop(redis);
    let (code, err) = finish(child, stdout);
    assert_eq!(code, Some(2), "{err}");
    let want = format!("error: lost the connection to Redis at {addr}");
    assert_eq!(err.lines().last(), Some(want.as_str()), "{err}");
}

/// A hostile endpoint: answers the handshake like Redis, then answers the first GET with
/// `header` followed by an endless stream of `filler`. Returns its address and a counter of the
/// bytes it managed to send before the client hung up.
fn hostile_endpoint(
    header: &'static [u8],
    filler: Vec<u8>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut c) = stream else { return };
            let (sent, filler) = (counter.clone(), filler.clone());
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = c.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    // One reply per complete command line seen (`*N` starts each command).
                    let text = String::from_utf8_lossy(&buf).to_uppercase();
                    if text.contains("\r\nGET\r\n") {
                        let _ = c.write_all(header);
                        while c.write_all(&filler).is_ok() {
                            sent.fetch_add(filler.len() as u64, Ordering::Relaxed);
                        }
                        return;
                    }
                    let commands = buf.iter().filter(|b| **b == b'*').count();
                    for _ in 0..commands {
                        let reply: &[u8] = if text.contains("INFO") {
                            b"$30\r\n# Server\r\nredis_version:7.0.15\r\n"
                        } else {
                            b"+OK\r\n"
                        };
                        let _ = c.write_all(reply);
                    }
                    buf.clear();
                }
            });
        }
    });
    (addr, sent)
}

/// Item 8: a reply announcing 2 GB, or a billion elements, ends the run at once with one line
/// and exit 2; the client hangs up instead of buffering what the server sends.
#[test]
fn a_reply_over_the_limit_is_refused_before_it_is_buffered() {
    let home = tempfile::tempdir().expect("home");
    // The most the endpoint may get to send: what the limit lets through, plus what the two
    // kernels' socket buffers hold when the client hangs up. Without the bound it sends until the
    // 10 s timeout, gigabytes here.
    for (header, filler, said, most_mb) in [
        (
            &b"$2000000000\r\n"[..],
            vec![b'x'; 65536],
            "sent a reply announcing 2000000000 bytes",
            32,
        ),
        (
            &b"*1000000000\r\n"[..],
            b":1\r\n".repeat(16384),
            "sent a reply of more than 1048576 elements",
            32,
        ),
        (
            &b"*1000\r\n"[..],
            [&b"$1000000\r\n"[..], &[b'x'; 1_000_000], b"\r\n"].concat(),
            "sent a reply larger than 64 MiB",
            64 + 64,
        ),
    ] {
        let (addr, sent) = hostile_endpoint(header, filler);
        let out = run_with_stdin(
            common::redislab_bare(home.path()).args([
                "--redis-url",
                &format!("redis://{addr}"),
                "sandbox",
            ]),
            "GET lab:x\n",
        );
        let err = common::stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{err}");
        let last = err.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!("error: Redis at {addr} {said}")),
            "one line naming the server: {err}"
        );
        assert_eq!(err.matches("error").count(), 1, "{err}");
        let mb = sent.load(std::sync::atomic::Ordering::Relaxed) >> 20;
        assert!(mb <= most_mb, "the client read {mb} MB before it hung up");
    }
}

/// A server whose INFO carries ESC, OSC 52 (write the clipboard), a C1 CSI and a bidi override
/// in `redis_version`: the banner shows them escaped, on every command that prints it.
#[test]
fn a_hostile_banner_never_reaches_the_terminal_raw() {
    let redis = TestRedis::start();
    let port = crate::silent::proxy(redis.port(), crate::silent::Trap::EvilInfo);
    let home = tempfile::tempdir().expect("home");
    let url = format!("redis://127.0.0.1:{port}");
    let sandbox = run_with_stdin(
        common::redislab_bare(home.path())
            .args(["--redis-url", &url])
            .arg("sandbox"),
        "PING\n",
    );
    assert_success(&sandbox);
    assert_no_raw_controls(&sandbox, "sandbox banner");
    assert!(
        common::stderr(&sandbox).contains(r"\x1b]52;c;aGk="),
        "{}",
        common::stderr(&sandbox)
    );
    let lesson = run(common::redislab_bare(home.path())
        .args(["--redis-url", &url])
        .args(["lesson", "01", "--auto"]));
    assert_no_raw_controls(&lesson, "lesson banner");
}

/// A lesson folder whose title and step text carry OSC 52 and a bidi override: `validate`
/// refuses it, and neither `lesson`, `list`, `progress` nor `quiz` writes a control byte.
#[test]
fn hostile_lesson_texts_never_reach_the_terminal_raw() {
    let redis = TestRedis::start();
    let home = tempfile::tempdir().expect("home");
    let dir = tempfile::tempdir().expect("lessons");
    let quiz: String = (1..=5)
        .map(|i| format!("  - question: \"Q{i}\\e]52;c;aGk=\\a?\"\n    choices: [\"a\\e[2J\", b]\n    answer: 1\n    explanation: \"E\\u202e.\"\n"))
        .collect();
    let text = format!(
        "format_version: 1\nid: \"41\"\nslug: osc\ntitle: \"Clip\\e]52;c;aGk=\\a\"\nstructure: s\nuse_case: u\n\
         concept: c\nintroduction: \"i\\u202eexe.txt\"\nkeys: [\"${{ns}}:o:*\"]\nsteps:\n  - kind: run\n\
         \x20   title: t\n    text: \"Step \\e]52;c;aGk=\\a text\"\n    commands: [\"SET ${{ns}}:o:a 1\"]\n\
         quiz:\n{quiz}"
    );
    std::fs::write(dir.path().join("41-osc.yaml"), &text).expect("write lesson");
    let validate = run(common::redislab_bare(home.path())
        .arg("validate")
        .arg(dir.path()));
    assert_eq!(
        validate.status.code(),
        Some(1),
        "{}",
        common::stdout(&validate)
    );
    assert!(
        common::stdout(&validate).contains("control character U+001B"),
        "{}",
        common::stdout(&validate)
    );
    assert!(
        common::stdout(&validate).contains("control character U+202E"),
        "{}",
        common::stdout(&validate)
    );
    assert_no_raw_controls(&validate, "validate");
    for args in [
        &["lesson", "41", "--auto"][..],
        &["list"],
        &["progress"],
        &["quiz", "41", "--answers", "1,1,1,1,1"],
    ] {
        let out = run(redis
            .redislab(home.path())
            .arg("--lessons")
            .arg(dir.path())
            .args(args));
        assert_no_raw_controls(&out, &format!("{args:?}"));
    }
    // What the terminal layer does with such a text, whoever hands it over.
    let lesson = redislab::lesson::loader::parse("41-osc.yaml", &text).expect("parses");
    let shown = redislab::term::lesson::intro(&lesson, 1, 80)
        + &redislab::term::lesson::step_header(
            1,
            1,
            &lesson.steps[0].title,
            "run",
            &lesson.steps[0].text,
            80,
        )
        + &redislab::term::lesson::question(1, 5, &lesson.quiz[0].question, &[], 80)
        + &redislab::term::lesson::graded(
            false,
            Some(&lesson.quiz[0].choices[0]),
            None,
            &lesson.quiz[0].explanation,
            80,
        );
    assert!(
        !shown.contains('\x1b') && !shown.contains('\x07') && !shown.contains('\u{202e}'),
        "{shown:?}"
    );
    assert!(shown.contains(r"\x1b]52;c;aGk="), "{shown}");
}
