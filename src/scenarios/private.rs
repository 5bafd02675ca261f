//! Private servers for a demonstration that must change server settings (`maxmemory`,
//! output-buffer limits, `CLIENT PAUSE`), open many connections, or needs servers of its own (a
//! replica, a Sentinel): the learner's server may be shared, so such a step starts its own
//! servers for the step and stops them after (each `Private` stops its server when dropped,
//! whichever way the step ends); the learner's server is never touched. Commands still pass the
//! fence (the namespace rule, with server-wide commands allowed because redislab owns these
//! servers).

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
    namespace: String,
}

impl Private {
    /// Starts one, with no persistence. `Ok(Err(why))`: no server binary is on PATH or in
    /// redislab's home, and the step is skipped. It is the learner's product where that binary
    /// is found (valkey-server beside a Valkey), so a demonstration shows what the learner's own
    /// servers would do.
    pub async fn start(ctx: &ScenarioContext<'_>) -> Result<Result<Private, String>> {
        Private::start_with(ctx, &[]).await
    }

    /// Starts one with `settings` (`--name value` pairs: its data directory, its persistence).
    pub async fn start_with(
        ctx: &ScenarioContext<'_>,
        settings: &[&str],
    ) -> Result<Result<Private, String>> {
        let binaries = &ctx.server.binaries;
        let same_product = (ctx.server.product == "Valkey")
            .then(|| binaries.find(&["valkey-server"]))
            .flatten();
        let Some(binary) = same_product.or_else(|| binaries.server()) else {
            return Ok(Err(format!(
                "this step starts a private redis-server, and {}",
                crate::redis::binaries::none_found(binaries)
            )));
        };
        let program = program_of(&binary);
        ctx.ticker.message(&format!("starting a private {program}"));
        let server = Throwaway::start_with(&binary, settings).await?;
        Ok(Ok(Private::open(ctx, server, "private").await?))
    }

    /// A second private server of the same product, replicating this one (`--replicaof`).
    /// It is its own `Private`: dropping it stops it.
    pub async fn replica(&self, ctx: &ScenarioContext<'_>) -> Result<Private> {
        ctx.ticker
            .message(&format!("starting a private replica ({})", self.program));
        let port = self.server.port.to_string();
        let extra = ["--replicaof", "127.0.0.1", port.as_str()];
        let server = Throwaway::start_with(&self.server.binary, &extra).await?;
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
        let conn = server.connection(ctx.namespace).await?;
        Ok(Private {
            conn,
            display: format!("{what} {program} on port {}", server.port),
            program,
            server,
            namespace: ctx.namespace.to_string(),
        })
    }

    /// A new connection in place of this one's, after the server closed it (Sentinel closes
    /// the clients of a server it promotes).
    pub async fn reconnect(&mut self) -> Result<()> {
        self.conn = self.server.connection(&self.namespace).await?;
        Ok(())
    }

    /// Kills the server with SIGKILL, as a crash would, starts it again on the same port and
    /// data directory, and connects again.
    pub async fn crash_and_restart(&mut self) -> Result<()> {
        self.server.restart().await?;
        self.reconnect().await
    }

    /// Another connection to this server, fenced the same way, as an application's client
    /// would open one (a second client that measures while this one runs a slow command).
    pub async fn connect(&self) -> Result<Fenced> {
        self.server.connection(&self.namespace).await
    }

    /// The same as `connect`.
    pub async fn other(&self) -> Result<Fenced> {
        self.connect().await
    }

    pub async fn send(&mut self, args: &[Vec<u8>]) -> Result<Value> {
        gated(&mut self.conn, args, &self.display).await
    }

    /// `send` on another connection to this server.
    pub async fn send_on(&self, conn: &mut Fenced, args: &[Vec<u8>]) -> Result<Value> {
        gated(conn, args, &self.display).await
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

    /// `(calls, usec)` of one command in `INFO commandstats`: the time the server itself spent
    /// in it, free of the network and of the client's machine.
    pub async fn command_time(&mut self, command: &str) -> Result<(u64, u64)> {
        let text = self.info_text("commandstats").await?;
        let line = format!("cmdstat_{}:", command.to_ascii_lowercase());
        let Some(rest) = text.lines().find_map(|l| l.strip_prefix(line.as_str())) else {
            return Ok((0, 0));
        };
        let field = |name: &str| -> u64 {
            rest.split(',')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        Ok((field("calls"), field("usec")))
    }
}

/// What a second client saw while a command ran on the first: the round trip of every PING it
/// sent whose time overlapped the work, in microseconds.
pub struct Pinged<T> {
    pub out: T,
    pub pings_us: Vec<f64>,
    /// How long `work` took, in microseconds.
    pub work_us: f64,
}

/// Runs `work` while another client (`pinger`, a connection from `Private::other`) sends PING
/// after PING; the PINGs that overlapped the work are kept. A server runs one
/// command at a time, so a PING sent while a slow command runs waits for it to end.
pub async fn while_pinging<T>(
    display: &str,
    pinger: &mut Fenced,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<Pinged<T>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};
    let stop = AtomicBool::new(false);
    let ping = args(&[b"PING"]);
    let pings = async {
        let mut spans = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let began = Instant::now();
            gated(pinger, &ping, display).await?;
            spans.push((began, Instant::now()));
        }
        Ok::<_, anyhow::Error>(spans)
    };
    let worker = async {
        // Let the pinger run first, so a PING is in flight when the work starts.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let began = Instant::now();
        let out = work.await;
        let ended = Instant::now();
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.store(true, Ordering::Relaxed);
        (out, began, ended)
    };
    let (spans, (out, began, ended)) = tokio::join!(pings, worker);
    let out = out?;
    let pings_us = spans?
        .into_iter()
        .filter(|(s, e)| *e >= began && *s <= ended)
        .map(|(s, e)| e.duration_since(s).as_secs_f64() * 1e6)
        .collect();
    Ok(Pinged {
        out,
        pings_us,
        work_us: ended.duration_since(began).as_secs_f64() * 1e6,
    })
}

/// The largest of some latencies (0 for none).
pub fn worst(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

/// A reply's integer, or an error naming what replied.
pub fn int_of(what: &str, v: &Value) -> Result<i64> {
    match v {
        Value::Int(n) => Ok(*n),
        other => bail!("{what} replied {other:?}"),
    }
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
