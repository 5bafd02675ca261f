//! A private redis-server for a demonstration that must change server settings (`maxmemory`,
//! output-buffer limits): the learner's server may be shared, so such a step starts its own
//! server for the step and stops it after; the learner's server is never touched. Commands
//! still pass the fence (the namespace rule, with server-wide commands allowed because redislab
//! owns this server).

use anyhow::{Context, Result, bail};
use redis::Value;

use super::{ScenarioContext, gated};
use crate::redis::fence::Fenced;
use crate::redis::throwaway::Throwaway;

/// The private server and its fenced connection. Dropping it stops the server.
pub struct Private {
    pub conn: Fenced,
    pub display: String,
    /// `redis-server` or `valkey-server`, for the notes.
    pub program: String,
    pub server: Throwaway,
}

impl Private {
    /// Starts one. `Ok(Err(why))`: no server binary is on PATH, and the step is skipped.
    pub async fn start(ctx: &ScenarioContext<'_>) -> Result<Result<Private, String>> {
        let Some(binary) = crate::redis::managed::find_binary() else {
            return Ok(Err(
                "this step starts a private redis-server, and none (nor valkey-server) is on PATH; scripts/install-redis.sh installs one".into(),
            ));
        };
        let program = binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "redis-server".into());
        ctx.ticker.message(&format!("starting a private {program}"));
        let server = Throwaway::start(None).await?;
        let conn = server.connection(ctx.namespace).await?;
        Ok(Ok(Private {
            conn,
            display: format!("private {program} on port {}", server.port),
            program,
            server,
        }))
    }

    pub async fn send(&mut self, args: &[Vec<u8>]) -> Result<Value> {
        gated(&mut self.conn, args, &self.display).await
    }

    /// `CONFIG SET name value`.
    pub async fn set(&mut self, name: &str, value: &str) -> Result<()> {
        self.send(&args(&[
            b"CONFIG",
            b"SET",
            name.as_bytes(),
            value.as_bytes(),
        ]))
        .await?;
        Ok(())
    }

    /// A number from `INFO section`.
    pub async fn info(&mut self, section: &str, field: &str) -> Result<u64> {
        let reply = self.send(&args(&[b"INFO", section.as_bytes()])).await?;
        let text = match &reply {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::VerbatimString { text, .. } => text.clone(),
            other => bail!("INFO {section} replied {other:?}"),
        };
        info_field(&text, field)
            .with_context(|| format!("INFO {section} of the private server has no {field}"))
    }
}

pub fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// `used_memory:1234` → 1234.
fn info_field(info: &str, field: &str) -> Option<u64> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn info_fields_are_read_by_exact_name() {
        let info = "# Memory\r\nused_memory:1000\r\nused_memory_human:1000B\r\n";
        assert_eq!(super::info_field(info, "used_memory"), Some(1000));
        assert_eq!(super::info_field(info, "used_memory_rss"), None);
    }
}
