//! A private, throwaway redis-server for `validate` and for the demonstrations that change
//! server settings: started on a free port, killed on drop. A server started in a data
//! directory of its own can also be killed with SIGKILL, as a crash would, and started again on
//! the same directory and port, to count what its persistence kept.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct Throwaway {
    /// `None` only between a `kill` and the `restart` that follows it.
    child: Option<Child>,
    pub port: u16,
    binary: PathBuf,
    args: Vec<String>,
}

impl Throwaway {
    /// Starts `binary` (a path, or a name looked up on PATH), or by default redis-server (else
    /// valkey-server) from PATH, with no persistence at all.
    pub async fn start(binary: Option<&Path>) -> Result<Throwaway> {
        Throwaway::start_with(binary, &["--save", "", "--appendonly", "no"]).await
    }

    /// Starts one with `settings` (`--name value` pairs) after the port and bind address: a
    /// private server whose data directory and persistence a demonstration chooses.
    pub async fn start_with(binary: Option<&Path>, settings: &[&str]) -> Result<Throwaway> {
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
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--bind".to_string(),
            "127.0.0.1".to_string(),
        ];
        args.extend(settings.iter().map(|s| s.to_string()));
        let mut t = Throwaway {
            child: None,
            port,
            binary,
            args,
        };
        t.spawn_and_wait().await?;
        Ok(t)
    }

    /// Spawns the server with its arguments and waits until it answers PING (a server loading
    /// its data answers LOADING, and is waited for too).
    async fn spawn_and_wait(&mut self) -> Result<()> {
        let child = Command::new(&self.binary)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {}", self.binary.display()))?;
        self.child = Some(child);
        let client = redis::Client::open(self.url())?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
                {
                    return Ok(());
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                bail!(
                    "the throwaway {} on port {} exited at start ({status})",
                    self.binary.display(),
                    self.port
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the throwaway redis-server did not answer on port {}",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, as a crash: the server gets no chance to write or sync anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, then starts it again with the same arguments: the same port
    /// and, when a `--dir` was given, the same data directory, which it loads.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn_and_wait().await
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A connection to this server, fenced into `namespace`; redislab owns the server, so
    /// server-wide commands of its own (CONFIG SET, DEBUG) pass.
    pub async fn connection(&self, namespace: &str) -> Result<super::fence::Fenced> {
        let client = redis::Client::open(self.url())
            .context("could not address the private redis-server")?;
        let conn: super::conn::Conn =
            super::connect::open(&client, &self.url(), Some(super::deadline::REPLY))
                .await
                .context("could not connect to the private redis-server")?
                .into();
        let fence = super::fence::Fence::new(conn.clone(), namespace, true);
        Ok(super::fence::Fenced::new(conn, fence))
    }
}

impl Throwaway {
    /// A subscriber on a plain socket whose receive buffer is `recv_buffer` bytes: it subscribes
    /// (the fence admits the channel), reads the confirmation within `confirm`, and then reads
    /// nothing more, so the server's output buffer for it fills.
    pub async fn stalled_subscriber(
        &self,
        fence: &super::fence::Fence,
        channel: &str,
        recv_buffer: u32,
        confirm: Duration,
    ) -> Result<tokio::net::TcpStream> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let command = vec![b"SUBSCRIBE".to_vec(), channel.as_bytes().to_vec()];
        fence.admit_own(&command).await?;
        let socket = tokio::net::TcpSocket::new_v4().context("could not open a socket")?;
        socket
            .set_recv_buffer_size(recv_buffer)
            .context("could not shrink the subscriber's receive buffer")?;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        let mut stream = socket
            .connect(addr)
            .await
            .context("the subscriber could not connect to the private server")?;
        stream
            .write_all(&super::command::build(&command).get_packed_command())
            .await?;
        // `*3 $9 subscribe $N <channel> :1`: read until the count that ends it.
        let mut got = Vec::new();
        let mut buf = [0u8; 512];
        while !got.ends_with(b":1\r\n") {
            let n = tokio::time::timeout(confirm, stream.read(&mut buf))
                .await
                .context("the private server did not confirm the subscription")??;
            if n == 0 {
                bail!("the private server closed the subscriber before confirming");
            }
            got.extend_from_slice(&buf[..n]);
        }
        Ok(stream)
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.kill();
    }
}
