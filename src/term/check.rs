//! Draws `redislab check`: what is about to run, then the verdict — what was explored on a
//! pass; on a failure the schedule, its number for `--replay`, the rule that broke and the
//! timeline of who sent what. Timeline text came from the learner's program and the server
//! and was escaped where it was made (`check::timeline`).

use crate::check::{Options, Report, Verdict};

/// The most timeline lines shown (the last ones: the end of a run is where it broke).
const TIMELINE_LINES: usize = 40;

pub fn starting(opts: &Options, learner_user: bool) {
    let shown = crate::check::shell_line(&opts.command);
    let what = match opts.replay {
        Some(id) => format!("schedule {id}"),
        None => format!("up to {} schedules", opts.schedules),
    };
    eprintln!(
        "{}",
        super::dim(&format!(
            "check {}: {} workers of `{}`, {what}{}",
            opts.pattern.name(),
            opts.workers,
            crate::untrusted::printable_str(&shown),
            if learner_user {
                ""
            } else {
                " (scripts are refused here: use --managed to check code that runs EVAL)"
            }
        ))
    );
}

pub fn report(r: &Report, opts: &Options) {
    let mut out = String::new();
    let secs = r.elapsed.as_secs_f64();
    let replay = |id: u64| {
        let cmd = crate::check::shell_line(&opts.command);
        format!(
            "redislab check {} --workers {} --replay {id} -- {}",
            r.pattern.name(),
            r.workers,
            crate::untrusted::printable_str(&cmd)
        )
    };
    match &r.verdict {
        Verdict::Pass => {
            out.push_str(&format!(
                "{} {}: the invariant held in {:.1} s\n",
                super::good("✓"),
                r.pattern.name(),
                secs
            ));
            out.push_str(&format!("  {}\n", r.explored()));
            out.push_str(&super::dim(&format!(
                "  invariant: {}\n",
                r.pattern.invariant()
            )));
        }
        Verdict::Violation {
            schedule,
            broken,
            timeline,
        } => {
            out.push_str(&format!(
                "{} {}: broken by schedule {} (after {} schedule{}, {:.1} s)\n",
                super::bad("✗"),
                r.pattern.name(),
                schedule.id,
                r.ran.len(),
                if r.ran.len() == 1 { "" } else { "s" },
                secs
            ));
            out.push_str(&format!("  schedule: {schedule}\n"));
            out.push_str(&format!("  invariant: {}\n", r.pattern.invariant()));
            for b in broken {
                out.push_str(&format!("  {} {b}\n", super::bad("broken:")));
            }
            push_timeline(&mut out, timeline);
            out.push_str(&format!(
                "  replay: {}\n",
                super::command(&replay(schedule.id))
            ));
        }
        Verdict::ProgramFailed {
            schedule,
            why,
            timeline,
        } => {
            out.push_str(&format!(
                "{} {}: the program failed under schedule {} — not a verdict on the pattern\n",
                super::warn("!"),
                r.pattern.name(),
                schedule.id
            ));
            out.push_str(&format!("  {why}\n"));
            out.push_str(&format!("  schedule: {schedule}\n"));
            push_timeline(&mut out, timeline);
            out.push_str(&format!(
                "  replay: {}\n",
                super::command(&replay(schedule.id))
            ));
        }
    }
    super::out(&out);
}

fn push_timeline(out: &mut String, timeline: &[String]) {
    if timeline.is_empty() {
        return;
    }
    out.push_str("  timeline (#step worker command → reply):\n");
    let skip = timeline.len().saturating_sub(TIMELINE_LINES);
    if skip > 0 {
        out.push_str(&super::dim(&format!("    ... {skip} earlier lines\n")));
    }
    for line in &timeline[skip..] {
        out.push_str(&format!("    {line}\n"));
    }
}
