//! Container commands that are plain request/response: ps, logs, inspect, stop, kill, rm,
//! wait, top, rename, pause, unpause, restart, prune.

use std::io::Write;

use berth_client::Client;
use bollard::query_parameters::{
    KillContainerOptions, ListContainersOptions, PruneContainersOptions, RemoveContainerOptions,
    RenameContainerOptions, RestartContainerOptions, StopContainerOptions, TopOptions, WaitContainerOptions,
};
use clap::Args;
use futures_util::StreamExt;
use serde_json::Value as Json;

use super::{filters, out};
use crate::error::{collect, status_of, ApiError, ApiResult, StatusError};
use crate::format::{self, containers, humanize, ListFormat};
use crate::stream::pump::write_all;
use crate::stream::stdcopy::{Demuxer, Stream};

/// `ps` flags.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", default_value_t = -1, allow_negative_numbers = true)]
    pub last: i32,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", default_value = "")]
    pub format: String,
}

/// `docker ps`.
pub async fn ps(c: &Client, a: PsArgs) -> anyhow::Result<()> {
    let mut last = a.last;
    if a.latest && last == -1 {
        last = 1;
    }
    let format = if a.quiet { "{{.ID}}".to_string() } else { a.format.clone() };
    let size = a.size || (!a.quiet && format.contains(".Size"));
    let opts = ListContainersOptions {
        all: a.all,
        limit: (last > 0).then_some(last),
        size,
        filters: filters(&a.filter)?,
    };
    let list = c.docker().list_containers(Some(opts)).await.api()?;
    let default = if a.size { containers::DEFAULT_TABLE_SIZE } else { containers::DEFAULT_TABLE };
    let lf = ListFormat::parse(&format, default)?;
    let now = format::now_unix();
    let items: Vec<Json> = list.iter().map(|s| containers::context(s, !a.no_trunc, now)).collect();
    let mut buf = Vec::new();
    lf.write(&mut buf, &containers::headers(), &items)?;
    out(&String::from_utf8_lossy(&buf))
}

/// `logs` flags.
#[derive(Args, Debug)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long = "tail", default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long = "timestamps")]
    pub timestamps: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m")
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Show logs before a timestamp or relative time
    #[arg(long = "until")]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long = "details")]
    pub details: bool,
    /// The container
    pub container: String,
}

/// `docker logs`: inspect for `Tty`, then copy the raw stream or demultiplex it.
pub async fn logs(c: &Client, a: LogsArgs) -> anyhow::Result<()> {
    let info = c.docker().inspect_container(&a.container, None).await.api()?;
    let tty = info.config.as_ref().and_then(|cfg| cfg.tty) == Some(true);
    let id = info.id.clone().unwrap_or_else(|| a.container.clone());
    let now = chrono::Utc::now().timestamp();
    let b = |v: bool| if v { "1".to_string() } else { "0".to_string() };
    let mut q = vec![
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
        ("follow", b(a.follow)),
        ("timestamps", b(a.timestamps)),
        ("details", b(a.details)),
        ("tail", a.tail.clone()),
    ];
    if let Some(s) = &a.since {
        q.push(("since", parse_timestamp(s, now).map_err(|e| StatusError::with(1, e))?.to_string()));
    }
    if let Some(s) = &a.until {
        q.push(("until", parse_timestamp(s, now).map_err(|e| StatusError::with(1, e))?.to_string()));
    }
    let mut rx = c.get_stream(&format!("/containers/{id}/logs"), &q).await.api()?;
    let mut demux = Demuxer::new();
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.api()?;
        if tty {
            write_all(Stream::Stdout, &chunk)?;
        } else {
            for frame in demux.push(&chunk)? {
                write_all(frame.stream, &frame.data)?;
            }
        }
    }
    Ok(())
}

/// docker's `timetypes.GetTimestamp`, to whole unix seconds: a unix time (`1700000000[.5]`),
/// a Go duration before now (`10m`), or an RFC 3339 date or date-time (local zone if none).
pub fn parse_timestamp(s: &str, now: i64) -> Result<i64, String> {
    use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
    if s.is_empty() {
        return Ok(0);
    }
    if let Ok(ns) = humanize::parse_go_duration(s) {
        return Ok(now - ns / 1_000_000_000);
    }
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let mut parts = unsigned.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    if !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| f.chars().all(|c| c.is_ascii_digit()))
    {
        let secs: i64 = whole.parse().map_err(|_| format!("failed to parse value as time or duration: \"{s}\""))?;
        return Ok(if s.starts_with('-') { -secs } else { secs });
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, layout) {
            if let Some(l) = Local.from_local_datetime(&t).single() {
                return Ok(l.timestamp());
            }
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        if let Some(l) = d.and_hms_opt(0, 0, 0).and_then(|t| Local.from_local_datetime(&t).single()) {
            return Ok(l.timestamp());
        }
    }
    Err(format!("failed to parse value as time or duration: \"{s}\""))
}

/// `inspect` flags.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", default_value = "")]
    pub format: String,
    /// Return JSON for specified type
    #[arg(long = "type", default_value = "")]
    pub typ: String,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long = "size")]
    pub size: bool,
    /// Names or IDs
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `docker inspect`, `container inspect` (`kind = container`), `image inspect`.
pub async fn inspect(c: &Client, a: InspectArgs, kind: Option<&str>) -> anyhow::Result<()> {
    let kind = kind.map(str::to_string).unwrap_or_else(|| a.typ.clone());
    if !matches!(kind.as_str(), "" | "container" | "image") {
        return Err(StatusError::with(1, format!("\"{kind}\" is not a valid value for --type")));
    }
    let template = if a.format.is_empty() { None } else { Some(format::Template::parse(&a.format)?) };
    let mut found: Vec<Json> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for name in &a.names {
        match inspect_one(c, name, &kind, a.size).await {
            Ok(Some(v)) => found.push(v),
            Ok(None) => errors.push(match kind.as_str() {
                "container" => format!("Error: No such container: {name}"),
                "image" => format!("Error: No such image: {name}"),
                _ => format!("Error: No such object: {name}"),
            }),
            Err(e) => errors.push(e.to_string()),
        }
    }
    match template {
        None => {
            let mut buf = Vec::new();
            let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
            let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
            serde::Serialize::serialize(&found, &mut ser)?;
            buf.push(b'\n');
            out(&String::from_utf8_lossy(&buf))?;
        }
        Some(t) => {
            for v in &found {
                let s = t.render(v).map_err(|e| StatusError::with(1, format!("template: {e}")))?;
                out(&format!("{s}\n"))?;
            }
        }
    }
    collect(errors)
}

async fn inspect_one(c: &Client, name: &str, kind: &str, size: bool) -> anyhow::Result<Option<Json>> {
    if kind.is_empty() || kind == "container" {
        let opts = bollard::query_parameters::InspectContainerOptions { size };
        match c.docker().inspect_container(name, Some(opts)).await.api() {
            Ok(v) => return Ok(Some(serde_json::to_value(v)?)),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(e),
        }
    }
    if kind.is_empty() || kind == "image" {
        match c.docker().inspect_image(name).await.api() {
            Ok(v) => return Ok(Some(serde_json::to_value(v)?)),
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// `stop`/`restart` flags.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout", allow_negative_numbers = true)]
    pub time: Option<i32>,
    /// Containers
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `docker stop`.
pub async fn stop(c: &Client, a: StopArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &a.names {
        let opts = StopContainerOptions { signal: a.signal.clone(), t: a.time };
        match c.docker().stop_container(name, Some(opts)).await.api() {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    collect(errors)
}

/// `docker restart`.
pub async fn restart(c: &Client, a: StopArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &a.names {
        let opts = RestartContainerOptions { signal: a.signal.clone(), t: a.time };
        match c.docker().restart_container(name, Some(opts)).await.api() {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    collect(errors)
}

/// `kill` flags.
#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", default_value = "")]
    pub signal: String,
    /// Containers
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `docker kill`.
pub async fn kill(c: &Client, a: KillArgs) -> anyhow::Result<()> {
    let signal = if a.signal.is_empty() { "KILL".to_string() } else { a.signal.clone() };
    let mut errors = Vec::new();
    for name in &a.names {
        let opts = KillContainerOptions { signal: signal.clone() };
        match c.docker().kill_container(name, Some(opts)).await.api() {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    collect(errors)
}

/// `rm` flags.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    /// Containers
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `docker rm`.
pub async fn rm(c: &Client, a: RmArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &a.names {
        let name = name.trim_matches('/');
        if name.is_empty() {
            errors.push("Container name cannot be empty".to_string());
            continue;
        }
        let opts = RemoveContainerOptions { v: a.volumes, force: a.force, link: a.link };
        match c.docker().remove_container(name, Some(opts)).await.api() {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    collect(errors)
}

/// Flags of commands taking only container names.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// Containers
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// Wait for `name` with `condition`; the container's exit code.
pub async fn wait_exit(c: &Client, name: &str, condition: &str) -> anyhow::Result<i64> {
    let opts = WaitContainerOptions { condition: condition.to_string() };
    let mut s = c.docker().wait_container(name, Some(opts));
    match s.next().await {
        Some(Ok(r)) => match r.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
            Some(m) if r.status_code == 0 => Err(anyhow::anyhow!("{m}")),
            _ => Ok(r.status_code),
        },
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(anyhow::Error::new(ApiError(e.into()))),
        None => Err(anyhow::anyhow!("wait for container {name} ended without a status")),
    }
}

/// `docker wait`.
pub async fn wait(c: &Client, a: NamesArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &a.names {
        match wait_exit(c, name, "not-running").await {
            Ok(code) => out(&format!("{code}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    collect(errors)
}

/// `top` flags.
#[derive(Args, Debug)]
pub struct TopArgs {
    /// The container
    pub container: String,
    /// ps options
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `docker top`.
pub async fn top(c: &Client, a: TopArgs) -> anyhow::Result<()> {
    let opts = TopOptions { ps_args: a.ps_args.join(" ") };
    let opts = if a.ps_args.is_empty() { None } else { Some(opts) };
    let r = c.docker().top_processes(&a.container, opts).await.api()?;
    // docker uses minwidth 20 here (Go counts the padding in it).
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(17).padding(3);
    writeln!(tw, "{}", r.titles.unwrap_or_default().join("\t"))?;
    for p in r.processes.unwrap_or_default() {
        writeln!(tw, "{}", p.join("\t"))?;
    }
    tw.flush()?;
    let buf = tw.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    out(&String::from_utf8_lossy(&buf))
}

/// `port` flags.
#[derive(Args, Debug)]
pub struct PortArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// `docker port`: the container's published ports from its inspect data.
pub async fn port(c: &Client, a: PortArgs) -> anyhow::Result<()> {
    let info = c.docker().inspect_container(&a.container, None).await.api()?;
    let ports = info.network_settings.and_then(|n| n.ports).unwrap_or_default();
    let lines = containers::port_lines(&ports, a.port.as_deref(), &a.container).map_err(|e| StatusError::with(1, e))?;
    if lines.is_empty() {
        return Ok(());
    }
    out(&format!("{}\n", lines.join("\n")))
}

/// `rename` flags.
#[derive(Args, Debug)]
pub struct RenameArgs {
    /// The container
    pub container: String,
    /// The new name
    pub new_name: String,
}

/// `docker rename`.
pub async fn rename(c: &Client, a: RenameArgs) -> anyhow::Result<()> {
    let new_name = a.new_name.trim();
    if a.container.trim().is_empty() || new_name.is_empty() {
        return Err(StatusError::with(1, "Error: neither old nor new names may be empty"));
    }
    let opts = RenameContainerOptions { name: new_name.to_string() };
    c.docker()
        .rename_container(&a.container, opts)
        .await
        .api()
        .map_err(|e| StatusError::with(1, format!("{e}\nError: failed to rename container named {}", a.container)))
}

/// `docker pause` / `docker unpause`.
pub async fn pause(c: &Client, a: NamesArgs, pause: bool) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &a.names {
        let r = if pause {
            c.docker().pause_container(name).await.api()
        } else {
            c.docker().unpause_container(name).await.api()
        };
        match r {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    collect(errors)
}

/// `container prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// Ask `question` on stdout and read y/N from stdin, as docker's prompt does.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    out(&format!("{warning}\nAre you sure you want to continue? [y/N] "))?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let answer = line.trim().to_lowercase();
    Ok(answer == "y" || answer == "yes")
}

/// `docker container prune`.
pub async fn prune(c: &Client, a: PruneArgs) -> anyhow::Result<()> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.")? {
        return Ok(());
    }
    let opts = PruneContainersOptions { filters: filters(&a.filter)? };
    let r = c.docker().prune_containers(Some(opts)).await.api()?;
    let mut s = String::new();
    let deleted = r.containers_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str("Deleted Containers:\n");
        for id in deleted {
            s.push_str(&id);
            s.push('\n');
        }
        s.push('\n');
    }
    s.push_str(&format!("Total reclaimed space: {}\n", humanize::human_size(r.space_reclaimed.unwrap_or(0) as f64)));
    out(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_like_docker() {
        let now = 1_700_000_000;
        let cases: &[(&str, i64)] = &[
            ("1699999990", 1_699_999_990),
            ("1699999990.5", 1_699_999_990),
            ("10s", now - 10),
            ("1h", now - 3600),
            ("2023-11-14T22:13:20Z", 1_700_000_000),
            ("2023-11-14T23:13:20+01:00", 1_700_000_000),
        ];
        for (s, want) in cases {
            assert_eq!(parse_timestamp(s, now).unwrap(), *want, "{s}");
        }
        assert!(parse_timestamp("yesterday", now).is_err());
        assert!(parse_timestamp("2023-11-14", now).is_ok());
    }
}
