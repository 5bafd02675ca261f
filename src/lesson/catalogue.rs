//! The compact catalogue of the built-in lessons, made at build time (build.rs): what `list`
//! and the menu show, without parsing every lesson's full YAML at each start. `lesson`,
//! `validate` and a `--lessons` folder always parse the real files.

/// One lesson as `list` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub id: &'static str,
    pub slug: &'static str,
    pub title: &'static str,
    pub part: Option<&'static str>,
    pub structure: &'static str,
    pub use_case: &'static str,
    pub steps: usize,
    /// `course::minutes` of the lesson.
    pub minutes: u32,
}

mod generated {
    use super::Entry;
    include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));
}

/// The built-in lessons, sorted by id; `None` if one did not parse at build time.
pub fn built_in() -> Option<Vec<Entry>> {
    let mut out = generated::CATALOGUE?.to_vec();
    out.sort_by(|a, b| a.id.cmp(b.id));
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lesson::{course, loader};

    /// The catalogue says what the real parser and estimate say, lesson by lesson.
    #[test]
    fn the_catalogue_matches_the_lessons() {
        let lessons = loader::load_all(None).unwrap();
        let catalogue = built_in().expect("every built-in lesson parses at build time");
        assert_eq!(catalogue.len(), lessons.len());
        for (e, l) in catalogue.iter().zip(&lessons) {
            let l = &l.lesson;
            assert_eq!(
                (e.id, e.slug, e.title, e.part, e.structure, e.use_case),
                (
                    l.id.as_str(),
                    l.slug.as_str(),
                    l.title.as_str(),
                    l.part.as_deref(),
                    l.structure.as_str(),
                    l.use_case.as_str()
                )
            );
            assert_eq!(e.steps, l.steps.len(), "lesson {}", l.id);
            assert_eq!(e.minutes, course::minutes(l), "lesson {}", l.id);
        }
    }
}
