//! `redislab lesson ID`: walks a lesson interactively, or with `--auto` without prompts.

use anyhow::Result;

use crate::cli::LessonArgs;
use crate::error::{Exit, code};
use crate::grading::parse_answers;
use crate::lesson::loader;
use crate::lesson::model::Lesson;
use crate::runner::Engine;
use crate::runner::walk::{Options, Prompter, Summary, Walker};
use crate::settings::Settings;
use crate::store::{LessonProgress, Store};
use crate::term;
use crate::term::prompt::{Inquire, NoPrompts};
use crate::term::view::TermView;

pub async fn run(settings: &Settings, args: LessonArgs) -> Result<u8> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let loaded = loader::find(&lessons, &args.id)?;
    let lesson = &loaded.lesson;
    if args.summary {
        term::out(&term::catalog::recap(lesson, usize::from(term::width())));
        return Ok(0);
    }
    if args.info {
        let part = crate::lesson::course::part_of(lesson);
        let minutes = crate::lesson::course::minutes(lesson);
        term::out(&term::catalog::info(
            lesson,
            part,
            minutes,
            usize::from(term::width()),
        ));
        return Ok(0);
    }
    let answers = check_args(lesson, &args)?;
    let mut store = Store::open(&settings.home)?;
    let server = super::connect(settings).await?;
    let mut engine = Engine::new(&server, &settings.namespace).await?;
    engine.explain = args.explain;
    let engine_time_keeper = engine.time_keeper();

    let saved = store.get(&lesson.id)?;
    let mut interactive = Inquire;
    let mut none = NoPrompts;
    let prompter: &mut dyn Prompter = if args.auto {
        &mut none
    } else {
        &mut interactive
    };
    let Some(from) = resume_point(prompter, saved.as_ref(), lesson, &args)? else {
        return Ok(0);
    };
    let auto = args.auto;
    let quiz = !auto || answers.is_some();
    // Starting over keeps the saved place until this run gets past it.
    let keep_until = match &saved {
        Some(p) if from == 1 && p.completed_at.is_none() => p.last_step,
        _ => 0,
    };
    let mut screen = TermView::new(!auto).invoked_as(invocation(settings));
    let mut view = super::record::Recorder::new(
        &mut screen,
        Store::open(&settings.home)?,
        &lesson.id,
        clock(settings),
        true,
    );
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
    // SIGTERM or SIGHUP (a `kill`, a closed terminal) may come while a prompt blocks this task,
    // so their handler runs on a task of its own: it gives lesson time back and ends the run.
    let keeper = engine_time_keeper;
    let again = format!("{} lesson {}", invocation(settings), lesson.id);
    let on_end = tokio::spawn(async move {
        let exit_code = super::signals::end_signals().await;
        let given_back = keeper.give_back().await.is_ok();
        // A step's private servers (a demonstration's, a newer command's valkey-server) go
        // too: exiting runs no destructor.
        crate::redis::throwaway::stop_all();
        term::leave_raw_mode();
        term::out(&format!(
            "\n{}",
            term::dim(&flowed(&format!(
                "Stopped by {}.{} Progress is saved after the last finished step; resume with `{again}`.",
                if exit_code == 129 {
                    "SIGHUP"
                } else {
                    "SIGTERM"
                },
                if given_back {
                    " Lesson time given back."
                } else {
                    ""
                }
            )))
        ));
        std::process::exit(i32::from(exit_code));
    });
    // Ctrl-C outside a prompt (prompts treat it as "quit" themselves): progress up to the last
    // finished step is already saved, so stopping here loses nothing once lesson time is given
    // back.
    let walked = tokio::select! {
        s = walker.walk() => Ok(s),
        _ = tokio::signal::ctrl_c() => Err(code::INTERRUPTED),
    };
    on_end.abort();
    if let Some(e) = view.error.take() {
        term::notice(&format!("{e:#}: `stats` and `review` miss this run"));
    }
    drop(view);
    let summary = match walked {
        Ok(s) => s?,
        Err(exit_code) => {
            term::leave_raw_mode();
            // Lesson time may be stopped (TTLs removed while the learner read): give it back.
            let _ = engine.thaw().await;
            let done = store.get(&lesson.id)?.map(|p| p.last_step).unwrap_or(0);
            // A run that began past the saved place (--from-step) and finished no step yet
            // leaves the saved place where it was: say so, or "after step 8" reads like a bug
            // with step 14 on screen.
            let began = if from > done + 1 {
                format!(" (this run began at step {from}; a step is saved once it is done)")
            } else {
                String::new()
            };
            term::out(&format!(
                "\n{}",
                term::dim(&flowed(&format!(
                    "Interrupted. {}{began}; resume with `{} lesson {}`.",
                    if done == 0 {
                        "No step of this lesson is saved yet".to_string()
                    } else {
                        format!("Progress saved after step {done}")
                    },
                    invocation(settings),
                    lesson.id
                )))
            ));
            return Ok(exit_code);
        }
    };
    report(lesson, &summary, auto, &invocation(settings))
}

/// The clock the attempt log reads: the system's, or the one set for tests.
pub fn clock(settings: &Settings) -> super::record::Clock {
    let settings = settings.clone();
    Box::new(move || settings.now())
}

/// The flags that need the lesson to be checked: a terminal (or --auto), answers, the step.
fn check_args(lesson: &Lesson, args: &LessonArgs) -> Result<Option<Vec<usize>>> {
    if !args.auto && !term::stdin_is_terminal() {
        return Err(Exit::new(
            code::USAGE,
            format!("`redislab lesson {}` asks questions and needs a terminal; add --auto to run every step without prompts", lesson.id),
        )
        .into());
    }
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
    match &args.answers {
        Some(a) => Ok(Some(parse_answers(a, &lesson.quiz)?)),
        None => Ok(None),
    }
}

/// Where to start: `--from-step`, or the saved place if the learner wants it. `None`: the
/// learner left at the question.
fn resume_point(
    prompter: &mut dyn Prompter,
    saved: Option<&LessonProgress>,
    lesson: &Lesson,
    args: &LessonArgs,
) -> Result<Option<usize>> {
    if let Some(n) = args.from_step {
        return Ok(Some(n));
    }
    if args.restart || args.auto {
        return Ok(Some(1));
    }
    match resume_question(saved, lesson.steps.len()) {
        Some((q, at)) => Ok(match prompter.confirm(&q, true)? {
            None => None,
            Some(true) => Some(at),
            Some(false) => Some(1),
        }),
        None => Ok(Some(1)),
    }
}

/// The question to ask before starting, and the step a yes resumes at: the learner stopped
/// part-way (a lesson finished before and taken again counts too: its saved place is where the
/// learner left this time, as the line printed on leaving promised).
fn resume_question(saved: Option<&LessonProgress>, n: usize) -> Option<(String, usize)> {
    let p = saved?;
    if p.last_step == 0 || p.last_step >= n {
        return None;
    }
    Some((
        format!(
            "You stopped after step {} of {n}. Resume at step {}?",
            p.last_step,
            p.last_step + 1
        ),
        p.last_step + 1,
    ))
}

/// `redislab` with the flags that pick this server and namespace, so a hint printed to the
/// learner runs as written. A URL with a password is never printed: the hint says so instead.
pub fn invocation(settings: &Settings) -> String {
    let mut out = String::from("redislab");
    if settings.managed {
        out.push_str(" --managed");
        if settings.cluster {
            out.push_str(" --cluster");
        }
    }
    if let Some(url) = &settings.redis_url {
        if crate::redis::connect::redact(url) == *url {
            out.push_str(&format!(" --redis-url {url}"));
        }
    }
    if settings.namespace != crate::settings::DEFAULT_NAMESPACE {
        out.push_str(&format!(" --namespace {}", settings.namespace));
    }
    // Progress lives in the home: a resume line without it would start over elsewhere.
    let default_home = dirs::data_dir().map(|d| d.join("redislab"));
    if default_home.as_deref() != Some(settings.home.as_path()) {
        out.push_str(&format!(" --home {}", settings.home.display()));
    }
    if let Some(dir) = &settings.lessons_dir {
        out.push_str(&format!(" --lessons {}", dir.display()));
    }
    out
}

/// A closing line flowed to the terminal, never cut inside a command or a URL.
fn flowed(text: &str) -> String {
    term::text::flow(text, "", usize::from(term::width()))
}

/// What the walk's end means for the learner, and the exit code.
fn report(lesson: &Lesson, summary: &Summary, auto: bool, rl: &str) -> Result<u8> {
    if let Some(reason) = &summary.unavailable {
        term::notice(&crate::untrusted::prose(&format!(
            "Lesson {} skipped: it {reason}.",
            lesson.id
        )));
        return Ok(0);
    }
    if let Some(at) = summary.quit_at {
        let resume = if at > lesson.steps.len() {
            format!(
                "Steps done; take the quiz any time with `{rl} quiz {}`.",
                lesson.id
            )
        } else {
            format!(
                "Progress saved. Resume at step {at} with `{rl} lesson {}`.",
                lesson.id
            )
        };
        term::out(&format!("\n{}", term::dim(&flowed(&resume))));
        // Ctrl-C is an interruption (130); leaving by choice (Esc, Quit, `quit`) ends normally.
        return Ok(if term::prompt::left_with_ctrl_c() {
            code::INTERRUPTED
        } else {
            0
        });
    }
    let names: Vec<String> = summary
        .failed_steps
        .iter()
        .map(|(i, t)| format!("step {i} ({t})"))
        .collect();
    if auto && !names.is_empty() {
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
    if let Some((first, _)) = summary.failed_steps.first() {
        let again = format!(
            "Lesson {} walked to the end, but {} still failed its checks: redo it with `{rl} lesson {} --from-step {first}`.",
            lesson.id,
            names.join(", "),
            lesson.id
        );
        term::out(&format!("\n{}", term::warn(&flowed(&again))));
    } else if summary.completed {
        if !auto {
            term::out(&format!(
                "\n{}",
                term::catalog::recap(lesson, usize::from(term::width()))
            ));
        }
        let next = format!(
            "Lesson {} done. Keys are left for you to explore: `{rl} inspect`, or `{rl} reset {}`. `{rl} lesson {} --summary` prints the recap again.",
            lesson.id, lesson.id, lesson.id
        );
        term::out(&format!("\n{}", term::good(&flowed(&next))));
    }
    Ok(0)
}

#[cfg(test)]
mod resume_tests {
    use super::*;

    fn saved(last_step: usize, completed: bool) -> LessonProgress {
        LessonProgress {
            lesson_id: "18".into(),
            last_step,
            completed_at: completed.then_some(1),
            best_score: None,
            quiz_total: None,
            failed: vec![],
            skipped: vec![],
        }
    }

    #[test]
    fn a_lesson_left_part_way_asks_to_resume_even_when_finished_before() {
        let (q, at) = resume_question(Some(&saved(4, false)), 16).unwrap();
        assert_eq!(at, 5);
        assert!(q.starts_with("You stopped after step 4 of 16"), "{q}");
        let (q, at) = resume_question(Some(&saved(1, true)), 16).unwrap();
        assert_eq!(at, 2);
        assert!(q.starts_with("You stopped after step 1 of 16"), "{q}");
        assert!(resume_question(Some(&saved(16, true)), 16).is_none());
        assert!(resume_question(Some(&saved(0, false)), 16).is_none());
        assert!(resume_question(None, 16).is_none());
    }
}
