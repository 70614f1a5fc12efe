//! Test helpers: root checks, a busybox rootfs built from the host's `busybox-static`, and a
//! real berthd on throwaway roots.
//!
//! Architecture invariant: everything a helper makes (directories, daemons, containers,
//! cgroups) is removed when its guard drops, so tests can run in parallel and again.
#![deny(missing_docs)]

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// True when running as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skip the calling test (loudly) unless running as root.
#[macro_export]
macro_rules! requires_root {
    () => {
        if !$crate::is_root() {
            eprintln!("SKIPPED {}: needs root (namespaces, mounts, cgroups)", module_path!());
            return;
        }
    };
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Where `scripts/build` puts berthd, berth and the static berth-shim (`BERTH_BIN_DIR`
/// overrides).
pub fn bin_dir() -> PathBuf {
    std::env::var_os("BERTH_BIN_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target/berth"))
}

/// Path of one of our binaries; panics with the fix if it was not built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(p.is_file(), "{} is missing: run scripts/build first", p.display());
    p
}

/// A static busybox from Debian's `busybox-static`.
pub fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"].iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Write a minimal busybox root filesystem into `dir`.
pub fn make_busybox_rootfs(dir: &Path) -> std::io::Result<()> {
    let bb = busybox().ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "busybox-static is not installed"))?;
    for d in ["bin", "sbin", "etc", "tmp", "proc", "sys", "dev", "root", "home", "var", "usr/bin"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    std::fs::copy(&bb, dir.join("bin/busybox"))?;
    let out = Command::new(&bb).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let link = dir.join("bin").join(applet);
        if applet != "busybox" && !link.exists() {
            symlink("busybox", link)?;
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nnogroup:x:65534:\n")?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
    Ok(())
}

/// A tarball of the busybox rootfs, built once into `target/testkit/` and shared by every
/// test process (written to a unique name, then renamed into place).
pub fn busybox_tar() -> PathBuf {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let dir = workspace_root().join("target/testkit");
        let tar = dir.join("busybox.tar");
        if tar.is_file() {
            return tar;
        }
        std::fs::create_dir_all(&dir).expect("create target/testkit");
        let work = tempfile::Builder::new().prefix("busybox-").tempdir_in(&dir).expect("tempdir");
        let root = work.path().join("rootfs");
        make_busybox_rootfs(&root).expect("build busybox rootfs");
        let tmp = work.path().join("busybox.tar");
        let st = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tmp).arg(".").status().expect("run tar");
        assert!(st.success(), "tar failed");
        std::fs::rename(&tmp, &tar).expect("install busybox.tar");
        tar
    })
    .clone()
}

/// A berthd on its own temporary roots, stopped and cleaned up on drop (its containers too).
pub struct Daemon {
    child: Option<Child>,
    /// The temporary directory holding both roots and the socket.
    pub dir: tempfile::TempDir,
    /// The API socket.
    pub socket: PathBuf,
}

impl Daemon {
    /// Start berthd and wait until it answers.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Start berthd with extra arguments.
    pub fn start_with(extra: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new().prefix("berth-t").tempdir_in("/tmp").expect("tempdir");
        let socket = dir.path().join("berth.sock");
        let mut d = Daemon { child: None, dir, socket };
        d.spawn(extra);
        d
    }

    /// Start (again) a berthd on this daemon's roots.
    pub fn spawn(&mut self, extra: &[&str]) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("berthd.log")).expect("log");
        let child = Command::new(bin("berthd"))
            .arg("--data-root").arg(self.data_root())
            .arg("--exec-root").arg(self.dir.path().join("exec"))
            .arg("-H").arg(format!("unix://{}", self.socket.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start berthd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("berthd did not come up; log:\n{}", self.log());
    }

    /// The data root.
    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `DOCKER_HOST` for this daemon.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// berthd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    /// Kill berthd with SIGKILL (its containers keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A `docker` (the real CLI) command aimed at this daemon.
    pub fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host()).env("DOCKER_CONFIG", self.dir.path().join("docker-config")).env("DOCKER_CLI_HINTS", "false");
        c
    }

    /// A `berth` command aimed at this daemon.
    pub fn berth(&self) -> Command {
        let mut c = Command::new(bin("berth"));
        c.env("DOCKER_HOST", self.host());
        c
    }

    /// Import the busybox rootfs as `name` (e.g. `busybox:latest`) through the real CLI.
    pub fn import_busybox(&self, name: &str) {
        let out = self.docker().arg("import").arg(busybox_tar()).arg(name).output().expect("docker import");
        assert!(out.status.success(), "import failed: {}\n{}", String::from_utf8_lossy(&out.stderr), self.log());
    }
}

/// Run a command, returning (exit code, stdout, stderr).
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run command");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Run a command feeding `input` on stdin.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> (i32, String, String) {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_none() && std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            self.spawn(&[]);
        }
        // Remove every container through the API so monitors, cgroups and files go away.
        let _ = Command::new("sh")
            .arg("-c")
            .arg("ids=$(docker ps -aq); [ -z \"$ids\" ] || docker rm -f $ids; docker network prune -f")
            .env("DOCKER_HOST", self.host())
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Whatever networking the daemon made on the host: devices and the firewall table carry
        // a hash of its data root; pinned namespaces live under its exec root.
        let parent = cgroup_parent_for(&self.data_root().display().to_string());
        let hash6 = parent.trim_start_matches("berth-").chars().take(6).collect::<String>();
        if hash6.len() == 6 {
            let script = format!(
                "for l in $(ip -o link show | awk -F': ' '{{print $2}}' | cut -d@ -f1 | grep -E '^(b{hash6}-|v{hash6}|p{hash6})'); do ip link del \"$l\" 2>/dev/null; done; \
                 nft delete table ip berth-{hash6} 2>/dev/null; nft delete table ip6 berth-{hash6} 2>/dev/null; \
                 for n in {exec}/netns/*; do [ -e \"$n\" ] && umount -l \"$n\" 2>/dev/null; done; \
                 while mountpoint -q {exec}/netns 2>/dev/null; do umount -l {exec}/netns || break; done; true",
                exec = self.dir.path().join("exec").display()
            );
            let _ = Command::new("sh").arg("-c").arg(script).stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
        // The daemon's cgroup parent, in every hierarchy (monitors remove their leaves as
        // their containers exit; give the last ones a moment).
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let mut left = false;
            let dirs = std::fs::read_dir("/sys/fs/cgroup")
                .map(|rd| rd.flatten().map(|e| e.path().join(&parent)).collect::<Vec<_>>())
                .unwrap_or_default();
            for d in dirs.into_iter().chain(std::iter::once(Path::new("/sys/fs/cgroup").join(&parent))) {
                if d.is_dir() && std::fs::remove_dir(&d).is_err() {
                    left = true;
                }
            }
            if !left || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The cgroup parent berthd derives from a data root (must match the engine's rule).
pub fn cgroup_parent_for(data_root: &str) -> String {
    let out = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().and_then(|mut c| {
        c.stdin.take().expect("stdin").write_all(data_root.as_bytes())?;
        c.wait_with_output()
    });
    let hex = out.map(|o| String::from_utf8_lossy(&o.stdout).chars().take(12).collect::<String>()).unwrap_or_default();
    format!("berth-{hex}")
}

/// The `berth-registry` binary: `$BERTH_REGISTRY_BIN`, else the newest of `bin_dir()`,
/// `target/debug` and `target/release` (`cargo build -p berth-registry` puts it in
/// `target/debug`); panics with the fix when none was built.
pub fn registry_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_REGISTRY_BIN") {
        return PathBuf::from(p);
    }
    let target = workspace_root().join("target");
    [bin_dir(), target.join("debug"), target.join("release")]
        .into_iter()
        .map(|d| d.join("berth-registry"))
        .filter_map(|p| std::fs::metadata(&p).and_then(|m| m.modified()).ok().map(|t| (t, p)))
        .max()
        .map(|(_, p)| p)
        .expect("berth-registry is missing: run `cargo build -p berth-registry` first")
}

/// A free TCP port on 127.0.0.1 (bound, read and released: another process may take it
/// before the caller binds it, so callers retry on a failed start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("bind 127.0.0.1:0").port()
}

/// A `berth-registry` serving plain HTTP on 127.0.0.1 with a temporary root, killed (and
/// its root removed) on drop. Docker treats 127.0.0.0/8 registries as insecure, so both
/// berthd and dockerd talk to it without TLS.
pub struct Registry {
    child: Option<Child>,
    /// The temporary directory: `root/` (storage) and `registry.log`.
    pub dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`, the registry part of image references.
    pub addr: String,
}

impl Registry {
    /// Start a registry and wait until it answers `GET /v2/`.
    pub fn start() -> Registry {
        Self::start_with(&[])
    }

    /// Start a registry with extra arguments (e.g. `--config FILE`).
    pub fn start_with(extra: &[&str]) -> Registry {
        let dir = tempfile::Builder::new().prefix("berth-reg-").tempdir_in("/tmp").expect("tempdir");
        let mut r = Registry { child: None, dir, addr: String::new() };
        // The port is free when picked but may be taken before the registry binds it: retry.
        for _ in 0..5 {
            r.addr = format!("127.0.0.1:{}", free_port());
            if r.spawn(extra) {
                return r;
            }
        }
        panic!("berth-registry did not start; log:\n{}", r.log());
    }

    fn spawn(&mut self, extra: &[&str]) -> bool {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("registry.log")).expect("log");
        let mut child = Command::new(registry_bin())
            .arg("--listen").arg(&self.addr)
            .arg("--root").arg(self.root())
            .args(extra)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start berth-registry");
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if http_get_status(&self.addr, "/v2/").is_some() {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// The storage root.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// The registry's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT/<repo>` — a repository on this registry.
    pub fn repo(&self, repo: &str) -> String {
        format!("{}/{repo}", self.addr)
    }

    /// Stop the registry (SIGTERM, then SIGKILL); its address stops answering.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET path` over plain HTTP/1.1 to `addr`; the status code, or `None` when nothing
/// answered with HTTP.
pub fn http_get_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    let head = std::str::from_utf8(&head).ok()?;
    head.strip_prefix("HTTP/1.1 ").or_else(|| head.strip_prefix("HTTP/1.0 "))?.trim().parse().ok()
}
