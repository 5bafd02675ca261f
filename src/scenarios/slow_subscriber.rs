//! Scenario `slow-subscriber`: Redis does not wait for a subscriber that reads slowly. Messages
//! pile up in that client's output buffer, and once the buffer passes the `pubsub` hard limit
//! of `client-output-buffer-limit`, Redis disconnects the subscriber; what was in its buffer
//! is lost, and PUBLISH goes on counting only the subscribers left.
//!
//! The limit is a server setting, so this runs on a private server (see `private`), never on
//! the learner's. Deterministic by construction: the subscriber subscribes and then never
//! reads again, with a small receive buffer; messages are published one at a time until
//! PUBLISH counts no receiver (bounded by `MAX_BYTES` published), so the disconnect is reached
//! on every run whatever the kernel's socket buffers hold. Then the subscriber's socket is read
//! to its end: every message it got before the server closed it.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::params::{Param, int};
use super::private::{Private, args};
use super::{Scenario, ScenarioContext, ScenarioReport};

/// The most this step publishes before it gives up on the limit.
const MAX_BYTES: u64 = 256 * 1024 * 1024;
/// How long the subscriber's confirmation and its last bytes may take (a bound, not a wait).
const READ_BOUND: Duration = Duration::from_secs(10);

pub struct SlowSubscriber;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub limit_kb: u64,
    pub message_bytes: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            limit_kb: 256,
            message_bytes: 16 * 1024,
        }
    }
}

impl Scenario for SlowSubscriber {
    const NAME: &'static str = "slow-subscriber";
    const SUMMARY: &'static str = "a subscriber that stops reading is disconnected once its output buffer passes the pubsub hard limit; its buffered messages are lost";
    const PARAMS: &'static [Param] = &[
        int(
            "limit_kb",
            64,
            65_536,
            "the pubsub hard limit set on the private server, in KiB",
        ),
        int(
            "message_bytes",
            1024,
            1_048_576,
            "the size of each published message",
        ),
    ];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let mut s = match Private::start(ctx).await? {
            Ok(s) => s,
            Err(why) => {
                return Ok(ScenarioReport {
                    skipped: Some(why),
                    ..Default::default()
                });
            }
        };
        let limit = p.limit_kb * 1024;
        s.set("client-output-buffer-limit", &format!("pubsub {limit} 0 0"))
            .await?;
        let channel = ctx.key("feed:prices");
        let mut subscriber = subscribe(&s, &channel).await?;
        let most = MAX_BYTES / p.message_bytes;
        ctx.ticker
            .start(most, "publishing to a subscriber that never reads");
        let message = vec![b'x'; p.message_bytes as usize];
        let mut published = 0u64;
        let mut receivers_at_first = None;
        loop {
            if published == most {
                bail!(
                    "the private server kept a subscriber that read nothing through {MAX_BYTES} bytes: it does not enforce client-output-buffer-limit"
                );
            }
            let publish = vec![
                b"PUBLISH".to_vec(),
                channel.clone().into_bytes(),
                message.clone(),
            ];
            let receivers = match s.send(&publish).await? {
                Value::Int(n) => n,
                other => bail!("PUBLISH replied {other:?}"),
            };
            receivers_at_first.get_or_insert(receivers);
            ctx.ticker.tick(1);
            if receivers == 0 {
                break;
            }
            published += 1;
        }
        let received = drain(&mut subscriber).await?;
        let numsub = match s
            .send(&args(&[b"PUBSUB", b"NUMSUB", channel.as_bytes()]))
            .await?
        {
            Value::Array(v) => match v.get(1) {
                Some(Value::Int(n)) => *n,
                _ => -1,
            },
            _ => -1,
        };
        let found = Found {
            limit,
            message_bytes: p.message_bytes,
            published,
            received,
            receivers_at_first: receivers_at_first.unwrap_or(0),
            subscribed_after: numsub,
        };
        let program = s.program.clone();
        drop(s);
        Ok(report(&found, &program))
    }
}

/// A raw subscriber with a small receive buffer: it reads the confirmation, then nothing more.
async fn subscribe(s: &Private, channel: &str) -> Result<tokio::net::TcpStream> {
    s.server
        .stalled_subscriber(s.conn.fence(), channel, 4096, READ_BOUND)
        .await
}

/// Reads what the subscriber's socket still holds, to the end the server's close made; returns
/// how many messages had reached it.
async fn drain(stream: &mut tokio::net::TcpStream) -> Result<u64> {
    let mut all = Vec::new();
    tokio::time::timeout(READ_BOUND, stream.read_to_end(&mut all))
        .await
        .context("the disconnected subscriber's socket did not end")?
        // A reset instead of an orderly close ends the stream too.
        .or_else(|e| match e.kind() {
            std::io::ErrorKind::ConnectionReset => Ok(0),
            _ => Err(e),
        })?;
    let marker = b"$7\r\nmessage\r\n";
    Ok(all.windows(marker.len()).filter(|w| *w == marker).count() as u64)
}

#[derive(Debug, Clone, PartialEq)]
struct Found {
    limit: u64,
    message_bytes: u64,
    /// Messages PUBLISH delivered to the subscriber (it counted it as a receiver).
    published: u64,
    /// Messages that reached the subscriber's socket before it was closed.
    received: u64,
    receivers_at_first: i64,
    subscribed_after: i64,
}

fn report(f: &Found, program: &str) -> ScenarioReport {
    let lost = f.published.saturating_sub(f.received);
    let dropped = u8::from(f.subscribed_after == 0);
    let mut report = ScenarioReport {
        header: vec![
            "pubsub hard limit".into(),
            "published to it".into(),
            "reached it".into(),
            "lost".into(),
            "subscribed after".into(),
        ],
        rows: vec![vec![
            format!("{} KiB", f.limit / 1024),
            f.published.to_string(),
            f.received.to_string(),
            lost.to_string(),
            f.subscribed_after.to_string(),
        ]],
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("published".into(), f.published as f64);
    m.insert("received".into(), f.received as f64);
    m.insert("lost".into(), lost as f64);
    m.insert("subscriber_dropped".into(), f64::from(dropped));
    m.insert("receivers_at_first".into(), f.receivers_at_first as f64);
    report.notes.push(format!(
        "This ran on a private {program} started for this step (client-output-buffer-limit pubsub {} 0 0), never on your server.",
        f.limit
    ));
    report.notes.push(format!(
        "The subscriber stopped reading. After {} messages of {} bytes PUBLISH counted no receiver: Redis had disconnected it, and {lost} messages it never read were gone with its buffer.",
        f.published, f.message_bytes
    ));
    report
}
