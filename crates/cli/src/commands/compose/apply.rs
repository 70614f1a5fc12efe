//! `up` and `down`: ask the planner what to do, then do it through the API in order.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use berth_api::models::{EndpointSettings, NetworkConnectRequest, NetworkingConfig};
use berth_client::Client;
use berth_compose::plan::{self, Action, Condition, Observed, UpOptions};
use berth_compose::Project;
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions, StopContainerOptions};
use clap::Args;

use super::{check_services, containers, label, say, select, LABEL_SERVICE};
use crate::error::{status_of, ApiResult, StatusError};

/// `up` flags.
#[derive(Args, Debug)]
pub struct UpArgs {
    /// Detached mode: Run containers in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Build images before starting containers
    #[arg(long = "build")]
    pub build: bool,
    /// Recreate containers even if their configuration and image haven't changed
    #[arg(long = "force-recreate")]
    pub force_recreate: bool,
    /// If containers already exist, don't recreate them
    #[arg(long = "no-recreate")]
    pub no_recreate: bool,
    /// Don't start linked services
    #[arg(long = "no-deps")]
    pub no_deps: bool,
    /// Scale SERVICE to NUM instances (SERVICE=NUM); overrides the `scale` setting in the file
    #[arg(long = "scale")]
    pub scale: Vec<String>,
    /// Wait for services to be running|healthy. Implies detached mode
    #[arg(long = "wait")]
    pub wait: bool,
    /// Maximum duration in seconds to wait for the project to be running|healthy
    #[arg(long = "wait-timeout", default_value_t = 0)]
    pub wait_timeout: u64,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Produce monochrome output
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Services
    pub services: Vec<String>,
}

/// `down` flags.
#[derive(Args, Debug)]
pub struct DownArgs {
    /// Remove named volumes declared in the "volumes" section of the Compose file and anonymous volumes attached to containers
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// Remove images used by services. "local" remove only images that don't have a custom tag ("local"|"all")
    #[arg(long = "rmi", value_parser = ["local", "all"])]
    pub rmi: Option<String>,
    /// Remove containers for services not defined in the Compose file
    #[arg(long = "remove-orphans")]
    pub remove_orphans: bool,
    /// Specify a shutdown timeout in seconds
    #[arg(short = 't', long = "timeout")]
    pub timeout: Option<i32>,
}

/// `--scale svc=N` flags into a map.
pub fn scales(flags: &[String]) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut m = BTreeMap::new();
    for f in flags {
        let bad = || StatusError::with(1, format!("invalid --scale option {f:?}: expected SERVICE=NUM"));
        let (k, v) = f.split_once('=').ok_or_else(bad)?;
        m.insert(k.to_string(), v.trim().parse::<u32>().map_err(|_| bad())?);
    }
    Ok(m)
}

/// `compose up`.
pub async fn up(c: &Client, project: &Project, a: UpArgs) -> anyhow::Result<()> {
    check_services(project, &a.services)?;
    let opts = UpOptions {
        services: a.services.clone(),
        no_deps: a.no_deps,
        force_recreate: a.force_recreate,
        no_recreate: a.no_recreate,
        scale: scales(&a.scale)?,
        remove_orphans: a.remove_orphans,
        build: a.build,
    };
    for s in opts.scale.keys() {
        check_services(project, std::slice::from_ref(s))?;
    }
    let observed = super::observe(c, project).await?;
    warn_orphans(project, &observed, a.remove_orphans);
    let actions = plan::up(project, &observed, &opts).map_err(|e| StatusError::with(1, e.to_string()))?;
    let mut ap = Applier::new(c, project, &observed);
    ap.run(&actions).await?;
    if a.wait {
        let deadline = (a.wait_timeout > 0).then(|| Instant::now() + Duration::from_secs(a.wait_timeout));
        return wait_running(c, project, &a.services, deadline).await;
    }
    if a.detach {
        return Ok(());
    }
    // Attached: follow the logs of the services until they all stop or Ctrl-C, then stop.
    let color = !a.no_color && crate::stream::term::stdout_is_tty();
    let list = containers(c, &project.name).await?;
    let picked: Vec<_> = select(&list, &a.services, false).into_iter().cloned().collect();
    eprintln!("Attaching to {}", picked.iter().map(super::logs::prefix_name).collect::<Vec<_>>().join(", "));
    let follow = super::logs::follow(c, &picked, color, "all", false);
    tokio::select! {
        r = follow => {
            r?;
            Ok(())
        }
        _ = tokio::signal::ctrl_c() => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            let stop = async {
                for s in picked.iter().rev() {
                    let id = s.id.clone().unwrap_or_default();
                    let name = super::name(s);
                    say("Container", &name, "Stopping");
                    c.docker().stop_container(&id, None::<StopContainerOptions>).await.api()?;
                    say("Container", &name, "Stopped");
                }
                anyhow::Ok(())
            };
            tokio::select! {
                r = stop => r,
                _ = tokio::signal::ctrl_c() => Err(StatusError::code(130)),
            }
        }
    }
}

/// docker compose's warning about containers of services no longer in the file.
fn warn_orphans(project: &Project, observed: &Observed, removing: bool) {
    if removing {
        return;
    }
    let orphans: Vec<&str> = observed
        .containers
        .iter()
        .filter(|o| !o.oneoff && !project.services.contains_key(&o.service) && !project.disabled_services.contains_key(&o.service))
        .map(|o| o.name.as_str())
        .collect();
    if !orphans.is_empty() {
        eprintln!(
            "WARN[0000] Found orphan containers ([{}]) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            orphans.join(" ")
        );
    }
}

/// `up --wait`: every container of the services running, and healthy when it has a healthcheck.
async fn wait_running(c: &Client, project: &Project, services: &[String], deadline: Option<Instant>) -> anyhow::Result<()> {
    let list = containers(c, &project.name).await?;
    for s in select(&list, services, false) {
        let name = super::name(s);
        let has_health = project.services.get(label(s, LABEL_SERVICE)).and_then(|svc| svc.healthcheck.as_ref()).is_some_and(|h| h.test.first().map(String::as_str) != Some("NONE"));
        let cond = if has_health { Condition::ServiceHealthy } else { Condition::ServiceStarted };
        wait_container(c, &name, cond, deadline).await?;
        say("Container", &name, if has_health { "Healthy" } else { "Running" });
    }
    Ok(())
}

/// Wait until one container meets `cond`: started (running), healthy, or exited 0.
pub async fn wait_container(c: &Client, name: &str, cond: Condition, deadline: Option<Instant>) -> anyhow::Result<()> {
    loop {
        let info = c.docker().inspect_container(name, None).await.api()?;
        let st = info.state.unwrap_or_default();
        let status = st.status.map(|s| s.to_string()).unwrap_or_default();
        let code = st.exit_code.unwrap_or(0);
        match cond {
            Condition::ServiceStarted => {
                if st.running == Some(true) {
                    return Ok(());
                }
                if status == "exited" || status == "dead" {
                    return Err(StatusError::with(1, format!("container {name} exited ({code})")));
                }
            }
            Condition::ServiceHealthy => {
                let health = st.health.and_then(|h| h.status).map(|s| s.to_string()).unwrap_or_default();
                match health.as_str() {
                    "healthy" => return Ok(()),
                    "unhealthy" => return Err(StatusError::with(1, format!("dependency failed to start: container {name} is unhealthy"))),
                    _ => {}
                }
                if st.running != Some(true) && (status == "exited" || status == "dead") {
                    return Err(StatusError::with(1, format!("dependency failed to start: container {name} exited ({code})")));
                }
                if health.is_empty() && st.running == Some(true) {
                    return Err(StatusError::with(1, format!("container {name} has no healthcheck configured")));
                }
            }
            Condition::ServiceCompletedSuccessfully => {
                if status == "exited" || status == "dead" {
                    if code == 0 {
                        return Ok(());
                    }
                    return Err(StatusError::with(1, format!("service {:?} didn't complete successfully: exit {code}", label_service(&info.config))));
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(StatusError::with(1, format!("timeout waiting for container {name}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn label_service(config: &Option<berth_api::models::ContainerConfig>) -> String {
    config.as_ref().and_then(|c| c.labels.as_ref()).and_then(|l| l.get(LABEL_SERVICE)).cloned().unwrap_or_default()
}

/// Applies plan actions, remembering the containers it makes.
pub struct Applier<'a> {
    c: &'a Client,
    project: &'a Project,
    /// (service, number) -> container id, for the observed containers and those created here.
    ids: HashMap<(String, u32), String>,
    /// Container id -> name, for messages.
    names: HashMap<String, String>,
    networks: Vec<String>,
    volumes: Vec<String>,
}

impl<'a> Applier<'a> {
    /// Start from what exists.
    pub fn new(c: &'a Client, project: &'a Project, observed: &Observed) -> Applier<'a> {
        let mut ids = HashMap::new();
        let mut names = HashMap::new();
        for o in &observed.containers {
            if !o.oneoff {
                ids.insert((o.service.clone(), o.number), o.id.clone());
            }
            names.insert(o.id.clone(), o.name.clone());
        }
        Applier { c, project, ids, names, networks: observed.networks.clone(), volumes: observed.volumes.clone() }
    }

    /// Apply the actions in order; stop at the first failure.
    pub async fn run(&mut self, actions: &[Action]) -> anyhow::Result<()> {
        for a in actions {
            self.apply(a).await?;
        }
        Ok(())
    }

    fn name_of(&self, id: &str) -> String {
        self.names.get(id).cloned().unwrap_or_else(|| id.chars().take(12).collect())
    }

    /// Apply one action.
    pub async fn apply(&mut self, a: &Action) -> anyhow::Result<()> {
        let c = self.c;
        match a {
            Action::CreateNetwork(key) => {
                let req = self.project.network_create(key);
                let external = self.project.networks.get(key).is_some_and(|n| n.external);
                if self.networks.contains(&req.name) {
                    return Ok(());
                }
                if external {
                    return Err(StatusError::with(1, format!("network {} declared as external, but could not be found", req.name)));
                }
                say("Network", &req.name, "Creating");
                c.docker().create_network(req.clone()).await.api()?;
                self.networks.push(req.name.clone());
                say("Network", &req.name, "Created");
            }
            Action::CreateVolume(key) => {
                let req = self.project.volume_create(key);
                let name = req.name.clone().unwrap_or_default();
                if self.volumes.contains(&name) {
                    return Ok(());
                }
                if self.project.volumes.get(key).is_some_and(|v| v.external) {
                    return Err(StatusError::with(1, format!("external volume \"{name}\" not found")));
                }
                say("Volume", &format!("\"{name}\""), "Creating");
                c.docker().create_volume(req).await.api()?;
                self.volumes.push(name.clone());
                say("Volume", &format!("\"{name}\""), "Created");
            }
            Action::Build(service) => super::ops::build_service(c, self.project, service).await?,
            Action::Pull(service) => super::ops::pull_if_missing(c, self.project, service).await?,
            Action::Create { service, number } => {
                let id = self.create(service, *number, "Created").await?;
                self.ids.insert((service.clone(), *number), id);
            }
            Action::Recreate { service, number, old_id } => {
                let old_name = self.name_of(old_id);
                say("Container", &old_name, "Recreate");
                let _ = c.docker().stop_container(old_id, None::<StopContainerOptions>).await;
                match c.docker().remove_container(old_id, Some(RemoveContainerOptions { force: true, ..Default::default() })).await.api() {
                    Ok(()) => {}
                    Err(e) if status_of(&e) == Some(404) => {}
                    Err(e) => return Err(e),
                }
                let id = self.create(service, *number, "Recreated").await?;
                self.ids.insert((service.clone(), *number), id);
            }
            Action::Start { service, number } => {
                let id = match self.ids.get(&(service.clone(), *number)) {
                    Some(id) => id.clone(),
                    None => self.project.container_create(service, *number).map_err(|e| StatusError::with(1, e.to_string()))?.0,
                };
                let name = self.name_of(&id);
                say("Container", &name, "Starting");
                match c.docker().start_container(&id, None).await.api() {
                    Ok(()) => {}
                    // Already running (304 is mapped to success by most clients).
                    Err(e) if status_of(&e) == Some(304) => {}
                    Err(e) => return Err(e),
                }
                say("Container", &name, "Started");
            }
            Action::Stop { id } => {
                let name = self.name_of(id);
                say("Container", &name, "Stopping");
                match c.docker().stop_container(id, None::<StopContainerOptions>).await.api() {
                    Ok(()) => {}
                    Err(e) if matches!(status_of(&e), Some(304) | Some(404)) => {}
                    Err(e) => return Err(e),
                }
                say("Container", &name, "Stopped");
            }
            Action::Remove { id } => {
                let name = self.name_of(id);
                say("Container", &name, "Removing");
                match c.docker().remove_container(id, Some(RemoveContainerOptions { force: true, ..Default::default() })).await.api() {
                    Ok(()) => {}
                    Err(e) if status_of(&e) == Some(404) => {}
                    Err(e) => return Err(e),
                }
                self.ids.retain(|_, v| v != id);
                say("Container", &name, "Removed");
            }
            Action::WaitFor { service, condition } => {
                let mut wanted: Vec<(u32, String)> =
                    self.ids.iter().filter(|((s, _), _)| s == service).map(|((_, n), id)| (*n, id.clone())).collect();
                wanted.sort();
                for (_, id) in wanted {
                    let name = self.name_of(&id);
                    say("Container", &name, "Waiting");
                    wait_container(c, &id, *condition, None).await?;
                    say("Container", &name, match condition {
                        Condition::ServiceHealthy => "Healthy",
                        Condition::ServiceCompletedSuccessfully => "Exited",
                        Condition::ServiceStarted => "Started",
                    });
                }
            }
            Action::RemoveNetwork(key) => {
                let name = self.project.network_create(key).name;
                say("Network", &name, "Removing");
                match c.docker().remove_network(&name).await.api() {
                    Ok(()) => say("Network", &name, "Removed"),
                    Err(e) if status_of(&e) == Some(404) => {}
                    // As docker compose: a network still in use is a warning, not a failure.
                    Err(e) => eprintln!("WARN[0000] {e}"),
                }
            }
            Action::RemoveVolume(key) => {
                let name = self.project.volume_create(key).name.unwrap_or_default();
                say("Volume", &name, "Removing");
                match c.docker().remove_volume(&name, None::<bollard::query_parameters::RemoveVolumeOptions>).await.api() {
                    Ok(()) => say("Volume", &name, "Removed"),
                    Err(e) if status_of(&e) == Some(404) => {}
                    Err(e) => eprintln!("WARN[0000] {e}"),
                }
            }
        }
        Ok(())
    }

    /// Create replica `number` of `service`.
    async fn create(&mut self, service: &str, number: u32, done: &str) -> anyhow::Result<String> {
        let (name, body) = self.project.container_create(service, number).map_err(|e| StatusError::with(1, e.to_string()))?;
        say("Container", &name, "Creating");
        let id = create_with(self.c, self.project, service, &name, body).await?;
        self.names.insert(id.clone(), name.clone());
        say("Container", &name, done);
        Ok(id)
    }
}

/// Create a container of `service` from `body`: one network at create time, the others
/// connected afterwards (engines before API 1.44 take one endpoint per create); a missing
/// image is built (a service with `build`) or pulled first.
pub async fn create_with(c: &Client, project: &Project, service: &str, name: &str, mut body: berth_api::models::ContainerCreateBody) -> anyhow::Result<String> {
    let mut extra: Vec<(String, EndpointSettings)> = Vec::new();
    if let Some(eps) = body.networking_config.as_mut().and_then(|nc| nc.endpoints_config.as_mut()) {
        if eps.len() > 1 {
            let mode = body.host_config.as_ref().and_then(|h| h.network_mode.clone()).unwrap_or_default();
            let keep = if eps.contains_key(&mode) { mode } else { eps.keys().min().cloned().unwrap_or_default() };
            let mut rest: Vec<(String, EndpointSettings)> = eps.iter().filter(|(k, _)| **k != keep).map(|(k, v)| (k.clone(), v.clone())).collect();
            rest.sort_by(|a, b| a.0.cmp(&b.0));
            eps.retain(|k, _| *k == keep);
            extra = rest;
        }
    }
    if body.networking_config.as_ref().is_some_and(|n| n.endpoints_config.as_ref().is_none_or(|e| e.is_empty())) {
        body.networking_config = None::<NetworkingConfig>;
    }
    let opts = CreateContainerOptions { name: Some(name.to_string()), platform: String::new() };
    let resp = match c.docker().create_container(Some(opts.clone()), body.clone()).await.api() {
        Ok(r) => r,
        Err(e) if status_of(&e) == Some(404) && e.to_string().to_lowercase().contains("image") => {
            // As `docker compose up`: build or pull a missing image.
            let image = body.image.clone().unwrap_or_default();
            if project.services.get(service).is_some_and(|s| s.build.is_some()) {
                super::ops::build_service(c, project, service).await?;
            } else {
                super::ops::pull_image(c, &image).await?;
            }
            c.docker().create_container(Some(opts), body.clone()).await.api()?
        }
        Err(e) => return Err(e),
    };
    for (net, ep) in extra {
        let req = NetworkConnectRequest { container: resp.id.clone(), endpoint_config: Some(ep) };
        c.docker().connect_network(&net, req).await.api()?;
    }
    for w in &resp.warnings {
        eprintln!("WARN[0000] {w}");
    }
    Ok(resp.id)
}

/// `compose down`.
pub async fn down(c: &Client, project: &Project, a: DownArgs) -> anyhow::Result<()> {
    let observed = super::observe(c, project).await?;
    // No file (`-p NAME down`): every container of the project is an orphan, and its networks
    // and volumes are found by their project label.
    let file_less = project.services.is_empty() && project.disabled_services.is_empty();
    let actions = plan::down(project, &observed, a.volumes, a.remove_orphans || file_less);
    let mut ap = Applier::new(c, project, &observed);
    for act in &actions {
        match act {
            Action::Stop { id } if a.timeout.is_some() => {
                let name = ap.name_of(id);
                say("Container", &name, "Stopping");
                let _ = c.docker().stop_container(id, Some(StopContainerOptions { t: a.timeout, signal: None })).await;
                say("Container", &name, "Stopped");
            }
            _ => ap.apply(act).await?,
        }
    }
    if file_less {
        let filters = Some(super::project_filter(&project.name));
        let nets = c.docker().list_networks(Some(bollard::query_parameters::ListNetworksOptions { filters: filters.clone() })).await.api()?;
        for n in nets.into_iter().filter_map(|n| n.name) {
            say("Network", &n, "Removing");
            match c.docker().remove_network(&n).await.api() {
                Ok(()) => say("Network", &n, "Removed"),
                Err(e) => eprintln!("WARN[0000] {e}"),
            }
        }
        if a.volumes {
            let vols = c.docker().list_volumes(Some(bollard::query_parameters::ListVolumesOptions { filters })).await.api()?;
            for v in vols.volumes.unwrap_or_default() {
                say("Volume", &v.name, "Removing");
                match c.docker().remove_volume(&v.name, None::<bollard::query_parameters::RemoveVolumeOptions>).await.api() {
                    Ok(()) => say("Volume", &v.name, "Removed"),
                    Err(e) => eprintln!("WARN[0000] {e}"),
                }
            }
        }
    }
    if let Some(which) = &a.rmi {
        for (name, svc) in &project.services {
            // local: only images without a custom tag (the ones compose names itself).
            if which == "local" && svc.image.is_some() {
                continue;
            }
            let image = svc.image_name(&project.name);
            match c.docker().remove_image(&image, None::<bollard::query_parameters::RemoveImageOptions>, None).await.api() {
                Ok(_) => say("Image", &image, "Removed"),
                Err(e) if status_of(&e) == Some(404) => {}
                Err(e) => eprintln!("WARN[0000] service {name}: {e}"),
            }
        }
    }
    Ok(())
}
