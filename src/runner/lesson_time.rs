//! Lesson time: TTLs pass while a step runs and during wait steps, never while the learner reads
//! or types. Freezing takes each lesson key's remaining time and removes it (PERSIST, HPERSIST
//! for hash fields with a TTL of their own), so nothing can expire while nobody is looking;
//! thawing gives the time back (PEXPIRE, HPEXPIRE).
//!
//! Lesson time gives back only what it took. Another client (a second redis-cli) may change a
//! lesson key while the learner reads: a key that is gone stays gone, a key that has a TTL again
//! or a different value keeps what that client gave it. Such keys are reported, so the learner
//! hears why a step sees something the lesson did not do. A key is compared by its DUMP, taken
//! once its TTLs were removed.
//!
//! Only keys inside the namespace are ever read or written here (the engine passes them).

use std::sync::{Arc, Mutex};

use anyhow::Result;
use redis::Value;

use crate::redis::fence::Fenced;

/// Hashes with more fields than this are not looked into (lesson hashes are small).
const MAX_FIELDS: i64 = 1000;

/// One key whose time was taken.
#[derive(Debug, Clone)]
struct Held {
    key: Vec<u8>,
    /// Milliseconds it had left, or -1 (only its fields had a TTL).
    pttl: i64,
    /// Its hash fields that had a TTL of their own, with the milliseconds each had left.
    fields: Vec<(Vec<u8>, i64)>,
    /// DUMP once the TTLs were removed: what an untouched key still is at thaw.
    dump: Vec<u8>,
}

/// The lesson keys whose time stands still.
#[derive(Debug, Clone, Default)]
pub struct Frozen {
    held: Vec<Held>,
}

/// Where the engine keeps its frozen keys: shared with a `TimeKeeper`, so a signal handler on
/// another task can give the time back while the engine's own task waits at a prompt.
#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<Option<Frozen>>>);

impl Slot {
    pub fn is_empty(&self) -> bool {
        self.0.lock().map(|f| f.is_none()).unwrap_or(true)
    }

    pub fn hold(&self, frozen: Frozen) {
        if let Ok(mut f) = self.0.lock() {
            *f = Some(frozen);
        }
    }

    pub fn take(&self) -> Option<Frozen> {
        self.0.lock().ok().and_then(|mut f| f.take())
    }
}

/// Gives lesson time back from outside the engine: when the process is told to stop, every
/// frozen key gets its remaining time again, so no lesson key is left without its TTL.
pub struct TimeKeeper {
    slot: Slot,
    conn: Fenced,
}

impl TimeKeeper {
    pub fn new(slot: Slot, conn: Fenced) -> TimeKeeper {
        TimeKeeper { slot, conn }
    }

    pub async fn give_back(mut self) -> Result<()> {
        if let Some(f) = self.slot.take() {
            f.thaw(&mut self.conn).await?;
        }
        Ok(())
    }
}

/// A lesson key another client changed while time stood still, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedMeanwhile {
    pub key: String,
    pub how: &'static str,
}

impl Frozen {
    /// Takes the time of every given key that has a TTL (on the key, or on hash fields when
    /// `fields`: the server has per-field TTLs).
    pub async fn freeze(conn: &mut Fenced, keys: &[Vec<u8>], fields: bool) -> Result<Frozen> {
        let mut held = Vec::new();
        for key in keys {
            let pttl: i64 = redis::cmd("PTTL").arg(key).query_async(conn).await?;
            if pttl == -2 {
                continue;
            }
            let timed = match fields {
                true => timed_fields(conn, key).await?,
                false => Vec::new(),
            };
            if pttl < 0 && timed.is_empty() {
                continue;
            }
            if pttl >= 0 {
                let _: i64 = redis::cmd("PERSIST").arg(key).query_async(conn).await?;
            }
            if !timed.is_empty() {
                let names: Vec<&Vec<u8>> = timed.iter().map(|(n, _)| n).collect();
                let _: Value = redis::cmd("HPERSIST")
                    .arg(key)
                    .arg("FIELDS")
                    .arg(names.len())
                    .arg(names)
                    .query_async(conn)
                    .await?;
            }
            let dump: Value = redis::cmd("DUMP").arg(key).query_async(conn).await?;
            let Value::BulkString(dump) = dump else {
                continue;
            };
            held.push(Held {
                key: key.clone(),
                pttl: if pttl >= 0 { pttl.max(1) } else { -1 },
                fields: timed,
                dump,
            });
        }
        Ok(Frozen { held })
    }

    /// Gives every key its time back, unless another client changed the key meanwhile: those
    /// are left as that client left them and returned.
    pub async fn thaw(self, conn: &mut Fenced) -> Result<Vec<ChangedMeanwhile>> {
        let mut changed = Vec::new();
        for h in self.held {
            let name = String::from_utf8_lossy(&h.key).into_owned();
            let dump: Value = redis::cmd("DUMP").arg(&h.key).query_async(conn).await?;
            let how = match dump {
                Value::Nil => Some("deleted"),
                Value::BulkString(d) if d != h.dump => Some("written"),
                _ => {
                    let pttl: i64 = redis::cmd("PTTL").arg(&h.key).query_async(conn).await?;
                    (pttl >= 0).then_some("given a TTL")
                }
            };
            if let Some(how) = how {
                changed.push(ChangedMeanwhile { key: name, how });
                continue;
            }
            if h.pttl >= 0 {
                let _: i64 = redis::cmd("PEXPIRE")
                    .arg(&h.key)
                    .arg(h.pttl)
                    .query_async(conn)
                    .await?;
            }
            for (field, ms) in &h.fields {
                let _: Value = redis::cmd("HPEXPIRE")
                    .arg(&h.key)
                    .arg((*ms).max(1))
                    .arg("FIELDS")
                    .arg(1)
                    .arg(field)
                    .query_async(conn)
                    .await?;
            }
        }
        Ok(changed)
    }
}

/// The fields of `key` that have a TTL, with the milliseconds each has left (none if it is not
/// a hash).
async fn timed_fields(conn: &mut Fenced, key: &[u8]) -> Result<Vec<(Vec<u8>, i64)>> {
    let kind: String = redis::cmd("TYPE").arg(key).query_async(conn).await?;
    if kind != "hash" {
        return Ok(Vec::new());
    }
    let len: i64 = redis::cmd("HLEN").arg(key).query_async(conn).await?;
    if len == 0 || len > MAX_FIELDS {
        return Ok(Vec::new());
    }
    let names: Vec<Vec<u8>> = redis::cmd("HKEYS").arg(key).query_async(conn).await?;
    let ttls: Vec<i64> = redis::cmd("HPTTL")
        .arg(key)
        .arg("FIELDS")
        .arg(names.len())
        .arg(&names)
        .query_async(conn)
        .await?;
    Ok(names
        .into_iter()
        .zip(ttls)
        .filter(|(_, t)| *t >= 0)
        .collect())
}
