//! Which commands reach beyond a namespace, decided from what Redis says about itself
//! (`COMMAND INFO` flags and ACL categories), never from a hand-written list. The guard asks the
//! live server; `validate`, which has no server, reads the same answer from `command_table.rs`,
//! generated from a real server by `generate` — so the two can never disagree.

use crate::redis::conn::Conn;
use redis::Value;

use crate::redis::command::send;
pub use crate::redis::command_info::{Begin, Class, Find, Info, InfoCache, KeySpec};
use crate::redis::command_table::TABLE;

/// Keyless or `@dangerous` commands learners need and that expose nothing beyond counts and
/// server facts. SORT and SORT_RO are `@dangerous` because of BY/GET patterns, which the guard
/// checks (and which Redis refuses to a user with restricted key access).
pub const LEARNER_ALLOWED: &[&str] = &[
    "ping",
    "echo",
    "info",
    "time",
    "dbsize",
    "sort",
    "sort_ro",
    "command|docs",
    "command|info",
    "command|count",
    "command|getkeys",
    "command|getkeysandflags",
    "command|list",
];

/// Keyless commands COMMAND INFO does not mark as writes, yet they wipe or stop state every
/// client shares: one namespace must not do this to the others.
const SHARED_STATE: &[&str] = &["script|flush", "script|kill", "function|kill"];

/// What the server behind `conn` says about the command `args` names (and its subcommand), from
/// the connection's cache or, the first time, from `COMMAND INFO`.
pub(in crate::redis) async fn live_info(
    conn: &mut Conn,
    args: &[Vec<u8>],
) -> Result<Option<Info>, redis::RedisError> {
    let (name, sub) = names(args);
    let cache = conn.command_infos().clone();
    let cached = cache.lock().ok().and_then(|c| c.get(&name).cloned());
    let infos = match cached {
        Some(infos) => infos,
        None => {
            let reply = send(
                conn,
                &[
                    b"COMMAND".to_vec(),
                    b"INFO".to_vec(),
                    name.clone().into_bytes(),
                ],
            )
            .await?;
            let mut infos = Vec::new();
            if let Value::Array(entries) = &reply {
                for e in entries {
                    parse_entry(e, &mut infos);
                }
            }
            if let Ok(mut c) = cache.lock() {
                c.insert(name.clone(), infos.clone());
            }
            infos
        }
    };
    let find = |n: &str| infos.iter().find(|i| i.name == n).cloned();
    Ok(sub.as_deref().and_then(find).or_else(|| find(&name)))
}

/// The entry of `infos` that describes the command `args` names: its subcommand's when the
/// server knows one (`config|set`), else the command's.
pub fn info_for(infos: &[Info], args: &[impl AsRef<[u8]>]) -> Option<Info> {
    let lower = |b: &[u8]| String::from_utf8_lossy(b).to_ascii_lowercase();
    let name = args.first().map(|a| lower(a.as_ref())).unwrap_or_default();
    let find = |n: &str| infos.iter().find(|i| i.name == n).cloned();
    let sub = args
        .get(1)
        .map(|s| lower(s.as_ref()))
        .map(|s| format!("{name}|{s}"));
    sub.as_deref().and_then(find).or_else(|| find(&name))
}

/// The one rule, for live answers and the generated table alike.
pub fn classify(info: &Info) -> Class {
    let name = info.name.as_str();
    if LEARNER_ALLOWED.contains(&name) {
        return Class::Ordinary;
    }
    let category = |c: &str| info.categories.iter().any(|x| x == c);
    let flag = |f: &str| info.flags.iter().any(|x| x == f);
    if category("@admin") || category("@dangerous") || SHARED_STATE.contains(&name) {
        return Class::ServerWide;
    }
    if !info.has_keys && flag("write") {
        return Class::ServerWide;
    }
    if category("@scripting") {
        return Class::Script;
    }
    Class::Ordinary
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

fn texts(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items) | Value::Set(items)) => items.iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

/// Parses one `COMMAND INFO` entry and its subcommands (RESP2 layout: name, arity, flags,
/// first key, last key, step, ACL categories, tips, key specs, subcommands).
pub fn parse_entry(v: &Value, out: &mut Vec<Info>) {
    let Value::Array(f) = v else { return };
    let Some(name) = f.first().and_then(text) else {
        return;
    };
    let flags = texts(f.get(2));
    let int = |i: usize| match f.get(i) {
        Some(Value::Int(n)) => *n,
        _ => 0,
    };
    let first_key = int(3) != 0;
    let key_specs = matches!(f.get(8), Some(Value::Array(s)) if !s.is_empty());
    out.push(Info {
        name: name.to_ascii_lowercase(),
        has_keys: first_key || key_specs || flags.iter().any(|x| x == "movablekeys"),
        flags,
        categories: texts(f.get(6)),
        key_range: (int(3), int(4), int(5)),
        key_specs: f.get(8).and_then(parse_key_specs),
    });
    if let Some(Value::Array(subs)) = f.get(9) {
        for s in subs {
            parse_entry(s, out);
        }
    }
}

/// A RESP map's fields, whether it came as a RESP3 map or a RESP2 array of pairs.
fn fields(v: &Value) -> Vec<(String, &Value)> {
    match v {
        Value::Map(m) => m
            .iter()
            .filter_map(|(k, v)| text(k).map(|k| (k, v)))
            .collect(),
        Value::Array(a) => a
            .chunks(2)
            .filter_map(|p| Some((text(p.first()?)?, p.get(1)?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The key specs of one `COMMAND INFO` entry, if all are of kinds read here.
fn parse_key_specs(v: &Value) -> Option<Vec<KeySpec>> {
    let Value::Array(specs) = v else { return None };
    if specs.is_empty() {
        return None;
    }
    let int = |v: Option<&&Value>| match v {
        Some(Value::Int(n)) => Some(*n),
        _ => None,
    };
    let mut out = Vec::new();
    for spec in specs {
        let f = fields(spec);
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        if let Some(Value::Array(flags)) = get("flags") {
            if flags
                .iter()
                .any(|x| text(x).is_some_and(|t| t.eq_ignore_ascii_case("incomplete")))
            {
                return None;
            }
        }
        let part = |k: &str| -> Option<(String, Vec<(String, &Value)>)> {
            let p = fields(get(k)?);
            let kind = p
                .iter()
                .find(|(n, _)| n == "type")
                .and_then(|(_, v)| text(v))?;
            let spec = p
                .iter()
                .find(|(n, _)| n == "spec")
                .map(|(_, v)| fields(v))?;
            Some((kind, spec))
        };
        let (bkind, b) = part("begin_search")?;
        let (fkind, fk) = part("find_keys")?;
        let bget = |k: &str| b.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        let fget = |k: &str| fk.iter().find(|(n, _)| n == k).map(|(_, v)| v);
        let begin = match bkind.as_str() {
            "index" => Begin::Index(int(bget("index"))?),
            "keyword" => Begin::Keyword(text(bget("keyword")?)?, int(bget("startfrom"))?),
            _ => return None,
        };
        let find = match fkind.as_str() {
            "range" => Find::Range {
                last: int(fget("lastkey"))?,
                step: int(fget("keystep"))?,
                limit: int(fget("limit"))?,
            },
            "keynum" => Find::Keynum {
                numidx: int(fget("keynumidx"))?,
                first: int(fget("firstkey"))?,
                step: int(fget("keystep"))?,
            },
            _ => return None,
        };
        out.push(KeySpec { begin, find });
    }
    Some(out)
}

/// Every command and subcommand the server knows (`COMMAND`).
pub async fn server_infos<C: redis::aio::ConnectionLike>(
    conn: &mut C,
) -> Result<Vec<Info>, redis::RedisError> {
    let mut out = Vec::new();
    if let Value::Array(entries) = send(conn, &[b"COMMAND".to_vec()]).await? {
        for e in &entries {
            parse_entry(e, &mut out);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The lookup name of a typed command: `config|set` when the server knows the subcommand.
fn names(args: &[Vec<u8>]) -> (String, Option<String>) {
    let lower = |b: &[u8]| String::from_utf8_lossy(b).to_ascii_lowercase();
    let name = args.first().map(|a| lower(a)).unwrap_or_default();
    let sub = args.get(1).map(|s| format!("{name}|{}", lower(s)));
    (name, sub)
}

/// The class from the checked-in table (no server needed).
pub fn of_static(args: &[Vec<u8>]) -> Class {
    let (name, sub) = names(args);
    let find = |n: &str| TABLE.iter().find(|(t, _)| *t == n).map(|(_, c)| *c);
    sub.as_deref()
        .and_then(find)
        .or_else(|| find(&name))
        .unwrap_or(Class::Ordinary)
}

/// The class as the live server describes the command; the checked-in table when the server
/// does not know it or will not say.
pub(in crate::redis) async fn of_live(
    conn: &mut Conn,
    args: &[Vec<u8>],
) -> Result<Class, redis::RedisError> {
    Ok(live_info(conn, args)
        .await?
        .map(|i| classify(&i))
        .unwrap_or_else(|| of_static(args)))
}

/// The source of `command_table.rs` for these commands.
pub fn generate(infos: &[Info], server: &str) -> String {
    let mut out = format!(
        "//! Generated from {server}'s COMMAND INFO by `redis::classes::generate`: do not edit.\n\
         //! `tests/attack.rs` regenerates it from a real server and fails when it is out of date\n\
         //! (run it with REDISLAB_REGENERATE=1 to rewrite this file). Ordinary commands are left out.\n\n\
         use super::command_info::Class::{{self, Script, ServerWide}};\n\n\
         pub const TABLE: &[(&str, Class)] = &[\n"
    );
    for i in infos {
        match classify(i) {
            Class::ServerWide => out.push_str(&format!("    ({:?}, ServerWide),\n", i.name)),
            Class::Script => out.push_str(&format!("    ({:?}, Script),\n", i.name)),
            Class::Ordinary => {}
        }
    }
    out.push_str("];\n");
    out
}

/// Keyless commands that list key names, or count them per slot (which maps another
/// namespace's keys slot by slot): denied to every learner user. A test walks every command
/// and subcommand the server reports whose documentation speaks of keys, and requires each
/// to be here or in `NAMES_NO_KEY`.
pub const KEY_LISTING: &[&str] = &[
    "keys",
    "scan",
    "randomkey",
    "cluster|getkeysinslot",
    "cluster|countkeysinslot",
];

/// Keyless commands whose documentation speaks of keys but that reveal no key name, and why.
pub const NAMES_NO_KEY: &[(&str, &str)] = &[
    ("client|caching", "a tracking switch for the next command"),
    ("cluster|keyslot", "hashes the name it is given"),
    ("command|getkeys", "parses the command it is given"),
    ("command|getkeysandflags", "parses the command it is given"),
    ("dbsize", "one count for the whole database, no names"),
    ("unwatch", "forgets this connection's watched keys"),
    (
        "flushall",
        "server-wide: denied with the other server-wide commands",
    ),
    (
        "flushdb",
        "server-wide: denied with the other server-wide commands",
    ),
];

/// ACL rules that keep a learner away from every server-wide command this server has.
pub fn learner_denials(infos: &[Info]) -> Vec<String> {
    let mut rules = vec!["-@admin".to_string(), "-@dangerous".to_string()];
    rules.extend(
        infos
            .iter()
            .filter(|i| classify(i) == Class::ServerWide)
            .map(|i| format!("-{}", i.name)),
    );
    // Keys stay in the connection's database (see the guard).
    rules.extend(["-select", "-move", "-acl"].map(String::from));
    // No namespace may learn another's key names: every keyless command that lists or counts
    // them is denied. A SCAN the learner types (the guard holds its MATCH inside the namespace)
    // goes on the engine's own connection instead, see `walks_keyspace`.
    rules.extend(
        KEY_LISTING
            .iter()
            .filter(|k| infos.iter().any(|i| i.name == **k))
            .map(|k| format!("-{k}")),
    );
    // Re-allow the few the categories swept away; only names this server knows.
    rules.extend(
        LEARNER_ALLOWED
            .iter()
            .filter(|a| infos.iter().any(|i| i.name == **a))
            .map(|a| format!("+{a}")),
    );
    rules
}

/// SCAN: on the managed server the learner's ACL user may not run it (a script could list the
/// other namespaces' keys with it), so a typed SCAN, whose MATCH the guard already holds inside
/// the namespace, is sent on the engine's connection.
pub fn walks_keyspace(args: &[Vec<u8>]) -> bool {
    args.first()
        .is_some_and(|a| a.eq_ignore_ascii_case(b"SCAN"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, flags: &[&str], cats: &[&str], has_keys: bool) -> Info {
        Info {
            name: name.into(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            categories: cats.iter().map(|s| s.to_string()).collect(),
            has_keys,
            ..Info::default()
        }
    }

    #[test]
    fn the_rule() {
        let c = |i: Info| classify(&i);
        assert_eq!(
            c(info("config|set", &[], &["@admin"], false)),
            Class::ServerWide
        );
        assert_eq!(
            c(info("flushall", &["write"], &["@dangerous"], false)),
            Class::ServerWide
        );
        assert_eq!(
            c(info("function|load", &["write"], &["@scripting"], false)),
            Class::ServerWide
        );
        assert_eq!(
            c(info("script|flush", &[], &["@scripting"], false)),
            Class::ServerWide
        );
        assert_eq!(c(info("eval", &[], &["@scripting"], true)), Class::Script);
        assert_eq!(
            c(info("set", &["write"], &["@string"], true)),
            Class::Ordinary
        );
        assert_eq!(
            c(info("info", &[], &["@dangerous"], false)),
            Class::Ordinary
        );
    }

    #[test]
    fn static_lookup_prefers_the_subcommand() {
        let a = |s: &str| {
            s.split(' ')
                .map(|w| w.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(of_static(&a("CONFIG SET maxmemory 1")), Class::ServerWide);
        assert_eq!(of_static(&a("SWAPDB 0 1")), Class::ServerWide);
        assert_eq!(of_static(&a("FCALL f 0")), Class::Script);
        assert_eq!(of_static(&a("GET k")), Class::Ordinary);
        assert_eq!(of_static(&a("COMMAND DOCS get")), Class::Ordinary);
    }
}
