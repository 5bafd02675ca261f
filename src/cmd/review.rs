//! `redislab review [--json]`: what was missed comes back on a Leitner schedule. A quiz question
//! is asked again with the quiz's own prompt (a predict question with its next vary case and a
//! fresh key, graded by the live reply); a step that needed its solution comes back as its goal
//! at the exercise prompt, from the state the lesson reaches before it, judged by its checks.
//! Each answer moves its item at once, so leaving (Esc, Ctrl-C) keeps what was answered.

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::ReviewArgs;
use crate::error::{Exit, code};
use crate::lesson::loader::{self, Loaded};
use crate::lesson::model::StepKind;
use crate::runner::Engine;
use crate::runner::walk::{Options, Reviewed, Summary, Walker};
use crate::settings::Settings;
use crate::store::Store;
use crate::store::attempts::{Item, Kind, ReviewBox, due_at};
use crate::term;
use crate::term::prompt::Inquire;
use crate::term::view::TermView;

/// What `review --json` lists.
#[derive(Debug, Serialize)]
struct Due {
    /// The time taken as now (Unix seconds).
    now: i64,
    due: Vec<DueItem>,
    /// Items in the boxes, due or not (learned ones apart).
    scheduled: usize,
    /// When the next item not yet due comes due.
    next_due_at: Option<i64>,
}

#[derive(Debug, Serialize)]
struct DueItem {
    lesson_id: String,
    /// `step:N` or `quiz:N`.
    item: String,
    /// `question` or `step`.
    kind: &'static str,
    number: usize,
    #[serde(rename = "box")]
    bx: u8,
    due_at: i64,
    /// The question, or the step's title (as the lesson writes it).
    text: String,
}

pub async fn run(settings: &Settings, args: ReviewArgs) -> Result<u8> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let mut store = Store::open(&settings.home)?;
    let now = settings.now();
    let due: Vec<(ReviewBox, Item)> = store
        .due(now)?
        .into_iter()
        .filter_map(|b| Item::parse(&b.item).map(|i| (b, i)))
        .collect();
    if args.json {
        let boxes = store.review_boxes()?;
        let waiting = boxes
            .iter()
            .filter(|b| b.bx < crate::store::attempts::LEARNED);
        let value = Due {
            now,
            due: due
                .iter()
                .map(|(b, item)| due_item(b, *item, &lessons))
                .collect(),
            scheduled: waiting.clone().count(),
            next_due_at: waiting.filter(|b| b.due_at > now).map(|b| b.due_at).min(),
        };
        term::out(&format!(
            "{}\n",
            crate::untrusted::json_safe(
                &serde_json::to_string_pretty(&value).context("could not encode JSON")?
            )
        ));
        return Ok(0);
    }
    if due.is_empty() {
        let next = store
            .review_boxes()?
            .iter()
            .filter(|b| b.bx < crate::store::attempts::LEARNED)
            .map(|b| b.due_at)
            .min();
        let text = match next {
            Some(at) => format!(
                "Nothing to review now. The next item is due {}.",
                super::progress::format_date(at)
            ),
            None => "Nothing to review: missed quiz questions and steps that needed the solution come back here, a day after the miss.".to_string(),
        };
        term::out(&format!(
            "{}\n",
            term::text::flow(&text, "", usize::from(term::width())).trim_end()
        ));
        return Ok(0);
    }
    if !term::stdin_is_terminal() {
        return Err(Exit::new(
            code::USAGE,
            "`redislab review` asks questions and needs a terminal; `review --json` lists what is due",
        )
        .into());
    }
    let server = super::connect(settings).await?;
    let mut engine = Engine::new(&server, &settings.namespace).await?;
    let (mut right, mut wrong) = (0, 0);
    let of = due.len();
    for (at, (b, item)) in due.iter().enumerate() {
        let Some(loaded) = lessons.iter().find(|l| l.lesson.id == b.lesson_id) else {
            term::notice(&format!(
                "lesson {} is not among these lessons: its item {} waits",
                crate::untrusted::printable_str(&b.lesson_id),
                b.item
            ));
            continue;
        };
        let what = match item {
            Item::Question(n) => format!("question {n}"),
            Item::Step(n) => format!("step {n}"),
        };
        term::out(&term::review::item_header(
            at + 1,
            of,
            &b.lesson_id,
            &what,
            b.bx,
        ));
        // Earlier answers to this item pick the next vary case, so values change each time.
        let asked_before = store
            .attempts(Some(&b.lesson_id))?
            .iter()
            .filter(|a| a.item == *item && matches!(a.kind, Kind::Right | Kind::Wrong))
            .count();
        let answered = tokio::select! {
            r = review_one(settings, &mut engine, loaded, *item, asked_before) => r?,
            _ = tokio::signal::ctrl_c() => {
                let _ = crossterm::terminal::disable_raw_mode();
                let _ = engine.thaw().await;
                term::out(&term::review::session_end(right, wrong, of - right - wrong, usize::from(term::width())));
                return Ok(code::INTERRUPTED);
            }
        };
        let is_right = match answered {
            Reviewed::Right => true,
            Reviewed::Wrong => false,
            Reviewed::Skipped => continue,
            Reviewed::Unavailable(reason) => {
                term::notice(&crate::untrusted::prose(&format!(
                    "Skipped: this server cannot run it ({reason})."
                )));
                continue;
            }
            Reviewed::Left => {
                term::out(&term::review::session_end(
                    right,
                    wrong,
                    of - right - wrong,
                    usize::from(term::width()),
                ));
                return Ok(if term::prompt::left_with_ctrl_c() {
                    code::INTERRUPTED
                } else {
                    0
                });
            }
        };
        let now = settings.now();
        let bx = store.answered(&b.lesson_id, *item, is_right, now)?;
        if is_right {
            right += 1;
        } else {
            wrong += 1;
        }
        let due = super::progress::format_date(due_at(bx, now));
        term::out(&term::review::moved(is_right, bx, &due[..10]));
    }
    let still = store.due_count(settings.now())?;
    term::out(&term::review::session_end(
        right,
        wrong,
        still,
        usize::from(term::width()),
    ));
    Ok(0)
}

/// Asks one item; the attempt log records what the learner did (the boxes move in `run`).
async fn review_one(
    settings: &Settings,
    engine: &mut Engine<'_>,
    loaded: &Loaded,
    item: Item,
    asked_before: usize,
) -> Result<Reviewed> {
    let lesson = &loaded.lesson;
    let mut screen = TermView::new(true).invoked_as(super::lesson::invocation(settings));
    let mut view = super::record::Recorder::new(
        &mut screen,
        Store::open(&settings.home)?,
        &lesson.id,
        super::lesson::clock(settings),
        false,
    );
    let mut prompter = Inquire;
    let mut walker = Walker {
        engine,
        lesson,
        prompter: &mut prompter,
        view: &mut view,
        store: None,
        options: Options {
            auto: false,
            from_step: 1,
            answers: None,
            quiz: false,
            keep_until: 0,
        },
    };
    let reviewed = match item {
        Item::Question(n) => {
            let requires = lesson.requires.as_ref();
            if let Some(reason) = walker.engine.unmet(requires).await? {
                return Ok(Reviewed::Unavailable(reason));
            }
            let mut summary = Summary::default();
            match walker
                .ask_again(n, asked_before, None, &mut summary)
                .await?
            {
                Some(true) => Reviewed::Right,
                Some(false) => Reviewed::Wrong,
                None => Reviewed::Left,
            }
        }
        Item::Step(n) => {
            let exercise = lesson
                .steps
                .get(n.wrapping_sub(1))
                .is_some_and(|s| matches!(s.kind, StepKind::Exercise { .. }));
            if !exercise {
                return Ok(Reviewed::Unavailable(format!(
                    "step {n} is no longer an exercise"
                )));
            }
            walker.review_step(n).await?
        }
    };
    if let Some(e) = view.error.take() {
        term::notice(&format!("{e:#}: `stats` misses this answer"));
    }
    Ok(reviewed)
}

fn due_item(b: &ReviewBox, item: Item, lessons: &[Loaded]) -> DueItem {
    let lesson = lessons.iter().find(|l| l.lesson.id == b.lesson_id);
    let (kind, number, text) = match item {
        Item::Question(n) => (
            "question",
            n,
            lesson
                .and_then(|l| l.lesson.quiz.get(n - 1))
                .map(|q| q.question.clone()),
        ),
        Item::Step(n) => (
            "step",
            n,
            lesson
                .and_then(|l| l.lesson.steps.get(n - 1))
                .map(|s| s.title.clone()),
        ),
    };
    DueItem {
        lesson_id: b.lesson_id.clone(),
        item: b.item.clone(),
        kind,
        number,
        bx: b.bx,
        due_at: b.due_at,
        text: text.unwrap_or_default(),
    }
}
