//! Scenario `bench`: runs `redislab bench`'s quick suite inside a lesson (lesson 12), so the
//! learner reads a Redis-vs-SQLite table measured on their own machine, row by row.

use std::collections::BTreeSet;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};

use super::params::{Param, int, names};
use super::{Scenario, ScenarioContext, ScenarioReport};
use crate::bench::{self, Options, parse_cases};
use crate::measure::human_us;

pub struct Bench;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    pub cases: Vec<String>,
    pub clients: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            cases: Vec::new(),
            clients: bench::DEFAULT_CLIENTS,
        }
    }
}

impl Scenario for Bench {
    const NAME: &'static str = "bench";
    const SUMMARY: &'static str =
        "the quick Redis-vs-SQLite benchmark of `redislab bench`, measured on this machine";
    const PARAMS: &'static [Param] = &[
        names(
            "cases",
            "case ids to run, as `redislab bench --cases` takes them (empty: all eight)",
        ),
        int("clients", 1, 64, "concurrent clients for `concurrent-incr`"),
    ];
    const TIMED: bool = true;
    type Params = Params;

    fn check(p: &Params) -> Result<()> {
        parse_cases(&p.cases).map_err(|e| anyhow!("bench: {e}"))?;
        Ok(())
    }

    async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
        let cases = parse_cases(&params.cases).map_err(|e| anyhow!("bench: {e}"))?;
        ctx.ticker
            .start(1, "running the quick benchmark (a few seconds)");
        // The lesson shows what a default server gives; durable columns stay in `redislab bench`.
        let options = Options {
            cases,
            clients: params.clients,
            durable: false,
            ..Options::quick()
        };
        let report = bench::run_suite(
            ctx.server,
            ctx.namespace,
            options,
            bench::Progress::silent(),
        )
        .await?;
        ctx.ticker.tick(1);
        Ok(convert(&report))
    }
}

/// `pipeline/one-by-one` + `sqlite-wal` → `pipeline_one_by_one_sqlite_wal_p50_us`.
fn metric_name(row: &str, column: &str) -> String {
    format!("{row}_{column}_p50_us").replace(['/', '-'], "_")
}

/// The benchmark's report as a scenario's: p50 per cell (★ on each row's fastest), one metric
/// per cell, and how much the pipeline saved.
fn convert(report: &bench::report::Report) -> ScenarioReport {
    let mut header = vec!["row".to_string(), "per".to_string()];
    header.extend(report.columns.iter().map(|c| format!("{} p50", c.title)));
    let mut out = ScenarioReport {
        header,
        ..Default::default()
    };
    let mut distinct_cases = BTreeSet::new();
    for row in &report.rows {
        distinct_cases.insert(row.case.clone());
        let mut cells = vec![row.label.clone(), row.unit.clone()];
        for c in &report.columns {
            cells.push(match row.cell(&c.id) {
                Some(s) => {
                    out.metrics.insert(metric_name(&row.id, &c.id), s.p50_us);
                    let fastest = row.fastest.as_deref() == Some(c.id.as_str());
                    format!("{}{}", human_us(s.p50_us), if fastest { " ★" } else { "" })
                }
                None => "—".to_string(),
            });
        }
        out.rows.push(cells);
    }
    // The benchmark's own notes are about this run (skipped columns, what it checked).
    out.notes.extend(report.notes.iter().cloned());
    out.notes.push(format!(
        "Measured just now in {:.1} s on this machine ({} CPUs); ★ marks the fastest column of each row.",
        report.meta.wall_seconds, report.meta.cpus
    ));
    let m = &mut out.metrics;
    m.insert("cases".into(), distinct_cases.len() as f64);
    m.insert("rows".into(), report.rows.len() as f64);
    let one_by_one = m.get("pipeline_one_by_one_redis_p50_us").copied();
    let batched = m.get("pipeline_batched_redis_p50_us").copied();
    if let (Some(a), Some(b)) = (one_by_one, batched) {
        if b > 0.0 {
            m.insert("pipeline_speedup".into(), a / b);
            out.notes.push(format!(
                "100 writes in one pipeline took {} against {} one by one: ×{:.0} faster.",
                human_us(b),
                human_us(a),
                a / b
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::scenarios::validate;
    use serde_json::json;

    #[test]
    fn metric_names_are_identifiers() {
        assert_eq!(
            super::metric_name("pipeline/one-by-one", "sqlite-wal"),
            "pipeline_one_by_one_sqlite_wal_p50_us"
        );
    }

    #[test]
    fn cases_and_clients_are_checked() {
        assert!(validate("bench", &json!({"cases": ["nope"]})).is_err());
        assert!(validate("bench", &json!({"clients": 0})).is_err());
        assert!(validate("bench", &json!({"clients": 64})).is_ok());
    }
}
