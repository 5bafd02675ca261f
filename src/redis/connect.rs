//! Finds a Redis, always: an explicit URL, else a Redis on localhost, else redislab's own
//! managed server, else a clear way out. Every failure becomes one line and exit code 2,
//! and a password never reaches the terminal.
// This file is part of the redis layer, which alone opens connections (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use anyhow::{Context, Result};
use redis::{AsyncConnectionConfig, Client, RedisError, RedisResult};

use crate::error;
use crate::redis::cluster;
use crate::redis::conn::Conn;
pub(crate) use crate::redis::dial::{CONNECT_TIMEOUT, open, open_counted};
pub use crate::redis::dial::{command_error, describe, lost};
use crate::redis::fence::RawConn;
use crate::redis::fence::{Fence, Fenced, FencedPubSub, LoadTarget};
use crate::redis::managed::{self, Managed};
use crate::redis::managed_cluster;
pub use crate::redis::redact::redact;
use crate::redis::redact::{display_of, scrub};
use crate::settings::Settings;

/// How long a command may take on an ordinary connection before we call the server gone.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// The localhost probe must be quick: nothing listening is the common case.
const PROBE_TIMEOUT: Duration = Duration::from_millis(400);

/// rediss:// needs a TLS crypto provider chosen before the first connection (ring: no C
/// toolchain beyond what the bundled SQLite already needs).
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Where the server came from, for the one-line banner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Localhost,
    Managed,
    /// A private server redislab started for one step (`throwaway::Throwaway::server`): the
    /// same rules as on a server redislab does not own.
    Private,
}

impl Source {
    pub fn describe(&self) -> &'static str {
        match self {
            Source::Flag => "from --redis-url",
            Source::Env => "from REDIS_URL",
            Source::Localhost => "found on localhost",
            Source::Managed => "managed by redislab",
            Source::Private => "private, for this step",
        }
    }
}

/// A reachable server and how to open connections to it.
pub struct Server {
    /// Full-rights client (the user's own credentials, or the managed server's admin). Raw:
    /// only this layer opens connections, and hands out fenced ones.
    pub(in crate::redis) client: Client,
    /// On the managed server or cluster: connections authenticated as an ACL user fenced into
    /// the namespace.
    pub(in crate::redis) learner: Option<crate::redis::conn::Opener>,
    /// Address for display, password removed.
    pub display: String,
    pub source: Source,
    pub product: String,
    pub version: String,
    /// An open full-rights connection: the fence's classifier, and (fenced) the engine's own.
    pub(in crate::redis) conn: Conn,
    /// The namespace rule and the provenance rule for every connection to this server.
    pub(in crate::redis) fence: Fence,
    /// On a Redis Cluster: the client every connection is opened with, and how many masters
    /// share the slots. `None` on a single server.
    pub cluster: Option<cluster::Cluster>,
    /// Where the server programs are that redislab starts beside this server (private servers
    /// for a step): PATH, then redislab's home.
    pub binaries: super::binaries::Binaries,
}

impl Server {
    /// "Redis 7.0.15 · 127.0.0.1:6379 · found on localhost"
    pub fn banner(&self) -> String {
        // "Redis Cluster · 3 masters · 127.0.0.1:7000 · from --redis-url" on a cluster, and
        // "Redis Cluster · 3 masters · managed · 127.0.0.1:7000" on redislab's own.
        let (product, display) = (&self.product, &self.display);
        match &self.cluster {
            Some(c) if self.is_managed() => {
                format!(
                    "{product} Cluster · {} masters · managed · {display}",
                    c.masters
                )
            }
            // Every node the slot map named receives the URL's credentials: name them all.
            Some(c) => format!(
                "{product} Cluster · {} masters · {display} · {} · nodes {}",
                c.masters,
                self.source.describe(),
                cluster::node_list(&c.nodes)
            ),
            None => format!(
                "{product} {} · {display} · {}",
                self.version,
                self.source.describe()
            ),
        }
    }

    pub fn is_managed(&self) -> bool {
        self.source == Source::Managed
    }

    /// `(major, minor, patch)` of the server, for `requires` checks.
    pub fn version_tuple(&self) -> (u32, u32, u32) {
        parse_version(&self.version)
    }

    /// The fence every connection to this server passes.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// The admin password of redislab's own managed server or cluster (a demonstration there
    /// cuts and restores a replica's link with it); `None` on any other server.
    pub fn managed_password(&self) -> Option<String> {
        if !self.is_managed() {
            return None;
        }
        self.client
            .get_connection_info()
            .redis_settings()
            .password()
            .map(str::to_string)
    }

    /// Whether redislab fences the learner with an ACL user here (the managed server or cluster).
    pub fn has_learner_user(&self) -> bool {
        self.learner.is_some()
    }

    /// The open full-rights connection, fenced: inspection, checks and clean-up.
    pub fn admin(&self) -> Fenced {
        Fenced::new(self.conn.clone(), self.fence.clone())
    }

    /// The open full-rights connection, for reading the whole database (`inspect --all`): it
    /// sends only commands the server says write nothing.
    pub fn read_only_admin(&self) -> Fenced {
        Fenced::new(self.conn.clone(), self.fence.read_only())
    }

    /// A new full-rights connection (its own, so state like MULTI never leaks into others).
    pub async fn connection(&self) -> Result<Fenced> {
        let conn = self.open(&self.client, Some(RESPONSE_TIMEOUT)).await?;
        Ok(Fenced::new(conn, self.fence.clone()))
    }

    /// A full-rights connection of the server's kind: a cluster connection on a cluster.
    async fn open(&self, client: &Client, response: Option<Duration>) -> Result<Conn> {
        let opener = crate::redis::conn::Opener {
            client: client.clone(),
            cluster: self.cluster.as_ref().map(|c| c.client.clone()),
            display: self.display.clone(),
        };
        opener.open(response).await
    }

    /// An opener for connections like `connection()`'s, to use on another thread or runtime.
    pub fn opener(&self) -> FencedOpener {
        FencedOpener {
            opener: crate::redis::conn::Opener {
                client: self.client.clone(),
                cluster: self.cluster.as_ref().map(|c| c.client.clone()),
                display: self.display.clone(),
            },
            fence: self.fence.clone(),
        }
    }

    /// A connection for commands a learner types: fenced by ACL on the managed server, and with
    /// no response timeout, because BLPOP or XREAD BLOCK legitimately wait.
    pub async fn learner_connection(&self) -> Result<Fenced> {
        let conn = match &self.learner {
            Some(learner) => learner.open(None).await?,
            None => self.open(&self.client, None).await?,
        };
        Ok(Fenced::new(conn, self.fence.clone()))
    }

    /// `learner_connection`, speaking RESP3: replies keep their RESP3 kinds (maps, sets,
    /// doubles, nulls), for `check`'s proxy when a learner's client asks for `HELLO 3`. Not on
    /// a cluster.
    pub async fn learner_connection_resp3(&self) -> Result<Fenced> {
        let client = self.learner.as_ref().map_or(&self.client, |l| &l.client);
        let info = client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let resp3 = Client::open(info.set_redis_settings(settings))
            .context("could not address the server for a RESP3 connection")?;
        let opener = crate::redis::conn::Opener {
            client: resp3,
            cluster: None,
            display: self.display.clone(),
        };
        Ok(Fenced::new(opener.open(None).await?, self.fence.clone()))
    }

    /// A full-rights connection with no response timeout, for blocking commands in scenarios.
    pub async fn blocking_connection(&self) -> Result<Fenced> {
        let conn = self.open(&self.client, None).await?;
        Ok(Fenced::new(conn, self.fence.clone()))
    }
}

/// Whose rights a connection carries: the learner's (an ACL user fenced into the namespace on
/// the managed server or cluster; the user's own credentials elsewhere) or redislab's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rights {
    Learner,
    Admin,
}

impl Server {
    fn client_of(&self, rights: Rights) -> &Client {
        match (rights, &self.learner) {
            (Rights::Learner, Some(l)) => &l.client,
            _ => &self.client,
        }
    }

    /// A client for one node (`None`: the server the URL names), with the given rights.
    fn client_at(&self, rights: Rights, node: Option<&cluster::Node>) -> Result<Client> {
        let client = self.client_of(rights);
        match node {
            Some(n) => cluster::client_for(client, n),
            None => Ok(client.clone()),
        }
    }

    /// A multiplexed connection to one node (a cluster's master, or the server itself), not
    /// routed by slot: what a demonstration needs when the node matters.
    pub async fn node_connection(
        &self,
        rights: Rights,
        node: Option<&cluster::Node>,
        response: Option<Duration>,
    ) -> Result<Fenced> {
        let client = self.client_at(rights, node)?;
        let shown = node
            .map(|(h, p)| format!("{h}:{p}"))
            .unwrap_or_else(|| self.display.clone());
        let conn = open(&client, &shown, response).await?;
        Ok(Fenced::new(conn.into(), self.fence.clone()))
    }

    /// A plain reply-at-a-time connection to one node (see `RawConn`), fenced.
    pub async fn raw_connection(
        &self,
        rights: Rights,
        node: Option<&cluster::Node>,
        connect: Duration,
        resp3: bool,
    ) -> Result<RawConn> {
        let client = self.client_at(rights, node)?;
        let socket = crate::redis::transport::Socket::open(&client, connect, resp3)
            .await
            .map_err(|e| error::connection(describe(&e, &self.display)))?;
        Ok(RawConn::new(socket, self.fence.clone()))
    }

    /// Where `bench --throughput`'s plain sockets connect: one node (`None`: the server the URL
    /// names), logged in with the user's own credentials.
    pub fn load_target(&self, node: Option<&cluster::Node>) -> Result<LoadTarget> {
        let client = self.client_at(Rights::Admin, node)?;
        let info = client.get_connection_info();
        Ok(LoadTarget::new(info, info.addr().clone()))
    }

    /// A subscriber connection to the server the URL names, fenced.
    pub async fn pubsub(&self, rights: Rights, connect: Duration) -> RedisResult<FencedPubSub> {
        let pubsub = super::transport::pubsub(self.client_of(rights), connect).await?;
        Ok(FencedPubSub::new(pubsub, self.fence.clone()))
    }
}

/// Opens fenced connections like `Server::connection()`'s, on another thread or runtime.
#[derive(Clone)]
pub struct FencedOpener {
    opener: crate::redis::conn::Opener,
    fence: Fence,
}

impl FencedOpener {
    pub async fn open(&self, response: Option<Duration>) -> Result<Fenced> {
        Ok(Fenced::new(
            self.opener.open(response).await?,
            self.fence.clone(),
        ))
    }
}

/// The database a URL names, written the one way the redis crate reads for its transport: a
/// TCP or TLS URL takes it from the path (`redis://h:6379/3`) and ignores `?db=3`, a unix URL
/// only from `?db=3`. So `?db=` on a TCP URL moves into the path, and the two meaning different
/// databases is an error rather than a silent choice.
pub fn one_database(url: &str) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(url.to_string());
    };
    if !["redis", "rediss", "valkey", "valkeys"].contains(&scheme.to_ascii_lowercase().as_str()) {
        return Ok(url.to_string());
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let Some(query) = query else {
        return Ok(url.to_string());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_matches('/')),
        None => (rest, ""),
    };
    let mut db = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("db", v)) => db = Some(v.to_string()),
            _ => kept.push(pair),
        }
    }
    let Some(db) = db else {
        return Ok(url.to_string());
    };
    if db.parse::<u32>().is_err() {
        return Err(format!("?db={db} is not a database number"));
    }
    if !path.is_empty() && path != db {
        return Err(format!(
            "it names database {path} in its path and {db} in ?db=; give one"
        ));
    }
    let mut out = format!("{scheme}://{authority}/{db}");
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    Ok(out)
}

pub fn parse_version(v: &str) -> (u32, u32, u32) {
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// Resolves and connects, in the documented order. Lessons read from a folder (`--lessons`)
/// are someone else's files: the fence is told, so their lines never act on the whole server.
pub async fn connect(settings: &Settings) -> Result<Server> {
    let mut server = resolve(settings).await?;
    server.binaries = super::binaries::Binaries::new(&settings.home);
    if settings.lessons_dir.is_some() {
        server.fence.lessons_from_folder();
    }
    Ok(server)
}

async fn resolve(settings: &Settings) -> Result<Server> {
    if let Some(url) = &settings.redis_url {
        let source = if settings.url_from_env {
            Source::Env
        } else {
            Source::Flag
        };
        let urls = cluster::node_urls(url)
            .iter()
            .map(|u| one_database(u))
            .collect::<Result<Vec<String>, String>>()
            .map_err(|why| {
                error::Exit::new(
                    error::code::USAGE,
                    format!("invalid Redis URL {}: {why}", redact(url)),
                )
            })?;
        let first = urls.first().map(String::as_str).unwrap_or(url.as_str());
        let display = display_of(first);
        let client = Client::open(first).map_err(|e| {
            error::connection(format!(
                "invalid Redis URL {}: {}",
                redact(url),
                one_line(&e, url)
            ))
        })?;
        let tls = url.starts_with("rediss");
        return finish(
            client,
            None,
            display.clone(),
            source,
            &urls,
            settings.trust_cluster_nodes,
            &settings.namespace,
        )
        .await
        .map_err(|e| {
            // A TLS client talking to a plain port (or the reverse) usually just hangs.
            if tls && e.to_string().contains("did not answer in time") {
                error::connection(format!(
                    "TLS handshake with {display} did not complete: is TLS enabled on that port? (use redis:// for a plain connection)"
                ))
            } else {
                // Whatever the failure, no password from the URL reaches the terminal.
                error::connection(scrub(&format!("{e:#}"), url))
            }
        });
    }
    if settings.managed && settings.cluster {
        let (c, _) = managed_cluster::ensure_running(&settings.home, 0)
            .await
            .map_err(|e| {
                error::connection(format!("could not start the managed cluster: {e:#}"))
            })?;
        return managed_cluster_server(&c, &settings.namespace).await;
    }
    if !settings.managed {
        if let Some(server) = probe_local(&settings.local_addr, &settings.namespace).await {
            return Ok(server);
        }
    }
    match managed::ensure_running(&settings.home).await {
        Ok(m) => managed_server(&m, &settings.namespace).await,
        Err(e) if settings.managed => Err(error::connection(format!(
            "could not start the managed redis-server: {e:#}"
        ))),
        Err(e) => Err(error::connection(format!(
            "no Redis found: nothing answered on {} and the managed server could not start ({e:#}). \
             Install one with `redislab server install`, start one with `docker compose up -d`, \
             or point redislab at yours with REDIS_URL=redis://host:port",
            settings.local_addr
        ))),
    }
}

/// Connects to the managed cluster (already running) as admin, with the namespace's learner
/// user on every node: the same rights as on the single managed server.
pub async fn managed_cluster_server(
    c: &managed_cluster::ManagedCluster,
    namespace: &str,
) -> Result<Server> {
    let access = managed_cluster::access(c, namespace).await?;
    let display = access.display.clone();
    let server = finish(
        access.admin,
        None,
        display.clone(),
        Source::Managed,
        &access.admin_urls,
        false,
        namespace,
    )
    .await?;
    anyhow::ensure!(
        server.cluster.is_some(),
        "the managed cluster's node {display} does not run in cluster mode"
    );
    Ok(Server {
        learner: Some(access.learner),
        ..server
    })
}

/// Connects to the managed server (already running) as admin, with a learner ACL user.
pub async fn managed_server(m: &Managed, namespace: &str) -> Result<Server> {
    let admin = m.admin_client()?;
    let display = format!("127.0.0.1:{}", m.port);
    let server = finish(admin, None, display, Source::Managed, &[], false, namespace).await?;
    let learner = managed::ensure_learner(&server.conn, m, namespace).await?;
    Ok(Server {
        learner: Some(crate::redis::conn::Opener {
            client: learner,
            cluster: None,
            display: server.display.clone(),
        }),
        ..server
    })
}

/// The server answering `PING` at `addr`, if one does (quickly: nothing listening is common).
pub async fn probe_local(addr: &str, namespace: &str) -> Option<Server> {
    let url = format!("redis://{addr}");
    let client = Client::open(url.as_str()).ok()?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(PROBE_TIMEOUT))
        .set_response_timeout(Some(PROBE_TIMEOUT));
    let mut conn = super::transport::open(&client, config, PROBE_TIMEOUT)
        .await
        .ok()?;
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.ok()?;
    if pong != "PONG" {
        return None;
    }
    finish(
        client,
        None,
        addr.to_string(),
        Source::Localhost,
        &[url],
        false,
        namespace,
    )
    .await
    .ok()
}

pub(crate) async fn finish(
    client: Client,
    learner: Option<crate::redis::conn::Opener>,
    display: String,
    source: Source,
    urls: &[String],
    trust_nodes: bool,
    namespace: &str,
) -> Result<Server> {
    let (mut conn, wire) = open_counted(&client, &display, Some(RESPONSE_TIMEOUT)).await?;
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .map_err(|e| error::connection(describe(&e, &display)))?;
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
            .map(|v| v.trim().to_string())
    };
    error::set_server(&display);
    let (product, version) = match field("valkey_version") {
        Some(v) => ("Valkey".to_string(), v),
        None => (
            "Redis".to_string(),
            field("redis_version").unwrap_or_else(|| "?".into()),
        ),
    };
    // The server wrote this; the banner, reports and skip reasons all show it.
    let version = crate::untrusted::printable_str(&version).into_owned();
    let cluster = match urls {
        [] => None,
        urls => cluster::detect(&mut conn, urls, &display, trust_nodes).await?,
    };
    let conn = match &cluster {
        Some(c) => {
            crate::redis::conn::open_cluster(&c.client, &display, Some(RESPONSE_TIMEOUT)).await?
        }
        None => Conn::counted(conn, wire),
    };
    let fence = Fence::new(conn.clone(), namespace, source == Source::Managed);
    Ok(Server {
        client,
        learner,
        display,
        source,
        product,
        version,
        conn,
        fence,
        cluster,
        binaries: super::binaries::Binaries::default(),
    })
}

fn one_line(e: &RedisError, secret_source: &str) -> String {
    scrub(&e.to_string().replace('\n', " "), secret_source)
}

/// Best-effort context for I/O on redislab's own files.
pub fn ensure_dir(path: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(path).with_context(|| format!("could not create {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_in_the_query_means_the_same_as_in_the_path() {
        assert_eq!(
            one_database("redis://h:1?db=3").as_deref(),
            Ok("redis://h:1/3")
        );
        assert_eq!(
            one_database("redis://:pw@h:1/?password=x&db=3#insecure").as_deref(),
            Ok("redis://:pw@h:1/3?password=x#insecure")
        );
        assert_eq!(
            one_database("redis://h:1/3?db=3").as_deref(),
            Ok("redis://h:1/3")
        );
        assert!(one_database("redis://h:1/2?db=3").is_err());
        assert!(one_database("redis://h:1?db=x").is_err());
        assert_eq!(
            one_database("redis://h:1/4").as_deref(),
            Ok("redis://h:1/4")
        );
        let unix = "redis+unix:///tmp/r.sock?db=3";
        assert_eq!(one_database(unix).as_deref(), Ok(unix));
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("7.0.15"), (7, 0, 15));
        assert_eq!(parse_version("8.2"), (8, 2, 0));
    }
}
