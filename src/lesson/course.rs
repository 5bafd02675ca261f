//! The course around the lessons: the parts they belong to, in the order a learner should take
//! them, and how long a lesson takes. `list` and the menu group lessons by part; a lesson names
//! its part with `part:` (LESSONS.md). The estimate is computed from the lesson itself, so a new
//! or changed lesson never carries a stale number.

use super::model::{Lesson, StepKind};

/// The parts, in the suggested order, each with what it is about.
pub const PARTS: &[(&str, &str)] = &[
    ("Foundations", "the five types and what each command costs"),
    ("Caching", "reads served from Redis, and keeping them right"),
    ("Counting", "counters, unique counts, limits and rankings"),
    ("Coordination", "one-time codes, locks and transactions"),
    ("Messaging", "Pub/Sub, streams and queues"),
    ("Operations", "measuring Redis and running it"),
    ("Scale", "more than one server"),
];

/// Where lessons without a known part are listed: after every part.
pub const OTHER: &str = "More lessons";

/// The position of `part` in the suggested order (unknown or missing parts last).
pub fn rank(part: Option<&str>) -> usize {
    part.and_then(|p| PARTS.iter().position(|(name, _)| *name == p))
        .unwrap_or(PARTS.len())
}

/// The lesson's part as listed.
pub fn part_of(lesson: &Lesson) -> &str {
    part_name(lesson.part.as_deref())
}

/// A part as listed: itself when it is one of `PARTS`, else `OTHER`.
pub fn part_name(part: Option<&str>) -> &str {
    match part {
        Some(p) if rank(Some(p)) < PARTS.len() => p,
        _ => OTHER,
    }
}

/// Lessons in the suggested order: by part, then by id.
pub fn suggested_order<T>(items: &[T], lesson: impl Fn(&T) -> &Lesson) -> Vec<&T> {
    let mut out: Vec<&T> = items.iter().collect();
    out.sort_by(|a, b| {
        let (a, b) = (lesson(a), lesson(b));
        (rank(a.part.as_deref()), &a.id).cmp(&(rank(b.part.as_deref()), &b.id))
    });
    out
}

/// Reading speed assumed for lesson texts, words per minute.
const WORDS_PER_MINUTE: usize = 180;

/// An estimate of the minutes a first pass takes: the words to read at a steady pace, plus time
/// to act at each step (typing an exercise takes longest) and to answer the quiz, rounded to
/// five minutes. It is an estimate, and said so wherever it is shown.
pub fn minutes(lesson: &Lesson) -> u32 {
    let mut words = count_words(&lesson.introduction);
    let mut seconds: usize = 0;
    for step in &lesson.steps {
        words += count_words(&step.text) + step.after.as_deref().map_or(0, count_words);
        seconds += match &step.kind {
            StepKind::Exercise { goal, .. } => {
                words += count_words(goal);
                150
            }
            StepKind::Wait { seconds: s, .. } => (*s as usize).min(60) + 10,
            StepKind::Run { commands } => 20 + 10 * commands.len(),
            _ => 45,
        };
    }
    for q in &lesson.quiz {
        words += count_words(&q.question) + count_words(&q.explanation);
        words += q.choices.iter().map(|c| count_words(c)).sum::<usize>();
        seconds += 20;
    }
    seconds += words * 60 / WORDS_PER_MINUTE;
    let minutes = seconds.div_ceil(60).max(5);
    (minutes.div_ceil(5) * 5) as u32
}

fn count_words(text: &str) -> usize {
    text.split_whitespace().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_rank_in_order_and_unknown_parts_come_last() {
        assert_eq!(rank(Some("Foundations")), 0);
        assert_eq!(rank(Some("Scale")), PARTS.len() - 1);
        assert_eq!(rank(Some("Astrology")), PARTS.len());
        assert_eq!(rank(None), PARTS.len());
    }
}
