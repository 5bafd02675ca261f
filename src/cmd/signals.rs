//! The signals that stop a run (Ctrl-C, a `kill`, a closed terminal), for a command that must
//! put something back first: `bench` (the managed server's AOF settings, its keys), `lesson`
//! (lesson time: the TTLs taken while the learner reads). Each
//! signal ends the run with its own exit code, 128 + its number, as the README's table lists.

use crate::error::code;

/// Waits for SIGINT, SIGTERM or SIGHUP and gives the exit code each ends a run with (128 + the
/// signal's number). The handlers are installed when this is called, not when it is polled.
pub fn stop_signals() -> impl std::future::Future<Output = u8> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let hup = signal(SignalKind::hangup());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, hup, int) {
                (Ok(mut term), Ok(mut hup), Ok(mut int)) => tokio::select! {
                    _ = int.recv() => code::INTERRUPTED,
                    _ = term.recv() => 143,
                    _ = hup.recv() => 129,
                },
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                    code::INTERRUPTED
                }
            }
        }
    }
    #[cfg(not(unix))]
    async move {
        let _ = tokio::signal::ctrl_c().await;
        code::INTERRUPTED
    }
}

/// Waits for SIGTERM or SIGHUP (a `kill`, a closed terminal) and gives the exit code each ends
/// a run with. For a run whose Ctrl-C is a key its prompts read themselves.
pub fn end_signals() -> impl std::future::Future<Output = u8> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let hup = signal(SignalKind::hangup());
        async move {
            match (term, hup) {
                (Ok(mut term), Ok(mut hup)) => tokio::select! {
                    _ = term.recv() => 143,
                    _ = hup.recv() => 129,
                },
                _ => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending()
}
