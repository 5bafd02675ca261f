//! redislab's own private redis-server, for learners with no Redis at hand. It runs on a free
//! loopback port with no persistence, keeps its config, pid and log under the redislab home,
//! and stays up between invocations so a lesson and a later `inspect` see the same keys.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::redis::conn::Conn;
use anyhow::{Context, Result, bail};
use redis::Client;

/// A running managed server.
#[derive(Debug, Clone)]
pub struct Managed {
    pub dir: PathBuf,
    pub port: u16,
    pub pid: Option<u32>,
    password: String,
}

impl Managed {
    /// The admin connection (full rights; the server is ours).
    pub fn admin_client(&self) -> Result<Client> {
        Client::open(format!(
            "redis://:{}@127.0.0.1:{}",
            self.password, self.port
        ))
        .context("could not build the managed server's address")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }
}

pub fn dir(home: &Path) -> PathBuf {
    home.join("server")
}

fn conf_path(dir: &Path) -> PathBuf {
    dir.join("redis.conf")
}
fn port_path(dir: &Path) -> PathBuf {
    dir.join("redis.port")
}
fn pid_path(dir: &Path) -> PathBuf {
    dir.join("redis.pid")
}
/// The admin password, apart from redis.conf: a `CONFIG REWRITE` may reformat that file.
fn password_path(dir: &Path) -> PathBuf {
    dir.join("redis.password")
}

/// Reads the recorded server and checks that it answers. `Ok(None)`: not running (any stale
/// pid and port files are removed so the next start begins clean). A server that still runs
/// from its pid file but no longer accepts redislab's password is an error, never "not
/// running": starting a second, empty server beside it would orphan the first.
pub async fn status(home: &Path) -> Result<Option<Managed>> {
    let dir = dir(home);
    keep_private(&dir);
    let Some(port) = read_trimmed(&port_path(&dir)).and_then(|p| p.parse::<u16>().ok()) else {
        return Ok(None);
    };
    let pid = read_trimmed(&pid_path(&dir)).and_then(|p| p.parse::<u32>().ok());
    let m = Managed {
        dir: dir.clone(),
        port,
        pid,
        password: read_password(&dir).unwrap_or_default(),
    };
    if ping(&m).await {
        return Ok(Some(m));
    }
    let listening = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    )
    .is_ok();
    if let Some(pid) = pid.filter(|p| listening && is_server_process(*p)) {
        bail!(
            "the managed redis-server (pid {pid}, port {port}) is running but no longer accepts redislab's password \
             (its configuration was changed); stop it with `redislab server stop`"
        );
    }
    // Stale: the server died (or the machine rebooted). Forget it.
    let _ = fs::remove_file(port_path(&dir));
    let _ = fs::remove_file(pid_path(&dir));
    Ok(None)
}

/// Whether `pid` is a live redis-server or valkey-server (not a recycled pid, not a zombie
/// waiting to be reaped).
pub(crate) fn is_server_process(pid: u32) -> bool {
    let named = fs::read_to_string(format!("/proc/{pid}/comm"))
        .is_ok_and(|c| c.contains("redis") || c.contains("valkey"));
    // `/proc/PID/stat` is "PID (comm) STATE ...": Z is a zombie, X is dead.
    let alive = fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    });
    named && alive
}

/// Puts the server's files back to owner-only (they hold the password), whatever changed them.
fn keep_private(dir: &Path) {
    #[cfg(unix)]
    for path in [conf_path(dir), password_path(dir)] {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(&path) {
            if meta.permissions().mode() & 0o077 != 0 {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(0o600));
            }
        }
    }
}

/// The running managed server, started if needed.
pub async fn ensure_running(home: &Path) -> Result<Managed> {
    let dir = dir(home);
    fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
    // One starter at a time: two commands launched together must not start two servers.
    let lock = fs::File::create(dir.join("start.lock"))
        .with_context(|| format!("could not create a lock file in {}", dir.display()))?;
    lock.lock()
        .context("could not lock the managed server's directory")?;
    let result = match status(home).await? {
        Some(m) => Ok(m),
        None => start(&dir).await,
    };
    let _ = lock.unlock();
    let m = result?;
    // A benchmark killed while it had AOF switched on left the original settings in a file.
    super::aof_restore::restore_leftover(&m.dir, &m.admin_client()?).await?;
    Ok(m)
}

/// What the managed server and cluster run: a server on PATH, else one in redislab's home
/// (`super::binaries`, the one place that looks).
pub fn find_binary_for(home: &Path) -> Option<PathBuf> {
    super::binaries::Binaries::new(home).server()
}

pub use super::binaries::{bin_dir, on_path};

pub(crate) fn free_port() -> Result<u16> {
    // Bind port 0, read what the OS chose, release it. (`--port 0` would disable TCP.)
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("could not find a free port")?;
    Ok(listener
        .local_addr()
        .context("could not read the chosen port")?
        .port())
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn quote(p: &Path) -> String {
    format!(
        "\"{}\"",
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    )
}

/// Starts `binary` with the config file `conf` (which says `daemonize yes`) and returns once it
/// has forked into the background.
pub(crate) async fn spawn_daemon(binary: &Path, conf: &Path) -> Result<()> {
    // Through `sh` for `umask 077`: a later CONFIG REWRITE recreates the config with the
    // server's umask, and the file holds the password.
    // By its path: a PATH without /bin (a learner's own, or a test's) must not stop the start.
    let output = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("umask 077 && exec \"$0\" \"$1\"")
        .arg(binary)
        .arg(conf)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("could not run {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "{} exited with {}: {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(())
}

async fn start(dir: &Path) -> Result<Managed> {
    let home = dir.parent().unwrap_or(dir);
    let binaries = super::binaries::Binaries::new(home);
    let binary = binaries
        .server()
        .with_context(|| super::binaries::none_found(&binaries))?;
    let port = free_port()?;
    let password = random_hex(16);
    let conf = format!(
        "# Written by redislab: a private, throwaway server. Nothing is saved to disk.\n\
         port {port}\nbind 127.0.0.1\nprotected-mode yes\nsave \"\"\nappendonly no\n\
         daemonize yes\npidfile {pid}\nlogfile {log}\ndir {dir}\nrequirepass {password}\n",
        pid = quote(&pid_path(dir)),
        log = quote(&dir.join("redis.log")),
        dir = quote(dir),
    );
    write_private(&password_path(dir), &password)?;
    write_private(&conf_path(dir), &conf)?;
    let _ = fs::remove_file(pid_path(dir));
    spawn_daemon(&binary, &conf_path(dir)).await?;
    let mut m = Managed {
        dir: dir.to_path_buf(),
        port,
        pid: None,
        password,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ping(&m).await {
        if Instant::now() > deadline {
            let log = fs::read_to_string(m.log_path()).unwrap_or_default();
            let last = log
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("no log");
            bail!("the server did not answer on port {port} within 10 s (log: {last})");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    fs::write(port_path(dir), port.to_string())
        .context("could not record the managed server's port")?;
    m.pid = read_trimmed(&pid_path(dir)).and_then(|p| p.parse().ok());
    Ok(m)
}

/// Stops the managed server. `Ok(false)` if it was not running. A server that no longer
/// accepts redislab's password is stopped by its pid.
pub async fn stop(home: &Path) -> Result<bool> {
    let m = match status(home).await {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(false),
        Err(e) => {
            return stop_by_pid(home)
                .await
                .map_err(|k| k.context(format!("{e:#}")));
        }
    };
    let client = m.admin_client()?;
    if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
        // The server closes the connection instead of replying: an error here is expected.
        let _: redis::RedisResult<()> = redis::cmd("SHUTDOWN")
            .arg("NOSAVE")
            .query_async(&mut conn)
            .await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while ping(&m).await {
        if Instant::now() > deadline {
            bail!("the managed server on port {} did not stop", m.port);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = fs::remove_file(port_path(&m.dir));
    let _ = fs::remove_file(pid_path(&m.dir));
    Ok(true)
}

/// SIGTERM to the pid in the pid file (after checking it is a redis-server), then waits.
async fn stop_by_pid(home: &Path) -> Result<bool> {
    let dir = dir(home);
    let pid = read_trimmed(&pid_path(&dir))
        .and_then(|p| p.parse::<u32>().ok())
        .filter(|p| is_server_process(*p))
        .context("the managed server's pid file names no running redis-server")?;
    let status = tokio::process::Command::new("kill")
        .arg(pid.to_string())
        .status()
        .await
        .with_context(|| format!("could not signal the managed redis-server (pid {pid})"))?;
    anyhow::ensure!(
        status.success(),
        "could not stop the managed redis-server (pid {pid})"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_server_process(pid) {
        if Instant::now() > deadline {
            bail!(
                "the managed redis-server (pid {pid}) did not stop; kill it with `kill -9 {pid}`"
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let _ = fs::remove_file(port_path(&dir));
    let _ = fs::remove_file(pid_path(&dir));
    Ok(true)
}

/// Creates (or refreshes) the ACL user a learner's commands run as, and returns its client.
pub(in crate::redis) async fn ensure_learner(
    conn: &Conn,
    m: &Managed,
    namespace: &str,
) -> Result<Client> {
    let mut conn = conn.clone();
    let setuser = learner_acl(&mut conn, &m.password, namespace).await?;
    let _: () = setuser
        .query_async(&mut conn)
        .await
        .context("could not create the learner's ACL user on the managed server")?;
    Client::open(format!(
        "redis://{}:{}@127.0.0.1:{}",
        learner_user(namespace),
        m.password,
        m.port
    ))
    .context("could not build the learner's address")
}

/// The ACL user a namespace's learner runs as.
pub fn learner_user(namespace: &str) -> String {
    format!("redislab-{namespace}")
}

/// The `ACL SETUSER` that fences a learner: its keys and channels are only those under
/// `<namespace>:`, so not even a Lua script can reach another key; and it runs no server-wide
/// command (`@admin`, `@dangerous`, keyless writes, as the server behind `conn` classifies
/// them), so one namespace can neither wipe the others nor reconfigure, expose or stop the
/// server. The same rules serve the single managed server and every node of the managed cluster.
pub async fn learner_acl<C: redis::aio::ConnectionLike>(
    conn: &mut C,
    password: &str,
    namespace: &str,
) -> Result<redis::Cmd> {
    let infos = crate::redis::classes::server_infos(conn)
        .await
        .context("could not list the managed server's commands (COMMAND)")?;
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER")
        .arg(learner_user(namespace))
        .arg("reset")
        .arg("on")
        .arg(format!(">{password}"))
        .arg(format!("~{namespace}:*"))
        .arg(format!("&{namespace}:*"))
        .arg("+@all");
    for rule in crate::redis::classes::learner_denials(&infos) {
        cmd.arg(rule);
    }
    Ok(cmd)
}

async fn ping(m: &Managed) -> bool {
    let Ok(client) = m.admin_client() else {
        return false;
    };
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_millis(300)))
        .set_response_timeout(Some(Duration::from_millis(1000)));
    let Ok(mut conn) = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
    else {
        return false;
    };
    let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
    matches!(pong.as_deref(), Ok("PONG"))
}

pub(crate) fn read_trimmed(p: &Path) -> Option<String> {
    fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn read_password(dir: &Path) -> Option<String> {
    if let Some(pw) = read_trimmed(&password_path(dir)) {
        return Some(pw);
    }
    // A home from before the separate password file.
    let conf = fs::read_to_string(conf_path(dir)).ok()?;
    conf.lines()
        .find_map(|l| l.strip_prefix("requirepass "))
        .map(|p| p.trim().to_string())
}

/// Writes a file only the owner can read (it holds the server's password).
pub(crate) fn write_private(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .with_context(|| format!("could not write {}", tmp.display()))?;
        std::io::Write::write_all(&mut f, contents.as_bytes())
            .with_context(|| format!("could not write {}", tmp.display()))?;
        f.sync_all().ok();
    }
    fs::rename(&tmp, path).with_context(|| format!("could not write {}", path.display()))
}
