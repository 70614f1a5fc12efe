//! The loading pipeline: read -> parse -> interpolate -> check each file -> merge -> `extends`
//! -> project name -> typed model -> profiles -> cross-reference checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_yaml::{Mapping, Value};

use crate::convert::{self, Cx};
use crate::interpolate::{interpolate, InterpError};
use crate::merge;
use crate::model::*;
use crate::{LoadError, LoadOptions};

type R<T> = Result<T, LoadError>;

/// The file names compose looks for when none is given, in order.
pub const DEFAULT_FILES: &[&str] = &["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];

/// One compose document: a label for messages, its absolute path, its text.
pub(crate) struct Doc {
    pub label: String,
    pub path: PathBuf,
    pub content: String,
}

pub(crate) fn read_err(path: &Path, e: std::io::Error) -> LoadError {
    LoadError::Read { path: path.to_path_buf(), message: e.to_string() }
}

/// The files `load` reads for `opts`.
pub(crate) fn files(opts: &LoadOptions) -> R<Vec<PathBuf>> {
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|f| convert::normalize(&opts.working_dir.join(f))).collect());
    }
    if let Some(cf) = opts.environment.get("COMPOSE_FILE").filter(|c| !c.is_empty()) {
        let sep = opts.environment.get("COMPOSE_PATH_SEPARATOR").map(String::as_str).unwrap_or(":");
        return Ok(cf.split(sep).filter(|s| !s.is_empty()).map(|f| convert::normalize(&opts.working_dir.join(f))).collect());
    }
    // the working dir, then its parents, like docker compose
    let mut dir = Some(opts.working_dir.as_path());
    while let Some(d) = dir {
        for name in DEFAULT_FILES {
            let p = d.join(name);
            if p.is_file() {
                let mut out = vec![p.clone()];
                // compose.override.yaml / docker-compose.override.yml next to it
                let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(name);
                for ext in ["yaml", "yml"] {
                    let o = d.join(format!("{stem}.override.{ext}"));
                    if o.is_file() {
                        out.push(o);
                        break;
                    }
                }
                return Ok(out);
            }
        }
        dir = d.parent();
    }
    Err(LoadError::NoConfigFile { dir: opts.working_dir.clone() })
}

/// The interpolation environment: env files under the process environment.
fn environment(opts: &LoadOptions, project_dir: &Path) -> R<BTreeMap<String, String>> {
    let mut env = opts.environment.clone();
    let (files, required): (Vec<PathBuf>, bool) = if opts.env_files.is_empty() {
        (vec![project_dir.join(".env")], false)
    } else {
        (opts.env_files.iter().map(|f| opts.working_dir.join(f)).collect(), true)
    };
    for f in files {
        let content = match std::fs::read_to_string(&f) {
            Ok(c) => c,
            Err(e) if required => return Err(read_err(&f, e)),
            Err(_) => continue,
        };
        let vars = crate::dotenv::parse(&content, &env).map_err(|(line, message)| LoadError::Invalid {
            file: f.display().to_string(),
            key: format!("line {line}"),
            message,
        })?;
        for (k, v) in vars {
            if let Some(v) = v {
                if !opts.environment.contains_key(&k) {
                    env.insert(k, v);
                }
            }
        }
    }
    Ok(env)
}

fn interpolate_tree(v: &mut Value, file: &str, key: &str, env: &BTreeMap<String, String>) -> R<()> {
    match v {
        Value::String(s) => {
            *s = interpolate(s, env).map_err(|e| match e {
                InterpError::Syntax(m) => LoadError::invalid(file, key, m),
                InterpError::Missing { name, message } => LoadError::MissingVariable { name, message },
            })?;
        }
        Value::Sequence(items) => {
            for (i, it) in items.iter_mut().enumerate() {
                interpolate_tree(it, file, &format!("{key}[{i}]"), env)?;
            }
        }
        Value::Mapping(m) => {
            for (k, it) in m.iter_mut() {
                let ks = convert::scalar_string(k).unwrap_or_default();
                let sub = if key.is_empty() { ks } else { format!("{key}.{ks}") };
                // extension fields are not interpolated
                if sub.starts_with("x-") {
                    continue;
                }
                interpolate_tree(it, file, &sub, env)?;
            }
        }
        Value::Tagged(t) => interpolate_tree(&mut t.value, file, key, env)?,
        _ => {}
    }
    Ok(())
}

fn parse_doc(doc: &Doc, env: &BTreeMap<String, String>) -> R<Value> {
    let mut v: Value = serde_yaml::from_str(&doc.content)
        .map_err(|e| LoadError::Yaml { file: doc.label.clone(), message: e.to_string() })?;
    if v.is_null() {
        v = Value::Mapping(Mapping::new());
    }
    if !v.is_mapping() {
        return Err(LoadError::Yaml { file: doc.label.clone(), message: "the top level must be a mapping".into() });
    }
    v.apply_merge().map_err(|e| LoadError::Yaml { file: doc.label.clone(), message: e.to_string() })?;
    interpolate_tree(&mut v, &doc.label, "", env)?;
    Ok(v)
}

/// Normalise a project name: lowercase, only `[a-z0-9_-]`, starting with a letter or digit.
pub fn normalize_project_name(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lower.trim_start_matches(['_', '-']).to_string()
}

fn project_name(opts: &LoadOptions, doc: &Value, project_dir: &Path, files: &str) -> R<String> {
    let explicit = opts.project_name.clone().filter(|n| !n.is_empty());
    let from_env = opts.environment.get("COMPOSE_PROJECT_NAME").cloned().filter(|n| !n.is_empty());
    let from_file = doc.get("name").and_then(convert::scalar_string).filter(|n| !n.is_empty());
    if let Some(n) = explicit.clone().or(from_env.clone()).or(from_file.clone()) {
        let norm = normalize_project_name(&n);
        if norm != n {
            let (file, key) = if explicit.is_some() {
                ("(command line)".to_string(), "project name")
            } else if from_env.is_some() {
                ("(environment)".to_string(), "COMPOSE_PROJECT_NAME")
            } else {
                (files.to_string(), "name")
            };
            return Err(LoadError::invalid(
                &file,
                key,
                format!("{n:?} is not a valid project name: use lowercase letters, digits, dashes and underscores, starting with a letter or digit"),
            ));
        }
        return Ok(n);
    }
    let base = project_dir.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let n = normalize_project_name(&base);
    if n.is_empty() {
        return Err(LoadError::invalid(files, "name", format!("cannot make a project name from the directory {base:?}; use -p or name:")));
    }
    Ok(n)
}

/// Rebase the relative paths of a service taken from a file in another directory.
fn rebase(svc: &mut Value, from: &Path, to: &Path) {
    if from == to {
        return;
    }
    let fix = |s: &str| -> String {
        if s.starts_with('/') || s.starts_with('~') || s.contains("://") {
            s.to_string()
        } else {
            let abs = convert::normalize(&from.join(s));
            abs.display().to_string()
        }
    };
    let Some(m) = svc.as_mapping_mut() else { return };
    match m.get_mut("build") {
        Some(Value::String(s)) => *s = fix(s),
        Some(Value::Mapping(b)) => {
            if let Some(Value::String(s)) = b.get_mut("context") {
                *s = fix(s);
            } else {
                b.insert(Value::from("context"), Value::from(from.display().to_string()));
            }
        }
        _ => {}
    }
    match m.get_mut("env_file") {
        Some(Value::String(s)) => *s = fix(s),
        Some(Value::Sequence(items)) => {
            for it in items {
                if let Value::String(s) = it {
                    *s = fix(s);
                }
            }
        }
        _ => {}
    }
    if let Some(Value::Sequence(items)) = m.get_mut("volumes") {
        for it in items {
            if let Value::String(s) = it {
                if s.starts_with('.') {
                    if let Some((src, rest)) = s.split_once(':') {
                        *s = format!("{}:{rest}", fix(src));
                    }
                }
            }
        }
    }
}

struct Extends<'a> {
    opts: &'a LoadOptions,
    env: &'a BTreeMap<String, String>,
    project_dir: &'a Path,
    files: &'a str,
}

impl Extends<'_> {
    /// Resolve `extends` of `name` in `services` (from file `file`, dir `dir`), recursively.
    fn resolve(&self, services: &Mapping, name: &str, file: &str, dir: &Path, stack: &mut Vec<String>) -> R<Value> {
        let key = format!("services.{name}");
        let svc = services
            .get(name)
            .cloned()
            .ok_or_else(|| LoadError::invalid(file, &key, "no such service to extend"))?;
        let Some(ext) = svc.get("extends").cloned() else { return Ok(svc) };
        let ek = format!("{key}.extends");
        let (base_name, base_file) = match &ext {
            Value::String(s) => (s.clone(), None),
            Value::Mapping(m) => {
                for k in m.keys() {
                    let k = k.as_str().unwrap_or("");
                    if k != "service" && k != "file" {
                        return Err(LoadError::invalid(file, &format!("{ek}.{k}"), "additional property not allowed (not a compose key)"));
                    }
                }
                let s = m
                    .get("service")
                    .and_then(convert::scalar_string)
                    .ok_or_else(|| LoadError::invalid(file, &ek, "service is required"))?;
                (s, m.get("file").and_then(convert::scalar_string))
            }
            _ => return Err(LoadError::invalid(file, &ek, "must be a string or a mapping")),
        };
        let ident = format!("{file}:{name}");
        if let Some(pos) = stack.iter().position(|s| *s == ident) {
            let mut path: Vec<String> = stack[pos..].iter().map(|s| s.rsplit(':').next().unwrap_or(s).to_string()).collect();
            path.push(name.to_string());
            return Err(LoadError::Cycle { key: "extends".into(), path });
        }
        stack.push(ident);
        let mut base = match base_file {
            None => self.resolve(services, &base_name, file, dir, stack)?,
            Some(f) => {
                let path = convert::normalize(&dir.join(&f));
                let content = std::fs::read_to_string(&path).map_err(|e| read_err(&path, e))?;
                let doc = Doc { label: f.clone(), path: path.clone(), content };
                let v = parse_doc(&doc, self.env)?;
                let other = v
                    .get("services")
                    .and_then(Value::as_mapping)
                    .cloned()
                    .unwrap_or_default();
                if !other.contains_key(base_name.as_str()) {
                    return Err(LoadError::invalid(file, &ek, format!("service {base_name:?} not found in {f}")));
                }
                let odir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                let mut b = self.resolve(&other, &base_name, &f, &odir, stack)?;
                rebase(&mut b, &odir, self.project_dir);
                b
            }
        };
        stack.pop();
        if let Some(m) = base.as_mapping_mut() {
            m.remove("extends");
        }
        let mut own = svc.clone();
        if let Some(m) = own.as_mapping_mut() {
            m.remove("extends");
        }
        let _ = (self.opts, self.files);
        Ok(merge::merge_service(&base, &own).unwrap_or(Value::Null))
    }
}

pub(crate) fn load_docs(docs: Vec<Doc>, opts: &LoadOptions) -> R<Project> {
    let Some(first) = docs.first() else {
        return Err(LoadError::NoConfigFile { dir: opts.working_dir.clone() });
    };
    let project_dir = first.path.parent().map(Path::to_path_buf).unwrap_or_else(|| opts.working_dir.clone());
    let env = environment(opts, &project_dir)?;
    let labels = docs.iter().map(|d| d.label.clone()).collect::<Vec<_>>().join(", ");
    let mut trees = Vec::new();
    for d in &docs {
        trees.push(parse_doc(d, &env)?);
    }
    // each file alone: wrong keys and types are reported with the file they are in
    if trees.len() > 1 {
        for (d, t) in docs.iter().zip(&trees) {
            let mut t = t.clone();
            merge::strip_tags(&mut t);
            let mut cx = Cx { file: &d.label, project_dir: &project_dir, env: &env, warnings: Vec::new(), partial: true };
            convert::project(&mut cx, &t, "x")?;
        }
    }
    let mut doc = trees[0].clone();
    for t in &trees[1..] {
        doc = merge::merge_documents(&doc, t);
    }
    let file_label = if docs.len() == 1 { docs[0].label.clone() } else { labels.clone() };
    // extends
    if let Some(services) = doc.get("services").and_then(Value::as_mapping).cloned() {
        let ex = Extends { opts, env: &env, project_dir: &project_dir, files: &file_label };
        let mut resolved = Mapping::new();
        for (k, _) in &services {
            let name = convert::scalar_string(k).unwrap_or_default();
            let v = ex.resolve(&services, &name, &file_label, &project_dir, &mut Vec::new())?;
            resolved.insert(k.clone(), v);
        }
        if let Some(m) = doc.as_mapping_mut() {
            m.insert(Value::from("services"), Value::Mapping(resolved));
        }
    }
    merge::strip_tags(&mut doc);
    let name = project_name(opts, &doc, &project_dir, &file_label)?;
    let mut cx = Cx { file: &file_label, project_dir: &project_dir, env: &env, warnings: Vec::new(), partial: false };
    let mut p = convert::project(&mut cx, &doc, &name)?;
    p.config_files = docs.iter().map(|d| d.path.clone()).collect();
    // profiles
    let mut active: BTreeSet<String> = opts.profiles.iter().cloned().collect();
    if active.is_empty() {
        if let Some(cp) = env.get("COMPOSE_PROFILES") {
            active = cp.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
        }
    }
    let all = active.contains("*");
    let names: Vec<String> = p.services.keys().cloned().collect();
    for n in names {
        let enabled = {
            let s = &p.services[&n];
            s.profiles.is_empty() || all || s.profiles.iter().any(|pr| active.contains(pr))
        };
        if !enabled {
            if let Some(s) = p.services.remove(&n) {
                p.disabled_services.insert(n, s);
            }
        }
    }
    validate(&mut p, &file_label)?;
    Ok(p)
}

/// Cross-references: networks, volumes, secrets, configs and dependencies a service names must
/// exist; `depends_on` has no cycle; `default` network added when used.
fn validate(p: &mut Project, file: &str) -> R<()> {
    let mut uses_default = false;
    for (name, s) in p.services.iter_mut() {
        let key = format!("services.{name}");
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(LoadError::invalid(file, &key, format!("invalid service name {name:?}: use letters, digits, '.', '_' and '-'")));
        }
        if s.container_name.is_some() && s.replicas() > 1 {
            return Err(LoadError::invalid(file, &format!("{key}.container_name"), format!("service {name:?} has a container_name and cannot run {} replicas", s.replicas())));
        }
        for n in s.networks.keys() {
            if n == "default" {
                uses_default = true;
            } else if !p.networks.contains_key(n) {
                return Err(LoadError::invalid(file, &format!("{key}.networks.{n}"), format!("service {name:?} refers to undefined network {n:?}")));
            }
        }
        if s.networks.is_empty() && s.network_mode.is_none() {
            uses_default = true;
        }
        for (i, v) in s.volumes.iter().enumerate() {
            if let (VolumeType::Volume, Some(src)) = (v.kind, &v.source) {
                if !p.volumes.contains_key(src) {
                    return Err(LoadError::invalid(file, &format!("{key}.volumes[{i}]"), format!("service {name:?} refers to undefined volume {src:?}")));
                }
            }
        }
        for (attr, refs, defs) in [("secrets", &s.secrets, &p.secrets), ("configs", &s.configs, &p.configs)] {
            for (i, r) in refs.iter().enumerate() {
                if !defs.contains_key(&r.source) {
                    let what = &attr[..attr.len() - 1];
                    return Err(LoadError::invalid(file, &format!("{key}.{attr}[{i}]"), format!("service {name:?} refers to undefined {what} {:?}", r.source)));
                }
            }
        }
        if let Some(nm) = &s.network_mode {
            if let Some(dep) = nm.strip_prefix("service:") {
                if !p.disabled_services.contains_key(dep) && !s.depends_on.contains_key(dep) {
                    // docker compose adds the implicit dependency
                    s.depends_on.insert(dep.to_string(), Dependency { condition: Condition::ServiceStarted, restart: false, required: true });
                }
            }
        }
    }
    let names: BTreeSet<String> = p.services.keys().cloned().collect();
    for (name, s) in p.services.iter_mut() {
        let mut drop = Vec::new();
        for (d, dep) in &s.depends_on {
            if names.contains(d) {
                continue;
            }
            let key = format!("services.{name}.depends_on.{d}");
            if p.disabled_services.contains_key(d) {
                if dep.required {
                    return Err(LoadError::invalid(file, &key, format!("service {name:?} depends on {d:?}, which is disabled by its profiles")));
                }
                drop.push(d.clone());
            } else if dep.required {
                return Err(LoadError::invalid(file, &key, format!("service {name:?} depends on undefined service {d:?}")));
            } else {
                drop.push(d.clone());
            }
        }
        for d in drop {
            s.depends_on.remove(&d);
        }
    }
    if uses_default && !p.networks.contains_key("default") {
        p.networks.insert("default".into(), Network { name: format!("{}_default", p.name), ..Default::default() });
    }
    p.start_order()?;
    Ok(())
}

/// Dependencies first; services sorted by name where the order is free.
pub(crate) fn start_order(p: &Project) -> R<Vec<String>> {
    fn visit(p: &Project, n: &str, stack: &mut Vec<String>, done: &mut BTreeSet<String>, out: &mut Vec<String>) -> R<()> {
        if done.contains(n) {
            return Ok(());
        }
        if let Some(pos) = stack.iter().position(|s| s == n) {
            let mut path = stack[pos..].to_vec();
            path.push(n.to_string());
            return Err(LoadError::Cycle { key: "depends_on".into(), path });
        }
        stack.push(n.to_string());
        if let Some(s) = p.services.get(n) {
            for d in s.depends_on.keys() {
                if p.services.contains_key(d) {
                    visit(p, d, stack, done, out)?;
                }
            }
        }
        stack.pop();
        done.insert(n.to_string());
        out.push(n.to_string());
        Ok(())
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for n in p.services.keys() {
        visit(p, n, &mut Vec::new(), &mut done, &mut out)?;
    }
    Ok(out)
}
