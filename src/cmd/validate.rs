//! `redislab validate [PATH...] [--live]`: checks lesson files; `--live` runs each lesson
//! against a throwaway redis-server (a lesson that needs a Redis Cluster, against a throwaway
//! cluster) and proves every exercise is real.

use anyhow::{Context, Result};

use crate::cli::ValidateArgs;
use crate::error::{Exit, code};
use crate::lesson::loader::{self, LoadError, Loaded};
use crate::lesson::validate::validate_texts;
use crate::redis::throwaway::Throwaway;
use crate::runner::Engine;
use crate::runner::walk::{Options, Walker};
use crate::settings::Settings;
use crate::term;
use crate::term::prompt::NoPrompts;

pub async fn run(settings: &Settings, args: ValidateArgs) -> Result<u8> {
    if args.scenarios {
        term::out(&scenario_reference());
        return Ok(0);
    }
    let files = if args.paths.is_empty() {
        loader::sources(settings.lessons_dir.as_deref())?
    } else {
        let mut files = Vec::new();
        for p in &args.paths {
            let mut found = loader::yaml_files(p)?;
            found.sort();
            for f in found {
                let text = std::fs::read_to_string(&f).map_err(|e| {
                    anyhow::anyhow!("could not read lesson file {}: {e}", f.display())
                })?;
                files.push((f.display().to_string(), text));
            }
        }
        files
    };
    if files.is_empty() {
        return Err(Exit::new(code::USAGE, "no lesson files found").into());
    }
    // A private server answers COMMAND GETKEYS (which arguments are keys) and runs --live.
    let binaries = crate::redis::binaries::Binaries::new(&settings.home);
    let server = match Throwaway::start(&binaries, args.server_binary.as_deref()).await {
        Ok(s) => Some(s),
        Err(e) if args.live => {
            return Err(Exit::new(
                code::CONNECTION,
                format!("validate --live needs a server to run the lessons on: {e:#}"),
            )
            .into());
        }
        Err(e) => {
            term::notice(&format!(
                "note: key names not checked against the namespace ({e:#})"
            ));
            None
        }
    };
    let conn = match &server {
        Some(s) => Some(s.connection(crate::lesson::validate::STANDIN_NS).await?),
        None => None,
    };
    let (loaded, mut problems) = validate_texts(&files, conn.as_ref().map(|c| c.fence())).await?;
    if args.live && problems.is_empty() {
        if let Some(s) = &server {
            for l in &loaded {
                if l.lesson
                    .requires
                    .as_ref()
                    .is_some_and(|r| r.cluster || r.replicas)
                {
                    problems.extend(live_on_cluster(l, &binaries).await?);
                } else {
                    problems.extend(live(settings, &s.url(), l).await?);
                }
            }
        }
    }
    for note in script_notes(&loaded) {
        term::out(&format!("{note}\n"));
    }
    for p in &problems {
        term::out(&format!("{p}\n"));
    }
    if problems.is_empty() {
        let variants: usize = loaded
            .iter()
            .flat_map(|l| &l.lesson.steps)
            .map(|s| s.accepts.len())
            .sum();
        let what = match (args.live, variants) {
            (false, _) => "valid".to_string(),
            (true, 0) => "valid, and every step and exercise proved on a live server".to_string(),
            (true, n) => format!(
                "valid, and every step and exercise proved on a live server, with {n} accepted variant{} replayed through every later step",
                if n == 1 { "" } else { "s" }
            ),
        };
        term::out(&format!(
            "{} lesson file{} {what}\n",
            loaded.len(),
            if loaded.len() == 1 { "" } else { "s" }
        ));
        Ok(0)
    } else {
        term::out(&format!(
            "{} problem{}\n",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        ));
        Ok(code::FAILURE)
    }
}

async fn live(settings: &Settings, url: &str, l: &Loaded) -> Result<Vec<LoadError>> {
    let mut s = settings.clone();
    s.redis_url = Some(url.to_string());
    // Not the default namespace, so a lesson that writes `lab:` where it means `${ns}:` fails.
    s.namespace = crate::lesson::validate::STANDIN_NS.to_string();
    s.managed = false;
    s.cluster = false;
    let server = crate::redis::connect::connect(&s).await?;
    prove(&server, &s.namespace, l).await
}

/// A lesson that needs a Redis Cluster runs on a throwaway one: redislab's managed cluster in a
/// temporary home (with a replica per master if a step needs one), stopped afterwards. Where
/// none can start, the lesson is left out with a note.
async fn live_on_cluster(
    l: &Loaded,
    binaries: &crate::redis::binaries::Binaries,
) -> Result<Vec<LoadError>> {
    let home = tempfile::tempdir().context("could not create a folder for a throwaway cluster")?;
    // Replicas only when a step needs them (a failover): they make the start slower.
    let wants_replicas = l
        .lesson
        .steps
        .iter()
        .any(|s| s.requires.as_ref().is_some_and(|r| r.replicas));
    let replicas = u8::from(wants_replicas);
    let started =
        crate::redis::managed_cluster::ensure_running_with(home.path(), binaries, replicas).await;
    let cluster = match started {
        Ok((c, _)) => c,
        Err(e) => {
            term::notice(&format!(
                "lesson {} not run live: it needs a Redis Cluster, and a throwaway one could not start ({e:#})",
                l.lesson.id
            ));
            return Ok(Vec::new());
        }
    };
    let ns = crate::lesson::validate::STANDIN_NS;
    let proved = match crate::redis::connect::managed_cluster_server(&cluster, ns).await {
        Ok(mut server) => {
            server.binaries = binaries.clone();
            prove(&server, ns, l).await
        }
        Err(e) => Err(e),
    };
    crate::redis::managed_cluster::stop(home.path()).await?;
    proved
}

/// Walks the lesson in `--auto` on `server` and lists every way it failed to prove itself.
async fn prove(
    server: &crate::redis::connect::Server,
    namespace: &str,
    l: &Loaded,
) -> Result<Vec<LoadError>> {
    let mut engine = Engine::new(server, namespace).await?;
    let mut prompts = NoPrompts;
    let mut failed = FailedChecks::default();
    let answers = Some(vec![1; l.lesson.quiz.len()]);
    let walker = Walker {
        engine: &mut engine,
        lesson: &l.lesson,
        prompter: &mut prompts,
        view: &mut failed,
        store: None,
        options: Options {
            auto: true,
            from_step: 1,
            answers,
            quiz: true,
            keep_until: 0,
        },
    };
    let problem = |message: String| LoadError {
        source: l.source.clone(),
        line: None,
        column: None,
        message,
    };
    let mut summary = match walker.walk().await {
        Ok(s) => s,
        Err(e) => return Ok(vec![problem(format!("live run failed: {e:#}"))]),
    };
    // The quiz asked the first case of each varying question: every other case must work too.
    let mut walker = Walker {
        engine: &mut engine,
        lesson: &l.lesson,
        prompter: &mut prompts,
        view: &mut failed,
        store: None,
        options: Options {
            auto: true,
            from_step: 1,
            answers: None,
            quiz: true,
            keep_until: 0,
        },
    };
    for (qi, q) in l.lesson.quiz.iter().enumerate() {
        for case in 1..q.vary.len() {
            let mut asked = crate::runner::walk::Summary::default();
            if let Err(e) = walker.ask_again(qi + 1, case, Some(1), &mut asked).await {
                return Ok(vec![problem(format!("live run failed: {e:#}"))]);
            }
            for (n, actual) in asked.stale_predictions {
                summary
                    .stale_predictions
                    .push((n, format!("{actual} (vary case {})", case + 1)));
            }
        }
    }
    let mut out = Vec::new();
    for (i, title) in &summary.failed_steps {
        let mut m = format!("live: step {i} ({title}) has failing checks");
        for c in failed.by_step.get(i).into_iter().flatten() {
            m.push_str(&format!("\n    ✗ {c}"));
        }
        out.push(problem(m));
    }
    for (i, failed_before, passed_after) in &summary.exercise_proofs {
        if !failed_before {
            out.push(problem(format!("live: exercise at step {i} passes before the learner acts: its checks prove nothing")));
        }
        if !passed_after {
            out.push(problem(format!(
                "live: exercise at step {i} fails after its own solution"
            )));
        }
    }
    for (i, p) in &summary.exercise_problems {
        out.push(problem(format!("live: step {i}: {p}")));
    }
    for (q, actual) in &summary.stale_predictions {
        out.push(problem(format!(
            "live: predict question {q}: no choice equals Redis's reply {actual}"
        )));
    }
    if let Some(reason) = &summary.unavailable {
        out.push(problem(format!(
            "live: the lesson could not run: it {reason}"
        )));
    }
    // The variants are proved only on a lesson that passes as written: otherwise every
    // replay would repeat the lesson's own failure.
    if out.is_empty() {
        out.extend(prove_variants(server, namespace, l).await?);
    }
    let _ = crate::namespace::delete_matching(
        &mut server.admin(),
        namespace,
        &crate::namespace::all_keys(namespace),
    )
    .await;
    Ok(out)
}

/// Every `accepts` variant of every typed step, proved by one replay each: from the lesson's
/// clean state the earlier steps run as `--auto` runs them, the variant runs in place of the
/// step's own commands and must pass its checks, then every later step runs its own commands
/// and must pass too. A variant that strands a later step is named with that step and its
/// first failed check, and the two ways out.
async fn prove_variants(
    server: &crate::redis::connect::Server,
    namespace: &str,
    l: &Loaded,
) -> Result<Vec<LoadError>> {
    let problem = |message: String| LoadError {
        source: l.source.clone(),
        line: None,
        column: None,
        message,
    };
    let mut out = Vec::new();
    for (k, step) in l.lesson.steps.iter().enumerate() {
        let k = k + 1;
        for variant in &step.accepts {
            let _ = crate::namespace::delete_matching(
                &mut server.admin(),
                namespace,
                &crate::namespace::all_keys(namespace),
            )
            .await;
            let mut engine = Engine::new(server, namespace).await?;
            let mut prompts = NoPrompts;
            let mut failed = FailedChecks::default();
            let walker = Walker {
                engine: &mut engine,
                lesson: &l.lesson,
                prompter: &mut prompts,
                view: &mut failed,
                store: None,
                options: Options {
                    auto: true,
                    from_step: k,
                    answers: None,
                    quiz: false,
                    keep_until: 0,
                },
            };
            let shown = variant_text(step, variant);
            let summary = match walker.walk_variant(k, variant).await {
                Ok(s) => s,
                Err(e) => {
                    out.push(problem(format!(
                        "live: step {k} accepts \"{shown}\", but the replay with it failed: {e:#}"
                    )));
                    continue;
                }
            };
            if summary.skipped_steps.iter().any(|(s, _)| *s == k) {
                continue;
            }
            let first_failed = |m: usize| {
                failed
                    .by_step
                    .get(&m)
                    .and_then(|c| c.first())
                    .map(|c| format!(" (✗ {c})"))
                    .unwrap_or_default()
            };
            if summary.failed_steps.iter().any(|(s, _)| *s == k) {
                out.push(problem(format!(
                    "live: step {k} accepts \"{shown}\", but its own checks refuse it{}: correct the variant, or move it to wrong_answers",
                    first_failed(k)
                )));
                continue;
            }
            let refusals: Vec<&String> = summary
                .exercise_problems
                .iter()
                .filter(|(s, _)| *s == k)
                .map(|(_, p)| p)
                .collect();
            if !refusals.is_empty() {
                for p in refusals {
                    out.push(problem(format!(
                        "live: step {k} accepts \"{shown}\", but {}: correct the variant, or move it to wrong_answers",
                        p.trim_end_matches('.')
                    )));
                }
                continue;
            }
            if let Some((m, title)) = summary.failed_steps.iter().find(|(s, _)| *s > k) {
                let what = match &l.lesson.steps[m - 1].kind {
                    crate::lesson::model::StepKind::Exercise { .. } => "solution then fails",
                    crate::lesson::model::StepKind::Run { .. } => "own commands then fail",
                    _ => "checks then fail",
                };
                out.push(problem(format!(
                    "live: step {k} accepts \"{shown}\", but step {m}'s {what}{}: pin what step {m} ({}) needs with a check on step {k}, or list the variant under wrong_answers",
                    first_failed(*m),
                    crate::redis::render::printable_str(title)
                )));
            }
        }
    }
    Ok(out)
}

/// A variant as an author recognises it: for a run step only the lines that differ from the
/// step's own commands (the others are the same), joined by ` / `.
fn variant_text(step: &crate::lesson::model::Step, variant: &[String]) -> String {
    let lines: Vec<&str> = match &step.kind {
        crate::lesson::model::StepKind::Run { commands } => {
            let differ: Vec<&str> = variant
                .iter()
                .zip(commands)
                .filter(|(v, c)| !v.split_whitespace().eq(c.line().split_whitespace()))
                .map(|(v, _)| v.as_str())
                .collect();
            if differ.is_empty() {
                variant.iter().map(String::as_str).collect()
            } else {
                differ
            }
        }
        _ => variant.iter().map(String::as_str).collect(),
    };
    crate::redis::render::printable_str(&lines.join(" / ")).into_owned()
}

/// Records each step's failing checks, expected and found, as `lesson` prints them, so an
/// author sees why `--live` failed a step; everything else is dropped, as `Silent` drops it.
#[derive(Default)]
struct FailedChecks {
    step: usize,
    by_step: std::collections::BTreeMap<usize, Vec<String>>,
}

impl crate::runner::seam::View for FailedChecks {
    fn show(&mut self, event: crate::runner::seam::Event<'_>) {
        use crate::runner::seam::Event;
        match event {
            Event::StepHeader { index, .. } => self.step = index,
            Event::Checks(checks) => {
                let lines = checks.iter().filter(|c| !c.passed).map(|c| {
                    let mut line = format!(
                        "{}: expected {}, found {}",
                        c.what,
                        crate::redis::render::printable_str(&c.expected),
                        crate::redis::render::printable_str(&c.actual)
                    );
                    if let Some(why) = &c.why {
                        line.push_str(&format!(" ({why})"));
                    }
                    line
                });
                self.by_step.entry(self.step).or_default().extend(lines);
            }
            _ => {}
        }
    }

    fn ticker(&mut self, _label: &str) -> Box<dyn crate::measure::Ticker> {
        Box::new(crate::measure::Silent)
    }
}

/// Which steps need the managed server because they send a script that is not shipped with
/// redislab (elsewhere they are skipped), and, as a lint, scripts that name a key other than
/// through `KEYS[n]`. Notes, not problems: neither stops a lesson from loading.
fn script_notes(loaded: &[Loaded]) -> Vec<String> {
    use crate::lesson::scripts;
    let mut out = Vec::new();
    for l in loaded {
        let where_ = |step: Option<usize>| match step {
            Some(i) => format!(
                "step {} ({})",
                i + 1,
                crate::redis::render::printable_str(&l.lesson.steps[i].title)
            ),
            None => "setup or quiz".to_string(),
        };
        let mut needs: Vec<Option<usize>> = Vec::new();
        for (step, script) in scripts::lesson_scripts(&l.lesson) {
            if !scripts::is_shipped(&script) && !needs.contains(&step) {
                needs.push(step);
            }
            if let Err(why) = scripts::lint(&script) {
                out.push(format!("note: {}: {}: lint: {why}", l.source, where_(step)));
            }
        }
        for step in needs {
            out.push(format!(
                "note: {}: {} runs a script not shipped with redislab: it runs only on redislab's managed server (--managed) and is skipped elsewhere",
                l.source,
                where_(step)
            ));
        }
    }
    out
}

/// Every scenario with its summary and parameter table, as a lesson author needs them.
fn scenario_reference() -> String {
    let mut out = String::new();
    for (name, summary) in crate::scenarios::list() {
        out.push_str(&format!("\n{} — {summary}\n", term::heading(name)));
        let rows = crate::scenarios::parameter_table(name).unwrap_or_default();
        let mut t =
            term::table::new_table(vec!["parameter", "type", "default", "range", "meaning"]);
        for r in rows {
            t.add_row(vec![r.name, r.kind, r.default, r.range, r.meaning]);
        }
        out.push_str(&format!("{t}\n"));
    }
    out
}
