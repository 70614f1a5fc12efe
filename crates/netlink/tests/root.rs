//! Privileged tests against this host's kernel: namespaces, bridges, veth pairs and macvlans.
//! They need root and skip loudly without it. Every device and namespace has a unique name
//! (`<tag><pid><n>`) and is removed by a guard even when an assertion fails; no test touches
//! a device it did not create.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use berth_errdefs::{HasKind, Kind};
use berth_netlink::{netns, set_sysctl, Error, Links};
use ipnet::IpNet;

macro_rules! requires_root {
    () => {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED {}: needs root", module_path!());
            return;
        }
    };
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// `<tag><pid % 100000><n>`: at most 4 + 5 + 3 bytes, well within IFNAMSIZ.
fn unique(tag: &str) -> String {
    let name =
        format!("{tag}{}{}", std::process::id() % 100_000, COUNTER.fetch_add(1, Ordering::Relaxed));
    assert!(name.len() <= 15, "{name}");
    name
}

/// Everything a test made, removed on drop (with `ip`, independent of the code under test).
struct Guard {
    dir: tempfile::TempDir,
    links: Vec<String>,
    namespaces: Vec<PathBuf>,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            dir: tempfile::Builder::new().prefix("berth-netlink-").tempdir().expect("tempdir"),
            links: vec![],
            namespaces: vec![],
        }
    }
    /// The directory the test's namespaces are pinned in.
    fn ns_dir(&self) -> PathBuf {
        self.dir.path().join("netns")
    }
    /// A namespace path to be removed on drop.
    fn netns(&mut self) -> PathBuf {
        let p = self.ns_dir().join(unique("ns"));
        self.namespaces.push(p.clone());
        p
    }
    /// A host link name to be deleted on drop.
    fn link(&mut self, tag: &str) -> String {
        let n = unique(tag);
        self.links.push(n.clone());
        n
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for l in &self.links {
            if link_exists(l) {
                let _ = Command::new("ip").args(["link", "del", l]).status();
            }
        }
        for ns in &self.namespaces {
            if let Err(e) = netns::remove(ns) {
                eprintln!("cleanup: {e}");
            }
        }
        // The private bind mount netns::create made of the namespace directory.
        let dir = self.ns_dir();
        for _ in 0..4 {
            if !mount_points().contains(&dir) {
                break;
            }
            let _ = nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Mount points of this mount namespace (unescaped well enough for our temp paths).
fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .collect()
}

fn mountinfo_line(path: &Path) -> Option<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .find(|l| l.split(' ').nth(4).map(Path::new) == Some(path))
        .map(str::to_string)
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// A /24 under 10.<200+seed>.0.0/16 and a /64 under fd42:<seed>::/32 that overlap nothing
/// in `used` (seeds keep concurrent tests of this binary apart).
fn free_subnets(used: &[IpNet], seed: u8) -> (IpNet, IpNet) {
    let start = std::process::id() % 256;
    for k in 0..256u32 {
        let third = (start + k) % 256;
        let v4: IpNet = format!("10.{}.{third}.0/24", 200 + u32::from(seed)).parse().unwrap();
        let v6: IpNet = format!("fd42:{seed}:{third:x}::/64").parse().unwrap();
        if !used.iter().any(|u| overlaps(u, &v4) || overlaps(u, &v6)) {
            return (v4, v6);
        }
    }
    panic!("no free test subnet");
}

/// The `n`th host address of `net`, with `net`'s prefix.
fn nth(net: &IpNet, n: u8) -> IpNet {
    let addr = match net.network() {
        IpAddr::V4(a) => IpAddr::V4((u32::from(a) + u32::from(n)).into()),
        IpAddr::V6(a) => IpAddr::V6((u128::from(a) + u128::from(n)).into()),
    };
    IpNet::new(addr, net.prefix_len()).unwrap()
}

/// Run a command inside the namespace at `ns` (forked from a thread that joined it).
fn sh_in(ns: &Path, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = netns::run_in(ns, move || Command::new(&args[0]).args(&args[1..]).output())
        .expect("run_in")
        .expect("spawn");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The identity of the namespace at `path` (an nsfs symlink under /proc or a pin).
fn ns_id(path: impl AsRef<Path>) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path.as_ref()).expect("stat ns");
    (m.dev(), m.ino())
}

/// No tokio worker thread of this process may have been moved into another namespace.
fn workers_in_host_netns(host_ns: (u64, u64)) {
    for task in std::fs::read_dir("/proc/self/task").expect("tasks").flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let ns = task.path().join("ns/net");
        if comm.trim().starts_with("tokio-runtime") && ns.exists() {
            assert_eq!(ns_id(&ns), host_ns, "tokio worker {:?} changed namespace", task.path());
        }
    }
}

#[test]
fn links_need_a_runtime() {
    assert!(matches!(Links::host(), Err(Error::NoRuntime)));
    assert!(matches!(Links::in_netns(Path::new("/proc/self/ns/net")), Err(Error::NoRuntime)));
}

#[test]
fn bad_sysctl_keys() {
    let e = set_sysctl("net..x", "1").unwrap_err();
    assert_eq!(e.kind(), Kind::InvalidArgument, "{e}");
    let e = set_sysctl("net.ipv4.conf.berthnosuchdev.forwarding", "1").unwrap_err();
    assert_eq!(e.kind(), Kind::NotFound, "{e}");
}

#[test]
fn netns_lifecycle() {
    requires_root!();
    let mut g = Guard::new();
    let ns = g.netns();
    let me = ns_id("/proc/thread-self/ns/net");

    netns::create(&ns).expect("create");
    assert!(netns::is_pinned(&ns));
    netns::create(&ns).expect("create is idempotent");
    assert_eq!(mount_points().iter().filter(|m| **m == ns).count(), 1, "pinned once");

    // The namespace directory became a private mount of itself.
    let dir_line = mountinfo_line(&g.ns_dir()).expect("netns dir is a mount point");
    assert!(!dir_line.contains("shared:"), "{dir_line}");

    // Inside: another namespace, only lo, and lo is up.
    let inside = netns::run_in(&ns, || ns_id("/proc/thread-self/ns/net")).expect("run_in");
    assert_ne!(inside, me);
    assert_eq!(inside, ns_id(&ns), "run_in joined the pinned namespace");
    let dev = netns::run_in(&ns, || std::fs::read_to_string("/proc/thread-self/net/dev").unwrap())
        .unwrap();
    let devs: Vec<&str> =
        dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(str::trim).collect();
    assert_eq!(devs, ["lo"]);
    let lo = sh_in(&ns, &["ip", "-o", "link", "show", "lo"]);
    assert!(lo.contains(",UP"), "{lo}");
    // The caller never moved.
    assert_eq!(ns_id("/proc/thread-self/ns/net"), me);

    // A closure's panic is an error, not a panic of the caller.
    let e = netns::run_in(&ns, || panic!("boom")).map(|_: ()| ()).unwrap_err();
    assert!(matches!(e, Error::Thread { .. }), "{e}");

    netns::remove(&ns).expect("remove");
    assert!(!netns::is_pinned(&ns));
    assert!(!ns.exists());
    assert!(!mount_points().contains(&ns), "mount gone");
    netns::remove(&ns).expect("remove again");

    // Not a namespace / not there.
    let e = netns::run_in(&ns, || ()).unwrap_err();
    assert_eq!(e.kind(), Kind::NotFound, "{e}");
    let plain = g.dir.path().join("plain");
    std::fs::write(&plain, "").unwrap();
    assert!(!netns::is_pinned(&plain));
    assert!(netns::run_in(&plain, || ()).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_and_veth_into_a_netns() {
    requires_root!();
    let mut g = Guard::new();
    let host_ns = ns_id("/proc/self/ns/net");
    let host = Links::host().expect("host links");

    let used = host.used_subnets().await.expect("used subnets");
    assert!(used.iter().all(|n| n.prefix_len() > 0), "no default routes: {used:?}");
    assert!(!used.iter().any(|n| n.to_string().starts_with("fe80:")), "no link-local: {used:?}");
    let (net4, net6) = free_subnets(&used, 1);
    let (gw4, gw6) = (nth(&net4, 1), nth(&net6, 1));
    let (ip4, ip6) = (nth(&net4, 2), nth(&net6, 2));

    // Bridge: created once, then found; addresses idempotent.
    let bridge = g.link("btst");
    let bidx = host.ensure_bridge(&bridge, None).await.expect("bridge");
    // Its MAC is its own (locally administered), not borrowed from a port.
    let bridge_mac = || std::fs::read_to_string(format!("/sys/class/net/{bridge}/address")).unwrap();
    let mac0 = bridge_mac();
    let first = u8::from_str_radix(&mac0[..2], 16).unwrap();
    assert_eq!(first & 0x03, 0x02, "locally administered unicast: {mac0}");
    let assign = std::fs::read_to_string(format!("/sys/class/net/{bridge}/addr_assign_type")).unwrap();
    assert_eq!(assign.trim(), "3", "NET_ADDR_SET: the kernel will not replace it with a port's");
    assert_eq!(host.ensure_bridge(&bridge, None).await.expect("bridge again"), bidx);
    assert_eq!(host.index(&bridge).await.unwrap(), Some(bidx));
    host.add_addrs(bidx, &[gw4, gw6]).await.expect("bridge addresses");
    host.add_addrs(bidx, &[gw4, gw6]).await.expect("bridge addresses again");
    let used = host.used_subnets().await.unwrap();
    assert!(used.contains(&net4) && used.contains(&net6), "{net4} {net6} in {used:?}");
    set_sysctl(&format!("net.ipv4.conf.{bridge}.route_localnet"), "1").expect("sysctl");
    let v = std::fs::read_to_string(format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"))
        .unwrap();
    assert_eq!(v.trim(), "1");

    // Namespace + veth whose peer is born inside it.
    let ns = g.netns();
    netns::create(&ns).expect("netns");
    let hveth = g.link("vtst");
    let peer = unique("ptst");
    host.add_veth(&hveth, &peer, bidx, Some(1450), &ns).await.expect("veth");
    let names = host.names().await.unwrap();
    assert!(names.contains(&hveth) && !names.contains(&peer), "{names:?}");
    let master = std::fs::read_link(format!("/sys/class/net/{hveth}/master")).expect("enslaved");
    assert!(master.ends_with(&bridge), "{master:?}");
    assert_eq!(bridge_mac(), mac0, "a port does not change the bridge's MAC");
    let oper = std::fs::read_to_string(format!("/sys/class/net/{hveth}/flags")).unwrap();
    assert_eq!(
        u32::from_str_radix(oper.trim().trim_start_matches("0x"), 16).unwrap() & 1,
        1,
        "host end up"
    );
    // A bridge port needs no IPv6 of its own: no link-local address, so no DAD, MLD reports
    // or router solicitations flooded to every other port.
    let mode = std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{hveth}/addr_gen_mode"));
    assert_eq!(mode.unwrap().trim(), "1", "addr_gen_mode none on the host end");
    let host_v6 = Command::new("ip").args(["-o", "-6", "addr", "show", "dev", &hveth]).output();
    let host_v6 = String::from_utf8(host_v6.unwrap().stdout).unwrap();
    assert!(host_v6.is_empty(), "no IPv6 address on the host end: {host_v6}");

    let inside = Links::in_netns(&ns).expect("links in netns");
    let mut inside_names = inside.names().await.unwrap();
    inside_names.sort();
    assert_eq!(inside_names, vec!["lo".to_string(), peer.clone()]);

    let mac = [0x02, 0x42, 10, 0xaa, 0xbb, 0x02];
    let idx = inside
        .configure(&peer, "eth0", Some(mac), Some(1450), &[ip4, ip6])
        .await
        .expect("configure");
    assert_eq!(inside.index("eth0").await.unwrap(), Some(idx));
    inside.add_default_route(gw4.addr()).await.expect("default route v4");
    inside.add_default_route(gw6.addr()).await.expect("default route v6");

    let link = sh_in(&ns, &["ip", "-o", "link", "show", "eth0"]);
    assert!(
        link.contains("02:42:0a:aa:bb:02") && link.contains("mtu 1450") && link.contains(",UP"),
        "{link}"
    );
    let addrs = sh_in(&ns, &["ip", "-o", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&ip4.to_string()) && addrs.contains(&ip6.to_string()), "{addrs}");
    let ours = addrs.lines().find(|l| l.contains(&ip6.to_string())).unwrap();
    assert!(ours.contains("nodad") && !ours.contains("tentative"), "NODAD: {addrs}");
    let bridge_addrs = String::from_utf8(
        Command::new("ip")
            .args(["-o", "-6", "addr", "show", "dev", &bridge])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let gw_line = bridge_addrs.lines().find(|l| l.contains(&gw6.to_string())).unwrap();
    assert!(gw_line.contains("nodad") && !gw_line.contains("tentative"), "{bridge_addrs}");
    let r4 = sh_in(&ns, &["ip", "route", "show", "default"]);
    assert!(r4.contains(&format!("via {} dev eth0", gw4.addr())), "{r4}");
    let r6 = sh_in(&ns, &["ip", "-6", "route", "show", "default"]);
    assert!(r6.contains(&format!("via {} dev eth0", gw6.addr())), "{r6}");
    let used_inside = inside.used_subnets().await.unwrap();
    assert!(used_inside.contains(&net4) && used_inside.contains(&net6), "{used_inside:?}");

    // Traffic from the namespace reaches the host over the bridge, v4 and v6 (the v6
    // addresses on both sides are usable at once thanks to NODAD).
    for (gw, src) in [(gw4.addr(), ip4.addr()), (gw6.addr(), ip6.addr())] {
        let listener =
            TcpListener::bind(SocketAddr::new(gw, 0)).expect("bind on the bridge address");
        let to = listener.local_addr().unwrap();
        let sent = netns::run_in(&ns, move || -> std::io::Result<()> {
            let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(3))?;
            s.write_all(b"hi")
        })
        .unwrap();
        sent.unwrap_or_else(|e| panic!("connect {to} from the netns: {e}"));
        let (mut conn, from) = listener.accept().unwrap();
        assert_eq!(from.ip(), src);
        let mut buf = [0u8; 2];
        conn.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
    }

    // Errors and their kinds.
    let e = host.add_veth(&hveth, &unique("ptst"), bidx, None, &ns).await.unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict, "{e}");
    let e = host.ensure_bridge(&hveth, None).await.unwrap_err();
    assert!(matches!(e, Error::NotABridge { .. }) && e.kind() == Kind::Conflict, "{e}");
    let e = inside.configure(&peer, "eth1", None, None, &[]).await.unwrap_err();
    assert_eq!(e.kind(), Kind::NotFound, "{e}");
    let e = inside.add_default_route(gw4.addr()).await.unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict, "{e}");
    let e = host.ensure_bridge("this-name-is-too-long", None).await.unwrap_err();
    assert_eq!(e.kind(), Kind::InvalidArgument, "{e}");

    // Tear down: the host end takes the peer with it.
    host.delete(&hveth).await.expect("delete veth");
    assert!(!host.names().await.unwrap().contains(&hveth));
    assert_eq!(inside.names().await.unwrap(), vec!["lo".to_string()]);
    host.delete(&bridge).await.expect("delete bridge");
    host.delete(&bridge).await.expect("delete is fine when missing");
    assert!(!link_exists(&bridge) && !link_exists(&hveth));
    assert!(!host.used_subnets().await.unwrap().contains(&net4));
    drop(inside);
    netns::remove(&ns).expect("remove netns");
    assert!(!mount_points().contains(&ns));
    workers_in_host_netns(host_ns);
}

#[tokio::test]
async fn macvlan_into_a_netns() {
    requires_root!();
    let mut g = Guard::new();
    let host = Links::host().unwrap();
    // This kernel may lack the dummy driver: a veth pair kept on the host is the parent.
    let parent = g.link("mpar");
    let other = unique("mpeer");
    let ok = Command::new("ip")
        .args(["link", "add", &parent, "type", "veth", "peer", "name", &other])
        .status()
        .unwrap()
        .success();
    assert!(ok, "ip link add veth");
    assert!(Command::new("ip").args(["link", "set", &parent, "up"]).status().unwrap().success());

    let ns = g.netns();
    netns::create(&ns).unwrap();
    let mv = unique("mtst");
    host.add_macvlan(&parent, &mv, &ns).await.expect("macvlan");
    assert!(!host.names().await.unwrap().contains(&mv));
    let inside = Links::in_netns(&ns).unwrap();
    assert!(inside.names().await.unwrap().contains(&mv));
    let addr: IpNet = "10.99.0.5/24".parse().unwrap();
    inside.configure(&mv, "eth0", None, None, &[addr]).await.expect("configure");
    inside.add_default_route("10.99.0.1".parse().unwrap()).await.expect("route");
    let link = sh_in(&ns, &["ip", "-d", "-o", "link", "show", "eth0"]);
    assert!(link.contains("macvlan mode bridge"), "{link}");
    let addrs = sh_in(&ns, &["ip", "-o", "-4", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains("10.99.0.5/24"), "{addrs}");
    // Given no IPv6 address, the link gets no link-local one either.
    let v6 = sh_in(&ns, &["ip", "-o", "-6", "addr", "show", "dev", "eth0"]);
    assert!(v6.trim().is_empty(), "no IPv6 on an IPv4-only link: {v6}");

    let e = host.add_macvlan(&unique("nopa"), &unique("mtst"), &ns).await.unwrap_err();
    assert!(matches!(e, Error::NoSuchLink { .. }) && e.kind() == Kind::NotFound, "{e}");
    let e = host.add_macvlan(&parent, "eth0", &ns).await.unwrap_err();
    assert_eq!(e.kind(), Kind::Conflict, "name taken inside the netns: {e}");

    inside.delete("eth0").await.expect("delete macvlan");
    assert_eq!(inside.names().await.unwrap(), vec!["lo".to_string()]);
    host.delete(&parent).await.unwrap();
    assert!(!link_exists(&parent) && !link_exists(&other));
    drop(inside);
    netns::remove(&ns).unwrap();
    assert!(!mount_points().contains(&ns));
}

/// The container start path: netns + veth into it + configure + default route. Prints the
/// timings (run with `--nocapture` to see them).
#[tokio::test]
async fn start_path_timing() {
    requires_root!();
    const ROUNDS: usize = 20;
    let mut g = Guard::new();
    let host = Links::host().unwrap();
    let used = host.used_subnets().await.unwrap();
    let (net4, _) = free_subnets(&used, 2);
    let bridge = g.link("btst");
    let bidx = host.ensure_bridge(&bridge, None).await.unwrap();
    host.add_addrs(bidx, &[nth(&net4, 1)]).await.unwrap();

    // Per round: create, veth, in_netns, configure, route, total; delete veth, remove netns.
    let mut t: Vec<Vec<Duration>> = vec![Vec::new(); 8];
    for i in 0..ROUNDS {
        let ns = g.netns();
        let hveth = g.link("vtim");
        let mut marks = vec![Instant::now()];
        netns::create(&ns).unwrap();
        marks.push(Instant::now());
        host.add_veth(&hveth, "eth0tmp", bidx, None, &ns).await.unwrap();
        marks.push(Instant::now());
        let inside = Links::in_netns(&ns).unwrap();
        marks.push(Instant::now());
        let ip = nth(&net4, 2 + i as u8);
        inside
            .configure("eth0tmp", "eth0", Some([2, 0x42, 10, 0, 0, i as u8]), None, &[ip])
            .await
            .unwrap();
        marks.push(Instant::now());
        inside.add_default_route(nth(&net4, 1).addr()).await.unwrap();
        marks.push(Instant::now());
        drop(inside);
        let end_start = Instant::now();
        host.delete(&hveth).await.unwrap();
        let deleted = Instant::now();
        netns::remove(&ns).unwrap();
        let removed = Instant::now();
        for k in 0..5 {
            t[k].push(marks[k + 1] - marks[k]);
        }
        t[5].push(marks[5] - marks[0]);
        t[6].push(deleted - end_start);
        t[7].push(removed - deleted);
    }
    host.delete(&bridge).await.unwrap();
    let stats = |v: &mut Vec<Duration>| {
        v.sort();
        let mean = v.iter().sum::<Duration>() / v.len() as u32;
        format!(
            "min {:?} median {:?} mean {:?} max {:?}",
            v[0],
            v[v.len() / 2],
            mean,
            v[v.len() - 1]
        )
    };
    let labels = [
        "netns::create",
        "add_veth (peer born in the netns)",
        "Links::in_netns",
        "configure (rename, mac, up, address)",
        "add_default_route",
        "TOTAL create + veth + configure + route",
        "delete host veth",
        "netns::remove",
    ];
    for (label, v) in labels.iter().zip(t.iter_mut()) {
        eprintln!("TIMING {label:<42} {}", stats(v));
    }
}
