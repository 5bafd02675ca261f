//! Questions that come back with other values. A quiz question may declare `vary`: a list of
//! cases, each naming the values that change together (`{n: "5", next: "6"}`), and use them as
//! `${n}` in its text, set-up, commands, choices and explanation; `${fresh}` is a new random
//! token each time it is asked, for key names. Review asks a question again with the next case
//! and a fresh key, so the learner must predict Redis's reply, not remember a string.

use std::collections::{BTreeMap, BTreeSet};

use crate::lesson::model::Question;

/// The name that is a new random token each time (never declared in a case).
pub const FRESH: &str = "fresh";

/// The question with case `case` (wrapping) and `fresh` filled in; unchanged without `vary`.
pub fn instance(q: &Question, case: usize, fresh: &str) -> Question {
    let Some(values) = (!q.vary.is_empty()).then(|| &q.vary[case % q.vary.len()]) else {
        return q.clone();
    };
    let fill = |text: &str| fill(text, values, fresh);
    Question {
        question: fill(&q.question),
        choices: q.choices.iter().map(|c| fill(c)).collect(),
        explanation: fill(&q.explanation),
        predict: q
            .predict
            .as_ref()
            .map(|p| p.iter().map(|c| fill(c)).collect()),
        setup: q.setup.iter().map(|c| fill(c)).collect(),
        vary: Vec::new(),
        ..q.clone()
    }
}

/// A new token for `${fresh}`.
pub fn fresh_token() -> String {
    crate::lesson::vars::random_token()[..8].to_string()
}

fn fill(text: &str, values: &BTreeMap<String, String>, fresh: &str) -> String {
    let mut out = text.replace(&format!("${{{FRESH}}}"), fresh);
    for (name, value) in values {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    out
}

/// Every `${name}` a question's texts use.
pub fn names_used(q: &Question) -> BTreeSet<String> {
    let texts = std::iter::once(&q.question)
        .chain(&q.choices)
        .chain(std::iter::once(&q.explanation))
        .chain(q.predict.iter().flatten())
        .chain(&q.setup);
    let mut names = BTreeSet::new();
    for t in texts {
        let mut rest = t.as_str();
        while let Some(at) = rest.find("${") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find('}') {
                names.insert(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    names
}

/// What is wrong with a question's `vary`, one sentence each (`n`: its number in the quiz).
/// `saved`: the names the engine fills in itself (`ns` and the lesson's saved values).
pub fn problems(q: &Question, n: usize, saved: &BTreeSet<String>) -> Vec<String> {
    let used = names_used(q);
    let mut out = Vec::new();
    if q.vary.is_empty() {
        if used.contains(FRESH) {
            out.push(format!(
                "question {n}: ${{{FRESH}}} is only filled in for a question with `vary`"
            ));
        }
        return out;
    }
    if q.vary.len() < 2 {
        out.push(format!(
            "question {n}: `vary` needs at least 2 cases, or nothing varies"
        ));
    }
    let declared: BTreeSet<String> = q.vary[0].keys().cloned().collect();
    for (i, case) in q.vary.iter().enumerate() {
        let names: BTreeSet<String> = case.keys().cloned().collect();
        if names != declared {
            out.push(format!(
                "question {n}: vary case {} names {:?}, case 1 names {:?}: every case names the same values",
                i + 1,
                names,
                declared
            ));
        }
        if names.contains(FRESH) || names.contains("ns") {
            out.push(format!(
                "question {n}: vary case {} declares `{FRESH}` or `ns`, which redislab fills in itself",
                i + 1
            ));
        }
        let inst = instance(q, i, "x");
        let distinct: BTreeSet<&str> = inst.choices.iter().map(|c| c.trim()).collect();
        if distinct.len() != inst.choices.len() {
            out.push(format!(
                "question {n}: with vary case {} two choices are the same",
                i + 1
            ));
        }
    }
    for name in &declared {
        if !used.contains(name) {
            out.push(format!(
                "question {n}: vary declares `{name}`, which no text of the question uses"
            ));
        }
    }
    for name in &used {
        if !declared.contains(name) && name != FRESH && !saved.contains(name) {
            out.push(format!(
                "question {n}: `${{{name}}}` is neither a vary value nor a saved value"
            ));
        }
    }
    if q.predict.is_none() {
        out.push(format!(
            "question {n}: only predict questions vary (Redis decides their answer for each case)"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> Question {
        Question {
            question: "What does INCR reply after SET ${n}?".into(),
            choices: vec!["(integer) ${next}".into(), "\"${next}\"".into()],
            answer: None,
            explanation: "INCR replies ${next} as an integer.".into(),
            predict: Some(vec![
                "SET ${ns}:quiz:${fresh} ${n}".into(),
                "INCR ${ns}:quiz:${fresh}".into(),
            ]),
            setup: vec![],
            step: None,
            vary: vec![
                [
                    ("n".to_string(), "5".to_string()),
                    ("next".into(), "6".into()),
                ]
                .into(),
                [
                    ("n".to_string(), "41".to_string()),
                    ("next".into(), "42".into()),
                ]
                .into(),
            ],
        }
    }

    #[test]
    fn each_case_fills_every_text_and_fresh_names_the_key() {
        let a = instance(&q(), 0, "aa");
        let b = instance(&q(), 1, "bb");
        assert_eq!(a.predict.as_ref().unwrap()[0], "SET ${ns}:quiz:aa 5");
        assert_eq!(b.predict.as_ref().unwrap()[1], "INCR ${ns}:quiz:bb");
        assert_eq!(b.choices[0], "(integer) 42");
        assert_eq!(instance(&q(), 2, "cc").choices[0], "(integer) 6", "wraps");
        let saved = BTreeSet::from(["ns".to_string()]);
        assert!(problems(&q(), 1, &saved).is_empty());
    }

    #[test]
    fn a_vary_that_cannot_vary_says_why() {
        let saved = BTreeSet::from(["ns".to_string()]);
        let mut one = q();
        one.vary.truncate(1);
        assert!(problems(&one, 3, &saved)[0].contains("at least 2 cases"));
        let mut odd = q();
        odd.vary[1].remove("next");
        assert!(
            problems(&odd, 3, &saved)
                .iter()
                .any(|p| p.contains("every case names the same values"))
        );
        let mut stray = q();
        stray.question.push_str(" ${m}");
        assert!(
            problems(&stray, 3, &saved)
                .iter()
                .any(|p| p.contains("`${m}` is neither"))
        );
        let mut plain = q();
        plain.vary.clear();
        assert!(problems(&plain, 3, &saved)[0].contains("only filled in"));
    }
}
