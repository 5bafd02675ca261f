//! At most one screen between two prompts. The lesson view counts the lines it prints since the
//! last prompt; before a block would push the start of that output off the screen, it pauses
//! with "Enter for more". Prompts reset the count. Only when a person is at a terminal: piped
//! output and `--auto` never pause.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

static SHOWN: AtomicUsize = AtomicUsize::new(0);
/// Ctrl-C at "Enter for more": the next prompt answers "quit" (progress is saved there).
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Esc at "Enter for more", then "Leave the lesson": the next prompt answers "quit".
static LEFT: AtomicBool = AtomicBool::new(false);

/// Whether the learner pressed Ctrl-C at a pause since the last call.
pub fn take_interrupt() -> bool {
    INTERRUPTED.swap(false, Ordering::Relaxed)
}

/// Whether the learner chose to leave at a pause (Esc, then "Leave") since the last call.
pub fn take_left() -> bool {
    LEFT.swap(false, Ordering::Relaxed)
}

/// A prompt is being shown: the screen now starts here.
pub fn prompted() {
    SHOWN.store(0, Ordering::Relaxed);
}

/// The terminal's rows, when both ends are a terminal.
fn rows() -> Option<usize> {
    if !super::stdout_is_terminal() || !super::stdin_is_terminal() {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(rows, _)| usize::from(rows))
}

/// Where the pager pauses: a screen of `rows` rows that has shown `shown` lines since the last
/// prompt. The same rule serves the terminal and the tests that read at every pause.
#[derive(Debug, Clone, Copy)]
pub struct Screen {
    pub rows: usize,
    pub shown: usize,
}

impl Screen {
    pub fn new(rows: usize) -> Screen {
        Screen { rows, shown: 0 }
    }

    /// Lines a pause leaves room for: the prompt and the pause line need theirs.
    fn room(&self) -> usize {
        self.rows.saturating_sub(2).max(5)
    }

    /// Splits `text` into the chunks printed between pauses (one pause before each chunk
    /// after the first), counting the lines shown.
    pub fn chunks<'t>(&mut self, text: &'t str) -> Vec<&'t str> {
        let mut out = Vec::new();
        let mut start = 0;
        let mut at = 0;
        for line in text.split_inclusive('\n') {
            if self.shown + 1 > self.room() {
                out.push(&text[start..at]);
                start = at;
                self.shown = 0;
            }
            at += line.len();
            self.shown += 1;
        }
        out.push(&text[start..]);
        out
    }
}

/// Prints `text`, pausing first whenever the screen would scroll past what it showed since the
/// last prompt. `leave`: what Esc at a pause asks ("leave the lesson?"); `true` stops here.
pub fn print(text: &str, paging: bool, leave: &dyn Fn() -> bool) {
    let Some(rows) = rows().filter(|_| paging) else {
        super::out(text);
        return;
    };
    let mut screen = Screen {
        rows,
        shown: SHOWN.load(Ordering::Relaxed),
    };
    for (i, chunk) in screen.chunks(text).into_iter().enumerate() {
        let stopped = || INTERRUPTED.load(Ordering::Relaxed) || LEFT.load(Ordering::Relaxed);
        if i > 0 && !stopped() && wait_for_more() == Pressed::Esc {
            // Esc means "let me out" everywhere in a lesson: ask, as every prompt does.
            if leave() {
                LEFT.store(true, Ordering::Relaxed);
            }
        }
        if stopped() {
            break;
        }
        super::out(chunk);
    }
    SHOWN.store(screen.shown, Ordering::Relaxed);
}

#[derive(Debug, PartialEq, Eq)]
enum Pressed {
    /// Any key but Esc: show the next page.
    More,
    Esc,
}

/// "Enter for more", until a key is pressed. Ctrl-C is left to the caller's handler.
fn wait_for_more() -> Pressed {
    use colored::Colorize;
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    super::out(&format!("{}", "── Enter for more ──".dimmed()));
    if crossterm::terminal::enable_raw_mode().is_err() {
        super::out("\n");
        return Pressed::More;
    }
    let mut pressed = Pressed::More;
    loop {
        match event::poll(Duration::from_millis(200)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => break,
        }
        if let Ok(Event::Key(k)) = event::read() {
            if k.kind != KeyEventKind::Press {
                continue;
            }
            if k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL) {
                INTERRUPTED.store(true, Ordering::Relaxed);
            }
            if k.code == KeyCode::Esc {
                pressed = Pressed::Esc;
            }
            break;
        }
    }
    let _ = crossterm::terminal::disable_raw_mode();
    super::out("\r\x1b[2K");
    pressed
}
