//! Scenario `lost-reply`: a client that times out knows nothing about whether its command ran,
//! and a retry after a lost reply applies a non-idempotent write twice. An idempotency key
//! (`SET reqid 1 NX EX ...` in the same script as the write) makes the retry harmless.
//!
//! It runs on a private server (see `private`), because it holds up the server's writes with
//! `CLIENT PAUSE ... WRITE`, which would stall everyone sharing the learner's. Deterministic by
//! construction, with no sleep and no luck: the pause is in force before the application's
//! command is sent (its OK says so), so the command cannot be answered within the client's
//! timeout; `CLIENT LIST ID` shows the server holding that command before anything else
//! happens; then either the client closes its connection while the command is still held (the
//! server discards it: it never ran), or the pause is lifted while the client is still
//! connected and the counter is read until the command has run, before the client (which gave
//! up at its timeout and never reads that reply) retries on a new connection.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::params::{Param, int};
use super::private::{Private, args};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::fence::Fenced;

/// The idempotent write: the request's marker and the counter change in one script, so a
/// retry finds the marker and adds nothing. The same text ships in lesson 21.
pub const IDEMPOTENT_INCR: &str = "if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return redis.call('INCR', KEYS[2]) end return tonumber(redis.call('GET', KEYS[2]) or '0')";
/// How long the server may hold writes at most: the step lifts the pause itself long before.
const PAUSE_BOUND_MS: u64 = 30_000;
/// How long any wait for the server's state may take (a bound, polled, never slept through).
const STATE_BOUND: Duration = Duration::from_secs(10);
/// The marker's TTL: longer than any retry of the same request could come.
const MARKER_TTL_S: &str = "86400";

pub struct LostReply;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub timeout_ms: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params { timeout_ms: 200 }
    }
}

impl Scenario for LostReply {
    const NAME: &'static str = "lost-reply";
    const SUMMARY: &'static str = "a timed-out INCR may or may not have run; retried after a lost reply it counts twice, and an idempotency key in the same script makes the retry harmless";
    const PARAMS: &'static [Param] = &[int(
        "timeout_ms",
        10,
        5000,
        "the application client's timeout for one reply, in milliseconds",
    )];
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
        let timeout = Duration::from_millis(p.timeout_ms);
        let counter = ctx.key("{pay}:payments");
        let marker = ctx.key("{pay}:req:r-1001");
        let incr = args(&[b"INCR", counter.as_bytes()]);
        let script = args(&[
            b"EVAL",
            IDEMPOTENT_INCR.as_bytes(),
            b"2",
            marker.as_bytes(),
            counter.as_bytes(),
            MARKER_TTL_S.as_bytes(),
        ]);
        ctx.ticker.start(3, "sending writes the server holds up");
        let mut rows = Vec::new();
        for (label, write, retry) in [
            ("INCR, closed", &incr, Retry::No),
            ("INCR, retried", &incr, Retry::Yes),
            ("script, retried", &script, Retry::Yes),
        ] {
            s.send(&args(&[b"DEL", counter.as_bytes(), marker.as_bytes()]))
                .await?;
            let row = s
                .attempt(write, retry, timeout, &counter)
                .await
                .map(|r| (label, r))?;
            rows.push(row);
            ctx.ticker.tick(1);
        }
        let program = s.program.clone();
        drop(s);
        Ok(report(&p, &rows, &program))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Retry {
    /// The client closes its connection at its timeout and does not try again.
    No,
    /// The client gives up on the reply at its timeout and sends the write again.
    Yes,
}

/// What one attempt and its retry found.
#[derive(Debug, Clone, PartialEq)]
struct Attempt {
    /// How long the client waited before its timeout fired.
    waited: Duration,
    /// The first send ran on the server (the counter moved before any retry).
    ran: bool,
    /// The retry's reply, when there was one.
    retry_reply: Option<i64>,
    /// The counter at the end.
    count: i64,
}

impl Private {
    async fn attempt(
        &mut self,
        write: &[Vec<u8>],
        retry: Retry,
        timeout: Duration,
        counter: &str,
    ) -> Result<Attempt> {
        let mut app = self.connect().await?;
        let id = match self.send_on(&mut app, &args(&[b"CLIENT", b"ID"])).await? {
            Value::Int(id) => id,
            other => bail!("CLIENT ID replied {other:?}"),
        };
        let bound = PAUSE_BOUND_MS.to_string();
        self.send(&args(&[b"CLIENT", b"PAUSE", bound.as_bytes(), b"WRITE"]))
            .await?;
        let outcome = self.held_write(&mut app, id, write, timeout).await;
        if outcome.is_err() {
            // Never leave the server holding writes behind an error.
            let _ = self.send(&args(&[b"CLIENT", b"UNPAUSE"])).await;
        }
        let waited = outcome?;
        let ran = match retry {
            Retry::No => {
                drop(app);
                self.until_client_gone(id).await?;
                self.send(&args(&[b"CLIENT", b"UNPAUSE"])).await?;
                false
            }
            Retry::Yes => {
                self.send(&args(&[b"CLIENT", b"UNPAUSE"])).await?;
                self.until_counter(counter, 1).await?;
                // The client gave up at its timeout: the reply now waiting on this
                // connection is never read, and the connection is thrown away.
                drop(app);
                true
            }
        };
        let retry_reply = match retry {
            Retry::No => None,
            Retry::Yes => {
                let mut again = self.connect().await?;
                match self.send_on(&mut again, write).await? {
                    Value::Int(n) => Some(n),
                    other => bail!("the retried write replied {other:?}"),
                }
            }
        };
        let count = self.counter(counter).await?;
        Ok(Attempt {
            waited,
            ran,
            retry_reply,
            count,
        })
    }

    /// Sends `write` on `app` with the client's timeout while the server holds writes: the
    /// timeout must fire. Returns once the server shows it holds the command.
    async fn held_write(
        &mut self,
        app: &mut Fenced,
        id: i64,
        write: &[Vec<u8>],
        timeout: Duration,
    ) -> Result<Duration> {
        self.conn.fence().admit_own(write).await?;
        let began = Instant::now();
        let sent = tokio::time::timeout(timeout, crate::redis::command::send(app, write)).await;
        let waited = began.elapsed();
        if let Ok(reply) = sent {
            bail!(
                "the private server answered a write while it held writes ({reply:?}): CLIENT PAUSE ... WRITE did not hold it"
            );
        }
        let name = String::from_utf8_lossy(&write[0]).to_ascii_lowercase();
        let deadline = Instant::now() + STATE_BOUND;
        while self.client_cmd(id).await?.as_deref() != Some(name.as_str()) {
            if Instant::now() > deadline {
                bail!("the private server never showed client {id} waiting in {name}");
            }
            tokio::task::yield_now().await;
        }
        Ok(waited)
    }

    /// The `cmd=` field of one client in CLIENT LIST (`None`: no such client).
    async fn client_cmd(&mut self, id: i64) -> Result<Option<String>> {
        let id = id.to_string();
        let reply = self
            .send(&args(&[b"CLIENT", b"LIST", b"ID", id.as_bytes()]))
            .await?;
        let text = match reply {
            Value::BulkString(b) => String::from_utf8_lossy(&b).into_owned(),
            Value::VerbatimString { text, .. } => text,
            other => bail!("CLIENT LIST replied {other:?}"),
        };
        Ok(text
            .split_whitespace()
            .find_map(|f| f.strip_prefix("cmd="))
            .map(str::to_string))
    }

    async fn until_client_gone(&mut self, id: i64) -> Result<()> {
        let deadline = Instant::now() + STATE_BOUND;
        while self.client_cmd(id).await?.is_some() {
            if Instant::now() > deadline {
                bail!("client {id} was still connected to the private server after it closed");
            }
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn until_counter(&mut self, counter: &str, at_least: i64) -> Result<()> {
        let deadline = Instant::now() + STATE_BOUND;
        while self.counter(counter).await? < at_least {
            if Instant::now() > deadline {
                bail!("the held write had not run after the pause was lifted");
            }
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn counter(&mut self, counter: &str) -> Result<i64> {
        match self.send(&args(&[b"GET", counter.as_bytes()])).await? {
            Value::Nil => Ok(0),
            Value::BulkString(b) => Ok(String::from_utf8_lossy(&b).parse().unwrap_or(-1)),
            other => bail!("GET replied {other:?}"),
        }
    }
}

fn report(p: &Params, rows: &[(&str, Attempt)], program: &str) -> ScenarioReport {
    let mut report = ScenarioReport {
        header: vec![
            "attempt".into(),
            "client saw".into(),
            "ran".into(),
            "retry replied".into(),
            "count".into(),
        ],
        ..Default::default()
    };
    for (label, a) in rows {
        report.rows.push(vec![
            label.to_string(),
            format!("timeout, {} ms", a.waited.as_millis()),
            if a.ran { "yes" } else { "no" }.into(),
            a.retry_reply
                .map_or("no retry".into(), |n| format!("(integer) {n}")),
            a.count.to_string(),
        ]);
    }
    let m = &mut report.metrics;
    m.insert("timeout_ms".into(), p.timeout_ms as f64);
    m.insert("timed_out".into(), rows.len() as f64);
    let count = |i: usize| rows.get(i).map_or(-1.0, |(_, a)| a.count as f64);
    let ran = |i: usize| {
        rows.get(i)
            .map_or(-1.0, |(_, a)| f64::from(u8::from(a.ran)))
    };
    m.insert("closed_ran".into(), ran(0));
    m.insert("closed_count".into(), count(0));
    m.insert("retried_ran".into(), ran(1));
    m.insert("retried_count".into(), count(1));
    m.insert("idempotent_count".into(), count(2));
    let reply = |i: usize| {
        rows.get(i)
            .and_then(|(_, a)| a.retry_reply)
            .map_or(-1.0, |n| n as f64)
    };
    m.insert("retried_reply".into(), reply(1));
    m.insert("idempotent_retry_reply".into(), reply(2));
    report.notes.push(format!(
        "This ran on a private {program} started for this step (CLIENT PAUSE ... WRITE held each write past the client's {} ms timeout), never on your server.",
        p.timeout_ms
    ));
    report.notes.push(format!(
        "The client saw the same timeout every time; the write ran {} of {} times. Retried, the INCR counted {} payments for one request; the script (SET reqid NX, then INCR) kept the count at {}.",
        rows.iter().filter(|(_, a)| a.ran).count(),
        rows.len(),
        count(1),
        count(2)
    ));
    report
}
