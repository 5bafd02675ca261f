//! The few errors a caller branches on. Everything else is an `anyhow::Error` with context;
//! `Exit` carries an exit code up to `main` instead of calling `process::exit` deep inside.

use std::fmt;
use std::sync::OnceLock;

/// Exit codes redislab uses.
pub mod code {
    /// A check failed, a lesson step failed, or a generic error.
    pub const FAILURE: u8 = 1;
    /// No Redis could be reached, or a connection failed; bad usage.
    pub const CONNECTION: u8 = 2;
    /// Bad input (unknown lesson, wrong answer count, ...).
    pub const USAGE: u8 = 2;
    /// An internal error: a bug (a panic), never a failed check or a lost server.
    pub const INTERNAL: u8 = 70;
    /// Interrupted by Ctrl-C (progress was saved).
    pub const INTERRUPTED: u8 = 130;
}

/// Ends the program with `code`, printing `message` (one line) on stderr if there is one.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: Option<String>,
}

impl Exit {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Exit {
            code,
            message: Some(message.into()),
        }
    }

    /// Exit with a code and nothing more to say (the output already said it).
    pub fn quiet(code: u8) -> Self {
        Exit {
            code,
            message: None,
        }
    }
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.message {
            Some(m) => f.write_str(m),
            None => write!(f, "exit code {}", self.code),
        }
    }
}

impl std::error::Error for Exit {}

/// A connection-level failure: exit code 2 with one clear line.
pub fn connection(message: impl Into<String>) -> anyhow::Error {
    Exit::new(code::CONNECTION, message).into()
}

/// The server this run talks to, for naming it when a connection fails deep inside.
static SERVER: OnceLock<String> = OnceLock::new();

/// Records the server's display address (the first one connected to wins).
pub fn set_server(display: &str) {
    let _ = SERVER.set(display.to_string());
}

/// A connection that failed mid-run, as one line naming the server; `None` for an error that
/// is not about the connection.
pub fn lost(e: &redis::RedisError, server: &str) -> Option<Exit> {
    if let Some(why) = crate::redis::bounded::refused() {
        return Some(Exit::new(
            code::CONNECTION,
            format!(
                "Redis at {server} sent {why}; redislab closed the connection (one reply may \
                 be at most {} MiB and {} elements)",
                crate::redis::bounded::MAX_REPLY_BYTES >> 20,
                crate::redis::bounded::MAX_REPLY_ELEMENTS
            ),
        ));
    }
    if e.is_timeout() {
        return Some(Exit::new(
            code::CONNECTION,
            format!("Redis at {server} did not answer within 10 s"),
        ));
    }
    (e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal()).then(|| {
        Exit::new(
            code::CONNECTION,
            format!("lost the connection to Redis at {server}"),
        )
    })
}

/// How a failed run ends: an `Exit` as it says; a lost or silent Redis anywhere in the chain
/// as exit 2 naming the server (whichever code used `?` on the redis error); a panicked task
/// as an internal error; anything else as a failure with the whole chain on one line.
pub fn classify(e: &anyhow::Error) -> Exit {
    if let Some(exit) = e.downcast_ref::<Exit>() {
        return Exit {
            code: exit.code,
            message: exit.message.clone(),
        };
    }
    let server = SERVER.get().map(String::as_str).unwrap_or("the server");
    for cause in e.chain() {
        if let Some(exit) = cause
            .downcast_ref::<redis::RedisError>()
            .and_then(|r| lost(r, server))
        {
            return exit;
        }
        if let Some(j) = cause.downcast_ref::<tokio::task::JoinError>() {
            if j.is_panic() {
                return Exit::new(
                    code::INTERNAL,
                    "internal error (please report it): a task panicked",
                );
            }
        }
    }
    Exit::new(code::FAILURE, format!("{e:#}").replace('\n', " "))
}
