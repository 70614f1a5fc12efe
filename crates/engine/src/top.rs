//! `docker top`: the host's `ps`, filtered to the container's processes, as dockerd does it.

use std::collections::HashSet;

use berth_api::models as m;
use berth_errdefs::{Error, Result};

/// Parse `ps` output, keeping the rows whose PID column is in `pids`.
pub(crate) fn parse_ps(output: &str, pids: &HashSet<i64>) -> Result<m::ContainerTopResponse> {
    let mut lines = output.lines();
    let header = lines.next().ok_or_else(|| Error::internal("ps printed nothing"))?;
    let titles: Vec<String> = header.split_whitespace().map(String::from).collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::invalid("Couldn't find PID field in ps output"))?;
    let mut procs = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col).and_then(|p| p.parse::<i64>().ok()) else { continue };
        if !pids.contains(&pid) {
            continue;
        }
        // The last column (the command) may contain spaces: keep the rest of the line in it.
        let n = titles.len();
        let mut row: Vec<String> = fields.iter().take(n - 1).map(|s| s.to_string()).collect();
        if fields.len() >= n {
            row.push(fields[n - 1..].join(" "));
        }
        procs.push(row);
    }
    Ok(m::ContainerTopResponse { titles: Some(titles), processes: Some(procs) })
}

/// Host pids of every process in the pid namespace of `init`.
pub(crate) fn pids_in_namespace(init: i64) -> HashSet<i64> {
    let mut out = HashSet::new();
    let Ok(ns) = std::fs::read_link(format!("/proc/{init}/ns/pid")) else { return out };
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i64>() else { continue };
            if std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok().as_ref() == Some(&ns) {
                out.insert(pid);
            }
        }
    }
    out
}

/// Run `ps ARGS` on the host and keep the container's rows.
pub(crate) async fn top(pids: HashSet<i64>, ps_args: Option<String>) -> Result<m::ContainerTopResponse> {
    let args = ps_args.filter(|a| !a.trim().is_empty()).unwrap_or_else(|| "-ef".into());
    let out = tokio::process::Command::new("ps")
        .args(args.split_whitespace())
        .output()
        .await
        .map_err(|e| Error::internal(format!("run ps: {e}")))?;
    if !out.status.success() {
        return Err(Error::internal(format!(
            "ps: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_container_rows_and_whole_commands() {
        let ps = "UID          PID    PPID  C STIME TTY          TIME CMD\n\
                  root           1       0  0 06:40 ?        00:00:01 /sbin/init\n\
                  root        4242    4240  0 06:41 ?        00:00:00 sleep 1000 now\n";
        let pids: HashSet<i64> = [4242].into();
        let r = parse_ps(ps, &pids).unwrap();
        assert_eq!(r.titles.unwrap().len(), 8);
        let p = r.processes.unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0][1], "4242");
        assert_eq!(p[0][7], "sleep 1000 now");
        assert!(parse_ps("USER COMMAND\nroot x\n", &pids).is_err());
    }
}
