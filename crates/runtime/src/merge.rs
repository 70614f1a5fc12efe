//! Docker's rules for combining an image's configuration with a create request.
//!
//! Words: the *image config* is the `config` object of the image's configuration JSON (the
//! defaults the image author chose); the *request* is the body of `POST /containers/create`.
//! [`merge`] produces the *resolved config*: the `Config` that `docker inspect` shows and that
//! the OCI spec is built from.
//!
//! The rules (moby `daemon/commit.go` `merge`, `daemon/create.go` `mergeAndVerifyConfig`,
//! `daemon/container.go` `newContainer`):
//!
//! - `User`, `WorkingDir`, `StopSignal`: the request's when set, else the image's.
//! - `Env`: the request's variables first, then every image variable whose name the request
//!   does not set (so `docker inspect` lists the request's variables first, as Docker does).
//! - `Labels`: the image's labels with the request's on top.
//! - `ExposedPorts`, `Volumes`: the union, sorted (Docker keeps them in maps).
//! - `Entrypoint`/`Cmd`: when the request has no entrypoint (absent or `[]`), it inherits the
//!   image's `Cmd` unless it has its own, and the image's `Entrypoint` unless it sent `[]`.
//!   When the request has an entrypoint, the image's `Cmd` is dropped. An entrypoint of
//!   exactly `[""]` is then reset to none. Neither entrypoint nor command is an error:
//!   `no command specified`.
//! - `Healthcheck`: the request's fields on top of the image's (zero means inherit); a test of
//!   `["NONE"]` is kept as is and means "disabled" (see [`effective_healthcheck`]).
//! - `Hostname`: the request's, else the host's name with `NetworkMode=host`, else the first 12
//!   characters of the container id. `Domainname` is the request's.
//! - Everything else (`Tty`, `OpenStdin`, `Attach*`, `StopTimeout`, `Image`, ...) is the
//!   request's.
//!
//! The request itself is validated first as Docker does (`validateContainerConfig`): a
//! relative working directory, an empty variable name, an unknown stop signal or a too short
//! healthcheck duration are invalid arguments.

use std::collections::{BTreeSet, HashMap};

use berth_errdefs::{HasKind, Kind};
use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HealthConfig};

/// Why a configuration cannot be resolved. Every variant is an invalid argument.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    /// Neither the request nor the image gives a command.
    #[error("no command specified")]
    NoCommand,
    /// `WorkingDir` is not an absolute path.
    #[error("the working directory '{0}' is invalid, it needs to be an absolute path")]
    RelativeWorkingDir(String),
    /// An `Env` entry has no name (``, `=x`).
    #[error("invalid environment variable: {0}")]
    InvalidEnv(String),
    /// `StopSignal` names no signal.
    #[error("invalid signal: {0}")]
    InvalidSignal(String),
    /// A healthcheck field is out of range.
    #[error("{0}")]
    InvalidHealthcheck(String),
}

impl HasKind for MergeError {
    fn kind(&self) -> Kind {
        Kind::InvalidArgument
    }
}

/// What [`merge`] needs besides the two configurations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeContext {
    /// The new container's full id; its first 12 characters are the default hostname.
    pub container_id: String,
    /// The host's name, the default hostname of a container with `NetworkMode=host`.
    pub host_hostname: String,
}

/// Combine the image's config (`None` for an image without one, e.g. built `FROM scratch`
/// with no instructions) with a create request into the resolved container config.
pub fn merge(
    image: Option<&ContainerConfig>,
    request: &ContainerCreateBody,
    ctx: &MergeContext,
) -> Result<ContainerConfig, MergeError> {
    validate_request(request)?;
    let empty = ContainerConfig::default();
    let img = image.unwrap_or(&empty);

    let mut out = request_as_config(request);

    if is_empty(&out.user) {
        out.user = img.user.clone();
    }
    out.exposed_ports = union_sorted(&out.exposed_ports, &img.exposed_ports);
    out.env = merge_env(out.env.take(), img.env.as_deref());
    out.labels = merge_labels(out.labels.take(), img.labels.as_ref());

    // Entrypoint and Cmd (moby merge + mergeAndVerifyConfig).
    if out.entrypoint.as_ref().is_none_or(|e| e.is_empty()) {
        if out.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            out.cmd = img.cmd.clone();
        }
        if out.entrypoint.is_none() {
            out.entrypoint = img.entrypoint.clone();
        }
    }
    if out.entrypoint.as_deref() == Some(&[String::new()][..]) {
        out.entrypoint = None;
    }
    if out.entrypoint.as_ref().is_none_or(|e| e.is_empty())
        && out.cmd.as_ref().is_none_or(|c| c.is_empty())
    {
        return Err(MergeError::NoCommand);
    }

    out.healthcheck = merge_healthcheck(out.healthcheck.take(), img.healthcheck.as_ref());
    if is_empty(&out.working_dir) {
        out.working_dir = img.working_dir.clone();
    }
    out.volumes = union_sorted(&out.volumes, &img.volumes);
    if is_empty(&out.stop_signal) {
        out.stop_signal = img.stop_signal.clone();
    }

    if is_empty(&out.hostname) {
        let host_mode = request
            .host_config
            .as_ref()
            .and_then(|h| h.network_mode.as_deref())
            .is_some_and(|m| m == "host");
        out.hostname = Some(if host_mode && !ctx.host_hostname.is_empty() {
            ctx.host_hostname.clone()
        } else {
            ctx.container_id.chars().take(12).collect()
        });
    }
    Ok(out)
}

/// The healthcheck to run, or `None` when there is none or it is disabled (`["NONE"]`).
pub fn effective_healthcheck(config: &ContainerConfig) -> Option<&HealthConfig> {
    let hc = config.healthcheck.as_ref()?;
    match hc.test.as_deref() {
        None | Some([]) => None,
        Some([first, ..]) if first == "NONE" => None,
        Some(_) => Some(hc),
    }
}

/// The process's arguments: the entrypoint followed by the command.
pub fn command_line(config: &ContainerConfig) -> Vec<String> {
    let mut args: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    args.extend(config.cmd.clone().unwrap_or_default());
    args
}

/// Docker's environment replacement (`ReplaceOrAppendEnvValues`): each override replaces the
/// default of the same name in place or is appended; an override without `=` removes the name.
pub fn replace_or_append_env(defaults: &[String], overrides: &[String]) -> Vec<String> {
    let mut out: Vec<Option<String>> = defaults.iter().cloned().map(Some).collect();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, e) in defaults.iter().enumerate() {
        index.entry(env_key(e).to_string()).or_insert(i);
    }
    for o in overrides {
        match o.split_once('=') {
            None => {
                if let Some(&i) = index.get(o.as_str()) {
                    out[i] = None;
                }
            }
            Some((k, _)) => match index.get(k) {
                Some(&i) => out[i] = Some(o.clone()),
                None => {
                    index.insert(k.to_string(), out.len());
                    out.push(Some(o.clone()));
                }
            },
        }
    }
    out.into_iter().flatten().collect()
}

fn env_key(e: &str) -> &str {
    e.split_once('=').map_or(e, |(k, _)| k)
}

fn is_empty(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(str::is_empty)
}

fn request_as_config(r: &ContainerCreateBody) -> ContainerConfig {
    ContainerConfig {
        hostname: r.hostname.clone(),
        domainname: r.domainname.clone(),
        user: r.user.clone(),
        attach_stdin: r.attach_stdin,
        attach_stdout: r.attach_stdout,
        attach_stderr: r.attach_stderr,
        exposed_ports: r.exposed_ports.clone(),
        tty: r.tty,
        open_stdin: r.open_stdin,
        stdin_once: r.stdin_once,
        env: r.env.clone(),
        cmd: r.cmd.clone(),
        healthcheck: r.healthcheck.clone(),
        args_escaped: r.args_escaped,
        image: r.image.clone(),
        volumes: r.volumes.clone(),
        working_dir: r.working_dir.as_deref().filter(|w| !w.is_empty()).map(clean_path),
        entrypoint: r.entrypoint.clone(),
        network_disabled: r.network_disabled,
        on_build: r.on_build.clone(),
        labels: r.labels.clone(),
        stop_signal: r.stop_signal.clone(),
        stop_timeout: r.stop_timeout,
        shell: r.shell.clone(),
    }
}

fn union_sorted(a: &Option<Vec<String>>, b: &Option<Vec<String>>) -> Option<Vec<String>> {
    if a.is_none() && b.is_none() {
        return None;
    }
    let set: BTreeSet<String> = a
        .iter()
        .chain(b.iter())
        .flat_map(|v| v.iter().cloned())
        .collect();
    Some(set.into_iter().collect())
}

fn merge_env(user: Option<Vec<String>>, image: Option<&[String]>) -> Option<Vec<String>> {
    let user = match user {
        Some(u) if !u.is_empty() => u,
        _ => return image.map(<[String]>::to_vec),
    };
    let mut out = user;
    for ie in image.unwrap_or_default() {
        let key = env_key(ie);
        if !out.iter().any(|ue| env_key(ue) == key) {
            out.push(ie.clone());
        }
    }
    Some(out)
}

fn merge_labels(
    user: Option<HashMap<String, String>>,
    image: Option<&HashMap<String, String>>,
) -> Option<HashMap<String, String>> {
    // Docker always ends up with a (possibly empty) map.
    let mut out = user.unwrap_or_default();
    for (k, v) in image.into_iter().flatten() {
        out.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Some(out)
}

fn merge_healthcheck(
    user: Option<HealthConfig>,
    image: Option<&HealthConfig>,
) -> Option<HealthConfig> {
    let Some(img) = image else { return user };
    let Some(mut u) = user else {
        return Some(img.clone());
    };
    if u.test.as_ref().is_none_or(|t| t.is_empty()) {
        u.test = img.test.clone();
    }
    fn inherit(u: &mut Option<i64>, i: Option<i64>) {
        if u.unwrap_or(0) == 0 {
            *u = i;
        }
    }
    inherit(&mut u.interval, img.interval);
    inherit(&mut u.timeout, img.timeout);
    inherit(&mut u.start_period, img.start_period);
    inherit(&mut u.start_interval, img.start_interval);
    inherit(&mut u.retries, img.retries);
    Some(u)
}

/// Lexically clean an absolute path (`filepath.Clean`).
pub(crate) fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if p.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    }
}

const MIN_DURATION_NS: i64 = 1_000_000;

fn validate_request(r: &ContainerCreateBody) -> Result<(), MergeError> {
    if let Some(wd) = r.working_dir.as_deref().filter(|w| !w.is_empty()) {
        if !wd.starts_with('/') {
            return Err(MergeError::RelativeWorkingDir(wd.to_string()));
        }
    }
    if let Some(sig) = r.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        parse_signal(sig)?;
    }
    for e in r.env.iter().flatten() {
        if env_key(e).is_empty() {
            return Err(MergeError::InvalidEnv(e.clone()));
        }
    }
    if let Some(hc) = &r.healthcheck {
        let check = |v: Option<i64>, name: &str| match v {
            Some(d) if d != 0 && d < MIN_DURATION_NS => Err(MergeError::InvalidHealthcheck(
                format!("{name} in Healthcheck cannot be less than 1ms"),
            )),
            _ => Ok(()),
        };
        check(hc.interval, "Interval")?;
        check(hc.timeout, "Timeout")?;
        if hc.retries.unwrap_or(0) < 0 {
            return Err(MergeError::InvalidHealthcheck(
                "Retries in Healthcheck cannot be negative".into(),
            ));
        }
        check(hc.start_period, "StartPeriod")?;
        check(hc.start_interval, "StartInterval")?;
    }
    Ok(())
}

const SIGNALS: &[(&str, i32)] = &[
    ("ABRT", 6),
    ("ALRM", 14),
    ("BUS", 7),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("FPE", 8),
    ("HUP", 1),
    ("ILL", 4),
    ("INT", 2),
    ("IO", 29),
    ("IOT", 6),
    ("KILL", 9),
    ("PIPE", 13),
    ("POLL", 29),
    ("PROF", 27),
    ("PWR", 30),
    ("QUIT", 3),
    ("SEGV", 11),
    ("STKFLT", 16),
    ("STOP", 19),
    ("SYS", 31),
    ("TERM", 15),
    ("TRAP", 5),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("USR1", 10),
    ("USR2", 12),
    ("VTALRM", 26),
    ("WINCH", 28),
    ("XCPU", 24),
    ("XFSZ", 25),
];

const SIGRTMIN: i32 = 34;
const SIGRTMAX: i32 = 64;

/// Parse a signal the way Docker does (`signal.ParseSignal`): a positive number, or a name
/// with or without `SIG`, any case, including `RTMIN+n` and `RTMAX-n`.
pub fn parse_signal(s: &str) -> Result<i32, MergeError> {
    let bad = || MergeError::InvalidSignal(s.to_string());
    if let Ok(n) = s.parse::<i64>() {
        return if (1..=SIGRTMAX as i64).contains(&n) {
            Ok(n as i32)
        } else {
            Err(bad())
        };
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, n)) = SIGNALS.iter().find(|(k, _)| *k == name) {
        return Ok(n);
    }
    let rt = |base: &str, sign: i32| -> Option<i32> {
        let rest = name.strip_prefix(base)?;
        let base_n = if base == "RTMIN" { SIGRTMIN } else { SIGRTMAX };
        if rest.is_empty() {
            return Some(base_n);
        }
        let off: i32 = rest
            .strip_prefix(if sign > 0 { '+' } else { '-' })?
            .parse()
            .ok()?;
        let n = base_n + sign * off;
        (off >= 1 && (SIGRTMIN..=SIGRTMAX).contains(&n)).then_some(n)
    };
    rt("RTMIN", 1).or_else(|| rt("RTMAX", -1)).ok_or_else(bad)
}
