//! `redislab list` and the lesson menu shown by `redislab` alone on a terminal.

use crate::untrusted::prose;
use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::{LessonArgs, ListArgs};
use crate::lesson::model::Lesson;
use crate::lesson::{catalogue, course, loader};
use crate::settings::Settings;
use crate::store::Store;
use crate::term;

#[derive(Serialize)]
struct Row {
    id: String,
    slug: String,
    title: String,
    part: String,
    /// The part's place in the suggested order.
    #[serde(skip)]
    rank: usize,
    /// An estimate of a first pass, in minutes (`lesson::course::minutes`).
    minutes_estimate: u32,
    structure: String,
    use_case: String,
    steps: usize,
    done_steps: usize,
    completed: bool,
    quiz_score: Option<String>,
}

/// Every lesson, in the suggested order: by part, then by id. The built-in lessons come from
/// the catalogue made at build time (no YAML parsed); a `--lessons` folder is parsed (and
/// checked) as always.
fn rows(settings: &Settings, store: &Store) -> Result<Vec<Row>> {
    let mut rows: Vec<Row> = match (&settings.lessons_dir, catalogue::built_in()) {
        (None, Some(entries)) => entries.iter().map(Row::from_entry).collect(),
        _ => loader::load_all(settings.lessons_dir.as_deref())?
            .iter()
            .map(|l| Row::from_lesson(&l.lesson))
            .collect(),
    };
    let saved = store.all()?;
    for r in &mut rows {
        if let Some(p) = saved.iter().find(|p| p.lesson_id == r.id) {
            r.done_steps = p.last_step;
            r.completed = p.completed_at.is_some();
            r.quiz_score = p
                .best_score
                .zip(p.quiz_total)
                .map(|(s, t)| format!("{s}/{t}"));
        }
    }
    rows.sort_by(|a, b| (a.rank, &a.id).cmp(&(b.rank, &b.id)));
    Ok(rows)
}

impl Row {
    fn from_entry(e: &catalogue::Entry) -> Row {
        Row {
            id: e.id.to_string(),
            slug: e.slug.to_string(),
            title: e.title.to_string(),
            part: course::part_name(e.part).to_string(),
            rank: course::rank(e.part),
            minutes_estimate: e.minutes,
            structure: e.structure.to_string(),
            use_case: e.use_case.to_string(),
            steps: e.steps,
            done_steps: 0,
            completed: false,
            quiz_score: None,
        }
    }

    fn from_lesson(l: &Lesson) -> Row {
        Row {
            id: l.id.clone(),
            slug: l.slug.clone(),
            title: l.title.clone(),
            part: course::part_of(l).to_string(),
            rank: course::rank(l.part.as_deref()),
            minutes_estimate: course::minutes(l),
            structure: l.structure.clone(),
            use_case: l.use_case.clone(),
            steps: l.steps.len(),
            done_steps: 0,
            completed: false,
            quiz_score: None,
        }
    }
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
    let store = Store::open(&settings.home)?;
    let rows = rows(settings, &store)?;
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
    // One line at 80 columns, so all 21 lessons, the header and this fit 24 rows; the `~` of
    // every time says it is an estimate.
    let due = store.due_count(settings.now())?;
    let line = if due > 0 {
        format!("{due} to review: `redislab review`. `redislab lesson ID` starts a lesson.")
    } else {
        "In the suggested order. `redislab lesson ID` starts one, `--info` describes it.".into()
    };
    let hint = term::text::flow(&line, "", width);
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
    let store = Store::open(&settings.home)?;
    let rows = rows(settings, &store)?;
    let due = store.due_count(settings.now())?;
    let review = format!("↻ {due} to review (missed questions and steps come back)");
    let mut labels: Vec<String> = rows
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
    if due > 0 {
        labels.insert(0, review.clone());
    }
    // One screen line each: the menu's marker takes two columns, and a wrapped entry would split
    // a word.
    let room = usize::from(term::width()).saturating_sub(3);
    let labels: Vec<String> = labels.iter().map(|l| term::text::cut(l, room)).collect();
    let review = term::text::cut(&review, room);
    let choice = tokio::task::block_in_place(|| {
        inquire::Select::new("Which lesson?", labels.clone())
            .with_page_size(18)
            .with_help_message("✓ done · … started · type to filter, Enter to open, Esc to leave")
            .prompt()
    });
    let Ok(choice) = choice else {
        return Ok(0);
    };
    if due > 0 && choice == review {
        return super::review::run(settings, crate::cli::ReviewArgs { json: false }).await;
    }
    let Some(i) = labels
        .iter()
        .filter(|l| due == 0 || **l != review)
        .position(|l| *l == choice)
    else {
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
        explain: false,
    };
    super::lesson::run(settings, args).await
}
