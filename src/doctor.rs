//! `redislab doctor`: every fact a learner (or whoever helps them) needs when something does
//! not work, gathered as a list of checks, each with a one-line fix where something is wrong.
//! Nothing here draws; `term::doctor` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::lesson::loader::Loaded;
use crate::lesson::model::Requires;
use crate::settings::Settings;

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// As it should be.
    Ok,
    /// Worth knowing, but nothing is broken (an optional command missing, no terminal).
    Note,
    /// Something a lesson needs does not work: doctor exits non-zero.
    Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    /// What was found, in one line.
    pub detail: String,
    /// What to do about it.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    fn note(name: &'static str, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check {
            name,
            status: Status::Note,
            detail: detail.into(),
            fix,
        }
    }
    fn problem(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            status: Status::Problem,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Whether every check passed (notes are fine).
pub fn healthy(checks: &[Check]) -> bool {
    checks.iter().all(|c| c.status != Status::Problem)
}

/// What the terminal is, as `term` measured it.
#[derive(Debug, Clone, Copy)]
pub struct Terminal {
    pub stdout_tty: bool,
    pub stdin_tty: bool,
    /// Columns, when stdout is a terminal.
    pub width: Option<u16>,
    pub color: bool,
}

/// Every check, in the order they are shown.
pub async fn run(settings: &Settings, lessons: &[Loaded], terminal: Terminal) -> Vec<Check> {
    let mut checks = Vec::new();
    // The home first: finding a server may start the managed one, which lives there.
    let home_ok = home(&settings.home, &mut checks);
    progress_db(&settings.home, home_ok, &mut checks);
    checks.extend(server(settings, lessons).await);
    checks.push(binaries(&settings.home));
    checks.push(Check::ok(
        "SQLite",
        format!("{} (bundled)", rusqlite::version()),
    ));
    checks.push(term_check(terminal));
    checks
}

async fn server(settings: &Settings, lessons: &[Loaded]) -> Vec<Check> {
    let server = match crate::redis::connect::connect(settings).await {
        Ok(s) => s,
        Err(e) => {
            return vec![Check::problem(
                "server",
                format!("{e:#}"),
                "install one with `redislab server install`, start one with `docker compose up -d`, \
                 or point redislab at yours with REDIS_URL=redis://host:port",
            )];
        }
    };
    let mut out = vec![Check::ok(
        "server",
        format!(
            "{} {} at {}, {}",
            server.product,
            server.version,
            server.display,
            server.source.describe()
        ),
    )];
    out.push(match &server.cluster {
        Some(c) => Check::ok("cluster", format!("yes, {} masters", c.masters)),
        None => Check::note(
            "cluster",
            "no, one server (lesson 14 needs a cluster)",
            Some(
                "`redislab server start --cluster`, then `redislab --managed --cluster lesson 14`"
                    .into(),
            ),
        ),
    });
    let mut conn = match server.connection().await {
        Ok(c) => c,
        Err(e) => {
            out.push(Check::problem(
                "server",
                format!("a second connection failed: {e:#}"),
                "check the server's maxclients and that it is not overloaded",
            ));
            return out;
        }
    };
    let whoami: redis::RedisResult<String> =
        redis::cmd("ACL").arg("WHOAMI").query_async(&mut conn).await;
    out.push(match whoami {
        Ok(user) => Check::ok(
            "ACL",
            format!(
                "yes (connected as {})",
                crate::untrusted::printable_str(&user)
            ),
        ),
        Err(e) => Check::note(
            "ACL",
            format!("not available: {}", e.to_string().replace('\n', " ")),
            Some("scripts you type run only on redislab's managed server (`--managed`), which fences them with an ACL user".into()),
        ),
    });
    // The newer commands and options the lessons use, each asked of the server.
    let mut wanted: BTreeMap<String, Requires> = BTreeMap::new();
    for l in lessons {
        let all = l
            .lesson
            .requires
            .iter()
            .chain(l.lesson.steps.iter().filter_map(|s| s.requires.as_ref()));
        for req in all {
            for c in &req.commands {
                let one = Requires {
                    commands: vec![c.clone()],
                    ..Requires::default()
                };
                wanted.entry(c.to_ascii_uppercase()).or_insert(one);
            }
            for o in &req.options {
                let one = Requires {
                    options: vec![o.clone()],
                    ..Requires::default()
                };
                wanted
                    .entry(o.replace('|', " ").to_ascii_uppercase())
                    .or_insert(one);
            }
        }
    }
    let mut have = Vec::new();
    let mut missing = Vec::new();
    for (name, req) in &wanted {
        match crate::runner::requires::unmet(&server, &mut conn, req).await {
            Ok(None) => have.push(name.clone()),
            Ok(Some(_)) | Err(_) => missing.push(name.clone()),
        }
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    out.push(if missing.is_empty() {
        Check::ok(
            "new commands",
            format!("all the lessons use: {}", list(&have)),
        )
    } else {
        Check::note(
            "new commands",
            format!("has {}; lacks {}", list(&have), list(&missing)),
            Some(
                "the steps that need them are offered on a private valkey-server when one is on PATH or in redislab's home (`redislab server install`), and skipped otherwise, each skip saying which servers have them"
                    .into(),
            ),
        )
    });
    out
}

/// `redis-server` and `valkey-server`: on PATH, or in redislab's home (where `server install`
/// puts valkey-server), found as every start of a server finds them.
fn binaries(home: &Path) -> Check {
    let found: Vec<String> = crate::redis::binaries::Binaries::new(home)
        .every()
        .iter()
        .map(|f| {
            if f.in_home {
                format!(
                    "{} in redislab's home ({})",
                    f.path.display(),
                    version_of(&f.path)
                )
            } else {
                format!("{} {}", f.name, version_of(&f.path))
            }
        })
        .collect();
    if found.is_empty() {
        Check::note(
            "server binary",
            "neither redis-server nor valkey-server is on PATH or in redislab's home: redislab cannot start its own server",
            Some("`redislab server install` fetches valkey-server into redislab's home".into()),
        )
    } else {
        Check::ok("server binary", found.join("; "))
    }
}

/// The version `binary --version` prints (its `v=9.1.2`), or why it did not run.
fn version_of(binary: &Path) -> String {
    match std::process::Command::new(binary).arg("--version").output() {
        Ok(o) if o.status.success() => {
            let text = String::from_utf8_lossy(&o.stdout);
            let line = text.lines().next().unwrap_or("").trim();
            let version = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("v="))
                .unwrap_or(line);
            crate::untrusted::printable_str(version).into_owned()
        }
        Ok(o) => format!("`--version` exited with {}", o.status),
        Err(e) => format!("does not run: {e}"),
    }
}

fn home(home: &Path, checks: &mut Vec<Check>) -> bool {
    let shown = home.display().to_string();
    let fix_elsewhere = format!(
        "give redislab a folder it can write: `--home DIR` or REDISLAB_HOME=DIR (or fix the permissions of {shown})"
    );
    if let Err(e) = std::fs::create_dir_all(home) {
        checks.push(Check::problem(
            "home",
            format!("{shown} cannot be created: {e}"),
            fix_elsewhere,
        ));
        return false;
    }
    if let Err(e) = tempfile::NamedTempFile::new_in(home) {
        checks.push(Check::problem(
            "home",
            format!("{shown} is not writable: {e}"),
            fix_elsewhere,
        ));
        return false;
    }
    match free_bytes(home) {
        Some(free) if free < 50 << 20 => {
            checks.push(Check::problem(
                "home",
                format!(
                    "{shown} is writable, but only {} are free",
                    human_size(free)
                ),
                "free some space on that disk, or use another folder with `--home DIR`",
            ));
            false
        }
        Some(free) => {
            checks.push(Check::ok(
                "home",
                format!("{shown}, writable, {} free", human_size(free)),
            ));
            true
        }
        None => {
            checks.push(Check::ok(
                "home",
                format!("{shown}, writable (free space unknown)"),
            ));
            true
        }
    }
}

/// `512 MB`, `70.3 GB`.
fn human_size(bytes: u64) -> String {
    const MB: u64 = 1 << 20;
    if bytes >= 1 << 30 {
        format!("{:.1} GB", bytes as f64 / (1u64 << 30) as f64)
    } else {
        format!("{} MB", bytes / MB)
    }
}

/// Free bytes on the disk holding `path`, from POSIX `df -Pk` (no unsafe statvfs call).
fn free_bytes(path: &Path) -> Option<u64> {
    // From PATH, else where systems keep it (a learner's PATH may be bare).
    let out = ["df", "/bin/df", "/usr/bin/df"].iter().find_map(|df| {
        std::process::Command::new(df)
            .arg("-Pk")
            .arg(path)
            .output()
            .ok()
            .filter(|o| o.status.success())
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    let kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(kib * 1024)
}

fn progress_db(home: &Path, home_ok: bool, checks: &mut Vec<Check>) {
    let path: PathBuf = home.join("progress.db");
    if !home_ok && !path.exists() {
        checks.push(Check::problem(
            "progress",
            format!("{} cannot be created", path.display()),
            "fix the home folder first (see above)",
        ));
        return;
    }
    let fix = format!(
        "move {} away to start afresh (keep what can be read first: `redislab progress --export FILE`)",
        path.display()
    );
    let store = match crate::store::Store::open_waiting(home, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::problem("progress", format!("{e:#}"), fix));
            return;
        }
    };
    match store.health() {
        Ok((verdict, lessons)) if verdict == "ok" => checks.push(Check::ok(
            "progress",
            format!(
                "{}: intact, {lessons} lesson{} saved",
                path.display(),
                if lessons == 1 { "" } else { "s" }
            ),
        )),
        Ok((verdict, _)) => checks.push(Check::problem(
            "progress",
            format!(
                "{} is damaged: {}",
                path.display(),
                verdict.lines().next().unwrap_or("")
            ),
            fix,
        )),
        Err(e) => checks.push(Check::problem("progress", format!("{e:#}"), fix)),
    }
}

fn term_check(t: Terminal) -> Check {
    let columns = match t.width {
        Some(w) => format!("{w} columns"),
        None => "no width (output is not a terminal)".to_string(),
    };
    let detail = format!(
        "{columns}, colour {}, stdout {}, stdin {}",
        if t.color { "on" } else { "off" },
        if t.stdout_tty {
            "a terminal"
        } else {
            "not a terminal"
        },
        if t.stdin_tty {
            "a terminal"
        } else {
            "not a terminal"
        },
    );
    if !(t.stdout_tty && t.stdin_tty) {
        Check::note(
            "terminal",
            detail,
            Some("lessons ask questions on a terminal; without one, run them with `--auto`".into()),
        )
    } else if t.width.is_some_and(|w| w < 80) {
        Check::note(
            "terminal",
            detail,
            Some("lessons are laid out for 80 columns or more: widen the window".into()),
        )
    } else {
        Check::ok("terminal", detail)
    }
}
