//! Private servers for a demonstration that must change server settings (`maxmemory`,
//! output-buffer limits, `CLIENT PAUSE`), open many connections, or needs servers of its own (a
//! replica, a Sentinel): the learner's server may be shared, so such a step starts its own
//! servers for the step and stops them after (each `Private` stops its server when dropped,
//! whichever way the step ends); the learner's server is never touched. Commands still pass a
//! gate (the namespace rule, with server-wide commands allowed because redislab owns these
//! servers).

use anyhow::{Context, Result, bail};
use redis::Value;

use super::{ScenarioContext, gated};
use crate::redis::conn::Conn;
use crate::redis::throwaway::Throwaway;
use crate::runner::gate::Gate;

/// The private server, its connection and its gate. Dropping it stops the server.
pub struct Private {
    pub gate: Gate,
    pub conn: Conn,
    pub display: String,
    /// `redis-server` or `valkey-server`, for the notes.
    pub program: String,
    pub server: Throwaway,
    namespace: String,
}

impl Private {
    /// Starts one. `Ok(Err(why))`: no server binary is on PATH, and the step is skipped.
    /// It is the learner's product where that binary is on PATH (valkey-server beside a
    /// Valkey), so a demonstration shows what the learner's own servers would do.
    pub async fn start(ctx: &ScenarioContext<'_>) -> Result<Result<Private, String>> {
        let same_product = (ctx.server.product == "Valkey")
            .then(|| crate::redis::managed::on_path("valkey-server"))
            .flatten();
        let Some(binary) = same_product.or_else(crate::redis::managed::find_binary) else {
            return Ok(Err(
                "this step starts a private redis-server, and none (nor valkey-server) is on PATH; scripts/install-redis.sh installs one".into(),
            ));
        };
        let program = program_of(&binary);
        ctx.ticker.message(&format!("starting a private {program}"));
        let server = Throwaway::start(Some(&binary)).await?;
        Ok(Ok(Private::open(ctx, server, "private").await?))
    }

    /// A second private server of the same product, replicating this one (`--replicaof`).
    /// It is its own `Private`: dropping it stops it.
    pub async fn replica(&self, ctx: &ScenarioContext<'_>) -> Result<Private> {
        ctx.ticker
            .message(&format!("starting a private replica ({})", self.program));
        let extra = [
            "--replicaof".to_string(),
            "127.0.0.1".to_string(),
            self.server.port.to_string(),
        ];
        let server = Throwaway::start_with(Some(&self.server.binary), &extra).await?;
        Private::open(ctx, server, "private replica").await
    }

    /// A Sentinel of the same product watching this server as master `name`.
    pub async fn sentinel(
        &self,
        ctx: &ScenarioContext<'_>,
        name: &str,
        down_after_ms: u64,
    ) -> Result<Private> {
        ctx.ticker.message(&format!(
            "starting a private Sentinel ({} --sentinel)",
            self.program
        ));
        let server =
            Throwaway::sentinel(&self.server.binary, name, self.server.port, down_after_ms).await?;
        Private::open(ctx, server, "private Sentinel").await
    }

    async fn open(ctx: &ScenarioContext<'_>, server: Throwaway, what: &str) -> Result<Private> {
        let program = program_of(&server.binary);
        let conn = connect(server.port).await?;
        Ok(Private {
            gate: Gate::new(conn.clone(), ctx.namespace, true),
            conn,
            display: format!("{what} {program} on port {}", server.port),
            program,
            server,
            namespace: ctx.namespace.to_string(),
        })
    }

    /// A new connection and gate in place of this one's, after the server closed it (Sentinel
    /// closes the clients of a server it promotes).
    pub async fn reconnect(&mut self) -> Result<()> {
        let conn = connect(self.server.port).await?;
        self.gate = Gate::new(conn.clone(), &self.namespace, true);
        self.conn = conn;
        Ok(())
    }

    /// Another connection to this server, as an application's client would open one. Commands
    /// on it go through `send_on` (this server's gate).
    pub async fn connect(&self) -> Result<Conn> {
        connect(self.server.port).await
    }

    pub async fn send(&mut self, args: &[Vec<u8>]) -> Result<Value> {
        gated(&self.gate, &mut self.conn, args, &self.display).await
    }

    /// `send` on another connection to this server.
    pub async fn send_on(&self, conn: &mut Conn, args: &[Vec<u8>]) -> Result<Value> {
        gated(&self.gate, conn, args, &self.display).await
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

    /// The text of `INFO section`.
    pub async fn info_text(&mut self, section: &str) -> Result<String> {
        let reply = self.send(&args(&[b"INFO", section.as_bytes()])).await?;
        Ok(match &reply {
            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            Value::VerbatimString { text, .. } => text.clone(),
            other => bail!("INFO {section} replied {other:?}"),
        })
    }

    /// A number from `INFO section`.
    pub async fn info(&mut self, section: &str, field: &str) -> Result<u64> {
        let text = self.info_text(section).await?;
        info_field(&text, field)
            .with_context(|| format!("INFO {section} of the private server has no {field}"))
    }

    /// A text field from `INFO section` (`master_link_status` → `up`).
    pub async fn info_word(&mut self, section: &str, field: &str) -> Result<String> {
        let text = self.info_text(section).await?;
        info_word(&text, field)
            .with_context(|| format!("INFO {section} of the private server has no {field}"))
    }
}

/// A connection to a private server. Its replies may take up to 30 s (a WAIT, a server held up
/// on purpose); a demonstration bounds its own waits more tightly where it means to.
async fn connect(port: u16) -> Result<Conn> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .context("could not address the private server")?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(std::time::Duration::from_secs(3)))
        .set_response_timeout(Some(std::time::Duration::from_secs(30)));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .context("could not connect to the private server")?
        .into())
}

fn program_of(binary: &std::path::Path) -> String {
    binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "redis-server".into())
}

pub fn args(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// `used_memory:1234` → 1234.
fn info_field(info: &str, field: &str) -> Option<u64> {
    info_word(info, field).and_then(|v| v.parse().ok())
}

/// `master_link_status:up` → `up`.
pub fn info_word(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
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
