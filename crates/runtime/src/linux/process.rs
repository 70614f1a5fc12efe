//! The process side of starting a container: stdio, session, limits, user, capabilities, and
//! the final `execve`.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use super::{caps, check, cpath, cstr, seccomp, Error, Stdio};

/// A process ready to exec: everything resolved and allocated beforehand.
pub(crate) struct Prepared {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// A seccomp filter still to load right before `execve` (with `no_new_privs` set).
    late_seccomp: Option<seccomp::Program>,
}

impl Prepared {
    /// Replace this process image. Returns only on failure.
    pub(crate) fn exec(self) -> Error {
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|a| a.as_ptr()).collect();
        envp.push(std::ptr::null());
        // As late as possible, so that the filter sees nothing but the exec (runc's order).
        if let Some(p) = &self.late_seccomp {
            if let Err(e) = p.load() {
                return e;
            }
        }
        // SAFETY: NULL-terminated arrays of valid C strings that outlive the call.
        unsafe { libc::execve(self.path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
        let err = std::io::Error::last_os_error();
        let name = self.argv.first().map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
        let reason = match err.raw_os_error() {
            Some(libc::EACCES) => "permission denied".to_string(),
            Some(libc::ENOENT) => "no such file or directory".to_string(),
            _ => err.to_string(),
        };
        Error::Exec(format!("exec: {name:?}: {reason}"))
    }
}

/// Look `name` up as Go's `exec.LookPath` does (which is what runc reports): a name with a
/// slash is taken as is; otherwise each directory of `path_var` is tried.
pub fn find_executable(name: &str, path_var: Option<&str>) -> Result<PathBuf, Error> {
    if name.is_empty() {
        return Err(Error::Exec("exec: \"\": executable file not found in $PATH".into()));
    }
    let is_exec = |p: &Path| -> Result<bool, Error> {
        let c = cpath(p)?;
        // SAFETY: valid C string.
        Ok(unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return match std::fs::metadata(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Exec(format!(
                "exec: {name:?}: stat {name}: no such file or directory"
            ))),
            Err(e) => Err(Error::Exec(format!("exec: {name:?}: {e}"))),
            Ok(m) if m.is_dir() => Err(Error::Exec(format!("exec: {name:?}: is a directory"))),
            Ok(_) if !is_exec(&p)? => Err(Error::Exec(format!("exec: {name:?}: permission denied"))),
            Ok(_) => Ok(p),
        };
    }
    let path_var = path_var.unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut denied = false;
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let p = Path::new(dir).join(name);
        if let Ok(m) = std::fs::metadata(&p) {
            if m.is_file() {
                if is_exec(&p)? {
                    return Ok(p);
                }
                denied = true;
            }
        }
    }
    if denied {
        return Err(Error::Exec(format!("exec: {name:?}: permission denied")));
    }
    Err(Error::Exec(format!("exec: {name:?}: executable file not found in $PATH")))
}

pub(crate) fn setns_path(path: &Path, flag: libc::c_int) -> Result<(), Error> {
    let c = cpath(path)?;
    // SAFETY: valid C string; the fd is closed below.
    let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    check(fd, || format!("open namespace {}", path.display()))?;
    // SAFETY: fd is a namespace file we just opened.
    let rc = unsafe { libc::setns(fd, flag) };
    let err = Error::sys(format!("join namespace {}", path.display()));
    // SAFETY: closing our own fd.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return Err(err);
    }
    Ok(())
}

/// Bring the loopback interface of a new network namespace up.
pub(crate) fn loopback_up() -> Result<(), Error> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq whose name we set.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        check(s, || "socket for loopback".into())?;
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo\0".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let rc = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr);
        if rc == 0 {
            ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            let rc = libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr);
            let e = Error::sys("bring loopback up");
            libc::close(s);
            if rc < 0 {
                return Err(e);
            }
        } else {
            libc::close(s);
        }
    }
    Ok(())
}

fn dup_stdio(stdio: Stdio) -> Result<(), Error> {
    // Move the fds above 2 first so that dup2 onto 0..2 cannot clobber one still needed.
    let mut fds = [stdio.stdin, stdio.stdout, stdio.stderr];
    for fd in fds.iter_mut() {
        // SAFETY: duplicating fds we were given.
        let n = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3) };
        check(n, || "dup stdio".into())?;
        *fd = n;
    }
    for (target, fd) in fds.iter().enumerate() {
        // SAFETY: dup2 onto the standard fds; dup2 clears close-on-exec on the new fd.
        check(unsafe { libc::dup2(*fd, target as RawFd) }, || "dup2 stdio".into())?;
    }
    Ok(())
}

fn rlimit_resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    Some(match name {
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        _ => return None,
    })
}

/// Set up the calling process per `p` and resolve what to exec. `new_session` is true for a
/// container's init (it becomes a session leader), false for an exec with no terminal.
///
/// A seccomp filter is compiled first and loaded as runc does: with `no_new_privs`, right
/// before `execve`; without, it needs `CAP_SYS_ADMIN`, so it is loaded before the uid change
/// and the capability sets (then those calls, `chdir`, the sync socket and `execve` must pass
/// the filter — the default profile allows them).
pub(crate) fn prepare(
    p: &Process,
    stdio: Stdio,
    new_session: bool,
    filter: Option<&oci_spec::runtime::LinuxSeccomp>,
) -> Result<Prepared, Error> {
    let program = filter.map(seccomp::compile).transpose()?;
    dup_stdio(stdio)?;
    if new_session || stdio.terminal {
        // SAFETY: setsid has no memory effects; failure (already a leader) is harmless.
        unsafe { libc::setsid() };
    }
    if stdio.terminal {
        // SAFETY: make fd 0 (the pty replica) our controlling terminal.
        check(unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) }, || "set controlling terminal".into())?;
    }
    if let Some(rl) = p.rlimits() {
        for r in rl {
            let name = serde_json::to_value(r.typ())
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default();
            let res = rlimit_resource(&name)
                .ok_or_else(|| Error::Spec(format!("unknown rlimit {name}")))?;
            let lim = libc::rlimit { rlim_cur: r.soft(), rlim_max: r.hard() };
            // SAFETY: valid rlimit struct.
            check(unsafe { libc::setrlimit(res, &lim) }, || format!("set {name}"))?;
        }
    }
    if let Some(adj) = p.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::Sys { what: "write oom_score_adj".into(), source: e })?;
    }
    let env: Vec<String> = p.env().clone().unwrap_or_default();
    let path_var = env.iter().find_map(|e| e.strip_prefix("PATH="));
    let args = p.args().clone().unwrap_or_default();
    let first = args.first().ok_or_else(|| Error::Spec("process has no args".into()))?;
    let exe = find_executable(first, path_var)?;

    let user = p.user();
    if p.no_new_privileges().unwrap_or(false) {
        // SAFETY: prctl with constant arguments.
        check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }, || {
            "set no_new_privs".into()
        })?;
    }
    caps::drop_bounding(p.capabilities().as_ref())?;
    let nnp = p.no_new_privileges().unwrap_or(false);
    let late_seccomp = match program {
        Some(prog) if !nnp => {
            prog.load()?;
            None
        }
        other => other,
    };
    // Keep our capabilities across the uid change; they are set to the spec's sets right after.
    // SAFETY: prctl with constant arguments.
    check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) }, || "set keepcaps".into())?;
    let groups: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    // SAFETY: valid pointer and length.
    check(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) }, || "setgroups".into())?;
    // SAFETY: plain id syscalls.
    check(unsafe { libc::setresgid(user.gid(), user.gid(), user.gid()) }, || {
        format!("setgid {}", user.gid())
    })?;
    // SAFETY: plain id syscall.
    check(unsafe { libc::setresuid(user.uid(), user.uid(), user.uid()) }, || {
        format!("setuid {}", user.uid())
    })?;
    // SAFETY: prctl with constant arguments.
    check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) }, || "clear keepcaps".into())?;
    caps::apply(p.capabilities().as_ref())?;

    let cwd = p.cwd();
    let c = cpath(cwd)?;
    // SAFETY: valid C string.
    if unsafe { libc::chdir(c.as_ptr()) } < 0 {
        return Err(Error::Spec(format!(
            "chdir to cwd ({:?}) set in config.json failed: {}",
            cwd.display().to_string(),
            std::io::Error::last_os_error()
        )));
    }
    let argv = args.iter().map(|a| cstr(a)).collect::<Result<Vec<_>, _>>()?;
    let envp = env.iter().map(|a| cstr(a)).collect::<Result<Vec<_>, _>>()?;
    let path = CString::new(exe.as_os_str().as_bytes())
        .map_err(|_| Error::Spec("executable path with a NUL byte".into()))?;
    Ok(Prepared { path, argv, envp, late_seccomp })
}
