//! The lesson's keys at one moment, kept with DUMP and PTTL, so the engine can put Redis back
//! exactly as it was: before each step the engine snapshots every lesson key, so a failed step
//! can be retried from that exact state (and `back` can rewind), and an exercise's solution
//! always runs on the state it was written for. (Lesson time, which stops TTLs while the learner
//! reads, is `lesson_time`.)
//!
//! Hash fields with a TTL of their own are kept and given back too (`field_ttl`): a key's
//! PTTL and DUMP do not keep them.
//!
//! Only keys inside the namespace are ever read or written here.

use crate::redis::fence::Fenced;
use anyhow::{Context, Result};
use redis::Value;

use crate::inspect;
use crate::namespace::is_inside;
use crate::runner::field_ttl::{self, Field};

/// One key as it was.
#[derive(Debug, Clone)]
struct Saved {
    key: Vec<u8>,
    /// DUMP's payload.
    dump: Vec<u8>,
    /// Milliseconds left, or -1 for no TTL.
    pttl: i64,
    /// Its hash fields that have a TTL of their own.
    fields: Vec<Field>,
}

/// Lesson keys at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    keys: Vec<Saved>,
}

/// The lesson keys that exist now (patterns already expanded), inside the namespace only.
pub async fn lesson_keys(
    conn: &mut Fenced,
    namespace: &str,
    patterns: &[String],
) -> Result<Vec<Vec<u8>>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for p in patterns {
        if p.contains(['*', '?', '[']) {
            keys.extend(inspect::scan_keys(conn, p, 10_000).await?.0);
        } else {
            keys.push(p.clone().into_bytes());
        }
    }
    keys.retain(|k| is_inside(namespace, k));
    keys.sort();
    keys.dedup();
    Ok(keys)
}

impl Snapshot {
    /// Every given key that exists (`only_with_ttl`: just those with a TTL, on the key or on
    /// a field). `fields`: the server has per-field TTLs.
    pub async fn take(
        conn: &mut Fenced,
        keys: &[Vec<u8>],
        only_with_ttl: bool,
        fields: bool,
    ) -> Result<Snapshot> {
        let mut out = Vec::new();
        for key in keys {
            let pttl: i64 = redis::cmd("PTTL").arg(key).query_async(conn).await?;
            if pttl == -2 {
                continue;
            }
            let timed = match fields {
                true => field_ttl::of_key(conn, key).await?,
                false => Vec::new(),
            };
            if only_with_ttl && pttl < 0 && timed.is_empty() {
                continue;
            }
            let dump: Value = match redis::cmd("DUMP").arg(key).query_async(conn).await {
                Ok(v) => v,
                // A key past the reply bound cannot be kept; say which, and how to clear it.
                Err(_) if crate::redis::bounded::refused().is_some() => {
                    return Err(crate::error::Exit::new(
                        crate::error::code::CONNECTION,
                        format!(
                            "the lesson key {} is larger than redislab reads in one reply (64 MiB), so it cannot be kept while you read: `redislab reset ID` (its lesson) or `redislab reset --all` deletes it",
                            crate::untrusted::printable(key)
                        ),
                    )
                    .into());
                }
                Err(e) => return Err(e.into()),
            };
            if let Value::BulkString(dump) = dump {
                out.push(Saved {
                    key: key.clone(),
                    dump,
                    pttl,
                    fields: timed,
                });
            }
        }
        Ok(Snapshot { keys: out })
    }

    /// A key's time to live when the snapshot was taken: `None` if it did not exist, `Some(-1)`
    /// for no TTL.
    pub fn pttl_of(&self, key: &[u8]) -> Option<i64> {
        self.keys.iter().find(|s| s.key == key).map(|s| s.pttl)
    }

    /// The keys the snapshot holds.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> {
        self.keys.iter().map(|s| s.key.as_slice())
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Puts the lesson back exactly as it was: keys of the lesson that did not exist then are
    /// deleted, the others restored with their value and TTL.
    pub async fn restore_all(
        &self,
        conn: &mut Fenced,
        namespace: &str,
        now: &[Vec<u8>],
    ) -> Result<()> {
        for key in now {
            if is_inside(namespace, key) && !self.keys.iter().any(|s| &s.key == key) {
                let _: i64 = redis::cmd("UNLINK").arg(key).query_async(conn).await?;
            }
        }
        for s in &self.keys {
            restore(conn, s, s.pttl.max(0)).await?;
            field_ttl::give_back(conn, &s.key, &s.fields).await?;
        }
        Ok(())
    }
}

async fn restore(conn: &mut Fenced, s: &Saved, ttl_ms: i64) -> Result<()> {
    // RESTORE's TTL 0 means "no TTL".
    let ttl = if s.pttl < 0 { 0 } else { ttl_ms.max(1) };
    let _: Value = redis::cmd("RESTORE")
        .arg(&s.key)
        .arg(ttl)
        .arg(&s.dump)
        .arg("REPLACE")
        .query_async(conn)
        .await
        .with_context(|| {
            format!(
                "could not restore {} from its snapshot",
                String::from_utf8_lossy(&s.key)
            )
        })?;
    Ok(())
}
