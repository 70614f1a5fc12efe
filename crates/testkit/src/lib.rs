//! Test helpers: root checks, a busybox rootfs built from the host's `busybox-static`, a
//! Debian bookworm base with gcc made once per machine with `debootstrap`, and a real berthd
//! on throwaway roots.
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

/// The Debian mirror this machine's apt uses for bookworm (`$BERTH_DEBIAN_MIRROR` overrides;
/// `http://deb.debian.org/debian` when apt names none).
pub fn debian_mirror() -> String {
    if let Ok(m) = std::env::var("BERTH_DEBIAN_MIRROR") {
        if !m.is_empty() {
            return m;
        }
    }
    let mut sources = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(rd) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        more.sort();
        sources.extend(more);
    }
    for p in sources {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        if let Some(m) = bookworm_mirror(&text) {
            return m;
        }
    }
    "http://deb.debian.org/debian".to_string()
}

/// The archive URI serving the `bookworm` suite in an apt sources file (one-line `deb URI
/// bookworm main` or deb822 stanzas), security archives left out.
fn bookworm_mirror(text: &str) -> Option<String> {
    let not_security = |u: &str| !u.contains("security");
    // One-line format.
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().filter(|w| !w.starts_with('[')).collect();
        if words.len() >= 3 && words[0] == "deb" && words[2] == "bookworm" && not_security(words[1]) {
            return Some(words[1].trim_end_matches('/').to_string());
        }
    }
    // deb822: stanzas separated by blank lines.
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().to_string())
            })
        };
        let (Some(uris), Some(suites)) = (field("URIs"), field("Suites")) else { continue };
        let types = field("Types").unwrap_or_else(|| "deb".into());
        if types.split_whitespace().any(|t| t == "deb") && suites.split_whitespace().any(|s| s == "bookworm") {
            if let Some(u) = uris.split_whitespace().find(|u| not_security(u)) {
                return Some(u.trim_end_matches('/').to_string());
            }
        }
    }
    None
}

/// Unmount everything mounted at or below `dir`, deepest first (lazily).
pub fn unmount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(&p).stderr(Stdio::null()).status();
    }
}

/// An exclusive `flock` on a file, released on drop (serialises work across test processes).
pub struct FileLock(std::fs::File);

impl FileLock {
    /// Block until the lock on `path` (created if missing) is ours.
    pub fn acquire(path: &Path) -> std::io::Result<FileLock> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        loop {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
                return Ok(FileLock(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // SAFETY: unlocking our own descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// What the Debian base image holds: `debootstrap --variant=minbase --include=gcc,libc6-dev
/// bookworm` (a C compiler and the static libc, so `gcc -static` works).
pub const DEBIAN_INCLUDE: &str = "gcc,libc6-dev";

/// A tarball of a Debian bookworm root filesystem with gcc, made once per machine with
/// `debootstrap --variant=minbase --include=gcc,libc6-dev bookworm` from the mirror apt uses
/// ([`debian_mirror`]) and cached as `target/testkit/debian-bookworm-gcc.tar`.
///
/// Concurrent callers (test processes) are serialised by `debian-bookworm-gcc.lock`; the
/// tarball is written under a temporary name and renamed into place, so a present file is
/// always whole. `/dev` is left empty (as in Docker images). Errors: debootstrap missing
/// (`scripts/deps` installs it) or failing (its log is in the message).
pub fn debian_tar() -> Result<PathBuf, String> {
    static TAR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    TAR.get_or_init(make_debian_tar).clone()
}

fn make_debian_tar() -> Result<PathBuf, String> {
    let dir = workspace_root().join("target/testkit");
    let tar = dir.join("debian-bookworm-gcc.tar");
    if tar.is_file() {
        return Ok(tar);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let _lock = FileLock::acquire(&dir.join("debian-bookworm-gcc.lock")).map_err(|e| format!("lock: {e}"))?;
    if tar.is_file() {
        return Ok(tar); // another process made it while we waited
    }
    let debootstrap = ["/usr/sbin/debootstrap", "/usr/bin/debootstrap", "/sbin/debootstrap"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or("debootstrap is not installed (scripts/deps installs it)")?;
    let work = tempfile::Builder::new().prefix("debian-").tempdir_in(&dir).map_err(|e| format!("tempdir: {e}"))?;
    let root = work.path().join("rootfs");
    let log_path = work.path().join("debootstrap.log");
    let log = std::fs::File::create(&log_path).map_err(|e| format!("log: {e}"))?;
    let started = Instant::now();
    eprintln!("testkit: making the Debian base image (debootstrap, a few minutes, once per machine) in {}", root.display());
    let status = Command::new(&debootstrap)
        .arg("--variant=minbase")
        .arg(format!("--include={DEBIAN_INCLUDE}"))
        .arg("bookworm")
        .arg(&root)
        .arg(debian_mirror())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| format!("log: {e}"))?)
        .stderr(log)
        .status();
    // debootstrap mounts proc, sys and (in containers) /dev binds inside the target: make
    // sure none is left before anything below is read or removed.
    unmount_under(&root);
    let failed = |what: String| {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("{what}; debootstrap log (last lines):\n{}", tail.join("\n"))
    };
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => return Err(failed(format!("debootstrap failed ({s})"))),
        Err(e) => return Err(failed(format!("run debootstrap: {e}"))),
    }
    // An image's /dev is empty (the runtime fills it); apt's downloaded packages are dead weight.
    for d in ["dev", "var/cache/apt/archives", "var/lib/apt/lists"] {
        let p = root.join(d);
        if let Ok(rd) = std::fs::read_dir(&p) {
            for e in rd.flatten() {
                let path = e.path();
                let _ = if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
    let tmp = work.path().join("debian.tar");
    let st = Command::new("tar")
        .arg("--numeric-owner")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tmp)
        .arg(".")
        .status()
        .map_err(|e| format!("run tar: {e}"))?;
    if !st.success() {
        return Err(format!("tar of {} failed", root.display()));
    }
    std::fs::rename(&tmp, &tar).map_err(|e| format!("install {}: {e}", tar.display()))?;
    eprintln!("testkit: Debian base image ready in {:.0?}: {}", started.elapsed(), tar.display());
    Ok(tar)
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

    /// Stop berthd as a service manager would: SIGTERM, then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if let Some(c) = self.child.take() {
            terminate(c);
        }
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

    /// Import the Debian bookworm base with gcc ([`debian_tar`], made on first use) as `name`
    /// (e.g. `debian-gcc:bookworm`) through the real CLI (`docker import`). `Err` only when
    /// the base cannot be made (no debootstrap, no mirror): callers skip loudly; a failed
    /// import panics.
    pub fn import_debian(&self, name: &str) -> Result<(), String> {
        let tar = debian_tar()?;
        let out = self.docker().arg("import").arg(&tar).arg(name).output().expect("docker import");
        assert!(out.status.success(), "import of {} failed: {}\n{}", tar.display(), String::from_utf8_lossy(&out.stderr), self.log());
        Ok(())
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
        self.stop();
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
        if let Some(c) = self.child.take() {
            terminate(c);
        }
    }
}

/// SIGTERM a child, give it 5 s to exit, then SIGKILL it; reaped either way.
fn terminate(mut c: Child) {
    // SAFETY: signalling our own child, not yet reaped.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bookworm_mirror_from_apt_sources() {
        let cases: Vec<(&str, Option<&str>)> = vec![
            ("deb http://deb.debian.org/debian bookworm main\n", Some("http://deb.debian.org/debian")),
            ("# c\ndeb [arch=amd64] http://mirror.example/debian/ bookworm main contrib\n", Some("http://mirror.example/debian")),
            ("deb http://security.debian.org/debian-security bookworm-security main\n", None),
            ("deb http://x/debian bullseye main\n", None),
            (
                "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
                 Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n",
                Some("http://deb.debian.org/debian"),
            ),
            ("Types: deb-src\nURIs: http://src/debian\nSuites: bookworm\n", None),
            ("Types: deb\nURIs: https://deb.nodesource.com/node_20.x\nSuites: nodistro\n", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(bookworm_mirror(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn file_locks_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = FileLock::acquire(&path).unwrap();
        // A second open file description cannot take it while held.
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        // SAFETY: flock on our own descriptor.
        assert_ne!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
        drop(held);
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    }
}

static UNIQUE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A name unique across the tests of this process and across test processes:
/// `<prefix><pid>x<counter>`.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}x{}", std::process::id(), UNIQUE.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
}

/// Run a command with a deadline: (exit code, stdout, stderr). A command that cannot start or
/// does not exit within `secs` is -1 (a hung one is killed, and stderr says so).
pub fn run_deadline(cmd: &mut Command, secs: u64) -> (i32, String, String) {
    use std::io::Read;
    let mut child = match cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => return (-1, String::new(), format!("spawn {cmd:?}: {e}")),
    };
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut v);
            }
            v
        })
    };
    let t1 = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let t2 = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let out = String::from_utf8_lossy(&t1.join().unwrap_or_default()).into_owned();
    let mut err = String::from_utf8_lossy(&t2.join().unwrap_or_default()).into_owned();
    let code = match status {
        Some(st) => st.code().unwrap_or(-1),
        None => {
            err.push_str(&format!("\n(killed: no exit within {secs} s)"));
            -1
        }
    };
    (code, out, err)
}
