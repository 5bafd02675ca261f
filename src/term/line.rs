//! The one line editor. Every `redis>` prompt — a lesson's typed command, an exercise, the
//! sandbox — reads through it, so each has the same editing (readline keys, Ctrl-R search) and
//! one history for the whole run: a command typed in one step comes back with Up in the next.
//! Esc is a key of its own here (a lesson asks whether to leave), not the start of a sequence.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::{Context, Result};
use colored::Colorize;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{
    Cmd, ConditionalEventHandler, Config, Editor, Event, EventContext, EventHandler, KeyEvent,
    RepeatCount,
};

/// What a prompt read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Line(String),
    /// Esc, on its own; `empty`: nothing was typed on the line.
    Esc {
        empty: bool,
    },
    /// Ctrl-C.
    Interrupted,
    /// Ctrl-D on an empty line, or the end of input.
    Eof,
}

/// How long a lone Esc waits for the rest of a key sequence (arrow keys send Esc + more).
const ESC_WAIT_MS: u16 = 50;

/// Shows the command a prompt runs on a bare Enter, dimmed, while the line is empty.
#[derive(Default)]
struct Suggestion(Option<String>);

impl Completer for Suggestion {
    type Candidate = String;
}
impl Validator for Suggestion {}
impl Highlighter for Suggestion {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(hint.dimmed().to_string())
    }
}
impl Hinter for Suggestion {
    type Hint = String;
    fn hint(&self, line: &str, _pos: usize, _ctx: &rustyline::Context<'_>) -> Option<String> {
        line.is_empty().then(|| self.0.clone()).flatten()
    }
}
impl rustyline::Helper for Suggestion {}

/// Esc ends the read (as Ctrl-C does) and leaves a mark saying it was Esc, and whether the
/// line was empty.
struct EscEnds(Arc<AtomicU8>);

const NO_ESC: u8 = 0;
const ESC_EMPTY: u8 = 1;
const ESC_TYPED: u8 = 2;

impl ConditionalEventHandler for EscEnds {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        let mark = if ctx.line().is_empty() {
            ESC_EMPTY
        } else {
            ESC_TYPED
        };
        self.0.store(mark, Ordering::Relaxed);
        Some(Cmd::Interrupt)
    }
}

struct LineEditor {
    editor: Editor<Suggestion, DefaultHistory>,
    esc: Arc<AtomicU8>,
}

fn editor() -> Result<&'static Mutex<LineEditor>> {
    static EDITOR: OnceLock<Mutex<LineEditor>> = OnceLock::new();
    if let Some(e) = EDITOR.get() {
        return Ok(e);
    }
    let config = Config::builder()
        .keyseq_timeout(Some(ESC_WAIT_MS))
        // Every prompt starts on a line of its own. Asking the terminal where the cursor is
        // would eat a key typed ahead while the previous command ran.
        .check_cursor_position(false)
        .max_history_size(1000)
        .context("could not configure the line editor")?
        .build();
    let mut editor = Editor::with_config(config).context("could not start the line editor")?;
    let esc = Arc::new(AtomicU8::new(NO_ESC));
    editor.bind_sequence(
        KeyEvent::new('\x1b', rustyline::Modifiers::NONE),
        EventHandler::Conditional(Box::new(EscEnds(esc.clone()))),
    );
    Ok(EDITOR.get_or_init(|| Mutex::new(LineEditor { editor, esc })))
}

/// Reads one line at `prompt`. `suggestion`: what a bare Enter runs, shown dimmed while the
/// line is empty (the line read is then empty). What ran goes into the history: the line, or
/// the suggestion a bare Enter ran.
pub fn read(prompt: &str, suggestion: Option<&str>) -> Result<Read> {
    let mut guard = editor()?
        .lock()
        .map_err(|_| anyhow::anyhow!("the line editor failed earlier in this run"))?;
    let LineEditor { editor, esc } = &mut *guard;
    editor.set_helper(Some(Suggestion(suggestion.map(str::to_string))));
    esc.store(NO_ESC, Ordering::Relaxed);
    let read = tokio::task::block_in_place(|| editor.readline(prompt));
    Ok(match read {
        Ok(line) => {
            // A bare Enter ran the suggestion: that is what Up should bring back.
            let ran = match (line.trim().is_empty(), suggestion) {
                (false, _) => Some(line.as_str()),
                (true, s) => s,
            };
            if let Some(ran) = ran {
                let _ = editor.add_history_entry(ran);
            }
            Read::Line(line)
        }
        Err(ReadlineError::Interrupted) => match esc.swap(NO_ESC, Ordering::Relaxed) {
            ESC_EMPTY => Read::Esc { empty: true },
            ESC_TYPED => Read::Esc { empty: false },
            _ => Read::Interrupted,
        },
        Err(ReadlineError::Eof) => Read::Eof,
        Err(e) => return Err(e).context("could not read from the terminal"),
    })
}

/// Erases the prompt line just left empty (Esc on an empty line), so what follows takes its
/// place instead of stacking bare prompts.
pub fn forget_empty_prompt() {
    if super::stdout_is_terminal() {
        super::out("\x1b[1A\x1b[2K");
    }
}
