//! Sends one command exactly as typed and renders the reply as redis-cli would. Lessons, the
//! sandbox and the tests all go through here, so what a learner sees is always the same.

use redis::aio::ConnectionLike;
use redis::{Cmd, RedisError, Value};

use crate::redis::render::render_for;
use crate::redis::tokenize::{InvalidArguments, tokenize};

/// Builds a command from raw argument bytes.
pub fn build(args: &[Vec<u8>]) -> redis::Cmd {
    let mut cmd = redis::Cmd::new();
    for a in args {
        cmd.arg(a.as_slice());
    }
    cmd
}

/// Sends the command. A server error comes back as `Ok(Value::ServerError)`, like any other
/// reply (so it renders as `(error) ...`); `Err` means the connection itself failed.
pub async fn send<C: ConnectionLike>(conn: &mut C, args: &[Vec<u8>]) -> Result<Value, RedisError> {
    let cmd = build(args);
    conn.req_packed_command(&cmd).await
}

/// Splits off redis-cli's repeat prefix (`3 PING`). `Err` carries redis-cli's message.
pub fn split_repeat(args: Vec<Vec<u8>>) -> Result<(u64, Vec<Vec<u8>>), &'static str> {
    if args.len() > 1 {
        if let Ok(text) = std::str::from_utf8(&args[0]) {
            if !text.is_empty()
                && text
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
            {
                return match text.parse::<i64>() {
                    Ok(n) if n > 0 => Ok((n as u64, args[1..].to_vec())),
                    _ => Err("Invalid redis-cli repeat command option value."),
                };
            }
        }
    }
    Ok((1, args))
}

/// Tokenises and runs a line, returning the rendered output exactly as redis-cli prints it.
pub async fn run_line<C: ConnectionLike>(conn: &mut C, line: &str) -> Result<String, RedisError> {
    let args = match tokenize(line) {
        Ok(a) => a,
        Err(InvalidArguments) => return Ok(format!("{InvalidArguments}\n")),
    };
    if args.is_empty() {
        return Ok(String::new());
    }
    let (times, args) = match split_repeat(args) {
        Ok(x) => x,
        Err(msg) => return Ok(format!("{msg}\n")),
    };
    let mut out = String::new();
    for _ in 0..times {
        out.push_str(&render_for(&args, &send(conn, &args).await?));
    }
    Ok(out)
}

/// Argument `i` of `cmd`, upper-cased (`""` when missing).
pub(crate) fn word(cmd: &Cmd, i: usize) -> String {
    match cmd.args_iter().nth(i) {
        Some(redis::Arg::Simple(b)) => String::from_utf8_lossy(b).to_ascii_uppercase(),
        _ => String::new(),
    }
}
