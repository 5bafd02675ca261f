//! The two seams between the lesson engine and a person: `Prompter` asks (input) and `View`
//! shows (output). The engine reports what happened as `Event`s and never draws; `term` draws
//! them for a terminal, `Silent` drops them for `validate --live`, and tests record them. So
//! every lesson runs the same way with a person, in `--auto`, and under test.

use anyhow::Result;
use redis::Value;

use crate::lesson::model::Lesson;
use crate::measure::{Silent as SilentTicker, Ticker};
use crate::runner::Executed;
use crate::runner::checks::CheckResult;
use crate::runner::compare::CompareReport;
use crate::scenarios::ScenarioReport;

/// What the learner wants to do with a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepAction {
    Run,
    TypeIt,
    Skip,
    /// Back to the previous step, its keys as they were before it.
    Back,
    Quit,
}

/// What to do after a step whose checks failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureAction {
    /// Run the step again from the state it started in.
    Retry,
    /// Show the commands the checks sent and what they compared, then ask again.
    Explain,
    /// Put the keys back and run the lesson's own commands (the solution).
    ShowSolution,
    /// Go on knowingly; the step counts as failed.
    GoOn,
    Back,
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExerciseAction {
    Type(String),
    Hint,
    /// Where Redis stands against the goal: which checks still fail.
    Goal,
    Solution,
    Skip,
    Back,
    Quit,
}

/// Every question the walk asks. `Ok(None)` / `Quit` mean the learner left (Esc or Ctrl-C).
pub trait Prompter {
    fn step_action(&mut self, kind: &str) -> Result<StepAction>;
    fn command(&mut self, prompt: &str, suggestion: &str) -> Result<Option<String>>;
    /// The exercise prompt: `prompt` is `redis>`, or `redis(TX)>` inside MULTI.
    fn exercise_action(&mut self, misses: usize, prompt: &str) -> Result<ExerciseAction>;
    fn choose(&mut self, question: &str, choices: &[String]) -> Result<Option<usize>>;
    fn confirm(&mut self, question: &str, default: bool) -> Result<Option<bool>>;
    /// Whether to run a step that needs a newer command than this server has on a private
    /// valkey-server (`question` asks it); `None`: the learner left. A yes/no like `confirm`,
    /// Yes first, unless a prompter answers it otherwise.
    fn run_elsewhere(&mut self, question: &str) -> Result<Option<bool>> {
        self.confirm(question, true)
    }
    /// A step's checks failed: retry it, see the solution, go on, go back, or quit. `back_to`:
    /// the earlier step that left a state this step's own solution fails from; `Back` then
    /// goes there instead of to the previous step.
    fn after_failure(&mut self, kind: &str, back_to: Option<usize>) -> Result<FailureAction>;
    /// Counts down, showing `watch()` (the watched keys' TTLs) as it goes. Returns the seconds
    /// still to go when the learner asked to fast-forward (0 if the wait ran out), `None` on quit.
    fn countdown(&mut self, seconds: u64, watch: &mut dyn FnMut() -> String)
    -> Result<Option<u64>>;
}

/// A command as the preview shows it: the line (variables filled in where known) and the
/// client that will send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub line: String,
    pub connection: Option<String>,
}

/// Something that happened in a lesson, in the order it happened.
#[derive(Debug)]
pub enum Event<'a> {
    /// The lesson's opening (its texts already filled in).
    Intro {
        lesson: &'a Lesson,
        steps: usize,
    },
    Resuming {
        lesson: &'a str,
        step: usize,
        steps: usize,
    },
    StepHeader {
        index: usize,
        steps: usize,
        title: &'a str,
        kind: &'a str,
        text: &'a str,
    },
    /// Commands about to run.
    Preview(&'a [Planned]),
    /// Commands that ran, with their replies.
    Executed(&'a [Executed]),
    /// The reply to one typed command.
    Reply(&'a Value),
    /// What the command just shown cost on the wire: round trips, bytes, the client's wait.
    Tape(&'a crate::redis::tape::Trip),
    /// An exercise done: the round trips the learner's commands took beside the lesson's own
    /// solution's.
    TapeTotal {
        yours: u64,
        model: u64,
        /// The lesson's reason the solution's count matters, when it gives one.
        why: Option<&'a str>,
    },
    Checks(&'a [CheckResult]),
    /// The checks as a redis-cli session: each check's commands after `prompt`
    /// (`127.0.0.1:6379>`) and the replies it compared.
    Explain {
        results: &'a [CheckResult],
        prompt: &'a str,
    },
    Keys(&'a crate::runner::KeyTable),
    /// What to look at, once the step ran.
    After(&'a str),
    Compare(&'a CompareReport),
    /// A scenario's or race's table and conclusions.
    Report(&'a ScenarioReport),
    /// How a race forces its interleaving, said before it runs.
    ForcedBy(&'a str),
    Goal(&'a str),
    /// The next hint, or `None` when there are no more.
    Hint(Option<&'a str>),
    Solution(&'a [Planned]),
    Correct,
    /// The answer replayed against other states (`trials`): which held, which did not, why.
    Trials(&'a [crate::runner::trial::TrialOutcome]),
    /// The learner typed an answer the lesson knows is wrong, and what it misses.
    WrongAnswer(&'a str),
    /// Three misses: the solution is shown and offered.
    ThreeTries(&'a [Planned]),
    /// A typed command the gate would not send, and why.
    Refused(&'a str),
    /// A short line of guidance (the words a prompt understands).
    Notice(&'a str),
    /// `help SET`: the command's syntax and summary from the server's COMMAND DOCS.
    CommandHelp(&'a crate::redis::docs::CommandHelp),
    /// A wait's last `seconds` of `of` were skipped by shortening the TTLs.
    FastForwarded {
        seconds: u64,
        of: u64,
        /// Keys whose TTL ran out.
        expired: u64,
        /// Hash fields whose own TTL ran out (their keys stay).
        fields_expired: u64,
    },
    Skipped(&'a str),
    /// The step runs on a private server redislab started for it (`server`: product, version
    /// and address), with the learner's `copied` lesson keys copied there; the learner's own
    /// server is not touched.
    OnPrivateServer {
        server: &'a str,
        copied: usize,
    },
    /// That private server is stopped: what the `steps` steps walked there made went with it.
    PrivateServerStopped {
        server: &'a str,
        steps: usize,
    },
    FailedStep {
        index: usize,
        title: &'a str,
    },
    /// The lesson's keys were put back as they were before step `index`.
    Restored {
        index: usize,
    },
    QuizStart {
        questions: usize,
    },
    Question {
        index: usize,
        questions: usize,
        text: &'a str,
        predict: &'a [String],
    },
    /// The answer given by `--answers`.
    Answered(&'a str),
    Graded {
        /// The question's number in the lesson's quiz (1-based), whatever order it was asked in.
        number: usize,
        /// The choice the learner gave.
        chosen: &'a str,
        correct: bool,
        right: Option<&'a str>,
        actual: Option<&'a str>,
        explanation: &'a str,
    },
    Score {
        score: u32,
        total: u32,
    },
    // What follows is for the attempt log: a terminal shows nothing more for these (the checks,
    // the replies and the menus already said it), a recorder keeps them.
    /// A step's checks judged what ran (a run, a retry, the solution): passed or not.
    Judged {
        passed: bool,
    },
    /// The learner asked to run the current step again from its start.
    Retried,
    /// A command typed at an exercise that did not reach the goal.
    Missed(&'a str),
    /// How step `index` ended, once the walk moves on from it.
    StepEnded {
        index: usize,
        outcome: crate::store::Outcome,
    },
}

/// Where events go.
pub trait View {
    fn show(&mut self, event: Event<'_>);
    /// A progress ticker for long work (a bar on a terminal).
    fn ticker(&mut self, label: &str) -> Box<dyn Ticker>;
}

/// Shows nothing: `validate --live` and tests that only look at the outcome.
pub struct Silent;

impl View for Silent {
    fn show(&mut self, _event: Event<'_>) {}
    fn ticker(&mut self, _label: &str) -> Box<dyn Ticker> {
        Box::new(SilentTicker)
    }
}
