//! The Docker API requests compose makes: containers, networks, volumes, and the config hash.

use std::collections::HashMap;

use berth_api::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HealthConfig, HostConfig, Ipam, IpamConfig, Mount,
    MountBindOptions, MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType, MountVolumeOptions,
    NetworkCreateRequest, NetworkingConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum, VolumeCreateRequest,
};
use sha2::{Digest, Sha256};

use crate::model::*;
use crate::LoadError;

/// The `com.docker.compose.version` label value.
pub const COMPOSE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Label keys compose puts on what it creates.
pub mod labels {
    /// The project name.
    pub const PROJECT: &str = "com.docker.compose.project";
    /// The service name.
    pub const SERVICE: &str = "com.docker.compose.service";
    /// The replica number.
    pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
    /// `True` for `compose run` containers, else `False`.
    pub const ONEOFF: &str = "com.docker.compose.oneoff";
    /// [`crate::Project::config_hash`].
    pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
    /// The project directory.
    pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
    /// The compose files, comma separated.
    pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
    /// The compose implementation's version.
    pub const VERSION: &str = "com.docker.compose.version";
    /// `svc:condition:restart,...`.
    pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
    /// The image the container was created from.
    pub const IMAGE: &str = "com.docker.compose.image";
    /// The network's key in the file.
    pub const NETWORK: &str = "com.docker.compose.network";
    /// The volume's key in the file.
    pub const VOLUME: &str = "com.docker.compose.volume";
}

fn ns(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

fn some_vec<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

impl Project {
    fn service_or_err(&self, service: &str) -> Result<&Service, LoadError> {
        self.services
            .get(service)
            .or_else(|| self.disabled_services.get(service))
            .ok_or_else(|| LoadError::NoSuchService(service.to_string()))
    }

    /// The container name of replica `n` of `service`.
    pub fn container_name(&self, service: &str, n: u32) -> String {
        match self.services.get(service).and_then(|s| s.container_name.clone()) {
            Some(c) => c,
            None => format!("{}-{service}-{n}", self.name),
        }
    }

    pub(crate) fn config_hash_impl(&self, service: &str) -> String {
        let Ok(s) = self.service_or_err(service) else { return String::new() };
        let mut s = s.clone();
        // the number of replicas is not part of what a container is made from
        s.scale = None;
        if let Some(d) = &mut s.deploy {
            d.replicas = None;
        }
        s.profiles.clear();
        let mut text = serde_yaml::to_string(&crate::yaml::service(&s)).unwrap_or_default();
        // the networks and volumes it is attached to, by engine name
        for n in s.network_names() {
            if let Some(net) = self.networks.get(&n) {
                text.push_str(&format!("\nnetwork {n}={}", net.name));
            }
        }
        for v in &s.volumes {
            if let (VolumeType::Volume, Some(src)) = (v.kind, &v.source) {
                if let Some(vol) = self.volumes.get(src) {
                    text.push_str(&format!("\nvolume {src}={}", vol.name));
                }
            }
        }
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    pub(crate) fn container_create_impl(&self, service: &str, n: u32) -> Result<(String, ContainerCreateBody), LoadError> {
        let s = self.service_or_err(service)?;
        let name = self.container_name(service, n);
        let image = s.image_name(&self.name);

        let mut labels: HashMap<String, String> = s.labels.clone().into_iter().collect();
        labels.insert(labels::PROJECT.into(), self.name.clone());
        labels.insert(labels::SERVICE.into(), service.into());
        labels.insert(labels::CONTAINER_NUMBER.into(), n.to_string());
        labels.insert(labels::ONEOFF.into(), "False".into());
        labels.insert(labels::CONFIG_HASH.into(), self.config_hash(service));
        labels.insert(labels::WORKING_DIR.into(), self.working_dir.display().to_string());
        labels.insert(
            labels::CONFIG_FILES.into(),
            self.config_files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(","),
        );
        labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
        labels.insert(
            labels::DEPENDS_ON.into(),
            s.depends_on
                .iter()
                .map(|(d, dep)| format!("{d}:{}:{}", dep.condition.as_str(), dep.restart))
                .collect::<Vec<_>>()
                .join(","),
        );
        labels.insert(labels::IMAGE.into(), image.clone());

        let env: Vec<String> = s
            .environment
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect();

        let mut exposed: Vec<String> = Vec::new();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &s.ports {
            let key = format!("{}/{}", p.target, p.protocol);
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            let b = PortBinding {
                host_ip: Some(p.host_ip.clone().unwrap_or_default()),
                host_port: Some(p.published.clone().unwrap_or_default()),
            };
            bindings.entry(key).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(b);
        }
        for e in &s.expose {
            let (num, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            if let Some((a, b)) = crate::convert::parse_port_range(num) {
                for port in a..=b {
                    let key = format!("{port}/{proto}");
                    if !exposed.contains(&key) {
                        exposed.push(key);
                    }
                }
            }
        }

        let mut binds = Vec::new();
        let mut mounts = Vec::new();
        for v in &s.volumes {
            match v.kind {
                VolumeType::Bind if v.create_host_path => {
                    let mut opts = vec![if v.read_only { "ro" } else { "rw" }.to_string()];
                    if let Some(p) = &v.propagation {
                        opts.push(p.clone());
                    }
                    if let Some(z) = &v.selinux {
                        opts.push(z.clone());
                    }
                    binds.push(format!("{}:{}:{}", v.source.clone().unwrap_or_default(), v.target, opts.join(",")));
                }
                VolumeType::Bind => mounts.push(Mount {
                    typ: Some(MountType::BIND),
                    source: v.source.clone(),
                    target: Some(v.target.clone()),
                    read_only: v.read_only.then_some(true),
                    bind_options: v.propagation.as_deref().and_then(|p| p.parse::<MountBindOptionsPropagationEnum>().ok()).map(
                        |p| MountBindOptions { propagation: Some(p), ..Default::default() },
                    ),
                    ..Default::default()
                }),
                VolumeType::Volume => mounts.push(Mount {
                    typ: Some(MountType::VOLUME),
                    source: v.source.as_ref().map(|src| self.volumes.get(src).map(|vol| vol.name.clone()).unwrap_or_else(|| src.clone())),
                    target: Some(v.target.clone()),
                    read_only: v.read_only.then_some(true),
                    volume_options: (v.nocopy || v.subpath.is_some()).then(|| MountVolumeOptions {
                        no_copy: v.nocopy.then_some(true),
                        subpath: v.subpath.clone(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                VolumeType::Tmpfs => mounts.push(Mount {
                    typ: Some(MountType::TMPFS),
                    target: Some(v.target.clone()),
                    read_only: v.read_only.then_some(true),
                    tmpfs_options: (v.tmpfs_size.is_some() || v.tmpfs_mode.is_some()).then(|| MountTmpfsOptions {
                        size_bytes: v.tmpfs_size,
                        mode: v.tmpfs_mode.map(i64::from),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }
        }
        for (dir, refs, defs) in [("/run/secrets", &s.secrets, &self.secrets), ("", &s.configs, &self.configs)] {
            for r in refs {
                let Some(obj) = defs.get(&r.source) else { continue };
                let Some(file) = &obj.file else { continue };
                let t = r.target.clone().unwrap_or_else(|| r.source.clone());
                let target = if t.starts_with('/') { t } else { format!("{dir}/{t}") };
                binds.push(format!("{}:{target}:ro", file.display()));
            }
        }

        let restart_policy = s.restart.as_deref().map(|r| {
            let (name, count) = r.split_once(':').unwrap_or((r, ""));
            RestartPolicy {
                name: name.parse::<RestartPolicyNameEnum>().ok(),
                maximum_retry_count: count.parse().ok(),
            }
        });
        let limits = s.deploy.as_ref().map(|d| d.limits.clone()).unwrap_or_default();
        let reservations = s.deploy.as_ref().map(|d| d.reservations.clone()).unwrap_or_default();
        let tmpfs: HashMap<String, String> = s
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), o.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect();

        // networks: the first by priority (then name) goes in NetworkMode
        let mut nets: Vec<(String, ServiceNetwork)> = s
            .network_names()
            .into_iter()
            .map(|n| {
                let sn = s.networks.get(&n).cloned().unwrap_or_default();
                (n, sn)
            })
            .collect();
        nets.sort_by(|a, b| b.1.priority.unwrap_or(0).cmp(&a.1.priority.unwrap_or(0)).then(a.0.cmp(&b.0)));
        let mut endpoints = HashMap::new();
        for (key, sn) in &nets {
            let engine = self.networks.get(key).map(|n| n.name.clone()).unwrap_or_else(|| format!("{}_{key}", self.name));
            let mut aliases = vec![service.to_string()];
            for a in &sn.aliases {
                if !aliases.contains(a) {
                    aliases.push(a.clone());
                }
            }
            endpoints.insert(
                engine,
                EndpointSettings {
                    aliases: Some(aliases),
                    ipam_config: (sn.ipv4_address.is_some() || sn.ipv6_address.is_some()).then(|| EndpointIpamConfig {
                        ipv4_address: sn.ipv4_address.clone(),
                        ipv6_address: sn.ipv6_address.clone(),
                        ..Default::default()
                    }),
                    gw_priority: sn.priority,
                    ..Default::default()
                },
            );
        }
        let network_mode = match &s.network_mode {
            Some(m) => Some(match m.strip_prefix("service:") {
                Some(dep) => format!("container:{}", self.container_name(dep, 1)),
                None => m.clone(),
            }),
            None => nets.first().map(|(k, _)| self.networks.get(k).map(|n| n.name.clone()).unwrap_or_else(|| format!("{}_{k}", self.name))),
        };

        let host_config = HostConfig {
            binds: some_vec(binds),
            mounts: some_vec(mounts),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            restart_policy,
            nano_cpus: limits.cpus.map(|c| (c * 1e9).round() as i64),
            memory: limits.memory,
            memory_reservation: reservations.memory,
            pids_limit: limits.pids,
            cap_add: some_vec(s.cap_add.clone()),
            cap_drop: some_vec(s.cap_drop.clone()),
            privileged: s.privileged.then_some(true),
            readonly_rootfs: s.read_only.then_some(true),
            init: s.init,
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            dns: some_vec(s.dns.clone()),
            dns_search: some_vec(s.dns_search.clone()),
            extra_hosts: some_vec(s.extra_hosts.clone()),
            sysctls: (!s.sysctls.is_empty()).then(|| s.sysctls.clone().into_iter().collect()),
            security_opt: some_vec(s.security_opt.clone()),
            shm_size: s.shm_size,
            network_mode,
            ..Default::default()
        };

        let healthcheck = s.healthcheck.as_ref().map(|h| HealthConfig {
            test: some_vec(h.test.clone()),
            interval: h.interval.map(ns),
            timeout: h.timeout.map(ns),
            retries: h.retries.map(i64::from),
            start_period: h.start_period.map(ns),
            start_interval: h.start_interval.map(ns),
        });

        let body = ContainerCreateBody {
            hostname: s.hostname.clone(),
            domainname: s.domainname.clone(),
            user: s.user.clone(),
            exposed_ports: some_vec(exposed),
            tty: s.tty.then_some(true),
            open_stdin: s.stdin_open.then_some(true),
            attach_stdin: s.stdin_open.then_some(true),
            env: Some(env),
            cmd: s.command.clone(),
            entrypoint: s.entrypoint.clone(),
            healthcheck,
            image: Some(image),
            working_dir: s.working_dir.clone(),
            labels: Some(labels),
            stop_signal: s.stop_signal.clone(),
            stop_timeout: s.stop_grace_period.map(|d| d.as_secs() as i64),
            host_config: Some(host_config),
            networking_config: (!endpoints.is_empty()).then_some(NetworkingConfig { endpoints_config: Some(endpoints) }),
            ..Default::default()
        };
        Ok((name, body))
    }

    pub(crate) fn oneoff_create_impl(
        &self,
        service: &str,
        suffix: &str,
        service_ports: bool,
    ) -> Result<(String, ContainerCreateBody), LoadError> {
        let (_, mut body) = self.container_create_impl(service, 1)?;
        let name = format!("{}-{service}-run-{suffix}", self.name);
        if let Some(l) = body.labels.as_mut() {
            l.insert(labels::ONEOFF.into(), "True".into());
        }
        if !service_ports {
            if let Some(hc) = body.host_config.as_mut() {
                hc.port_bindings = None;
            }
        }
        Ok((name, body))
    }

    pub(crate) fn network_create_impl(&self, key: &str) -> NetworkCreateRequest {
        let n = self.networks.get(key).cloned().unwrap_or_else(|| Network { name: format!("{}_{key}", self.name), ..Default::default() });
        let mut labels: HashMap<String, String> = n.labels.clone().into_iter().collect();
        labels.insert(labels::PROJECT.into(), self.name.clone());
        labels.insert(labels::NETWORK.into(), key.into());
        labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
        NetworkCreateRequest {
            name: n.name.clone(),
            driver: Some(n.driver.clone().unwrap_or_else(|| "bridge".into())),
            internal: n.internal.then_some(true),
            attachable: n.attachable.then_some(true),
            enable_ipv6: n.enable_ipv6.then_some(true),
            options: (!n.driver_opts.is_empty()).then(|| n.driver_opts.clone().into_iter().collect()),
            ipam: n.ipam.as_ref().map(|i| Ipam {
                driver: i.driver.clone(),
                config: Some(
                    i.config
                        .iter()
                        .map(|c| IpamConfig { subnet: c.subnet.clone(), ip_range: c.ip_range.clone(), gateway: c.gateway.clone(), ..Default::default() })
                        .collect(),
                ),
                options: None,
            }),
            labels: Some(labels),
            ..Default::default()
        }
    }

    pub(crate) fn volume_create_impl(&self, key: &str) -> VolumeCreateRequest {
        let v = self.volumes.get(key).cloned().unwrap_or_else(|| Volume { name: format!("{}_{key}", self.name), ..Default::default() });
        let mut labels: HashMap<String, String> = v.labels.clone().into_iter().collect();
        labels.insert(labels::PROJECT.into(), self.name.clone());
        labels.insert(labels::VOLUME.into(), key.into());
        labels.insert(labels::VERSION.into(), COMPOSE_VERSION.into());
        VolumeCreateRequest {
            name: Some(v.name.clone()),
            driver: Some(v.driver.clone().unwrap_or_else(|| "local".into())),
            driver_opts: (!v.driver_opts.is_empty()).then(|| v.driver_opts.clone().into_iter().collect()),
            labels: Some(labels),
            ..Default::default()
        }
    }
}
