//! One file per subcommand; this module only dispatches. Each returns the process exit code.

mod bench;
mod check;
mod completions;
mod doctor;
mod inspect;
mod lesson;
mod list;
mod notes;
pub mod progress;
mod quiz;
pub mod record;
mod reset;
mod review;
mod sandbox;
mod server;
mod signals;
mod stats;
mod validate;

use anyhow::Result;

use crate::error::Exit;

use crate::cli::{Cli, Command};
use crate::settings::Settings;

/// Before anything runs: the panic hook (one line, the terminal left usable) and the TLS
/// crypto provider.
pub fn prepare() {
    crate::term::install_panic_hook();
    crate::redis::connect::install_tls_provider();
    crate::lesson::validate::check_scenarios_with(crate::scenarios::check);
}

/// How a failed run ends: an `Exit` as it says; a lost or silent Redis anywhere in the chain
/// as exit 2 naming the server (whichever code used `?` on the redis error); a panicked task
/// as an internal error; anything else as a failure with the whole chain on one line.
pub fn exit_of(e: &anyhow::Error) -> Exit {
    if let Some(exit) = e.downcast_ref::<Exit>() {
        return Exit {
            code: exit.code,
            message: exit.message.clone(),
        };
    }
    let server = crate::error::server_name();
    for cause in e.chain() {
        if let Some(exit) = cause
            .downcast_ref::<redis::RedisError>()
            .and_then(|r| crate::redis::connect::lost(r, server))
        {
            return exit;
        }
        if let Some(j) = cause.downcast_ref::<tokio::task::JoinError>() {
            if j.is_panic() {
                return Exit::new(
                    crate::error::code::INTERNAL,
                    "internal error (please report it): a task panicked",
                );
            }
        }
    }
    Exit::new(
        crate::error::code::FAILURE,
        format!("{e:#}").replace('\n', " "),
    )
}

/// The one line a failed command ends with.
pub fn print_error(message: &str) {
    crate::term::error(message);
}

pub async fn run(cli: Cli) -> Result<u8> {
    let settings = Settings::from_args(&cli.global)?;
    crate::term::init(settings.color);
    let is_server = matches!(cli.command, Some(Command::Server(_)));
    if settings.cluster && !settings.managed && !is_server {
        return Err(crate::error::Exit::new(
            crate::error::code::USAGE,
            "--cluster picks redislab's own cluster and needs --managed (`redislab --managed --cluster ...`); \
             for another cluster, give a node's URL with --redis-url",
        )
        .into());
    }
    match cli.command {
        None => list::menu(&settings).await,
        Some(Command::Inspect(a)) => inspect::run(&settings, a).await,
        Some(Command::Sandbox(a)) => sandbox::run(&settings, a).await,
        Some(Command::Server(a)) => server::run(&settings, a).await,
        Some(Command::Reset(a)) => reset::run(&settings, a).await,
        Some(Command::List(a)) => list::run(&settings, a).await,
        Some(Command::Lesson(a)) => lesson::run(&settings, a).await,
        Some(Command::Quiz(a)) => quiz::run(&settings, a).await,
        Some(Command::Progress(a)) => progress::run(&settings, a).await,
        Some(Command::Stats(a)) => stats::run(&settings, a),
        Some(Command::Review(a)) => review::run(&settings, a).await,
        Some(Command::Validate(a)) => validate::run(&settings, a).await,
        Some(Command::Bench(a)) => bench::run(&settings, a).await,
        Some(Command::Notes(a)) => notes::run(&settings, a).await,
        Some(Command::Check(a)) => check::run(&settings, a).await,
        Some(Command::Completions(a)) => completions::run(a),
        Some(Command::Doctor) => doctor::run(&settings).await,
    }
}

/// Connects and prints the one dim banner line.
pub async fn connect(settings: &Settings) -> Result<crate::redis::connect::Server> {
    let server = crate::redis::connect::connect(settings).await?;
    crate::term::banner(&server.banner());
    Ok(server)
}
