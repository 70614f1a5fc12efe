//! berthd's own networking flags: `--bip`, `--default-address-pool`, `--bridge`,
//! `--iptables=false`, as dockerd's.

use std::process::Command;

use berth_testkit::{cgroup_parent_for, requires_root, run, Daemon};

fn octet() -> u32 {
    std::process::id() % 200 + 20
}

fn hash6(d: &Daemon) -> String {
    cgroup_parent_for(&d.data_root().display().to_string()).trim_start_matches("berth-").chars().take(6).collect()
}

/// A host link made by a daemon under a name of the test's choosing, removed on drop (as
/// dockerd's docker0, berthd's default bridge outlives the daemon).
struct LinkGuard(String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", &self.0]).status();
    }
}

fn out(cmd: &mut Command) -> String {
    let (code, stdout, stderr) = run(cmd);
    assert_eq!(code, 0, "{cmd:?} failed: {stdout}{stderr}");
    stdout.trim().to_string()
}

#[test]
fn bip_pools_and_bridge_name_shape_the_networks() {
    requires_root!();
    let o = octet();
    let bridge = format!("bt{}", std::process::id() % 100000);
    let _bridge_guard = LinkGuard(bridge.clone());
    let d = Daemon::start_with(&[
        "--bip",
        &format!("10.194.{o}.1/24"),
        "--default-address-pool",
        &format!("base=10.193.{o}.0/24,size=28"),
        "--bridge",
        &bridge,
    ]);
    d.import_busybox("busybox:latest");
    let subnet = out(d.docker().args(["network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Subnet}} {{(index .IPAM.Config 0).Gateway}}"]));
    assert_eq!(subnet, format!("10.194.{o}.0/24 10.194.{o}.1"));
    let addr = out(Command::new("ip").args(["-o", "-4", "addr", "show", "dev", &bridge]));
    assert!(addr.contains(&format!("10.194.{o}.1/24")), "{addr}");
    let ip = out(d.docker().args(["run", "--rm", "busybox", "sh", "-c", "ip -o -4 addr show eth0"]));
    assert!(ip.contains(&format!("10.194.{o}.2/24")), "{ip}");

    // New networks come from the pool, one /28 after another.
    out(d.docker().args(["network", "create", "p1"]));
    out(d.docker().args(["network", "create", "p2"]));
    let s1 = out(d.docker().args(["network", "inspect", "p1", "-f", "{{(index .IPAM.Config 0).Subnet}}"]));
    let s2 = out(d.docker().args(["network", "inspect", "p2", "-f", "{{(index .IPAM.Config 0).Subnet}}"]));
    assert_eq!(s1, format!("10.193.{o}.0/28"));
    assert_eq!(s2, format!("10.193.{o}.16/28"));
    out(d.docker().args(["network", "rm", "p1", "p2"]));
}

#[test]
fn iptables_false_leaves_the_firewall_alone() {
    requires_root!();
    let o = octet();
    let d = Daemon::start_with(&["--iptables=false", "--bip", &format!("10.192.{o}.1/24")]);
    d.import_busybox("busybox:latest");
    let (code, _, err) = run(d.docker().args(["run", "-d", "-p", "127.0.0.1::80", "busybox", "sleep", "30"]));
    assert_eq!(code, 0, "{err}");
    let table = format!("berth-{}", hash6(&d));
    let (code, rules, _) = run(Command::new("nft").args(["list", "table", "ip", &table]));
    assert_ne!(code, 0, "--iptables=false made a firewall table: {rules}");
}

#[test]
fn ipv6_networks_give_v6_addresses_names_and_routes() {
    requires_root!();
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let p = std::process::id() % 0xffff;
    let subnet = format!("fd42:{p:x}::/64");
    out(d.docker().args(["network", "create", "--ipv6", "--subnet", &subnet, "v6net"]));
    let cfg = out(d.docker().args(["network", "inspect", "v6net", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}{{.EnableIPv6}}"]));
    assert!(cfg.contains(&subnet) && cfg.ends_with("true"), "{cfg}");
    out(d.docker().args(["run", "-d", "--name", "six", "--network", "v6net", "busybox", "sleep", "60"]));
    let v6 = out(d.docker().args(["inspect", "six", "-f", "{{.NetworkSettings.Networks.v6net.GlobalIPv6Address}}"]));
    assert!(v6.starts_with(&format!("fd42:{p:x}::")), "{v6}");
    // Another container reaches it by name over IPv6 and has a v6 default route.
    let script = format!("ip -6 route | grep -q '^default via fd42:{p:x}::1' && ping6 -c1 -W2 {v6} >/dev/null && nslookup -type=AAAA six | grep -q '{v6}' && echo ok");
    let res = out(d.docker().args(["run", "--rm", "--network", "v6net", "busybox", "sh", "-c", &script]));
    assert_eq!(res, "ok");
    out(d.docker().args(["rm", "-f", "six"]));
    out(d.docker().args(["network", "rm", "v6net"]));
}

/// Pinned network namespaces under the daemon's exec root whose names start with `prefix`.
fn pins(d: &Daemon, prefix: &str) -> Vec<String> {
    let dir = d.dir.path().join("exec/netns");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut out: Vec<String> = mounts
        .lines()
        .filter(|l| l.contains(" - nsfs "))
        .filter_map(|l| l.split(' ').nth(4))
        .filter_map(|p| p.strip_prefix(&format!("{}/", dir.display())).map(String::from))
        .filter(|n| n.starts_with(prefix))
        .collect();
    out.sort();
    out
}

/// Wait (bounded) until `pred` holds for the daemon's pins.
fn wait_pins(d: &Daemon, what: &str, pred: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let p = pins(d, "");
        if pred(&p) {
            return p;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: pins are {p:?}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn network_namespaces_are_made_ahead_and_cleaned_up() {
    requires_root!();
    let o = octet();
    let args = ["--iptables=false".to_string(), "--bip".to_string(), format!("10.191.{o}.1/24")];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut d = Daemon::start_with(&args);
    d.import_busybox("busybox:latest");
    let ahead = wait_pins(&d, "two made ahead at start", |p| p.len() == 2 && p.iter().all(|n| n.starts_with("pool-")));

    // A start takes one of them; another is made in its place.
    let id = out(d.docker().args(["run", "-d", "busybox", "sleep", "60"]));
    let key = out(d.docker().args(["inspect", "-f", "{{.NetworkSettings.SandboxKey}}", &id]));
    let taken = key.rsplit('/').next().unwrap().to_string();
    assert!(ahead.contains(&taken), "the container got a namespace made ahead: {key} not in {ahead:?}");
    let ip = out(d.docker().args(["exec", &id, "ip", "-o", "-4", "addr", "show", "eth0"]));
    assert!(ip.contains(&format!("10.191.{o}.")), "{ip}");
    let now = wait_pins(&d, "pool refilled", |p| p.len() == 3);
    assert!(now.contains(&taken), "{now:?}");

    // Killed, berthd leaves its spare namespaces behind; started again it removes those, keeps
    // the container's, and makes new spares.
    d.kill9();
    let left = pins(&d, "");
    d.spawn(&args);
    let after = wait_pins(&d, "stale spares swept, new ones made", |p| p.len() == 3 && p.contains(&taken));
    let stale: Vec<&String> = left.iter().filter(|n| **n != taken).collect();
    assert!(stale.iter().all(|n| !after.contains(n)), "stale spares {stale:?} still pinned: {after:?}");

    // Stopped with no container left, nothing stays pinned.
    out(d.docker().args(["rm", "-f", &id]));
    wait_pins(&d, "the container's namespace released", |p| !p.contains(&taken));
    d.stop();
    assert_eq!(pins(&d, ""), Vec::<String>::new(), "pins left after berthd stopped");
}
