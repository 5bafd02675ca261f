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

use crate::redis::connect::CONNECT_TIMEOUT;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::redis::connect::Rights;
use crate::redis::fence::Fenced;
use crate::redis::fence::FencedSink as PubSubSink;
use anyhow::{Context, Result, anyhow};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::params::{Param, int};
use super::{Scenario, ScenarioContext, ScenarioReport};

/// Subscribing and unsubscribing wait for the server's confirmation, at most this long.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PubSubLive;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub messages: u64,
    pub wait_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            messages: 5,
            wait_ms: 2_000,
        }
    }
}

impl Scenario for PubSubLive {
    const NAME: &'static str = "pubsub-live";
    const SUMMARY: &'static str =
        "a live subscriber receives, a late one misses: Pub/Sub is fire-and-forget";
    const PARAMS: &'static [Param] = &[
        int(
            "messages",
            1,
            1_000,
            "messages published while the two early listeners are subscribed",
        ),
        int(
            "wait_ms",
            100,
            30_000,
            "how long to wait for each expected delivery, in milliseconds",
        ),
    ];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
        let (replies, got) = Session::new(ctx, &params).await?.play().await?;
        Ok(report(&params, &replies, &got))
    }
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
            .pubsub(Rights::Admin, CONNECT_TIMEOUT)
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
#[allow(clippy::too_many_arguments)]
async fn publish_and_wait(
    conn: &mut Fenced,
    channel: &str,
    n: u64,
    expected: usize,
    per_delivery: Duration,
    rx: &mut mpsc::UnboundedReceiver<(Who, u64)>,
    got: &mut Deliveries,
) -> Result<i64> {
    let mut publish = redis::cmd("PUBLISH");
    publish.arg(channel).arg(payload(n));
    let receivers: i64 = publish
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

/// One run: the publishing connection, the deliveries forwarded by every listener, and the
/// replies of every PUBLISH.
struct Session<'c, 'p> {
    ctx: &'c ScenarioContext<'c>,
    params: &'p Params,
    channel: String,
    pattern: String,
    conn: Fenced,
    tx: mpsc::UnboundedSender<(Who, u64)>,
    rx: mpsc::UnboundedReceiver<(Who, u64)>,
    got: Deliveries,
    replies: Vec<(u64, i64)>,
}

impl<'c, 'p> Session<'c, 'p> {
    async fn new(ctx: &'c ScenarioContext<'c>, params: &'p Params) -> Result<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        Ok(Session {
            ctx,
            params,
            channel: ctx.key("chat:room:1"),
            pattern: ctx.key("chat:*"),
            // The node the listeners are connected to: on a cluster PUBLISH reaches every
            // node's subscribers, but counts only those of the node it was sent to.
            conn: ctx
                .server
                .node_connection(Rights::Admin, None, Some(CONFIRM_TIMEOUT))
                .await?,
            tx,
            rx,
            got: Deliveries::new(),
            replies: Vec::new(),
        })
    }

    async fn join(&self, who: Who) -> Result<Listener> {
        let target = if who == Who::Pattern {
            &self.pattern
        } else {
            &self.channel
        };
        Listener::join(self.ctx, who, target, self.tx.clone()).await
    }

    /// Publishes message `n` and waits for `expected` deliveries.
    async fn publish(&mut self, n: u64, expected: usize) -> Result<()> {
        let per_delivery = Duration::from_millis(self.params.wait_ms);
        let r = publish_and_wait(
            &mut self.conn,
            &self.channel,
            n,
            expected,
            per_delivery,
            &mut self.rx,
            &mut self.got,
        )
        .await?;
        self.replies.push((n, r));
        self.ctx.ticker.tick(1);
        Ok(())
    }

    /// Early and pattern listeners, `messages` messages, a latecomer and one more, everyone
    /// leaves and one last message goes to nobody.
    async fn play(mut self) -> Result<(Vec<(u64, i64)>, Deliveries)> {
        let (messages, ticker) = (self.params.messages, self.ctx.ticker);
        ticker.start(
            messages + 2,
            &format!("subscribing to {} and {}", self.channel, self.pattern),
        );
        let early = self.join(Who::Early).await?;
        let pat = self.join(Who::Pattern).await?;
        ticker.message(&format!(
            "publishing {messages} messages to {}",
            self.channel
        ));
        for n in 1..=messages {
            self.publish(n, 2).await?;
        }
        ticker.message("a late subscriber joins");
        let late = self.join(Who::Late).await?;
        self.publish(messages + 1, 3).await?;
        ticker.message("everyone unsubscribes");
        early.leave(&self.channel).await?;
        pat.leave(&self.pattern).await?;
        late.leave(&self.channel).await?;
        self.publish(messages + 2, 0).await?;
        // Anything still in flight (nothing should be) is counted too.
        while let Ok((who, m)) = self.rx.try_recv() {
            self.got.entry(m).or_default().push(who);
        }
        Ok((self.replies, self.got))
    }
}

fn report(params: &Params, replies: &[(u64, i64)], got: &Deliveries) -> ScenarioReport {
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

    report.notes = notes(params, &c, first, nobody);
    report
}

/// What this run's numbers say, and only that.
fn notes(params: &Params, c: &Counts, first: i64, nobody: i64) -> Vec<String> {
    let messages = params.messages;
    let mut notes = vec![
        format!("The first PUBLISH reached {first} listeners."),
        format!(
            "The late subscriber got {} of the {messages} messages sent before it joined, and {} of the one after.",
            c.late_of_earlier, c.late_after_join
        ),
    ];
    notes.push(if nobody == 0 {
        "With nobody subscribed, PUBLISH replied 0: that message reached no one.".into()
    } else {
        format!(
            "The last PUBLISH still reached {nobody} listeners outside this scenario (someone else is subscribed to the channel)."
        )
    });
    let expected = messages + 1;
    if c.early < expected || c.pattern < expected {
        notes.push(format!(
            "Some deliveries did not arrive within {} ms each (early {} of {expected}, pattern {} of {expected}): a subscriber that cannot keep up, or a slow network, loses messages too.",
            params.wait_ms, c.early, c.pattern
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked() {
        use crate::scenarios::validate;
        use serde_json::json;
        assert!(validate("pubsub-live", &json!({})).is_ok());
        assert!(validate("pubsub-live", &json!({"messages": 0})).is_err());
        assert!(validate("pubsub-live", &json!({"wait_ms": 1})).is_err());
        assert!(validate("pubsub-live", &json!({"channel": "x"})).is_err());
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
