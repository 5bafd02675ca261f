//! Scenario `stream-crash`: a consumer crashes before XACK: XPENDING shows it, XAUTOCLAIM hands it to the survivor.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

pub async fn run(_ctx: &ScenarioContext<'_>, _params: Params) -> Result<ScenarioReport> {
    bail!("scenario stream-crash is not built yet")
}
