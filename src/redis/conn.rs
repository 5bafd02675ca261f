//! One connection type for a single server and for a Redis Cluster, so every path (lessons,
//! checks, inspect, reset, the sandbox) works on both without asking which it has. On a
//! cluster, a key's command goes to the master that owns its hash slot; what has no key to route
//! by (a whole-keyspace SCAN, MULTI typed line by line) is handled here.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use anyhow::Result;
use redis::Client;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster::ClusterClientBuilder;

use crate::error;

use crate::redis::cluster::{self, Nodes, error_reply};
use crate::redis::command::word;
use crate::redis::deadline;
use crate::redis::dial::{self, describe};
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr,
};
use redis::{
    Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, RedisResult, ServerError, ServerErrorKind,
    Value,
};

/// A connection to Redis: one server, or a whole cluster. Its clones share the link and what
/// the server said about its commands (`COMMAND INFO`, asked once per command name).
#[derive(Clone)]
pub(in crate::redis) struct Conn {
    link: Link,
    commands: crate::redis::command_info::InfoCache,
    /// The bytes this connection's socket carried, where it has one socket (a single server's
    /// connection opened by `cluster::Opener`); the tape reads it.
    wire: Option<std::sync::Arc<crate::redis::bounded::Wire>>,
}

#[derive(Clone)]
enum Link {
    Single(MultiplexedConnection),
    Cluster(Box<Clustered>),
}

/// A cluster connection, and the transaction (or WATCH) a learner is typing into it.
#[derive(Clone)]
pub struct Clustered {
    conn: crate::redis::cluster::Bounded,
    /// The seed's credentials and TLS settings, for a transaction's own node connection.
    seed: Option<redis::ConnectionInfo>,
    pinned: Option<Box<Pinned>>,
}

/// WATCH and MULTI … EXEC on a cluster. A cluster has no one node for a bare MULTI, and a
/// shared node connection would carry other commands into the transaction, so a transaction
/// gets a connection of its own to one master. It opens on the master of the WATCHed key, or
/// on the first master and then moves (DISCARD there, MULTI again) to the master of the first
/// key it queues, as a cluster client picks a transaction's node. Every reply shown is the
/// server's own: a queued command whose key another master serves gets this master's MOVED,
/// and EXEC then EXECABORT, as redis-cli shows against that node.
#[derive(Clone)]
struct Pinned {
    node: cluster::Node,
    conn: MultiplexedConnection,
    in_multi: bool,
    /// Commands queued before any key named the node (PING, TIME): queued again on a move.
    keyless: Vec<Cmd>,
    /// A key (or WATCH) chose the node: the transaction stays there.
    homed: bool,
}

impl From<MultiplexedConnection> for Conn {
    fn from(c: MultiplexedConnection) -> Self {
        Conn {
            link: Link::Single(c),
            commands: Default::default(),
            wire: None,
        }
    }
}

impl Conn {
    /// A cluster connection; `seed` (the first node's settings) lets a transaction open a
    /// connection of its own on the master it runs on.
    pub fn cluster(
        conn: crate::redis::cluster::Bounded,
        seed: Option<redis::ConnectionInfo>,
    ) -> Conn {
        Conn {
            link: Link::Cluster(Box::new(Clustered {
                conn,
                seed,
                pinned: None,
            })),
            commands: Default::default(),
            wire: None,
        }
    }

    /// A single server's connection whose socket's bytes are counted (`wire`).
    pub fn counted(
        c: MultiplexedConnection,
        wire: std::sync::Arc<crate::redis::bounded::Wire>,
    ) -> Conn {
        Conn {
            wire: Some(wire),
            ..Conn::from(c)
        }
    }

    /// Bytes sent and received on this connection's socket so far, where it is counted.
    pub fn wire_totals(&self) -> Option<(u64, u64)> {
        self.wire.as_ref().map(|w| w.totals())
    }
}

/// A server's error reply, as a reply: what a single server's connection gives back, so
/// `(error) ...` renders the same on both.
fn as_reply(r: RedisResult<Value>) -> RedisResult<Value> {
    match r {
        Err(e) if !e.is_io_error() && !e.is_timeout() && e.kind() != ErrorKind::Client => {
            match ServerError::try_from(e) {
                Ok(se) => Ok(Value::ServerError(se)),
                Err(e) => Err(e),
            }
        }
        other => other,
    }
}

impl Clustered {
    async fn command(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let name = word(cmd, 0);
        if self.pinned.is_some() || matches!(name.as_str(), "MULTI" | "WATCH") {
            return self.pinned_command(cmd, &name).await;
        }
        match name.as_str() {
            "EXEC" => Ok(error_reply("ERR EXEC without MULTI")),
            "DISCARD" => Ok(error_reply("ERR DISCARD without MULTI")),
            "SCAN" => self.scan(cmd).await,
            "PUBSUB" => {
                let sub = word(cmd, 1);
                match sub.as_str() {
                    "CHANNELS" | "NUMSUB" | "NUMPAT" => self.pubsub(cmd, &sub).await,
                    _ => as_reply(self.conn.req_packed_command(cmd).await),
                }
            }
            // One node's INFO (or report): what a single server, and redis-cli -c, answers;
            // the crate would ask every master and return a map keyed by address, a reply no
            // server sent.
            "INFO" | "LATENCY" => self.on_one_node(cmd).await,
            "MEMORY" if matches!(word(cmd, 1).as_str(), "DOCTOR" | "MALLOC-STATS" | "STATS") => {
                self.on_one_node(cmd).await
            }
            _ => self.routed(cmd).await,
        }
    }

    async fn on_one_node(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        as_reply(
            self.conn
                .route_command(
                    cmd.clone(),
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::RandomPrimary),
                )
                .await,
        )
    }

    /// A command routed by its key. The crate refuses a multi-key command over several slots
    /// without sending it (MSETNX, SUNIONSTORE): it goes to its first key's master instead, as
    /// redis-cli -c sends it, so the refusal shown is the server's own.
    async fn routed(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let reply = self.conn.req_packed_command(cmd).await;
        if !refused_before_sending(&reply) {
            return as_reply(reply);
        }
        let Some(key) = cluster::first_key(std::iter::once(cmd)) else {
            return as_reply(reply);
        };
        let to = SingleNodeRoutingInfo::SpecificNode(Route::new(
            cluster::key_slot(&key),
            SlotAddr::Master,
        ));
        as_reply(
            self.conn
                .route_command(cmd.clone(), RoutingInfo::SingleNode(to))
                .await,
        )
    }

    /// A command of a WATCH or a transaction, on the transaction's own connection.
    async fn pinned_command(&mut self, cmd: &Cmd, name: &str) -> RedisResult<Value> {
        let key = cluster::first_key(std::iter::once(cmd));
        if self.pinned.is_none() {
            // MULTI opens on the first master until a key names one; WATCH on its key's.
            let node = match &key {
                Some(k) => self.owner(k).await?,
                None => self.masters().await?.into_iter().next(),
            };
            let Some(node) = node else {
                return Err(no_node());
            };
            let conn = self.open_on(&node).await?;
            self.pinned = Some(Box::new(Pinned {
                node,
                conn,
                in_multi: false,
                keyless: Vec::new(),
                homed: name == "WATCH",
            }));
        }
        if let Some(k) = key.filter(|_| name != "WATCH") {
            self.home(&k).await?;
        }
        let Some(p) = self.pinned.as_deref_mut() else {
            return Err(no_node());
        };
        let reply = as_reply(p.conn.req_packed_command(cmd).await);
        let ok = matches!(&reply, Ok(v) if !matches!(v, Value::ServerError(_)));
        match name {
            "MULTI" if ok => p.in_multi = true,
            "EXEC" | "DISCARD" if p.in_multi => self.pinned = None,
            "UNWATCH" if !p.in_multi => self.pinned = None,
            _ if p.in_multi && !p.homed && ok => p.keyless.push(cmd.clone()),
            _ => {}
        }
        if reply.is_err() {
            self.pinned = None;
        }
        reply
    }

    /// The transaction's first key chose its master: move there if it opened elsewhere.
    async fn home(&mut self, key: &[u8]) -> RedisResult<()> {
        let Some(p) = self.pinned.as_deref() else {
            return Ok(());
        };
        if p.homed || !p.in_multi {
            return Ok(());
        }
        let (from, keyless) = (p.node.clone(), p.keyless.clone());
        let Some(owner) = self.owner(key).await? else {
            return Ok(());
        };
        if owner != from {
            let mut conn = self.open_on(&owner).await?;
            if let Some(p) = self.pinned.as_deref_mut() {
                let _: RedisResult<Value> = p.conn.req_packed_command(&redis::cmd("DISCARD")).await;
            }
            let mut again = redis::pipe();
            again.cmd("MULTI");
            for c in &keyless {
                again.add_command(c.clone());
            }
            conn.req_packed_commands(&again, 0, keyless.len() + 1)
                .await?;
            if let Some(p) = self.pinned.as_deref_mut() {
                p.node = owner;
                p.conn = conn;
            }
        }
        if let Some(p) = self.pinned.as_deref_mut() {
            p.homed = true;
        }
        Ok(())
    }

    /// The master serving `key`'s slot.
    async fn owner(&mut self, key: &[u8]) -> RedisResult<Option<cluster::Node>> {
        let slot = cluster::key_slot(key);
        Ok(self
            .slot_owners()
            .await?
            .into_iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
            .map(|(_, _, n)| n))
    }

    /// A connection of its own to one master, with the seed's credentials, bounded like every
    /// other.
    async fn open_on(&self, node: &cluster::Node) -> RedisResult<MultiplexedConnection> {
        let Some(seed) = &self.seed else {
            return Err(no_node());
        };
        let client = redis::Client::open(seed.clone())?;
        let client = cluster::client_for(&client, node)
            .map_err(|e| RedisError::from((ErrorKind::Client, "no node", format!("{e:#}"))))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_response_timeout(Some(std::time::Duration::from_secs(10)));
        crate::redis::transport::open(&client, config, crate::redis::transport::CONNECT_TIMEOUT)
            .await
    }

    async fn masters(&mut self) -> RedisResult<Vec<(String, u16)>> {
        let reply = self
            .conn
            .route_command(
                redis::cmd("PING"),
                RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
            )
            .await?;
        let Value::Map(pairs) = reply else {
            return Err(RedisError::from((
                ErrorKind::Client,
                "the cluster did not list its masters",
            )));
        };
        let mut out: Vec<(String, u16)> = pairs
            .iter()
            .filter_map(|(addr, _)| match addr {
                Value::BulkString(b) => {
                    let text = String::from_utf8_lossy(b);
                    let (host, port) = text.rsplit_once(':')?;
                    Some((host.to_string(), port.parse().ok()?))
                }
                _ => None,
            })
            .collect();
        out.sort();
        Ok(out)
    }

    async fn on_node(&mut self, (host, port): &(String, u16), cmd: &Cmd) -> RedisResult<Value> {
        let to = SingleNodeRoutingInfo::ByAddress {
            host: host.clone(),
            port: *port,
        };
        as_reply(
            self.conn
                .route_command(cmd.clone(), RoutingInfo::SingleNode(to))
                .await,
        )
    }

    /// A typed SCAN walks every master in turn, as one keyspace. The cursor it hands back
    /// carries which master it is on: `node cursor × masters + master index`, so `0` still
    /// starts and ends the walk.
    async fn scan(&mut self, cmd: &Cmd) -> RedisResult<Value> {
        let masters = self.masters().await?;
        let n = masters.len().max(1) as u64;
        let Ok(cursor) = word(cmd, 1).parse::<u64>() else {
            return Ok(error_reply("ERR invalid cursor"));
        };
        let index = (cursor % n) as usize;
        let mut node_cmd = redis::cmd("SCAN");
        node_cmd.arg(cursor / n);
        for a in cmd.args_iter().skip(2) {
            if let redis::Arg::Simple(b) = a {
                node_cmd.arg(b);
            }
        }
        let Some(node) = masters.get(index) else {
            return Ok(error_reply("ERR invalid cursor"));
        };
        let reply = self.on_node(node, &node_cmd).await?;
        let Value::Array(mut parts) = reply else {
            return Ok(reply);
        };
        let next: u64 = match parts.first() {
            Some(v) => redis::from_redis_value_ref(v)?,
            None => 0,
        };
        let combined = match (next, index as u64 + 1 < n) {
            (0, true) => Some(index as u64 + 1),
            (0, false) => Some(0),
            (next, _) => next.checked_mul(n).map(|c| c + index as u64),
        };
        let Some(combined) = combined else {
            return Ok(error_reply(
                "ERR the cluster's SCAN cursor is too large to carry",
            ));
        };
        parts[0] = Value::BulkString(combined.to_string().into_bytes());
        Ok(Value::Array(parts))
    }

    /// PUBSUB CHANNELS, NUMSUB and NUMPAT count the subscribers of the node asked; a learner's
    /// subscriber may be on any of them, so every master is asked and the answers added up.
    async fn pubsub(&mut self, cmd: &Cmd, sub: &str) -> RedisResult<Value> {
        let mut replies = Vec::new();
        for m in self.masters().await? {
            replies.push(self.on_node(&m, cmd).await?);
        }
        Ok(cluster::combine_pubsub(sub, replies))
    }

    /// A pipeline: a transaction, or one whose keys share a slot, goes as it is, in one round
    /// trip to that slot's master. The crate refuses any other pipeline before sending it, so
    /// its commands are grouped by slot and the groups sent at once, each as a pipeline of its
    /// own: commands on one key keep their order, and the whole still costs about one round trip.
    async fn pipeline(
        &mut self,
        pipe: &Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisResult<Vec<Value>> {
        let whole = self.conn.req_packed_commands(pipe, offset, count).await;
        if pipe.is_transaction() || !refused_before_sending(&whole) {
            return whole;
        }
        let owners = self.slot_owners().await?;
        let mut groups: Vec<(Option<&(String, u16)>, Placed)> = Vec::new();
        for (i, cmd) in pipe.cmd_iter().enumerate() {
            let slot = cluster::first_key(std::iter::once(cmd)).map(|k| cluster::key_slot(&k));
            let node = slot.and_then(|s| {
                owners
                    .iter()
                    .find(|(lo, hi, _)| (*lo..=*hi).contains(&s))
                    .map(|(_, _, n)| n)
            });
            match groups.iter_mut().find(|(n, _)| *n == node) {
                Some((_, g)) => g.push((i, cmd.clone())),
                None => groups.push((node, vec![(i, cmd.clone())])),
            }
        }
        let sends = groups.into_iter().map(|(node, group)| {
            let mut one = Clustered {
                conn: self.conn.clone(),
                seed: None,
                pinned: None,
            };
            async move { one.group(node, group).await }
        });
        let mut out: Vec<(usize, Value)> = Vec::with_capacity(pipe.len());
        for replies in futures_util::future::join_all(sends).await {
            out.extend(replies?);
        }
        out.sort_by_key(|(i, _)| *i);
        Ok(out
            .into_iter()
            .map(|(_, v)| v)
            .skip(offset)
            .take(count)
            .collect())
    }

    /// Which master serves which slots (`CLUSTER SLOTS`: first slot, last slot, master).
    async fn slot_owners(&mut self) -> RedisResult<Vec<(u16, u16, cluster::Node)>> {
        let reply = self
            .conn
            .req_packed_command(&redis::cmd("CLUSTER").arg("SLOTS").clone())
            .await?;
        Ok(cluster::slot_owners(reply))
    }

    /// Commands for one master, as one pipeline to it, with their places in the caller's
    /// pipeline. A command the node sends elsewhere (MOVED, ASK: the slot moved meanwhile) or
    /// refuses as CROSSSLOT (a multi-key command the crate would split) is sent again on its
    /// own, which routes and splits it.
    async fn group(
        &mut self,
        node: Option<&(String, u16)>,
        group: Placed,
    ) -> RedisResult<Vec<(usize, Value)>> {
        let mut replies: Vec<Option<Value>> = vec![None; group.len()];
        if let (Some((host, port)), true) = (node, group.len() > 1) {
            let mut p = redis::pipe();
            for (_, c) in &group {
                p.add_command(c.clone());
            }
            let to = SingleNodeRoutingInfo::ByAddress {
                host: host.clone(),
                port: *port,
            };
            if let Ok(values) = self.conn.route_pipeline(p, 0, group.len(), to).await {
                for (slot, v) in replies.iter_mut().zip(values) {
                    let elsewhere = matches!(&v, Value::ServerError(e)
                        if matches!(e.code(), "MOVED" | "ASK" | "CROSSSLOT" | "TRYAGAIN"));
                    if !elsewhere {
                        *slot = Some(v);
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(group.len());
        for ((i, c), reply) in group.into_iter().zip(replies) {
            let v = match reply {
                Some(v) => v,
                None => self.command(&c).await?,
            };
            out.push((i, v));
        }
        Ok(out)
    }
}

fn no_node() -> RedisError {
    RedisError::from((
        ErrorKind::Client,
        "the cluster named no master for this transaction",
    ))
}

/// Commands with their places in a pipeline.
type Placed = Vec<(usize, Cmd)>;

/// The crate's own refusal of a pipeline whose keys span slots (nothing was sent).
fn refused_before_sending<T>(r: &RedisResult<T>) -> bool {
    matches!(r, Err(e)
        if e.kind() == ErrorKind::Server(ServerErrorKind::CrossSlot)
            && e.to_string().contains("crossed slots"))
}

/// Every request on a `Conn` has a reply deadline (`deadline`), whatever response timeout its
/// connection was opened with: the learner's connection has none of its own, because blocking
/// commands legitimately wait.
impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        let limit = deadline::for_cmd(cmd);
        match &mut self.link {
            Link::Single(c) => Box::pin(deadline::within(limit, c.req_packed_command(cmd))),
            Link::Cluster(c) => Box::pin(deadline::within(limit, c.command(cmd))),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        let limit = deadline::for_pipeline(pipeline);
        match &mut self.link {
            Link::Single(c) => Box::pin(deadline::within(
                limit,
                c.req_packed_commands(pipeline, offset, count),
            )),
            Link::Cluster(c) => {
                Box::pin(deadline::within(limit, c.pipeline(pipeline, offset, count)))
            }
        }
    }

    fn get_db(&self) -> i64 {
        match &self.link {
            Link::Single(c) => c.get_db(),
            Link::Cluster(_) => 0,
        }
    }
}

impl Conn {
    /// Sends QUIT where one connection carries this client: a single server's, or a cluster
    /// transaction's own node connection. `None` on a cluster client with no transaction: it
    /// has no one connection to send QUIT on, and dropping it closes its node connections.
    pub async fn quit(&mut self) -> RedisResult<Option<Value>> {
        let quit = redis::cmd("QUIT");
        match &mut self.link {
            Link::Single(c) => c.req_packed_command(&quit).await.map(Some),
            Link::Cluster(c) => match c.pinned.take() {
                Some(mut p) => as_reply(p.conn.req_packed_command(&quit).await).map(Some),
                None => Ok(None),
            },
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self.link, Link::Cluster(_))
    }

    /// `host:port` of every master (a single server: none, it is the only node).
    pub async fn masters(&mut self) -> RedisResult<Vec<(String, u16)>> {
        match &mut self.link {
            Link::Single(_) => Ok(Vec::new()),
            Link::Cluster(c) => c.masters().await,
        }
    }

    /// Sends `cmd` to one node: the server itself, or the cluster's master at `node`.
    pub async fn on_node(&mut self, node: Option<&(String, u16)>, cmd: &Cmd) -> RedisResult<Value> {
        if let (Link::Cluster(c), Some(node)) = (&mut self.link, node) {
            return c.on_node(node, cmd).await;
        }
        self.req_packed_command(cmd).await
    }

    /// What the server said about its commands, shared by this connection's clones.
    pub fn command_infos(&self) -> &crate::redis::command_info::InfoCache {
        &self.commands
    }

    /// SCAN MATCH `pattern` over the whole keyspace: every master of a cluster in turn. Stops
    /// once more than `limit` keys are found; says whether it stopped early.
    pub async fn scan_match(
        &mut self,
        pattern: &str,
        count: usize,
        limit: usize,
    ) -> RedisResult<(Vec<Vec<u8>>, bool)> {
        let masters = self.masters().await?;
        let nodes: Vec<Option<&(String, u16)>> = if masters.is_empty() {
            vec![None]
        } else {
            masters.iter().map(Some).collect()
        };
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for node in nodes {
            let mut cursor: u64 = 0;
            loop {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(count);
                let reply = self.on_node(node, &cmd).await?;
                let (next, batch): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)?;
                keys.extend(batch);
                cursor = next;
                if keys.len() > limit {
                    return Ok((keys, true));
                }
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok((keys, false))
    }

    /// The reply to a keyless `cmd` from each master (a single server: its one reply).
    pub async fn on_each_master(&mut self, cmd: &Cmd) -> RedisResult<Vec<Value>> {
        let masters = self.masters().await?;
        if masters.is_empty() {
            return Ok(vec![self.req_packed_command(cmd).await?]);
        }
        let mut out = Vec::new();
        for m in &masters {
            out.push(self.on_node(Some(m), cmd).await?);
        }
        Ok(out)
    }
}

/// The cluster client always has a response timeout; "none" (for blocking commands) is a day.
const NO_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A connection to the whole cluster; `response: None` waits as long as a blocking command may.
pub(in crate::redis) async fn open_cluster(
    nodes: &Nodes,
    display: &str,
    response: Option<Duration>,
) -> Result<Conn> {
    let fail = |e: redis::RedisError| error::connection(describe(&e, display));
    let client = ClusterClientBuilder::new(nodes.infos())
        .connection_timeout(dial::CONNECT_TIMEOUT)
        .response_timeout(response.unwrap_or(NO_TIMEOUT))
        .build()
        .map_err(fail)?;
    client
        .get_async_generic_connection::<crate::redis::transport::BoundedNode>()
        .await
        .map(|c| Conn::cluster(c, nodes.first().cloned()))
        .map_err(fail)
}

/// Everything needed to open a connection of the server's kind, on any runtime or thread.
#[derive(Clone)]
pub struct Opener {
    pub client: Client,
    pub cluster: Option<Nodes>,
    pub display: String,
}

impl Opener {
    pub(in crate::redis) async fn open(&self, response: Option<Duration>) -> Result<Conn> {
        match &self.cluster {
            Some(c) => open_cluster(c, &self.display, response).await,
            None => {
                let (conn, wire) =
                    dial::open_counted(&self.client, &self.display, response).await?;
                Ok(Conn::counted(conn, wire))
            }
        }
    }
}
