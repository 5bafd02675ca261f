use anyhow::Result;

use crate::cli::LessonArgs;
use crate::settings::Settings;

pub async fn run(_settings: &Settings, _args: LessonArgs) -> Result<u8> {
    anyhow::bail!("not built yet")
}
