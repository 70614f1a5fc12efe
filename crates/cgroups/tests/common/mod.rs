//! Helpers for the privileged tests: root check, unique names, a cleanup guard, and the
//! conformance suite every [`Manager`] must pass.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use berth_cgroups::{Cgroup, FreezerState, Layout, Manager, Resources};

/// Skip the test (loudly) unless we are root.
#[macro_export]
macro_rules! requires_root {
    () => {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED {}: needs root", module_path!());
            return;
        }
    };
}

/// A parent path nobody else uses: `berth-test-<pid>-<nanos>-<tag>`.
pub fn unique_parent(tag: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("berth-test-{}-{nanos}-{tag}", std::process::id())
}

/// The cgroup2 mount of this host, if any (the unified hierarchy of a hybrid host, or the
/// root of a pure v2 host).
pub fn cgroup2_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        if !right.starts_with("cgroup2 ") {
            return None;
        }
        left.split(' ').nth(4).map(PathBuf::from)
    })
}

/// A layout over the cgroup2 hierarchy: the probed one on v2 hosts, else the unified
/// hierarchy of a hybrid host with no controllers (freeze, kill, pids and eBPF still work).
pub fn v2_layout() -> Option<Layout> {
    let probed = berth_cgroups::probe().ok()?;
    if probed.version() == berth_cgroups::Version::V2 {
        return Some(probed);
    }
    cgroup2_mount().map(|root| Layout::v2(root, []))
}

/// Owns what a test creates: processes are killed and the parent cgroup (with every leaf
/// below it) is removed on drop, even when an assertion failed.
pub struct Guard {
    pub parent: Cgroup,
    pub leaves: Vec<Cgroup>,
    pub children: Vec<Child>,
}

impl Guard {
    pub fn new(layout: &Layout, parent: &str) -> Guard {
        Guard {
            parent: Cgroup::new(layout, parent).expect("parent path"),
            leaves: Vec::new(),
            children: Vec::new(),
        }
    }

    /// A leaf below the parent.
    pub fn leaf(&mut self, layout: &Layout, name: &str) -> Cgroup {
        let cg = Cgroup::new(layout, &format!("{}/{name}", self.parent.path())).expect("leaf path");
        self.leaves.push(cg.clone());
        cg
    }

    /// Spawn `sleep 1000`.
    pub fn sleeper(&mut self) -> i32 {
        let child = Command::new("sleep").arg("1000").spawn().expect("spawn sleep");
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for leaf in &self.leaves {
            let _ = leaf.thaw();
            let _ = leaf.kill_all(libc::SIGKILL);
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Err(e) = self.parent.destroy() {
            eprintln!("cleanup of {} failed: {e}", self.parent.path());
        }
    }
}

/// Run `script` with `sh -c` inside `cg`: the shell waits for a line on stdin, which it gets
/// only after it was moved into the cgroup. Returns stdout and stderr.
pub fn run_in(cg: &dyn Manager, script: &str) -> (String, String) {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("read _ || exit 99; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let added = cg.add_pid(child.id() as i32);
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"go\n");
    drop(stdin);
    let out = child.wait_with_output().expect("wait sh");
    added.expect("add_pid");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Wait until `f` holds, for up to two seconds.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(2);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The conformance suite: what every [`Manager`] must do, observed through the trait only.
/// `pid` is a live process the manager may move around; `reap` waits for it after SIGKILL
/// (a no-op for the fake).
pub fn conformance(m: &dyn Manager, pid: i32, mut reap: impl FnMut()) {
    use berth_errdefs::{HasKind, Kind};

    // Before create: operations on members fail with NotFound; destroy is fine.
    assert_eq!(m.pids().unwrap_err().kind(), Kind::NotFound, "pids before create");
    m.destroy().expect("destroy before create");

    m.create(&Resources::default()).expect("create");
    m.create(&Resources::default()).expect("create again");
    assert_eq!(m.pids().unwrap(), Vec::<i32>::new());
    m.add_pid(pid).expect("add_pid");
    m.add_pid(pid).expect("add_pid again");
    assert_eq!(m.pids().unwrap(), vec![pid]);
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);

    m.freeze().expect("freeze");
    assert_eq!(m.state().unwrap(), FreezerState::Frozen);
    m.freeze().expect("freeze again");
    m.thaw().expect("thaw");
    assert_eq!(m.state().unwrap(), FreezerState::Thawed);

    m.apply(&Resources::default()).expect("apply nothing");
    assert_eq!(m.destroy().unwrap_err().kind(), Kind::Conflict, "destroy with a member");

    // SIGKILL while frozen still kills.
    m.freeze().expect("freeze before kill");
    m.kill_all(libc::SIGKILL).expect("kill_all");
    reap();
    eventually("empty cgroup", || m.pids().map(|p| p.is_empty()).unwrap_or(false));
    assert_eq!(m.state().unwrap(), FreezerState::Thawed, "thawed after SIGKILL");

    m.destroy().expect("destroy");
    m.destroy().expect("destroy again");
    assert_eq!(m.pids().unwrap_err().kind(), Kind::NotFound, "pids after destroy");
}
