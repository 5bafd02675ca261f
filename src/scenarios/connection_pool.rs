//! Scenario `connection-pool`: opening a connection for every request costs a TCP handshake
//! (and the client's own hello) each time, which a pool of open connections pays once; and a
//! pool smaller than the work that holds its connections makes requests queue for one.
//!
//! It runs on a private server (see `private`): it opens thousands of connections and reads
//! the server's connection counters and `CLIENT LIST`, which on a shared server would count
//! everyone else's clients too. The timed command is admitted by the fence once, before the
//! clock starts; every other command passes it as it is sent.
//!
//! The queueing is forced by construction, not by load: `workers` tasks start together at a
//! barrier and each holds its connection for `hold_ms` (the application's own work between
//! reading and writing, as in WATCH ... EXEC); with `pool` connections, at least
//! `workers - pool` of the first acquisitions must wait for a holder to finish, and with a pool
//! of `workers` connections none can.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures_util::future::join_all;
use redis::Value;
use serde::{Deserialize, Serialize};
use tokio::sync::{Barrier, Mutex, Semaphore};

use super::params::{Param, int};
use super::private::{Private, args};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::measure::human_us;
use crate::measure::stats::{Recorder, Stats};
use crate::redis::command::send;
use crate::redis::fence::Fenced;

pub struct ConnectionPool;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub requests: u64,
    pub pool: u64,
    pub workers: u64,
    pub rounds: u64,
    pub hold_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            requests: 1000,
            pool: 2,
            workers: 16,
            rounds: 5,
            hold_ms: 20,
        }
    }
}

impl Scenario for ConnectionPool {
    const NAME: &'static str = "connection-pool";
    const SUMMARY: &'static str = "a connection per request against a pool: latency and connections per second, CLIENT LIST counted; a pool too small for its workers makes requests wait";
    const PARAMS: &'static [Param] = &[
        int(
            "requests",
            10,
            20_000,
            "GETs sent one after another, once with a new connection each and once over the pool",
        ),
        int(
            "pool",
            1,
            64,
            "connections in the small pool (fewer than `workers`)",
        ),
        int(
            "workers",
            2,
            200,
            "concurrent workers sharing a pool, started together",
        ),
        int("rounds", 1, 100, "requests each worker makes"),
        int(
            "hold_ms",
            1,
            1000,
            "how long a worker keeps its connection for each request (its own work between commands), in milliseconds",
        ),
    ];
    const TIMED: bool = true;
    type Params = Params;

    fn check(p: &Params) -> Result<()> {
        if p.pool >= p.workers {
            bail!(
                "connection-pool: `pool` ({}) must be smaller than `workers` ({}), or nobody waits",
                p.pool,
                p.workers
            );
        }
        if p.workers * p.rounds * p.hold_ms / p.pool > 120_000 {
            bail!(
                "connection-pool: workers × rounds × hold_ms / pool must be at most 120000 ms, the longest the small pool may take"
            );
        }
        Ok(())
    }

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
        let key = ctx.key("pool:product:1");
        s.send(&args(&[b"SET", key.as_bytes(), b"{\"id\":1}"]))
            .await?;
        let get = args(&[b"GET", key.as_bytes()]);
        s.conn.fence().admit_own(&get).await?;
        ctx.ticker.start(
            2 * p.requests + 2 * p.workers * p.rounds,
            "a new connection for every request",
        );
        let per_request = s.per_request(ctx, &get, p.requests).await?;
        ctx.ticker
            .message("the same requests over one open connection");
        let pooled = s.pooled(ctx, &get, p.requests).await?;
        ctx.ticker.message(&format!(
            "{} workers sharing {} connections",
            p.workers, p.pool
        ));
        let small = s.shared(ctx, &get, &p, p.pool).await?;
        ctx.ticker.message(&format!(
            "{} workers sharing {} connections",
            p.workers, p.workers
        ));
        let big = s.shared(ctx, &get, &p, p.workers).await?;
        let program = s.program.clone();
        drop(s);
        Ok(report(&p, &per_request, &pooled, &small, &big, &program))
    }
}

/// One way of sending `requests` GETs one after another.
#[derive(Debug, Clone)]
struct Serial {
    latency: Stats,
    /// Connections the server accepted meanwhile (INFO stats `total_connections_received`).
    opened: u64,
    /// The server's own count of connections per second, over the wall time.
    opened_per_s: f64,
    /// Lines of CLIENT LIST halfway through, this step's own connection included.
    clients_listed: u64,
}

/// Workers sharing a pool.
#[derive(Debug, Clone)]
struct Shared {
    pool: u64,
    /// Time to get a connection from the pool.
    wait: Stats,
    /// Acquisitions that waited at least half of `hold_ms`.
    waited: u64,
    wall: Duration,
    clients_listed: u64,
}

impl Private {
    async fn per_request(
        &mut self,
        ctx: &ScenarioContext<'_>,
        get: &[Vec<u8>],
        requests: u64,
    ) -> Result<Serial> {
        let before = self.info("stats", "total_connections_received").await?;
        let mut rec = Recorder::new(1, 1)?;
        let mut clients_listed = 0;
        let began = Instant::now();
        for i in 0..requests {
            let t = Instant::now();
            let mut conn = self.connect().await?;
            reply_of(send(&mut conn, get).await?)?;
            rec.record(t.elapsed());
            if i == requests / 2 {
                clients_listed = self.clients_settled(2).await?;
            }
            drop(conn);
            ctx.ticker.tick(1);
        }
        let wall = began.elapsed();
        let opened = self.info("stats", "total_connections_received").await? - before;
        Ok(Serial {
            latency: rec.summary(),
            opened,
            opened_per_s: opened as f64 / wall.as_secs_f64().max(1e-9),
            clients_listed,
        })
    }

    async fn pooled(
        &mut self,
        ctx: &ScenarioContext<'_>,
        get: &[Vec<u8>],
        requests: u64,
    ) -> Result<Serial> {
        let before = self.info("stats", "total_connections_received").await?;
        let mut conn = self.connect().await?;
        let mut rec = Recorder::new(1, 1)?;
        let mut clients_listed = 0;
        let began = Instant::now();
        for i in 0..requests {
            let t = Instant::now();
            reply_of(send(&mut conn, get).await?)?;
            rec.record(t.elapsed());
            if i == requests / 2 {
                clients_listed = self.clients_settled(2).await?;
            }
            ctx.ticker.tick(1);
        }
        let wall = began.elapsed();
        let opened = self.info("stats", "total_connections_received").await? - before;
        Ok(Serial {
            latency: rec.summary(),
            opened,
            opened_per_s: opened as f64 / wall.as_secs_f64().max(1e-9),
            clients_listed,
        })
    }

    async fn shared(
        &mut self,
        ctx: &ScenarioContext<'_>,
        get: &[Vec<u8>],
        p: &Params,
        size: u64,
    ) -> Result<Shared> {
        let mut conns = Vec::new();
        for _ in 0..size {
            conns.push(self.connect().await?);
        }
        let clients_listed = self.clients_settled(size + 1).await?;
        let idle: Arc<Mutex<Vec<Fenced>>> = Arc::new(Mutex::new(conns));
        let permits = Arc::new(Semaphore::new(size as usize));
        let barrier = Arc::new(Barrier::new(p.workers as usize));
        let hold = Duration::from_millis(p.hold_ms);
        let began = Instant::now();
        let workers = (0..p.workers).map(|_| {
            let (idle, permits, barrier) = (idle.clone(), permits.clone(), barrier.clone());
            async move {
                let mut waits = Vec::new();
                barrier.wait().await;
                for _ in 0..p.rounds {
                    let t = Instant::now();
                    let permit = permits.acquire().await?;
                    waits.push(t.elapsed());
                    let mut conn = idle.lock().await.pop().ok_or_else(|| {
                        anyhow::anyhow!("the pool had a permit but no connection")
                    })?;
                    let sent = send(&mut conn, get).await;
                    // The application's own work while it keeps the connection.
                    tokio::time::sleep(hold).await;
                    idle.lock().await.push(conn);
                    drop(permit);
                    reply_of(sent?)?;
                    ctx.ticker.tick(1);
                }
                anyhow::Ok(waits)
            }
        });
        let mut rec = Recorder::new(1, 1)?;
        let mut waited = 0;
        for waits in join_all(workers).await {
            for w in waits? {
                rec.record(w);
                if w >= hold / 2 {
                    waited += 1;
                }
            }
        }
        Ok(Shared {
            pool: size,
            wait: rec.summary(),
            waited,
            wall: began.elapsed(),
            clients_listed,
        })
    }

    /// CLIENT LIST's count once the connections this step closed are gone from it (a closed
    /// connection leaves the list when the server reads its end, a moment later): asked
    /// again until it shows `expected`, for at most a few seconds, then whatever it shows.
    async fn clients_settled(&mut self, expected: u64) -> Result<u64> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let n = self.clients_listed().await?;
            if n == expected || Instant::now() > deadline {
                return Ok(n);
            }
            tokio::task::yield_now().await;
        }
    }

    /// How many clients CLIENT LIST shows (one line each).
    async fn clients_listed(&mut self) -> Result<u64> {
        match self.send(&args(&[b"CLIENT", b"LIST"])).await? {
            Value::BulkString(b) => Ok(String::from_utf8_lossy(&b).lines().count() as u64),
            Value::VerbatimString { text, .. } => Ok(text.lines().count() as u64),
            other => bail!("CLIENT LIST replied {other:?}"),
        }
    }
}

fn reply_of(v: Value) -> Result<()> {
    match v {
        Value::ServerError(e) => bail!("GET was refused: {}", e.code()),
        _ => Ok(()),
    }
}

fn report(
    p: &Params,
    per_request: &Serial,
    pooled: &Serial,
    small: &Shared,
    big: &Shared,
    program: &str,
) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "what was timed".into(),
            "p50".into(),
            "p99".into(),
            "opened".into(),
            "CLIENT LIST".into(),
        ],
        ..Default::default()
    };
    for (label, s) in [
        ("GET, new connection", per_request),
        ("GET, pooled", pooled),
    ] {
        report.rows.push(vec![
            label.to_string(),
            human_us(s.latency.p50_us),
            human_us(s.latency.p99_us),
            s.opened.to_string(),
            s.clients_listed.to_string(),
        ]);
    }
    for s in [small, big] {
        report.rows.push(vec![
            format!("wait, pool of {}", s.pool),
            human_us(s.wait.p50_us),
            human_us(s.wait.p99_us),
            s.pool.to_string(),
            s.clients_listed.to_string(),
        ]);
    }
    let m = &mut report.metrics;
    m.insert("requests".into(), p.requests as f64);
    m.insert("per_request_p50_us".into(), per_request.latency.p50_us);
    m.insert("pooled_p50_us".into(), pooled.latency.p50_us);
    m.insert(
        "per_request_vs_pooled".into(),
        per_request.latency.p50_us / pooled.latency.p50_us.max(1e-9),
    );
    m.insert("per_request_opened".into(), per_request.opened as f64);
    m.insert("pooled_opened".into(), pooled.opened as f64);
    m.insert("per_request_opened_per_s".into(), per_request.opened_per_s);
    m.insert(
        "per_request_clients".into(),
        per_request.clients_listed as f64,
    );
    m.insert("pooled_clients".into(), pooled.clients_listed as f64);
    m.insert("small_pool".into(), small.pool as f64);
    m.insert("small_pool_clients".into(), small.clients_listed as f64);
    m.insert("small_pool_waited".into(), small.waited as f64);
    m.insert("small_pool_wait_p99_us".into(), small.wait.p99_us);
    m.insert("small_pool_ms".into(), small.wall.as_secs_f64() * 1000.0);
    m.insert("big_pool_waited".into(), big.waited as f64);
    m.insert("big_pool_wait_p99_us".into(), big.wait.p99_us);
    m.insert("big_pool_ms".into(), big.wall.as_secs_f64() * 1000.0);
    m.insert("workers".into(), p.workers as f64);
    report.notes.push(format!(
        "This ran on a private {program} started for this step, never on your server; CLIENT LIST counts this step's own connection too."
    ));
    report.notes.push(format!(
        "{} GETs: a new connection for each took {} at the median against {} over an open one ({:.1}×), and made the server accept {:.0} connections a second.",
        p.requests,
        human_us(per_request.latency.p50_us),
        human_us(pooled.latency.p50_us),
        per_request.latency.p50_us / pooled.latency.p50_us.max(1e-9),
        per_request.opened_per_s
    ));
    report.notes.push(format!(
        "{} workers holding a connection {} ms per request: with a pool of {}, {} of {} requests waited for a connection and the run took {:.0} ms; with a pool of {}, {} waited and it took {:.0} ms.",
        p.workers,
        p.hold_ms,
        small.pool,
        small.waited,
        p.workers * p.rounds,
        small.wall.as_secs_f64() * 1000.0,
        big.pool,
        big.waited,
        big.wall.as_secs_f64() * 1000.0
    ));
    report
}
