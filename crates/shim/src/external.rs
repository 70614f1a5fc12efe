//! Containers run by an external OCI runtime binary (runc, crun, youki) instead of the
//! in-process one. The monitor stays the container's parent: it is a child subreaper, so the
//! container's init is reparented to it when `runtime create` exits.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_runtime::linux::Overlay;

pub struct External {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub id: String,
    pub rootfs: Option<PathBuf>,
}

fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["level"] == "error" || v["level"] == "fatal")
        .and_then(|v| v["msg"].as_str().map(String::from))
}

impl External {
    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&self.root);
        c
    }

    /// `runtime create`; returns the container's pid and, with a terminal, the pty master.
    pub fn create(
        &mut self,
        bundle: &Path,
        overlay: Option<&Overlay>,
        rootfs: &Path,
        stdio: Option<[RawFd; 3]>,
        console_socket: &Path,
    ) -> Result<(libc::pid_t, Option<RawFd>), String> {
        // SAFETY: prctl with constant arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
        if let Some(o) = overlay {
            mount_overlay(o, rootfs)?;
            self.rootfs = Some(rootfs.to_path_buf());
        }
        let r = self.create_mounted(bundle, stdio, console_socket);
        if r.is_err() {
            self.cleanup();
        }
        r
    }

    fn create_mounted(
        &mut self,
        bundle: &Path,
        stdio: Option<[RawFd; 3]>,
        console_socket: &Path,
    ) -> Result<(libc::pid_t, Option<RawFd>), String> {
        let pid_file = bundle.join("runtime.pid");
        let log = bundle.join("runtime.log");
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&log);
        let mut c = self.cmd();
        c.arg("--log").arg(&log).arg("--log-format").arg("json");
        c.arg("create").arg("--bundle").arg(bundle).arg("--pid-file").arg(&pid_file);
        let mut console = None;
        match stdio {
            Some(fds) => {
                // SAFETY: the fds are ours; the Command takes ownership of these duplicates.
                let dup = |fd: RawFd| unsafe { OwnedFd::from_raw_fd(libc::dup(fd)) };
                c.stdin(Stdio::from(dup(fds[0]))).stdout(Stdio::from(dup(fds[1]))).stderr(Stdio::from(dup(fds[2])));
            }
            None => {
                let sock = console_socket.to_path_buf();
                let _ = std::fs::remove_file(&sock);
                let l = std::os::unix::net::UnixListener::bind(&sock).map_err(|e| format!("console socket: {e}"))?;
                c.arg("--console-socket").arg(&sock);
                c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
                console = Some((l, sock));
            }
        }
        c.arg(&self.id);
        let mut child = c.spawn().map_err(|e| format!("run {}: {e}", self.bin.display()))?;
        let mut master = None;
        if let Some((l, sock)) = console {
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                match l.accept() {
                    Ok((s, _)) => {
                        use std::os::fd::AsRawFd;
                        s.set_nonblocking(false).map_err(|e| format!("console socket: {e}"))?;
                        let (_, fd) = berth_runtime::linux::recv_fd(s.as_raw_fd()).map_err(|e| format!("receive console: {e}"))?;
                        master = Some(fd.ok_or("runtime sent no console")?);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if let Ok(Some(_)) = child.try_wait() {
                            break;
                        }
                        if Instant::now() > deadline {
                            let _ = child.kill();
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(format!("console socket: {e}")),
                }
            }
            let _ = std::fs::remove_file(sock);
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(last_error(&log).unwrap_or_else(|| format!("{} create failed: {status}", self.bin.display())));
        }
        let pid: libc::pid_t = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| "runtime wrote no pid file".to_string())?;
        Ok((pid, master))
    }

    pub fn start(&self) -> Result<(), String> {
        let out = self.cmd().arg("start").arg(&self.id).stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
        }
    }

    pub fn cleanup(&mut self) {
        let _ = self.cmd().arg("delete").arg("--force").arg(&self.id).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
        if let Some(r) = self.rootfs.take() {
            if let Ok(c) = std::ffi::CString::new(r.as_os_str().as_encoded_bytes()) {
                // SAFETY: unmounting the rootfs we mounted.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
    }
}

fn mount_overlay(o: &Overlay, target: &Path) -> Result<(), String> {
    std::fs::create_dir_all(target).map_err(|e| e.to_string())?;
    let lower: Vec<String> = o.lower.iter().map(|p| p.display().to_string()).collect();
    let data = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), o.upper.display(), o.work.display());
    let t = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
    let d = std::ffi::CString::new(data).map_err(|e| e.to_string())?;
    // SAFETY: valid C strings.
    let rc = unsafe { libc::mount(c"overlay".as_ptr(), t.as_ptr(), c"overlay".as_ptr(), 0, d.as_ptr().cast()) };
    if rc < 0 {
        return Err(format!("mount rootfs: {}", io::Error::last_os_error()));
    }
    Ok(())
}
