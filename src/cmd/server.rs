//! `redislab server start|stop|status`: the managed redis-server, explicitly.

use anyhow::Result;

use crate::cli::{ServerAction, ServerArgs};
use crate::redis::managed;
use crate::settings::Settings;
use crate::term;

pub async fn run(settings: &Settings, args: ServerArgs) -> Result<u8> {
    let home = &settings.home;
    match args.action {
        ServerAction::Start => {
            let was = managed::status(home).await?;
            let m = match was {
                Some(m) => {
                    term::out(&format!(
                        "managed redis-server already running on 127.0.0.1:{}{}\n",
                        m.port,
                        pid(&m)
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
                        pid(&m)
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
        ServerAction::Status => match managed::status(home).await? {
            Some(m) => {
                term::out(&format!(
                    "running on 127.0.0.1:{}{}\nlog: {}\n",
                    m.port,
                    pid(&m),
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

fn pid(m: &managed::Managed) -> String {
    m.pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
}
