//! `redislab sandbox`: free practice at a redis-cli-like prompt. Every command goes through the
//! fence as the learner's (`redis::fence`, the same rules as a lesson's typed step); the learner's commands run on their own connection (so MULTI or a blocking
//! pop never disturbs the key table's connection), and SUBSCRIBE gets a dedicated subscriber.

use std::io::BufRead;

use crate::redis::fence::{Fenced, Origin, Outcome, Verdict};
use anyhow::{Context, Result};
use futures_util::StreamExt;

use crate::cli::SandboxArgs;
use crate::inspect::snapshot;
use crate::namespace;
use crate::redis::classes::walks_keyspace;
use crate::redis::cluster;
use crate::redis::command::{send, split_repeat};
use crate::redis::connect::{Rights, Server, command_error};
use crate::redis::render::{printable_str, render, render_for};
use crate::redis::tokenize::{InvalidArguments, tokenize};
use crate::settings::Settings;
use crate::term;

const TABLE_LIMIT: usize = 50;

struct Session<'a> {
    settings: &'a Settings,
    server: &'a Server,
    /// The learner's connection (ACL-fenced on the managed server, no response timeout).
    learner: Fenced,
    /// Full-rights connection for the key table (and SCAN on the managed server).
    admin: Fenced,
    show_table: bool,
    /// The words of the commands queued in the open transaction: EXEC runs them, so the table
    /// after EXEC shows the keys they named.
    queued: Vec<Vec<u8>>,
    /// Print the tape (what each command cost on the wire) after each reply.
    tape: bool,
    interactive: bool,
}

pub async fn run(settings: &Settings, args: SandboxArgs) -> Result<u8> {
    let server = super::connect(settings).await?;
    let learner = server.learner_connection().await?;
    let interactive = term::stdin_is_terminal();
    let mut s = Session {
        settings,
        server: &server,
        learner,
        admin: server.admin(),
        show_table: interactive || args.inspect,
        queued: Vec::new(),
        tape: if interactive {
            !args.no_tape
        } else {
            args.tape
        },
        interactive,
    };
    if interactive {
        s.repl().await
    } else {
        s.batch().await
    }
}

impl Session<'_> {
    fn prompt(&self) -> String {
        format!(
            "{}{}> ",
            self.server.display,
            if self.learner.in_transaction() {
                "(TX)"
            } else {
                ""
            }
        )
    }

    async fn repl(&mut self) -> Result<u8> {
        term::out(&format!(
            "{}\n",
            term::dim(&format!(
                "Sandbox: keys live under {}* · `help` for help · `quit` or Ctrl-D to leave",
                self.settings.prefix()
            ))
        ));
        loop {
            let line = match term::line::read(&self.prompt(), None)? {
                term::line::Read::Line(l) => l,
                // Esc clears the line, as it does nothing else here (an empty one goes).
                term::line::Read::Esc { empty } => {
                    if empty {
                        term::line::forget_empty_prompt();
                    }
                    continue;
                }
                term::line::Read::Interrupted | term::line::Read::Eof => return Ok(0),
            };
            if !self.handle(&line).await? {
                return Ok(0);
            }
        }
    }

    async fn batch(&mut self) -> Result<u8> {
        let stdin = std::io::stdin();
        let mut lines = stdin.lock().lines();
        loop {
            let next = tokio::task::block_in_place(|| lines.next());
            let Some(line) = next else {
                return Ok(0);
            };
            let line = line.context("could not read standard input")?;
            if !self.handle(&line).await? {
                return Ok(0);
            }
        }
    }

    /// Runs one line. `Ok(false)` ends the session.
    async fn handle(&mut self, line: &str) -> Result<bool> {
        let args = match tokenize(line) {
            Ok(a) => a,
            Err(InvalidArguments) => {
                term::out(&format!("{InvalidArguments}\n"));
                return Ok(true);
            }
        };
        let Some(first) = args.first() else {
            return Ok(true);
        };
        let word = String::from_utf8_lossy(first).to_ascii_lowercase();
        match word.as_str() {
            "quit" | "exit" if args.len() == 1 => return Ok(false),
            "help" | "?" => {
                self.help(&args[1..]).await;
                return Ok(true);
            }
            "clear" if args.len() == 1 => {
                term::out("\x1b[2J\x1b[H");
                return Ok(true);
            }
            _ => {}
        }
        let (times, args) = match split_repeat(args) {
            Ok(x) => x,
            Err(msg) => {
                term::out(&format!("{msg}\n"));
                return Ok(true);
            }
        };
        let verdict = self
            .learner
            .fence()
            .admit(&crate::redis::fence::typed(&args), Origin::Learner)
            .await
            .map_err(|e| command_error(e, &self.server.display))?;
        match verdict {
            Verdict::Refuse(why) => {
                term::notice(&format!("(refused) {why}"));
                if self.learner.in_transaction() {
                    // Redis aborts a transaction when a command is rejected while queueing;
                    // do the same rather than let EXEC run the rest.
                    let discard = send(&mut self.learner, &[b"DISCARD".to_vec()]).await;
                    discard.map_err(|e| command_error(e, &self.server.display))?;
                    term::notice(
                        "(the transaction was discarded, as Redis does when a queued command is rejected)",
                    );
                }
                return Ok(true);
            }
            Verdict::Subscribe => {
                self.subscribe(&args).await?;
                return Ok(true);
            }
            Verdict::Allow => {}
        }
        let was_in_transaction = self.learner.in_transaction();
        for _ in 0..times {
            if !self.send_one(&args).await? {
                break;
            }
        }
        let word = args
            .first()
            .map(|w| String::from_utf8_lossy(w).to_ascii_uppercase())
            .unwrap_or_default();
        let now_in_transaction = self.learner.in_transaction();
        // What the table names: the command's own words, or at EXEC those of the commands it ran.
        let named = match (was_in_transaction, now_in_transaction) {
            (true, true) => {
                self.queued.extend(args.iter().skip(1).cloned());
                if self.show_table {
                    term::out(&format!(
                        "{}\n",
                        term::dim(
                            "(queued: it runs at EXEC, and the table after EXEC shows its keys)"
                        )
                    ));
                }
                return Ok(true);
            }
            (true, false) if word == "EXEC" => std::mem::take(&mut self.queued),
            (true, false) => {
                self.queued.clear();
                args.iter().skip(1).cloned().collect()
            }
            _ => args.iter().skip(1).cloned().collect(),
        };
        if self.show_table {
            self.table(&named).await?;
        }
        Ok(true)
    }

    /// Sends a command; Ctrl-C abandons a blocking one and opens a fresh connection.
    async fn send_one(&mut self, args: &[Vec<u8>]) -> Result<bool> {
        // The learner's ACL user may not SCAN (see `classes::walks_keyspace`); the guard has
        // held its MATCH inside the namespace.
        let conn =
            if self.server.is_managed() && walks_keyspace(args) && !self.learner.in_transaction() {
                &mut self.admin
            } else {
                &mut self.learner
            };
        let typed = crate::redis::fence::typed(args);
        let reply = tokio::select! {
            r = conn.run_taped(&typed, Origin::Learner) => r,
            _ = tokio::signal::ctrl_c() => {
                term::notice("(interrupted: the command was abandoned and the connection reopened)");
                self.learner = self.server.learner_connection().await?;
                return Ok(false);
            }
        };
        let (outcome, trip) = reply.map_err(|e| command_error(e, &self.server.display))?;
        let reply = match outcome {
            Outcome::Reply(v) => v,
            // Checked a moment ago: the fence says the same again.
            Outcome::Refused(why) => {
                term::notice(&format!("(refused) {why}"));
                return Ok(false);
            }
            Outcome::Subscribe => return Ok(false),
        };
        let mut hint = None;
        if let redis::Value::ServerError(e) = &reply {
            if e.code() == "CROSSSLOT" {
                let p = self.settings.prefix();
                hint = Some(format!(
                    "(keys used together must share a hash slot: give them one hash tag, the part in braces that alone is hashed, as in {p}{{user:42}}:cart and {p}{{user:42}}:profile)"
                ));
            }
        }
        if self.learner.is_cluster() && !self.learner.in_transaction() && hint.is_none() {
            hint = crate::redis::cluster::split_note(args);
        }
        term::out(&render_for(
            args,
            &crate::redis::render::hide_secrets(args, reply),
        ));
        if let Some(h) = hint {
            term::notice(&h);
        }
        if let (true, Some(t)) = (self.tape, trip) {
            if self.interactive {
                term::out(&term::tape::line(&t));
            } else {
                term::tape::to_stderr(&t);
            }
        }
        Ok(true)
    }

    /// The keys the command named, as they are now, and how many others the namespace holds:
    /// the whole namespace after every command would push the reply off the screen.
    async fn table(&mut self, named: &[Vec<u8>]) -> Result<()> {
        let pattern = namespace::all_keys(&self.settings.namespace);
        let snap = snapshot(&mut self.admin, &pattern, TABLE_LIMIT).await?;
        let prefix = self.settings.prefix();
        if snap.keys.is_empty() {
            term::out(&format!(
                "{}\n",
                term::dim(&format!("(no keys under {prefix})"))
            ));
            return Ok(());
        }
        let (touched, rest): (Vec<_>, Vec<_>) = snap
            .keys
            .into_iter()
            .partition(|k| named.iter().any(|a| a.as_slice() == k.key.as_bytes()));
        if !touched.is_empty() {
            term::out(&format!("{}\n", term::table::keys(&touched)));
        }
        if !rest.is_empty() {
            let more = if snap.truncated { "+" } else { "" };
            let n = rest.len();
            let what = if touched.is_empty() {
                format!(
                    "({n}{more} keys under {prefix}, none named by this command; `inspect` lists them)"
                )
            } else {
                format!("(and {n}{more} other keys under {prefix}; `inspect` lists them)")
            };
            term::out(&format!("{}\n", term::dim(&what)));
        }
        Ok(())
    }

    /// SUBSCRIBE / PSUBSCRIBE / SSUBSCRIBE: messages print as redis-cli prints them until Ctrl-C;
    /// the subscriber connection is then dropped and the prompt's connection is untouched.
    async fn subscribe(&mut self, args: &[Vec<u8>]) -> Result<()> {
        let kind = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        if kind == "ssubscribe" {
            return self.ssubscribe(args).await;
        }
        let mut pubsub = self
            .server
            .pubsub(Rights::Learner, crate::redis::connect::CONNECT_TIMEOUT)
            .await
            .map_err(|e| command_error(e, &self.server.display))?;
        term::out("Reading messages... (press Ctrl-C to quit)\n");
        for (i, ch) in args[1..].iter().enumerate() {
            let r = match kind.as_str() {
                "psubscribe" => pubsub.psubscribe(ch.as_slice()).await,
                _ => pubsub.subscribe(ch.as_slice()).await,
            };
            if let Err(e) = r {
                let why = e
                    .detail()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.to_string());
                term::out(&format!("(error) {}\n", printable_str(&why)));
                return Ok(());
            }
            let confirm = redis::Value::Array(vec![
                redis::Value::BulkString(kind.clone().into_bytes()),
                redis::Value::BulkString(ch.clone()),
                redis::Value::Int(i as i64 + 1),
            ]);
            term::out(&render(&confirm));
        }
        let mut stream = pubsub.on_message();
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else {
                        term::notice("(the subscriber connection closed)");
                        return Ok(());
                    };
                    let payload = redis::Value::BulkString(msg.get_payload_bytes().to_vec());
                    let channel = redis::Value::BulkString(msg.get_channel_name().as_bytes().to_vec());
                    let value = match msg.get_pattern::<Option<Vec<u8>>>().ok().flatten() {
                        Some(p) if kind == "psubscribe" => redis::Value::Array(vec![
                            redis::Value::BulkString(b"pmessage".to_vec()),
                            redis::Value::BulkString(p), channel, payload,
                        ]),
                        _ => redis::Value::Array(vec![
                            redis::Value::BulkString(b"message".to_vec()),
                            channel, payload,
                        ]),
                    };
                    term::out(&render(&value));
                }
                _ = tokio::signal::ctrl_c() => {
                    term::out("\n");
                    return Ok(());
                }
            }
        }
    }

    /// SSUBSCRIBE: a sharded channel lives on the master that owns its slot (on one server, the
    /// server itself), so the subscriber connects there and prints what arrives, as redis-cli
    /// does, until Ctrl-C. Channels of different slots are refused by Redis (CROSSSLOT).
    async fn ssubscribe(&mut self, args: &[Vec<u8>]) -> Result<()> {
        let display = self.server.display.clone();
        let owner = match (&self.server.cluster, args.get(1)) {
            (Some(_), Some(channel)) => {
                let slots: redis::Value = redis::cmd("CLUSTER")
                    .arg("SLOTS")
                    .query_async(&mut self.admin)
                    .await
                    .map_err(|e| command_error(e, &display))?;
                let slot = cluster::key_slot(channel);
                let owner = cluster::slot_owners(slots)
                    .into_iter()
                    .find(|(lo, hi, _)| (*lo..=*hi).contains(&slot))
                    .map(|(_, _, node)| node)
                    .context("no master serves the channel's slot")?;
                Some(owner)
            }
            _ => None,
        };
        let mut conn = self
            .server
            .raw_connection(
                Rights::Learner,
                owner.as_ref(),
                crate::redis::connect::CONNECT_TIMEOUT,
                false,
            )
            .await?;
        conn.send(args)
            .await
            .map_err(|e| command_error(e, &display))?;
        term::out("Reading messages... (press Ctrl-C to quit)\n");
        loop {
            tokio::select! {
                reply = conn.next(std::time::Duration::from_secs(24 * 3600)) => match reply {
                    Ok(v @ redis::Value::ServerError(_)) => {
                        term::out(&render(&v));
                        return Ok(());
                    }
                    Ok(v) => term::out(&render(&v)),
                    Err(e) if e.is_timeout() => {}
                    Err(e) => return Err(command_error(e, &display)),
                },
                _ = tokio::signal::ctrl_c() => {
                    term::out("\n");
                    return Ok(());
                }
            }
        }
    }

    async fn help(&mut self, topic: &[Vec<u8>]) {
        if let Some(name) = topic.first() {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            match crate::redis::docs::help(&mut self.admin, &name).await {
                Ok(Some(h)) => term::out(&term::command_help(&h)),
                _ => term::out(&format!("no documentation for {name:?} on this server\n")),
            }
            return;
        }
        let prefix = self.settings.prefix();
        term::out(&format!(
            "\nType Redis commands as in redis-cli. Keys must start with {prefix} (e.g. SET {prefix}greeting hello).\n\
             After each command the table shows the namespace's keys, types and TTLs.\n\n  \
             help <command>   what a command does (from the server's own COMMAND DOCS)\n  \
             N <command>      run a command N times, as in redis-cli\n  \
             clear            clear the screen\n  \
             quit, exit       leave (or Ctrl-D)\n\n\
             SUBSCRIBE prints messages until Ctrl-C; Ctrl-C also abandons a blocking command.\n\
             Commands that act on the whole server (FLUSHALL, CONFIG SET, ...) are never run from the\n\
             sandbox: other namespaces share the server. Scripts run only on redislab's managed server\n\
             (--managed), where an ACL user keeps even scripts inside {prefix}*.\n\n"
        ));
    }
}
