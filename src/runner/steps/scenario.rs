//! `kind: scenario`: a named demonstration written in Rust (time, subscribers, measured
//! latency). Ctrl-C while it runs leaves the lesson; progress is kept.

use anyhow::Result;

use super::{Ctx, Ran};
use crate::scenarios::{self, ScenarioContext};

pub async fn run(ctx: &mut Ctx<'_, '_>, name: &str, params: &serde_json::Value) -> Result<Ran> {
    if let Some(ran) = ctx.run_or_skip("scenario").await? {
        return Ok(ran);
    }
    let ticker = ctx.ticker(name);
    let ns = ctx.engine.namespace.clone();
    let sctx = ScenarioContext {
        server: ctx.engine.server,
        namespace: &ns,
        ticker: ticker.as_ref(),
    };
    let Some(report) =
        super::until_ctrl_c(ticker.as_ref(), scenarios::run(name, params, &sctx)).await
    else {
        return Ok(Ran::Quit);
    };
    let report = report?;
    if let Some(why) = &report.skipped {
        return Ok(Ran::Skipped(why.clone()));
    }
    super::reported(ctx, &report).await
}
