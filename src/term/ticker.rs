//! Progress bars for scenarios, races and benchmarks (on stderr; hidden when it is not a
//! terminal). Logic reports progress through `measure::Ticker`; this is the one that draws it.

use indicatif::{ProgressBar, ProgressStyle};

use crate::measure::Ticker;

pub fn bar(hidden: bool, label: &str) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner:.cyan} {prefix:.bold} [{bar:30.cyan/blue}] {pos}/{len} {msg}",
    ) {
        pb.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
    }
    pb.set_prefix(label.to_string());
    pb
}

/// A `Ticker` drawn as an indicatif bar.
pub struct Bar(pub ProgressBar);

impl Bar {
    pub fn new(hidden: bool, label: &str) -> Self {
        Bar(bar(hidden, label))
    }
}

impl Ticker for Bar {
    fn start(&self, total: u64, message: &str) {
        self.0.set_length(total);
        self.0.set_position(0);
        self.0.set_message(message.to_string());
    }
    fn tick(&self, n: u64) {
        self.0.inc(n);
    }
    fn message(&self, message: &str) {
        self.0.set_message(message.to_string());
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
