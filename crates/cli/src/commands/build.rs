//! `build` and `builder prune`: the classic builder through `POST /build`.

use berth_client::Client;
use clap::{Args, Subcommand};

use crate::error::StatusError;

/// `build` flags.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// PATH | URL | -
    pub context: String,
}

/// `berth builder ...`
#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

/// `builder prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
}

/// `berth build`.
pub async fn build(_c: &Client, _a: BuildArgs) -> anyhow::Result<()> {
    Err(StatusError::with(1, "berth: build is not implemented yet"))
}

/// `berth builder ...`.
pub async fn builder(_c: &Client, _cmd: BuilderCommand) -> anyhow::Result<()> {
    Err(StatusError::with(1, "berth: builder is not implemented yet"))
}
