//! Progress bars for scenarios and benchmarks (on stderr; hidden when it is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

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
