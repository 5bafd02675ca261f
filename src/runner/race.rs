//! Runs a `kind: race` step: for each round, its set-up, then every worker at once on its own
//! connection, then the measuring commands. Workers meet at `sync: all` barriers, so the
//! interleaving the lesson wants to show is forced and the table is the same on every run.
//! Every command goes through the fence like any other lesson command.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::redis::fence::Fenced;
use anyhow::{Context, Result, bail};
use futures_util::future::BoxFuture;
use redis::Value;
use tokio::sync::Barrier;

use crate::lesson::race::{Action, Race, RaceCommand, Retry, Round};
use crate::lesson::vars::Vars;
use crate::measure::{Ticker, run_together};
use crate::redis::connect::Server;
use crate::redis::fence::Origin;
use crate::runner::checks::reply_text;
use crate::runner::{lesson_args, send_fenced};
use crate::scenarios::ScenarioReport;

/// What a race needs from the engine.
pub struct RaceContext<'a> {
    pub server: &'a Server,
    /// The step's variables (`${ns}`, `let`, saved values); each worker gets a copy.
    pub vars: &'a Vars,
    pub ticker: &'a dyn Ticker,
}

/// Runs every round and reports one table row and the metrics of each.
pub async fn run(race: &Race, ctx: &RaceContext<'_>) -> Result<ScenarioReport> {
    let per_round = u64::from(race.workers());
    let passes: u64 = race
        .rounds
        .iter()
        .map(|r| per_round * u64::from(r.repeat))
        .sum();
    ctx.ticker.start(passes, "");
    let mut report = ScenarioReport {
        header: std::iter::once("round".to_string())
            .chain(race.columns.iter().map(|c| c.title.clone()))
            .collect(),
        ..Default::default()
    };
    for round in &race.rounds {
        ctx.ticker.message(&round.label);
        let metrics = run_round(race, round, ctx)
            .await
            .with_context(|| format!("race round `{}`", round.name))?;
        let mut row = vec![round.label.clone()];
        for c in &race.columns {
            row.push(
                metrics
                    .get(&c.metric)
                    .map(|v| number_text(*v))
                    .unwrap_or_else(|| "–".into()),
            );
        }
        report.rows.push(row);
        for (name, v) in metrics {
            report.metrics.insert(format!("{}.{name}", round.name), v);
        }
    }
    ctx.ticker.finish();
    Ok(report)
}

fn number_text(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.2}")
    }
}

/// A worker's own state while it runs.
struct Worker {
    vars: Vars,
    conn: Fenced,
    barrier: Arc<Barrier>,
    display: String,
    counts: BTreeMap<String, u64>,
}

async fn run_round(
    race: &Race,
    round: &Round,
    ctx: &RaceContext<'_>,
) -> Result<BTreeMap<String, f64>> {
    let display = ctx.server.display.clone();
    let mut main = ctx.server.learner_connection().await?;
    run_plain(ctx, &mut main, &round.setup, "set-up").await?;
    let total = race.workers() as usize;
    let conns = run_together(total, |_| ctx.server.learner_connection()).await?;
    let barrier = Arc::new(Barrier::new(total));
    // Worker i (0-based) belongs to the group whose range holds it.
    let mut owners = Vec::with_capacity(total);
    for g in &race.groups {
        owners.extend(std::iter::repeat_n(g, g.workers as usize));
    }
    let counts = run_together(total, |i| {
        let group = owners[i];
        let mut vars = ctx.vars.clone();
        vars.set_trusted("worker", (i + 1).to_string());
        vars.set_trusted("group", group.name.clone());
        let mut worker = Worker {
            vars,
            conn: conns[i].clone(),
            barrier: barrier.clone(),
            display: display.clone(),
            counts: BTreeMap::new(),
        };
        let ticker = ctx.ticker;
        async move {
            for (k, v) in &group.let_vars {
                let e = worker.vars.expand_tracked(v)?;
                worker.vars.set_value(k, e.text, e.tainted);
            }
            for it in 1..=round.repeat {
                worker.vars.set_trusted("iteration", it.to_string());
                worker.vars.new_step();
                exec(&round.worker, &mut worker).await?;
                ticker.tick(1);
            }
            Ok(worker.counts)
        }
    })
    .await?;
    let mut metrics: BTreeMap<String, f64> = BTreeMap::new();
    for name in race.metrics() {
        if let Some(short) = name.strip_prefix(&format!("{}.", round.name)) {
            if !round.measure.contains_key(short) {
                metrics.insert(short.to_string(), 0.0);
            }
        }
    }
    for c in counts {
        for (k, v) in c {
            *metrics.entry(k).or_insert(0.0) += v as f64;
        }
    }
    for (name, line) in &round.measure {
        let args = lesson_args(ctx.vars, line)?;
        let e = send_fenced(&mut main, &args, Origin::Lesson, None, &display).await?;
        if let Some(why) = e.refused {
            bail!("measure `{name}` refused: {why}");
        }
        metrics.insert(name.clone(), as_number(name, &e.reply)?);
    }
    run_plain(ctx, &mut main, &round.teardown, "teardown").await?;
    Ok(metrics)
}

/// Runs a round's set-up or teardown lines in order on one connection.
async fn run_plain(
    ctx: &RaceContext<'_>,
    conn: &mut Fenced,
    lines: &[String],
    what: &str,
) -> Result<()> {
    for line in lines {
        let args = lesson_args(ctx.vars, line)?;
        let e = send_fenced(conn, &args, Origin::Lesson, None, &ctx.server.display).await?;
        if let Some(why) = e.refused {
            bail!("{what} command {} refused: {why}", e.line);
        }
    }
    Ok(())
}

/// A measured reply as a number: an integer, a numeric string, or `(nil)` as 0.
fn as_number(name: &str, reply: &Value) -> Result<f64> {
    let text = reply_text(reply);
    if matches!(reply, Value::Nil) {
        return Ok(0.0);
    }
    text.trim()
        .parse::<f64>()
        .map_err(|_| anyhow::anyhow!("measure `{name}`: the reply {text:?} is not a number"))
}

fn exec<'a>(actions: &'a [Action], w: &'a mut Worker) -> BoxFuture<'a, Result<()>> {
    Box::pin(async move {
        for a in actions {
            match a {
                Action::Command(c) => command(c, w).await?,
                Action::Sync => {
                    w.barrier.wait().await;
                }
                Action::Pause(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
                Action::Tally(name) => *w.counts.entry(name.clone()).or_insert(0) += 1,
                Action::When { condition, then } => {
                    let left = w.vars.expand(&condition.left)?;
                    let right = w.vars.expand(&condition.right)?;
                    if condition.holds(&left, &right) {
                        exec(then, w).await?;
                    }
                }
            }
        }
        Ok(())
    })
}

async fn command(c: &RaceCommand, w: &mut Worker) -> Result<()> {
    let args = lesson_args(&w.vars, &c.cmd)?;
    let mut attempt = 0;
    let mut backoff = c.retry.as_ref().map(|r| r.backoff_ms).unwrap_or(0);
    let reply = loop {
        let e = send_fenced(&mut w.conn, &args, Origin::Lesson, None, &w.display).await?;
        if let Some(why) = e.refused {
            bail!("{} was refused: {why}", e.line);
        }
        let text = reply_text(&e.reply);
        let Some(retry) = &c.retry else { break text };
        attempt += 1;
        if done(retry, &text) {
            break text;
        }
        if attempt >= retry.attempts {
            *w.counts.entry("gave_up".into()).or_insert(0) += 1;
            break text;
        }
        *w.counts.entry("retries".into()).or_insert(0) += 1;
        // Full jitter: a random wait up to the current backoff, so retries do not march in step.
        let wait = rand::random::<u64>() % (backoff + 1);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        backoff = (backoff * 2).clamp(1, retry.max_backoff_ms.max(1));
    };
    if let Some(name) = &c.save_as {
        w.vars.set(name, reply.clone());
    }
    for (want, tally) in &c.tally {
        if want == "*" || *want == reply {
            *w.counts.entry(tally.clone()).or_insert(0) += 1;
        }
    }
    Ok(())
}

fn done(retry: &Retry, reply: &str) -> bool {
    match (&retry.until, &retry.until_not) {
        (Some(want), _) => reply == want,
        (None, Some(not)) => reply != not,
        (None, None) => true,
    }
}
