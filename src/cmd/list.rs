//! `redislab list` and the lesson menu shown by `redislab` alone on a terminal.

use crate::untrusted::prose;
use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{LessonArgs, ListArgs};
use crate::lesson::{course, loader};
use crate::settings::Settings;
use crate::store::Store;
use crate::term;

#[derive(Serialize)]
struct Row {
    id: String,
    slug: String,
    title: String,
    part: String,
    /// An estimate of a first pass, in minutes (`lesson::course::minutes`).
    minutes_estimate: u32,
    structure: String,
    use_case: String,
    steps: usize,
    done_steps: usize,
    completed: bool,
    quiz_score: Option<String>,
}

/// Every lesson, in the suggested order: by part, then by id.
fn rows(settings: &Settings) -> Result<Vec<Row>> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let saved = Store::open(&settings.home)?.all()?;
    Ok(course::suggested_order(&lessons, |l| &l.lesson)
        .into_iter()
        .map(|l| {
            let p = saved.iter().find(|p| p.lesson_id == l.lesson.id);
            Row {
                steps: l.lesson.steps.len(),
                done_steps: p.map(|p| p.last_step).unwrap_or(0),
                completed: p.is_some_and(|p| p.completed_at.is_some()),
                quiz_score: p
                    .and_then(|p| p.best_score.zip(p.quiz_total))
                    .map(|(s, t)| format!("{s}/{t}")),
                part: course::part_of(&l.lesson).to_string(),
                minutes_estimate: course::minutes(&l.lesson),
                id: l.lesson.id.clone(),
                slug: l.lesson.slug.clone(),
                title: l.lesson.title.clone(),
                structure: l.lesson.structure.clone(),
                use_case: l.lesson.use_case.clone(),
            }
        })
        .collect())
}

fn status(r: &Row) -> String {
    if r.completed {
        "done ✓".into()
    } else if r.done_steps > 0 {
        format!("next: step {}", r.done_steps + 1)
    } else {
        "-".into()
    }
}

pub async fn run(settings: &Settings, args: ListArgs) -> Result<u8> {
    let rows = rows(settings)?;
    if args.json {
        term::out(&format!(
            "{}\n",
            crate::untrusted::json_safe(
                &serde_json::to_string_pretty(&rows).context("could not encode JSON")?
            )
        ));
        return Ok(0);
    }
    let lines: Vec<term::catalog::Line> = rows
        .iter()
        .map(|r| term::catalog::Line {
            part: r.part.clone(),
            id: r.id.clone(),
            title: r.title.clone(),
            minutes: r.minutes_estimate,
            progress: status(r),
            quiz: r.quiz_score.clone(),
        })
        .collect();
    let width = usize::from(term::width());
    let hint = term::text::flow(
        "In the suggested order; times are estimates. `redislab lesson ID --info` says what a lesson covers; `redislab lesson ID` starts it.",
        "",
        width,
    );
    term::out(&format!(
        "{}{}",
        term::catalog::list(&lines, width),
        term::dim(&hint)
    ));
    Ok(0)
}

/// `redislab` alone: a menu of lessons on a terminal, the list otherwise.
pub async fn menu(settings: &Settings) -> Result<u8> {
    if !term::stdin_is_terminal() || !term::stdout_is_terminal() {
        return run(settings, ListArgs { json: false }).await;
    }
    let rows = rows(settings)?;
    let labels: Vec<String> = rows
        .iter()
        .map(|r| {
            let mark = if r.completed {
                "✓"
            } else if r.done_steps > 0 {
                "…"
            } else {
                " "
            };
            format!(
                "{mark} {} {}  ({})",
                prose(&r.id),
                prose(&r.title),
                prose(&r.structure)
            )
        })
        .collect();
    let choice = tokio::task::block_in_place(|| {
        inquire::Select::new("Which lesson?", labels.clone())
            .with_page_size(18)
            .with_help_message("✓ done · … started · type to filter, Enter to open, Esc to leave")
            .prompt()
    });
    let Ok(choice) = choice else {
        return Ok(0);
    };
    let Some(i) = labels.iter().position(|l| *l == choice) else {
        return Ok(0);
    };
    let args = LessonArgs {
        id: rows[i].id.clone(),
        auto: false,
        answers: None,
        from_step: None,
        restart: false,
        info: false,
        summary: false,
    };
    super::lesson::run(settings, args).await
}
