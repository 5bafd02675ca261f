//! Small text helpers for validation: where a problem is in the file, and Redis-style glob
//! matching for the lesson's key patterns.

/// Locates `needle` in the file for a message position (first occurrence).
/// A needle starting with `^` matches a top-level key at the start of a line (`^id:`).
pub fn locate(text: &str, needle: &str) -> (Option<u64>, Option<u64>) {
    if let Some(key) = needle.strip_prefix('^') {
        let found = text.lines().position(|l| l.starts_with(key));
        return (found.map(|i| i as u64 + 1), found.map(|_| 1));
    }
    let probe = needle.lines().next().unwrap_or(needle).trim();
    if probe.is_empty() {
        return (None, None);
    }
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue; // a YAML comment is not where the problem is
        }
        if let Some(col) = line.find(probe) {
            return (Some(i as u64 + 1), Some(col as u64 + 1));
        }
    }
    (None, None)
}

/// Redis-style glob match for `*` and `?` (enough for lesson key patterns).
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob(b"lab:user:*", b"lab:user:42"));
        assert!(glob(b"lab:*:name", b"lab:user:42:name"));
        assert!(glob(b"lab:greeting", b"lab:greeting"));
        assert!(!glob(b"lab:greeting", b"lab:greetings"));
        assert!(glob(b"lab:?", b"lab:x"));
        assert!(!glob(b"lab:user:*", b"lab:users"));
    }

    #[test]
    fn locate_finds_line_and_column() {
        assert_eq!(locate("a\n  bad: x\n", "bad"), (Some(2), Some(3)));
        assert_eq!(locate("a", "zzz"), (None, None));
        assert_eq!(
            locate("format_version: 1\nid: '42'\n", "^id:"),
            (Some(2), Some(1))
        );
    }
}
