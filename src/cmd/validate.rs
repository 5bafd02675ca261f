use anyhow::Result;

use crate::cli::ValidateArgs;
use crate::settings::Settings;

pub async fn run(_settings: &Settings, _args: ValidateArgs) -> Result<u8> {
    anyhow::bail!("not built yet")
}
