//! The in-process OCI runtime, Linux side.
//!
//! Words: the *monitor* is the per-container `berth-shim` process; the *init* is the child it
//! clones with new namespaces, which becomes the container's pid 1 once it `execve`s. Between the
//! clone and the exec, the init and the monitor talk over a *sync* socket:
//!
//! 1. monitor → init `c`: the cgroup exists; the init moves itself in (the cheap way, see
//!    [`join_cgroup`]) and sets up.
//! 2. init → monitor `R`: mounts, devices, hostname, limits and user are in place, the
//!    executable was found; ready to exec.
//! 3. monitor → init `g`: exec now. The sync socket is close-on-exec, so the monitor sees EOF
//!    when the exec succeeded.
//!
//! At any point the init may send `E` followed by a message and exit instead; the monitor turns
//! that into a start error. The same protocol (without step 1's mounts) serves `exec`: an exec
//! child joins the namespaces of a running container instead of creating new ones.
//!
//! Architecture invariant: nothing here allocates after `g` except on the error path, and
//! nothing here knows about Docker: the input is an OCI spec.

mod caps;
mod mounts;
mod process;
mod pty;
pub mod seccomp;
mod syscalls;

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

pub use mounts::{
    enter_joined_namespaces, leave_joined_namespaces, new_user_namespace, prepare_user_namespace, send_root_mount,
};
pub use process::find_executable;
pub use pty::{recv_fd, send_fd};

/// An overlay filesystem to mount as the container's root before anything else.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Overlay {
    /// Read-only layers, topmost first.
    pub lower: Vec<PathBuf>,
    /// The container's writable layer.
    pub upper: PathBuf,
    /// Overlay's work directory (same filesystem as `upper`).
    pub work: PathBuf,
}

/// The standard streams the process gets. With a terminal all three are the pty's replica;
/// a terminal with negative fds means "allocate it inside the container" (see [`PTY_TAG`]).
#[derive(Debug, Clone, Copy)]
pub struct Stdio {
    /// Standard input.
    pub stdin: RawFd,
    /// Standard output.
    pub stdout: RawFd,
    /// Standard error.
    pub stderr: RawFd,
    /// Whether the fds are a terminal (then the init takes it as its controlling terminal).
    pub terminal: bool,
}

/// The tag of the sync message that carries the pty master allocated inside the container.
/// It precedes `R`; the monitor receives it with [`recv_fd`].
pub const PTY_TAG: u8 = b'P';

impl Stdio {
    /// A terminal the init or exec child allocates inside the container.
    pub fn container_terminal() -> Stdio {
        Stdio { stdin: -1, stdout: -1, stderr: -1, terminal: true }
    }
    fn allocate_here(&self) -> bool {
        self.terminal && self.stdin < 0
    }
}

/// Open the pty inside the container, hand its master to the monitor, make the replica the
/// process's streams (and, for an init, `/dev/console`).
fn container_pty(sync: RawFd, console: bool) -> Result<Stdio, Error> {
    let (master, replica, path) = pty::open_in_container()?;
    if console {
        mounts::bind_console(&path)?;
    }
    pty::send_fd(sync, PTY_TAG, master).map_err(|e| Error::Sys { what: "send terminal".into(), source: e })?;
    // SAFETY: the monitor has its own copy now.
    unsafe { libc::close(master) };
    Ok(Stdio { stdin: replica, stdout: replica, stderr: replica, terminal: true })
}

/// Errors while setting up a container or an exec; they are reported to the monitor as text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The spec asks for something this runtime cannot do.
    #[error("{0}")]
    Spec(String),
    /// The executable could not be found or run; the message is Docker's.
    #[error("{0}")]
    Exec(String),
}

impl Error {
    pub(crate) fn sys(what: impl Into<String>) -> Self {
        Error::Sys { what: what.into(), source: io::Error::last_os_error() }
    }
    /// The exit code Docker reports when the process could not be started this way.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Exec(m) if m.contains("permission denied") => 126,
            Error::Exec(_) => 127,
            _ => 125,
        }
    }
}

pub(crate) fn check(rc: libc::c_int, what: impl FnOnce() -> String) -> Result<(), Error> {
    if rc < 0 {
        Err(Error::sys(what()))
    } else {
        Ok(())
    }
}

pub(crate) fn cstr(s: &str) -> Result<CString, Error> {
    CString::new(s).map_err(|_| Error::Spec(format!("string with a NUL byte: {s:?}")))
}

pub(crate) fn cpath(p: &Path) -> Result<CString, Error> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Spec(format!("path with a NUL byte: {}", p.display())))
}

/// The `clone(2)` flags for the namespaces the spec asks to create, and the paths of the
/// existing namespaces it asks to join (joined by the init itself).
pub fn namespace_plan(spec: &Spec) -> (libc::c_int, Vec<(libc::c_int, PathBuf)>) {
    let mut flags = 0;
    let mut join = Vec::new();
    let nss = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    for ns in nss {
        let f = match ns.typ() {
            LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
            LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
            LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
            LinuxNamespaceType::Network => libc::CLONE_NEWNET,
            LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
            LinuxNamespaceType::User => libc::CLONE_NEWUSER,
            _ => continue,
        };
        match ns.path() {
            Some(p) => join.push((f, p.clone())),
            None => flags |= f,
        }
    }
    (flags, join)
}

/// Clone a child into new namespaces, like `fork(2)` with `flags` added. Returns the child's
/// pid in the parent and 0 in the child.
///
/// # Safety
/// The caller must be single-threaded (as after `fork`); the child may only use
/// async-signal-safe functions until it calls `execve` or exits, except that it may allocate,
/// since no other thread can hold the allocator's lock.
pub unsafe fn clone_process(flags: libc::c_int) -> io::Result<libc::pid_t> {
    // SAFETY: SYS_clone with a NULL stack behaves like fork in the child (copy-on-write stack).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            std::ptr::null_mut::<libc::c_void>(),
            0 as libc::c_ulong,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as libc::pid_t)
    }
}

fn sync_read(fd: RawFd) -> Result<u8, Error> {
    let mut b = [0u8; 1];
    loop {
        // SAFETY: reading into a valid one-byte buffer.
        let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
        if n == 1 {
            return Ok(b[0]);
        }
        if n == 0 {
            return Err(Error::Spec("monitor went away during setup".into()));
        }
        if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return Err(Error::sys("read sync socket"));
        }
    }
}

fn sync_write(fd: RawFd, data: &[u8]) {
    // SAFETY: writing a valid buffer; errors are ignored because the only reader is the monitor.
    unsafe {
        libc::write(fd, data.as_ptr().cast(), data.len());
    }
}

/// Wait for the monitor's `byte`; anything else ends the child.
fn expect_sync(sync: RawFd, byte: u8) {
    match sync_read(sync) {
        Ok(b) if b == byte => {}
        Ok(_) => fail(sync, &Error::Spec("unexpected sync byte".into())),
        Err(e) => fail(sync, &e),
    }
}

/// Steps 2 and 3 of the protocol: report `R` (or the setup error), wait for `g`, exec.
fn ready_then_exec(sync: RawFd, prepared: Result<process::Prepared, Error>) -> ! {
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => fail(sync, &e),
    };
    sync_write(sync, b"R");
    expect_sync(sync, b'g');
    let e = prepared.exec();
    fail(sync, &e)
}

/// Report an error to the monitor and exit with Docker's code for it.
fn fail(sync: RawFd, e: &Error) -> ! {
    let msg = format!("E{e}");
    sync_write(sync, msg.as_bytes());
    // SAFETY: terminating the child without running the parent's atexit handlers.
    unsafe { libc::_exit(e.exit_code()) }
}

/// Everything the init of a new container needs.
pub struct InitConfig<'a> {
    /// The OCI spec (from the bundle's config.json).
    pub spec: &'a Spec,
    /// Absolute path of the root filesystem (the spec's `root.path`, resolved).
    pub rootfs: &'a Path,
    /// An overlay to mount at `rootfs` first, inside the new mount namespace (so it goes away
    /// with the container and never leaks into the host's mount table).
    pub overlay: Option<&'a Overlay>,
    /// The process's standard streams.
    pub stdio: Stdio,
    /// Whether the host uses cgroup v2 (decides how `/sys/fs/cgroup` is mounted).
    pub cgroup_v2: bool,
    /// Files to write `0` into to join the container's cgroup (see [`join_cgroup`]).
    pub cgroup_join: &'a [PathBuf],
}

/// Move the calling (single-threaded) process into a cgroup by writing `0` to each file:
/// the cheap way in, see `berth_cgroups::Cgroup::self_join_files`.
pub fn join_cgroup(files: &[PathBuf]) -> Result<(), Error> {
    for f in files {
        std::fs::write(f, b"0").map_err(|e| Error::Sys { what: format!("join cgroup {}", f.display()), source: e })?;
    }
    Ok(())
}

/// The init's whole life: set up the container per the protocol above, then exec.
/// Called in the child right after [`clone_process`]; never returns.
pub fn run_init(cfg: &InitConfig<'_>, sync: RawFd) -> ! {
    expect_sync(sync, b'c');
    if let Err(e) = join_cgroup(cfg.cgroup_join) {
        fail(sync, &e);
    }
    // With a new user namespace: the root mount from the monitor, and root inside.
    let root_mount = match mounts::enter_user_namespace(cfg, sync) {
        Ok(r) => r,
        Err(e) => fail(sync, &e),
    };
    let prepared = (|| -> Result<process::Prepared, Error> {
        let (_, join) = namespace_plan(cfg.spec);
        for (flag, path) in &join {
            // The monitor entered host-owned ones for us (see enter_joined_namespaces).
            if !mounts::already_in(path, *flag) {
                process::setns_path(path, *flag)?;
            }
        }
        if let Some(h) = cfg.spec.hostname() {
            let h = cstr(h)?;
            // SAFETY: valid C string and length.
            check(unsafe { libc::sethostname(h.as_ptr(), h.as_bytes().len()) }, || {
                "sethostname".into()
            })?;
        }
        let net_ns_new = namespace_plan(cfg.spec).0 & libc::CLONE_NEWNET != 0;
        if net_ns_new {
            process::loopback_up()?;
        }
        mounts::setup_rootfs(cfg, net_ns_new, root_mount)?;
        let proc_ = cfg
            .spec
            .process()
            .as_ref()
            .ok_or_else(|| Error::Spec("spec has no process".into()))?;
        if let Some(l) = cfg.spec.linux() {
            if let Some(sysctl) = l.sysctl() {
                for (k, v) in sysctl {
                    let p = format!("/proc/sys/{}", k.replace('.', "/"));
                    std::fs::write(&p, v).map_err(|e| Error::Sys {
                        what: format!("write sysctl {k}"),
                        source: e,
                    })?;
                }
            }
        }
        mounts::finalize_rootfs(cfg.spec)?;
        let stdio = if cfg.stdio.allocate_here() { container_pty(sync, true)? } else { cfg.stdio };
        let filter = cfg.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
        process::prepare(proc_, stdio, true, filter)
    })();
    ready_then_exec(sync, prepared)
}

/// Everything an exec child needs to join a running container.
pub struct ExecConfig<'a> {
    /// The process to run (args, env, cwd, numeric user, capabilities, ...).
    pub process: &'a Process,
    /// Host pid of the container's init, whose namespaces to join.
    pub target_pid: libc::pid_t,
    /// The process's standard streams.
    pub stdio: Stdio,
    /// Files to write `0` into to join the container's cgroup.
    pub cgroup_join: &'a [PathBuf],
    /// The container's seccomp filter (`linux.seccomp` of its spec), applied to the exec too.
    pub seccomp: Option<&'a oci_spec::runtime::LinuxSeccomp>,
}

/// Join the pid namespace of `pid`, so the next child the caller clones is inside it.
/// Must be called by the (single-threaded) monitor before [`clone_process`].
pub fn join_pid_namespace(pid: libc::pid_t) -> Result<(), Error> {
    process::setns_path(Path::new(&format!("/proc/{pid}/ns/pid")), libc::CLONE_NEWPID)
}

/// The exec child's life: join the container's other namespaces, prepare the process, wait for
/// `g`, exec. Called right after [`clone_process`] (after [`join_pid_namespace`]); never returns.
pub fn run_exec(cfg: &ExecConfig<'_>, sync: RawFd) -> ! {
    expect_sync(sync, b'c');
    // Best effort, as for runc's exec: a container without a cgroup still runs execs.
    let _ = join_cgroup(cfg.cgroup_join);
    let prepared = (|| -> Result<process::Prepared, Error> {
        let user = PathBuf::from(format!("/proc/{}/ns/user", cfg.target_pid));
        let user_ns = match mounts::already_in(&user, libc::CLONE_NEWUSER) {
            true => None,
            false => Some(std::fs::File::open(&user).map_err(|e| Error::Sys { what: "open user namespace".into(), source: e })?),
        };
        for (name, flag) in [
            ("cgroup", libc::CLONE_NEWCGROUP),
            ("ipc", libc::CLONE_NEWIPC),
            ("uts", libc::CLONE_NEWUTS),
            ("net", libc::CLONE_NEWNET),
            ("mnt", libc::CLONE_NEWNS),
        ] {
            let p = PathBuf::from(format!("/proc/{}/ns/{name}", cfg.target_pid));
            let own = PathBuf::from(format!("/proc/self/ns/{name}"));
            // Joining a namespace we already share (host network) is a no-op; skip it.
            if std::fs::read_link(&p).ok() == std::fs::read_link(&own).ok() {
                continue;
            }
            process::setns_path(&p, flag)?;
        }
        // Last, the container's user namespace (opened before the mount namespace changed
        // what /proc is): the namespaces above are joined with the host's privileges, the
        // process then runs as the remapped user.
        if let Some(ns) = user_ns {
            // SAFETY: setns on a valid namespace descriptor.
            check(unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&ns), libc::CLONE_NEWUSER) }, || "join user namespace".into())?;
        }
        // After joining the mount namespace, /dev/ptmx is the container's.
        let stdio = if cfg.stdio.allocate_here() { container_pty(sync, false)? } else { cfg.stdio };
        process::prepare(cfg.process, stdio, false, cfg.seccomp)
    })();
    ready_then_exec(sync, prepared)
}

/// What the monitor learns from the sync socket after sending `g` (or while waiting for `R`).
#[derive(Debug, PartialEq, Eq)]
pub enum SyncReport {
    /// The init is set up and waits for `g`.
    Ready,
    /// The exec succeeded (the socket closed).
    Execed,
    /// Setup or exec failed with this message.
    Failed(String),
}

/// Monitor side: read the next report from the init.
pub fn read_report(sync: RawFd) -> SyncReport {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // SAFETY: reading into a valid buffer.
        let n = unsafe { libc::read(sync, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n < 0 {
            if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return SyncReport::Failed(format!("read sync socket: {}", io::Error::last_os_error()));
        }
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n as usize]);
        if buf == b"R" {
            return SyncReport::Ready;
        }
    }
    match buf.first() {
        None => SyncReport::Execed,
        Some(b'E') => SyncReport::Failed(String::from_utf8_lossy(&buf[1..]).into_owned()),
        Some(b'R') if buf.len() > 1 && buf[1] == b'E' => {
            SyncReport::Failed(String::from_utf8_lossy(&buf[2..]).into_owned())
        }
        Some(_) => SyncReport::Failed(String::from_utf8_lossy(&buf).into_owned()),
    }
}

/// Monitor side: send one sync byte.
pub fn send_sync(sync: RawFd, byte: u8) {
    sync_write(sync, &[byte]);
}
