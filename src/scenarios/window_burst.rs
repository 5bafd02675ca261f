//! Scenario `window-burst`: a burst across a window edge: fixed window allows 2x, sliding log and token bucket do not.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

pub async fn run(_ctx: &ScenarioContext<'_>, _params: Params) -> Result<ScenarioReport> {
    bail!("scenario window-burst is not built yet")
}
