//! The durable columns turn AOF on in the managed server for a while. A run killed in that while
//! (kill -9, a crash, a closed laptop) would leave the server writing every command to disk, so
//! the original settings go to a small file first. The run's normal end puts them back and
//! removes the file; the next connection to the managed server does the same if it is still
//! there. The file is locked while its run lives, so a second command never undoes a live run.
//!
//! It lives with the managed server: `redis::managed` calls `restore_leftover` at every
//! connection, and `bench` keeps the record while its durable columns run.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use redis::aio::ConnectionLike;

/// The record's name in the managed server's directory.
pub const FILE: &str = "bench-aof-restore";

/// Set only by the tests: the process dies right after the first AOF change, as under kill -9.
pub const DIE_AFTER_AOF_SET: &str = "REDISLAB_TEST_DIE_AFTER_AOF_SET";

/// The settings the durable columns change, as they were before.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub appendonly: String,
    pub appendfsync: String,
}

impl Saved {
    /// The server's current values.
    pub async fn read(conn: &mut (impl ConnectionLike + Send)) -> Result<Saved> {
        Ok(Saved {
            appendonly: get(conn, "appendonly").await?,
            appendfsync: get(conn, "appendfsync").await?,
        })
    }

    /// Puts these values back (fsync policy first, so turning AOF off never syncs per write).
    pub async fn apply(&self, conn: &mut (impl ConnectionLike + Send)) -> Result<()> {
        set(conn, "appendfsync", &self.appendfsync).await?;
        set(conn, "appendonly", &self.appendonly).await
    }

    fn to_text(&self) -> String {
        format!(
            "# redislab bench: the managed server's AOF settings before the durable columns changed them.\n\
             appendonly {}\nappendfsync {}\n",
            self.appendonly, self.appendfsync
        )
    }

    /// Reads `to_text`'s format; only known names and values, so nothing else reaches CONFIG SET.
    fn parse(text: &str) -> Result<Saved> {
        let mut appendonly = None;
        let mut appendfsync = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(' ') {
                Some(("appendonly", v @ ("yes" | "no"))) => appendonly = Some(v),
                Some(("appendfsync", v @ ("always" | "everysec" | "no"))) => appendfsync = Some(v),
                _ => bail!("unexpected line {line:?}"),
            }
        }
        match (appendonly, appendfsync) {
            (Some(a), Some(f)) => Ok(Saved {
                appendonly: a.to_string(),
                appendfsync: f.to_string(),
            }),
            _ => bail!("appendonly or appendfsync is missing"),
        }
    }
}

/// The record of a live run: the file, locked until the settings are back.
#[derive(Debug)]
pub struct Marker {
    path: PathBuf,
    saved: Saved,
    /// Holding the lock tells `restore_leftover` that this run is alive.
    _file: fs::File,
}

impl Marker {
    /// Writes `saved` to `dir` atomically (temporary file, sync, rename), locked before it gets
    /// its name. `Ok(None)`: a record is already there, so another run owns the settings.
    pub fn write(dir: &Path, saved: &Saved) -> Result<Option<Marker>> {
        let path = dir.join(FILE);
        let failed = || format!("could not record the AOF settings in {}", path.display());
        let mut tmp = tempfile::Builder::new()
            .prefix(".bench-aof-")
            .tempfile_in(dir)
            .with_context(failed)?;
        tmp.as_file().lock().with_context(failed)?;
        tmp.write_all(saved.to_text().as_bytes())
            .with_context(failed)?;
        tmp.as_file().sync_all().with_context(failed)?;
        let file = match tmp.persist_noclobber(&path) {
            Ok(f) => f,
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(e.error).with_context(failed),
        };
        sync_dir(dir);
        Ok(Some(Marker {
            path,
            saved: saved.clone(),
            _file: file,
        }))
    }

    pub fn saved(&self) -> &Saved {
        &self.saved
    }

    /// The settings are back: the record goes (and its lock with it).
    pub fn remove(self) -> Result<()> {
        fs::remove_file(&self.path)
            .with_context(|| format!("could not remove {}", self.path.display()))
    }
}

/// Makes a rename durable too (best effort: not every platform can sync a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Called at every connection to the managed server: if a run died while it had the AOF
/// settings changed, puts the recorded ones back and removes the record. A record whose run is
/// still alive (its lock is held) is left alone. Returns whether anything was restored.
pub async fn restore_leftover(dir: &Path, admin: &redis::Client) -> Result<bool> {
    let path = dir.join(FILE);
    let way_out = || {
        format!(
            "could not restore the AOF settings an interrupted benchmark left in {} \
             (`redislab server stop` resets the server; then delete that file)",
            path.display()
        )
    };
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(way_out),
    };
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Ok(false),
        Err(fs::TryLockError::Error(e)) => return Err(e).with_context(way_out),
    }
    let text = fs::read_to_string(&path).with_context(way_out)?;
    let saved = Saved::parse(&text).with_context(way_out)?;
    let mut conn = super::dial::open(admin, "the managed server", None)
        .await
        .with_context(way_out)?;
    saved.apply(&mut conn).await.with_context(way_out)?;
    match fs::remove_file(&path) {
        // Another command restored the same values a moment earlier.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        r => r.with_context(way_out)?,
    }
    Ok(true)
}

/// The tests' stand-in for kill -9 at the worst moment (see `DIE_AFTER_AOF_SET`).
pub fn die_here_when_testing() {
    if std::env::var_os(DIE_AFTER_AOF_SET).is_some() {
        std::process::abort();
    }
}

/// `CONFIG GET name`: its value, `None` when the server has no such setting.
pub async fn config_get(
    conn: &mut (impl ConnectionLike + Send),
    name: &str,
) -> redis::RedisResult<Option<String>> {
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query_async(conn)
        .await?;
    Ok(v.into_iter().nth(1))
}

/// `CONFIG SET name value`.
pub async fn config_set(
    conn: &mut (impl ConnectionLike + Send),
    name: &str,
    value: &str,
) -> redis::RedisResult<()> {
    redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query_async(conn)
        .await
}

async fn get(conn: &mut (impl ConnectionLike + Send), name: &str) -> Result<String> {
    config_get(conn, name)
        .await
        .with_context(|| format!("CONFIG GET {name} failed"))?
        .with_context(|| format!("CONFIG GET {name} returned nothing"))
}

async fn set(conn: &mut (impl ConnectionLike + Send), name: &str, value: &str) -> Result<()> {
    config_set(conn, name, value)
        .await
        .with_context(|| format!("CONFIG SET {name} {value} failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved() -> Saved {
        Saved {
            appendonly: "no".into(),
            appendfsync: "everysec".into(),
        }
    }

    #[test]
    fn the_record_reads_back_and_refuses_anything_else() {
        assert_eq!(Saved::parse(&saved().to_text()).expect("parse"), saved());
        assert!(Saved::parse("appendonly no\n").is_err());
        assert!(Saved::parse("appendonly no\nappendfsync always\ndir /etc\n").is_err());
        assert!(Saved::parse("appendonly maybe\nappendfsync always\n").is_err());
    }

    #[test]
    fn one_record_at_a_time_and_removed_at_the_end() {
        let dir = tempfile::tempdir().expect("dir");
        let m = Marker::write(dir.path(), &saved())
            .expect("write")
            .expect("first record");
        let text = fs::read_to_string(dir.path().join(FILE)).expect("read");
        assert_eq!(Saved::parse(&text).expect("parse"), saved());
        // A second run finds the record and leaves the settings alone.
        assert!(
            Marker::write(dir.path(), &saved())
                .expect("write")
                .is_none()
        );
        // The live run's lock is visible to others.
        let other = fs::File::open(dir.path().join(FILE)).expect("open");
        assert!(matches!(
            other.try_lock(),
            Err(fs::TryLockError::WouldBlock)
        ));
        m.remove().expect("remove");
        assert!(!dir.path().join(FILE).exists());
        // Nothing else is left behind (the temporary file was renamed, not copied).
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}
