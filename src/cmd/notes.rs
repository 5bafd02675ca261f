//! `redislab notes ID [--out FILE]`: the lesson's cheat sheet (`crate::notes`) on stdout or in
//! a file.

use anyhow::{Context, Result};

use crate::cli::NotesArgs;
use crate::lesson::loader;
use crate::settings::Settings;
use crate::store::Store;
use crate::term;

pub async fn run(settings: &Settings, args: NotesArgs) -> Result<u8> {
    let lessons = loader::load_all(settings.lessons_dir.as_deref())?;
    let lesson = &loader::find(&lessons, &args.id)?.lesson;
    let progress = Store::open(&settings.home)?.get(&lesson.id)?;
    let generated = super::progress::format_date(crate::store::now_s());
    let md = crate::notes::markdown(
        lesson,
        &crate::notes::Context {
            namespace: &settings.namespace,
            progress: progress.as_ref(),
            generated: &generated,
            date: &super::progress::format_date,
        },
    );
    match &args.out {
        Some(file) => {
            std::fs::write(file, &md)
                .with_context(|| format!("could not write {}", file.display()))?;
            term::out(&format!(
                "wrote the notes of lesson {} to {}\n",
                crate::untrusted::prose(&lesson.id),
                file.display()
            ));
        }
        None => term::out(&md),
    }
    Ok(0)
}
