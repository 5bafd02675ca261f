//! The fence: the only way any code sends a command to Redis. A command reaches a server only on
//! a `Fenced` connection, and every command on it passes `Fence::admit` first: the namespace
//! rule (`rules`: keys, channels, databases, the keyspace, server-wide commands, all asked of the
//! server's own `COMMAND INFO`) and the provenance rule (who wrote it: the learner, a lesson file,
//! or redislab itself). The raw connection (`conn::Conn`) cannot be named outside `crate::redis`,
//! and opening a socket or a redis-crate client outside this layer fails the lint gate
//! (`clippy.toml`), so forgetting the fence does not build.
//!
//! A lesson's script runs on a server redislab does not own only if its exact text is one the
//! lesson layer vouches for (`trust_shipped`: the texts compiled into the binary); a script from a
//! `--lessons` folder, from a reply or from the learner's typing runs only on the managed server,
//! whose ACL fences it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};

use crate::redis::classes::{self, Class};
use crate::redis::conn::Conn;
use crate::redis::tape::Trip;
use crate::redis::tokenize::display_args;

mod links;
mod load;
mod rules;

pub use links::{FencedPubSub, FencedSink, RawConn};
pub use load::{Block, BlockingLoadStream, LoadStream, LoadTarget};

pub use rules::Verdict;

/// Who wrote the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The learner's keyboard.
    Learner,
    /// A lesson file (its variables may still hold replies: see `Arg::tainted`).
    Lesson,
    /// redislab's own code: a scenario, the benchmark, the engine's checks and snapshots. Its
    /// scripts are constants of this binary.
    Own,
}

/// One argument and whether any of it came from a server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub bytes: Vec<u8>,
    pub tainted: bool,
}

/// Arguments redislab wrote itself: none taken from a reply.
pub fn own_args(args: &[Vec<u8>]) -> Vec<Arg> {
    args.iter()
        .map(|a| Arg {
            bytes: a.clone(),
            tainted: false,
        })
        .collect()
}

/// A line the learner typed, already split: every argument untrusted.
pub fn typed(args: &[Vec<u8>]) -> Vec<Arg> {
    args.iter()
        .map(|a| Arg {
            bytes: a.clone(),
            tainted: true,
        })
        .collect()
}

/// The answer to a lesson that runs a script it did not ship with.
pub const NOT_SHIPPED: &str = "this step runs a script that is not one shipped with redislab; such a script runs only on redislab's managed server (--managed), whose ACL fences it";

/// Whether a script text is one shipped inside this binary (the lesson layer knows which).
pub type ShippedScripts = fn(&[u8]) -> bool;

/// The SHA1 Redis gives a script (what EVALSHA names), lower-case hex.
pub fn sha1_hex(text: &[u8]) -> String {
    sha1_smol::Sha1::from(text).digest().to_string()
}

const EVAL: &[&str] = &["EVAL", "EVAL_RO"];
/// Commands the server calls dangerous for what they could do anywhere, which redislab itself
/// sends on the namespace's keys only: RESTORE puts back a lesson key from its own DUMP
/// (snapshots, lesson time). Each passes when every key it names is inside the namespace.
const OWN_KEYED: &[&str] = &["RESTORE"];
const EVALSHA: &[&str] = &["EVALSHA", "EVALSHA_RO"];

/// The rules for one server and namespace, shared by every connection opened to it.
#[derive(Clone)]
pub struct Fence {
    /// Asks the server about its commands (`COMMAND INFO`, `COMMAND GETKEYS`); sends nothing
    /// else.
    classifier: Conn,
    namespace: Arc<str>,
    managed: bool,
    /// `inspect --all`: commands that only read pass, on any key; nothing else does.
    read_only: bool,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    shipped: OnceLock<ShippedScripts>,
    /// SHA1s of scripts that passed the provenance rule in this run: the only ones EVALSHA may
    /// call on a server redislab does not own.
    trusted_shas: Mutex<HashSet<String>>,
    /// The lessons of this run come from a folder (`--lessons`), not from this binary.
    folder_lessons: std::sync::atomic::AtomicBool,
}

impl Fence {
    pub(in crate::redis) fn new(classifier: Conn, namespace: &str, managed: bool) -> Fence {
        Fence {
            classifier,
            namespace: namespace.into(),
            managed,
            read_only: false,
            shared: Arc::default(),
        }
    }

    /// The same server seen read-only, on every key: what `inspect --all` asks for. A command
    /// passes only if the server says it writes nothing and it is not server-wide.
    pub(in crate::redis) fn read_only(&self) -> Fence {
        Fence {
            read_only: true,
            ..self.clone()
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether redislab owns the server (the managed server, its cluster, a private server):
    /// server-wide commands of redislab's own and lesson scripts from a folder may run there.
    pub fn owns_server(&self) -> bool {
        self.managed
    }

    /// Tells the fence which script texts are shipped inside this binary. Set once per fence;
    /// until it is set, no lesson script runs on a server redislab does not own.
    pub fn trust_shipped(&self, shipped: ShippedScripts) {
        let _ = self.shared.shipped.set(shipped);
    }

    /// Tells the fence that this run's lessons were read from a folder: someone else's files.
    /// Their lines may then not act on the whole server, even one redislab owns, because other
    /// namespaces share the managed server (reading a setting stays allowed).
    pub(in crate::redis) fn lessons_from_folder(&self) {
        self.shared
            .folder_lessons
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    fn folder_lessons(&self) -> bool {
        self.shared
            .folder_lessons
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn is_shipped(&self, script: &[u8]) -> bool {
        self.shared.shipped.get().is_some_and(|f| f(script))
    }

    /// Decides whether the command may be sent. Nothing is sent but the classification the
    /// server answers once per command name.
    pub async fn admit(&self, args: &[Arg], origin: Origin) -> Result<Verdict, RedisError> {
        let raw: Vec<Vec<u8>> = args.iter().map(|a| a.bytes.clone()).collect();
        let word = |i: usize| {
            args.get(i)
                .map(|a| String::from_utf8_lossy(&a.bytes).to_ascii_uppercase())
                .unwrap_or_default()
        };
        let (name, sub) = (word(0), word(1));
        let mut classifier = self.classifier.clone();
        if self.read_only {
            return rules::reads_only(&mut classifier, &raw).await;
        }
        let is_load = name == "SCRIPT" && sub == "LOAD";
        let scripted = origin != Origin::Learner;
        if origin == Origin::Own && OWN_KEYED.contains(&name.as_str()) {
            return rules::keys_inside(&mut classifier, &raw, &self.namespace).await;
        }
        // A lesson's own server-wide command: reading a setting (CONFIG GET, its reply's
        // passwords hidden) anywhere; changing one only where redislab owns the server. There
        // a command the checked-in table does not list (SENTINEL exists only on a Sentinel, some
        // admin commands only on Valkey) is what that server says it is.
        let server_wide = classes::of_static(&raw) == Class::ServerWide
            || (scripted
                && self.managed
                && classes::of_live(&mut classifier, &raw).await? == Class::ServerWide);
        if scripted && server_wide {
            let reads_a_setting = name == "CONFIG" && sub == "GET";
            let from_folder = origin == Origin::Lesson && self.folder_lessons();
            return Ok(if reads_a_setting {
                Verdict::Allow
            } else if from_folder {
                Verdict::Refuse(format!(
                    "{name} acts on the whole server, and other namespaces share it; only lessons shipped with redislab run such commands, never a lesson from a --lessons folder"
                ))
            } else if self.managed {
                Verdict::Allow
            } else {
                Verdict::Refuse(format!(
                    "{name} acts on the whole server; this step needs redislab's managed server (--managed)"
                ))
            });
        }
        if !scripted || self.managed {
            if !scripted && is_load && !self.managed {
                return Ok(Verdict::Refuse(format!(
                    "SCRIPT LOAD stores a script that can reach keys it does not declare; on this server redislab cannot fence it into {}:*, so practise it with --managed",
                    self.namespace
                )));
            }
            return rules::check(&mut classifier, &raw, &self.namespace, self.managed).await;
        }
        // A lesson's or redislab's own line on a server redislab does not own.
        let script_arg = if is_load { args.get(2) } else { args.get(1) };
        if EVAL.contains(&name.as_str()) || is_load {
            let Some(script) = script_arg else {
                return Ok(Verdict::Allow); // Redis answers with its own arity error.
            };
            let trusted = origin == Origin::Own || self.is_shipped(&script.bytes);
            if script.tainted || !trusted {
                return Ok(Verdict::Refuse(NOT_SHIPPED.into()));
            }
            self.trust(&script.bytes);
            if is_load {
                return Ok(Verdict::Allow);
            }
            // The declared keys still have to be inside the namespace: checked as on a server
            // where scripts are allowed.
            return rules::check(&mut classifier, &raw, &self.namespace, true).await;
        }
        if EVALSHA.contains(&name.as_str()) {
            let sha = script_arg
                .map(|a| String::from_utf8_lossy(&a.bytes).to_ascii_lowercase())
                .unwrap_or_default();
            if !self.trusted(&sha) {
                return Ok(Verdict::Refuse(format!(
                    "EVALSHA {sha}: no script shipped with redislab was loaded under that SHA in this run, so redislab will not call it on this server"
                )));
            }
            return rules::check(&mut classifier, &raw, &self.namespace, true).await;
        }
        rules::check(&mut classifier, &raw, &self.namespace, self.managed).await
    }

    /// What the server says the command is, asked once per command name.
    pub async fn class_of(&self, args: &[Vec<u8>]) -> Result<Class, RedisError> {
        classes::of_live(&mut self.classifier.clone(), args).await
    }

    /// The keys the command names, as the server reads them (`None`: the server cannot say:
    /// an unknown command, a wrong arity).
    pub async fn keys_of(&self, args: &[Vec<u8>]) -> Result<Option<Vec<Vec<u8>>>, RedisError> {
        rules::keys(&mut self.classifier.clone(), args).await
    }

    /// A command redislab built itself, checked; refused, it is an error naming the command.
    /// A subscribe verdict admits the SUBSCRIBE family: that is what such a connection is for.
    pub async fn admit_own(&self, args: &[Vec<u8>]) -> Result<(), Refused> {
        let verdict = self
            .admit(&own_args(args), Origin::Own)
            .await
            .map_err(Refused::Failed)?;
        let subscribes = [&b"SUBSCRIBE"[..], b"PSUBSCRIBE", b"SSUBSCRIBE"].contains(
            &args
                .first()
                .map(|a| a.to_ascii_uppercase())
                .unwrap_or_default()
                .as_slice(),
        );
        match verdict {
            Verdict::Allow => Ok(()),
            Verdict::Subscribe if subscribes => Ok(()),
            Verdict::Subscribe => Err(Refused::Refused(format!(
                "{}: not sent on this connection",
                display_args(args)
            ))),
            Verdict::Refuse(why) => Err(Refused::Refused(format!("{}: {why}", display_args(args)))),
        }
    }

    /// `admit_own` for commands built with the redis crate, each in turn.
    pub async fn admit_cmds<'c>(
        &self,
        cmds: impl IntoIterator<Item = &'c Cmd>,
    ) -> Result<(), Refused> {
        for cmd in cmds {
            self.admit_own(&cmd_args(cmd)).await?;
        }
        Ok(())
    }

    fn trust(&self, script: &[u8]) {
        if let Ok(mut set) = self.shared.trusted_shas.lock() {
            set.insert(sha1_hex(script));
        }
    }

    fn trusted(&self, sha: &str) -> bool {
        self.shared
            .trusted_shas
            .lock()
            .map(|s| s.contains(sha))
            .unwrap_or(false)
    }
}

/// Why a command was not sent: the fence refused it (the command and the reason, in one line),
/// or asking the server about it failed (the connection's own error, unchanged).
#[derive(Debug)]
pub enum Refused {
    Refused(String),
    Failed(RedisError),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Refused(why) => f.write_str(why),
            Refused::Failed(_) => f.write_str("could not ask the server about the command"),
        }
    }
}

/// A failure to ask is the connection's own error underneath, so a lost server is still named
/// as lost (exit 2) wherever it surfaces.
impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Refused::Refused(_) => None,
            Refused::Failed(e) => Some(e),
        }
    }
}

impl From<Refused> for RedisError {
    fn from(r: Refused) -> RedisError {
        match r {
            Refused::Refused(why) => {
                RedisError::from((redis::ErrorKind::Client, "refused by redislab's fence", why))
            }
            Refused::Failed(e) => e,
        }
    }
}

/// The arguments of a command built with the redis crate. A cursor the crate fills in (SCAN)
/// names no key and no channel.
pub fn cmd_args(cmd: &Cmd) -> Vec<Vec<u8>> {
    cmd.args_iter()
        .map(|a| match a {
            redis::Arg::Simple(b) => b.to_vec(),
            _ => b"0".to_vec(),
        })
        .collect()
}

/// What became of a command sent through `Fenced::run`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The server's reply (a server error is a reply too).
    Reply(Value),
    /// Not sent, and why.
    Refused(String),
    /// A SUBSCRIBE-family command, allowed only on a subscriber: not sent on this connection.
    Subscribe,
}

/// A command the fence admitted once, to be sent many times without asking again: a timed loop
/// measures Redis, not the fence. Only the fence can make one.
#[derive(Clone)]
pub struct Admitted {
    cmd: Cmd,
}

impl Admitted {
    /// The command as RESP bytes, for a raw benchmark socket.
    pub fn packed(&self) -> Vec<u8> {
        self.cmd.get_packed_command()
    }
}

/// A pipeline whose every command the fence admitted.
#[derive(Clone)]
pub struct AdmittedPipeline {
    pipe: Pipeline,
}

/// A connection whose every command passes the fence. Its clones share the link (a multiplexed
/// connection) and the fence.
#[derive(Clone)]
pub struct Fenced {
    conn: Conn,
    fence: Fence,
    /// Inside MULTI, as the server answered: one state for this connection, shared by its
    /// clones, so the sandbox's and a lesson's prompts read the same fact.
    transaction: Arc<std::sync::atomic::AtomicBool>,
}

impl Fenced {
    pub(in crate::redis) fn new(conn: Conn, fence: Fence) -> Fenced {
        Fenced {
            conn,
            fence,
            transaction: Arc::default(),
        }
    }

    /// Whether a MULTI the server accepted is open on this connection (until EXEC, DISCARD, an
    /// EXECABORT or a lost connection).
    pub fn in_transaction(&self) -> bool {
        self.transaction.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Follows MULTI … EXEC by the server's replies to the commands sent on this connection.
    fn follow_transaction(&self, args: &[Vec<u8>], reply: Option<&Value>) {
        use std::sync::atomic::Ordering::Relaxed;
        let Some(reply) = reply else {
            // The connection failed: whatever was queued is gone with it.
            self.transaction.store(false, Relaxed);
            return;
        };
        let name = args
            .first()
            .map(|a| a.to_ascii_uppercase())
            .unwrap_or_default();
        let refused = matches!(reply, Value::ServerError(_));
        match name.as_slice() {
            b"MULTI" if !refused => self.transaction.store(true, Relaxed),
            b"EXEC" | b"DISCARD" => self.transaction.store(false, Relaxed),
            _ => {}
        }
    }

    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// The fence, then the wire: the one way a typed or lesson line reaches Redis. A server
    /// error is `Outcome::Reply`; `Err` means the connection itself failed.
    pub async fn run(&mut self, args: &[Arg], origin: Origin) -> RedisResult<Outcome> {
        Ok(self.run_taped(args, origin).await?.0)
    }

    /// `run`, and what the command cost on the wire (`None` when nothing was sent). The
    /// figures are read off this connection's socket counters: no command is added.
    pub async fn run_taped(
        &mut self,
        args: &[Arg],
        origin: Origin,
    ) -> RedisResult<(Outcome, Option<Trip>)> {
        match self.fence.admit(args, origin).await? {
            Verdict::Allow => {
                let raw: Vec<Vec<u8>> = args.iter().map(|a| a.bytes.clone()).collect();
                let before = self.conn.wire_totals();
                let started = std::time::Instant::now();
                let sent = crate::redis::command::send(&mut self.conn, &raw).await;
                self.follow_transaction(&raw, sent.as_ref().ok());
                let reply = sent?;
                let waited = started.elapsed();
                let trip = Trip::of_command(before, self.conn.wire_totals(), &raw, &reply, waited);
                Ok((Outcome::Reply(reply), Some(trip)))
            }
            Verdict::Subscribe => Ok((Outcome::Subscribe, None)),
            Verdict::Refuse(why) => Ok((Outcome::Refused(why), None)),
        }
    }

    /// `cmd`, admitted now, for sending again and again with `query`.
    pub async fn admitted(&self, cmd: Cmd) -> Result<Admitted, Refused> {
        self.fence.admit_cmds([&cmd]).await?;
        Ok(Admitted { cmd })
    }

    /// A command written elsewhere (a lesson's compare step), admitted now for its origin.
    pub async fn admitted_from(&self, args: &[Arg], origin: Origin) -> Result<Admitted, Refused> {
        let raw: Vec<Vec<u8>> = args.iter().map(|a| a.bytes.clone()).collect();
        let shown = display_args(&raw);
        match self
            .fence
            .admit(args, origin)
            .await
            .map_err(Refused::Failed)?
        {
            Verdict::Allow => Ok(Admitted {
                cmd: crate::redis::command::build(&raw),
            }),
            Verdict::Subscribe => Err(Refused::Refused(format!(
                "{shown}: not sent on this connection"
            ))),
            Verdict::Refuse(why) => Err(Refused::Refused(format!("{shown}: {why}"))),
        }
    }

    /// Admitted commands, sent together.
    pub fn pipeline_of(cmds: &[Admitted]) -> AdmittedPipeline {
        let mut pipe = redis::pipe();
        for c in cmds {
            pipe.add_command(c.cmd.clone());
        }
        AdmittedPipeline { pipe }
    }

    /// `pipe`, every command admitted now.
    pub async fn admitted_pipeline(&self, pipe: Pipeline) -> Result<AdmittedPipeline, Refused> {
        self.fence.admit_cmds(pipe.cmd_iter()).await?;
        Ok(AdmittedPipeline { pipe })
    }

    /// Sends an admitted command (no second check).
    pub async fn query<T: redis::FromRedisValue>(&mut self, a: &Admitted) -> RedisResult<T> {
        a.cmd.query_async(&mut self.conn).await
    }

    /// Sends an admitted pipeline (no second check).
    pub async fn query_pipeline<T: redis::FromRedisValue>(
        &mut self,
        p: &AdmittedPipeline,
    ) -> RedisResult<T> {
        p.pipe.query_async(&mut self.conn).await
    }

    /// Sends QUIT where one connection carries this client (see `Conn::quit`).
    pub async fn quit(&mut self) -> RedisResult<Option<Value>> {
        self.conn.quit().await
    }

    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// `host:port` of every master (a single server: none, it is the only node).
    pub async fn masters(&mut self) -> RedisResult<Vec<(String, u16)>> {
        self.conn.masters().await
    }

    /// Sends `cmd`, admitted, to one node: the server itself, or the cluster's master at `node`.
    pub async fn on_node(&mut self, node: Option<&(String, u16)>, cmd: &Cmd) -> RedisResult<Value> {
        self.fence.admit_cmds([cmd]).await?;
        self.conn.on_node(node, cmd).await
    }

    /// The reply to a keyless `cmd`, admitted, from each master (a single server: its one).
    pub async fn on_each_master(&mut self, cmd: &Cmd) -> RedisResult<Vec<Value>> {
        self.fence.admit_cmds([cmd]).await?;
        self.conn.on_each_master(cmd).await
    }

    /// SCAN MATCH `pattern` over the whole keyspace, every master of a cluster in turn; the
    /// pattern must be inside the namespace. Says whether it stopped after `limit` keys.
    pub async fn scan_match(
        &mut self,
        pattern: &str,
        count: usize,
        limit: usize,
    ) -> RedisResult<(Vec<Vec<u8>>, bool)> {
        let probe = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count)
            .clone();
        self.fence.admit_cmds([&probe]).await?;
        self.conn.scan_match(pattern, count, limit).await
    }
}

/// Every command sent with the redis crate's own calls (`query_async`) on a `Fenced` connection
/// passes the fence as redislab's own; a refused one is an error the caller sees like any
/// other, and nothing is sent.
impl ConnectionLike for Fenced {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            self.fence.admit_cmds([cmd]).await?;
            let reply = self.conn.req_packed_command(cmd).await;
            self.follow_transaction(&cmd_args(cmd), reply.as_ref().ok());
            reply
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.fence.admit_cmds(pipeline.cmd_iter()).await?;
            self.conn.req_packed_commands(pipeline, offset, count).await
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}
