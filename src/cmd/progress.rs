//! `redislab progress`: what is done, per lesson.

use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::ProgressArgs;
use crate::error::{Exit, code};
use crate::lesson::loader;
use crate::settings::Settings;
use crate::store::Store;
use crate::store::transfer::{Document, Known, Refusal};
use crate::term;

pub async fn run(settings: &Settings, args: ProgressArgs) -> Result<u8> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    if let Some(file) = &args.export {
        return export(settings, file);
    }
    if let Some(file) = &args.import {
        return import(settings, &lessons, file, args.force);
    }
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

/// `--export FILE`: the document, written atomically (a temporary file beside it, renamed).
fn export(settings: &Settings, file: &Path) -> Result<u8> {
    let doc = Store::open(&settings.home)?.export()?;
    let text = serde_json::to_string_pretty(&doc).context("could not encode JSON")?;
    write_atomically(file, &format!("{text}\n"))?;
    term::out(&format!(
        "wrote the progress of {} lesson{} to {}\n",
        doc.lessons.len(),
        if doc.lessons.len() == 1 { "" } else { "s" },
        file.display()
    ));
    Ok(0)
}

fn write_atomically(file: &Path, text: &str) -> Result<()> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("could not write {}", file.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("could not write {}", file.display()))?;
    tmp.persist(file)
        .with_context(|| format!("could not write {}", file.display()))?;
    Ok(())
}

/// `--import FILE [--force]`.
fn import(settings: &Settings, lessons: &[loader::Loaded], file: &Path, force: bool) -> Result<u8> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("could not read {}", file.display()))?;
    let known: Vec<Known<'_>> = lessons
        .iter()
        .map(|l| Known {
            id: &l.lesson.id,
            steps: l.lesson.steps.len(),
            questions: l.lesson.quiz.len(),
        })
        .collect();
    let doc = match Document::parse(&text, &known) {
        Ok(doc) => doc,
        Err(refusal) => return Err(refused(file, refusal)),
    };
    let mut store = Store::open(&settings.home)?;
    match store.import(&doc, force)? {
        Ok(done) => {
            let mut line = format!(
                "imported the progress of {} lesson{} from {}",
                done.lessons,
                if done.lessons == 1 { "" } else { "s" },
                file.display()
            );
            if !done.replaced_newer.is_empty() {
                line.push_str(&format!(
                    " (replacing newer progress of {})",
                    done.replaced_newer.join(", ")
                ));
            }
            term::out(&format!("{line}\n"));
            Ok(0)
        }
        Err(refusal) => Err(refused(file, refusal)),
    }
}

fn refused(file: &Path, refusal: Refusal) -> anyhow::Error {
    let message = match refusal {
        Refusal::Invalid(why) => format!("{} was not imported: {why}", file.display()),
        Refusal::Newer(newer) => {
            let list: Vec<String> = newer
                .iter()
                .map(|n| {
                    format!(
                        "{} (saved here {}, in the file {})",
                        n.lesson_id,
                        format_date(n.here),
                        format_date(n.file)
                    )
                })
                .collect();
            format!(
                "{} was not imported: the progress saved here is newer for lesson {}; nothing was changed (add --force to replace it)",
                file.display(),
                list.join(", ")
            )
        }
    };
    Exit::new(code::FAILURE, message).into()
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
