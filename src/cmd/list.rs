//! `redislab list` and the lesson menu shown by `redislab` alone on a terminal.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{LessonArgs, ListArgs};
use crate::lesson::loader;
use crate::progress::Store;
use crate::settings::Settings;
use crate::term;

#[derive(Serialize)]
struct Row {
    id: String,
    slug: String,
    title: String,
    structure: String,
    use_case: String,
    steps: usize,
    done_steps: usize,
    completed: bool,
    quiz_score: Option<String>,
}

fn rows(settings: &Settings) -> Result<Vec<Row>> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let saved = Store::open(&settings.home)?.all()?;
    Ok(lessons
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
                id: l.lesson.id,
                slug: l.lesson.slug,
                title: l.lesson.title,
                structure: l.lesson.structure,
                use_case: l.lesson.use_case,
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
            serde_json::to_string_pretty(&rows).context("could not encode JSON")?
        ));
        return Ok(0);
    }
    let width = usize::from(term::width());
    if term::stdout_is_terminal() && width < WIDE {
        term::out(&compact(&rows, width));
        return Ok(0);
    }
    let mut t = term::table::new_table(vec![
        "id",
        "title",
        "structure",
        "use case",
        "steps",
        "progress",
        "quiz",
    ]);
    for r in &rows {
        t.add_row(vec![
            r.id.clone(),
            r.title.clone(),
            r.structure.clone(),
            r.use_case.clone(),
            r.steps.to_string(),
            status(r),
            r.quiz_score.clone().unwrap_or_else(|| "-".into()),
        ]);
    }
    term::out(&format!(
        "{t}\n{}\n",
        term::dim("Start one with `redislab lesson 01`.")
    ));
    Ok(0)
}

/// Below this width the table's structure and use-case columns wrap into several lines per
/// lesson (104 lines at 80 columns): one line per lesson instead, so the list fits a screen.
const WIDE: usize = 120;

/// One line per lesson: id, title (cut to fit), steps, progress and quiz.
fn compact(rows: &[Row], width: usize) -> String {
    // id, steps, progress and quiz take 4 + 7 + 15 + 6 columns.
    let title_w = width.saturating_sub(4 + 7 + 15 + 6).max(12);
    let cut = |t: &str| -> String {
        if t.chars().count() <= title_w {
            t.to_string()
        } else {
            let mut c: String = t.chars().take(title_w.saturating_sub(1)).collect();
            c.push('…');
            c
        }
    };
    let mut out = term::heading(&format!(
        "{:<4}{:<title_w$}{:>5}  {:<15}{}",
        "id", "title", "steps", "progress", "quiz"
    ));
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "{:<4}{:<title_w$}{:>5}  {:<15}{}\n",
            r.id,
            cut(&r.title),
            r.steps,
            status(r),
            r.quiz_score.clone().unwrap_or_else(|| "-".into())
        ));
    }
    let note = format!(
        "Start one with `redislab lesson 01`. Structures and use cases: a terminal {WIDE} \
         columns wide, or `redislab list --json`."
    );
    out.push_str(&term::dim(&term::text::flow(&note, "", width)));
    out
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
            format!("{mark} {} {}  ({})", r.id, r.title, r.structure)
        })
        .collect();
    let choice = tokio::task::block_in_place(|| {
        inquire::Select::new("Which lesson?", labels.clone())
            .with_page_size(12)
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
    };
    super::lesson::run(settings, args).await
}
