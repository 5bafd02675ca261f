//! `redislab progress`: what is done, per lesson.

use anyhow::{Context, Result};

use crate::cli::ProgressArgs;
use crate::lesson::loader;
use crate::settings::Settings;
use crate::store::Store;
use crate::term;

pub async fn run(settings: &Settings, args: ProgressArgs) -> Result<u8> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let store = Store::open(&settings.home)?;
    let saved = store.all()?;
    if args.json {
        term::out(&format!(
            "{}\n",
            crate::untrusted::json_safe(
                &serde_json::to_string_pretty(&saved).context("could not encode JSON")?
            )
        ));
        return Ok(0);
    }
    let mut t = term::table::new_table(vec!["id", "lesson", "steps", "quiz", "finished"]);
    for l in &lessons {
        let p = saved.iter().find(|p| p.lesson_id == l.lesson.id);
        let n = l.lesson.steps.len();
        t.add_row(vec![
            crate::untrusted::prose(&l.lesson.id).into_owned(),
            crate::untrusted::prose(&l.lesson.title).into_owned(),
            match p {
                Some(p) if p.completed_at.is_some() && p.skipped.is_empty() => {
                    format!("{n}/{n} ✓")
                }
                Some(p) if p.completed_at.is_some() => {
                    format!("{n}/{n} ✓, {} skipped", p.skipped.len())
                }
                Some(p) if p.last_step > 0 => {
                    let mut cell = format!("{}/{n}", p.last_step);
                    if !p.failed.is_empty() {
                        cell.push_str(&format!(", {} failed", p.failed.len()));
                    }
                    if !p.skipped.is_empty() {
                        cell.push_str(&format!(", {} skipped", p.skipped.len()));
                    }
                    cell
                }
                _ => format!("0/{n}"),
            },
            p.and_then(|p| p.best_score.zip(p.quiz_total))
                .map(|(s, t)| format!("{s}/{t}"))
                .unwrap_or_else(|| "-".into()),
            p.and_then(|p| p.completed_at)
                .map(format_date)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    term::out(&format!(
        "{t}\n{}\n",
        term::dim(&format!("saved in {}", store.path().display()))
    ));
    Ok(0)
}

/// `2026-11-23 09:31 UTC` from Unix seconds (civil-from-days; no time-zone database needed).
pub fn format_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::format_date(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::format_date(1_795_426_260), "2026-11-23 09:31 UTC");
    }
}
