//! Splits a command line into arguments exactly as redis-cli does (its `sdssplitargs`),
//! so a learner can paste anything they would type into redis-cli and get the same bytes.

use thiserror::Error;

/// redis-cli prints exactly this for an unbalanced quote or a quote glued to a word.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("Invalid argument(s)")]
pub struct InvalidArguments;

fn is_space(b: u8) -> bool {
    // C isspace(): space, \t, \n, \v, \f, \r
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Tokenise one line. Arguments are bytes, because `"\xff"` is a valid argument.
pub fn tokenize(line: &str) -> Result<Vec<Vec<u8>>, InvalidArguments> {
    let p = line.as_bytes();
    let mut i = 0;
    let mut args = Vec::new();
    loop {
        while i < p.len() && is_space(p[i]) {
            i += 1;
        }
        if i >= p.len() {
            return Ok(args);
        }
        let mut in_double = false;
        let mut in_single = false;
        let mut current = Vec::new();
        loop {
            let c = p.get(i).copied();
            let next = p.get(i + 1).copied();
            if in_double {
                match c {
                    None => return Err(InvalidArguments),
                    Some(b'\\')
                        if next == Some(b'x')
                            && p.get(i + 2).copied().and_then(hex_value).is_some()
                            && p.get(i + 3).copied().and_then(hex_value).is_some() =>
                    {
                        let hi = hex_value(p[i + 2]).unwrap_or(0);
                        let lo = hex_value(p[i + 3]).unwrap_or(0);
                        current.push(hi * 16 + lo);
                        i += 3;
                    }
                    Some(b'\\') if next.is_some() => {
                        i += 1;
                        current.push(match p[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        // The closing quote must be followed by a space or the end.
                        if next.is_some_and(|n| !is_space(n)) {
                            return Err(InvalidArguments);
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else if in_single {
                match c {
                    None => return Err(InvalidArguments),
                    Some(b'\\') if next == Some(b'\'') => {
                        i += 1;
                        current.push(b'\'');
                    }
                    Some(b'\'') => {
                        if next.is_some_and(|n| !is_space(n)) {
                            return Err(InvalidArguments);
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => current.push(other),
                }
            }
            i += 1;
        }
        args.push(current);
    }
}

/// Shows an argument list back as a command line a learner could paste into redis-cli.
pub fn display_args(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.iter()
                    .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
            if plain {
                String::from_utf8_lossy(a).into_owned()
            } else {
                crate::redis::render::repr(a)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(line: &str) -> Vec<Vec<u8>> {
        tokenize(line).expect("tokenizes")
    }

    fn s(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn plain_words_and_whitespace() {
        assert_eq!(t("  SET   a  b "), s(&["SET", "a", "b"]));
        assert_eq!(t("GET\ta"), s(&["GET", "a"]));
        assert!(t("   ").is_empty());
    }

    #[test]
    fn double_quote_escapes() {
        assert_eq!(
            t(r#"SET k "a\nb\rc\td\be\af\\g\"h""#),
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"a\nb\rc\td\x08e\x07f\\g\"h".to_vec()
            ]
        );
        assert_eq!(t(r#""\x41\xff\x0a""#), vec![vec![0x41, 0xff, 0x0a]]);
        // \x without two hex digits is an ordinary escape of 'x'
        assert_eq!(t(r#""\xZZ""#), s(&["xZZ"]));
        // unknown escapes yield the character itself
        assert_eq!(t(r#""\q""#), s(&["q"]));
    }

    #[test]
    fn single_quotes_only_escape_the_quote() {
        assert_eq!(t(r#"'a\nb'"#), s(&[r"a\nb"]));
        assert_eq!(t(r#"'it\'s'"#), s(&["it's"]));
    }

    #[test]
    fn empty_argument() {
        assert_eq!(t(r#"SET k """#), s(&["SET", "k", ""]));
        assert_eq!(t("SET k ''"), s(&["SET", "k", ""]));
    }

    #[test]
    fn quote_inside_a_word_opens_a_quoted_part() {
        assert_eq!(t(r#"a"b c""#), s(&["ab c"]));
    }

    #[test]
    fn errors_like_redis_cli() {
        assert_eq!(tokenize(r#"SET k "abc"#), Err(InvalidArguments));
        assert_eq!(tokenize("SET k 'abc"), Err(InvalidArguments));
        assert_eq!(tokenize(r#"SET k "a"b"#), Err(InvalidArguments));
        assert_eq!(tokenize("SET k 'a'b"), Err(InvalidArguments));
        assert_eq!(InvalidArguments.to_string(), "Invalid argument(s)");
    }

    #[test]
    fn display_round_trips() {
        for line in [
            r#"SET k "a b""#,
            "GET lab:x",
            r#"SET k """#,
            r#"SET k "\xff""#,
        ] {
            let args = t(line);
            assert_eq!(t(&display_args(&args)), args, "{line}");
        }
    }
}
