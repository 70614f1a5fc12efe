//! The resolved model back as YAML (`compose config`): long forms, absolute paths, sorted keys.

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use crate::convert::format_duration;
use crate::model::*;

/// A mapping with sorted keys, built from a BTreeMap.
#[derive(Default)]
pub(crate) struct Map(BTreeMap<String, Value>);

impl Map {
    fn set(&mut self, k: &str, v: impl Into<Value>) -> &mut Self {
        self.0.insert(k.to_string(), v.into());
        self
    }
    fn opt<T: Into<Value>>(&mut self, k: &str, v: Option<T>) -> &mut Self {
        if let Some(v) = v {
            self.set(k, v);
        }
        self
    }
    fn flag(&mut self, k: &str, b: bool) -> &mut Self {
        if b {
            self.set(k, true);
        }
        self
    }
    fn list(&mut self, k: &str, l: &[String]) -> &mut Self {
        if !l.is_empty() {
            self.set(k, seq(l));
        }
        self
    }
    fn strings(&mut self, k: &str, m: &BTreeMap<String, String>) -> &mut Self {
        if !m.is_empty() {
            self.set(k, str_map(m));
        }
        self
    }
    pub(crate) fn value(self) -> Value {
        let mut m = Mapping::new();
        for (k, v) in self.0 {
            m.insert(Value::from(k), v);
        }
        Value::Mapping(m)
    }
}

fn seq(l: &[String]) -> Value {
    Value::Sequence(l.iter().map(|s| Value::from(s.as_str())).collect())
}

fn str_map(m: &BTreeMap<String, String>) -> Value {
    let mut out = Map::default();
    for (k, v) in m {
        out.set(k, v.as_str());
    }
    out.value()
}

fn dur(d: Option<std::time::Duration>) -> Option<String> {
    d.map(format_duration)
}

/// A service in long form (also what the config hash is computed over, minus the scale).
pub(crate) fn service(s: &Service) -> Value {
    let mut m = Map::default();
    m.opt("image", s.image.as_deref());
    if let Some(b) = &s.build {
        let mut bm = Map::default();
        bm.set("context", b.context.display().to_string());
        bm.set("dockerfile", b.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into()));
        if !b.args.is_empty() {
            let mut a = Map::default();
            for (k, v) in &b.args {
                a.set(k, v.as_deref().map(Value::from).unwrap_or(Value::Null));
            }
            bm.set("args", a.value());
        }
        bm.opt("target", b.target.as_deref()).strings("labels", &b.labels).opt("network", b.network.as_deref());
        bm.flag("no_cache", b.no_cache).flag("pull", b.pull);
        m.set("build", bm.value());
    }
    if let Some(c) = &s.command {
        m.set("command", seq(c));
    }
    if let Some(c) = &s.entrypoint {
        m.set("entrypoint", seq(c));
    }
    if !s.environment.is_empty() {
        let mut e = Map::default();
        for (k, v) in &s.environment {
            e.set(k, v.as_deref().map(Value::from).unwrap_or(Value::Null));
        }
        m.set("environment", e.value());
    }
    if !s.ports.is_empty() {
        let ports = s
            .ports
            .iter()
            .map(|p| {
                let mut pm = Map::default();
                pm.set("mode", p.mode.clone().unwrap_or_else(|| "ingress".into()))
                    .set("target", p.target as u64)
                    .opt("published", p.published.as_deref())
                    .opt("host_ip", p.host_ip.as_deref())
                    .set("protocol", p.protocol.as_str());
                pm.value()
            })
            .collect();
        m.set("ports", Value::Sequence(ports));
    }
    m.list("expose", &s.expose);
    if !s.volumes.is_empty() {
        let vols = s.volumes.iter().map(volume).collect();
        m.set("volumes", Value::Sequence(vols));
    }
    if !s.networks.is_empty() || s.network_mode.is_none() {
        let mut nm = Map::default();
        let names = s.network_names();
        for n in names {
            let sn = s.networks.get(&n).cloned().unwrap_or_default();
            if sn == ServiceNetwork::default() {
                nm.set(&n, Value::Null);
            } else {
                let mut o = Map::default();
                o.list("aliases", &sn.aliases)
                    .opt("ipv4_address", sn.ipv4_address.as_deref())
                    .opt("ipv6_address", sn.ipv6_address.as_deref())
                    .opt("priority", sn.priority);
                nm.set(&n, o.value());
            }
        }
        m.set("networks", nm.value());
    }
    m.opt("network_mode", s.network_mode.as_deref());
    if !s.depends_on.is_empty() {
        let mut d = Map::default();
        for (k, dep) in &s.depends_on {
            let mut o = Map::default();
            o.set("condition", dep.condition.as_str()).set("restart", dep.restart).set("required", dep.required);
            d.set(k, o.value());
        }
        m.set("depends_on", d.value());
    }
    if let Some(h) = &s.healthcheck {
        let mut o = Map::default();
        o.list("test", &h.test)
            .opt("interval", dur(h.interval))
            .opt("timeout", dur(h.timeout))
            .opt("retries", h.retries.map(u64::from))
            .opt("start_period", dur(h.start_period))
            .opt("start_interval", dur(h.start_interval));
        m.set("healthcheck", o.value());
    }
    m.opt("restart", s.restart.as_deref()).strings("labels", &s.labels);
    m.opt("user", s.user.as_deref()).opt("working_dir", s.working_dir.as_deref());
    if let Some(d) = &s.deploy {
        let mut o = Map::default();
        o.opt("replicas", d.replicas.map(u64::from));
        let mut res = Map::default();
        for (k, l) in [("limits", &d.limits), ("reservations", &d.reservations)] {
            if *l != Limits::default() {
                let mut lm = Map::default();
                lm.opt("cpus", l.cpus).opt("memory", l.memory).opt("pids", l.pids);
                res.set(k, lm.value());
            }
        }
        if !res.0.is_empty() {
            o.set("resources", res.value());
        }
        m.set("deploy", o.value());
    }
    m.opt("scale", s.scale.map(u64::from)).list("profiles", &s.profiles);
    m.opt("container_name", s.container_name.as_deref())
        .opt("hostname", s.hostname.as_deref())
        .opt("domainname", s.domainname.as_deref());
    m.list("cap_add", &s.cap_add).list("cap_drop", &s.cap_drop);
    m.flag("privileged", s.privileged).flag("read_only", s.read_only).flag("tty", s.tty).flag("stdin_open", s.stdin_open);
    m.list("tmpfs", &s.tmpfs).opt("init", s.init);
    m.opt("stop_signal", s.stop_signal.as_deref()).opt("stop_grace_period", dur(s.stop_grace_period));
    for (k, refs) in [("secrets", &s.secrets), ("configs", &s.configs)] {
        if !refs.is_empty() {
            let items = refs
                .iter()
                .map(|r| {
                    let mut o = Map::default();
                    o.set("source", r.source.as_str())
                        .opt("target", r.target.as_deref())
                        .opt("uid", r.uid.as_deref())
                        .opt("gid", r.gid.as_deref())
                        .opt("mode", r.mode.map(u64::from));
                    o.value()
                })
                .collect();
            m.set(k, Value::Sequence(items));
        }
    }
    m.list("dns", &s.dns).list("dns_search", &s.dns_search).list("extra_hosts", &s.extra_hosts);
    m.strings("sysctls", &s.sysctls).list("security_opt", &s.security_opt).opt("shm_size", s.shm_size);
    m.opt("pull_policy", s.pull_policy.as_deref()).opt("platform", s.platform.as_deref());
    let env_files: Vec<String> = s.env_file.iter().map(|p| p.display().to_string()).collect();
    m.list("env_file", &env_files);
    m.value()
}

fn volume(v: &ServiceVolume) -> Value {
    let mut m = Map::default();
    m.set("type", v.kind.as_str()).opt("source", v.source.as_deref()).set("target", v.target.as_str());
    m.flag("read_only", v.read_only);
    match v.kind {
        VolumeType::Bind => {
            let mut b = Map::default();
            b.set("create_host_path", v.create_host_path)
                .opt("propagation", v.propagation.as_deref())
                .opt("selinux", v.selinux.as_deref());
            m.set("bind", b.value());
        }
        VolumeType::Volume => {
            if v.nocopy || v.subpath.is_some() {
                let mut b = Map::default();
                b.flag("nocopy", v.nocopy).opt("subpath", v.subpath.as_deref());
                m.set("volume", b.value());
            }
        }
        VolumeType::Tmpfs => {
            if v.tmpfs_size.is_some() || v.tmpfs_mode.is_some() {
                let mut b = Map::default();
                b.opt("size", v.tmpfs_size).opt("mode", v.tmpfs_mode.map(u64::from));
                m.set("tmpfs", b.value());
            }
        }
    }
    m.value()
}

pub(crate) fn project(p: &Project) -> String {
    let mut top = Map::default();
    top.set("name", p.name.as_str());
    let mut svcs = Map::default();
    for (n, s) in &p.services {
        svcs.set(n, service(s));
    }
    top.set("services", svcs.value());
    if !p.networks.is_empty() {
        let mut nets = Map::default();
        for (k, n) in &p.networks {
            let mut o = Map::default();
            o.set("name", n.name.as_str()).opt("driver", n.driver.as_deref()).strings("driver_opts", &n.driver_opts);
            if let Some(ipam) = &n.ipam {
                let mut im = Map::default();
                im.opt("driver", ipam.driver.as_deref());
                if !ipam.config.is_empty() {
                    let cfg = ipam
                        .config
                        .iter()
                        .map(|c| {
                            let mut cm = Map::default();
                            cm.opt("subnet", c.subnet.as_deref()).opt("ip_range", c.ip_range.as_deref()).opt("gateway", c.gateway.as_deref());
                            cm.value()
                        })
                        .collect();
                    im.set("config", Value::Sequence(cfg));
                }
                o.set("ipam", im.value());
            }
            o.flag("internal", n.internal).flag("attachable", n.attachable).flag("enable_ipv6", n.enable_ipv6);
            o.flag("external", n.external).strings("labels", &n.labels);
            nets.set(k, o.value());
        }
        top.set("networks", nets.value());
    }
    if !p.volumes.is_empty() {
        let mut vols = Map::default();
        for (k, v) in &p.volumes {
            let mut o = Map::default();
            o.set("name", v.name.as_str()).opt("driver", v.driver.as_deref()).strings("driver_opts", &v.driver_opts);
            o.flag("external", v.external).strings("labels", &v.labels);
            vols.set(k, o.value());
        }
        top.set("volumes", vols.value());
    }
    for (k, objs) in [("secrets", &p.secrets), ("configs", &p.configs)] {
        if !objs.is_empty() {
            let mut all = Map::default();
            for (n, o) in objs {
                let mut om = Map::default();
                om.set("name", o.name.as_str())
                    .opt("file", o.file.as_ref().map(|f| f.display().to_string()))
                    .opt("environment", o.environment.as_deref())
                    .opt("content", o.content.as_deref())
                    .flag("external", o.external);
                all.set(n, om.value());
            }
            top.set(k, all.value());
        }
    }
    serde_yaml::to_string(&top.value()).unwrap_or_default()
}
