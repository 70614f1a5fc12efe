//! The planner: what `up` and `down` must do, given the project and what exists now.
//!
//! Pure: the CLI observes the engine (containers labelled `com.docker.compose.project=<name>`,
//! networks, volumes), calls [`up`] or [`down`], and applies the actions in order.

use std::collections::BTreeMap;

pub use crate::model::Condition;
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
    /// Wait until all containers of `service` meet `condition`.
    WaitFor {
        /// The dependency.
        service: String,
        /// What to wait for.
        condition: Condition,
    },
}

/// The ordered actions of `up`: networks, volumes, then per service in dependency order
/// (waiting on conditions before dependants start); unchanged running containers untouched;
/// changed config-hash -> Recreate; scale down removes the highest numbers.
pub fn up(project: &Project, observed: &Observed, opts: &UpOptions) -> Result<Vec<Action>, LoadError> {
    let _ = (project, observed, opts);
    Ok(Vec::new())
}

/// `down`: stop+remove containers (reverse order), networks, (`volumes`) named volumes not
/// external; `remove_orphans` also removes containers of services not in the project.
pub fn down(project: &Project, observed: &Observed, volumes: bool, remove_orphans: bool) -> Vec<Action> {
    let _ = (project, observed, volumes, remove_orphans);
    Vec::new()
}
