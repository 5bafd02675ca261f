//! Latency recording: one HDR histogram per cell, summarised into the figures a report shows.

use std::time::Duration;

use hdrhistogram::Histogram as HdrHistogram;
use serde::{Deserialize, Serialize};

/// Highest latency we can record: one minute, in nanoseconds.
const MAX_NS: u64 = 60_000_000_000;

/// Collects samples for one cell (one workload on one engine).
pub struct Recorder {
    hist: HdrHistogram<u64>,
    /// Sum of the raw sample durations, for ops/s.
    busy_ns: u128,
    /// Raw samples taken (a sample may hold several operations).
    samples: u64,
    /// Logical operations per raw sample (100 for "100 GETs", 1 for one GET).
    ops_per_sample: u32,
    /// Divide each raw sample by this before recording (per-op averages).
    divide_by: u32,
}

impl Recorder {
    pub fn new(ops_per_sample: u32, divide_by: u32) -> anyhow::Result<Self> {
        let hist = HdrHistogram::new_with_bounds(1, MAX_NS, 3)
            .map_err(|e| anyhow::anyhow!("could not create a latency histogram: {e:?}"))?;
        Ok(Recorder {
            hist,
            busy_ns: 0,
            samples: 0,
            ops_per_sample: ops_per_sample.max(1),
            divide_by: divide_by.max(1),
        })
    }

    #[inline]
    pub fn record(&mut self, d: Duration) {
        let ns = d.as_nanos();
        self.busy_ns += ns;
        self.samples += 1;
        let v = (ns / u128::from(self.divide_by)).clamp(1, u128::from(MAX_NS)) as u64;
        self.hist.saturating_record(v);
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Adds another recorder's samples (concurrent clients).
    pub fn merge(&mut self, other: &Recorder) {
        let _ = self.hist.add(&other.hist);
        self.busy_ns += other.busy_ns;
        self.samples += other.samples;
    }

    /// Figures for sequential work: throughput is operations over the time spent in them.
    pub fn summary(&self) -> Stats {
        let secs = self.busy_ns as f64 / 1e9;
        let ops = self.samples as f64 * f64::from(self.ops_per_sample);
        self.summary_with(if secs > 0.0 { ops / secs } else { 0.0 }, secs)
    }

    /// Figures for concurrent work: throughput is operations over wall time.
    pub fn summary_wall(&self, wall: Duration) -> Stats {
        let secs = wall.as_secs_f64();
        let ops = self.samples as f64 * f64::from(self.ops_per_sample);
        self.summary_with(if secs > 0.0 { ops / secs } else { 0.0 }, secs)
    }

    fn summary_with(&self, ops_per_sec: f64, seconds: f64) -> Stats {
        let us = |ns: u64| ns as f64 / 1000.0;
        Stats {
            samples: self.samples,
            ops: self.samples * u64::from(self.ops_per_sample),
            p50_us: us(self.hist.value_at_quantile(0.50)),
            p95_us: us(self.hist.value_at_quantile(0.95)),
            p99_us: us(self.hist.value_at_quantile(0.99)),
            mean_us: self.hist.mean() / 1000.0,
            min_us: us(self.hist.min()),
            max_us: us(self.hist.max()),
            ops_per_sec,
            seconds,
        }
    }
}

/// The figures of one cell. Latencies are per sample as the row defines it, in microseconds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Measured samples (after warm-up).
    pub samples: u64,
    /// Logical operations those samples performed.
    pub ops: u64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
    pub mean_us: f64,
    pub min_us: f64,
    pub max_us: f64,
    /// Logical operations per second.
    pub ops_per_sec: f64,
    /// Time the measured samples took (sum of samples, or wall time when concurrent).
    pub seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_rates() {
        let mut r = Recorder::new(1, 1).expect("histogram");
        for us in 1..=100u64 {
            r.record(Duration::from_micros(us));
        }
        let s = r.summary();
        assert_eq!(s.samples, 100);
        assert!((s.p50_us - 50.0).abs() < 0.5, "{}", s.p50_us);
        assert!((s.p99_us - 99.0).abs() < 0.5, "{}", s.p99_us);
        assert!(s.p50_us <= s.p99_us);
        // 100 ops in 5050 µs.
        assert!((s.ops_per_sec - 100.0 / 0.00505).abs() < 1.0);
    }

    #[test]
    fn per_op_average() {
        let mut r = Recorder::new(100, 100).expect("histogram");
        r.record(Duration::from_micros(1000));
        let s = r.summary();
        assert!((s.p50_us - 10.0).abs() < 0.1);
        assert_eq!(s.ops, 100);
        assert!((s.ops_per_sec - 100_000.0).abs() < 1.0);
    }
}
