use anyhow::Result;

use crate::cli::ListArgs;
use crate::settings::Settings;

pub async fn run(_settings: &Settings, _args: ListArgs) -> Result<u8> {
    anyhow::bail!("not built yet")
}

pub async fn menu(_settings: &Settings) -> Result<u8> {
    anyhow::bail!("not built yet")
}
