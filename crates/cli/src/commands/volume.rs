//! `volume create/ls/inspect/rm/prune/rename`.

use berth_client::Client;
use clap::{Args, Subcommand};

use crate::error::StatusError;

/// `berth volume ...`
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
}

/// `volume create` flags.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// [VOLUME]
    pub name: Option<String>,
}

/// Run one `berth volume` command.
pub async fn dispatch(_c: &Client, _cmd: VolumeCommand) -> anyhow::Result<()> {
    Err(StatusError::with(1, "berth: volume is not implemented yet"))
}
