//! redislab: an interactive tutor for production Redis patterns.
//!
//! Map of the crate:
//! - `cli` (flags) → `settings` (validated) → `cmd` (one file per subcommand)
//! - `redis`: finding a server (`connect`, `managed`), typing commands (`tokenize`, `command`,
//!   `render`, `guard`)
//! - `inspect`: key snapshots; `namespace`: keeping writes inside `<namespace>:`
//! - `doctor`: the setup's health as a list of checks; `notes`: a lesson as a Markdown sheet;
//!   `install`: fetching valkey-server into redislab's home (`server install`)
//! - `term`: the only module that draws
//! - `untrusted`: the one escaping of text from outside the binary (servers, lesson files)

pub mod bench;
pub mod cli;
pub mod cmd;
pub mod doctor;
pub mod error;
pub mod inspect;
pub mod install;
pub mod lesson;
pub mod measure;
pub mod namespace;
pub mod notes;
pub mod progress;
pub mod quiz;
pub mod redis;
pub mod runner;
pub mod scenarios;
pub mod settings;
pub mod term;
pub mod untrusted;
