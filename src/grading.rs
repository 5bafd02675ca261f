//! Quiz grading, without terminal I/O: parsing `--answers`, grading a choice, and finding the
//! right answer of a predict question from Redis's actual reply.

use anyhow::Result;

use crate::error::{Exit, code};
use crate::lesson::model::Question;

/// Parses `--answers 2,1,3` into 1-based choices, one per question.
pub fn parse_answers(raw: &[String], questions: &[Question]) -> Result<Vec<usize>> {
    if raw.len() != questions.len() {
        return Err(Exit::new(
            code::USAGE,
            format!(
                "--answers needs {} answers (one per question), got {}",
                questions.len(),
                raw.len()
            ),
        )
        .into());
    }
    raw.iter()
        .zip(questions)
        .enumerate()
        .map(|(i, (a, q))| {
            let n: usize = a.trim().parse().map_err(|_| {
                Exit::new(
                    code::USAGE,
                    format!("answer {} is {a:?}: give a choice number like 2", i + 1),
                )
            })?;
            if n == 0 || n > q.choices.len() {
                return Err(Exit::new(
                    code::USAGE,
                    format!(
                        "answer {} is {n}, but question {} has choices 1–{}",
                        i + 1,
                        i + 1,
                        q.choices.len()
                    ),
                )
                .into());
            }
            Ok(n)
        })
        .collect()
}

/// The 1-based right choice of a predict question: the one equal to the rendered reply.
pub fn predicted_choice(q: &Question, actual_reply: &str) -> Option<usize> {
    let actual = actual_reply.trim();
    q.choices
        .iter()
        .position(|c| c.trim() == actual)
        .map(|i| i + 1)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Graded {
    pub chosen: usize,
    pub right: Option<usize>,
    pub correct: bool,
    /// For predict questions: what Redis actually replied.
    pub actual: Option<String>,
}

pub fn grade(chosen: usize, right: Option<usize>, actual: Option<String>) -> Graded {
    Graded {
        chosen,
        right,
        correct: right == Some(chosen),
        actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(n: usize) -> Question {
        Question {
            question: "?".into(),
            choices: (1..=n).map(|i| format!("(integer) {i}")).collect(),
            answer: Some(1),
            explanation: "because".into(),
            predict: None,
            setup: vec![],
            step: None,
            vary: vec![],
        }
    }

    #[test]
    fn answers_are_validated() {
        let qs = vec![q(3), q(2)];
        assert_eq!(
            parse_answers(&["2".into(), "1".into()], &qs).unwrap(),
            vec![2, 1]
        );
        assert!(parse_answers(&["2".into()], &qs).is_err());
        assert!(parse_answers(&["4".into(), "1".into()], &qs).is_err());
        assert!(parse_answers(&["x".into(), "1".into()], &qs).is_err());
        assert!(parse_answers(&["0".into(), "1".into()], &qs).is_err());
    }

    #[test]
    fn predict_matches_rendered_reply() {
        assert_eq!(predicted_choice(&q(3), "(integer) 2\n"), Some(2));
        assert_eq!(predicted_choice(&q(3), "(nil)"), None);
        assert!(grade(2, Some(2), None).correct);
        assert!(!grade(1, Some(2), None).correct);
    }
}
