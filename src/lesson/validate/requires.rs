//! `requires` as written: command names, options as `COMMAND TOKEN`, and the `note` that tells
//! a learner on another server which servers have what the step needs. Whether this server has
//! them is decided at run time (`runner::requires`), from the server's own answers.

use super::Ctx;
use crate::lesson::model::Requires;
use crate::redis::docs::split_option;

pub(super) fn check(ctx: &mut Ctx<'_>, whose: &str, req: &Requires) {
    for c in &req.commands {
        if split_option(&format!("{c} X")).is_none() {
            ctx.err(
                c,
                format!("{whose}: `requires.commands` entry {c:?} is not a command name"),
            );
        }
    }
    for o in &req.options {
        if split_option(o).is_none() {
            ctx.err(
                o,
                format!(
                    "{whose}: `requires.options` entry {o:?} must be a command and one option token, like \"SET IFEQ\""
                ),
            );
        }
    }
    let needs_a_server = !req.commands.is_empty() || !req.options.is_empty();
    if needs_a_server && req.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        ctx.err(
            "requires:",
            format!(
                "{whose}: `requires` with commands or options needs a `note` saying which servers have them (\"Valkey 9.0 and later have DELIFEQ\"), shown when the step is skipped"
            ),
        );
    }
}
