//! Privileged tests against this host's real cgroup hierarchies. They need root and skip
//! loudly without it. Every test works under its own `berth-test-*` parent, removed by a
//! guard even when an assertion fails.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_cgroups::fake::FakeManager;
use berth_cgroups::{
    probe, Cgroup, Controller, DeviceKind, DeviceRule, FreezerState, Layout, Manager, Resources,
    Version,
};
use common::{conformance, eventually, run_in, unique_parent, v2_layout, Guard};

fn v1_layout() -> Option<Layout> {
    let l = probe().expect("probe");
    if l.version() != Version::V1 {
        eprintln!("SKIPPED: this host is not cgroup v1");
        return None;
    }
    Some(l)
}

fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("read {}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

/// The one-letter state of a process (R, S, D, T, ...).
fn proc_state(pid: i32) -> char {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The state follows the parenthesised command name.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.trim_start().chars().next()).unwrap_or('?')
}

fn wchan(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default()
}

#[test]
fn conformance_fake() {
    let m = FakeManager::new("berth-x/c1");
    conformance(&m, 4242, || {});
}

#[test]
fn conformance_v1() {
    requires_root!();
    let Some(layout) = v1_layout() else { return };
    let mut g = Guard::new(&layout, &unique_parent("conf1"));
    let cg = g.leaf(&layout, "c1");
    let pid = g.sleeper();
    let mut child = g.children.pop().expect("child");
    conformance(&cg, pid, || {
        let _ = child.wait();
    });
}

#[test]
fn conformance_v2() {
    requires_root!();
    let Some(layout) = v2_layout() else {
        eprintln!("SKIPPED: no cgroup2 hierarchy on this host");
        return;
    };
    let mut g = Guard::new(&layout, &unique_parent("conf2"));
    let cg = g.leaf(&layout, "c1");
    let pid = g.sleeper();
    let mut child = g.children.pop().expect("child");
    conformance(&cg, pid, || {
        let _ = child.wait();
    });
}

#[test]
fn v1_lifecycle_limits_freeze_stats_destroy() {
    requires_root!();
    let Some(layout) = v1_layout() else { return };
    let mut g = Guard::new(&layout, &unique_parent("life"));
    let cg = g.leaf(&layout, "c1");
    let res = Resources {
        memory: Some(64 << 20),
        memory_swap: Some(128 << 20),
        memory_reservation: Some(32 << 20),
        cpu_shares: Some(512),
        cpu_quota: Some(50_000),
        cpu_period: Some(100_000),
        cpuset_cpus: Some("0".into()),
        pids_limit: Some(50),
        ..Default::default()
    };
    cg.create(&res).expect("create");
    let sleeper = g.sleeper();
    cg.add_pid(sleeper).expect("add_pid");
    assert_eq!(cg.pids().unwrap(), vec![sleeper]);

    // The process is in our cgroup in every hierarchy.
    let own = fs::read_to_string(format!("/proc/{sleeper}/cgroup")).unwrap();
    for line in own.lines().filter(|l| !l.starts_with("0::")) {
        assert!(line.ends_with(&format!("/{}", cg.path())), "not moved: {line}");
    }

    let dir = |c| cg.dir(c).expect("controller mounted");
    if layout.has(Controller::Memory) {
        assert_eq!(read(dir(Controller::Memory), "memory.limit_in_bytes"), "67108864");
        assert_eq!(read(dir(Controller::Memory), "memory.soft_limit_in_bytes"), "33554432");
        if layout.support().swap {
            assert_eq!(read(dir(Controller::Memory), "memory.memsw.limit_in_bytes"), "134217728");
        }
    }
    if layout.has(Controller::Cpu) {
        assert_eq!(read(dir(Controller::Cpu), "cpu.shares"), "512");
        assert_eq!(read(dir(Controller::Cpu), "cpu.cfs_quota_us"), "50000");
        assert_eq!(read(dir(Controller::Cpu), "cpu.cfs_period_us"), "100000");
    }
    if layout.has(Controller::Cpuset) {
        assert_eq!(read(dir(Controller::Cpuset), "cpuset.cpus"), "0");
        assert!(!read(dir(Controller::Cpuset), "cpuset.mems").is_empty(), "mems inherited");
    }
    if layout.has(Controller::Pids) {
        assert_eq!(read(dir(Controller::Pids), "pids.max"), "50");
    }

    // Raising memory above the current memory+swap needs the swap limit written first.
    cg.apply(&Resources {
        memory: Some(256 << 20),
        memory_swap: Some(512 << 20),
        pids_limit: Some(10),
        ..Default::default()
    })
    .expect("apply raise");
    if layout.has(Controller::Memory) {
        assert_eq!(read(dir(Controller::Memory), "memory.limit_in_bytes"), "268435456");
    }
    if layout.has(Controller::Pids) {
        assert_eq!(read(dir(Controller::Pids), "pids.max"), "10");
    }
    cg.apply(&Resources { pids_limit: Some(-1), ..Default::default() }).expect("apply unlimited");
    if layout.has(Controller::Pids) {
        assert_eq!(read(dir(Controller::Pids), "pids.max"), "max");
    }

    // Freeze: the sleeper stops (v1 frozen tasks show as D, older kernels T).
    if layout.has(Controller::Freezer) {
        assert!(matches!(proc_state(sleeper), 'S' | 'R'));
        cg.freeze().expect("freeze");
        assert_eq!(cg.state().unwrap(), FreezerState::Frozen);
        assert!(matches!(proc_state(sleeper), 'D' | 'T'), "frozen state {}", proc_state(sleeper));
        cg.thaw().expect("thaw");
        assert_eq!(cg.state().unwrap(), FreezerState::Thawed);
        eventually("sleeper running again", || matches!(proc_state(sleeper), 'S' | 'R'));
    }

    let stats = cg.stats().expect("stats");
    if layout.has(Controller::Pids) {
        assert_eq!(stats.pids.current, 1);
        assert_eq!(stats.pids.limit, None);
    }
    if layout.has(Controller::Memory) {
        assert_eq!(stats.memory.limit, Some(256 << 20));
        assert!(
            stats.memory.stat.iter().any(|(k, _)| k == "rss" || k == "anon"),
            "{:?}",
            stats.memory.stat
        );
        assert_eq!(stats.memory.oom_kills, 0);
    }
    if layout.has(Controller::Cpuacct) {
        assert!(!stats.cpu.per_cpu_ns.is_empty());
    }
    eprintln!("stats: {stats:?}");

    // Destroy refuses while a process is inside, then works and removes every directory.
    let start = Instant::now();
    assert!(cg.destroy().is_err(), "destroy with a member");
    assert!(start.elapsed() < Duration::from_secs(2));
    cg.kill_all(libc::SIGKILL).expect("kill_all");
    let mut child = g.children.pop().unwrap();
    child.wait().unwrap();
    cg.destroy().expect("destroy");
    for d in cg.dirs() {
        assert!(!d.exists(), "{} still exists", d.display());
    }
    cg.destroy().expect("destroy is idempotent");
}

#[test]
fn v1_cpuset_is_inherited_down_new_parents() {
    requires_root!();
    let Some(layout) = v1_layout() else { return };
    if !layout.has(Controller::Cpuset) {
        eprintln!("SKIPPED: no cpuset hierarchy");
        return;
    }
    let mut g = Guard::new(&layout, &unique_parent("cpuset"));
    let cg = g.leaf(&layout, "a/b/c");
    cg.create(&Resources { cpuset_mems: Some("0".into()), ..Default::default() }).expect("create");
    let leaf = cg.dir(Controller::Cpuset).unwrap();
    let root = layout.mount(Controller::Cpuset).unwrap();
    let mut d = leaf.to_path_buf();
    while d != root {
        assert!(!read(&d, "cpuset.cpus").is_empty(), "cpus empty at {}", d.display());
        assert!(!read(&d, "cpuset.mems").is_empty(), "mems empty at {}", d.display());
        d.pop();
    }
    let pid = g.sleeper();
    cg.add_pid(pid).expect("tasks can join");
}

#[test]
fn v1_device_rules_are_enforced() {
    requires_root!();
    let Some(layout) = v1_layout() else { return };
    if !layout.has(Controller::Devices) {
        eprintln!("SKIPPED: no devices hierarchy");
        return;
    }
    let mut g = Guard::new(&layout, &unique_parent("dev1"));
    let cg = g.leaf(&layout, "c1");
    cg.create(&Resources { devices: null_only(), ..Default::default() }).expect("create");
    assert_eq!(read(cg.dir(Controller::Devices).unwrap(), "devices.list"), "c 1:3 rwm");
    check_null_only(&cg);
}

#[test]
fn v2_device_filter_is_enforced() {
    requires_root!();
    let Some(layout) = v2_layout() else {
        eprintln!("SKIPPED: no cgroup2 hierarchy on this host");
        return;
    };
    let mut g = Guard::new(&layout, &unique_parent("dev2"));
    let cg = g.leaf(&layout, "c1");
    cg.create(&Resources { devices: null_only(), ..Default::default() }).expect("create");
    check_null_only(&cg);
    // Replacing the rules detaches the old program: now everything is allowed.
    let all = vec![DeviceRule {
        allow: true,
        kind: DeviceKind::All,
        major: None,
        minor: None,
        access: "rwm".into(),
    }];
    cg.apply(&Resources { devices: all, ..Default::default() }).expect("apply");
    let (out, err) = run_in(&cg, "head -c1 /dev/zero >/dev/null && echo zero-ok");
    assert_eq!(out, "zero-ok\n", "stderr: {err}");
}

fn null_only() -> Vec<DeviceRule> {
    vec![
        DeviceRule {
            allow: false,
            kind: DeviceKind::All,
            major: None,
            minor: None,
            access: "rwm".into(),
        },
        DeviceRule {
            allow: true,
            kind: DeviceKind::Char,
            major: Some(1),
            minor: Some(3),
            access: "rwm".into(),
        },
    ]
}

fn check_null_only(cg: &Cgroup) {
    let (out, err) = run_in(
        cg,
        "echo x >/dev/null && echo null-ok; head -c1 /dev/zero >/dev/null && echo zero-ok; exit 0",
    );
    assert_eq!(out, "null-ok\n", "stderr: {err}");
    assert!(err.contains("Operation not permitted"), "stderr: {err}");
}

#[test]
fn v2_freeze_kill_and_pids_on_cgroup2() {
    requires_root!();
    let Some(layout) = v2_layout() else {
        eprintln!("SKIPPED: no cgroup2 hierarchy on this host");
        return;
    };
    let mut g = Guard::new(&layout, &unique_parent("v2"));
    let cg = g.leaf(&layout, "c1");
    cg.create(&Resources::default()).expect("create");
    let a = g.sleeper();
    let b = g.sleeper();
    cg.add_pid(a).unwrap();
    cg.add_pid(b).unwrap();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(cg.pids().unwrap(), want);
    // A frozen v2 task sleeps in the signal-delivery path (wchan get_signal or
    // do_freezer_trap), and leaves it once thawed.
    let before = wchan(a);
    cg.freeze().expect("freeze");
    assert_eq!(cg.state().unwrap(), FreezerState::Frozen);
    eventually("frozen wchan", || wchan(a) != before);
    let frozen = wchan(a);
    eprintln!("wchan: running {before}, frozen {frozen}");
    cg.thaw().expect("thaw");
    assert_eq!(cg.state().unwrap(), FreezerState::Thawed);
    eventually("thawed wchan", || wchan(a) != frozen);
    let st = cg.stats().expect("stats");
    eprintln!("v2 stats: {st:?}");
    cg.kill_all(libc::SIGKILL).expect("kill_all");
    for mut c in g.children.drain(..) {
        let status = c.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    }
    cg.destroy().expect("destroy");
    assert!(!cg.dirs()[0].exists());
}

#[test]
fn destroy_removes_cgroups_created_below_the_leaf() {
    requires_root!();
    let layout = probe().expect("probe");
    let mut g = Guard::new(&layout, &unique_parent("nested"));
    let cg = g.leaf(&layout, "c1");
    cg.create(&Resources::default()).expect("create");
    for d in cg.dirs() {
        fs::create_dir(d.join("inner")).unwrap();
        fs::create_dir(d.join("inner/deeper")).unwrap();
    }
    cg.destroy().expect("destroy");
    for d in cg.dirs() {
        assert!(!d.exists(), "{}", d.display());
    }
}

#[test]
fn layout_text_round_trips_on_this_host() {
    let Ok(layout) = probe() else {
        eprintln!("SKIPPED: no cgroups mounted");
        return;
    };
    let text = layout.to_string();
    eprintln!("layout ({} bytes): {text}", text.len());
    eprintln!("support: {:?}", layout.support());
    assert_eq!(text.parse::<Layout>().unwrap(), layout);
}

/// The container start path: create (with typical limits) + add_pid + destroy, measured on
/// this host. One `sleep` hops from each new cgroup to the next, so every iteration also
/// empties the previous cgroup before destroying it, as a real exit does.
#[test]
fn start_path_timing() {
    requires_root!();
    let layout = probe().expect("probe");
    let mut g = Guard::new(&layout, &unique_parent("timing"));
    let pid = g.sleeper();
    let res = Resources {
        memory: Some(256 << 20),
        memory_swap: Some(512 << 20),
        cpu_shares: Some(512),
        pids_limit: Some(1000),
        ..Default::default()
    };
    let mut res = res;
    res.discard_unsupported(&layout.support());
    // Warm up: the parent exists from here on, as on a running daemon.
    let first = Cgroup::new(&layout, &format!("{}/warm", g.parent.path())).unwrap();
    first.create(&res).unwrap();
    first.add_pid(pid).unwrap();
    let mut prev = first;

    const N: u32 = 200;
    let (mut t_create, mut t_add, mut t_destroy) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let total = Instant::now();
    for i in 0..N {
        let cg = Cgroup::new(&layout, &format!("{}/c{i}", g.parent.path())).unwrap();
        let t = Instant::now();
        cg.create(&res).unwrap();
        t_create += t.elapsed();
        let t = Instant::now();
        cg.add_pid(pid).unwrap();
        t_add += t.elapsed();
        let t = Instant::now();
        prev.destroy().unwrap();
        t_destroy += t.elapsed();
        prev = cg;
    }
    let total = total.elapsed();
    eprintln!(
        "cgroup {:?} start path over {N} runs: create+apply {:?}, add_pid {:?}, destroy {:?}, total {:?} per container",
        layout.version(),
        t_create / N,
        t_add / N,
        t_destroy / N,
        total / N
    );
    g.leaves.push(prev);
}
