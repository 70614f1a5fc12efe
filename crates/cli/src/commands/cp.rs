//! `cp`: copy files between a container and the local filesystem (the archive API).

use berth_client::Client;
use clap::Args;

use crate::error::StatusError;

/// `cp` flags.
#[derive(Args, Debug)]
pub struct CpArgs {
    /// CONTAINER:SRC_PATH DEST_PATH|- or SRC_PATH|- CONTAINER:DEST_PATH
    pub paths: Vec<String>,
}

/// `berth cp`.
pub async fn cp(_c: &Client, _a: CpArgs) -> anyhow::Result<()> {
    Err(StatusError::with(1, "berth: cp is not implemented yet"))
}
