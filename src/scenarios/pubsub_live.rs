//! Scenario `pubsub-live`: a live subscriber receives, a late one misses: Pub/Sub is fire-and-forget.

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{ScenarioContext, ScenarioReport};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {}

pub async fn run(_ctx: &ScenarioContext<'_>, _params: Params) -> Result<ScenarioReport> {
    bail!("scenario pubsub-live is not built yet")
}
