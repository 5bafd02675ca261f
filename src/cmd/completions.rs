//! `redislab completions SHELL`: a completion script generated from the same clap types that
//! parse the command line, so it can never list a subcommand or flag that does not exist.

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::term;

/// The script as text (the shell's own syntax, ASCII only).
pub fn script(shell: clap_complete::Shell) -> String {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "redislab", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

pub fn run(args: CompletionsArgs) -> Result<u8> {
    term::out(&script(args.shell));
    Ok(0)
}
