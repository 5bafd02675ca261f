//! The one check every command of a lesson passes right before it is sent, whether the learner
//! typed it or the lesson scripted it, in a run step, a race, a quiz question or a check's
//! set-up. It adds to the namespace guard what only the engine knows: where each argument came
//! from. A lesson's script runs on a server redislab does not own only if its exact text is
//! shipped inside this binary (`lesson::scripts`); a script from a `--lessons` folder, from a
//! reply or from the learner's typing runs only on the managed server, whose ACL fences it.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::redis::conn::Conn;
use anyhow::Result;
use redis::Value;

use crate::lesson::scripts;
use crate::redis::classes::{self, Class};
use crate::redis::guard::{self, Verdict};

/// Who wrote the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The lesson file (its variables may still hold replies: see `tainted`).
    Lesson,
    /// The learner's keyboard.
    Learner,
}

/// One argument and whether any of it came from a server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub bytes: Vec<u8>,
    pub tainted: bool,
}

/// Shared by every connection of a lesson run (race workers included).
#[derive(Clone)]
pub struct Gate {
    admin: Conn,
    namespace: String,
    managed: bool,
    /// SHA1s of scripts that passed the provenance rule in this run: the only ones EVALSHA may
    /// call on a server redislab does not own.
    trusted_shas: Arc<Mutex<HashSet<String>>>,
}

const EVAL: &[&str] = &["EVAL", "EVAL_RO"];
const EVALSHA: &[&str] = &["EVALSHA", "EVALSHA_RO"];

impl Gate {
    pub fn new(admin: Conn, namespace: &str, managed: bool) -> Self {
        Gate {
            admin,
            namespace: namespace.to_string(),
            managed,
            trusted_shas: Arc::default(),
        }
    }

    /// The namespace every key must be inside.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Decides whether the command may be sent.
    pub async fn admit(&self, args: &[Arg], origin: Origin) -> Result<Verdict> {
        self.admit_from(args, origin, false).await
    }

    /// `own`: the arguments were built by redislab's code (a scenario's script is a constant of
    /// this binary, as trusted as a shipped lesson's).
    async fn admit_from(&self, args: &[Arg], origin: Origin, own: bool) -> Result<Verdict> {
        let raw: Vec<Vec<u8>> = args.iter().map(|a| a.bytes.clone()).collect();
        let name = args
            .first()
            .map(|a| String::from_utf8_lossy(&a.bytes).to_ascii_uppercase())
            .unwrap_or_default();
        let sub = args
            .get(1)
            .map(|a| String::from_utf8_lossy(&a.bytes).to_ascii_uppercase())
            .unwrap_or_default();
        let mut admin = self.admin.clone();
        let is_load = name == "SCRIPT" && sub == "LOAD";
        // A lesson's own server-wide command: reading a setting (CONFIG GET, its reply's
        // passwords hidden) anywhere; changing one only on the managed server, where the engine
        // sends it on its own connection (validate makes such a step declare `managed`).
        if origin == Origin::Lesson && classes::of_static(&raw) == Class::ServerWide {
            let reads_a_setting = name == "CONFIG" && sub == "GET";
            return Ok(if reads_a_setting || self.managed {
                Verdict::Allow
            } else {
                Verdict::Refuse(format!(
                    "{name} acts on the whole server; this step needs redislab's managed server (--managed)"
                ))
            });
        }
        if origin == Origin::Learner || self.managed {
            if origin == Origin::Learner && is_load && !self.managed {
                return Ok(Verdict::Refuse(format!(
                    "SCRIPT LOAD stores a script that can reach keys it does not declare; on this server redislab cannot fence it into {}:*, so practise it with --managed",
                    self.namespace
                )));
            }
            return Ok(guard::check(&mut admin, &raw, &self.namespace, self.managed).await?);
        }
        // A lesson's line on a server redislab does not own.
        let script_arg = if is_load { args.get(2) } else { args.get(1) };
        if EVAL.contains(&name.as_str()) || is_load {
            let Some(script) = script_arg else {
                return Ok(Verdict::Allow); // Redis answers with its own arity error.
            };
            if script.tainted || !(own || scripts::is_shipped(&script.bytes)) {
                return Ok(Verdict::Refuse(scripts::NOT_SHIPPED.into()));
            }
            self.trust(&script.bytes);
            if is_load {
                return Ok(Verdict::Allow);
            }
            // The declared keys still have to be inside the namespace: the guard checks them
            // as for a managed server (where scripts are allowed).
            return Ok(guard::check(&mut admin, &raw, &self.namespace, true).await?);
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
            return Ok(guard::check(&mut admin, &raw, &self.namespace, true).await?);
        }
        Ok(guard::check(&mut admin, &raw, &self.namespace, self.managed).await?)
    }

    /// Makes a script's SHA callable by `EVALSHA`: it passed the provenance rule.
    fn trust(&self, script: &[u8]) {
        if let Ok(mut set) = self.trusted_shas.lock() {
            set.insert(scripts::sha1_hex(script));
        }
    }

    fn trusted(&self, sha: &str) -> bool {
        self.trusted_shas
            .lock()
            .map(|s| s.contains(sha))
            .unwrap_or(false)
    }
}

/// Arguments redislab wrote itself (a scenario's, the benchmark's): none taken from a reply.
pub fn own_args(args: &[Vec<u8>]) -> Vec<Arg> {
    args.iter()
        .map(|a| Arg {
            bytes: a.clone(),
            tainted: false,
        })
        .collect()
}

impl Gate {
    /// A command redislab built itself, for a scenario or the benchmark, checked as a lesson's
    /// line is; refused, it is an error naming the command. A subscribe verdict admits the
    /// SUBSCRIBE family: that is what such a connection is for.
    pub async fn admit_own(&self, args: &[Vec<u8>]) -> Result<()> {
        let line = crate::redis::tokenize::display_args(args);
        match self
            .admit_from(&own_args(args), Origin::Lesson, true)
            .await?
        {
            Verdict::Allow => Ok(()),
            Verdict::Subscribe
                if [&b"SUBSCRIBE"[..], b"PSUBSCRIBE", b"SSUBSCRIBE"]
                    .contains(&args[0].to_ascii_uppercase().as_slice()) =>
            {
                Ok(())
            }
            Verdict::Subscribe => anyhow::bail!("{line}: not sent on this connection"),
            Verdict::Refuse(why) => anyhow::bail!("{line}: {why}"),
        }
    }

    /// `admit_own` for commands built with the redis crate, each in turn, before any is sent.
    pub async fn admit_cmds<'c>(
        &self,
        cmds: impl IntoIterator<Item = &'c redis::Cmd>,
    ) -> Result<()> {
        for cmd in cmds {
            let args: Vec<Vec<u8>> = cmd
                .args_iter()
                .map(|a| match a {
                    redis::Arg::Simple(b) => b.to_vec(),
                    // A cursor the crate fills in (SCAN): no key, no channel.
                    _ => b"0".to_vec(),
                })
                .collect();
            self.admit_own(&args).await?;
        }
        Ok(())
    }
}

/// A connection whose every command passes `gate` first, for code that talks to one node
/// directly with the redis crate's own calls (`query_async`). A refused command is an error
/// the caller sees like any other; nothing is sent.
#[derive(Clone)]
pub struct Gated<C> {
    pub gate: Gate,
    pub conn: C,
}

impl<C: redis::aio::ConnectionLike + Send> redis::aio::ConnectionLike for Gated<C> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, Value> {
        Box::pin(async move {
            self.gate.admit_cmds([cmd]).await.map_err(refused)?;
            self.conn.req_packed_command(cmd).await
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            self.gate
                .admit_cmds(pipeline.cmd_iter())
                .await
                .map_err(refused)?;
            self.conn.req_packed_commands(pipeline, offset, count).await
        })
    }

    fn get_db(&self) -> i64 {
        self.conn.get_db()
    }
}

fn refused(e: anyhow::Error) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::Client,
        "refused by redislab's gate",
        format!("{e:#}"),
    ))
}
