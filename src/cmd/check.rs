//! `redislab check PATTERN -- COMMAND...`: the learner's own implementation under forced faults.
//! Connects, runs the checker (`crate::check`), draws the verdict (`term::check`) and turns it
//! into an exit code: 0 kept the invariant, 1 broke it, 4 the program itself failed, 2
//! redislab could not run it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use crate::check::{self, Options, Pattern, Verdict};
use crate::cli::{CheckArgs, CheckPattern};
use crate::error::{Exit, code};
use crate::settings::Settings;

pub async fn run(settings: &Settings, args: CheckArgs) -> Result<u8> {
    let pattern = match args.pattern {
        CheckPattern::Lock => Pattern::Lock,
        CheckPattern::Counter => Pattern::Counter,
        CheckPattern::RateLimit => Pattern::RateLimit,
        CheckPattern::Queue => Pattern::Queue,
        CheckPattern::Cache => Pattern::Cache,
    };
    if args.update && pattern != Pattern::Cache {
        return Err(Exit::new(
            code::USAGE,
            "--update belongs to `check cache` (a worker updates the database and invalidates the cache)",
        )
        .into());
    }
    let server = super::connect(settings).await?;
    if server.cluster.is_some() {
        return Err(Exit::new(
            code::USAGE,
            "redislab check runs against a single server, not a cluster; drop --cluster",
        )
        .into());
    }
    let opts = Options {
        pattern,
        workers: args
            .workers
            .map(usize::from)
            .unwrap_or(pattern.default_workers()),
        update: args.update,
        failover: args.failover,
        seed: args.seed,
        replay: args.replay,
        schedules: args.schedules,
        timeout: Duration::from_secs(args.timeout),
        command: args.command,
    };
    // With --failover the private servers fence scripts with an ACL user of their own.
    crate::term::check::starting(&opts, server.has_learner_user() || opts.failover);
    let server = Arc::new(server);
    // Ctrl-C (or a kill) stops the workers (they die with their handles) and deletes the run's
    // keys before leaving.
    let stop = super::signals::stop_signals();
    let report = tokio::select! {
        // redislab could not run the check (a private server for --failover, the proxy): not
        // a verdict, so neither 1 nor 4.
        report = check::run(server.clone(), &opts) => report.map_err(|e| Exit::new(code::CONNECTION, format!("{e:#}")))?,
        code = stop => {
            check::clean_up(&server).await?;
            crate::term::check::interrupted();
            return Ok(code);
        }
    };
    crate::term::check::report(&report, &opts);
    Ok(match report.verdict {
        Verdict::Pass => 0,
        Verdict::Violation { .. } => code::FAILURE,
        Verdict::ProgramFailed { .. } => code::PROGRAM,
    })
}
