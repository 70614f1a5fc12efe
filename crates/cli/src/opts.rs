//! `run`/`create` flags and their conversion to the API's `ContainerCreateBody`, following
//! docker's `cli/command/container/opts.go`. Pure: the environment lookup is passed in.

use std::collections::HashMap;

use berth_api::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, HostConfigLogConfig, NetworkingConfig,
    PortBinding, RestartPolicy, RestartPolicyNameEnum,
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

        let labels = kv_map(&self.label);
        let host_config = HostConfig {
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
}
