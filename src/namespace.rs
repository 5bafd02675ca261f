//! The namespace is sacred: helpers that keep every write inside `<namespace>:`. Deleting uses
//! SCAN + UNLINK (never KEYS, which blocks the server; never FLUSHDB, which is not ours to call).

use crate::redis::fence::Fenced;
use anyhow::Result;

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
pub async fn delete_matching(conn: &mut Fenced, namespace: &str, pattern: &str) -> Result<u64> {
    anyhow::ensure!(
        pattern.starts_with(&format!("{namespace}:")),
        "refusing to delete {pattern}: it is outside the namespace {namespace}:"
    );
    // Every master of a cluster is scanned; UNLINK of keys in several slots is split by slot.
    let (keys, _) = conn.scan_match(pattern, 1000, usize::MAX).await?;
    let keys: Vec<_> = keys
        .into_iter()
        .filter(|k| is_inside(namespace, k))
        .collect();
    let mut deleted = 0u64;
    for batch in keys.chunks(1000) {
        let n: u64 = redis::cmd("UNLINK").arg(batch).query_async(conn).await?;
        deleted += n;
    }
    Ok(deleted)
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
