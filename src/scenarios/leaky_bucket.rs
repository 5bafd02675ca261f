//! Scenario `leaky-bucket`: requests arrive in a burst, a bucket (a list) holds at most
//! `capacity` of them and refuses the rest, and one worker lets them out at `rate_per_s`,
//! however fast they came in.
//!
//! On a plain connection to the node that owns `<ns>:{jobs}:bucket` (the learner's ACL user on
//! the managed server), a producer offers `requests` requests, one script call each: the
//! script pushes the request only while the list is shorter than the capacity, so the check
//! and the push are one step and two producers could never overfill it. Then a worker on a
//! second connection drains it on a fixed timetable: the k-th request is taken no earlier than
//! k intervals after the first. It waits for each slot with `BLPOP <ns>:{jobs}:tick <seconds>`
//! on a key nobody writes: the server itself times the wait and answers nil when it is over,
//! so the client never sleeps. Redis checks blocking timeouts on its own clock, about `hz`
//! times a second (10 by default), so a wait ends at or a little after its slot and the output
//! rate comes out at or under the limit. The output rate is measured from the first take to
//! the last.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redis::Value;
use serde::{Deserialize, Serialize};

use super::blocking_pop::{exchange, int_of, on_owner, seconds, words};
use super::params::{Param, int};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::redis::connect::Rights;

/// Push only while the bucket has room: LLEN and LPUSH in one step.
const ENQUEUE: &str = "if redis.call('LLEN', KEYS[1]) < tonumber(ARGV[1]) then return redis.call('LPUSH', KEYS[1], ARGV[2]) end return 0";

/// How long any single reply may take (the slot waits add their own length).
const REPLY_WAIT: Duration = Duration::from_secs(5);

pub struct LeakyBucket;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub capacity: u64,
    pub rate_per_s: u64,
    pub requests: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            capacity: 8,
            rate_per_s: 4,
            requests: 20,
        }
    }
}

impl Scenario for LeakyBucket {
    const NAME: &'static str = "leaky-bucket";
    const SUMMARY: &'static str = "a burst of requests into a bucket of fixed size, drained by one worker at a fixed rate: the overflow is refused, the output rate stays at the limit";
    const PARAMS: &'static [Param] = &[
        int(
            "capacity",
            1,
            100,
            "how many requests the bucket holds; more are refused",
        ),
        int(
            "rate_per_s",
            1,
            10,
            "requests the worker takes out per second (at most 10: a server ends blocking timeouts about 10 times a second by default)",
        ),
        int(
            "requests",
            1,
            1_000,
            "requests offered in one burst before the worker starts",
        ),
    ];
    type Params = Params;

    async fn run(ctx: &ScenarioContext<'_>, p: Params) -> Result<ScenarioReport> {
        let bucket = ctx.key("{jobs}:bucket");
        let tick = ctx.key("{jobs}:tick");
        let interval = Duration::from_secs_f64(1.0 / p.rate_per_s as f64);
        let capacity = p.capacity.to_string();
        let clear = words(&["DEL", &bucket, &tick]);
        let offer = |n: u64| {
            words(&[
                "EVAL",
                ENQUEUE,
                "1",
                &bucket,
                &capacity,
                &format!("req:{n}"),
            ])
        };
        let take = words(&["RPOP", &bucket]);

        ctx.ticker
            .start(p.requests + p.capacity, "a burst fills the bucket");
        let (mut producer, node, _) = on_owner(ctx.server, &clear, REPLY_WAIT).await?;
        let mut worker = ctx
            .server
            .raw_connection(Rights::Learner, node.as_ref(), REPLY_WAIT, false)
            .await
            .context("could not open the worker's connection")?;

        let (mut accepted, mut refused, mut peak) = (0u64, 0u64, 0i64);
        for n in 1..=p.requests {
            let len = int_of(&exchange(&mut producer, &offer(n), REPLY_WAIT).await?);
            if len > 0 {
                accepted += 1;
                peak = peak.max(len);
            } else {
                refused += 1;
            }
            ctx.ticker.tick(1);
        }

        ctx.ticker.message("the worker drains it at a fixed rate");
        let mut taken: Vec<Instant> = Vec::new();
        let mut first: Option<Instant> = None;
        loop {
            if let Some(t0) = first {
                let slot = t0 + interval * taken.len() as u32;
                let now = Instant::now();
                if slot > now {
                    let rest = slot - now;
                    // Wait for this slot: the fence's check comes before the wait, not in it.
                    let wait = words(&["BLPOP", &tick, &seconds(rest)]);
                    let reply = exchange(&mut worker, &wait, rest + REPLY_WAIT).await?;
                    if reply != Value::Nil {
                        bail!("something pushed onto {tick}, which the worker only waits on");
                    }
                }
            }
            let at = Instant::now();
            let job = exchange(&mut worker, &take, REPLY_WAIT).await?;
            if job == Value::Nil {
                break;
            }
            first.get_or_insert(at);
            taken.push(at);
            ctx.ticker.tick(1);
        }
        exchange(&mut producer, &clear, REPLY_WAIT).await?;
        ctx.ticker.finish();
        Ok(report(&p, accepted, refused, peak, &taken))
    }
}

fn report(p: &Params, accepted: u64, refused: u64, peak: i64, taken: &[Instant]) -> ScenarioReport {
    let drained = taken.len() as u64;
    let span = match (taken.first(), taken.last()) {
        (Some(a), Some(b)) => b.duration_since(*a),
        _ => Duration::ZERO,
    };
    let gaps: Vec<f64> = taken
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_secs_f64() * 1e3)
        .collect();
    let rate = if drained > 1 && !span.is_zero() {
        (drained - 1) as f64 / span.as_secs_f64()
    } else {
        0.0
    };
    let limit = p.rate_per_s as f64;
    let mean_gap = if gaps.is_empty() {
        0.0
    } else {
        gaps.iter().sum::<f64>() / gaps.len() as f64
    };
    let rows = vec![
        vec![
            "offered in one burst".into(),
            p.requests.to_string(),
            String::new(),
        ],
        vec![
            "accepted into the bucket".into(),
            accepted.to_string(),
            format!("capacity {}", p.capacity),
        ],
        vec![
            "refused (bucket full)".into(),
            refused.to_string(),
            String::new(),
        ],
        vec![
            "taken out by the worker".into(),
            drained.to_string(),
            format!("over {:.0} ms", span.as_secs_f64() * 1e3),
        ],
        vec![
            "output rate".into(),
            format!("{rate:.2}/s"),
            format!("limit {}/s", p.rate_per_s),
        ],
        vec![
            "gap between two takes".into(),
            format!("{mean_gap:.0} ms mean"),
            format!("{:.0} ms at the limit", 1e3 / limit),
        ],
    ];
    let mut report = ScenarioReport {
        header: vec!["what".into(), "measured".into(), "against".into()],
        rows,
        ..Default::default()
    };
    for (name, value) in [
        ("offered", p.requests as f64),
        ("capacity", p.capacity as f64),
        ("accepted", accepted as f64),
        ("refused", refused as f64),
        ("peak_len", peak as f64),
        ("drained", drained as f64),
        ("limit_per_s", limit),
        ("output_per_s", rate),
        (
            "output_vs_limit",
            if limit > 0.0 { rate / limit } else { 0.0 },
        ),
        ("span_ms", span.as_secs_f64() * 1e3),
    ] {
        report.metrics.insert(name.into(), value);
    }
    report.notes.push(format!(
        "The bucket took {accepted} of {} requests that came at once and refused {refused}: it never held more than {peak}.",
        p.requests
    ));
    if drained > 1 {
        report.notes.push(format!(
            "The worker let them out at {rate:.2} a second against a limit of {}: {:.0}% of it. A wait ends on the server's timer, at or after its slot, so the rate never goes over.",
            p.rate_per_s,
            100.0 * rate / limit
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_measured_from_the_first_take_to_the_last() {
        let t0 = Instant::now();
        let taken: Vec<Instant> = (0..5)
            .map(|k| t0 + Duration::from_millis(250 * k))
            .collect();
        let p = Params::default();
        let r = report(&p, 8, 12, 8, &taken);
        assert!((r.metrics["output_per_s"] - 4.0).abs() < 1e-9);
        assert!((r.metrics["output_vs_limit"] - 1.0).abs() < 1e-9);
        assert_eq!(r.metrics["drained"], 5.0);
        let none = report(&p, 0, 0, 0, &[]);
        assert_eq!(none.metrics["output_per_s"], 0.0);
    }
}
