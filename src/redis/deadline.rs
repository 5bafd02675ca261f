//! Every reply has a deadline, on every connection (the learner's included): a server that
//! accepts a command and never answers, or drips its answer a byte at a time, ends the run with
//! one line and exit 2 instead of hanging it. A blocking command (BLPOP, XREAD BLOCK, WAIT ...)
//! waits as long as it asked to, plus a margin; one that asked to wait forever (timeout 0) waits
//! until Ctrl-C, as redis-cli does.

use std::future::Future;
use std::io;
use std::time::Duration;

use redis::{RedisError, RedisResult};

/// How long any reply may take to arrive whole (README: "did not answer within 10 s").
pub const REPLY: Duration = Duration::from_secs(10);
/// Added to a blocking command's own timeout.
pub const BLOCKING_MARGIN: Duration = Duration::from_secs(10);

/// How long a blocking command asked to wait: `None` when the command does not block,
/// `Some(None)` when it asked to wait forever.
pub fn blocking_wait(args: &[&[u8]]) -> Option<Option<Duration>> {
    let name = args.first()?.to_ascii_uppercase();
    let secs = |a: Option<&&[u8]>| -> Option<Option<Duration>> {
        let v: f64 = std::str::from_utf8(a?).ok()?.trim().parse().ok()?;
        (v.is_finite() && v >= 0.0).then(|| (v > 0.0).then(|| Duration::from_secs_f64(v)))
    };
    let millis = |a: Option<&&[u8]>| -> Option<Option<Duration>> {
        let v: u64 = std::str::from_utf8(a?).ok()?.trim().parse().ok()?;
        Some((v > 0).then(|| Duration::from_millis(v)))
    };
    match name.as_slice() {
        b"BLPOP" | b"BRPOP" | b"BZPOPMIN" | b"BZPOPMAX" | b"BRPOPLPUSH" | b"BLMOVE" => {
            secs(args.last())
        }
        b"BLMPOP" | b"BZMPOP" => secs(args.get(1)),
        b"WAIT" => millis(args.get(2)),
        b"WAITAOF" => millis(args.get(3)),
        b"XREAD" | b"XREADGROUP" => {
            let before_streams = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))
                .unwrap_or(args.len());
            let at = args[..before_streams]
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"BLOCK"))?;
            millis(args.get(at + 1))
        }
        _ => None,
    }
}

/// The deadline for one command's reply (`None`: it asked to block forever).
pub fn for_args(args: &[&[u8]]) -> Option<Duration> {
    match blocking_wait(args) {
        None => Some(REPLY),
        Some(Some(wait)) => Some(wait + BLOCKING_MARGIN),
        Some(None) => None,
    }
}

/// The deadline for a command built with the redis crate.
pub fn for_cmd(cmd: &redis::Cmd) -> Option<Duration> {
    let args: Vec<&[u8]> = cmd
        .args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => b,
            // A cursor the crate fills in (SCAN): never a blocking command.
            _ => &b"0"[..],
        })
        .collect();
    for_args(&args)
}

/// The deadline for a pipeline: one reply's, plus every blocking command's own wait.
pub fn for_pipeline(pipeline: &redis::Pipeline) -> Option<Duration> {
    let mut total = REPLY;
    for cmd in pipeline.cmd_iter() {
        let own = for_cmd(cmd)?;
        if own > REPLY {
            total += own - REPLY;
        }
    }
    Some(total)
}

/// Runs `work` (a request and its whole reply) within `limit`; past it, a timeout error,
/// which ends the run as "did not answer within 10 s" with exit 2.
pub async fn within<T>(
    limit: Option<Duration>,
    work: impl Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    let Some(limit) = limit else {
        return work.await;
    };
    match tokio::time::timeout(limit, work).await {
        Ok(r) => r,
        Err(_) => Err(RedisError::from(io::Error::new(
            io::ErrorKind::TimedOut,
            "no whole reply before the deadline",
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(line: &str) -> Option<Duration> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        for_args(&args)
    }

    #[test]
    fn blocking_commands_wait_their_own_time_plus_a_margin() {
        assert_eq!(d("GET k"), Some(REPLY));
        assert_eq!(d("BLPOP a b 2"), Some(Duration::from_secs(12)));
        assert_eq!(d("BLPOP a 0"), None);
        assert_eq!(
            d("BLMOVE a b LEFT RIGHT 0.5"),
            Some(Duration::from_millis(10_500))
        );
        assert_eq!(d("BZMPOP 3 1 z MIN"), Some(Duration::from_secs(13)));
        assert_eq!(
            d("XREAD COUNT 1 BLOCK 1500 STREAMS s $"),
            Some(Duration::from_millis(11_500))
        );
        assert_eq!(d("XREAD COUNT 1 STREAMS BLOCK 0"), Some(REPLY));
        assert_eq!(d("XREADGROUP GROUP g c BLOCK 0 STREAMS s >"), None);
        assert_eq!(d("WAIT 1 250"), Some(Duration::from_millis(10_250)));
        // Redis refuses a bad timeout at once.
        assert_eq!(d("BLPOP a nope"), Some(REPLY));
    }
}
