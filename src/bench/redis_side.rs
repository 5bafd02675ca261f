//! The Redis side: the async client's multiplexed connection (its fewest layers), commands
//! packed once before measuring, every key under `<namespace>:bench:`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::redis::fence::{Admitted, AdmittedPipeline, Fenced};
use anyhow::{Context, Result};
use redis::{Cmd, RedisError};

use super::data::{self, PLAYERS, PRODUCTS, SESSIONS};
use super::spec::{BATCH, RowId};
use super::{Ctx, Plan};
use crate::measure::run_together;
use crate::measure::sampler::{ClientRun, Sampler};
use crate::measure::stats::{Recorder, Stats};
use crate::redis::aof_restore as durable;
use crate::redis::connect::{Server, command_error};

/// What the benchmark needs of a server, owned, so it can move to the benchmark's own thread.
#[derive(Clone)]
pub struct Target {
    /// Opens fenced connections of the server's kind (a cluster's, on a cluster).
    pub opener: crate::redis::connect::FencedOpener,
    pub display: String,
    pub product: String,
    pub version: String,
    pub version_tuple: (u32, u32, u32),
    pub managed: bool,
}

impl Target {
    pub fn of(server: &Server) -> Target {
        Target {
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
    pub async fn connection(&self) -> Result<Fenced> {
        self.opener.open(Some(Duration::from_secs(10))).await
    }
}

pub struct RedisBench {
    conn: Fenced,
    display: String,
    prefix: String,
    // The timed loops repeat these commands: the fence saw each once, before any clock.
    gets: Vec<Admitted>,
    mgets: Vec<Admitted>,
    incr: Admitted,
    sets: Vec<Admitted>,
    pipe: AdmittedPipeline,
    top10: Admitted,
    ranks: Vec<Admitted>,
    sessions: Vec<Admitted>,
    concurrent_key: String,
}

/// Each command, admitted by the fence once.
async fn admit_all(conn: &Fenced, cmds: Vec<Cmd>) -> Result<Vec<Admitted>> {
    let mut out = Vec::with_capacity(cmds.len());
    for c in cmds {
        out.push(conn.admitted(c).await?);
    }
    Ok(out)
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
        let gets: Vec<Cmd> = (0..PRODUCTS)
            .map(|i| {
                let mut c = redis::cmd("GET");
                c.arg(k(&data::product_key(i)));
                c
            })
            .collect();
        let mgets: Vec<Cmd> = (0..PRODUCTS / BATCH)
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
        let ranks: Vec<Cmd> = (0..data::RANK_PROBES)
            .map(|i| {
                let mut c = redis::cmd("ZREVRANK");
                c.arg(k("ranking"))
                    .arg(data::player_member(data::rank_probe(i)));
                c
            })
            .collect();
        let sessions: Vec<Cmd> = (0..SESSIONS)
            .map(|i| {
                let mut c = redis::cmd("HGETALL");
                c.arg(k(&data::session_key(i)));
                c
            })
            .collect();
        Ok(RedisBench {
            display: server.display.clone(),
            concurrent_key: k("concurrent"),
            prefix: p,
            gets: admit_all(&conn, gets).await?,
            mgets: admit_all(&conn, mgets).await?,
            incr: conn.admitted(incr).await?,
            sets: admit_all(&conn, sets).await?,
            pipe: conn.admitted_pipeline(pipe).await?,
            top10: conn.admitted(top10).await?,
            ranks: admit_all(&conn, ranks).await?,
            sessions: admit_all(&conn, sessions).await?,
            conn,
        })
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
        let r: Result<(), RedisError> = pipe.query_async(&mut self.conn).await;
        r.map_err(|e| self.err(e))
            .context("could not write the benchmark data to Redis")
    }

    async fn once(&mut self, row: RowId, i: u64) -> Result<(), RedisError> {
        let i = i as usize;
        let conn = &mut self.conn;
        match row {
            RowId::SingleRead => {
                let v: Option<String> = conn.query(&self.gets[i % PRODUCTS]).await?;
                black_box(v);
            }
            RowId::BatchLoop => {
                for j in 0..BATCH {
                    let v: Option<String> =
                        conn.query(&self.gets[(i * BATCH + j) % PRODUCTS]).await?;
                    black_box(v);
                }
            }
            RowId::BatchMulti => {
                let v: Vec<Option<String>> = conn.query(&self.mgets[i % self.mgets.len()]).await?;
                black_box(v);
            }
            RowId::CounterIncr => {
                let n: i64 = conn.query(&self.incr).await?;
                black_box(n);
            }
            RowId::PipelineOneByOne => {
                for c in &self.sets {
                    let () = conn.query(c).await?;
                }
            }
            RowId::PipelineBatched => {
                let () = conn.query_pipeline(&self.pipe).await?;
            }
            RowId::Top10NoIndex | RowId::Top10Index => {
                let v: Vec<(String, i64)> = conn.query(&self.top10).await?;
                black_box(v);
            }
            RowId::RankNoIndex | RowId::RankIndex => {
                let r: Option<i64> = conn.query(&self.ranks[i % self.ranks.len()]).await?;
                black_box(r);
            }
            RowId::Session => {
                let h: HashMap<String, String> = conn.query(&self.sessions[i % SESSIONS]).await?;
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
        let incr = self.conn.admitted(incr).await?;
        let (incr, share, display) = (&incr, &share, self.display.as_str());
        let failed = move |e| command_error(e, display);
        let runs = run_together(clients, |_| async move {
            let mut conn = server.connection().await?;
            let mut s = Sampler::new(share.clone(), Recorder::new(1, 1)?, &*ctx.cell);
            while s.warm_up().is_some() {
                ctx.check()?;
                conn.query::<i64>(incr).await.map_err(failed)?;
            }
            barrier.wait().await;
            let start = Instant::now();
            while s.sample().is_some() {
                ctx.check()?;
                let t = Instant::now();
                conn.query::<i64>(incr).await.map_err(failed)?;
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
        let a = config_get(&mut self.conn, "appendonly").await.ok()?;
        let f = config_get(&mut self.conn, "appendfsync").await.ok()?;
        Some((a, f))
    }

    pub fn conn(&mut self) -> &mut Fenced {
        &mut self.conn
    }

    pub fn display(&self) -> &str {
        &self.display
    }
}

pub async fn config_get(conn: &mut Fenced, name: &str) -> Result<String> {
    durable::config_get(conn, name)
        .await
        .with_context(|| format!("CONFIG GET {name} failed"))?
        .with_context(|| format!("CONFIG GET {name} returned nothing"))
}

pub async fn config_set(conn: &mut Fenced, display: &str, name: &str, value: &str) -> Result<()> {
    durable::config_set(conn, name, value)
        .await
        .map_err(|e| command_error(e, display))
        .with_context(|| format!("CONFIG SET {name} {value} failed"))
}

/// Waits until no AOF rewrite is running or scheduled (turning appendonly on starts one).
pub async fn wait_for_aof(conn: &mut Fenced, display: &str, ctx: &Ctx) -> Result<()> {
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
