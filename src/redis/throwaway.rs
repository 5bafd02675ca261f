//! A private, throwaway redis-server for `validate` and for demonstrations that change server
//! settings or need servers of their own (a replica, a Sentinel): started on a free port in a
//! folder of its own, killed on drop, so every way out of a step (an error, a panic, Ctrl-C
//! unwinding the task) stops it. A server can also be killed with SIGKILL, as a crash would,
//! and started again on the same folder and port, to count what its persistence kept.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::binaries::{Binaries, none_found};

pub struct Throwaway {
    /// `None` only between a `kill` and the `restart` that follows it.
    child: Option<Child>,
    pub port: u16,
    /// The binary it runs, to start a replica or a Sentinel of the same product.
    pub binary: PathBuf,
    args: Vec<String>,
    /// Its working folder, removed on drop (after the process is killed): its data, a
    /// replica's synced copy, a Sentinel's config file (Sentinel rewrites it).
    _dir: tempfile::TempDir,
}

impl Throwaway {
    /// Starts `binary` (a path, or a name found by `binaries`: PATH, then redislab's home), or
    /// by default redis-server (else valkey-server) found the same way, with no persistence at
    /// all.
    pub async fn start(binaries: &Binaries, binary: Option<&Path>) -> Result<Throwaway> {
        let binary = match binary {
            Some(b) => binaries.resolve(b).with_context(|| {
                let home = binaries
                    .home_bin()
                    .map(|d| format!(" or in {}", d.display()))
                    .unwrap_or_default();
                format!("{} is not on PATH{home}", b.display())
            })?,
            None => binaries.server().with_context(|| none_found(binaries))?,
        };
        Throwaway::start_with(&binary, &[]).await
    }

    /// `binary` (a path, as `Binaries` found it), with more settings after the defaults
    /// (`--name value` pairs; a later one wins): persistence, a data directory,
    /// `--replicaof 127.0.0.1 6380`.
    pub async fn start_with(binary: &Path, extra: &[&str]) -> Result<Throwaway> {
        let binary = binary.to_path_buf();
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
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut t = Throwaway {
            child: None,
            port,
            binary,
            args,
            _dir: dir,
        };
        t.spawn_and_wait().await?;
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
        let mut t = Throwaway {
            child: None,
            port,
            binary: binary.to_path_buf(),
            args,
            _dir: dir,
        };
        t.spawn_and_wait().await?;
        Ok(t)
    }

    /// Spawns the server with its arguments and waits until it answers PING (a server loading
    /// its data answers LOADING, and is waited for too).
    async fn spawn_and_wait(&mut self) -> Result<()> {
        let child = spawn(&self.binary, &self.args)?;
        running().push(child.id());
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
                bail!("the throwaway server did not answer on port {}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, as a crash: the server gets no chance to write or sync anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            running().retain(|pid| *pid != child.id());
        }
    }

    /// Kills the server if it runs, then starts it again with the same arguments: the same port
    /// and folder, whose data it loads.
    pub async fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn_and_wait().await
    }

    /// The process id (while it runs), to check in tests that it is gone.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
            super::dial::open(&client, &self.url(), Some(super::deadline::REPLY))
                .await
                .context("could not connect to the private redis-server")?
                .into();
        let fence = super::fence::Fence::new(conn.clone(), namespace, true);
        Ok(super::fence::Fenced::new(conn, fence))
    }
}

impl Throwaway {
    /// This server as the engine sees a learner's server, for a step that runs here instead:
    /// connections of every kind through the same fence, with the rules of a server redislab
    /// does not own (the learner's typing and the lesson's lines pass exactly what they would
    /// pass on the learner's own server).
    pub async fn server(&self, namespace: &str) -> Result<super::connect::Server> {
        let client =
            redis::Client::open(self.url()).context("could not address the private server")?;
        let display = format!("127.0.0.1:{}", self.port);
        super::connect::finish(
            client,
            None,
            display,
            super::connect::Source::Private,
            &[],
            false,
            namespace,
        )
        .await
    }

    /// This server fenced as redislab's managed server is: the learner's commands run as an ACL
    /// user confined to `namespace:*` (so a script may run: the ACL fences what it reaches),
    /// and the fence refuses them anything server-wide. For `check --failover`, whose private
    /// servers must run the scripts a learner's program sends.
    pub async fn managed_server(&self, namespace: &str) -> Result<super::connect::Server> {
        let client =
            redis::Client::open(self.url()).context("could not address the private server")?;
        let display = format!("127.0.0.1:{}", self.port);
        let mut conn = super::dial::open(&client, &display, Some(super::deadline::REPLY))
            .await
            .context("could not connect to the private server")?;
        let password = super::managed::random_hex(16);
        let setuser = super::managed::learner_acl(&mut conn, &password, namespace).await?;
        let _: () = setuser
            .query_async(&mut conn)
            .await
            .context("could not create the learner's ACL user on the private server")?;
        let learner = redis::Client::open(format!(
            "redis://{}:{password}@127.0.0.1:{}",
            super::managed::learner_user(namespace),
            self.port
        ))
        .context("could not build the learner's address")?;
        let opener = super::conn::Opener {
            client: learner,
            cluster: None,
            display: display.clone(),
        };
        super::connect::finish(
            client,
            Some(opener),
            display,
            super::connect::Source::Managed,
            &[],
            false,
            namespace,
        )
        .await
    }

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

/// The process ids of the throwaway servers running now. A run that a signal ends exits
/// without running destructors, so it stops them with `stop_all` first. (A child that exited
/// on its own stays a zombie until `kill` reaps it, so its pid cannot have been reused.)
static RUNNING: std::sync::Mutex<Vec<u32>> = std::sync::Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<u32>> {
    RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Stops every throwaway server this process started and has not stopped yet (SIGKILL): for a
/// run about to exit on a signal, whose `Throwaway`s will never be dropped.
pub fn stop_all() {
    let pids: Vec<String> = running().drain(..).map(|p| p.to_string()).collect();
    if pids.is_empty() {
        return;
    }
    // The shell's own `kill`, by the shell's path: PATH may hold no `kill` at all.
    let _ = Command::new("/bin/sh")
        .arg("-c")
        .arg("kill -9 \"$@\"")
        .arg("sh")
        .args(&pids)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether nothing accepts a connection on the loopback `port` any more (a killed server's).
pub async fn refuses_connections(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
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
