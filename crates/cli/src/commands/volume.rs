//! `berth volume ...`: docker CLI 28's volume commands (cli/command/volume): create, ls,
//! inspect, rm, prune, plus Berth's `rename`.

use std::collections::HashMap;

use berth_api::models::{Volume, VolumeCreateRequest};
use berth_client::{Client, Request};
use bollard::query_parameters::{ListVolumesOptions, PruneVolumesOptions, RemoveVolumeOptions};
use clap::{Args, Subcommand};
use serde_json::{json, Value as Json};

use super::container::confirm;
use super::{filters, out};
use crate::error::{collect, ApiResult, StatusError};
use crate::format::template::{header_context, labels_json, LABELS_KEY};
use crate::format::{gojson, humanize, ListFormat, Template};
use crate::netopts::validate_label;
use crate::opts::kv_map;

/// `berth volume ...`
#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
    /// Rename a volume that no container uses
    Rename(RenameArgs),
}

/// `volume create` flags.
#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long = "driver", value_name = "string", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string", hide = true, default_value = "")]
    pub name_flag: String,
    /// [VOLUME]
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

/// The body of `POST /volumes/create`, as docker's `runCreate` builds it.
pub fn create_request(a: &CreateArgs) -> Result<VolumeCreateRequest, String> {
    let name = match (a.name.as_deref(), a.name_flag.as_str()) {
        (Some(p), f) if !f.is_empty() && p != f => {
            return Err("conflicting options: either specify --name or provide positional arg, not both".into())
        }
        (Some(p), _) => p.to_string(),
        (None, f) => f.to_string(),
    };
    let opts: HashMap<String, String> = a
        .opt
        .iter()
        .map(|o| match o.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (o.clone(), String::new()),
        })
        .collect();
    Ok(VolumeCreateRequest {
        name: Some(name),
        driver: Some(a.driver.clone()),
        driver_opts: Some(opts),
        labels: Some(kv_map(&a.label)),
        cluster_volume_spec: None,
    })
}

/// `docker volume create`: print the volume's name.
pub async fn create(c: &Client, a: CreateArgs) -> anyhow::Result<()> {
    for l in &a.label {
        validate_label(l).map_err(|e| StatusError::with(125, format!("berth: invalid argument \"{l}\" for \"--label\" flag: {e}")))?;
    }
    let req = create_request(&a).map_err(|e| StatusError::with(1, e))?;
    let v = c.docker().create_volume(req).await.api()?;
    out(&format!("{}\n", v.name))
}

/// `volume ls` flags.
#[derive(Args, Debug, Default)]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template:
    /// 'table':            Print output in table format with column headers (default)
    /// 'table TEMPLATE':   Print output in table format using the given Go template
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    /// Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates
    #[arg(long = "format", value_name = "string", default_value = "", verbatim_doc_comment)]
    pub format: String,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `docker volume ls` default table.
pub const DEFAULT_TABLE: &str = "table {{.Driver}}\t{{.Name}}";

/// docker's volume `NewFormat`.
pub fn list_format(user: &str, quiet: bool) -> &str {
    match user {
        "" | "table" if quiet => "{{.Name}}",
        "" | "table" => DEFAULT_TABLE,
        "raw" if quiet => "name: {{.Name}}",
        "raw" => "name: {{.Name}}\\ndriver: {{.Driver}}\\n",
        other => other,
    }
}

/// Column titles of docker's volume formatter.
pub fn headers() -> Json {
    header_context(&[
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
        ("Group", "GROUP"),
        ("Availability", "AVAILABILITY"),
        ("Status", "STATUS"),
    ])
}

/// The formatter context of one volume (docker's `volumeContext`).
pub fn context(v: &Volume) -> Json {
    let mut labels: Vec<String> = v.labels.iter().map(|(k, x)| format!("{k}={x}")).collect();
    labels.sort();
    let (links, size) = match &v.usage_data {
        Some(u) if u.ref_count >= 0 => (u.ref_count.to_string(), if u.size < 0 { "N/A".to_string() } else { humanize::human_size(u.size as f64) }),
        _ => ("N/A".to_string(), "N/A".to_string()),
    };
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": v.scope.map(|s| s.to_string()).unwrap_or_default(),
        "Mountpoint": v.mountpoint,
        "Labels": labels.join(","),
        "Links": links,
        "Size": size,
        "Group": "",
        "Availability": "N/A",
        "Status": "",
        LABELS_KEY: labels_json(&v.labels),
    })
}

/// `docker volume ls`: sorted by name.
pub async fn ls(c: &Client, a: LsArgs) -> anyhow::Result<()> {
    let opts = ListVolumesOptions { filters: filters(&a.filter)? };
    let resp = c.docker().list_volumes(Some(opts)).await.api()?;
    let mut list = resp.volumes.unwrap_or_default();
    list.sort_by(|x, y| x.name.cmp(&y.name));
    let lf = ListFormat::parse(list_format(&a.format, a.quiet), "")?;
    let items: Vec<Json> = list.iter().map(context).collect();
    let mut buf = Vec::new();
    lf.write(&mut buf, &headers(), &items)?;
    out(&String::from_utf8_lossy(&buf))?;
    for w in resp.warnings.unwrap_or_default() {
        eprintln!("{w}");
    }
    Ok(())
}

/// `volume inspect` flags.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template:
    /// 'json':             Print in JSON format
    /// 'TEMPLATE':         Print output using the given Go template.
    /// Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates
    #[arg(short = 'f', long = "format", value_name = "string", default_value = "", verbatim_doc_comment)]
    pub format: String,
    /// VOLUME [VOLUME...]
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

/// Percent-encode one path segment.
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

async fn inspect_raw(c: &Client, name: &str) -> anyhow::Result<Vec<u8>> {
    if name.is_empty() {
        anyhow::bail!("Error: No such volume: ");
    }
    let mut rx = c.get_stream(&format!("/volumes/{}", path_segment(name)), &[]).await.api()?;
    let mut raw = Vec::new();
    while let Some(chunk) = rx.recv().await {
        raw.extend_from_slice(&chunk.api()?);
    }
    Ok(raw)
}

/// `docker volume inspect`: the daemon's JSON re-indented, or one rendering per volume.
pub async fn inspect(c: &Client, a: InspectArgs) -> anyhow::Result<()> {
    let template = match a.format.as_str() {
        "" | "json" => None,
        f => Some(Template::parse(f).map_err(|e| StatusError::with(64, e.to_string()))?),
    };
    let mut raws = Vec::new();
    let mut errors = Vec::new();
    for name in &a.names {
        match inspect_raw(c, name).await {
            Ok(r) => raws.push(r),
            Err(e) => errors.push(e.to_string()),
        }
    }
    match &template {
        None => out(&String::from_utf8_lossy(&gojson::inspect_array(&raws, a.format == "json")))?,
        Some(t) => {
            let mut s = String::new();
            for raw in &raws {
                let v: Json = serde_json::from_slice(raw)?;
                match t.render(&v) {
                    Ok(r) => {
                        s.push_str(&r);
                        s.push('\n');
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            out(&s)?;
        }
    }
    collect(errors)
}

/// `volume rm` flags.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// VOLUME [VOLUME...]
    #[arg(required = true, value_name = "VOLUME")]
    pub names: Vec<String>,
}

/// `docker volume rm`: each removed name on stdout, failures on stderr, exit 1 if any.
pub async fn rm(c: &Client, a: RmArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &a.names {
        let opts = RemoveVolumeOptions { force: a.force };
        match c.docker().remove_volume(&path_segment(name), Some(opts)).await.api() {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) => errors.push(e.to_string()),
        }
    }
    collect(errors)
}

/// `volume prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// The warning `volume prune` asks about.
pub fn prune_warning(all: bool) -> &'static str {
    if all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    }
}

/// `docker volume prune`.
pub async fn prune(c: &Client, a: PruneArgs) -> anyhow::Result<()> {
    let mut f = filters(&a.filter)?.unwrap_or_default();
    if a.all {
        if f.contains_key("all") {
            return Err(StatusError::with(125, "berth: conflicting options: cannot specify both --all and --filter all=1"));
        }
        f.insert("all".into(), vec!["true".into()]);
    }
    if !a.force && !confirm(prune_warning(a.all))? {
        return Ok(());
    }
    let opts = PruneVolumesOptions { filters: (!f.is_empty()).then_some(f) };
    let r = c.docker().prune_volumes(Some(opts)).await.api()?;
    let mut s = String::new();
    let deleted = r.volumes_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str("Deleted Volumes:\n");
        for n in deleted {
            s.push_str(&n);
            s.push('\n');
        }
        s.push('\n');
    }
    s.push_str(&format!("Total reclaimed space: {}\n", humanize::human_size(r.space_reclaimed.unwrap_or(0) as f64)));
    out(&s)
}

/// `volume rename` arguments.
#[derive(Args, Debug)]
pub struct RenameArgs {
    /// VOLUME
    #[arg(value_name = "VOLUME")]
    pub name: String,
    /// NEW_NAME
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

/// `berth volume rename OLD NEW` (`POST /volumes/{name}/rename?name=NEW`).
pub async fn rename(c: &Client, a: RenameArgs) -> anyhow::Result<()> {
    let req = Request::new("POST", format!("/volumes/{}/rename", path_segment(&a.name))).query("name", a.new_name.clone());
    c.send(req).await.api()?;
    Ok(())
}

/// Run one `berth volume` command.
pub async fn dispatch(c: &Client, cmd: VolumeCommand) -> anyhow::Result<()> {
    match cmd {
        VolumeCommand::Create(a) => create(c, a).await,
        VolumeCommand::Ls(a) => ls(c, a).await,
        VolumeCommand::Inspect(a) => inspect(c, a).await,
        VolumeCommand::Rm(a) => rm(c, a).await,
        VolumeCommand::Prune(a) => prune(c, a).await,
        VolumeCommand::Rename(a) => rename(c, a).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::models::VolumeUsageData;
    use clap::Parser;

    #[derive(Parser)]
    struct C {
        #[command(flatten)]
        a: CreateArgs,
    }

    #[test]
    fn create_body_matches_docker() {
        let cases: &[(&[&str], Result<Json, &str>)] = &[
            (&["create"], Ok(json!({"Name": "", "Driver": "local", "DriverOpts": {}, "Labels": {}}))),
            (
                &["create", "-d", "plug", "--label", "a=1", "--label", "b", "-o", "type=tmpfs", "--opt", "o=size=1m", "data"],
                Ok(json!({"Name": "data", "Driver": "plug", "DriverOpts": {"type": "tmpfs", "o": "size=1m"}, "Labels": {"a": "1", "b": ""}})),
            ),
            (&["create", "--name", "x"], Ok(json!({"Name": "x", "Driver": "local", "DriverOpts": {}, "Labels": {}}))),
            (&["create", "--name", "x", "x"], Ok(json!({"Name": "x", "Driver": "local", "DriverOpts": {}, "Labels": {}}))),
            (&["create", "--name", "x", "y"], Err("conflicting options: either specify --name or provide positional arg, not both")),
        ];
        for (args, want) in cases {
            let a = C::try_parse_from(*args).unwrap().a;
            let got = create_request(&a).map(|r| serde_json::to_value(r).unwrap());
            assert_eq!(got.as_ref().map_err(String::as_str), want.as_ref().map_err(|e| *e), "{args:?}");
        }
    }

    #[test]
    fn list_rows_match_docker() {
        let mut v = Volume { name: "data".into(), driver: "local".into(), mountpoint: "/m".into(), ..Default::default() };
        v.labels.insert("b".into(), "2".into());
        v.labels.insert("a".into(), "1".into());
        v.scope = Some(berth_api::models::VolumeScopeEnum::LOCAL);
        let render = |fmt: &str, quiet: bool, vols: &[Volume]| {
            let lf = ListFormat::parse(list_format(fmt, quiet), "").unwrap();
            let items: Vec<Json> = vols.iter().map(context).collect();
            let mut buf = Vec::new();
            lf.write(&mut buf, &headers(), &items).unwrap();
            String::from_utf8(buf).unwrap()
        };
        assert_eq!(render("", false, std::slice::from_ref(&v)), "DRIVER    VOLUME NAME\nlocal     data\n");
        assert_eq!(render("", true, std::slice::from_ref(&v)), "data\n");
        assert_eq!(render("{{.Name}} {{.Scope}} {{.Labels}} {{.Label \"a\"}} {{.Links}} {{.Size}}", false, std::slice::from_ref(&v)), "data local a=1,b=2 1 N/A N/A\n");
        v.usage_data = Some(VolumeUsageData { size: 2048, ref_count: 2 });
        assert_eq!(render("{{.Links}} {{.Size}}", false, &[v]), "2 2.048kB\n");
        assert!(prune_warning(false).contains("anonymous"));
        assert!(prune_warning(true).contains("all local volumes"));
    }
}
