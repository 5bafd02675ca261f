//! Validated configuration built once from the raw command-line arguments: the namespace,
//! where redislab keeps its files, colour, and where to find Redis. Raw flags live in `cli`.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::GlobalArgs;

/// The namespace when none is given (`--namespace`, `REDISLAB_NAMESPACE`).
pub const DEFAULT_NAMESPACE: &str = "lab";

#[derive(Debug, Clone)]
pub struct Settings {
    pub namespace: String,
    pub home: PathBuf,
    pub color: bool,
    pub lessons_dir: Option<PathBuf>,
    pub redis_url: Option<String>,
    /// Whether `redis_url` came from the REDIS_URL variable (for the "found" line).
    pub url_from_env: bool,
    pub managed: bool,
    /// With `managed`: redislab's own Redis Cluster instead of its single server.
    pub cluster: bool,
    pub local_addr: String,
    /// Follow a cluster's slot map to nodes outside the seed's kind of address.
    pub trust_cluster_nodes: bool,
    /// The clock set for tests (`REDISLAB_NOW`), in Unix seconds; `None`: the system clock.
    pub now: Option<i64>,
}

impl Settings {
    pub fn from_args(args: &GlobalArgs) -> Result<Self> {
        validate_namespace(&args.namespace)?;
        let home = match &args.home {
            Some(h) => h.clone(),
            None => dirs::data_dir().map(|d| d.join("redislab")).context(
                "could not find a data directory for redislab: set --home or REDISLAB_HOME",
            )?,
        };
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color =
            !args.no_color && !no_color_env && std::io::IsTerminal::is_terminal(&std::io::stdout());
        Ok(Settings {
            namespace: args.namespace.clone(),
            home,
            color,
            lessons_dir: args.lessons.clone(),
            redis_url: args.redis_url.clone().filter(|u| !u.trim().is_empty()),
            url_from_env: args.url_from_env,
            managed: args.managed,
            cluster: args.cluster,
            local_addr: args.local_addr.clone(),
            trust_cluster_nodes: args.trust_cluster_nodes,
            now: args.now,
        })
    }

    /// Settings for one given server, with no colour: for `validate --live` and tests.
    pub fn for_url(url: &str, namespace: &str, home: PathBuf) -> Settings {
        Settings {
            namespace: namespace.to_string(),
            home,
            color: false,
            lessons_dir: None,
            redis_url: Some(url.to_string()),
            url_from_env: false,
            managed: false,
            cluster: false,
            local_addr: "127.0.0.1:1".to_string(),
            trust_cluster_nodes: false,
            now: None,
        }
    }

    /// Now, in Unix seconds: the clock set for tests, or the system's.
    pub fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }

    /// `lab:` — the prefix every key redislab creates starts with.
    pub fn prefix(&self) -> String {
        format!("{}:", self.namespace)
    }
}

/// A namespace is a plain word, so it can never act as a glob in SCAN MATCH or an ACL pattern.
pub fn validate_namespace(ns: &str) -> Result<()> {
    let bad = |m: String| -> anyhow::Error {
        crate::error::Exit::new(crate::error::code::USAGE, m).into()
    };
    if ns.is_empty() || ns.len() > 64 {
        return Err(bad(format!(
            "namespace must be 1 to 64 characters, got {ns:?}"
        )));
    }
    if let Some(c) = ns
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(bad(format!(
            "namespace {ns:?} contains {c:?}: use letters, digits, '_', '-' or '.' (the ':' is added for you)"
        )));
    }
    Ok(())
}
