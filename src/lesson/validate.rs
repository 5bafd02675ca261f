//! `redislab validate`: everything a lesson file can get wrong that types alone do not catch.
//! Problems come back as `file:line:col: message` so an editor can jump to them.

use std::collections::{BTreeMap, HashSet};

use crate::redis::fence::Fence;
use anyhow::Result;

mod classes;
mod ranges;
mod requires;
mod steps;
mod text;

use steps::{stand_in, step_commands};
use text::{glob, locate};

pub use ranges::markdown as ranges_markdown;

use super::model::{Check, Lesson, StepKind};
use super::parse::{LoadError, Loaded, parse};
use super::vars::{BUILTIN, names_in};
use crate::redis::tokenize::tokenize;

/// The namespace `${ns}` stands for while validating. Deliberately not the default `lab`, so a
/// key written as `lab:x` instead of `${ns}:x` is caught: it would escape any other namespace.
pub const STANDIN_NS: &str = "validate-ns";
const STANDIN_PREFIX: &str = "validate-ns:";

struct Ctx<'a> {
    source: &'a str,
    text: &'a str,
    problems: Vec<LoadError>,
    /// The lesson's `keys` patterns with `${ns}` = `lab`: every key it touches must match one,
    /// or `reset ID` would leave it behind.
    patterns: Vec<String>,
}

impl Ctx<'_> {
    fn err(&mut self, near: &str, message: String) {
        let (line, column) = locate(self.text, near);
        self.problems.push(LoadError {
            source: self.source.to_string(),
            line,
            column,
            message,
        });
    }
}

/// How a scenario step's name and parameters are checked. Scenarios are code of a layer above
/// the lessons, so the program hands their check down once at start (`cmd::prepare` calls
/// `check_scenarios_with(scenarios::check)`); until it does, scenario steps are not checked
/// here (the scenario still refuses bad parameters when it runs).
pub type ScenarioCheck = fn(&str, &serde_json::Value) -> Result<()>;

static SCENARIO_CHECK: std::sync::OnceLock<ScenarioCheck> = std::sync::OnceLock::new();

/// Sets the scenario check (once; later calls change nothing).
pub fn check_scenarios_with(check: ScenarioCheck) {
    let _ = SCENARIO_CHECK.set(check);
}

/// Parses and checks files. `getkeys` (the fence of any Redis) enables the key-namespace
/// check via COMMAND GETKEYS; without it that check is skipped.
pub async fn validate_texts(
    files: &[(String, String)],
    getkeys: Option<&Fence>,
) -> Result<(Vec<Loaded>, Vec<LoadError>)> {
    let mut loaded = Vec::new();
    let mut problems = Vec::new();
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut slugs: BTreeMap<String, String> = BTreeMap::new();
    for (source, text) in files {
        let lesson = match parse(source, text) {
            Ok(l) => l,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        let mut ctx = Ctx {
            source,
            text,
            problems: Vec::new(),
            patterns: lesson
                .keys
                .iter()
                .map(|k| k.replace("${ns}", STANDIN_NS))
                .collect(),
        };
        if let Some(other) = ids.insert(lesson.id.clone(), source.clone()) {
            ctx.err(
                "^id:",
                format!("id {:?} is also used by {other}", lesson.id),
            );
        }
        if let Some(other) = slugs.insert(lesson.slug.clone(), source.clone()) {
            ctx.err(
                "^slug:",
                format!("slug {:?} is also used by {other}", lesson.slug),
            );
        }
        cut_at_comment(&mut ctx);
        check_lesson(&mut ctx, &lesson, getkeys).await?;
        problems.extend(ctx.problems);
        loaded.push(Loaded {
            source: source.clone(),
            lesson,
        });
    }
    Ok((loaded, problems))
}

/// Lesson texts reach the terminal: a control character (C0 other than line break and tab,
/// DEL, C1) or a bidi control in any of them (title, steps, hints, quiz, commands ...) could
/// act on the learner's terminal (OSC 52 writes the clipboard), so none is allowed.
fn control_characters(ctx: &mut Ctx<'_>, l: &Lesson) {
    fn strings<'v>(v: &'v serde_json::Value, out: &mut Vec<&'v str>) {
        match v {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            serde_json::Value::Object(m) => m.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let Ok(value) = serde_json::to_value(l) else {
        return;
    };
    let mut all = Vec::new();
    strings(&value, &mut all);
    for text in all {
        let Some(at) = text
            .char_indices()
            .find(|(_, c)| crate::untrusted::is_unsafe(*c) && *c != '\n' && *c != '\t')
        else {
            continue;
        };
        let before = &text[..at.0];
        let near = before.lines().last().unwrap_or_default();
        let near: String = near
            .chars()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        ctx.err(
            &near,
            format!(
                "a lesson text holds the control character U+{:04X} (after {:?}): lesson texts may hold only printable characters, line breaks and tabs",
                at.1 as u32,
                crate::untrusted::prose(&near)
            ),
        );
    }
}

/// A trial runs on scratch copies of the keys the exercise's checks name (`<ns>:trial:...`):
/// its set-up may name no other lesson key, or it would write the real one.
fn trial_keys(
    ctx: &mut Ctx<'_>,
    n: usize,
    step: &crate::lesson::model::Step,
    trials: &[crate::lesson::model::Trial],
) {
    let checked: Vec<&str> = step
        .checks
        .iter()
        .filter_map(|c| c.key.as_deref())
        .collect();
    for line in trials.iter().flat_map(|t| &t.setup) {
        let Ok(args) = tokenize(line) else { continue };
        for a in args.iter().skip(1) {
            let a = String::from_utf8_lossy(a);
            if a.starts_with("${ns}:") && !checked.contains(&a.as_ref()) {
                ctx.err(
                    line,
                    format!(
                        "step {n}: a trial's setup names {a}, which the exercise's checks do not name: a trial runs only on scratch copies of the checked keys, so this would change the real key"
                    ),
                );
            }
        }
    }
}

async fn check_lesson(ctx: &mut Ctx<'_>, l: &Lesson, conn: Option<&Fence>) -> Result<()> {
    if let Some(m) = ranges::int("format_version", l.format_version.into()) {
        ctx.err("^format_version:", m);
    }
    if l.id.len() != 2 || !l.id.chars().all(|c| c.is_ascii_digit()) {
        ctx.err(
            "id:",
            format!("id {:?} must be two digits, like \"07\"", l.id),
        );
    }
    let file = std::path::Path::new(ctx.source)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let expected = format!("{}-{}.yaml", l.id, l.slug);
    if file != expected {
        ctx.err(
            "slug:",
            format!("file should be named {expected} (id-slug.yaml)"),
        );
    }
    if let Some(part) = &l.part {
        if super::course::rank(Some(part)) == super::course::PARTS.len() {
            let names: Vec<&str> = super::course::PARTS.iter().map(|(n, _)| *n).collect();
            ctx.err(
                "part:",
                format!("part {part:?} is not one of {}", names.join(", ")),
            );
        }
    }
    if l.steps.is_empty() {
        ctx.err("steps:", "a lesson needs at least one step".into());
    }
    if l.quiz.len() < 5 {
        ctx.err(
            "quiz:",
            format!(
                "the quiz has {} questions; at least 5 are needed",
                l.quiz.len()
            ),
        );
    }
    for p in &l.keys {
        if !p.starts_with("${ns}:") {
            ctx.err(p, format!("key pattern {p:?} must start with ${{ns}}:"));
        }
    }
    if let Some(r) = &l.requires {
        requires::check(ctx, "lesson", r);
    }
    control_characters(ctx, l);
    let managed = l.requires.as_ref().is_some_and(|r| r.managed);
    let mut known: HashSet<String> = BUILTIN.iter().map(|s| s.to_string()).collect();
    for c in &l.setup {
        command(ctx, c.line(), &known, managed, conn).await?;
        if let Some(s) = c.save_as() {
            known.insert(s.to_string());
        }
    }
    // Command names a step that can be skipped (its `requires`) runs, and those every learner
    // sees: a quiz question may only ask about the first kind where it says which step it needs.
    let mut only_where_run: std::collections::BTreeMap<String, usize> = Default::default();
    let mut always_run: HashSet<String> = l.setup.iter().map(|c| first_word(c.line())).collect();
    for (i, step) in l.steps.iter().enumerate() {
        let n = i + 1;
        let step_managed = managed || step.requires.as_ref().is_some_and(|r| r.managed);
        if let Some(r) = &step.requires {
            requires::check(ctx, &format!("step {n}"), r);
        }
        for k in step.let_vars.keys() {
            known.insert(k.clone());
        }
        let specs = step_commands(ctx, n, step);
        for c in &specs {
            let name = first_word(c.line());
            if step.requires.is_some() {
                only_where_run.entry(name).or_insert(n);
            } else {
                always_run.insert(name);
            }
        }
        // A race's workers have variables of their own (`${worker}`, what they save).
        let mut inside = known.clone();
        if let StepKind::Race(race) = &step.kind {
            inside.extend(race.worker_vars());
        }
        for c in &specs {
            command(ctx, c.line(), &inside, step_managed, conn).await?;
            if let Some(s) = c.save_as() {
                known.insert(s.to_string());
                inside.insert(s.to_string());
            }
        }
        if let StepKind::Exercise {
            trials,
            hints,
            solution,
            ..
        } = &step.kind
        {
            for c in trials.iter().flat_map(|t| &t.checks) {
                check_check(ctx, n, c, &known, &step.kind);
            }
            trial_keys(ctx, n, step, trials);
            // Hints grow: the first is a nudge, never the whole answer (`solution` is there).
            if let Some(first) = hints.first() {
                let gives_it_away = !solution.is_empty()
                    && solution.iter().all(|c| first.contains(c.line().trim()));
                if gives_it_away {
                    ctx.err(
                        first,
                        format!("step {n}: the first hint is the whole solution; make it a nudge (what to look for), and let a later hint or `solution` give the command"),
                    );
                }
            }
        }
        for k in step.show_keys.iter().flatten() {
            key_ref(ctx, n, k);
        }
        let commands = match &step.kind {
            StepKind::Run { commands } => Some(commands.len()),
            _ => None,
        };
        for c in &step.checks {
            check_check(ctx, n, c, &known, &step.kind);
            for m in ranges::check(c, commands) {
                ctx.err("checks:", format!("step {n}: {m}"));
            }
        }
    }
    only_where_run.retain(|name, _| !always_run.contains(name));
    asks_only_what_ran(ctx, l, &only_where_run);
    check_quiz(ctx, l, &known, managed, conn).await
}

/// The command a lesson line starts with, upper-cased.
fn first_word(line: &str) -> String {
    line.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// A question about a command that only a skippable step runs must name that step (`step:`),
/// so a learner on a server that skipped it is not asked about what they never saw.
fn asks_only_what_ran(
    ctx: &mut Ctx<'_>,
    l: &Lesson,
    only_where_run: &std::collections::BTreeMap<String, usize>,
) {
    for (i, q) in l.quiz.iter().enumerate() {
        let n = i + 1;
        if let Some(s) = q.step {
            if s == 0 || s > l.steps.len() {
                ctx.err(
                    &q.question,
                    format!(
                        "question {n}: step {s} does not exist (1–{})",
                        l.steps.len()
                    ),
                );
            }
            continue;
        }
        let text = std::iter::once(&q.question).chain(&q.choices);
        let words: HashSet<String> = text
            .flat_map(|t| {
                t.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .filter(|w| !w.is_empty() && *w == w.to_ascii_uppercase())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        if let Some((name, step)) = only_where_run.iter().find(|(c, _)| words.contains(*c)) {
            ctx.err(
                &q.question,
                format!(
                    "question {n} asks about {name}, which only step {step} runs, and that step is skipped where its `requires` is not met: add `step: {step}` so the question is asked only where it ran"
                ),
            );
        }
    }
}

/// A quiz whose right answers are mostly the longest choice can be passed by picking the
/// longest: more than half of the questions with three or more choices is too many.
fn guessable_by_length(l: &Lesson) -> Option<String> {
    let fixed: Vec<_> = l
        .quiz
        .iter()
        .filter(|q| q.choices.len() >= 3)
        .filter_map(|q| q.answer.map(|a| (q, a)))
        .collect();
    let longest = fixed
        .iter()
        .filter(|(q, a)| {
            let lens: Vec<usize> = q.choices.iter().map(|c| c.chars().count()).collect();
            let right = lens.get(a.wrapping_sub(1)).copied().unwrap_or(0);
            lens.iter().filter(|&&n| n >= right).count() == 1
        })
        .count();
    (fixed.len() >= 3 && longest * 2 > fixed.len()).then(|| {
        format!(
            "in {longest} of {} questions the right answer is the longest choice: a learner can pass by length; make the wrong choices as specific as the right one",
            fixed.len()
        )
    })
}

/// A right answer this much longer than the longest wrong one is picked by its length alone
/// (once it is a sentence, not a word: below `STANDS_OUT_FROM` characters length tells little).
pub const STANDS_OUT: f64 = 1.5;
pub const STANDS_OUT_FROM: usize = 24;

/// Questions (1-based) whose right answer is at least `STANDS_OUT` times as long as every wrong
/// choice, with that ratio.
fn stands_out_by_length(l: &Lesson) -> Vec<(usize, f64)> {
    let mut out = Vec::new();
    for (i, q) in l.quiz.iter().enumerate() {
        let Some(a) = q.answer else { continue };
        let lens: Vec<usize> = q.choices.iter().map(|c| c.chars().count()).collect();
        let Some(&right) = lens.get(a.wrapping_sub(1)) else {
            continue;
        };
        let wrong = lens
            .iter()
            .enumerate()
            .filter(|(j, _)| *j + 1 != a)
            .map(|(_, &n)| n)
            .max()
            .unwrap_or(0);
        let ratio = right as f64 / wrong.max(1) as f64;
        if q.choices.len() >= 2 && right >= STANDS_OUT_FROM && ratio >= STANDS_OUT {
            out.push((i + 1, ratio));
        }
    }
    out
}

/// Plain (unquoted) YAML values cut at ` #`: what follows is a comment and silently dropped.
fn cut_at_comment(ctx: &mut Ctx<'_>) {
    let mut found = Vec::new();
    for line in ctx.text.lines() {
        let t = line.trim_start();
        if t.starts_with('#') || t.starts_with("- |") {
            continue;
        }
        let Some((_, value)) = t.trim_start_matches("- ").split_once(": ") else {
            continue;
        };
        let v = value.trim_start();
        let quoted = v.starts_with(['"', '\'', '{', '[', '|', '>']);
        if !quoted && v.contains(" #") {
            found.push(t.to_string());
        }
    }
    for t in found {
        ctx.err(
            &t,
            "this plain value has ` #` in it: YAML drops everything from there on as a comment; quote the value".into(),
        );
    }
}

/// The quiz: choices, answers in range, and predict commands checked like any other command.
async fn check_quiz(
    ctx: &mut Ctx<'_>,
    l: &Lesson,
    known: &HashSet<String>,
    managed: bool,
    conn: Option<&Fence>,
) -> Result<()> {
    if let Some(m) = guessable_by_length(l) {
        ctx.err("^quiz:", m);
    }
    for (n, ratio) in stands_out_by_length(l) {
        ctx.err(
            &l.quiz[n - 1].question,
            format!(
                "question {n}: the right answer is {ratio:.1}× as long as any wrong one, so length gives it away; make the wrong choices as specific and as plausible as the right one"
            ),
        );
    }
    let saved: std::collections::BTreeSet<String> = known.iter().cloned().collect();
    for (i, q) in l.quiz.iter().enumerate() {
        let n = i + 1;
        for p in crate::lesson::vary::problems(q, n, &saved) {
            ctx.err(&q.question, p);
        }
        // Every case is checked as it will be asked.
        let cases: Vec<crate::lesson::model::Question> = (0..q.vary.len().max(1))
            .map(|c| crate::lesson::vary::instance(q, c, "x"))
            .collect();
        let q = &cases[0];
        if q.choices.len() < 2 {
            ctx.err(
                &q.question,
                format!("question {n} needs at least 2 choices"),
            );
        }
        if q.explanation.trim().is_empty() {
            ctx.err(&q.question, format!("question {n} needs an explanation"));
        }
        match (&q.predict, q.answer) {
            (None, None) => ctx.err(
                &q.question,
                format!("question {n} needs an answer (1–{})", q.choices.len()),
            ),
            (None, Some(a)) if a == 0 || a > q.choices.len() => ctx.err(
                &q.question,
                format!(
                    "question {n}: answer {a} is out of range 1–{}",
                    q.choices.len()
                ),
            ),
            (Some(_), Some(_)) => ctx.err(
                &q.question,
                format!("question {n}: a predict question takes no answer: Redis decides"),
            ),
            (Some(p), None) => {
                if p.is_empty() {
                    ctx.err(&q.question, format!("question {n}: predict needs commands"));
                }
                for case in &cases {
                    for c in case.setup.iter().chain(case.predict.iter().flatten()) {
                        command(ctx, c, known, managed, conn).await?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn key_ref(ctx: &mut Ctx<'_>, n: usize, k: &str) {
    if !k.starts_with("${ns}:") {
        ctx.err(k, format!("step {n}: key {k:?} must start with ${{ns}}:"));
    }
}

fn check_check(ctx: &mut Ctx<'_>, n: usize, c: &Check, known: &HashSet<String>, kind: &StepKind) {
    if let Some(k) = &c.key {
        key_ref(ctx, n, k);
        unknown_vars(ctx, n, k, known);
    }
    if c.metric.is_some()
        && !matches!(
            kind,
            StepKind::Scenario { .. } | StepKind::Compare { .. } | StepKind::Race(_)
        )
    {
        ctx.err(
            "metric:",
            format!("step {n}: metric checks belong to scenario, race or compare steps"),
        );
    }
    let any =
        c.reply.is_some() || c.reply_matches.is_some() || c.key.is_some() || c.metric.is_some();
    if !any {
        ctx.err(
            "checks:",
            format!("step {n}: a check needs reply, reply_matches, key or metric"),
        );
    }
    if let Some(re) = &c.reply_matches {
        if regex_lite::Regex::new(re).is_err() {
            ctx.err(
                re,
                format!("step {n}: reply_matches {re:?} is not a valid regular expression"),
            );
        }
    }
    if c.key.is_none()
        && (c.exists.is_some()
            || c.key_type.is_some()
            || c.encoding.is_some()
            || c.ttl.is_some()
            || c.value.is_some()
            || c.len.is_some()
            || c.min_len.is_some()
            || c.max_len.is_some()
            || c.member.is_some()
            || c.score.is_some()
            || c.field.is_some())
    {
        ctx.err(
            "checks:",
            format!("step {n}: key checks (exists, type, ttl, ...) need `key`"),
        );
    }
}

fn unknown_vars(ctx: &mut Ctx<'_>, n: usize, text: &str, known: &HashSet<String>) {
    for v in names_in(text) {
        if !known.contains(&v) {
            ctx.err(
                text,
                format!("step {n}: ${{{v}}} is used before it is saved (save_as or let)"),
            );
        }
    }
}

fn check_sql(ctx: &mut Ctx<'_>, n: usize, setup: &[String], statements: &[String]) {
    let Ok(db) = rusqlite::Connection::open_in_memory() else {
        return;
    };
    for s in setup {
        if let Err(e) = db.execute_batch(s) {
            ctx.err(s, format!("step {n}: SQLite setup fails: {e}"));
            return;
        }
    }
    for s in statements {
        if let Err(e) = db.prepare(s) {
            ctx.err(s, format!("step {n}: SQLite statement fails: {e}"));
        }
    }
}

async fn command(
    ctx: &mut Ctx<'_>,
    line: &str,
    known: &HashSet<String>,
    managed: bool,
    conn: Option<&Fence>,
) -> Result<()> {
    for v in names_in(line) {
        if !known.contains(&v) {
            ctx.err(
                line,
                format!("${{{v}}} is used before it is saved (save_as or let)"),
            );
        }
    }
    // It must tokenise like redis-cli; then each argument gets its variables filled in, as the
    // engine does. Saved values get a hostile stand-in (a space, quotes, a glob) that must stay
    // inside its one argument, so a key check below sees exactly what a run could send.
    let args = match tokenize(line) {
        Ok(a) if !a.is_empty() => a
            .into_iter()
            .map(|arg| match String::from_utf8(arg) {
                Ok(text) => stand_in(&text).into_bytes(),
                Err(e) => e.into_bytes(),
            })
            .collect::<Vec<_>>(),
        Ok(_) => {
            ctx.err(line, "empty command".into());
            return Ok(());
        }
        Err(e) => {
            ctx.err(
                line,
                format!("{e}: {line:?} does not tokenise as redis-cli would"),
            );
            return Ok(());
        }
    };
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    if let Some(m) = classes::problem(&args, managed, conn).await? {
        ctx.err(line, m);
    }
    if matches!(name.as_str(), "PUBLISH" | "SUBSCRIBE" | "PSUBSCRIBE") {
        if let Some(ch) = args.get(1) {
            if !ch.starts_with(STANDIN_PREFIX.as_bytes()) {
                ctx.err(
                    line,
                    format!(
                        "channel {} must start with ${{ns}}:",
                        String::from_utf8_lossy(ch)
                    ),
                );
            }
        }
    }
    if let Some(fence) = conn {
        if args.len() >= 2 {
            if let Some(keys) = fence.keys_of(&args).await? {
                for k in keys {
                    {
                        if k.starts_with(STANDIN_PREFIX.as_bytes())
                            && !ctx.patterns.iter().any(|p| glob(p.as_bytes(), &k))
                        {
                            ctx.err(
                                line,
                                format!(
                                    "key {} is not covered by the lesson's `keys` patterns, so `redislab reset` would leave it behind",
                                    String::from_utf8_lossy(&k)
                                ),
                            );
                        }
                        if !k.starts_with(STANDIN_PREFIX.as_bytes()) {
                            ctx.err(
                                line,
                                format!(
                                    "key {} is outside the namespace: write ${{ns}}:{}",
                                    String::from_utf8_lossy(&k),
                                    String::from_utf8_lossy(&k)
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
