//! A snapshot of keys as facts: type, TTL, size, encoding, memory and a bounded preview.
//! `redislab inspect`, the sandbox and every lesson step show this; it never prints, and it
//! reads at most a fixed amount per key so a huge key cannot flood memory or the terminal.

use crate::redis::fence::Fenced;
use anyhow::Result;
use redis::Value;
use redis::aio::ConnectionLike;
use serde::Serialize;

use crate::redis::render::repr;

/// Items shown in a preview, and bytes of a string.
const PREVIEW_ITEMS: usize = 5;
const PREVIEW_BYTES: usize = 60;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyInfo {
    pub key: String,
    /// `string`, `list`, `hash`, `set`, `zset`, `stream`, or `none` for a missing key.
    #[serde(rename = "type")]
    pub key_type: String,
    /// Remaining time to live in milliseconds; `None` when the key has no TTL (or is missing).
    pub ttl_ms: Option<i64>,
    /// Length or cardinality (bytes for a string).
    pub size: Option<i64>,
    pub encoding: Option<String>,
    /// Bytes, from MEMORY USAGE.
    pub memory: Option<i64>,
    pub preview: String,
    /// On a cluster: the key's hash slot and the master that serves it (`host:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl KeyInfo {
    pub fn exists(&self) -> bool {
        self.key_type != "none"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub pattern: String,
    pub keys: Vec<KeyInfo>,
    /// More keys matched than `limit`.
    pub truncated: bool,
}

/// SCANs for keys matching `pattern` (never KEYS: SCAN does not block the server), on every
/// master of a cluster.
pub async fn scan_keys(
    conn: &mut Fenced,
    pattern: &str,
    limit: usize,
) -> Result<(Vec<Vec<u8>>, bool)> {
    // On a cluster every master is scanned in turn: each holds only its own slots' keys.
    let (mut keys, stopped) = conn.scan_match(pattern, 500, limit).await?;
    keys.sort();
    keys.dedup();
    let truncated = keys.len() > limit || stopped;
    keys.truncate(limit);
    Ok((keys, truncated))
}

/// Scans and describes: the whole `inspect` in one call.
pub async fn snapshot(conn: &mut Fenced, pattern: &str, limit: usize) -> Result<Snapshot> {
    let (keys, truncated) = scan_keys(conn, pattern, limit).await?;
    let mut infos = describe(conn, &keys).await?;
    infos.retain(KeyInfo::exists); // a key may expire between SCAN and describe
    Ok(Snapshot {
        pattern: pattern.to_string(),
        keys: infos,
        truncated,
    })
}

/// On a cluster: each key's slot, and the master serving it as the slot map says now.
async fn place(conn: &mut Fenced, infos: &mut [KeyInfo]) -> Result<()> {
    let slots: Value = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    let owners = crate::redis::cluster::slot_owners(slots);
    for info in infos {
        let slot = crate::redis::cluster::key_slot(info.key.as_bytes());
        info.slot = Some(slot);
        info.node = owners
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            .map(|(_, _, (host, port))| format!("{host}:{port}"));
    }
    Ok(())
}

async fn raw_pipeline(conn: &mut Fenced, pipe: &redis::Pipeline, n: usize) -> Result<Vec<Value>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    Ok(conn.req_packed_commands(pipe, 0, n).await?)
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::SimpleString(s) => Some(s.clone()),
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

/// Shows bytes plainly when they are printable text, else as redis-cli would quote them.
pub fn show_bytes(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s)
            if !s.is_empty()
                && crate::redis::render::is_printable(s)
                && !s.starts_with(' ')
                && !s.ends_with(' ') =>
        {
            s.to_string()
        }
        _ => repr(b),
    }
}

/// An element inside a list, set, hash or sorted set preview: quoted when it holds a space
/// or a comma, so `[a b, c]` can never be mistaken for three elements.
fn show_value(v: &Value) -> String {
    match v {
        Value::BulkString(b)
            if b.iter()
                .any(|&c| c == b' ' || c == b',' || c == b'=' || c == b':') =>
        {
            repr(b)
        }
        Value::BulkString(b) => show_bytes(b),
        Value::Int(i) => i.to_string(),
        other => text(other).unwrap_or_else(|| "?".into()),
    }
}

fn truncate_bytes(b: &[u8]) -> String {
    if b.len() > PREVIEW_BYTES {
        format!("{}…", show_bytes(&b[..PREVIEW_BYTES]))
    } else {
        show_bytes(b)
    }
}

fn more(shown: usize, total: Option<i64>) -> &'static str {
    match total {
        Some(t) if t > shown as i64 => ", …",
        _ => "",
    }
}

/// Describes the given keys in two pipelined round trips. Missing keys come back as `none`.
pub async fn describe(conn: &mut Fenced, keys: &[Vec<u8>]) -> Result<Vec<KeyInfo>> {
    let mut pipe = redis::pipe();
    for k in keys {
        pipe.cmd("TYPE").arg(k.as_slice());
        pipe.cmd("PTTL").arg(k.as_slice());
        pipe.cmd("OBJECT").arg("ENCODING").arg(k.as_slice());
        pipe.cmd("MEMORY")
            .arg("USAGE")
            .arg(k.as_slice())
            .arg("SAMPLES")
            .arg(5);
    }
    let first = raw_pipeline(conn, &pipe, keys.len() * 4).await?;

    let mut infos = Vec::with_capacity(keys.len());
    let mut second = redis::pipe();
    let mut counts = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let key_type = first
            .get(i * 4)
            .and_then(text)
            .unwrap_or_else(|| "none".into());
        let pttl = first.get(i * 4 + 1).and_then(int).unwrap_or(-2);
        let n = queue_size_and_preview(&mut second, &key_type, k);
        counts.push(n);
        infos.push(KeyInfo {
            key: String::from_utf8_lossy(k).into_owned(),
            key_type,
            ttl_ms: (pttl >= 0).then_some(pttl),
            size: None,
            encoding: first.get(i * 4 + 2).and_then(text),
            memory: first.get(i * 4 + 3).and_then(int),
            preview: String::new(),
            slot: None,
            node: None,
        });
    }
    if conn.is_cluster() {
        place(conn, &mut infos).await?;
    }
    let total: usize = counts.iter().sum();
    let replies = raw_pipeline(conn, &second, total).await?;
    let mut at = 0;
    for (info, n) in infos.iter_mut().zip(counts) {
        let r = &replies[at..at + n];
        at += n;
        if n == 0 {
            info.preview = "(no such key)".into();
            continue;
        }
        info.size = int(&r[0]);
        info.preview = preview(&info.key_type, &r[1..], info.size);
    }
    Ok(infos)
}

/// Queues the commands that measure a key of this type and read a preview of it; returns how
/// many replies they produce.
fn queue_size_and_preview(pipe: &mut redis::Pipeline, key_type: &str, k: &[u8]) -> usize {
    let second = pipe;
    match key_type {
        "string" => {
            second.cmd("STRLEN").arg(k);
            second
                .cmd("GETRANGE")
                .arg(k)
                .arg(0)
                .arg(PREVIEW_BYTES as i64);
            2
        }
        "list" => {
            second.cmd("LLEN").arg(k);
            second
                .cmd("LRANGE")
                .arg(k)
                .arg(0)
                .arg(PREVIEW_ITEMS as i64 - 1);
            2
        }
        "hash" => {
            second.cmd("HLEN").arg(k);
            second
                .cmd("HSCAN")
                .arg(k)
                .arg(0)
                .arg("COUNT")
                .arg(PREVIEW_ITEMS);
            2
        }
        "set" => {
            second.cmd("SCARD").arg(k);
            second
                .cmd("SSCAN")
                .arg(k)
                .arg(0)
                .arg("COUNT")
                .arg(PREVIEW_ITEMS);
            2
        }
        "zset" => {
            second.cmd("ZCARD").arg(k);
            second
                .cmd("ZRANGE")
                .arg(k)
                .arg(0)
                .arg(PREVIEW_ITEMS as i64 - 1)
                .arg("WITHSCORES");
            2
        }
        "stream" => {
            second.cmd("XLEN").arg(k);
            second
                .cmd("XRANGE")
                .arg(k)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(2);
            second.cmd("XINFO").arg("GROUPS").arg(k);
            3
        }
        _ => 0,
    }
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        _ => &[],
    }
}

fn preview(key_type: &str, r: &[Value], size: Option<i64>) -> String {
    match key_type {
        "string" => match &r[0] {
            Value::BulkString(b) => {
                let shown = &b[..b.len().min(PREVIEW_BYTES)];
                let cut = size.is_some_and(|s| s > PREVIEW_BYTES as i64);
                if cut {
                    truncate_bytes(&b[..b.len().min(PREVIEW_BYTES + 1)])
                } else {
                    show_bytes(shown)
                }
            }
            _ => String::new(),
        },
        "list" => {
            let list = items(&r[0]);
            let shown: Vec<_> = list.iter().take(PREVIEW_ITEMS).map(show_value).collect();
            format!("[{}{}]", shown.join(", "), more(shown.len(), size))
        }
        "set" => {
            let page = items(&r[0]);
            let mut members: Vec<_> = page
                .get(1)
                .map(items)
                .unwrap_or(&[])
                .iter()
                .map(show_value)
                .collect();
            members.sort();
            members.truncate(PREVIEW_ITEMS);
            format!("{{{}{}}}", members.join(", "), more(members.len(), size))
        }
        "hash" => {
            let page = items(&r[0]);
            let flat = page.get(1).map(items).unwrap_or(&[]);
            let mut pairs: Vec<_> = flat
                .chunks(2)
                .map(|c| {
                    format!(
                        "{}: {}",
                        show_value(&c[0]),
                        c.get(1).map(show_value).unwrap_or_default()
                    )
                })
                .collect();
            pairs.truncate(PREVIEW_ITEMS);
            format!("{{{}{}}}", pairs.join(", "), more(pairs.len(), size))
        }
        "zset" => {
            let flat = items(&r[0]);
            let pairs: Vec<_> = flat
                .chunks(2)
                .map(|c| {
                    format!(
                        "{}={}",
                        show_value(&c[0]),
                        c.get(1).map(show_value).unwrap_or_default()
                    )
                })
                .collect();
            format!("[{}{}]", pairs.join(", "), more(pairs.len(), size))
        }
        "stream" => {
            let entries = items(&r[0]);
            let ids: Vec<_> = entries
                .iter()
                .filter_map(|e| items(e).first().map(show_value))
                .collect();
            let groups: Vec<_> = items(r.get(1).unwrap_or(&Value::Nil))
                .iter()
                .map(|g| {
                    let fields = items(g);
                    let get = |name: &str| {
                        fields
                            .chunks(2)
                            .find(|c| text(&c[0]).as_deref() == Some(name))
                            .and_then(|c| c.get(1))
                            .map(show_value)
                            .unwrap_or_default()
                    };
                    format!("{} (pending {})", get("name"), get("pending"))
                })
                .collect();
            let mut out = format!("{}{}", ids.join(", "), more(ids.len(), size));
            if !groups.is_empty() {
                out.push_str(&format!("; groups: {}", groups.join(", ")));
            }
            out
        }
        _ => String::new(),
    }
}

/// `4.8s`, `42s`, `2m 10s`, `3h 5m`, `2d 4h`, or `no TTL`.
pub fn human_ttl(ttl_ms: Option<i64>) -> String {
    let Some(ms) = ttl_ms else {
        return "no TTL".into();
    };
    let secs = ms / 1000;
    if ms < 10_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m {}s", secs / 60, secs % 60)
    } else if secs < 86_400 {
        format!("{}h {}m", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{}d {}h", secs / 86_400, (secs % 86_400) / 3600)
    }
}

/// `72 B`, `1.2 KB`, `3.4 MB`.
pub fn human_bytes(b: Option<i64>) -> String {
    match b {
        None => "-".into(),
        Some(b) if b < 1024 => format!("{b} B"),
        Some(b) if b < 1024 * 1024 => format!("{:.1} KB", b as f64 / 1024.0),
        Some(b) => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_human() {
        assert_eq!(human_ttl(None), "no TTL");
        assert_eq!(human_ttl(Some(4_800)), "4.8s");
        assert_eq!(human_ttl(Some(42_000)), "42s");
        assert_eq!(human_ttl(Some(130_000)), "2m 10s");
        assert_eq!(human_ttl(Some(1_800_000)), "30m 0s");
        assert_eq!(human_ttl(Some(3_600_000 * 3 + 300_000)), "3h 5m");
        assert_eq!(human_ttl(Some(86_400_000 * 30)), "30d 0h");
    }

    #[test]
    fn bytes_are_shown_safely() {
        assert_eq!(show_bytes(b"Alice"), "Alice");
        assert_eq!(show_bytes(b"a\nb"), "\"a\\nb\"");
        assert_eq!(show_bytes(b""), "\"\"");
        assert_eq!(show_bytes(&[0xff]), "\"\\xff\"");
    }
}
