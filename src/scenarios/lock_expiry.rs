//! Scenario `lock-expiry`: a holder outlives its lock: plain DEL frees someone else's lock, compare-and-delete does not.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

pub async fn run(_ctx: &ScenarioContext<'_>, _params: Params) -> Result<ScenarioReport> {
    bail!("scenario lock-expiry is not built yet")
}
