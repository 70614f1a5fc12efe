//! `berth-shim`: the per-container monitor, and the tiny init for `--init`.
//!
//! `berth-shim run CONFIG` and `berth-shim exec CONFIG` start a container (or an exec process)
//! as described by a `berth_runtime::monitor::MonitorConfig`, print one readiness line on
//! stdout, and then live on their own as its parent: they own its stdio, write its log and
//! record its exit. `berth-shim init -- CMD...` is pid 1 inside a container started with
//! `--init`: it reaps zombies and forwards signals.
//!
//! Architecture invariant: one process, one thread, no async runtime, nothing that grows with
//! time except buffers bounded per client. It is paid once per running container.

mod cgroup;
mod external;
mod init;
mod logfile;
mod monitor;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // Bound into containers as /sbin/docker-init, we are their init.
    if args.first().is_some_and(|a| a.ends_with("docker-init")) {
        return init::main(&args[1..]);
    }
    match args.get(1).map(String::as_str) {
        Some("run") | Some("exec") if args.len() == 3 => monitor::main(&args[1], &args[2]),
        Some("init") => init::main(&args[2..]),
        _ => {
            eprintln!("usage: berth-shim run|exec CONFIG | berth-shim init -- CMD [ARG...]");
            ExitCode::from(2)
        }
    }
}
