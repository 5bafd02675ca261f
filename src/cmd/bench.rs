//! `redislab bench`: Redis vs SQLite, measured here; or `--throughput` for GET ops/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use anyhow::{Context, Result};

use crate::bench::throughput::{self, ThroughputOptions};
use crate::bench::{self, Cancel, DEFAULT_CLIENTS, Options};
use crate::cli::BenchArgs;
use crate::error::{Exit, code};
use crate::settings::Settings;
use crate::term;

fn usage(message: String) -> anyhow::Error {
    Exit::new(code::CONNECTION, message).into()
}

pub async fn run(settings: &Settings, args: BenchArgs) -> Result<u8> {
    // Bad ids are a usage error: say so before connecting to anything.
    let cases = bench::parse_cases(&args.only).map_err(usage)?;
    let sqlite = bench::parse_modes(&args.sqlite).map_err(usage)?;
    if args.clients == Some(0) {
        return Err(usage("--clients must be at least 1".into()));
    }
    if args.iterations == Some(0) {
        return Err(usage("--iterations must be at least 1".into()));
    }
    if args.pipeline == 0 {
        return Err(usage("--pipeline must be at least 1".into()));
    }
    if args.requests == Some(0) {
        return Err(usage("--requests must be at least 1".into()));
    }

    let server = super::connect(settings).await?;
    // Ctrl-C, SIGTERM and SIGHUP stop the run at the next operation; keys, temporary files and
    // the managed server's AOF settings are still put back. Listening starts before the run.
    let cancel = Cancel::default();
    let stopped_by = Arc::new(AtomicU8::new(0));
    let signals = super::signals::stop_signals();
    let watcher = {
        let cancel = cancel.clone();
        let stopped_by = stopped_by.clone();
        tokio::spawn(async move {
            let exit = signals.await;
            stopped_by.store(exit, Ordering::Relaxed);
            cancel.cancel();
        })
    };
    let result = if args.throughput {
        run_throughput(settings, &server, &args, cancel).await
    } else {
        let options = Options {
            quick: args.quick,
            iterations: args.iterations,
            cases,
            sqlite,
            clients: args.clients.unwrap_or(DEFAULT_CLIENTS),
            durable: !args.no_durable,
            // The durable columns reconfigure the single managed server, never a cluster.
            managed_dir: (server.is_managed() && server.cluster.is_none())
                .then(|| crate::redis::managed::dir(&settings.home)),
            cancel,
        };
        run_suite(settings, &server, &args, options).await
    };
    watcher.abort();
    // Stopped by a signal: the exit code says which (130 INT, 143 TERM, 129 HUP).
    let by = stopped_by.load(Ordering::Relaxed);
    match result {
        Err(e)
            if by != 0
                && e.downcast_ref::<Exit>()
                    .is_some_and(|x| x.code == code::INTERRUPTED) =>
        {
            Err(Exit::new(by, format!("{e:#}")).into())
        }
        other => other,
    }
}

async fn run_suite(
    settings: &Settings,
    server: &crate::redis::connect::Server,
    args: &BenchArgs,
    options: Options,
) -> Result<u8> {
    let bars = term::bench::suite_bars(true);
    let report =
        bench::run_suite(server, &settings.namespace, options, bars.progress.clone()).await?;
    if args.json {
        term::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).context("could not encode JSON")?
        ));
    } else {
        term::out(&term::bench::render(&report));
    }
    if let Some(path) = &args.csv {
        std::fs::write(path, bench::report::to_csv(&report))
            .with_context(|| format!("could not write {}", path.display()))?;
        if !args.json {
            term::notice(&format!("CSV written to {}", path.display()));
        }
    }
    if let Some(path) = &args.chart {
        term::bench::write_chart(&report, path)?;
        if !args.json {
            term::notice(&format!("chart written to {}", path.display()));
        }
    }
    Ok(0)
}

async fn run_throughput(
    settings: &Settings,
    server: &crate::redis::connect::Server,
    args: &BenchArgs,
    cancel: Cancel,
) -> Result<u8> {
    let defaults = ThroughputOptions::default();
    let opts = ThroughputOptions {
        clients: args.clients.unwrap_or(defaults.clients),
        pipeline: args.pipeline,
        requests: args.requests.unwrap_or(defaults.requests),
    };
    let bar = term::bench::throughput_bar(true);
    let report = throughput::run(server, &settings.namespace, opts, cancel, bar).await?;
    if args.json {
        term::out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&report).context("could not encode JSON")?
        ));
    } else {
        term::out(&term::bench::render_throughput(&report));
    }
    if args.csv.is_some() || args.chart.is_some() {
        term::notice("--csv and --chart apply to the Redis vs SQLite run, not --throughput");
    }
    Ok(0)
}
