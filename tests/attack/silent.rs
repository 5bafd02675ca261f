//! Hostile endpoints: a proxy in front of a real redis-server passes every command through
//! except the one it traps. Servers that accept `GET` and never answer it, or drip the answer a
//! byte every 2 s: `lesson --auto` and `sandbox` must end with the documented line and exit 2
//! within the reply deadline (10 s), never hang. A server whose `INFO` carries terminal escapes:
//! none may reach the terminal raw.
// Attacks reach the servers directly, to play the hostile server and to check what changed.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{self, TestRedis};

#[derive(Clone, Copy)]
pub enum Trap {
    /// Answers INFO with escapes, OSC 52 and a bidi override in `redis_version`.
    EvilInfo,
    /// Reads the GET and never answers.
    Silent,
    /// Answers the GET one byte every 2 s, never finishing.
    Drip,
}

/// Starts the proxy on its own thread; returns its port.
pub fn proxy(upstream: u16, trap: Trap) -> u16 {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let port = std_listener.local_addr().expect("address").port();
    std_listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = TcpListener::from_std(std_listener).expect("listener");
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let _ = serve(client, upstream, trap).await;
                });
            }
        });
    });
    port
}

/// One RESP command from the client: its raw bytes and its name.
async fn read_command(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<(Vec<u8>, String)> {
    let mut raw = Vec::new();
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line).await?;
    if line.is_empty() {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    raw.extend_from_slice(&line);
    let n: usize = String::from_utf8_lossy(&line[1..])
        .trim()
        .parse()
        .unwrap_or(0);
    let mut name = String::new();
    for i in 0..n {
        line.clear();
        r.read_until(b'\n', &mut line).await?;
        raw.extend_from_slice(&line);
        let len: usize = String::from_utf8_lossy(&line[1..])
            .trim()
            .parse()
            .unwrap_or(0);
        let mut body = vec![0u8; len + 2];
        r.read_exact(&mut body).await?;
        if i == 0 {
            name = String::from_utf8_lossy(&body[..len]).to_ascii_uppercase();
        }
        raw.extend_from_slice(&body);
    }
    Ok((raw, name))
}

async fn serve(client: TcpStream, upstream: u16, trap: Trap) -> std::io::Result<()> {
    let (cr, mut cw) = client.into_split();
    let mut cr = BufReader::new(cr);
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).await?;
    loop {
        let (raw, name) = read_command(&mut cr).await?;
        if name == "INFO" && matches!(trap, Trap::EvilInfo) {
            up.write_all(&raw).await?;
            let reply = one_reply(&mut up).await?;
            let text = String::from_utf8_lossy(&reply);
            let body = text.split_once("\r\n").map(|(_, b)| b).unwrap_or_default();
            let body = body.strip_suffix("\r\n").unwrap_or(body).replacen(
                "redis_version:",
                "server_name:x\x1b]0;T\x07\r\nredis_version:\x1b]52;c;aGk=\x07\u{202e}\u{9b}2J",
                1,
            );
            cw.write_all(format!("${}\r\n{body}\r\n", body.len()).as_bytes())
                .await?;
            continue;
        }
        if name == "GET" && !matches!(trap, Trap::EvilInfo) {
            match trap {
                Trap::EvilInfo => {}
                Trap::Silent => std::future::pending::<()>().await,
                Trap::Drip => {
                    for b in b"$100000\r\n".iter().chain(std::iter::repeat(&b'x')) {
                        cw.write_all(&[*b]).await?;
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        }
        up.write_all(&raw).await?;
        let reply = one_reply(&mut up).await?;
        cw.write_all(&reply).await?;
    }
}

/// Exactly one reply from upstream, cut where the scanner says it ends.
async fn one_reply(up: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut scanner = redislab::redis::bounded::Scanner::default();
    let mut buf = [0u8; 16 * 1024];
    let mut out = Vec::new();
    loop {
        let n = up.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        out.extend_from_slice(&buf[..n]);
        if !scanner.feed_ends(&buf[..n])?.is_empty() {
            return Ok(out);
        }
    }
}

/// Runs `cmd` with `input`, killing it after `limit`; the output and how long it ran.
pub fn run_bounded(
    cmd: &mut Command,
    input: &str,
    limit: Duration,
) -> (std::process::Output, Duration) {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redislab");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(input.as_bytes());
    drop(stdin);
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "redislab still ran after {limit:?}:\n{}\n{}",
                common::stdout(&out),
                common::stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (child.wait_with_output().expect("output"), started.elapsed())
}

fn ends_within_the_deadline(trap: Trap, args: &[&str], input: &str) {
    let redis = TestRedis::start();
    let port = proxy(redis.port(), trap);
    let home = tempfile::tempdir().expect("home");
    let (out, took) = run_bounded(
        common::redislab_bare(home.path())
            .arg("--redis-url")
            .arg(format!("redis://127.0.0.1:{port}"))
            .args(args),
        input,
        Duration::from_secs(40),
    );
    let err = common::stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(&format!(
            "Redis at 127.0.0.1:{port} did not answer within 10 s"
        )),
        "{args:?}: {err}"
    );
    // The banner, then the one line that ends the run.
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() <= 2, "{args:?}: one line, got:\n{err}");
    assert!(lines[lines.len() - 1].contains("did not answer"), "{err}");
    assert!(took < Duration::from_secs(25), "{args:?} took {took:?}");
}

#[test]
fn a_silent_server_ends_the_sandbox_with_exit_2() {
    ends_within_the_deadline(Trap::Silent, &["sandbox"], "GET lab:k\n");
}

#[test]
fn a_dripping_server_ends_the_sandbox_with_exit_2() {
    ends_within_the_deadline(Trap::Drip, &["sandbox"], "GET lab:k\n");
}

#[test]
fn a_silent_server_ends_a_lesson_with_exit_2() {
    ends_within_the_deadline(Trap::Silent, &["lesson", "01", "--auto"], "");
}

#[test]
fn a_dripping_server_ends_a_lesson_with_exit_2() {
    ends_within_the_deadline(Trap::Drip, &["lesson", "01", "--auto"], "");
}
