//! One lesson file's text into a `Lesson`: the format version checked first, and every error
//! as `file:line:col: message` from serde-saphyr.

use serde::Deserialize;

use super::model::{FORMAT_VERSION, Lesson};

/// A parsed lesson and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// File name (embedded) or path (folder).
    pub source: String,
    pub lesson: Lesson,
}

/// A lesson file that could not be read, with a position when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub source: String,
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{}:{}: {}", self.source, l, c, self.message),
            _ => write!(f, "{}: {}", self.source, self.message),
        }
    }
}

impl std::error::Error for LoadError {}

#[derive(Deserialize)]
struct VersionProbe {
    #[serde(default)]
    format_version: Option<u32>,
}

/// Parses one lesson file's text.
pub fn parse(source: &str, text: &str) -> Result<Lesson, LoadError> {
    // Check the version first, so a newer file says "update redislab", not "unknown field".
    if let Ok(probe) = serde_saphyr::from_str::<VersionProbe>(text) {
        if let Some(v) = probe.format_version {
            if v > FORMAT_VERSION {
                return Err(LoadError {
                    source: source.to_string(),
                    line: None,
                    column: None,
                    message: format!(
                        "format_version {v} is newer than this redislab understands ({FORMAT_VERSION}): update redislab"
                    ),
                });
            }
        }
    }
    serde_saphyr::from_str::<Lesson>(text).map_err(|e| {
        let loc = e.location();
        let message = first_line(&e.without_snippet().to_string());
        LoadError {
            source: source.to_string(),
            line: loc.map(|l| l.line()),
            column: loc.map(|l| l.column()),
            message,
        }
    })
}

fn first_line(s: &str) -> String {
    let line = s.lines().find(|l| !l.trim().is_empty()).unwrap_or(s).trim();
    // serde-saphyr appends its own position; ours is in front already.
    match line.rfind(" at line ") {
        Some(i) => line[..i].to_string(),
        None => line.to_string(),
    }
}
