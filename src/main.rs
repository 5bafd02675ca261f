//! Parse, run, turn the result into an exit code. Nothing else lives here.

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use redislab::error::{Exit, code};

fn main() -> ExitCode {
    let matches = redislab::cli::Cli::command().get_matches();
    let mut cli = match redislab::cli::Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    cli.global.url_from_env = url_source(&matches) == Some(ValueSource::EnvVariable);
    // rediss:// needs a TLS crypto provider chosen before the first connection.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(&anyhow::Error::new(e).context("could not start the async runtime"));
        }
    };
    let result = runtime.block_on(redislab::cmd::run(cli));
    // Do not wait for a blocking task abandoned by Ctrl-C (a SQLite timing loop, a prompt).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(c) => ExitCode::from(c),
        Err(e) => report(&e),
    }
}

/// Where `--redis-url` came from; it is global, so look in the subcommand's matches too.
fn url_source(m: &clap::ArgMatches) -> Option<ValueSource> {
    match m.subcommand() {
        Some((_, sub)) => sub
            .value_source("redis_url")
            .or_else(|| m.value_source("redis_url")),
        None => m.value_source("redis_url"),
    }
}

fn report(e: &anyhow::Error) -> ExitCode {
    if let Some(exit) = e.downcast_ref::<Exit>() {
        if let Some(m) = &exit.message {
            redislab::term::error(m);
        }
        return ExitCode::from(exit.code);
    }
    // A closed pipe (`redislab inspect | head`) is not a failure.
    if e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    redislab::term::error(&format!("{e:#}").replace('\n', " "));
    ExitCode::from(code::FAILURE)
}
