//! Parse, run, turn the result into an exit code. Nothing else lives here.

use std::process::ExitCode;

use redislab::error::{Exit, code};

fn main() -> ExitCode {
    let cli = redislab::cli::Cli::parse_args();
    redislab::term::install_panic_hook();
    redislab::redis::connect::install_tls_provider();
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
    result.map(ExitCode::from).unwrap_or_else(|e| report(&e))
}

fn report(e: &anyhow::Error) -> ExitCode {
    if let Some(exit) = e.downcast_ref::<Exit>() {
        if let Some(m) = &exit.message {
            redislab::term::error(m);
        }
        return ExitCode::from(exit.code);
    }
    // A closed pipe (`redislab inspect | head`) is not a failure.
    let broken_pipe = |c: &(dyn std::error::Error + 'static)| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    };
    if e.chain().any(broken_pipe) {
        return ExitCode::SUCCESS;
    }
    redislab::term::error(&format!("{e:#}").replace('\n', " "));
    ExitCode::from(code::FAILURE)
}
