//! Scenario `like-race`: concurrent like toggles: check-then-act drifts from the set, an atomic script does not.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

pub async fn run(_ctx: &ScenarioContext<'_>, _params: Params) -> Result<ScenarioReport> {
    bail!("scenario like-race is not built yet")
}
