//! A private, throwaway redis-server for `validate` and for demonstrations that change server
//! settings or need servers of their own (a replica, a Sentinel): started on a free port, killed
//! on drop, so every way out of a step (an error, a panic, Ctrl-C unwinding the task) stops it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub struct Throwaway {
    child: Child,
    pub port: u16,
    /// The binary it runs, to start a replica or a Sentinel of the same product.
    pub binary: PathBuf,
    /// Its working folder, removed on drop (after the process is killed): a replica's synced
    /// copy, a Sentinel's config file (Sentinel rewrites it).
    _dir: tempfile::TempDir,
}

impl Throwaway {
    /// Starts `binary` (a path, or a name looked up on PATH), or by default redis-server (else
    /// valkey-server) from PATH.
    pub async fn start(binary: Option<&Path>) -> Result<Throwaway> {
        Throwaway::start_with(binary, &[]).await
    }

    /// The same, with more settings on the command line (`--replicaof 127.0.0.1 6380`).
    pub async fn start_with(binary: Option<&Path>, extra: &[String]) -> Result<Throwaway> {
        let binary = resolve(binary)?;
        let port = free_port()?;
        // Its own folder, removed on drop: a replica stores the copy it syncs as dump.rdb in
        // its `dir`, which would otherwise be wherever redislab was started.
        let dir = tempfile::tempdir().context("could not make a folder for the server")?;
        let mut args: Vec<String> = [
            "--dir",
            &dir.path().display().to_string(),
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().cloned());
        let child = spawn(&binary, &args)?;
        let t = Throwaway {
            child,
            port,
            binary,
            _dir: dir,
        };
        t.wait_for_ping().await?;
        Ok(t)
    }

    /// A Sentinel of the same product (`redis-server sentinel.conf --sentinel`), watching the
    /// master at `master_port` under the name `name` with a quorum of one. Sentinel insists on a
    /// config file it can rewrite, so it gets one in a temporary folder removed on drop.
    pub async fn sentinel(
        binary: &Path,
        name: &str,
        master_port: u16,
        down_after_ms: u64,
    ) -> Result<Throwaway> {
        let port = free_port()?;
        let dir = tempfile::tempdir().context("could not make a folder for the Sentinel")?;
        let conf = dir.path().join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {dir}\n\
             sentinel monitor {name} 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds {name} {down_after_ms}\n\
             sentinel failover-timeout {name} 10000\n\
             sentinel parallel-syncs {name} 1\n",
            dir = dir.path().display()
        );
        std::fs::write(&conf, text).context("could not write the Sentinel's config")?;
        let args = vec![conf.display().to_string(), "--sentinel".to_string()];
        let child = spawn(binary, &args)?;
        let t = Throwaway {
            child,
            port,
            binary: binary.to_path_buf(),
            _dir: dir,
        };
        t.wait_for_ping().await?;
        Ok(t)
    }

    async fn wait_for_ping(&self) -> Result<()> {
        let port = self.port;
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
            if Instant::now() > deadline {
                bail!("the throwaway server did not answer on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The process id, to check in tests that it is gone.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process now, as a crash would (SIGKILL), and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        self.kill();
    }
}

fn resolve(binary: Option<&Path>) -> Result<PathBuf> {
    Ok(match binary {
        Some(b) if b.components().count() == 1 => super::managed::on_path(&b.to_string_lossy())
            .with_context(|| format!("{} is not on PATH", b.display()))?,
        Some(b) => b.to_path_buf(),
        None => super::managed::find_binary()
            .context("redis-server is not on PATH (scripts/install-redis.sh installs it)")?,
    })
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("could not find a free port")?
        .port())
}

fn spawn(binary: &Path, args: &[String]) -> Result<Child> {
    Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("could not start {}", binary.display()))
}
