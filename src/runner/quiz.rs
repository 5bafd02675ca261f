//! Asks a lesson's quiz through the seams. Predict questions run their commands live after the
//! answer (through the gate, like every lesson command), and Redis's reply decides the right
//! choice, so the answer key can never go stale. Grading itself is `crate::grading`.

use anyhow::Result;

use crate::grading;
use crate::lesson::model::{CommandSpec, Question};
use crate::lesson::vary;
use crate::redis::render::render;
use crate::runner::seam::Event;
use crate::runner::steps::Ctx;
use crate::runner::summary::Summary;

/// Asks every question (or grades `answers`); `None` if the learner left. The keys the
/// questions made (`${ns}:quiz:*` ...) are deleted afterwards, however the quiz ended; keys that
/// existed before it stay. A question with `vary` is asked with one of its cases, at random
/// (the first one when `answers` grades without asking, so `--auto` runs read the same each
/// time), and a fresh key.
pub async fn ask(
    ctx: &mut Ctx<'_, '_>,
    answers: Option<&[usize]>,
    summary: &mut Summary,
) -> Result<Option<(u32, u32)>> {
    let asked: Vec<Question> = ctx
        .lesson
        .quiz
        .iter()
        .map(|q| {
            let case = match answers {
                Some(_) => 0,
                None => rand::random::<u32>() as usize,
            };
            vary::instance(q, case, &vary::fresh_token())
        })
        .collect();
    let named = ctx.engine.keys_named(&lines_of(&asked));
    let existed = ctx.engine.existing(&named).await?;
    let result = questions(ctx, &asked, answers, summary).await;
    ctx.engine.remove_made(&named, &existed).await?;
    result
}

/// Review: question `number` (1-based) of the lesson once more, with vary case `case` and a
/// fresh key. `Some(right)`, or `None` if the learner left. Its keys go afterwards, as in `ask`.
/// `given`: the choice to grade instead of asking (as `--answers`).
pub async fn ask_again(
    ctx: &mut Ctx<'_, '_>,
    number: usize,
    case: usize,
    given: Option<usize>,
    summary: &mut Summary,
) -> Result<Option<bool>> {
    let Some(q) = ctx.lesson.quiz.get(number.wrapping_sub(1)) else {
        return Ok(Some(false));
    };
    let q = vary::instance(q, case, &vary::fresh_token());
    let named = ctx.engine.keys_named(&lines_of(std::slice::from_ref(&q)));
    let existed = ctx.engine.existing(&named).await?;
    // `0` questions: asked alone, under its lesson's own number.
    let result = one(ctx, number, &q, (number, 0), given, summary).await;
    ctx.engine.remove_made(&named, &existed).await?;
    result
}

fn lines_of(questions: &[Question]) -> Vec<String> {
    questions
        .iter()
        .flat_map(|q| q.setup.iter().chain(q.predict.iter().flatten()).cloned())
        .collect()
}

async fn questions(
    ctx: &mut Ctx<'_, '_>,
    quiz: &[Question],
    answers: Option<&[usize]>,
    summary: &mut Summary,
) -> Result<Option<(u32, u32)>> {
    // A question about a step this server cannot run, or that this walk skipped (a private
    // server it could not start), is left out: the learner never saw it.
    let mut asked = Vec::new();
    for (qi, q) in quiz.iter().enumerate() {
        let requires = q
            .step
            .and_then(|n| ctx.lesson.steps.get(n.wrapping_sub(1)))
            .and_then(|s| s.requires.as_ref());
        let skipped = summary
            .skipped_steps
            .iter()
            .any(|(s, _)| Some(*s) == q.step);
        if !skipped && ctx.engine.unmet(requires).await?.is_none() {
            asked.push((qi, q));
        }
    }
    let questions = asked.len();
    let total = questions as u32;
    let mut score = 0;
    ctx.show(Event::QuizStart { questions }).await?;
    for (index, (qi, q)) in asked.into_iter().enumerate() {
        let given = answers.map(|a| a.get(qi).copied().unwrap_or(0));
        match one(ctx, qi + 1, q, (index + 1, questions), given, summary).await? {
            Some(true) => score += 1,
            Some(false) => {}
            None => return Ok(None),
        }
    }
    Ok(Some((score, total)))
}

/// Asks one question (`number`: its place in the lesson's quiz; `at`: its place in this run
/// and how many are asked), or grades `given`. `Some(right)`, `None` if the learner left.
async fn one(
    ctx: &mut Ctx<'_, '_>,
    number: usize,
    q: &Question,
    at: (usize, usize),
    given: Option<usize>,
    summary: &mut Summary,
) -> Result<Option<bool>> {
    let predict: Vec<String> = q
        .predict
        .iter()
        .flatten()
        .map(|c| ctx.engine.expand(c))
        .collect::<Result<_>>()?;
    let choices: Vec<String> = q
        .choices
        .iter()
        .map(|c| ctx.engine.expand(c))
        .collect::<Result<_>>()?;
    let text = ctx.engine.expand(&q.question)?;
    // A predict question shows every command it runs, its set-up included.
    let mut shown_commands: Vec<String> = q
        .setup
        .iter()
        .map(|c| ctx.engine.expand(c))
        .collect::<Result<_>>()?;
    shown_commands.extend(predict.iter().cloned());
    ctx.show(Event::Question {
        index: at.0,
        questions: at.1,
        text: &text,
        predict: if q.predict.is_some() {
            &shown_commands
        } else {
            &[]
        },
    })
    .await?;
    let chosen = match given {
        Some(c) => {
            let shown = choices.get(c.wrapping_sub(1)).cloned().unwrap_or_default();
            ctx.show(Event::Answered(&shown)).await?;
            c
        }
        None => {
            // Shuffled for each attempt, so the place of the right answer teaches nothing.
            let order = shuffled(choices.len());
            let shown: Vec<String> = order.iter().map(|&i| choices[i].clone()).collect();
            match ctx.ask(|p| p.choose(&text, &shown)).await? {
                Some(c) => order.get(c.wrapping_sub(1)).map(|i| i + 1).unwrap_or(0),
                None => return Ok(None),
            }
        }
    };
    let (right, actual) = if let Some(lines) = &q.predict {
        let actual = predicted(ctx, q, lines).await?;
        let expanded = Question {
            choices: choices.clone(),
            ..q.clone()
        };
        let right = grading::predicted_choice(&expanded, &actual);
        if right.is_none() {
            summary
                .stale_predictions
                .push((number, actual.trim_end().to_string()));
        }
        (right, Some(actual))
    } else {
        (q.answer, None)
    };
    let g = grading::grade(chosen, right, actual);
    let right_text = right.and_then(|r| choices.get(r - 1)).map(String::as_str);
    let chosen_text = choices
        .get(chosen.wrapping_sub(1))
        .map(String::as_str)
        .unwrap_or("");
    let explanation = ctx.engine.expand(&q.explanation)?;
    ctx.show(Event::Graded {
        number,
        chosen: chosen_text,
        correct: g.correct,
        right: right_text,
        actual: g.actual.as_deref(),
        explanation: &explanation,
    })
    .await?;
    Ok(Some(g.correct))
}

/// 0..n in a random order.
fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rand::random::<u64>() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// Runs a predict question's set-up and commands; the last reply as redis-cli renders it.
async fn predicted(ctx: &mut Ctx<'_, '_>, q: &Question, lines: &[String]) -> Result<String> {
    let setup: Vec<CommandSpec> = q.setup.iter().cloned().map(CommandSpec::Line).collect();
    ctx.engine.run_quiet(&setup).await?;
    let mut last = None;
    for line in lines {
        let e = ctx.engine.run_line(line, None, None).await?;
        last = Some(match &e.refused {
            Some(why) => format!("(refused) {why}\n"),
            None => render(&e.reply),
        });
    }
    Ok(last.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::shuffled;

    #[test]
    fn a_shuffle_is_a_permutation_and_moves_things() {
        let mut moved = false;
        for _ in 0..50 {
            let mut o = shuffled(4);
            moved |= o != vec![0, 1, 2, 3];
            o.sort();
            assert_eq!(o, vec![0, 1, 2, 3]);
        }
        assert!(moved, "50 shuffles of 4 never changed the order");
    }
}
