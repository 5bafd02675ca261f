//! Finds and parses lessons: the ones built into the binary, or a folder given with
//! `--lessons` for authors. Parse errors carry `file:line:col` from serde-saphyr.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/lessons.rs"));
}

pub use super::parse::{LoadError, Loaded, parse};

/// Texts of the lessons in use: embedded, or every `*.yaml` in `dir`.
pub fn sources(dir: Option<&Path>) -> Result<Vec<(String, String)>> {
    match dir {
        None => Ok(embedded::EMBEDDED
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()),
        Some(d) => {
            let mut files = yaml_files(d)?;
            files.sort();
            files
                .into_iter()
                .map(|p| {
                    let text = std::fs::read_to_string(&p)
                        .with_context(|| format!("could not read lesson file {}", p.display()))?;
                    Ok((p.display().to_string(), text))
                })
                .collect()
        }
    }
}

/// `*.yaml` files in a folder (or the file itself).
pub fn yaml_files(path: &Path) -> Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path)
        .with_context(|| format!("could not read lesson folder {}", path.display()))?;
    let mut out = Vec::new();
    for e in rd {
        let p = e
            .with_context(|| format!("could not read lesson folder {}", path.display()))?
            .path();
        if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    Ok(out)
}

/// Every lesson in use, sorted by id. The first unreadable file is an error. Lessons from a
/// folder (`--lessons`, `REDISLAB_LESSONS`) are someone else's files: they pass the same static
/// checks as `redislab validate` before anything runs, and a file with problems is refused.
pub fn load_all(dir: Option<&Path>) -> Result<Vec<Loaded>> {
    let files = sources(dir)?;
    if let Some(d) = dir {
        refuse_problems(d, &files)?;
    }
    let mut out = Vec::new();
    for (source, text) in files {
        let lesson = parse(&source, &text)
            .map_err(|e| anyhow::anyhow!("{e} (run `redislab validate` for details)"))?;
        out.push(Loaded { source, lesson });
    }
    out.sort_by(|a, b| a.lesson.id.cmp(&b.lesson.id));
    Ok(out)
}

/// Runs the static validation (no server: it needs none) and turns problems into exit 1 with
/// each one as `file:line:col: message`.
fn refuse_problems(dir: &Path, files: &[(String, String)]) -> Result<()> {
    use futures_util::FutureExt;
    // Without a connection the validation never waits, so it completes on the first poll.
    let checked = super::validate::validate_texts(files, None)
        .now_or_never()
        .context("lesson validation unexpectedly waited")??;
    let problems = checked.1;
    if problems.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    Err(crate::error::Exit::new(
        crate::error::code::FAILURE,
        format!(
            "the lessons in {} have problems, so none of them runs (fix them, then check with `redislab validate`):\n{}",
            dir.display(),
            list.join("\n")
        ),
    )
    .into())
}

/// Finds a lesson by id (`07`, `7`) or slug.
pub fn find<'a>(lessons: &'a [Loaded], wanted: &str) -> Result<&'a Loaded> {
    let w = wanted.trim();
    let as_num = w.parse::<u32>().ok();
    lessons
        .iter()
        .find(|l| {
            l.lesson.id == w
                || l.lesson.slug.eq_ignore_ascii_case(w)
                || (as_num.is_some() && l.lesson.id.parse::<u32>().ok() == as_num)
        })
        .ok_or_else(|| {
            crate::error::Exit::new(
                crate::error::code::USAGE,
                format!(
                    "no lesson {w:?}; choose one of: {}",
                    lessons
                        .iter()
                        .map(|l| format!("{} ({})", l.lesson.id, l.lesson.slug))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .into()
        })
}
