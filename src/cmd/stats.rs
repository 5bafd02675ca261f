//! `redislab stats [ID] [--json]`: what the attempt log says, the hardest steps first. Needs no
//! server: it reads the progress database and the lessons' titles.

use anyhow::{Context, Result};

use crate::cli::StatsArgs;
use crate::lesson::loader;
use crate::settings::Settings;
use crate::store::Store;
use crate::store::stats::summarize;
use crate::term;

/// How many hardest steps the overview lists, and how many of them show their history.
const HARDEST: usize = 8;
const HISTORIES: usize = 3;

pub fn run(settings: &Settings, args: StatsArgs) -> Result<u8> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let only = match &args.id {
        Some(id) => Some(loader::find(&lessons, id)?.lesson.id.clone()),
        None => None,
    };
    let store = Store::open(&settings.home)?;
    let attempts = store.attempts(only.as_deref())?;
    let title = |id: &str, step: usize| -> String {
        let Some(l) = lessons.iter().find(|l| l.lesson.id == id) else {
            return "(not a lesson here)".into();
        };
        match step {
            0 => l.lesson.title.clone(),
            n => l
                .lesson
                .steps
                .get(n - 1)
                .map(|s| s.title.clone())
                .unwrap_or_else(|| format!("step {n}")),
        }
    };
    // One lesson: every step it logged; the overview: the hardest few.
    let limit = if only.is_some() { usize::MAX } else { HARDEST };
    let stats = summarize(&attempts, &title, limit);
    if args.json {
        term::out(&format!(
            "{}\n",
            crate::untrusted::json_safe(
                &serde_json::to_string_pretty(&stats).context("could not encode JSON")?
            )
        ));
        return Ok(0);
    }
    let histories = if only.is_some() {
        usize::MAX
    } else {
        HISTORIES
    };
    let day = |at: i64| super::progress::format_date(at)[..10].to_string();
    term::out(&term::review::stats(
        &stats,
        usize::from(term::width()),
        &day,
        histories,
    ));
    Ok(0)
}
