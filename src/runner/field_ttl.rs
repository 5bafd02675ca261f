//! Hash fields with a TTL of their own (HEXPIRE from Redis 7.4, HSETEX from Redis 8.0 and
//! Valkey 9). Lesson time must stand still for them as it does for keys, and a wait step must
//! fast-forward them, but a key's PTTL and PEXPIRE know nothing of its fields, and DUMP keeps
//! each field's expiry as a moment in time: a RESTORE after a minute of reading brings the
//! fields back with a minute less, or not at all. So the remaining time of every such field is
//! read (HPTTL) and given back (HPEXPIRE), and a field that expired meanwhile is written again.

use anyhow::Result;
use redis::Value;

use crate::redis::fence::Fenced;

/// Hashes with more fields than this are not looked into (lesson hashes are small).
const MAX_FIELDS: i64 = 1000;

/// One field with a TTL, as it was.
#[derive(Debug, Clone)]
pub struct Field {
    name: Vec<u8>,
    value: Vec<u8>,
    /// Milliseconds left.
    pttl: i64,
}

/// Whether the server has per-field TTLs at all (asked once per run by the engine).
pub async fn supported(conn: &mut Fenced) -> Result<bool> {
    let info: Value = redis::cmd("COMMAND")
        .arg("INFO")
        .arg("HPTTL")
        .arg("HPEXPIRE")
        .query_async(conn)
        .await?;
    Ok(
        matches!(&info, Value::Array(items) if items.len() == 2 && items.iter().all(|i| *i != Value::Nil)),
    )
}

/// The fields of `key` that have a TTL (none if it is not a hash).
pub async fn of_key(conn: &mut Fenced, key: &[u8]) -> Result<Vec<Field>> {
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
    let timed: Vec<(Vec<u8>, i64)> = names
        .into_iter()
        .zip(ttls)
        .filter(|(_, t)| *t >= 0)
        .collect();
    if timed.is_empty() {
        return Ok(Vec::new());
    }
    let values: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
        .arg(key)
        .arg(timed.iter().map(|(n, _)| n).collect::<Vec<_>>())
        .query_async(conn)
        .await?;
    Ok(timed
        .into_iter()
        .zip(values)
        .filter_map(|((name, pttl), value)| value.map(|value| Field { name, value, pttl }))
        .collect())
}

/// Gives each field its remaining time back, writing it again if it expired meanwhile. The
/// key itself must already be back (its own TTL, or RESTORE).
pub async fn give_back(conn: &mut Fenced, key: &[u8], fields: &[Field]) -> Result<()> {
    for f in fields {
        let ms = f.pttl.max(1);
        if expire(conn, key, &f.name, ms).await? == -2 {
            // HSET clears a field's TTL, so it is set again right after.
            redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(key)
                .arg(&f.name)
                .arg(&f.value)
                .ignore()
                .cmd("HPEXPIRE")
                .arg(key)
                .arg(ms)
                .arg("FIELDS")
                .arg(1)
                .arg(&f.name)
                .ignore()
                .query_async::<()>(conn)
                .await?;
        }
    }
    Ok(())
}

/// Time passes for the fields of `key`: each TTL is shortened by `ms`, and a field whose TTL
/// runs out is deleted, as its real expiry would. Returns how many fields expired.
pub async fn shorten(conn: &mut Fenced, key: &[u8], ms: i64) -> Result<u64> {
    let mut expired = 0;
    for f in of_key(conn, key).await? {
        let left = f.pttl - ms;
        expire(conn, key, &f.name, left.max(0)).await?;
        if left <= 0 {
            expired += 1;
        }
    }
    Ok(expired)
}

/// HPEXPIRE on one field: 1 set, 2 deleted (a TTL of 0), -2 no such field.
async fn expire(conn: &mut Fenced, key: &[u8], field: &[u8], ms: i64) -> Result<i64> {
    let reply: Vec<i64> = redis::cmd("HPEXPIRE")
        .arg(key)
        .arg(ms)
        .arg("FIELDS")
        .arg(1)
        .arg(field)
        .query_async(conn)
        .await?;
    Ok(reply.first().copied().unwrap_or(-2))
}
