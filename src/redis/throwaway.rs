//! A private, throwaway redis-server for `validate`: started on a free port, killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct Throwaway {
    child: Child,
    pub port: u16,
}

impl Throwaway {
    /// Starts `binary` (a path, or a name looked up on PATH), or by default redis-server (else
    /// valkey-server) from PATH.
    pub async fn start(binary: Option<&Path>) -> Result<Throwaway> {
        let binary = match binary {
            Some(b) if b.components().count() == 1 => super::managed::on_path(&b.to_string_lossy())
                .with_context(|| format!("{} is not on PATH", b.display()))?,
            Some(b) => b.to_path_buf(),
            None => super::managed::find_binary()
                .context("redis-server is not on PATH (scripts/install-redis.sh installs it)")?,
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("could not find a free port")?
            .port();
        let child = Command::new(&binary)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let t = Throwaway { child, port };
        let client = redis::Client::open(t.url())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
                {
                    return Ok(t);
                }
            }
            if Instant::now() > deadline {
                bail!("the throwaway redis-server did not answer on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
