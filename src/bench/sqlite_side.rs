//! The SQLite side: rusqlite in process, prepared and cached statements, three ways of opening
//! the database. Runs on blocking threads; the caller moves the database in and gets it back.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rusqlite::{Connection, params, params_from_iter};

use super::data::{self, PLAYERS, PRODUCTS, SESSIONS};
use super::spec::{BATCH, RowId, SqliteMode};
use super::{Ctx, Plan};
use crate::measure::run_threads_together;
use crate::measure::sampler::{ClientRun, Sampler};
use crate::measure::stats::{Recorder, Stats};

/// How long a connection waits for another's write lock before SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteDb {
    pub mode: SqliteMode,
    conn: Mutex<Connection>,
    path: Option<PathBuf>,
    keys: Vec<String>,
    sessions: Vec<String>,
    batch_sql: String,
}

fn configure(conn: &Connection, mode: SqliteMode) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(64);
    match mode {
        SqliteMode::Memory => {}
        SqliteMode::Wal => {
            let m: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            anyhow::ensure!(
                m.eq_ignore_ascii_case("wal"),
                "SQLite refused WAL mode ({m})"
            );
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        SqliteMode::Journal => {
            let _: String = conn.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get(0))?;
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
    }
    Ok(())
}

impl SqliteDb {
    /// Opens (in `dir` for the file modes) and fills the database.
    pub fn open(mode: SqliteMode, dir: &Path) -> Result<SqliteDb> {
        let (conn, path) = match mode {
            SqliteMode::Memory => (Connection::open_in_memory()?, None),
            _ => {
                let path = dir.join(format!("bench-{}.db", mode.id()));
                (Connection::open(&path)?, Some(path))
            }
        };
        configure(&conn, mode)?;
        let conn = Mutex::new(conn);
        let placeholders = vec!["?"; BATCH].join(",");
        let db = SqliteDb {
            mode,
            conn,
            path,
            keys: (0..PRODUCTS).map(data::product_key).collect(),
            sessions: (0..SESSIONS).map(data::session_key).collect(),
            batch_sql: format!("SELECT k, v FROM kv WHERE k IN ({placeholders})"),
        };
        db.seed()
            .with_context(|| format!("could not fill the SQLite {} database", mode.id()))?;
        Ok(db)
    }

    fn seed(&self) -> Result<()> {
        let c = &*self.lock()?;
        c.execute_batch(
            "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE writes (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
             CREATE TABLE players (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER NOT NULL);
             CREATE TABLE players_ix (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score INTEGER NOT NULL);
             CREATE INDEX players_ix_score ON players_ix(score);
             CREATE TABLE sessions (id TEXT PRIMARY KEY, user_id INTEGER NOT NULL, name TEXT NOT NULL,
                 email TEXT NOT NULL, created INTEGER NOT NULL, last_seen INTEGER NOT NULL, cart TEXT NOT NULL);
             INSERT INTO counters VALUES ('hits', 0), ('concurrent', 0);",
        )?;
        c.execute_batch("BEGIN")?;
        {
            let mut st = c.prepare("INSERT INTO kv VALUES (?1, ?2)")?;
            for i in 0..PRODUCTS {
                st.execute(params![data::product_key(i), data::product_value(i)])?;
            }
            for table in ["players", "players_ix"] {
                let mut st = c.prepare(&format!("INSERT INTO {table} VALUES (?1, ?2, ?3)"))?;
                for id in 1..=PLAYERS {
                    st.execute(params![id as i64, data::player_member(id), data::score(id)])?;
                }
            }
            let mut st = c.prepare("INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
            for i in 0..SESSIONS {
                let s = data::session(i);
                st.execute(params![
                    data::session_key(i),
                    s.user_id,
                    s.name,
                    s.email,
                    s.created,
                    s.last_seen,
                    s.cart
                ])?;
            }
        }
        c.execute_batch("COMMIT; ANALYZE;")?;
        Ok(())
    }

    fn once(&self, c: &Connection, row: RowId, i: u64) -> rusqlite::Result<()> {
        let i = i as usize;
        match row {
            RowId::SingleRead => {
                let mut st = c.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
                let v: String = st.query_row([&self.keys[i % PRODUCTS]], |r| r.get(0))?;
                black_box(v);
            }
            RowId::BatchLoop => {
                let mut st = c.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
                for j in 0..BATCH {
                    let v: String =
                        st.query_row([&self.keys[(i * BATCH + j) % PRODUCTS]], |r| r.get(0))?;
                    black_box(v);
                }
            }
            RowId::BatchMulti => {
                let start = (i % (PRODUCTS / BATCH)) * BATCH;
                let mut st = c.prepare_cached(&self.batch_sql)?;
                let mut rows = st.query(params_from_iter(&self.keys[start..start + BATCH]))?;
                while let Some(r) = rows.next()? {
                    let kv: (String, String) = (r.get(0)?, r.get(1)?);
                    black_box(kv);
                }
            }
            RowId::CounterIncr => {
                let mut st = c.prepare_cached(
                    "UPDATE counters SET n = n + 1 WHERE name = 'hits' RETURNING n",
                )?;
                let n: i64 = st.query_row([], |r| r.get(0))?;
                black_box(n);
            }
            RowId::PipelineOneByOne => {
                let mut st = c.prepare_cached("INSERT OR REPLACE INTO writes VALUES (?1, ?2)")?;
                for j in 0..BATCH {
                    st.execute(params![&self.keys[j], &self.keys[(i + j) % PRODUCTS]])?;
                }
            }
            RowId::PipelineBatched => {
                c.prepare_cached("BEGIN")?.execute([])?;
                {
                    let mut st =
                        c.prepare_cached("INSERT OR REPLACE INTO writes VALUES (?1, ?2)")?;
                    for j in 0..BATCH {
                        st.execute(params![&self.keys[j], &self.keys[(i + j) % PRODUCTS]])?;
                    }
                }
                c.prepare_cached("COMMIT")?.execute([])?;
            }
            RowId::Top10NoIndex | RowId::Top10Index => {
                let sql = if row == RowId::Top10Index {
                    "SELECT id, score FROM players_ix ORDER BY score DESC LIMIT 10"
                } else {
                    "SELECT id, score FROM players ORDER BY score DESC LIMIT 10"
                };
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query([])?;
                while let Some(r) = rows.next()? {
                    let p: (i64, i64) = (r.get(0)?, r.get(1)?);
                    black_box(p);
                }
            }
            RowId::RankNoIndex | RowId::RankIndex => {
                let sql = if row == RowId::RankIndex {
                    "SELECT COUNT(*) FROM players_ix WHERE score > (SELECT score FROM players_ix WHERE id = ?1)"
                } else {
                    "SELECT COUNT(*) FROM players WHERE score > (SELECT score FROM players WHERE id = ?1)"
                };
                let mut st = c.prepare_cached(sql)?;
                let n: i64 = st.query_row([data::rank_probe(i) as i64], |r| r.get(0))?;
                black_box(n);
            }
            RowId::Session => {
                let mut st = c.prepare_cached(
                    "SELECT user_id, name, email, created, last_seen, cart FROM sessions WHERE id = ?1",
                )?;
                let s = st.query_row([&self.sessions[i % SESSIONS]], |r| {
                    Ok(data::Session {
                        user_id: r.get(0)?,
                        name: r.get(1)?,
                        email: r.get(2)?,
                        created: r.get(3)?,
                        last_seen: r.get(4)?,
                        cart: r.get(5)?,
                    })
                })?;
                black_box(s);
            }
            RowId::ConcurrentIncr => {}
        }
        Ok(())
    }

    /// Measures one sequential row.
    pub fn measure(&self, row: RowId, plan: &Plan, ctx: &Ctx) -> Result<Stats> {
        let rec = Recorder::new(row.ops_per_sample(), row.divide_by())?;
        let what = || format!("SQLite {} failed on {}", self.mode.id(), row.id());
        let guard = self.lock()?;
        let c = &*guard;
        // Warm-up: caches, statement preparation, page cache.
        let mut s = Sampler::new(plan.clone(), rec, &*ctx.cell);
        while let Some(i) = s.warm_up() {
            ctx.check()?;
            self.once(c, row, i).with_context(what)?;
        }
        while let Some(i) = s.sample() {
            ctx.check()?;
            let t = Instant::now();
            self.once(c, row, i).with_context(what)?;
            s.record(t);
        }
        Ok(s.into_recorder().summary())
    }

    fn counter(conn: &Connection, name: &str) -> Result<i64> {
        Ok(
            conn.query_row("SELECT n FROM counters WHERE name = ?1", [name], |r| {
                r.get(0)
            })?,
        )
    }

    /// `clients` connections (threads) increment one counter; returns the figures and a check.
    pub fn concurrent(&self, clients: usize, plan: &Plan, ctx: &Ctx) -> Result<(Stats, String)> {
        let clients = clients.max(1);
        let before = Self::counter(&*self.lock()?, "concurrent")?;
        let workers = match &self.path {
            Some(path) => {
                let mut v = Vec::with_capacity(clients);
                for _ in 0..clients {
                    let c = Connection::open(path)?;
                    configure(&c, self.mode)?;
                    v.push(Worker::Own(c));
                }
                v
            }
            // An in-memory database is private to its connection: threads share it behind a
            // mutex, as an in-process app would.
            None => (0..clients).map(|_| Worker::Shared(&self.conn)).collect(),
        };
        let (rec, wall, done) = run_workers(workers, self.mode, plan, ctx)?;
        let after = Self::counter(&*self.lock()?, "concurrent")?;
        let landed = after - before;
        let note = if landed == done as i64 {
            format!("all {done} increments landed")
        } else {
            format!("LOST UPDATES: {done} increments sent, {landed} landed")
        };
        Ok((rec.summary_wall(wall), note))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| anyhow::anyhow!("a SQLite worker thread failed"))
    }
}

enum Worker<'a> {
    Own(Connection),
    Shared(&'a Mutex<Connection>),
}

const INCR: &str = "UPDATE counters SET n = n + 1 WHERE name = 'concurrent'";

impl Worker<'_> {
    fn incr(&self) -> Result<()> {
        match self {
            // BEGIN IMMEDIATE takes the write lock up front, so busy_timeout applies and two
            // writers never deadlock upgrading a read lock.
            Worker::Own(c) => {
                c.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
                let r = c.prepare_cached(INCR).and_then(|mut st| st.execute([]));
                match r {
                    Ok(_) => {
                        c.prepare_cached("COMMIT")?.execute([])?;
                        Ok(())
                    }
                    Err(e) => {
                        let _ = c.execute_batch("ROLLBACK");
                        Err(e.into())
                    }
                }
            }
            Worker::Shared(m) => {
                let c = m
                    .lock()
                    .map_err(|_| anyhow::anyhow!("a SQLite worker thread failed"))?;
                c.prepare_cached(INCR)?.execute([])?;
                Ok(())
            }
        }
    }
}

/// Runs the workers on threads: warm-up, start together, increment until the share is done or
/// the budget is spent. Returns merged latencies, wall time and increments made (warm-up too).
fn run_workers(
    workers: Vec<Worker<'_>>,
    mode: SqliteMode,
    plan: &Plan,
    ctx: &Ctx,
) -> Result<(Recorder, Duration, u64)> {
    let n = workers.len().max(1) as u64;
    let share = Plan {
        samples: plan.samples.div_ceil(n).max(1),
        warmup: (plan.warmup / n).max(2),
        budget: plan.budget,
    };
    let barrier = Barrier::new(workers.len());
    let runs = run_threads_together(workers, |w| {
        let mut s = Sampler::new(share.clone(), Recorder::new(1, 1)?, &*ctx.cell);
        let mut warm = Ok(());
        while s.warm_up().is_some() && warm.is_ok() && !ctx.cancel.is_cancelled() {
            warm = w.incr();
        }
        // Everyone reaches the barrier, even after an error, or the others wait forever.
        barrier.wait();
        warm?;
        let start = Instant::now();
        while s.sample().is_some() {
            ctx.check()?;
            let t = Instant::now();
            w.incr()?;
            s.record(t);
        }
        Ok(ClientRun::done(s, start))
    });
    let (rec, made, wall) = match runs {
        Ok(runs) => ClientRun::merge(runs, Recorder::new(1, 1)?),
        Err(e) if e.downcast_ref::<crate::error::Exit>().is_some() => return Err(e),
        Err(e) => {
            return Err(e.context(format!("SQLite {} failed on concurrent-incr", mode.id())));
        }
    };
    Ok((rec, wall, made))
}
