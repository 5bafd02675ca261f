//! Draws `redislab doctor`'s checks: one line each (a mark, the name, what was found) and an
//! indented fix under anything that needs one.

use crate::doctor::{Check, Status};

pub fn report(checks: &[Check], width: usize) -> String {
    let name_width = checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => super::good("✓"),
            Status::Note => super::warn("!"),
            Status::Problem => super::bad("✗"),
        };
        // The detail starts after the mark, the name and a space.
        let indent = " ".repeat(name_width + 3);
        let line = super::text::flow(&c.detail, &indent, width);
        let line = line.trim();
        out.push_str(&format!(
            "{mark} {} {line}\n",
            super::heading(&format!("{:<name_width$}", c.name))
        ));
        if let Some(fix) = &c.fix {
            let fix = super::text::flow(&format!("→ {fix}"), &indent, width);
            out.push_str(fix.trim_end());
            out.push('\n');
        }
    }
    let problems = checks
        .iter()
        .filter(|c| c.status == Status::Problem)
        .count();
    out.push_str(&if problems == 0 {
        super::good("all is well\n")
    } else {
        super::bad(&format!(
            "{problems} problem{} to fix\n",
            if problems == 1 { "" } else { "s" }
        ))
    });
    out
}
