//! `docker exec`: processes started in running containers, each under its own monitor.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_api::models as m;
use berth_errdefs::{Error, HasKind, Result};
use berth_runtime::monitor::{ExecTarget, MonitorConfig};
use berth_runtime::{merge, proto, user};
use oci_spec::runtime::Spec;

use crate::containers::{self, session_channels};
use crate::monitor_client::Conn;
use crate::service::{AttachOptions, Session};
use crate::Engine;

/// One exec instance.
pub(crate) struct Exec {
    pub id: String,
    pub container: String,
    pub config: m::ExecConfig,
    pub state: Mutex<ExecState>,
    /// Set once the exit code is recorded; an attached session ends only after that, so a
    /// client inspecting the exec right after its stream closes sees the code.
    pub recorded: tokio::sync::watch::Sender<bool>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct ExecState {
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

fn kinded<E: HasKind>(e: E) -> Error {
    Error::from_kind(&e)
}

impl Engine {
    fn exec_paths(&self, id: &str) -> (PathBuf, PathBuf, PathBuf) {
        let dir = self.cfg.exec_root.join("e");
        (dir.join(format!("{id}.json")), dir.join(format!("{}.sock", &id[..24])), dir.join(format!("{id}.exit")))
    }

    fn get_exec(&self, id: &str) -> Result<Arc<Exec>> {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    pub(crate) async fn create_exec(&self, key: &str, config: m::ExecConfig) -> Result<String> {
        let c = self.get(key)?;
        let rec = c.record();
        if rec.state.status == "paused" {
            return Err(Error::conflict(format!("Container {} is paused, unpause the container before exec", rec.id)));
        }
        if !rec.state.running() {
            return Err(Error::conflict(format!("Container {} is not running", rec.id)));
        }
        if config.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(Error::invalid("No exec command specified"));
        }
        let id = containers::new_id();
        let exec = Arc::new(Exec {
            id: id.clone(),
            container: rec.id.clone(),
            config: config.clone(),
            state: Mutex::new(ExecState::default()),
            recorded: tokio::sync::watch::channel(false).0,
        });
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), exec);
        c.update(|r| r.exec_ids.push(id.clone()));
        let cmd = config.cmd.unwrap_or_default().join(" ");
        self.emit_container(&format!("exec_create: {cmd}"), &rec, &[("execID", id.clone())]);
        Ok(id)
    }

    /// The exec's process: the container's process template with the exec's overrides.
    fn exec_process(&self, rec: &containers::Record, cfg: &m::ExecConfig, tty: bool) -> Result<oci_spec::runtime::Process> {
        let spec_path = containers::container_dir(&self.cfg.data_root, &rec.id).join("config.json");
        let spec: Spec = std::fs::read(&spec_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| Error::internal(format!("read container spec {}", spec_path.display())))?;
        let mut p = spec.process().clone().ok_or_else(|| Error::internal("container spec has no process"))?;
        let root = PathBuf::from(format!("/proc/{}/root", rec.state.pid));
        let passwd = std::fs::read_to_string(root.join("etc/passwd")).ok();
        let group = std::fs::read_to_string(root.join("etc/group")).ok();
        let user_s = cfg.user.clone().filter(|u| !u.is_empty()).or_else(|| rec.config.user.clone()).unwrap_or_default();
        let groups = rec.host_config.group_add.clone().unwrap_or_default();
        let u = user::resolve(&user_s, &groups, passwd.as_deref(), group.as_deref()).map_err(kinded)?;
        let env = merge::replace_or_append_env(&rec.config.env.clone().unwrap_or_default(), &cfg.env.clone().unwrap_or_default());
        let env = user::with_home(&env, &u.home);
        let mut pu = p.user().clone();
        pu.set_uid(u.uid);
        pu.set_gid(u.gid);
        pu.set_additional_gids(Some(u.additional_gids.clone()));
        p.set_user(pu);
        p.set_env(Some(env));
        p.set_args(cfg.cmd.clone());
        p.set_terminal(Some(tty));
        let cwd = cfg.working_dir.clone().filter(|w| !w.is_empty()).or_else(|| rec.config.working_dir.clone().filter(|w| !w.is_empty())).unwrap_or_else(|| "/".into());
        p.set_cwd(PathBuf::from(cwd));
        if cfg.privileged.unwrap_or(false) {
            let all: std::collections::HashSet<oci_spec::runtime::Capability> = berth_runtime::spec::all_capabilities().into_iter().collect();
            let mut caps = p.capabilities().clone().unwrap_or_default();
            caps.set_bounding(Some(all.clone()));
            caps.set_effective(Some(all.clone()));
            caps.set_permitted(Some(all));
            p.set_capabilities(Some(caps));
        }
        Ok(p)
    }

    pub(crate) async fn start_exec(self: &Arc<Self>, id: &str, detach: bool, tty: Option<bool>) -> Result<Option<Session>> {
        let exec = self.get_exec(id)?;
        {
            let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            if st.started {
                return Err(Error::conflict(format!("Error: Exec command {id} is already running")));
            }
            st.started = true;
        }
        let c = self.get(&exec.container)?;
        let rec = c.record();
        if !rec.state.running() {
            return Err(Error::conflict(format!("Container {} is not running", rec.id)));
        }
        let tty = tty.unwrap_or(exec.config.tty.unwrap_or(false));
        let process = self.exec_process(&rec, &exec.config, tty)?;
        let (cfg_path, socket, exit_file) = self.exec_paths(id);
        std::fs::create_dir_all(cfg_path.parent().unwrap_or(&self.cfg.exec_root)).map_err(|e| Error::internal(e.to_string()))?;
        let want_stdin = exec.config.attach_stdin.unwrap_or(false) && !detach;
        let mcfg = MonitorConfig {
            id: id.to_string(),
            bundle: containers::container_dir(&self.cfg.data_root, &rec.id),
            overlay: None,
            socket: socket.clone(),
            exit_file: exit_file.clone(),
            log: None,
            tty,
            open_stdin: want_stdin,
            stdin_once: true,
            cgroup: self.cgroup_config(&rec.id, &rec),
            autostart: detach,
            runtime: None,
            runtime_root: None,
            exec: Some(ExecTarget { pid: rec.state.pid as i32, process }),
        };
        std::fs::write(&cfg_path, serde_json::to_vec(&mcfg).map_err(|e| Error::internal(e.to_string()))?).map_err(|e| Error::internal(e.to_string()))?;
        let line = self.spawn_monitor("exec", &cfg_path).await?;
        let _ = std::fs::remove_file(&cfg_path);
        let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        if word != "started" && word != "ready" {
            let msg = if word == "error" { rest.to_string() } else { line.clone() };
            let code = berth_runtime::linux::Error::Exec(msg.clone()).exit_code();
            exec.state.lock().unwrap_or_else(|p| p.into_inner()).exit_code = Some(code as i64);
            let full = format!("OCI runtime exec failed: exec failed: unable to start container process: {msg}: unknown");
            if detach {
                return Err(Error::invalid(full));
            }
            // As dockerd: the stream is already promised to the client, so the error is
            // written into it and the exit code is left for `exec inspect`.
            let (s, out, _stdin) = session_channels(tty, false);
            let _ = out.try_send(crate::service::Chunk { stream: crate::service::StdStream::Stdout, data: bytes::Bytes::from(format!("{full}\r\n")) });
            return Ok(Some(s));
        }
        let mut conn = Conn::connect(&socket).await.map_err(|e| Error::internal(format!("connect to exec monitor: {e}")))?;
        let mut session = None;
        if word == "ready" {
            let (s, out, stdin) = session_channels(tty, want_stdin);
            // Forward through a relay that closes only after the exit code is recorded.
            let (relay_tx, mut relay_rx) = tokio::sync::mpsc::channel::<crate::service::Chunk>(64);
            let mut recorded = exec.recorded.subscribe();
            tokio::spawn(async move {
                while let Some(ch) = relay_rx.recv().await {
                    if out.send(ch).await.is_err() {
                        break;
                    }
                }
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), recorded.wait_for(|r| *r)).await;
                drop(out);
            });
            let out = relay_tx;
            let opts = AttachOptions {
                stdin: want_stdin,
                stdout: exec.config.attach_stdout.unwrap_or(true),
                stderr: exec.config.attach_stderr.unwrap_or(true),
                stream: true,
                ..Default::default()
            };
            let keys = containers::parse_detach_keys(exec.config.detach_keys.as_deref().filter(|k| !k.is_empty()).unwrap_or(containers::DEFAULT_DETACH_KEYS))?;
            containers::connect_attach(&socket, &opts, out, stdin, Some(keys)).await.map_err(|e| Error::internal(format!("attach to exec: {e}")))?;
            match conn.request(proto::START, b"").await {
                Ok((proto::STARTED, _)) => {}
                Ok((_, msg)) => return Err(Error::invalid(format!("OCI runtime exec failed: {}", String::from_utf8_lossy(&msg)))),
                Err(e) => return Err(Error::internal(format!("start exec: {e}"))),
            }
            session = Some(s);
        }
        let pid: i64 = rest.trim().parse().unwrap_or(0);
        {
            let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
            st.running = true;
            st.pid = pid;
        }
        let cmd = exec.config.cmd.clone().unwrap_or_default().join(" ");
        self.emit_container(&format!("exec_start: {cmd}"), &rec, &[("execID", id.to_string())]);
        let engine = self.clone();
        tokio::spawn(async move {
            let (rd, _wr) = conn.split();
            let code = containers::pump_output(rd, tokio::sync::mpsc::channel(1).0).await;
            let code = code.or_else(|| containers::read_exit_file(&exit_file).map(|e| e.exit_code as i64)).unwrap_or(137);
            let _ = std::fs::remove_file(&exit_file);
            {
                let mut st = exec.state.lock().unwrap_or_else(|p| p.into_inner());
                st.running = false;
                st.exit_code = Some(code);
            }
            exec.recorded.send_replace(true);
            engine.emit_container("exec_die", &rec, &[("execID", exec.id.clone()), ("exitCode", code.to_string())]);
        });
        Ok(session)
    }

    /// Run a command in a container and collect its output (health checks). Returns the exit
    /// code and up to 4 KiB of combined output.
    pub(crate) async fn exec_collect(self: &Arc<Self>, container: &str, cmd: Vec<String>) -> Result<(i64, String)> {
        let cfg = m::ExecConfig { cmd: Some(cmd), attach_stdout: Some(true), attach_stderr: Some(true), ..Default::default() };
        let id = self.create_exec(container, cfg).await?;
        let session = self.start_exec(&id, false, Some(false)).await?;
        let mut out = String::new();
        if let Some(mut s) = session {
            while let Some(ch) = s.output.recv().await {
                if out.len() < 4096 {
                    out.push_str(&String::from_utf8_lossy(&ch.data));
                }
            }
        }
        // The session closed after the exit code was recorded.
        let code = self.get_exec(&id)?.state.lock().unwrap_or_else(|p| p.into_inner()).exit_code;
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
        if let Ok(c) = self.get(container) {
            c.update(|r| r.exec_ids.retain(|e| *e != id));
        }
        out.truncate(4096);
        Ok((code.unwrap_or(-1), out))
    }

    pub(crate) async fn inspect_exec(&self, id: &str) -> Result<m::ExecInspectResponse> {
        let e = self.get_exec(id)?;
        let st = e.state.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let cmd = e.config.cmd.clone().unwrap_or_default();
        Ok(m::ExecInspectResponse {
            can_remove: Some(false),
            detach_keys: Some(e.config.detach_keys.clone().unwrap_or_default()),
            id: Some(e.id.clone()),
            running: Some(st.running),
            exit_code: st.exit_code,
            process_config: Some(m::ProcessConfig {
                privileged: Some(e.config.privileged.unwrap_or(false)),
                user: Some(e.config.user.clone().unwrap_or_default()),
                tty: Some(e.config.tty.unwrap_or(false)),
                entrypoint: cmd.first().cloned(),
                arguments: Some(cmd.iter().skip(1).cloned().collect()),
            }),
            open_stdin: Some(e.config.attach_stdin.unwrap_or(false)),
            open_stderr: Some(e.config.attach_stderr.unwrap_or(false)),
            open_stdout: Some(e.config.attach_stdout.unwrap_or(false)),
            container_id: Some(e.container.clone()),
            pid: Some(st.pid),
        })
    }

    pub(crate) async fn resize_exec(&self, id: &str, h: u16, w: u16) -> Result<()> {
        let e = self.get_exec(id)?;
        if !e.state.lock().unwrap_or_else(|p| p.into_inner()).running {
            return Err(Error::conflict(format!("Exec {id} is not running")));
        }
        let (_, socket, _) = self.exec_paths(id);
        let mut conn = Conn::connect(&socket).await.map_err(|e| Error::internal(format!("connect to exec monitor: {e}")))?;
        conn.send(proto::RESIZE, format!("{h} {w}").as_bytes()).await.map_err(|e| Error::internal(e.to_string()))?;
        Ok(())
    }
}
