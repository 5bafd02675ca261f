//! `kind: race`: workers racing each other, written as lesson data (`lesson::race`), run by
//! `runner::race`. The step says how the interleaving is forced before it runs, then shows
//! one table row per round; its checks test the rounds' metrics.

use anyhow::Result;

use super::{Ctx, Ran};
use crate::lesson::race::Race;
use crate::runner::race::{self, RaceContext};
use crate::runner::seam::Event;

pub async fn run(ctx: &mut Ctx<'_, '_>, race: &Race) -> Result<Ran> {
    let forced_by = ctx.soft(&race.forced_by);
    ctx.show(Event::ForcedBy(&forced_by)).await?;
    if let Some(ran) = ctx.run_or_skip("race").await? {
        return Ok(ran);
    }
    let ticker = ctx.ticker("race");
    let rctx = RaceContext {
        server: ctx.engine.server,
        vars: &ctx.engine.vars,
        ticker: ticker.as_ref(),
    };
    let Some(report) = super::until_ctrl_c(ticker.as_ref(), race::run(race, &rctx)).await else {
        return Ok(Ran::Quit);
    };
    let report = report?;
    super::reported(ctx, &report).await
}
