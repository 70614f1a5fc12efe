//! `berth`: the docker-compatible command line for berthd.
//!
//! Thin binary: parse flags (clap, one module per docker noun under `commands`), run the
//! command against the daemon through `berth-client`, print any error once on one line and
//! exit with docker's code (125 for flag errors, the container's code for `run`, 1 otherwise).
//! A broken pipe on output counts as success.

mod cli;
mod commands;
mod config;
mod error;
mod format;
mod jsonmessage;
mod nat;
mod netopts;
mod opts;
mod stream;

use std::io::Write;

use clap::Parser;

fn main() {
    let code = run();
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

fn run() -> i32 {
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return cli::report_clap_error(e),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start runtime: {e}");
            return 1;
        }
    };
    let result = rt.block_on(commands::dispatch(cli));
    // Don't wait for blocking stdin readers; the process is about to exit.
    rt.shutdown_background();
    match result {
        Ok(()) => 0,
        Err(e) => {
            let (code, message) = error::report(&e);
            if let Some(m) = message {
                eprintln!("{m}");
            }
            code
        }
    }
}
