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
    /// `check`: the learner's program could not start, crashed or hung (not a verdict on the
    /// pattern, which is FAILURE).
    pub const PROGRAM: u8 = 4;
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

/// The server this run talks to, as recorded by `set_server` ("the server" before any).
pub fn server_name() -> &'static str {
    SERVER.get().map(String::as_str).unwrap_or("the server")
}
