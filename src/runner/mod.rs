//! Executes lesson steps: commands, checks, exercises, compares, races, scenarios, waits. It
//! returns outcomes and reports events through the `View` seam, never drawing itself, so the
//! same engine serves the interactive walk, `--auto`, `validate --live` and the tests.
//!
//! Every command a lesson sends goes through `send_line`: the line is split into arguments
//! first and each `${var}` is filled in inside its own argument (a saved value with spaces
//! stays one argument), then the fence (`redis::fence`) decides, then it is sent.

pub mod checks;
mod clients;
pub mod compare;
pub mod field_ttl;
pub mod lesson_time;
pub mod quiz;
pub mod race;
pub mod requires;
pub mod seam;
pub mod snapshot;
pub mod steps;
pub mod summary;
pub mod trial;
pub mod walk;
pub(crate) mod why;

use std::collections::{BTreeMap, HashMap};

use crate::redis::fence::Fenced;
use anyhow::Result;
use redis::Value;

use crate::inspect::{self, KeyInfo};
use crate::lesson::model::{Check, CommandSpec, Lesson, Requires, Step};
use crate::lesson::vars::Vars;
use crate::redis::command::send;
use crate::redis::connect::{Server, command_error};
use crate::redis::fence::Outcome;
pub use crate::redis::fence::{Arg, Origin};
use crate::redis::tokenize::{display_args, tokenize};
use checks::CheckResult;

/// Rows of the key table beyond this are counted, not shown (`redislab inspect` shows all).
pub const KEY_TABLE_ROWS: usize = 12;

/// The key table after a step: its first `marked` rows are the step's own keys.
#[derive(Debug, Clone, Default)]
pub struct KeyTable {
    pub rows: Vec<KeyInfo>,
    pub marked: usize,
    /// Lesson keys left out for room.
    pub more: usize,
}

/// A command that ran and its reply.
#[derive(Debug, Clone)]
pub struct Executed {
    pub line: String,
    pub connection: Option<String>,
    pub reply: Value,
    /// The fence did not send it, and why (the reply is then `Nil`).
    pub refused: Option<String>,
    /// What redislab's client did that no server did (a cluster command split by slot), said
    /// beside the reply so joined replies are never taken for one server's.
    pub client_note: Option<String>,
    /// What it cost on the wire (`None`: nothing was sent).
    pub trip: Option<crate::redis::tape::Trip>,
}

/// Splits a lesson line into arguments, then fills in each argument's variables, so a value
/// can never split into extra arguments. An argument that is not UTF-8 is left as written.
pub fn lesson_args(vars: &Vars, template: &str) -> Result<Vec<Arg>> {
    let raw = tokenize(template).map_err(|e| anyhow::anyhow!("{e} in {template:?}"))?;
    anyhow::ensure!(!raw.is_empty(), "empty command");
    raw.into_iter()
        .map(|a| match String::from_utf8(a) {
            Ok(text) => {
                let e = vars.expand_tracked(&text)?;
                Ok(Arg {
                    bytes: e.text.into_bytes(),
                    tainted: e.tainted,
                })
            }
            Err(e) => Ok(Arg {
                bytes: e.into_bytes(),
                tainted: false,
            }),
        })
        .collect()
}

/// A line the learner typed: split as redis-cli splits it, nothing filled in, every argument
/// treated as untrusted.
pub fn typed_args(line: &str) -> Result<Vec<Arg>, crate::redis::tokenize::InvalidArguments> {
    Ok(tokenize(line)?
        .into_iter()
        .map(|bytes| Arg {
            bytes,
            tainted: true,
        })
        .collect())
}

/// The fence, then the wire: the one way a lesson's command reaches Redis.
pub async fn send_fenced(
    conn: &mut Fenced,
    args: &[Arg],
    origin: Origin,
    connection: Option<&str>,
    display: &str,
) -> Result<Executed> {
    let bytes: Vec<Vec<u8>> = args.iter().map(|a| a.bytes.clone()).collect();
    let line = display_args(&bytes);
    let (outcome, trip) = conn
        .run_taped(args, origin)
        .await
        .map_err(|e| command_error(e, display))?;
    let (reply, refused) = match outcome {
        Outcome::Reply(v) => (v, None),
        Outcome::Subscribe => (
            Value::Nil,
            Some(
                "SUBSCRIBE waits for messages until Ctrl-C: try it in `redislab sandbox`"
                    .to_string(),
            ),
        ),
        Outcome::Refused(why) => (Value::Nil, Some(why)),
    };
    let client_note = match (&refused, conn.is_cluster()) {
        (None, true) => crate::redis::cluster::split_note(&bytes),
        _ => None,
    };
    Ok(Executed {
        line,
        connection: connection.map(str::to_string),
        reply,
        refused,
        client_note,
        trip,
    })
}

/// Runs a lesson's commands against one server, keeping its variables and named connections.
pub struct Engine<'a> {
    pub server: &'a Server,
    pub namespace: String,
    pub vars: Vars,
    /// Connections by name; `main` is the default. Learner rights (ACL-fenced when managed).
    conns: HashMap<String, Fenced>,
    /// Full rights, for checks and the key table.
    pub admin: Fenced,
    /// The lesson's key patterns (as written): what lesson time and snapshots cover.
    lesson_keys: Vec<String>,
    /// Keys with a TTL, frozen while the learner reads; thawed before the next command. Shared
    /// with the `TimeKeeper` that gives the time back when the process is told to stop.
    frozen: lesson_time::Slot,
    /// Whether a person reads along (lesson time stops for them); `--auto` nobody does.
    reading: bool,
    /// Lesson keys another client changed while time stood still, not yet told.
    changed_meanwhile: Vec<lesson_time::ChangedMeanwhile>,
    /// Whether the server has per-field TTLs (asked once).
    field_ttls: Option<bool>,
    /// `--explain`: after every step's checks, the commands they sent and the replies.
    pub explain: bool,
    /// The checks the last step ended with, for "Explain the checks" in the failure menu.
    pub last_checks: Vec<CheckResult>,
    /// Keys the learner's own commands named in this step: the key table shows them with the
    /// step's keys, so a key the learner just wrote is never left out for room.
    typed_keys: Vec<Vec<u8>>,
}

impl<'a> Engine<'a> {
    pub async fn new(server: &'a Server, namespace: &str) -> Result<Self> {
        anyhow::ensure!(
            server.fence().namespace() == namespace,
            "the engine's namespace {namespace} is not the connection's {}",
            server.fence().namespace()
        );
        let admin = server.connection().await?;
        // Lesson scripts run on a server redislab does not own only if shipped in this binary.
        server
            .fence()
            .trust_shipped(crate::lesson::scripts::is_shipped);
        Ok(Engine {
            server,
            namespace: namespace.to_string(),
            vars: Vars::new(namespace),
            conns: HashMap::new(),
            admin,
            lesson_keys: Vec::new(),
            frozen: lesson_time::Slot::default(),
            reading: true,
            changed_meanwhile: Vec::new(),
            field_ttls: None,
            explain: false,
            last_checks: Vec::new(),
            typed_keys: Vec::new(),
        })
    }

    /// Whether hash fields can have TTLs of their own here, which lesson time must cover too.
    async fn field_ttls(&mut self) -> Result<bool> {
        if let Some(known) = self.field_ttls {
            return Ok(known);
        }
        let known = field_ttl::supported(&mut self.admin).await?;
        self.field_ttls = Some(known);
        Ok(known)
    }

    /// The key patterns lesson time and snapshots cover (the lesson's `keys`).
    pub fn set_lesson_keys(&mut self, patterns: &[String]) {
        self.lesson_keys = patterns.to_vec();
    }

    pub(crate) async fn current_lesson_keys(&mut self) -> Result<Vec<Vec<u8>>> {
        let patterns = self
            .lesson_keys
            .iter()
            .map(|p| self.expand(p))
            .collect::<Result<Vec<_>>>()?;
        snapshot::lesson_keys(&mut self.admin, &self.namespace, &patterns).await
    }

    /// Deletes every key of the lesson (its `keys` patterns, inside the namespace only): a
    /// lesson started from its first step starts from nothing, whatever an earlier run left.
    pub async fn clear_lesson_keys(&mut self) -> Result<()> {
        self.thaw().await?;
        self.changed_meanwhile.clear();
        for k in self.current_lesson_keys().await? {
            let _: i64 = redis::cmd("UNLINK")
                .arg(&k)
                .query_async(&mut self.admin)
                .await?;
        }
        Ok(())
    }

    /// Whether a person reads along: `--auto` and `validate --live` do not, and lesson time
    /// then never stops.
    pub fn set_reading(&mut self, reading: bool) {
        self.reading = reading;
    }

    /// Stops lesson time. Callers do not call this before a prompt or an output themselves:
    /// `steps::Ctx::show` and `Ctx::ask`, the only ways to the learner, do.
    pub async fn freeze(&mut self) -> Result<()> {
        if self.frozen.is_empty() && self.reading {
            let keys = self.current_lesson_keys().await?;
            let fields = self.field_ttls().await?;
            self.frozen
                .hold(lesson_time::Frozen::freeze(&mut self.admin, &keys, fields).await?);
        }
        Ok(())
    }

    /// What gives lesson time back when the process is told to stop (SIGTERM, SIGHUP) while
    /// this engine's task waits at a prompt and cannot run.
    pub fn time_keeper(&self) -> lesson_time::TimeKeeper {
        lesson_time::TimeKeeper::new(self.frozen.clone(), self.admin.clone())
    }

    /// Lets lesson time run again: every frozen key gets its remaining time back, unless
    /// another client changed it meanwhile (`take_changed_meanwhile` tells which).
    pub async fn thaw(&mut self) -> Result<()> {
        if let Some(f) = self.frozen.take() {
            let changed = f.thaw(&mut self.admin).await?;
            self.changed_meanwhile.extend(changed);
        }
        Ok(())
    }

    /// Lesson keys another client changed while lesson time stood still, since the last call.
    pub fn take_changed_meanwhile(&mut self) -> Vec<lesson_time::ChangedMeanwhile> {
        std::mem::take(&mut self.changed_meanwhile)
    }

    /// Every lesson key as it is now (time frozen first, so the TTLs are the step's own).
    pub async fn snapshot(&mut self) -> Result<snapshot::Snapshot> {
        self.thaw().await?;
        let keys = self.current_lesson_keys().await?;
        let fields = self.field_ttls().await?;
        snapshot::Snapshot::take(&mut self.admin, &keys, false, fields).await
    }

    /// Puts the lesson's keys back as `s` saw them.
    pub async fn restore(&mut self, s: &snapshot::Snapshot) -> Result<()> {
        self.thaw().await?;
        self.changed_meanwhile.clear();
        self.close_transactions().await;
        let now = self.current_lesson_keys().await?;
        s.restore_all(&mut self.admin, &self.namespace, &now).await
    }

    /// Closes what the learner left open on the lesson's connections: a transaction (MULTI
    /// without EXEC) would queue every later command, the next step's and the solution's
    /// included, and a WATCH would doom a later EXEC. Called when a step is left in any way and
    /// when keys are put back. A connection with nothing open answers an error, ignored.
    pub async fn close_transactions(&mut self) {
        for conn in self.conns.values_mut() {
            for word in ["DISCARD", "UNWATCH"] {
                let _ = send(conn, &[word.as_bytes().to_vec()]).await;
            }
        }
    }

    /// The namespace keys `lines` name (any argument after the command name), variables filled
    /// in: what a quiz or a compare may leave behind.
    pub fn keys_named(&self, lines: &[String]) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = lines
            .iter()
            .filter_map(|l| lesson_args(&self.vars, l).ok())
            .flat_map(|args| args.into_iter().skip(1).map(|a| a.bytes))
            .filter(|a| crate::namespace::is_inside(&self.namespace, a))
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Those of `keys` that exist now.
    pub async fn existing(&mut self, keys: &[Vec<u8>]) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        for k in keys {
            let n: i64 = redis::cmd("EXISTS")
                .arg(k)
                .query_async(&mut self.admin)
                .await?;
            if n == 1 {
                out.push(k.clone());
            }
        }
        Ok(out)
    }

    /// Deletes those of `keys` that did not exist before (`existed`): a quiz's or a compare's
    /// scratch keys go, the lesson's own stay.
    pub async fn remove_made(&mut self, keys: &[Vec<u8>], existed: &[Vec<u8>]) -> Result<()> {
        self.thaw().await?;
        for k in keys.iter().filter(|k| !existed.contains(k)) {
            let _: i64 = redis::cmd("UNLINK")
                .arg(k)
                .query_async(&mut self.admin)
                .await?;
        }
        Ok(())
    }

    /// Why a requirement is not met on this server (`None`: fine).
    pub async fn unmet(&mut self, req: Option<&Requires>) -> Result<Option<String>> {
        match req {
            Some(req) => requires::unmet(self.server, &mut self.admin, req).await,
            None => Ok(None),
        }
    }

    /// The newer commands and options `req` needs that this server lacks, when they are all it
    /// lacks (`requires::only_commands_missing`).
    pub async fn missing_commands(&mut self, req: &Requires) -> Result<Option<Vec<String>>> {
        requires::only_commands_missing(self.server, &mut self.admin, req).await
    }

    /// Why a step cannot run here because of where its scripts come from: on a server redislab
    /// does not own, only scripts shipped inside redislab run (`lesson::scripts`); a step with
    /// any other script is skipped, never failed.
    pub fn script_not_shipped(&self, step: &Step) -> Option<String> {
        if self.server.is_managed() {
            return None;
        }
        crate::lesson::scripts::needs_managed(step)
    }

    /// Sets a step's `let` variables and a fresh `${random}`.
    pub fn begin_step(&mut self, step: &Step) -> Result<()> {
        self.vars.new_step();
        self.typed_keys.clear();
        for (k, v) in &step.let_vars {
            let value = self.vars.expand_tracked(v)?;
            self.vars.set_value(k, value.text, value.tainted);
        }
        Ok(())
    }

    /// Expands variables in a command line.
    pub fn expand(&self, line: &str) -> Result<String> {
        self.vars.expand(line)
    }

    /// Runs one lesson line (variables filled in per argument) on a named connection through
    /// the fence; saves the reply if asked.
    pub async fn run_line(
        &mut self,
        line: &str,
        connection: Option<&str>,
        save_as: Option<&str>,
    ) -> Result<Executed> {
        let args = lesson_args(&self.vars, line)?;
        self.run_args(&args, Origin::Lesson, connection, save_as)
            .await
    }

    /// Runs a line the learner typed, through the same fence. `Err(InvalidArguments)` shows as
    /// a refusal.
    pub async fn run_typed(&mut self, line: &str, connection: Option<&str>) -> Result<Executed> {
        let Ok(args) = typed_args(line) else {
            return Ok(Executed {
                line: line.to_string(),
                connection: connection.map(str::to_string),
                reply: Value::Nil,
                refused: Some("Invalid argument(s)".into()),
                client_note: None,
                trip: None,
            });
        };
        if args.is_empty() {
            return Ok(Executed {
                line: String::new(),
                connection: None,
                reply: Value::Nil,
                refused: Some("type a command".into()),
                client_note: None,
                trip: None,
            });
        }
        self.run_args(&args, Origin::Learner, connection, None)
            .await
    }

    /// Sends arguments already split (and filled in) through the fence, on a named connection.
    pub async fn send_args(
        &mut self,
        args: &[Arg],
        origin: Origin,
        connection: Option<&str>,
    ) -> Result<Executed> {
        self.run_args(args, origin, connection, None).await
    }

    async fn run_args(
        &mut self,
        args: &[Arg],
        origin: Origin,
        connection: Option<&str>,
        save_as: Option<&str>,
    ) -> Result<Executed> {
        self.thaw().await?;
        if let Some(died) = self.client_dies(args, origin, connection).await? {
            return Ok(died);
        }
        let display = self.server.display.clone();
        // On the managed server the learner's ACL user may not touch server settings; a lesson's
        // own server-wide command (CONFIG GET to show a setting) goes on the engine's connection,
        // after the same fence, and its reply never shows a password.
        let raw: Vec<Vec<u8>> = args.iter().map(|a| a.bytes.clone()).collect();
        let engine_side = (origin == Origin::Lesson
            && crate::redis::classes::of_static(&raw) == crate::redis::classes::Class::ServerWide)
            || (self.server.is_managed() && crate::redis::classes::walks_keyspace(&raw));
        let mut executed = if engine_side {
            let mut admin = self.admin.clone();
            send_fenced(&mut admin, args, origin, connection, &display).await?
        } else {
            let conn = self.conn(connection).await?;
            send_fenced(conn, args, origin, connection, &display).await?
        };
        executed.reply = crate::redis::render::hide_secrets(&raw, executed.reply);
        if origin == Origin::Learner && executed.refused.is_none() {
            // Its keys, as the fence reads them: from COMMAND INFO, cached per command name (a
            // command whose keys move with its arguments asks COMMAND GETKEYS once more).
            if let Ok(Some(keys)) = self.server.fence().keys_of(&raw).await {
                for k in keys {
                    if crate::namespace::is_inside(&self.namespace, &k)
                        && !self.typed_keys.contains(&k)
                    {
                        self.typed_keys.push(k);
                    }
                }
            }
        }
        if let Some(name) = save_as {
            self.vars.set(name, checks::reply_text(&executed.reply));
        }
        Ok(executed)
    }

    /// Runs command specs in order (variables expanded just before each runs).
    pub async fn run_commands(&mut self, specs: &[CommandSpec]) -> Result<Vec<Executed>> {
        let mut out = Vec::with_capacity(specs.len());
        for s in specs {
            out.push(self.run_line(s.line(), s.connection(), s.save_as()).await?);
        }
        Ok(out)
    }

    /// Runs plain lines quietly (setup).
    pub async fn run_quiet(&mut self, lines: &[CommandSpec]) -> Result<()> {
        self.run_commands(lines).await.map(|_| ())
    }

    pub async fn check(
        &mut self,
        checks: &[Check],
        replies: &[Value],
        metrics: &BTreeMap<String, f64>,
    ) -> Result<Vec<CheckResult>> {
        self.thaw().await?;
        checks::evaluate(&mut self.admin, checks, replies, metrics, &self.vars).await
    }

    /// The key table after a step: the step's own keys (`show_keys`, and the keys the learner's
    /// commands named in it) first and marked, then the rest of the lesson's keys, so the table's scope never changes from step to step. At most
    /// `KEY_TABLE_ROWS` rows; how many more there are is counted.
    pub async fn key_table(&mut self, lesson: &Lesson, step: Option<&Step>) -> Result<KeyTable> {
        self.thaw().await?;
        let mut own = match step.and_then(|s| s.show_keys.as_ref()) {
            Some(p) => self.keys_of(p).await?,
            None => Vec::new(),
        };
        for k in &self.typed_keys {
            if !own.contains(k) {
                own.push(k.clone());
            }
        }
        let mut rest = self.keys_of(&lesson.keys).await?;
        rest.retain(|k| !own.contains(k));
        let marked = own.len();
        let mut keys = own;
        keys.extend(rest);
        let more = keys.len().saturating_sub(KEY_TABLE_ROWS.max(marked));
        keys.truncate(KEY_TABLE_ROWS.max(marked));
        let exact: Vec<Vec<u8>> = step
            .and_then(|s| s.show_keys.as_ref())
            .into_iter()
            .flatten()
            .filter_map(|p| self.expand(p).ok())
            .filter(|p| !p.contains(['*', '?', '[']))
            .map(String::into_bytes)
            .collect();
        let infos = inspect::describe(&mut self.admin, &keys).await?;
        // A key a pattern found that vanished meanwhile is dropped; a named key stays as "none".
        let mut rows = Vec::new();
        let mut marked_rows = 0;
        for (i, info) in infos.into_iter().enumerate() {
            if info.exists() || exact.contains(&info.key.clone().into_bytes()) {
                if i < marked {
                    marked_rows += 1;
                }
                rows.push(info);
            }
        }
        Ok(KeyTable {
            rows,
            marked: marked_rows,
            more,
        })
    }

    /// The keys (patterns expanded and scanned, exact names kept) in first-seen order.
    async fn keys_of(&mut self, patterns: &[String]) -> Result<Vec<Vec<u8>>> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for p in patterns {
            let p = self.expand(p)?;
            if p.contains(['*', '?', '[']) {
                let (mut found, _) = inspect::scan_keys(&mut self.admin, &p, 200).await?;
                found.sort();
                keys.extend(found);
            } else {
                keys.push(p.into_bytes());
            }
        }
        let mut seen = std::collections::HashSet::new();
        keys.retain(|k| seen.insert(k.clone()));
        Ok(keys)
    }

    /// Fast-forwards time for keys: shortens each remaining TTL by `seconds` (PEXPIRE), which
    /// deletes keys whose TTL runs out, and the TTLs of their hash fields likewise (a field
    /// whose TTL runs out is deleted). Returns how many keys and how many fields expired.
    pub async fn fast_forward(
        &mut self,
        lesson: &Lesson,
        keys: Option<&Vec<String>>,
        seconds: u64,
    ) -> Result<(u64, u64)> {
        self.thaw().await?;
        let patterns = keys.cloned().unwrap_or_else(|| lesson.keys.clone());
        let fields = self.field_ttls().await?;
        let (mut expired, mut fields_expired) = (0, 0);
        for p in patterns {
            let p = self.expand(&p)?;
            let targets = if p.contains('*') {
                inspect::scan_keys(&mut self.admin, &p, 10_000).await?.0
            } else {
                vec![p.into_bytes()]
            };
            for k in targets {
                if !crate::namespace::is_inside(&self.namespace, &k) {
                    continue;
                }
                if fields {
                    fields_expired +=
                        field_ttl::shorten(&mut self.admin, &k, (seconds as i64) * 1000).await?;
                }
                let pttl: i64 = redis::cmd("PTTL")
                    .arg(&k)
                    .query_async(&mut self.admin)
                    .await?;
                if pttl < 0 {
                    continue;
                }
                let left = pttl - (seconds as i64) * 1000;
                // A TTL in the past deletes the key, as its real expiry would.
                let _: i64 = redis::cmd("PEXPIRE")
                    .arg(&k)
                    .arg(left.max(0))
                    .query_async(&mut self.admin)
                    .await?;
                if left <= 0 {
                    expired += 1;
                }
            }
        }
        Ok((expired, fields_expired))
    }
}
