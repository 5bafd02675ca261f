//! Schedules: which worker's command goes next, and which faults strike at which command. The
//! proxy runs one command at a time, and only once every live worker is waiting on it (or has
//! exited), so the order is decided here and nowhere else: the same schedule gives the same
//! interleaving on every run, with no sleep anywhere. A schedule has a number (its seed); the
//! first numbers are the systematic ones (every fault at each worker's first commands), higher
//! numbers are drawn at random from themselves, so `--replay N` rebuilds exactly the schedule
//! a failure printed.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::redis::connect::Server;

/// A worker that ran this many commands in a row while another was waiting yields (drops to
/// the lowest priority): a worker spinning on a lock lets the holder finish.
const FAIR_RUN: u32 = 4;
/// A hold "until the others are done" ends after this many of their commands all the same: a
/// worker spinning on a lease the held one owns would otherwise wait out its TTL in real time,
/// and the verdict would depend on the clock.
const OTHERS_CAP: u32 = 12;
/// Faults strike at one of each worker's first commands.
pub const FAULT_COMMANDS: u32 = 4;
/// Systematic schedules come first; random ones are numbered from here.
pub const RANDOM_BASE: u64 = 1 << 32;

/// How long a held worker waits: for this many commands of the others, or until no other
/// worker has anything left to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Steps(u32),
    Others,
}

/// One fault, bound to a worker's k-th command (counted from 1, across reconnections).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The command waits while the others run (a forced interleaving).
    Hold { worker: usize, at: u32, span: Span },
    /// Like a hold, and the worker stays away longer than every TTL: every key of the run that
    /// has a TTL expires when the pause begins.
    Pause { worker: usize, at: u32, span: Span },
    /// The command reaches the server; its reply never reaches the worker (the connection
    /// closes), so a client that retries sends it twice.
    LostReply { worker: usize, at: u32 },
    /// Just before the command, every key of the run that has a TTL expires (as if the clock
    /// jumped).
    Expire { worker: usize, at: u32 },
    /// The command reaches the server, then the worker's process is killed before the reply.
    Crash { worker: usize, at: u32 },
    /// The replica is promoted just before the command, which the old primary alone runs and
    /// acknowledges; then the workers are moved to the new primary (`--failover` only).
    Failover { worker: usize, at: u32 },
}

impl Fault {
    fn at(&self) -> (usize, u32) {
        match *self {
            Fault::Hold { worker, at, .. }
            | Fault::Pause { worker, at, .. }
            | Fault::LostReply { worker, at }
            | Fault::Expire { worker, at }
            | Fault::Crash { worker, at }
            | Fault::Failover { worker, at } => (worker, at),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Steps(1) => write!(f, "for 1 command of the others"),
            Span::Steps(n) => write!(f, "for {n} commands of the others"),
            Span::Others => write!(
                f,
                "until the others are done (at most {OTHERS_CAP} of their commands)"
            ),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::Hold { worker, at, span } => {
                write!(f, "w{} is held before its command #{at} {span}", worker + 1)
            }
            Fault::Pause { worker, at, span } => write!(
                f,
                "w{} pauses past every TTL before its command #{at}, {span}",
                worker + 1
            ),
            Fault::LostReply { worker, at } => {
                write!(f, "the reply to w{}'s command #{at} is lost", worker + 1)
            }
            Fault::Expire { worker, at } => write!(
                f,
                "keys with a TTL expire early, before w{}'s command #{at}",
                worker + 1
            ),
            Fault::Crash { worker, at } => write!(
                f,
                "w{} is killed once its command #{at} reached the server",
                worker + 1
            ),
            Fault::Failover { worker, at } => write!(
                f,
                "the replica is promoted just before w{}'s command #{at}, which only the old primary gets",
                worker + 1
            ),
        }
    }
}

/// A whole schedule: a priority order (the first worker runs first whenever it can) and faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub id: u64,
    pub order: Vec<usize>,
    pub faults: Vec<Fault>,
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order: Vec<String> = self.order.iter().map(|w| format!("w{}", w + 1)).collect();
        write!(f, "order {}", order.join(" > "))?;
        if self.faults.is_empty() {
            write!(f, "; no fault")?;
        }
        // In the order they can strike (a random schedule draws them in any order).
        let mut faults = self.faults.clone();
        faults.sort_by_key(|f| (f.at().1, f.at().0));
        for fault in &faults {
            write!(f, "; {fault}")?;
        }
        Ok(())
    }
}

/// Every fault at a worker's command `at`: the five kinds (six with a failover), holds and
/// pauses of three lengths.
fn faults_at(workers: usize, at: u32, failover: bool) -> Vec<Fault> {
    // Each kind once before any kind twice: a small --schedules still tries them all.
    let mut out = Vec::new();
    for worker in 0..workers {
        out.extend([
            Fault::Hold {
                worker,
                at,
                span: Span::Steps(1),
            },
            Fault::Pause {
                worker,
                at,
                span: Span::Steps(1),
            },
            Fault::LostReply { worker, at },
            Fault::Expire { worker, at },
            Fault::Crash { worker, at },
        ]);
        if failover {
            out.push(Fault::Failover { worker, at });
        }
        for span in [Span::Steps(2), Span::Others] {
            out.push(Fault::Hold { worker, at, span });
            out.push(Fault::Pause { worker, at, span });
        }
    }
    out
}

/// The systematic schedules for `workers`: no fault, then every single fault at command 1, 2,
/// ... `FAULT_COMMANDS` of each worker (earlier commands first: most races are early). The
/// workers are copies of one program, so the order stays w1 > w2 > ...: renaming the workers
/// gives every other order (random schedules shuffle it too).
/// With `failover`, the failovers are among them (the numbers then differ: a replay needs the
/// same flag).
pub fn systematic_count(workers: usize, failover: bool) -> u64 {
    1 + faults_at(workers, 1, failover).len() as u64 * u64::from(FAULT_COMMANDS)
}

/// The schedule numbered `id` for `workers` workers.
pub fn schedule(workers: usize, id: u64, failover: bool) -> Schedule {
    if id < systematic_count(workers, failover) {
        let order = (0..workers).collect();
        if id == 0 {
            return Schedule {
                id,
                order,
                faults: vec![],
            };
        }
        let per = faults_at(workers, 1, failover).len() as u64;
        let at = ((id - 1) / per) as u32 + 1;
        let fault = faults_at(workers, at, failover)[((id - 1) % per) as usize];
        return Schedule {
            id,
            order,
            faults: vec![fault],
        };
    }
    random(workers, id, failover)
}

/// A random schedule drawn from its own number: an order and one or two faults, at any of the
/// first eight commands.
fn random(workers: usize, id: u64, failover: bool) -> Schedule {
    let mut rng = SplitMix(id);
    let mut order: Vec<usize> = (0..workers).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let n = 1 + rng.below(2);
    let faults = (0..n)
        .map(|_| {
            let at = 1 + rng.below(8) as u32;
            let all = faults_at(workers, at, failover);
            all[rng.below(all.len() as u64) as usize]
        })
        .collect();
    Schedule { id, order, faults }
}

/// The numbers of the random schedules a run with `--seed` tries, in order.
pub fn random_ids(seed: u64, count: u64) -> Vec<u64> {
    let mut rng = SplitMix(seed);
    (0..count)
        .map(|_| RANDOM_BASE + rng.next() % (u64::MAX - RANDOM_BASE))
        .collect()
}

/// SplitMix64: a seed must replay the same schedule in every version of redislab, which a
/// library generator does not promise across releases.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What a worker may do when its turn comes.
#[derive(Debug, Clone, Copy)]
pub struct Turn {
    pub step: u32,
    /// Expire every key of the run that has a TTL before sending (a pause began, or an early
    /// expiry).
    pub expire_first: bool,
    /// Send the command, then close the connection without the reply.
    pub lose_reply: bool,
    /// Send the command, then kill the worker's process (no reply).
    pub crash: bool,
    /// Promote the replica first, send the command to the old primary, then move everyone to
    /// the new one.
    pub failover: bool,
}

/// The value and TTL (ms; -1 none, -2 absent) of a watched key around one command.
pub type Watched = Vec<(Option<Vec<u8>>, i64)>;

/// One line of the timeline.
#[derive(Debug, Clone)]
pub enum Event {
    Command {
        step: u32,
        worker: usize,
        args: Vec<Vec<u8>>,
        reply: String,
        before: Watched,
        after: Watched,
        lost: bool,
    },
    Fault {
        step: u32,
        text: String,
        /// The keys that expired.
        expired: Vec<Vec<u8>>,
    },
    Exit {
        worker: usize,
        code: Option<i32>,
    },
}

struct Worker {
    live: bool,
    /// Commands waiting for their turn, one per connection (a client may use several).
    pending: std::collections::VecDeque<oneshot::Sender<Turn>>,
    sent: u32,
    priority: i64,
    /// Held: commands of the others still to wait for (`None`: until they are done).
    held: Option<Option<u32>>,
}

struct State {
    workers: Vec<Worker>,
    faults: Vec<(Fault, bool)>,
    busy: bool,
    step: u32,
    lowest: i64,
    last: Option<(usize, u32)>,
    expire_next: bool,
    events: Vec<Event>,
    errors: Vec<String>,
    setup: Option<String>,
}

/// The turn-taking between workers for one schedule, and what happened.
pub struct Controller {
    state: Mutex<State>,
    /// Per worker: pulled to kill its process (a crash fault).
    kills: Mutex<Vec<Option<oneshot::Sender<()>>>>,
    prefix: String,
    /// Keys whose value and TTL are read before and after every command.
    watched: Vec<Vec<u8>>,
}

impl Controller {
    pub fn new(
        schedule: &Schedule,
        workers: usize,
        prefix: &str,
        watched: Vec<Vec<u8>>,
    ) -> Arc<Controller> {
        let mut ws: Vec<Worker> = (0..workers)
            .map(|_| Worker {
                live: true,
                pending: Default::default(),
                sent: 0,
                priority: 0,
                held: None,
            })
            .collect();
        for (rank, w) in schedule.order.iter().enumerate() {
            if let Some(worker) = ws.get_mut(*w) {
                worker.priority = (workers - rank) as i64;
            }
        }
        Arc::new(Controller {
            kills: Mutex::new((0..workers).map(|_| None).collect()),
            state: Mutex::new(State {
                workers: ws,
                faults: schedule.faults.iter().map(|f| (*f, false)).collect(),
                busy: false,
                step: 0,
                lowest: 0,
                last: None,
                expire_next: false,
                events: Vec::new(),
                errors: Vec::new(),
                setup: None,
            }),
            prefix: prefix.to_string(),
            watched,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock means a panic elsewhere already failed the run; keep the data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until it is `worker`'s turn to send its next command; `None` when the run ended
    /// first (the command must not be sent).
    pub async fn turn(&self, worker: usize) -> Option<Turn> {
        let (tx, rx) = oneshot::channel();
        {
            let mut s = self.lock();
            if let Some(w) = s.workers.get_mut(worker) {
                w.pending.push_back(tx);
            }
            s.dispatch();
        }
        rx.await.ok()
    }

    /// What a worker's process waits on besides its own end: a crash fault pulls it.
    pub fn kill_switch(&self, worker: usize) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut kills) = self.kills.lock() {
            if let Some(slot) = kills.get_mut(worker) {
                *slot = Some(tx);
            }
        }
        rx
    }

    /// Kills the worker's process (a crash fault), and says so in the timeline.
    pub fn kill(&self, worker: usize) {
        let tx = self
            .kills
            .lock()
            .ok()
            .and_then(|mut k| k.get_mut(worker).and_then(Option::take));
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
        let mut s = self.lock();
        let step = s.step;
        s.events.push(Event::Fault {
            step,
            text: format!("w{} is killed before the reply", worker + 1),
            expired: vec![],
        });
    }

    /// The command of the current turn has been answered.
    pub fn done(&self, _worker: usize) {
        let mut s = self.lock();
        s.busy = false;
        s.dispatch();
    }

    /// The worker's process ended: nobody waits for it any more.
    pub fn exited(&self, worker: usize, code: Option<i32>) {
        let mut s = self.lock();
        if let Some(w) = s.workers.get_mut(worker) {
            w.live = false;
            w.pending.clear();
        }
        s.events.push(Event::Exit { worker, code });
        s.dispatch();
    }

    /// Says in the timeline which faults never struck: their worker sent fewer commands.
    pub fn note_unstruck(&self) {
        let mut s = self.lock();
        let step = s.step;
        let unstruck: Vec<Fault> = s
            .faults
            .iter()
            .filter(|(_, struck)| !struck)
            .map(|(f, _)| *f)
            .collect();
        for f in unstruck {
            let (worker, at) = f.at();
            s.events.push(Event::Fault {
                step,
                text: format!(
                    "w{} sent no command #{at}, so this fault never struck: {f}",
                    worker + 1
                ),
                expired: vec![],
            });
        }
    }

    /// A command sent on a connection a failover closed: it never reached a server.
    pub fn closed_by_failover(&self, worker: usize, step: u32, args: &[Vec<u8>]) {
        let shown = crate::redis::tokenize::display_args(args);
        let shown: String = crate::untrusted::printable_str(&shown)
            .chars()
            .take(60)
            .collect();
        self.lock().events.push(Event::Fault {
            step,
            text: format!(
                "w{}'s connection to the old primary closes; `{shown}` was not sent",
                worker + 1
            ),
            expired: vec![],
        });
    }

    /// redislab itself could not make the schedule (a failover that did not happen): the run
    /// ends with this error, never with a verdict.
    pub fn setup_failed(&self, why: String) {
        self.lock().setup.get_or_insert(why);
    }

    pub fn setup_failure(&self) -> Option<String> {
        self.lock().setup.clone()
    }

    pub fn note_connection_error(&self, worker: usize, e: &str) {
        self.lock().errors.push(format!("w{}: {e}", worker + 1));
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        worker: usize,
        step: u32,
        args: &[Vec<u8>],
        reply: String,
        before: Watched,
        after: Watched,
        lost: bool,
    ) {
        self.lock().events.push(Event::Command {
            step,
            worker,
            args: args.to_vec(),
            reply,
            before,
            after,
            lost,
        });
    }

    pub fn events(&self) -> Vec<Event> {
        self.lock().events.clone()
    }

    pub fn errors(&self) -> Vec<String> {
        self.lock().errors.clone()
    }

    /// Reads the watched keys (value and PTTL), as redislab's own reads through the fence.
    pub async fn watch(&self, server: &Server) -> Watched {
        let mut admin = server.admin();
        let mut out = Vec::new();
        for key in &self.watched {
            let value: Option<Vec<u8>> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut admin)
                .await
                .unwrap_or(None);
            let ttl: i64 = redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut admin)
                .await
                .unwrap_or(-2);
            out.push((value, ttl));
        }
        out
    }

    /// Expires every key of the run that has a TTL (`PEXPIRE key 0` deletes it at once) and
    /// records which.
    pub async fn expire_volatile(&self, server: &Server) {
        let mut admin = server.admin();
        let pattern = format!("{}*", self.prefix);
        let keys = match admin.scan_match(&pattern, 200, 10_000).await {
            Ok((keys, _)) => keys,
            Err(e) => {
                self.lock()
                    .errors
                    .push(format!("could not list the run's keys: {e}"));
                return;
            }
        };
        let mut expired = Vec::new();
        for key in keys {
            let ttl: i64 = redis::cmd("PTTL")
                .arg(&key)
                .query_async(&mut admin)
                .await
                .unwrap_or(-1);
            if ttl >= 0 {
                let _: redis::RedisResult<i64> = redis::cmd("PEXPIRE")
                    .arg(&key)
                    .arg(0)
                    .query_async(&mut admin)
                    .await;
                expired.push(key);
            }
        }
        let mut s = self.lock();
        let step = s.step;
        let names: Vec<String> = expired
            .iter()
            .map(|k| crate::untrusted::printable(k).into_owned())
            .collect();
        let text = if names.is_empty() {
            "time jumps past every TTL (no key had one)".to_string()
        } else {
            format!("time jumps past every TTL: {} expired", names.join(", "))
        };
        s.events.push(Event::Fault {
            step,
            text,
            expired,
        });
    }
}

impl State {
    /// Starts the next command if every live worker is waiting on one.
    fn dispatch(&mut self) {
        if self.busy {
            return;
        }
        let waiting = |w: &Worker| w.live && !w.pending.is_empty();
        if self.workers.iter().any(|w| w.live && w.pending.is_empty()) {
            return;
        }
        if !self.workers.iter().any(waiting) {
            return;
        }
        let mut lose = false;
        let mut crash = false;
        let mut failover = false;
        let chosen = loop {
            let eligible: Vec<usize> = (0..self.workers.len())
                .filter(|&i| waiting(&self.workers[i]) && self.workers[i].held.is_none())
                .collect();
            if eligible.is_empty() {
                // Every waiting worker is held: nobody else can run, so the holds end.
                for w in &mut self.workers {
                    w.held = None;
                }
                continue;
            }
            let mut pick = *eligible
                .iter()
                .max_by_key(|&&i| (self.workers[i].priority, std::cmp::Reverse(i)))
                .unwrap_or(&eligible[0]);
            // Fairness: a worker that ran FAIR_RUN commands in a row while others waited yields.
            if let Some((last, run)) = self.last {
                if last == pick && run >= FAIR_RUN && eligible.len() > 1 {
                    self.lowest -= 1;
                    self.workers[pick].priority = self.lowest;
                    self.last = None;
                    continue;
                }
            }
            let at = self.workers[pick].sent + 1;
            let due: Vec<usize> = (0..self.faults.len())
                .filter(|&i| !self.faults[i].1 && self.faults[i].0.at() == (pick, at))
                .collect();
            let mut held_now = false;
            for i in due {
                self.faults[i].1 = true;
                let fault = self.faults[i].0;
                let step = self.step + 1;
                match fault {
                    Fault::Hold { span, .. } | Fault::Pause { span, .. } => {
                        let others = eligible.len() > 1;
                        if matches!(fault, Fault::Pause { .. }) {
                            self.expire_next = true;
                        }
                        self.events.push(Event::Fault {
                            step,
                            text: fault.to_string(),
                            expired: vec![],
                        });
                        if others {
                            self.workers[pick].held = Some(Some(match span {
                                Span::Steps(n) => n,
                                Span::Others => OTHERS_CAP,
                            }));
                            held_now = true;
                        }
                    }
                    Fault::LostReply { .. } => lose = true,
                    Fault::Crash { .. } => crash = true,
                    Fault::Failover { .. } => {
                        failover = true;
                        self.events.push(Event::Fault {
                            step,
                            text: "failover: the replica, level with the primary, is promoted; the next command reaches only the old primary".into(),
                            expired: vec![],
                        });
                    }
                    Fault::Expire { .. } => {
                        self.expire_next = true;
                        self.events.push(Event::Fault {
                            step,
                            text: fault.to_string(),
                            expired: vec![],
                        });
                    }
                }
            }
            if held_now {
                continue;
            }
            pick = pick.min(self.workers.len() - 1);
            break pick;
        };
        // Held workers count the others' commands.
        for (i, w) in self.workers.iter_mut().enumerate() {
            if i != chosen {
                if let Some(Some(n)) = w.held {
                    w.held = if n <= 1 { None } else { Some(Some(n - 1)) };
                }
            }
        }
        self.last = match self.last {
            Some((w, run)) if w == chosen => Some((w, run + 1)),
            _ => Some((chosen, 1)),
        };
        self.busy = true;
        self.step += 1;
        let expire_first = std::mem::take(&mut self.expire_next);
        let worker = &mut self.workers[chosen];
        worker.sent += 1;
        if let Some(tx) = worker.pending.pop_front() {
            let _ = tx.send(Turn {
                step: self.step,
                expire_first,
                lose_reply: lose,
                crash,
                failover,
            });
        }
    }
}

/// How many of each kind of fault a set of schedules used, for the verdict's "what was explored".
/// A fault kind's name for one of it (`lost replies` → `lost reply`).
pub fn one_of(kind: &str) -> &str {
    match kind {
        "holds" => "hold",
        "pauses past a TTL" => "pause past a TTL",
        "lost replies" => "lost reply",
        "early expiries" => "early expiry",
        "crashes" => "crash",
        "failovers" => "failover",
        other => other,
    }
}

pub fn fault_kinds(schedules: &[Schedule]) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for s in schedules {
        for f in &s.faults {
            let name = match f {
                Fault::Hold { .. } => "holds",
                Fault::Pause { .. } => "pauses past a TTL",
                Fault::LostReply { .. } => "lost replies",
                Fault::Expire { .. } => "early expiries",
                Fault::Crash { .. } => "crashes",
                Fault::Failover { .. } => "failovers",
            };
            *out.entry(name).or_insert(0) += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_names_its_faults_in_the_order_they_can_strike() {
        let s = Schedule {
            id: RANDOM_BASE,
            order: vec![0, 1],
            faults: vec![
                Fault::LostReply { worker: 0, at: 5 },
                Fault::Expire { worker: 1, at: 1 },
            ],
        };
        let text = s.to_string();
        let (first, second) = (text.find("#1").unwrap(), text.find("#5").unwrap());
        assert!(first < second, "{text}");
    }

    #[test]
    fn one_fault_is_named_in_the_singular() {
        assert_eq!(one_of("lost replies"), "lost reply");
        assert_eq!(one_of("crashes"), "crash");
        assert_eq!(one_of("pauses past a TTL"), "pause past a TTL");
    }

    /// Two workers of three commands each, under `schedule`: the order their commands ran in.
    async fn order_of(schedule: Schedule) -> Vec<usize> {
        let control = Controller::new(&schedule, 2, "lab:check:", vec![]);
        let mut tasks = Vec::new();
        for w in 0..2 {
            let c = control.clone();
            tasks.push(tokio::spawn(async move {
                let mut steps = Vec::new();
                for _ in 0..3 {
                    let turn = c.turn(w).await.unwrap();
                    steps.push((turn.step, w));
                    c.done(w);
                }
                c.exited(w, Some(0));
                steps
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all.sort();
        all.into_iter().map(|(_, w)| w).collect()
    }

    #[tokio::test]
    async fn a_schedule_decides_the_interleaving_alone() {
        let plain = Schedule {
            id: 0,
            order: vec![0, 1],
            faults: vec![],
        };
        assert_eq!(order_of(plain.clone()).await, [0, 0, 0, 1, 1, 1]);
        let reversed = Schedule {
            order: vec![1, 0],
            ..plain.clone()
        };
        assert_eq!(order_of(reversed).await, [1, 1, 1, 0, 0, 0]);
        let held = Schedule {
            faults: vec![Fault::Hold {
                worker: 0,
                at: 2,
                span: Span::Steps(2),
            }],
            ..plain.clone()
        };
        assert_eq!(order_of(held).await, [0, 1, 1, 0, 0, 1]);
        let until_done = Schedule {
            faults: vec![Fault::Hold {
                worker: 0,
                at: 1,
                span: Span::Others,
            }],
            ..plain
        };
        assert_eq!(order_of(until_done).await, [1, 1, 1, 0, 0, 0]);
    }

    #[test]
    fn every_schedule_number_rebuilds_the_same_schedule() {
        for id in [
            0,
            1,
            5,
            60,
            systematic_count(3, false) - 1,
            RANDOM_BASE + 17,
            u64::MAX - 1,
        ] {
            assert_eq!(schedule(3, id, false), schedule(3, id, false));
            assert_eq!(schedule(3, id, true), schedule(3, id, true));
        }
        assert_eq!(systematic_count(2, false), 1 + 18 * 4);
        assert_eq!(systematic_count(2, true), 1 + 20 * 4);
        let failovers = (0..systematic_count(2, true))
            .filter(|id| {
                schedule(2, *id, true)
                    .faults
                    .iter()
                    .any(|f| matches!(f, Fault::Failover { .. }))
            })
            .count();
        assert_eq!(
            failovers,
            2 * 4,
            "one failover at each worker's first four commands"
        );
        assert!(
            (0..systematic_count(2, false)).all(|id| schedule(2, id, false)
                .faults
                .iter()
                .all(|f| !matches!(f, Fault::Failover { .. }))),
            "no failover without --failover"
        );
        let s = schedule(2, 2, false);
        assert_eq!(s.faults.len(), 1);
        assert_eq!(random_ids(7, 3), random_ids(7, 3));
        assert_ne!(random_ids(7, 3), random_ids(8, 3));
    }
}
