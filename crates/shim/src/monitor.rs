//! The monitor: start the process, then serve its stdio, log and exit through one poll loop.

use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use berth_runtime::linux::{self, InitConfig, ExecConfig, Stdio, SyncReport};
use berth_runtime::monitor::{rfc3339_nanos, ExitStatus, MonitorConfig};
use berth_runtime::proto::{self, Decoder};
use oci_spec::runtime::Spec;

use crate::cgroup;
use crate::external::External;
use crate::logfile::LogFile;

/// Per-client output queued beyond this is too much: the client is dropped.
const MAX_CLIENT_BUFFER: usize = 8 << 20;

fn close(fd: RawFd) {
    if fd >= 0 {
        // SAFETY: closing an fd this process owns.
        unsafe { libc::close(fd) };
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an owned fd.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: valid two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fds[0], fds[1]))
}

fn write_all_fd(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing a valid buffer.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        data = &data[n as usize..];
    }
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: reading into a valid buffer.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Entry point for `run` and `exec`: fork off the monitor, relay its readiness line, exit.
pub fn main(mode: &str, cfg_path: &str) -> ExitCode {
    let cfg: MonitorConfig = match std::fs::read(cfg_path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            println!("error read monitor config {cfg_path}: {e}");
            return ExitCode::from(1);
        }
    };
    let (ready_r, ready_w) = match pipe() {
        Ok(p) => p,
        Err(e) => {
            println!("error pipe: {e}");
            return ExitCode::from(1);
        }
    };
    // SAFETY: single-threaded; the child continues as the monitor.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        println!("error fork: {}", io::Error::last_os_error());
        return ExitCode::from(1);
    }
    if pid > 0 {
        close(ready_w);
        let mut line = Vec::new();
        let mut buf = [0u8; 4096];
        // One line, not EOF: the container's init inherits the write end until it execs.
        while !line.contains(&b'\n') {
            match read_fd(ready_r, &mut buf) {
                Ok(0) => break,
                Ok(n) => line.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        let line = String::from_utf8_lossy(&line);
        let line = if line.is_empty() { "error monitor died during setup".into() } else { line };
        println!("{}", line.trim_end());
        return if line.starts_with("error") { ExitCode::from(1) } else { ExitCode::SUCCESS };
    }
    close(ready_r);
    // SAFETY: detach from berthd's session and stdio; the monitor must outlive berthd.
    unsafe {
        libc::setsid();
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            libc::dup2(null, 2);
            if null > 2 {
                libc::close(null);
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    if (mode == "exec") != cfg.exec.is_some() {
        println!("error berth-shim {mode} needs a config {} an exec target", if mode == "exec" { "with" } else { "without" });
        return ExitCode::from(2);
    }
    match Monitor::setup(cfg) {
        Ok((mut m, line)) => {
            write_all_fd(ready_w, line.as_bytes());
            close(ready_w);
            shed_setup_memory();
            m.run();
            ExitCode::SUCCESS
        }
        Err((socket, msg)) => {
            write_all_fd(ready_w, format!("error {msg}\n").as_bytes());
            close(ready_w);
            let _ = std::fs::remove_file(&socket);
            ExitCode::from(1)
        }
    }
}

struct Client {
    fd: RawFd,
    dec: Decoder,
    out: Vec<u8>,
    want_out: bool,
    want_err: bool,
    stdin: bool,
}

struct Monitor {
    cfg: MonitorConfig,
    pid: libc::pid_t,
    pidfd: RawFd,
    sync: RawFd,
    started: bool,
    status: Option<i32>,
    start_error: Option<String>,
    out: RawFd,
    err: RawFd,
    master: RawFd,
    stdin: RawFd,
    stdin_buf: Vec<u8>,
    stdin_close: bool,
    listener: RawFd,
    clients: Vec<Client>,
    log: Option<LogFile>,
    cgroup: Option<cgroup::Group>,
    external: Option<External>,
}

/// The control socket to remove, and why setup failed.
type SetupError = (PathBuf, String);

impl Monitor {
    fn setup(cfg: MonitorConfig) -> Result<(Monitor, String), SetupError> {
        macro_rules! tryio {
            ($e:expr, $what:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => {
                        let what = $what;
                        return Err((cfg.socket, format!("{}: {}", what, e)));
                    }
                }
            };
        }
        let listener = tryio!(listen(&cfg.socket), format!("listen on {}", cfg.socket.display()));
        let log = match cfg.log.clone() {
            Some(l) => Some(tryio!(LogFile::open(l), "open log")),
            None => None,
        };
        // Standard streams: a pty, or pipes.
        let (mut master, mut err, mut stdin) = (-1, -1, -1);
        let mut out;
        let child_stdio;
        let mut child_fds = Vec::new();
        let external = match (&cfg.exec, &cfg.runtime) {
            (None, Some(bin)) => Some(External {
                bin: bin.clone(),
                root: cfg.runtime_root.clone().unwrap_or_else(|| PathBuf::from("/run/berth/runtimes")),
                id: cfg.id.clone(),
                rootfs: None,
            }),
            _ => None,
        };
        if cfg.tty && external.is_some() {
            // The runtime makes the terminal and hands us its master.
            out = -1;
            child_stdio = Stdio { stdin: -1, stdout: -1, stderr: -1, terminal: true };
        } else if cfg.tty {
            // The init (or exec child) opens the pty inside the container and sends us the
            // master right after the cgroup byte.
            out = -1;
            child_stdio = Stdio::container_terminal();
        } else {
            let (or, ow) = tryio!(pipe(), "pipe");
            let (er, ew) = tryio!(pipe(), "pipe");
            out = or;
            err = er;
            let child_in = if cfg.open_stdin {
                let (ir, iw) = tryio!(pipe(), "pipe");
                stdin = iw;
                ir
            } else {
                // SAFETY: opening /dev/null.
                unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) }
            };
            child_stdio = Stdio { stdin: child_in, stdout: ow, stderr: ew, terminal: false };
            child_fds.extend([child_in, ow, ew]);
        }
        if let Some(mut ext) = external {
            let (_, rootfs) = tryio!(read_bundle(&cfg.bundle), "read bundle");
            let fds = (!cfg.tty).then_some([child_stdio.stdin, child_stdio.stdout, child_stdio.stderr]);
            // Socket paths are short (sun_path): next to the control socket, not in the bundle.
            let console = cfg.socket.with_extension("console");
            let created = ext.create(&cfg.bundle, cfg.overlay.as_ref(), &rootfs, fds, &console);
            for fd in child_fds {
                close(fd);
            }
            let (pid, console) = match created {
                Ok(v) => v,
                Err(e) => return Err((cfg.socket, e)),
            };
            if let Some(m) = console {
                master = m;
                out = m;
                if cfg.open_stdin {
                    stdin = m;
                }
            }
            let group = cfg.cgroup.as_ref().and_then(|c| cgroup::Group::open(c).ok());
            return Monitor::assemble(cfg, pid, -1, out, err, master, stdin, listener, log, group, Some(ext));
        }
        let mut sv = [0; 2];
        // SAFETY: valid two-element array.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) } < 0 {
            return Err((cfg.socket, format!("socketpair: {}", io::Error::last_os_error())));
        }
        let (sync, child_sync) = (sv[0], sv[1]);

        let pid;
        let mut group = None;
        if let Some(target) = cfg.exec.clone() {
            if let Err(e) = linux::join_pid_namespace(target.pid) {
                return Err((cfg.socket, format!("join container: {e}")));
            }
            let join = cfg.cgroup.as_ref().and_then(|c| cgroup::Group::open(c).ok()).map(|g| g.join_files()).unwrap_or_default();
            // The exec gets the container's seccomp filter (its bundle is the container's).
            let filter = read_bundle(&cfg.bundle).ok().and_then(|(s, _)| s.linux().as_ref().and_then(|l| l.seccomp().clone()));
            // SAFETY: single-threaded process.
            pid = tryio!(unsafe { linux::clone_process(0) }, "clone");
            if pid == 0 {
                close(sync);
                let ec = ExecConfig { process: &target.process, target_pid: target.pid, stdio: child_stdio, cgroup_join: &join, seccomp: filter.as_ref() };
                linux::run_exec(&ec, child_sync);
            }
            linux::send_sync(sync, b'c');
        } else {
            let (spec, rootfs) = tryio!(read_bundle(&cfg.bundle), "read bundle");
            let (flags, _) = linux::namespace_plan(&spec);
            let cgroup_v2 = cfg.cgroup.as_ref().map(cgroup::is_v2).unwrap_or(false);
            // The cgroup exists before the init does; the init moves itself in.
            if let Some(c) = cfg.cgroup.clone() {
                let res = spec.linux().as_ref().and_then(|l| l.resources().clone());
                match cgroup::Group::create(&c, res.as_ref()) {
                    Ok(g) => group = Some(g),
                    Err(e) => return Err((cfg.socket, format!("cgroup: {e}"))),
                }
            }
            let join = group.as_ref().map(|g| g.join_files()).unwrap_or_default();
            // A new user namespace: host-owned namespaces joined by path are entered here, the
            // init inherits them (inside its user namespace it could not join them).
            let userns = linux::new_user_namespace(&spec);
            let saved = if userns { linux::enter_joined_namespaces(&spec).map_err(|e| (cfg.socket.clone(), e.to_string()))? } else { Vec::new() };
            // SAFETY: single-threaded process.
            let cloned = unsafe { linux::clone_process(flags) };
            if !matches!(cloned, Ok(0)) {
                linux::leave_joined_namespaces(saved);
            }
            pid = match cloned {
                Ok(p) => p,
                Err(e) => {
                    if let Some(g) = &group {
                        g.destroy();
                    }
                    return Err((cfg.socket, format!("clone: {e}")));
                }
            };
            if pid == 0 {
                close(sync);
                let ic = InitConfig {
                    spec: &spec,
                    rootfs: &rootfs,
                    overlay: cfg.overlay.as_ref(),
                    stdio: child_stdio,
                    cgroup_v2,
                    cgroup_join: &join,
                };
                linux::run_init(&ic, child_sync);
            }
            // Maps, the writable layer's owner and the idmapped root, before the init goes on.
            let root_mount = if userns {
                match linux::prepare_user_namespace(pid, &spec, cfg.overlay.as_ref()) {
                    Ok(m) => m,
                    Err(e) => {
                        // SAFETY: killing and reaping our own child.
                        unsafe {
                            libc::kill(pid, libc::SIGKILL);
                            libc::waitpid(pid, std::ptr::null_mut(), 0);
                        }
                        if let Some(g) = &group {
                            g.destroy();
                        }
                        return Err((cfg.socket, format!("user namespace: {e}")));
                    }
                }
            } else {
                None
            };
            linux::send_sync(sync, b'c');
            if let Some(m) = root_mount {
                tryio!(linux::send_root_mount(sync, &m), "send the root mount");
            }
        }
        for fd in child_fds {
            close(fd);
        }
        close(child_sync);
        if cfg.tty {
            match linux::recv_fd(sync) {
                Ok((tag, Some(fd))) if tag == [linux::PTY_TAG] => {
                    master = fd;
                    out = fd;
                    if cfg.open_stdin {
                        stdin = fd;
                    }
                }
                other => {
                    let msg = match other {
                        Ok((bytes, _)) if bytes.first() == Some(&b'E') => String::from_utf8_lossy(&bytes[1..]).into_owned(),
                        Ok(_) => "container init exited before opening its terminal".to_string(),
                        Err(e) => format!("receive terminal: {e}"),
                    };
                    // SAFETY: reaping our own child, which exits after reporting.
                    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                    if let Some(g) = &group {
                        g.destroy();
                    }
                    return Err((cfg.socket, msg));
                }
            }
        }
        match linux::read_report(sync) {
            SyncReport::Ready => {}
            SyncReport::Execed => {}
            SyncReport::Failed(msg) => {
                // SAFETY: reaping our own child, which exits after reporting.
                unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                if let Some(g) = &group {
                    g.destroy();
                }
                return Err((cfg.socket, msg));
            }
        }
        Monitor::assemble(cfg, pid, sync, out, err, master, stdin, listener, log, group, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        cfg: MonitorConfig,
        pid: libc::pid_t,
        sync: RawFd,
        out: RawFd,
        err: RawFd,
        master: RawFd,
        stdin: RawFd,
        listener: RawFd,
        log: Option<LogFile>,
        group: Option<cgroup::Group>,
        external: Option<External>,
    ) -> Result<(Monitor, String), SetupError> {
        // SAFETY: pidfd_open on our own child (or, with a runtime, our reparented grandchild).
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as RawFd;
        for fd in [out, err, listener] {
            if fd >= 0 {
                set_nonblocking(fd);
            }
        }
        if stdin >= 0 && stdin != master {
            set_nonblocking(stdin);
        }
        let mut m = Monitor {
            cfg,
            pid,
            pidfd,
            sync,
            started: false,
            status: None,
            start_error: None,
            out,
            err,
            master,
            stdin,
            stdin_buf: Vec::new(),
            stdin_close: false,
            listener,
            clients: Vec::new(),
            log,
            cgroup: group,
            external,
        };
        if m.cfg.autostart {
            match m.start() {
                Ok(()) => {
                    let line = m.pid_line("started");
                    Ok((m, line))
                }
                Err(msg) => {
                    let socket = m.cfg.socket.clone();
                    m.finish_failed_start(&msg);
                    Err((socket, msg))
                }
            }
        } else {
            let line = m.pid_line("ready");
            Ok((m, line))
        }
    }

    fn pid_line(&self, word: &str) -> String {
        format!("{word} {}\n", self.pid)
    }

    /// Let the process exec; wait until it did.
    fn start(&mut self) -> Result<(), String> {
        if self.started {
            return Ok(());
        }
        if let Some(ext) = &self.external {
            return match ext.start() {
                Ok(()) => {
                    self.started = true;
                    Ok(())
                }
                Err(m) => {
                    self.start_error = Some(m.clone());
                    Err(m)
                }
            };
        }
        linux::send_sync(self.sync, b'g');
        let r = linux::read_report(self.sync);
        close(self.sync);
        self.sync = -1;
        match r {
            SyncReport::Execed => {
                self.started = true;
                Ok(())
            }
            SyncReport::Ready => Err("unexpected report from container init".into()),
            SyncReport::Failed(m) => {
                self.start_error = Some(m.clone());
                Err(m)
            }
        }
    }

    /// The process failed to exec at autostart: reap it, record why, clean up.
    fn finish_failed_start(&mut self, msg: &str) {
        let mut st = 0;
        // SAFETY: reaping our own child.
        unsafe { libc::waitpid(self.pid, &mut st, 0) };
        let code = decode_status(st);
        self.write_exit(code, Some(msg.to_string()));
        if let Some(g) = &self.cgroup {
            g.destroy();
        }
        if let Some(ext) = &mut self.external {
            ext.cleanup();
        }
        let _ = std::fs::remove_file(&self.cfg.socket);
    }

    fn write_exit(&self, exit_code: i32, error: Option<String>) {
        let oom_killed = self.cgroup.as_ref().map(|g| g.oom_killed()).unwrap_or(false);
        let st = ExitStatus {
            exit_code,
            finished_at: rfc3339_nanos(SystemTime::now()),
            oom_killed,
            error,
        };
        let tmp = self.cfg.exit_file.with_extension("tmp");
        if let Ok(b) = serde_json::to_vec(&st) {
            if std::fs::write(&tmp, b).is_ok() {
                let _ = std::fs::rename(&tmp, &self.cfg.exit_file);
            }
        }
    }

    fn broadcast(&mut self, kind: u8, data: &[u8]) {
        let frame = proto::encode(kind, data);
        for c in &mut self.clients {
            let wants = match kind {
                proto::STDOUT => c.want_out,
                proto::STDERR => c.want_err,
                _ => true,
            };
            if wants {
                c.out.extend_from_slice(&frame);
            }
        }
    }

    fn output(&mut self, fd: RawFd, stream: u8) -> bool {
        let mut buf = [0u8; 32 * 1024];
        match read_fd(fd, &mut buf) {
            Ok(0) => false,
            Ok(n) => {
                if let Some(l) = &mut self.log {
                    l.write(if stream == proto::STDERR { 2 } else { 1 }, &buf[..n]);
                }
                self.broadcast(stream, &buf[..n]);
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => true,
            // EIO on a pty master: every replica is closed.
            Err(_) => false,
        }
    }

    fn close_stdin(&mut self) {
        if self.stdin >= 0 && self.stdin != self.master {
            close(self.stdin);
        }
        self.stdin = -1;
        self.stdin_buf.clear();
    }

    fn handle_frame(&mut self, idx: usize, kind: u8, payload: Vec<u8>) {
        match kind {
            proto::START => {
                let reply = match self.start() {
                    Ok(()) => proto::encode(proto::STARTED, self.pid.to_string().as_bytes()),
                    Err(m) => proto::encode(proto::ERROR, m.as_bytes()),
                };
                self.clients[idx].out.extend_from_slice(&reply);
            }
            proto::ATTACH => {
                let c = &mut self.clients[idx];
                c.want_out = payload.contains(&b'o');
                c.want_err = payload.contains(&b'e');
                c.stdin = payload.contains(&b'i') && self.stdin >= 0;
                c.out.extend_from_slice(&proto::encode(proto::ATTACHED, b""));
            }
            proto::STDIN if self.stdin >= 0 && self.clients[idx].stdin => {
                self.stdin_buf.extend_from_slice(&payload);
            }
            // As Docker: a client's end of input ends the process's input only for StdinOnce
            // containers (`run -i`), not for a later `attach`.
            proto::STDIN_CLOSE
                if self.cfg.stdin_once && self.clients[idx].stdin && self.stdin >= 0 && self.stdin != self.master =>
            {
                self.stdin_close = true;
            }
            proto::RESIZE => {
                let s = String::from_utf8_lossy(&payload);
                let mut it = s.split_whitespace().filter_map(|x| x.parse::<u16>().ok());
                if let (Some(rows), Some(cols), true) = (it.next(), it.next(), self.master >= 0) {
                    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
                    // SAFETY: valid winsize on our pty master.
                    unsafe { libc::ioctl(self.master, libc::TIOCSWINSZ, &ws) };
                }
            }
            proto::KILL => {
                let sig: i32 = String::from_utf8_lossy(&payload).trim().parse().unwrap_or(libc::SIGKILL);
                let reply = if self.status.is_none() {
                    // SAFETY: signalling our own unreaped child (its pid cannot be reused).
                    unsafe { libc::kill(self.pid, sig) };
                    proto::encode(proto::RUNNING, self.pid.to_string().as_bytes())
                } else {
                    proto::encode(proto::ERROR, b"process is not running")
                };
                self.clients[idx].out.extend_from_slice(&reply);
            }
            proto::STATUS => {
                let reply = if self.started && self.status.is_none() {
                    proto::encode(proto::RUNNING, self.pid.to_string().as_bytes())
                } else {
                    proto::encode(proto::ERROR, b"process is not running")
                };
                self.clients[idx].out.extend_from_slice(&reply);
            }
            _ => {}
        }
    }

    fn drop_client(&mut self, idx: usize) {
        let c = self.clients.swap_remove(idx);
        close(c.fd);
        if c.stdin && self.cfg.stdin_once {
            self.close_stdin();
        }
    }

    fn run(&mut self) {
        let mut out_open = self.out >= 0;
        let mut err_open = self.err >= 0;
        let mut exited_at: Option<Instant> = None;
        loop {
            if let Some(t) = exited_at {
                let drained = !out_open && !err_open;
                // Output still held open by a stray process must not keep us forever.
                if drained || t.elapsed() > Duration::from_secs(2) {
                    break;
                }
            }
            let mut fds: Vec<libc::pollfd> = Vec::with_capacity(6 + self.clients.len());
            let pfd = |fd, events| libc::pollfd { fd, events, revents: 0 };
            fds.push(pfd(self.listener, libc::POLLIN));
            fds.push(pfd(if self.status.is_none() { self.pidfd } else { -1 }, libc::POLLIN));
            fds.push(pfd(if out_open { self.out } else { -1 }, libc::POLLIN));
            fds.push(pfd(if err_open { self.err } else { -1 }, libc::POLLIN));
            let stdin_ev = !self.stdin_buf.is_empty() || self.stdin_close;
            fds.push(pfd(if stdin_ev && self.stdin >= 0 { self.stdin } else { -1 }, libc::POLLOUT));
            for c in &self.clients {
                let ev = libc::POLLIN | if c.out.is_empty() { 0 } else { libc::POLLOUT };
                fds.push(pfd(c.fd, ev));
            }
            let timeout = if exited_at.is_some() { 100 } else { -1 };
            // SAFETY: valid pollfd array.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break;
            }
            let ready = |i: usize| fds[i].revents != 0;
            if ready(1) {
                let mut st = 0;
                // SAFETY: reaping our own child.
                let r = unsafe { libc::waitpid(self.pid, &mut st, libc::WNOHANG) };
                if r == self.pid {
                    self.status = Some(decode_status(st));
                    exited_at = Some(Instant::now());
                    if self.master >= 0 {
                        // Nothing writes to the terminal anymore once the process is gone
                        // (pid namespace torn down); read what is left without waiting.
                    }
                }
            }
            if ready(2) {
                out_open = self.output(self.out, proto::STDOUT);
            }
            if ready(3) {
                err_open = self.output(self.err, proto::STDERR);
            }
            if ready(4) && self.stdin >= 0 {
                if !self.stdin_buf.is_empty() {
                    // SAFETY: writing a valid buffer to our stdin fd.
                    let n = unsafe { libc::write(self.stdin, self.stdin_buf.as_ptr().cast(), self.stdin_buf.len()) };
                    if n > 0 {
                        self.stdin_buf.drain(..n as usize);
                    } else if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                        self.close_stdin();
                    }
                }
                if self.stdin_buf.is_empty() && self.stdin_close {
                    self.stdin_close = false;
                    self.close_stdin();
                }
            }
            // Clients: newest last; walk backwards so removal keeps indices valid.
            let nclients = self.clients.len();
            for i in (0..nclients).rev() {
                let re = fds[5 + i].revents;
                if re == 0 {
                    continue;
                }
                let mut dead = false;
                if re & libc::POLLOUT != 0 {
                    let c = &mut self.clients[i];
                    // SAFETY: writing a valid buffer to a client socket.
                    let n = unsafe { libc::send(c.fd, c.out.as_ptr().cast(), c.out.len(), libc::MSG_NOSIGNAL) };
                    if n > 0 {
                        c.out.drain(..n as usize);
                    } else if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock {
                        dead = true;
                    }
                }
                if re & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !dead {
                    let mut buf = [0u8; 16 * 1024];
                    match read_fd(self.clients[i].fd, &mut buf) {
                        Ok(0) => dead = true,
                        Ok(n) => {
                            self.clients[i].dec.push(&buf[..n]);
                            while let Some((k, p)) = self.clients[i].dec.next_frame() {
                                self.handle_frame(i, k, p);
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => dead = true,
                    }
                }
                if dead || self.clients[i].out.len() > MAX_CLIENT_BUFFER {
                    self.drop_client(i);
                }
            }
            if ready(0) {
                // SAFETY: accept4 on our listening socket.
                let fd = unsafe {
                    libc::accept4(self.listener, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
                };
                if fd >= 0 {
                    self.clients.push(Client { fd, dec: Decoder::default(), out: Vec::new(), want_out: false, want_err: false, stdin: false });
                }
            }
        }
        self.finish();
    }

    fn finish(&mut self) {
        let code = self.status.unwrap_or(137);
        if let Some(l) = &mut self.log {
            l.flush();
        }
        self.write_exit(code, self.start_error.clone());
        // Release the cgroup and mounts before anyone hears of the exit: whoever removes the
        // container next must find nothing of it left.
        if let Some(ext) = &mut self.external {
            ext.cleanup();
        } else if let Some(g) = &self.cgroup {
            g.destroy();
        }
        self.broadcast(proto::EXIT, code.to_string().as_bytes());
        // Hand every client what is queued for it, briefly blocking.
        let deadline = Instant::now() + Duration::from_secs(2);
        for c in &mut self.clients {
            // SAFETY: fcntl/send on client sockets we own.
            unsafe {
                let fl = libc::fcntl(c.fd, libc::F_GETFL);
                libc::fcntl(c.fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
                let tv = libc::timeval { tv_sec: 1, tv_usec: 0 };
                libc::setsockopt(c.fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, (&tv as *const libc::timeval).cast(), std::mem::size_of::<libc::timeval>() as u32);
            }
            while !c.out.is_empty() && Instant::now() < deadline {
                // SAFETY: sending a valid buffer.
                let n = unsafe { libc::send(c.fd, c.out.as_ptr().cast(), c.out.len(), libc::MSG_NOSIGNAL) };
                if n <= 0 {
                    break;
                }
                c.out.drain(..n as usize);
            }
            close(c.fd);
        }
        self.clients.clear();
        let _ = std::fs::remove_file(&self.cfg.socket);
    }
}

/// Give back what only setup needed, so that a long-lived monitor costs its working set: the
/// heap freed by spec parsing, and the resident pages of our read-only file mappings (code and
/// constants touched once by setup). Dropped file pages are clean; if the loop needs one again
/// it is faulted back in from the page cache.
fn shed_setup_memory() {
    // SAFETY: malloc_trim only returns free heap memory to the kernel.
    unsafe { libc::malloc_trim(0) };
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else { return };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return };
    // (start, end, read-only mapping of our binary, pages copied on write)
    let mut cur: Option<(usize, usize, bool, u64)> = None;
    let mut drop_ranges = Vec::new();
    let mut flush = |c: Option<(usize, usize, bool, u64)>| {
        if let Some((s, e, ours, anon)) = c {
            // Relocated (RELRO) pages are read-only yet modified: only untouched copies of
            // the file may be dropped.
            if ours && anon == 0 {
                drop_ranges.push((s, e));
            }
        }
    };
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(s), Ok(e)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                flush(cur.take());
                let mut f = line.split_whitespace();
                let perms = f.nth(1).unwrap_or("");
                let path = f.nth(3).unwrap_or("");
                cur = Some((s, e, Path::new(path) == exe && !perms.contains('w'), 0));
                continue;
            }
        }
        if let (Some(c), Some(v)) = (cur.as_mut(), line.strip_prefix("Anonymous:")) {
            c.3 = v.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(1);
        }
    }
    flush(cur.take());
    for (s, e) in drop_ranges {
        // SAFETY: a read-only, file-backed private mapping of our own binary with no private
        // copies: MADV_DONTNEED drops its resident pages, reloaded from the file on access.
        // MADV_RANDOM first, so that a later fault maps one page rather than its neighbours.
        unsafe {
            libc::madvise(s as *mut libc::c_void, e - s, libc::MADV_RANDOM);
            libc::madvise(s as *mut libc::c_void, e - s, libc::MADV_DONTNEED);
        }
    }
}

fn decode_status(st: i32) -> i32 {
    if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st)
    } else {
        st
    }
}

/// The bundle's OCI spec and its root filesystem's absolute path.
fn read_bundle(bundle: &Path) -> Result<(Spec, PathBuf), String> {
    let path = bundle.join("config.json");
    let spec: Spec = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let root = spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_else(|| PathBuf::from("rootfs"));
    let rootfs = if root.is_absolute() { root } else { bundle.join(root) };
    Ok((spec, rootfs))
}

fn listen(path: &Path) -> io::Result<RawFd> {
    use std::os::unix::ffi::OsStrExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: building a sockaddr_un whose path fits (checked) and binding it.
    unsafe {
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        if bytes.len() >= addr.sun_path.len() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "socket path too long"));
        }
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (i, b) in bytes.iter().enumerate() {
            addr.sun_path[i] = *b as libc::c_char;
        }
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len()) as libc::socklen_t;
        if libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len) < 0 || libc::listen(fd, 64) < 0 {
            let e = io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(fd)
    }
}
