//! `context create/ls/inspect/use/rm/show/update`: named daemon endpoints, kept as docker keeps
//! them, so `docker context ls` sees berth's contexts and berth sees docker's:
//!
//! * `<config dir>/contexts/meta/<sha256(name)>/meta.json`:
//!   `{"Name":..,"Metadata":{"Description":..},"Endpoints":{"docker":{"Host":..,"SkipTLSVerify":..}}}`
//! * `<config dir>/contexts/tls/<sha256(name)>/docker/{ca,cert,key}.pem`
//! * the current context in `config.json`'s `currentContext`.
//!
//! Which endpoint a command talks to ([`resolve`], docker's `resolveContextName`): `--context`,
//! else `default` when `-H` or `DOCKER_HOST` is given, else `DOCKER_CONTEXT`, else
//! `currentContext`, else `default`. The `default` context is `-H`/`DOCKER_HOST`/berth's socket
//! with the `--tls*` flags and `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`.

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_client::{Client, TlsFlags, TlsOptions, DEFAULT_HOST};
use clap::{Args, Subcommand};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

use crate::config::{config_dir, ConfigFile};
use crate::error::{ApiResult, StatusError};
use crate::format::{gojson, natsort::natural_less, template::header_context, ListFormat, Template};

/// The context that stands for `-H`/`DOCKER_HOST`.
pub const DEFAULT_CONTEXT: &str = "default";

const DEFAULT_DESCRIPTION: &str = "Current DOCKER_HOST based configuration";
const DOCKER_ENDPOINT: &str = "docker";
const TLS_FILES: [&str; 3] = ["ca.pem", "cert.pem", "key.pem"];

/// `berth context ...`
#[derive(Subcommand, Debug)]
pub enum ContextCommand {
    /// Create a context
    Create(CreateArgs),
    /// List contexts
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more contexts
    Inspect(InspectArgs),
    /// Set the current docker context
    Use(UseArgs),
    /// Remove one or more contexts
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Print the name of the current context
    Show(ShowArgs),
    /// Update a context
    Update(UpdateArgs),
}

/// `context create` flags.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Description of the context
    #[arg(long = "description", default_value = "")]
    pub description: String,
    /// set the docker endpoint
    #[arg(long = "docker", value_name = "stringToString")]
    pub docker: Option<String>,
    /// create context from a named context
    #[arg(long = "from")]
    pub from: Option<String>,
    /// CONTEXT
    #[arg(value_name = "CONTEXT")]
    pub name: String,
}

/// `context ls` flags.
#[derive(Args, Debug)]
pub struct LsArgs {
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long = "format", default_value = "")]
    pub format: String,
    /// Only show context names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `context inspect` flags.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Format output using a custom template ('json', 'TEMPLATE')
    #[arg(short = 'f', long = "format", default_value = "")]
    pub format: String,
    /// [CONTEXT] [CONTEXT...]
    #[arg(value_name = "CONTEXT")]
    pub names: Vec<String>,
}

/// `context use` flags.
#[derive(Args, Debug)]
pub struct UseArgs {
    /// CONTEXT
    #[arg(value_name = "CONTEXT")]
    pub name: String,
}

/// `context rm` flags.
#[derive(Args, Debug)]
pub struct RmArgs {
    /// Force the removal of a context in use
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// CONTEXT [CONTEXT...]
    #[arg(required = true, value_name = "CONTEXT")]
    pub names: Vec<String>,
}

/// `context show` flags.
#[derive(Args, Debug)]
pub struct ShowArgs {}

/// `context update` flags.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Description of the context
    #[arg(long = "description")]
    pub description: Option<String>,
    /// set the docker endpoint
    #[arg(long = "docker", value_name = "stringToString")]
    pub docker: Option<String>,
    /// CONTEXT
    #[arg(value_name = "CONTEXT")]
    pub name: String,
}

/// The global options that pick an endpoint (`-H`, `--context`, `--tls*`).
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `-H/--host`.
    pub host: Option<String>,
    /// `-c/--context`.
    pub context: Option<String>,
    /// `--tls`, `--tlsverify`, `--tlscacert`, `--tlscert`, `--tlskey`.
    pub tls: TlsFlags,
}

/// Where a command connects: the context's name, host and TLS settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The context the endpoint comes from.
    pub context: String,
    /// The daemon address.
    pub host: String,
    /// TLS, when the endpoint uses it.
    pub tls: Option<TlsOptions>,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn env_nonempty(env: Env<'_>, key: &str) -> Option<String> {
    env(key).filter(|v| !v.is_empty())
}

/// docker's `resolveContextName`.
fn context_name(g: &Globals, env: Env<'_>, cfg: &ConfigFile) -> anyhow::Result<String> {
    if let Some(c) = g.context.as_deref().filter(|c| !c.is_empty()) {
        if g.host.as_deref().is_some_and(|h| !h.is_empty()) {
            return Err(StatusError::with(1, "conflicting options: either specify --host or --context, not both"));
        }
        return Ok(c.to_string());
    }
    if g.host.as_deref().is_some_and(|h| !h.is_empty()) || env_nonempty(env, "DOCKER_HOST").is_some() {
        return Ok(DEFAULT_CONTEXT.into());
    }
    if let Some(c) = env_nonempty(env, "DOCKER_CONTEXT") {
        return Ok(c);
    }
    Ok(current_context(cfg).unwrap_or_else(|| DEFAULT_CONTEXT.into()))
}

fn current_context(cfg: &ConfigFile) -> Option<String> {
    cfg.field("currentContext").and_then(Json::as_str).filter(|s| !s.is_empty()).map(str::to_string)
}

/// The store of contexts under a config directory.
struct Store {
    dir: PathBuf,
}

/// One stored context.
#[derive(Debug, Clone)]
struct Stored {
    /// meta.json as read (unknown fields kept).
    meta: Json,
}

impl Stored {
    fn name(&self) -> &str {
        self.meta.get("Name").and_then(Json::as_str).unwrap_or_default()
    }
    fn description(&self) -> String {
        self.meta.pointer("/Metadata/Description").and_then(Json::as_str).unwrap_or_default().to_string()
    }
    fn host(&self) -> String {
        self.meta.pointer("/Endpoints/docker/Host").and_then(Json::as_str).unwrap_or_default().to_string()
    }
    fn skip_tls_verify(&self) -> bool {
        self.meta.pointer("/Endpoints/docker/SkipTLSVerify").and_then(Json::as_bool).unwrap_or(false)
    }
}

fn digest(name: &str) -> String {
    hex_string(&Sha256::digest(name.as_bytes()))
}

fn hex_string(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Store {
    fn meta_dir(&self, name: &str) -> PathBuf {
        self.dir.join("contexts/meta").join(digest(name))
    }
    fn tls_dir(&self, name: &str) -> PathBuf {
        self.dir.join("contexts/tls").join(digest(name))
    }
    fn tls_endpoint_dir(&self, name: &str) -> PathBuf {
        self.tls_dir(name).join(DOCKER_ENDPOINT)
    }

    fn get(&self, name: &str) -> anyhow::Result<Option<Stored>> {
        let p = self.meta_dir(name).join("meta.json");
        match std::fs::read(&p) {
            Ok(b) => {
                let meta: Json = serde_json::from_slice(&b).map_err(|e| anyhow::anyhow!("parsing {}: {e}", p.display()))?;
                Ok(Some(Stored { meta }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("reading {}: {e}", p.display())),
        }
    }

    fn must_get(&self, name: &str) -> anyhow::Result<Stored> {
        self.get(name)?.ok_or_else(|| StatusError::with(1, format!("context \"{name}\" does not exist")))
    }

    fn list(&self) -> Vec<Stored> {
        let Ok(rd) = std::fs::read_dir(self.dir.join("contexts/meta")) else { return Vec::new() };
        rd.flatten()
            .filter_map(|e| std::fs::read(e.path().join("meta.json")).ok())
            .filter_map(|b| serde_json::from_slice::<Json>(&b).ok())
            .map(|meta| Stored { meta })
            .filter(|s| !s.name().is_empty())
            .collect()
    }

    fn write(&self, s: &Stored) -> anyhow::Result<()> {
        let dir = self.meta_dir(s.name());
        create_private_dir(&dir)?;
        let tmp = dir.join(".meta.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&s.meta)?)?;
        std::fs::rename(&tmp, dir.join("meta.json"))?;
        Ok(())
    }

    fn tls_files(&self, name: &str) -> Vec<&'static str> {
        let d = self.tls_endpoint_dir(name);
        TLS_FILES.into_iter().filter(|f| d.join(f).is_file()).collect()
    }

    fn remove(&self, name: &str) -> std::io::Result<()> {
        for d in [self.meta_dir(name), self.tls_dir(name)] {
            match std::fs::remove_dir_all(&d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// The endpoint of a named context (the `default` one from flags and environment).
fn endpoint_of(name: &str, g: &Globals, env: Env<'_>, store: &Store) -> anyhow::Result<Endpoint> {
    if name == DEFAULT_CONTEXT {
        let host = g
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .or_else(|| env_nonempty(env, "DOCKER_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        return Ok(Endpoint { context: name.into(), host, tls: TlsOptions::from_flags(&g.tls, env) });
    }
    let s = store.must_get(name)?;
    let files = store.tls_files(name);
    let skip = s.skip_tls_verify();
    let tls = (skip || !files.is_empty()).then(|| {
        let dir = store.tls_endpoint_dir(name);
        let f = |n: &str| files.contains(&n).then(|| dir.join(n));
        TlsOptions { verify: !skip, ca: f("ca.pem"), cert: f("cert.pem"), key: f("key.pem") }
    });
    Ok(Endpoint { context: name.into(), host: s.host(), tls })
}

fn load_config(env: Env<'_>) -> anyhow::Result<(PathBuf, ConfigFile)> {
    let dir = config_dir(env);
    let cfg = ConfigFile::load(&dir).map_err(|e| StatusError::with(1, e.to_string()))?;
    Ok((dir, cfg))
}

/// The endpoint the command line and environment pick (see the module doc).
pub fn resolve(g: &Globals, env: Env<'_>) -> anyhow::Result<Endpoint> {
    let (dir, cfg) = load_config(env)?;
    let name = context_name(g, env, &cfg)?;
    endpoint_of(&name, g, env, &Store { dir })
}

/// Connect to the daemon the resolved endpoint names.
pub async fn connect(g: &Globals) -> anyhow::Result<Client> {
    let env = |k: &str| std::env::var(k).ok();
    let ep = resolve(g, &env)?;
    Client::connect_tls(Some(&ep.host), ep.tls.as_ref()).await.api()
}

/// `--docker host=...,ca=...,cert=...,key=...,skip-tls-verify=...` (docker's CSV rules; a
/// value may be quoted).
#[derive(Debug, Default, PartialEq)]
struct DockerSpec {
    host: Option<String>,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    skip_tls_verify: Option<bool>,
    from: Option<String>,
}

fn parse_docker_spec(s: &str) -> anyhow::Result<DockerSpec> {
    let mut spec = DockerSpec::default();
    for field in split_csv(s) {
        if field.is_empty() {
            continue;
        }
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| StatusError::with(1, format!("unable to parse docker endpoint: invalid config field {field:?}")))?;
        match k {
            "host" => spec.host = Some(v.to_string()),
            "ca" => spec.ca = Some(PathBuf::from(v)),
            "cert" => spec.cert = Some(PathBuf::from(v)),
            "key" => spec.key = Some(PathBuf::from(v)),
            "from" => spec.from = Some(v.to_string()),
            "skip-tls-verify" => {
                spec.skip_tls_verify = Some(parse_go_bool(v).ok_or_else(|| {
                    StatusError::with(1, format!("unable to parse docker endpoint: invalid value {v:?} for skip-tls-verify"))
                })?)
            }
            other => return Err(StatusError::with(1, format!("unable to parse docker endpoint: unrecognized config key: {other}"))),
        }
    }
    Ok(spec)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Split one CSV record: commas separate fields, double quotes protect commas (`""` is a quote).
fn split_csv(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// docker's context name rule.
fn validate_name(name: &str) -> anyhow::Result<()> {
    if name == DEFAULT_CONTEXT {
        return Err(StatusError::with(1, format!("\"{DEFAULT_CONTEXT}\" is a reserved context name")));
    }
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '+' | '-'));
    if !ok || name.contains('/') {
        return Err(StatusError::with(
            1,
            format!("context name \"{name}\" is invalid, names are validated against regexp \"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$\""),
        ));
    }
    Ok(())
}

/// Apply a `--docker` spec to a context's meta and TLS files.
fn apply_docker_spec(store: &Store, name: &str, meta: &mut Json, spec: &DockerSpec) -> anyhow::Result<()> {
    if let Some(h) = &spec.host {
        berth_client::Host::parse(h).map_err(|e| StatusError::with(1, format!("unable to parse docker host `{h}`: {e}")))?;
    }
    let ep = meta
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("context {name}: meta.json is not an object"))?
        .entry("Endpoints")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("context {name}: Endpoints is not an object"))?
        .entry(DOCKER_ENDPOINT)
        .or_insert_with(|| json!({"Host": "", "SkipTLSVerify": false}));
    if let Some(h) = &spec.host {
        ep["Host"] = json!(h);
    }
    if let Some(s) = spec.skip_tls_verify {
        ep["SkipTLSVerify"] = json!(s);
    }
    let files = [("ca.pem", &spec.ca), ("cert.pem", &spec.cert), ("key.pem", &spec.key)];
    // Read everything before writing anything, so that a bad path leaves the context as it was.
    let mut contents = Vec::new();
    for (dest, src) in files {
        if let Some(src) = src {
            let b = std::fs::read(src).map_err(|e| StatusError::with(1, format!("unable to read {}: {e}", src.display())))?;
            contents.push((dest, b));
        }
    }
    if !contents.is_empty() {
        let dir = store.tls_endpoint_dir(name);
        create_private_dir(&dir)?;
        for (dest, b) in contents {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(dir.join(dest))?;
            f.write_all(&b)?;
        }
    }
    Ok(())
}

/// Copy a context's TLS files to another one's.
fn copy_tls(store: &Store, from: &str, to: &str) -> anyhow::Result<()> {
    let files = store.tls_files(from);
    if files.is_empty() {
        return Ok(());
    }
    let (src, dst) = (store.tls_endpoint_dir(from), store.tls_endpoint_dir(to));
    create_private_dir(&dst)?;
    for f in files {
        std::fs::copy(src.join(f), dst.join(f))?;
    }
    Ok(())
}

/// One context as `docker context inspect` prints it, keys in docker's order (meta.json's
/// other fields after the known ones).
fn inspect_json(meta: &Json, tls: &Json, storage: &Json) -> String {
    let field = |k: &str| meta.get(k).cloned().unwrap_or_else(|| json!({}));
    let mut parts = vec![
        format!("\"Name\":{}", meta.get("Name").cloned().unwrap_or_default()),
        format!("\"Metadata\":{}", field("Metadata")),
        format!("\"Endpoints\":{}", field("Endpoints")),
        format!("\"TLSMaterial\":{tls}"),
        format!("\"Storage\":{{\"MetadataPath\":{},\"TLSPath\":{}}}", storage["MetadataPath"], storage["TLSPath"]),
    ];
    if let Some(m) = meta.as_object() {
        for (k, v) in m.iter().filter(|(k, _)| !matches!(k.as_str(), "Name" | "Metadata" | "Endpoints" | "TLSMaterial" | "Storage")) {
            parts.push(format!("{}:{v}", Json::String(k.clone())));
        }
    }
    format!("{{{}}}", parts.join(","))
}

/// Run one `berth context` command (no daemon connection needed).
pub fn dispatch(cmd: ContextCommand, g: &Globals) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    run(cmd, g, &env, &mut std::io::stdout().lock(), &mut std::io::stderr().lock())
}

fn run(cmd: ContextCommand, g: &Globals, env: Env<'_>, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let (dir, mut cfg) = load_config(env)?;
    let store = Store { dir };
    match cmd {
        ContextCommand::Create(a) => {
            validate_name(&a.name)?;
            if store.get(&a.name)?.is_some() {
                return Err(StatusError::with(1, format!("context \"{}\" already exists", a.name)));
            }
            let mut meta = json!({"Name": a.name, "Metadata": {}, "Endpoints": {}});
            if !a.description.is_empty() {
                meta["Metadata"]["Description"] = json!(a.description);
            }
            let spec = a.docker.as_deref().map(parse_docker_spec).transpose()?;
            let from = a.from.clone().or_else(|| spec.as_ref().and_then(|s| s.from.clone()));
            // No endpoint given: start from `--from`, else the current context (docker 28).
            let base = match (&spec, &from) {
                (Some(s), None) if s.host.is_some() || s.ca.is_some() || s.cert.is_some() || s.key.is_some() || s.skip_tls_verify.is_some() => None,
                _ => Some(from.unwrap_or(context_name(g, env, &cfg)?)),
            };
            if let Some(base) = base {
                let ep = endpoint_of(&base, g, env, &store)?;
                meta["Endpoints"][DOCKER_ENDPOINT] = json!({"Host": ep.host, "SkipTLSVerify": ep.tls.as_ref().is_some_and(|t| !t.verify)});
                if base != DEFAULT_CONTEXT {
                    copy_tls(&store, &base, &a.name)?;
                } else if let Some(t) = &ep.tls {
                    let s = DockerSpec { ca: t.ca.clone(), cert: t.cert.clone(), key: t.key.clone(), ..Default::default() };
                    apply_docker_spec(&store, &a.name, &mut meta, &s)?;
                }
            }
            if let Some(spec) = &spec {
                if let Err(e) = apply_docker_spec(&store, &a.name, &mut meta, spec) {
                    let _ = store.remove(&a.name);
                    return Err(e);
                }
            }
            store.write(&Stored { meta })?;
            writeln!(out, "{}", a.name)?;
            writeln!(err, "Successfully created context \"{}\"", a.name)?;
        }
        ContextCommand::Update(a) => {
            if a.name == DEFAULT_CONTEXT {
                return Err(StatusError::with(1, "context \"default\" cannot be updated"));
            }
            let mut s = store.must_get(&a.name)?;
            if let Some(d) = &a.description {
                let m = s
                    .meta
                    .as_object_mut()
                    .ok_or_else(|| anyhow::anyhow!("context {}: meta.json is not an object", a.name))?
                    .entry("Metadata")
                    .or_insert_with(|| json!({}));
                if d.is_empty() {
                    if let Some(o) = m.as_object_mut() {
                        o.remove("Description");
                    }
                } else {
                    m["Description"] = json!(d);
                }
            }
            if let Some(d) = &a.docker {
                let spec = parse_docker_spec(d)?;
                apply_docker_spec(&store, &a.name, &mut s.meta, &spec)?;
            }
            store.write(&s)?;
            writeln!(out, "{}", a.name)?;
            writeln!(err, "Successfully updated context \"{}\"", a.name)?;
        }
        ContextCommand::Ls(a) => {
            let current = context_name(g, env, &cfg)?;
            let default = endpoint_of(DEFAULT_CONTEXT, g, env, &store)?;
            let mut rows = vec![(DEFAULT_CONTEXT.to_string(), DEFAULT_DESCRIPTION.to_string(), default.host)];
            rows.extend(store.list().into_iter().map(|s| (s.name().to_string(), s.description(), s.host())));
            rows.sort_by(|x, y| if natural_less(&x.0, &y.0) { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater });
            let items: Vec<Json> = rows
                .iter()
                .map(|(n, d, h)| json!({"Name": n, "Description": d, "DockerEndpoint": h, "Current": *n == current, "Error": ""}))
                .collect();
            let user = match (a.format.as_str(), a.quiet) {
                ("" | "table", true) => "{{.Name}}",
                ("" | "table", false) => "table {{.Name}}{{if .Current}} *{{end}}\t{{.Description}}\t{{.DockerEndpoint}}\t{{.Error}}",
                (f, _) => f,
            };
            let lf = ListFormat::parse(user, "")?;
            let headers = header_context(&[
                ("Name", "NAME"),
                ("Description", "DESCRIPTION"),
                ("DockerEndpoint", "DOCKER ENDPOINT"),
                ("Error", "ERROR"),
            ]);
            lf.write(out, &headers, &items)?;
            if env_nonempty(env, "DOCKER_HOST").is_some() && current_context(&cfg).is_some_and(|c| c != DEFAULT_CONTEXT) {
                writeln!(err, "Warning: DOCKER_HOST environment variable overrides the active context. To use a context, either set the global --context flag, or unset DOCKER_HOST environment variable.")?;
            }
        }
        ContextCommand::Inspect(a) => {
            let names = if a.names.is_empty() { vec![context_name(g, env, &cfg)?] } else { a.names.clone() };
            let mut raws = Vec::new();
            for n in &names {
                let (meta, tls, storage) = if n == DEFAULT_CONTEXT {
                    let ep = endpoint_of(n, g, env, &store)?;
                    let skip = ep.tls.as_ref().is_some_and(|t| !t.verify);
                    let meta = json!({"Name": DEFAULT_CONTEXT, "Metadata": {}, "Endpoints": {"docker": {"Host": ep.host, "SkipTLSVerify": skip}}});
                    (meta, json!({}), json!({"MetadataPath": "<IN MEMORY>", "TLSPath": "<IN MEMORY>"}))
                } else {
                    let files = store.tls_files(n);
                    let tls = if files.is_empty() { json!({}) } else { json!({DOCKER_ENDPOINT: files}) };
                    let storage = json!({
                        "MetadataPath": store.meta_dir(n).display().to_string(),
                        "TLSPath": store.tls_dir(n).display().to_string(),
                    });
                    (store.must_get(n)?.meta, tls, storage)
                };
                raws.push(inspect_json(&meta, &tls, &storage).into_bytes());
            }
            if a.format.is_empty() || a.format == "json" {
                let buf = gojson::inspect_array(&raws, a.format == "json");
                out.write_all(&buf)?;
            } else {
                let t = Template::parse(&a.format.replace("\\n", "\n").replace("\\t", "\t"))?;
                for raw in &raws {
                    let v: Json = serde_json::from_slice(raw)?;
                    writeln!(out, "{}", t.render(&v)?)?;
                }
            }
        }
        ContextCommand::Use(a) => {
            if a.name != DEFAULT_CONTEXT {
                store.must_get(&a.name)?;
            }
            let value = (a.name != DEFAULT_CONTEXT).then(|| json!(a.name));
            cfg.set_field("currentContext", value);
            cfg.save().map_err(|e| StatusError::with(1, e.to_string()))?;
            writeln!(out, "{}", a.name)?;
            writeln!(err, "Current context is now \"{}\"", a.name)?;
            if env_nonempty(env, "DOCKER_HOST").is_some() {
                writeln!(err, "Warning: DOCKER_HOST environment variable overrides the active context. To use \"{}\", either set the global --context flag, or unset DOCKER_HOST environment variable.", a.name)?;
            }
        }
        ContextCommand::Rm(a) => {
            let current = current_context(&cfg);
            let mut errors = Vec::new();
            let mut reset_current = false;
            for n in &a.names {
                if n == DEFAULT_CONTEXT {
                    errors.push(format!("context \"{DEFAULT_CONTEXT}\" cannot be removed"));
                    continue;
                }
                if store.get(n)?.is_none() {
                    errors.push(format!("context \"{n}\" does not exist"));
                    continue;
                }
                if current.as_deref() == Some(n.as_str()) {
                    if !a.force {
                        errors.push(format!("context \"{n}\" is in use, set -f flag to force remove"));
                        continue;
                    }
                    reset_current = true;
                }
                store.remove(n).map_err(|e| anyhow::anyhow!("remove context {n}: {e}"))?;
                writeln!(out, "{n}")?;
            }
            if reset_current {
                cfg.set_field("currentContext", None);
                cfg.save().map_err(|e| StatusError::with(1, e.to_string()))?;
            }
            if !errors.is_empty() {
                return Err(StatusError::with(1, errors.join("\n")));
            }
        }
        ContextCommand::Show(_) => {
            writeln!(out, "{}", context_name(g, env, &cfg)?)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fixture {
        dir: tempfile::TempDir,
        env: HashMap<String, String>,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let mut env = HashMap::new();
            env.insert("DOCKER_CONFIG".to_string(), dir.path().join("cfg").display().to_string());
            Fixture { dir, env }
        }
        fn run(&self, g: &Globals, cmd: ContextCommand) -> Result<(String, String), String> {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let env = |k: &str| self.env.get(k).cloned();
            run(cmd, g, &env, &mut out, &mut err).map_err(|e| e.to_string())?;
            Ok((String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap()))
        }
        fn resolve(&self, g: &Globals) -> Result<Endpoint, String> {
            let env = |k: &str| self.env.get(k).cloned();
            resolve(g, &env).map_err(|e| e.to_string())
        }
    }

    fn create(name: &str, docker: &str) -> ContextCommand {
        ContextCommand::Create(CreateArgs { description: format!("{name} desc"), docker: Some(docker.into()), from: None, name: name.into() })
    }

    #[test]
    fn create_use_ls_rm_round_trip() {
        let f = Fixture::new();
        let g = Globals::default();
        let (out, err) = f.run(&g, create("one", "host=unix:///tmp/one.sock")).unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("one\n", "Successfully created context \"one\"\n"));
        f.run(&g, create("two", "host=tcp://127.0.0.1:2376,skip-tls-verify=true")).unwrap();
        // Stored as docker stores it.
        let meta_path = f.dir.path().join("cfg/contexts/meta").join(digest("one")).join("meta.json");
        let meta: Json = serde_json::from_slice(&std::fs::read(meta_path).unwrap()).unwrap();
        assert_eq!(
            meta,
            json!({"Name": "one", "Metadata": {"Description": "one desc"}, "Endpoints": {"docker": {"Host": "unix:///tmp/one.sock", "SkipTLSVerify": false}}})
        );
        assert_eq!(f.run(&g, ContextCommand::Show(ShowArgs {})).unwrap().0, "default\n");
        let (out, err) = f.run(&g, ContextCommand::Use(UseArgs { name: "one".into() })).unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("one\n", "Current context is now \"one\"\n"));
        assert_eq!(f.run(&g, ContextCommand::Show(ShowArgs {})).unwrap().0, "one\n");
        let ep = f.resolve(&g).unwrap();
        assert_eq!((ep.context.as_str(), ep.host.as_str(), ep.tls), ("one", "unix:///tmp/one.sock", None));
        let ep = f.resolve(&Globals { context: Some("two".into()), ..Default::default() }).unwrap();
        assert_eq!(ep.host, "tcp://127.0.0.1:2376");
        assert_eq!(ep.tls, Some(TlsOptions { verify: false, ca: None, cert: None, key: None }));
        let (out, _) = f.run(&g, ContextCommand::Ls(LsArgs { format: String::new(), quiet: false })).unwrap();
        let want = "NAME      DESCRIPTION                               DOCKER ENDPOINT                ERROR\n\
                    default   Current DOCKER_HOST based configuration   unix:///run/berth/berth.sock\n\
                    one *     one desc                                  unix:///tmp/one.sock\n\
                    two       two desc                                  tcp://127.0.0.1:2376\n";
        let norm = |s: &str| s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
        assert_eq!(norm(&out), norm(want));
        let (out, _) = f.run(&g, ContextCommand::Ls(LsArgs { format: String::new(), quiet: true })).unwrap();
        assert_eq!(out, "default\none\ntwo\n");
        let e = f.run(&g, ContextCommand::Rm(RmArgs { force: false, names: vec!["one".into()] })).unwrap_err();
        assert_eq!(e, "context \"one\" is in use, set -f flag to force remove");
        let (out, _) = f.run(&g, ContextCommand::Rm(RmArgs { force: true, names: vec!["one".into(), "two".into()] })).unwrap();
        assert_eq!(out, "one\ntwo\n");
        assert_eq!(f.run(&g, ContextCommand::Show(ShowArgs {})).unwrap().0, "default\n");
    }

    #[test]
    fn tls_material_is_copied_and_used() {
        let f = Fixture::new();
        let g = Globals::default();
        for n in ["ca", "cert", "key"] {
            std::fs::write(f.dir.path().join(format!("{n}.pem")), n).unwrap();
        }
        let d = f.dir.path().display();
        f.run(&g, create("sec", &format!("host=tcp://h:2376,ca={d}/ca.pem,cert={d}/cert.pem,key={d}/key.pem"))).unwrap();
        let tls = f.dir.path().join("cfg/contexts/tls").join(digest("sec")).join("docker");
        assert_eq!(std::fs::read_to_string(tls.join("cert.pem")).unwrap(), "cert");
        let ep = f.resolve(&Globals { context: Some("sec".into()), ..Default::default() }).unwrap();
        assert_eq!(ep.tls, Some(TlsOptions { verify: true, ca: Some(tls.join("ca.pem")), cert: Some(tls.join("cert.pem")), key: Some(tls.join("key.pem")) }));
        let (out, _) = f.run(&g, ContextCommand::Inspect(InspectArgs { format: "{{json .TLSMaterial}} {{.Endpoints.docker.Host}}".into(), names: vec!["sec".into()] })).unwrap();
        assert_eq!(out, "{\"docker\":[\"ca.pem\",\"cert.pem\",\"key.pem\"]} tcp://h:2376\n");
        f.run(&g, ContextCommand::Update(UpdateArgs { name: "sec".into(), description: Some("new".into()), docker: Some("host=tcp://other:1".into()) })).unwrap();
        let ep = f.resolve(&Globals { context: Some("sec".into()), ..Default::default() }).unwrap();
        assert_eq!(ep.host, "tcp://other:1");
        assert!(ep.tls.is_some());
    }

    #[test]
    fn resolution_order_is_dockers() {
        let mut f = Fixture::new();
        let g = Globals::default();
        f.run(&g, create("one", "host=unix:///one.sock")).unwrap();
        f.run(&g, create("two", "host=unix:///two.sock")).unwrap();
        f.run(&g, ContextCommand::Use(UseArgs { name: "one".into() })).unwrap();
        let host = |f: &Fixture, g: &Globals| f.resolve(g).map(|e| e.host);
        assert_eq!(host(&f, &g).unwrap(), "unix:///one.sock");
        f.env.insert("DOCKER_CONTEXT".into(), "two".into());
        assert_eq!(host(&f, &g).unwrap(), "unix:///two.sock");
        f.env.insert("DOCKER_HOST".into(), "unix:///env.sock".into());
        assert_eq!(host(&f, &g).unwrap(), "unix:///env.sock");
        let flag = Globals { host: Some("unix:///flag.sock".into()), ..Default::default() };
        assert_eq!(host(&f, &flag).unwrap(), "unix:///flag.sock");
        let ctx = Globals { context: Some("one".into()), ..Default::default() };
        assert_eq!(host(&f, &ctx).unwrap(), "unix:///one.sock");
        let both = Globals { context: Some("one".into()), host: Some("unix:///x".into()), ..Default::default() };
        assert_eq!(host(&f, &both).unwrap_err(), "conflicting options: either specify --host or --context, not both");
        let missing = Globals { context: Some("nope".into()), ..Default::default() };
        assert_eq!(host(&f, &missing).unwrap_err(), "context \"nope\" does not exist");
    }

    #[test]
    fn bad_input() {
        let f = Fixture::new();
        let g = Globals::default();
        let cases = [
            (create("default", "host=unix:///x"), "\"default\" is a reserved context name"),
            (create("a/b", "host=unix:///x"), "context name \"a/b\" is invalid"),
            (create("ok", "hots=unix:///x"), "unrecognized config key: hots"),
            (create("ok", "host=ssh://x"), "unable to parse docker host `ssh://x`"),
            (create("ok", "host=tcp://x:1,ca=/nonexistent.pem"), "unable to read /nonexistent.pem"),
            (create("ok", "host=tcp://x:1,skip-tls-verify=maybe"), "invalid value \"maybe\" for skip-tls-verify"),
            (ContextCommand::Use(UseArgs { name: "nope".into() }), "context \"nope\" does not exist"),
            (ContextCommand::Rm(RmArgs { force: false, names: vec!["default".into()] }), "context \"default\" cannot be removed"),
        ];
        for (cmd, want) in cases {
            let e = f.run(&g, cmd).unwrap_err();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        // Nothing half-made.
        assert!(f.run(&g, ContextCommand::Ls(LsArgs { format: String::new(), quiet: true })).unwrap().0 == "default\n");
        f.run(&g, create("ok", "host=tcp://x:1")).unwrap();
        assert!(f.run(&g, create("ok", "host=tcp://x:1")).unwrap_err().contains("context \"ok\" already exists"));
    }

    #[test]
    fn csv_fields_and_docker_spec() {
        assert_eq!(split_csv(r#"host=tcp://a:1,"ca=/x,y.pem",skip-tls-verify=1"#), vec!["host=tcp://a:1", "ca=/x,y.pem", "skip-tls-verify=1"]);
        let s = parse_docker_spec("host=tcp://a:1,skip-tls-verify=true").unwrap();
        assert_eq!(s, DockerSpec { host: Some("tcp://a:1".into()), skip_tls_verify: Some(true), ..Default::default() });
    }
}
