//! RUN: a container from the current image runs the command (with the build args in scope as
//! environment and the `--mount`s bound), its output streamed as `stream` messages; its
//! changes become the step's layer. Also [`ImageView`], an image's filesystem as one
//! read-only directory (`COPY --from`, `RUN --mount=type=bind,from=`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use berth_api::models as m;
use berth_dockerfile::{Command, Instruction, MountKind, Run};
use berth_errdefs::{Error, Result};

use super::context::{clean_rel, resolve_in, temp_dir};
use super::exec::{run_args, shell_of, short, Build, Failure, State, StepResult};
use super::plan::{self, Source};
use crate::service::{AttachOptions, WaitCondition};

/// An image's root filesystem as one read-only directory: the layer itself for one layer, an
/// overlay of its layers for several (unmounted when dropped), an empty directory for none.
pub(crate) struct ImageView {
    root: PathBuf,
    mounted: bool,
    owned: bool,
}

impl ImageView {
    /// A view of `lowers` (top first).
    pub(crate) fn open(tmp_root: &Path, lowers: &[PathBuf]) -> Result<ImageView> {
        if lowers.len() == 1 {
            return Ok(ImageView { root: lowers[0].clone(), mounted: false, owned: false });
        }
        let dir = temp_dir(tmp_root, "view")?;
        if lowers.is_empty() {
            return Ok(ImageView { root: dir, mounted: false, owned: true });
        }
        let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let data = format!("lowerdir={}", lower.join(":"));
        let res = nix::mount::mount(
            Some("overlay"),
            &dir,
            Some("overlay"),
            nix::mount::MsFlags::MS_RDONLY,
            Some(data.as_str()),
        );
        if let Err(e) = res {
            let _ = std::fs::remove_dir(&dir);
            return Err(Error::internal(format!("mount the image's filesystem: {e}")));
        }
        Ok(ImageView { root: dir, mounted: true, owned: true })
    }

    /// The directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for ImageView {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(&self.root, nix::mount::MntFlags::MNT_DETACH);
        }
        if self.owned {
            // Only ever an empty directory (the mount point): never remove what it showed.
            let _ = std::fs::remove_dir(&self.root);
        }
    }
}

/// The longest prefix of `b` that is complete UTF-8 (invalid bytes count as complete).
fn utf8_complete(b: &[u8]) -> usize {
    match std::str::from_utf8(b) {
        Ok(_) => b.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => b.len(),
    }
}

/// The command RUN runs: exec form as is, shell form through SHELL; a `RUN <<EOF` heredoc is
/// the script itself, other heredocs are left for the shell to read.
pub(crate) fn run_command(r: &Run, shell: &[String]) -> Vec<String> {
    match &r.command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut script = s.clone();
            if let Some(h) = r.heredocs.first() {
                let only = s.trim().trim_start_matches("<<-").trim_start_matches("<<");
                let only = only.trim_matches(|c| c == '"' || c == '\'');
                if r.heredocs.len() == 1 && only == h.name {
                    script = h.content.clone();
                } else {
                    for h in &r.heredocs {
                        script.push('\n');
                        script.push_str(&h.content);
                        script.push_str(&h.name);
                    }
                }
            }
            let mut v = shell.to_vec();
            v.push(script);
            v
        }
    }
}

/// The command recorded in history and the cache: with build args, dockerd's `|N K=V ... cmd`.
pub(crate) fn saved_command(cmd: &[String], args: &[(String, String)]) -> Vec<String> {
    if args.is_empty() {
        return cmd.to_vec();
    }
    let mut v = vec![format!("|{}", args.len())];
    v.extend(args.iter().map(|(k, val)| format!("{k}={val}")));
    v.extend(cmd.iter().cloned());
    v
}

impl Build {
    /// RUN.
    pub(crate) async fn run(&self, st: &mut State, ins: &Instruction, r: &Run) -> StepResult<()> {
        if st.image.is_empty() {
            return Err(Error::invalid("RUN needs a base image: a stage FROM scratch has no shell to run it").into());
        }
        let cmd = run_command(r, &shell_of(&st.config));
        let args = run_args(st);
        let save_cmd = saved_command(&cmd, &args);
        let wd = st.config.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());

        // Mounts: their spec goes into the key; a bind of the context, its content too.
        let mut key = self.key(st, ins, save_cmd.clone());
        let mut binds: Vec<String> = Vec::new();
        let mut tmpfs: HashMap<String, String> = HashMap::new();
        let mut views: Vec<ImageView> = Vec::new();
        for (n, mnt) in r.mounts.iter().enumerate() {
            let target = if mnt.target.starts_with('/') { mnt.target.clone() } else { format!("{}/{}", wd.trim_end_matches('/'), mnt.target) };
            if mnt.target.is_empty() {
                return Err(Error::invalid("RUN --mount: a target is required").into());
            }
            match mnt.kind {
                MountKind::Cache => {
                    let id = mnt.id.clone().unwrap_or_else(|| target.clone());
                    let dir = self.engine.cfg.data_root.join("build/cache-mounts").join(super::cache::Key { parent: id.clone(), ..Default::default() }.digest());
                    if !dir.exists() {
                        std::fs::create_dir_all(&dir).map_err(|e| Error::internal(format!("create cache mount: {e}")))?;
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mnt.mode.unwrap_or(0o755)));
                        let _ = std::os::unix::fs::chown(&dir, Some(mnt.uid.unwrap_or(0)), Some(mnt.gid.unwrap_or(0)));
                    }
                    binds.push(format!("{}:{target}:rw", dir.display()));
                    key.extra.insert(format!("mount{n}"), format!("cache,{id},{target}"));
                }
                MountKind::Tmpfs => {
                    tmpfs.insert(target.clone(), String::new());
                    key.extra.insert(format!("mount{n}"), format!("tmpfs,{target}"));
                }
                MountKind::Bind => {
                    let src = clean_rel(mnt.source.as_deref().unwrap_or(""))
                        .ok_or_else(|| Error::invalid(format!("RUN --mount: forbidden path outside the build context: {}", mnt.source.clone().unwrap_or_default())))?;
                    let (root, what) = match &mnt.from {
                        Some(f) => {
                            let f = self.expand_meta(f)?;
                            let image = match plan::resolve_from(&self.df, st.index, &f)? {
                                Source::Stage(j) => self.stage_result(j).await?.image,
                                Source::Image(name) => self.image(&name, false).await?.0,
                            };
                            let v = ImageView::open(&self.tmp_root, &self.lowers(&image)?)?;
                            let root = v.root().to_path_buf();
                            views.push(v);
                            (root, image)
                        }
                        None => (self.ctx.root().to_path_buf(), String::new()),
                    };
                    let path = resolve_in(&root, &src, true).map_err(|e| Error::internal(e.to_string()))?;
                    if !path.exists() {
                        return Err(Error::invalid(format!("RUN --mount: source {} not found", if src.is_empty() { "." } else { &src })).into());
                    }
                    let digest = if what.is_empty() {
                        let p = path.clone();
                        let rel = src.clone();
                        tokio::task::spawn_blocking(move || super::copy::hash_sources(&[super::copy::Source { path: p, rel }]))
                            .await
                            .map_err(|e| Error::internal(e.to_string()))?
                            .map_err(|e| Error::internal(e.to_string()))?
                    } else {
                        what
                    };
                    let mode = if mnt.readonly { "ro" } else { "rw" };
                    binds.push(format!("{}:{target}:{mode}", path.display()));
                    key.extra.insert(format!("mount{n}"), format!("bind,{src},{target},{mode},{digest}"));
                }
                MountKind::Secret | MountKind::Ssh => {
                    return Err(Error::not_implemented("RUN --mount=type=secret and type=ssh are not supported by berthd's builder").into());
                }
            }
        }
        let network = r.network.clone().or_else(|| self.req.network_mode.clone()).filter(|n| n != "default" && !n.is_empty());
        if let Some(n) = &r.network {
            key.extra.insert("network".into(), n.clone());
        }
        let k = key.digest();
        if self.probe(st, &k) {
            self.out.line(" ---> Using cache\n").await;
            return Ok(());
        }

        // A container of the current image.
        let mut env = st.config.env.clone().unwrap_or_default();
        env.extend(args.iter().map(|(k, v)| format!("{k}={v}")));
        let mut cfg = st.config.clone();
        cfg.cmd = Some(cmd.clone());
        cfg.env = Some(env);
        cfg.entrypoint = if cmd.is_empty() { cfg.entrypoint } else { Some(vec![String::new()]) };
        cfg.healthcheck = Some(m::HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() });
        cfg.image = Some(st.image.clone());
        cfg.attach_stdout = Some(true);
        cfg.attach_stderr = Some(true);
        cfg.tty = Some(false);
        let mut body: m::ContainerCreateBody = serde_json::to_value(&cfg)
            .ok()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| Error::internal("build a container config"))?;
        let res = &self.req.resources;
        let num = |k: &str| res.get(k).and_then(|v| v.parse::<i64>().ok());
        body.host_config = Some(m::HostConfig {
            network_mode: network,
            extra_hosts: (!self.req.extra_hosts.is_empty()).then(|| self.req.extra_hosts.clone()),
            binds: (!binds.is_empty()).then_some(binds),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            shm_size: num("shmsize"),
            memory: num("memory"),
            memory_swap: num("memswap"),
            cpu_shares: num("cpushares"),
            cpu_quota: num("cpuquota"),
            cpu_period: num("cpuperiod"),
            cpuset_cpus: res.get("cpusetcpus").cloned(),
            cpuset_mems: res.get("cpusetmems").cloned(),
            cgroup_parent: res.get("cgroupparent").cloned(),
            log_config: Some(m::HostConfigLogConfig { typ: Some("none".into()), config: None }),
            ..Default::default()
        });
        let engine = self.engine.clone();
        let id = engine.create_container(None, body).await?.id;
        self.out.line(format!(" ---> Running in {}\n", short(&id))).await;
        let result = self.run_container(&id).await;
        drop(views);
        let remove = |why_ok: bool| self.req.force_rm || (self.req.rm && why_ok);
        let code = match result {
            Ok(c) => c,
            Err(e) => {
                if remove(false) {
                    let _ = engine.remove_container(&id, true, false).await;
                }
                return Err(e.into());
            }
        };
        if code != 0 {
            if remove(false) {
                let _ = engine.remove_container(&id, true, false).await;
                self.out.line(format!("Removing intermediate container {}\n", short(&id))).await;
            }
            return Err(Failure {
                err: Error::internal(format!("The command '{}' returned a non-zero code: {code}", cmd.join(" "))),
                code: Some(code),
                dependent: false,
            });
        }
        let upper = crate::containers::container_dir(&engine.cfg.data_root, &id).join("upper");
        let made = self.commit(st, save_cmd.clone(), &id, Some((upper, true))).await;
        if remove(made.is_ok()) {
            let _ = engine.remove_container(&id, true, false).await;
            self.out.line(format!("Removing intermediate container {}\n", short(&id))).await;
        }
        let new_id = made?;
        self.cache.put(&k, &new_id, &format!("RUN {}", save_cmd.join(" ")))?;
        st.image = new_id;
        Ok(())
    }

    /// Attach, start, stream the output, and return the exit code.
    async fn run_container(&self, id: &str) -> Result<i64> {
        let engine = self.engine.clone();
        let wait = engine.wait_container(id, WaitCondition::NextExit).await?;
        let mut session = engine
            .attach_container(id, AttachOptions { stdout: true, stderr: true, stream: true, ..Default::default() })
            .await?;
        engine.start_container(id).await?;
        let mut pending: Vec<u8> = Vec::new();
        while let Some(chunk) = session.output.recv().await {
            pending.extend_from_slice(&chunk.data);
            let n = utf8_complete(&pending);
            if n > 0 {
                let text = String::from_utf8_lossy(&pending[..n]).into_owned();
                pending.drain(..n);
                self.out.line(text).await;
            }
        }
        if !pending.is_empty() {
            self.out.line(String::from_utf8_lossy(&pending).into_owned()).await;
        }
        let status = wait.await;
        if let Some(e) = status.error.and_then(|e| e.message).filter(|m| !m.is_empty()) {
            return Err(Error::internal(e));
        }
        Ok(status.status_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_dockerfile::Heredoc;

    fn run(cmd: Command, heredocs: Vec<Heredoc>) -> Run {
        Run { command: cmd, mounts: vec![], network: None, heredocs }
    }

    #[test]
    fn commands_are_built_as_dockerd_and_buildkit_do() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        let hd = |name: &str, content: &str| Heredoc { name: name.into(), content: content.into(), expand: true, chomp: false };
        let cases: Vec<(Run, Vec<&str>)> = vec![
            (run(Command::Shell("echo hi".into()), vec![]), vec!["/bin/sh", "-c", "echo hi"]),
            (run(Command::Exec(vec!["ls".into(), "-l".into()]), vec![]), vec!["ls", "-l"]),
            (run(Command::Shell("<<EOF".into()), vec![hd("EOF", "echo a\necho b\n")]), vec!["/bin/sh", "-c", "echo a\necho b\n"]),
            (run(Command::Shell("cat <<EOF > /x".into()), vec![hd("EOF", "hello\n")]), vec!["/bin/sh", "-c", "cat <<EOF > /x\nhello\nEOF"]),
        ];
        for (r, want) in cases {
            assert_eq!(run_command(&r, &sh), want, "{r:?}");
        }
        let cmd = vec!["/bin/sh".to_string(), "-c".to_string(), "make".to_string()];
        assert_eq!(saved_command(&cmd, &[]), cmd);
        assert_eq!(
            saved_command(&cmd, &[("A".into(), "1".into()), ("B".into(), "x y".into())]),
            ["|2", "A=1", "B=x y", "/bin/sh", "-c", "make"]
        );
    }

    #[test]
    fn output_splits_only_at_whole_characters() {
        let s = "héllo".as_bytes();
        assert_eq!(utf8_complete(s), s.len());
        assert_eq!(utf8_complete(&s[..2]), 1, "half of é waits");
        assert_eq!(utf8_complete(b"a\xffb"), 3, "invalid bytes pass");
    }
}
