//! Redis Cluster: noticing that a server is one (`INFO cluster`), and opening connections that
//! follow the slot map. A cluster is detected, never configured: the user gives one node's URL
//! (or several, comma-separated) and redislab does the rest.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

use anyhow::Result;
use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, Cmd, Value};

use crate::error;
use crate::redis::command::word;
use crate::redis::dial::describe;

/// What a Redis Cluster adds to a server.
#[derive(Clone)]
pub struct Cluster {
    pub client: Nodes,
    pub masters: usize,
    /// Every node the slot map names (masters and replicas): each receives the URL's
    /// credentials, so the banner names them.
    pub nodes: Vec<Node>,
}

/// The kind of address a host is: a slot map may send redislab only to nodes of its seed's
/// kind, so a cluster reached on loopback cannot send the password elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Loopback,
    Private,
    Public,
    /// A name, not an address.
    Name,
}

pub fn reach(host: &str) -> Reach {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return Reach::Loopback;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) if ip.is_loopback() => Reach::Loopback,
        Ok(std::net::IpAddr::V4(v4)) if v4.is_private() || v4.is_link_local() => Reach::Private,
        Ok(std::net::IpAddr::V6(v6))
            if (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80 =>
        {
            Reach::Private
        }
        Ok(_) => Reach::Public,
        Err(_) => Reach::Name,
    }
}

/// Why a node the slot map names may not receive the seed's credentials, if it may not: a node
/// of another kind of address than the seed, or a host name nobody typed.
pub fn foreign_node(seed_host: &str, typed_hosts: &[String], node: &Node) -> Option<String> {
    let (host, port) = node;
    if typed_hosts.iter().any(|t| t.eq_ignore_ascii_case(host)) {
        return None;
    }
    let (seed, there) = (reach(seed_host), reach(host));
    let allowed = match (seed, there) {
        (_, Reach::Name) => seed == Reach::Name,
        (Reach::Name, _) => true,
        (a, b) => a == b,
    };
    (!allowed).then(|| {
        format!(
            "the cluster at {seed_host} names a node at {host}:{port}, which is not {}; redislab would send it the URL's password, so it stops here (give that node's address in --redis-url, or pass --trust-cluster-nodes)",
            match seed {
                Reach::Loopback => "on this machine (loopback)",
                Reach::Private => "on a private network like the seed",
                Reach::Public => "a public address like the seed",
                Reach::Name => "named like the seed",
            }
        )
    })
}

/// `127.0.0.1:7000,7001,7002 · 10.0.0.2:7000`: nodes grouped by host, for the banner.
pub fn node_list(nodes: &[Node]) -> String {
    let mut hosts: Vec<(&str, Vec<u16>)> = Vec::new();
    for (h, p) in nodes {
        match hosts.iter_mut().find(|(x, _)| x == h) {
            Some((_, ports)) => ports.push(*p),
            None => hosts.push((h, vec![*p])),
        }
    }
    hosts
        .into_iter()
        .map(|(h, mut ports)| {
            ports.sort_unstable();
            ports.dedup();
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            format!("{}:{}", crate::untrusted::printable_str(h), ports.join(","))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// The nodes a cluster connection starts from. A cluster client is built from them for each
/// connection, with that connection's response timeout, and opens every node's connection
/// through the reply bound (`transport::BoundedNode`).
#[derive(Clone, Debug)]
pub struct Nodes(Vec<redis::ConnectionInfo>);

/// One connection to the whole cluster, every node's connection bounded.
pub type Bounded = ClusterConnection<crate::redis::transport::BoundedNode>;

impl Nodes {
    /// Every node's connection settings, as the cluster client takes them.
    pub fn infos(&self) -> Vec<redis::ConnectionInfo> {
        self.0.clone()
    }

    /// The first node's settings (the seed).
    pub fn first(&self) -> Option<&redis::ConnectionInfo> {
        self.0.first()
    }

    pub fn new<T: redis::IntoConnectionInfo>(
        urls: impl IntoIterator<Item = T>,
    ) -> redis::RedisResult<Nodes> {
        let nodes = urls
            .into_iter()
            .map(|u| u.into_connection_info())
            .collect::<redis::RedisResult<Vec<_>>>()?;
        // The same check the cluster client makes, at once rather than at the first connection.
        ClusterClientBuilder::new(nodes.clone()).build()?;
        Ok(Nodes(nodes))
    }
}

/// The nodes a `--redis-url` names: one URL, or several comma-separated
/// (`redis://a:7000,redis://b:7001`), which only a cluster can use.
pub fn node_urls(url: &str) -> Vec<String> {
    url.split(',')
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty())
        .collect()
}

/// `Some` when the server behind `conn` runs in cluster mode: a client for the nodes in `urls`
/// and the number of masters.
pub async fn detect(
    conn: &mut MultiplexedConnection,
    urls: &[String],
    display: &str,
    trust_nodes: bool,
) -> Result<Option<Cluster>> {
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(conn)
        .await
        .map_err(|e| error::connection(describe(&e, display)))?;
    if !cluster_enabled(&info) {
        return Ok(None);
    }
    let client = Nodes::new(urls.iter().map(String::as_str)).map_err(|e| {
        error::connection(format!(
            "{display} is a Redis Cluster node, but its URLs do not make a cluster client: {} (give every node the same user and password)",
            e.to_string().replace('\n', " ")
        ))
    })?;
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async(conn)
        .await
        .map_err(|e| error::connection(describe(&e, display)))?;
    if !info.lines().any(|l| l.trim() == "cluster_state:ok") {
        return Err(error::connection(format!(
            "the Redis Cluster at {display} is not serving (cluster_state is not ok): \
             check `redis-cli -p PORT cluster info` on its nodes"
        )));
    }
    // Every node the slot map names gets the URL's credentials once the cluster client follows
    // it: read the map from the seed first, and refuse nodes of another kind of address.
    let slots: Value = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .map_err(|e| error::connection(describe(&e, display)))?;
    let mut nodes: Vec<Node> = slot_shards(slots).into_iter().flat_map(|s| s.2).collect();
    nodes.sort();
    nodes.dedup();
    let host_of = |u: &str| -> Option<String> {
        redis::IntoConnectionInfo::into_connection_info(u)
            .ok()
            .and_then(|i| match i.addr() {
                redis::ConnectionAddr::Tcp(h, _)
                | redis::ConnectionAddr::TcpTls { host: h, .. } => Some(h.clone()),
                _ => None,
            })
    };
    let typed: Vec<String> = urls.iter().filter_map(|u| host_of(u)).collect();
    if !trust_nodes {
        if let Some(seed) = typed.first() {
            if let Some(why) = nodes.iter().find_map(|n| foreign_node(seed, &typed, n)) {
                return Err(error::connection(
                    crate::untrusted::printable_str(&why).into_owned(),
                ));
            }
        }
    }
    Ok(Some(Cluster {
        client,
        masters: cluster_size(&info),
        nodes,
    }))
}

/// A master's address, `(host, port)`.
pub type Node = (String, u16);

/// The same credentials as `client`, for one node.
pub fn client_for(client: &Client, (host, port): &Node) -> Result<Client> {
    let info = client.get_connection_info().clone();
    let addr = match info.addr() {
        redis::ConnectionAddr::TcpTls {
            insecure,
            tls_params,
            ..
        } => redis::ConnectionAddr::TcpTls {
            host: host.clone(),
            port: *port,
            insecure: *insecure,
            tls_params: tls_params.clone(),
        },
        _ => redis::ConnectionAddr::Tcp(host.clone(), *port),
    };
    Client::open(info.set_addr(addr))
        .map_err(|e| anyhow::anyhow!("could not build the address of {host}:{port}: {e}"))
}

/// `CLUSTER SLOTS` as `(first slot, last slot, master)` ranges (replicas left out).
pub fn slot_owners(reply: Value) -> Vec<(u16, u16, Node)> {
    slot_shards(reply)
        .into_iter()
        .map(|(lo, hi, mut nodes)| (lo, hi, nodes.remove(0)))
        .collect()
}

/// `CLUSTER SLOTS` as `(first slot, last slot, [master, replicas...])` ranges: each range's
/// shard, its master first.
pub fn slot_shards(reply: Value) -> Vec<(u16, u16, Vec<Node>)> {
    let Value::Array(ranges) = reply else {
        return Vec::new();
    };
    let node = |v: &Value| -> Option<Node> {
        let Value::Array(parts) = v else { return None };
        let host = redis::from_redis_value_ref::<String>(parts.first()?).ok()?;
        let port = redis::from_redis_value_ref::<u16>(parts.get(1)?).ok()?;
        Some((host, port))
    };
    let mut out = Vec::new();
    for r in ranges {
        let Value::Array(parts) = r else { continue };
        let (Some(lo), Some(hi)) = (parts.first(), parts.get(1)) else {
            continue;
        };
        let (Ok(lo), Ok(hi)) = (
            redis::from_redis_value_ref::<u16>(lo),
            redis::from_redis_value_ref::<u16>(hi),
        ) else {
            continue;
        };
        let nodes: Vec<Node> = parts.iter().skip(2).map_while(node).collect();
        if !nodes.is_empty() {
            out.push((lo, hi, nodes));
        }
    }
    out
}

/// The first key a transaction names: a command's first argument, or a script's first key;
/// PUBLISH names a channel, which a cluster node does not check against its slots.
pub fn first_key<'a>(cmds: impl Iterator<Item = &'a Cmd>) -> Option<Vec<u8>> {
    let arg = |c: &Cmd, i: usize| match c.args_iter().nth(i) {
        Some(redis::Arg::Simple(b)) => Some(b.to_vec()),
        _ => None,
    };
    cmds.filter_map(|c| match word(c, 0).as_str() {
        "PUBLISH" | "SPUBLISH" | "PING" | "ECHO" | "TIME" => None,
        "EVAL" | "EVALSHA" | "FCALL" => match word(c, 2).as_str() {
            "0" | "" => None,
            _ => arg(c, 3),
        },
        _ => arg(c, 1),
    })
    .next()
}

/// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its `{hash tag}` when it has a
/// non-empty one, modulo 16384. Keys with the same tag always share a slot.
pub fn key_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    let mut crc: u16 = 0;
    for &byte in hashed {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16384
}

/// How many masters a cluster has, from `CLUSTER INFO` (`cluster_size`).
pub fn cluster_size(info: &str) -> usize {
    info.lines()
        .find_map(|l| l.strip_prefix("cluster_size:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether `INFO cluster` says the server runs in cluster mode.
pub fn cluster_enabled(info: &str) -> bool {
    info.lines().any(|l| l.trim() == "cluster_enabled:1")
}

/// Adds up every master's answer to PUBSUB `sub` as one server would give it: the channels
/// any node knows, each channel's subscribers over all nodes, all pattern subscriptions.
pub fn combine_pubsub(sub: &str, replies: Vec<Value>) -> Value {
    if let Some(err) = replies.iter().find(|r| matches!(r, Value::ServerError(_))) {
        return err.clone();
    }
    match sub {
        "NUMPAT" => Value::Int(
            replies
                .iter()
                .map(|r| match r {
                    Value::Int(n) => *n,
                    _ => 0,
                })
                .sum(),
        ),
        "NUMSUB" => {
            let mut totals: Vec<(Value, i64)> = Vec::new();
            for r in &replies {
                let Value::Array(items) = r else { continue };
                for pair in items.chunks(2) {
                    let [channel, Value::Int(n)] = pair else {
                        continue;
                    };
                    match totals.iter_mut().find(|(c, _)| c == channel) {
                        Some((_, total)) => *total += n,
                        None => totals.push((channel.clone(), *n)),
                    }
                }
            }
            Value::Array(
                totals
                    .into_iter()
                    .flat_map(|(c, n)| [c, Value::Int(n)])
                    .collect(),
            )
        }
        _ => {
            let mut channels: Vec<Value> = Vec::new();
            for r in replies {
                let Value::Array(items) = r else { continue };
                for c in items {
                    if !channels.contains(&c) {
                        channels.push(c);
                    }
                }
            }
            Value::Array(channels)
        }
    }
}

/// How many slots a multi-key command's keys span, when the cluster client splits it into one
/// command per master (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) and they span more than one. A
/// server answers such a command with CROSSSLOT, and so does `redis-cli -c`; the screen must
/// say that redislab's client split it.
pub fn split_by_client(args: &[Vec<u8>]) -> Option<usize> {
    let name = String::from_utf8_lossy(args.first()?).to_ascii_uppercase();
    let keys: Vec<&Vec<u8>> = match name.as_str() {
        "MGET" | "DEL" | "UNLINK" | "EXISTS" | "TOUCH" => args.iter().skip(1).collect(),
        "MSET" => args.iter().skip(1).step_by(2).collect(),
        _ => return None,
    };
    let slots: std::collections::HashSet<u16> = keys.iter().map(|k| key_slot(k)).collect();
    (slots.len() > 1).then_some(slots.len())
}

/// What the screen says beside the replies of a command the cluster client split by slot, so
/// joined replies are never taken for one server's.
pub fn split_note(args: &[Vec<u8>]) -> Option<String> {
    let name = String::from_utf8_lossy(args.first()?).to_ascii_uppercase();
    let sub = args
        .get(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
        .unwrap_or_default();
    // The cluster client sends these to every master and adds the answers up.
    let summed = match (name.as_str(), sub.as_str()) {
        ("DBSIZE", _) => Some("DBSIZE".to_string()),
        ("PUBSUB", "CHANNELS" | "NUMSUB" | "NUMPAT") => Some(format!("PUBSUB {sub}")),
        _ => None,
    };
    if let Some(what) = summed {
        return Some(format!(
            "(not one reply: redislab's cluster client sent {what} to every master and joined their answers; no single node sent this, and redis-cli -c asks only the node it is connected to)"
        ));
    }
    let slots = split_by_client(args)?;
    Some(format!(
        "(not one reply: redislab's cluster client split this {name} into one command per master, over {slots} slots, and joined their replies; sent whole, a server answers CROSSSLOT, and so does redis-cli -c)"
    ))
}

/// A server error reply with this text, as Redis would send it.
pub fn error_reply(text: &str) -> Value {
    let line = format!("-{text}\r\n");
    redis::parse_redis_value(line.as_bytes()).unwrap_or(Value::Nil)
}

#[cfg(test)]
mod reach_tests {
    use super::*;

    #[test]
    fn a_loopback_seed_follows_only_loopback_nodes_or_typed_hosts() {
        let node = |h: &str| (h.to_string(), 7000u16);
        let typed = vec!["127.0.0.1".to_string()];
        assert_eq!(foreign_node("127.0.0.1", &typed, &node("127.0.0.2")), None);
        assert_eq!(foreign_node("127.0.0.1", &typed, &node("::1")), None);
        assert!(foreign_node("127.0.0.1", &typed, &node("10.0.0.5")).is_some());
        assert!(foreign_node("127.0.0.1", &typed, &node("93.184.216.34")).is_some());
        assert!(foreign_node("127.0.0.1", &typed, &node("cache.example.com")).is_some());
        // A host the user typed is trusted, whatever its kind.
        let typed = vec!["127.0.0.1".to_string(), "cache.example.com".to_string()];
        assert_eq!(
            foreign_node("127.0.0.1", &typed, &node("cache.example.com")),
            None
        );
        // A private-network seed follows private nodes, not public ones.
        let typed = vec!["10.0.0.1".to_string()];
        assert_eq!(foreign_node("10.0.0.1", &typed, &node("10.0.0.2")), None);
        assert!(foreign_node("10.0.0.1", &typed, &node("8.8.8.8")).is_some());
        // A seed given by name follows what its cluster announces.
        let typed = vec!["redis.internal".to_string()];
        assert_eq!(
            foreign_node("redis.internal", &typed, &node("10.0.0.9")),
            None
        );
    }

    #[test]
    fn the_node_list_groups_ports_by_host() {
        let nodes = vec![
            ("127.0.0.1".to_string(), 7001),
            ("127.0.0.1".to_string(), 7000),
            ("127.0.0.2".to_string(), 7000),
        ];
        assert_eq!(node_list(&nodes), "127.0.0.1:7000,7001 · 127.0.0.2:7000");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ranges_are_read_from_cluster_slots() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let range = |lo, hi, port| {
            Value::Array(vec![
                Value::Int(lo),
                Value::Int(hi),
                Value::Array(vec![bulk("127.0.0.1"), Value::Int(port), bulk("id")]),
            ])
        };
        let reply = Value::Array(vec![range(0, 5460, 7000), range(5461, 16383, 7001)]);
        assert_eq!(
            slot_owners(reply),
            vec![
                (0, 5460, ("127.0.0.1".to_string(), 7000)),
                (5461, 16383, ("127.0.0.1".to_string(), 7001)),
            ]
        );
        assert!(slot_owners(Value::Nil).is_empty());
    }

    #[test]
    fn slots_match_the_cluster_specification() {
        // Values from CLUSTER KEYSLOT on Redis 7.0.
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user:1}:a"), key_slot(b"user:1"));
        assert_eq!(key_slot(b"{}x"), key_slot(b"{}x"));
        assert_ne!(key_slot(b"{}x"), key_slot(b"x"));
    }

    #[test]
    fn cluster_info_fields() {
        assert!(cluster_enabled("# Cluster\r\ncluster_enabled:1\r\n"));
        assert!(!cluster_enabled("# Cluster\r\ncluster_enabled:0\r\n"));
        assert_eq!(cluster_size("cluster_state:ok\r\ncluster_size:3\r\n"), 3);
    }

    #[test]
    fn pubsub_answers_add_up_over_masters() {
        let ch = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let numsub = |n: i64| Value::Array(vec![ch("a"), Value::Int(n), ch("b"), Value::Int(0)]);
        assert_eq!(
            combine_pubsub("NUMSUB", vec![numsub(1), numsub(2), numsub(0)]),
            Value::Array(vec![ch("a"), Value::Int(3), ch("b"), Value::Int(0)])
        );
        assert_eq!(
            combine_pubsub("NUMPAT", vec![Value::Int(1), Value::Int(2)]),
            Value::Int(3)
        );
        assert_eq!(
            combine_pubsub(
                "CHANNELS",
                vec![
                    Value::Array(vec![ch("x")]),
                    Value::Array(vec![ch("x"), ch("y")])
                ]
            ),
            Value::Array(vec![ch("x"), ch("y")])
        );
    }

    #[test]
    fn a_transaction_is_routed_by_its_first_key_not_a_channel() {
        let cmd = |args: &[&str]| {
            let mut c = redis::Cmd::new();
            for a in args {
                c.arg(*a);
            }
            c
        };
        let cmds = [
            cmd(&["PUBLISH", "lab:ch", "hi"]),
            cmd(&["LPUSH", "lab:inbox", "x"]),
        ];
        assert_eq!(first_key(cmds.iter()), Some(b"lab:inbox".to_vec()));
        let script = [cmd(&["EVAL", "return 1", "1", "lab:k"])];
        assert_eq!(first_key(script.iter()), Some(b"lab:k".to_vec()));
        let keyless = [cmd(&["EVAL", "return 1", "0"])];
        assert_eq!(first_key(keyless.iter()), None);
    }
}
