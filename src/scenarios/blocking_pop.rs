//! Scenario `blocking-pop`: a consumer blocked in BRPOP waits on its own connection only. The
//! server goes on answering everyone else, and the producer's LPUSH hands the job straight to
//! the waiting consumer.
//!
//! Three plain connections to the node that owns `<ns>:{jobs}:live` (on a cluster, the node
//! the first command's MOVED reply names; the learner's ACL user on the managed server): a
//! consumer, a producer and a watcher. The watcher reads `blocked_clients` from INFO clients;
//! the consumer sends `BRPOP <ns>:{jobs}:live <wait>` on an empty list, and the watcher asks
//! INFO again until the server counts one more blocked client (the server's own word that the
//! consumer waits, never a sleep). While it waits the watcher sends `pings` PINGs, timing
//! each, and INFO once more: still blocked. Then the producer sends `LPUSH ... job:1`, and the
//! consumer's reply is timed from the moment the LPUSH went out: the wake-up latency. The
//! watcher's LLEN shows the job went to the consumer, not into the list. Every command passes
//! the fence first.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::measure::human_us;
use crate::redis::cluster::Node;
use crate::redis::connect::{Rights, Server};
use crate::redis::fence::RawConn;
use crate::redis::render::{printable, render};
use crate::redis::tokenize::display_args;

pub struct BlockingPop;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub pings: u64,
    pub wait_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            pings: 100,
            wait_ms: 5_000,
        }
    }
}

impl Scenario for BlockingPop {
    const NAME: &'static str = "blocking-pop";
    const SUMMARY: &'static str = "a consumer blocked in BRPOP is woken by another client's LPUSH; a third client's PING is answered while it waits";
    const PARAMS: &'static [Param] = &[
        int(
            "pings",
            1,
            10_000,
            "PINGs a third client sends, each timed, while the consumer is blocked",
        ),
        int(
            "wait_ms",
            500,
            30_000,
            "the BRPOP timeout, and how long any other reply may take, in milliseconds",
        ),
    ];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let queue = ctx.key("{jobs}:live");
        let wait = Duration::from_millis(p.wait_ms);
        let clear = words(&["DEL", &queue]);
        let brpop = words(&["BRPOP", &queue, &seconds(wait)]);
        let info = words(&["INFO", "clients"]);
        let ping = words(&["PING"]);
        let lpush = words(&["LPUSH", &queue, "job:1"]);
        let llen = words(&["LLEN", &queue]);
        ctx.ticker.start(p.pings + 4, "a consumer waits in BRPOP");
        let (mut watcher, node, _) = on_owner(ctx.server, &clear, wait).await?;
        let mut consumer = ctx
            .server
            .raw_connection(Rights::Learner, node.as_ref(), wait, false)
            .await
            .context("could not open the consumer's connection")?;
        let mut producer = ctx
            .server
            .raw_connection(Rights::Learner, node.as_ref(), wait, false)
            .await
            .context("could not open the producer's connection")?;

        let before = blocked_clients(&exchange(&mut watcher, &info, wait).await?)?;
        consumer.send(&brpop).await.context("sending BRPOP")?;
        let blocked_at = Instant::now();
        // The server says when the consumer waits: its count of blocked clients goes up.
        let mut polls = 0u64;
        let mut during = before;
        while during <= before {
            if blocked_at.elapsed() > wait {
                bail!(
                    "the server never counted the consumer as blocked within {} ms",
                    p.wait_ms
                );
            }
            during = blocked_clients(&exchange(&mut watcher, &info, wait).await?)?;
            polls += 1;
        }
        ctx.ticker.tick(1);

        let mut ping_us = Vec::with_capacity(p.pings as usize);
        let mut pongs = 0u64;
        for _ in 0..p.pings {
            let began = Instant::now();
            let reply = exchange(&mut watcher, &ping, wait).await?;
            ping_us.push(began.elapsed().as_secs_f64() * 1e6);
            if matches!(&reply, Value::SimpleString(s) if s == "PONG") {
                pongs += 1;
            }
            ctx.ticker.tick(1);
        }
        let after_pings = blocked_clients(&exchange(&mut watcher, &info, wait).await?)?;
        ctx.ticker.tick(1);

        let pushed_at = Instant::now();
        producer.send(&lpush).await.context("sending LPUSH")?;
        let popped = consumer
            .next(wait)
            .await
            .context("the consumer's BRPOP never answered")?;
        let wake = pushed_at.elapsed();
        let pushed = producer.next(wait).await.context("no reply to LPUSH")?;
        ctx.ticker.tick(1);
        let left = exchange(&mut watcher, &llen, wait).await?;
        exchange(&mut watcher, &clear, wait).await?;
        ctx.ticker.finish();

        let waited_ms = blocked_at.elapsed().as_millis();
        let found = Found {
            before,
            during,
            after_pings,
            polls,
            pongs,
            ping_p50_us: median(&mut ping_us),
            woken: matches!(&popped, Value::Array(items) if items.len() == 2
                && matches!(&items[1], Value::BulkString(b) if b == b"job:1")),
            wake_us: wake.as_secs_f64() * 1e6,
            left: int_of(&left),
            pushed_len: int_of(&pushed),
        };
        Ok(report(
            &p,
            &found,
            [&brpop, &lpush, &llen].map(|a| display_args(a)),
            (&popped, &pushed, &left),
            waited_ms,
        ))
    }
}

/// What the run saw.
struct Found {
    before: i64,
    during: i64,
    after_pings: i64,
    polls: u64,
    pongs: u64,
    ping_p50_us: f64,
    woken: bool,
    wake_us: f64,
    left: i64,
    pushed_len: i64,
}

fn report(
    p: &Params,
    f: &Found,
    [brpop, lpush, llen]: [String; 3],
    (popped, pushed, left): (&Value, &Value, &Value),
    waited_ms: u128,
) -> ScenarioReport {
    let still_blocked = f.after_pings > f.before;
    let rows = vec![
        vec![
            "consumer".into(),
            brpop,
            "(no reply yet)".into(),
            format!("blocked_clients {} → {}", f.before, f.during),
        ],
        vec![
            "watcher".into(),
            format!("PING × {}", p.pings),
            format!("PONG × {}", f.pongs),
            format!("p50 {} each", human_us(f.ping_p50_us)),
        ],
        vec![
            "watcher".into(),
            "INFO clients".into(),
            format!("blocked_clients:{}", f.after_pings),
            if still_blocked {
                "the consumer still waits".into()
            } else {
                "the consumer no longer waits".into()
            },
        ],
        vec!["producer".into(), lpush, one_line(pushed), String::new()],
        vec![
            "consumer".into(),
            "(BRPOP's reply)".into(),
            one_line(popped),
            format!("{} after the LPUSH was sent", human_us(f.wake_us)),
        ],
        vec!["watcher".into(), llen, one_line(left), String::new()],
    ];
    let mut report = ScenarioReport {
        header: vec![
            "client".into(),
            "command".into(),
            "reply".into(),
            "seen".into(),
        ],
        rows,
        ..Default::default()
    };
    let flag = |b: bool| f64::from(u8::from(b));
    for (name, value) in [
        ("blocked", flag(f.during > f.before)),
        ("info_polls", f.polls as f64),
        ("pings", p.pings as f64),
        ("pings_answered", f.pongs as f64),
        ("ping_p50_us", f.ping_p50_us),
        ("still_blocked_after_pings", flag(still_blocked)),
        ("woken", flag(f.woken)),
        ("wake_us", f.wake_us),
        ("left_in_queue", f.left as f64),
        ("lpush_reply", f.pushed_len as f64),
    ] {
        report.metrics.insert(name.into(), value);
    }
    report.notes.push(if still_blocked && f.pongs == p.pings {
        format!(
            "While the consumer waited in BRPOP, the server answered all {} PINGs of another client (p50 {}): a blocking pop blocks its own connection, not the server.",
            p.pings,
            human_us(f.ping_p50_us)
        )
    } else {
        format!(
            "{} of {} PINGs were answered; the consumer {} blocked afterwards.",
            f.pongs,
            p.pings,
            if still_blocked { "was still" } else { "was no longer" }
        )
    });
    report.notes.push(if f.woken {
        format!(
            "The LPUSH woke the consumer {} after it was sent ({} ms after the consumer began to wait); the job went straight to it, and LLEN counts {} left in the list.",
            human_us(f.wake_us),
            waited_ms,
            f.left
        )
    } else {
        "The consumer's BRPOP ended without the job (it timed out before the LPUSH).".into()
    });
    report
}

/// `1.500` for 1500 ms: blocking commands take seconds, with decimals since Redis 6.0.
/// Rounded up to the millisecond, and never `0.000`, which would mean "wait forever".
pub(super) fn seconds(d: Duration) -> String {
    let ms = d.as_micros().div_ceil(1000).max(1);
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

pub(super) fn words(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(super) fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        _ => 0,
    }
}

/// `blocked_clients:N` from an INFO clients reply.
fn blocked_clients(v: &Value) -> Result<i64> {
    let text = match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::VerbatimString { text, .. } => text.clone(),
        other => bail!("INFO clients replied {}", one_line(other)),
    };
    text.lines()
        .find_map(|l| l.trim().strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .context("INFO clients did not say how many clients are blocked")
}

/// A connection on the node that answers `first` itself (on a cluster, the one its MOVED reply
/// names; anywhere else, the first), that node, and the answer; a server error answering it is
/// an error naming the command.
pub(super) async fn on_owner(
    server: &Server,
    first: &[Vec<u8>],
    wait: Duration,
) -> Result<(RawConn, Option<Node>, Value)> {
    let (conn, node, reply) = super::subscribed::on_owner(server, first, wait).await?;
    if let Value::ServerError(e) = &reply {
        bail!(
            "{}: {}",
            display_args(first),
            crate::redis::render::error_text(e.code(), e.details())
        );
    }
    Ok((conn, node, reply))
}

/// Sends one command and reads its one reply; a server error is an error naming the command.
pub(super) async fn exchange(
    conn: &mut RawConn,
    args: &[Vec<u8>],
    wait: Duration,
) -> Result<Value> {
    let sent = conn.send(args).await;
    let reply = match sent {
        Ok(()) => conn.next(wait).await,
        Err(e) => Err(e),
    };
    let reply = reply.with_context(|| {
        format!(
            "no reply to {} within {} ms",
            printable(&args[0]),
            wait.as_millis()
        )
    })?;
    if let Value::ServerError(e) = &reply {
        if e.code() != "MOVED" {
            bail!(
                "{}: {}",
                display_args(args),
                crate::redis::render::error_text(e.code(), e.details())
            );
        }
    }
    Ok(reply)
}

/// A reply on one line: an array's items side by side.
pub(super) fn one_line(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| format!("{}) {}", i + 1, render(item).trim_end()))
            .collect::<Vec<_>>()
            .join(" "),
        other => render(other).trim_end().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_rounded_up_and_never_zero() {
        assert_eq!(seconds(Duration::from_millis(1500)), "1.500");
        assert_eq!(seconds(Duration::from_micros(1)), "0.001");
        assert_eq!(seconds(Duration::ZERO), "0.001");
        assert_eq!(seconds(Duration::from_micros(250_400)), "0.251");
    }

    #[test]
    fn blocked_clients_is_read_from_info() {
        let info = Value::BulkString(
            b"# Clients\r\nconnected_clients:3\r\nblocked_clients:2\r\n".to_vec(),
        );
        assert_eq!(blocked_clients(&info).ok(), Some(2));
        assert!(blocked_clients(&Value::BulkString(b"# Clients\r\n".to_vec())).is_err());
    }
}
