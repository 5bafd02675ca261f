//! `redislab lesson ID`: walks a lesson interactively, or with `--auto` without prompts.

use anyhow::Result;

use crate::cli::LessonArgs;
use crate::error::{Exit, code};
use crate::lesson::loader;
use crate::progress::Store;
use crate::quiz::parse_answers;
use crate::runner::Engine;
use crate::runner::walk::{Options, Prompter, Walker};
use crate::settings::Settings;
use crate::term;
use crate::term::prompt::{Inquire, NoPrompts};
use crate::term::view::TermView;

pub async fn run(settings: &Settings, args: LessonArgs) -> Result<u8> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let loaded = loader::find(&lessons, &args.id)?;
    let lesson = &loaded.lesson;
    if !args.auto && !term::stdin_is_terminal() {
        return Err(Exit::new(
            code::USAGE,
            format!("`redislab lesson {}` asks questions and needs a terminal; add --auto to run every step without prompts", lesson.id),
        )
        .into());
    }
    let answers = match &args.answers {
        Some(a) => Some(parse_answers(a, &lesson.quiz)?),
        None => None,
    };
    if let Some(n) = args.from_step {
        if n == 0 || n > lesson.steps.len() {
            return Err(Exit::new(
                code::USAGE,
                format!(
                    "--from-step {n}: lesson {} has steps 1–{}",
                    lesson.id,
                    lesson.steps.len()
                ),
            )
            .into());
        }
    }
    let mut store = Store::open(&settings.home)?;
    let server = super::connect(settings).await?;
    let mut engine = Engine::new(&server, &settings.namespace).await?;

    let saved = store.get(&lesson.id)?;
    let mut from = args.from_step.unwrap_or(1);
    let mut interactive = Inquire;
    let mut none = NoPrompts;
    let prompter: &mut dyn Prompter = if args.auto {
        &mut none
    } else {
        &mut interactive
    };
    if args.from_step.is_none() && !args.restart && !args.auto {
        if let Some(p) = &saved {
            if p.completed_at.is_none() && p.last_step > 0 && p.last_step < lesson.steps.len() {
                let q = format!(
                    "You stopped after step {} of {}. Resume at step {}?",
                    p.last_step,
                    lesson.steps.len(),
                    p.last_step + 1
                );
                match prompter.confirm(&q, true)? {
                    None => return Ok(0),
                    Some(true) => from = p.last_step + 1,
                    Some(false) => {}
                }
            }
        }
    }
    let auto = args.auto;
    let quiz = !auto || answers.is_some();
    // Starting over keeps the saved place until this run gets past it.
    let keep_until = match &saved {
        Some(p) if from == 1 && p.completed_at.is_none() => p.last_step,
        _ => 0,
    };
    let mut view = TermView::new(!auto);
    let walker = Walker {
        engine: &mut engine,
        lesson,
        prompter,
        view: &mut view,
        store: Some(&mut store),
        options: Options {
            auto,
            from_step: from,
            answers,
            quiz,
            keep_until,
        },
    };
    // Ctrl-C outside a prompt (prompts treat it as "quit" themselves): progress up to the last
    // finished step is already saved, so stopping here loses nothing.
    let summary = tokio::select! {
        s = walker.walk() => s?,
        _ = tokio::signal::ctrl_c() => {
            let _ = crossterm::terminal::disable_raw_mode();
            let done = store.get(&lesson.id)?.map(|p| p.last_step).unwrap_or(0);
            term::out(&format!(
                "\n{}\n",
                term::dim(&format!("Interrupted. Progress saved after step {done}; resume with `redislab lesson {}`.", lesson.id))
            ));
            return Ok(code::INTERRUPTED);
        }
    };
    if let Some(at) = summary.quit_at {
        let resume = if at > lesson.steps.len() {
            format!(
                "Steps done; take the quiz any time with `redislab quiz {}`.",
                lesson.id
            )
        } else {
            format!(
                "Progress saved. Resume at step {at} with `redislab lesson {}`.",
                lesson.id
            )
        };
        term::out(&format!("\n{}\n", term::dim(&resume)));
        return Ok(code::INTERRUPTED);
    }
    if auto && !summary.failed_steps.is_empty() {
        let names: Vec<String> = summary
            .failed_steps
            .iter()
            .map(|(i, t)| format!("step {i} ({t})"))
            .collect();
        return Err(Exit::new(
            code::FAILURE,
            format!(
                "lesson {}: failing checks in {}",
                lesson.id,
                names.join(", ")
            ),
        )
        .into());
    }
    if !summary.stale_predictions.is_empty() {
        let list: Vec<String> = summary
            .stale_predictions
            .iter()
            .map(|(q, a)| format!("question {q} (Redis replied {a})"))
            .collect();
        term::notice(&format!(
            "lesson bug: no choice matched Redis's reply in {}",
            list.join(", ")
        ));
    }
    if summary.completed {
        let next = format!(
            "Lesson {} done. Keys are left for you to explore: `redislab inspect`, or `redislab reset {}`.",
            lesson.id, lesson.id
        );
        term::out(&format!("\n{}\n", term::good(&next)));
    }
    Ok(0)
}
