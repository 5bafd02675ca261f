//! Scenario `stream-crash`: a consumer crashes before XACK: XPENDING shows it, XAUTOCLAIM hands it to the survivor.
//!
//! `entries` orders are appended to `<ns>:orders:stream` (XADD MAXLEN ~ 1000 *), read by the
//! consumer group `workers` (created at `0` with MKSTREAM). `worker-1`, in its own task on its
//! own connection, reads `crash_after` entries with XREADGROUP and "crashes": its task ends and
//! its connection closes without a single XACK. `worker-2` reads the rest (`>`: only entries
//! never delivered to the group) and ACKs them. XPENDING then shows worker-1's entries still
//! pending; XAUTOCLAIM with a min-idle-time of 0 (passed in, so the run never depends on how
//! long anything took; production uses something like 60000) hands them to worker-2, which ACKs
//! them. A late plain reader (XRANGE - +) still sees every entry: what Pub/Sub would have lost.
//!
//! Reads never BLOCK, so the ordinary connections' response timeout is fine. The stream is left
//! for the learner to inspect and expires after an hour.

use anyhow::{Context, Result, bail};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamPendingReply, StreamReadReply};
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

const MAX_ENTRIES: usize = 1_000;
const GROUP: &str = "workers";
const KEEP_SECONDS: u64 = 3600;
/// Passed to XAUTOCLAIM: claim entries idle for at least this long. 0 claims them all now.
const MIN_IDLE_MS: u64 = 0;
/// XAUTOCLAIM calls before giving up on reaching the cursor's end.
const MAX_CLAIM_ROUNDS: usize = 100;
const ITEMS: &[&str] = &["keyboard", "mouse", "monitor", "headset", "webcam", "dock"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Orders appended to the stream.
    #[serde(default = "default_entries")]
    pub entries: usize,
    /// How many entries worker-1 reads before it crashes.
    #[serde(default = "default_crash_after")]
    pub crash_after: usize,
}

fn default_entries() -> usize {
    6
}

fn default_crash_after() -> usize {
    3
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if params.entries == 0 || params.entries > MAX_ENTRIES {
        bail!(
            "stream-crash: `entries` must be between 1 and {MAX_ENTRIES} (the stream is capped with MAXLEN ~ 1000), got {}",
            params.entries
        );
    }
    if params.crash_after == 0 || params.crash_after > params.entries {
        bail!(
            "stream-crash: `crash_after` must be between 1 and `entries` ({}), got {}",
            params.entries,
            params.crash_after
        );
    }
    Ok(())
}

/// Entry IDs from an XREADGROUP reply (nil when nothing new).
fn ids_of(reply: Option<StreamReadReply>) -> Vec<String> {
    reply
        .map(|r| {
            r.keys
                .into_iter()
                .flat_map(|k| k.ids)
                .map(|StreamId { id, .. }| id)
                .collect()
        })
        .unwrap_or_default()
}

/// `1-0 … 3-0` for a table cell; a long list is shortened.
fn id_range(ids: &[String]) -> String {
    match ids {
        [] => "(none)".into(),
        [one] => one.clone(),
        [a, b] => format!("{a}, {b}"),
        [first, .., last] => format!("{first} … {last} ({} entries)", ids.len()),
    }
}

async fn read_group(
    conn: &mut MultiplexedConnection,
    stream: &str,
    consumer: &str,
    count: usize,
) -> Result<Vec<String>> {
    let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(GROUP)
        .arg(consumer)
        .arg("COUNT")
        .arg(count)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query_async(conn)
        .await
        .with_context(|| format!("XREADGROUP as {consumer}"))?;
    Ok(ids_of(reply))
}

async fn ack(conn: &mut MultiplexedConnection, stream: &str, ids: &[String]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    redis::cmd("XACK")
        .arg(stream)
        .arg(GROUP)
        .arg(ids)
        .query_async(conn)
        .await
        .context("XACK")
}

async fn pending(
    conn: &mut MultiplexedConnection,
    stream: &str,
) -> Result<(u64, Vec<(String, u64)>)> {
    let reply: StreamPendingReply = redis::cmd("XPENDING")
        .arg(stream)
        .arg(GROUP)
        .query_async(conn)
        .await
        .context("XPENDING")?;
    Ok(match reply {
        StreamPendingReply::Data(d) => (
            d.count as u64,
            d.consumers
                .into_iter()
                .map(|c| (c.name, c.pending as u64))
                .collect(),
        ),
        _ => (0, Vec::new()),
    })
}

fn per_consumer(consumers: &[(String, u64)]) -> String {
    if consumers.is_empty() {
        return "nobody".into();
    }
    consumers
        .iter()
        .map(|(name, n)| format!("{name}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the run measured.
#[derive(Debug, Clone, Default)]
struct Outcome {
    worker1_read: usize,
    worker2_read: usize,
    pending_after_crash: u64,
    worker1_pending: u64,
    claimed: usize,
    acked_total: u64,
    pending_final: u64,
    late_reader_saw: usize,
    length: u64,
    rows: Vec<Vec<String>>,
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    if ctx.server.version_tuple() < (6, 2, 0) {
        bail!(
            "stream-crash needs Redis 6.2 or later (XAUTOCLAIM), this server is {} {}",
            ctx.server.product,
            ctx.server.version
        );
    }
    let stream = ctx.key("orders:stream");
    ctx.ticker.start(params.entries as u64 + 5, "");
    let mut conn = ctx.server.connection().await?;
    let result = scenario(ctx, &params, &stream, &mut conn).await;
    // Whatever happened, the stream does not stay forever.
    let kept = redis::cmd("EXPIRE")
        .arg(&stream)
        .arg(KEEP_SECONDS)
        .query_async::<i64>(&mut conn)
        .await
        .context("setting the stream's expiry");
    let outcome = result?;
    kept?;
    Ok(report(&params, &stream, outcome))
}

async fn scenario(
    ctx: &ScenarioContext<'_>,
    params: &Params,
    stream: &str,
    conn: &mut MultiplexedConnection,
) -> Result<Outcome> {
    let mut o = Outcome::default();
    let mut rows = Vec::new();
    let mut row = |who: &str, command: String, reply: String| {
        rows.push(vec![who.to_string(), command, reply]);
    };

    ctx.ticker
        .message(&format!("XADD {} orders", params.entries));
    redis::cmd("DEL")
        .arg(stream)
        .query_async::<i64>(conn)
        .await
        .context("resetting the stream")?;
    redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async::<()>(conn)
        .await
        .context("creating the consumer group")?;
    row(
        "setup",
        format!("XGROUP CREATE {stream} {GROUP} 0 MKSTREAM"),
        "OK".into(),
    );
    let mut added = Vec::with_capacity(params.entries);
    for i in 1..=params.entries {
        let id: String = redis::cmd("XADD")
            .arg(stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(1000)
            .arg("*")
            .arg("order_id")
            .arg(1000 + i)
            .arg("item")
            .arg(ITEMS[(i - 1) % ITEMS.len()])
            .arg("qty")
            .arg(1 + i % 3)
            .query_async(conn)
            .await
            .context("XADD")?;
        added.push(id);
        ctx.ticker.tick(1);
    }
    row(
        "producer",
        format!(
            "XADD {stream} MAXLEN ~ 1000 * order_id … item … qty … (×{})",
            params.entries
        ),
        id_range(&added),
    );

    // worker-1: its own task and connection; reads, then crashes before any XACK.
    ctx.ticker.message(&format!(
        "worker-1 reads {} and crashes",
        params.crash_after
    ));
    let worker1 = {
        let mut c = ctx.server.connection().await?;
        let stream = stream.to_string();
        let count = params.crash_after;
        tokio::spawn(async move {
            let ids = read_group(&mut c, &stream, "worker-1", count).await?;
            // Crash: the task ends here and its connection closes. No XACK.
            anyhow::Ok(ids)
        })
    };
    let w1 = worker1.await.context("worker-1 panicked")??;
    o.worker1_read = w1.len();
    row(
        "worker-1",
        format!(
            "XREADGROUP GROUP {GROUP} worker-1 COUNT {} STREAMS {stream} >",
            params.crash_after
        ),
        format!("{}, then crashes: no XACK", id_range(&w1)),
    );
    ctx.ticker.tick(1);

    // worker-2: reads what was never delivered, and ACKs it.
    ctx.ticker.message("worker-2 reads the rest and ACKs");
    let mut c2 = ctx.server.connection().await?;
    let w2 = {
        let stream = stream.to_string();
        let count = params.entries;
        let mut c = c2.clone();
        tokio::spawn(async move {
            let ids = read_group(&mut c, &stream, "worker-2", count).await?;
            let acked = ack(&mut c, &stream, &ids).await?;
            anyhow::Ok((ids, acked))
        })
    };
    let (w2_ids, w2_acked) = w2.await.context("worker-2 panicked")??;
    o.worker2_read = w2_ids.len();
    o.acked_total += w2_acked;
    row(
        "worker-2",
        format!(
            "XREADGROUP GROUP {GROUP} worker-2 COUNT {} STREAMS {stream} >",
            params.entries
        ),
        id_range(&w2_ids),
    );
    row(
        "worker-2",
        format!("XACK {stream} {GROUP} <{} ids>", w2_ids.len()),
        format!("(integer) {w2_acked}"),
    );
    ctx.ticker.tick(1);

    let (count, consumers) = pending(conn, stream).await?;
    o.pending_after_crash = count;
    o.worker1_pending = consumers
        .iter()
        .find(|(name, _)| name == "worker-1")
        .map_or(0, |(_, n)| *n);
    row(
        "operator",
        format!("XPENDING {stream} {GROUP}"),
        format!("{count} pending ({})", per_consumer(&consumers)),
    );
    ctx.ticker.tick(1);

    // worker-2 takes over whatever has been pending at least MIN_IDLE_MS.
    ctx.ticker.message("worker-2 claims worker-1's entries");
    let mut cursor = "0-0".to_string();
    let mut claimed = Vec::new();
    for _ in 0..MAX_CLAIM_ROUNDS {
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(stream)
            .arg(GROUP)
            .arg("worker-2")
            .arg(MIN_IDLE_MS)
            .arg(&cursor)
            .arg("COUNT")
            .arg(params.entries)
            .query_async(&mut c2)
            .await
            .context("XAUTOCLAIM")?;
        claimed.extend(reply.claimed.into_iter().map(|e| e.id));
        cursor = reply.next_stream_id;
        if cursor == "0-0" {
            break;
        }
    }
    o.claimed = claimed.len();
    row(
        "worker-2",
        format!(
            "XAUTOCLAIM {stream} {GROUP} worker-2 {MIN_IDLE_MS} 0-0 COUNT {}",
            params.entries
        ),
        format!("claimed {}", id_range(&claimed)),
    );
    let claimed_acked = ack(&mut c2, stream, &claimed).await?;
    o.acked_total += claimed_acked;
    row(
        "worker-2",
        format!("XACK {stream} {GROUP} <{} ids>", claimed.len()),
        format!("(integer) {claimed_acked}"),
    );
    ctx.ticker.tick(1);

    let (count, consumers) = pending(conn, stream).await?;
    o.pending_final = count;
    row(
        "operator",
        format!("XPENDING {stream} {GROUP}"),
        format!("{count} pending ({})", per_consumer(&consumers)),
    );

    // A reader that shows up late, with no group at all.
    let mut late = ctx.server.connection().await?;
    let all: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(&mut late)
        .await
        .context("XRANGE")?;
    o.late_reader_saw = all.ids.len();
    o.length = redis::cmd("XLEN")
        .arg(stream)
        .query_async(&mut late)
        .await
        .context("XLEN")?;
    row(
        "late reader",
        format!("XRANGE {stream} - +"),
        format!("{} entries", all.ids.len()),
    );
    ctx.ticker.tick(1);
    o.rows = rows;
    Ok(o)
}

fn report(params: &Params, stream: &str, o: Outcome) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec!["who".into(), "command".into(), "reply".into()],
        rows: o.rows.clone(),
        ..Default::default()
    };
    let m = &mut report.metrics;
    m.insert("entries".into(), params.entries as f64);
    m.insert("worker1_read".into(), o.worker1_read as f64);
    m.insert("worker2_read".into(), o.worker2_read as f64);
    m.insert("pending_after_crash".into(), o.pending_after_crash as f64);
    m.insert("worker1_pending".into(), o.worker1_pending as f64);
    m.insert("claimed".into(), o.claimed as f64);
    m.insert("acked_total".into(), o.acked_total as f64);
    m.insert("pending_final".into(), o.pending_final as f64);
    m.insert("late_reader_saw".into(), o.late_reader_saw as f64);
    m.insert("stream_length".into(), o.length as f64);

    let notes = &mut report.notes;
    notes.push(format!(
        "worker-1 read {} entries and crashed before XACK; worker-2 read the other {} (`>` only hands out entries never delivered to the group).",
        o.worker1_read, o.worker2_read
    ));
    notes.push(format!(
        "XPENDING still listed {} entries after the crash ({} of them worker-1's): a read is not a delivery until it is acknowledged.",
        o.pending_after_crash, o.worker1_pending
    ));
    notes.push(format!(
        "XAUTOCLAIM with min-idle-time {MIN_IDLE_MS} gave {} entries to worker-2; in production pass something like 60000 so a slow but living consumer keeps its work.",
        o.claimed
    ));
    if o.acked_total == params.entries as u64 && o.pending_final == 0 {
        notes.push(format!(
            "All {} entries were acknowledged exactly once and nothing is pending: at-least-once delivery, even through a crash.",
            o.acked_total
        ));
    } else {
        notes.push(format!(
            "{} of {} entries acknowledged, {} still pending.",
            o.acked_total, params.entries, o.pending_final
        ));
    }
    notes.push(format!(
        "A late reader with XRANGE saw {} entries: a stream keeps history (up to MAXLEN), where Pub/Sub drops what nobody was listening for.",
        o.late_reader_saw
    ));
    notes.push(format!(
        "{stream} is kept for you to inspect (XINFO GROUPS {stream}); it expires in {} minutes.",
        KEEP_SECONDS / 60
    ));
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_checked() {
        let p = |entries, crash_after| Params {
            entries,
            crash_after,
        };
        assert!(validate(&p(6, 3)).is_ok());
        assert!(validate(&p(6, 6)).is_ok());
        assert!(validate(&p(0, 3)).is_err());
        assert!(validate(&p(6, 0)).is_err());
        assert!(validate(&p(6, 7)).is_err());
        assert!(validate(&p(1001, 3)).is_err());
        let parsed: Params = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!((parsed.entries, parsed.crash_after), (6, 3));
        assert!(serde_json::from_value::<Params>(serde_json::json!({"block": 1})).is_err());
    }

    #[test]
    fn id_ranges_are_short() {
        let ids: Vec<String> = (1..=4).map(|i| format!("{i}-0")).collect();
        assert_eq!(id_range(&ids[..0]), "(none)");
        assert_eq!(id_range(&ids[..1]), "1-0");
        assert_eq!(id_range(&ids[..2]), "1-0, 2-0");
        assert_eq!(id_range(&ids), "1-0 … 4-0 (4 entries)");
    }
}
