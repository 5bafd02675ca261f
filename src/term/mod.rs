//! The only place that draws: colour, tables, banners, errors. Logic elsewhere returns values;
//! this module turns them into text, so everything else is testable without a terminal.

pub mod bench;
pub mod catalog;
pub mod check;
pub mod doctor;
pub mod lesson;
pub mod line;
pub mod pager;
pub mod prompt;
pub mod review;
pub mod table;
pub mod tape;
pub mod text;
pub mod ticker;
pub mod view;

use std::io::{IsTerminal, Write};

use colored::Colorize;

/// Decides colour once for every crate that draws (each reads NO_COLOR its own way).
pub fn init(color: bool) {
    colored::control::set_override(color);
    console::set_colors_enabled(color);
    console::set_colors_enabled_stderr(color);
    if !color {
        inquire::set_global_render_config(inquire::ui::RenderConfig::empty());
    }
}

/// Leaves the terminal as a shell expects it: raw mode off, the cursor shown (a prompt may have
/// hidden it). Harmless when neither was changed.
pub fn leave_raw_mode() {
    let _ = crossterm::terminal::disable_raw_mode();
    if stdout_is_terminal() {
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
    }
}

/// A panic is a bug; still, leave the terminal usable (raw mode off) and say it in one line.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        leave_raw_mode();
        eprintln!(
            "error: internal error (please report it): {}",
            info.to_string().replace('\n', " ")
        );
    }));
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Terminal width for tables (80 when not a terminal, so output is stable).
pub fn width() -> u16 {
    if stdout_is_terminal() {
        crossterm_width().unwrap_or(100)
    } else {
        100
    }
}

/// The terminal's real width, or `None` when stdout is not a terminal.
pub fn terminal_width() -> Option<u16> {
    console::Term::stdout().size_checked().map(|(_rows, w)| w)
}

fn crossterm_width() -> Option<u16> {
    let (_rows, w) = console::Term::stdout().size_checked()?;
    Some(w.max(60))
}

/// The one dim line naming the server, on stderr so stdout stays a clean reply stream.
pub fn banner(text: &str) {
    eprintln!("{}", text.dimmed());
}

/// An error: one line on stderr.
pub fn error(message: &str) {
    // Error texts quote server replies and key names: never let them drive the terminal.
    // Line by line, so a list of problems stays a list.
    let message: Vec<_> = message
        .lines()
        .map(crate::redis::render::printable_str)
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "{} {}",
        "error:".red().bold(),
        message.join("\n")
    );
}

/// A notice on stderr (hints, refusals).
pub fn notice(message: &str) {
    let message = crate::redis::render::printable_str(message);
    if std::io::stderr().is_terminal() {
        // Flowed to the screen, never cut inside a word or a suggested command.
        notice_lines(&text::flow(&message, "", usize::from(width())));
    } else {
        let _ = writeln!(std::io::stderr(), "{}", message.yellow());
    }
}

/// A notice redislab wrote itself (a refusal of the gate, whose server-sourced parts, such as
/// key names, were escaped where it was made), already flowed into lines: each line on stderr
/// as it is, so line breaks and punctuation stay text, not escapes.
pub fn notice_lines(text: &str) {
    let mut e = std::io::stderr().lock();
    for line in text.lines() {
        let _ = writeln!(e, "{}", line.yellow());
    }
}

/// Writes to stdout; a closed pipe is not an error worth a backtrace.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

pub fn heading(text: &str) -> String {
    text.bold().to_string()
}

pub fn dim(text: &str) -> String {
    text.dimmed().to_string()
}

pub fn good(text: &str) -> String {
    text.green().to_string()
}

pub fn bad(text: &str) -> String {
    text.red().to_string()
}

pub fn warn(text: &str) -> String {
    text.yellow().to_string()
}

/// A command as a learner would type it, coloured: the command name stands out.
pub fn command(line: &str) -> String {
    let trimmed = line.trim_start();
    match trimmed.split_once(' ') {
        Some((name, rest)) => format!("{} {}", name.cyan().bold(), rest.cyan()),
        None => trimmed.cyan().bold().to_string(),
    }
}

/// A command's help as redis-cli's `help SET` shows it: the syntax line, then the facts.
pub fn command_help(h: &crate::redis::docs::CommandHelp) -> String {
    let mut out = format!("\n  {} {}\n", h.name.bold(), h.syntax.dimmed());
    for (k, v) in &h.facts {
        out.push_str(&format!("  {:<12}{v}\n", format!("{k}:").yellow()));
    }
    out
}
