//! The command classes a lesson may use: the same classes the fence uses
//! (`redis::classes`), so a lesson and the sandbox can never disagree on what is server-wide.

use crate::redis::fence::Fence;
use anyhow::Result;

use crate::redis::classes::{self, Class};

/// Server-wide commands a lesson may show without `requires: {managed: true}`: they read a
/// setting and change nothing. The engine runs them with its own rights, and the display hides
/// passwords (`render::hide_secrets`).
const READS_SETTINGS: &[&str] = &["config|get"];

/// What the command's class forbids here: the same classes the fence uses, from the
/// live server when there is one, else from the table generated from one.
pub async fn problem(
    args: &[Vec<u8>],
    managed: bool,
    conn: Option<&Fence>,
) -> Result<Option<String>> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let sub = args
        .get(1)
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .unwrap_or_default();
    let copy_db = name == "COPY" && args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"DB"));
    if matches!(name.as_str(), "SELECT" | "MOVE" | "SWAPDB") || copy_db {
        return Ok(Some(format!(
            "{name} leaves the connection's database, where `${{ns}}` cannot follow the keys: keep every key in one database"
        )));
    }
    let class = match conn {
        Some(f) => f.class_of(args).await?,
        None => classes::of_static(args),
    };
    let reads = READS_SETTINGS.contains(&format!("{}|{sub}", name.to_ascii_lowercase()).as_str());
    let shown = if args.len() > 1 && classes::of_static(&args[..1]) != class {
        format!("{name} {}", sub.to_ascii_uppercase())
    } else {
        name.clone()
    };
    if class == Class::ServerWide && !managed && !reads {
        return Ok(Some(format!(
            "{shown} acts on the whole server: declare `requires: {{managed: true}}` to use it"
        )));
    }
    // Functions are loaded into the server, for every client: a lesson that calls one must
    // have loaded it, which needs the managed server.
    let function = name == "FCALL" || name == "FCALL_RO" || name == "FUNCTION";
    Ok((class == Class::Script && function && !managed).then(|| {
        format!(
            "{shown}: functions live server-wide; declare `requires: {{managed: true}}` to use them"
        )
    }))
}
