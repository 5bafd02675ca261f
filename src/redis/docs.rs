//! What a command does and how it is written, from the server's own `COMMAND DOCS`, so help is
//! right for the server the learner is on (Redis 7.0, 7.4, Valkey 9) and reads like redis-cli's
//! `help SET`: the syntax line first, then summary, since, group and complexity.

use anyhow::Result;
use redis::Value;
use redis::aio::ConnectionLike;

use crate::redis::render::printable;

/// One command's help.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandHelp {
    /// `SET`
    pub name: String,
    /// `key value [NX|XX] [GET] [EX seconds|...|KEEPTTL]`
    pub syntax: String,
    /// (field, text): summary, since, group, complexity, in that order.
    pub facts: Vec<(String, String)>,
}

/// The help for `name` (`set`, `client|list`), or `None` if this server has no docs for it.
pub async fn help(
    conn: &mut (impl ConnectionLike + Send),
    name: &str,
) -> Result<Option<CommandHelp>> {
    let docs: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg(name)
        .query_async(conn)
        .await?;
    Ok(parse(name, &docs))
}

/// Every token `name` takes on this server (`NX`, `IFEQ`, `FIELDS`, ...), at any depth of its
/// arguments, upper-cased; `None` if the server has no docs for the command. This is how a
/// lesson learns whether an option exists here: servers add options without a new command
/// (SET's IFEQ), and the version number alone says nothing on a server that is not Redis.
pub async fn tokens(
    conn: &mut (impl ConnectionLike + Send),
    name: &str,
) -> Result<Option<Vec<String>>> {
    let docs: Value = redis::cmd("COMMAND")
        .arg("DOCS")
        .arg(name)
        .query_async(conn)
        .await?;
    Ok(tokens_of(&docs))
}

fn tokens_of(docs: &Value) -> Option<Vec<String>> {
    let (_, body) = pairs(docs).into_iter().next()?;
    let mut out = Vec::new();
    if let Some((_, args)) = pairs(body).into_iter().find(|(k, _)| k == "arguments") {
        collect_tokens(args, &mut out);
    }
    Some(out)
}

fn collect_tokens(args: &Value, out: &mut Vec<String>) {
    let Value::Array(args) = args else { return };
    for a in args {
        for (k, v) in pairs(a) {
            match k.as_str() {
                "token" => out.extend(text(v).map(|t| t.to_ascii_uppercase())),
                "arguments" => collect_tokens(v, out),
                _ => {}
            }
        }
    }
}

/// `"SET IFEQ"` → `("SET", "IFEQ")`; a subcommand is written `CLIENT|KILL MAXAGE`. The shape
/// `validate` insists on: a command name and one token, letters, digits, `-`, `_` and `.` (a
/// module's commands are named with a dot, `BF.ADD`).
pub fn split_option(text: &str) -> Option<(&str, &str)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [command, token] = words[..] else {
        return None;
    };
    let name = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let ok = command.split('|').count() <= 2 && command.split('|').all(name) && name(token);
    ok.then_some((command, token))
}

/// `COMMAND DOCS` arrives as a flat list of alternating names and values (RESP2) or a map.
fn pairs(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|c| match (&c[0], c.get(1)) {
                (Value::BulkString(k), Some(val)) => {
                    Some((String::from_utf8_lossy(k).into_owned(), val))
                }
                (Value::SimpleString(k), Some(val)) => Some((k.clone(), val)),
                _ => None,
            })
            .collect(),
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| match k {
                Value::BulkString(k) => Some((String::from_utf8_lossy(k).into_owned(), v)),
                Value::SimpleString(k) => Some((k.clone(), v)),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(printable(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

fn parse(name: &str, docs: &Value) -> Option<CommandHelp> {
    let (_, body) = pairs(docs).into_iter().next()?;
    let fields = pairs(body);
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let syntax = match field("arguments") {
        Some(Value::Array(args)) => args.iter().map(argument).collect::<Vec<_>>().join(" "),
        _ => String::new(),
    };
    let facts = ["summary", "since", "group", "complexity"]
        .iter()
        .filter_map(|k| field(k).and_then(text).map(|t| (k.to_string(), t)))
        .collect();
    Some(CommandHelp {
        name: name.replace('|', " ").to_ascii_uppercase(),
        syntax,
        facts,
    })
}

/// One argument as redis-cli writes it: `key`, `[NX|XX]`, `EX seconds`, `field value [field value ...]`.
fn argument(v: &Value) -> String {
    let f = pairs(v);
    let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
    let kind = get("type").and_then(text).unwrap_or_default();
    let name = get("display_text")
        .or_else(|| get("name"))
        .and_then(text)
        .unwrap_or_default();
    let token = get("token").and_then(text);
    let flags: Vec<String> = match get("flags") {
        Some(Value::Array(a)) => a.iter().filter_map(text).collect(),
        _ => Vec::new(),
    };
    let nested = |sep: &str| match get("arguments") {
        Some(Value::Array(a)) => a.iter().map(argument).collect::<Vec<_>>().join(sep),
        _ => String::new(),
    };
    let body = match kind.as_str() {
        "pure-token" => token.clone().unwrap_or(name),
        "block" => nested(" "),
        "oneof" => nested("|"),
        _ => name,
    };
    let mut one = match (&token, kind.as_str()) {
        (Some(t), k) if k != "pure-token" => format!("{t} {body}"),
        _ => body,
    };
    if flags.iter().any(|f| f == "multiple") {
        let again = if flags.iter().any(|f| f == "multiple_token") {
            one.clone()
        } else {
            one.trim_start_matches(token.as_deref().unwrap_or(""))
                .trim_start()
                .to_string()
        };
        one = format!("{one} [{again} ...]");
    }
    if flags.iter().any(|f| f == "optional") {
        one = format!("[{one}]");
    }
    one
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn arg(fields: &[(&str, Value)]) -> Value {
        Value::Array(
            fields
                .iter()
                .flat_map(|(k, v)| [bulk(k), v.clone()])
                .collect(),
        )
    }

    #[test]
    fn the_syntax_line_reads_like_redis_cli() {
        let token = |t: &str| {
            arg(&[
                ("name", bulk(&t.to_lowercase())),
                ("type", bulk("pure-token")),
                ("token", bulk(t)),
            ])
        };
        let optional = Value::Array(vec![bulk("optional")]);
        let set = Value::Array(vec![
            bulk("set"),
            Value::Array(vec![
                bulk("summary"),
                bulk("Set the string value of a key"),
                bulk("arguments"),
                Value::Array(vec![
                    arg(&[("name", bulk("key")), ("type", bulk("key"))]),
                    arg(&[("name", bulk("value")), ("type", bulk("string"))]),
                    arg(&[
                        ("name", bulk("condition")),
                        ("type", bulk("oneof")),
                        ("flags", optional.clone()),
                        ("arguments", Value::Array(vec![token("NX"), token("XX")])),
                    ]),
                    arg(&[
                        ("name", bulk("expiration")),
                        ("type", bulk("oneof")),
                        ("flags", optional),
                        (
                            "arguments",
                            Value::Array(vec![
                                arg(&[
                                    ("name", bulk("seconds")),
                                    ("type", bulk("integer")),
                                    ("token", bulk("EX")),
                                ]),
                                token("KEEPTTL"),
                            ]),
                        ),
                    ]),
                ]),
            ]),
        ]);
        assert_eq!(
            tokens_of(&set).expect("has docs"),
            ["NX", "XX", "EX", "KEEPTTL"]
        );
        assert_eq!(tokens_of(&Value::Array(vec![])), None);
        let h = parse("set", &set).expect("parses");
        assert_eq!(h.syntax, "key value [NX|XX] [EX seconds|KEEPTTL]");
        assert_eq!(h.facts[0].1, "Set the string value of a key");
        let multi = arg(&[
            ("name", bulk("key")),
            ("type", bulk("key")),
            ("flags", Value::Array(vec![bulk("multiple")])),
        ]);
        assert_eq!(argument(&multi), "key [key ...]");
    }

    #[test]
    fn an_option_is_a_command_and_one_token() {
        assert_eq!(split_option("SET IFEQ"), Some(("SET", "IFEQ")));
        assert_eq!(
            split_option("client|kill maxage"),
            Some(("client|kill", "maxage"))
        );
        assert_eq!(split_option("SET"), None);
        assert_eq!(split_option("SET IFEQ value"), None);
        assert_eq!(split_option("SET IF=EQ"), None);
        assert_eq!(split_option("|SET IFEQ"), None);
        assert_eq!(split_option("SET| IFEQ"), None);
        assert_eq!(split_option("A|B|C X"), None);
        assert_eq!(split_option("BF.ADD X"), Some(("BF.ADD", "X")));
        assert_eq!(split_option("BF ADD X"), None);
    }
}
