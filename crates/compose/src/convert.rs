//! From a merged, interpolated YAML tree to the typed model, checking keys and types as it goes.
//! Every error names the file (or the files, once merged) and the dotted key.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use crate::model::*;
use crate::LoadError;

/// Top-level keys of a compose file.
const TOP_KEYS: &[&str] = &["version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models"];

/// Service keys we turn into the model.
const SERVICE_KEYS: &[&str] = &[
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes",
    "networks", "network_mode", "depends_on", "healthcheck", "restart", "labels", "user", "working_dir",
    "deploy", "scale", "profiles", "extends", "container_name", "hostname", "domainname", "cap_add",
    "cap_drop", "privileged", "read_only", "tmpfs", "init", "stop_signal", "stop_grace_period", "tty",
    "stdin_open", "secrets", "configs", "dns", "dns_search", "extra_hosts", "sysctls", "security_opt",
    "shm_size", "pull_policy", "platform", "mem_limit", "mem_reservation", "cpus", "pids_limit",
];

/// Compose-spec service keys we accept but do not act on (a warning each).
const IGNORED_SERVICE_KEYS: &[&str] = &[
    "annotations", "attach", "blkio_config", "cgroup", "cgroup_parent", "cpu_count", "cpu_percent",
    "cpu_period", "cpu_quota", "cpu_rt_period", "cpu_rt_runtime", "cpu_shares", "cpuset", "credential_spec",
    "develop", "device_cgroup_rules", "devices", "dns_opt", "driver_opts", "external_links", "gpus",
    "group_add", "ipc", "isolation", "label_file", "links", "logging", "mac_address", "mem_swappiness",
    "memswap_limit", "models", "oom_kill_disable", "oom_score_adj", "pid", "post_start", "pre_stop",
    "provider", "runtime", "storage_opt", "ulimits", "use_api_socket", "userns_mode", "uts", "volumes_from",
];

pub(crate) struct Cx<'a> {
    pub file: &'a str,
    pub project_dir: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    pub warnings: Vec<String>,
    /// One file of several: services need not be complete.
    pub partial: bool,
}

type R<T> = Result<T, LoadError>;

impl Cx<'_> {
    fn err(&self, key: &str, msg: impl Into<String>) -> LoadError {
        LoadError::invalid(self.file, key, msg)
    }

    fn mapping<'v>(&self, v: &'v Value, key: &str) -> R<&'v Mapping> {
        match v {
            Value::Mapping(m) => Ok(m),
            _ => Err(self.err(key, format!("must be a mapping, not {}", type_name(v)))),
        }
    }

    fn string(&self, v: &Value, key: &str) -> R<String> {
        scalar_string(v).ok_or_else(|| self.err(key, format!("must be a string, not {}", type_name(v))))
    }

    fn opt_string(&self, m: &Mapping, k: &str, key: &str) -> R<Option<String>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string(v, &format!("{key}.{k}")).map(Some),
        }
    }

    fn boolean(&self, v: &Value, key: &str) -> R<bool> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "y" | "on" | "1" => Ok(true),
                "false" | "no" | "n" | "off" | "0" | "" => Ok(false),
                _ => Err(self.err(key, format!("must be a boolean, not {s:?}"))),
            },
            _ => Err(self.err(key, format!("must be a boolean, not {}", type_name(v)))),
        }
    }

    fn opt_bool(&self, m: &Mapping, k: &str, key: &str) -> R<Option<bool>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.boolean(v, &format!("{key}.{k}")).map(Some),
        }
    }

    fn integer(&self, v: &Value, key: &str) -> R<i64> {
        match v {
            Value::Number(n) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or_default()),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().unwrap_or_default()),
            _ => Err(self.err(key, format!("must be an integer, not {}", describe(v)))),
        }
    }

    fn uint(&self, v: &Value, key: &str) -> R<u32> {
        let i = self.integer(v, key)?;
        u32::try_from(i).map_err(|_| self.err(key, format!("must be a non-negative integer, not {i}")))
    }

    fn string_list(&self, v: &Value, key: &str, allow_single: bool) -> R<Vec<String>> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Sequence(s) => s.iter().enumerate().map(|(i, x)| self.string(x, &format!("{key}[{i}]"))).collect(),
            v if allow_single && scalar_string(v).is_some() => Ok(vec![scalar_string(v).unwrap_or_default()]),
            _ => Err(self.err(key, format!("must be a list of strings, not {}", type_name(v)))),
        }
    }

    /// `KEY=VALUE` list or mapping; `None` values for a name without `=` / a null value.
    fn keyed(&self, v: &Value, key: &str) -> R<BTreeMap<String, Option<String>>> {
        let mut out = BTreeMap::new();
        match v {
            Value::Null => {}
            Value::Mapping(m) => {
                for (k, val) in m {
                    let k = self.string(k, key)?;
                    let val = match val {
                        Value::Null => None,
                        other => Some(self.string(other, &format!("{key}.{k}"))?),
                    };
                    out.insert(k, val);
                }
            }
            Value::Sequence(s) => {
                for (i, item) in s.iter().enumerate() {
                    let item = self.string(item, &format!("{key}[{i}]"))?;
                    match item.split_once('=') {
                        Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                        None => out.insert(item, None),
                    };
                }
            }
            other => return Err(self.err(key, format!("must be a mapping or a list, not {}", type_name(other)))),
        }
        Ok(out)
    }

    fn labels(&self, v: &Value, key: &str) -> R<BTreeMap<String, String>> {
        Ok(self.keyed(v, key)?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
    }

    fn duration(&self, v: &Value, key: &str) -> R<Duration> {
        let s = self.string(v, key)?;
        parse_duration(&s).ok_or_else(|| self.err(key, format!("invalid duration {s:?}")))
    }

    fn opt_duration(&self, m: &Mapping, k: &str, key: &str) -> R<Option<Duration>> {
        match m.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.duration(v, &format!("{key}.{k}")).map(Some),
        }
    }

    fn bytes(&self, v: &Value, key: &str) -> R<i64> {
        let s = self.string(v, key)?;
        parse_bytes(&s).ok_or_else(|| self.err(key, format!("invalid size {s:?}")))
    }

    fn path(&self, p: &str) -> PathBuf {
        resolve_path(self.project_dir, p, self.env)
    }

    fn check_keys(&self, m: &Mapping, key: &str, allowed: &[&str]) -> R<()> {
        for k in m.keys() {
            let name = self.string(k, key)?;
            if name.starts_with("x-") {
                continue;
            }
            if !allowed.contains(&name.as_str()) {
                let at = if key.is_empty() { name.clone() } else { format!("{key}.{name}") };
                return Err(self.err(&at, "additional property not allowed (not a compose key)"));
            }
        }
        Ok(())
    }
}

/// Convert a whole document. With `cx.partial`, services may be incomplete (override files).
pub(crate) fn project(cx: &mut Cx<'_>, doc: &Value, project_name: &str) -> R<Project> {
    let top = cx.mapping(doc, "(root)")?;
    cx.check_keys(top, "", TOP_KEYS)?;
    if top.contains_key("include") {
        return Err(cx.err("include", "not supported by berth compose yet"));
    }
    let mut p = Project { name: project_name.to_string(), working_dir: cx.project_dir.to_path_buf(), ..Default::default() };
    if top.contains_key("version") {
        cx.warnings.push("the attribute `version` is obsolete, it will be ignored".to_string());
    }
    if let Some(v) = top.get("services") {
        for (k, svc) in cx.mapping(v, "services")?.clone() {
            let name = cx.string(&k, "services")?;
            let s = service(cx, &name, &svc)?;
            p.services.insert(name, s);
        }
    }
    if let Some(v) = top.get("networks") {
        for (k, n) in cx.mapping(v, "networks")?.clone() {
            let name = cx.string(&k, "networks")?;
            let net = network(cx, &name, &n, project_name)?;
            p.networks.insert(name, net);
        }
    }
    if let Some(v) = top.get("volumes") {
        for (k, n) in cx.mapping(v, "volumes")?.clone() {
            let name = cx.string(&k, "volumes")?;
            let vol = volume(cx, &name, &n, project_name)?;
            p.volumes.insert(name, vol);
        }
    }
    for (attr, dest) in [("secrets", &mut p.secrets), ("configs", &mut p.configs)] {
        if let Some(v) = top.get(attr) {
            for (k, n) in cx.mapping(v, attr)?.clone() {
                let name = cx.string(&k, attr)?;
                let obj = file_object(cx, attr, &name, &n, project_name)?;
                dest.insert(name, obj);
            }
        }
    }
    p.warnings = std::mem::take(&mut cx.warnings);
    Ok(p)
}

fn service(cx: &mut Cx<'_>, name: &str, v: &Value) -> R<Service> {
    let key = format!("services.{name}");
    let m = match v {
        Value::Null => Mapping::new(),
        other => cx.mapping(other, &key)?.clone(),
    };
    for k in m.keys() {
        let kn = cx.string(k, &key)?;
        if kn.starts_with("x-") || SERVICE_KEYS.contains(&kn.as_str()) {
            continue;
        }
        if IGNORED_SERVICE_KEYS.contains(&kn.as_str()) {
            let w = format!("{key}.{kn} is not supported and is ignored");
            if !cx.warnings.contains(&w) {
                cx.warnings.push(w);
            }
            continue;
        }
        return Err(cx.err(&format!("{key}.{kn}"), "additional property not allowed (not a compose key)"));
    }
    let mut s = Service { name: name.to_string(), ..Default::default() };
    let sub = |k: &str| format!("{key}.{k}");
    s.image = cx.opt_string(&m, "image", &key)?;
    if let Some(b) = m.get("build") {
        s.build = Some(build(cx, b, &sub("build"))?);
    }
    if !cx.partial && s.image.is_none() && s.build.is_none() {
        return Err(cx.err(&key, "has neither an image nor a build context specified"));
    }
    for (k, dest) in [("command", &mut s.command), ("entrypoint", &mut s.entrypoint)] {
        match m.get(k) {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(_)) => *dest = Some(cx.string_list(&m[k], &sub(k), false)?),
            Some(other) => {
                let line = cx.string(other, &sub(k))?;
                *dest = Some(shell_split(&line).ok_or_else(|| cx.err(&sub(k), format!("unbalanced quotes in {line:?}")))?);
            }
        }
    }
    // env_file first, then environment over it
    if let Some(v) = m.get("env_file") {
        let entries: Vec<(String, bool)> = match v {
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, it)| match it {
                    Value::Mapping(em) => Ok((
                        cx.opt_string(em, "path", &format!("{}[{i}]", sub("env_file")))?.unwrap_or_default(),
                        cx.opt_bool(em, "required", &format!("{}[{i}]", sub("env_file")))?.unwrap_or(true),
                    )),
                    other => Ok((cx.string(other, &format!("{}[{i}]", sub("env_file")))?, true)),
                })
                .collect::<R<_>>()?,
            other => vec![(cx.string(other, &sub("env_file"))?, true)],
        };
        for (path, required) in entries {
            let p = cx.path(&path);
            match std::fs::read_to_string(&p) {
                Ok(content) => {
                    let vars = crate::dotenv::parse(&content, cx.env).map_err(|(line, msg)| LoadError::Invalid {
                        file: p.display().to_string(),
                        key: format!("line {line}"),
                        message: msg,
                    })?;
                    for (k, v) in vars {
                        s.environment.insert(k, v);
                    }
                }
                Err(e) if required => return Err(LoadError::Read { path: p, message: e.to_string() }),
                Err(_) => {}
            }
            s.env_file.push(p);
        }
    }
    if let Some(v) = m.get("environment") {
        for (k, val) in cx.keyed(v, &sub("environment"))? {
            let val = val.or_else(|| cx.env.get(&k).cloned());
            s.environment.insert(k, val);
        }
    }
    if let Some(v) = m.get("ports") {
        let Value::Sequence(items) = v else {
            return Err(cx.err(&sub("ports"), format!("must be a list, not {}", type_name(v))));
        };
        for (i, item) in items.iter().enumerate() {
            let ports = parse_ports_value(item).map_err(|msg| cx.err(&format!("{}[{i}]", sub("ports")), msg))?;
            s.ports.extend(ports);
        }
    }
    if let Some(v) = m.get("expose") {
        s.expose = cx.string_list(v, &sub("expose"), false)?;
        for (i, e) in s.expose.iter().enumerate() {
            let (num, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            if parse_port_range(num).is_none() || !["tcp", "udp", "sctp"].contains(&proto) {
                return Err(cx.err(&format!("{}[{i}]", sub("expose")), format!("invalid port {e:?}")));
            }
        }
    }
    if let Some(v) = m.get("volumes") {
        let Value::Sequence(items) = v else {
            return Err(cx.err(&sub("volumes"), format!("must be a list, not {}", type_name(v))));
        };
        for (i, item) in items.iter().enumerate() {
            let k = format!("{}[{i}]", sub("volumes"));
            s.volumes.push(service_volume(cx, item, &k)?);
        }
    }
    if let Some(v) = m.get("networks") {
        match v {
            Value::Sequence(_) => {
                for n in cx.string_list(v, &sub("networks"), false)? {
                    s.networks.insert(n, ServiceNetwork::default());
                }
            }
            Value::Mapping(nm) => {
                for (k, nv) in nm {
                    let n = cx.string(k, &sub("networks"))?;
                    let nk = format!("{}.{n}", sub("networks"));
                    let mut sn = ServiceNetwork::default();
                    if let Value::Mapping(o) = nv {
                        cx.check_keys(o, &nk, &["aliases", "ipv4_address", "ipv6_address", "priority", "link_local_ips", "mac_address", "driver_opts", "gw_priority", "interface_name"])?;
                        if let Some(a) = o.get("aliases") {
                            sn.aliases = cx.string_list(a, &format!("{nk}.aliases"), false)?;
                        }
                        sn.ipv4_address = cx.opt_string(o, "ipv4_address", &nk)?;
                        sn.ipv6_address = cx.opt_string(o, "ipv6_address", &nk)?;
                        if let Some(p) = o.get("priority").or_else(|| o.get("gw_priority")) {
                            sn.priority = Some(cx.integer(p, &format!("{nk}.priority"))?);
                        }
                    } else if !nv.is_null() {
                        return Err(cx.err(&nk, format!("must be a mapping or null, not {}", type_name(nv))));
                    }
                    s.networks.insert(n, sn);
                }
            }
            other => return Err(cx.err(&sub("networks"), format!("must be a list or a mapping, not {}", type_name(other)))),
        }
    }
    s.network_mode = cx.opt_string(&m, "network_mode", &key)?;
    if s.network_mode.is_some() && !s.networks.is_empty() {
        return Err(cx.err(&sub("network_mode"), "cannot be combined with networks"));
    }
    if let Some(v) = m.get("depends_on") {
        match v {
            Value::Sequence(_) => {
                for d in cx.string_list(v, &sub("depends_on"), false)? {
                    s.depends_on.insert(d, Dependency { condition: Condition::ServiceStarted, restart: false, required: true });
                }
            }
            Value::Mapping(dm) => {
                for (k, dv) in dm {
                    let d = cx.string(k, &sub("depends_on"))?;
                    let dk = format!("{}.{d}", sub("depends_on"));
                    let o = match dv {
                        Value::Null => Mapping::new(),
                        other => cx.mapping(other, &dk)?.clone(),
                    };
                    cx.check_keys(&o, &dk, &["condition", "restart", "required"])?;
                    let condition = match cx.opt_string(&o, "condition", &dk)?.as_deref() {
                        None | Some("service_started") => Condition::ServiceStarted,
                        Some("service_healthy") => Condition::ServiceHealthy,
                        Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
                        Some(other) => return Err(cx.err(&format!("{dk}.condition"), format!("invalid condition {other:?}"))),
                    };
                    s.depends_on.insert(
                        d,
                        Dependency {
                            condition,
                            restart: cx.opt_bool(&o, "restart", &dk)?.unwrap_or(false),
                            required: cx.opt_bool(&o, "required", &dk)?.unwrap_or(true),
                        },
                    );
                }
            }
            other => return Err(cx.err(&sub("depends_on"), format!("must be a list or a mapping, not {}", type_name(other)))),
        }
    }
    if let Some(v) = m.get("healthcheck") {
        s.healthcheck = healthcheck(cx, v, &sub("healthcheck"))?;
    }
    if let Some(r) = cx.opt_string(&m, "restart", &key)? {
        let (name, count) = r.split_once(':').unwrap_or((&r, ""));
        let ok = match name {
            "no" | "always" | "unless-stopped" => count.is_empty(),
            "on-failure" => count.is_empty() || count.parse::<u32>().is_ok(),
            _ => false,
        };
        if !ok {
            return Err(cx.err(&sub("restart"), format!("invalid restart policy {r:?}")));
        }
        s.restart = Some(r);
    }
    if let Some(v) = m.get("labels") {
        s.labels = cx.labels(v, &sub("labels"))?;
    }
    s.user = cx.opt_string(&m, "user", &key)?;
    s.working_dir = cx.opt_string(&m, "working_dir", &key)?;
    if let Some(v) = m.get("deploy") {
        s.deploy = Some(deploy(cx, v, &sub("deploy"))?);
    }
    // legacy resource keys fill what deploy does not say
    let legacy_mem = m.get("mem_limit").map(|v| cx.bytes(v, &sub("mem_limit"))).transpose()?;
    let legacy_res = m.get("mem_reservation").map(|v| cx.bytes(v, &sub("mem_reservation"))).transpose()?;
    let legacy_cpus = m.get("cpus").map(|v| cpus(cx, v, &sub("cpus"))).transpose()?;
    let legacy_pids = m.get("pids_limit").map(|v| cx.integer(v, &sub("pids_limit"))).transpose()?;
    if legacy_mem.is_some() || legacy_cpus.is_some() || legacy_pids.is_some() || legacy_res.is_some() {
        let d = s.deploy.get_or_insert_with(Deploy::default);
        d.limits.memory = d.limits.memory.or(legacy_mem);
        d.limits.cpus = d.limits.cpus.or(legacy_cpus);
        d.limits.pids = d.limits.pids.or(legacy_pids);
        d.reservations.memory = d.reservations.memory.or(legacy_res);
    }
    if let Some(v) = m.get("scale") {
        s.scale = Some(cx.uint(v, &sub("scale"))?);
    }
    if let Some(v) = m.get("profiles") {
        s.profiles = cx.string_list(v, &sub("profiles"), false)?;
    }
    s.container_name = cx.opt_string(&m, "container_name", &key)?;
    s.hostname = cx.opt_string(&m, "hostname", &key)?;
    s.domainname = cx.opt_string(&m, "domainname", &key)?;
    for (k, dest) in [
        ("cap_add", &mut s.cap_add),
        ("cap_drop", &mut s.cap_drop),
        ("dns_search", &mut s.dns_search),
        ("security_opt", &mut s.security_opt),
    ] {
        if let Some(v) = m.get(k) {
            *dest = cx.string_list(v, &sub(k), k == "dns_search")?;
        }
    }
    for (k, dest) in [("dns", &mut s.dns), ("tmpfs", &mut s.tmpfs)] {
        if let Some(v) = m.get(k) {
            *dest = cx.string_list(v, &sub(k), true)?;
        }
    }
    for (i, t) in s.tmpfs.iter().enumerate() {
        if !t.starts_with('/') {
            return Err(cx.err(&format!("{}[{i}]", sub("tmpfs")), format!("invalid tmpfs {t:?}: path must be absolute")));
        }
    }
    if let Some(v) = m.get("extra_hosts") {
        s.extra_hosts = match v {
            Value::Mapping(_) => cx
                .labels(v, &sub("extra_hosts"))?
                .into_iter()
                .map(|(h, ip)| format!("{h}:{ip}"))
                .collect(),
            other => cx
                .string_list(other, &sub("extra_hosts"), false)?
                .into_iter()
                .map(|e| match e.split_once('=') {
                    Some((h, ip)) => format!("{h}:{ip}"),
                    None => e,
                })
                .collect(),
        };
    }
    if let Some(v) = m.get("sysctls") {
        s.sysctls = cx.labels(v, &sub("sysctls"))?;
    }
    for (k, dest) in [
        ("privileged", &mut s.privileged),
        ("read_only", &mut s.read_only),
        ("tty", &mut s.tty),
        ("stdin_open", &mut s.stdin_open),
    ] {
        if let Some(b) = cx.opt_bool(&m, k, &key)? {
            *dest = b;
        }
    }
    s.init = cx.opt_bool(&m, "init", &key)?;
    s.stop_signal = cx.opt_string(&m, "stop_signal", &key)?;
    s.stop_grace_period = cx.opt_duration(&m, "stop_grace_period", &key)?;
    if let Some(v) = m.get("shm_size") {
        s.shm_size = Some(cx.bytes(v, &sub("shm_size"))?);
    }
    s.pull_policy = cx.opt_string(&m, "pull_policy", &key)?;
    if let Some(pp) = &s.pull_policy {
        if !["always", "never", "missing", "if_not_present", "build", "daily", "weekly"].contains(&pp.as_str()) && !pp.starts_with("every_") {
            return Err(cx.err(&sub("pull_policy"), format!("invalid pull policy {pp:?}")));
        }
    }
    s.platform = cx.opt_string(&m, "platform", &key)?;
    for (k, dest) in [("secrets", &mut s.secrets), ("configs", &mut s.configs)] {
        if let Some(v) = m.get(k) {
            let Value::Sequence(items) = v else {
                return Err(cx.err(&sub(k), format!("must be a list, not {}", type_name(v))));
            };
            for (i, item) in items.iter().enumerate() {
                let ik = format!("{}[{i}]", sub(k));
                let r = match item {
                    Value::Mapping(o) => {
                        cx.check_keys(o, &ik, &["source", "target", "uid", "gid", "mode"])?;
                        let mode = match o.get("mode") {
                            None | Some(Value::Null) => None,
                            Some(Value::Number(n)) => n.as_u64().map(|m| m as u32),
                            Some(Value::String(st)) => u32::from_str_radix(st.trim_start_matches("0o"), 8).ok(),
                            Some(other) => return Err(cx.err(&format!("{ik}.mode"), format!("must be a number, not {}", type_name(other)))),
                        };
                        FileRef {
                            source: cx.opt_string(o, "source", &ik)?.ok_or_else(|| cx.err(&ik, "source is required"))?,
                            target: cx.opt_string(o, "target", &ik)?,
                            uid: cx.opt_string(o, "uid", &ik)?,
                            gid: cx.opt_string(o, "gid", &ik)?,
                            mode,
                        }
                    }
                    other => FileRef { source: cx.string(other, &ik)?, ..Default::default() },
                };
                dest.push(r);
            }
        }
    }
    Ok(s)
}

fn build(cx: &mut Cx<'_>, v: &Value, key: &str) -> R<Build> {
    match v {
        Value::Mapping(m) => {
            cx.check_keys(m, key, &[
                "context", "dockerfile", "dockerfile_inline", "args", "target", "labels", "network", "no_cache", "pull",
                "ssh", "cache_from", "cache_to", "extra_hosts", "isolation", "privileged", "secrets", "tags", "platforms",
                "shm_size", "ulimits", "additional_contexts", "entitlements", "provenance", "sbom",
            ])?;
            let context = cx.opt_string(m, "context", key)?.unwrap_or_else(|| ".".to_string());
            Ok(Build {
                context: context_path(cx, &context),
                dockerfile: cx.opt_string(m, "dockerfile", key)?,
                args: match m.get("args") {
                    Some(a) => cx
                        .keyed(a, &format!("{key}.args"))?
                        .into_iter()
                        .map(|(k, v)| {
                            let v = v.or_else(|| cx.env.get(&k).cloned());
                            (k, v)
                        })
                        .collect(),
                    None => BTreeMap::new(),
                },
                target: cx.opt_string(m, "target", key)?,
                labels: match m.get("labels") {
                    Some(l) => cx.labels(l, &format!("{key}.labels"))?,
                    None => BTreeMap::new(),
                },
                network: cx.opt_string(m, "network", key)?,
                no_cache: cx.opt_bool(m, "no_cache", key)?.unwrap_or(false),
                pull: cx.opt_bool(m, "pull", key)?.unwrap_or(false),
            })
        }
        other => {
            let c = cx.string(other, key)?;
            Ok(Build { context: context_path(cx, &c), ..Default::default() })
        }
    }
}

fn context_path(cx: &Cx<'_>, c: &str) -> PathBuf {
    if c.contains("://") || c.starts_with("git@") {
        PathBuf::from(c)
    } else {
        cx.path(c)
    }
}

fn healthcheck(cx: &mut Cx<'_>, v: &Value, key: &str) -> R<Option<Healthcheck>> {
    let m = cx.mapping(v, key)?.clone();
    cx.check_keys(&m, key, &["test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"])?;
    if cx.opt_bool(&m, "disable", key)?.unwrap_or(false) {
        return Ok(Some(Healthcheck { test: vec!["NONE".to_string()], ..Default::default() }));
    }
    let test = match m.get("test") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(_)) => {
            let t = cx.string_list(&m["test"], &format!("{key}.test"), false)?;
            match t.first().map(String::as_str) {
                Some("CMD") | Some("CMD-SHELL") | Some("NONE") => t,
                _ => return Err(cx.err(&format!("{key}.test"), "a list must start with CMD, CMD-SHELL or NONE")),
            }
        }
        Some(other) => vec!["CMD-SHELL".to_string(), cx.string(other, &format!("{key}.test"))?],
    };
    Ok(Some(Healthcheck {
        test,
        interval: cx.opt_duration(&m, "interval", key)?,
        timeout: cx.opt_duration(&m, "timeout", key)?,
        retries: m.get("retries").map(|r| cx.uint(r, &format!("{key}.retries"))).transpose()?,
        start_period: cx.opt_duration(&m, "start_period", key)?,
        start_interval: cx.opt_duration(&m, "start_interval", key)?,
    }))
}

fn cpus(cx: &Cx<'_>, v: &Value, key: &str) -> R<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|c| *c >= 0.0)
    .ok_or_else(|| cx.err(key, format!("must be a number of CPUs, not {}", describe(v))))
}

fn deploy(cx: &mut Cx<'_>, v: &Value, key: &str) -> R<Deploy> {
    let m = cx.mapping(v, key)?.clone();
    cx.check_keys(&m, key, &["mode", "replicas", "resources", "labels", "restart_policy", "placement", "update_config", "rollback_config", "endpoint_mode"])?;
    for k in ["labels", "restart_policy", "placement", "update_config", "rollback_config", "endpoint_mode"] {
        if m.contains_key(k) {
            let w = format!("{key}.{k} is not supported and is ignored");
            if !cx.warnings.contains(&w) {
                cx.warnings.push(w);
            }
        }
    }
    let mut d = Deploy::default();
    if let Some(r) = m.get("replicas") {
        d.replicas = Some(cx.uint(r, &format!("{key}.replicas"))?);
    }
    if let Some(r) = m.get("resources") {
        let rk = format!("{key}.resources");
        let rm = cx.mapping(r, &rk)?.clone();
        cx.check_keys(&rm, &rk, &["limits", "reservations"])?;
        for (k, dest) in [("limits", &mut d.limits), ("reservations", &mut d.reservations)] {
            if let Some(l) = rm.get(k) {
                let lk = format!("{rk}.{k}");
                let lm = cx.mapping(l, &lk)?.clone();
                cx.check_keys(&lm, &lk, &["cpus", "memory", "pids", "devices", "generic_resources"])?;
                if let Some(c) = lm.get("cpus") {
                    dest.cpus = Some(cpus(cx, c, &format!("{lk}.cpus"))?);
                }
                if let Some(mv) = lm.get("memory") {
                    dest.memory = Some(cx.bytes(mv, &format!("{lk}.memory"))?);
                }
                if let Some(p) = lm.get("pids") {
                    dest.pids = Some(cx.integer(p, &format!("{lk}.pids"))?);
                }
            }
        }
    }
    Ok(d)
}

fn network(cx: &mut Cx<'_>, name: &str, v: &Value, project: &str) -> R<Network> {
    let key = format!("networks.{name}");
    let m = match v {
        Value::Null => Mapping::new(),
        other => cx.mapping(other, &key)?.clone(),
    };
    cx.check_keys(&m, &key, &["name", "driver", "driver_opts", "ipam", "internal", "external", "attachable", "enable_ipv4", "enable_ipv6", "labels"])?;
    let external = external(cx, &m, &key)?;
    let explicit = cx.opt_string(&m, "name", &key)?;
    let mut n = Network {
        name: explicit.clone().unwrap_or_else(|| if external { name.to_string() } else { format!("{project}_{name}") }),
        driver: cx.opt_string(&m, "driver", &key)?,
        internal: cx.opt_bool(&m, "internal", &key)?.unwrap_or(false),
        attachable: cx.opt_bool(&m, "attachable", &key)?.unwrap_or(false),
        enable_ipv6: cx.opt_bool(&m, "enable_ipv6", &key)?.unwrap_or(false),
        external,
        ..Default::default()
    };
    if let Some(o) = m.get("driver_opts") {
        n.driver_opts = cx.labels(o, &format!("{key}.driver_opts"))?;
    }
    if let Some(l) = m.get("labels") {
        n.labels = cx.labels(l, &format!("{key}.labels"))?;
    }
    if let Some(i) = m.get("ipam") {
        let ik = format!("{key}.ipam");
        let im = cx.mapping(i, &ik)?.clone();
        cx.check_keys(&im, &ik, &["driver", "config", "options"])?;
        let mut ipam = NetworkIpam { driver: cx.opt_string(&im, "driver", &ik)?, config: Vec::new() };
        if let Some(c) = im.get("config") {
            let Value::Sequence(items) = c else {
                return Err(cx.err(&format!("{ik}.config"), "must be a list"));
            };
            for (idx, item) in items.iter().enumerate() {
                let ck = format!("{ik}.config[{idx}]");
                let cm = cx.mapping(item, &ck)?.clone();
                cx.check_keys(&cm, &ck, &["subnet", "ip_range", "gateway", "aux_addresses"])?;
                ipam.config.push(IpamPool {
                    subnet: cx.opt_string(&cm, "subnet", &ck)?,
                    ip_range: cx.opt_string(&cm, "ip_range", &ck)?,
                    gateway: cx.opt_string(&cm, "gateway", &ck)?,
                });
            }
        }
        n.ipam = Some(ipam);
    }
    Ok(n)
}

fn external(cx: &Cx<'_>, m: &Mapping, key: &str) -> R<bool> {
    match m.get("external") {
        None | Some(Value::Null) => Ok(false),
        // legacy form `external: {name: x}`
        Some(Value::Mapping(_)) => Ok(true),
        Some(v) => cx.boolean(v, &format!("{key}.external")),
    }
}

fn volume(cx: &mut Cx<'_>, name: &str, v: &Value, project: &str) -> R<Volume> {
    let key = format!("volumes.{name}");
    let m = match v {
        Value::Null => Mapping::new(),
        other => cx.mapping(other, &key)?.clone(),
    };
    cx.check_keys(&m, &key, &["name", "driver", "driver_opts", "external", "labels"])?;
    let external = external(cx, &m, &key)?;
    let legacy = m.get("external").and_then(|e| e.as_mapping()).and_then(|e| e.get("name")).and_then(scalar_string);
    let explicit = cx.opt_string(&m, "name", &key)?.or(legacy);
    Ok(Volume {
        name: explicit.unwrap_or_else(|| if external { name.to_string() } else { format!("{project}_{name}") }),
        driver: cx.opt_string(&m, "driver", &key)?,
        driver_opts: match m.get("driver_opts") {
            Some(o) => cx.labels(o, &format!("{key}.driver_opts"))?,
            None => BTreeMap::new(),
        },
        external,
        labels: match m.get("labels") {
            Some(l) => cx.labels(l, &format!("{key}.labels"))?,
            None => BTreeMap::new(),
        },
    })
}

fn file_object(cx: &mut Cx<'_>, attr: &str, name: &str, v: &Value, project: &str) -> R<FileObject> {
    let key = format!("{attr}.{name}");
    let m = cx.mapping(v, &key)?.clone();
    cx.check_keys(&m, &key, &["name", "file", "environment", "content", "external", "labels", "driver", "driver_opts", "template_driver"])?;
    let external = external(cx, &m, &key)?;
    let o = FileObject {
        name: cx.opt_string(&m, "name", &key)?.unwrap_or_else(|| format!("{project}_{name}")),
        file: cx.opt_string(&m, "file", &key)?.map(|f| cx.path(&f)),
        environment: cx.opt_string(&m, "environment", &key)?,
        content: cx.opt_string(&m, "content", &key)?,
        external,
    };
    if o.file.is_none() && o.environment.is_none() && o.content.is_none() && !external {
        return Err(cx.err(&key, "needs file, environment or content"));
    }
    Ok(o)
}

fn service_volume(cx: &mut Cx<'_>, v: &Value, key: &str) -> R<ServiceVolume> {
    match v {
        Value::Mapping(m) => {
            cx.check_keys(m, key, &["type", "source", "target", "read_only", "bind", "volume", "tmpfs", "consistency", "image"])?;
            let kind = match cx.opt_string(m, "type", key)?.as_deref() {
                Some("volume") | None => VolumeType::Volume,
                Some("bind") => VolumeType::Bind,
                Some("tmpfs") => VolumeType::Tmpfs,
                Some(other) => return Err(cx.err(&format!("{key}.type"), format!("unsupported volume type {other:?}"))),
            };
            let target = cx.opt_string(m, "target", key)?.ok_or_else(|| cx.err(key, "target is required"))?;
            if !target.starts_with('/') {
                return Err(cx.err(&format!("{key}.target"), format!("invalid mount target {target:?}: must be absolute")));
            }
            let source = cx.opt_string(m, "source", key)?.filter(|s| !s.is_empty());
            let mut sv = ServiceVolume {
                kind,
                source: match (kind, source) {
                    (VolumeType::Bind, Some(s)) => Some(cx.path(&s).display().to_string()),
                    (VolumeType::Bind, None) => return Err(cx.err(&format!("{key}.source"), "a bind mount needs a source")),
                    (VolumeType::Tmpfs, Some(_)) => return Err(cx.err(&format!("{key}.source"), "a tmpfs mount has no source")),
                    (_, s) => s,
                },
                target,
                read_only: cx.opt_bool(m, "read_only", key)?.unwrap_or(false),
                create_host_path: false,
                propagation: None,
                selinux: None,
                nocopy: false,
                subpath: None,
                tmpfs_size: None,
                tmpfs_mode: None,
            };
            if let Some(b) = m.get("bind") {
                let bk = format!("{key}.bind");
                let bm = cx.mapping(b, &bk)?.clone();
                cx.check_keys(&bm, &bk, &["propagation", "create_host_path", "selinux", "recursive"])?;
                sv.propagation = cx.opt_string(&bm, "propagation", &bk)?;
                sv.create_host_path = cx.opt_bool(&bm, "create_host_path", &bk)?.unwrap_or(false);
                sv.selinux = cx.opt_string(&bm, "selinux", &bk)?;
            }
            if let Some(b) = m.get("volume") {
                let bk = format!("{key}.volume");
                let bm = cx.mapping(b, &bk)?.clone();
                cx.check_keys(&bm, &bk, &["nocopy", "subpath", "labels", "driver_opts"])?;
                sv.nocopy = cx.opt_bool(&bm, "nocopy", &bk)?.unwrap_or(false);
                sv.subpath = cx.opt_string(&bm, "subpath", &bk)?;
            }
            if let Some(b) = m.get("tmpfs") {
                let bk = format!("{key}.tmpfs");
                let bm = cx.mapping(b, &bk)?.clone();
                cx.check_keys(&bm, &bk, &["size", "mode"])?;
                if let Some(sz) = bm.get("size") {
                    sv.tmpfs_size = Some(cx.bytes(sz, &format!("{bk}.size"))?);
                }
                if let Some(md) = bm.get("mode") {
                    sv.tmpfs_mode = Some(match md {
                        Value::Number(n) => n.as_u64().map(|x| x as u32),
                        Value::String(s) => u32::from_str_radix(s.trim_start_matches("0o"), 8).ok(),
                        _ => None,
                    }
                    .ok_or_else(|| cx.err(&format!("{bk}.mode"), "must be a file mode"))?);
                }
            }
            Ok(sv)
        }
        other => {
            let s = cx.string(other, key)?;
            parse_volume_short(&s, |p| cx.path(p)).map_err(|m| cx.err(key, m))
        }
    }
}

/// Parse a short-syntax volume `[SOURCE:]TARGET[:MODE]`.
pub(crate) fn parse_volume_short(s: &str, resolve: impl Fn(&str) -> PathBuf) -> Result<ServiceVolume, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [t] => (None, *t, None),
        [src, t] => (Some(*src), *t, None),
        [src, t, m] => (Some(*src), *t, Some(*m)),
        _ => return Err(format!("invalid volume {s:?}: too many colons")),
    };
    if target.is_empty() || !target.starts_with('/') {
        return Err(format!("invalid volume {s:?}: the target must be an absolute path"));
    }
    let mut v = ServiceVolume {
        kind: VolumeType::Volume,
        source: None,
        target: target.to_string(),
        read_only: false,
        create_host_path: false,
        propagation: None,
        selinux: None,
        nocopy: false,
        subpath: None,
        tmpfs_size: None,
        tmpfs_mode: None,
    };
    if let Some(src) = source {
        if src.is_empty() {
            return Err(format!("invalid volume {s:?}: empty source"));
        }
        if src.starts_with('/') || src.starts_with('.') || src.starts_with('~') {
            v.kind = VolumeType::Bind;
            v.create_host_path = true;
            v.source = Some(resolve(src).display().to_string());
        } else {
            if !src.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)) {
                return Err(format!("invalid volume {s:?}: {src:?} is not a volume name or a path"));
            }
            v.source = Some(src.to_string());
        }
    }
    if let Some(mode) = mode {
        for opt in mode.split(',') {
            match opt {
                "ro" => v.read_only = true,
                "rw" => v.read_only = false,
                "z" | "Z" => v.selinux = Some(opt.to_string()),
                "nocopy" => v.nocopy = true,
                "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => v.propagation = Some(opt.to_string()),
                "cached" | "delegated" | "consistent" => {}
                _ => return Err(format!("invalid volume {s:?}: unknown mode {opt:?}")),
            }
        }
    }
    Ok(v)
}

fn parse_port_num(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|p| *p != 0)
}

/// `"80"` or `"8000-8010"` -> (start, end).
pub(crate) fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse_port_num(a)?, parse_port_num(b)?);
            (a <= b).then_some((a, b))
        }
        None => parse_port_num(s).map(|p| (p, p)),
    }
}

/// One `ports` entry (short string, number, or long mapping) -> ports, ranges expanded.
pub(crate) fn parse_ports_value(v: &Value) -> Result<Vec<Port>, String> {
    match v {
        Value::Number(n) => {
            let p = n.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p != 0);
            match p {
                Some(p) => Ok(vec![Port { target: p, protocol: "tcp".into(), ..Default::default() }]),
                None => Err(format!("invalid port {n}")),
            }
        }
        Value::String(s) => parse_port_short(s),
        Value::Mapping(m) => {
            for k in m.keys() {
                let k = k.as_str().unwrap_or("");
                if !["target", "published", "host_ip", "protocol", "mode", "name", "app_protocol"].contains(&k) && !k.starts_with("x-") {
                    return Err(format!("{k}: additional property not allowed (not a compose key)"));
                }
            }
            let target = m.get("target").and_then(scalar_string).ok_or("target is required")?;
            let target = parse_port_num(&target).ok_or_else(|| format!("invalid port {target:?}"))?;
            let published = m.get("published").and_then(scalar_string).filter(|s| !s.is_empty());
            if let Some(p) = &published {
                parse_port_range(p).ok_or_else(|| format!("invalid published port {p:?}"))?;
            }
            let protocol = m.get("protocol").and_then(scalar_string).unwrap_or_else(|| "tcp".into());
            if !["tcp", "udp", "sctp"].contains(&protocol.as_str()) {
                return Err(format!("invalid protocol {protocol:?}"));
            }
            let mode = m.get("mode").and_then(scalar_string);
            if let Some(md) = &mode {
                if md != "ingress" && md != "host" {
                    return Err(format!("invalid mode {md:?}"));
                }
            }
            Ok(vec![Port { target, published, host_ip: m.get("host_ip").and_then(scalar_string), protocol, mode }])
        }
        other => Err(format!("invalid port: must be a string, a number or a mapping, not {}", type_name(other))),
    }
}

/// `[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]`, ranges allowed.
pub(crate) fn parse_port_short(s: &str) -> Result<Vec<Port>, String> {
    let bad = || format!("invalid port {s:?}");
    let (spec, protocol) = match s.rsplit_once('/') {
        Some((a, p)) => (a, p.to_string()),
        None => (s, "tcp".to_string()),
    };
    if !["tcp", "udp", "sctp"].contains(&protocol.as_str()) {
        return Err(format!("invalid port {s:?}: unknown protocol {protocol:?}"));
    }
    let (host_ip, rest) = if let Some(r) = spec.strip_prefix('[') {
        let (ip, rest) = r.split_once(']').ok_or_else(bad)?;
        (Some(ip.to_string()), rest.strip_prefix(':').ok_or_else(bad)?)
    } else {
        let n = spec.matches(':').count();
        if n >= 2 {
            let (ip, rest) = spec.split_once(':').ok_or_else(bad)?;
            (Some(ip.to_string()).filter(|i| !i.is_empty()), rest)
        } else {
            (None, spec)
        }
    };
    let (published, target) = match rest.rsplit_once(':') {
        Some((p, t)) => (Some(p).filter(|p| !p.is_empty()), t),
        None => (None, rest),
    };
    let (t0, t1) = parse_port_range(target).ok_or_else(bad)?;
    let pub_range = match published {
        Some(p) => Some(parse_port_range(p).ok_or_else(bad)?),
        None => None,
    };
    let mut out = Vec::new();
    match pub_range {
        Some((p0, p1)) if t0 != t1 => {
            if p1 - p0 != t1 - t0 {
                return Err(format!("invalid port {s:?}: the ranges have different lengths"));
            }
            for i in 0..=(t1 - t0) {
                out.push(Port { target: t0 + i, published: Some((p0 + i).to_string()), host_ip: host_ip.clone(), protocol: protocol.clone(), mode: None });
            }
        }
        Some(_) => out.push(Port { target: t0, published: published.map(str::to_string), host_ip, protocol, mode: None }),
        None => {
            for t in t0..=t1 {
                out.push(Port { target: t, published: None, host_ip: host_ip.clone(), protocol: protocol.clone(), mode: None });
            }
        }
    }
    Ok(out)
}

/// `1h2m3.5s`, `500ms`, `10us`, `20ns`; a bare number is seconds.
pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return (secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let mult = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * mult;
    }
    Some(Duration::from_nanos((total * 1e9).round() as u64))
}

/// Go-style duration text: `1m30s`, `500ms`, `0s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    if ns < 1_000_000_000 {
        return if ns.is_multiple_of(1_000_000) {
            format!("{}ms", ns / 1_000_000)
        } else if ns.is_multiple_of(1000) {
            format!("{}us", ns / 1000)
        } else {
            format!("{ns}ns")
        };
    }
    let total = d.as_secs();
    let (h, m, s) = (total / 3600, (total / 60) % 60, total % 60);
    let frac = d.subsec_nanos();
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let f = format!("{:09}", frac);
        out.push_str(&format!("{s}.{}s", f.trim_end_matches('0')));
    }
    out
}

/// `1024`, `100k`, `512m`, `1.5g`, `1gb`, `2MiB` -> bytes.
pub(crate) fn parse_bytes(s: &str) -> Option<i64> {
    let s = s.trim().to_ascii_lowercase();
    let num_len = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let n: f64 = s[..num_len].parse().ok()?;
    let mult: f64 = match s[num_len..].trim() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024f64.powi(4),
        _ => return None,
    };
    Some((n * mult) as i64)
}

/// Split a command line like a POSIX shell does for words: quotes and backslashes.
pub(crate) fn shell_split(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            x @ ('"' | '\\' | '$' | '`') => cur.push(x),
                            x => {
                                cur.push('\\');
                                cur.push(x);
                            }
                        },
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// Resolve a host path against the project dir: `~` is `$HOME`, `..` and `.` are folded.
pub(crate) fn resolve_path(base: &Path, p: &str, env: &BTreeMap<String, String>) -> PathBuf {
    let joined = if let Some(rest) = p.strip_prefix('~') {
        let home = env.get("HOME").cloned().unwrap_or_else(|| "/root".into());
        PathBuf::from(format!("{home}{rest}"))
    } else {
        base.join(p)
    };
    normalize(&joined)
}

pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

pub(crate) fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => type_name(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(target: u16, published: Option<&str>, ip: Option<&str>, proto: &str) -> Port {
        Port { target, published: published.map(Into::into), host_ip: ip.map(Into::into), protocol: proto.into(), mode: None }
    }

    #[test]
    fn ports_short() {
        let table: Vec<(&str, Result<Vec<Port>, String>)> = vec![
            ("80", Ok(vec![p(80, None, None, "tcp")])),
            ("8080:80", Ok(vec![p(80, Some("8080"), None, "tcp")])),
            ("53:53/udp", Ok(vec![p(53, Some("53"), None, "udp")])),
            ("127.0.0.1:8080:80", Ok(vec![p(80, Some("8080"), Some("127.0.0.1"), "tcp")])),
            ("127.0.0.1::80", Ok(vec![p(80, None, Some("127.0.0.1"), "tcp")])),
            ("[::1]:8080:80", Ok(vec![p(80, Some("8080"), Some("::1"), "tcp")])),
            ("3000-3001", Ok(vec![p(3000, None, None, "tcp"), p(3001, None, None, "tcp")])),
            ("9090-9091:8080-8081", Ok(vec![p(8080, Some("9090"), None, "tcp"), p(8081, Some("9091"), None, "tcp")])),
            ("8000-8010:80", Ok(vec![p(80, Some("8000-8010"), None, "tcp")])),
            ("x", Err("invalid port \"x\"".into())),
            ("0", Err("invalid port \"0\"".into())),
            ("70000", Err("invalid port \"70000\"".into())),
            ("80/icmp", Err("invalid port \"80/icmp\": unknown protocol \"icmp\"".into())),
            ("1-3:1-2", Err("invalid port \"1-3:1-2\": the ranges have different lengths".into())),
        ];
        for (input, want) in table {
            assert_eq!(parse_port_short(input), want, "input {input:?}");
        }
    }

    #[test]
    fn volumes_short() {
        let r = |p: &str| resolve_path(Path::new("/proj"), p, &BTreeMap::new());
        let v = |kind, src: Option<&str>, t: &str, ro: bool| ServiceVolume {
            kind,
            source: src.map(Into::into),
            target: t.into(),
            read_only: ro,
            create_host_path: kind == VolumeType::Bind,
            propagation: None,
            selinux: None,
            nocopy: false,
            subpath: None,
            tmpfs_size: None,
            tmpfs_mode: None,
        };
        let table: Vec<(&str, Result<ServiceVolume, String>)> = vec![
            ("/data", Ok(v(VolumeType::Volume, None, "/data", false))),
            ("db:/var/lib/db", Ok(v(VolumeType::Volume, Some("db"), "/var/lib/db", false))),
            ("./conf:/etc/app:ro", Ok(v(VolumeType::Bind, Some("/proj/conf"), "/etc/app", true))),
            ("../up:/x", Ok(v(VolumeType::Bind, Some("/up"), "/x", false))),
            ("/abs:/x:rw", Ok(v(VolumeType::Bind, Some("/abs"), "/x", false))),
            ("data", Err("invalid volume \"data\": the target must be an absolute path".into())),
            ("a:b:c:d", Err("invalid volume \"a:b:c:d\": too many colons".into())),
            ("db:/x:bogus", Err("invalid volume \"db:/x:bogus\": unknown mode \"bogus\"".into())),
            ("d b:/x", Err("invalid volume \"d b:/x\": \"d b\" is not a volume name or a path".into())),
        ];
        for (input, want) in table {
            assert_eq!(parse_volume_short(input, r), want, "input {input:?}");
        }
    }

    #[test]
    fn durations_bytes_words() {
        for (s, secs) in [("10s", 10.0), ("1m30s", 90.0), ("1h", 3600.0), ("500ms", 0.5), ("1.5s", 1.5), ("5", 5.0)] {
            assert_eq!(parse_duration(s), Some(Duration::from_secs_f64(secs)), "{s}");
        }
        assert_eq!(parse_duration("10x"), None);
        for (d, s) in [(90.0, "1m30s"), (0.5, "500ms"), (3600.0, "1h0m0s"), (1.5, "1.5s"), (0.0, "0s")] {
            assert_eq!(format_duration(Duration::from_secs_f64(d)), s);
        }
        for (s, b) in [("1024", 1024), ("100k", 102400), ("512m", 536870912), ("1g", 1073741824), ("1.5GB", 1610612736)] {
            assert_eq!(parse_bytes(s), Some(b), "{s}");
        }
        assert_eq!(parse_bytes("lots"), None);
        assert_eq!(shell_split("echo 'a b' \"c \\\"d\\\"\" e\\ f"), Some(vec!["echo".into(), "a b".into(), "c \"d\"".into(), "e f".into()]));
        assert_eq!(shell_split("sh -c 'unterminated"), None);
    }
}
