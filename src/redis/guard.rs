//! The namespace rule for commands a learner types: redislab never lets a command touch a key
//! or channel outside `<namespace>:`. The keys of a command come from Redis itself
//! (`COMMAND GETKEYS`), never from a hand-written table, so every command is covered.

use redis::Value;
use redis::aio::MultiplexedConnection;

use crate::redis::command::send;

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

/// Server-wide commands that could destroy or expose data outside the namespace. Allowed on the
/// managed server only, which is redislab's own.
const ADMIN: &[&str] = &[
    "FLUSHALL",
    "FLUSHDB",
    "SHUTDOWN",
    "DEBUG",
    "SWAPDB",
    "MIGRATE",
    "REPLICAOF",
    "SLAVEOF",
    "FAILOVER",
    "MODULE",
    "SAVE",
    "BGSAVE",
    "BGREWRITEAOF",
    "SYNC",
    "PSYNC",
    "CLUSTER",
];
const ADMIN_SUB: &[(&str, &str)] = &[
    ("CONFIG", "SET"),
    ("CONFIG", "REWRITE"),
    ("CONFIG", "RESETSTAT"),
    ("ACL", "SETUSER"),
    ("ACL", "DELUSER"),
    ("ACL", "LOAD"),
    ("ACL", "SAVE"),
    ("CLIENT", "KILL"),
    ("CLIENT", "PAUSE"),
    ("CLIENT", "NO-EVICT"),
    ("SCRIPT", "FLUSH"),
    ("SCRIPT", "KILL"),
    ("FUNCTION", "FLUSH"),
    ("FUNCTION", "DELETE"),
    ("FUNCTION", "LOAD"),
    ("FUNCTION", "RESTORE"),
    ("FUNCTION", "KILL"),
    ("SLOWLOG", "RESET"),
    ("LATENCY", "RESET"),
    ("MEMORY", "PURGE"),
];
/// Scripts can reach keys they never declare; only the managed server's ACL can fence them in.
const SCRIPTS: &[&str] = &[
    "EVAL",
    "EVALSHA",
    "EVAL_RO",
    "EVALSHA_RO",
    "FCALL",
    "FCALL_RO",
];

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
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

/// Decides whether a typed command may run. `conn` is used only for `COMMAND GETKEYS`.
pub async fn check(
    conn: &mut MultiplexedConnection,
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
    let in_ns = |b: &[u8]| b.starts_with(prefix.as_bytes());

    // Commands that change what the connection is, which would break the prompt.
    match name.as_str() {
        "SSUBSCRIBE" => {
            return Ok(Verdict::Refuse(
                "SSUBSCRIBE is for Redis Cluster's sharded channels; on one server use SUBSCRIBE"
                    .into(),
            ));
        }
        "SUBSCRIBE" | "PSUBSCRIBE" => {
            if args.len() < 2 {
                return Ok(Verdict::Allow); // Redis answers with its own arity error.
            }
            if let Some(ch) = args[1..].iter().find(|c| !in_ns(c)) {
                return Ok(Verdict::Refuse(format!(
                    "channel {} is outside the namespace: channels live under {prefix} too — try {name} {prefix}{}",
                    String::from_utf8_lossy(ch),
                    String::from_utf8_lossy(ch)
                )));
            }
            return Ok(Verdict::Subscribe);
        }
        "MONITOR" => {
            return Ok(Verdict::Refuse(
                "MONITOR streams every command of every client on the server; it is not available in the sandbox".into(),
            ));
        }
        "HELLO" => {
            return Ok(Verdict::Refuse(
                "HELLO switches the connection's protocol; the sandbox speaks RESP2 like redis-cli"
                    .into(),
            ));
        }
        "SELECT" => {
            return Ok(Verdict::Refuse(
                "SELECT would move the prompt to another database, away from the namespace's keys"
                    .into(),
            ));
        }
        "RESET" | "AUTH" => {
            return Ok(Verdict::Refuse(format!(
                "{name} would change who this connection is; restart the sandbox with another --redis-url instead"
            )));
        }
        "CLIENT" if sub == "REPLY" => {
            return Ok(Verdict::Refuse(
                "CLIENT REPLY would make replies disappear and leave the prompt waiting forever"
                    .into(),
            ));
        }
        "PUBLISH" | "SPUBLISH" => {
            if let Some(ch) = args.get(1) {
                if !in_ns(ch) {
                    return Ok(Verdict::Refuse(format!(
                        "channel {} is outside the namespace — try {name} {prefix}{} ...",
                        String::from_utf8_lossy(ch),
                        String::from_utf8_lossy(ch)
                    )));
                }
            }
            return Ok(Verdict::Allow);
        }
        _ => {}
    }

    if !managed {
        if ADMIN.contains(&name.as_str()) || ADMIN_SUB.iter().any(|(c, s)| *c == name && *s == sub)
        {
            let shown = if ADMIN.contains(&name.as_str()) {
                name.clone()
            } else {
                format!("{name} {sub}")
            };
            return Ok(Verdict::Refuse(format!(
                "{shown} acts on the whole server, not just {prefix}*; it is refused here (use --managed to practise it on redislab's own server)"
            )));
        }
        if SCRIPTS.contains(&name.as_str()) {
            return Ok(Verdict::Refuse(format!(
                "a script can reach keys it does not declare, and on this server redislab cannot fence it into {prefix}*; use --managed to practise {name}"
            )));
        }
    }

    if name == "SORT" || name == "SORT_RO" {
        // BY and GET patterns read other keys that COMMAND GETKEYS does not report.
        let mut i = 2;
        while i + 1 < args.len() {
            let opt = upper(&args[i]);
            // Only a pattern with `*` names other keys (`nosort` and `#` read none).
            let reads_keys = args[i + 1].contains(&b'*');
            if (opt == "BY" || opt == "GET") && reads_keys && !in_ns(&args[i + 1]) {
                return Ok(Verdict::Refuse(format!(
                    "SORT {opt} {} reads keys outside the namespace — patterns must start with {prefix}",
                    String::from_utf8_lossy(&args[i + 1])
                )));
            }
            i += 1;
        }
    }

    if args.len() < 2 {
        return Ok(Verdict::Allow);
    }
    let mut getkeys = vec![b"COMMAND".to_vec(), b"GETKEYS".to_vec()];
    getkeys.extend(args.iter().cloned());
    match send(conn, &getkeys).await? {
        Value::Array(keys) => {
            for k in keys {
                if let Value::BulkString(k) = k {
                    if !in_ns(&k) {
                        let key = String::from_utf8_lossy(&k);
                        return Ok(Verdict::Refuse(format!(
                            "key {key} is outside the namespace: keys live under {prefix} — try {}",
                            suggestion(args, &k, &prefix)
                        )));
                    }
                }
            }
            Ok(Verdict::Allow)
        }
        // Unknown command, wrong arity, or no key arguments: let Redis answer for itself.
        _ => Ok(Verdict::Allow),
    }
}
