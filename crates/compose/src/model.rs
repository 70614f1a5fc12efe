//! The typed, resolved compose model: what `load` returns after interpolation, merging,
//! `extends`, profiles and validation. Short syntaxes are normalised into the long forms here
//! (a `"8080:80"` port is a [`Port`], a `"./data:/data:ro"` volume a [`ServiceVolume`]), and
//! relative host paths are absolute (resolved against the project directory).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A loaded compose project.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Project {
    /// The project name (normalised: lowercase, `[a-z0-9_-]`).
    pub name: String,
    /// The project directory: relative paths in the files are relative to it.
    pub working_dir: PathBuf,
    /// The compose files the project was loaded from, in order (for the config_files label).
    pub config_files: Vec<PathBuf>,
    /// The services enabled by the active profiles.
    pub services: BTreeMap<String, Service>,
    /// Networks; `default` is added when a service uses it implicitly.
    pub networks: BTreeMap<String, Network>,
    /// Named volumes.
    pub volumes: BTreeMap<String, Volume>,
    /// Top-level secrets.
    pub secrets: BTreeMap<String, FileObject>,
    /// Top-level configs.
    pub configs: BTreeMap<String, FileObject>,
    /// Services whose profiles are not active.
    pub disabled_services: BTreeMap<String, Service>,
    /// Keys we accept (they are compose keys) but do not act on, e.g.
    /// `services.web.ulimits is not supported and is ignored`.
    pub warnings: Vec<String>,
}

/// One service.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Service {
    /// The service's key in `services`.
    pub name: String,
    /// `image`.
    pub image: Option<String>,
    /// `build` (a string is the context).
    pub build: Option<Build>,
    /// `command`; a string is split like a shell would (quotes, backslashes).
    pub command: Option<Vec<String>>,
    /// `entrypoint`; a string is split like `command`.
    pub entrypoint: Option<Vec<String>>,
    /// `env_file` contents overlaid by `environment` (map or list). `None`: a name listed without
    /// a value and not set in the environment — left out of the container's env.
    pub environment: BTreeMap<String, Option<String>>,
    /// `env_file`, absolute paths (already read into `environment`).
    pub env_file: Vec<PathBuf>,
    /// `ports`, one entry per container port (ranges expanded).
    pub ports: Vec<Port>,
    /// `expose`: `"80"`, `"80/udp"`, `"3000-3005"`.
    pub expose: Vec<String>,
    /// `volumes`, long form.
    pub volumes: Vec<ServiceVolume>,
    /// `networks` (a list means no options). Empty with no `network_mode`: `default`.
    pub networks: BTreeMap<String, ServiceNetwork>,
    /// `network_mode` (`host`, `none`, `service:x`, `container:x`).
    pub network_mode: Option<String>,
    /// `depends_on` (a list means `service_started`).
    pub depends_on: BTreeMap<String, Dependency>,
    /// `healthcheck`.
    pub healthcheck: Option<Healthcheck>,
    /// `restart`: `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    pub restart: Option<String>,
    /// `labels` (map or list).
    pub labels: BTreeMap<String, String>,
    /// `user`.
    pub user: Option<String>,
    /// `working_dir`.
    pub working_dir: Option<String>,
    /// `deploy`.
    pub deploy: Option<Deploy>,
    /// `scale` (legacy; `deploy.replicas` wins).
    pub scale: Option<u32>,
    /// `profiles`.
    pub profiles: Vec<String>,
    /// `container_name`.
    pub container_name: Option<String>,
    /// `hostname`.
    pub hostname: Option<String>,
    /// `domainname`.
    pub domainname: Option<String>,
    /// `cap_add`.
    pub cap_add: Vec<String>,
    /// `cap_drop`.
    pub cap_drop: Vec<String>,
    /// `privileged`.
    pub privileged: bool,
    /// `read_only`.
    pub read_only: bool,
    /// `tmpfs`: `"/run"` or `"/run:size=64m"`.
    pub tmpfs: Vec<String>,
    /// `init`.
    pub init: Option<bool>,
    /// `stop_signal`.
    pub stop_signal: Option<String>,
    /// `stop_grace_period`.
    pub stop_grace_period: Option<Duration>,
    /// `tty`.
    pub tty: bool,
    /// `stdin_open`.
    pub stdin_open: bool,
    /// `secrets` references.
    pub secrets: Vec<FileRef>,
    /// `configs` references.
    pub configs: Vec<FileRef>,
    /// `dns`.
    pub dns: Vec<String>,
    /// `dns_search`.
    pub dns_search: Vec<String>,
    /// `extra_hosts` as `host:ip`.
    pub extra_hosts: Vec<String>,
    /// `sysctls`.
    pub sysctls: BTreeMap<String, String>,
    /// `security_opt`.
    pub security_opt: Vec<String>,
    /// `shm_size` in bytes.
    pub shm_size: Option<i64>,
    /// `pull_policy`: `always`, `never`, `missing`, `build`.
    pub pull_policy: Option<String>,
    /// `platform`.
    pub platform: Option<String>,
}

impl Service {
    /// How many containers `up` runs without `--scale`: `deploy.replicas`, else `scale`, else 1.
    pub fn replicas(&self) -> u32 {
        self.deploy.as_ref().and_then(|d| d.replicas).or(self.scale).unwrap_or(1)
    }

    /// The image the containers run: `image`, else `<project>-<service>` for a built service.
    pub fn image_name(&self, project: &str) -> String {
        match &self.image {
            Some(i) => i.clone(),
            None => format!("{project}-{}", self.name),
        }
    }

    /// The networks the service joins, `default` when none is named and no `network_mode`.
    pub fn network_names(&self) -> Vec<String> {
        if self.network_mode.is_some() {
            return Vec::new();
        }
        if self.networks.is_empty() {
            return vec!["default".to_string()];
        }
        self.networks.keys().cloned().collect()
    }
}

/// `build`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Build {
    /// `context`, absolute (a URL is kept as written).
    pub context: PathBuf,
    /// `dockerfile`, relative to the context as written (default `Dockerfile`).
    pub dockerfile: Option<String>,
    /// `args` (map or list); `None` for a name without value not set in the environment.
    pub args: BTreeMap<String, Option<String>>,
    /// `target`.
    pub target: Option<String>,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
    /// `network`.
    pub network: Option<String>,
    /// `no_cache`.
    pub no_cache: bool,
    /// `pull`.
    pub pull: bool,
}

/// One published or exposed container port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Port {
    /// The container port.
    pub target: u16,
    /// The host port or range (`"8080"`, `"8000-8010"`); `None`: an ephemeral port.
    pub published: Option<String>,
    /// The host address (`host_ip`).
    pub host_ip: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// `ingress` or `host`, as written (`None` when not written).
    pub mode: Option<String>,
}

/// The kind of a service volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VolumeType {
    /// A named (or anonymous) volume.
    Volume,
    /// A host path.
    Bind,
    /// A tmpfs.
    Tmpfs,
}

impl VolumeType {
    /// `volume`, `bind`, `tmpfs`.
    pub fn as_str(&self) -> &'static str {
        match self {
            VolumeType::Volume => "volume",
            VolumeType::Bind => "bind",
            VolumeType::Tmpfs => "tmpfs",
        }
    }
}

/// One entry of a service's `volumes`, long form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceVolume {
    /// `type`.
    pub kind: VolumeType,
    /// The volume's key in the top-level `volumes` (named), the absolute host path (bind), or
    /// `None` (anonymous volume, tmpfs).
    pub source: Option<String>,
    /// The path in the container.
    pub target: String,
    /// `read_only` (`:ro`).
    pub read_only: bool,
    /// `bind.create_host_path` (short syntax: true).
    pub create_host_path: bool,
    /// `bind.propagation`.
    pub propagation: Option<String>,
    /// `bind.selinux` (`z`/`Z`).
    pub selinux: Option<String>,
    /// `volume.nocopy`.
    pub nocopy: bool,
    /// `volume.subpath`.
    pub subpath: Option<String>,
    /// `tmpfs.size` in bytes.
    pub tmpfs_size: Option<i64>,
    /// `tmpfs.mode`.
    pub tmpfs_mode: Option<u32>,
}

/// A service's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceNetwork {
    /// `aliases` (the service name is always an alias too; it is added at create time).
    pub aliases: Vec<String>,
    /// `ipv4_address`.
    pub ipv4_address: Option<String>,
    /// `ipv6_address`.
    pub ipv6_address: Option<String>,
    /// `priority`.
    pub priority: Option<i64>,
}

/// What a dependant waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// `service_started` (the default).
    ServiceStarted,
    /// `service_healthy`: the dependency's healthcheck passes.
    ServiceHealthy,
    /// `service_completed_successfully`: the dependency exited 0.
    ServiceCompletedSuccessfully,
}

impl Condition {
    /// The compose spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::ServiceStarted => "service_started",
            Condition::ServiceHealthy => "service_healthy",
            Condition::ServiceCompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// `condition`.
    pub condition: Condition,
    /// `restart`.
    pub restart: bool,
    /// `required` (default true).
    pub required: bool,
}

/// `healthcheck`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// `test`, normalised: a string is `["CMD-SHELL", s]`; `disable: true` is `["NONE"]`.
    pub test: Vec<String>,
    /// `interval`.
    pub interval: Option<Duration>,
    /// `timeout`.
    pub timeout: Option<Duration>,
    /// `retries`.
    pub retries: Option<u32>,
    /// `start_period`.
    pub start_period: Option<Duration>,
    /// `start_interval`.
    pub start_interval: Option<Duration>,
}

/// `deploy` (the parts that apply to a single engine).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deploy {
    /// `replicas`.
    pub replicas: Option<u32>,
    /// `resources.limits`.
    pub limits: Limits,
    /// `resources.reservations` (memory only is used).
    pub reservations: Limits,
}

/// Resource limits.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Limits {
    /// `cpus` (e.g. 0.5).
    pub cpus: Option<f64>,
    /// `memory` in bytes.
    pub memory: Option<i64>,
    /// `pids`.
    pub pids: Option<i64>,
}

/// A top-level network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Network {
    /// The engine's name: `name:`, else `<project>_<key>`; for external networks `name:` or the key.
    pub name: String,
    /// `driver`.
    pub driver: Option<String>,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// `ipam`.
    pub ipam: Option<NetworkIpam>,
    /// `internal`.
    pub internal: bool,
    /// `attachable`.
    pub attachable: bool,
    /// `enable_ipv6`.
    pub enable_ipv6: bool,
    /// `external`: not created or removed by compose.
    pub external: bool,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
}

/// `ipam` of a network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetworkIpam {
    /// `driver`.
    pub driver: Option<String>,
    /// `config`.
    pub config: Vec<IpamPool>,
}

/// One `ipam.config` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IpamPool {
    /// `subnet`.
    pub subnet: Option<String>,
    /// `ip_range`.
    pub ip_range: Option<String>,
    /// `gateway`.
    pub gateway: Option<String>,
}

/// A top-level volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Volume {
    /// The engine's name: `name:`, else `<project>_<key>`; for external volumes `name:` or the key.
    pub name: String,
    /// `driver`.
    pub driver: Option<String>,
    /// `driver_opts`.
    pub driver_opts: BTreeMap<String, String>,
    /// `external`.
    pub external: bool,
    /// `labels`.
    pub labels: BTreeMap<String, String>,
}

/// A top-level secret or config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileObject {
    /// `name:`, else `<project>_<key>`.
    pub name: String,
    /// `file`, absolute.
    pub file: Option<PathBuf>,
    /// `environment` (the value comes from this variable; not supported for mounting).
    pub environment: Option<String>,
    /// `content` (configs).
    pub content: Option<String>,
    /// `external`.
    pub external: bool,
}

/// A service's reference to a secret or config.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileRef {
    /// `source`: the key in top-level `secrets`/`configs`.
    pub source: String,
    /// `target` as written (`None`: the source's name).
    pub target: Option<String>,
    /// `uid`.
    pub uid: Option<String>,
    /// `gid`.
    pub gid: Option<String>,
    /// `mode`.
    pub mode: Option<u32>,
}
