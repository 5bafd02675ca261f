use anyhow::Result;

use crate::cli::QuizArgs;
use crate::settings::Settings;

pub async fn run(_settings: &Settings, _args: QuizArgs) -> Result<u8> {
    anyhow::bail!("not built yet")
}
