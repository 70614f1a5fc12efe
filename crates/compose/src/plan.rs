//! The planner: what `up` and `down` must do, given the project and what exists now.
//!
//! Pure: the CLI observes the engine (containers labelled `com.docker.compose.project=<name>`,
//! networks, volumes), calls [`up`] or [`down`], and applies the actions in order.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::model::Condition;
use crate::model::VolumeType;
use crate::{LoadError, Project};

/// What exists now, as the engine reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The project's containers (`GET /containers/json?all=1` with the project label filter).
    pub containers: Vec<ObservedContainer>,
    /// Names of the networks that exist (engine names, e.g. `proj_default`).
    pub networks: Vec<String>,
    /// Names of the volumes that exist (engine names, e.g. `proj_data`).
    pub volumes: Vec<String>,
}

/// One container of the project, from its labels and state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedContainer {
    /// The container id.
    pub id: String,
    /// The container name (without the leading `/`).
    pub name: String,
    /// `com.docker.compose.service`.
    pub service: String,
    /// `com.docker.compose.container-number`.
    pub number: u32,
    /// `com.docker.compose.config-hash`.
    pub config_hash: String,
    /// Whether it is running.
    pub running: bool,
    /// `com.docker.compose.oneoff=True` (`compose run` containers).
    pub oneoff: bool,
}

impl ObservedContainer {
    /// From an entry of `GET /containers/json?all=1`; `None` when it has no
    /// `com.docker.compose.service` label (not a compose container).
    pub fn from_summary(c: &berth_api::models::ContainerSummary) -> Option<Self> {
        use crate::labels;
        let l = c.labels.as_ref()?;
        Some(ObservedContainer {
            id: c.id.clone().unwrap_or_default(),
            name: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_string())
                .unwrap_or_default(),
            service: l.get(labels::SERVICE)?.clone(),
            number: l.get(labels::CONTAINER_NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0),
            config_hash: l.get(labels::CONFIG_HASH).cloned().unwrap_or_default(),
            running: matches!(
                c.state,
                Some(berth_api::models::ContainerSummaryStateEnum::RUNNING)
                    | Some(berth_api::models::ContainerSummaryStateEnum::RESTARTING)
            ),
            oneoff: l.get(labels::ONEOFF).is_some_and(|o| o.eq_ignore_ascii_case("true")),
        })
    }
}

/// Options of `up`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpOptions {
    /// The services named on the command line; empty: all.
    pub services: Vec<String>,
    /// `--no-deps`: do not bring up the named services' dependencies.
    pub no_deps: bool,
    /// `--force-recreate`.
    pub force_recreate: bool,
    /// `--no-recreate`.
    pub no_recreate: bool,
    /// `--scale svc=N`.
    pub scale: BTreeMap<String, u32>,
    /// `--remove-orphans`: remove containers of services no longer in the project.
    pub remove_orphans: bool,
    /// `--build`: build services that have a `build` section before creating.
    pub build: bool,
}

/// One step of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create this network (its key in `Project::networks`).
    CreateNetwork(String),
    /// Create this volume (its key in `Project::volumes`).
    CreateVolume(String),
    /// Build this service's image.
    Build(String),
    /// Pull this service's image if missing.
    Pull(String),
    /// Create replica `number` of `service` (request from `Project::container_create`).
    Create {
        /// The service.
        service: String,
        /// The replica number (1-based).
        number: u32,
    },
    /// Stop and remove `old_id`, then create replica `number` anew.
    Recreate {
        /// The service.
        service: String,
        /// The replica number.
        number: u32,
        /// The container being replaced.
        old_id: String,
    },
    /// Start replica `number` of `service` (after Create/Recreate, or a stopped one).
    Start {
        /// The service.
        service: String,
        /// The replica number.
        number: u32,
    },
    /// Remove this container (stopped first if running, by a preceding `Stop`).
    Remove {
        /// The container id.
        id: String,
    },
    /// Stop this container.
    Stop {
        /// The container id.
        id: String,
    },
    /// Remove this network (its key in `Project::networks`).
    RemoveNetwork(String),
    /// Remove this volume (its key in `Project::volumes`).
    RemoveVolume(String),
    /// Wait until all containers of `service` meet `condition`.
    WaitFor {
        /// The dependency.
        service: String,
        /// What to wait for.
        condition: Condition,
    },
}

/// The ordered actions of `up`: orphans (with `remove_orphans`), networks, volumes, then per
/// service in dependency order: `WaitFor` its dependencies' conditions (healthy, completed),
/// `Build` (with `build` and a `build` section) or `Pull` (ensure the image: pull if missing, or
/// build a service with a `build` section whose image is missing), then per replica `Create` or
/// `Recreate` and `Start`. Unchanged running containers are untouched; a stopped one is started;
/// a changed config-hash (or `force_recreate`) -> `Recreate`; scale down stops and removes the
/// highest numbers.
pub fn up(project: &Project, observed: &Observed, opts: &UpOptions) -> Result<Vec<Action>, LoadError> {
    for s in opts.services.iter().chain(opts.scale.keys()) {
        if !project.services.contains_key(s) {
            return Err(LoadError::NoSuchService(s.clone()));
        }
    }
    // the services to bring up: the named ones and (unless no_deps) their dependencies
    let mut selected: BTreeSet<String> = BTreeSet::new();
    if opts.services.is_empty() {
        selected.extend(project.services.keys().cloned());
    } else {
        let mut todo: Vec<String> = opts.services.clone();
        while let Some(s) = todo.pop() {
            if !selected.insert(s.clone()) || opts.no_deps {
                continue;
            }
            if let Some(svc) = project.services.get(&s) {
                todo.extend(svc.depends_on.keys().filter(|d| project.services.contains_key(*d)).cloned());
            }
        }
    }
    let order: Vec<String> = project.start_order()?.into_iter().filter(|s| selected.contains(s)).collect();
    let mut actions = Vec::new();

    if opts.remove_orphans {
        for c in orphans(project, observed) {
            if c.running {
                actions.push(Action::Stop { id: c.id.clone() });
            }
            actions.push(Action::Remove { id: c.id.clone() });
        }
    }
    let mut nets = BTreeSet::new();
    let mut vols = BTreeSet::new();
    for s in &order {
        let svc = &project.services[s];
        nets.extend(svc.network_names());
        for v in &svc.volumes {
            if let (VolumeType::Volume, Some(src)) = (v.kind, &v.source) {
                vols.insert(src.clone());
            }
        }
    }
    for n in nets {
        if let Some(net) = project.networks.get(&n) {
            if !net.external && !observed.networks.contains(&net.name) {
                actions.push(Action::CreateNetwork(n));
            }
        }
    }
    for v in vols {
        if let Some(vol) = project.volumes.get(&v) {
            if !vol.external && !observed.volumes.contains(&vol.name) {
                actions.push(Action::CreateVolume(v));
            }
        }
    }

    for s in &order {
        let svc = &project.services[s];
        for (d, dep) in &svc.depends_on {
            if selected.contains(d) && dep.condition != Condition::ServiceStarted {
                actions.push(Action::WaitFor { service: d.clone(), condition: dep.condition });
            }
        }
        let want = opts.scale.get(s).copied().unwrap_or_else(|| svc.replicas());
        if want > 1 && svc.container_name.is_some() {
            return Err(LoadError::Invalid {
                file: "(command line)".into(),
                key: format!("services.{s}.container_name"),
                message: format!("service {s:?} has a container_name and cannot be scaled to {want}"),
            });
        }
        let hash = project.config_hash(s);
        let mut existing: Vec<&ObservedContainer> = observed.containers.iter().filter(|c| &c.service == s && !c.oneoff).collect();
        existing.sort_by_key(|c| c.number);
        let mut steps = Vec::new();
        let mut needs_image = false;
        for n in 1..=want {
            match existing.iter().find(|c| c.number == n) {
                Some(c) => {
                    let changed = c.config_hash != hash;
                    if opts.force_recreate || (changed && !opts.no_recreate) {
                        needs_image = true;
                        steps.push(Action::Recreate { service: s.clone(), number: n, old_id: c.id.clone() });
                        steps.push(Action::Start { service: s.clone(), number: n });
                    } else if !c.running {
                        steps.push(Action::Start { service: s.clone(), number: n });
                    }
                }
                None => {
                    needs_image = true;
                    steps.push(Action::Create { service: s.clone(), number: n });
                    steps.push(Action::Start { service: s.clone(), number: n });
                }
            }
        }
        // scale down: the highest numbers go first; duplicates of a number go too
        let mut seen = BTreeSet::new();
        let mut extra: Vec<&ObservedContainer> = Vec::new();
        for c in &existing {
            if c.number > want || !seen.insert(c.number) {
                extra.push(c);
            }
        }
        extra.sort_by(|a, b| b.number.cmp(&a.number).then(a.id.cmp(&b.id)));
        for c in extra {
            if c.running {
                steps.push(Action::Stop { id: c.id.clone() });
            }
            steps.push(Action::Remove { id: c.id.clone() });
        }
        if opts.build && svc.build.is_some() {
            actions.push(Action::Build(s.clone()));
        } else if needs_image {
            actions.push(Action::Pull(s.clone()));
        }
        actions.extend(steps);
    }
    Ok(actions)
}

/// Containers of the project whose service is neither enabled nor disabled by profiles.
fn orphans<'a>(project: &Project, observed: &'a Observed) -> Vec<&'a ObservedContainer> {
    let mut out: Vec<&ObservedContainer> = observed
        .containers
        .iter()
        .filter(|c| !project.services.contains_key(&c.service) && !project.disabled_services.contains_key(&c.service))
        .collect();
    out.sort_by(|a, b| a.service.cmp(&b.service).then(b.number.cmp(&a.number)));
    out
}

/// `down`: stop+remove containers (dependants before their dependencies, highest numbers
/// first), with `remove_orphans` also containers of services no longer in the project; then the
/// project's networks that exist and are not external; with `volumes` its named volumes that
/// exist and are not external.
pub fn down(project: &Project, observed: &Observed, volumes: bool, remove_orphans: bool) -> Vec<Action> {
    let mut actions = Vec::new();
    let mut order: Vec<String> = project.start_order().unwrap_or_else(|_| project.services.keys().cloned().collect());
    order.extend(project.disabled_services.keys().cloned());
    order.reverse();
    let stop_remove = |c: &ObservedContainer, actions: &mut Vec<Action>| {
        if c.running {
            actions.push(Action::Stop { id: c.id.clone() });
        }
        actions.push(Action::Remove { id: c.id.clone() });
    };
    for s in &order {
        let mut cs: Vec<&ObservedContainer> = observed.containers.iter().filter(|c| &c.service == s).collect();
        cs.sort_by(|a, b| a.oneoff.cmp(&b.oneoff).reverse().then(b.number.cmp(&a.number)).then(a.id.cmp(&b.id)));
        for c in cs {
            stop_remove(c, &mut actions);
        }
    }
    if remove_orphans {
        for c in orphans(project, observed) {
            stop_remove(c, &mut actions);
        }
    }
    for (k, n) in &project.networks {
        if !n.external && observed.networks.contains(&n.name) {
            actions.push(Action::RemoveNetwork(k.clone()));
        }
    }
    if volumes {
        for (k, v) in &project.volumes {
            if !v.external && observed.volumes.contains(&v.name) {
                actions.push(Action::RemoveVolume(k.clone()));
            }
        }
    }
    actions
}
