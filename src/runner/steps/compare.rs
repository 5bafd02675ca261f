//! `kind: compare`: the same job timed in Redis and in SQLite, measured on the spot. The
//! timing itself lives in `runner::compare`; this file runs the step.

use anyhow::Result;

use super::{Ctx, Done, Ran};
use crate::lesson::model::{CommandSpec, RedisSide, SqliteSide};
use crate::runner::compare;
use crate::runner::seam::Event;

pub async fn run(
    ctx: &mut Ctx<'_, '_>,
    iterations: u32,
    redis: &RedisSide,
    sqlite: &SqliteSide,
) -> Result<Ran> {
    if let Some(ran) = ctx.run_or_skip("compare").await? {
        return Ok(ran);
    }
    // The timed keys (`${ns}:orders:bench`, 2000 entries) are scratch: deleted once measured.
    let lines: Vec<String> = redis.setup.iter().chain(&redis.commands).cloned().collect();
    let named = ctx.engine.keys_named(&lines);
    let existed = ctx.engine.existing(&named).await?;
    let setup: Vec<CommandSpec> = redis.setup.iter().cloned().map(CommandSpec::Line).collect();
    ctx.engine.run_quiet(&setup).await?;
    let commands = redis
        .commands
        .iter()
        .map(|c| ctx.engine.expand(c))
        .collect::<Result<Vec<_>>>()?;
    let iterations = iterations.max(1);
    let r = compare::time_redis_isolated(
        ctx.engine.server.opener(),
        redis.clone(),
        commands,
        iterations,
    )
    .await?;
    let sqlite = sqlite.clone();
    let (m, w) =
        tokio::task::spawn_blocking(move || compare::time_sqlite_modes(&sqlite, iterations))
            .await??;
    ctx.engine.remove_made(&named, &existed).await?;
    let report = compare::report(iterations, r, m, w);
    ctx.show(Event::Compare(&report)).await?;
    Ok(Ran::Done(Done {
        metrics: report.metrics.clone(),
        ..Done::default()
    }))
}
