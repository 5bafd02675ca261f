//! One of each measurement tool, shared by the benchmark, compare steps, races and scenarios:
//! HDR latency recording (`stats`), how a latency reads (`human_us`), running N tasks together
//! where the first error wins (on tasks, or on threads for blocking work), a thread with a
//! runtime of its own for timing, the warm-up-and-timing loop (`sampler`), and the `Ticker`
//! through which long work reports progress without knowing who draws it.

pub mod sampler;
pub mod stats;

use std::future::Future;

use anyhow::{Context, Result};
use futures_util::future::try_join_all;

/// Progress of a long measurement. `term` draws it as a bar; tests and `--json` use `Silent`.
/// Shared between tasks, so it takes `&self`.
pub trait Ticker: Send + Sync {
    /// Starts (or restarts) with `total` units of work and a short message.
    fn start(&self, total: u64, message: &str);
    /// `n` more units done.
    fn tick(&self, n: u64);
    /// Changes the message, keeping the count.
    fn message(&self, message: &str);
    /// Done: the bar (if any) goes away.
    fn finish(&self);
}

/// A ticker that shows nothing.
pub struct Silent;

impl Ticker for Silent {
    fn start(&self, _total: u64, _message: &str) {}
    fn tick(&self, _n: u64) {}
    fn message(&self, _message: &str) {}
    fn finish(&self) {}
}

/// Runs `n` tasks at once (`task(i)` for i in 0..n) on the current runtime and collects their
/// results in order. The first error wins: the other tasks are dropped (cancelled) at once, so a
/// task waiting at a barrier for a failed one never hangs the whole run.
pub async fn run_together<T, F, Fut>(n: usize, task: F) -> Result<Vec<T>>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    try_join_all((0..n).map(task)).await
}

/// The blocking twin of `run_together`, for work that must stay on threads of its own (SQLite
/// connections block): `task(item)` runs on one thread per item, results come back in item
/// order, and the first error in that order wins. A thread cannot be cancelled, so a task that
/// waits for the others (at a barrier) must get there even when it failed, and fail after.
pub fn run_threads_together<I, T, F>(items: Vec<I>, task: F) -> Result<Vec<T>>
where
    I: Send,
    T: Send,
    F: Fn(I) -> Result<T> + Sync,
{
    std::thread::scope(|scope| {
        let task = &task;
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || task(item)))
            .collect();
        let mut out = Vec::with_capacity(handles.len());
        let mut first_err = None;
        for h in handles {
            match h.join() {
                Ok(Ok(v)) => out.push(v),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert_with(|| anyhow::anyhow!("a worker thread panicked"));
                }
            }
        }
        first_err.map_or(Ok(out), Err)
    })
}

/// Runs `work` on a thread and single-threaded runtime of its own. On the shared multi-threaded
/// runtime every reply would hop between worker threads, and those wake-ups (tens of µs on a
/// small machine) would be charged to the thing being timed.
pub async fn on_own_thread<T, F, Fut>(what: &'static str, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T>>,
{
    tokio::task::spawn_blocking(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .with_context(|| format!("could not start the runtime for {what}"))?;
        rt.block_on(work())
    })
    .await
    .with_context(|| format!("the thread for {what} failed"))?
}

/// A latency in microseconds as a person reads it: `8.63 µs`, `12.4 µs`, `1.25 ms`, `2.30 s`.
pub fn human_us(us: f64) -> String {
    if !us.is_finite() || us < 0.0 {
        "–".to_string()
    } else if us < 10.0 {
        format!("{us:.2} µs")
    } else if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// A rate as a person reads it: `812`, `12.3k`, `1.20M`.
pub fn human_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1}k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_read_like_a_person_writes_them() {
        assert_eq!(human_us(8.634), "8.63 µs");
        assert_eq!(human_us(12.44), "12.4 µs");
        assert_eq!(human_us(1250.0), "1.25 ms");
        assert_eq!(human_us(2_300_000.0), "2.30 s");
        assert_eq!(human_rate(12_345.0), "12.3k");
        assert_eq!(human_us(f64::NAN), "–");
    }

    #[tokio::test]
    async fn the_first_error_wins_and_cancels_the_others() {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(3));
        // Task 2 fails before reaching the barrier; tasks 0 and 1 would wait there forever.
        let r = run_together(3, |i| {
            let b = barrier.clone();
            async move {
                if i == 2 {
                    anyhow::bail!("task 2 failed");
                }
                b.wait().await;
                Ok(i)
            }
        })
        .await;
        assert_eq!(
            r.err().map(|e| e.to_string()).as_deref(),
            Some("task 2 failed")
        );
        let ok = run_together(4, |i| async move { Ok(i * 2) })
            .await
            .expect("all succeed");
        assert_eq!(ok, vec![0, 2, 4, 6]);
    }

    #[test]
    fn threads_meet_at_a_barrier_and_the_first_error_in_order_wins() {
        let barrier = std::sync::Barrier::new(3);
        let r = run_threads_together(vec![0, 1, 2], |i| {
            // Everyone reaches the barrier, the failing one too, so nobody waits forever.
            barrier.wait();
            if i >= 1 {
                anyhow::bail!("thread {i} failed");
            }
            Ok(i)
        });
        assert_eq!(
            r.err().map(|e| e.to_string()).as_deref(),
            Some("thread 1 failed")
        );
        let ok = run_threads_together(vec!["a", "bb"], |s| Ok(s.len())).expect("all succeed");
        assert_eq!(ok, vec![1, 2]);
    }
}
