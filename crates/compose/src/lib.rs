//! The compose model and planner: compose files in, a typed [`Project`] and plans out.
//!
//! - [`load`] / [`load_from_str`]: read the files, `.env` and the process environment,
//!   interpolate, merge several files, resolve `extends`, apply profiles, validate, and return a
//!   [`Project`] with short syntaxes normalised.
//! - [`Project::to_yaml`] (`compose config`), [`Project::start_order`],
//!   [`Project::container_create`], [`Project::config_hash`], [`Project::network_create`],
//!   [`Project::volume_create`]: the Docker API requests compose makes.
//! - [`plan`]: `up` and `down` as ordered actions over what exists now.
//!
//! Architecture invariant: this crate does no IO besides reading the files it is pointed at
//! (compose files, env files, `extends.file`); it knows the API's models, not HTTP.
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;

mod convert;
mod create;
mod dotenv;
mod error;
mod interpolate;
mod load;
mod merge;
mod model;
pub mod plan;
mod yaml;

pub use create::{labels, COMPOSE_VERSION};
pub use error::LoadError;
pub use load::{normalize_project_name, DEFAULT_FILES};
pub use model::*;

/// Where and how to load a project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// `-f` files in order; empty: `COMPOSE_FILE`, else the first of compose.yaml, compose.yml,
    /// docker-compose.yml, docker-compose.yaml in `working_dir`.
    pub files: Vec<PathBuf>,
    /// The directory compose runs in (the project dir unless files are elsewhere).
    pub working_dir: PathBuf,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--profile`; empty: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// `--env-file`; empty: `<project dir>/.env` if present.
    pub env_files: Vec<PathBuf>,
    /// The process environment.
    pub environment: BTreeMap<String, String>,
}

/// Load a project from files.
pub fn load(opts: &LoadOptions) -> Result<Project, LoadError> {
    let mut docs = Vec::new();
    for path in load::files(opts)? {
        let content = std::fs::read_to_string(&path).map_err(|e| load::read_err(&path, e))?;
        let label = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        docs.push(load::Doc { label, path, content });
    }
    load::load_docs(docs, opts)
}

/// Same from in-memory documents (tests): (file name, content).
/// Names are relative to `opts.working_dir` (the first one's directory is the project dir);
/// `env_file`, `.env` and `extends.file` are still read from disk.
pub fn load_from_str(docs: &[(&str, &str)], opts: &LoadOptions) -> Result<Project, LoadError> {
    let docs = docs
        .iter()
        .map(|(name, content)| load::Doc {
            label: name.to_string(),
            path: convert::normalize(&opts.working_dir.join(name)),
            content: content.to_string(),
        })
        .collect();
    load::load_docs(docs, opts)
}

impl Project {
    /// The resolved model as `docker compose config` prints it (YAML, keys sorted, defaults filled).
    pub fn to_yaml(&self) -> String {
        yaml::project(self)
    }

    /// Services in dependency order (dependencies first); Err on cycles.
    pub fn start_order(&self) -> Result<Vec<String>, LoadError> {
        load::start_order(self)
    }

    /// The Docker API request to create replica `n` (1-based) of `service`, and the container
    /// name (`<project>-<service>-<n>` unless `container_name`).
    pub fn container_create(
        &self,
        service: &str,
        n: u32,
    ) -> Result<(String, berth_api::models::ContainerCreateBody), LoadError> {
        self.container_create_impl(service, n)
    }

    /// The request of `compose run` for `service`: like replica 1 but named
    /// `<project>-<service>-run-<suffix>`, labelled `com.docker.compose.oneoff=True`, and without
    /// published ports unless `service_ports` (`--service-ports`). The caller overrides
    /// `Cmd`/`Entrypoint`/`Env`/`Tty` from its flags and sets `HostConfig.AutoRemove` for `--rm`.
    pub fn container_create_oneoff(
        &self,
        service: &str,
        suffix: &str,
        service_ports: bool,
    ) -> Result<(String, berth_api::models::ContainerCreateBody), LoadError> {
        self.oneoff_create_impl(service, suffix, service_ports)
    }

    /// Stable hash of what a service's containers are made from (config-hash label).
    /// Empty for an unknown service. Replica counts are not part of it.
    pub fn config_hash(&self, service: &str) -> String {
        self.config_hash_impl(service)
    }

    /// The request creating network `name` (its key): `<project>_<key>` unless `name:`.
    pub fn network_create(&self, name: &str) -> berth_api::models::NetworkCreateRequest {
        self.network_create_impl(name)
    }

    /// The request creating volume `name` (its key): `<project>_<key>` unless `name:`.
    pub fn volume_create(&self, name: &str) -> berth_api::models::VolumeCreateRequest {
        self.volume_create_impl(name)
    }
}
