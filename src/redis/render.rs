//! Renders a reply byte-for-byte as `redis-cli --no-raw` does (its `cliFormatReplyTTY`),
//! because learners already know that format and should see exactly what redis-cli shows.

use redis::Value;

// The one escaping of untrusted text lives below every layer; these names stay for the
// renderers here.
pub use crate::untrusted::{is_printable, json_safe, printable, printable_str, repr};

/// Settings whose values are passwords: never displayed, even to the server's admin.
const SECRET_SETTINGS: &[&[u8]] = &[b"requirepass", b"masterauth"];

/// A `CONFIG GET` reply with password values replaced by `***`; any other reply unchanged.
pub fn hide_secrets(args: &[Vec<u8>], reply: Value) -> Value {
    let is_config_get = args.len() >= 2
        && args[0].eq_ignore_ascii_case(b"CONFIG")
        && args[1].eq_ignore_ascii_case(b"GET");
    match reply {
        Value::Array(items) if is_config_get => {
            let mut out = Vec::with_capacity(items.len());
            let mut hide_next = false;
            for (i, item) in items.into_iter().enumerate() {
                if hide_next {
                    out.push(Value::BulkString(b"***".to_vec()));
                    hide_next = false;
                    continue;
                }
                if let Value::BulkString(name) = &item {
                    hide_next =
                        i % 2 == 0 && SECRET_SETTINGS.iter().any(|s| name.eq_ignore_ascii_case(s));
                }
                out.push(item);
            }
            Value::Array(out)
        }
        other => other,
    }
}

/// The text of a server error as Redis sent it (`ERR unknown command ...`).
pub fn error_text(code: &str, detail: Option<&str>) -> String {
    match detail {
        Some(d) if !d.is_empty() => format!("{code} {d}"),
        _ => code.to_string(),
    }
}

/// Commands whose text reply redis-cli prints raw, line by line, even in its quoting mode
/// (its `cliSendCommand` list): INFO, CLIENT LIST, CLUSTER NODES and a few more.
fn printed_raw(args: &[Vec<u8>]) -> bool {
    // redis-cli 7's own list (cliSendCommand), argument counts included.
    let word = |i: usize| {
        args.get(i)
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .unwrap_or_default()
    };
    let (cmd, sub, argc) = (word(0), word(1), args.len());
    matches!(cmd.as_str(), "info" | "lolwut")
        || (argc >= 2
            && cmd == "debug"
            && matches!(sub.as_str(), "htstats" | "htstats-key" | "client-eviction"))
        || (argc >= 2 && cmd == "memory" && matches!(sub.as_str(), "malloc-stats" | "doctor"))
        || (argc == 2 && cmd == "cluster" && matches!(sub.as_str(), "nodes" | "info"))
        || (argc >= 2 && cmd == "client" && matches!(sub.as_str(), "list" | "info"))
        || (argc == 3 && cmd == "latency" && sub == "graph")
        || (argc == 2 && cmd == "latency" && sub == "doctor")
        || (argc >= 2 && cmd == "proxy" && sub == "info")
}

/// A reply to `args` as redis-cli prints it: raw for INFO and its kin (text as sent, an error
/// without `(error)`, each line still made printable), redis-cli's quoted form for the rest.
pub fn render_for(args: &[Vec<u8>], value: &Value) -> String {
    if printed_raw(args) {
        let mut out = String::new();
        raw_into(&mut out, value);
        return out;
    }
    render(value)
}

/// redis-cli's raw output: text as sent (CRLF kept, never a control character), numbers bare,
/// errors without `(error)`, an array's items one per line.
fn raw_into(out: &mut String, value: &Value) {
    let text = |out: &mut String, text: &str| {
        for piece in text.split_inclusive('\n') {
            let (line, end) = match piece.strip_suffix("\r\n") {
                Some(l) => (l, "\r\n"),
                None => match piece.strip_suffix('\n') {
                    Some(l) => (l, "\n"),
                    None => (piece, ""),
                },
            };
            out.push_str(&printable_str(line));
            out.push_str(end);
        }
        if !text.ends_with('\n') {
            out.push('\n');
        }
    };
    match value {
        Value::BulkString(b) => text(out, &String::from_utf8_lossy(b)),
        Value::VerbatimString { text: t, .. } => text(out, t),
        Value::SimpleString(s) => text(out, s),
        Value::Okay => out.push_str("OK\n"),
        Value::Int(i) => out.push_str(&format!("{i}\n")),
        Value::Nil => out.push('\n'),
        Value::ServerError(e) => text(out, &error_text(e.code(), e.details())),
        Value::Array(items) => items.iter().for_each(|v| raw_into(out, v)),
        other => out.push_str(&render(other)),
    }
}

/// Formats a whole reply, ending with a newline, as redis-cli prints it.
pub fn render(value: &Value) -> String {
    let mut out = String::new();
    format_into(&mut out, value, "");
    out
}

fn format_into(out: &mut String, value: &Value, prefix: &str) {
    match value {
        Value::ServerError(e) => {
            out.push_str("(error) ");
            out.push_str(&printable_str(&error_text(e.code(), e.details())));
            out.push('\n');
        }
        Value::Okay => out.push_str("OK\n"),
        Value::SimpleString(s) => {
            out.push_str(&printable_str(s));
            out.push('\n');
        }
        Value::Int(i) => out.push_str(&format!("(integer) {i}\n")),
        Value::Double(d) => out.push_str(&format!("(double) {d}\n")),
        Value::BulkString(b) => {
            out.push_str(&repr(b));
            out.push('\n');
        }
        Value::VerbatimString { text, .. } => {
            out.push_str(&printable_str(text));
            out.push('\n');
        }
        Value::Nil => out.push_str("(nil)\n"),
        Value::Boolean(b) => out.push_str(if *b { "(true)\n" } else { "(false)\n" }),
        Value::BigNumber(n) => out.push_str(&format!("(big number) {n}\n")),
        // redis-cli shows a pushed message as an array whose first element is its kind.
        Value::Push { kind, data } => {
            let mut items = vec![Value::BulkString(kind.to_string().into_bytes())];
            items.extend(data.iter().cloned());
            format_into(out, &Value::Array(items), prefix);
        }
        Value::Array(items) | Value::Set(items) => {
            let sep = if matches!(value, Value::Set(_)) {
                '~'
            } else {
                ')'
            };
            if items.is_empty() {
                out.push_str(if sep == '~' {
                    "(empty set)\n"
                } else {
                    "(empty array)\n"
                });
                return;
            }
            let width = items.len().to_string().len();
            let child_prefix = format!("{prefix}{}", " ".repeat(width + 2));
            for (i, item) in items.iter().enumerate() {
                let lead = if i == 0 { "" } else { prefix };
                out.push_str(&format!("{lead}{:>width$}{sep} ", i + 1));
                format_into(out, item, &child_prefix);
            }
        }
        Value::Map(pairs) => {
            if pairs.is_empty() {
                out.push_str("(empty hash)\n");
                return;
            }
            let width = pairs.len().to_string().len();
            let child_prefix = format!("{prefix}{}", " ".repeat(width + 2));
            for (i, (k, v)) in pairs.iter().enumerate() {
                let lead = if i == 0 { "" } else { prefix };
                out.push_str(&format!("{lead}{:>width$}# ", i + 1));
                format_into(out, k, &child_prefix);
                out.pop();
                out.push_str(" => ");
                format_into(out, v, &child_prefix);
            }
        }
        Value::Attribute { data, .. } => format_into(out, data, prefix),
        other => {
            out.push_str(&format!("{other:?}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_shows_its_kind_first_and_verbatim_text_is_made_printable() {
        let push = Value::Push {
            kind: redis::PushKind::Subscribe,
            data: vec![bulk("news"), Value::Int(1)],
        };
        assert_eq!(
            render(&push),
            "1) \"subscribe\"\n2) \"news\"\n3) (integer) 1\n"
        );
        let verbatim = Value::VerbatimString {
            format: redis::VerbatimFormat::Text,
            text: "a\u{1b}]52;c;x\u{7}".into(),
        };
        assert!(!render(&verbatim).contains('\u{1b}'));
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn scalars() {
        assert_eq!(render(&Value::Okay), "OK\n");
        assert_eq!(render(&Value::SimpleString("zset".into())), "zset\n");
        assert_eq!(render(&Value::Int(-3)), "(integer) -3\n");
        assert_eq!(render(&Value::Nil), "(nil)\n");
        assert_eq!(render(&bulk("hi")), "\"hi\"\n");
    }

    #[test]
    fn binary_escaping() {
        assert_eq!(
            repr(b"a\"b\\c\n\x00\xff\x07\x08 ~"),
            r#""a\"b\\c\n\x00\xff\a\b ~""#
        );
    }

    #[test]
    fn printable_passes_text_and_escapes_controls() {
        assert_eq!(printable(b"lab:caf\xc3\xa9"), "lab:café");
        assert_eq!(
            printable(b"evil\x1b]0;TITLE\x07\x1b[2J"),
            r#""evil\x1b]0;TITLE\a\x1b[2J""#
        );
        assert_eq!(printable("a\u{202E}b".as_bytes()), r#""a\xe2\x80\xaeb""#);
        assert_eq!(printable(b"\xff"), r#""\xff""#);
        assert_eq!(printable(b"tab\there"), r#""tab\there""#);
        assert!(matches!(printable(b"plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn nested_arrays_are_indented_like_redis_cli() {
        let v = Value::Array(vec![
            Value::Array(vec![bulk("1-1"), Value::Array(vec![bulk("f"), bulk("v")])]),
            Value::Array(vec![]),
        ]);
        assert_eq!(
            render(&v),
            "1) 1) \"1-1\"\n   2) 1) \"f\"\n      2) \"v\"\n2) (empty array)\n"
        );
    }

    #[test]
    fn index_width_grows_with_length() {
        let v = Value::Array((0..10).map(Value::Int).collect());
        let text = render(&v);
        assert!(text.starts_with(" 1) (integer) 0\n 2)"), "{text}");
        assert!(text.ends_with("10) (integer) 9\n"), "{text}");
    }
}
