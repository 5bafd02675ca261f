//! Redis Cluster: noticing that a server is one (`INFO cluster`), and opening connections that
//! follow the slot map. A cluster is detected, never configured: the user gives one node's URL
//! (or several, comma-separated) and redislab does the rest.

use std::time::Duration;

use anyhow::Result;
use redis::Client;
use redis::aio::MultiplexedConnection;
use redis::cluster::{ClusterClient, ClusterConfig};

use crate::error;
use crate::redis::conn::{Conn, cluster_enabled, cluster_size};
use crate::redis::connect::{Cluster, describe};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The cluster client always has a response timeout; "none" (for blocking commands) is a day.
const NO_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// `Some` when the server behind `conn` runs in cluster mode: a client for the nodes in `urls`
/// and the number of masters.
pub async fn detect(
    conn: &mut MultiplexedConnection,
    urls: &[String],
    display: &str,
) -> Result<Option<Cluster>> {
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(conn)
        .await
        .map_err(|e| error::connection(describe(&e, display)))?;
    if !cluster_enabled(&info) {
        return Ok(None);
    }
    let client = ClusterClient::new(urls.iter().map(String::as_str)).map_err(|e| {
        error::connection(format!(
            "{display} is a Redis Cluster node, but its URLs do not make a cluster client: {} (give every node the same user and password)",
            e.to_string().replace('\n', " ")
        ))
    })?;
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(conn)
        .await
        .map_err(|e| error::connection(describe(&e, display)))?;
    if !info.lines().any(|l| l.trim() == "cluster_state:ok") {
        return Err(error::connection(format!(
            "the Redis Cluster at {display} is not serving (cluster_state is not ok): \
             check `redis-cli -p PORT cluster info` on its nodes"
        )));
    }
    Ok(Some(Cluster {
        client,
        masters: cluster_size(&info),
    }))
}

/// A connection to the whole cluster; `response: None` waits as long as a blocking command may.
pub async fn open(
    client: &ClusterClient,
    display: &str,
    response: Option<Duration>,
) -> Result<Conn> {
    let config = ClusterConfig::new()
        .set_connection_timeout(CONNECT_TIMEOUT)
        .set_response_timeout(response.unwrap_or(NO_TIMEOUT));
    client
        .get_async_connection_with_config(config)
        .await
        .map(Conn::from)
        .map_err(|e| error::connection(describe(&e, display)))
}

/// Everything needed to open a connection of the server's kind, on any runtime or thread.
#[derive(Clone)]
pub struct Opener {
    pub client: Client,
    pub cluster: Option<ClusterClient>,
    pub display: String,
}

impl Opener {
    pub async fn open(&self, response: Option<Duration>) -> Result<Conn> {
        match &self.cluster {
            Some(c) => open(c, &self.display, response).await,
            None => {
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(response);
                self.client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map(Conn::from)
                    .map_err(|e| error::connection(describe(&e, &self.display)))
            }
        }
    }
}

/// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its `{hash tag}` when it has a
/// non-empty one, modulo 16384. Keys with the same tag always share a slot.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &byte in hashed {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn slots_match_the_cluster_specification() {
        // Values from CLUSTER KEYSLOT on Redis 7.0.
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user:1}:a"), key_slot(b"user:1"));
        assert_eq!(key_slot(b"{}x"), key_slot(b"{}x"));
        assert_ne!(key_slot(b"{}x"), key_slot(b"x"));
    }
}
