//! The one warm-up-then-measure loop. It holds the loop's decisions (how many warm-up runs, when
//! the time budget is spent, when to report progress) and leaves the operation to the caller,
//! so the same control drives an awaited Redis call and a blocking SQLite call alike.

use std::time::{Duration, Instant};

use super::Ticker;
use super::stats::Recorder;

/// Fewest samples a time-capped measurement keeps.
pub const MIN_SAMPLES: u64 = 10;

/// Progress is reported every this many samples, not every one: a tick costs more than a GET.
const TICK_EVERY: u64 = 32;

/// How many samples a measurement takes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub samples: u64,
    pub warmup: u64,
    /// Stop measuring after this long (keeps slow cells, like fsync per commit, short).
    /// Warm-up gets at most a quarter of it.
    pub budget: Option<Duration>,
}

impl Plan {
    /// Exactly `samples` after `warmup`, however long they take.
    pub fn exact(samples: u64, warmup: u64) -> Plan {
        Plan {
            samples,
            warmup,
            budget: None,
        }
    }

    #[inline]
    pub fn over_budget(&self, spent: Duration, samples: u64) -> bool {
        self.budget
            .is_some_and(|b| spent > b && samples >= MIN_SAMPLES)
    }
}

/// Drives one measurement:
/// ```text
/// while let Some(i) = s.warm_up() { op(i)?; }
/// while let Some(i) = s.sample() { let t = Instant::now(); op(i)?; s.record(t); }
/// ```
/// `i` counts every operation, warm-up included, so a workload can cycle through its keys.
pub struct Sampler<'t> {
    plan: Plan,
    rec: Recorder,
    ticker: &'t dyn Ticker,
    started: Instant,
    since: Option<Instant>,
    /// Operations begun, warm-up included.
    ops: u64,
    /// Samples recorded.
    samples: u64,
    over: bool,
}

impl<'t> Sampler<'t> {
    pub fn new(plan: Plan, rec: Recorder, ticker: &'t dyn Ticker) -> Sampler<'t> {
        Sampler {
            plan,
            rec,
            ticker,
            started: Instant::now(),
            since: None,
            ops: 0,
            samples: 0,
            over: false,
        }
    }

    /// The index of the next warm-up operation, or `None` once warm-up is done (its count
    /// reached, or a quarter of the budget spent).
    pub fn warm_up(&mut self) -> Option<u64> {
        let spent = self.ops > 0
            && self
                .plan
                .budget
                .is_some_and(|b| self.started.elapsed() > b / 4);
        if self.since.is_some() || self.ops >= self.plan.warmup || spent {
            return None;
        }
        self.ops += 1;
        Some(self.ops - 1)
    }

    /// The index of the next measured operation, or `None` when enough samples are in or the
    /// budget is spent. The measuring clock starts at the first call.
    pub fn sample(&mut self) -> Option<u64> {
        self.since.get_or_insert_with(Instant::now);
        if self.over || self.samples >= self.plan.samples {
            return None;
        }
        Some(self.ops)
    }

    /// Records the operation that began at `began` and ended just now.
    #[inline]
    pub fn record(&mut self, began: Instant) {
        let end = Instant::now();
        self.rec.record(end - began);
        self.ops += 1;
        self.samples += 1;
        if self.samples.is_multiple_of(TICK_EVERY) {
            self.ticker.tick(TICK_EVERY);
        }
        let since = self.since.unwrap_or(began);
        self.over = self.plan.over_budget(end - since, self.samples);
    }

    /// Operations begun so far, warm-up included (what a counter check expects to have landed).
    pub fn operations(&self) -> u64 {
        self.ops
    }

    /// The samples, for a summary or to merge with other clients'.
    pub fn into_recorder(self) -> Recorder {
        self.rec
    }
}

/// What one concurrent client measured, and when its timed part began and ended.
pub struct ClientRun {
    rec: Recorder,
    /// Operations it made, warm-up included (what a counter check expects).
    ops: u64,
    start: Instant,
    end: Instant,
}

impl ClientRun {
    /// A client that made `ops` operations, timed into `rec` from `start` until now.
    pub fn new(rec: Recorder, ops: u64, start: Instant) -> ClientRun {
        ClientRun {
            rec,
            ops,
            start,
            end: Instant::now(),
        }
    }

    /// A client whose sampler began its timed part at `start`, ending now.
    pub fn done(s: Sampler<'_>, start: Instant) -> ClientRun {
        let ops = s.operations();
        ClientRun::new(s.into_recorder(), ops, start)
    }

    /// Every client's samples merged `into` one recorder, their operations, and the wall time
    /// from the first start to the last end (what a rate over all clients divides by).
    pub fn merge(clients: Vec<ClientRun>, into: Recorder) -> (Recorder, u64, Duration) {
        let mut total = into;
        let mut ops = 0;
        let start = clients.iter().map(|c| c.start).min();
        let end = clients.iter().map(|c| c.end).max();
        for c in &clients {
            total.merge(&c.rec);
            ops += c.ops;
        }
        let wall = match (start, end) {
            (Some(s), Some(e)) => e - s,
            _ => Duration::ZERO,
        };
        (total, ops, wall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::Silent;
    use std::sync::atomic::{AtomicU64, Ordering};

    struct Count(AtomicU64);
    impl Ticker for Count {
        fn start(&self, _: u64, _: &str) {}
        fn tick(&self, n: u64) {
            self.0.fetch_add(n, Ordering::Relaxed);
        }
        fn message(&self, _: &str) {}
        fn finish(&self) {}
    }

    fn drive(s: &mut Sampler<'_>) -> (Vec<u64>, Vec<u64>) {
        let mut warm = Vec::new();
        while let Some(i) = s.warm_up() {
            warm.push(i);
        }
        let mut measured = Vec::new();
        while let Some(i) = s.sample() {
            measured.push(i);
            s.record(Instant::now());
        }
        (warm, measured)
    }

    #[test]
    fn warm_up_then_exact_samples_with_running_indices() {
        let ticks = Count(AtomicU64::new(0));
        let mut s = Sampler::new(
            Plan::exact(70, 3),
            Recorder::new(1, 1).expect("histogram"),
            &ticks,
        );
        let (warm, measured) = drive(&mut s);
        assert_eq!(warm, [0, 1, 2]);
        assert_eq!(measured, (3..73).collect::<Vec<_>>());
        assert_eq!(s.operations(), 73);
        // Two full batches of 32 reported; the last 6 are not worth a tick.
        assert_eq!(ticks.0.load(Ordering::Relaxed), 64);
        assert_eq!(s.into_recorder().samples(), 70);
    }

    #[test]
    fn a_spent_budget_stops_after_the_minimum() {
        let plan = Plan {
            samples: 1_000_000,
            warmup: 0,
            budget: Some(Duration::ZERO),
        };
        let mut s = Sampler::new(plan, Recorder::new(1, 1).expect("histogram"), &Silent);
        let (warm, measured) = drive(&mut s);
        assert!(warm.is_empty());
        assert_eq!(measured.len() as u64, MIN_SAMPLES);
    }

    #[test]
    fn warm_up_ends_once_measuring_began() {
        let mut s = Sampler::new(
            Plan::exact(1, 5),
            Recorder::new(1, 1).expect("histogram"),
            &Silent,
        );
        assert_eq!(s.sample(), Some(0));
        assert_eq!(s.warm_up(), None);
    }
}
