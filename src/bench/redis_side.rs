//! The Redis side: the async client's multiplexed connection (its fewest layers), commands
//! packed once before measuring, every key under `<namespace>:bench:`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::redis::conn::Conn;
use anyhow::{Context, Result};
use redis::{Cmd, Pipeline, RedisError};

use super::data::{self, PLAYERS, PRODUCTS, SESSIONS};
use super::durable;
use super::spec::{BATCH, RowId};
use super::{Ctx, Plan};
use crate::measure::run_together;
use crate::measure::sampler::{ClientRun, Sampler};
use crate::measure::stats::{Recorder, Stats};
use crate::redis::connect::{Server, command_error};

/// What the benchmark needs of a server, owned, so it can move to the benchmark's own thread.
#[derive(Clone)]
pub struct Target {
    pub client: redis::Client,
    /// Opens connections of the server's kind (a cluster's, on a cluster).
    pub opener: crate::redis::cluster::Opener,
    pub display: String,
    pub product: String,
    pub version: String,
    pub version_tuple: (u32, u32, u32),
    pub managed: bool,
}

impl Target {
    pub fn of(server: &Server) -> Target {
        Target {
            client: server.client.clone(),
            opener: server.opener(),
            display: server.display.clone(),
            product: server.product.clone(),
            version: server.version.clone(),
            version_tuple: server.version_tuple(),
            managed: server.is_managed(),
        }
    }

    /// A new connection on the current runtime, with a 10 s response timeout (the client's
    /// 500 ms default would fail an fsync-bound command under load).
    pub async fn connection(&self) -> Result<Conn> {
        self.opener.open(Some(Duration::from_secs(10))).await
    }
}

pub struct RedisBench {
    conn: Conn,
    display: String,
    prefix: String,
    gets: Vec<Cmd>,
    mgets: Vec<Cmd>,
    incr: Cmd,
    sets: Vec<Cmd>,
    pipe: Pipeline,
    top10: Cmd,
    ranks: Vec<Cmd>,
    sessions: Vec<Cmd>,
    concurrent_key: String,
    /// Every command the benchmark sends passes it first, as a lesson's would.
    gate: crate::runner::gate::Gate,
}

/// `<namespace>:bench:`
pub fn prefix(namespace: &str) -> String {
    format!("{namespace}:bench:")
}

impl RedisBench {
    /// Opens a connection (10 s response timeout, not the client's 500 ms default) and builds
    /// every command the rows send.
    pub async fn new(server: &Target, namespace: &str) -> Result<RedisBench> {
        let conn = server.connection().await?;
        let p = prefix(namespace);
        let k = |s: &str| format!("{p}{s}");
        let gets = (0..PRODUCTS)
            .map(|i| {
                let mut c = redis::cmd("GET");
                c.arg(k(&data::product_key(i)));
                c
            })
            .collect();
        let mgets = (0..PRODUCTS / BATCH)
            .map(|w| {
                let mut c = redis::cmd("MGET");
                for i in w * BATCH..(w + 1) * BATCH {
                    c.arg(k(&data::product_key(i)));
                }
                c
            })
            .collect();
        let mut incr = redis::cmd("INCR");
        incr.arg(k("counter"));
        let sets: Vec<Cmd> = (0..BATCH)
            .map(|i| {
                let mut c = redis::cmd("SET");
                c.arg(k(&format!("write:{i}"))).arg(data::product_key(i));
                c
            })
            .collect();
        let mut pipe = redis::pipe();
        for c in &sets {
            pipe.add_command(c.clone());
        }
        // ZRANGE … REV arrived in 6.2; older servers only have ZREVRANGE.
        let top10 = if server.version_tuple >= (6, 2, 0) {
            let mut c = redis::cmd("ZRANGE");
            c.arg(k("ranking"))
                .arg(0)
                .arg(9)
                .arg("REV")
                .arg("WITHSCORES");
            c
        } else {
            let mut c = redis::cmd("ZREVRANGE");
            c.arg(k("ranking")).arg(0).arg(9).arg("WITHSCORES");
            c
        };
        let ranks = (0..data::RANK_PROBES)
            .map(|i| {
                let mut c = redis::cmd("ZREVRANK");
                c.arg(k("ranking"))
                    .arg(data::player_member(data::rank_probe(i)));
                c
            })
            .collect();
        let sessions = (0..SESSIONS)
            .map(|i| {
                let mut c = redis::cmd("HGETALL");
                c.arg(k(&data::session_key(i)));
                c
            })
            .collect();
        let gate = crate::runner::gate::Gate::new(conn.clone(), namespace, server.managed);
        let bench = RedisBench {
            gate,
            conn,
            display: server.display.clone(),
            concurrent_key: k("concurrent"),
            prefix: p,
            gets,
            mgets,
            incr,
            sets,
            pipe,
            top10,
            ranks,
            sessions,
        };
        // The timed loops repeat these commands: the gate sees each once, before any clock.
        let templates = bench.gets.iter().chain(&bench.mgets).chain(&bench.sets);
        let more = [&bench.incr, &bench.top10].into_iter();
        bench
            .gate
            .admit_cmds(
                templates
                    .chain(more)
                    .chain(&bench.ranks)
                    .chain(&bench.sessions),
            )
            .await?;
        Ok(bench)
    }

    /// The gate's check of a command the suite sends itself (its settings, its waits).
    pub async fn admit(&self, args: &[&str]) -> Result<()> {
        let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.gate.admit_own(&args).await
    }

    fn err(&self, e: RedisError) -> anyhow::Error {
        command_error(e, &self.display)
    }

    /// Writes the same data the SQLite databases hold.
    pub async fn seed(&mut self) -> Result<()> {
        let p = self.prefix.clone();
        let mut pipe = redis::pipe();
        for i in 0..PRODUCTS {
            pipe.cmd("SET")
                .arg(format!("{p}{}", data::product_key(i)))
                .arg(data::product_value(i))
                .ignore();
        }
        for i in 0..SESSIONS {
            let s = data::session(i);
            pipe.cmd("HSET")
                .arg(format!("{p}{}", data::session_key(i)))
                .arg("user_id")
                .arg(s.user_id)
                .arg("name")
                .arg(s.name)
                .arg("email")
                .arg(s.email)
                .arg("created")
                .arg(s.created)
                .arg("last_seen")
                .arg(s.last_seen)
                .arg("cart")
                .arg(s.cart)
                .ignore();
        }
        for chunk in (1..=PLAYERS).collect::<Vec<_>>().chunks(1000) {
            let mut c = redis::cmd("ZADD");
            c.arg(format!("{p}ranking"));
            for &id in chunk {
                c.arg(data::score(id)).arg(data::player_member(id));
            }
            pipe.add_command(c).ignore();
        }
        pipe.cmd("SET").arg(format!("{p}counter")).arg(0).ignore();
        pipe.cmd("SET").arg(&self.concurrent_key).arg(0).ignore();
        self.gate.admit_cmds(pipe.cmd_iter()).await?;
        let r: Result<(), RedisError> = pipe.query_async(&mut self.conn).await;
        r.map_err(|e| self.err(e))
            .context("could not write the benchmark data to Redis")
    }

    async fn once(&mut self, row: RowId, i: u64) -> Result<(), RedisError> {
        let i = i as usize;
        let conn = &mut self.conn;
        match row {
            RowId::SingleRead => {
                let v: Option<String> = self.gets[i % PRODUCTS].query_async(conn).await?;
                black_box(v);
            }
            RowId::BatchLoop => {
                for j in 0..BATCH {
                    let v: Option<String> = self.gets[(i * BATCH + j) % PRODUCTS]
                        .query_async(conn)
                        .await?;
                    black_box(v);
                }
            }
            RowId::BatchMulti => {
                let v: Vec<Option<String>> =
                    self.mgets[i % self.mgets.len()].query_async(conn).await?;
                black_box(v);
            }
            RowId::CounterIncr => {
                let n: i64 = self.incr.query_async(conn).await?;
                black_box(n);
            }
            RowId::PipelineOneByOne => {
                for c in &self.sets {
                    let () = c.query_async(conn).await?;
                }
            }
            RowId::PipelineBatched => {
                let () = self.pipe.query_async(conn).await?;
            }
            RowId::Top10NoIndex | RowId::Top10Index => {
                let v: Vec<(String, i64)> = self.top10.query_async(conn).await?;
                black_box(v);
            }
            RowId::RankNoIndex | RowId::RankIndex => {
                let r: Option<i64> = self.ranks[i % self.ranks.len()].query_async(conn).await?;
                black_box(r);
            }
            RowId::Session => {
                let h: HashMap<String, String> =
                    self.sessions[i % SESSIONS].query_async(conn).await?;
                black_box(h);
            }
            RowId::ConcurrentIncr => {}
        }
        Ok(())
    }

    /// Measures one sequential row.
    pub async fn measure(&mut self, row: RowId, plan: &Plan, ctx: &Ctx) -> Result<Stats> {
        let rec = Recorder::new(row.ops_per_sample(), row.divide_by())?;
        let mut s = Sampler::new(plan.clone(), rec, &*ctx.cell);
        while let Some(i) = s.warm_up() {
            ctx.check()?;
            self.once(row, i).await.map_err(|e| self.err(e))?;
        }
        while let Some(i) = s.sample() {
            ctx.check()?;
            let t = Instant::now();
            self.once(row, i).await.map_err(|e| self.err(e))?;
            s.record(t);
        }
        Ok(s.into_recorder().summary())
    }

    async fn get_counter(&mut self) -> Result<i64> {
        let mut get = redis::cmd("GET");
        get.arg(&self.concurrent_key);
        self.gate.admit_cmds([&get]).await?;
        let r: Result<Option<i64>, RedisError> = get.query_async(&mut self.conn).await;
        Ok(r.map_err(|e| self.err(e))?.unwrap_or(0))
    }

    /// `clients` connections INCR one key at once; returns the figures and a check.
    pub async fn concurrent(
        &mut self,
        server: &Target,
        clients: usize,
        plan: &Plan,
        ctx: &Ctx,
    ) -> Result<(Stats, String)> {
        let clients = clients.max(1);
        let before = self.get_counter().await?;
        let share = Plan {
            samples: plan.samples.div_ceil(clients as u64).max(1),
            warmup: (plan.warmup / clients as u64).max(2),
            budget: plan.budget,
        };
        // Every client is connected and warm before any is timed.
        let barrier = &tokio::sync::Barrier::new(clients);
        let mut incr = redis::cmd("INCR");
        incr.arg(&self.concurrent_key);
        self.gate.admit_cmds([&incr]).await?;
        let (incr, share, display) = (&incr, &share, self.display.as_str());
        let failed = move |e| command_error(e, display);
        let runs = run_together(clients, |_| async move {
            let mut conn = server.connection().await?;
            let mut s = Sampler::new(share.clone(), Recorder::new(1, 1)?, &*ctx.cell);
            while s.warm_up().is_some() {
                ctx.check()?;
                incr.query_async::<i64>(&mut conn).await.map_err(failed)?;
            }
            barrier.wait().await;
            let start = Instant::now();
            while s.sample().is_some() {
                ctx.check()?;
                let t = Instant::now();
                incr.query_async::<i64>(&mut conn).await.map_err(failed)?;
                s.record(t);
            }
            Ok(ClientRun::done(s, start))
        })
        .await?;
        let (total, made, wall) = ClientRun::merge(runs, Recorder::new(1, 1)?);
        let after = self.get_counter().await?;
        let landed = after - before;
        let note = if landed == made as i64 {
            format!("all {made} increments landed")
        } else {
            format!("LOST UPDATES: {made} increments sent, {landed} landed")
        };
        Ok((total.summary_wall(wall), note))
    }

    /// The persistence settings the server runs with, for the column header.
    pub async fn persistence(&mut self) -> Option<(String, String)> {
        self.admit(&["CONFIG", "GET", "appendonly"]).await.ok()?;
        self.admit(&["CONFIG", "GET", "appendfsync"]).await.ok()?;
        let a = config_get(&mut self.conn, "appendonly").await.ok()?;
        let f = config_get(&mut self.conn, "appendfsync").await.ok()?;
        Some((a, f))
    }

    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    pub fn display(&self) -> &str {
        &self.display
    }
}

pub async fn config_get(conn: &mut Conn, name: &str) -> Result<String> {
    durable::config_get(conn, name)
        .await
        .with_context(|| format!("CONFIG GET {name} failed"))?
        .with_context(|| format!("CONFIG GET {name} returned nothing"))
}

pub async fn config_set(conn: &mut Conn, display: &str, name: &str, value: &str) -> Result<()> {
    durable::config_set(conn, name, value)
        .await
        .map_err(|e| command_error(e, display))
        .with_context(|| format!("CONFIG SET {name} {value} failed"))
}

/// Waits until no AOF rewrite is running or scheduled (turning appendonly on starts one).
pub async fn wait_for_aof(conn: &mut Conn, display: &str, ctx: &Ctx) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        ctx.check()?;
        let info: String = redis::cmd("INFO")
            .arg("persistence")
            .query_async(conn)
            .await
            .map_err(|e| command_error(e, display))?;
        let busy = info.lines().any(|l| {
            matches!(
                l.trim(),
                "aof_rewrite_in_progress:1" | "aof_rewrite_scheduled:1" | "loading:1"
            )
        });
        if !busy {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the AOF rewrite on {display} did not finish within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
