//! `berth compose`: multi-container applications from compose files, as `docker compose` v2.
//!
//! The model and the plans come from `berth-compose` (pure); this module observes the engine
//! (containers labelled `com.docker.compose.project=<name>`, networks, volumes), applies plans
//! through the API and prints docker compose's progress lines (` ✔ Container p-web-1  Started`).
//!
//! - [`apply`]: `up`, `down` and the actions of a plan; waiting on `depends_on` conditions.
//! - [`logs`]: log streams with coloured `service-1  | ` prefixes (`logs`, attached `up`).
//! - [`ops`]: the other commands (ps, exec, run, build, pull, push, stop, start, restart, rm,
//!   config, ls, top, events).

pub mod apply;
pub mod logs;
pub mod ops;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use berth_api::models::ContainerSummary;
use berth_client::Client;
use berth_compose::plan::{Observed, ObservedContainer};
use berth_compose::{LoadOptions, Project};
use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions, ListVolumesOptions};
use clap::{Args, Subcommand};

use super::context::{self, Globals};
use crate::error::{ApiResult, StatusError};

/// The label naming a container's project.
pub const LABEL_PROJECT: &str = "com.docker.compose.project";
/// The label naming a container's service.
pub const LABEL_SERVICE: &str = "com.docker.compose.service";
/// The label holding a container's replica number.
pub const LABEL_NUMBER: &str = "com.docker.compose.container-number";
/// The label marking `compose run` containers (`True`).
pub const LABEL_ONEOFF: &str = "com.docker.compose.oneoff";
/// The label listing the project's compose files.
pub const LABEL_FILES: &str = "com.docker.compose.project.config_files";

/// `berth compose` and its global flags.
#[derive(Args, Debug)]
pub struct ComposeArgs {
    /// Compose configuration files
    #[arg(short = 'f', long = "file")]
    pub file: Vec<PathBuf>,
    /// Project name
    #[arg(short = 'p', long = "project-name")]
    pub project_name: Option<String>,
    /// Specify a profile to enable
    #[arg(long = "profile")]
    pub profile: Vec<String>,
    /// Specify an alternate environment file
    #[arg(long = "env-file")]
    pub env_file: Vec<PathBuf>,
    /// Specify an alternate working directory (default: the path of the first specified Compose file)
    #[arg(long = "project-directory")]
    pub project_directory: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: ComposeCommand,
}

/// `berth compose ...`
#[derive(Subcommand, Debug)]
pub enum ComposeCommand {
    /// Create and start containers
    Up(apply::UpArgs),
    /// Stop and remove containers, networks
    Down(apply::DownArgs),
    /// List containers
    Ps(ops::PsArgs),
    /// View output from containers
    Logs(logs::LogsArgs),
    /// Execute a command in a running container
    Exec(ops::ExecArgs),
    /// Run a one-off command on a service
    Run(ops::RunArgs),
    /// Build or rebuild services
    Build(ops::ServicesArgs),
    /// Pull service images
    Pull(ops::ServicesArgs),
    /// Push service images
    Push(ops::ServicesArgs),
    /// Restart service containers
    Restart(ops::StopArgs),
    /// Stop services
    Stop(ops::StopArgs),
    /// Start services
    Start(ops::ServicesArgs),
    /// Removes stopped service containers
    Rm(ops::RmArgs),
    /// Parse, resolve and render compose file in canonical format
    #[command(visible_alias = "convert")]
    Config(ops::ConfigArgs),
    /// List running compose projects
    Ls(ops::LsArgs),
    /// Display the running processes
    Top(ops::ServicesArgs),
    /// Receive real time events from containers
    Events(ops::EventsArgs),
}

/// Run one `berth compose` command.
pub async fn dispatch(a: ComposeArgs, g: &Globals) -> anyhow::Result<()> {
    // Commands that need no project.
    if let ComposeCommand::Ls(l) = &a.command {
        let c = context::connect(g).await?;
        return ops::ls(&c, l).await;
    }
    let project = match load(&a) {
        Ok(p) => p,
        // Without a file, `-p` still names the containers, networks and volumes to act on.
        Err(e)
            if matches!(e.downcast_ref::<berth_compose::LoadError>(), Some(berth_compose::LoadError::NoConfigFile { .. }))
                && a.project_name.is_some()
                && works_without_file(&a.command) =>
        {
            Project { name: normalize_name(a.project_name.as_deref().unwrap_or("")), ..Default::default() }
        }
        Err(e) => return Err(e),
    };
    for w in &project.warnings {
        eprintln!("WARN[0000] {w}");
    }
    if let ComposeCommand::Config(cfg) = &a.command {
        return ops::config(&project, cfg);
    }
    let c = context::connect(g).await?;
    match a.command {
        ComposeCommand::Up(u) => apply::up(&c, &project, u).await,
        ComposeCommand::Down(d) => apply::down(&c, &project, d).await,
        ComposeCommand::Ps(p) => ops::ps(&c, &project, p).await,
        ComposeCommand::Logs(l) => logs::logs(&c, &project, l).await,
        ComposeCommand::Exec(e) => ops::exec(&c, &project, e).await,
        ComposeCommand::Run(r) => ops::run(&c, &project, r).await,
        ComposeCommand::Build(b) => ops::build(&c, &project, &b.services).await,
        ComposeCommand::Pull(p) => ops::pull(&c, &project, &p.services).await,
        ComposeCommand::Push(p) => ops::push(&c, &project, &p.services).await,
        ComposeCommand::Restart(s) => ops::restart(&c, &project, s).await,
        ComposeCommand::Stop(s) => ops::stop(&c, &project, s).await,
        ComposeCommand::Start(s) => ops::start(&c, &project, &s.services).await,
        ComposeCommand::Rm(r) => ops::rm(&c, &project, r).await,
        ComposeCommand::Top(t) => ops::top(&c, &project, &t.services).await,
        ComposeCommand::Events(e) => ops::events(&c, &project, e).await,
        ComposeCommand::Config(cfg) => ops::config(&project, &cfg),
        ComposeCommand::Ls(l) => ops::ls(&c, &l).await,
    }
}

/// The load options of the global flags and the process environment.
pub fn load_options(a: &ComposeArgs, environment: BTreeMap<String, String>) -> anyhow::Result<LoadOptions> {
    let cwd = std::env::current_dir().map_err(|e| StatusError::with(1, format!("cannot read the working directory: {e}")))?;
    let working_dir = match &a.project_directory {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => cwd.join(d),
        None => cwd.clone(),
    };
    let abs = |p: &PathBuf| if p.is_absolute() { p.clone() } else { cwd.join(p) };
    Ok(LoadOptions {
        files: a.file.iter().map(abs).collect(),
        working_dir,
        project_name: a.project_name.clone(),
        profiles: a.profile.iter().flat_map(|p| p.split(',')).filter(|p| !p.is_empty()).map(str::to_string).collect(),
        env_files: a.env_file.iter().map(abs).collect(),
        environment,
    })
}

/// Load the project the flags name (a load failure is a `LoadError`, printed as is).
pub fn load(a: &ComposeArgs) -> anyhow::Result<Project> {
    let opts = load_options(a, std::env::vars().collect())?;
    Ok(berth_compose::load(&opts)?)
}

/// Commands that act on what the labels find, so that `-p NAME` is enough without a file.
fn works_without_file(c: &ComposeCommand) -> bool {
    matches!(
        c,
        ComposeCommand::Down(_)
            | ComposeCommand::Ps(_)
            | ComposeCommand::Logs(_)
            | ComposeCommand::Stop(_)
            | ComposeCommand::Restart(_)
            | ComposeCommand::Rm(_)
            | ComposeCommand::Top(_)
            | ComposeCommand::Events(_)
    )
}

/// A project name as compose normalises it: lowercase, only `[a-z0-9_-]`.
pub fn normalize_name(s: &str) -> String {
    s.to_lowercase().chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-').collect()
}

/// The `label=` filter selecting a project's containers.
pub fn project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_string(), vec![format!("{LABEL_PROJECT}={project}")])])
}

/// The project's containers (all states, one-off ones included), sorted by service and number.
pub async fn containers(c: &Client, project: &str) -> anyhow::Result<Vec<ContainerSummary>> {
    let opts = ListContainersOptions { all: true, filters: Some(project_filter(project)), ..Default::default() };
    let mut list = c.docker().list_containers(Some(opts)).await.api()?;
    list.sort_by_key(|s| (label(s, LABEL_SERVICE).to_string(), number(s), name(s)));
    Ok(list)
}

/// A label of a listed container ("" when absent).
pub fn label<'a>(s: &'a ContainerSummary, key: &str) -> &'a str {
    s.labels.as_ref().and_then(|l| l.get(key)).map(String::as_str).unwrap_or("")
}

/// The replica number of a listed container (0 when unlabelled).
pub fn number(s: &ContainerSummary) -> u32 {
    label(s, LABEL_NUMBER).parse().unwrap_or(0)
}

/// A listed container's name without the leading `/`.
pub fn name(s: &ContainerSummary) -> String {
    s.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default()
}

/// Is a listed container a `compose run` one?
pub fn is_oneoff(s: &ContainerSummary) -> bool {
    label(s, LABEL_ONEOFF).eq_ignore_ascii_case("true")
}

/// Is a listed container running?
pub fn is_running(s: &ContainerSummary) -> bool {
    s.state.map(|st| st.to_string()).as_deref() == Some("running")
}

/// What exists now, for the planner.
pub async fn observe(c: &Client, project: &Project) -> anyhow::Result<Observed> {
    let list = containers(c, &project.name).await?;
    let observed = list.iter().filter_map(ObservedContainer::from_summary).collect();
    let nets = c.docker().list_networks(None::<ListNetworksOptions>).await.api()?;
    let vols = c.docker().list_volumes(None::<ListVolumesOptions>).await.api()?;
    Ok(Observed {
        containers: observed,
        networks: nets.into_iter().filter_map(|n| n.name).collect(),
        volumes: vols.volumes.unwrap_or_default().into_iter().map(|v| v.name).collect(),
    })
}

/// Containers of the named services (all when empty), without one-off containers unless asked.
pub fn select<'a>(list: &'a [ContainerSummary], services: &[String], oneoff: bool) -> Vec<&'a ContainerSummary> {
    list.iter()
        .filter(|s| oneoff || !is_oneoff(s))
        .filter(|s| services.is_empty() || services.iter().any(|x| x == label(s, LABEL_SERVICE)))
        .collect()
}

/// Fail when a named service is not in the project.
pub fn check_services(project: &Project, services: &[String]) -> anyhow::Result<()> {
    if project.services.is_empty() && project.disabled_services.is_empty() {
        // No file: the labels are all we know.
        return Ok(());
    }
    for s in services {
        if !project.services.contains_key(s) {
            return Err(StatusError::with(1, format!("no such service: {s}")));
        }
    }
    Ok(())
}

/// One progress line as docker compose prints it when not on a terminal: ` ✔ Container p-web-1  Started`.
pub fn progress(kind: &str, name: &str, status: &str) -> String {
    format!(" \u{2714} {kind} {name}  {status}")
}

/// Print a progress line (stderr, as docker compose does).
pub fn say(kind: &str, name: &str, status: &str) {
    eprintln!("{}", progress(kind, name, status));
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ComposeArgs,
    }

    #[test]
    fn flags_parse() {
        let cases: &[&[&str]] = &[
            &["c", "-f", "a.yml", "-f", "b.yml", "-p", "x", "up", "-d", "--build", "--scale", "web=3", "--wait"],
            &["c", "--profile", "dev", "--env-file", "e", "--project-directory", "/d", "down", "-v", "--rmi", "local", "--remove-orphans"],
            &["c", "ps", "-a", "-q", "--format", "json"],
            &["c", "logs", "-f", "--tail", "5", "-t", "--no-color", "web", "db"],
            &["c", "exec", "-T", "-u", "root", "-w", "/", "-e", "A=1", "--index", "2", "web", "sh", "-c", "id"],
            &["c", "run", "--rm", "-e", "A=1", "--no-deps", "-T", "web", "echo", "hi"],
            &["c", "rm", "-f", "-s", "-v"],
            &["c", "config", "--services"],
            &["c", "ls", "-a"],
            &["c", "events", "--json"],
            &["c", "up", "--force-recreate", "--no-deps", "--remove-orphans", "web"],
        ];
        for args in cases {
            if let Err(e) = T::try_parse_from(*args) {
                panic!("{args:?}: {e}");
            }
        }
        let t = T::try_parse_from(["c", "-f", "a.yml", "-f", "b.yml", "up", "--scale", "w=3", "--scale", "x=0"]).unwrap();
        assert_eq!(t.a.file, vec![PathBuf::from("a.yml"), PathBuf::from("b.yml")]);
        let ComposeCommand::Up(u) = t.a.command else { panic!("not up") };
        assert_eq!(apply::scales(&u.scale).unwrap(), BTreeMap::from([("w".to_string(), 3), ("x".to_string(), 0)]));
    }

    #[test]
    fn project_names_normalised() {
        for (input, want) in [("MyApp", "myapp"), ("my app.v2", "myappv2"), ("a_b-c9", "a_b-c9")] {
            assert_eq!(normalize_name(input), want, "{input}");
        }
    }

    #[test]
    fn progress_lines() {
        let cases = [
            (("Container", "p-web-1", "Started"), " ✔ Container p-web-1  Started"),
            (("Network", "p_default", "Created"), " ✔ Network p_default  Created"),
        ];
        for ((k, n, s), want) in cases {
            assert_eq!(progress(k, n, s), want);
        }
    }
}
