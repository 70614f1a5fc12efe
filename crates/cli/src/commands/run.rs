//! The streaming commands: run, create, start, attach and exec, following the docker CLI's
//! flow (cli/command/container/run.go, create.go, start.go, attach.go, exec.go):
//! create -> attach (hijacked, before start) -> wait registered -> start -> resize ->
//! stream until the output ends or the user detaches -> exit with the container's code.

use std::time::Duration;

use berth_client::{Client, Hijacked};
use bollard::query_parameters::{CreateContainerOptions, ResizeContainerTTYOptions, ResizeExecOptions};
use clap::{ArgAction, Args};

use super::distribution::pull_for_create;
use super::out;
use crate::error::{status_of, ApiError, ApiResult, StatusError};
use crate::opts::{parse_env_file, validate_env, ContainerOpts, CreateRequest, PullPolicy};
use crate::stream::escape::{parse_keys, DEFAULT_DETACH_KEYS};
use crate::stream::pump::{pump, PumpEnd, PumpOptions};
use crate::stream::term;

/// `run` flags.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Print usage
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Run container in background and print container ID
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Container options.
    #[command(flatten)]
    pub opts: ContainerOpts,
}

/// `create` flags.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CreateArgs {
    /// Print usage
    #[arg(long = "help", action = ArgAction::Help)]
    pub help: Option<bool>,
    /// Container options.
    #[command(flatten)]
    pub opts: ContainerOpts,
}

fn build_request(opts: &ContainerOpts) -> anyhow::Result<CreateRequest> {
    opts.to_request(&|k| std::env::var(k).ok(), &|p| std::fs::read_to_string(p))
        .map_err(|e| StatusError::with(125, format!("berth: {e}")))
}

/// `docker create`: print the new container's id.
pub async fn create(c: &Client, a: CreateArgs) -> anyhow::Result<()> {
    let req = build_request(&a.opts)?;
    // As docker: flag errors exit 125 (above), a daemon's refusal exits 1 (`run` says 125).
    let id = create_container(c, &req, &a.opts.platform, a.opts.quiet).await.map_err(|e| StatusError::with(1, format!("{e}")))?;
    out(&format!("{id}\n"))
}

/// How docker names a missing image (`FamiliarString(TagNameOnly(ref))`): `busybox` ->
/// `busybox:latest`; `None` for what is not a name (an image id).
pub fn familiar_with_tag(image: &str) -> Option<String> {
    berth_reference::Reference::parse_normalized(image).ok().map(|r| r.with_default_tag().familiar_string())
}

/// Create the container as docker's `createContainer` does; returns its id. A missing image
/// is pulled first (`--pull missing`, the default), or always (`--pull always`).
pub async fn create_container(c: &Client, req: &CreateRequest, platform: &str, quiet: bool) -> anyhow::Result<String> {
    if req.pull == PullPolicy::Always {
        pull_for_create(c, &req.image, platform, quiet).await?;
    }
    let opts = CreateContainerOptions { name: req.name.clone(), platform: platform.to_string() };
    let first = c.docker().create_container(Some(opts.clone()), req.body.clone()).await.api();
    let resp = match first {
        Ok(r) => r,
        Err(e) if status_of(&e) == Some(404) && req.pull == PullPolicy::Missing && is_image_missing(&e) => {
            let Some(name) = familiar_with_tag(&req.image) else { return Err(e) };
            if !quiet {
                eprintln!("Unable to find image '{name}' locally");
            }
            pull_for_create(c, &req.image, platform, quiet).await?;
            c.docker().create_container(Some(opts), req.body.clone()).await.api()?
        }
        Err(e) => return Err(e),
    };
    for w in &resp.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(resp.id)
}

fn is_image_missing(e: &anyhow::Error) -> bool {
    e.to_string().to_lowercase().contains("image")
}

/// docker's `runStartContainerErr`: 127 for a missing executable, 126 for one that cannot be
/// run, 125 otherwise.
pub fn start_error_code(message: &str) -> i32 {
    let m = message.strip_prefix("Error response from daemon: ").unwrap_or(message);
    if m.contains("executable file not found") || m.contains("no such file or directory") || m.contains("system cannot find the file specified") {
        127
    } else if m.contains("permission denied") || m.contains("is a directory") {
        126
    } else {
        125
    }
}

/// `the input device is not a TTY` check of docker's `CheckTty`.
fn check_tty(attach_stdin: bool, tty: bool) -> anyhow::Result<()> {
    if tty && attach_stdin && !term::stdin_is_tty() {
        return Err(StatusError::with(1, "the input device is not a TTY"));
    }
    Ok(())
}

fn detach_keys(flag: Option<&str>) -> anyhow::Result<(String, Vec<u8>)> {
    let spec = flag.filter(|s| !s.is_empty()).unwrap_or(DEFAULT_DETACH_KEYS).to_string();
    match parse_keys(&spec) {
        Ok(k) => Ok((spec, k)),
        Err(e) => Err(StatusError::with(125, format!("berth: invalid detach keys ({spec}): {e}"))),
    }
}

/// Attach to a container (hijacked; call before start to catch all output).
async fn attach_stream(c: &Client, id: &str, stdin: bool, stdout: bool, stderr: bool, keys: &str, logs: bool) -> anyhow::Result<Hijacked> {
    let b = |v: bool| if v { "1".to_string() } else { "0".to_string() };
    let mut q = vec![("stream", "1".to_string()), ("stdin", b(stdin)), ("stdout", b(stdout)), ("stderr", b(stderr))];
    if logs {
        q.push(("logs", "1".to_string()));
    }
    q.push(("detachKeys", keys.to_string()));
    c.hijack(&format!("/containers/{id}/attach"), &q, None).await.api()
}

/// What a resize applies to.
#[derive(Clone)]
enum ResizeTarget {
    Container(String),
    Exec(String),
}

async fn resize_once(c: &Client, t: &ResizeTarget) -> anyhow::Result<()> {
    let Some((h, w)) = term::size() else { return Ok(()) };
    match t {
        ResizeTarget::Container(id) => {
            c.docker().resize_container_tty(id, ResizeContainerTTYOptions { h: h as i32, w: w as i32 }).await.api()
        }
        ResizeTarget::Exec(id) => c.docker().resize_exec(id, ResizeExecOptions { h: h as i32, w: w as i32 }).await.api(),
    }
}

/// docker's `MonitorTtySize`: an initial resize (retried while the process starts), then one
/// per SIGWINCH. Returns the monitoring task.
fn monitor_tty_size(c: &Client, t: ResizeTarget) -> tokio::task::JoinHandle<()> {
    let c = c.clone();
    tokio::spawn(async move {
        for attempt in 0..10u64 {
            if resize_once(&c, &t).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10 * (attempt + 1))).await;
        }
        let Ok(mut winch) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()) else {
            return;
        };
        while winch.recv().await.is_some() {
            let _ = resize_once(&c, &t).await;
        }
    })
}

/// docker's `ForwardAllSignals` (the common ones): relay them to the container.
fn forward_signals(c: &Client, id: &str) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let c = c.clone();
    let id = id.to_string();
    tokio::spawn(async move {
        let kinds = [
            (SignalKind::interrupt(), "SIGINT"),
            (SignalKind::terminate(), "SIGTERM"),
            (SignalKind::hangup(), "SIGHUP"),
            (SignalKind::quit(), "SIGQUIT"),
            (SignalKind::user_defined1(), "SIGUSR1"),
            (SignalKind::user_defined2(), "SIGUSR2"),
        ];
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
        for (kind, name) in kinds {
            if let Ok(mut s) = signal(kind) {
                let tx = tx.clone();
                tokio::spawn(async move {
                    while s.recv().await.is_some() {
                        if tx.send(name).is_err() {
                            break;
                        }
                    }
                });
            }
        }
        drop(tx);
        while let Some(name) = rx.recv().await {
            let opts = bollard::query_parameters::KillContainerOptions { signal: name.to_string() };
            let _ = c.docker().kill_container(&id, Some(opts)).await;
        }
    })
}

/// Everything a streaming session needs besides the connection.
struct Session {
    tty: bool,
    stdin: bool,
    keys: Vec<u8>,
}

/// Run the streams with the terminal in raw mode when the container has a TTY.
async fn stream(h: Hijacked, s: Session) -> anyhow::Result<PumpEnd> {
    let _raw = if s.tty && s.stdin { term::RawGuard::stdin() } else { None };
    pump(h, PumpOptions { tty: s.tty, stdin: s.stdin, detach_keys: s.keys }).await
}

/// `docker run`.
pub async fn run(c: &Client, a: RunArgs) -> anyhow::Result<()> {
    let mut req = build_request(&a.opts)?;
    let (keys_spec, keys) = detach_keys(a.detach_keys.as_deref())?;
    if a.detach {
        if !a.opts.attach.is_empty() {
            return Err(StatusError::with(125, "berth: Conflicting options: -a and -d"));
        }
        req.body.attach_stdin = Some(false);
        req.body.attach_stdout = Some(false);
        req.body.attach_stderr = Some(false);
        req.body.stdin_once = Some(false);
    } else if req.body.open_stdin == Some(true) && req.body.attach_stdin == Some(true) {
        req.body.stdin_once = Some(true);
    }
    let tty = req.body.tty == Some(true);
    if tty && term::stdout_is_tty() {
        // As docker (API >= 1.42): create the TTY with the local size.
        if let (Some(hc), Some((h, w))) = (req.body.host_config.as_mut(), term::size()) {
            hc.console_size = Some(vec![h as usize, w as usize]);
        }
    }
    let attach_stdin = req.body.attach_stdin == Some(true);
    let attach_stdout = req.body.attach_stdout == Some(true);
    let attach_stderr = req.body.attach_stderr == Some(true);
    let auto_remove = req.body.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true);
    if !a.detach {
        check_tty(attach_stdin, tty)?;
    }

    let id = create_container(c, &req, &a.opts.platform, a.opts.quiet)
        .await
        .map_err(|e| StatusError::with(125, format!("berth: {e}")))?;

    if a.detach {
        c.docker().start_container(&id, None).await.api().map_err(|e| start_failed(&e))?;
        return out(&format!("{id}\n"));
    }

    let attached = attach_stdin || attach_stdout || attach_stderr;
    let session = if attached {
        Some(
            attach_stream(c, &id, attach_stdin, attach_stdout, attach_stderr, &keys_spec, false)
                .await
                .map_err(|e| StatusError::with(125, format!("berth: {e}")))?,
        )
    } else {
        None
    };

    let mut waiter = c.wait(&id, if auto_remove { "removed" } else { "next-exit" });
    waiter.registered(Duration::from_millis(500)).await;

    if let Err(e) = c.docker().start_container(&id, None).await.api() {
        drop(session);
        if auto_remove {
            let _ = tokio::time::timeout(Duration::from_secs(10), waiter.exit()).await;
        }
        return Err(start_failed(&e));
    }

    let resizer = (tty && term::stdout_is_tty()).then(|| monitor_tty_size(c, ResizeTarget::Container(id.clone())));
    let signals = (a.sig_proxy && !tty).then(|| forward_signals(c, &id));

    let mut end = PumpEnd::Finished;
    if let Some(h) = session {
        end = stream(h, Session { tty, stdin: attach_stdin, keys }).await?;
    }
    if let Some(r) = resizer {
        r.abort();
    }
    if end == PumpEnd::Detached {
        if let Some(s) = signals {
            s.abort();
        }
        return Ok(());
    }
    if !attach_stdout && !attach_stderr {
        out(&format!("{id}\n"))?;
        return Ok(());
    }
    let exit = waiter.exit().await.api();
    if let Some(s) = signals {
        s.abort();
    }
    let exit = exit?;
    if let Some(m) = exit.error {
        return Err(StatusError::with(125, format!("berth: {m}")));
    }
    if exit.status_code != 0 {
        return Err(StatusError::code(exit.status_code as i32));
    }
    Ok(())
}

fn start_failed(e: &anyhow::Error) -> anyhow::Error {
    let msg = e.to_string();
    StatusError::with(start_error_code(&msg), format!("berth: {msg}"))
}

/// `start` flags.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// Containers
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `docker start`.
pub async fn start(c: &Client, a: StartArgs) -> anyhow::Result<()> {
    if a.attach || a.interactive {
        if a.names.len() > 1 {
            return Err(StatusError::with(1, "you cannot start and attach multiple containers at once"));
        }
        let name = &a.names[0];
        let info = c.docker().inspect_container(name, None).await.api()?;
        let id = info.id.clone().unwrap_or_else(|| name.clone());
        let config = info.config.unwrap_or_default();
        let tty = config.tty == Some(true);
        let stdin = a.interactive && config.open_stdin == Some(true);
        let auto_remove = info.host_config.as_ref().and_then(|h| h.auto_remove) == Some(true);
        check_tty(stdin, tty)?;
        let (keys_spec, keys) = detach_keys(a.detach_keys.as_deref())?;
        let h = attach_stream(c, &id, stdin, true, true, &keys_spec, false).await?;
        let mut waiter = c.wait(&id, if auto_remove { "removed" } else { "next-exit" });
        waiter.registered(Duration::from_millis(500)).await;
        if let Err(e) = c.docker().start_container(&id, None).await.api() {
            drop(h);
            return Err(e);
        }
        let resizer = (tty && term::stdout_is_tty()).then(|| monitor_tty_size(c, ResizeTarget::Container(id.clone())));
        let signals = (!tty).then(|| forward_signals(c, &id));
        let end = stream(h, Session { tty, stdin, keys }).await?;
        if let Some(r) = resizer {
            r.abort();
        }
        if end == PumpEnd::Detached {
            return Ok(());
        }
        let exit = waiter.exit().await.api();
        if let Some(s) = signals {
            s.abort();
        }
        let exit = exit?;
        if exit.status_code != 0 {
            return Err(StatusError::code(exit.status_code as i32));
        }
        return Ok(());
    }
    let mut errors = Vec::new();
    let mut failed = Vec::new();
    for name in &a.names {
        match c.docker().start_container(name, None).await.api() {
            Ok(()) => out(&format!("{name}\n"))?,
            Err(e) => {
                errors.push(e.to_string());
                failed.push(name.clone());
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    errors.push(format!("Error: failed to start containers: {}", failed.join(", ")));
    Err(StatusError::with(1, errors.join("\n")))
}

/// `attach` flags.
#[derive(Args, Debug)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(long = "sig-proxy", default_value = "true", num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set)]
    pub sig_proxy: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// The container
    pub container: String,
}

/// `docker attach`.
pub async fn attach(c: &Client, a: AttachArgs) -> anyhow::Result<()> {
    let info = c.docker().inspect_container(&a.container, None).await.api()?;
    let state = info.state.clone().unwrap_or_default();
    if state.running != Some(true) {
        return Err(StatusError::with(1, "You cannot attach to a stopped container, start it first"));
    }
    if state.paused == Some(true) {
        return Err(StatusError::with(1, "You cannot attach to a paused container, unpause it first"));
    }
    if state.restarting == Some(true) {
        return Err(StatusError::with(1, "You cannot attach to a restarting container, wait until it is running"));
    }
    let id = info.id.clone().unwrap_or_else(|| a.container.clone());
    let config = info.config.unwrap_or_default();
    let tty = config.tty == Some(true);
    let stdin = !a.no_stdin && config.open_stdin == Some(true);
    check_tty(stdin, tty)?;
    let (keys_spec, keys) = detach_keys(a.detach_keys.as_deref())?;
    let mut waiter = c.wait(&id, "not-running");
    waiter.registered(Duration::from_millis(500)).await;
    let h = attach_stream(c, &id, stdin, true, true, &keys_spec, false).await?;
    let resizer = (tty && term::stdout_is_tty()).then(|| monitor_tty_size(c, ResizeTarget::Container(id.clone())));
    let signals = (a.sig_proxy && !tty).then(|| forward_signals(c, &id));
    let end = stream(h, Session { tty, stdin, keys }).await?;
    if let Some(r) = resizer {
        r.abort();
    }
    if let Some(s) = signals {
        s.abort();
    }
    if end == PumpEnd::Detached {
        // As docker attach: the escape sequence ends the command with this error (run -it
        // detaches silently).
        return Err(StatusError::with(1, "read escape sequence"));
    }
    let exit = waiter.exit().await.api()?;
    if exit.status_code != 0 {
        return Err(StatusError::code(exit.status_code as i32));
    }
    Ok(())
}

/// `exec` flags.
#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Detached mode: run command in the background
    #[arg(short = 'd', long = "detach")]
    pub detach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file")]
    pub env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: "<name|uid>[:<group|gid>]")
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Give extended privileges to the command
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys")]
    pub detach_keys: Option<String>,
    /// The container
    pub container: String,
    /// COMMAND [ARG...]
    #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Build the exec config from flags (env files first, then `-e`).
pub fn exec_config(a: &ExecArgs, lookup: &dyn Fn(&str) -> Option<String>, read: &dyn Fn(&str) -> std::io::Result<String>) -> Result<berth_api::models::ExecConfig, String> {
    let mut env = Vec::new();
    for f in &a.env_file {
        let text = read(f).map_err(|e| format!("open {f}: {e}"))?;
        env.extend(parse_env_file(f, &text, lookup)?);
    }
    for e in &a.env {
        env.push(validate_env(e, lookup)?);
    }
    Ok(berth_api::models::ExecConfig {
        attach_stdin: Some(a.interactive && !a.detach),
        attach_stdout: Some(!a.detach),
        attach_stderr: Some(!a.detach),
        tty: Some(a.tty),
        env: (!env.is_empty()).then_some(env),
        cmd: Some(a.command.clone()),
        privileged: Some(a.privileged),
        user: a.user.clone(),
        working_dir: a.workdir.clone(),
        detach_keys: a.detach_keys.clone(),
        ..Default::default()
    })
}

/// The exit code docker gives an exec that failed to start, from the daemon's message.
pub fn exec_error_code(message: &str) -> i32 {
    match start_error_code(message) {
        125 => 126,
        c => c,
    }
}

/// `docker exec`.
pub async fn exec(c: &Client, a: ExecArgs) -> anyhow::Result<()> {
    let mut config = exec_config(&a, &|k| std::env::var(k).ok(), &|p| std::fs::read_to_string(p))
        .map_err(|e| StatusError::with(125, format!("berth: {e}")))?;
    if a.tty && term::stdout_is_tty() {
        config.console_size = term::size().map(|(h, w)| vec![h as usize, w as usize]);
    }
    let (keys_spec, keys) = detach_keys(a.detach_keys.as_deref())?;
    let created = c.docker().create_exec(&a.container, config).await.api()?;
    let exec_id = created.id;
    if a.detach {
        let opts = bollard::exec::StartExecOptions { detach: true, tty: a.tty, ..Default::default() };
        c.docker().start_exec(&exec_id, Some(opts)).await.api().map_err(|e| exec_failed(&e))?;
        return Ok(());
    }
    let stdin = a.interactive;
    check_tty(stdin, a.tty)?;
    let body = serde_json::json!({"Detach": false, "Tty": a.tty});
    let h = c
        .hijack(&format!("/exec/{exec_id}/start"), &[("detachKeys", keys_spec)], Some(&body))
        .await
        .api()
        .map_err(|e| exec_failed(&e))?;
    let resizer = (a.tty && term::stdout_is_tty()).then(|| monitor_tty_size(c, ResizeTarget::Exec(exec_id.clone())));
    let end = stream(h, Session { tty: a.tty, stdin, keys }).await?;
    if let Some(r) = resizer {
        r.abort();
    }
    if end == PumpEnd::Detached {
        return Ok(());
    }
    // The exit code is recorded when the process ends; give the daemon a moment.
    for attempt in 0..40u64 {
        let info = match c.docker().inspect_exec(&exec_id).await {
            Ok(i) => i,
            Err(e) => {
                let e: berth_client::Error = e.into();
                if matches!(e, berth_client::Error::Connect { .. } | berth_client::Error::Api(_)) {
                    return Err(StatusError::code(-1));
                }
                return Err(anyhow::Error::new(ApiError(e)));
            }
        };
        if info.running == Some(true) && attempt < 39 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let code = info.exit_code.unwrap_or(0);
        if code != 0 {
            return Err(StatusError::code(code as i32));
        }
        return Ok(());
    }
    Ok(())
}

fn exec_failed(e: &anyhow::Error) -> anyhow::Error {
    let msg = e.to_string();
    let code = if e.downcast_ref::<ApiError>().and_then(ApiError::status).is_some_and(|s| s == 404 || s == 409) {
        1
    } else {
        exec_error_code(&msg)
    };
    StatusError::with(code, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn start_errors_map_to_docker_codes() {
        let cases = [
            ("Error response from daemon: failed to create task: exec: \"nope\": executable file not found in $PATH", 127),
            ("exec /bin/x: no such file or directory", 127),
            ("exec /etc: permission denied", 126),
            ("open /etc: is a directory", 126),
            ("cgroup setup failed", 125),
        ];
        for (m, code) in cases {
            assert_eq!(start_error_code(m), code, "{m}");
        }
        assert_eq!(exec_error_code("something else"), 126);
        assert_eq!(exec_error_code("executable file not found"), 127);
    }

    #[test]
    fn image_names_get_latest() {
        let digest = "sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b";
        let cases = [
            ("busybox", Some("busybox:latest".to_string())),
            ("busybox:1.36", Some("busybox:1.36".to_string())),
            ("docker.io/library/alpine", Some("alpine:latest".to_string())),
            ("localhost:5000/x", Some("localhost:5000/x:latest".to_string())),
            (&format!("x@{digest}"), Some(format!("x@{digest}"))),
            // An image id is not a name: nothing to pull.
            ("f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b", None),
        ];
        for (i, want) in cases {
            assert_eq!(familiar_with_tag(i), want, "{i}");
        }
    }

    #[derive(Parser)]
    struct T {
        #[command(subcommand)]
        c: Sub,
    }
    #[derive(clap::Subcommand)]
    #[allow(clippy::large_enum_variant)]
    enum Sub {
        Run(RunArgs),
        Exec(ExecArgs),
    }

    #[test]
    fn run_flags_parse() {
        let T { c: Sub::Run(r) } = T::try_parse_from(["b", "run", "-d", "--sig-proxy=false", "--rm", "-h", "box", "img", "-d"]).unwrap() else {
            panic!()
        };
        assert!(r.detach);
        assert!(!r.sig_proxy);
        assert_eq!(r.opts.args, vec!["img", "-d"]);
        assert_eq!(r.opts.hostname.as_deref(), Some("box"));
        let T { c: Sub::Run(r) } = T::try_parse_from(["b", "run", "-it", "img"]).unwrap() else { panic!() };
        assert!(r.sig_proxy && r.opts.tty && r.opts.interactive);
        assert!(T::try_parse_from(["b", "run"]).is_err());
    }

    #[test]
    fn exec_config_from_flags() {
        let T { c: Sub::Exec(e) } =
            T::try_parse_from(["b", "exec", "-it", "-e", "A=1", "-w", "/tmp", "-u", "nobody", "--privileged", "web", "sh", "-c", "id"]).unwrap()
        else {
            panic!()
        };
        let cfg = exec_config(&e, &|_| None, &|_| Ok(String::new())).unwrap();
        assert_eq!(cfg.cmd, Some(vec!["sh".into(), "-c".into(), "id".into()]));
        assert_eq!(cfg.env, Some(vec!["A=1".into()]));
        assert_eq!((cfg.attach_stdin, cfg.attach_stdout, cfg.tty), (Some(true), Some(true), Some(true)));
        assert_eq!(cfg.working_dir.as_deref(), Some("/tmp"));
        assert_eq!(cfg.user.as_deref(), Some("nobody"));
        assert_eq!(cfg.privileged, Some(true));
        let T { c: Sub::Exec(e) } = T::try_parse_from(["b", "exec", "-d", "web", "true"]).unwrap() else { panic!() };
        let cfg = exec_config(&e, &|_| None, &|_| Ok(String::new())).unwrap();
        assert_eq!((cfg.attach_stdin, cfg.attach_stdout, cfg.attach_stderr), (Some(false), Some(false), Some(false)));
    }
}
