//! The namespace rule: redislab never lets a command touch a key or channel outside
//! `<namespace>:`, whoever wrote it. The keys of a command come from Redis itself
//! (`COMMAND GETKEYS`), and what a command can reach beyond its keys from its `COMMAND INFO`
//! classes (`redis::classes`), never from a hand-written table, so every command is covered.

use crate::redis::conn::Conn;
use redis::Value;

use crate::redis::classes::{self, Class};
use crate::redis::command::send;
use crate::redis::render::printable;

/// What to do with a typed command.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Send it.
    Allow,
    /// Send it on a subscriber connection and stream messages until Ctrl-C.
    Subscribe,
    /// Do not send it; say why (one line).
    Refuse(String),
}

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

fn sub_of(args: &[Vec<u8>]) -> String {
    args.get(1).map(|s| upper(s)).unwrap_or_default()
}

/// The same command with the foreign key moved into the namespace: `SET foo 1` → `SET lab:foo 1`.
fn suggestion(args: &[Vec<u8>], key: &[u8], prefix: &str) -> String {
    let fixed: Vec<Vec<u8>> = args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if i > 0 && a.as_slice() == key {
                let mut k = prefix.as_bytes().to_vec();
                k.extend_from_slice(a);
                k
            } else {
                a.clone()
            }
        })
        .collect();
    crate::redis::tokenize::display_args(&fixed)
}

/// Decides whether a typed command may run. `conn` is used only for `COMMAND GETKEYS` and
/// `COMMAND INFO`.
pub async fn check(
    conn: &mut Conn,
    args: &[Vec<u8>],
    namespace: &str,
    managed: bool,
) -> Result<Verdict, redis::RedisError> {
    let Some(first) = args.first() else {
        return Ok(Verdict::Allow);
    };
    let name = upper(first);
    let sub = args.get(1).map(|s| upper(s)).unwrap_or_default();
    let prefix = format!("{namespace}:");
    let rules = [
        connection_rule(&name, &sub, args, &prefix),
        database_rule(&name, args),
        keyspace_rule(&name, args, &prefix),
    ];
    if let Some(v) = rules.into_iter().flatten().next() {
        return Ok(v);
    }
    if let Some(v) = class_rule(conn, &name, &sub, args, &prefix, managed).await? {
        return Ok(v);
    }
    if let Some(v) = sort_rule(&name, args, &prefix) {
        return Ok(v);
    }
    keys_rule(conn, args, &prefix).await
}

fn refuse(text: String) -> Option<Verdict> {
    Some(Verdict::Refuse(text))
}

/// Commands that change what the connection is, which would break the prompt, and channels.
fn connection_rule(name: &str, sub: &str, args: &[Vec<u8>], prefix: &str) -> Option<Verdict> {
    let in_ns = |b: &[u8]| b.starts_with(prefix.as_bytes());
    match name {
        "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" => {
            if args.len() < 2 {
                return Some(Verdict::Allow); // Redis answers with its own arity error.
            }
            if let Some(ch) = args[1..].iter().find(|c| !in_ns(c)) {
                let ch = printable(ch);
                return refuse(format!(
                    "channel {ch} is outside the namespace: channels live under {prefix} too — try {name} {prefix}{ch}"
                ));
            }
            Some(Verdict::Subscribe)
        }
        "MONITOR" => refuse(
            "MONITOR streams every command of every client on the server; it is not available in the sandbox".into(),
        ),
        "HELLO" => refuse(
            "HELLO switches the connection's protocol; the sandbox speaks RESP2 like redis-cli".into(),
        ),
        "QUIT" => refuse(
            "QUIT would close the prompt's connection; type quit (alone) to leave the sandbox".into(),
        ),
        "RESET" | "AUTH" => refuse(format!(
            "{name} would change who this connection is; restart the sandbox with another --redis-url instead"
        )),
        "CLIENT" if sub == "REPLY" => refuse(
            "CLIENT REPLY would make replies disappear and leave the prompt waiting forever".into(),
        ),
        "PUBLISH" | "SPUBLISH" => match args.get(1) {
            Some(ch) if !in_ns(ch) => {
                let ch = printable(ch);
                refuse(format!(
                    "channel {ch} is outside the namespace — try {name} {prefix}{ch} ..."
                ))
            }
            _ => Some(Verdict::Allow),
        },
        _ => None,
    }
}

/// Keys stay in the connection's database: another database holds other people's keys under
/// the same names, and the namespace rule cannot follow a key there.
fn database_rule(name: &str, args: &[Vec<u8>]) -> Option<Verdict> {
    let copy_db = name == "COPY" && args.iter().skip(3).any(|a| upper(a) == "DB");
    match name {
        "SELECT" => refuse(
            "SELECT would move the prompt to another database, away from the namespace's keys".into(),
        ),
        "MOVE" | "SWAPDB" => refuse(format!(
            "{name} moves keys to another database, where the namespace rule cannot follow them; keys stay in this one"
        )),
        _ if copy_db => refuse(
            "COPY ... DB writes into another database, where the namespace rule cannot follow; copy within this one".into(),
        ),
        _ => None,
    }
}

/// Commands that walk the whole keyspace and list names outside the namespace.
fn keyspace_rule(name: &str, args: &[Vec<u8>], prefix: &str) -> Option<Verdict> {
    match name {
        "KEYS" => refuse(format!(
            "KEYS walks every key on the server (O(N), blocking it) and lists names outside the namespace; use SCAN 0 MATCH {prefix}* instead"
        )),
        "RANDOMKEY" => refuse(format!(
            "RANDOMKEY picks from every key on the server, not just {prefix}*; use SCAN 0 MATCH {prefix}* instead"
        )),
        "PUBSUB" if matches!(sub_of(args).as_str(), "CHANNELS" | "SHARDCHANNELS") => {
            match args.get(2) {
                Some(p) if p.starts_with(prefix.as_bytes()) => None,
                _ => refuse(format!(
                    "PUBSUB {} without a pattern under {prefix} lists channels outside the namespace; try PUBSUB {} {prefix}*",
                    sub_of(args),
                    sub_of(args)
                )),
            }
        }
        "PUBSUB" if matches!(sub_of(args).as_str(), "NUMSUB" | "SHARDNUMSUB") => {
            match args
                .iter()
                .skip(2)
                .find(|c| !c.starts_with(prefix.as_bytes()))
            {
                Some(ch) => refuse(format!(
                    "channel {} is outside the namespace — try PUBSUB {} {prefix}{}",
                    printable(ch),
                    sub_of(args),
                    printable(ch)
                )),
                None => None,
            }
        }
        "SCAN" => {
            let pattern = args
                .iter()
                .skip(2)
                .zip(args.iter().skip(3))
                .filter(|(opt, _)| upper(opt) == "MATCH")
                .map(|(_, p)| p)
                .next_back();
            match pattern {
                Some(p) if p.starts_with(prefix.as_bytes()) => None,
                Some(p) => refuse(format!(
                    "SCAN MATCH {} would list names outside the namespace; the pattern must start with {prefix} — try SCAN 0 MATCH {prefix}*",
                    printable(p)
                )),
                None => refuse(format!(
                    "SCAN without MATCH lists every key on the server; try SCAN 0 MATCH {prefix}*"
                )),
            }
        }
        _ => None,
    }
}

/// Server-wide commands and scripts, by the classes the server itself reports.
async fn class_rule(
    conn: &mut Conn,
    name: &str,
    sub: &str,
    args: &[Vec<u8>],
    prefix: &str,
    managed: bool,
) -> Result<Option<Verdict>, redis::RedisError> {
    let class = classes::of_live(conn, args).await?;
    let shown = if args.len() > 1 && classes::of_static(&args[..1]) != class {
        format!("{name} {}", printable(sub.as_bytes()))
    } else {
        printable(name.as_bytes()).into_owned()
    };
    Ok(match class {
        Class::ServerWide if managed => refuse(format!(
            "{shown} acts on the whole server, not just {prefix}*: other namespaces share it, so the learner's ACL user may not run it"
        )),
        Class::ServerWide => refuse(format!(
            "{shown} acts on the whole server, not just {prefix}*; redislab never runs it on a server it does not own"
        )),
        Class::Script if !managed => refuse(format!(
            "a script can reach keys it does not declare, and on this server redislab cannot fence it into {prefix}*; use --managed to practise {shown}"
        )),
        _ => None,
    })
}

/// SORT's BY and GET patterns read other keys that COMMAND GETKEYS does not report.
fn sort_rule(name: &str, args: &[Vec<u8>], prefix: &str) -> Option<Verdict> {
    if name != "SORT" && name != "SORT_RO" {
        return None;
    }
    for w in args.windows(2).skip(2) {
        let opt = upper(&w[0]);
        // Only a pattern with `*` names other keys (`nosort` and `#` read none).
        if (opt == "BY" || opt == "GET")
            && w[1].contains(&b'*')
            && !w[1].starts_with(prefix.as_bytes())
        {
            return refuse(format!(
                "SORT {opt} {} reads keys outside the namespace — patterns must start with {prefix}",
                printable(&w[1])
            ));
        }
    }
    None
}

/// Every key the command names must be inside the namespace.
async fn keys_rule(
    conn: &mut Conn,
    args: &[Vec<u8>],
    prefix: &str,
) -> Result<Verdict, redis::RedisError> {
    if args.len() < 2 {
        return Ok(Verdict::Allow);
    }
    let Some(keys) = keys(conn, args).await? else {
        return Ok(Verdict::Allow);
    };
    for k in keys {
        if !k.starts_with(prefix.as_bytes()) {
            return Ok(Verdict::Refuse(format!(
                "key {} is outside the namespace: keys live under {prefix} — try {}",
                printable(&k),
                suggestion(args, &k, prefix)
            )));
        }
    }
    Ok(Verdict::Allow)
}

/// The rule for looking at a whole database: a command passes if the server flags it as
/// writing nothing and it is neither server-wide nor a script.
pub(super) async fn reads_only(
    conn: &mut Conn,
    args: &[Vec<u8>],
) -> Result<Verdict, redis::RedisError> {
    let name = args.first().map(|a| upper(a)).unwrap_or_default();
    let info = classes::live_info(conn, args).await?;
    let reads = info.as_ref().is_some_and(|i| {
        !i.flags.iter().any(|f| f == "write") && matches!(classes::classify(i), Class::Ordinary)
    });
    Ok(if reads {
        Verdict::Allow
    } else {
        Verdict::Refuse(format!(
            "{} is not a read: looking at the whole database only reads",
            printable(name.as_bytes())
        ))
    })
}

/// Only the keys rule: every key the command names is inside the namespace.
pub(super) async fn keys_inside(
    conn: &mut Conn,
    args: &[Vec<u8>],
    namespace: &str,
) -> Result<Verdict, redis::RedisError> {
    keys_rule(conn, args, &format!("{namespace}:")).await
}

/// The keys `args` names, as the server reads them: from the key positions COMMAND INFO gave
/// (asked once per command name), or COMMAND GETKEYS for commands whose keys move with their
/// arguments. `None`: unknown command, wrong arity, or no key arguments.
pub(super) async fn keys(
    conn: &mut Conn,
    args: &[Vec<u8>],
) -> Result<Option<Vec<Vec<u8>>>, redis::RedisError> {
    let known = classes::live_info(conn, args).await?.and_then(|info| {
        info.keys_of(args)
            .map(|k| k.into_iter().map(<[u8]>::to_vec).collect())
    });
    if let Some(keys) = known {
        return Ok(Some(keys));
    }
    let mut getkeys = vec![b"COMMAND".to_vec(), b"GETKEYS".to_vec()];
    getkeys.extend(args.iter().cloned());
    let Value::Array(keys) = send(conn, &getkeys).await? else {
        return Ok(None);
    };
    Ok(Some(
        keys.into_iter()
            .filter_map(|k| match k {
                Value::BulkString(k) => Some(k),
                _ => None,
            })
            .collect(),
    ))
}
