//! `Manager::stats` read from fixture files: the files a cgroup v2 leaf and the v1
//! hierarchies hold (captured shapes of Linux 6.x), so both versions' parsing is checked on
//! any host, without root.

use std::path::PathBuf;

use berth_cgroups::{BlkioEntry, Cgroup, Controller, Layout, Manager};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn e(major: u64, minor: u64, op: &str, value: u64) -> BlkioEntry {
    BlkioEntry { major, minor, op: op.into(), value }
}

#[test]
fn v2_stats_parse_from_a_leafs_files() {
    use Controller::*;
    let layout = Layout::v2(fixtures().join("v2"), [Cpu, Memory, Pids, Blkio]);
    let s = Cgroup::new(&layout, "c1").expect("cgroup").stats().expect("stats");
    // cpu.stat is in microseconds; Stats are nanoseconds.
    assert_eq!((s.cpu.usage_ns, s.cpu.user_ns, s.cpu.system_ns), (2_500_000_000, 2_000_000_000, 500_000_000));
    assert_eq!((s.cpu.periods, s.cpu.throttled_periods, s.cpu.throttled_ns), (40, 12, 600_000_000));
    assert!(s.cpu.per_cpu_ns.is_empty(), "v2 has no per-CPU times");
    let m = &s.memory;
    assert_eq!((m.usage, m.limit, m.max_usage, m.failcnt), (10_485_760, Some(52_428_800), Some(12_582_912), None));
    assert_eq!((m.oom_events, m.oom_kills), (2, 1));
    assert_eq!(m.stat.first(), Some(&("anon".to_string(), 6_291_456)));
    assert!(m.stat.contains(&("inactive_file".to_string(), 3_145_728)));
    assert_eq!(m.stat.len(), 27, "every memory.stat line, in file order");
    assert_eq!((s.pids.current, s.pids.limit), (4, Some(100)));
    assert_eq!(s.blkio.service_bytes, vec![e(8, 0, "read", 4096), e(8, 0, "write", 1_048_576), e(253, 0, "read", 512), e(253, 0, "write", 0)]);
    assert_eq!(s.blkio.serviced, vec![e(8, 0, "read", 1), e(8, 0, "write", 16), e(253, 0, "read", 2), e(253, 0, "write", 0)]);

    // Without the memory, pids and io controllers only cpu.stat is read.
    let layout = Layout::v2(fixtures().join("v2"), [Cpu]);
    let s = Cgroup::new(&layout, "c1").expect("cgroup").stats().expect("stats");
    assert_eq!(s.cpu.usage_ns, 2_500_000_000);
    assert_eq!((s.memory.usage, s.pids.current, s.blkio.service_bytes.len()), (0, 0, 0));
}

#[test]
fn v1_stats_parse_from_each_hierarchy() {
    let root = fixtures().join("v1");
    let layout = Layout::v1([
        (Controller::Cpu, root.join("cpu,cpuacct")),
        (Controller::Cpuacct, root.join("cpu,cpuacct")),
        (Controller::Memory, root.join("memory")),
        (Controller::Pids, root.join("pids")),
        (Controller::Blkio, root.join("blkio")),
    ]);
    let s = Cgroup::new(&layout, "c1").expect("cgroup").stats().expect("stats");
    assert_eq!((s.cpu.usage_ns, s.cpu.user_ns, s.cpu.system_ns), (2_500_000_000, 2_000_000_000, 500_000_000));
    assert_eq!(s.cpu.per_cpu_ns, vec![1_500_000_000, 1_000_000_000]);
    assert_eq!((s.cpu.periods, s.cpu.throttled_periods, s.cpu.throttled_ns), (40, 12, 600_000_000));
    let m = &s.memory;
    assert_eq!((m.usage, m.max_usage, m.failcnt), (10_485_760, Some(12_582_912), Some(7)));
    assert_eq!(m.limit, None, "v1's page-rounded 'unlimited' is no limit");
    assert_eq!((m.oom_events, m.oom_kills), (0, 1));
    assert!(m.stat.contains(&("total_inactive_file".to_string(), 3_145_728)));
    assert_eq!((s.pids.current, s.pids.limit), (4, None));
    // The CFQ files are empty (no CFQ scheduler): the throttle files are used.
    assert_eq!(s.blkio.service_bytes.len(), 6);
    assert_eq!(s.blkio.service_bytes[1], e(8, 0, "Write", 1_048_576));
    assert_eq!(s.blkio.serviced[0], e(8, 0, "Read", 1));
}
