//! Scenario `counter-race`: N workers incrementing: GET+SET loses updates, INCR does not.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

pub async fn run(_ctx: &ScenarioContext<'_>, _params: Params) -> Result<ScenarioReport> {
    bail!("scenario counter-race is not built yet")
}
