//! Draws `redislab check`: what is about to run, then the verdict — what was explored on a
//! pass; on a failure the schedule, its number for `--replay`, the rule that broke and the
//! timeline of who sent what. Timeline text came from the learner's program and the server
//! and was escaped where it was made (`check::timeline`).

use crate::check::schedule::Fault;
use crate::check::{Options, Report, Verdict};

/// The most timeline lines shown (the last ones: the end of a run is where it broke).
const TIMELINE_LINES: usize = 40;

pub fn starting(opts: &Options, learner_user: bool) {
    let shown = crate::check::shell_line(&opts.command);
    let what = match opts.replay {
        Some(id) => format!("schedule {id}"),
        None => format!("up to {} schedules", opts.schedules),
    };
    let what = if opts.update {
        format!("{what}, w1 updating the database")
    } else {
        what
    };
    let what = if opts.failover {
        format!("{what}, with failovers on a private primary and replica")
    } else {
        what
    };
    let mut text = String::new();
    line(
        &mut text,
        "",
        "  ",
        &format!(
            "check {}: {} workers of `{}`, {what}{}",
            opts.pattern.name(),
            opts.workers,
            crate::untrusted::printable_str(&shown),
            if learner_user {
                ""
            } else {
                " (scripts are refused here: use --managed to check code that runs EVAL)"
            }
        ),
    );
    eprint!("{}", super::dim(&text));
}

pub fn interrupted() {
    eprintln!(
        "{}",
        super::warn("check interrupted: the workers were stopped and the run's keys deleted")
    );
}

/// One logical line wrapped to the terminal, its continuation indented under its text.
fn line(out: &mut String, first: &str, rest: &str, text: &str) {
    let width = usize::from(super::width()).max(40);
    let opts = textwrap::Options::new(width)
        .initial_indent(first)
        .subsequent_indent(rest)
        .break_words(true);
    out.push_str(&textwrap::fill(text, opts));
    out.push('\n');
}

pub fn report(r: &Report, opts: &Options) {
    let mut out = String::new();
    let secs = r.elapsed.as_secs_f64();
    let replay = |id: u64| {
        let cmd = crate::check::shell_line(&opts.command);
        format!(
            "redislab check {}{}{} --workers {} --replay {id} -- {}",
            r.pattern.name(),
            if opts.update { " --update" } else { "" },
            if opts.failover { " --failover" } else { "" },
            r.workers,
            crate::untrusted::printable_str(&cmd)
        )
    };
    let invariant = format!("invariant: {}", r.pattern.invariant(opts.update));
    match &r.verdict {
        Verdict::Pass => {
            line(
                &mut out,
                "",
                "  ",
                &format!(
                    "{} {}: the invariant held in {secs:.1} s",
                    super::good("✓"),
                    r.pattern.name()
                ),
            );
            line(&mut out, "  ", "    ", &r.explored());
            if let Some(noted) = r.noted() {
                line(&mut out, "  ", "    ", &noted);
            }
            line(&mut out, "  ", "    ", &super::dim(&invariant));
        }
        Verdict::Violation {
            schedule,
            broken,
            notes,
            timeline,
        } => {
            let n = r.ran.len();
            line(
                &mut out,
                "",
                "  ",
                &format!(
                    "{} {}: broken by schedule {} (after {n} schedule{}, {secs:.1} s)",
                    super::bad("✗"),
                    r.pattern.name(),
                    schedule.id,
                    if n == 1 { "" } else { "s" },
                ),
            );
            line(&mut out, "  ", "    ", &format!("schedule: {schedule}"));
            line(&mut out, "  ", "    ", &invariant);
            for b in broken {
                line(
                    &mut out,
                    "  ",
                    "    ",
                    &format!("{} {b}", super::bad("broken:")),
                );
            }
            let (kind, allowed) = r.pattern.note_kind();
            for n in notes {
                line(&mut out, "  ", "    ", &format!("{kind} ({allowed}): {n}"));
            }
            if schedule
                .faults
                .iter()
                .any(|f| matches!(f, Fault::Failover { .. }))
            {
                line(
                    &mut out,
                    "  ",
                    "    ",
                    "why a failover can do this: a replica copies its primary asynchronously, so a write the old primary acknowledged can be missing on the promoted replica. WAIT narrows the window without closing it; code that survives reads its write back after a failover, or makes the write safe to repeat (lesson 21).",
                );
            }
            push_timeline(&mut out, timeline);
            out.push_str(&format!(
                "  replay it:\n  {}\n",
                super::command(&replay(schedule.id))
            ));
        }
        Verdict::ProgramFailed {
            schedule,
            why,
            timeline,
        } => {
            line(
                &mut out,
                "",
                "  ",
                &format!(
                    "{} {}: the program failed under schedule {} — not a verdict on the pattern",
                    super::warn("!"),
                    r.pattern.name(),
                    schedule.id
                ),
            );
            line(&mut out, "  ", "    ", why);
            line(&mut out, "  ", "    ", &format!("schedule: {schedule}"));
            push_timeline(&mut out, timeline);
            out.push_str(&format!(
                "  replay it:\n  {}\n",
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
    for l in &timeline[skip..] {
        line(out, "    ", "             ", l);
    }
}
