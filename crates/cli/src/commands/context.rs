//! `context create/ls/inspect/use/rm/show`: named daemon endpoints, kept as docker keeps them.

use clap::{Args, Subcommand};

use crate::error::StatusError;

/// `berth context ...`
#[derive(Subcommand, Debug)]
pub enum ContextCommand {
    /// Print the name of the current context
    Show(ShowArgs),
}

/// `context show` flags.
#[derive(Args, Debug)]
pub struct ShowArgs {}

/// Run one `berth context` command (no daemon connection needed).
pub fn dispatch(_cmd: ContextCommand) -> anyhow::Result<()> {
    Err(StatusError::with(1, "berth: context is not implemented yet"))
}
