//! Scenario `sentinel-failover`: a client that asks Sentinel where the master is keeps working
//! when the master dies; the failover's timeline is measured from the kill: when Sentinel
//! marked the master down, when it named the promoted replica, and the client's first write
//! that succeeded again.
//!
//! Three private servers (see `private`): a master, its replica (`--replicaof`) and one
//! Sentinel (`redis-server sentinel.conf --sentinel`, or valkey-server's) watching the master
//! with a quorum of one, all stopped with the step. Deterministic by construction: the step
//! waits until Sentinel lists the replica, then kills the master with SIGKILL, as a crash would;
//! from then on nothing decides the outcome but Sentinel itself (one Sentinel, one replica:
//! the only possible promotion). The client's loop and the timeline's watcher each ask the
//! servers on their own connections; every wait is bounded.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::private::{Private, args};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::fence::Fenced;

/// The name Sentinel knows the master by.
const MASTER_NAME: &str = "lesson-master";
/// How long the whole failover may take before the step gives up.
const FAILOVER_BOUND: Duration = Duration::from_secs(60);
/// How long one write may take before the client gives up on it.
const WRITE_TIMEOUT: Duration = Duration::from_millis(200);
/// The client's pace: one write every this often.
const TICK: Duration = Duration::from_millis(10);

pub struct SentinelFailover;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub down_after_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            down_after_ms: 1000,
        }
    }
}

impl Scenario for SentinelFailover {
    const NAME: &'static str = "sentinel-failover";
    const SUMMARY: &'static str = "a client that asks Sentinel for the master keeps writing across a failover; the timeline from the crash to the first write on the promoted replica";
    const PARAMS: &'static [Param] = &[int(
        "down_after_ms",
        100,
        30_000,
        "Sentinel's down-after-milliseconds: how long the master must stay silent to be marked down",
    )];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let mut master = match Private::start(ctx).await? {
            Ok(s) => s,
            Err(why) => {
                return Ok(ScenarioReport {
                    skipped: Some(why),
                    ..Default::default()
                });
            }
        };
        let mut replica = master.replica(ctx).await?;
        let mut sentinel = master.sentinel(ctx, MASTER_NAME, p.down_after_ms).await?;
        ctx.ticker
            .start(4, "waiting for Sentinel to find the replica");
        let found = play(ctx, &mut master, &mut replica, &mut sentinel).await?;
        let program = master.program.clone();
        drop(sentinel);
        drop(replica);
        drop(master);
        Ok(report(&p, &found, &program))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Found {
    old_port: u16,
    new_port: u16,
    writes_before: i64,
    /// Writes the client tried between the kill and the first one that succeeded.
    failed_writes: u64,
    /// From the kill: Sentinel's flags showed `s_down`, `o_down`, and it named another master.
    sdown: Option<Duration>,
    odown: Option<Duration>,
    promoted: Option<Duration>,
    first_write: Option<Duration>,
    /// The counter on the new master after the client's first write there.
    count_after: i64,
    /// `role:` of the promoted server, read after the failover.
    new_role: String,
}

async fn play(
    ctx: &ScenarioContext<'_>,
    master: &mut Private,
    replica: &mut Private,
    sentinel: &mut Private,
) -> Result<Found> {
    let key = ctx.key("{ha}:orders");
    until_replica_known(sentinel).await?;
    ctx.ticker.tick(1);

    // The client: asks Sentinel where the master is, then writes there.
    let old = master_addr(sentinel).await?;
    if old != master.server.port {
        bail!(
            "Sentinel named port {old} as the master, not {}",
            master.server.port
        );
    }
    let mut app = master.connect().await?;
    let mut writes_before = 0;
    for _ in 0..10 {
        writes_before = incr(master, &mut app, &key).await?;
    }
    // Everything the master wrote reached the replica before the crash.
    master.send(&args(&[b"WAIT", b"1", b"5000"])).await?;
    ctx.ticker.tick(1);

    ctx.ticker.message("the master crashes (SIGKILL)");
    let killed = Instant::now();
    master.server.kill();
    let mut watch_conn = sentinel.connect().await?;
    let mut app_sentinel = sentinel.connect().await?;
    let (watched, written) = tokio::join!(
        watch(sentinel, &mut watch_conn, killed, old),
        client(
            sentinel,
            &mut *replica,
            &mut app_sentinel,
            &key,
            killed,
            old
        )
    );
    let (sdown, odown, watched_promotion) = watched?;
    let (new_port, failed_writes, first_write, count_after, client_saw) = written?;
    // Whichever asked Sentinel first after it named the new master saw the promotion.
    let promoted = watched_promotion.map(|w| w.min(client_saw));
    replica.reconnect().await?;
    ctx.ticker.tick(2);
    Ok(Found {
        old_port: old,
        new_port,
        writes_before,
        failed_writes,
        sdown,
        odown,
        promoted,
        first_write: Some(first_write),
        count_after,
        new_role: replica.info_word("replication", "role").await?,
    })
}

/// Waits until Sentinel lists one replica whose link to the master is up.
async fn until_replica_known(sentinel: &mut Private) -> Result<()> {
    let deadline = Instant::now() + FAILOVER_BOUND;
    loop {
        let reply = sentinel
            .send(&args(&[b"SENTINEL", b"REPLICAS", MASTER_NAME.as_bytes()]))
            .await?;
        if let Value::Array(replicas) = &reply {
            let ok = replicas.iter().any(|r| {
                field(r, "master-link-status").as_deref() == Some("ok")
                    && field(r, "flags").as_deref() == Some("slave")
            });
            if ok {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("the private Sentinel never listed the replica as in sync");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads Sentinel's view from the kill on: when the master was marked down subjectively, then
/// objectively, and when Sentinel named another master.
async fn watch(
    sentinel: &Private,
    conn: &mut Fenced,
    killed: Instant,
    old: u16,
) -> Result<(Option<Duration>, Option<Duration>, Option<Duration>)> {
    let (mut sdown, mut odown) = (None, None);
    loop {
        let reply = sentinel
            .send_on(
                conn,
                &args(&[b"SENTINEL", b"MASTER", MASTER_NAME.as_bytes()]),
            )
            .await?;
        let flags = field(&reply, "flags").unwrap_or_default();
        if sdown.is_none() && flags.contains("s_down") {
            sdown = Some(killed.elapsed());
        }
        if odown.is_none() && flags.contains("o_down") {
            odown = Some(killed.elapsed());
        }
        let reply = sentinel
            .send_on(
                conn,
                &args(&[
                    b"SENTINEL",
                    b"GET-MASTER-ADDR-BY-NAME",
                    MASTER_NAME.as_bytes(),
                ]),
            )
            .await?;
        if port_of(&reply).is_some_and(|p| p != old) {
            return Ok((sdown, odown, Some(killed.elapsed())));
        }
        if killed.elapsed() > FAILOVER_BOUND {
            bail!(
                "the private Sentinel named no new master within {} s of the crash",
                FAILOVER_BOUND.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The application: writes every tick; after a failed write it asks Sentinel again where the
/// master is and reconnects there. Returns the port it ended on, the writes that failed, when
/// the first one succeeded again, and the counter then.
async fn client(
    sentinel: &Private,
    replica: &mut Private,
    ask: &mut Fenced,
    key: &str,
    killed: Instant,
    old: u16,
) -> Result<(u16, u64, Duration, i64, Duration)> {
    let mut failed = 0u64;
    let mut saw_new = None;
    loop {
        if killed.elapsed() > FAILOVER_BOUND {
            bail!(
                "the client wrote nothing for {} s after the crash",
                FAILOVER_BOUND.as_secs()
            );
        }
        let reply = sentinel
            .send_on(
                ask,
                &args(&[
                    b"SENTINEL",
                    b"GET-MASTER-ADDR-BY-NAME",
                    MASTER_NAME.as_bytes(),
                ]),
            )
            .await?;
        let port = port_of(&reply).unwrap_or(old);
        if port != old {
            saw_new.get_or_insert(killed.elapsed());
        }
        // The old master is dead: a write there fails (refused connection) as it would for a
        // real client; the step counts it and asks Sentinel again after a tick.
        if port == replica.server.port {
            // Sentinel closes the clients of the server it promotes (so that they ask again),
            // this step's own connection included: every try starts on new connections.
            let written = async {
                replica.reconnect().await?;
                let mut conn = replica.connect().await?;
                incr(replica, &mut conn, key).await
            };
            match tokio::time::timeout(WRITE_TIMEOUT, written).await {
                Ok(Ok(n)) => {
                    let at = killed.elapsed();
                    return Ok((port, failed, at, n, saw_new.unwrap_or(at)));
                }
                // READONLY while the promotion is still under way, or a timeout.
                _ => failed += 1,
            }
        } else if port == old {
            let refused = tokio::time::timeout(WRITE_TIMEOUT, tcp_write_fails(old)).await;
            if !matches!(refused, Ok(true) | Err(_)) {
                bail!("the crashed master still accepted a connection on port {old}");
            }
            failed += 1;
        } else {
            bail!("Sentinel named port {port}, which is neither the master nor its replica");
        }
        tokio::time::sleep(TICK).await;
    }
}

/// Where Sentinel says the master is (its port; every server here is on 127.0.0.1).
async fn master_addr(sentinel: &mut Private) -> Result<u16> {
    let reply = sentinel
        .send(&args(&[
            b"SENTINEL",
            b"GET-MASTER-ADDR-BY-NAME",
            MASTER_NAME.as_bytes(),
        ]))
        .await?;
    port_of(&reply)
        .ok_or_else(|| anyhow::anyhow!("Sentinel does not know {MASTER_NAME}: {reply:?}"))
}

/// A killed server's port refuses connections.
async fn tcp_write_fails(port: u16) -> bool {
    crate::redis::throwaway::refuses_connections(port).await
}

async fn incr(s: &Private, conn: &mut Fenced, key: &str) -> Result<i64> {
    match s.send_on(conn, &args(&[b"INCR", key.as_bytes()])).await? {
        Value::Int(n) => Ok(n),
        Value::ServerError(e) => bail!("INCR was refused: {}", e.code()),
        other => bail!("INCR replied {other:?}"),
    }
}

/// `[host, port]` → port.
fn port_of(reply: &Value) -> Option<u16> {
    match reply {
        Value::Array(v) => match v.get(1) {
            Some(Value::BulkString(b)) => String::from_utf8_lossy(b).parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

/// A field of Sentinel's flat `[name, value, name, value ...]` reply (or a RESP3 map).
fn field(reply: &Value, name: &str) -> Option<String> {
    let text = |v: &Value| match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    };
    match reply {
        Value::Array(items) => items
            .chunks(2)
            .find(|kv| text(&kv[0]).as_deref() == Some(name))
            .and_then(|kv| kv.get(1).and_then(text)),
        Value::Map(pairs) => pairs
            .iter()
            .find(|(k, _)| text(k).as_deref() == Some(name))
            .and_then(|(_, v)| text(v)),
        _ => None,
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{} ms", d.as_millis()))
}

fn report(p: &Params, f: &Found, program: &str) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "after the crash".into(),
            "at".into(),
            "what happened".into(),
        ],
        rows: vec![
            vec![
                "detected".into(),
                ms(f.sdown),
                "Sentinel marks the master down (s_down)".into(),
            ],
            vec![
                "agreed".into(),
                ms(f.odown),
                "quorum of 1 reached (o_down)".into(),
            ],
            vec![
                "promoted".into(),
                ms(f.promoted),
                format!("Sentinel names port {} as master", f.new_port),
            ],
            vec![
                "first write".into(),
                ms(f.first_write),
                format!("INCR → {} on the new master", f.count_after),
            ],
        ],
        ..Default::default()
    };
    let secs = |d: Option<Duration>| d.map_or(-1.0, |d| d.as_secs_f64() * 1000.0);
    let m = &mut report.metrics;
    m.insert("down_after_ms".into(), p.down_after_ms as f64);
    m.insert("detected_ms".into(), secs(f.sdown));
    m.insert("agreed_ms".into(), secs(f.odown));
    m.insert("promoted_ms".into(), secs(f.promoted));
    m.insert("first_write_ms".into(), secs(f.first_write));
    m.insert("writes_before".into(), f.writes_before as f64);
    m.insert("count_after".into(), f.count_after as f64);
    m.insert("failed_writes".into(), f.failed_writes as f64);
    m.insert(
        "moved".into(),
        f64::from(u8::from(f.new_port != f.old_port)),
    );
    m.insert(
        "promoted_is_master".into(),
        f64::from(u8::from(f.new_role == "master")),
    );
    report.notes.push(format!(
        "This ran on three private {program}s started for this step (a master, a replica started with --replicaof, and {program} --sentinel with down-after-milliseconds {}), never on your server.",
        p.down_after_ms
    ));
    report.notes.push(format!(
        "The client wrote {} times, then the master was killed. It asked Sentinel after each failed write; {} writes failed before the first on the promoted replica, {} after the crash, which counted {}: no acknowledged write was lost.",
        f.writes_before,
        f.failed_writes,
        ms(f.first_write),
        f.count_after
    ));
    report
}
