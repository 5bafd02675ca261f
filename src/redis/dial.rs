//! Opening one connection to one server, and saying in one line why it failed: the timeouts,
//! the bounded socket (`transport`), and the wording every caller shares. It sits below the
//! cluster client and the connection types, which open their nodes through it.

use std::time::Duration;

use anyhow::Result;
use redis::{AsyncConnectionConfig, Client, RedisError};

use crate::error;

/// How long opening a connection (the socket and the log-in) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = super::transport::CONNECT_TIMEOUT;

pub(crate) async fn open(
    client: &Client,
    display: &str,
    response: Option<Duration>,
) -> Result<redis::aio::MultiplexedConnection> {
    Ok(open_counted(client, display, response).await?.0)
}

/// `open`, and the count of the bytes its socket carries, for the tape.
pub(crate) async fn open_counted(
    client: &Client,
    display: &str,
    response: Option<Duration>,
) -> Result<(
    redis::aio::MultiplexedConnection,
    std::sync::Arc<super::bounded::Wire>,
)> {
    let config = AsyncConnectionConfig::new().set_response_timeout(response);
    super::transport::open_counted(client, config, CONNECT_TIMEOUT)
        .await
        .map_err(|e| error::connection(describe(&e, display)))
}

/// One clear line for a connection-level failure.
pub fn describe(e: &RedisError, display: &str) -> String {
    if let Some(exit) = super::bounded::refused().and_then(|_| lost(e, display)) {
        return exit.to_string();
    }
    let code = e.code().unwrap_or("");
    let detail = e.detail().unwrap_or("");
    let text = e.to_string();
    let lower = text.to_lowercase();
    if e.is_connection_refusal() && lower.contains("refused") {
        format!("could not connect to Redis at {display}: connection refused (is it running?)")
    } else if matches!(code, "WRONGPASS" | "NOAUTH")
        || lower.contains("authentication")
        || lower.contains("wrongpass")
        || lower.contains("noauth")
    {
        let why = if detail.is_empty() {
            text.clone()
        } else {
            format!("{code} {detail}")
        };
        format!(
            "Redis at {display} rejected the credentials: {} (check the user and password in REDIS_URL)",
            why.trim()
        )
    } else if e.is_timeout() || lower.contains("timed out") || lower.contains("timeout") {
        format!("Redis at {display} did not answer in time (wrong host or port, or a firewall?)")
    } else if lower.contains("tls") || lower.contains("certificate") || lower.contains("handshake")
    {
        format!(
            "TLS connection to {display} failed: {}",
            text.replace('\n', " ")
        )
    } else if e.kind() == redis::ErrorKind::Parse || lower.contains("parse error") {
        format!("{display} did not answer in the Redis protocol: is it a Redis port?")
    } else if e.is_connection_dropped() || e.is_io_error() {
        format!(
            "lost the connection to Redis at {display}: {}",
            text.replace('\n', " ")
        )
    } else {
        format!("Redis at {display}: {}", text.replace('\n', " "))
    }
}

/// Adds context to a failed command; I/O failures become exit code 2.
pub fn command_error(e: RedisError, display: &str) -> anyhow::Error {
    if let Some(exit) = lost(&e, display) {
        exit.into()
    } else {
        anyhow::Error::new(e).context(format!("command failed on {display}"))
    }
}

/// A connection that failed mid-run, as one line naming the server; `None` for an error that
/// is not about the connection.
pub fn lost(e: &redis::RedisError, server: &str) -> Option<error::Exit> {
    // The bound's reason, for the failure it caused: a closed or broken connection.
    let broken = e.is_io_error() || e.is_connection_dropped();
    if let Some(why) = super::bounded::refused().filter(|_| broken) {
        return Some(error::Exit::new(
            error::code::CONNECTION,
            format!(
                "Redis at {server} sent {why}; redislab closed the connection (one reply may \
                 be at most {} MiB and {} elements)",
                super::bounded::MAX_REPLY_BYTES >> 20,
                super::bounded::MAX_REPLY_ELEMENTS
            ),
        ));
    }
    if e.is_timeout() {
        return Some(error::Exit::new(
            error::code::CONNECTION,
            format!("Redis at {server} did not answer within 10 s"),
        ));
    }
    (e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal()).then(|| {
        error::Exit::new(
            error::code::CONNECTION,
            format!("lost the connection to Redis at {server}"),
        )
    })
}
