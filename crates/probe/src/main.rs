//! `berth-probe CHECK [ARGS]`: one isolation check run from inside a container, like youki's
//! runtimetest. Each check tries one privileged operation and prints `allowed`, or `denied:
//! <ERRNO>` (exit 0 either way); bad usage or a failure of the check itself exits 2.
//!
//! The checks touch nothing outside the container: nothing is written to
//! `/proc/sysrq-trigger` (it is only opened), no module is loaded (`finit_module(-1)`: EBADF
//! means the call was allowed), the hostname is set to the name it already has, a traced
//! process is detached at once, a block device is only opened for reading.
//!
//! Linked statically, so it runs in any image (`scripts/build` puts it in `target/berth`).

use std::ffi::CString;
use std::io::Write;
use std::process::ExitCode;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn errno_name(e: i32) -> String {
    let n = match e {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::ESRCH => "ESRCH",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::EROFS => "EROFS",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::ENXIO => "ENXIO",
        _ => return format!("errno {e}"),
    };
    n.to_string()
}

/// What a check found.
enum Outcome {
    Allowed,
    Denied(String),
}

fn from_rc(rc: libc::c_long) -> Outcome {
    if rc < 0 {
        Outcome::Denied(errno_name(errno()))
    } else {
        Outcome::Allowed
    }
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("NUL byte in {s:?}"))
}

/// mount(2) a tmpfs on a fresh directory, then unmount it.
fn mount() -> Result<Outcome, String> {
    let dir = "/tmp/.berth-probe-mnt";
    let _ = std::fs::create_dir_all(dir);
    let d = cstr(dir)?;
    // SAFETY: valid C strings; a null data pointer.
    let rc = unsafe {
        libc::mount(c"tmpfs".as_ptr(), d.as_ptr(), c"tmpfs".as_ptr(), 0, std::ptr::null())
    };
    let out = from_rc(rc as libc::c_long);
    if rc == 0 {
        // SAFETY: valid C string.
        unsafe { libc::umount2(d.as_ptr(), libc::MNT_DETACH) };
    }
    let _ = std::fs::remove_dir(dir);
    Ok(out)
}

/// Attach to `pid` with PTRACE_SEIZE (which does not stop it), then detach.
fn ptrace(pid: &str) -> Result<Outcome, String> {
    let pid: libc::pid_t = pid.parse().map_err(|_| format!("bad pid {pid:?}"))?;
    // SAFETY: seize/detach of a pid; no memory is passed.
    let rc = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0) };
    let out = from_rc(rc);
    if rc == 0 {
        // SAFETY: as above. PTRACE_DETACH wants a stopped tracee: interrupt, wait, detach.
        unsafe {
            libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0);
            let mut st = 0;
            libc::waitpid(pid, &mut st, libc::__WALL);
            libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0);
        }
    }
    Ok(out)
}

/// Open `/proc/sysrq-trigger` for writing (and close it: nothing is written).
fn sysrq() -> Result<Outcome, String> {
    match std::fs::OpenOptions::new().write(true).open("/proc/sysrq-trigger") {
        Ok(_) => Ok(Outcome::Allowed),
        Err(e) => Ok(Outcome::Denied(errno_name(e.raw_os_error().unwrap_or(0)))),
    }
}

/// `finit_module(-1, "", 0)`: EBADF means the call got past the permission checks.
fn module() -> Result<Outcome, String> {
    // SAFETY: an invalid fd and an empty parameter string: the kernel loads nothing.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, -1, c"".as_ptr(), 0) };
    if rc < 0 && errno() == libc::EBADF {
        return Ok(Outcome::Allowed);
    }
    Ok(from_rc(rc))
}

/// `unshare(CLONE_NEWUSER)`: a new user namespace would give back every capability in it.
fn userns() -> Result<Outcome, String> {
    // SAFETY: plain syscall; the probe exits right after.
    Ok(from_rc(unsafe { libc::unshare(libc::CLONE_NEWUSER) } as libc::c_long))
}

/// Read the first bytes of `/proc/kcore`: denied when it cannot be opened or reads empty (the
/// default masks it with /dev/null).
fn kcore() -> Result<Outcome, String> {
    use std::io::Read;
    let mut f = match std::fs::File::open("/proc/kcore") {
        Ok(f) => f,
        Err(e) => return Ok(Outcome::Denied(errno_name(e.raw_os_error().unwrap_or(0)))),
    };
    let mut b = [0u8; 4];
    match f.read(&mut b) {
        Ok(n) if n > 0 => Ok(Outcome::Allowed),
        Ok(_) => Ok(Outcome::Denied("masked".into())),
        Err(e) => Ok(Outcome::Denied(errno_name(e.raw_os_error().unwrap_or(0)))),
    }
}

/// `sethostname` to the name the UTS namespace already has (with `--uts=host` that is the
/// host's: it must not change).
fn hostname() -> Result<Outcome, String> {
    // SAFETY: a zeroed utsname filled by the kernel.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    if unsafe { libc::uname(&mut u) } < 0 {
        return Err(format!("uname: {}", errno_name(errno())));
    }
    // SAFETY: the kernel NUL-terminates nodename.
    let name = unsafe { std::ffi::CStr::from_ptr(u.nodename.as_ptr()) };
    let len = name.to_bytes().len();
    // SAFETY: the same bytes back, with their length.
    Ok(from_rc(unsafe { libc::sethostname(name.as_ptr(), len) } as libc::c_long))
}

/// A raw ICMP socket (needs CAP_NET_RAW).
fn raw() -> Result<Outcome, String> {
    // SAFETY: plain socket call; the fd is closed.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    if fd >= 0 {
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
    }
    Ok(from_rc(fd as libc::c_long))
}

/// Make a node for block device MAJ:MIN and open it read-only (the device cgroup decides).
fn blockdev(major: &str, minor: &str) -> Result<Outcome, String> {
    let major: u32 = major.parse().map_err(|_| format!("bad major {major:?}"))?;
    let minor: u32 = minor.parse().map_err(|_| format!("bad minor {minor:?}"))?;
    let path = "/tmp/.berth-probe-blk";
    let _ = std::fs::create_dir_all("/tmp");
    let _ = std::fs::remove_file(path);
    let p = cstr(path)?;
    // SAFETY: valid C string.
    if unsafe { libc::mknod(p.as_ptr(), libc::S_IFBLK | 0o600, libc::makedev(major, minor)) } < 0 {
        return Ok(Outcome::Denied(format!("mknod {}", errno_name(errno()))));
    }
    // SAFETY: valid C string; the fd is closed.
    let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    let out = from_rc(fd as libc::c_long);
    if fd >= 0 {
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
    }
    let _ = std::fs::remove_file(path);
    Ok(out)
}

/// Whether a setuid-root binary raises a non-root user's effective uid: a setuid copy of this
/// probe is run as `nobody` and reports its euid. With `no-new-privileges` it must not.
fn setuid() -> Result<Outcome, String> {
    let copy = "/.berth-probe-suid";
    std::fs::copy("/proc/self/exe", copy).map_err(|e| format!("copy probe: {e}"))?;
    let c = cstr(copy)?;
    // SAFETY: valid C string.
    if unsafe { libc::chown(c.as_ptr(), 0, 0) } < 0 || unsafe { libc::chmod(c.as_ptr(), 0o4755) } < 0 {
        return Err(format!("make setuid copy: {}", errno_name(errno())));
    }
    let out = std::process::Command::new(copy)
        .arg("euid")
        .uid(65534)
        .gid(65534)
        .output()
        .map_err(|e| format!("run setuid copy: {e}"));
    let _ = std::fs::remove_file(copy);
    let out = out?;
    let euid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok(if euid == "0" { Outcome::Allowed } else { Outcome::Denied(format!("euid {euid}")) })
}

use std::os::unix::process::CommandExt;

fn run(args: &[String]) -> Result<Option<Outcome>, String> {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    Ok(Some(match a.as_slice() {
        ["mount"] => mount()?,
        ["ptrace", pid] => ptrace(pid)?,
        ["sysrq"] => sysrq()?,
        ["module"] => module()?,
        ["userns"] => userns()?,
        ["kcore"] => kcore()?,
        ["hostname"] => hostname()?,
        ["raw"] => raw()?,
        ["blockdev", major, minor] => blockdev(major, minor)?,
        ["setuid"] => setuid()?,
        ["euid"] => {
            // SAFETY: no arguments.
            println!("{}", unsafe { libc::geteuid() });
            return Ok(None);
        }
        _ => {
            return Err(
                "usage: berth-probe mount|ptrace PID|sysrq|module|userns|kcore|hostname|raw|blockdev MAJ MIN|setuid"
                    .into(),
            )
        }
    }))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(Some(o)) => {
            let line = match o {
                Outcome::Allowed => "allowed".to_string(),
                Outcome::Denied(why) => format!("denied: {why}"),
            };
            let _ = writeln!(std::io::stdout(), "{line}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-probe: {e}");
            ExitCode::from(2)
        }
    }
}
