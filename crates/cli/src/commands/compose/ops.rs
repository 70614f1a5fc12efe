//! The compose commands other than `up`, `down` and `logs`.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_api::models::ContainerSummary;
use berth_client::Client;
use berth_compose::plan::{self, UpOptions};
use berth_compose::Project;
use bollard::query_parameters::{
    EventsOptions, ListContainersOptions, RemoveContainerOptions, RestartContainerOptions, StopContainerOptions, TopOptions,
};
use clap::{ArgAction, Args, Parser};
use futures_util::StreamExt;
use serde_json::{json, Value as Json};

use super::apply::Applier;
use super::{check_services, containers, label, name, say, select, LABEL_FILES, LABEL_PROJECT, LABEL_SERVICE};
use crate::commands::{build, container, distribution, out, run as drun};
use crate::error::{status_of, ApiResult, StatusError};
use crate::format::{self, containers as fc, ListFormat};
use crate::stream::pump::{pump, PumpOptions};
use crate::stream::{escape, term};

/// Commands taking only service names.
#[derive(Args, Debug)]
pub struct ServicesArgs {
    /// Services
    pub services: Vec<String>,
}

/// `stop` / `restart` flags.
#[derive(Args, Debug)]
pub struct StopArgs {
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout", allow_negative_numbers = true)]
    pub timeout: Option<i32>,
    /// Services
    pub services: Vec<String>,
}

/// `rm` flags.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Don't ask to confirm removal
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Stop the containers, if required, before removing
    #[arg(short = 's', long = "stop")]
    pub stop: bool,
    /// Remove any anonymous volumes attached to containers
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Services
    pub services: Vec<String>,
}

/// `ps` flags.
#[derive(Args, Debug)]
pub struct PsArgs {
    /// Show all stopped containers (including those created by the run command)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display services
    #[arg(long = "services")]
    pub services_only: bool,
    /// Format the output: table, json or a Go template
    #[arg(long = "format", default_value = "")]
    pub format: String,
    /// Services
    pub services: Vec<String>,
}

/// `exec` flags.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: Run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Disable pseudo-TTY allocation. By default `compose exec` allocates a TTY
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Run the command as this user
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Path to workdir directory for this command
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Give extended privileges to the process
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long = "index", default_value_t = 1)]
    pub index: u32,
    /// The service
    pub service: String,
    /// COMMAND [ARGS...]
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `run` flags.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Automatically remove the container when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Disable pseudo-TTY allocation (default: auto-detected)
    #[arg(short = 'T', long = "no-TTY")]
    pub no_tty: bool,
    /// Assign a name to the container
    #[arg(long = "name")]
    pub name: Option<String>,
    /// Run as specified username or uid
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Override the entrypoint of the image
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,
    /// Run command with the service's ports enabled and mapped to the host
    #[arg(long = "service-ports")]
    pub service_ports: bool,
    /// The service
    pub service: String,
    /// COMMAND [ARGS...]
    #[arg(num_args = 0.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `config` flags.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    /// Print the service names, one per line
    #[arg(long = "services")]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long = "volumes")]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long = "networks")]
    pub networks: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles")]
    pub profiles: bool,
    /// Print the image names, one per line
    #[arg(long = "images")]
    pub images: bool,
    /// Only validate the configuration, don't print anything
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `ls` flags.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Show all stopped Compose projects
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only display project names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Format the output: table or json
    #[arg(long = "format", default_value = "table")]
    pub format: String,
}

/// `events` flags.
#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long = "json", action = ArgAction::SetTrue)]
    pub json: bool,
    /// Services
    pub services: Vec<String>,
}

// ---- config -----------------------------------------------------------------------------

/// `compose config`.
pub fn config(project: &Project, a: &ConfigArgs) -> anyhow::Result<()> {
    if a.quiet {
        return Ok(());
    }
    let lines = |items: Vec<String>| out(&items.iter().map(|s| format!("{s}\n")).collect::<String>());
    if a.services {
        return lines(project.services.keys().cloned().collect());
    }
    if a.volumes {
        return lines(project.volumes.keys().cloned().collect());
    }
    if a.networks {
        return lines(project.networks.keys().cloned().collect());
    }
    if a.profiles {
        let mut p: Vec<String> = project.services.values().chain(project.disabled_services.values()).flat_map(|s| s.profiles.clone()).collect();
        p.sort();
        p.dedup();
        return lines(p);
    }
    if a.images {
        return lines(project.services.values().map(|s| s.image_name(&project.name)).collect());
    }
    out(&project.to_yaml())
}

// ---- ps, ls, top, events ------------------------------------------------------------------

/// docker compose's `ps` table.
const PS_TABLE: &str = "table {{.Name}}\t{{.Image}}\t{{.Command}}\t{{.Service}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}";

/// The `ps` formatter context of one container: `docker ps`'s fields plus Name, Service,
/// Project.
pub fn ps_context(s: &ContainerSummary, now: i64) -> Json {
    let mut v = fc::context(s, true, now);
    if let Some(m) = v.as_object_mut() {
        m.insert("ID".into(), json!(s.id.clone().unwrap_or_default()));
        m.insert("Name".into(), json!(name(s)));
        m.insert("Service".into(), json!(label(s, LABEL_SERVICE)));
        m.insert("Project".into(), json!(label(s, LABEL_PROJECT)));
    }
    v
}

/// `compose ps`.
pub async fn ps(c: &Client, project: &Project, a: PsArgs) -> anyhow::Result<()> {
    check_services(project, &a.services)?;
    let list = containers(c, &project.name).await?;
    let picked: Vec<&ContainerSummary> = select(&list, &a.services, a.all).into_iter().filter(|s| a.all || super::is_running(s)).collect();
    if a.services_only {
        let mut names: Vec<String> = picked.iter().map(|s| label(s, LABEL_SERVICE).to_string()).collect();
        names.dedup();
        return out(&names.iter().map(|s| format!("{s}\n")).collect::<String>());
    }
    if a.quiet {
        return out(&picked.iter().map(|s| format!("{}\n", s.id.clone().unwrap_or_default())).collect::<String>());
    }
    let now = format::now_unix();
    let items: Vec<Json> = picked.iter().map(|s| ps_context(s, now)).collect();
    let headers = {
        let mut h = fc::headers();
        if let Some(m) = h.as_object_mut() {
            m.insert("Name".into(), json!("NAME"));
            m.insert("Service".into(), json!("SERVICE"));
            m.insert("Project".into(), json!("PROJECT"));
        }
        h
    };
    let lf = ListFormat::parse(&a.format, PS_TABLE)?;
    let mut buf = Vec::new();
    lf.write(&mut buf, &headers, &items)?;
    out(&String::from_utf8_lossy(&buf))
}

/// One project in `ls`: its status summary (`running(2), exited(1)`) and config files.
pub fn ls_rows(list: &[ContainerSummary], all: bool) -> Vec<(String, String, String)> {
    let mut projects: BTreeMap<String, (BTreeMap<String, u32>, String)> = BTreeMap::new();
    for s in list {
        let p = label(s, LABEL_PROJECT);
        if p.is_empty() {
            continue;
        }
        let e = projects.entry(p.to_string()).or_default();
        *e.0.entry(s.state.map(|st| st.to_string()).unwrap_or_default()).or_default() += 1;
        if e.1.is_empty() {
            e.1 = label(s, LABEL_FILES).to_string();
        }
    }
    projects
        .into_iter()
        .filter(|(_, (states, _))| all || states.contains_key("running"))
        .map(|(p, (states, files))| {
            let status: Vec<String> = states.iter().map(|(k, n)| format!("{k}({n})")).collect();
            (p, status.join(", "), files)
        })
        .collect()
}

/// `compose ls`.
pub async fn ls(c: &Client, a: &LsArgs) -> anyhow::Result<()> {
    let filters = std::collections::HashMap::from([("label".to_string(), vec![LABEL_PROJECT.to_string()])]);
    let list = c.docker().list_containers(Some(ListContainersOptions { all: true, filters: Some(filters), ..Default::default() })).await.api()?;
    let rows = ls_rows(&list, a.all);
    if a.quiet {
        return out(&rows.iter().map(|r| format!("{}\n", r.0)).collect::<String>());
    }
    if a.format == "json" {
        let v: Vec<Json> = rows.iter().map(|(n, s, f)| json!({"Name": n, "Status": s, "ConfigFiles": f})).collect();
        return out(&format!("{}\n", serde_json::to_string(&v)?));
    }
    let mut tw = format::new_tabwriter(Vec::new());
    use std::io::Write;
    writeln!(tw, "NAME\tSTATUS\tCONFIG FILES")?;
    for (n, s, f) in &rows {
        writeln!(tw, "{n}\t{s}\t{f}")?;
    }
    tw.flush()?;
    let buf = tw.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?;
    out(&String::from_utf8_lossy(&buf))
}

/// `compose top`.
pub async fn top(c: &Client, project: &Project, services: &[String]) -> anyhow::Result<()> {
    check_services(project, services)?;
    let list = containers(c, &project.name).await?;
    let mut text = String::new();
    for s in select(&list, services, false).into_iter().filter(|s| super::is_running(s)) {
        let id = s.id.clone().unwrap_or_default();
        let t = c.docker().top_processes(&id, None::<TopOptions>).await.api()?;
        let mut tw = format::new_tabwriter(Vec::new());
        use std::io::Write;
        writeln!(tw, "{}", t.titles.clone().unwrap_or_default().join("\t"))?;
        for p in t.processes.unwrap_or_default() {
            writeln!(tw, "{}", p.join("\t"))?;
        }
        tw.flush()?;
        let buf = tw.into_inner().map_err(|e| anyhow::anyhow!("{}", e.error()))?;
        text.push_str(&format!("{}\n{}\n", name(s), String::from_utf8_lossy(&buf)));
    }
    out(&text)
}

/// One `compose events` line (text or `--json`) from an engine event.
pub fn event_text(e: &berth_api::models::EventMessage, as_json: bool) -> String {
    let actor = e.actor.clone().unwrap_or_default();
    let mut attrs = actor.attributes.unwrap_or_default();
    let service = attrs.get(LABEL_SERVICE).cloned().unwrap_or_default();
    attrs.retain(|k, _| !k.starts_with("com.docker.compose."));
    let id = actor.id.unwrap_or_default();
    let action = e.action.clone().unwrap_or_default();
    let nanos = e.time_nano.filter(|n| *n != 0).or(e.time.map(|t| t * 1_000_000_000)).unwrap_or(0);
    let time = chrono::DateTime::from_timestamp(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32).unwrap_or_default();
    if as_json {
        let attrs: BTreeMap<String, String> = attrs.into_iter().collect();
        return format!(
            "{}\n",
            json!({"time": time.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), "type": "container", "action": action, "id": id, "service": service, "attributes": attrs})
        );
    }
    let mut keys: Vec<(&String, &String)> = attrs.iter().collect();
    keys.sort();
    let attrs: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{} container {action} {id} ({})\n", time.format("%Y-%m-%d %H:%M:%S%.6f"), attrs.join(", "))
}

/// `compose events`.
pub async fn events(c: &Client, project: &Project, a: EventsArgs) -> anyhow::Result<()> {
    check_services(project, &a.services)?;
    let mut filters = super::project_filter(&project.name);
    filters.insert("type".into(), vec!["container".into()]);
    let mut s = c.docker().events(Some(EventsOptions { since: None, until: None, filters: Some(filters) }));
    while let Some(ev) = s.next().await {
        let ev = ev.api()?;
        let service = ev.actor.as_ref().and_then(|a| a.attributes.as_ref()).and_then(|a| a.get(LABEL_SERVICE)).cloned().unwrap_or_default();
        if !a.services.is_empty() && !a.services.contains(&service) {
            continue;
        }
        out(&event_text(&ev, a.json))?;
    }
    Ok(())
}

// ---- stop, start, restart, rm -------------------------------------------------------------

/// `compose stop`.
pub async fn stop(c: &Client, project: &Project, a: StopArgs) -> anyhow::Result<()> {
    check_services(project, &a.services)?;
    let list = containers(c, &project.name).await?;
    for s in select(&list, &a.services, false).into_iter().rev().filter(|s| super::is_running(s)) {
        let n = name(s);
        say("Container", &n, "Stopping");
        c.docker().stop_container(s.id.as_deref().unwrap_or(""), Some(StopContainerOptions { t: a.timeout, signal: None })).await.api()?;
        say("Container", &n, "Stopped");
    }
    Ok(())
}

/// `compose restart`.
pub async fn restart(c: &Client, project: &Project, a: StopArgs) -> anyhow::Result<()> {
    check_services(project, &a.services)?;
    let list = containers(c, &project.name).await?;
    for s in select(&list, &a.services, false) {
        let n = name(s);
        say("Container", &n, "Restarting");
        c.docker().restart_container(s.id.as_deref().unwrap_or(""), Some(RestartContainerOptions { t: a.timeout, signal: None })).await.api()?;
        say("Container", &n, "Started");
    }
    Ok(())
}

/// `compose start`: the services' stopped containers, in dependency order.
pub async fn start(c: &Client, project: &Project, services: &[String]) -> anyhow::Result<()> {
    check_services(project, services)?;
    let list = containers(c, &project.name).await?;
    let order = project.start_order().map_err(|e| StatusError::with(1, e.to_string()))?;
    for svc in order {
        if !services.is_empty() && !services.contains(&svc) {
            continue;
        }
        for s in select(&list, std::slice::from_ref(&svc), false).into_iter().filter(|s| !super::is_running(s)) {
            let n = name(s);
            say("Container", &n, "Starting");
            c.docker().start_container(s.id.as_deref().unwrap_or(""), None).await.api()?;
            say("Container", &n, "Started");
        }
    }
    Ok(())
}

/// `compose rm`.
pub async fn rm(c: &Client, project: &Project, a: RmArgs) -> anyhow::Result<()> {
    check_services(project, &a.services)?;
    let list = containers(c, &project.name).await?;
    let picked: Vec<&ContainerSummary> = select(&list, &a.services, true).into_iter().filter(|s| a.stop || !super::is_running(s)).collect();
    if picked.is_empty() {
        eprintln!("No stopped containers");
        return Ok(());
    }
    if a.stop {
        for s in picked.iter().filter(|s| super::is_running(s)) {
            let n = name(s);
            say("Container", &n, "Stopping");
            c.docker().stop_container(s.id.as_deref().unwrap_or(""), None::<StopContainerOptions>).await.api()?;
            say("Container", &n, "Stopped");
        }
    }
    if !a.force {
        let names: Vec<String> = picked.iter().map(|s| name(s)).collect();
        if !container::confirm(&format!("Going to remove {}", names.join(", ")))? {
            return Ok(());
        }
    }
    for s in picked {
        let n = name(s);
        say("Container", &n, "Removing");
        let opts = RemoveContainerOptions { v: a.volumes, force: true, ..Default::default() };
        c.docker().remove_container(s.id.as_deref().unwrap_or(""), Some(opts)).await.api()?;
        say("Container", &n, "Removed");
    }
    Ok(())
}

// ---- build, pull, push --------------------------------------------------------------------

#[derive(Parser)]
struct BuildFlags {
    #[command(flatten)]
    a: build::BuildArgs,
}

/// The `berth build` command line of a service's `build` section.
pub fn build_argv(project: &Project, service: &str) -> Option<Vec<String>> {
    let svc = project.services.get(service)?;
    let b = svc.build.as_ref()?;
    let mut v = vec!["build".to_string(), "-t".to_string(), svc.image_name(&project.name)];
    if let Some(f) = &b.dockerfile {
        let p = std::path::Path::new(f);
        let p = if p.is_absolute() { p.to_path_buf() } else { b.context.join(p) };
        v.extend(["-f".to_string(), p.display().to_string()]);
    }
    for (k, val) in &b.args {
        v.push("--build-arg".into());
        v.push(match val {
            Some(val) => format!("{k}={val}"),
            None => k.clone(),
        });
    }
    if let Some(t) = &b.target {
        v.extend(["--target".to_string(), t.clone()]);
    }
    for (k, val) in &b.labels {
        v.extend(["--label".to_string(), format!("{k}={val}")]);
    }
    if let Some(n) = &b.network {
        v.extend(["--network".to_string(), n.clone()]);
    }
    if b.no_cache {
        v.push("--no-cache".into());
    }
    if b.pull {
        v.push("--pull".into());
    }
    v.push(b.context.display().to_string());
    Some(v)
}

/// Build one service's image with `berth build`'s code (context tar, `.dockerignore`).
pub async fn build_service(c: &Client, project: &Project, service: &str) -> anyhow::Result<()> {
    let Some(argv) = build_argv(project, service) else { return Ok(()) };
    let flags = BuildFlags::try_parse_from(&argv).map_err(|e| StatusError::with(1, format!("service {service}: build: {}", e.render().to_string().trim())))?;
    let image = project.services.get(service).map(|s| s.image_name(&project.name)).unwrap_or_default();
    say("Image", &image, "Building");
    build::build(c, flags.a).await?;
    say("Image", &image, "Built");
    Ok(())
}

/// `compose build`.
pub async fn build(c: &Client, project: &Project, services: &[String]) -> anyhow::Result<()> {
    check_services(project, services)?;
    for (name, svc) in &project.services {
        if svc.build.is_some() && (services.is_empty() || services.contains(name)) {
            build_service(c, project, name).await?;
        }
    }
    Ok(())
}

/// Pull `image` (progress on stderr).
pub async fn pull_image(c: &Client, image: &str) -> anyhow::Result<()> {
    say("Image", image, "Pulling");
    distribution::pull_for_create(c, image, "", true).await?;
    say("Image", image, "Pulled");
    Ok(())
}

/// Pull a service's image unless it exists (or the service is built).
pub async fn pull_if_missing(c: &Client, project: &Project, service: &str) -> anyhow::Result<()> {
    let Some(svc) = project.services.get(service) else { return Ok(()) };
    let image = svc.image_name(&project.name);
    match c.docker().inspect_image(&image).await.api() {
        Ok(_) => Ok(()),
        Err(e) if status_of(&e) == Some(404) => {
            if svc.build.is_some() {
                build_service(c, project, service).await
            } else {
                pull_image(c, &image).await
            }
        }
        Err(e) => Err(e),
    }
}

/// `compose pull`: services with an `image`.
pub async fn pull(c: &Client, project: &Project, services: &[String]) -> anyhow::Result<()> {
    check_services(project, services)?;
    for (name, svc) in &project.services {
        if let (Some(image), true) = (&svc.image, services.is_empty() || services.contains(name)) {
            if svc.build.is_some() && svc.pull_policy.as_deref() == Some("build") {
                continue;
            }
            pull_image(c, image).await?;
        }
    }
    Ok(())
}

#[derive(Parser)]
struct PushFlags {
    #[command(flatten)]
    a: distribution::PushArgs,
}

/// `compose push`: services with both `build` and `image`.
pub async fn push(c: &Client, project: &Project, services: &[String]) -> anyhow::Result<()> {
    check_services(project, services)?;
    for (name, svc) in &project.services {
        if let (Some(image), true, true) = (&svc.image, svc.build.is_some(), services.is_empty() || services.contains(name)) {
            let flags = PushFlags::try_parse_from(["push", "-q", image.as_str()]).map_err(|e| StatusError::with(1, e.to_string()))?;
            say("Image", image, "Pushing");
            distribution::push(c, flags.a).await?;
            say("Image", image, "Pushed");
        }
    }
    Ok(())
}

// ---- exec, run ----------------------------------------------------------------------------

/// The running container of `service` with replica `index`.
async fn find_container(c: &Client, project: &Project, service: &str, index: u32) -> anyhow::Result<String> {
    check_services(project, &[service.to_string()])?;
    let list = containers(c, &project.name).await?;
    select(&list, &[service.to_string()], false)
        .into_iter()
        .find(|s| super::number(s) == index && super::is_running(s))
        .and_then(|s| s.id.clone())
        .ok_or_else(|| StatusError::with(1, format!("service \"{service}\" is not running")))
}

/// `compose exec`.
pub async fn exec(c: &Client, project: &Project, a: ExecArgs) -> anyhow::Result<()> {
    let id = find_container(c, project, &a.service, a.index).await?;
    let tty = !a.no_tty && term::stdin_is_tty() && term::stdout_is_tty();
    let args = drun::ExecArgs {
        detach: a.detach,
        interactive: !a.detach,
        tty,
        env: a.env,
        env_file: Vec::new(),
        workdir: a.workdir,
        user: a.user,
        privileged: a.privileged,
        detach_keys: None,
        container: id,
        command: a.command,
    };
    drun::exec(c, args).await
}

/// `compose run`: a one-off container (`oneoff=True`), dependencies started first.
pub async fn run(c: &Client, project: &Project, a: RunArgs) -> anyhow::Result<()> {
    check_services(project, std::slice::from_ref(&a.service))?;
    let svc = &project.services[&a.service];
    // Dependencies first, through the planner.
    if !a.no_deps && !svc.depends_on.is_empty() {
        let observed = super::observe(c, project).await?;
        let opts = UpOptions { services: svc.depends_on.keys().cloned().collect(), ..Default::default() };
        let actions = plan::up(project, &observed, &opts).map_err(|e| StatusError::with(1, e.to_string()))?;
        Applier::new(c, project, &observed).run(&actions).await?;
    } else {
        // The networks and volumes the container needs.
        let observed = super::observe(c, project).await?;
        let opts = UpOptions { services: vec![a.service.clone()], no_deps: true, ..Default::default() };
        let actions = plan::up(project, &observed, &opts).map_err(|e| StatusError::with(1, e.to_string()))?;
        let infra: Vec<_> = actions.into_iter().filter(|x| matches!(x, plan::Action::CreateNetwork(_) | plan::Action::CreateVolume(_))).collect();
        Applier::new(c, project, &observed).run(&infra).await?;
    }
    pull_if_missing(c, project, &a.service).await?;
    let (name, mut body) =
        project.container_create_oneoff(&a.service, &build::random_hex(12), a.service_ports).map_err(|e| StatusError::with(1, e.to_string()))?;
    let name = a.name.clone().unwrap_or(name);
    if !a.command.is_empty() {
        body.cmd = Some(a.command.clone());
    }
    if let Some(ep) = &a.entrypoint {
        body.entrypoint = Some(ep.split_whitespace().map(str::to_string).collect());
        if a.command.is_empty() {
            body.cmd = None;
        }
    }
    if a.user.is_some() {
        body.user = a.user.clone();
    }
    if a.workdir.is_some() {
        body.working_dir = a.workdir.clone();
    }
    let mut env = body.env.take().unwrap_or_default();
    for e in &a.env {
        let v = crate::opts::validate_env(e, &|k| std::env::var(k).ok()).map_err(|e| StatusError::with(1, e.to_string()))?;
        let key = v.split('=').next().unwrap_or("").to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(v);
    }
    body.env = (!env.is_empty()).then_some(env);
    let tty = !a.no_tty && !a.detach && term::stdin_is_tty() && term::stdout_is_tty();
    let attach = !a.detach;
    body.tty = Some(tty);
    body.open_stdin = Some(attach);
    body.stdin_once = Some(attach);
    body.attach_stdin = Some(attach);
    body.attach_stdout = Some(attach);
    body.attach_stderr = Some(attach);
    if let Some(hc) = body.host_config.as_mut() {
        hc.auto_remove = Some(a.rm);
        hc.restart_policy = None;
    }
    let id = super::apply::create_with(c, project, &a.service, &name, body).await?;
    if a.detach {
        c.docker().start_container(&id, None).await.api()?;
        return out(&format!("{name}\n"));
    }
    let (spec, keys) = (escape::DEFAULT_DETACH_KEYS.to_string(), escape::parse_keys(escape::DEFAULT_DETACH_KEYS).unwrap_or_default());
    let q = vec![
        ("stream", "1".to_string()),
        ("stdin", "1".to_string()),
        ("stdout", "1".to_string()),
        ("stderr", "1".to_string()),
        ("detachKeys", spec),
    ];
    let h = c.hijack(&format!("/containers/{id}/attach"), &q, None).await.api()?;
    let mut waiter = c.wait(&id, if a.rm { "removed" } else { "next-exit" });
    waiter.registered(Duration::from_millis(500)).await;
    c.docker().start_container(&id, None).await.api()?;
    let end = {
        let _raw = if tty { term::RawGuard::stdin() } else { None };
        pump(h, PumpOptions { tty, stdin: true, detach_keys: keys }).await?
    };
    if end == crate::stream::pump::PumpEnd::Detached {
        return Ok(());
    }
    let exit = waiter.exit().await.api()?;
    if exit.status_code != 0 {
        return Err(StatusError::code(exit.status_code as i32));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_compose::{Build, Service};

    fn summary(project: &str, state: &str, files: &str) -> ContainerSummary {
        let labels = std::collections::HashMap::from([(LABEL_PROJECT.to_string(), project.to_string()), (LABEL_FILES.to_string(), files.to_string())]);
        ContainerSummary { labels: Some(labels), state: state.parse().ok(), ..Default::default() }
    }

    #[test]
    fn ls_groups_projects() {
        let list = vec![
            summary("a", "running", "/a/compose.yaml"),
            summary("a", "running", "/a/compose.yaml"),
            summary("a", "exited", "/a/compose.yaml"),
            summary("b", "exited", "/b/compose.yaml"),
        ];
        let cases = [
            (false, vec![("a", "exited(1), running(2)", "/a/compose.yaml")]),
            (true, vec![("a", "exited(1), running(2)", "/a/compose.yaml"), ("b", "exited(1)", "/b/compose.yaml")]),
        ];
        for (all, want) in cases {
            let got = ls_rows(&list, all);
            let want: Vec<(String, String, String)> = want.into_iter().map(|(a, b, c)| (a.into(), b.into(), c.into())).collect();
            assert_eq!(got, want, "all={all}");
        }
    }

    #[test]
    fn event_lines() {
        use berth_api::models::{EventActor, EventMessage};
        let attrs = std::collections::HashMap::from([
            ("name".to_string(), "p-web-1".to_string()),
            ("image".to_string(), "busybox".to_string()),
            (LABEL_SERVICE.to_string(), "web".to_string()),
            (LABEL_PROJECT.to_string(), "p".to_string()),
        ]);
        let e = EventMessage {
            action: Some("start".into()),
            actor: Some(EventActor { id: Some("abc".into()), attributes: Some(attrs) }),
            time_nano: Some(1_700_000_000_123_456_789),
            ..Default::default()
        };
        let cases = [
            (false, "2023-11-14 22:13:20.123456 container start abc (image=busybox, name=p-web-1)\n"),
            (
                true,
                "{\"action\":\"start\",\"attributes\":{\"image\":\"busybox\",\"name\":\"p-web-1\"},\"id\":\"abc\",\"service\":\"web\",\"time\":\"2023-11-14T22:13:20.123456789Z\",\"type\":\"container\"}\n",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(event_text(&e, json), want, "json={json}");
        }
    }

    #[test]
    fn build_command_lines() {
        let mut p = Project { name: "p".into(), ..Default::default() };
        let build = Build {
            context: "/src/web".into(),
            dockerfile: Some("Dockerfile.dev".into()),
            args: BTreeMap::from([("A".into(), Some("1".into())), ("B".into(), None)]),
            target: Some("final".into()),
            ..Default::default()
        };
        p.services.insert("web".into(), Service { name: "web".into(), build: Some(build), ..Default::default() });
        p.services.insert("db".into(), Service { name: "db".into(), image: Some("x".into()), ..Default::default() });
        let want: Vec<String> = ["build", "-t", "p-web", "-f", "/src/web/Dockerfile.dev", "--build-arg", "A=1", "--build-arg", "B", "--target", "final", "/src/web"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(build_argv(&p, "web"), Some(want.clone()));
        assert_eq!(build_argv(&p, "db"), None);
        assert!(BuildFlags::try_parse_from(&want).is_ok());
    }
}
