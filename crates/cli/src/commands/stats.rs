//! `stats` (a live table or one sample) and `update` (new limits for running containers).

use berth_client::Client;
use clap::Args;

use crate::error::StatusError;

/// `stats` flags.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// [CONTAINER...]
    pub containers: Vec<String>,
}

/// `update` flags.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// CONTAINER [CONTAINER...]
    pub containers: Vec<String>,
}

/// `berth stats`.
pub async fn stats(_c: &Client, _a: StatsArgs) -> anyhow::Result<()> {
    Err(StatusError::with(1, "berth: stats is not implemented yet"))
}

/// `berth update`.
pub async fn update(_c: &Client, _a: UpdateArgs) -> anyhow::Result<()> {
    Err(StatusError::with(1, "berth: update is not implemented yet"))
}
