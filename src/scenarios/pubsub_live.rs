//! Scenario `pubsub-live`: a live subscriber receives, a late one misses: Pub/Sub is fire-and-forget.
//!
//! Two listeners join before anything is published, each on its own Pub/Sub connection: an
//! early subscriber on `<ns>:chat:room:1` and a pattern subscriber on `<ns>:chat:*`. Then
//! `messages` messages are published, one at a time, recording each PUBLISH reply (how many
//! listeners it reached) and waiting until the deliveries arrived (up to `wait_ms` per expected
//! delivery, never a bare sleep). A late subscriber joins and one more message is published:
//! it gets that one and none of the earlier ones. Finally every listener unsubscribes (each
//! UNSUBSCRIBE is confirmed by the server before going on) and one last message is published to
//! nobody: PUBLISH replies 0 and the message is gone. Channels are not keys: nothing is left.
//!
//! `published` counts every PUBLISH sent: `messages` + 2.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{ScenarioContext, ScenarioReport};

const MAX_MESSAGES: u64 = 1_000;
const MIN_WAIT_MS: u64 = 100;
const MAX_WAIT_MS: u64 = 30_000;
/// Subscribing and unsubscribing wait for the server's confirmation, at most this long.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Messages published while the two early listeners are subscribed.
    #[serde(default = "default_messages")]
    pub messages: u64,
    /// How long to wait for each expected delivery, in milliseconds.
    #[serde(default = "default_wait_ms")]
    pub wait_ms: u64,
}

fn default_messages() -> u64 {
    5
}

fn default_wait_ms() -> u64 {
    2_000
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if params.messages == 0 || params.messages > MAX_MESSAGES {
        bail!(
            "pubsub-live: `messages` must be between 1 and {MAX_MESSAGES}, got {}",
            params.messages
        );
    }
    if params.wait_ms < MIN_WAIT_MS || params.wait_ms > MAX_WAIT_MS {
        bail!(
            "pubsub-live: `wait_ms` must be between {MIN_WAIT_MS} and {MAX_WAIT_MS}, got {}",
            params.wait_ms
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Who {
    Early,
    Pattern,
    Late,
}

impl Who {
    fn label(self) -> &'static str {
        match self {
            Who::Early => "early subscriber",
            Who::Pattern => "pattern subscriber",
            Who::Late => "late subscriber",
        }
    }
}

/// The payload carries the message number first: `3: hello #3`.
fn payload(n: u64) -> String {
    format!("{n}: hello #{n}")
}

fn number_of(payload: &str) -> Option<u64> {
    payload.split_once(':')?.0.parse().ok()
}

/// One listener: the sink to (un)subscribe with, and the task forwarding what it receives.
struct Listener {
    who: Who,
    sink: PubSubSink,
    forward: JoinHandle<()>,
}

impl Listener {
    async fn join(
        ctx: &ScenarioContext<'_>,
        who: Who,
        target: &str,
        tx: mpsc::UnboundedSender<(Who, u64)>,
    ) -> Result<Self> {
        let pubsub = ctx
            .server
            .client
            .get_async_pubsub()
            .await
            .with_context(|| format!("opening the {}'s Pub/Sub connection", who.label()))?;
        let (mut sink, mut stream) = pubsub.split();
        let subscribed = match who {
            Who::Pattern => tokio::time::timeout(CONFIRM_TIMEOUT, sink.psubscribe(target)).await,
            _ => tokio::time::timeout(CONFIRM_TIMEOUT, sink.subscribe(target)).await,
        };
        subscribed
            .map_err(|_| anyhow!("the {} was not confirmed in time", who.label()))?
            .with_context(|| format!("subscribing the {}", who.label()))?;
        let forward = tokio::spawn(async move {
            while let Some(msg) = stream.next().await {
                let text: String = msg.get_payload().unwrap_or_default();
                if let Some(n) = number_of(&text) {
                    if tx.send((who, n)).is_err() {
                        break;
                    }
                }
            }
        });
        Ok(Listener { who, sink, forward })
    }

    async fn leave(mut self, target: &str) -> Result<()> {
        let left = match self.who {
            Who::Pattern => {
                tokio::time::timeout(CONFIRM_TIMEOUT, self.sink.punsubscribe(target)).await
            }
            _ => tokio::time::timeout(CONFIRM_TIMEOUT, self.sink.unsubscribe(target)).await,
        };
        self.forward.abort();
        left.map_err(|_| {
            anyhow!(
                "the {}'s unsubscribe was not confirmed in time",
                self.who.label()
            )
        })?
        .with_context(|| format!("unsubscribing the {}", self.who.label()))?;
        Ok(())
    }
}

/// Deliveries seen so far: message number → who received it.
type Deliveries = BTreeMap<u64, Vec<Who>>;

/// Publishes message `n` and waits until `expected` of our listeners received it.
async fn publish_and_wait(
    conn: &mut MultiplexedConnection,
    channel: &str,
    n: u64,
    expected: usize,
    per_delivery: Duration,
    rx: &mut mpsc::UnboundedReceiver<(Who, u64)>,
    got: &mut Deliveries,
) -> Result<i64> {
    let receivers: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload(n))
        .query_async(conn)
        .await
        .with_context(|| format!("publishing message {n}"))?;
    let deadline = tokio::time::Instant::now() + per_delivery * expected as u32;
    while got.get(&n).map_or(0, Vec::len) < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((who, m))) => got.entry(m).or_default().push(who),
            // Every listener stopped, or the time is up: report what arrived.
            Ok(None) | Err(_) => break,
        }
    }
    Ok(receivers)
}

/// What the run measured, derived from the deliveries.
#[derive(Debug, Clone, Default, PartialEq)]
struct Counts {
    early: u64,
    pattern: u64,
    late_of_earlier: u64,
    late_after_join: u64,
}

fn count(got: &Deliveries, messages: u64) -> Counts {
    let mut c = Counts::default();
    for (&n, whos) in got {
        for who in whos {
            match who {
                Who::Early => c.early += 1,
                Who::Pattern => c.pattern += 1,
                Who::Late if n <= messages => c.late_of_earlier += 1,
                Who::Late => c.late_after_join += 1,
            }
        }
    }
    c
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    let channel = ctx.key("chat:room:1");
    let pattern = ctx.key("chat:*");
    let per_delivery = Duration::from_millis(params.wait_ms);
    let total = params.messages + 2;
    ctx.progress.set_length(total);
    let mut conn = ctx.server.connection().await?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut got = Deliveries::new();
    let mut replies: Vec<(u64, i64)> = Vec::new();

    ctx.progress
        .set_message(format!("subscribing to {channel} and {pattern}"));
    let early = Listener::join(ctx, Who::Early, &channel, tx.clone()).await?;
    let pat = Listener::join(ctx, Who::Pattern, &pattern, tx.clone()).await?;

    ctx.progress.set_message(format!(
        "publishing {} messages to {channel}",
        params.messages
    ));
    for n in 1..=params.messages {
        let r =
            publish_and_wait(&mut conn, &channel, n, 2, per_delivery, &mut rx, &mut got).await?;
        replies.push((n, r));
        ctx.progress.inc(1);
    }

    ctx.progress.set_message("a late subscriber joins");
    let late = Listener::join(ctx, Who::Late, &channel, tx.clone()).await?;
    let after_join = params.messages + 1;
    let r = publish_and_wait(
        &mut conn,
        &channel,
        after_join,
        3,
        per_delivery,
        &mut rx,
        &mut got,
    )
    .await?;
    replies.push((after_join, r));
    ctx.progress.inc(1);

    ctx.progress.set_message("everyone unsubscribes");
    early.leave(&channel).await?;
    pat.leave(&pattern).await?;
    late.leave(&channel).await?;
    drop(tx);
    let nobody = params.messages + 2;
    let r = publish_and_wait(
        &mut conn,
        &channel,
        nobody,
        0,
        per_delivery,
        &mut rx,
        &mut got,
    )
    .await?;
    replies.push((nobody, r));
    // Anything still in flight (nothing should be) is counted too.
    while let Ok((who, m)) = rx.try_recv() {
        got.entry(m).or_default().push(who);
    }
    ctx.progress.inc(1);

    Ok(report(&params, &channel, &pattern, &replies, &got))
}

fn report(
    params: &Params,
    channel: &str,
    pattern: &str,
    replies: &[(u64, i64)],
    got: &Deliveries,
) -> ScenarioReport {
    let messages = params.messages;
    let c = count(got, messages);
    let when = |n: u64| {
        if n <= messages {
            "early + pattern subscribed"
        } else if n == messages + 1 {
            "after the late subscriber joined"
        } else {
            "after everyone unsubscribed"
        }
    };
    let rows = replies
        .iter()
        .map(|&(n, reply)| {
            let mut whos = got.get(&n).cloned().unwrap_or_default();
            whos.sort();
            let who = if whos.is_empty() {
                "nobody: the message is gone".to_string()
            } else {
                whos.iter()
                    .map(|w| w.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                format!("#{n}"),
                when(n).to_string(),
                format!("(integer) {reply}"),
                who,
            ]
        })
        .collect();
    let mut report = ScenarioReport {
        header: vec![
            "message".into(),
            "published when".into(),
            "PUBLISH reply".into(),
            "received by".into(),
        ],
        rows,
        ..Default::default()
    };
    let reply_of = |n: u64| replies.iter().find(|(m, _)| *m == n).map_or(0, |(_, r)| *r);
    let first = reply_of(1);
    let nobody = reply_of(messages + 2);
    let m = &mut report.metrics;
    m.insert("messages".into(), messages as f64);
    m.insert("published".into(), replies.len() as f64);
    m.insert("early_received".into(), c.early as f64);
    m.insert("pattern_received".into(), c.pattern as f64);
    m.insert("late_received_of_earlier".into(), c.late_of_earlier as f64);
    m.insert("late_received_after_join".into(), c.late_after_join as f64);
    m.insert("receivers_first_publish".into(), first as f64);
    m.insert("receivers_after_join".into(), reply_of(messages + 1) as f64);
    m.insert("receivers_when_nobody_listens".into(), nobody as f64);

    let notes = &mut report.notes;
    notes.push(format!(
        "The first PUBLISH reached {first} listeners: the subscriber on {channel} and the pattern subscriber on {pattern} (a pattern match counts as a receiver too)."
    ));
    notes.push(format!(
        "The late subscriber got {} of the {messages} messages sent before it joined, and {} after: Pub/Sub keeps no history, a listener only gets what is published while it listens.",
        c.late_of_earlier, c.late_after_join
    ));
    if nobody == 0 {
        notes.push(
            "With nobody subscribed PUBLISH replied 0 and the message was simply dropped: fire-and-forget, at most once. For delivery that survives a missing or crashed consumer, use a Stream."
                .into(),
        );
    } else {
        notes.push(format!(
            "The last PUBLISH still reached {nobody} listeners outside this scenario (someone else is subscribed to {channel})."
        ));
    }
    let expected_early = messages + 1;
    if c.early < expected_early || c.pattern < expected_early {
        notes.push(format!(
            "Some deliveries did not arrive within {} ms each (early {} of {expected_early}, pattern {} of {expected_early}): a subscriber that cannot keep up, or a slow network, loses messages too.",
            params.wait_ms, c.early, c.pattern
        ));
    }
    notes
        .push("Channels are not keys: nothing was stored, so there is nothing to clean up.".into());
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked() {
        let p = |messages, wait_ms| Params { messages, wait_ms };
        assert!(validate(&p(5, 2_000)).is_ok());
        assert!(validate(&p(0, 2_000)).is_err());
        assert!(validate(&p(5, 1)).is_err());
        let parsed: Params = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(parsed.messages, 5);
        assert!(serde_json::from_value::<Params>(serde_json::json!({"channel": "x"})).is_err());
    }

    #[test]
    fn payload_round_trips() {
        assert_eq!(number_of(&payload(17)), Some(17));
        assert_eq!(number_of("hello"), None);
    }

    #[test]
    fn counts_split_late_deliveries() {
        let mut got = Deliveries::new();
        for n in 1..=5 {
            got.insert(n, vec![Who::Early, Who::Pattern]);
        }
        got.insert(6, vec![Who::Pattern, Who::Early, Who::Late]);
        let c = count(&got, 5);
        assert_eq!(
            c,
            Counts {
                early: 6,
                pattern: 6,
                late_of_earlier: 0,
                late_after_join: 1
            }
        );
    }
}
