use anyhow::Result;

use crate::cli::ProgressArgs;
use crate::settings::Settings;

pub async fn run(_settings: &Settings, _args: ProgressArgs) -> Result<u8> {
    anyhow::bail!("not built yet")
}
