//! Resource limits end to end: the real docker CLI (and `berth` for stats and update) against
//! a real berthd on throwaway roots. Each test starts its own daemon (its containers and
//! cgroups go with it) and uses unique names.
//!
//! What we assert is Docker's behaviour: an OOM kill (`OOMKilled`, 137, an `oom` event), a
//! fork bomb held at `--pids-limit`, a busy loop held near `--cpus`, live `update`s, the
//! stats API's fields, Docker's errors for limits the host cannot honour, `--device`.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_testkit::{cgroup_parent_for, requires_root, run, Daemon, unique};
use serde_json::Value as Json;

/// A daemon with busybox imported.
fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    d
}

fn docker(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    run(d.docker().args(args))
}

fn docker_ok(d: &Daemon, args: &[&str]) -> String {
    let (code, out, err) = docker(d, args);
    assert_eq!(code, 0, "docker {args:?} failed ({code}): {out}{err}\nberthd log:\n{}", d.log());
    out
}

fn berth_ok(d: &Daemon, args: &[&str]) -> String {
    let (code, out, err) = run(d.berth().args(args));
    assert_eq!(code, 0, "berth {args:?} failed ({code}): {out}{err}");
    out
}

fn inspect(d: &Daemon, name: &str, format: &str) -> String {
    docker_ok(d, &["inspect", "-f", format, name]).trim().to_string()
}

/// `GET path` on the daemon's socket (HTTP/1.0: the answer ends when the connection does);
/// the status and the body as JSON.
fn api_get(d: &Daemon, path: &str) -> (u16, Json) {
    let mut s = UnixStream::connect(&d.socket).expect("connect to berthd");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    write!(s, "GET {path} HTTP/1.0\r\nHost: berth\r\n\r\n").expect("write request");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read answer");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let json = serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{path}: {e}: {body:?}"));
    (status, json)
}

/// The container's cgroup directory for `controller` (cgroup v1 here; v2 has one tree).
fn cgroup_dir(d: &Daemon, controller: &str, id: &str) -> PathBuf {
    let parent = cgroup_parent_for(&d.data_root().display().to_string());
    let v1 = PathBuf::from("/sys/fs/cgroup").join(controller).join(&parent).join(id);
    if v1.is_dir() {
        v1
    } else {
        PathBuf::from("/sys/fs/cgroup").join(parent).join(id)
    }
}

fn read_trim(p: &PathBuf) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display())).trim().to_string()
}

fn poll<T>(what: &str, secs: u64, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => panic!("timed out ({secs} s) waiting for {what}; last: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[test]
fn memory_hog_over_the_limit_is_oom_killed_with_an_oom_event() {
    requires_root!();
    let d = daemon();
    let name = unique("oom");
    let since = now_unix().saturating_sub(1).to_string();
    // The string doubles until it no longer fits in 32 MiB (swap included: there is none, or
    // it is limited to twice the memory).
    let (code, out, err) =
        docker(&d, &["run", "--name", &name, "--memory", "32m", "busybox", "sh", "-c", "x=a; while true; do x=\"$x$x\"; done"]);
    assert_eq!(code, 137, "exit code; out {out} err {err}");
    assert_eq!(inspect(&d, &name, "{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}"), "true 137 33554432");
    let until = (now_unix() + 1).to_string();
    let events = docker_ok(
        &d,
        &["events", "--since", &since, "--until", &until, "--filter", &format!("container={name}"), "--format", "{{.Action}}"],
    );
    let actions: Vec<&str> = events.lines().collect();
    let oom = actions.iter().position(|a| *a == "oom").unwrap_or_else(|| panic!("no oom event in {actions:?}"));
    let die = actions.iter().position(|a| *a == "die").unwrap_or_else(|| panic!("no die event in {actions:?}"));
    assert!(oom < die, "oom comes before die: {actions:?}");
    docker_ok(&d, &["rm", &name]);
}

#[test]
fn fork_bomb_stops_at_the_pids_limit() {
    requires_root!();
    let d = daemon();
    let name = unique("pids");
    // A child shell forks sleepers until fork fails; then the init execs (no fork needed).
    let script = "sh -c 'for i in $(seq 1 200); do sleep 60 & done'; exec sleep 60";
    docker_ok(&d, &["run", "-d", "--name", &name, "--pids-limit", "10", "busybox", "sh", "-c", script]);
    poll("the fork to fail", 20, || {
        let (_, out, err) = docker(&d, &["logs", &name]);
        if format!("{out}{err}").contains("can't fork") {
            Ok(())
        } else {
            Err(format!("logs: {out}{err}"))
        }
    });
    let id = inspect(&d, &name, "{{.Id}}");
    assert_eq!(inspect(&d, &name, "{{.HostConfig.PidsLimit}}"), "10");
    assert_eq!(read_trim(&cgroup_dir(&d, "pids", &id).join("pids.max")), "10");
    let (status, s) = api_get(&d, &format!("/containers/{name}/stats?stream=false&one-shot=true"));
    assert_eq!(status, 200);
    let current = s["pids_stats"]["current"].as_u64().expect("pids_stats.current");
    assert!((1..=10).contains(&current), "pids.current {current} is within the limit: {s}");
    assert_eq!(s["pids_stats"]["limit"], 10);
    assert_eq!(inspect(&d, &name, "{{.State.Running}}"), "true", "the container survives its bomb");
    docker_ok(&d, &["rm", "-f", &name]);
}

/// The host's idle and total CPU ticks (`/proc/stat`).
fn host_ticks() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<f64> = stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let idle = v.get(3).copied().unwrap_or(0.0) + v.get(4).copied().unwrap_or(0.0);
    (idle, v.iter().take(8).sum())
}

/// CPU cores the container used between two stats samples taken `secs` apart, the cores the
/// host left idle meanwhile, and how many CFS periods throttled it.
fn cores_used(d: &Daemon, name: &str, secs: u64) -> (f64, f64, u64) {
    let sample = || {
        let (status, s) = api_get(d, &format!("/containers/{name}/stats?stream=false&one-shot=true"));
        assert_eq!(status, 200, "{s}");
        let total = s["cpu_stats"]["cpu_usage"]["total_usage"].as_f64().expect("total_usage");
        let system = s["cpu_stats"]["system_cpu_usage"].as_f64().expect("system_cpu_usage");
        let online = s["cpu_stats"]["online_cpus"].as_f64().expect("online_cpus");
        let throttled = s["cpu_stats"]["throttling_data"]["throttled_periods"].as_u64().unwrap_or(0);
        (total, system, online, throttled)
    };
    let (i0, h0) = host_ticks();
    let (t0, s0, _, _) = sample();
    std::thread::sleep(Duration::from_secs(secs));
    let (t1, s1, online, throttled) = sample();
    let (i1, h1) = host_ticks();
    ((t1 - t0) / (s1 - s0) * online, (i1 - i0) / (h1 - h0) * online, throttled)
}

#[test]
fn half_a_cpu_holds_a_busy_loop_near_half_a_core_and_stats_report_it() {
    requires_root!();
    let d = daemon();
    let name = unique("cpu");
    // Two busy loops: unlimited they would take both cores.
    docker_ok(&d, &["run", "-d", "--name", &name, "--cpus", "0.5", "busybox", "sh", "-c", "while :; do :; done & while :; do :; done"]);
    let id = inspect(&d, &name, "{{.Id}}");
    assert_eq!(inspect(&d, &name, "{{.HostConfig.NanoCpus}}"), "500000000");
    let cpu = cgroup_dir(&d, "cpu", &id);
    if cpu.join("cpu.cfs_quota_us").exists() {
        assert_eq!(read_trim(&cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read_trim(&cpu.join("cpu.cfs_period_us")), "100000");
    } else {
        assert_eq!(read_trim(&cpu.join("cpu.max")), "50000 100000");
    }
    std::thread::sleep(Duration::from_secs(1));
    let (used, idle, throttled) = cores_used(&d, &name, 5);
    assert!(throttled > 0, "the quota throttled the loops");
    assert!(used <= 0.7, "a --cpus 0.5 busy loop used {used:.2} cores");
    if idle >= 0.2 {
        assert!(used >= 0.3, "a --cpus 0.5 busy loop used {used:.2} cores while {idle:.2} cores were idle");
    } else {
        eprintln!("note: the host was saturated (idle {idle:.2} cores): the loop got {used:.2} cores; lower bound not checked");
    }

    // docker stats --no-stream shows it (one sample over about a second: a wide band).
    let out = docker_ok(&d, &["stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.PIDs}}", &name]);
    let fields: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(fields.first().copied(), Some(name.as_str()), "{out}");
    let pct: f64 = fields[1].trim_end_matches('%').parse().unwrap_or_else(|_| panic!("CPU % in {out:?}"));
    assert!(pct > 0.0 && pct <= 85.0, "docker stats says {pct}% for --cpus 0.5: {out}");
    assert_eq!(fields[2], "2", "two shells: {out}");
    // The default table, through docker and berth.
    for out in [docker_ok(&d, &["stats", "--no-stream"]), berth_ok(&d, &["stats", "--no-stream"])] {
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("CONTAINER ID   NAME"), "{out}");
        for h in ["CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"] {
            assert!(lines[0].contains(h), "{h} in {out}");
        }
        assert!(lines.iter().any(|l| l.starts_with(&id[..12]) && l.contains(&name)), "{out}");
    }
    let out = berth_ok(&d, &["stats", "--no-stream", "--no-trunc", "--format", "{{.ID}} {{.Container}} {{.Name}}", &name]);
    assert_eq!(out.trim(), format!("{id} {name} {name}"));
    docker_ok(&d, &["rm", "-f", &name]);
}

#[test]
fn stats_api_reports_dockers_fields() {
    requires_root!();
    let d = daemon();
    let name = unique("st");
    docker_ok(&d, &["run", "-d", "--name", &name, "--memory", "64m", "--pids-limit", "50", "busybox", "sleep", "60"]);
    let id = inspect(&d, &name, "{{.Id}}");
    let (status, s) = api_get(&d, &format!("/containers/{name}/stats?stream=false"));
    assert_eq!(status, 200);
    assert_eq!(s["id"], Json::String(id.clone()));
    assert_eq!(s["name"], Json::String(format!("/{name}")));
    assert!(s["read"].as_str().is_some_and(|r| r.starts_with("20")), "read: {s}");
    assert!(s["preread"].as_str().is_some_and(|r| r.starts_with("20")), "a non-stream sample is primed: {s}");
    for k in ["system_cpu_usage", "online_cpus"] {
        assert!(s["cpu_stats"][k].as_u64().unwrap_or(0) > 0, "cpu_stats.{k}: {s}");
        assert!(s["precpu_stats"][k].as_u64().unwrap_or(0) > 0, "precpu_stats.{k}: {s}");
    }
    assert!(s["cpu_stats"]["cpu_usage"]["total_usage"].is_u64(), "{s}");
    assert_eq!(s["memory_stats"]["limit"], 64 << 20);
    assert!(s["memory_stats"]["usage"].as_u64().unwrap_or(0) > 0, "{s}");
    assert!(s["memory_stats"]["stats"].as_object().is_some_and(|m| !m.is_empty()), "{s}");
    assert_eq!(s["pids_stats"]["current"], 1);
    assert!(s["networks"]["eth0"]["rx_bytes"].is_u64(), "networks from the container's netns: {s}");
    assert!(s["networks"].get("lo").is_none(), "{s}");
    assert!(s["blkio_stats"].is_object(), "{s}");

    // one-shot: no priming, empty precpu_stats.
    let (_, s) = api_get(&d, &format!("/containers/{name}/stats?stream=false&one-shot=true"));
    assert!(s["precpu_stats"]["system_cpu_usage"].is_null(), "{s}");
    assert_eq!(s["preread"], "0001-01-01T00:00:00Z");
    let (status, e) = api_get(&d, &format!("/containers/{name}/stats?stream=true&one-shot=true"));
    assert_eq!((status, e["message"].as_str()), (400, Some("cannot have stream=true and one-shot=true")));
    let (status, _) = api_get(&d, "/containers/nope-nope/stats?stream=false");
    assert_eq!(status, 404);

    // A stopped container: one empty sample.
    docker_ok(&d, &["stop", "-t", "0", &name]);
    let (status, s) = api_get(&d, &format!("/containers/{name}/stats?stream=false"));
    assert_eq!(status, 200);
    assert_eq!(s["read"], "0001-01-01T00:00:00Z");
    assert_eq!(s["name"], Json::String(format!("/{name}")));
    let out = docker_ok(&d, &["stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}}", &name]);
    assert_eq!(out.trim(), format!("{name} 0.00% 0B / 0B"));
    docker_ok(&d, &["rm", &name]);
}

#[test]
fn update_of_a_running_containers_memory_takes_effect() {
    requires_root!();
    let d = daemon();
    let name = unique("upd");
    docker_ok(&d, &["run", "-d", "--name", &name, "--memory", "32m", "busybox", "sleep", "60"]);
    let id = inspect(&d, &name, "{{.Id}}");
    let mem = cgroup_dir(&d, "memory", &id);
    let limit_file = if mem.join("memory.limit_in_bytes").exists() { "memory.limit_in_bytes" } else { "memory.max" };
    assert_eq!(read_trim(&mem.join(limit_file)), (32u64 << 20).to_string());
    // Docker's default swap is twice the memory, so 48m fits without touching swap.
    assert_eq!(docker_ok(&d, &["update", "--memory", "48m", &name]).trim(), name);
    assert_eq!(read_trim(&mem.join(limit_file)), (48u64 << 20).to_string());
    assert_eq!(inspect(&d, &name, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}"), format!("{} {}", 48u64 << 20, 64u64 << 20));
    // Above the swap limit, swap must move too (Docker's rule and message).
    let (code, _, err) = docker(&d, &["update", "--memory", "128m", &name]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time")),
        "{err}"
    );
    // Through berth, with swap and more.
    assert_eq!(berth_ok(&d, &["update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "30", &name]).trim(), name);
    assert_eq!(read_trim(&mem.join(limit_file)), (128u64 << 20).to_string());
    assert_eq!(read_trim(&cgroup_dir(&d, "pids", &id).join("pids.max")), "30");
    assert_eq!(
        inspect(&d, &name, "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.PidsLimit}}"),
        format!("{} {} 30", 128u64 << 20, 256u64 << 20)
    );
    // A restart policy can be updated; bad values are refused.
    docker_ok(&d, &["update", "--restart", "on-failure:3", &name]);
    assert_eq!(inspect(&d, &name, "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"), "on-failure:3");
    let (code, _, err) = docker(&d, &["update", "--memory", "1k", &name]);
    assert_eq!(code, 1);
    assert!(err.contains("Minimum memory limit allowed is 6MB"), "{err}");
    let (code, _, err) = docker(&d, &["update", "--memory", "64m", "nope-nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("No such container: nope-nope"), "{err}");
    docker_ok(&d, &["rm", "-f", &name]);
}

/// The host's hard limit of open files, as the daemon (our child) inherits it.
fn hard_nofile() -> String {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).expect("Max open files line");
    line.split_whitespace().nth(4).expect("hard limit").to_string()
}

#[test]
fn bad_limits_give_dockers_errors_and_leave_no_container() {
    requires_root!();
    let d = daemon();
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let online = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.effective_cpus")
        .or_else(|_| std::fs::read_to_string("/sys/devices/system/cpu/online"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let missing_cpu = (ncpu + 5).to_string();
    let cases: Vec<(Vec<&str>, String)> = vec![
        (vec!["--memory", "1k"], "Minimum memory limit allowed is 6MB".into()),
        (vec!["--cpus", "99"], format!("Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available")),
        (
            vec!["--ulimit", "nofile=999999:999999"],
            format!("ulimit nofile: hard limit 999999 is above the host's hard limit {}", hard_nofile()),
        ),
        (vec!["--cpuset-cpus", &missing_cpu], format!("Requested CPUs are not available - requested {missing_cpu}, available: {online}")),
        (vec!["--memory", "64m", "--memory-swap", "32m"], "Minimum memoryswap limit should be larger than memory limit, see usage".into()),
        (vec!["--cpu-period", "10"], "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)".into()),
    ];
    for (flags, want) in &cases {
        // docker run exits 125 for a refused create; docker create 1.
        for (cmd, exit) in [("run", 125), ("create", 1)] {
            let mut args = vec![cmd];
            args.extend(flags.iter().copied());
            args.extend(["busybox", "true"]);
            let (code, out, err) = docker(&d, &args);
            assert_eq!(code, exit, "docker {args:?}: {out}{err}");
            assert!(err.contains(&format!("Error response from daemon: {want}")), "docker {args:?}: {err}");
        }
        let (code, _, err) = run(d.berth().arg("run").args(flags).args(["busybox", "true"]));
        assert_eq!(code, 125, "berth run {flags:?}: {err}");
        assert!(err.contains(want.as_str()), "berth run {flags:?}: {err}");
    }
    assert_eq!(docker_ok(&d, &["ps", "-aq"]).trim(), "", "no container was left behind");
}

#[test]
fn device_mapping_shows_the_host_device_under_a_new_path() {
    requires_root!();
    let d = daemon();
    let out = docker_ok(
        &d,
        &["run", "--rm", "--device", "/dev/null:/dev/xnull", "busybox", "sh", "-c", "ls -l /dev/xnull && echo data > /dev/xnull && echo wrote"],
    );
    assert!(out.starts_with("crw-rw-rw-"), "{out}");
    assert!(out.contains("1,   3"), "the host's null device (1:3): {out}");
    assert!(out.contains("wrote"), "{out}");
    // Read-only permission: writing is refused by the device cgroup (a device outside the
    // defaults every container may use; reading it gives the current latency, 4 bytes).
    let (code, out, err) = docker(
        &d,
        &["run", "--rm", "--device", "/dev/cpu_dma_latency:/dev/lat:r", "busybox", "sh", "-c", "head -c 4 /dev/lat | wc -c; echo 0 > /dev/lat"],
    );
    assert_ne!(code, 0, "{out}{err}");
    assert!(out.trim_start().starts_with('4'), "reading works: {out}{err}");
    assert!(err.contains("Operation not permitted"), "{err}");
    // A missing host device is Docker's error (at start, as dockerd resolves devices then).
    let (code, _, err) = docker(&d, &["run", "--rm", "--device", "/dev/nope-nope", "busybox", "true"]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("error gathering device information while adding custom device \"/dev/nope-nope\""), "{err}");
}

/// A block device of this host: its /dev path and `major:minor`.
fn a_block_device() -> Option<(String, String)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block").ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names.into_iter().find_map(|n| {
        let dev = std::fs::read_to_string(format!("/sys/block/{n}/dev")).ok()?.trim().to_string();
        let path = format!("/dev/{n}");
        std::path::Path::new(&path).exists().then_some((path, dev))
    })
}

#[test]
fn block_io_throttles_reach_the_cgroup_and_an_unsupported_weight_is_a_warning() {
    requires_root!();
    let Some((dev, numbers)) = a_block_device() else {
        eprintln!("SKIPPED: no block device on this host");
        return;
    };
    let d = daemon();
    let name = unique("blk");
    let (code, _, err) = docker(
        &d,
        &["run", "-d", "--name", &name, "--device-write-bps", &format!("{dev}:1mb"), "--device-read-iops", &format!("{dev}:100"), "--blkio-weight", "300", "busybox", "sleep", "60"],
    );
    assert_eq!(code, 0, "{err}\n{}", d.log());
    let id = inspect(&d, &name, "{{.Id}}");
    let blkio = cgroup_dir(&d, "blkio", &id);
    if blkio.join("blkio.throttle.write_bps_device").exists() {
        assert_eq!(read_trim(&blkio.join("blkio.throttle.write_bps_device")), format!("{numbers} 1048576"));
        assert_eq!(read_trim(&blkio.join("blkio.throttle.read_iops_device")), format!("{numbers} 100"));
    } else {
        let max = read_trim(&blkio.join("io.max"));
        assert!(max.contains(&format!("{numbers} rbps=max wbps=1048576 riops=100")), "{max}");
    }
    let weight_supported = std::path::Path::new("/sys/fs/cgroup/blkio/blkio.weight").exists()
        || std::path::Path::new("/sys/fs/cgroup/blkio/blkio.bfq.weight").exists();
    if !weight_supported {
        assert!(
            err.contains("WARNING: Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."),
            "{err}"
        );
        assert_eq!(inspect(&d, &name, "{{.HostConfig.BlkioWeight}}"), "0", "the discarded weight is not recorded");
    }
    assert_eq!(
        inspect(&d, &name, "{{range .HostConfig.BlkioDeviceWriteBps}}{{.Path}} {{.Rate}}{{end}}"),
        format!("{dev} 1048576")
    );
    docker_ok(&d, &["rm", "-f", &name]);
    // A throttle on a missing path fails the start with dockerd's message (which the docker
    // CLI, seeing "no such file or directory", reports with 127).
    let (code, _, err) = docker(&d, &["run", "--rm", "--device-read-bps", "/dev/nope-nope:1mb", "busybox", "true"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("stat /dev/nope-nope: no such file or directory"), "{err}");
}
