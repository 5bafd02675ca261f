//! `kind: scenario`: a named demonstration written in Rust (time, subscribers, measured
//! latency). Ctrl-C while it runs leaves the lesson; progress is kept.

use anyhow::Result;

use super::{Ctx, Done, Ran};
use crate::runner::seam::Event;
use crate::scenarios::{self, ScenarioContext};

pub async fn run(ctx: &mut Ctx<'_, '_>, name: &str, params: &serde_json::Value) -> Result<Ran> {
    if let Some(ran) = ctx.run_or_skip("scenario").await? {
        return Ok(ran);
    }
    let ticker = ctx.view.ticker(name);
    let ns = ctx.engine.namespace.clone();
    let sctx = ScenarioContext {
        server: ctx.engine.server,
        namespace: &ns,
        ticker: ticker.as_ref(),
    };
    let report = tokio::select! {
        r = scenarios::run(name, params, &sctx) => r,
        _ = tokio::signal::ctrl_c() => {
            ticker.finish();
            return Ok(Ran::Quit);
        }
    };
    ticker.finish();
    let report = report?;
    ctx.view.show(Event::Report(&report));
    Ok(Ran::Done(Done {
        metrics: report.metrics.clone(),
        ..Done::default()
    }))
}
