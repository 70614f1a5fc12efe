//! What berthd tells a monitor (`berth-shim`) to run, and what a monitor leaves on disk.
//!
//! berthd writes a [`MonitorConfig`] as JSON next to the OCI bundle and starts
//! `berth-shim run|exec CONFIG`. The monitor reports readiness on its stdout (one line:
//! `ready PID`, `started PID` or `error MESSAGE`) and then lives on its own: it holds the
//! process's stdio, writes the log, and when the process exits writes [`ExitStatus`] to
//! `exit_file` (atomically, by rename) before it goes away. berthd reconnects to `socket`
//! after a restart; a missing socket plus an exit file means the process exited meanwhile.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::linux::Overlay;

/// A container or exec process for a monitor to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorConfig {
    /// Container id (for messages and names).
    pub id: String,
    /// The OCI bundle directory (holds `config.json`).
    pub bundle: PathBuf,
    /// The overlay to mount as root (container mode, in-process runtime).
    pub overlay: Option<Overlay>,
    /// The control socket to listen on.
    pub socket: PathBuf,
    /// Where to write the exit status.
    pub exit_file: PathBuf,
    /// The json-file log, if output is logged.
    pub log: Option<LogConfig>,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Keep stdin open (`-i`).
    pub open_stdin: bool,
    /// Close stdin when the first attached client with stdin detaches.
    pub stdin_once: bool,
    /// The cgroup layout string from `berth_cgroups` and this container's cgroup path.
    pub cgroup: Option<CgroupConfig>,
    /// Start the process at once, without waiting for a START frame.
    pub autostart: bool,
    /// An external OCI runtime binary (runc, crun, youki) to use instead of the in-process one.
    pub runtime: Option<PathBuf>,
    /// The external runtime's state directory (`runc --root`).
    #[serde(default)]
    pub runtime_root: Option<PathBuf>,
    /// Exec mode: join this running container instead of creating one.
    pub exec: Option<ExecTarget>,
}

/// The json-file log driver's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogConfig {
    /// The log file.
    pub path: PathBuf,
    /// Rotate when the file would exceed this many bytes (0: never).
    pub max_size: u64,
    /// How many files to keep, the current one included (at least 1).
    pub max_file: u32,
}

/// Which cgroup the process goes into.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CgroupConfig {
    /// `berth_cgroups::Layout` in its string form, probed once by berthd.
    pub layout: String,
    /// The container's cgroup path relative to each hierarchy's root.
    pub path: String,
}

/// What an exec joins.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecTarget {
    /// Host pid of the container's init.
    pub pid: i32,
    /// The process to run, with a numeric user.
    pub process: oci_spec::runtime::Process,
}

/// Written by the monitor when the process exits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Docker's exit code: the status, or 128 + signal.
    pub exit_code: i32,
    /// When it exited, RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
    /// Whether the kernel's OOM killer killed it (cgroup OOM event seen).
    pub oom_killed: bool,
    /// Set when the process never started; the start error.
    pub error: Option<String>,
}

/// Format a time as RFC 3339 with nanoseconds in UTC, as Docker's logs and timestamps are.
pub fn rfc3339_nanos(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn rfc3339_matches_known_instants() {
        for (secs, nanos, want) in [
            (0, 0, "1970-01-01T00:00:00.000000000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.000000005Z"),
            (1_795_939_199, 123_456_789, "2026-11-29T07:59:59.123456789Z"),
            (4_102_444_800, 0, "2100-01-01T00:00:00.000000000Z"),
        ] {
            let t = UNIX_EPOCH + Duration::new(secs, nanos);
            assert_eq!(rfc3339_nanos(t), want, "{secs}");
        }
    }
}
