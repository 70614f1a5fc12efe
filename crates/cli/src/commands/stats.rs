//! `stats` (a live table or one sample) and `update` (new limits for running containers).
//!
//! `stats` follows docker's `cli/command/container/stats.go`: one collector per container
//! reads `GET /containers/{id}/stats` (a stream, or one sample with `--no-stream`); every
//! second the table is redrawn in place. Without container arguments the running containers
//! (all with `-a`) are followed as they come and go.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::models::{ContainerStatsResponse, ContainerUpdateBody};
use berth_client::Client;
use bollard::query_parameters::{ListContainersOptions, StatsOptions};
use clap::Args;
use futures_util::StreamExt;
use serde_json::{json, Value as Json};

use super::out;
use crate::error::{collect, ApiError, StatusError};
use crate::format::{humanize, ListFormat};
use crate::opts::{go_parse_int, parse_nano_cpus, parse_restart_policy, ram_in_bytes};

/// `stats` flags.
#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output using a custom template
    #[arg(long = "format", default_value = "")]
    pub format: String,
    /// [CONTAINER...]
    pub containers: Vec<String>,
}

/// `update` flags.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// Limit the CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int", allow_hyphen_values = true)]
    pub cpu_rt_period: Option<String>,
    /// Limit the CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int", allow_hyphen_values = true)]
    pub cpu_shares: Option<String>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal", allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string")]
    pub restart: Option<String>,
    /// CONTAINER [CONTAINER...]
    #[arg(required = true)]
    pub containers: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// The numbers docker shows (stats_helpers.go), pure
// ---------------------------------------------------------------------------------------------

/// One row of the table: what docker's `StatsEntry` holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// The container as the user named it (or its id when following all containers).
    pub container: String,
    /// `/name` as the daemon reports it; empty until the first sample.
    pub name: String,
    /// The full id; empty until the first sample.
    pub id: String,
    /// CPU use in percent of one CPU.
    pub cpu_percent: f64,
    /// Memory in use (page cache not counted), bytes.
    pub memory: f64,
    /// The memory limit, bytes.
    pub memory_limit: f64,
    /// `memory` in percent of the limit.
    pub memory_percent: f64,
    /// Received and sent bytes over all interfaces.
    pub net_rx: f64,
    /// Sent bytes.
    pub net_tx: f64,
    /// Bytes read from and written to block devices.
    pub block_read: f64,
    /// Bytes written.
    pub block_write: f64,
    /// Processes.
    pub pids: u64,
    /// Set when the collector failed (shown as `--`).
    pub invalid: bool,
}

/// docker's `calculateCPUPercentUnix`, over the sample's own `precpu_stats`.
pub fn cpu_percent(s: &ContainerStatsResponse) -> f64 {
    let cur = s.cpu_stats.clone().unwrap_or_default();
    let pre = s.precpu_stats.clone().unwrap_or_default();
    let total = |c: &berth_api::models::ContainerCpuStats| c.cpu_usage.as_ref().and_then(|u| u.total_usage).unwrap_or(0) as f64;
    let cpu_delta = total(&cur) - total(&pre);
    let system_delta = cur.system_cpu_usage.unwrap_or(0) as f64 - pre.system_cpu_usage.unwrap_or(0) as f64;
    let mut online = cur.online_cpus.unwrap_or(0) as f64;
    if online == 0.0 {
        online = cur.cpu_usage.as_ref().and_then(|u| u.percpu_usage.as_ref()).map_or(0, |v| v.len()) as f64;
    }
    if system_delta > 0.0 && cpu_delta > 0.0 {
        cpu_delta / system_delta * online * 100.0
    } else {
        0.0
    }
}

/// docker's `calculateMemUsageUnixNoCache`: usage without inactive page cache (v1
/// `total_inactive_file`, v2 `inactive_file`).
pub fn memory_no_cache(s: &ContainerStatsResponse) -> f64 {
    let m = s.memory_stats.clone().unwrap_or_default();
    let usage = m.usage.unwrap_or(0);
    let stats = m.stats.unwrap_or_default();
    if let Some(&v) = stats.get("total_inactive_file") {
        if v < usage {
            return (usage - v) as f64;
        }
    }
    let v = stats.get("inactive_file").copied().unwrap_or(0);
    if v < usage {
        return (usage - v) as f64;
    }
    usage as f64
}

/// One sample into a table row (the name and id from the sample).
pub fn entry_of(container: &str, s: &ContainerStatsResponse) -> Entry {
    let memory = memory_no_cache(s);
    let memory_limit = s.memory_stats.as_ref().and_then(|m| m.limit).unwrap_or(0) as f64;
    let memory_percent = if memory_limit != 0.0 { memory / memory_limit * 100.0 } else { 0.0 };
    let (mut rx, mut tx) = (0.0, 0.0);
    for n in s.networks.iter().flat_map(|n| n.values()) {
        rx += n.rx_bytes.unwrap_or(0) as f64;
        tx += n.tx_bytes.unwrap_or(0) as f64;
    }
    let (mut read, mut write) = (0.0, 0.0);
    for e in s.blkio_stats.iter().flat_map(|b| b.io_service_bytes_recursive.iter().flatten()) {
        match e.op.as_deref().and_then(|o| o.chars().next()) {
            Some('r' | 'R') => read += e.value.unwrap_or(0) as f64,
            Some('w' | 'W') => write += e.value.unwrap_or(0) as f64,
            _ => {}
        }
    }
    Entry {
        container: container.to_string(),
        name: s.name.clone().unwrap_or_default(),
        id: s.id.clone().unwrap_or_default(),
        cpu_percent: cpu_percent(s),
        memory,
        memory_limit,
        memory_percent,
        net_rx: rx,
        net_tx: tx,
        block_read: read,
        block_write: write,
        pids: s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0),
        invalid: false,
    }
}

/// go-units `BytesSize`: binary units, `%.4g`.
pub fn bytes_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];
    let mut size = size;
    let mut i = 0;
    while size >= 1024.0 && i < UNITS.len() - 1 {
        size /= 1024.0;
        i += 1;
    }
    format!("{}{}", humanize::go_g(size, 4), UNITS[i])
}

/// The `--format` context of a row (docker's `statsContext`), with its fields as strings.
pub fn context(e: &Entry, trunc: bool) -> Json {
    let id = if trunc { humanize::truncate_id(&e.id) } else { e.id.clone() };
    let name = if e.name.len() > 1 { e.name[1..].to_string() } else { "--".to_string() };
    let dec = |v: f64| humanize::human_size_precision(v, 3);
    if e.invalid {
        return json!({
            "BlockIO": "--", "CPUPerc": "--", "Container": e.container, "ID": id, "MemPerc": "--",
            "MemUsage": "-- / --", "Name": name, "NetIO": "--", "PIDs": "--",
        });
    }
    json!({
        "BlockIO": format!("{} / {}", dec(e.block_read), dec(e.block_write)),
        "CPUPerc": format!("{:.2}%", e.cpu_percent),
        "Container": e.container,
        "ID": id,
        "MemPerc": format!("{:.2}%", e.memory_percent),
        "MemUsage": format!("{} / {}", bytes_size(e.memory), bytes_size(e.memory_limit)),
        "Name": name,
        "NetIO": format!("{} / {}", dec(e.net_rx), dec(e.net_tx)),
        "PIDs": e.pids.to_string(),
    })
}

/// The header context of the stats table.
pub fn headers() -> Json {
    json!({
        "BlockIO": "BLOCK I/O", "CPUPerc": "CPU %", "Container": "CONTAINER", "ID": "CONTAINER ID", "MemPerc": "MEM %",
        "MemUsage": "MEM USAGE / LIMIT", "Name": "NAME", "NetIO": "NET I/O", "PIDs": "PIDS",
    })
}

/// docker's default stats table.
pub const DEFAULT_TABLE: &str =
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// A redraw of the live table as docker 28 writes it: cursor home and the table, then cursor
/// home again and every line (the empty one after the last newline too) followed by a space
/// and erase-to-end-of-line, then erase whatever is left below (fewer containers than before).
pub fn redraw(text: &str) -> String {
    let mut s = format!("\x1b[H{text}\x1b[H");
    for line in text.split('\n') {
        s.push_str(line);
        s.push_str(" \x1b[K\n");
    }
    s.push_str("\x1b[J");
    s
}

// ---------------------------------------------------------------------------------------------
// Collectors
// ---------------------------------------------------------------------------------------------

/// The rows, in the order containers were added.
type Rows = Arc<Mutex<Vec<Entry>>>;

fn set_row(rows: &Rows, key: &str, f: impl FnOnce(&mut Entry)) {
    let mut g = rows.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = g.iter_mut().find(|e| e.container == key) {
        f(e);
    }
}

/// Read one container's stats into its row until the stream ends. Returns the error of a
/// failed request, if any.
async fn collect_one(c: Client, key: String, rows: Rows, stream: bool) -> Option<String> {
    let opts = StatsOptions { stream, one_shot: false };
    let mut s = c.docker().stats(&key, Some(opts));
    let mut got = false;
    while let Some(r) = s.next().await {
        match r {
            Ok(sample) => {
                got = true;
                let e = entry_of(&key, &sample);
                set_row(&rows, &key, |row| *row = e);
            }
            Err(err) => {
                set_row(&rows, &key, |row| row.invalid = true);
                return (!got).then(|| ApiError(err.into()).to_string());
            }
        }
        if !stream {
            break;
        }
    }
    None
}

fn render(lf: &ListFormat, rows: &Rows, trunc: bool) -> anyhow::Result<String> {
    let items: Vec<Json> = rows.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|e| context(e, trunc)).collect();
    let mut buf = Vec::new();
    lf.write(&mut buf, &headers(), &items)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

async fn list_ids(c: &Client, all: bool) -> anyhow::Result<Vec<String>> {
    let opts = ListContainersOptions { all, ..Default::default() };
    let list = c.docker().list_containers(Some(opts)).await.map_err(|e| anyhow::Error::new(ApiError(e.into())))?;
    Ok(list.into_iter().filter_map(|s| s.id).collect())
}

/// `berth stats`.
pub async fn stats(c: &Client, a: StatsArgs) -> anyhow::Result<()> {
    let lf = ListFormat::parse(&a.format, DEFAULT_TABLE)?;
    let trunc = !a.no_trunc;
    let stream = !a.no_stream;
    let rows: Rows = Arc::new(Mutex::new(Vec::new()));
    let mut tasks: BTreeMap<String, tokio::task::JoinHandle<Option<String>>> = BTreeMap::new();
    let follow_all = a.containers.is_empty();
    let start = |key: &str, tasks: &mut BTreeMap<String, tokio::task::JoinHandle<Option<String>>>| {
        rows.lock().unwrap_or_else(|p| p.into_inner()).push(Entry { container: key.to_string(), ..Default::default() });
        let (c, k, r) = (c.clone(), key.to_string(), rows.clone());
        tasks.insert(key.to_string(), tokio::spawn(collect_one(c, k, r, stream)));
    };
    let keys = if follow_all { list_ids(c, a.all).await? } else { a.containers.clone() };
    for k in &keys {
        if !tasks.contains_key(k) {
            start(k, &mut tasks);
        }
    }
    if !stream {
        // One sample each; the first failures are the command's errors.
        let mut errors = Vec::new();
        for (_, t) in std::mem::take(&mut tasks) {
            if let Ok(Some(e)) = t.await {
                errors.push(e);
            }
        }
        if !errors.is_empty() && !follow_all {
            return collect(errors);
        }
        return out(&render(&lf, &rows, trunc)?);
    }
    // Wait briefly for first samples so the first frame is not all zeros.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    if !follow_all {
        let mut errors = Vec::new();
        for (k, t) in &tasks {
            if t.is_finished() {
                let k = k.clone();
                let failed = rows.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|e| e.container == k && e.invalid && e.id.is_empty());
                if failed {
                    errors.push(format!("Error response from daemon: No such container: {k}"));
                }
            }
        }
        if !errors.is_empty() {
            return collect(errors);
        }
    }
    loop {
        if follow_all {
            let ids = list_ids(c, a.all).await.unwrap_or_default();
            // Containers that went away leave the table (with -a only when removed).
            let gone: Vec<String> = tasks.keys().filter(|k| !ids.contains(k)).cloned().collect();
            for k in gone {
                if let Some(t) = tasks.remove(&k) {
                    t.abort();
                }
                rows.lock().unwrap_or_else(|p| p.into_inner()).retain(|e| e.container != k);
            }
            for id in ids {
                if !tasks.contains_key(&id) || tasks.get(&id).is_some_and(|t| t.is_finished()) {
                    rows.lock().unwrap_or_else(|p| p.into_inner()).retain(|e| e.container != id);
                    tasks.remove(&id);
                    start(&id, &mut tasks);
                }
            }
        }
        out(&redraw(&render(&lf, &rows, trunc)?))?;
        if follow_all && tasks.is_empty() && !a.all {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The update body docker sends for these flags, or the message of a bad value.
pub fn update_body(a: &UpdateArgs) -> Result<ContainerUpdateBody, String> {
    let flag_err = |flag: &str, v: &str, e: String| format!("invalid argument \"{v}\" for \"{flag}\" flag: {e}");
    let int = |flag: &str, v: &Option<String>| -> Result<i64, String> {
        v.as_deref().map_or(Ok(0), |s| go_parse_int(s).map_err(|e| flag_err(flag, s, e)))
    };
    let size = |flag: &str, v: &Option<String>, swap: bool| -> Result<i64, String> {
        match v.as_deref() {
            None => Ok(0),
            Some("-1") if swap => Ok(-1),
            Some(s) => ram_in_bytes(s).map_err(|e| flag_err(flag, s, e)),
        }
    };
    let blkio = match a.blkio_weight.as_deref() {
        None => 0,
        Some(s) => s
            .parse::<u16>()
            .map_err(|_| flag_err("--blkio-weight", s, format!("strconv.ParseUint: parsing {s:?}: invalid syntax")))?,
    };
    let nano = match a.cpus.as_deref() {
        None => 0,
        Some(s) => parse_nano_cpus(s).map_err(|e| flag_err("--cpus", s, e))?,
    };
    let pids = match a.pids_limit.as_deref() {
        None => None,
        Some(s) => Some(go_parse_int(s).map_err(|e| flag_err("--pids-limit", s, e))?),
    };
    let restart = match a.restart.as_deref() {
        None | Some("") => None,
        Some(p) => Some(parse_restart_policy(p)?),
    };
    let body = ContainerUpdateBody {
        blkio_weight: Some(blkio),
        cpuset_cpus: Some(a.cpuset_cpus.clone().unwrap_or_default()),
        cpuset_mems: Some(a.cpuset_mems.clone().unwrap_or_default()),
        cpu_shares: Some(int("-c, --cpu-shares", &a.cpu_shares)?),
        memory: Some(size("-m, --memory", &a.memory, false)?),
        memory_reservation: Some(size("--memory-reservation", &a.memory_reservation, false)?),
        memory_swap: Some(size("--memory-swap", &a.memory_swap, true)?),
        cpu_period: Some(int("--cpu-period", &a.cpu_period)?),
        cpu_quota: Some(int("--cpu-quota", &a.cpu_quota)?),
        cpu_realtime_period: Some(int("--cpu-rt-period", &a.cpu_rt_period)?),
        cpu_realtime_runtime: Some(int("--cpu-rt-runtime", &a.cpu_rt_runtime)?),
        nano_cpus: Some(nano),
        pids_limit: pids,
        restart_policy: restart,
        ..Default::default()
    };
    let any = [
        &a.blkio_weight, &a.cpu_period, &a.cpu_quota, &a.cpu_rt_period, &a.cpu_rt_runtime, &a.cpu_shares, &a.cpus,
        &a.cpuset_cpus, &a.cpuset_mems, &a.memory, &a.memory_reservation, &a.memory_swap, &a.pids_limit, &a.restart,
    ]
    .iter()
    .any(|v| v.is_some());
    if !any {
        return Err("you must provide one or more flags when using this command".into());
    }
    Ok(body)
}

/// `berth update`: the same body to each container; each name printed on success.
pub async fn update(c: &Client, a: UpdateArgs) -> anyhow::Result<()> {
    let body = update_body(&a).map_err(|e| StatusError::with(125, format!("berth: {e}")))?;
    let mut errors = Vec::new();
    for name in &a.containers {
        match c.docker().update_container(name, body.clone()).await {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) => errors.push(ApiError(e.into()).to_string()),
        }
    }
    collect(errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models as m;
    use std::collections::HashMap;

    fn sample() -> ContainerStatsResponse {
        let cpu = |total: u64, system: u64| m::ContainerCpuStats {
            cpu_usage: Some(m::ContainerCpuUsage { total_usage: Some(total), percpu_usage: Some(vec![0, 0]), ..Default::default() }),
            system_cpu_usage: Some(system),
            online_cpus: Some(2),
            ..Default::default()
        };
        ContainerStatsResponse {
            id: Some("6ba0463533c31daa7052ec2eea64e8f69631dfbd734ef75b2fc16082266c92e9".into()),
            name: Some("/cpu1".into()),
            cpu_stats: Some(cpu(1_500_000_000, 4_000_000_000)),
            precpu_stats: Some(cpu(1_000_000_000, 2_000_000_000)),
            memory_stats: Some(m::ContainerMemoryStats {
                usage: Some(600 * 1024),
                limit: Some(25_276_510_208),
                stats: Some(HashMap::from([("total_inactive_file".into(), 100 * 1024)])),
                ..Default::default()
            }),
            networks: Some(HashMap::from([
                ("eth0".into(), m::ContainerNetworkStats { rx_bytes: Some(1562), tx_bytes: Some(516), ..Default::default() }),
                ("eth1".into(), m::ContainerNetworkStats { rx_bytes: Some(1000), tx_bytes: Some(0), ..Default::default() }),
            ])),
            blkio_stats: Some(m::ContainerBlkioStats {
                io_service_bytes_recursive: Some(vec![
                    m::ContainerBlkioStatEntry { op: Some("Read".into()), value: Some(4096), ..Default::default() },
                    m::ContainerBlkioStatEntry { op: Some("write".into()), value: Some(2_000_000), ..Default::default() },
                    m::ContainerBlkioStatEntry { op: Some("Total".into()), value: Some(9), ..Default::default() },
                ]),
                ..Default::default()
            }),
            pids_stats: Some(m::ContainerPidsStats { current: Some(3), limit: None }),
            ..Default::default()
        }
    }

    #[test]
    fn rows_are_computed_as_docker_does() {
        let e = entry_of("cpu1", &sample());
        assert_eq!(e.cpu_percent, 50.0);
        assert_eq!(e.memory, 500.0 * 1024.0);
        let c = context(&e, true);
        let want = json!({
            "BlockIO": "4.1kB / 2MB", "CPUPerc": "50.00%", "Container": "cpu1", "ID": "6ba0463533c3", "MemPerc": "0.00%",
            "MemUsage": "500KiB / 23.54GiB", "Name": "cpu1", "NetIO": "2.56kB / 516B", "PIDs": "3",
        });
        assert_eq!(c, want);
        assert_eq!(context(&e, false)["ID"], "6ba0463533c31daa7052ec2eea64e8f69631dfbd734ef75b2fc16082266c92e9");
        // A stopped container's empty sample: zeros, and the name still shown.
        let empty = ContainerStatsResponse { name: Some("/x".into()), id: Some("abc".into()), ..Default::default() };
        let c = context(&entry_of("x", &empty), true);
        assert_eq!((c["CPUPerc"].as_str(), c["MemUsage"].as_str(), c["NetIO"].as_str(), c["PIDs"].as_str()), (Some("0.00%"), Some("0B / 0B"), Some("0B / 0B"), Some("0")));
        let bad = Entry { container: "nope".into(), invalid: true, ..Default::default() };
        let c = context(&bad, true);
        assert_eq!((c["Name"].as_str(), c["MemUsage"].as_str(), c["PIDs"].as_str()), (Some("--"), Some("-- / --"), Some("--")));
    }

    #[test]
    fn sizes_and_table_as_docker() {
        for (v, want) in [(0.0, "0B"), (503808.0, "492KiB"), (25_276_510_208.0, "23.54GiB"), (1024.0, "1KiB"), (33_554_432.0, "32MiB")] {
            assert_eq!(bytes_size(v), want);
        }
        let lf = ListFormat::parse("", DEFAULT_TABLE).unwrap();
        let mut buf = Vec::new();
        lf.write(&mut buf, &headers(), &[context(&entry_of("cpu1", &sample()), true)]).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O         BLOCK I/O     PIDS");
        assert_eq!(lines[1], "6ba0463533c3   cpu1      50.00%    500KiB / 23.54GiB   0.00%     2.56kB / 516B   4.1kB / 2MB   3");
        assert_eq!(redraw("a\nb\n"), "\x1b[Ha\nb\n\x1b[Ha \x1b[K\nb \x1b[K\n \x1b[K\n\x1b[J");
    }

    fn upd(args: &[&str]) -> Result<ContainerUpdateBody, String> {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            u: UpdateArgs,
        }
        let mut v = vec!["update"];
        v.extend_from_slice(args);
        update_body(&T::try_parse_from(v).unwrap().u)
    }

    #[test]
    fn update_flags_become_dockers_body() {
        let b = upd(&["--memory", "64m", "--memory-swap", "-1", "--cpus", "1.5", "--pids-limit", "20", "--restart", "on-failure:2", "c"]).unwrap();
        assert_eq!((b.memory, b.memory_swap, b.nano_cpus, b.pids_limit), (Some(64 << 20), Some(-1), Some(1_500_000_000), Some(20)));
        assert_eq!(b.restart_policy.unwrap().maximum_retry_count, Some(2));
        let b = upd(&["-c", "512", "c"]).unwrap();
        assert_eq!((b.cpu_shares, b.memory, b.pids_limit, b.restart_policy.clone()), (Some(512), Some(0), None, None));
        let j = serde_json::to_value(&b).unwrap();
        assert_eq!(j["CpusetCpus"], "");
        assert_eq!(upd(&["c"]).unwrap_err(), "you must provide one or more flags when using this command");
        assert_eq!(upd(&["--memory", "x", "c"]).unwrap_err(), "invalid argument \"x\" for \"-m, --memory\" flag: invalid size: 'x'");
        assert_eq!(upd(&["--cpus", "y", "c"]).unwrap_err(), "invalid argument \"y\" for \"--cpus\" flag: failed to parse y as a rational number");
    }
}
