//! `redislab check`: runs the learner's own program as concurrent workers against a proxy that
//! forces interleavings, pauses, early expiries, lost replies and (with `--failover`, on a
//! private primary and replica) failovers, then reads the pattern's
//! invariant from Redis. Systematic schedules first, seeded random ones after; every verdict
//! names the schedule number that `--replay` runs again. A program that cannot start, crashes
//! or hangs is reported as such, never as a broken pattern.

pub mod patterns;
pub mod proxy;
pub mod schedule;
pub mod upstream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::io::AsyncReadExt;

use crate::redis::connect::Server;
use crate::redis::fence::Fenced;
pub use patterns::Pattern;
use schedule::{Event, Schedule};
use upstream::Upstream;

/// What to run and how much to explore.
#[derive(Debug, Clone)]
pub struct Options {
    pub pattern: Pattern,
    pub workers: usize,
    /// cache: worker 1 updates the database and invalidates the cache, the others read.
    pub update: bool,
    /// Failovers among the faults, on a private primary and replica instead of the server.
    pub failover: bool,
    pub seed: u64,
    /// Run only this schedule.
    pub replay: Option<u64>,
    pub schedules: u64,
    pub timeout: Duration,
    pub command: Vec<String>,
}

/// How a check ended.
#[derive(Debug)]
pub enum Verdict {
    /// Every schedule kept the invariant.
    Pass,
    /// A schedule broke the invariant.
    Violation {
        schedule: Schedule,
        broken: Vec<String>,
        /// What the schedule did that the contract allows (a queue's duplicates).
        notes: Vec<String>,
        timeline: Vec<String>,
    },
    /// The program could not start, crashed or hung: not a verdict on the pattern.
    ProgramFailed {
        schedule: Schedule,
        why: String,
        timeline: Vec<String>,
    },
}

#[derive(Debug)]
pub struct Report {
    pub pattern: Pattern,
    pub workers: usize,
    pub seed: u64,
    pub replay: bool,
    /// The schedules run, in order (the last one decided a failure).
    pub ran: Vec<Schedule>,
    pub systematic_total: u64,
    /// With `--failover`: the private servers' program (`redis-server`), where the run went.
    pub failover_on: Option<String>,
    /// What schedules that kept the invariant did that the contract allows but the learner
    /// should know (a queue's duplicates), by schedule number.
    pub notes: Vec<(u64, String)>,
    pub verdict: Verdict,
    pub elapsed: Duration,
}

impl Report {
    /// "200 schedules (65 of 65 systematic, 135 random from seed 0), 2 workers; 40 holds, ..."
    pub fn explored(&self) -> String {
        let systematic = self
            .ran
            .iter()
            .filter(|s| s.id < schedule::RANDOM_BASE)
            .count();
        let random = self.ran.len() - systematic;
        let mut parts = Vec::new();
        if systematic > 0 {
            parts.push(format!(
                "{systematic} of {} systematic",
                self.systematic_total
            ));
        }
        if random > 0 {
            parts.push(format!("{random} random from seed {}", self.seed));
        }
        let kinds: Vec<String> = schedule::fault_kinds(&self.ran)
            .into_iter()
            .map(|(k, n)| match n {
                1 => format!("1 {}", schedule::one_of(k)),
                n => format!("{n} {k}"),
            })
            .collect();
        let n = self.ran.len();
        let failover = match &self.failover_on {
            Some(program) => format!("; on a private {program} primary and replica"),
            None => "; failover not tried (--failover tries it on a private primary and replica)"
                .to_string(),
        };
        format!(
            "{n} schedule{} ({}), {} workers; {}{failover}",
            if n == 1 { "" } else { "s" },
            parts.join(", "),
            self.workers,
            if kinds.is_empty() {
                "no fault".to_string()
            } else {
                kinds.join(", ")
            }
        )
    }
}

impl Report {
    /// The allowed but notable outcomes of the passing schedules, one line: "duplicates in 2 of
    /// 10 schedules (allowed: at least once); schedule 21: 1 job processed twice: job-3" (None:
    /// there were none).
    pub fn noted(&self) -> Option<String> {
        let (first_id, first) = self.notes.first()?;
        let mut ids: Vec<u64> = self.notes.iter().map(|(id, _)| *id).collect();
        ids.dedup();
        let n = self.ran.len();
        let (kind, allowed) = self.pattern.note_kind();
        Some(format!(
            "{kind} in {} of {n} schedule{} ({allowed}); {}schedule {first_id}: {first}",
            ids.len(),
            if n == 1 { "" } else { "s" },
            if ids.len() > 1 { "the first, " } else { "" },
        ))
    }
}

/// The schedule numbers a run tries, in order.
pub fn plan(opts: &Options) -> Vec<u64> {
    if let Some(id) = opts.replay {
        return vec![id];
    }
    let total = schedule::systematic_count(opts.workers, opts.failover);
    let systematic = opts.schedules.min(total);
    let mut ids: Vec<u64> = (0..systematic).collect();
    ids.extend(schedule::random_ids(opts.seed, opts.schedules - systematic));
    ids
}

/// Runs the check. `server` is shared with the proxy's connection tasks; with `--failover` it
/// only names the product and namespace, and the run goes to a private pair started here and
/// stopped when it ends.
pub async fn run(server: Arc<Server>, opts: &Options) -> Result<Report> {
    let started = Instant::now();
    let prefix = format!("{}:check:", server.fence().namespace());
    let (upstream, failover_on) = if opts.failover {
        let (u, program) = Upstream::pair(&server).await?;
        (Arc::new(u), Some(program))
    } else {
        (Arc::new(Upstream::single(server.clone())), None)
    };
    let mut ran = Vec::new();
    let mut notes = Vec::new();
    let mut verdict = Verdict::Pass;
    for id in plan(opts) {
        let s = schedule::schedule(opts.workers, id, opts.failover);
        ran.push(s.clone());
        if let Some(v) = run_one(&upstream, opts, &prefix, s, &mut notes).await? {
            verdict = v;
            break;
        }
    }
    if !upstream.has_replica() {
        clear(&mut server.admin(), &prefix).await?;
    }
    Ok(Report {
        pattern: opts.pattern,
        workers: opts.workers,
        seed: opts.seed,
        replay: opts.replay.is_some(),
        ran,
        systematic_total: schedule::systematic_count(opts.workers, opts.failover),
        failover_on,
        notes,
        verdict,
        elapsed: started.elapsed(),
    })
}

/// Deletes every key a run leaves (`<namespace>:check:*`), after an interrupted one.
pub async fn clean_up(server: &Server) -> Result<()> {
    let prefix = format!("{}:check:", server.fence().namespace());
    clear(&mut server.admin(), &prefix).await
}

/// Deletes every key of the run (`<namespace>:check:*`).
async fn clear(admin: &mut Fenced, prefix: &str) -> Result<()> {
    let (keys, _) = admin
        .scan_match(&format!("{prefix}*"), 500, 100_000)
        .await
        .context("could not list the check's keys")?;
    for key in keys {
        let _: i64 = redis::cmd("DEL").arg(&key).query_async(admin).await?;
    }
    Ok(())
}

/// One worker's end: its exit code (`None`: killed or never started) and output.
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs one schedule; `None` when the invariant held (its notes, if any, go to `notes`).
async fn run_one(
    upstream: &Arc<Upstream>,
    opts: &Options,
    prefix: &str,
    s: Schedule,
    notes: &mut Vec<(u64, String)>,
) -> Result<Option<Verdict>> {
    // The last schedule's failover left the demoted primary resyncing: level first.
    upstream.settle().await?;
    let mut admin = upstream.server().admin();
    clear(&mut admin, prefix).await?;
    for command in opts.pattern.seed(prefix, opts.workers) {
        let mut cmd = redis::Cmd::new();
        for part in &command {
            cmd.arg(part);
        }
        let _: redis::Value = cmd
            .query_async(&mut admin)
            .await
            .with_context(|| format!("could not seed {}", command.get(1).map_or("", |k| k)))?;
    }
    let control = schedule::Controller::new(
        &s,
        opts.workers,
        prefix,
        opts.pattern.watched(prefix, opts.update),
    );
    let mut proxy = proxy::Proxy::start(upstream.clone(), control.clone(), opts.workers).await?;
    let (program, args) = opts
        .command
        .split_first()
        .context("no command to run after --")?;
    let mut tasks = tokio::task::JoinSet::new();
    for (worker, addr) in proxy.addrs.iter().enumerate() {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .env("REDIS_URL", format!("redis://{addr}/0"))
            .env("REDISLAB_PREFIX", prefix)
            .env("REDISLAB_WORKER", (worker + 1).to_string())
            .envs(opts.pattern.env(opts.workers, worker, opts.update))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                proxy.stop();
                return Ok(Some(Verdict::ProgramFailed {
                    schedule: s,
                    why: format!(
                        "could not start {}: {e}",
                        crate::untrusted::printable_str(program)
                    ),
                    timeline: vec![],
                }));
            }
        };
        let control = control.clone();
        let kill = control.kill_switch(worker);
        tasks.spawn(async move {
            let ended = wait(child, kill).await;
            control.exited(worker, ended.code);
            (worker, ended)
        });
    }
    let mut ended: Vec<Option<Ended>> = (0..opts.workers).map(|_| None).collect();
    let all = async {
        while let Some(joined) = tasks.join_next().await {
            if let Ok((w, e)) = joined {
                ended[w] = Some(e);
            }
        }
    };
    let timed_out = tokio::time::timeout(opts.timeout, all).await.is_err();
    tasks.abort_all();
    proxy.stop();
    if let Some(why) = control.setup_failure() {
        anyhow::bail!("redislab could not run schedule {}: {why}", s.id);
    }
    // A failover moved the data: the invariant is read where writes go now.
    let mut admin = upstream.server().admin();
    control.note_unstruck();
    let events = control.events();
    let timeline = timeline(&events);
    if timed_out {
        let running: Vec<usize> = (0..opts.workers).filter(|w| ended[*w].is_none()).collect();
        let names: Vec<String> = running.iter().map(|w| format!("w{}", w + 1)).collect();
        let mut why = format!(
            "timed out: {} still running after {} s",
            names.join(", "),
            opts.timeout.as_secs()
        );
        // What they were doing: a worker spinning on a lock shows it here.
        for w in running {
            let last = events.iter().rev().find_map(|e| match e {
                Event::Command { worker, args, .. } if *worker == w => Some(args.clone()),
                _ => None,
            });
            if let Some(args) = last {
                let shown = crate::redis::tokenize::display_args(&args);
                why.push_str(&format!(
                    "; w{}'s last command: {}",
                    w + 1,
                    crate::untrusted::printable_str(&shown)
                ));
            }
        }
        why.push_str(
            " (a lock with a long TTL that a lost reply left behind, or a blocking command? raise --timeout)",
        );
        return Ok(Some(Verdict::ProgramFailed {
            schedule: s,
            why,
            timeline,
        }));
    }
    let exits: Vec<(Option<i32>, String)> = ended
        .iter()
        .map(|e| match e {
            Some(e) => (e.code, e.stdout.clone()),
            None => (None, String::new()),
        })
        .collect();
    let facts = patterns::Facts {
        prefix,
        workers: opts.workers,
        update: opts.update,
        events: &events,
        exits: &exits,
    };
    for (w, e) in ended.iter().enumerate() {
        let Some(e) = e else { continue };
        if e.code != Some(0) && !opts.pattern.tolerated_failure(&facts, w) {
            let last = e
                .stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("(nothing on stderr)");
            let mut why = format!(
                "w{} exited with {}: {}",
                w + 1,
                e.code
                    .map(|c| format!("code {c}"))
                    .unwrap_or_else(|| "a signal".into()),
                crate::untrusted::printable_str(last)
            );
            if let Some(err) = control.errors().first() {
                why.push_str(&format!(
                    " (proxy: {})",
                    crate::untrusted::printable_str(err)
                ));
            }
            if closed_by_failover(&events, w) {
                why.push_str(
                    " (the failover closed its connection, as Sentinel closes the old primary's clients: a client must reconnect and retry to survive one)",
                );
            }
            return Ok(Some(Verdict::ProgramFailed {
                schedule: s,
                why,
                timeline,
            }));
        }
    }
    // A run that never reached the proxy proves nothing (it may have used another server).
    let silent = (0..opts.workers).find(|w| {
        !events
            .iter()
            .any(|e| matches!(e, Event::Command { worker, .. } if worker == w))
    });
    if let Some(w) = silent {
        return Ok(Some(Verdict::ProgramFailed {
            schedule: s,
            why: format!(
                "w{} exited 0 without sending a command through REDIS_URL (does it connect to the URL it is given?)",
                w + 1
            ),
            timeline,
        }));
    }
    if let Some(why) = opts.pattern.contract_error(&facts) {
        return Ok(Some(Verdict::ProgramFailed {
            schedule: s,
            why,
            timeline,
        }));
    }
    let judged = opts.pattern.check(&mut admin, &facts).await?;
    if judged.broken.is_empty() {
        notes.extend(judged.notes.into_iter().map(|n| (s.id, n)));
        return Ok(None);
    }
    Ok(Some(Verdict::Violation {
        schedule: s,
        broken: judged.broken,
        notes: judged.notes,
        timeline,
    }))
}

/// Whether a failover closed one of `worker`'s connections in this run.
fn closed_by_failover(events: &[Event], worker: usize) -> bool {
    let prefix = format!("w{}'s connection to the old primary closes", worker + 1);
    events
        .iter()
        .any(|e| matches!(e, Event::Fault { text, .. } if text.starts_with(&prefix)))
}

async fn wait(mut child: tokio::process::Child, kill: tokio::sync::oneshot::Receiver<()>) -> Ended {
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let status = async {
        tokio::select! {
            status = child.wait() => status,
            Ok(()) = kill => {
                let _ = child.start_kill();
                child.wait().await
            }
        }
    };
    let (stdout, stderr, status) = tokio::join!(read_all(out), read_all(err), status);
    Ended {
        code: status.ok().and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

/// A worker's output, at most 1 MiB of it.
async fn read_all<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>) -> String {
    let mut buf = Vec::new();
    if let Some(p) = pipe {
        let _ = p.take(1 << 20).read_to_end(&mut buf).await;
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The timeline, one line per event, in redis-cli syntax (escaped: the values came from the
/// learner's program and the server). A run of the same command with the same reply from one
/// worker (a spin on a lock) is one line with its count; a long argument is cut.
pub fn timeline(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < events.len() {
        match &events[i] {
            Event::Command {
                step,
                worker,
                args,
                reply,
                lost,
                ..
            } => {
                let same = |e: &Event| {
                    matches!(e, Event::Command { worker: w, args: a, reply: r, lost: false, .. }
                        if w == worker && a == args && r == reply)
                };
                let mut n = 1;
                while !*lost && i + n < events.len() && same(&events[i + n]) {
                    n += 1;
                }
                let steps = if n > 1 {
                    format!("#{step}-{}", step + n as u32 - 1)
                } else {
                    format!("#{step}")
                };
                let shown: Vec<Vec<u8>> = args.iter().map(|a| cut(a)).collect();
                let shown = crate::redis::tokenize::display_args(&shown);
                out.push(format!(
                    "{steps:<4} w{}  {}  → {}{}{}",
                    worker + 1,
                    crate::untrusted::printable_str(&shown),
                    crate::untrusted::printable_str(reply),
                    if n > 1 {
                        format!("   (×{n})")
                    } else {
                        String::new()
                    },
                    if *lost {
                        "   (reply lost: connection closed)"
                    } else {
                        ""
                    }
                ));
                i += n;
                continue;
            }
            Event::Fault { text, .. } => out.push(format!("     ⚡ {text}")),
            Event::Exit { worker, code } => out.push(format!(
                "     w{} exited {}",
                worker + 1,
                code.map(|c| c.to_string())
                    .unwrap_or_else(|| "(killed)".into())
            )),
        }
        i += 1;
    }
    out
}

/// An argument cut to 24 bytes (a script's text, a long value) for the timeline.
fn cut(a: &[u8]) -> Vec<u8> {
    const MAX: usize = 24;
    if a.len() <= MAX {
        return a.to_vec();
    }
    let mut v = a[..MAX].to_vec();
    v.extend_from_slice(b"...");
    v
}

/// A command line as a shell reads it back: arguments with spaces or quotes single-quoted.
pub fn shell_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}
