//! Parse, run, turn the result into an exit code. Nothing else lives here.

use std::process::ExitCode;

use redislab::error::{Exit, code};

fn main() -> ExitCode {
    let cli = redislab::cli::Cli::parse_args();
    redislab::cmd::prepare();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report(&anyhow::Error::new(e).context("could not start the async runtime"));
        }
    };
    // A panic is a bug: the hook has said so; it gets its own exit code, not 1 (a failed check).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(redislab::cmd::run(cli))
    }));
    // Do not wait for a blocking task abandoned by Ctrl-C (a SQLite timing loop, a prompt).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(result) => result.map(ExitCode::from).unwrap_or_else(|e| report(&e)),
        Err(_) => ExitCode::from(code::INTERNAL),
    }
}

fn report(e: &anyhow::Error) -> ExitCode {
    // A closed pipe (`redislab inspect | head`) is not a failure.
    let broken_pipe = |c: &(dyn std::error::Error + 'static)| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    };
    let is_redis = |c: &(dyn std::error::Error + 'static)| c.is::<redis::RedisError>();
    if e.chain().any(broken_pipe) && !e.chain().any(is_redis) {
        return ExitCode::SUCCESS;
    }
    let exit: Exit = redislab::cmd::exit_of(e);
    if let Some(m) = &exit.message {
        redislab::cmd::print_error(m);
    }
    ExitCode::from(exit.code)
}
