//! redislab: an interactive tutor for production Redis patterns.
//!
//! The layers, from the bottom up; a module imports only from layers below it (checked by the
//! module graph, see ARCHITECTURE.md):
//!
//! 1. `cli` (every flag), `error` (exit codes, `Exit`), `untrusted` (the one escaping of text
//!    from outside the binary), `measure` (HDR latency, running tasks together), then
//!    `settings` (the flags, validated once).
//! 2. `redis`: everything that touches a server. `redis::fence` is the only way to send a
//!    command: the namespace rule and the provenance rule, and the `Fenced` connection every
//!    other module gets from `redis::connect::Server` (the raw connection cannot be named
//!    outside `redis`). Also: finding a server (`connect`, `managed`, `managed_cluster`),
//!    the cluster client (`cluster`, `conn`), opening one connection (`dial`, `transport`),
//!    reply bounds and deadlines (`bounded`, `deadline`), typing and printing as redis-cli does (`tokenize`, `command`, `render`),
//!    what the server says about its commands (`command_info`, `classes`, `docs`), throwaway servers, and where
//!    the server programs are that redislab starts (`binaries`: PATH, then `<home>/bin`).
//! 3. `namespace` (keys under `<namespace>:`), `inspect` (key snapshots as facts), `lesson`
//!    (lessons as data: model, parsing, validation, no I/O to Redis beyond the fence's
//!    classification), `store` (saved progress in SQLite, with the attempt log, the review boxes and
//!    the stats read from them), `grading` (quiz answers).
//! 4. `bench` (Redis against SQLite, honestly), `scenarios` (named demonstrations in Rust),
//!    `check` (the learner's own program under forced faults, behind a fenced proxy).
//! 5. `runner`: the engine that walks a lesson's steps and reports events through a seam.
//! 6. `term`: the only module that draws (tables, prompts, the lesson screen, the menu).
//!    `doctor` (the setup's health as a list of checks), `notes` (a lesson as a Markdown
//!    sheet) and `install` (fetching valkey-server into redislab's home) sit beside `runner`.
//! 7. `cmd`: one file per subcommand, dispatching; `main.rs` only parses and exits.

pub mod bench;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod doctor;
pub mod error;
pub mod grading;
pub mod inspect;
pub mod install;
pub mod lesson;
pub mod measure;
pub mod namespace;
pub mod notes;
pub mod redis;
pub mod runner;
pub mod scenarios;
pub mod settings;
pub mod store;
pub mod term;
pub mod untrusted;
