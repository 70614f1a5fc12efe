//! `run`/`create` flags and their conversion to the API's `ContainerCreateBody`, following
//! docker's `cli/command/container/opts.go`. Pure: the environment lookup is passed in.

use std::collections::HashMap;

use berth_api::models::{
    ContainerCreateBody, DeviceMapping, EndpointSettings, HealthConfig, HostConfig, HostConfigCgroupnsModeEnum,
    HostConfigIsolationEnum, HostConfigLogConfig, Mount, MountBindOptions, MountBindOptionsPropagationEnum,
    MountImageOptions, MountTmpfsOptions, MountVolumeOptions, NetworkingConfig, PortBinding, ResourcesBlkioWeightDevice,
    ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum, ThrottleDevice,
};
use clap::Args;

use crate::format::humanize::parse_go_duration;
use crate::nat::{convert_to_standard_notation, parse_expose, parse_port_specs};
use crate::netopts::{
    parse_network_flag, parse_network_opts, validate_dns_search, validate_extra_host, validate_ip_address,
    validate_link, validate_mac, LegacyEndpointFlags,
};

/// Flags shared by `run` and `create`.
#[derive(Args, Debug, Clone, Default)]
pub struct ContainerOpts {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Assign a name to the container
    #[arg(long = "name", default_value = "")]
    pub name: String,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Container host name
    #[arg(short = 'h', long = "hostname")]
    pub hostname: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint")]
    pub entrypoint: Option<String>,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", default_value = "no")]
    pub restart: String,
    /// Command to run to check health
    #[arg(long = "health-cmd")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h)
    #[arg(long = "health-interval")]
    pub health_interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h)
    #[arg(long = "health-timeout")]
    pub health_timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries")]
    pub health_retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period")]
    pub health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h)
    #[arg(long = "health-start-interval")]
    pub health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init")]
    pub init: bool,
    /// Container NIS domain name
    #[arg(long = "domainname")]
    pub domainname: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", value_name = "network")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Container IPv4/IPv6 link-local addresses
    #[arg(long = "link-local-ip", value_name = "list")]
    pub link_local_ip: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Runtime to use for this container
    #[arg(long = "runtime")]
    pub runtime: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach")]
    pub attach: Vec<String>,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", default_value = "missing")]
    pub pull: String,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", env = "DOCKER_DEFAULT_PLATFORM", hide_env = true, default_value = "")]
    pub platform: String,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "string", default_value = "")]
    pub volume_driver: String,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Tune container memory swappiness (0 to 100)
    #[arg(long = "memory-swappiness", value_name = "int", allow_hyphen_values = true)]
    pub memory_swappiness: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", allow_hyphen_values = true)]
    pub oom_score_adj: Option<String>,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal", allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int", allow_hyphen_values = true)]
    pub cpu_shares: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// Limit CPU real-time period in microseconds
    #[arg(long = "cpu-rt-period", value_name = "int", allow_hyphen_values = true)]
    pub cpu_rt_period: Option<String>,
    /// Limit CPU real-time runtime in microseconds
    #[arg(long = "cpu-rt-runtime", value_name = "int", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string", default_value = "")]
    pub cpuset_cpus: String,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string", default_value = "")]
    pub cpuset_mems: String,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)
    #[arg(long = "blkio-weight", value_name = "uint16")]
    pub blkio_weight: Option<String>,
    /// Block IO weight (relative device weight)
    #[arg(long = "blkio-weight-device", value_name = "list")]
    pub blkio_weight_device: Vec<String>,
    /// Limit read rate (bytes per second) from a device
    #[arg(long = "device-read-bps", value_name = "list")]
    pub device_read_bps: Vec<String>,
    /// Limit write rate (bytes per second) to a device
    #[arg(long = "device-write-bps", value_name = "list")]
    pub device_write_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device
    #[arg(long = "device-read-iops", value_name = "list")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (IO per second) to a device
    #[arg(long = "device-write-iops", value_name = "list")]
    pub device_write_iops: Vec<String>,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule", value_name = "list")]
    pub device_cgroup_rule: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes", allow_hyphen_values = true)]
    pub shm_size: Option<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// User namespace to use
    #[arg(long = "userns", value_name = "string", default_value = "")]
    pub userns: String,
    /// Sysctl options
    #[arg(long = "sysctl", value_name = "map")]
    pub sysctl: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string", default_value = "")]
    pub ipc: String,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string", default_value = "")]
    pub pid: String,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string", default_value = "")]
    pub uts: String,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns", value_name = "string", default_value = "")]
    pub cgroupns: String,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "string", default_value = "")]
    pub cgroup_parent: String,
    /// Container isolation technology
    #[arg(long = "isolation", value_name = "string", default_value = "")]
    pub isolation: String,
    /// IMAGE [COMMAND] [ARG...]
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, value_name = "IMAGE")]
    pub args: Vec<String>,
}

/// The request `create` sends, plus what the caller needs to know about it.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// `--name`, if any.
    pub name: Option<String>,
    /// The body of `POST /containers/create`.
    pub body: ContainerCreateBody,
    /// The image reference as typed.
    pub image: String,
    /// The `--pull` policy.
    pub pull: PullPolicy,
}

/// The networking part of a create request.
struct NetworkRequest {
    network_mode: String,
    endpoints: HashMap<String, EndpointSettings>,
    exposed_ports: Vec<String>,
    port_bindings: HashMap<String, Vec<PortBinding>>,
    dns: Vec<String>,
    dns_search: Vec<String>,
    extra_hosts: Vec<String>,
}

/// `--pull`: without a registry only `missing` and `never` differ in their messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull before creating.
    Always,
    /// Pull if the image is not present (default).
    Missing,
    /// Never pull.
    Never,
}

/// Errors in the flags, reported before anything is sent (exit 125).
pub type OptsError = String;

impl ContainerOpts {
    /// Build the create request. `lookup_env` resolves `-e NAME` and env-file names without
    /// a value; `read_file` reads env files.
    pub fn to_request(
        &self,
        lookup_env: &dyn Fn(&str) -> Option<String>,
        read_file: &dyn Fn(&str) -> std::io::Result<String>,
    ) -> Result<CreateRequest, OptsError> {
        let image = self.args.first().cloned().ok_or("requires at least 1 argument")?;
        let cmd: Vec<String> = self.args[1..].to_vec();

        // Attach streams: -a picks them; otherwise stdout and stderr (and stdin with -i).
        let mut attach_stdin = false;
        let mut attach_stdout = false;
        let mut attach_stderr = false;
        for a in &self.attach {
            match a.to_lowercase().as_str() {
                "stdin" => attach_stdin = true,
                "stdout" => attach_stdout = true,
                "stderr" => attach_stderr = true,
                _ => return Err(format!("invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR")),
            }
        }
        if self.interactive {
            attach_stdin = true;
        }
        if self.attach.is_empty() {
            attach_stdout = true;
            attach_stderr = true;
        }

        let mut env = Vec::new();
        for file in &self.env_file {
            let text = read_file(file).map_err(|e| format!("open {file}: {}", io_message(&e)))?;
            env.extend(parse_env_file(file, &text, lookup_env)?);
        }
        for e in &self.env {
            env.push(validate_env(e, lookup_env)?);
        }

        let restart = parse_restart_policy(&self.restart)?;
        let restart_is_none = matches!(restart.name, None | Some(RestartPolicyNameEnum::NO) | Some(RestartPolicyNameEnum::EMPTY));
        if self.rm && !restart_is_none {
            return Err("Conflicting options: --restart and --rm".into());
        }

        let healthcheck = self.health_config()?;

        let log_config = parse_log_opts(self.log_driver.as_deref(), &self.log_opt)?;

        let entrypoint = match self.entrypoint.as_deref() {
            Some("") => Some(vec![String::new()]),
            Some(e) => Some(vec![e.to_string()]),
            None => None,
        };

        let pull = match self.pull.as_str() {
            "always" => PullPolicy::Always,
            "missing" => PullPolicy::Missing,
            "never" => PullPolicy::Never,
            other => return Err(format!("invalid pull option: '{other}': must be one of \"always\", \"missing\" or \"never\"")),
        };

        let net = self.network_request()?;

        let res = self.resource_request(read_file, &|| std::env::current_dir().ok())?;
        let labels = kv_map(&self.label);
        let mut host_config = HostConfig {
            auto_remove: Some(self.rm),
            restart_policy: Some(restart),
            log_config: Some(log_config),
            privileged: Some(self.privileged),
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
            readonly_rootfs: Some(self.read_only),
            init: self.init.then_some(true),
            network_mode: Some(net.network_mode),
            port_bindings: Some(net.port_bindings.into_iter().map(|(k, v)| (k, Some(v))).collect()),
            publish_all_ports: Some(self.publish_all),
            dns: Some(net.dns),
            dns_search: Some(net.dns_search),
            dns_options: Some(self.dns_option.clone()),
            extra_hosts: (!net.extra_hosts.is_empty()).then_some(net.extra_hosts),
            links: (!self.link.is_empty()).then(|| self.link.clone()),
            runtime: self.runtime.clone(),
            ..Default::default()
        };
        res.apply(&mut host_config);
        let body = ContainerCreateBody {
            hostname: self.hostname.clone(),
            domainname: self.domainname.clone(),
            exposed_ports: (!net.exposed_ports.is_empty()).then_some(net.exposed_ports),
            user: self.user.clone(),
            attach_stdin: Some(attach_stdin),
            attach_stdout: Some(attach_stdout),
            attach_stderr: Some(attach_stderr),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(false),
            env: Some(env),
            cmd: (!cmd.is_empty()).then_some(cmd),
            healthcheck,
            image: Some(image.clone()),
            working_dir: self.workdir.clone(),
            entrypoint,
            labels: Some(labels),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            volumes: Some(res.volumes.clone()),
            host_config: Some(host_config),
            networking_config: Some(NetworkingConfig { endpoints_config: Some(net.endpoints) }),
            ..Default::default()
        };
        let name = (!self.name.is_empty()).then(|| self.name.clone());
        Ok(CreateRequest { name, body, image, pull })
    }

    /// Ports, DNS, hosts and network attachments, validated and converted as docker's
    /// `parse` does (flag validators first, then `-p`, `--expose` and `parseNetworkOpts`).
    fn network_request(&self) -> Result<NetworkRequest, OptsError> {
        fn each(flag: &str, values: &[String], check: fn(&str) -> Result<String, String>) -> Result<Vec<String>, OptsError> {
            values
                .iter()
                .map(|v| check(v).map_err(|e| format!("invalid argument \"{v}\" for \"{flag}\" flag: {e}")))
                .collect()
        }
        let networks = self
            .network
            .iter()
            .map(|v| parse_network_flag(v).map_err(|e| format!("invalid argument \"{v}\" for \"--network\" flag: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let dns = each("--dns", &self.dns, validate_ip_address)?;
        let dns_search = each("--dns-search", &self.dns_search, validate_dns_search)?;
        let extra_hosts = each("--add-host", &self.add_host, validate_extra_host)?;
        each("--link", &self.link, validate_link)?;
        let mac = self.mac_address.clone().unwrap_or_default();
        if !mac.is_empty() && validate_mac(&mac).is_err() {
            return Err(format!("{mac} is not a valid mac address"));
        }

        let specs = convert_to_standard_notation(&self.publish)?;
        let (mut exposed_ports, port_bindings) = parse_port_specs(&specs)?;
        for e in &self.expose {
            for p in parse_expose(e)? {
                if !exposed_ports.contains(&p) {
                    exposed_ports.push(p);
                }
            }
        }

        let legacy = LegacyEndpointFlags {
            aliases: self.network_alias.clone(),
            links: self.link.clone(),
            ipv4_address: self.ip.clone().unwrap_or_default(),
            ipv6_address: self.ip6.clone().unwrap_or_default(),
            mac_address: mac,
            link_local_ips: self.link_local_ip.clone(),
        };
        let endpoints = parse_network_opts(&networks, &legacy)?;
        let network_mode = networks.first().map(|n| n.target.clone()).unwrap_or_else(|| "default".to_string());
        Ok(NetworkRequest { network_mode, endpoints, exposed_ports, port_bindings, dns, dns_search, extra_hosts })
    }

    fn health_config(&self) -> Result<Option<HealthConfig>, OptsError> {
        let dur = |flag: &str, v: &Option<String>| -> Result<i64, OptsError> {
            match v {
                None => Ok(0),
                Some(s) => {
                    let ns = parse_go_duration(s)
                        .map_err(|e| format!("invalid argument \"{s}\" for \"--{flag}\" flag: {e}"))?;
                    if ns < 0 {
                        return Err(format!("--{flag} cannot be negative"));
                    }
                    Ok(ns)
                }
            }
        };
        let interval = dur("health-interval", &self.health_interval)?;
        let timeout = dur("health-timeout", &self.health_timeout)?;
        let start_period = dur("health-start-period", &self.health_start_period)?;
        let start_interval = dur("health-start-interval", &self.health_start_interval)?;
        let retries = self.health_retries.unwrap_or(0);
        if retries < 0 {
            return Err("--health-retries cannot be negative".into());
        }
        let cmd = self.health_cmd.clone().unwrap_or_default();
        let have = !cmd.is_empty() || interval != 0 || timeout != 0 || start_period != 0 || retries != 0 || start_interval != 0;
        if self.no_healthcheck {
            if have {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            return Ok(Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }));
        }
        if !have {
            return Ok(None);
        }
        let test = (!cmd.is_empty()).then(|| vec!["CMD-SHELL".to_string(), cmd]);
        Ok(Some(HealthConfig {
            test,
            interval: Some(interval),
            timeout: Some(timeout),
            retries: Some(retries),
            start_period: Some(start_period),
            start_interval: Some(start_interval),
        }))
    }
}

fn io_message(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// docker's `ValidateEnv`: `NAME=value` as is; a bare `NAME` takes the local value if set.
pub fn validate_env(e: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, OptsError> {
    let (k, has_value) = match e.split_once('=') {
        Some((k, _)) => (k, true),
        None => (e, false),
    };
    if k.is_empty() {
        return Err(format!("invalid environment variable: {e}"));
    }
    if has_value {
        return Ok(e.to_string());
    }
    Ok(match lookup(k) {
        Some(v) => format!("{k}={v}"),
        None => e.to_string(),
    })
}

/// docker's env-file format: one `NAME=value` per line (value verbatim), `#` comments,
/// leading whitespace ignored, a bare `NAME` taken from the local environment if set.
pub fn parse_env_file(
    filename: &str,
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, OptsError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let raw = if i == 0 { raw.strip_prefix('\u{feff}').unwrap_or(raw) } else { raw };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (var, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let var = var.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
        if var.contains([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']) {
            return Err(format!("variable '{var}' contains whitespaces"));
        }
        if var.is_empty() {
            return Err(format!("no variable name on line '{line}'"));
        }
        match value {
            Some(v) => out.push(format!("{var}={v}")),
            None => {
                if let Some(v) = lookup(line) {
                    out.push(format!("{}={v}", var.trim()));
                }
            }
        }
        let _ = filename;
    }
    Ok(out)
}

/// docker's `ParseRestartPolicy`: `no`, `always`, `unless-stopped`, `on-failure[:N]`.
pub fn parse_restart_policy(policy: &str) -> Result<RestartPolicy, OptsError> {
    if policy.is_empty() {
        return Ok(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None });
    }
    let (name, count) = match policy.split_once(':') {
        Some(("", _)) => return Err("invalid restart policy format: no policy provided before colon".into()),
        Some((n, c)) => (n, Some(c)),
        None => (policy, None),
    };
    let count = match count {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<i64>()
                .map_err(|_| "invalid restart policy format: maximum retry count must be an integer".to_string())?,
        ),
    };
    let name = match name {
        "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => {
            return Err(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            ))
        }
    };
    if count.is_some() && name != RestartPolicyNameEnum::ON_FAILURE {
        return Err("invalid restart policy: maximum retry count can only be used with 'on-failure'".to_string());
    }
    if count.is_some_and(|c| c < 0) {
        return Err("invalid restart policy: maximum retry count cannot be negative".into());
    }
    Ok(RestartPolicy { name: Some(name), maximum_retry_count: count })
}

/// `--log-driver` and `--log-opt k=v` into a log config.
pub fn parse_log_opts(driver: Option<&str>, opts: &[String]) -> Result<HostConfigLogConfig, OptsError> {
    let config = kv_map(opts);
    if driver == Some("none") && !config.is_empty() {
        return Err("invalid logging opts for driver none".into());
    }
    Ok(HostConfigLogConfig {
        typ: Some(driver.unwrap_or("").to_string()),
        config: (!config.is_empty()).then_some(config),
    })
}

/// docker's `ConvertKVStringsToMap`: `k=v` pairs, a bare `k` maps to "".
pub fn kv_map(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Storage, resource and security flags (docker's `parse` in opts.go and the flag types it uses:
// MemBytes, NanoCPUs, UlimitOpt, MountOpt, ThrottledeviceOpt, WeightdeviceOpt, ...)
// ---------------------------------------------------------------------------------------------

/// The storage, resource and security part of a create request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceRequest {
    /// `Config.Volumes`: anonymous volumes from `-v /path`.
    pub volumes: Vec<String>,
    /// Every `HostConfig` field these flags set, as docker sends it.
    pub host_config: HostConfig,
}

impl ResourceRequest {
    /// Copy the fields these flags own into `hc`.
    fn apply(&self, hc: &mut HostConfig) {
        let r = self.host_config.clone();
        hc.binds = r.binds;
        hc.mounts = r.mounts;
        hc.tmpfs = r.tmpfs;
        hc.volumes_from = r.volumes_from;
        hc.volume_driver = r.volume_driver;
        hc.memory = r.memory;
        hc.memory_swap = r.memory_swap;
        hc.memory_reservation = r.memory_reservation;
        hc.memory_swappiness = r.memory_swappiness;
        hc.oom_kill_disable = r.oom_kill_disable;
        hc.oom_score_adj = r.oom_score_adj;
        hc.nano_cpus = r.nano_cpus;
        hc.cpu_shares = r.cpu_shares;
        hc.cpu_quota = r.cpu_quota;
        hc.cpu_period = r.cpu_period;
        hc.cpu_realtime_period = r.cpu_realtime_period;
        hc.cpu_realtime_runtime = r.cpu_realtime_runtime;
        hc.cpuset_cpus = r.cpuset_cpus;
        hc.cpuset_mems = r.cpuset_mems;
        hc.pids_limit = r.pids_limit;
        hc.blkio_weight = r.blkio_weight;
        hc.blkio_weight_device = r.blkio_weight_device;
        hc.blkio_device_read_bps = r.blkio_device_read_bps;
        hc.blkio_device_write_bps = r.blkio_device_write_bps;
        hc.blkio_device_read_iops = r.blkio_device_read_iops;
        hc.blkio_device_write_iops = r.blkio_device_write_iops;
        hc.ulimits = r.ulimits;
        hc.devices = r.devices;
        hc.device_cgroup_rules = r.device_cgroup_rules;
        hc.shm_size = r.shm_size;
        hc.security_opt = r.security_opt;
        hc.masked_paths = r.masked_paths;
        hc.readonly_paths = r.readonly_paths;
        hc.userns_mode = r.userns_mode;
        hc.sysctls = r.sysctls;
        hc.group_add = r.group_add;
        hc.ipc_mode = r.ipc_mode;
        hc.pid_mode = r.pid_mode;
        hc.uts_mode = r.uts_mode;
        hc.cgroupns_mode = r.cgroupns_mode;
        hc.cgroup_parent = r.cgroup_parent;
        hc.isolation = r.isolation;
        hc.cpu_count = r.cpu_count;
        hc.cpu_percent = r.cpu_percent;
        hc.io_maximum_iops = r.io_maximum_iops;
        hc.io_maximum_bandwidth = r.io_maximum_bandwidth;
    }
}

/// pflag's message for a value its type rejects.
fn flag_err(flag: &str, v: &str, msg: impl std::fmt::Display) -> OptsError {
    format!("invalid argument \"{v}\" for \"{flag}\" flag: {msg}")
}

/// Go's `strconv.ParseInt(s, 0, 64)` with its error text.
pub fn go_parse_int(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.ParseInt: parsing {s:?}: invalid syntax");
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, h.to_string())
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, b.to_string())
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, o.to_string())
    } else if body.len() > 1 && body.starts_with('0') {
        (8, body[1..].to_string())
    } else {
        (10, body.clone())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return Err(syntax());
    }
    let v = i128::from_str_radix(&digits, radix).map_err(|_| syntax())?;
    let v = if neg { -v } else { v };
    i64::try_from(v).map_err(|_| format!("strconv.ParseInt: parsing {s:?}: value out of range"))
}

/// Go's `strconv.ParseUint(s, 0, bits)` with its error text.
fn go_parse_uint(s: &str, bits: u32) -> Result<u64, String> {
    if s.starts_with('-') || s.starts_with('+') {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    let v = go_parse_int(s).map_err(|e| e.replace("ParseInt", "ParseUint"))?;
    if bits < 64 && (v as u64) >= (1u64 << bits) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: value out of range"));
    }
    Ok(v as u64)
}

/// go-units' `RAMInBytes` (`parseSize` with binary multiples): a float, an optional space,
/// and an optional suffix `b`, `k`, `kb`, `kib`, ... `p`, `pb`, `pib` (any case).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let Some(sep) = s.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ') else {
        return Err(format!("invalid size: '{s}'"));
    };
    let (num, sfx) = if s.as_bytes()[sep] != b' ' { (&s[..=sep], &s[sep + 1..]) } else { (&s[..sep], &s[sep + 1..]) };
    let lower = num.to_ascii_lowercase();
    let is_word = lower.contains("inf") || lower.contains("nan");
    let size: f64 = match num.parse::<f64>() {
        Ok(v) if !is_word => v,
        _ => return Err(format!("strconv.ParseFloat: parsing {num:?}: invalid syntax")),
    };
    if size < 0.0 {
        return Err(format!("invalid size: '{s}'"));
    }
    if sfx.is_empty() {
        return Ok(size as i64);
    }
    let bad = |x: &str| Err(format!("invalid suffix: '{x}'"));
    if sfx.len() > 3 {
        return bad(sfx);
    }
    let sfx = sfx.to_lowercase();
    let b = sfx.as_bytes();
    if b[0] == b'b' {
        return if sfx.len() > 1 { bad(&sfx) } else { Ok(size as i64) };
    }
    let Some(exp) = "kmgtp".find(b[0] as char) else { return bad(&sfx) };
    if (sfx.len() == 2 && b[1] != b'b') || (sfx.len() == 3 && &sfx[1..] != "ib") {
        return bad(&sfx);
    }
    Ok((size * (1u64 << (10 * (exp as u32 + 1))) as f64) as i64)
}

/// docker's `MemBytes`: a size, never negative.
fn mem_bytes(flag: &str, v: &Option<String>) -> Result<i64, OptsError> {
    match v {
        None => Ok(0),
        Some(s) => ram_in_bytes(s).map_err(|e| flag_err(flag, s, e)),
    }
}

/// docker's `MemSwapBytes`: a size, or `-1` for unlimited.
fn mem_swap_bytes(flag: &str, v: &Option<String>) -> Result<i64, OptsError> {
    match v.as_deref() {
        None => Ok(0),
        Some("-1") => Ok(-1),
        Some(s) => ram_in_bytes(s).map_err(|e| flag_err(flag, s, e)),
    }
}

fn int_flag(flag: &str, v: &Option<String>, default: i64) -> Result<i64, OptsError> {
    match v {
        None => Ok(default),
        Some(s) => go_parse_int(s).map_err(|e| flag_err(flag, s, e)),
    }
}

/// docker's `NanoCPUs`: a rational number of CPUs, in billionths (exact, as `big.Rat`).
pub fn parse_nano_cpus(s: &str) -> Result<i64, String> {
    let bad = || format!("failed to parse {s} as a rational number");
    // num/den as i128, from "a/b", "1.5", "-2", "1e3", "2.5E-1".
    let (num, den): (i128, i128) = if let Some((a, b)) = s.split_once('/') {
        let a: i128 = a.parse().map_err(|_| bad())?;
        let b: i128 = b.parse().map_err(|_| bad())?;
        if b == 0 {
            return Err(bad());
        }
        (a, b)
    } else {
        let (mant, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| bad())?),
            None => (s, 0),
        };
        let (neg, mant) = match mant.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, mant.strip_prefix('+').unwrap_or(mant)),
        };
        let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
        if (int.is_empty() && frac.is_empty()) || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let digits = format!("{int}{frac}");
        let mut num: i128 = digits.parse().map_err(|_| bad())?;
        let mut scale = frac.len() as i32 - exp;
        while scale < 0 {
            num = num.checked_mul(10).ok_or_else(bad)?;
            scale += 1;
        }
        let den = 10i128.checked_pow(scale as u32).ok_or_else(bad)?;
        (if neg { -num } else { num }, den)
    };
    let nano = num.checked_mul(1_000_000_000).ok_or_else(bad)?;
    if nano % den != 0 {
        return Err("value is too precise".into());
    }
    i64::try_from(nano / den).map_err(|_| bad())
}

/// The `--ulimit` names docker knows.
const ULIMIT_NAMES: &[&str] = &[
    "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
    "rttime", "sigpending", "stack",
];

/// go-units' `ParseUlimit`: `name=soft[:hard]`.
pub fn parse_ulimit(v: &str) -> Result<ResourcesUlimits, String> {
    let (name, limits) = v.split_once('=').ok_or_else(|| format!("invalid ulimit argument: {v}"))?;
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parts: Vec<&str> = limits.splitn(3, ':').collect();
    if parts.len() > 2 {
        return Err(format!("too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"));
    }
    let soft = go_parse_int(parts[0])?;
    let hard = match parts.get(1) {
        Some(h) => go_parse_int(h)?,
        None => soft,
    };
    if soft > hard {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
    }
    Ok(ResourcesUlimits { name: Some(name.into()), soft: Some(soft), hard: Some(hard) })
}

/// `--blkio-weight-device /dev/sda:200`.
pub fn parse_weight_device(v: &str) -> Result<ResourcesBlkioWeightDevice, String> {
    let (path, w) = v.split_once(':').ok_or_else(|| format!("bad format: {v}"))?;
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {v}"));
    }
    let weight = go_parse_uint(w, 16).map_err(|_| format!("invalid weight for device: {v}"))?;
    if weight > 0 && !(10..=1000).contains(&weight) {
        return Err(format!("invalid weight for device: {v}"));
    }
    Ok(ResourcesBlkioWeightDevice { path: Some(path.into()), weight: Some(weight as usize) })
}

/// `--device-read-bps /dev/sda:1mb` (`bytes`) or `--device-read-iops /dev/sda:100`.
pub fn parse_throttle_device(v: &str, bytes: bool) -> Result<ThrottleDevice, String> {
    let (path, r) = v.split_once(':').ok_or_else(|| format!("bad format: {v}"))?;
    if !path.starts_with("/dev/") {
        return Err(format!("bad format for device path: {v}"));
    }
    let rate = if bytes {
        ram_in_bytes(r).ok().filter(|r| *r >= 0).ok_or_else(|| format!("invalid rate for device: {v}. The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"))?
    } else {
        go_parse_uint(r, 64).ok().and_then(|r| i64::try_from(r).ok()).ok_or_else(|| format!("invalid rate for device: {v}. The correct format is <device-path>:<number>. Number must be a positive integer"))?
    };
    Ok(ThrottleDevice { path: Some(path.into()), rate: Some(rate) })
}

/// docker's `validDeviceMode`: 1-3 of `rwm`, no repeats.
fn valid_device_mode(mode: &str) -> bool {
    !mode.is_empty()
        && mode.len() <= 3
        && mode.chars().all(|c| matches!(c, 'r' | 'w' | 'm'))
        && !mode.chars().enumerate().any(|(i, c)| mode[i + 1..].contains(c))
}

/// `--device HOST[:CONTAINER][:PERMS]` (docker's `validateDevice` then `parseDevice`).
pub fn parse_device(v: &str) -> Result<DeviceMapping, String> {
    if v.matches(':').count() > 2 {
        return Err(format!("bad format for path: {v}"));
    }
    let split: Vec<&str> = v.splitn(3, ':').collect();
    if split[0].is_empty() {
        return Err(format!("bad format for path: {v}"));
    }
    let (host, container, perms) = match split.as_slice() {
        [h] => (crate::commands::cp::clean(h), crate::commands::cp::clean(h), "rwm".to_string()),
        [h, x] if valid_device_mode(x) => (crate::commands::cp::clean(h), crate::commands::cp::clean(h), x.to_string()),
        [h, c] => (h.to_string(), crate::commands::cp::clean(c), "rwm".to_string()),
        [h, c, mode] => {
            if !valid_device_mode(mode) {
                return Err(format!("bad mode specified: {mode}"));
            }
            (h.to_string(), c.to_string(), mode.to_string())
        }
        _ => return Err(format!("invalid device specification: {v}")),
    };
    if !container.starts_with('/') {
        return Err(format!("{container} is not an absolute path"));
    }
    Ok(DeviceMapping { path_on_host: Some(host), path_in_container: Some(container), cgroup_permissions: Some(perms) })
}

/// docker's `ValidateSysctl`: namespaced sysctls only.
pub fn validate_sysctl(v: &str) -> Result<(String, String), String> {
    const NAMES: &[&str] = &[
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let not_allowed = || format!("sysctl '{v}' is not allowed");
    let (k, val) = v.split_once('=').ok_or_else(not_allowed)?;
    if k.is_empty() {
        return Err(not_allowed());
    }
    if NAMES.contains(&k) || k.starts_with("net.") || k.starts_with("fs.mqueue.") {
        return Ok((k.to_string(), val.to_string()));
    }
    Err(not_allowed())
}

/// docker's device cgroup rule check: `TYPE MAJOR:MINOR ACCESS`.
fn validate_device_cgroup_rule(v: &str) -> Result<String, String> {
    let bad = || format!("invalid device cgroup format '{v}'");
    let parts: Vec<&str> = v.split(' ').collect();
    let [t, nums, access] = parts.as_slice() else { return Err(bad()) };
    let num_ok = |s: &str| s == "*" || (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
    let (maj, min) = nums.split_once(':').ok_or_else(bad)?;
    if !matches!(*t, "a" | "b" | "c")
        || !num_ok(maj)
        || !num_ok(min)
        || access.is_empty()
        || access.len() > 3
        || !access.bytes().all(|b| matches!(b, b'r' | b'w' | b'm'))
    {
        return Err(bad());
    }
    Ok(v.to_string())
}

/// Go's `json.Compact`: whitespace outside strings removed, everything else kept.
pub fn json_compact(text: &str) -> Result<String, String> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|e| e.to_string())?;
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut esc) = (false, false);
    for c in text.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    Ok(out)
}

/// docker's `parseSecurityOpts` (a seccomp profile file is sent as its compacted JSON) and
/// `parseSystemPaths` (`systempaths=unconfined` empties the masked and read-only paths).
#[allow(clippy::type_complexity)]
pub fn parse_security_opts(
    opts: &[String],
    read_file: &dyn Fn(&str) -> std::io::Result<String>,
) -> Result<(Vec<String>, Option<Vec<String>>, Option<Vec<String>>), OptsError> {
    let mut out = Vec::new();
    let (mut masked, mut readonly) = (None, None);
    for opt in opts {
        let (mut k, mut v, mut ok) = match opt.split_once('=') {
            Some((k, v)) => (k, v, true),
            None => (opt.as_str(), "", false),
        };
        if !ok && k != "no-new-privileges" {
            if let Some((k2, v2)) = opt.split_once(':') {
                (k, v, ok) = (k2, v2, true);
            }
        }
        if (!ok || v.is_empty()) && k != "no-new-privileges" {
            return Err(format!("Invalid --security-opt: {opt:?}"));
        }
        if opt == "systempaths=unconfined" {
            masked = Some(Vec::new());
            readonly = Some(Vec::new());
            continue;
        }
        if k == "seccomp" && v != "builtin" && v != "unconfined" {
            let text = read_file(v).map_err(|e| format!("opening seccomp profile ({v}) failed: open {v}: {}", io_message(&e)))?;
            let compact = json_compact(&text).map_err(|e| format!("compacting json for seccomp profile ({v}) failed: {e}"))?;
            out.push(format!("seccomp={compact}"));
            continue;
        }
        out.push(opt.clone());
    }
    Ok((out, masked, readonly))
}

/// What one `-v` spec is (the compose loader's `ParseVolume`, Linux rules).
#[derive(Debug, Clone, PartialEq, Eq)]
struct VolumeSpec {
    source: String,
    target: String,
}

fn parse_volume_spec(spec: &str) -> Result<VolumeSpec, String> {
    let mut v = VolumeSpec { source: String::new(), target: String::new() };
    match spec.len() {
        0 => return Err("invalid empty volume spec".into()),
        1 | 2 => {
            v.target = spec.into();
            return Ok(v);
        }
        _ => {}
    }
    let fields: Vec<&str> = spec.split(':').collect();
    let n = fields.len();
    for (i, f) in fields.iter().enumerate() {
        let last = i + 1 == n;
        if f.is_empty() {
            return Err(format!("invalid spec: {spec}: empty section between colons"));
        }
        if v.source.is_empty() && last {
            v.target = f.to_string();
        } else if v.source.is_empty() {
            v.source = f.to_string();
        } else if v.target.is_empty() {
            v.target = f.to_string();
        } else if !last {
            return Err(format!("invalid spec: {spec}: too many colons"));
        }
    }
    Ok(v)
}

/// Docker's CSV field splitting for `--mount` (Go's `encoding/csv`: quotes protect commas).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ',' => {
                out.push(std::mem::take(&mut cur));
                at_start = true;
            }
            c => {
                cur.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err("extraneous or missing \" in quoted-field".into());
    }
    out.push(cur);
    Ok(out)
}

fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `./x` or `.` made absolute against `cwd`, as docker does for bind sources.
fn absolutize(p: &str, cwd: &dyn Fn() -> Option<std::path::PathBuf>) -> String {
    match cwd() {
        Some(d) => crate::commands::cp::clean(&d.join(p).to_string_lossy()),
        None => p.to_string(),
    }
}

/// docker's `MountOpt.Set`: one `--mount` value.
pub fn parse_mount(value: &str, cwd: &dyn Fn() -> Option<std::path::PathBuf>) -> Result<Mount, String> {
    let fields = csv_fields(value)?;
    let mut typ = "volume".to_string();
    let mut mnt = Mount::default();
    let mut vol: Option<MountVolumeOptions> = None;
    let mut bind: Option<MountBindOptions> = None;
    let mut tmpfs: Option<MountTmpfsOptions> = None;
    let mut image: Option<MountImageOptions> = None;
    fn vol_opts(v: &mut Option<MountVolumeOptions>) -> &mut MountVolumeOptions {
        v.get_or_insert_with(|| MountVolumeOptions { driver_config: Some(Default::default()), ..Default::default() })
    }
    let set_kv = |map: &mut Option<HashMap<String, String>>, val: &str| {
        let (k, v) = val.split_once('=').unwrap_or((val, ""));
        map.get_or_insert_with(HashMap::new).insert(k.to_string(), v.to_string());
    };
    for field in &fields {
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => mnt.read_only = Some(true),
                "volume-nocopy" => vol_opts(&mut vol).no_copy = Some(true),
                "bind-nonrecursive" => bind.get_or_insert_with(Default::default).non_recursive = Some(true),
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let invalid = || format!("invalid value for {key}: {val}");
        match key.as_str() {
            "type" => typ = val.to_lowercase(),
            "source" | "src" => {
                mnt.source = Some(if val == "." || val.starts_with("./") { absolutize(val, cwd) } else { val.to_string() })
            }
            "target" | "dst" | "destination" => mnt.target = Some(val.to_string()),
            "readonly" | "ro" => mnt.read_only = Some(go_parse_bool(val).ok_or_else(invalid)?),
            "consistency" => mnt.consistency = Some(val.to_lowercase()),
            "bind-propagation" => {
                let p = serde_json::from_value(serde_json::Value::String(val.to_lowercase())).map_err(|_| invalid())?;
                bind.get_or_insert_with(Default::default).propagation = Some(p);
            }
            "bind-nonrecursive" => {
                bind.get_or_insert_with(Default::default).non_recursive = Some(go_parse_bool(val).ok_or_else(invalid)?)
            }
            "bind-recursive" => {
                let b = bind.get_or_insert_with(Default::default);
                match val {
                    "enabled" => {}
                    "disabled" => b.non_recursive = Some(true),
                    "writable" => b.read_only_non_recursive = Some(true),
                    "readonly" => b.read_only_force_recursive = Some(true),
                    _ => {
                        return Err(format!(
                            "invalid value for {key}: {val} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"
                        ))
                    }
                }
            }
            "volume-subpath" => vol_opts(&mut vol).subpath = Some(val.to_string()),
            "volume-nocopy" => vol_opts(&mut vol).no_copy = Some(go_parse_bool(val).ok_or_else(invalid)?),
            "volume-label" => set_kv(&mut vol_opts(&mut vol).labels, val),
            "volume-driver" => {
                if let Some(d) = vol_opts(&mut vol).driver_config.as_mut() {
                    d.name = Some(val.to_string());
                }
            }
            "volume-opt" => {
                if let Some(d) = vol_opts(&mut vol).driver_config.as_mut() {
                    set_kv(&mut d.options, val);
                }
            }
            "image-subpath" => image.get_or_insert_with(Default::default).subpath = Some(val.to_string()),
            "tmpfs-size" => {
                tmpfs.get_or_insert_with(Default::default).size_bytes = Some(ram_in_bytes(val).map_err(|_| invalid())?)
            }
            "tmpfs-mode" => {
                let mode = u32::from_str_radix(val, 8).map_err(|_| invalid())?;
                tmpfs.get_or_insert_with(Default::default).mode = Some(mode as i64);
            }
            _ => return Err(format!("unexpected key '{key}' in '{field}'")),
        }
    }
    if typ.is_empty() {
        return Err("type is required".into());
    }
    if mnt.target.as_deref().unwrap_or("").is_empty() {
        return Err("target is required".into());
    }
    let mix = |what: &str| Err(format!("cannot mix '{what}-*' options with mount type '{typ}'"));
    if vol.is_some() && typ != "volume" {
        return mix("volume");
    }
    if image.is_some() && typ != "image" {
        return mix("image");
    }
    if bind.is_some() && typ != "bind" {
        return mix("bind");
    }
    if tmpfs.is_some() && typ != "tmpfs" {
        return mix("tmpfs");
    }
    if let Some(b) = &bind {
        let ro = mnt.read_only == Some(true);
        if b.read_only_non_recursive == Some(true) && !ro {
            return Err("option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction".into());
        }
        if b.read_only_force_recursive == Some(true) {
            if !ro {
                return Err("option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction".into());
            }
            if b.propagation != Some(MountBindOptionsPropagationEnum::RPRIVATE) {
                return Err("option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction".into());
            }
        }
    }
    mnt.typ = Some(
        serde_json::from_value(serde_json::Value::String(typ.clone()))
            .map_err(|_| format!("invalid mount config for type \"{typ}\": mount type unknown"))?,
    );
    if mnt.read_only == Some(false) {
        mnt.read_only = None;
    }
    mnt.volume_options = vol;
    mnt.bind_options = bind;
    mnt.tmpfs_options = tmpfs;
    mnt.image_options = image;
    Ok(mnt)
}

impl ContainerOpts {
    /// Volumes, mounts, resource limits, devices and security options, validated and
    /// converted as docker's flag types and `parse` do. `cwd` makes `./` bind sources absolute.
    pub fn resource_request(
        &self,
        read_file: &dyn Fn(&str) -> std::io::Result<String>,
        cwd: &dyn Fn() -> Option<std::path::PathBuf>,
    ) -> Result<ResourceRequest, OptsError> {
        // Flag values first (pflag rejects them while parsing).
        let memory = mem_bytes("-m, --memory", &self.memory)?;
        let memory_swap = mem_swap_bytes("--memory-swap", &self.memory_swap)?;
        let memory_reservation = mem_bytes("--memory-reservation", &self.memory_reservation)?;
        let shm_size = mem_bytes("--shm-size", &self.shm_size)?;
        let swappiness = int_flag("--memory-swappiness", &self.memory_swappiness, -1)?;
        let oom_score_adj = int_flag("--oom-score-adj", &self.oom_score_adj, 0)?;
        let cpu_shares = int_flag("-c, --cpu-shares", &self.cpu_shares, 0)?;
        let cpu_quota = int_flag("--cpu-quota", &self.cpu_quota, 0)?;
        let cpu_period = int_flag("--cpu-period", &self.cpu_period, 0)?;
        let cpu_rt_period = int_flag("--cpu-rt-period", &self.cpu_rt_period, 0)?;
        let cpu_rt_runtime = int_flag("--cpu-rt-runtime", &self.cpu_rt_runtime, 0)?;
        let pids_limit = int_flag("--pids-limit", &self.pids_limit, 0)?;
        let nano_cpus = match &self.cpus {
            None => 0,
            Some(s) => parse_nano_cpus(s).map_err(|e| flag_err("--cpus", s, e))?,
        };
        let blkio_weight = match &self.blkio_weight {
            None => 0,
            Some(s) => go_parse_uint(s, 16).map_err(|e| flag_err("--blkio-weight", s, e))? as u16,
        };
        let each = |flag: &str, vals: &[String], f: &dyn Fn(&str) -> Result<ThrottleDevice, String>| {
            vals.iter().map(|v| f(v).map_err(|e| flag_err(flag, v, e))).collect::<Result<Vec<_>, _>>()
        };
        let weight_devices = self
            .blkio_weight_device
            .iter()
            .map(|v| parse_weight_device(v).map_err(|e| flag_err("--blkio-weight-device", v, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let read_bps = each("--device-read-bps", &self.device_read_bps, &|v| parse_throttle_device(v, true))?;
        let write_bps = each("--device-write-bps", &self.device_write_bps, &|v| parse_throttle_device(v, true))?;
        let read_iops = each("--device-read-iops", &self.device_read_iops, &|v| parse_throttle_device(v, false))?;
        let write_iops = each("--device-write-iops", &self.device_write_iops, &|v| parse_throttle_device(v, false))?;
        // UlimitOpt: a map by name (the last one wins), listed sorted.
        let mut ulimits: std::collections::BTreeMap<String, ResourcesUlimits> = Default::default();
        for v in &self.ulimit {
            let u = parse_ulimit(v).map_err(|e| flag_err("--ulimit", v, e))?;
            ulimits.insert(u.name.clone().unwrap_or_default(), u);
        }
        let mut sysctls = HashMap::new();
        for v in &self.sysctl {
            let (k, val) = validate_sysctl(v).map_err(|e| flag_err("--sysctl", v, e))?;
            sysctls.insert(k, val);
        }
        let rules = self
            .device_cgroup_rule
            .iter()
            .map(|v| validate_device_cgroup_rule(v).map_err(|e| flag_err("--device-cgroup-rule", v, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let mounts = self
            .mount
            .iter()
            .map(|v| parse_mount(v, cwd).map_err(|e| flag_err("--mount", v, e)))
            .collect::<Result<Vec<_>, _>>()?;

        // Then docker's `parse`.
        if swappiness != -1 && !(0..=100).contains(&swappiness) {
            return Err(format!("invalid value: {swappiness}. Valid memory swappiness range is 0-100"));
        }
        let mut binds: Vec<String> = Vec::new();
        let mut volumes: Vec<String> = Vec::new();
        for spec in &self.volume {
            let parsed = parse_volume_spec(spec)?;
            if parsed.source.is_empty() {
                if !volumes.contains(spec) {
                    volumes.push(spec.clone());
                }
                continue;
            }
            let mut bind = spec.clone();
            let is_path = parsed.source.starts_with(['.', '/', '~']);
            if is_path {
                if let Some((host, rest)) = spec.split_once(':') {
                    if host.starts_with('.') {
                        bind = format!("{}:{rest}", absolutize(host, cwd));
                    }
                }
            }
            if !binds.contains(&bind) {
                binds.push(bind);
            }
        }
        let mut tmpfs = HashMap::new();
        for t in &self.tmpfs {
            let (k, v) = t.split_once(':').unwrap_or((t.as_str(), ""));
            tmpfs.insert(k.to_string(), v.to_string());
        }
        let devices = self.device.iter().map(|d| parse_device(d)).collect::<Result<Vec<_>, _>>()?;
        let valid_container_mode = |m: &str, extra: &[&str]| {
            m.is_empty() || m == "host" || extra.contains(&m) || m.strip_prefix("container:").is_some_and(|c| !c.is_empty())
        };
        if !valid_container_mode(&self.pid, &[]) {
            return Err("--pid: invalid PID mode".into());
        }
        if !(self.uts.is_empty() || self.uts == "host") {
            return Err("--uts: invalid UTS mode".into());
        }
        if !(self.userns.is_empty() || self.userns == "host" || self.userns == "private") {
            return Err("--userns: invalid USER mode".into());
        }
        let cgroupns = match self.cgroupns.as_str() {
            "" => HostConfigCgroupnsModeEnum::EMPTY,
            "host" => HostConfigCgroupnsModeEnum::HOST,
            "private" => HostConfigCgroupnsModeEnum::PRIVATE,
            _ => return Err("--cgroupns: invalid CGROUP mode".into()),
        };
        let (security_opt, masked_paths, readonly_paths) = parse_security_opts(&self.security_opt, read_file)?;
        let isolation = match self.isolation.as_str() {
            "" => None,
            "default" => Some(HostConfigIsolationEnum::DEFAULT),
            "process" => Some(HostConfigIsolationEnum::PROCESS),
            "hyperv" => Some(HostConfigIsolationEnum::HYPERV),
            other => return Err(format!("Invalid isolation: {other:?} - linux only supports 'default'")),
        };
        let some_vec = |v: Vec<String>| (!v.is_empty()).then_some(v);
        let host_config = HostConfig {
            binds: some_vec(binds),
            mounts: (!mounts.is_empty()).then_some(mounts),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            volumes_from: some_vec(self.volumes_from.clone()),
            volume_driver: Some(self.volume_driver.clone()),
            memory: Some(memory),
            memory_swap: Some(memory_swap),
            memory_reservation: Some(memory_reservation),
            memory_swappiness: Some(swappiness),
            oom_kill_disable: Some(self.oom_kill_disable),
            oom_score_adj: Some(oom_score_adj),
            nano_cpus: Some(nano_cpus),
            cpu_shares: Some(cpu_shares),
            cpu_quota: Some(cpu_quota),
            cpu_period: Some(cpu_period),
            cpu_realtime_period: Some(cpu_rt_period),
            cpu_realtime_runtime: Some(cpu_rt_runtime),
            cpuset_cpus: Some(self.cpuset_cpus.clone()),
            cpuset_mems: Some(self.cpuset_mems.clone()),
            pids_limit: Some(pids_limit),
            blkio_weight: Some(blkio_weight),
            blkio_weight_device: Some(weight_devices),
            blkio_device_read_bps: Some(read_bps),
            blkio_device_write_bps: Some(write_bps),
            blkio_device_read_iops: Some(read_iops),
            blkio_device_write_iops: Some(write_iops),
            ulimits: Some(ulimits.into_values().collect()),
            devices: Some(devices),
            device_cgroup_rules: some_vec(rules),
            shm_size: Some(shm_size),
            security_opt: some_vec(security_opt),
            masked_paths,
            readonly_paths,
            userns_mode: Some(self.userns.clone()),
            sysctls: (!sysctls.is_empty()).then_some(sysctls),
            group_add: some_vec(self.group_add.clone()),
            ipc_mode: Some(self.ipc.clone()),
            pid_mode: Some(self.pid.clone()),
            uts_mode: Some(self.uts.clone()),
            cgroupns_mode: Some(cgroupns),
            cgroup_parent: Some(self.cgroup_parent.clone()),
            isolation,
            cpu_count: Some(0),
            cpu_percent: Some(0),
            io_maximum_iops: Some(0),
            io_maximum_bandwidth: Some(0),
            ..Default::default()
        };
        Ok(ResourceRequest { volumes, host_config })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        o: ContainerOpts,
    }

    fn opts(args: &[&str]) -> ContainerOpts {
        let mut v = vec!["create"];
        v.extend_from_slice(args);
        T::try_parse_from(v).unwrap().o
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }
    fn env_home(k: &str) -> Option<String> {
        (k == "HOME").then(|| "/root".to_string())
    }
    fn no_files(p: &str) -> std::io::Result<String> {
        Err(std::io::Error::new(std::io::ErrorKind::NotFound, p.to_string()))
    }

    fn req(args: &[&str]) -> CreateRequest {
        opts(args).to_request(&env_home, &no_files).unwrap()
    }

    #[test]
    fn image_and_command_split_at_first_positional() {
        let r = req(&["-e", "A=1", "busybox", "sh", "-c", "echo -n hi"]);
        assert_eq!(r.image, "busybox");
        assert_eq!(r.body.image.as_deref(), Some("busybox"));
        assert_eq!(r.body.cmd, Some(vec!["sh".into(), "-c".into(), "echo -n hi".into()]));
        assert_eq!(r.body.env, Some(vec!["A=1".into()]));
        let r = req(&["busybox"]);
        assert_eq!(r.body.cmd, None);
        let r = req(&["busybox", "ls", "-la", "--rm"]);
        assert_eq!(r.body.cmd, Some(vec!["ls".into(), "-la".into(), "--rm".into()]));
        assert_eq!(r.body.host_config.unwrap().auto_remove, Some(false));
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn attach_and_stdin_flags() {
        let cases: &[(&[&str], (bool, bool, bool, bool, bool))] = &[
            (&["img"], (false, true, true, false, false)),
            (&["-it", "img"], (true, true, true, true, true)),
            (&["-i", "img"], (true, true, true, true, false)),
            (&["-a", "stdout", "img"], (false, true, false, false, false)),
            (&["-a", "STDERR", "-i", "img"], (true, false, true, true, false)),
        ];
        for (args, (ain, aout, aerr, open, tty)) in cases {
            let b = req(args).body;
            let got = (
                b.attach_stdin.unwrap(),
                b.attach_stdout.unwrap(),
                b.attach_stderr.unwrap(),
                b.open_stdin.unwrap(),
                b.tty.unwrap(),
            );
            assert_eq!(got, (*ain, *aout, *aerr, *open, *tty), "{args:?}");
        }
        assert!(opts(&["-a", "bogus", "img"]).to_request(&no_env, &no_files).is_err());
    }

    #[test]
    fn env_values_and_lookups() {
        let cases = [("A=1", "A=1"), ("A=", "A="), ("HOME", "HOME=/root"), ("NOPE", "NOPE"), ("A=b=c", "A=b=c")];
        for (input, want) in cases {
            assert_eq!(validate_env(input, &env_home).unwrap(), want);
        }
        assert!(validate_env("=x", &env_home).is_err());
    }

    #[test]
    fn env_files_parse_like_docker() {
        let text = "\u{feff}# comment\n\nA=1\n  B=spaced value \nHOME\nMISSING\nC=with=equals\n\tD=\n";
        let got = parse_env_file("f", text, &env_home).unwrap();
        assert_eq!(got, vec!["A=1", "B=spaced value ", "HOME=/root", "C=with=equals", "D="]);
        assert_eq!(parse_env_file("f", "A B=1\n", &no_env).unwrap_err(), "variable 'A B' contains whitespaces");
        assert_eq!(parse_env_file("f", "B = x\n", &no_env).unwrap_err(), "variable 'B ' contains whitespaces");
        assert_eq!(parse_env_file("f", "=1\n", &no_env).unwrap_err(), "no variable name on line '=1'");
    }

    #[test]
    fn env_file_entries_come_before_flags() {
        let read = |p: &str| -> std::io::Result<String> {
            assert_eq!(p, "my.env");
            Ok("FROM_FILE=1\n".into())
        };
        let r = opts(&["--env-file", "my.env", "-e", "FLAG=2", "img"]).to_request(&no_env, &read).unwrap();
        assert_eq!(r.body.env, Some(vec!["FROM_FILE=1".into(), "FLAG=2".into()]));
        let err = opts(&["--env-file", "nope.env", "img"]).to_request(&no_env, &no_files).unwrap_err();
        assert_eq!(err, "open nope.env: no such file or directory");
    }

    #[test]
    fn restart_policies() {
        use RestartPolicyNameEnum::*;
        let ok: &[(&str, RestartPolicyNameEnum, Option<i64>)] = &[
            ("", NO, None),
            ("no", NO, None),
            ("always", ALWAYS, None),
            ("unless-stopped", UNLESS_STOPPED, None),
            ("on-failure", ON_FAILURE, None),
            ("on-failure:3", ON_FAILURE, Some(3)),
        ];
        for (s, name, count) in ok {
            let p = parse_restart_policy(s).unwrap();
            assert_eq!((p.name, p.maximum_retry_count), (Some(*name), *count), "{s}");
        }
        let bad = [
            (":3", "invalid restart policy format: no policy provided before colon"),
            ("on-failure:x", "invalid restart policy format: maximum retry count must be an integer"),
            ("sometimes", "invalid restart policy: unknown policy 'sometimes'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"),
        ];
        for (s, msg) in bad {
            assert_eq!(parse_restart_policy(s).unwrap_err(), msg, "{s}");
        }
        let err = opts(&["--rm", "--restart", "always", "img"]).to_request(&no_env, &no_files).unwrap_err();
        assert_eq!(err, "Conflicting options: --restart and --rm");
        let hc = req(&["--restart", "on-failure:3", "img"]).body.host_config.unwrap();
        assert_eq!(hc.restart_policy.unwrap().maximum_retry_count, Some(3));
    }

    #[test]
    fn log_options() {
        let hc = req(&["--log-opt", "max-size=1m", "--log-opt", "max-file=3", "img"]).body.host_config.unwrap();
        let lc = hc.log_config.unwrap();
        assert_eq!(lc.typ.as_deref(), Some(""));
        let cfg = lc.config.unwrap();
        assert_eq!(cfg.get("max-size").map(String::as_str), Some("1m"));
        assert_eq!(cfg.get("max-file").map(String::as_str), Some("3"));
        let lc = req(&["--log-driver", "json-file", "img"]).body.host_config.unwrap().log_config.unwrap();
        assert_eq!((lc.typ.as_deref(), lc.config), (Some("json-file"), None));
        assert!(opts(&["--log-driver", "none", "--log-opt", "a=b", "img"]).to_request(&no_env, &no_files).is_err());
    }

    #[test]
    fn health_flags_become_nanoseconds() {
        let h = req(&[
            "--health-cmd", "curl -f localhost",
            "--health-interval", "30s",
            "--health-timeout", "1m30s",
            "--health-retries", "3",
            "--health-start-period", "500ms",
            "img",
        ])
        .body
        .healthcheck
        .unwrap();
        assert_eq!(h.test, Some(vec!["CMD-SHELL".into(), "curl -f localhost".into()]));
        assert_eq!(h.interval, Some(30_000_000_000));
        assert_eq!(h.timeout, Some(90_000_000_000));
        assert_eq!(h.retries, Some(3));
        assert_eq!(h.start_period, Some(500_000_000));
        assert_eq!(req(&["img"]).body.healthcheck, None);
        let none = req(&["--no-healthcheck", "img"]).body.healthcheck.unwrap();
        assert_eq!(none.test, Some(vec!["NONE".into()]));
        let err = opts(&["--no-healthcheck", "--health-cmd", "x", "img"]).to_request(&no_env, &no_files).unwrap_err();
        assert_eq!(err, "--no-healthcheck conflicts with --health-* options");
        assert!(opts(&["--health-interval", "-1s", "img"]).to_request(&no_env, &no_files).is_err());
        assert!(opts(&["--health-interval", "10", "img"]).to_request(&no_env, &no_files).is_err());
    }

    #[test]
    fn host_config_and_misc_flags() {
        let r = req(&[
            "--name", "web", "-w", "/srv", "-u", "1000:1000", "-h", "box", "--entrypoint", "/bin/sh",
            "--init", "--network", "none", "-l", "a=1", "--label", "b", "--stop-signal", "SIGINT",
            "--stop-timeout", "5", "--runtime", "berth", "--privileged", "--cap-add", "NET_ADMIN",
            "--cap-drop", "ALL", "--read-only", "--rm", "img",
        ]);
        assert_eq!(r.name.as_deref(), Some("web"));
        let b = r.body;
        assert_eq!(b.working_dir.as_deref(), Some("/srv"));
        assert_eq!(b.user.as_deref(), Some("1000:1000"));
        assert_eq!(b.hostname.as_deref(), Some("box"));
        assert_eq!(b.entrypoint, Some(vec!["/bin/sh".into()]));
        assert_eq!(b.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(b.stop_timeout, Some(5));
        let labels = b.labels.unwrap();
        assert_eq!(labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(labels.get("b").map(String::as_str), Some(""));
        let hc = b.host_config.unwrap();
        assert_eq!(hc.init, Some(true));
        assert_eq!(hc.network_mode.as_deref(), Some("none"));
        assert_eq!(hc.runtime.as_deref(), Some("berth"));
        assert_eq!(hc.privileged, Some(true));
        assert_eq!(hc.cap_add, Some(vec!["NET_ADMIN".into()]));
        assert_eq!(hc.cap_drop, Some(vec!["ALL".into()]));
        assert_eq!(hc.readonly_rootfs, Some(true));
        assert_eq!(hc.auto_remove, Some(true));
        assert_eq!(req(&["--entrypoint", "", "img"]).body.entrypoint, Some(vec![String::new()]));
        assert_eq!(req(&["img"]).body.host_config.unwrap().init, None);
    }

    #[test]
    fn publish_expose_and_dns_flags_fill_the_request() {
        let r = req(&[
            "-p", "8080:80", "-p", "127.0.0.1:5353:53/udp", "-p", "[::1]::443", "--publish", "9000-9001:90-91",
            "--expose", "7000-7001", "--expose", "80", "-P", "--dns", "8.8.8.8", "--dns", "2001:DB8::1",
            "--dns-search", "example.com.", "--dns-option", "ndots:2", "--dns-opt", "use-vc",
            "--add-host", "db=10.0.0.2", "--add-host", "v6:[::1]", "--domainname", "example.org", "img",
        ]);
        let b = r.body;
        let mut exposed = b.exposed_ports.clone().unwrap();
        exposed.sort();
        assert_eq!(exposed, vec!["443/tcp", "53/udp", "7000/tcp", "7001/tcp", "80/tcp", "90/tcp", "91/tcp"]);
        assert_eq!(b.domainname.as_deref(), Some("example.org"));
        let hc = b.host_config.unwrap();
        let pb = hc.port_bindings.unwrap();
        let one = |k: &str| {
            let v = pb[k].clone().unwrap();
            v.iter().map(|b| (b.host_ip.clone().unwrap(), b.host_port.clone().unwrap())).collect::<Vec<_>>()
        };
        assert_eq!(one("80/tcp"), vec![(String::new(), "8080".to_string())]);
        assert_eq!(one("53/udp"), vec![("127.0.0.1".to_string(), "5353".to_string())]);
        assert_eq!(one("443/tcp"), vec![("::1".to_string(), String::new())]);
        assert_eq!(one("90/tcp"), vec![(String::new(), "9000".to_string())]);
        assert_eq!(one("91/tcp"), vec![(String::new(), "9001".to_string())]);
        assert_eq!(pb.len(), 5);
        assert_eq!(hc.publish_all_ports, Some(true));
        assert_eq!(hc.dns, Some(vec!["8.8.8.8".into(), "2001:db8::1".into()]));
        assert_eq!(hc.dns_search, Some(vec!["example.com".into()]));
        assert_eq!(hc.dns_options, Some(vec!["ndots:2".into(), "use-vc".into()]));
        assert_eq!(hc.extra_hosts, Some(vec!["db:10.0.0.2".into(), "v6:::1".into()]));

        // Without flags: docker's empty values.
        let b = req(&["img"]).body;
        assert_eq!(b.exposed_ports, None);
        let hc = b.host_config.unwrap();
        assert_eq!(hc.port_bindings, Some(Default::default()));
        assert_eq!(hc.publish_all_ports, Some(false));
        assert_eq!((hc.dns, hc.dns_search, hc.dns_options), (Some(vec![]), Some(vec![]), Some(vec![])));
        assert_eq!((hc.extra_hosts, hc.links), (None, None));
    }

    #[test]
    fn network_flags_fill_endpoints() {
        use berth_api::models::EndpointSettings;
        // No --network: mode "default" and an empty "default" endpoint, as docker sends.
        let b = req(&["img"]).body;
        assert_eq!(b.host_config.unwrap().network_mode.as_deref(), Some("default"));
        let eps = b.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(eps, HashMap::from([("default".to_string(), EndpointSettings::default())]));
        // One plain network: no endpoint config.
        let b = req(&["--net", "front", "img"]).body;
        assert_eq!(b.host_config.unwrap().network_mode.as_deref(), Some("front"));
        assert_eq!(b.networking_config.unwrap().endpoints_config, Some(HashMap::new()));
        // Legacy endpoint flags go to the first network.
        let b = req(&[
            "--network", "front", "--network", "name=back,alias=b1", "--network-alias", "web", "--net-alias", "www",
            "--ip", "172.20.0.5", "--ip6", "2001:db8::5", "--mac-address", "02:42:ac:14:00:05", "--link", "db:database",
            "img",
        ])
        .body;
        let hc = b.host_config.unwrap();
        assert_eq!(hc.network_mode.as_deref(), Some("front"));
        assert_eq!(hc.links, Some(vec!["db:database".into()]));
        let eps = b.networking_config.unwrap().endpoints_config.unwrap();
        let front = &eps["front"];
        assert_eq!(front.aliases, Some(vec!["web".into(), "www".into()]));
        assert_eq!(front.links, Some(vec!["db:database".into()]));
        assert_eq!(front.mac_address.as_deref(), Some("02:42:ac:14:00:05"));
        let ipam = front.ipam_config.clone().unwrap();
        assert_eq!((ipam.ipv4_address.as_deref(), ipam.ipv6_address.as_deref()), (Some("172.20.0.5"), Some("2001:db8::5")));
        assert_eq!(eps["back"].aliases, Some(vec!["b1".into()]));
        assert_eq!(eps["back"].ipam_config, None);
        // Serialized as the API expects.
        let j = serde_json::to_value(&eps["front"]).unwrap();
        assert_eq!(j["IPAMConfig"]["IPv4Address"], "172.20.0.5");
        assert_eq!(j["Aliases"][0], "web");
    }

    #[test]
    fn network_flag_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["--dns", "x", "img"], "invalid argument \"x\" for \"--dns\" flag: IP address is not correctly formatted: x"),
            (&["--add-host", "foo", "img"], "invalid argument \"foo\" for \"--add-host\" flag: bad format for add-host: \"foo\""),
            (&["--dns-search", "-x", "img"], "invalid argument \"-x\" for \"--dns-search\" flag: -x is not a valid domain"),
            (&["--network", "alias=a", "img"], "invalid argument \"alias=a\" for \"--network\" flag: network name/id is not specified"),
            (&["--link", "a:b:c", "img"], "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c"),
            (&["--mac-address", "nope", "img"], "nope is not a valid mac address"),
            (&["-p", "80:x", "img"], "invalid containerPort: x"),
            (&["--expose", "1:2", "img"], "invalid port format for --expose: 1:2"),
            (&["--network-alias", "a", "img"], "network-scoped aliases are only supported for user-defined networks"),
            (&["--network", "a", "--network", "host", "img"], "conflicting options: cannot attach both user-defined and non-user-defined network-modes"),
        ];
        for (args, want) in cases {
            assert_eq!(opts(args).to_request(&no_env, &no_files).unwrap_err(), *want, "{args:?}");
        }
    }

    #[test]
    fn pull_policy() {
        assert_eq!(req(&["img"]).pull, PullPolicy::Missing);
        assert_eq!(req(&["--pull", "never", "img"]).pull, PullPolicy::Never);
        assert!(opts(&["--pull", "sometimes", "img"]).to_request(&no_env, &no_files).is_err());
    }

    fn hc_of(args: &[&str]) -> HostConfig {
        req(args).body.host_config.unwrap()
    }

    fn err_of(args: &[&str]) -> String {
        opts(args).to_request(&no_env, &no_files).unwrap_err()
    }

    #[test]
    fn sizes_parse_like_go_units() {
        let ok = [
            ("10", 10),
            ("10b", 10),
            ("1k", 1024),
            ("1kib", 1024),
            ("1KIB", 1024),
            ("1 m", 1 << 20),
            ("1.5m", 1_572_864),
            ("32m", 32 << 20),
            ("1G", 1 << 30),
            ("1gb", 1 << 30),
            (".5m", 1 << 19),
            ("1e3", 1000),
            ("+5", 5),
        ];
        for (s, want) in ok {
            assert_eq!(ram_in_bytes(s), Ok(want), "{s}");
        }
        let bad = [
            ("abc", "invalid size: 'abc'"),
            ("-5", "invalid size: '-5'"),
            ("1kk", "invalid suffix: 'kk'"),
            ("1x", "invalid suffix: 'x'"),
            ("1 X", "invalid suffix: 'x'"),
            ("1i", "invalid suffix: 'i'"),
            (" 5", "strconv.ParseFloat: parsing \" 5\": invalid syntax"),
            ("1.5.5m", "strconv.ParseFloat: parsing \"1.5.5\": invalid syntax"),
        ];
        for (s, want) in bad {
            assert_eq!(ram_in_bytes(s).unwrap_err(), want, "{s}");
        }
    }

    #[test]
    fn cpus_are_exact_rationals() {
        let ok = [("0.5", 500_000_000), ("1.5e0", 1_500_000_000), ("3/2", 1_500_000_000), ("0.001", 1_000_000), ("-1", -1_000_000_000), ("2", 2_000_000_000)];
        for (s, want) in ok {
            assert_eq!(parse_nano_cpus(s), Ok(want), "{s}");
        }
        assert_eq!(parse_nano_cpus("abc").unwrap_err(), "failed to parse abc as a rational number");
        assert_eq!(parse_nano_cpus("0.0000000001").unwrap_err(), "value is too precise");
    }

    /// The values docker 28.2 sent for the same command lines (captured from the real CLI
    /// against a recording endpoint).
    #[test]
    fn resource_flags_fill_the_host_config_as_docker() {
        let hc = hc_of(&[
            "--memory", "32m", "--memory-swap", "64m", "--memory-reservation", "16m", "--memory-swappiness", "10",
            "--oom-kill-disable", "--oom-score-adj", "100", "--cpus", "0.5", "-c", "512", "--cpuset-cpus", "0-1",
            "--cpuset-mems", "0", "--pids-limit", "10", "--blkio-weight", "300", "--shm-size", "64m", "img",
        ]);
        assert_eq!(
            (hc.memory, hc.memory_swap, hc.memory_reservation, hc.memory_swappiness, hc.oom_kill_disable, hc.oom_score_adj),
            (Some(33_554_432), Some(67_108_864), Some(16_777_216), Some(10), Some(true), Some(100))
        );
        assert_eq!((hc.nano_cpus, hc.cpu_shares, hc.cpuset_cpus.as_deref(), hc.cpuset_mems.as_deref()), (Some(500_000_000), Some(512), Some("0-1"), Some("0")));
        assert_eq!((hc.pids_limit, hc.blkio_weight, hc.shm_size), (Some(10), Some(300), Some(67_108_864)));

        // Without flags docker still sends its zero values (and -1 swappiness).
        let hc = hc_of(&["img"]);
        assert_eq!((hc.memory, hc.memory_swappiness, hc.pids_limit, hc.oom_kill_disable), (Some(0), Some(-1), Some(0), Some(false)));
        assert_eq!((hc.binds.clone(), hc.mounts.clone(), hc.tmpfs.clone(), hc.security_opt.clone()), (None, None, None, None));
        assert_eq!((hc.devices, hc.ulimits), (Some(vec![]), Some(vec![])));
        assert_eq!(hc.cgroupns_mode, Some(HostConfigCgroupnsModeEnum::EMPTY));
        let j = serde_json::to_value(req(&["img"]).body).unwrap();
        assert_eq!(j["Volumes"], serde_json::json!({}));

        let hc = hc_of(&[
            "--cpu-quota", "50000", "--cpu-period", "100000", "--blkio-weight-device", "/dev/sda:200",
            "--device-read-bps", "/dev/sda:1mb", "--device-write-bps", "/dev/sda:2m", "--device-read-iops", "/dev/sda:100",
            "--device-write-iops", "/dev/sda:200", "--ulimit", "nproc=50", "--ulimit", "nofile=100:200", "--device",
            "/dev/null:/dev/xnull", "--device", "/dev/zero:/dev/z:r", "--device", "/dev/fuse", "--device", "/dev/sda:r",
            "--device-cgroup-rule", "c 1:3 mr", "img",
        ]);
        let j = serde_json::to_value(&hc).unwrap();
        let want = serde_json::json!({
            "CpuQuota": 50000, "CpuPeriod": 100000,
            "BlkioWeightDevice": [{"Path": "/dev/sda", "Weight": 200}],
            "BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1048576}],
            "BlkioDeviceWriteBps": [{"Path": "/dev/sda", "Rate": 2097152}],
            "BlkioDeviceReadIOps": [{"Path": "/dev/sda", "Rate": 100}],
            "BlkioDeviceWriteIOps": [{"Path": "/dev/sda", "Rate": 200}],
            "Devices": [
                {"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "rwm"},
                {"PathOnHost": "/dev/zero", "PathInContainer": "/dev/z", "CgroupPermissions": "r"},
                {"PathOnHost": "/dev/fuse", "PathInContainer": "/dev/fuse", "CgroupPermissions": "rwm"},
                {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "r"}
            ],
            "DeviceCgroupRules": ["c 1:3 mr"],
            "Ulimits": [{"Name": "nofile", "Hard": 200, "Soft": 100}, {"Name": "nproc", "Hard": 50, "Soft": 50}]
        });
        for (k, v) in want.as_object().unwrap() {
            assert_eq!(&j[k], v, "{k}");
        }
        // The last --ulimit of a name wins.
        let hc = hc_of(&["--ulimit", "nofile=5", "--ulimit", "nofile=6", "img"]);
        assert_eq!(hc.ulimits.unwrap(), vec![ResourcesUlimits { name: Some("nofile".into()), soft: Some(6), hard: Some(6) }]);
    }

    #[test]
    fn security_and_namespace_flags_as_docker() {
        let read = |p: &str| -> std::io::Result<String> {
            assert_eq!(p, "/p.json");
            Ok("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"names\": [ \"a b\" ]\n}\n".into())
        };
        let o = opts(&[
            "--security-opt", "seccomp=/p.json", "--security-opt", "no-new-privileges", "--security-opt", "label=disable",
            "--security-opt", "apparmor:unconfined", "--security-opt", "systempaths=unconfined", "--userns", "host", "--sysctl",
            "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=100", "--group-add", "audio", "--group-add", "10", "--ipc", "host",
            "--pid", "host", "--uts", "host", "--cgroupns", "private", "--cgroup-parent", "foo", "--isolation", "default", "img",
        ]);
        let hc = o.to_request(&no_env, &read).unwrap().body.host_config.unwrap();
        assert_eq!(
            hc.security_opt.unwrap(),
            vec![
                "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"names\":[\"a b\"]}".to_string(),
                "no-new-privileges".into(),
                "label=disable".into(),
                "apparmor:unconfined".into()
            ]
        );
        assert_eq!((hc.masked_paths, hc.readonly_paths), (Some(vec![]), Some(vec![])));
        assert_eq!(hc.sysctls.unwrap(), HashMap::from([("net.ipv4.ip_forward".into(), "1".into()), ("kernel.shmmax".into(), "100".into())]));
        assert_eq!(hc.group_add.unwrap(), vec!["audio".to_string(), "10".into()]);
        assert_eq!((hc.ipc_mode.as_deref(), hc.pid_mode.as_deref(), hc.uts_mode.as_deref(), hc.userns_mode.as_deref()), (Some("host"), Some("host"), Some("host"), Some("host")));
        assert_eq!((hc.cgroupns_mode, hc.cgroup_parent.as_deref(), hc.isolation), (Some(HostConfigCgroupnsModeEnum::PRIVATE), Some("foo"), Some(HostConfigIsolationEnum::DEFAULT)));
        let hc = hc_of(&["--security-opt", "seccomp=unconfined", "--pid", "container:abc", "img"]);
        assert_eq!(hc.security_opt.unwrap(), vec!["seccomp=unconfined".to_string()]);
        assert_eq!((hc.masked_paths, hc.pid_mode.as_deref()), (None, Some("container:abc")));
    }

    #[test]
    fn volume_mount_and_tmpfs_flags_as_docker() {
        let cwd = || Some(std::path::PathBuf::from("/work/dir"));
        let o = opts(&[
            "-v", "/h/d:/data:ro", "-v", "named:/n", "-v", "/anon", "-v", "./d:/rel", "-v", "/h/d:/data:ro", "-v", "~/x:/y",
            "--mount", "type=bind,src=/h/d,dst=/m,readonly",
            "--mount", "type=volume,source=v1,target=/v1,volume-nocopy,volume-label=a=b,volume-driver=local,volume-opt=o=x",
            "--mount", "type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770",
            "--mount", "src=./d,dst=/r,type=bind,bind-propagation=rshared",
            "--mount", "type=volume,dst=/b,volume-subpath=x",
            "--mount", "type=bind,\"src=/a,b\",dst=/q,consistency=cached,ro=false",
            "--tmpfs", "/run:rw,size=10m", "--tmpfs", "/x", "--tmpfs", "/x:ro", "--volumes-from", "c1:ro", "--volumes-from", "c2",
            "--volume-driver", "foo", "img",
        ]);
        let r = o.resource_request(&no_files, &cwd).unwrap();
        assert_eq!(r.volumes, vec!["/anon".to_string()]);
        let hc = r.host_config;
        assert_eq!(hc.binds.unwrap(), vec!["/h/d:/data:ro".to_string(), "named:/n".into(), "/work/dir/d:/rel".into(), "~/x:/y".into()]);
        assert_eq!(hc.tmpfs.unwrap(), HashMap::from([("/run".into(), "rw,size=10m".into()), ("/x".into(), "ro".into())]));
        assert_eq!(hc.volumes_from.unwrap(), vec!["c1:ro".to_string(), "c2".into()]);
        assert_eq!(hc.volume_driver.as_deref(), Some("foo"));
        let j = serde_json::to_value(hc.mounts.unwrap()).unwrap();
        assert_eq!(
            j,
            serde_json::json!([
                {"Type": "bind", "Source": "/h/d", "Target": "/m", "ReadOnly": true},
                {"Type": "volume", "Source": "v1", "Target": "/v1", "VolumeOptions": {"NoCopy": true, "Labels": {"a": "b"}, "DriverConfig": {"Name": "local", "Options": {"o": "x"}}}},
                {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 67108864, "Mode": 1016}},
                {"Type": "bind", "Source": "/work/dir/d", "Target": "/r", "BindOptions": {"Propagation": "rshared"}},
                {"Type": "volume", "Target": "/b", "VolumeOptions": {"Subpath": "x", "DriverConfig": {}}},
                {"Type": "bind", "Source": "/a,b", "Target": "/q", "Consistency": "cached"}
            ])
        );
        let j = serde_json::to_value(parse_mount("type=bind,src=/a,dst=/b,bind-recursive=readonly,readonly,bind-propagation=rprivate", &cwd).unwrap()).unwrap();
        assert_eq!(j["BindOptions"], serde_json::json!({"Propagation": "rprivate", "ReadOnlyForceRecursive": true}));
        let j = serde_json::to_value(parse_mount("type=bind,src=/a,dst=/b,bind-recursive=disabled", &cwd).unwrap()).unwrap();
        assert_eq!(j["BindOptions"], serde_json::json!({"NonRecursive": true}));
    }

    /// docker 28.2's messages for the same bad values (exit 125 before any request).
    #[test]
    fn bad_resource_flags_fail_with_dockers_messages() {
        let cases: &[(&[&str], &str)] = &[
            (&["--memory", "abc"], "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'"),
            (&["--memory", "-5"], "invalid argument \"-5\" for \"-m, --memory\" flag: invalid size: '-5'"),
            (&["--memory-swap", "-2"], "invalid argument \"-2\" for \"--memory-swap\" flag: invalid size: '-2'"),
            (&["--shm-size", "-1"], "invalid argument \"-1\" for \"--shm-size\" flag: invalid size: '-1'"),
            (&["--cpus", "abc"], "invalid argument \"abc\" for \"--cpus\" flag: failed to parse abc as a rational number"),
            (&["--ulimit", "bad"], "invalid argument \"bad\" for \"--ulimit\" flag: invalid ulimit argument: bad"),
            (&["--ulimit", "nofile=a"], "invalid argument \"nofile=a\" for \"--ulimit\" flag: strconv.ParseInt: parsing \"a\": invalid syntax"),
            (&["--ulimit", "nofile=10:5"], "invalid argument \"nofile=10:5\" for \"--ulimit\" flag: ulimit soft limit must be less than or equal to hard limit: 10 > 5"),
            (&["--ulimit", "nofile=1:2:3"], "invalid argument \"nofile=1:2:3\" for \"--ulimit\" flag: too many limit value arguments - 1:2:3, can only have up to two, `soft[:hard]`"),
            (&["--ulimit", "foo=1"], "invalid argument \"foo=1\" for \"--ulimit\" flag: invalid ulimit type: foo"),
            (&["--device", "/dev/null:rel"], "rel is not an absolute path"),
            (&["--device", "/dev/null:/a:rwx"], "bad mode specified: rwx"),
            (&["--device", "rel"], "rel is not an absolute path"),
            (&["--mount", "src=/a"], "invalid argument \"src=/a\" for \"--mount\" flag: target is required"),
            (&["--mount", "type=bind,src=/a,dst=/b,bogus=1"], "invalid argument \"type=bind,src=/a,dst=/b,bogus=1\" for \"--mount\" flag: unexpected key 'bogus' in 'bogus=1'"),
            (&["--mount", "type=volume,dst=/b,tmpfs-size=1m"], "invalid argument \"type=volume,dst=/b,tmpfs-size=1m\" for \"--mount\" flag: cannot mix 'tmpfs-*' options with mount type 'volume'"),
            (&["--mount", "type=bind,src=/a,dst=/b,bind-recursive=readonly,readonly"], "invalid argument \"type=bind,src=/a,dst=/b,bind-recursive=readonly,readonly\" for \"--mount\" flag: option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"),
            (&["--security-opt", "bogus"], "Invalid --security-opt: \"bogus\""),
            (&["--security-opt", "seccomp=/nope.json"], "opening seccomp profile (/nope.json) failed: open /nope.json: no such file or directory"),
            (&["--sysctl", "bad"], "invalid argument \"bad\" for \"--sysctl\" flag: sysctl 'bad' is not allowed"),
            (&["--sysctl", "kernel.hostname=x"], "invalid argument \"kernel.hostname=x\" for \"--sysctl\" flag: sysctl 'kernel.hostname=x' is not allowed"),
            (&["--pids-limit", "x"], "invalid argument \"x\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"),
            (&["-c", "x"], "invalid argument \"x\" for \"-c, --cpu-shares\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"),
            (&["--blkio-weight", "70000"], "invalid argument \"70000\" for \"--blkio-weight\" flag: strconv.ParseUint: parsing \"70000\": value out of range"),
            (&["--memory-swappiness", "200"], "invalid value: 200. Valid memory swappiness range is 0-100"),
            (&["--pid", "bogus"], "--pid: invalid PID mode"),
            (&["--uts", "bogus"], "--uts: invalid UTS mode"),
            (&["--userns", "bogus"], "--userns: invalid USER mode"),
            (&["--cgroupns", "bogus"], "--cgroupns: invalid CGROUP mode"),
            (&["--blkio-weight-device", "bad"], "invalid argument \"bad\" for \"--blkio-weight-device\" flag: bad format: bad"),
            (&["--blkio-weight-device", "/dev/sda:5"], "invalid argument \"/dev/sda:5\" for \"--blkio-weight-device\" flag: invalid weight for device: /dev/sda:5"),
            (&["--device-read-iops", "/dev/sda:1k"], "invalid argument \"/dev/sda:1k\" for \"--device-read-iops\" flag: invalid rate for device: /dev/sda:1k. The correct format is <device-path>:<number>. Number must be a positive integer"),
            (&["--device-cgroup-rule", "bad"], "invalid argument \"bad\" for \"--device-cgroup-rule\" flag: invalid device cgroup format 'bad'"),
            (&["-v", "/a:/b:/c:/d"], "invalid spec: /a:/b:/c:/d: too many colons"),
            (&["-v", ":/a"], "invalid spec: :/a: empty section between colons"),
        ];
        for (args, want) in cases {
            let mut a = args.to_vec();
            a.push("img");
            assert_eq!(err_of(&a), *want, "{args:?}");
        }
    }
}
