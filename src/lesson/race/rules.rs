//! What a race may not do, checked without a server: bounds, barriers only where every worker
//! reaches them, metric names that exist. And what it reports: every `<round>.<name>` metric.

use std::collections::BTreeSet;

use super::{
    Action, BUILTIN_METRICS, MAX_ATTEMPTS, MAX_BACKOFF_MS, MAX_PAUSE_MS, MAX_PLANNED_MS,
    MAX_REPEAT, MAX_ROUND_COMMANDS, MAX_WORKERS, Race,
};

impl Race {
    /// Every metric this race reports, `round.name`, for checks and columns.
    pub fn metrics(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for r in &self.rounds {
            let mut names: BTreeSet<String> = r.measure.keys().cloned().collect();
            names.extend(BUILTIN_METRICS.iter().map(|s| s.to_string()));
            collect_tallies(&r.worker, &mut names);
            out.extend(names.into_iter().map(|n| format!("{}.{n}", r.name)));
        }
        out
    }

    pub fn workers(&self) -> u32 {
        self.groups.iter().map(|g| g.workers).sum()
    }

    /// The race's total planned waiting, in worker-milliseconds: for every round, workers ×
    /// repeat × the longest a pass can wait by design (pauses, and retries' backoff run to the
    /// last attempt). Bounded by `MAX_PLANNED_MS`.
    pub fn planned_ms(&self) -> u64 {
        let workers = u64::from(self.workers());
        self.rounds
            .iter()
            .map(|r| {
                workers
                    .saturating_mul(u64::from(r.repeat))
                    .saturating_mul(pass_worst_ms(&r.worker))
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Everything wrong with the race that needs no server.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.forced_by.trim().is_empty() {
            out.push("`forced_by` must say how the race forces its interleaving".into());
        }
        if self.groups.is_empty() {
            out.push("a race needs `workers: N` or `groups`".into());
        }
        let total = self.workers();
        if total == 0 || total > MAX_WORKERS {
            out.push(format!(
                "a race runs 1 to {MAX_WORKERS} workers in all, not {total}"
            ));
        }
        let mut seen = BTreeSet::new();
        for g in &self.groups {
            if !seen.insert(&g.name) {
                out.push(format!("group `{}` appears twice", g.name));
            }
        }
        if self.rounds.is_empty() {
            out.push("a race needs at least one round".into());
        }
        let mut names = BTreeSet::new();
        for r in &self.rounds {
            if !names.insert(&r.name) || r.name.is_empty() || r.name.contains('.') {
                out.push(format!(
                    "round name `{}` must be unique, non-empty and without a dot",
                    r.name
                ));
            }
            if r.repeat == 0 || r.repeat > MAX_REPEAT {
                out.push(format!(
                    "round `{}`: `repeat` must be between 1 and {MAX_REPEAT}, got {}",
                    r.name, r.repeat
                ));
            }
            let per_pass = count_commands(&r.worker);
            let commands = u64::from(total) * u64::from(r.repeat) * per_pass;
            if commands > MAX_ROUND_COMMANDS {
                out.push(format!(
                    "round `{}` would send {commands} commands (workers × repeat × commands, retries aside); keep it under {MAX_ROUND_COMMANDS}",
                    r.name
                ));
            }
            action_problems(&r.name, &r.worker, true, &mut out);
        }
        let planned = self.planned_ms();
        if planned > MAX_PLANNED_MS {
            out.push(format!(
                "the race plans {} s of waiting in all (workers × repeat × pauses and retries' backoff at their worst, over every round); keep it under {} s",
                planned / 1000,
                MAX_PLANNED_MS / 1000
            ));
        }
        let metrics = self.metrics();
        for c in &self.columns {
            if !self
                .rounds
                .iter()
                .any(|r| metrics.contains(&format!("{}.{}", r.name, c.metric)))
            {
                out.push(format!(
                    "column `{}` shows metric `{}`, which no round reports ({})",
                    c.title,
                    c.metric,
                    short_list(&metrics)
                ));
            }
        }
        out
    }

    /// Every command template of the race (setup, workers, measure), for namespace checks.
    pub fn command_lines(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for r in &self.rounds {
            out.extend(r.setup.iter().map(String::as_str));
            collect_commands(&r.worker, &mut out);
            out.extend(r.measure.values().map(String::as_str));
            out.extend(r.teardown.iter().map(String::as_str));
        }
        out
    }

    /// Variables a worker's commands may use besides the lesson's: group variables, the
    /// worker's own numbers, and what its commands save.
    pub fn worker_vars(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = ["worker", "group", "iteration"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for g in &self.groups {
            out.extend(g.let_vars.keys().cloned());
        }
        for r in &self.rounds {
            collect_saves(&r.worker, &mut out);
        }
        out
    }
}

pub fn short_list(metrics: &BTreeSet<String>) -> String {
    let all: Vec<&str> = metrics.iter().map(String::as_str).collect();
    if all.len() > 12 {
        format!("known: {}, …", all[..12].join(", "))
    } else {
        format!("known: {}", all.join(", "))
    }
}

fn action_problems(round: &str, actions: &[Action], top: bool, out: &mut Vec<String>) {
    for a in actions {
        match a {
            Action::Sync if !top => out.push(format!(
                "round `{round}`: `sync: all` inside `when` would leave the workers that skip it waiting forever; put it at the top of the list"
            )),
            Action::Pause(ms) if *ms > MAX_PAUSE_MS => out.push(format!(
                "round `{round}`: `pause_ms` must be at most {MAX_PAUSE_MS}, got {ms}"
            )),
            Action::When { then, .. } => {
                action_problems(round, then, false, out);
            }
            Action::Command(c) => {
                if let Some(r) = &c.retry {
                    if r.until.is_some() == r.until_not.is_some() {
                        out.push(format!(
                            "round `{round}`: a `retry` needs exactly one of `until` and `until_not` ({})",
                            c.cmd
                        ));
                    }
                    if r.attempts == 0 || r.attempts > MAX_ATTEMPTS {
                        out.push(format!("round `{round}`: retry `attempts` must be between 1 and {MAX_ATTEMPTS}, got {}", r.attempts));
                    }
                    if r.backoff_ms > r.max_backoff_ms || r.max_backoff_ms > MAX_BACKOFF_MS {
                        out.push(format!(
                            "round `{round}`: retry needs backoff_ms ≤ max_backoff_ms ≤ {MAX_BACKOFF_MS}, got {} and {}",
                            r.backoff_ms, r.max_backoff_ms
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

/// The longest one pass of a worker's list can spend waiting by design: its pauses, and every
/// retry's backoff run to its last attempt (`when` taken as if it held).
fn pass_worst_ms(actions: &[Action]) -> u64 {
    actions
        .iter()
        .map(|a| match a {
            Action::Pause(ms) => *ms,
            Action::When { then, .. } => pass_worst_ms(then),
            Action::Command(c) => c.retry.as_ref().map_or(0, |r| {
                let mut wait = r.backoff_ms;
                let mut total: u64 = 0;
                for _ in 1..r.attempts {
                    total = total.saturating_add(wait.min(r.max_backoff_ms));
                    wait = wait.saturating_mul(2);
                }
                total
            }),
            _ => 0,
        })
        .fold(0u64, u64::saturating_add)
}

fn count_commands(actions: &[Action]) -> u64 {
    actions
        .iter()
        .map(|a| match a {
            Action::Command(_) => 1,
            Action::When { then, .. } => count_commands(then),
            _ => 0,
        })
        .sum()
}

fn collect_tallies(actions: &[Action], out: &mut BTreeSet<String>) {
    for a in actions {
        match a {
            Action::Tally(n) => {
                out.insert(n.clone());
            }
            Action::Command(c) => out.extend(c.tally.values().cloned()),
            Action::When { then, .. } => collect_tallies(then, out),
            _ => {}
        }
    }
}

fn collect_commands<'a>(actions: &'a [Action], out: &mut Vec<&'a str>) {
    for a in actions {
        match a {
            Action::Command(c) => out.push(&c.cmd),
            Action::When { then, .. } => collect_commands(then, out),
            _ => {}
        }
    }
}

fn collect_saves(actions: &[Action], out: &mut BTreeSet<String>) {
    for a in actions {
        match a {
            Action::Command(c) => out.extend(c.save_as.clone()),
            Action::When { then, .. } => collect_saves(then, out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod planned {
    #[test]
    fn shipped_races_plan_within_the_ceiling() {
        for (source, text) in crate::lesson::loader::sources(None).expect("embedded") {
            let lesson = crate::lesson::loader::parse(&source, &text).expect("parses");
            for step in &lesson.steps {
                if let crate::lesson::model::StepKind::Race(r) = &step.kind {
                    eprintln!("{source} {}: {} ms", step.title, r.planned_ms());
                    assert!(r.planned_ms() <= super::MAX_PLANNED_MS, "{source}");
                }
            }
        }
    }
}
