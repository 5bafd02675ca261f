//! The patterns `redislab check` knows: for each, the keys redislab seeds before a run, what a
//! worker is told, and the invariant read afterwards from Redis (and from the timeline the proxy
//! kept). One invariant per pattern, written as plain rules over facts, so a verdict names the
//! rule that broke and the worker that broke it. The contracts are documented in the README.

use std::collections::HashMap;

use anyhow::Result;

use super::schedule::Event;
use crate::redis::fence::Fenced;

/// The value the cache pattern's "database" holds; every run must serve it.
pub const DB_VALUE: &str = "v1";

/// The value the cache pattern's updating worker writes to the database (`--update`).
pub const NEW_VALUE: &str = "v2";

/// The rate-limit window the workers are given: long enough that a whole run fits in one.
pub const WINDOW_MS: u64 = 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Buy one unit of limited stock under a lock.
    Lock,
    /// Add one to a shared counter.
    Counter,
    /// Decide whether one request is allowed under a fixed limit per window.
    RateLimit,
    /// Take one job from a queue and process it.
    Queue,
    /// Serve one read of a hot key from a cache, loading it from the "database" on a miss.
    Cache,
}

/// One run judged: the rules it broke (empty: the invariant held) and what it did that the
/// contract allows but the learner should know (a queue's duplicates), each one line.
#[derive(Debug, Default)]
pub struct Judgement {
    pub broken: Vec<String>,
    pub notes: Vec<String>,
}

/// What happened in one run, for the invariant.
pub struct Facts<'a> {
    pub prefix: &'a str,
    pub workers: usize,
    /// cache with `--update`: worker 1 (index 0) updates the database and invalidates.
    pub update: bool,
    pub events: &'a [Event],
    /// Each worker's exit code (`None`: killed) and its standard output.
    pub exits: &'a [(Option<i32>, String)],
}

impl Facts<'_> {
    fn lost_reply(&self, worker: usize) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Command { worker: w, lost: true, .. } if *w == worker))
    }

    /// Workers that exited 0.
    fn succeeded(&self) -> usize {
        self.exits.iter().filter(|(c, _)| *c == Some(0)).count()
    }
}

impl Pattern {
    pub fn name(&self) -> &'static str {
        match self {
            Pattern::Lock => "lock",
            Pattern::Counter => "counter",
            Pattern::RateLimit => "rate-limit",
            Pattern::Queue => "queue",
            Pattern::Cache => "cache",
        }
    }

    pub fn default_workers(&self) -> usize {
        3
    }

    /// The one rule a run must keep, in words (shown with every verdict).
    pub fn invariant(&self, update: bool) -> &'static str {
        match self {
            Pattern::Cache if update => {
                "one load per life of the cached value (the update ends one), every run serves the database's value, and once the update (w1: write the database, then invalidate) has returned, the cache never holds the old value and no read that starts later serves it"
            }
            Pattern::Lock => {
                "stock never below zero and units sold = stock taken; the lock changes hands only when free, always has a TTL, and is released only by its holder"
            }
            Pattern::Counter => {
                "no lost increments: the counter is at least the number of runs that exited 0"
            }
            Pattern::RateLimit => {
                "at most LIMIT runs print `allowed` within one window, and every key of the limiter has a TTL (a window ends)"
            }
            Pattern::Queue => {
                "no job lost: every job is still queued, in the processing list, or done (at least once)"
            }
            Pattern::Cache => {
                "one load per expiry: while the cached value lives, at most one worker reads the database, and every run serves the database's value"
            }
        }
    }

    /// What a note of this pattern is about, and why it is allowed, for the verdict.
    pub fn note_kind(&self) -> (&'static str, &'static str) {
        match self {
            Pattern::Queue => ("duplicates", "allowed: at least once"),
            _ => ("noted", "allowed"),
        }
    }

    /// The units of stock (lock) or the limit (rate-limit): one fewer than the workers, so
    /// that someone must be turned away.
    pub fn bound(&self, workers: usize) -> usize {
        workers.saturating_sub(1).max(1)
    }

    /// Variables `worker` (0-based) gets beyond REDIS_URL, REDISLAB_PREFIX and REDISLAB_WORKER.
    pub fn env(&self, workers: usize, worker: usize, update: bool) -> Vec<(String, String)> {
        match self {
            Pattern::Cache => {
                let role = if update && worker == 0 {
                    "update"
                } else {
                    "read"
                };
                vec![("REDISLAB_ROLE".into(), role.into())]
            }
            Pattern::RateLimit => vec![
                ("REDISLAB_LIMIT".into(), self.bound(workers).to_string()),
                ("REDISLAB_WINDOW_MS".into(), WINDOW_MS.to_string()),
            ],
            _ => vec![],
        }
    }

    /// The commands redislab sends before each run to seed its keys.
    pub fn seed(&self, prefix: &str, workers: usize) -> Vec<Vec<String>> {
        let cmd = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        match self {
            Pattern::Lock => vec![
                cmd(&[
                    "SET",
                    &format!("{prefix}stock"),
                    &self.bound(workers).to_string(),
                ]),
                cmd(&["SET", &format!("{prefix}sold"), "0"]),
            ],
            Pattern::Queue => {
                let mut push = cmd(&["RPUSH", &format!("{prefix}jobs")]);
                push.extend(jobs(workers));
                vec![push]
            }
            Pattern::Cache => vec![cmd(&["SET", &format!("{prefix}db"), DB_VALUE])],
            Pattern::Counter | Pattern::RateLimit => vec![],
        }
    }

    /// Keys read before and after every command (their value and TTL).
    pub fn watched(&self, prefix: &str, update: bool) -> Vec<Vec<u8>> {
        match self {
            Pattern::Lock => vec![format!("{prefix}lock").into_bytes()],
            Pattern::Cache if update => vec![format!("{prefix}cache").into_bytes()],
            _ => vec![],
        }
    }

    /// Whether a worker that exited non-zero is tolerated: only the one whose reply was lost
    /// (a client without retries gives up, which is its right).
    pub fn tolerated_failure(&self, facts: &Facts, worker: usize) -> bool {
        facts.lost_reply(worker)
    }

    /// What a run printed against the contract (not a verdict on the pattern: the program is
    /// reported as failing).
    pub fn contract_error(&self, facts: &Facts) -> Option<String> {
        let expected: &[&str] = match self {
            Pattern::RateLimit => &["allowed", "denied"],
            Pattern::Cache if facts.update => &[DB_VALUE, NEW_VALUE],
            Pattern::Cache => &[DB_VALUE],
            _ => return None,
        };
        facts.exits.iter().enumerate().find_map(|(w, (code, out))| {
            let last = out
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::trim);
            match last {
                _ if *code != Some(0) => None,
                Some(l) if expected.contains(&l) => None,
                other => Some(format!(
                    "w{} printed {} as its last line instead of {}",
                    w + 1,
                    crate::untrusted::printable_str(other.unwrap_or("nothing")),
                    expected
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
            }
        })
    }

    /// The broken rules and what was allowed but worth saying, each one line.
    pub async fn check(&self, admin: &mut Fenced, facts: &Facts<'_>) -> Result<Judgement> {
        let broken = |broken| Judgement {
            broken,
            notes: vec![],
        };
        Ok(match self {
            Pattern::Lock => broken(lock(admin, facts).await?),
            Pattern::Counter => broken(counter(admin, facts).await?),
            Pattern::RateLimit => broken(rate_limit(admin, facts).await?),
            Pattern::Queue => queue(admin, facts).await?,
            Pattern::Cache => {
                let mut b = cache(facts);
                if facts.update {
                    b.extend(stale(admin, facts).await?);
                }
                broken(b)
            }
        })
    }
}

async fn int(admin: &mut Fenced, key: &str) -> Result<Option<i64>> {
    let v: Option<String> = redis::cmd("GET").arg(key).query_async(admin).await?;
    Ok(match v {
        None => None,
        Some(s) => Some(s.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "{key} holds {}, not a number",
                crate::untrusted::printable_str(&s)
            )
        })?),
    })
}

async fn lock(admin: &mut Fenced, facts: &Facts<'_>) -> Result<Vec<String>> {
    let p = facts.prefix;
    let initial = Pattern::Lock.bound(facts.workers) as i64;
    let mut broken = Vec::new();
    let stock = int(admin, &format!("{p}stock")).await?;
    let sold = int(admin, &format!("{p}sold")).await?.unwrap_or(0);
    match stock {
        None => broken.push(format!("{p}stock was deleted")),
        Some(s) if s < 0 => broken.push(format!("the stock went below zero: {p}stock is {s}")),
        Some(s) if sold != initial - s => broken.push(format!(
            "units sold ({p}sold = {sold}) differ from the stock taken ({initial} - {s} = {})",
            initial - s
        )),
        Some(_) => {}
    }
    broken.extend(lock_trace(facts));
    Ok(broken)
}

/// The lock's life read from the timeline: who set each value, and who changed it when.
fn lock_trace(facts: &Facts) -> Vec<String> {
    let mut owner: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut broken = Vec::new();
    let lock = format!("{}lock", facts.prefix);
    for e in facts.events {
        let Event::Command {
            step,
            worker,
            args,
            reply,
            before,
            after,
            ..
        } = e
        else {
            continue;
        };
        let (Some((vb, ttl_b)), Some((va, ttl_a))) = (before.first(), after.first()) else {
            continue;
        };
        let w = worker + 1;
        // A lock close to its expiry (or gone between the GET and the PTTL that read it) may
        // expire by itself before the command runs: real time still passes on a busy machine.
        let could_expire = *ttl_b == -2 || (0..250).contains(ttl_b);
        // A SET ... NX that answered OK found the key free, whatever was read just before.
        let took_free = reply == "OK"
            && args.first().is_some_and(|a| a.eq_ignore_ascii_case(b"SET"))
            && args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"NX"));
        match (vb, va) {
            (Some(x), Some(y)) if x != y && !could_expire && !took_free => {
                let o = owner.get(x).map(|o| o + 1);
                if o != Some(w) {
                    broken.push(format!(
                        "#{step}: w{w} took {lock} while {} held it",
                        o.map(|o| format!("w{o}"))
                            .unwrap_or_else(|| "another worker".into())
                    ));
                }
            }
            (Some(x), None) if !could_expire => {
                if let Some(o) = owner.get(x).map(|o| o + 1) {
                    if o != w {
                        broken.push(format!("#{step}: w{w} released {lock}, which w{o} held"));
                    }
                }
            }
            _ => {}
        }
        if let Some(y) = va {
            if vb.as_ref() != Some(y) {
                owner.insert(y.clone(), *worker);
                if *ttl_a == -1 {
                    broken.push(format!(
                        "#{step}: w{w} took {lock} without a TTL: a holder that dies keeps it forever"
                    ));
                }
            }
        }
    }
    broken
}

async fn counter(admin: &mut Fenced, facts: &Facts<'_>) -> Result<Vec<String>> {
    let key = format!("{}counter", facts.prefix);
    let value = int(admin, &key).await?.unwrap_or(0);
    let ok = facts.succeeded() as i64;
    let mut broken = Vec::new();
    if value < ok {
        broken.push(format!(
            "lost increments: {ok} runs exited 0 but {key} is {value} ({} lost)",
            ok - value
        ));
    }
    let retried = (0..facts.workers).filter(|w| facts.lost_reply(*w)).count() as i64;
    let failed = (facts.exits.len() - facts.succeeded()) as i64;
    if value > ok + retried + failed {
        broken.push(format!(
            "{key} is {value}, more than the {} runs that could have added to it",
            ok + failed
        ));
    }
    Ok(broken)
}

async fn rate_limit(admin: &mut Fenced, facts: &Facts<'_>) -> Result<Vec<String>> {
    let limit = Pattern::RateLimit.bound(facts.workers);
    let mut broken = Vec::new();
    // A fault that expired keys ends the window (time jumped): count each window apart. A
    // run's decision belongs to the window of its last command.
    let mut window = 0usize;
    let mut last_window: HashMap<usize, usize> = HashMap::new();
    for e in facts.events {
        match e {
            Event::Fault { expired, .. } if !expired.is_empty() => window += 1,
            Event::Command { worker, .. } => {
                last_window.insert(*worker, window);
            }
            _ => {}
        }
    }
    let mut allowed: HashMap<usize, Vec<usize>> = HashMap::new();
    for (w, (code, out)) in facts.exits.iter().enumerate() {
        if *code != Some(0) {
            continue;
        }
        let last = out.lines().rev().find(|l| !l.trim().is_empty());
        if last.map(str::trim) == Some("allowed") {
            allowed
                .entry(last_window.get(&w).copied().unwrap_or(0))
                .or_default()
                .push(w + 1);
        }
    }
    for (window, ws) in allowed {
        if ws.len() > limit {
            let names: Vec<String> = ws.iter().map(|w| format!("w{w}")).collect();
            broken.push(format!(
                "{} requests allowed in one window ({}), with a limit of {limit}{}",
                ws.len(),
                names.join(", "),
                if window > 0 {
                    " (after the clock jumped)"
                } else {
                    ""
                }
            ));
        }
    }
    let (keys, _) = admin
        .scan_match(&format!("{}*", facts.prefix), 200, 10_000)
        .await?;
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(admin).await?;
        if ttl == -1 {
            broken.push(format!(
                "{} has no TTL: its window never ends, and the client stays limited forever",
                crate::untrusted::printable(&key)
            ));
        } else if ttl > WINDOW_MS as i64 {
            broken.push(format!(
                "{} lives {ttl} ms, longer than the {WINDOW_MS} ms window",
                crate::untrusted::printable(&key)
            ));
        }
    }
    Ok(broken)
}

/// The jobs seeded for a queue run: one more than the workers, so one is always left.
fn jobs(workers: usize) -> Vec<String> {
    (1..=workers + 1).map(|i| format!("job-{i}")).collect()
}

async fn queue(admin: &mut Fenced, facts: &Facts<'_>) -> Result<Judgement> {
    let p = facts.prefix;
    let list = |key: String| redis::cmd("LRANGE").arg(key).arg(0).arg(-1).clone();
    let queued: Vec<String> = list(format!("{p}jobs")).query_async(admin).await?;
    let processing: Vec<String> = list(format!("{p}processing")).query_async(admin).await?;
    let done: HashMap<String, i64> = redis::cmd("HGETALL")
        .arg(format!("{p}done"))
        .query_async(admin)
        .await?;
    let mut broken = Vec::new();
    for job in jobs(facts.workers) {
        if !queued.contains(&job) && !processing.contains(&job) && !done.contains_key(&job) {
            broken.push(format!(
                "{job} was lost: not in {p}jobs, not in {p}processing, not in {p}done"
            ));
        }
    }
    Ok(Judgement {
        broken,
        notes: duplicates(&done).into_iter().collect(),
    })
}

/// The jobs done more than once, as one line: "2 jobs processed twice: job-1, job-3" (at least
/// once allows them; the learner should still know, and make the work idempotent).
pub fn duplicates(done: &HashMap<String, i64>) -> Option<String> {
    let mut by_times: std::collections::BTreeMap<i64, Vec<&str>> = Default::default();
    for (job, n) in done {
        if *n > 1 {
            by_times.entry(*n).or_default().push(job);
        }
    }
    if by_times.is_empty() {
        return None;
    }
    let groups: Vec<String> = by_times
        .into_iter()
        .map(|(n, mut jobs)| {
            // job-2 before job-10
            jobs.sort_by_key(|j| (j.len(), *j));
            let times = if n == 2 {
                "twice".to_string()
            } else {
                format!("{n} times")
            };
            format!(
                "{} job{} processed {times}: {}",
                jobs.len(),
                if jobs.len() == 1 { "" } else { "s" },
                jobs.iter()
                    .map(|j| crate::untrusted::printable_str(j))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    Some(groups.join("; "))
}

/// Loads read from the timeline (a GET of `<prefix>db`), not from the worker's word. Each jump
/// of the clock past every TTL (a pause, an early expiry) ends the cached value's life and any
/// refill lock's lease, so it allows one more load; beyond that, two workers loading is a
/// stampede. A worker that retries its own load counts once; one that died did not fill the
/// cache, so its load does not count.
fn cache(facts: &Facts) -> Vec<String> {
    let db = format!("{}db", facts.prefix).into_bytes();
    let mut jumps = 0usize;
    let mut loaders: Vec<usize> = Vec::new();
    for e in facts.events {
        match e {
            Event::Fault { expired, .. } if !expired.is_empty() => jumps += 1,
            Event::Command { worker, args, .. } => {
                let is_load =
                    args.len() == 2 && args[0].eq_ignore_ascii_case(b"GET") && args[1] == db;
                let finished = facts.exits.get(*worker).is_some_and(|(c, _)| *c == Some(0));
                if is_load && finished && !loaders.contains(worker) {
                    loaders.push(*worker);
                }
            }
            _ => {}
        }
    }
    // The update ends the cached value's life: one more load for the new value.
    let lives = 1 + jumps + usize::from(facts.update && updated(facts).is_some());
    if loaders.len() <= lives {
        return vec![];
    }
    let names: Vec<String> = loaders.iter().map(|w| format!("w{}", w + 1)).collect();
    vec![format!(
        "a stampede: {} workers loaded {}db ({}) for {} life of the cached value",
        loaders.len(),
        facts.prefix,
        names.join(", "),
        if lives == 1 {
            "one".to_string()
        } else {
            format!("{lives} lives")
        }
    )]
}

/// The step at which the update returned: the reply to the updating worker's last command, if
/// it exited 0 (an update that crashed or gave up never returned, so nothing is promised).
fn updated(facts: &Facts) -> Option<u32> {
    if facts.exits.first().map(|(c, _)| *c) != Some(Some(0)) {
        return None;
    }
    facts.events.iter().rev().find_map(|e| match e {
        Event::Command {
            step, worker: 0, ..
        } => Some(*step),
        _ => None,
    })
}

/// Stale values after the update returned, from the timeline (the cache key's value after every
/// command), the cache's value at the end, and what the readers that started later served.
async fn stale(admin: &mut Fenced, facts: &Facts<'_>) -> Result<Vec<String>> {
    let Some(done) = updated(facts) else {
        return Ok(vec![]);
    };
    let key = format!("{}cache", facts.prefix);
    let old = DB_VALUE.as_bytes();
    let mut broken = Vec::new();
    // The first command at or after the update whose result left the old value in the cache.
    let kept = facts.events.iter().find_map(|e| match e {
        Event::Command {
            step,
            worker,
            after,
            ..
        } if *step >= done && after.first().and_then(|(v, _)| v.as_deref()) == Some(old) => {
            Some((*step, *worker))
        }
        _ => None,
    });
    let at_end: Option<Vec<u8>> = redis::cmd("GET").arg(&key).query_async(admin).await?;
    match kept {
        Some((step, w)) if step > done => broken.push(format!(
            "#{step}: w{} wrote the old value `{DB_VALUE}` back to {key} after the update returned (#{done}): every read until its TTL serves it",
            w + 1
        )),
        Some(_) => broken.push(format!(
            "{key} still held the old value `{DB_VALUE}` when the update returned (#{done}): every read until its TTL serves it"
        )),
        None if at_end.as_deref() == Some(old) => broken.push(format!(
            "{key} holds the old value `{DB_VALUE}` after the update returned (#{done})"
        )),
        None => {}
    }
    for (w, (code, out)) in facts.exits.iter().enumerate().skip(1) {
        let first = facts.events.iter().find_map(|e| match e {
            Event::Command { step, worker, .. } if *worker == w => Some(*step),
            _ => None,
        });
        let last = out
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(str::trim);
        if *code == Some(0) && first.is_some_and(|f| f > done) && last == Some(DB_VALUE) {
            broken.push(format!(
                "w{} started after the update returned (#{done}) and served the old value `{DB_VALUE}`",
                w + 1
            ));
        }
    }
    Ok(broken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_grouped_by_how_often_each_job_was_done() {
        let done = |pairs: &[(&str, i64)]| -> HashMap<String, i64> {
            pairs.iter().map(|(j, n)| (j.to_string(), *n)).collect()
        };
        assert_eq!(duplicates(&done(&[("job-1", 1), ("job-2", 1)])), None);
        assert_eq!(
            duplicates(&done(&[("job-3", 2), ("job-1", 2), ("job-2", 1)])).as_deref(),
            Some("2 jobs processed twice: job-1, job-3")
        );
        assert_eq!(
            duplicates(&done(&[("job-10", 2), ("job-2", 3)])).as_deref(),
            Some("1 job processed twice: job-10; 1 job processed 3 times: job-2")
        );
    }
}
