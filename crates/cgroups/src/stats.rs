//! Usage statistics of a cgroup, and the parsers for the files they come from.

/// A snapshot of a cgroup's usage. Controllers that are not available leave their part at
/// its default (zero, empty or `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// CPU time.
    pub cpu: CpuStats,
    /// Memory.
    pub memory: MemoryStats,
    /// Processes.
    pub pids: PidsStats,
    /// Block I/O.
    pub blkio: BlkioStats,
}

/// CPU usage, all times in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Total CPU time consumed.
    pub usage_ns: u64,
    /// Time in user mode.
    pub user_ns: u64,
    /// Time in kernel mode.
    pub system_ns: u64,
    /// Total time per CPU (v1 only; empty on v2).
    pub per_cpu_ns: Vec<u64>,
    /// CFS periods elapsed while the cgroup was runnable.
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    pub throttled_periods: u64,
    /// Total time throttled.
    pub throttled_ns: u64,
}

/// Memory usage, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// Current usage (page cache included, as the kernel counts it).
    pub usage: u64,
    /// Highest usage seen (v1 `memory.max_usage_in_bytes`; v2 `memory.peak`, Linux 5.19+).
    pub max_usage: Option<u64>,
    /// The limit; `None` if unlimited.
    pub limit: Option<u64>,
    /// How often the limit was hit (v1 only).
    pub failcnt: Option<u64>,
    /// `memory.stat`, as key and value, in file order.
    pub stat: Vec<(String, u64)>,
    /// Times the cgroup hit its limit and the OOM killer was invoked (v2 `oom`; 0 on v1).
    pub oom_events: u64,
    /// Processes killed by the OOM killer in this cgroup (v1 `oom_kill` of
    /// `memory.oom_control`, Linux 4.13+; v2 `oom_kill` of `memory.events`). Non-zero after
    /// the container exited means Docker's `OOMKilled`.
    pub oom_kills: u64,
}

/// Process counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PidsStats {
    /// Current number of processes (tasks, on v1).
    pub current: u64,
    /// The limit; `None` if unlimited.
    pub limit: Option<u64>,
}

/// Block I/O counters per device and operation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlkioStats {
    /// Bytes transferred.
    pub service_bytes: Vec<BlkioEntry>,
    /// Operations done.
    pub serviced: Vec<BlkioEntry>,
}

/// One block I/O counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlkioEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// The operation: v1 `Read`, `Write`, `Sync`, `Async`, `Discard`, `Total`; v2 `read`,
    /// `write` (as Docker reports them).
    pub op: String,
    /// The count.
    pub value: u64,
}

/// A limit file's value: `max` (and v1's `-1`) is unlimited (`Some(None)`); `None` if
/// unparsable.
pub(crate) fn parse_u64_or_max(s: &str) -> Option<Option<u64>> {
    match s.trim() {
        "max" | "-1" => Some(None),
        t => t.parse().ok().map(Some),
    }
}

/// `key value` lines (`memory.stat`, `cpu.stat`, `memory.events`); other lines are skipped.
pub(crate) fn parse_flat_keyed(text: &str) -> impl Iterator<Item = (&str, u64)> {
    text.lines().filter_map(|l| {
        let mut it = l.split_whitespace();
        let (k, v) = (it.next()?, it.next()?);
        Some((k, v.parse().ok()?))
    })
}

/// The value of `key` in a flat keyed file.
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    parse_flat_keyed(text).find(|(k, _)| *k == key).map(|(_, v)| v)
}

/// Space-separated numbers (`cpuacct.usage_percpu`).
pub(crate) fn parse_list(text: &str) -> Vec<u64> {
    text.split_whitespace().filter_map(|s| s.parse().ok()).collect()
}

fn parse_dev(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once(':')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// v1 `blkio.*_recursive`: `8:0 Read 4096` lines; the trailing `Total N` line is skipped.
pub(crate) fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (major, minor) = parse_dev(it.next()?)?;
            let op = it.next()?.to_string();
            let value = it.next()?.parse().ok()?;
            Some(BlkioEntry { major, minor, op, value })
        })
        .collect()
}

/// v2 `io.stat`: `8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0` lines, into
/// (bytes, operations) with Docker's `read`/`write` ops.
pub(crate) fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let mut bytes = Vec::new();
    let mut ios = Vec::new();
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some((major, minor)) = it.next().and_then(parse_dev) else { continue };
        for kv in it {
            let Some((k, v)) = kv.split_once('=') else { continue };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "read"),
                "wbytes" => (&mut bytes, "write"),
                "rios" => (&mut ios, "read"),
                "wios" => (&mut ios, "write"),
                _ => continue,
            };
            list.push(BlkioEntry { major, minor, op: op.to_string(), value });
        }
    }
    (bytes, ios)
}

/// v1 reports "unlimited" as a huge page-aligned number (`PAGE_COUNTER_MAX` pages).
pub(crate) fn v1_limit(v: u64) -> Option<u64> {
    (v < 1 << 62).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(major: u64, minor: u64, op: &str, value: u64) -> BlkioEntry {
        BlkioEntry { major, minor, op: op.into(), value }
    }

    #[test]
    fn limits_parse() {
        let cases = [
            ("max", Some(None)),
            ("-1", Some(None)),
            ("100\n", Some(Some(100))),
            ("9223372036854771712", Some(Some(9223372036854771712))),
            ("", None),
            ("lots", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_u64_or_max(text), want, "{text:?}");
        }
        assert_eq!(v1_limit(9223372036854771712), None);
        assert_eq!(v1_limit(1 << 30), Some(1 << 30));
    }

    #[test]
    fn flat_keyed_and_lists_parse() {
        let stat = "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nbroken\nnr_periods x\n";
        let got: Vec<_> = parse_flat_keyed(stat).collect();
        assert_eq!(got, vec![("usage_usec", 1500), ("user_usec", 1000), ("system_usec", 500)]);
        assert_eq!(keyed(stat, "system_usec"), Some(500));
        assert_eq!(keyed(stat, "nr_periods"), None);
        assert_eq!(parse_list("10 20 30 \n"), vec![10, 20, 30]);
        assert_eq!(parse_list(""), Vec::<u64>::new());
    }

    #[test]
    fn blkio_v1_and_io_stat_parse() {
        let v1 = "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n";
        assert_eq!(
            parse_blkio_v1(v1),
            vec![
                e(8, 0, "Read", 4096),
                e(8, 0, "Write", 8192),
                e(8, 0, "Sync", 0),
                e(8, 0, "Async", 12288),
                e(8, 0, "Discard", 0),
                e(8, 0, "Total", 12288),
            ]
        );
        let v2 = "8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n259:1 rbytes=5 wbytes=0 rios=1 wios=0\n";
        let (bytes, ios) = parse_io_stat(v2);
        assert_eq!(
            bytes,
            vec![
                e(8, 0, "read", 100),
                e(8, 0, "write", 200),
                e(259, 1, "read", 5),
                e(259, 1, "write", 0)
            ]
        );
        assert_eq!(
            ios,
            vec![
                e(8, 0, "read", 1),
                e(8, 0, "write", 2),
                e(259, 1, "read", 1),
                e(259, 1, "write", 0)
            ]
        );
    }
}
