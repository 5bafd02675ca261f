//! What a walk through a lesson ends with: the steps failed and skipped, where the learner
//! stopped, the quiz score, and what `--auto` found wrong with the lesson.

#[derive(Debug, Default)]
/// How one walk through a lesson went.
pub struct Summary {
    pub failed_steps: Vec<(usize, String)>,
    pub skipped_steps: Vec<(usize, String)>,
    /// Step at which the learner quit (progress saved up to the step before).
    pub quit_at: Option<usize>,
    pub completed: bool,
    pub score: Option<(u32, u32)>,
    /// Per exercise: (step, checks failed before the solution, checks passed after).
    pub exercise_proofs: Vec<(usize, bool, bool)>,
    /// Lesson bugs an exercise found in `--auto`: (step, what).
    pub exercise_problems: Vec<(usize, String)>,
    /// Predict questions whose reply matched no choice.
    pub stale_predictions: Vec<(usize, String)>,
    /// Why the lesson cannot run on this server (its `requires` is not met); nothing ran.
    pub unavailable: Option<String>,
}
