//! `build` and `builder prune`: the classic builder through `POST /build`, as docker's
//! `cli/command/image/build.go` drives it with `DOCKER_BUILDKIT=0`, and
//! `cli/command/builder/prune.go`.
//!
//! The context is made here, as the docker CLI makes it: a directory becomes a tar (owner
//! 0:0, `.dockerignore` applied through `berth_dockerfile::ignore`, the Dockerfile and
//! `.dockerignore` always sent), `-` reads a tar (or a lone Dockerfile) from stdin, and a
//! Dockerfile from outside the context or from stdin (`-f -`) travels in the tar under a
//! random name (`.dockerfile.<20 hex>`), which `.dockerignore` then lists. The daemon's
//! `stream` messages are printed as they arrive; a failure is one line on stderr with the
//! code of its `errorDetail` (a failed `RUN` exits with the command's code, as docker).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use berth_client::{Body, Client, JsonStream, Request};
use berth_dockerfile::ignore::Matcher;
use clap::{ArgAction, Args, Subcommand};

use super::distribution::go_io_error;
use super::out;
use crate::error::{ApiResult, StatusError};
use crate::format::humanize::human_size;
use crate::jsonmessage::{Display, Message, PlainDisplay, Stream, TtyDisplay};

/// `build` flags (docker's classic builder set).
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Add a custom host-to-IP mapping ("host:ip")
    #[arg(long = "add-host", value_parser = crate::netopts::validate_extra_host)]
    pub add_host: Vec<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_parser = validate_build_arg)]
    pub build_arg: Vec<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_delimiter = ',')]
    pub cache_from: Vec<String>,
    /// Set the parent cgroup for the "RUN" instructions during build
    #[arg(long = "cgroup-parent", default_value = "", hide_default_value = true)]
    pub cgroup_parent: String,
    /// Compress the build context using gzip
    #[arg(long = "compress")]
    pub compress: bool,
    /// Limit the CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", default_value_t = 0, hide_default_value = true)]
    pub cpu_period: i64,
    /// Limit the CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", default_value_t = 0, hide_default_value = true)]
    pub cpu_quota: i64,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", default_value_t = 0, hide_default_value = true)]
    pub cpu_shares: i64,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", default_value = "", hide_default_value = true)]
    pub cpuset_cpus: String,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", default_value = "", hide_default_value = true)]
    pub cpuset_mems: String,
    /// Skip image verification
    #[arg(long = "disable-content-trust", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub disable_content_trust: bool,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Always remove intermediate containers
    #[arg(long = "force-rm")]
    pub force_rm: bool,
    /// Write the image ID to the file
    #[arg(long = "iidfile")]
    pub iidfile: Option<String>,
    /// Container isolation technology
    #[arg(long = "isolation", default_value = "", hide_default_value = true)]
    pub isolation: String,
    /// Set metadata for an image
    #[arg(long = "label", value_parser = validate_label)]
    pub label: Vec<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_parser = parse_mem_bytes, default_value = "0", hide_default_value = true)]
    pub memory: i64,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", value_parser = parse_memswap_bytes, default_value = "0", hide_default_value = true)]
    pub memory_swap: i64,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long = "network", default_value = "default")]
    pub network: String,
    /// Do not use cache when building the image
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", env = "DOCKER_DEFAULT_PLATFORM", hide_env = true, default_value = "", hide_default_value = true)]
    pub platform: String,
    /// Always attempt to pull a newer version of the image
    #[arg(long = "pull")]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long = "rm", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub rm: bool,
    /// Security options
    #[arg(long = "security-opt", value_delimiter = ',')]
    pub security_opt: Vec<String>,
    /// Size of "/dev/shm"
    #[arg(long = "shm-size", value_parser = parse_mem_bytes, default_value = "0", hide_default_value = true)]
    pub shm_size: i64,
    /// Squash newly built layers into a single new layer
    #[arg(long = "squash")]
    pub squash: bool,
    /// Name and optionally a tag in the "name:tag" format
    #[arg(short = 't', long = "tag", value_parser = validate_tag)]
    pub tag: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long = "target", default_value = "", hide_default_value = true)]
    pub target: String,
    /// Ulimit options
    #[arg(long = "ulimit", value_parser = parse_ulimit)]
    pub ulimit: Vec<Ulimit>,
    /// PATH | URL | -
    pub context: String,
}

/// `berth builder ...`
#[derive(Subcommand, Debug)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

/// `builder prune` flags.
#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=24h")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage", value_parser = parse_mem_bytes, default_value = "0", hide_default_value = true)]
    pub keep_storage: i64,
}

/// One `--ulimit name=soft[:hard]` (docker's `units.ParseUlimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    /// `nofile`, `nproc`, ...
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit (the soft one when not given).
    pub hard: i64,
}

fn fail(message: impl Into<String>) -> anyhow::Error {
    StatusError::with(1, message)
}

// ---- flag values ------------------------------------------------------------------------

/// `--build-arg`: docker's `ValidateEnv` (a bare `NAME` takes the local value when set; an
/// unset one is sent as `null`, which the daemon replaces by the ARG's default).
fn validate_build_arg(v: &str) -> Result<String, String> {
    crate::opts::validate_env(v, &|k| std::env::var(k).ok())
}

/// `--label`: docker's `ValidateLabel`.
fn validate_label(v: &str) -> Result<String, String> {
    let key = v.split_once('=').map(|(k, _)| k).unwrap_or(v).trim();
    if key.is_empty() {
        return Err(format!("invalid label '{v}': empty name"));
    }
    if key.chars().any(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')) {
        return Err(format!("label '{key}' contains whitespaces"));
    }
    Ok(v.to_string())
}

/// `-t`: docker's `validateTag` (the value is sent as written).
fn validate_tag(v: &str) -> Result<String, String> {
    berth_reference::Reference::parse_normalized(v).map_err(|e| e.to_string())?;
    Ok(v.to_string())
}

/// go-units `RAMInBytes`: `123`, `1.5k`, `64m`, `2GiB`, `1 g` (binary multipliers).
pub fn ram_in_bytes(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid size: '{s}'");
    let num_end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, rest) = s.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars();
    let mult: f64 = match chars.next().map(|c| c.to_ascii_lowercase()) {
        None => 1.0,
        Some('b') if chars.as_str().is_empty() => 1.0,
        Some(c) => {
            let power = match c {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                _ => return Err(bad()),
            };
            let tail = chars.as_str().to_ascii_lowercase();
            if !matches!(tail.as_str(), "" | "b" | "i" | "ib") {
                return Err(bad());
            }
            1024f64.powi(power)
        }
    };
    Ok((value * mult) as i64)
}

fn parse_mem_bytes(s: &str) -> Result<i64, String> {
    ram_in_bytes(s)
}

/// `--memory-swap`: `-1` (unlimited) or a size.
fn parse_memswap_bytes(s: &str) -> Result<i64, String> {
    if s == "-1" {
        return Ok(-1);
    }
    ram_in_bytes(s)
}

/// go-units `ParseUlimit`: `name=soft[:hard]`.
fn parse_ulimit(v: &str) -> Result<Ulimit, String> {
    const NAMES: &[&str] = &[
        "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio", "rttime",
        "sigpending", "stack",
    ];
    let (name, limits) = v.split_once('=').ok_or_else(|| format!("invalid ulimit argument: {v}"))?;
    if !NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let num = |s: &str| -> Result<i64, String> {
        if s == "unlimited" || s == "-1" {
            return Ok(-1);
        }
        s.parse::<i64>().map_err(|_| format!("invalid ulimit argument: {v}"))
    };
    let (soft, hard) = match limits.split_once(':') {
        Some((s, h)) => (num(s)?, num(h)?),
        None => {
            let n = num(limits)?;
            (n, n)
        }
    };
    if soft > hard && hard != -1 {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
    }
    Ok(Ulimit { name: name.to_string(), soft, hard })
}

// ---- the request ------------------------------------------------------------------------

/// The query of `POST /build` for these flags and the Dockerfile's name in the context, as
/// the docker client encodes it (JSON maps with sorted keys; a build arg without a value is
/// `null`; an empty list is `null`).
pub fn build_query(a: &BuildArgs, dockerfile: &str) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| q.push((k.to_string(), v));
    for t in &a.tag {
        set("t", t.clone());
    }
    for s in &a.security_opt {
        set("securityopt", s.clone());
    }
    for h in &a.add_host {
        set("extrahosts", h.clone());
    }
    if a.quiet {
        set("q", "1".into());
    }
    if a.no_cache {
        set("nocache", "1".into());
    }
    set("rm", if a.rm { "1" } else { "0" }.into());
    if a.force_rm {
        set("forcerm", "1".into());
    }
    if a.pull {
        set("pull", "1".into());
    }
    if a.squash {
        set("squash", "1".into());
    }
    if !a.isolation.is_empty() && a.isolation != "default" {
        set("isolation", a.isolation.clone());
    }
    set("cpusetcpus", a.cpuset_cpus.clone());
    set("networkmode", a.network.clone());
    set("cpusetmems", a.cpuset_mems.clone());
    set("cpushares", a.cpu_shares.to_string());
    set("cpuquota", a.cpu_quota.to_string());
    set("cpuperiod", a.cpu_period.to_string());
    set("memory", a.memory.to_string());
    set("memswap", a.memory_swap.to_string());
    set("cgroupparent", a.cgroup_parent.clone());
    set("shmsize", a.shm_size.to_string());
    set("dockerfile", dockerfile.to_string());
    set("target", a.target.clone());
    let ulimits: Vec<serde_json::Value> =
        a.ulimit.iter().map(|u| serde_json::json!({"Name": u.name, "Hard": u.hard, "Soft": u.soft})).collect();
    set("ulimits", if ulimits.is_empty() { "null".into() } else { serde_json::Value::Array(ulimits).to_string() });
    let build_args: BTreeMap<String, Option<String>> = a
        .build_arg
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (s.clone(), None),
        })
        .collect();
    set("buildargs", serde_json::to_string(&build_args).unwrap_or_else(|_| "{}".into()));
    let labels: BTreeMap<String, String> = crate::opts::kv_map(&a.label).into_iter().collect();
    set("labels", serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into()));
    set("cachefrom", if a.cache_from.is_empty() { "null".into() } else { serde_json::to_string(&a.cache_from).unwrap_or_default() });
    if !a.platform.is_empty() {
        set("platform", a.platform.to_lowercase());
    }
    set("version", "1".into());
    q
}

/// `X-Registry-Config`: every stored credential, base64url JSON keyed by registry (what a
/// `FROM` pull may need), as docker's `GetAllCredentials`.
fn registry_config() -> String {
    use base64::Engine;
    let cfg = super::registry::load_config();
    let mut keys: Vec<String> = std::fs::read(&cfg.filename)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("auths").and_then(|a| a.as_object()).map(|m| m.keys().cloned().collect()))
        .unwrap_or_default();
    keys.extend(cfg.cred_helpers.keys().cloned());
    keys.sort();
    keys.dedup();
    let mut all = Vec::new();
    for k in keys {
        if let Ok(a) = cfg.get_auth(&k) {
            all.push(format!("{}:{}", serde_json::Value::String(k.clone()), a.to_json()));
        }
    }
    base64::engine::general_purpose::URL_SAFE.encode(format!("{{{}}}", all.join(",")))
}

// ---- the context ------------------------------------------------------------------------

/// A context ready to send: the tar (gzipped with `--compress`) and the `dockerfile` value.
pub struct Prepared {
    /// The body, in memory or spilled to a temporary file.
    pub tar: tempfile::SpooledTempFile,
    /// Its size in bytes.
    pub size: u64,
    /// The Dockerfile's path inside the context (empty: the daemon's default).
    pub dockerfile: String,
}

/// Kept in memory up to this size, then in an unlinked temporary file.
const SPOOL_LIMIT: usize = 32 << 20;

/// The default Dockerfile name.
const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Make the context as docker's `runBuild` does. `stdin` is read for `-` (context or `-f`).
pub fn prepare(context: &str, file: Option<&str>, compress: bool, stdin: &mut dyn Read) -> Result<Prepared, String> {
    let file = file.filter(|f| !f.is_empty());
    let dockerfile_from_stdin = file == Some("-");
    if context == "-" && dockerfile_from_stdin {
        return Err("invalid argument: can't use stdin for both build context and dockerfile".into());
    }
    let mut tar = tempfile::SpooledTempFile::new(SPOOL_LIMIT);
    let dockerfile;
    if context == "-" {
        let mut input = Vec::new();
        stdin.read_to_end(&mut input).map_err(|e| format!("failed to peek context header from STDIN: {e}"))?;
        if is_archive(&input) {
            tar.write_all(&input).map_err(|e| e.to_string())?;
            dockerfile = file.unwrap_or("").to_string();
        } else {
            // A lone Dockerfile: a context holding just it.
            let mut b = tar::Builder::new(&mut tar);
            append_bytes(&mut b, DEFAULT_DOCKERFILE, 0o644, &input).map_err(|e| e.to_string())?;
            b.finish().map_err(|e| e.to_string())?;
            drop(b);
            dockerfile = DEFAULT_DOCKERFILE.to_string();
        }
    } else {
        let dir = Path::new(context);
        if std::fs::metadata(dir).is_err() {
            if is_remote(context) {
                return Err(format!("unable to prepare context: remote build contexts ({context}) are not supported"));
            }
            return Err(format!("unable to prepare context: path {context:?} not found"));
        }
        let (abs_ctx, rel) = locate_dockerfile(dir, file).map_err(|e| format!("unable to prepare context: {e}"))?;
        // A Dockerfile outside the context (or on stdin) travels under a random name.
        let outside = rel.starts_with("../");
        let extra: Option<Vec<u8>> = if dockerfile_from_stdin {
            let mut d = Vec::new();
            stdin.read_to_end(&mut d).map_err(|e| e.to_string())?;
            Some(d)
        } else if outside {
            let f = file.unwrap_or(DEFAULT_DOCKERFILE);
            Some(std::fs::read(f).map_err(|e| format!("unable to open Dockerfile: open {f}: {}", go_io_error(&e)))?)
        } else {
            None
        };
        let random = extra.as_ref().map(|_| format!(".dockerfile.{}", random_hex(20)));
        let ignore = std::fs::read_to_string(abs_ctx.join(".dockerignore")).unwrap_or_default();
        let matcher = context_matcher(&ignore, &rel, dockerfile_from_stdin).map_err(|e| format!("error checking context: {e}"))?;
        let mut b = tar::Builder::new(&mut tar);
        let mut walker = Walker { matcher: &matcher, links: HashMap::new(), random: random.as_deref(), saw_ignore: false };
        walker.walk(&mut b, &abs_ctx, "").map_err(|e| format!("error checking context: {e}"))?;
        if let (Some(name), Some(content)) = (&random, &extra) {
            append_bytes(&mut b, name, 0o600, content).map_err(|e| e.to_string())?;
            if !walker.saw_ignore {
                append_bytes(&mut b, ".dockerignore", 0o600, format!(".dockerignore\n{name}\n").as_bytes()).map_err(|e| e.to_string())?;
            }
        }
        b.finish().map_err(|e| e.to_string())?;
        drop(b);
        dockerfile = random.unwrap_or(rel);
    }
    if compress {
        tar.rewind().map_err(|e| e.to_string())?;
        let mut gz = flate2::write::GzEncoder::new(tempfile::SpooledTempFile::new(SPOOL_LIMIT), flate2::Compression::default());
        std::io::copy(&mut tar, &mut gz).map_err(|e| e.to_string())?;
        tar = gz.finish().map_err(|e| e.to_string())?;
    }
    let size = tar.seek(std::io::SeekFrom::End(0)).map_err(|e| e.to_string())?;
    tar.rewind().map_err(|e| e.to_string())?;
    Ok(Prepared { tar, size, dockerfile })
}

/// What docker takes for a URL or git context.
fn is_remote(s: &str) -> bool {
    ["http://", "https://", "git://", "git@", "github.com/"].iter().any(|p| s.starts_with(p))
}

/// docker's `IsArchive`: gzip, bzip2, xz or zstd magic, or a tar header.
pub fn is_archive(b: &[u8]) -> bool {
    if b.starts_with(&[0x1f, 0x8b, 0x08]) || b.starts_with(b"BZh") || b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) || b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return true;
    }
    if b.len() < 512 {
        return false;
    }
    if &b[257..262] == b"ustar" {
        return true;
    }
    // A v7 header: the checksum field matches the header's bytes.
    let field = String::from_utf8_lossy(&b[148..156]);
    let Ok(want) = u64::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8) else { return false };
    let sum: u64 = b[..512].iter().enumerate().map(|(i, &c)| if (148..156).contains(&i) { 32 } else { c as u64 }).sum();
    sum == want && b[0] != 0
}

/// The context directory (absolute, symlinks resolved) and the Dockerfile's slash-separated
/// path relative to it (`../...` when outside), as docker's `GetContextFromLocalDir`: `-f`
/// is relative to the current directory, the default is `Dockerfile` (else `dockerfile`).
pub fn locate_dockerfile(dir: &Path, file: Option<&str>) -> Result<(PathBuf, String), String> {
    let abs = std::path::absolute(dir).map_err(|e| e.to_string())?;
    let ctx = std::fs::canonicalize(&abs)
        .map_err(|e| format!("unable to evaluate symlinks in context path: lstat {}: {}", abs.display(), go_io_error(&e)))?;
    if !ctx.is_dir() {
        return Err(format!("context must be a directory: {}", ctx.display()));
    }
    let given = match file {
        Some("-") | None => None,
        Some(f) => Some(std::path::absolute(f).map_err(|e| e.to_string())?),
    };
    let path = match (given, file) {
        (Some(p), _) => p,
        (None, Some("-")) => ctx.join(DEFAULT_DOCKERFILE),
        (None, _) => {
            let p = ctx.join(DEFAULT_DOCKERFILE);
            let alt = ctx.join("dockerfile");
            if std::fs::symlink_metadata(&p).is_err() && std::fs::symlink_metadata(&alt).is_ok() {
                alt
            } else {
                p
            }
        }
    };
    let resolved = if file == Some("-") {
        path
    } else {
        let r = std::fs::canonicalize(&path)
            .map_err(|e| format!("unable to evaluate symlinks in Dockerfile path: lstat {}: {}", path.display(), go_io_error(&e)))?;
        if r.is_dir() {
            return Err(format!("unable to evaluate symlinks in Dockerfile path: read {}: is a directory", path.display()));
        }
        r
    };
    Ok((ctx.clone(), relative(&ctx, &resolved)))
}

/// `to` relative to `from` (both absolute, normalised), slash-separated.
fn relative(from: &Path, to: &Path) -> String {
    let a: Vec<_> = from.components().collect();
    let b: Vec<_> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = std::iter::repeat_n("..".to_string(), a.len() - common).collect();
    parts.extend(b[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    parts.join("/")
}

/// `.dockerignore` with docker's `TrimBuildFilesFromExcludes`: if it excludes itself or the
/// Dockerfile, exceptions for them are added.
pub fn context_matcher(ignore: &str, dockerfile: &str, dockerfile_from_stdin: bool) -> Result<Matcher, String> {
    let base = Matcher::parse(ignore).map_err(|e| e.to_string())?;
    let mut text = ignore.to_string();
    if base.excluded(".dockerignore") {
        text.push_str("\n!.dockerignore");
    }
    if !dockerfile_from_stdin && base.excluded(dockerfile) {
        text.push_str(&format!("\n!{dockerfile}"));
    }
    if text.len() == ignore.len() {
        return Ok(base);
    }
    Matcher::parse(&text).map_err(|e| e.to_string())
}

/// `n` random hex digits (from /dev/urandom).
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n.div_ceil(2)];
    let filled = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes)).is_ok();
    if !filled {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let seed = t ^ (std::process::id() as u128) << 64;
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex[..n].to_string()
}

fn base_header(kind: tar::EntryType, mode: u32, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(0);
    h
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn append_bytes<W: Write>(b: &mut tar::Builder<W>, name: &str, mode: u32, data: &[u8]) -> std::io::Result<()> {
    let mut h = base_header(tar::EntryType::Regular, mode, now_secs());
    h.set_size(data.len() as u64);
    b.append_data(&mut h, name, data)
}

/// The directory walk of docker's `TarWithOptions`: lexical order, owner 0:0, excluded
/// files left out, excluded directories skipped unless an exception may re-include
/// something below them, hard links kept as links, sockets skipped.
struct Walker<'a> {
    matcher: &'a Matcher,
    links: HashMap<(u64, u64), String>,
    /// The random Dockerfile name: `.dockerignore` gets it appended.
    random: Option<&'a str>,
    saw_ignore: bool,
}

impl Walker<'_> {
    fn walk<W: Write>(&mut self, b: &mut tar::Builder<W>, dir: &Path, rel_dir: &str) -> Result<(), String> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let cant_stat = |p: &Path| format!("can't stat '{}'", p.display());
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)
            .map_err(|_| cant_stat(dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|_| cant_stat(dir))?;
        names.sort();
        for name in names {
            let path = dir.join(&name);
            let name = name.to_string_lossy();
            let rel = if rel_dir.is_empty() { name.to_string() } else { format!("{rel_dir}/{name}") };
            let md = std::fs::symlink_metadata(&path).map_err(|_| cant_stat(&path))?;
            let ft = md.file_type();
            if self.matcher.excluded(&rel) {
                if ft.is_dir() && !self.matcher.skip_dir(&rel) {
                    self.walk(b, &path, &rel)?;
                }
                continue;
            }
            let mode = md.mode() & 0o7777;
            let mtime = md.mtime().max(0) as u64;
            let io = |e: std::io::Error| format!("{}: {}", path.display(), go_io_error(&e));
            if ft.is_dir() {
                let mut h = base_header(tar::EntryType::Directory, mode, mtime);
                b.append_data(&mut h, format!("{rel}/"), std::io::empty()).map_err(io)?;
                self.walk(b, &path, &rel)?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&path).map_err(io)?;
                let mut h = base_header(tar::EntryType::Symlink, mode, mtime);
                b.append_link(&mut h, &rel, &target).map_err(io)?;
            } else if ft.is_file() {
                if md.nlink() > 1 {
                    if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                        let mut h = base_header(tar::EntryType::Link, mode, mtime);
                        b.append_link(&mut h, &rel, first).map_err(io)?;
                        continue;
                    }
                    self.links.insert((md.dev(), md.ino()), rel.clone());
                }
                if rel == ".dockerignore" {
                    if let Some(random) = self.random {
                        self.saw_ignore = true;
                        let mut content = std::fs::read(&path).map_err(|_| format!("no permission to read from '{}'", path.display()))?;
                        content.extend_from_slice(format!("\n{random}\n").as_bytes());
                        let mut h = base_header(tar::EntryType::Regular, mode, mtime);
                        h.set_size(content.len() as u64);
                        b.append_data(&mut h, &rel, &content[..]).map_err(io)?;
                        continue;
                    }
                }
                let f = std::fs::File::open(&path).map_err(|_| format!("no permission to read from '{}'", path.display()))?;
                let mut h = base_header(tar::EntryType::Regular, mode, mtime);
                h.set_size(md.len());
                b.append_data(&mut h, &rel, ExactReader { inner: f.take(md.len()), left: md.len(), path: &path }).map_err(io)?;
            } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
                let kind = if ft.is_fifo() {
                    tar::EntryType::Fifo
                } else if ft.is_char_device() {
                    tar::EntryType::Char
                } else {
                    tar::EntryType::Block
                };
                let mut h = base_header(kind, mode, mtime);
                let rdev = md.rdev();
                let _ = h.set_device_major(libc::major(rdev));
                let _ = h.set_device_minor(libc::minor(rdev));
                b.append_data(&mut h, &rel, std::io::empty()).map_err(io)?;
            }
            // Sockets are left out, as docker does.
        }
        Ok(())
    }
}

/// A file's bytes, failing if it shrank while being read (a short entry would corrupt the tar).
struct ExactReader<'a, R: Read> {
    inner: R,
    left: u64,
    path: &'a Path,
}

impl<R: Read> Read for ExactReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(std::io::Error::other(format!("{} changed while it was read", self.path.display())));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

// ---- the command ------------------------------------------------------------------------

/// The failure a build stream reported: docker exits with its code (1 when none).
fn stream_failure(m: &Message) -> Option<(i32, String)> {
    let message = m.failure()?;
    let code = m.error.as_ref().map(|e| e.code).filter(|c| *c != 0).unwrap_or(1);
    Some((i32::try_from(code).unwrap_or(1), message))
}

/// `berth build`.
pub async fn build(c: &Client, a: BuildArgs) -> anyhow::Result<()> {
    if let Some(f) = &a.iidfile {
        match std::fs::remove_file(f) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(fail(format!("Removing image ID file: {}", go_io_error(&e)))),
        }
    }
    let (context, file, compress) = (a.context.clone(), a.file.clone(), a.compress);
    let prepared = tokio::task::spawn_blocking(move || prepare(&context, file.as_deref(), compress, &mut std::io::stdin().lock()))
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(fail)?;
    let query = build_query(&a, &prepared.dockerfile);

    // docker's progBuff and buildBuff: stdout, or buffers with -q (printed on failure).
    let mut prog: Vec<u8> = Vec::new();
    let sending = format!("Sending build context to Docker daemon {:>8}\r\r\n", human_size(prepared.size as f64));
    if a.quiet {
        prog.extend_from_slice(sending.as_bytes());
    } else {
        out(&sending)?;
    }

    let reader: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>> = match prepared.tar.into_inner() {
        tempfile::SpooledData::InMemory(cursor) => Box::pin(cursor),
        tempfile::SpooledData::OnDisk(f) => Box::pin(tokio::fs::File::from_std(f)),
    };
    let mut req = Request::new("POST", "/build")
        .header("X-Registry-Config", registry_config())
        .body(Body::Stream { content_type: "application/x-tar".into(), reader });
    for (k, v) in query {
        req = req.query(&k, v);
    }
    let resp = c.send(req).await.api()?;
    let mut stream = JsonStream::new(resp.body);

    let mut buffer: Vec<u8> = Vec::new();
    let mut image_id = String::new();
    let result: Result<(), (i32, String)> = {
        let mut display: Box<dyn Display> = if a.quiet {
            Box::new(PlainDisplay::new(&mut buffer))
        } else if Stream::Stdout.is_terminal() {
            Box::new(TtyDisplay::new(Stream::Stdout))
        } else {
            Box::new(PlainDisplay::new(std::io::stdout()))
        };
        let mut result = Ok(());
        while let Some(v) = stream.next().await {
            let m = match v.map_err(|e| e.to_string()).and_then(|v| Message::from_json(&v)) {
                Ok(m) => m,
                Err(e) => {
                    result = Err((1, e));
                    break;
                }
            };
            if let Some(aux) = &m.aux {
                if let Some(id) = aux.get("ID").and_then(|i| i.as_str()) {
                    image_id = id.to_string();
                }
                continue;
            }
            if let Some(f) = stream_failure(&m) {
                result = Err(f);
                break;
            }
            if let Err(e) = display.message(&m) {
                result = Err((1, e.to_string()));
                break;
            }
        }
        let _ = display.finish();
        result
    };
    if let Err((code, message)) = result {
        if a.quiet {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(&prog);
            let _ = err.write_all(&buffer);
        }
        return Err(StatusError::with(code, message));
    }
    if a.quiet {
        // The daemon's only output with q=1 is the image id.
        let text = String::from_utf8_lossy(&buffer).into_owned();
        out(&text)?;
        image_id = text;
    }
    if let Some(f) = &a.iidfile {
        if image_id.is_empty() {
            return Err(fail(format!("Server did not provide an image ID. Cannot write {f}")));
        }
        std::fs::write(f, image_id.as_bytes()).map_err(|e| fail(format!("open {f}: {}", go_io_error(&e))))?;
    }
    Ok(())
}

/// `berth builder ...`.
pub async fn builder(c: &Client, cmd: BuilderCommand) -> anyhow::Result<()> {
    match cmd {
        BuilderCommand::Prune(a) => prune(c, a).await,
    }
}

/// `docker builder prune`.
async fn prune(c: &Client, a: PruneArgs) -> anyhow::Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all build cache. Are you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling build cache. Are you sure you want to continue?"
    };
    if !a.force && !confirm_inline(warning)? {
        return Ok(());
    }
    let mut req = Request::new("POST", "/build/prune");
    if a.all {
        req = req.query("all", "1");
    }
    req = req.query("keep-storage", a.keep_storage.to_string());
    if let Some(f) = super::filters(&a.filter)? {
        req = req.query("filters", serde_json::to_string(&f)?);
    }
    let bytes = c.send(req).await.api()?.body.bytes().await.api()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| fail(format!("unexpected response from daemon: {e}")))?;
    out(&prune_report(&v))
}

/// docker's `PromptForConfirmation`: the question and `[y/N] ` on one line, y or yes on stdin.
fn confirm_inline(question: &str) -> anyhow::Result<bool> {
    out(&format!("{question} [y/N] "))?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let answer = line.trim().to_lowercase();
    Ok(answer == "y" || answer == "yes")
}

/// What `builder prune` prints for the daemon's answer.
pub fn prune_report(v: &serde_json::Value) -> String {
    let mut s = String::new();
    let deleted: Vec<&str> = v.get("CachesDeleted").and_then(|d| d.as_array()).map(|a| a.iter().filter_map(|x| x.as_str()).collect()).unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str("Deleted build cache objects:\n");
        for id in deleted {
            s.push_str(id);
            s.push('\n');
        }
        s.push('\n');
    }
    let space = v.get("SpaceReclaimed").and_then(|n| n.as_u64()).unwrap_or(0);
    s.push_str(&format!("Total reclaimed space: {}\n", human_size(space as f64)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::{Cli, Command, ImageCommand};

    fn args(argv: &[&str]) -> BuildArgs {
        let mut full = vec!["berth", "build"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap_or_else(|e| panic!("{argv:?}: {e}")).command {
            Command::Build(a) => a,
            other => panic!("parsed as {other:?}"),
        }
    }

    fn query_of(argv: &[&str]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in build_query(&args(argv), "Dockerfile") {
            m.entry(k).or_default().push(v);
        }
        m
    }

    #[test]
    fn default_query_is_docker_clients() {
        let q = query_of(&["."]);
        let want: Vec<(&str, &str)> = vec![
            ("buildargs", "{}"),
            ("cachefrom", "null"),
            ("cgroupparent", ""),
            ("cpuperiod", "0"),
            ("cpuquota", "0"),
            ("cpusetcpus", ""),
            ("cpusetmems", ""),
            ("cpushares", "0"),
            ("dockerfile", "Dockerfile"),
            ("labels", "{}"),
            ("memory", "0"),
            ("memswap", "0"),
            ("networkmode", "default"),
            ("rm", "1"),
            ("shmsize", "0"),
            ("target", ""),
            ("ulimits", "null"),
            ("version", "1"),
        ];
        let got: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v[0].as_str())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn flags_become_query_values() {
        std::env::set_var("BERTH_TEST_BUILD_ARG_FROM_ENV", "from-env");
        let q = query_of(&[
            "-t", "app:1", "--tag", "localhost:5000/app", "--build-arg", "A=1", "--build-arg", "BERTH_TEST_BUILD_ARG_FROM_ENV",
            "--build-arg", "BERTH_TEST_BUILD_ARG_UNSET", "--target", "build", "--no-cache", "--pull", "--rm=false", "--force-rm",
            "--label", "a=b", "--label", "solo", "--network", "none", "--platform", "Linux/AMD64", "-q", "--add-host",
            "db=10.0.0.2", "--cache-from", "x:1,y:2", "--shm-size", "64m", "-m", "1g", "--ulimit", "nofile=10:20", ".",
        ]);
        let one = |k: &str| q.get(k).map(|v| v.join("|")).unwrap_or_default();
        assert_eq!(one("t"), "app:1|localhost:5000/app");
        assert_eq!(one("buildargs"), r#"{"A":"1","BERTH_TEST_BUILD_ARG_FROM_ENV":"from-env","BERTH_TEST_BUILD_ARG_UNSET":null}"#);
        assert_eq!(one("target"), "build");
        assert_eq!((one("nocache"), one("pull"), one("rm"), one("forcerm"), one("q")), ("1".into(), "1".into(), "0".into(), "1".into(), "1".into()));
        assert_eq!(one("labels"), r#"{"a":"b","solo":""}"#);
        assert_eq!(one("networkmode"), "none");
        assert_eq!(one("platform"), "linux/amd64");
        assert_eq!(one("extrahosts"), "db:10.0.0.2");
        assert_eq!(one("cachefrom"), r#"["x:1","y:2"]"#);
        assert_eq!(one("shmsize"), (64 << 20).to_string());
        assert_eq!(one("memory"), (1i64 << 30).to_string());
        assert_eq!(one("ulimits"), r#"[{"Hard":20,"Name":"nofile","Soft":10}]"#);
    }

    #[test]
    fn bad_flag_values_are_flag_errors() {
        let parse = |argv: &[&str]| {
            let mut full = vec!["berth", "build"];
            full.extend_from_slice(argv);
            Cli::try_parse_from(full).map(|_| ()).map_err(|e| e.to_string())
        };
        for bad in [
            &["-t", "Bad:tag", "."][..],
            &["--label", "=x", "."],
            &["--build-arg", "=x", "."],
            &["--shm-size", "lots", "."],
            &["--add-host", "nohost", "."],
            &["--ulimit", "bogus=1", "."],
            &[],
            &[".", "extra"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(Cli::try_parse_from(["berth", "image", "build", "-"]).unwrap().command, Command::Image(ImageCommand::Build(_))));
        let a = args(&["--rm", "-f", "x/Dockerfile", "--iidfile", "id", "ctx"]);
        assert!(a.rm && a.file.as_deref() == Some("x/Dockerfile") && a.iidfile.as_deref() == Some("id") && a.context == "ctx");
    }

    #[test]
    fn sizes_parse_as_go_units() {
        let cases: Vec<(&str, Result<i64, ()>)> = vec![
            ("0", Ok(0)),
            ("123", Ok(123)),
            ("1k", Ok(1024)),
            ("1K", Ok(1024)),
            ("64m", Ok(64 << 20)),
            ("64MB", Ok(64 << 20)),
            ("2GiB", Ok(2 << 30)),
            ("1.5k", Ok(1536)),
            ("1 g", Ok(1 << 30)),
            ("10b", Ok(10)),
            ("", Err(())),
            ("m", Err(())),
            ("1x", Err(())),
            ("1kbb", Err(())),
            ("-1", Err(())),
        ];
        for (s, want) in cases {
            assert_eq!(ram_in_bytes(s).map_err(|_| ()), want, "{s}");
        }
        assert_eq!(ram_in_bytes("1x").unwrap_err(), "invalid size: '1x'");
        assert_eq!(parse_memswap_bytes("-1"), Ok(-1));
    }

    #[test]
    fn ulimits_parse() {
        assert_eq!(parse_ulimit("nofile=1024"), Ok(Ulimit { name: "nofile".into(), soft: 1024, hard: 1024 }));
        assert_eq!(parse_ulimit("nproc=1:unlimited"), Ok(Ulimit { name: "nproc".into(), soft: 1, hard: -1 }));
        assert_eq!(parse_ulimit("nofile=20:10").unwrap_err(), "ulimit soft limit must be less than or equal to hard limit: 20 > 10");
        assert_eq!(parse_ulimit("nofile").unwrap_err(), "invalid ulimit argument: nofile");
    }

    #[test]
    fn archives_are_recognised() {
        let mut tar_bytes = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tar_bytes);
            append_bytes(&mut b, "Dockerfile", 0o644, b"FROM scratch\n").unwrap();
            b.finish().unwrap();
        }
        let cases: Vec<(&[u8], bool)> = vec![
            (&tar_bytes, true),
            (&[0x1f, 0x8b, 0x08, 0, 0], true),
            (b"BZh91AY", true),
            (b"FROM busybox\nRUN true\n", false),
            (b"", false),
            (&[0u8; 1024], false),
        ];
        for (bytes, want) in cases {
            assert_eq!(is_archive(bytes), want, "{:?}", &bytes[..bytes.len().min(8)]);
        }
    }

    /// (name, type, mode, uid, gid, content) of every entry.
    fn entries(p: Prepared) -> Vec<(String, char, u32, u64, u64, String)> {
        let mut tar = p.tar;
        let mut bytes = Vec::new();
        tar.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes.len() as u64, p.size);
        let mut a = tar::Archive::new(&bytes[..]);
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let h = e.header().clone();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                _ => 'f',
            };
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut content = String::new();
            if kind == 'f' {
                e.read_to_string(&mut content).unwrap();
            } else if let Ok(Some(l)) = e.link_name() {
                content = l.to_string_lossy().into_owned();
            }
            out.push((name, kind, h.mode().unwrap() & 0o7777, h.uid().unwrap(), h.gid().unwrap(), content));
        }
        out
    }

    fn names(p: Prepared) -> Vec<String> {
        entries(p).into_iter().map(|e| e.0).collect()
    }

    fn write(dir: &Path, rel: &str, content: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    #[test]
    fn a_directory_context_is_tarred_as_docker_does() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "src/main.c", "int main(){}\n");
        std::fs::set_permissions(d.join("src/main.c"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::symlink("src/main.c", d.join("link")).unwrap();
        std::fs::hard_link(d.join("src/main.c"), d.join("hard")).unwrap();
        let p = prepare(d.to_str().unwrap(), None, false, &mut std::io::empty()).unwrap();
        assert_eq!(p.dockerfile, "Dockerfile");
        let e = entries(p);
        let got: Vec<(&str, char, u32, u64, u64, &str)> = e.iter().map(|(n, k, m, u, g, c)| (n.as_str(), *k, *m, *u, *g, c.as_str())).collect();
        assert_eq!(
            got,
            vec![
                ("Dockerfile", 'f', 0o644, 0, 0, "FROM scratch\n"),
                ("hard", 'f', 0o640, 0, 0, "int main(){}\n"),
                ("link", 'l', 0o777, 0, 0, "src/main.c"),
                ("src/", 'd', 0o755, 0, 0, ""),
                ("src/main.c", 'h', 0o640, 0, 0, "hard"),
            ]
        );
    }

    #[test]
    fn dockerignore_applies_but_never_to_the_dockerfile_or_itself() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, ".dockerignore", "# comment\nsecret.txt\n.dockerignore\nDockerfile\nlogs\n*.o\n!keep.o\n");
        write(d, "secret.txt", "s");
        write(d, "a.o", "");
        write(d, "keep.o", "");
        write(d, "logs/x.log", "");
        write(d, "main.c", "");
        let p = prepare(d.to_str().unwrap(), None, false, &mut std::io::empty()).unwrap();
        assert_eq!(names(p), vec![".dockerignore", "Dockerfile", "keep.o", "main.c"]);
        // An exception below an excluded directory re-includes the file.
        write(d, ".dockerignore", "logs\n!logs/keep.log\n");
        write(d, "logs/keep.log", "");
        let p = prepare(d.to_str().unwrap(), None, false, &mut std::io::empty()).unwrap();
        let n = names(p);
        assert!(n.contains(&"logs/keep.log".to_string()) && !n.contains(&"logs/x.log".to_string()), "{n:?}");
    }

    #[test]
    fn a_dockerfile_outside_the_context_gets_a_random_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "ctx/main.c", "");
        write(d, "df/Build.df", "FROM scratch\nCOPY main.c /\n");
        let f = d.join("df/Build.df");
        let p = prepare(d.join("ctx").to_str().unwrap(), Some(f.to_str().unwrap()), false, &mut std::io::empty()).unwrap();
        let name = p.dockerfile.clone();
        assert!(name.starts_with(".dockerfile.") && name.len() == ".dockerfile.".len() + 20, "{name}");
        assert!(name[12..].chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        let e = entries(p);
        let find = |n: &str| e.iter().find(|x| x.0 == n).map(|x| x.5.clone());
        assert_eq!(find(&name).as_deref(), Some("FROM scratch\nCOPY main.c /\n"));
        assert_eq!(find(".dockerignore"), Some(format!(".dockerignore\n{name}\n")));
        assert!(find("main.c").is_some());
        // An existing .dockerignore gets the name appended.
        write(d, "ctx/.dockerignore", "*.o");
        let p = prepare(d.join("ctx").to_str().unwrap(), Some(f.to_str().unwrap()), false, &mut std::io::empty()).unwrap();
        let name = p.dockerfile.clone();
        let e = entries(p);
        assert_eq!(e.iter().find(|x| x.0 == ".dockerignore").map(|x| x.5.clone()), Some(format!("*.o\n{name}\n")));
        // From stdin (-f -) the same way.
        let mut stdin: &[u8] = b"FROM scratch\n";
        let p = prepare(d.join("ctx").to_str().unwrap(), Some("-"), false, &mut stdin).unwrap();
        let name = p.dockerfile.clone();
        assert!(name.starts_with(".dockerfile."));
        assert_eq!(entries(p).iter().find(|x| x.0 == name).map(|x| x.5.clone()).as_deref(), Some("FROM scratch\n"));
    }

    #[test]
    fn stdin_contexts() {
        // A Dockerfile alone.
        let mut stdin: &[u8] = b"FROM scratch\n";
        let p = prepare("-", None, false, &mut stdin).unwrap();
        assert_eq!(p.dockerfile, "Dockerfile");
        assert_eq!(entries(p).iter().map(|e| (e.0.as_str(), e.5.as_str())).collect::<Vec<_>>(), vec![("Dockerfile", "FROM scratch\n")]);
        // A tar, passed through with -f naming a file in it.
        let mut tar_bytes = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tar_bytes);
            append_bytes(&mut b, "sub/My.df", 0o644, b"FROM scratch\n").unwrap();
            b.finish().unwrap();
        }
        let mut stdin: &[u8] = &tar_bytes;
        let p = prepare("-", Some("sub/My.df"), false, &mut stdin).unwrap();
        assert_eq!((p.dockerfile.as_str(), p.size), ("sub/My.df", tar_bytes.len() as u64));
        assert_eq!(prepare("-", Some("-"), false, &mut std::io::empty()).err().unwrap(), "invalid argument: can't use stdin for both build context and dockerfile");
        // --compress gzips whatever is sent.
        let mut stdin: &[u8] = b"FROM scratch\n";
        let mut p = prepare("-", None, true, &mut stdin).unwrap();
        let mut head = [0u8; 2];
        p.tar.read_exact(&mut head).unwrap();
        assert_eq!(head, [0x1f, 0x8b]);
    }

    #[test]
    fn context_errors_are_dockers() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ctx = d.to_str().unwrap();
        assert_eq!(prepare("/nonexistent/ctx", None, false, &mut std::io::empty()).err().unwrap(), "unable to prepare context: path \"/nonexistent/ctx\" not found");
        assert_eq!(
            prepare(ctx, None, false, &mut std::io::empty()).err().unwrap(),
            format!("unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat {}/Dockerfile: no such file or directory", d.canonicalize().unwrap().display())
        );
        write(d, "file", "");
        assert_eq!(
            prepare(d.join("file").to_str().unwrap(), None, false, &mut std::io::empty()).err().unwrap(),
            format!("unable to prepare context: context must be a directory: {}", d.canonicalize().unwrap().join("file").display())
        );
        // The lowercase name is found too.
        write(d, "dockerfile", "FROM scratch\n");
        assert_eq!(prepare(ctx, None, false, &mut std::io::empty()).unwrap().dockerfile, "dockerfile");
        // -f inside the context: its path relative to the context.
        write(d, "sub/Other.df", "FROM scratch\n");
        let f = d.join("sub/Other.df");
        assert_eq!(prepare(ctx, Some(f.to_str().unwrap()), false, &mut std::io::empty()).unwrap().dockerfile, "sub/Other.df");
    }

    #[test]
    fn relative_paths() {
        let cases = [("/a/b", "/a/b/c/d", "c/d"), ("/a/b", "/a/x", "../x"), ("/a/b", "/y/z", "../../y/z"), ("/", "/a", "a")];
        for (from, to, want) in cases {
            assert_eq!(relative(Path::new(from), Path::new(to)), want, "{from} {to}");
        }
    }

    #[test]
    fn stream_failures_carry_their_code() {
        let msg = |j: &str| Message::from_json(&serde_json::from_str(j).unwrap()).unwrap();
        let cases: Vec<(&str, Option<(i32, &str)>)> = vec![
            (r#"{"stream":"Step 1/2 : FROM busybox\n"}"#, None),
            (
                r#"{"errorDetail":{"code":3,"message":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c exit 3' returned a non-zero code: 3"}"#,
                Some((3, "The command '/bin/sh -c exit 3' returned a non-zero code: 3")),
            ),
            (r#"{"errorDetail":{"message":"COPY failed: x"},"error":"COPY failed: x"}"#, Some((1, "COPY failed: x"))),
            (r#"{"error":"bare"}"#, Some((1, "bare"))),
        ];
        for (j, want) in cases {
            assert_eq!(stream_failure(&msg(j)), want.map(|(c, m)| (c, m.to_string())), "{j}");
        }
    }

    #[test]
    fn prune_reports() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (serde_json::json!({"CachesDeleted": null, "SpaceReclaimed": 0}), "Total reclaimed space: 0B\n"),
            (
                serde_json::json!({"CachesDeleted": ["sha256:aa", "sha256:bb"], "SpaceReclaimed": 2048}),
                "Deleted build cache objects:\nsha256:aa\nsha256:bb\n\nTotal reclaimed space: 2.048kB\n",
            ),
        ];
        for (v, want) in cases {
            assert_eq!(prune_report(&v), want);
        }
        let parsed = Cli::try_parse_from(["berth", "builder", "prune", "-a", "-f", "--filter", "until=24h"]).unwrap();
        match parsed.command {
            Command::Builder(BuilderCommand::Prune(p)) => assert!(p.all && p.force && p.filter == vec!["until=24h".to_string()]),
            other => panic!("{other:?}"),
        }
    }
}
