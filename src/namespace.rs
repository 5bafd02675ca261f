//! The namespace is sacred: helpers that keep every write inside `<namespace>:`. Deleting uses
//! SCAN + UNLINK (never KEYS, which blocks the server; never FLUSHDB, which is not ours to call).

use anyhow::Result;
use redis::aio::MultiplexedConnection;

/// The SCAN pattern for everything in a namespace.
pub fn all_keys(namespace: &str) -> String {
    format!("{namespace}:*")
}

/// A pattern inside the namespace (`session:*` → `lab:session:*`); already-prefixed patterns
/// are kept as they are.
pub fn scoped(namespace: &str, pattern: &str) -> String {
    let prefix = format!("{namespace}:");
    if pattern.starts_with(&prefix) {
        pattern.to_string()
    } else {
        format!("{prefix}{pattern}")
    }
}

pub fn is_inside(namespace: &str, key: &[u8]) -> bool {
    key.starts_with(format!("{namespace}:").as_bytes())
}

/// Deletes every key matching `pattern`, which must lie inside the namespace. Returns how many.
pub async fn delete_matching(
    conn: &mut MultiplexedConnection,
    namespace: &str,
    pattern: &str,
) -> Result<u64> {
    anyhow::ensure!(
        pattern.starts_with(&format!("{namespace}:")),
        "refusing to delete {pattern}: it is outside the namespace {namespace}:"
    );
    let mut cursor: u64 = 0;
    let mut deleted = 0u64;
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        let batch: Vec<_> = batch
            .into_iter()
            .filter(|k| is_inside(namespace, k))
            .collect();
        if !batch.is_empty() {
            let n: u64 = redis::cmd("UNLINK").arg(&batch).query_async(conn).await?;
            deleted += n;
        }
        cursor = next;
        if cursor == 0 {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoping() {
        assert_eq!(scoped("lab", "session:*"), "lab:session:*");
        assert_eq!(scoped("lab", "lab:x"), "lab:x");
        assert!(is_inside("lab", b"lab:x"));
        assert!(!is_inside("lab", b"labx"));
        assert!(!is_inside("lab", b"other:lab:x"));
    }
}
