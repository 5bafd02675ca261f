use anyhow::Result;

use crate::cli::BenchArgs;
use crate::settings::Settings;

pub async fn run(_settings: &Settings, _args: BenchArgs) -> Result<u8> {
    anyhow::bail!("not built yet")
}
