//! System commands: info, version, events, system df.

use std::io::Write;

use berth_client::Client;
use bollard::query_parameters::EventsOptions;
use clap::Args;
use futures_util::StreamExt;
use serde_json::{json, Value as Json};

use super::container::parse_timestamp;
use super::{filters, out};
use crate::error::{ApiResult, StatusError};
use crate::format::{self, humanize, template::header_context, ListFormat, Template};

/// Flags of commands that only take `--format`.
#[derive(Args, Debug)]
pub struct FormatArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", default_value = "")]
    pub format: String,
}

/// This CLI's own version.
const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn client_info(c: &Client) -> Json {
    json!({
        "Platform": {"Name": "Berth"},
        "Version": CLIENT_VERSION,
        "ApiVersion": c.api_version(),
        "DefaultAPIVersion": berth_api::API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

fn render_format(format: &str, data: &Json) -> anyhow::Result<()> {
    let text = if format == "json" { "{{json .}}" } else { format };
    let t = Template::parse(text).map_err(|e| StatusError::with(1, format!("Template parsing error: {e}")))?;
    let s = t.render(data).map_err(|e| StatusError::with(1, format!("template: {e}")))?;
    out(&format!("{s}\n"))
}

/// `docker version`.
pub async fn version(c: &Client, a: FormatArgs) -> anyhow::Result<()> {
    let server = c.docker().version().await.api()?;
    let mut server_json = serde_json::to_value(&server)?;
    let mut client = client_info(c);
    // Templates address Go's field names (`.Server.APIVersion`), whose JSON key is `ApiVersion`.
    for v in [&mut server_json, &mut client] {
        if let Some(o) = v.as_object_mut() {
            if let Some(x) = o.get("ApiVersion").cloned() {
                o.insert("APIVersion".into(), x);
            }
        }
    }
    if !a.format.is_empty() {
        return render_format(&a.format, &json!({"Client": client, "Server": server_json}));
    }
    let mut tw = tabwriter::TabWriter::new(Vec::new()).minwidth(19).padding(1);
    let api = c.api_version();
    let downgraded = if api != berth_api::API_VERSION { format!(" (downgraded from {})", berth_api::API_VERSION) } else { String::new() };
    writeln!(tw, "Client: Berth")?;
    writeln!(tw, " Version:\t{CLIENT_VERSION}")?;
    writeln!(tw, " API version:\t{api}{downgraded}")?;
    writeln!(tw, " OS/Arch:\t{}/{}", std::env::consts::OS, go_arch())?;
    writeln!(tw, " Context:\tdefault")?;
    writeln!(tw)?;
    let platform = server.platform.as_ref().map(|p| p.name.clone()).unwrap_or_default();
    writeln!(tw, "Server:{}", if platform.is_empty() { String::new() } else { format!(" {platform}") })?;
    let components = server.components.clone().unwrap_or_default();
    if components.is_empty() {
        writeln!(tw, " Engine:")?;
        writeln!(tw, "  Version:\t{}", server.version.clone().unwrap_or_default())?;
        writeln!(
            tw,
            "  API version:\t{} (minimum version {})",
            server.api_version.clone().unwrap_or_default(),
            server.min_api_version.clone().unwrap_or_default()
        )?;
        writeln!(tw, "  Go version:\t{}", server.go_version.clone().unwrap_or_default())?;
        writeln!(tw, "  Git commit:\t{}", server.git_commit.clone().unwrap_or_default())?;
        writeln!(tw, "  Built:\t{}", server.build_time.clone().unwrap_or_default())?;
        writeln!(tw, "  OS/Arch:\t{}/{}", server.os.clone().unwrap_or_default(), server.arch.clone().unwrap_or_default())?;
        writeln!(tw, "  Experimental:\t{}", server.experimental.unwrap_or(false))?;
    }
    for comp in components {
        writeln!(tw, " {}:", comp.name)?;
        let details = comp.details.clone().unwrap_or_default();
        let d = |k: &str| details.get(k).cloned().unwrap_or_default();
        if comp.name == "Engine" {
            writeln!(tw, "  Version:\t{}", comp.version)?;
            writeln!(tw, "  API version:\t{} (minimum version {})", d("ApiVersion"), d("MinAPIVersion"))?;
            writeln!(tw, "  Go version:\t{}", d("GoVersion"))?;
            writeln!(tw, "  Git commit:\t{}", d("GitCommit"))?;
            writeln!(tw, "  Built:\t{}", d("BuildTime"))?;
            writeln!(tw, "  OS/Arch:\t{}/{}", d("Os"), d("Arch"))?;
            writeln!(tw, "  Experimental:\t{}", d("Experimental"))?;
        } else {
            writeln!(tw, "  Version:\t{}", comp.version)?;
            let mut keys: Vec<&String> = details.keys().collect();
            keys.sort();
            for k in keys {
                writeln!(tw, "  {k}:\t{}", details[k])?;
            }
        }
    }
    tw.flush()?;
    let buf = tw.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    out(&String::from_utf8_lossy(&buf))
}

/// go-units `BytesSize`: base 1024 (`23.47GiB`).
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

/// The human-readable `docker info` text for a server's info JSON.
pub fn info_text(client_version: &str, info: &Json) -> String {
    let s = |k: &str| info.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
    let n = |k: &str| info.get(k).and_then(|v| v.as_i64()).unwrap_or(0);
    let b = |k: &str| info.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    let mut o = String::new();
    o.push_str("Client:\n");
    o.push_str(&format!(" Version:    {client_version}\n"));
    o.push_str(" Context:    default\n");
    o.push_str(" Debug Mode: false\n\n");
    o.push_str("Server:\n");
    o.push_str(&format!(" Containers: {}\n", n("Containers")));
    o.push_str(&format!("  Running: {}\n", n("ContainersRunning")));
    o.push_str(&format!("  Paused: {}\n", n("ContainersPaused")));
    o.push_str(&format!("  Stopped: {}\n", n("ContainersStopped")));
    o.push_str(&format!(" Images: {}\n", n("Images")));
    o.push_str(&format!(" Server Version: {}\n", s("ServerVersion")));
    o.push_str(&format!(" Storage Driver: {}\n", s("Driver")));
    if let Some(ds) = info.get("DriverStatus").and_then(|v| v.as_array()) {
        for pair in ds {
            if let Some(p) = pair.as_array() {
                let k = p.first().and_then(|v| v.as_str()).unwrap_or("");
                let v = p.get(1).and_then(|v| v.as_str()).unwrap_or("");
                o.push_str(&format!("  {k}: {v}\n"));
            }
        }
    }
    o.push_str(&format!(" Logging Driver: {}\n", s("LoggingDriver")));
    o.push_str(&format!(" Cgroup Driver: {}\n", s("CgroupDriver")));
    o.push_str(&format!(" Cgroup Version: {}\n", s("CgroupVersion")));
    let mut runtimes: Vec<String> = info
        .get("Runtimes")
        .and_then(|v| v.as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    runtimes.sort();
    o.push_str(&format!(" Runtimes: {}\n", runtimes.join(" ")));
    o.push_str(&format!(" Default Runtime: {}\n", s("DefaultRuntime")));
    o.push_str(&format!(" Init Binary: {}\n", s("InitBinary")));
    if let Some(opts) = info.get("SecurityOptions").and_then(|v| v.as_array()).filter(|a| !a.is_empty()) {
        o.push_str(" Security Options:\n");
        for opt in opts {
            let text = opt.as_str().unwrap_or("");
            for (i, kv) in text.split(',').enumerate() {
                let (k, v) = kv.split_once('=').unwrap_or(("", kv));
                if i == 0 && k == "name" {
                    o.push_str(&format!("  {v}\n"));
                } else if k == "profile" {
                    o.push_str(&format!("   Profile: {v}\n"));
                }
            }
        }
    }
    o.push_str(&format!(" Kernel Version: {}\n", s("KernelVersion")));
    o.push_str(&format!(" Operating System: {}\n", s("OperatingSystem")));
    o.push_str(&format!(" OSType: {}\n", s("OSType")));
    o.push_str(&format!(" Architecture: {}\n", s("Architecture")));
    o.push_str(&format!(" CPUs: {}\n", n("NCPU")));
    o.push_str(&format!(" Total Memory: {}\n", bytes_size(n("MemTotal") as f64)));
    o.push_str(&format!(" Name: {}\n", s("Name")));
    o.push_str(&format!(" ID: {}\n", s("ID")));
    o.push_str(&format!(" Docker Root Dir: {}\n", s("DockerRootDir")));
    o.push_str(&format!(" Debug Mode: {}\n", b("Debug")));
    if let Some(labels) = info.get("Labels").and_then(|v| v.as_array()).filter(|a| !a.is_empty()) {
        o.push_str(" Labels:\n");
        for l in labels {
            o.push_str(&format!("  {}\n", l.as_str().unwrap_or("")));
        }
    }
    o.push_str(&format!(" Experimental: {}\n", b("ExperimentalBuild")));
    o.push_str(&format!(" Live Restore Enabled: {}\n", b("LiveRestoreEnabled")));
    o.push('\n');
    o
}

/// `docker info`.
pub async fn info(c: &Client, a: FormatArgs) -> anyhow::Result<()> {
    let info = c.docker().info().await.api()?;
    let mut j = serde_json::to_value(&info)?;
    if !a.format.is_empty() {
        if let Json::Object(m) = &mut j {
            m.insert("ClientInfo".into(), client_info(c));
        }
        return render_format(&a.format, &j);
    }
    out(&info_text(CLIENT_VERSION, &j))?;
    for w in info.warnings.unwrap_or_default() {
        eprintln!("{w}");
    }
    Ok(())
}

/// `events` flags.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Show all events created since timestamp
    #[arg(long = "since")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long = "until")]
    pub until: Option<String>,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", default_value = "")]
    pub format: String,
}

/// One event in docker's default layout.
pub fn event_line(e: &berth_api::models::EventMessage) -> String {
    let mut s = String::new();
    if let Some(ns) = e.time_nano.filter(|n| *n != 0) {
        s.push_str(&humanize::rfc3339_nano_fixed(ns));
        s.push(' ');
    } else if let Some(t) = e.time.filter(|t| *t != 0) {
        s.push_str(&humanize::rfc3339_nano_fixed(t * 1_000_000_000));
        s.push(' ');
    }
    let typ = e.typ.map(|t| t.to_string()).unwrap_or_default();
    let actor = e.actor.clone().unwrap_or_default();
    s.push_str(&format!("{typ} {} {}", e.action.clone().unwrap_or_default(), actor.id.unwrap_or_default()));
    let attrs = actor.attributes.unwrap_or_default();
    if !attrs.is_empty() {
        let mut keys: Vec<&String> = attrs.keys().collect();
        keys.sort();
        let parts: Vec<String> = keys.iter().map(|k| format!("{k}={}", attrs[*k])).collect();
        s.push_str(&format!(" ({})", parts.join(", ")));
    }
    s.push('\n');
    s
}

/// `docker events`.
pub async fn events(c: &Client, a: EventsArgs) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    let ts = |v: &Option<String>| -> anyhow::Result<Option<String>> {
        match v {
            None => Ok(None),
            Some(s) => Ok(Some(parse_timestamp(s, now).map_err(|e| StatusError::with(1, e))?.to_string())),
        }
    };
    let opts = EventsOptions { since: ts(&a.since)?, until: ts(&a.until)?, filters: filters(&a.filter)? };
    let template = match a.format.as_str() {
        "" => None,
        "json" => Some(Template::parse("{{json .}}")?),
        f => Some(Template::parse(f)?),
    };
    let mut s = c.docker().events(Some(opts));
    while let Some(ev) = s.next().await {
        let ev = ev.api()?;
        match &template {
            None => out(&event_line(&ev))?,
            Some(t) => out(&format!("{}\n", t.render(&serde_json::to_value(&ev)?)?))?,
        }
    }
    Ok(())
}

/// `system df` flags.
#[derive(Args, Debug)]
pub struct DfArgs {
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Format output using a custom template
    #[arg(long = "format", default_value = "")]
    pub format: String,
}

/// `docker system df` summary table.
const DF_TABLE: &str = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";

fn arr<'a>(v: &'a Json, k: &str) -> Vec<&'a Json> {
    v.get(k).and_then(|x| x.as_array()).map(|a| a.iter().collect()).unwrap_or_default()
}

fn int(v: &Json, k: &str) -> i64 {
    v.get(k).and_then(|x| x.as_i64()).unwrap_or(0)
}

fn with_percent(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", humanize::human_size(reclaimable as f64), reclaimable * 100 / total)
    } else {
        humanize::human_size(reclaimable as f64)
    }
}

/// The four summary rows of `system df`, from either the 1.47 answer (`LayersSize`, `Images`,
/// `Containers`, `Volumes`, `BuildCache`) or the newer one (`ImageUsage`, ...).
pub fn df_rows(du: &Json) -> Vec<Json> {
    let row = |typ: &str, total: i64, active: i64, size: String, recl: String| {
        json!({"Type": typ, "TotalCount": total.to_string(), "Active": active.to_string(), "Size": size, "Reclaimable": recl})
    };
    if let Some(iu) = du.get("ImageUsage") {
        let get = |k: &str| du.get(k).cloned().unwrap_or(Json::Null);
        let summary = |v: &Json, typ: &str, pct: bool| {
            let total = int(v, "TotalSize");
            let recl = int(v, "Reclaimable");
            row(typ, int(v, "TotalCount"), int(v, "ActiveCount"), humanize::human_size(total as f64),
                if pct { with_percent(recl, total) } else { humanize::human_size(recl as f64) })
        };
        return vec![
            summary(iu, "Images", true),
            summary(&get("ContainerUsage"), "Containers", true),
            summary(&get("VolumeUsage"), "Local Volumes", true),
            summary(&get("BuildCacheUsage"), "Build Cache", false),
        ];
    }
    let images = arr(du, "Images");
    let layers = int(du, "LayersSize");
    let mut used = 0;
    for i in &images {
        if int(i, "Containers") != 0 {
            let (size, shared) = (int(i, "Size"), int(i, "SharedSize"));
            if size != -1 && shared != -1 {
                used += size - shared;
            }
        }
    }
    let img_active = images.iter().filter(|i| int(i, "Containers") > 0).count() as i64;
    let containers = arr(du, "Containers");
    let is_active = |c: &Json| {
        let st = c.get("State").and_then(|s| s.as_str()).unwrap_or("");
        st.contains("running") || st.contains("paused") || st.contains("restarting")
    };
    let c_size: i64 = containers.iter().map(|c| int(c, "SizeRw")).sum();
    let c_recl: i64 = containers.iter().filter(|c| !is_active(c)).map(|c| int(c, "SizeRw")).sum();
    let c_active = containers.iter().filter(|c| is_active(c)).count() as i64;
    let volumes = arr(du, "Volumes");
    let usage = |v: &Json, k: &str| v.get("UsageData").map(|u| int(u, k)).unwrap_or(0);
    let v_size: i64 = volumes.iter().map(|v| usage(v, "Size")).filter(|s| *s > 0).sum();
    let v_recl: i64 = volumes.iter().filter(|v| usage(v, "RefCount") == 0).map(|v| usage(v, "Size")).filter(|s| *s > 0).sum();
    let v_active = volumes.iter().filter(|v| usage(v, "RefCount") > 0).count() as i64;
    let cache = arr(du, "BuildCache");
    let in_use = |b: &Json| b.get("InUse").and_then(|x| x.as_bool()).unwrap_or(false);
    let shared = |b: &Json| b.get("Shared").and_then(|x| x.as_bool()).unwrap_or(false);
    let b_size: i64 = cache.iter().map(|b| int(b, "Size")).sum();
    let b_recl: i64 = cache.iter().filter(|b| !in_use(b) && !shared(b)).map(|b| int(b, "Size")).sum();
    let b_active = cache.iter().filter(|b| in_use(b)).count() as i64;
    vec![
        row("Images", images.len() as i64, img_active, humanize::human_size(layers as f64), with_percent(layers - used, layers)),
        row("Containers", containers.len() as i64, c_active, humanize::human_size(c_size as f64), with_percent(c_recl, c_size)),
        row("Local Volumes", volumes.len() as i64, v_active, humanize::human_size(v_size as f64), with_percent(v_recl, v_size)),
        row("Build Cache", cache.len() as i64, b_active, humanize::human_size(b_size as f64), humanize::human_size(b_recl as f64)),
    ]
}

fn df_headers() -> Json {
    header_context(&[("Type", "TYPE"), ("TotalCount", "TOTAL"), ("Active", "ACTIVE"), ("Size", "SIZE"), ("Reclaimable", "RECLAIMABLE")])
}

/// `docker system df`.
pub async fn df(c: &Client, a: DfArgs) -> anyhow::Result<()> {
    let du = c.get_json("/system/df", &[]).await.api()?;
    if !a.verbose {
        let lf = ListFormat::parse(&a.format, DF_TABLE)?;
        let mut buf = Vec::new();
        lf.write(&mut buf, &df_headers(), &df_rows(&du))?;
        return out(&String::from_utf8_lossy(&buf));
    }
    let now = format::now_unix();
    let mut o = String::new();
    // Images.
    let images: Vec<berth_api::models::ImageSummary> = arr(&du, "Images").into_iter().filter_map(|i| serde_json::from_value(i.clone()).ok()).collect();
    let t = ListFormat::parse("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}", "")?;
    let items: Vec<Json> = images.iter().flat_map(|i| format::images::contexts(i, true, false, now)).collect();
    let mut buf = Vec::new();
    t.write(&mut buf, &format::images::headers(), &items)?;
    o.push_str("Images space usage:\n\n");
    o.push_str(&String::from_utf8_lossy(&buf));
    // Containers.
    let containers: Vec<berth_api::models::ContainerSummary> =
        arr(&du, "Containers").into_iter().filter_map(|c| serde_json::from_value(c.clone()).ok()).collect();
    let t = ListFormat::parse("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}", "")?;
    let items: Vec<Json> = containers
        .iter()
        .map(|c| {
            let mut ctx = format::containers::context(c, true, now);
            ctx["Size"] = Json::String(humanize::human_size_precision(c.size_rw.unwrap_or(0) as f64, 3));
            ctx
        })
        .collect();
    let mut buf = Vec::new();
    t.write(&mut buf, &format::containers::headers(), &items)?;
    o.push_str("\nContainers space usage:\n\n");
    o.push_str(&String::from_utf8_lossy(&buf));
    // Volumes.
    let t = ListFormat::parse("table {{.Name}}\t{{.Links}}\t{{.Size}}", "")?;
    let items: Vec<Json> = arr(&du, "Volumes")
        .into_iter()
        .map(|v| {
            let u = v.get("UsageData").cloned().unwrap_or(Json::Null);
            let size = int(&u, "Size");
            json!({
                "Name": v.get("Name").and_then(|n| n.as_str()).unwrap_or(""),
                "Links": if int(&u, "RefCount") == -1 { "N/A".to_string() } else { int(&u, "RefCount").to_string() },
                "Size": if size == -1 { "N/A".to_string() } else { humanize::human_size(size as f64) },
            })
        })
        .collect();
    let mut buf = Vec::new();
    t.write(&mut buf, &header_context(&[("Name", "VOLUME NAME"), ("Links", "LINKS"), ("Size", "SIZE")]), &items)?;
    o.push_str("\nLocal Volumes space usage:\n\n");
    o.push_str(&String::from_utf8_lossy(&buf));
    let cache_size: i64 = arr(&du, "BuildCache").iter().map(|b| int(b, "Size")).sum();
    o.push_str(&format!("\nBuild cache usage: {}\n\n", humanize::human_size(cache_size as f64)));
    let t = ListFormat::parse("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}", "")?;
    let mut buf = Vec::new();
    t.write(
        &mut buf,
        &header_context(&[("ID", "CACHE ID"), ("CacheType", "CACHE TYPE"), ("Size", "SIZE"), ("CreatedSince", "CREATED"), ("LastUsedSince", "LAST USED"), ("UsageCount", "USAGE"), ("Shared", "SHARED")]),
        &[],
    )?;
    o.push_str(&String::from_utf8_lossy(&buf));
    out(&o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_summary_from_1_47_answer() {
        let du = json!({
            "LayersSize": 4_261_234,
            "Images": [{"Id": "sha256:a", "Containers": 1, "Size": 4_261_234, "SharedSize": 0, "RepoTags": [], "RepoDigests": [], "ParentId": "", "Created": 0, "Labels": {}}],
            "Containers": [{"Id": "c1", "State": "exited", "SizeRw": 100}, {"Id": "c2", "State": "running", "SizeRw": 300}],
            "Volumes": [],
            "BuildCache": []
        });
        let rows = df_rows(&du);
        let lf = ListFormat::parse("", DF_TABLE).unwrap();
        let mut buf = Vec::new();
        lf.write(&mut buf, &df_headers(), &rows).unwrap();
        let want = "\
TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE
Images          1         1         4.261MB   0B (0%)
Containers      2         1         400B      100B (25%)
Local Volumes   0         0         0B        0B
Build Cache     0         0         0B        0B
";
        assert_eq!(String::from_utf8(buf).unwrap(), want);
    }

    #[test]
    fn df_summary_from_new_answer() {
        let du = json!({"ImageUsage": {"TotalCount": 2, "ActiveCount": 1, "TotalSize": 1000, "Reclaimable": 500}});
        let rows = df_rows(&du);
        assert_eq!(rows[0]["Reclaimable"], "500B (50%)");
        assert_eq!(rows[1]["TotalCount"], "0");
    }

    #[test]
    fn event_lines() {
        use berth_api::models::{EventActor, EventMessage, EventMessageTypeEnum};
        let e = EventMessage {
            typ: Some(EventMessageTypeEnum::CONTAINER),
            action: Some("start".into()),
            actor: Some(EventActor {
                id: Some("abc".into()),
                attributes: Some([("name".to_string(), "web".to_string()), ("image".to_string(), "busybox".to_string())].into()),
            }),
            ..Default::default()
        };
        assert_eq!(event_line(&e), "container start abc (image=busybox, name=web)\n");
    }

    #[test]
    fn binary_sizes() {
        assert_eq!(bytes_size(25_200_000_000.0), "23.47GiB");
        assert_eq!(bytes_size(512.0), "512B");
    }

    #[test]
    fn info_text_has_docker_lines() {
        let info = json!({"Containers": 3, "ContainersRunning": 1, "ContainersPaused": 0, "ContainersStopped": 2,
            "Images": 1, "ServerVersion": "0.1.0", "Driver": "overlay2", "NCPU": 2, "MemTotal": 1073741824i64,
            "Runtimes": {"runc": {}, "berth": {}}, "Name": "host"});
        let t = info_text("0.1.0", &info);
        for line in [" Containers: 3\n", "  Running: 1\n", "  Stopped: 2\n", " Server Version: 0.1.0\n", " CPUs: 2\n", " Total Memory: 1GiB\n", " Runtimes: berth runc\n"] {
            assert!(t.contains(line), "missing {line:?} in\n{t}");
        }
    }
}
