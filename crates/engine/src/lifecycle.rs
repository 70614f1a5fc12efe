//! Container lifecycle on the engine: create, start, exit handling with restart policies,
//! stop, kill, pause, wait, remove, rename, attach, recovery after a berthd restart.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_api::models as m;
use berth_errdefs::{Error, HasKind, Kind, Result};
use berth_runtime::merge;
use berth_runtime::monitor::{CgroupConfig, LogConfig, MonitorConfig};
use berth_runtime::proto;
use futures_util::FutureExt;

use crate::containers::{self, Container, PendingAttach, Record, State};
use crate::monitor_client::Conn;
use crate::service::{AttachOptions, Session, WaitCondition, WaitFuture};
use crate::Engine;

fn kinded<E: HasKind>(e: E) -> Error {
    Error::from_kind(&e)
}

fn ev_attrs(rec: &Record) -> HashMap<String, String> {
    let mut a: HashMap<String, String> = rec.config.labels.clone().unwrap_or_default().into_iter().collect();
    a.insert("name".into(), rec.name.trim_start_matches('/').to_string());
    a.insert("image".into(), rec.image_ref.clone());
    a
}

/// Parse a size like `10m`, `1g`, `512k`, `100` (bytes) as Docker's log options accept.
pub(crate) fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let (num, mult) = match t.trim_end_matches('b').chars().last() {
        Some('k') => (&t[..t.trim_end_matches('b').len() - 1], 1u64 << 10),
        Some('m') => (&t[..t.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&t[..t.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (t.trim_end_matches('b'), 1),
    };
    let n: f64 = num.trim().parse().map_err(|_| Error::invalid(format!("invalid size: '{s}'")))?;
    if n < 0.0 {
        return Err(Error::invalid(format!("invalid size: '{s}'")));
    }
    Ok((n * mult as f64) as u64)
}

impl Engine {
    fn socket_path(&self, id: &str) -> PathBuf {
        self.cfg.exec_root.join("s").join(format!("{}.sock", &id[..24.min(id.len())]))
    }

    fn cdir(&self, id: &str) -> PathBuf {
        containers::container_dir(&self.cfg.data_root, id)
    }

    pub(crate) fn log_path(&self, id: &str) -> PathBuf {
        self.cdir(id).join(format!("{id}-json.log"))
    }

    /// Save a state change durably (an fsync costs about 0.3 ms on this class of disk).
    pub(crate) fn persist(&self, c: &Container) -> Result<()> {
        let rec = c.record();
        self.store
            .write(|tx| tx.put(containers::TABLE, &rec.id, &*rec))
            .map_err(kinded)
    }

    pub(crate) fn emit_container(&self, action: &str, rec: &Record, extra: &[(&str, String)]) {
        let mut a = ev_attrs(rec);
        for (k, v) in extra {
            a.insert(k.to_string(), v.clone());
        }
        self.events.emit(m::EventMessageTypeEnum::CONTAINER, action, &rec.id, a);
    }

    fn log_config(&self, hc: &m::HostConfig, id: &str) -> Result<Option<LogConfig>> {
        let lc = hc.log_config.clone().unwrap_or_default();
        let typ = lc.typ.clone().unwrap_or_default();
        match typ.as_str() {
            "" | "json-file" | "local" => {}
            "none" => return Ok(None),
            other => return Err(Error::invalid(format!("logger: no log driver named '{other}' is registered"))),
        }
        let mut opts = self.cfg.log_opts.clone();
        opts.extend(lc.config.clone().unwrap_or_default());
        let max_size = match opts.get("max-size") {
            Some(s) if !s.is_empty() && s != "-1" => parse_size(s)?,
            _ => 0,
        };
        let max_file = match opts.get("max-file") {
            Some(s) => s.parse::<u32>().map_err(|_| Error::invalid(format!("invalid value for max-file: {s}")))?,
            None => 1,
        };
        if max_file < 1 {
            return Err(Error::invalid("max-file cannot be less than 1"));
        }
        Ok(Some(LogConfig { path: self.log_path(id), max_size, max_file }))
    }

    /// `POST /containers/create`.
    pub(crate) async fn create_container(&self, name: Option<String>, body: m::ContainerCreateBody) -> Result<m::ContainerCreateResponse> {
        let image_ref = body.image.clone().filter(|s| !s.is_empty()).ok_or_else(|| Error::invalid("config cannot be empty in order to create a container"))?;
        let mut hc = body.host_config.clone().unwrap_or_default();
        validate_host_config(&hc, &self.cfg)?;
        let warnings = crate::resources::verify_create(self, &mut hc)?;
        if let Some(n) = &name {
            if !n.is_empty() {
                containers::validate_name(n)?;
            }
        }
        let networks = self.desired_networks(&hc, body.networking_config.as_ref())?;
        if hc.network_mode.as_deref().is_some_and(|m| m.starts_with("container:")) && body.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
            return Err(Error::invalid("conflicting options: hostname and the network mode"));
        }
        let img = self.images.for_container(&image_ref)?;
        let id = containers::new_id();
        let ctx = merge::MergeContext { container_id: id.clone(), host_hostname: self.host.hostname.clone() };
        let config = merge::merge(img.config.as_ref(), &body, &ctx).map_err(kinded)?;
        let mut config = config;
        config.image = Some(image_ref.clone());
        let cmdline = merge::command_line(&config);
        let _ = self.log_config(&hc, &id)?;

        // Reserve the name first: it is the only thing two creates can race on.
        let name = {
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            let chosen = match name.filter(|n| !n.is_empty()) {
                Some(n) => {
                    let n = n.trim_start_matches('/').to_string();
                    if let Some(other) = names.get(&n) {
                        return Err(Error::conflict(format!(
                            "Conflict. The container name \"/{n}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                        )));
                    }
                    n
                }
                None => {
                    let mut i = 0;
                    loop {
                        let n = containers::random_name(i);
                        if !names.contains_key(&n) {
                            break n;
                        }
                        i += 1;
                    }
                }
            };
            names.insert(chosen.clone(), id.clone());
            chosen
        };
        let unreserve = |names: &std::sync::Mutex<HashMap<String, String>>| {
            names.lock().unwrap_or_else(|p| p.into_inner()).remove(&name);
        };
        let cdir = self.cdir(&id);
        let made = (|| -> std::io::Result<()> {
            std::fs::create_dir_all(cdir.join("upper"))?;
            std::fs::create_dir_all(cdir.join("work"))?;
            std::fs::create_dir_all(cdir.join("rootfs"))?;
            let hostname = config.hostname.clone().unwrap_or_default();
            std::fs::write(cdir.join("hostname"), format!("{hostname}\n"))?;
            let host_net = hc.network_mode.as_deref() == Some("host");
            let hosts = if host_net {
                std::fs::read_to_string("/etc/hosts").unwrap_or_default()
            } else {
                "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::\tip6-localnet\nff00::\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n".to_string()
            };
            std::fs::write(cdir.join("hosts"), hosts)?;
            let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
            std::fs::write(cdir.join("resolv.conf"), resolv)?;
            Ok(())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&cdir);
            unreserve(&self.names);
            return Err(Error::internal(format!("create container directory: {e}")));
        }
        let mounts = match self.prepare_mounts(&config, &hc) {
            Ok(ms) => ms,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&cdir);
                unreserve(&self.names);
                return Err(e);
            }
        };
        let rec = Record {
            id: id.clone(),
            name: format!("/{name}"),
            created: containers::now_rfc3339(),
            image_ref,
            image_id: img.id.clone(),
            config,
            host_config: hc,
            state: State { status: "created".into(), ..State::default() },
            restart_count: 0,
            manually_stopped: false,
            path: cmdline.first().cloned().unwrap_or_default(),
            args: cmdline.iter().skip(1).cloned().collect(),
            exec_ids: Vec::new(),
            networks,
            mounts,
        };
        if let Err(e) = self.store.write(|tx| tx.put(containers::TABLE, &id, &rec)) {
            let _ = std::fs::remove_dir_all(&cdir);
            unreserve(&self.names);
            self.release_volumes(&rec, true);
            return Err(kinded(e));
        }
        let c = Container::new(rec.clone());
        self.containers.write().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), c);
        self.emit_container("create", &rec, &[]);
        Ok(m::ContainerCreateResponse { id, warnings })
    }

    pub(crate) fn cgroup_config(&self, id: &str, rec: &Record) -> Option<CgroupConfig> {
        let layout = self.cgroups.as_ref()?;
        let parent = rec.host_config.cgroup_parent.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| self.cgroup_parent.clone());
        Some(CgroupConfig { layout: layout.to_string(), path: format!("{}/{id}", parent.trim_matches('/')) })
    }

    /// `POST /containers/{id}/start`.
    pub(crate) async fn start_container(self: &Arc<Self>, key: &str) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        let st = c.record().state.clone();
        if st.running() {
            return Err(Error::not_modified());
        }
        if st.status == "removing" || st.status == "dead" {
            return Err(Error::conflict(format!("container {} is marked for removal and cannot be started", c.id)));
        }
        c.update(|r| r.manually_stopped = false);
        let res = self.start_locked(&c).await;
        if res.is_err() && c.record().host_config.auto_remove.unwrap_or(false) {
            // As dockerd: a container that fails to start with --rm goes away (the CLI waits
            // for its removal before reporting the error).
            drop(_op);
            let _ = self.remove_container(&c.id, true, true).await;
        }
        res
    }

    /// Start with the operation lock held: the network sandbox first, then the process; a
    /// failed start gives the sandbox back.
    async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let t0 = Instant::now();
        let rec = c.record();
        let network = self.setup_sandbox(&rec).await?;
        let t_net = t0.elapsed();
        let res = self.start_process(c, network, t0).await;
        if res.is_err() {
            self.teardown_sandbox(&rec.id).await;
            self.unmount_volumes(&c.record());
        }
        tracing::debug!(id = %rec.id, network = ?t_net, "network sandbox ready");
        res
    }

    async fn start_process(self: &Arc<Self>, c: &Arc<Container>, network: berth_runtime::spec::NetworkNamespace, t0: Instant) -> Result<()> {
        self.mount_volumes(c)?;
        let rec = c.record();
        let id = rec.id.clone();
        let cdir = self.cdir(&id);
        let lower = self.images.lower_dirs(&rec.image_id)?;
        let rootfs = cdir.join("rootfs");
        let runtime = rec.host_config.runtime.clone().filter(|r| !r.is_empty()).unwrap_or_else(|| self.cfg.default_runtime.clone());
        let external = if runtime == crate::BUILTIN_RUNTIME { None } else { self.cfg.runtimes.get(&runtime).cloned() };
        let cgroup = self.cgroup_config(&id, &rec);
        let spec = crate::specgen::build(self, &rec, &rootfs, &lower, cgroup.as_ref().map(|c| c.path.clone()).unwrap_or_default(), network)?;
        let spec_bytes = serde_json::to_vec(&spec).map_err(|e| Error::internal(format!("encode spec: {e}")))?;
        std::fs::write(cdir.join("config.json"), spec_bytes).map_err(|e| Error::internal(format!("write spec: {e}")))?;
        let pending: Vec<PendingAttach> = std::mem::take(&mut *c.pending.lock().unwrap_or_else(|p| p.into_inner()));
        let exit_file = cdir.join("exit.json");
        let _ = std::fs::remove_file(&exit_file);
        let socket = self.socket_path(&id);
        let mcfg = MonitorConfig {
            id: id.clone(),
            bundle: cdir.clone(),
            overlay: Some(berth_runtime::linux::Overlay { lower, upper: cdir.join("upper"), work: cdir.join("work") }),
            socket: socket.clone(),
            exit_file: exit_file.clone(),
            log: self.log_config(&rec.host_config, &id)?,
            tty: rec.config.tty.unwrap_or(false),
            open_stdin: rec.config.open_stdin.unwrap_or(false),
            stdin_once: rec.config.stdin_once.unwrap_or(false),
            cgroup,
            autostart: pending.is_empty(),
            runtime: external,
            runtime_root: Some(self.cfg.exec_root.join("runtimes")),
            exec: None,
        };
        let mpath = cdir.join("monitor.json");
        std::fs::write(&mpath, serde_json::to_vec(&mcfg).map_err(|e| Error::internal(e.to_string()))?)
            .map_err(|e| Error::internal(format!("write monitor config: {e}")))?;
        let t_spec = t0.elapsed();
        let line = self.spawn_monitor("run", &mpath).await?;
        let t_monitor = t0.elapsed();
        let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        match word {
            "started" | "ready" => {}
            _ => {
                let msg = if word == "error" { rest.to_string() } else { line.clone() };
                return Err(self.start_failed(c, msg));
            }
        }
        // A process started at once may already have exited, and its monitor gone with its
        // socket: its exit file says how it ended.
        let conn = match Conn::connect(&socket).await {
            Ok(c) => Some(c),
            Err(_) if word == "started" && exit_file.exists() => None,
            Err(e) => return Err(Error::internal(format!("connect to monitor: {e}"))),
        };
        let pid: i64 = rest.trim().parse().unwrap_or(0);
        let mut conn = conn;
        if word == "ready" {
            let Some(conn) = conn.as_mut() else {
                return Err(Error::internal("monitor went away before start"));
            };
            for p in pending {
                let _ = containers::connect_attach(&socket, &p.opts, p.out, p.stdin, p.detach).await;
            }
            match conn.request(proto::START, b"").await {
                Ok((proto::STARTED, _)) => {}
                Ok((proto::ERROR, msg)) => return Err(self.start_failed(c, String::from_utf8_lossy(&msg).into_owned())),
                Ok((_, _)) | Err(_) => {
                    let es = containers::read_exit_file(&exit_file);
                    let msg = es.and_then(|e| e.error).unwrap_or_else(|| "container exited during start".into());
                    return Err(self.start_failed(c, msg));
                }
            }
        }
        c.update(|r| {
            r.state.status = "running".into();
            r.state.pid = pid;
            r.state.exit_code = 0;
            r.state.error.clear();
            r.state.oom_killed = false;
            r.state.started_at = containers::now_rfc3339();
            r.state.finished_at = String::new();
            if r.config.healthcheck.is_some() {
                r.state.health = crate::health::initial(&r.config);
            }
        });
        let t_started = t0.elapsed();
        self.persist(c)?;
        c.life.send_modify(|l| l.running = true);
        let rec = c.record();
        self.emit_container("start", &rec, &[]);
        tracing::debug!(id = %rec.id, spec = ?t_spec, monitor = ?t_monitor, started = ?t_started, total = ?t0.elapsed(), "container started");
        match conn {
            Some(conn) => {
                self.watch(c.clone(), conn);
                crate::health::spawn(self.clone(), c.clone());
            }
            None => {
                let (engine, c) = (self.clone(), c.clone());
                tokio::spawn(async move { engine.on_exit(c, None).await });
            }
        }
        Ok(())
    }

    fn start_failed(&self, c: &Arc<Container>, msg: String) -> Error {
        let err = berth_runtime::linux::Error::Exec(msg.clone());
        let code = if msg.starts_with("exec:") || msg.contains("executable file not found") || msg.contains("no such file or directory") || msg.contains("permission denied") {
            err.exit_code()
        } else {
            128
        };
        c.update(|r| {
            r.state.exit_code = code as i64;
            r.state.error = msg.clone();
        });
        let _ = self.persist(c);
        c.life.send_modify(|l| {
            l.exit_code = code as i64;
            l.error = Some(msg.clone());
        });
        let full = format!("failed to create task for container: {msg}");
        if code == 126 || code == 127 {
            Error::invalid(full)
        } else {
            Error::internal(full)
        }
    }

    /// Run `berth-shim MODE CONFIG` and return its readiness line.
    pub(crate) async fn spawn_monitor(&self, mode: &str, config: &Path) -> Result<String> {
        let out = tokio::process::Command::new(&self.cfg.shim)
            .arg(mode)
            .arg(config)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .output()
            .await
            .map_err(|e| Error::internal(format!("start monitor {}: {e}", self.cfg.shim.display())))?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Follow a running container's monitor until it reports the exit.
    fn watch(self: &Arc<Self>, c: Arc<Container>, conn: Conn) {
        let engine = self.clone();
        tokio::spawn(async move {
            let (rd, wr) = conn.split();
            let code = containers::pump_output(rd, tokio::sync::mpsc::channel(1).0).await;
            drop(wr);
            engine.on_exit(c, code).await;
        });
    }

    /// The process of `c` exited (or its monitor vanished): record it, tell everyone, and
    /// apply the restart policy or auto-removal. Boxed: exit handling can restart, and a start
    /// can lead to exit handling, so the future's type must not contain itself.
    fn on_exit(self: &Arc<Self>, c: Arc<Container>, code: Option<i64>) -> futures_util::future::BoxFuture<'static, ()> {
        let engine = self.clone();
        async move { engine.handle_exit(c, code).await }.boxed()
    }

    async fn handle_exit(self: &Arc<Self>, c: Arc<Container>, code: Option<i64>) {
        self.teardown_sandbox(&c.id).await;
        self.unmount_volumes(&c.record());
        let es = containers::read_exit_file(&self.cdir(&c.id).join("exit.json"));
        let code = code.or(es.as_ref().map(|e| e.exit_code as i64)).unwrap_or(137);
        let finished = es.as_ref().map(|e| e.finished_at.clone()).unwrap_or_else(containers::now_rfc3339);
        let oom = es.as_ref().map(|e| e.oom_killed).unwrap_or(false);
        let started_at = c.record().state.started_at.clone();
        c.update(|r| {
            r.state.status = "exited".into();
            r.state.pid = 0;
            r.state.exit_code = code;
            r.state.finished_at = finished.clone();
            r.state.oom_killed = oom;
            if let Some(h) = r.state.health.as_mut() {
                h.status = Some(m::HealthStatusEnum::UNHEALTHY);
            }
        });
        let _ = self.persist(&c);
        let rec = c.record();
        if oom {
            self.emit_container("oom", &rec, &[]);
        }
        self.emit_container("die", &rec, &[("exitCode", code.to_string())]);
        c.life.send_modify(|l| {
            l.running = false;
            l.exits += 1;
            l.exit_code = code;
        });
        let ran = Instant::now()
            .checked_sub(Duration::from_secs_f64((containers::parse_rfc3339(&finished) - containers::parse_rfc3339(&started_at)).max(0.0)))
            .map(|t| t.elapsed())
            .unwrap_or_default();
        if should_restart(&rec, code) {
            let delay = c.next_backoff(ran);
            c.update(|r| {
                r.state.status = "restarting".into();
                r.restart_count += 1;
            });
            let _ = self.persist(&c);
            let engine = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _op = c.op.lock().await;
                let rec = c.record();
                if rec.manually_stopped || rec.state.status != "restarting" {
                    return;
                }
                if engine.start_locked(&c).await.is_err() {
                    c.update(|r| r.state.status = "exited".into());
                    let _ = engine.persist(&c);
                }
            });
        } else if rec.host_config.auto_remove.unwrap_or(false) {
            let engine = self.clone();
            tokio::spawn(async move {
                let _ = engine.remove_container(&c.id, true, true).await;
            });
        }
    }

    fn signal_of(rec: &Record, sig: Option<String>, default: &str) -> Result<i32> {
        let s = sig.filter(|s| !s.is_empty()).or_else(|| rec.config.stop_signal.clone().filter(|s| !s.is_empty())).unwrap_or_else(|| default.into());
        merge::parse_signal(&s).map_err(kinded)
    }

    fn send_signal(&self, rec: &Record, sig: i32) -> Result<()> {
        if rec.state.pid <= 0 {
            return Err(Error::conflict(format!("Container {} is not running", rec.id)));
        }
        // SAFETY: kill(2) on the container's init; its monitor has not reaped it while the
        // state says running, so the pid is still the container's.
        let rc = unsafe { libc::kill(rec.state.pid as i32, sig) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::ESRCH) {
                return Err(Error::internal(format!("kill container {}: {e}", rec.id)));
            }
        }
        if rec.state.status == "paused" && sig == libc::SIGKILL {
            let _ = self.thaw(rec);
        }
        Ok(())
    }

    async fn wait_stopped(&self, c: &Container, d: Duration) -> bool {
        let mut rx = c.life.subscribe();
        let r = tokio::time::timeout(d, rx.wait_for(|l| !l.running)).await.is_ok();
        r
    }

    /// `POST /containers/{id}/stop`.
    pub(crate) async fn stop_container(&self, key: &str, signal: Option<String>, t: Option<i64>) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, signal, t).await
    }

    async fn stop_locked(&self, c: &Container, signal: Option<String>, t: Option<i64>) -> Result<()> {
        let rec = c.record();
        if rec.state.status == "restarting" {
            c.update(|r| {
                r.manually_stopped = true;
                r.state.status = "exited".into();
            });
            self.persist(c)?;
            return Ok(());
        }
        if !rec.state.running() {
            return Err(Error::not_modified());
        }
        c.update(|r| r.manually_stopped = true);
        let sig = Self::signal_of(&rec, signal, "SIGTERM")?;
        let timeout = containers::stop_timeout(&rec, t);
        if rec.state.status == "paused" {
            let _ = self.thaw(&rec);
        }
        self.send_signal(&rec, sig)?;
        if !self.wait_stopped(c, timeout).await {
            self.send_signal(&rec, libc::SIGKILL)?;
            if !self.wait_stopped(c, Duration::from_secs(10)).await {
                return Err(Error::internal(format!("container {} did not stop after SIGKILL", rec.id)));
            }
        }
        let rec = c.record();
        self.emit_container("stop", &rec, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/kill`.
    pub(crate) async fn kill_container(&self, key: &str, signal: Option<String>) -> Result<()> {
        let c = self.get(key)?;
        let rec = c.record();
        if !rec.state.running() {
            return Err(Error::conflict(format!("Cannot kill container: {}: Container {} is not running", key, rec.id)));
        }
        let s = signal.filter(|s| !s.is_empty()).unwrap_or_else(|| "SIGKILL".into());
        let sig = merge::parse_signal(&s).map_err(kinded)?;
        if sig == libc::SIGKILL {
            c.update(|r| r.manually_stopped = true);
        }
        self.send_signal(&rec, sig)?;
        self.emit_container("kill", &rec, &[("signal", sig.to_string())]);
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub(crate) async fn restart_container(self: &Arc<Self>, key: &str, signal: Option<String>, t: Option<i64>) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        match self.stop_locked(&c, signal, t).await {
            Ok(()) => {}
            Err(e) if e.kind() == Kind::NotModified => {}
            Err(e) => return Err(e),
        }
        c.update(|r| r.manually_stopped = false);
        self.start_locked(&c).await?;
        let rec = c.record();
        self.emit_container("restart", &rec, &[]);
        Ok(())
    }

    fn cgroup_manager(&self, rec: &Record) -> Result<berth_cgroups::Cgroup> {
        let layout = self.cgroups.as_ref().ok_or_else(|| Error::not_implemented("cgroups are not available on this host"))?;
        let cfg = self.cgroup_config(&rec.id, rec).ok_or_else(|| Error::not_implemented("cgroups are not available"))?;
        berth_cgroups::Cgroup::new(layout, &cfg.path).map_err(kinded)
    }

    fn thaw(&self, rec: &Record) -> Result<()> {
        use berth_cgroups::Manager;
        self.cgroup_manager(rec)?.thaw().map_err(kinded)
    }

    /// `POST /containers/{id}/pause` and `unpause`.
    pub(crate) async fn pause_container(&self, key: &str, pause: bool) -> Result<()> {
        use berth_cgroups::Manager;
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        if !rec.state.running() {
            return Err(Error::conflict(format!("Container {} is not running", rec.id)));
        }
        let paused = rec.state.status == "paused";
        if pause && paused {
            return Err(Error::conflict(format!("Container {} is already paused", rec.id)));
        }
        if !pause && !paused {
            return Err(Error::conflict(format!("Container {} is not paused", rec.id)));
        }
        let cg = self.cgroup_manager(&rec)?;
        if pause { cg.freeze() } else { cg.thaw() }.map_err(kinded)?;
        c.update(|r| r.state.status = if pause { "paused".into() } else { "running".into() });
        self.persist(&c)?;
        self.emit_container(if pause { "pause" } else { "unpause" }, &c.record(), &[]);
        Ok(())
    }

    /// `POST /containers/{id}/wait`.
    pub(crate) async fn wait_container(&self, key: &str, cond: WaitCondition) -> Result<WaitFuture> {
        let c = self.get(key)?;
        let mut rx = c.life.subscribe();
        let cur = rx.borrow().clone();
        let resp = |l: &containers::Life| m::ContainerWaitResponse {
            status_code: l.exit_code,
            error: l.error.clone().map(|e| m::ContainerWaitExitError { message: Some(e) }),
        };
        let fut = async move {
            let res = match cond {
                WaitCondition::NotRunning => rx.wait_for(|l| !l.running || l.removed).await.map(|l| resp(&l)),
                WaitCondition::NextExit => rx.wait_for(|l| l.exits > cur.exits || l.removed).await.map(|l| resp(&l)),
                WaitCondition::Removed => rx.wait_for(|l| l.removed).await.map(|l| resp(&l)),
            };
            res.unwrap_or(m::ContainerWaitResponse { status_code: cur.exit_code, error: None })
        };
        Ok(fut.boxed())
    }

    /// `DELETE /containers/{id}`.
    pub(crate) async fn remove_container(&self, key: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(key)?;
        let _op = c.op.lock().await;
        let rec = c.record();
        if rec.state.running() || rec.state.status == "restarting" {
            if !force {
                let what = if rec.state.status == "paused" { "paused" } else { "running" };
                return Err(Error::conflict(format!(
                    "cannot remove container \"{}\": container is {what}: stop the container before removing or force remove",
                    rec.name
                )));
            }
            c.update(|r| r.manually_stopped = true);
            if rec.state.running() {
                self.send_signal(&rec, libc::SIGKILL)?;
                if !self.wait_stopped(&c, Duration::from_secs(10)).await {
                    return Err(Error::internal(format!("could not kill running container {}, cannot remove", rec.id)));
                }
            }
        }
        c.update(|r| r.state.status = "removing".into());
        self.teardown_sandbox(&c.id).await;
        self.release_volumes(&rec, volumes);
        let cdir = self.cdir(&c.id);
        self.store.write(|tx| tx.delete(containers::TABLE, &c.id).map(|_| ())).map_err(kinded)?;
        let _ = std::fs::remove_dir_all(&cdir);
        let _ = std::fs::remove_file(self.socket_path(&c.id));
        self.containers.write().unwrap_or_else(|p| p.into_inner()).remove(&c.id);
        self.names.lock().unwrap_or_else(|p| p.into_inner()).remove(rec.name.trim_start_matches('/'));
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, e| e.container != c.id);
        c.life.send_modify(|l| l.removed = true);
        self.emit_container("destroy", &rec, &[]);
        // An image removed with force while this container used it can go now.
        let users = self.image_users();
        let _ = self.images.gc(&|id: &str| Engine::image_in_use(&users, id));
        Ok(())
    }

    /// `POST /containers/{id}/rename`.
    pub(crate) async fn rename_container(&self, key: &str, new_name: &str) -> Result<()> {
        let c = self.get(key)?;
        let new = new_name.trim_start_matches('/').to_string();
        containers::validate_name(&new)?;
        let old = c.record().name.trim_start_matches('/').to_string();
        if old == new {
            return Err(Error::invalid("Renaming a container with the same name as its current name"));
        }
        {
            let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(other) = names.get(&new) {
                return Err(Error::conflict(format!(
                    "Conflict. The container name \"/{new}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                )));
            }
            names.remove(&old);
            names.insert(new.clone(), c.id.clone());
        }
        c.update(|r| r.name = format!("/{new}"));
        self.persist(&c)?;
        self.emit_container("rename", &c.record(), &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `POST /containers/{id}/attach`.
    pub(crate) async fn attach_container(&self, key: &str, opts: AttachOptions) -> Result<Session> {
        let c = self.get(key)?;
        let rec = c.record();
        let tty = rec.config.tty.unwrap_or(false);
        let want_stdin = opts.stdin && rec.config.open_stdin.unwrap_or(false);
        let keys = opts.detach_keys.as_deref().filter(|k| !k.is_empty()).unwrap_or(containers::DEFAULT_DETACH_KEYS);
        let detach = Some(containers::parse_detach_keys(keys)?);
        let (session, out, stdin) = containers::session_channels(tty, want_stdin);
        if opts.logs {
            let lo = crate::service::LogsOptions { stdout: opts.stdout, stderr: opts.stderr, ..Default::default() };
            let mut s = self.container_logs_of(&c, lo).await?;
            use futures_util::StreamExt;
            while let Some(ch) = s.chunks.next().await {
                let _ = out.send(ch).await;
            }
        }
        if !opts.stream {
            return Ok(session);
        }
        if rec.state.running() {
            containers::connect_attach(&self.socket_path(&c.id), &opts, out, stdin, detach)
                .await
                .map_err(|e| Error::internal(format!("attach to monitor: {e}")))?;
        } else {
            c.pending.lock().unwrap_or_else(|p| p.into_inner()).push(PendingAttach { opts, out, stdin, detach });
        }
        self.emit_container("attach", &rec, &[]);
        Ok(session)
    }

    /// `POST /containers/{id}/resize`.
    pub(crate) async fn resize_container(&self, key: &str, h: u16, w: u16) -> Result<()> {
        let c = self.get(key)?;
        let rec = c.record();
        if !rec.state.running() {
            return Err(Error::conflict(format!("Container {} is not running", rec.id)));
        }
        let mut conn = Conn::connect(&self.socket_path(&c.id)).await.map_err(|e| Error::internal(format!("connect to monitor: {e}")))?;
        conn.send(proto::RESIZE, format!("{h} {w}").as_bytes()).await.map_err(|e| Error::internal(e.to_string()))?;
        Ok(())
    }

    /// Load containers and reconnect to running ones; called once by [`Engine::open`].
    pub(crate) async fn recover(self: Arc<Self>) -> Result<()> {
        let recs: Vec<(String, Record)> = self.store.list(containers::TABLE).map_err(kinded)?;
        let mut known = std::collections::HashSet::new();
        for (id, rec) in recs {
            known.insert(id.clone());
            self.names.lock().unwrap_or_else(|p| p.into_inner()).insert(rec.name.trim_start_matches('/').to_string(), id.clone());
            let c = Container::new(rec);
            self.containers.write().unwrap_or_else(|p| p.into_inner()).insert(id, c);
        }
        // A crash between creating a directory and committing its record leaves an orphan.
        if let Ok(rd) = std::fs::read_dir(self.cfg.data_root.join("containers")) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let mut tasks = Vec::new();
        for c in self.all() {
            let engine = self.clone();
            tasks.push(tokio::spawn(async move { engine.recover_one(c).await }));
        }
        for t in tasks {
            let _ = t.await;
        }
        Ok(())
    }

    /// A container whose monitor died without it (killed on its own): as containerd does for a
    /// dead shim, whatever is left in its cgroup is killed and the cgroup removed, so that no
    /// process (and no network namespace it holds) outlives the record.
    fn kill_leftovers(&self, rec: &Record) {
        use berth_cgroups::Manager;
        let (Some(layout), Some(cfg)) = (self.cgroups.as_ref(), self.cgroup_config(&rec.id, rec)) else { return };
        let Ok(cg) = berth_cgroups::Cgroup::new(layout, &cfg.path) else { return };
        if cg.pids().is_ok_and(|p| !p.is_empty()) {
            tracing::warn!(id = %rec.id, "monitor gone but processes left in the container's cgroup: killing them");
            if let Err(e) = cg.kill_all(libc::SIGKILL) {
                tracing::warn!(id = %rec.id, error = %e, "cannot kill what is left of the container");
            }
        }
        let _ = cg.destroy();
    }

    async fn recover_one(self: Arc<Self>, c: Arc<Container>) {
        let rec = c.record();
        // A lazy state write may have been lost in a crash: ask the monitor whatever the
        // record says.
        let socket = self.socket_path(&c.id);
        // Gone for sure: no socket, or nobody listening on it.
        let mut monitor_gone = true;
        if socket.exists() {
            let conn = Conn::connect(&socket).await;
            if let Err(e) = &conn {
                monitor_gone = matches!(e.kind(), std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound);
            }
            if let Ok(mut conn) = conn {
                monitor_gone = false;
                if let Ok((proto::RUNNING, pid)) = conn.request(proto::STATUS, b"").await {
                    let pid: i64 = String::from_utf8_lossy(&pid).trim().parse().unwrap_or(0);
                    if !c.record().state.running() {
                        c.update(|r| {
                            r.state.status = "running".into();
                            r.state.pid = pid;
                        });
                    }
                    c.life.send_modify(|l| l.running = true);
                    self.adopt_volumes(&c.record());
                    self.watch(c.clone(), conn);
                    crate::health::spawn(self.clone(), c.clone());
                    return;
                }
            }
        }
        // Recorded as running, but its monitor is gone: it exited while we were away.
        if rec.state.running() {
            if monitor_gone {
                self.kill_leftovers(&rec);
            }
            c.life.send_modify(|l| l.running = true);
            // Its volumes are still mounted for it: exit handling unmounts them.
            self.adopt_volumes(&rec);
            self.on_exit(c, None).await;
            return;
        }
        let (name, _) = policy_name(&rec.host_config);
        let wants = match name.as_str() {
            "always" => true,
            "unless-stopped" => !rec.manually_stopped,
            _ => false,
        };
        if wants && (rec.state.status == "exited" || rec.state.status == "restarting") && !rec.manually_stopped {
            let _op = c.op.lock().await;
            let _ = self.start_locked(&c).await;
        }
    }
}

impl Container {
    /// Docker's restart backoff: 100 ms doubling, reset when the container ran for 10 s.
    fn next_backoff(&self, ran: Duration) -> Duration {
        let mut b = self.backoff.lock().unwrap_or_else(|p| p.into_inner());
        *b = if ran >= Duration::from_secs(10) || b.is_zero() {
            Duration::from_millis(100)
        } else {
            (*b * 2).min(Duration::from_secs(60))
        };
        *b
    }
}

fn policy_name(hc: &m::HostConfig) -> (String, i64) {
    let p = hc.restart_policy.clone().unwrap_or_default();
    let name = p.name.map(|n| containers::wire_name(&n)).unwrap_or_default();
    (name, p.maximum_retry_count.unwrap_or(0))
}

/// Whether the restart policy restarts a container that exited with `code`.
pub(crate) fn should_restart(rec: &Record, code: i64) -> bool {
    if rec.manually_stopped {
        return false;
    }
    let (name, max) = policy_name(&rec.host_config);
    match name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => code != 0 && (max == 0 || rec.restart_count < max),
        _ => false,
    }
}

fn validate_host_config(hc: &m::HostConfig, cfg: &crate::Config) -> Result<()> {
    let (name, max) = policy_name(hc);
    match name.as_str() {
        "" | "no" | "always" | "unless-stopped" | "on-failure" => {}
        other => return Err(Error::invalid(format!("invalid restart policy '{other}'"))),
    }
    if max < 0 {
        return Err(Error::invalid("invalid restart policy: maximum retry count cannot be negative"));
    }
    if max > 0 && name != "on-failure" {
        return Err(Error::invalid("invalid restart policy: maximum retry count can only be used with 'on-failure'"));
    }
    if hc.auto_remove.unwrap_or(false) && !matches!(name.as_str(), "" | "no") {
        return Err(Error::invalid("can't create 'AutoRemove' container with restart policy"));
    }
    if let Some(r) = hc.runtime.as_deref().filter(|r| !r.is_empty()) {
        if r != crate::BUILTIN_RUNTIME && !cfg.runtimes.contains_key(r) {
            return Err(Error::invalid(format!("unknown or invalid runtime name: {r}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker_log_opts() {
        for (s, want) in [("100", 100), ("1k", 1024), ("10m", 10 << 20), ("1g", 1 << 30), ("2MB", 2 << 20), ("1.5k", 1536)] {
            assert_eq!(parse_size(s).unwrap(), want, "{s}");
        }
        assert!(parse_size("ten").is_err());
    }

    fn rec_with(policy: &str, max: i64, count: i64, stopped: bool) -> Record {
        let mut hc = m::HostConfig::default();
        hc.restart_policy = Some(m::RestartPolicy {
            name: serde_json::from_value(serde_json::json!(policy)).ok(),
            maximum_retry_count: Some(max),
        });
        Record {
            id: "x".into(),
            name: "/x".into(),
            created: String::new(),
            image_ref: String::new(),
            image_id: String::new(),
            config: m::ContainerConfig::default(),
            host_config: hc,
            state: State::default(),
            restart_count: count,
            manually_stopped: stopped,
            path: String::new(),
            args: vec![],
            exec_ids: vec![],
            networks: Default::default(),
            mounts: vec![],
        }
    }

    #[test]
    fn restart_policies_decide_as_docker() {
        for (policy, max, count, stopped, code, want) in [
            ("no", 0, 0, false, 1, false),
            ("always", 0, 5, false, 0, true),
            ("always", 0, 0, true, 0, false),
            ("unless-stopped", 0, 0, false, 0, true),
            ("on-failure", 0, 9, false, 1, true),
            ("on-failure", 0, 0, false, 0, false),
            ("on-failure", 3, 2, false, 1, true),
            ("on-failure", 3, 3, false, 1, false),
        ] {
            assert_eq!(should_restart(&rec_with(policy, max, count, stopped), code), want, "{policy}:{max} count={count} code={code}");
        }
    }
}
