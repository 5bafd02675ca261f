//! `redislab quiz ID [--answers ...]`: a lesson's quiz on its own.

use anyhow::Result;

use crate::cli::QuizArgs;
use crate::error::{Exit, code};
use crate::grading::parse_answers;
use crate::lesson::loader;
use crate::runner::Engine;
use crate::runner::walk::{Options, Summary, Walker};
use crate::settings::Settings;
use crate::store::Store;
use crate::term;
use crate::term::prompt::{Inquire, NoPrompts};
use crate::term::view::TermView;

pub async fn run(settings: &Settings, args: QuizArgs) -> Result<u8> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let lesson = &loader::find(&lessons, &args.id)?.lesson;
    let answers = match &args.answers {
        Some(a) => Some(parse_answers(a, &lesson.quiz)?),
        None if !term::stdin_is_terminal() => {
            return Err(Exit::new(
                code::USAGE,
                "the quiz needs a terminal, or give --answers 2,1,3,...",
            )
            .into());
        }
        None => None,
    };
    let mut store = Store::open(&settings.home)?;
    let server = super::connect(settings).await?;
    let mut engine = Engine::new(&server, &settings.namespace).await?;
    if let Some(reason) = engine.unmet(lesson.requires.as_ref()).await? {
        term::notice(&format!(
            "The quiz of lesson {} skipped: it {reason}.",
            lesson.id
        ));
        return Ok(0);
    }
    let mut inquire = Inquire;
    let mut none = NoPrompts;
    let auto = answers.is_some();
    let mut screen = TermView::new(!auto).invoked_as(super::lesson::invocation(settings));
    let mut view = super::record::Recorder::new(
        &mut screen,
        Store::open(&settings.home)?,
        &lesson.id,
        super::lesson::clock(settings),
        true,
    );
    let mut walker = Walker {
        engine: &mut engine,
        lesson,
        prompter: if auto { &mut none } else { &mut inquire },
        view: &mut view,
        store: None,
        options: Options {
            auto,
            from_step: 1,
            answers,
            quiz: true,
            keep_until: 0,
        },
    };
    let mut summary = Summary::default();
    let asked = walker.quiz(&mut summary).await;
    drop(walker);
    if let Some(e) = view.error.take() {
        term::notice(&format!("{e:#}: `stats` and `review` miss this run"));
    }
    match asked? {
        Some((score, total)) => {
            term::out(&term::lesson::score(score, total));
            store.record_quiz(&lesson.id, score, total)?;
            Ok(0)
        }
        // Ctrl-C is an interruption; Esc and "leave" end the quiz normally.
        None if term::prompt::left_with_ctrl_c() => Ok(code::INTERRUPTED),
        None => Ok(0),
    }
}
