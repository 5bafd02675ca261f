//! The lesson's named connections (`connection: buyer-b`): each client opens on first use, as
//! the learner's fenced user, and a lesson can make one die the way an app server does.

use anyhow::{Context, Result};
use redis::Value;

use super::{Engine, Executed};
use crate::redis::connect::command_error;
use crate::redis::fence::Fenced;
use crate::redis::fence::{Arg, Origin};

impl Engine<'_> {
    /// The named connection (`main` when none is named), opened on first use.
    pub(super) async fn conn(&mut self, name: Option<&str>) -> Result<&mut Fenced> {
        let name = name.unwrap_or("main").to_string();
        if !self.conns.contains_key(&name) {
            let c = self.server.learner_connection().await?;
            self.conns.insert(name.clone(), c);
        }
        self.conns.get_mut(&name).context("connection vanished")
    }

    /// Whether the named connection (`None`: the main one) is inside a MULTI the server
    /// accepted: the connection's own state, the same the sandbox reads.
    pub fn in_transaction(&self, name: Option<&str>) -> bool {
        self.conns
            .get(name.unwrap_or("main"))
            .is_some_and(Fenced::in_transaction)
    }

    /// Closes the named connection (the next command opens a new one): a command still waiting
    /// on it, such as a blocking pop, is abandoned and Redis forgets it.
    pub(crate) fn close_connection(&mut self, name: &str) {
        self.conns.remove(name);
    }

    /// A lesson's `QUIT` on a named connection: that client dies, as an app server that crashes
    /// (its connection closed, a transaction it left open thrown away by Redis). The next command
    /// on that name opens a new connection. On a cluster a transaction is queued on this side
    /// until EXEC, so closing the connection is the whole of it.
    pub(super) async fn client_dies(
        &mut self,
        args: &[Arg],
        origin: Origin,
        connection: Option<&str>,
    ) -> Result<Option<Executed>> {
        let quits = args.len() == 1 && args[0].bytes.eq_ignore_ascii_case(b"QUIT");
        let Some(name) = connection.filter(|n| *n != "main" && quits && origin == Origin::Lesson)
        else {
            return Ok(None);
        };
        let sent = match self.conns.remove(name) {
            Some(mut conn) => conn
                .quit()
                .await
                .map_err(|e| command_error(e, &self.server.display))?,
            None => None,
        };
        let client_note = sent.is_none().then(|| {
            "(no server answered: redislab closed this client's connections itself; a cluster client has no one connection to send QUIT on)".to_string()
        });
        Ok(Some(Executed {
            line: "QUIT".into(),
            connection: Some(name.to_string()),
            reply: sent.unwrap_or(Value::Nil),
            refused: None,
            client_note,
            trip: None,
        }))
    }
}
