//! The one place text from outside this binary is made safe for a terminal: a server's strings
//! (key names, values, errors, the banner's version) and a lesson file's texts (title,
//! introduction, steps, hints, quiz). Any client of a shared server can name a key
//! `evil\x1b]0;TITLE\x07`, and a lesson folder could carry OSC 52 (write the clipboard) or a
//! bidi override; written raw, a terminal would obey them. This module imports nothing from the
//! crate, so every layer (redis, lesson, term) can use it.

use std::borrow::Cow;

/// Unicode controls that reorder or hide text on a terminal: bidi embeddings, overrides and
/// isolates, the implicit marks, and the line and paragraph separators.
pub fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}'
        | '\u{061C}' | '\u{2028}' | '\u{2029}')
}

/// A character a terminal would obey rather than show: C0 controls, DEL, C1 controls, bidi.
/// (`\n` and `\t` count too: prose keeps them, a one-line value does not.)
pub fn is_unsafe(c: char) -> bool {
    c.is_control() || is_deceptive(c)
}

/// Whether text can be written to a terminal as it is: no control or bidi characters.
pub fn is_printable(s: &str) -> bool {
    !s.chars().any(is_unsafe)
}

/// A one-line value from a server, made safe to print: printable text passes unchanged;
/// anything else is shown quoted and escaped as redis-cli shows it (`"evil\x1b]0;..."`).
pub fn printable(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) if is_printable(s) => Cow::Borrowed(s),
        _ => Cow::Owned(repr(bytes)),
    }
}

/// `printable` for text already decoded (an error message, a field read as a string).
pub fn printable_str(s: &str) -> Cow<'_, str> {
    printable(s.as_bytes())
}

/// Prose (a lesson's text, which may also quote saved replies): line breaks and tabs stay,
/// every other control or bidi character is written out as a visible escape (`\x1b`,
/// `\u{202e}`), so it shows instead of acting.
pub fn prose(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && c != '\n' && c != '\t') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if is_unsafe(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if is_unsafe(c) => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// redis-cli's `sdscatrepr`: quotes a bulk string, escaping what is not printable ASCII.
pub fn repr(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

/// JSON text with bidi controls written as `\uXXXX` escapes: JSON escapes other controls
/// itself, but not these, and a terminal would obey them. Still the same JSON value.
pub fn json_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if is_deceptive(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_keeps_lines_and_shows_controls() {
        assert_eq!(prose("a\n\tb"), "a\n\tb");
        assert_eq!(prose("x\x1b]52;c;aGk=\x07y"), "x\\x1b]52;c;aGk=\\x07y");
        assert_eq!(prose("\u{202e}abc\u{9b}"), "\\u{202e}abc\\x9b");
        assert_eq!(prose("del\x7f"), "del\\x7f");
        assert!(is_printable(&prose("\x1b[2J\r\u{2066}")));
    }

    #[test]
    fn values_are_quoted_as_redis_cli_quotes_them() {
        assert_eq!(printable(b"plain"), "plain");
        assert_eq!(printable(b"a\x1bb"), "\"a\\x1bb\"");
    }
}
