//! Scenario `bench`: runs `redislab bench`'s quick suite inside a lesson (lesson 12), so the
//! learner reads a Redis-vs-SQLite table measured on their own machine, row by row.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};
use crate::bench::{self, Options, parse_cases};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Case ids to run (default: all eight).
    #[serde(default)]
    pub cases: Vec<String>,
    /// Concurrent clients for `concurrent-incr`.
    #[serde(default = "default_clients")]
    pub clients: usize,
}

fn default_clients() -> usize {
    bench::DEFAULT_CLIENTS
}

/// `pipeline/one-by-one` + `sqlite-wal` → `pipeline_one_by_one_sqlite_wal_p50_us`.
fn metric_name(row: &str, column: &str) -> String {
    format!("{row}_{column}_p50_us").replace(['/', '-'], "_")
}

pub(crate) fn validate(params: &Params) -> Result<()> {
    if let Err(e) = parse_cases(&params.cases) {
        bail!("scenario bench: {e}");
    }
    if params.clients == 0 || params.clients > 64 {
        bail!(
            "scenario bench: clients must be 1–64, got {}",
            params.clients
        );
    }
    Ok(())
}

pub async fn run(ctx: &ScenarioContext<'_>, params: Params) -> Result<ScenarioReport> {
    validate(&params)?;
    let cases = match parse_cases(&params.cases) {
        Ok(c) => c,
        Err(e) => bail!("scenario bench: {e}"),
    };
    ctx.progress.set_length(1);
    ctx.progress
        .set_message("running the quick benchmark (a few seconds)");
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
    ctx.progress.inc(1);

    let columns: Vec<_> = report.columns.iter().collect();
    let mut header = vec!["row".to_string(), "per".to_string()];
    header.extend(columns.iter().map(|c| format!("{} p50", c.title)));
    let mut out = ScenarioReport {
        header,
        ..Default::default()
    };
    let mut distinct_cases = std::collections::BTreeSet::new();
    for row in &report.rows {
        distinct_cases.insert(row.case.clone());
        let mut cells = vec![row.label.clone(), row.unit.clone()];
        for c in &columns {
            let text = match row.cell(&c.id) {
                Some(s) => {
                    out.metrics.insert(metric_name(&row.id, &c.id), s.p50_us);
                    let star = if row.fastest.as_deref() == Some(c.id.as_str()) {
                        " ★"
                    } else {
                        ""
                    };
                    format!("{}{star}", crate::measure::human_us(s.p50_us))
                }
                None => "—".to_string(),
            };
            cells.push(text);
        }
        out.rows.push(cells);
        out.notes
            .push(format!("{}: {}", row.label, row.explanation));
    }
    out.notes.extend(report.notes.iter().cloned());
    out.notes.push(format!(
        "Measured just now in {:.1}s on this machine ({} CPUs); ★ marks the fastest column of each row.",
        report.meta.wall_seconds, report.meta.cpus
    ));
    out.metrics
        .insert("cases".into(), distinct_cases.len() as f64);
    out.metrics.insert("rows".into(), report.rows.len() as f64);
    let one_by_one = out.metrics.get("pipeline_one_by_one_redis_p50_us").copied();
    let batched = out.metrics.get("pipeline_batched_redis_p50_us").copied();
    if let (Some(a), Some(b)) = (one_by_one, batched) {
        if b > 0.0 {
            out.metrics.insert("pipeline_speedup".into(), a / b);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn metric_names_are_identifiers() {
        assert_eq!(
            super::metric_name("pipeline/one-by-one", "sqlite-wal"),
            "pipeline_one_by_one_sqlite_wal_p50_us"
        );
    }
}
