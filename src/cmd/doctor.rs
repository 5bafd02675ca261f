//! `redislab doctor`: gathers the checks (`crate::doctor`), draws them, and exits 1 when one
//! found a problem.

use anyhow::Result;

use crate::lesson::loader;
use crate::settings::Settings;
use crate::term;

pub async fn run(settings: &Settings) -> Result<u8> {
    // A lesson folder that does not load is a problem of its own, said by the loader.
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let terminal = crate::doctor::Terminal {
        stdout_tty: term::stdout_is_terminal(),
        stdin_tty: term::stdin_is_terminal(),
        width: term::terminal_width(),
        color: settings.color,
    };
    let checks = crate::doctor::run(settings, &lessons, terminal).await;
    term::out(&term::doctor::report(&checks, usize::from(term::width())));
    Ok(if crate::doctor::healthy(&checks) {
        0
    } else {
        1
    })
}
