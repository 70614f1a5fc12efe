//! The rendered rules applied for real by `nft`, inside throwaway network namespaces (never
//! the host's): replace twice, change, delete; and real traffic through them, with the nft
//! backend and with the iptables one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_network::firewall::{Backend, BridgeRules, Iptables, Nft, PortForward, Ruleset};
use berth_network::ports::Proto;

/// A network namespace made with `ip netns add`, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(role: &str) -> Netns {
        let name = format!("berth-fwtest-{}{role}", std::process::id());
        let ok = Command::new("ip").args(["netns", "add", &name]).status().expect("run ip netns add").success();
        assert!(ok, "ip netns add {name} failed");
        Netns(name)
    }

    /// `ARGS` inside the namespace; panics on failure.
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("ip").args(["netns", "exec", &self.0]).args(args).output().expect("run ip netns exec");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{args:?} in {}: {text}", self.0);
        text
    }

    /// `nft ARGS` inside the namespace: (success, stdout + stderr).
    fn nft(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new("ip").args(["netns", "exec", &self.0, "nft"]).args(args).output().expect("run nft");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn ruleset(with_udp: bool) -> Ruleset {
    let mut forwards = vec![
        PortForward {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: "172.30.0.2".parse().unwrap(),
            container_port: 80,
            device: "bt-a".into(),
        },
        PortForward {
            proto: Proto::Tcp,
            host_ip: Some("127.0.0.1".parse().unwrap()),
            host_port: 8081,
            container_ip: "172.30.0.3".parse().unwrap(),
            container_port: 80,
            device: "bt-a".into(),
        },
        PortForward {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 8082,
            container_ip: "fd00:30::2".parse().unwrap(),
            container_port: 80,
            device: "bt-a".into(),
        },
    ];
    if with_udp {
        forwards.push(PortForward {
            proto: Proto::Udp,
            host_ip: None,
            host_port: 5353,
            container_ip: "172.30.0.2".parse().unwrap(),
            container_port: 53,
            device: "bt-a".into(),
        });
    }
    Ruleset {
        bridges: vec![
            BridgeRules {
                device: "bt-a".into(),
                subnets: vec!["172.30.0.0/16".parse().unwrap(), "fd00:30::/64".parse().unwrap()],
                internal: false,
                masquerade: true,
            },
            BridgeRules {
                device: "bt-internal".into(),
                subnets: vec!["172.31.0.0/16".parse().unwrap()],
                internal: true,
                masquerade: true,
            },
        ],
        forwards,
    }
}

#[test]
fn apply_replace_change_and_delete_in_a_throwaway_netns() {
    if !is_root() {
        eprintln!("SKIPPING apply_replace_change_and_delete_in_a_throwaway_netns: needs root (ip netns, nft)");
        return;
    }
    if Nft::new().is_err() {
        eprintln!("SKIPPING apply_replace_change_and_delete_in_a_throwaway_netns: no nft binary");
        return;
    }
    let ns = Netns::new("");
    let table = format!("berth-t{}", std::process::id());
    let nft = Nft::with_prefix(["ip", "netns", "exec", ns.0.as_str()]).unwrap();

    // Applying twice replaces rather than duplicates.
    nft.apply(&table, &ruleset(true)).unwrap();
    nft.apply(&table, &ruleset(true)).unwrap();
    let (ok, v4) = ns.nft(&["list", "table", "ip", &table]);
    assert!(ok, "{v4}");
    for want in [
        "fib daddr type local jump ports",
        "tcp dport 8080 dnat to 172.30.0.2:80",
        "ip daddr 127.0.0.1 tcp dport 8081 dnat to 172.30.0.3:80",
        "udp dport 5353 dnat to 172.30.0.2:53",
        "oifname \"bt-a\" ip saddr 127.0.0.0/8 masquerade",
        "oifname != \"bt-a\" ip saddr 172.30.0.0/16 masquerade",
        "ct status dnat masquerade",
        "iifname \"bt-internal\" oifname != \"bt-internal\" drop",
        "ct state established,related accept",
    ] {
        assert!(v4.contains(want), "missing {want:?} in:\n{v4}");
    }
    assert_eq!(v4.matches("dport 8080").count(), 1, "{v4}");
    let (ok, v6) = ns.nft(&["list", "table", "ip6", &table]);
    assert!(ok, "{v6}");
    assert!(v6.contains("tcp dport 8082 dnat to [fd00:30::2]:80"), "{v6}");
    assert!(!v6.contains("172.30."), "{v6}");

    // A changed ruleset: the removed rule is gone, the rest stays.
    nft.apply(&table, &ruleset(false)).unwrap();
    let (ok, v4) = ns.nft(&["list", "table", "ip", &table]);
    assert!(ok, "{v4}");
    assert!(!v4.contains("5353"), "{v4}");
    assert!(v4.contains("tcp dport 8080"), "{v4}");

    // A bad script fails with nft's words and leaves the rules alone.
    let e = nft.apply_script("table ip nonsense { chain c { bogus } }\n").unwrap_err();
    assert!(e.to_string().contains("Error"), "{e}");
    assert!(ns.nft(&["list", "table", "ip", &table]).0);

    // Delete both tables; deleting again is fine.
    nft.remove(&table).unwrap();
    nft.remove(&table).unwrap();
    assert!(!ns.nft(&["list", "table", "ip", &table]).0);
    assert!(!ns.nft(&["list", "table", "ip6", &table]).0);
}

/// A TCP server answering every connection with the peer's address, killed on drop.
struct EchoPeer(Child);

impl EchoPeer {
    fn start(ns: &Netns, port: u16) -> EchoPeer {
        let code = format!(
            "import socket\n\
             s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             s.bind(('0.0.0.0', {port})); s.listen(16)\n\
             while True:\n\
             \x20   c, a = s.accept(); c.sendall((a[0] + '\\n').encode()); c.close()\n"
        );
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.0, "python3", "-c", &code])
            .stdout(Stdio::null())
            .spawn()
            .expect("start python3");
        EchoPeer(child)
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connect from `ns` to `addr:port` and return what the server said (the address it saw us
/// as), retrying while the server starts.
fn peer_seen(ns: &Netns, addr: &str, port: u16) -> String {
    let code = format!(
        "import socket\n\
         s = socket.create_connection(('{addr}', {port}), timeout=2)\n\
         print(s.recv(100).decode().strip())\n"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("ip").args(["netns", "exec", &ns.0, "python3", "-c", &code]).output().expect("python3");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        if Instant::now() > deadline {
            panic!("connect {addr}:{port} from {}: {}", ns.0, String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Connecting from `ns` to `addr:port` fails (times out or is refused).
fn unreachable(ns: &Netns, addr: &str, port: u16) -> bool {
    let code = format!("import socket\nsocket.create_connection(('{addr}', {port}), timeout=1).recv(100)\n");
    !Command::new("ip")
        .args(["netns", "exec", &ns.0, "python3", "-c", &code])
        .output()
        .expect("python3")
        .status
        .success()
}

#[test]
fn published_port_traffic_through_the_nft_rules() {
    if !is_root() {
        eprintln!("SKIPPING published_port_traffic_through_the_nft_rules: needs root (ip netns, nft)");
        return;
    }
    if Nft::new().is_err() || Command::new("python3").arg("-V").output().is_err() {
        eprintln!("SKIPPING published_port_traffic_through_the_nft_rules: needs nft and python3");
        return;
    }
    traffic_through_the_rules("n", |ns| Box::new(Nft::with_prefix(["ip", "netns", "exec", ns]).unwrap()));
}

#[test]
fn published_port_traffic_through_the_iptables_rules() {
    if !is_root() {
        eprintln!("SKIPPING published_port_traffic_through_the_iptables_rules: needs root (ip netns, iptables)");
        return;
    }
    if Iptables::new().is_err() || Command::new("python3").arg("-V").output().is_err() {
        eprintln!("SKIPPING published_port_traffic_through_the_iptables_rules: needs iptables and python3");
        return;
    }
    traffic_through_the_rules("i", |ns| Box::new(Iptables::with_prefix(["ip", "netns", "exec", ns]).unwrap()));
}

/// Published ports, masquerade, hairpin and isolation with real connections, the rules
/// applied by the backend `make` builds for the "host" namespace's name. `tag` keeps the
/// namespaces of the two backends' tests apart.
fn traffic_through_the_rules(tag: &str, make: impl Fn(&str) -> Box<dyn Backend>) {
    // host: the daemon's namespace, bridges bt-a 172.30.0.1/16 and bt-b 172.31.0.1/16, uplink
    // 10.99.0.1/24; ctr: a container on bt-a (172.30.0.2); other: a container on bt-b
    // (172.31.0.2); out: a machine beyond the uplink (10.99.0.2).
    let host = Netns::new(&format!("{tag}h"));
    let ctr = Netns::new(&format!("{tag}c"));
    let other = Netns::new(&format!("{tag}b"));
    let out = Netns::new(&format!("{tag}o"));
    for ns in [&host, &ctr, &other, &out] {
        ns.run(&["ip", "link", "set", "lo", "up"]);
    }
    host.run(&["ip", "link", "add", "bt-a", "type", "bridge"]);
    host.run(&["ip", "addr", "add", "172.30.0.1/16", "dev", "bt-a"]);
    host.run(&["ip", "link", "set", "bt-a", "up"]);
    host.run(&["ip", "link", "add", "vc", "type", "veth", "peer", "name", "eth0", "netns", &ctr.0]);
    host.run(&["ip", "link", "set", "vc", "master", "bt-a", "up"]);
    // With br_netfilter loaded (Docker loads it), a DNATed hairpin packet is bridged back out
    // of the port it came in on, which the bridge does only in hairpin mode (Docker sets it too).
    host.run(&["ip", "link", "set", "vc", "type", "bridge_slave", "hairpin", "on"]);
    host.run(&["ip", "link", "add", "bt-b", "type", "bridge"]);
    host.run(&["ip", "addr", "add", "172.31.0.1/16", "dev", "bt-b"]);
    host.run(&["ip", "link", "set", "bt-b", "up"]);
    host.run(&["ip", "link", "add", "vb", "type", "veth", "peer", "name", "eth0", "netns", &other.0]);
    host.run(&["ip", "link", "set", "vb", "master", "bt-b", "up"]);
    other.run(&["ip", "addr", "add", "172.31.0.2/16", "dev", "eth0"]);
    other.run(&["ip", "link", "set", "eth0", "up"]);
    other.run(&["ip", "route", "add", "default", "via", "172.31.0.1"]);
    host.run(&["ip", "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", &out.0]);
    host.run(&["ip", "addr", "add", "10.99.0.1/24", "dev", "up0"]);
    host.run(&["ip", "link", "set", "up0", "up"]);
    host.run(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    host.run(&["sysctl", "-qw", "net.ipv4.conf.bt-a.route_localnet=1"]);
    ctr.run(&["ip", "addr", "add", "172.30.0.2/16", "dev", "eth0"]);
    ctr.run(&["ip", "link", "set", "eth0", "up"]);
    ctr.run(&["ip", "route", "add", "default", "via", "172.30.0.1"]);
    out.run(&["ip", "addr", "add", "10.99.0.2/24", "dev", "eth0"]);
    out.run(&["ip", "link", "set", "eth0", "up"]);

    let rs = Ruleset {
        bridges: vec![
            BridgeRules {
                device: "bt-a".into(),
                subnets: vec!["172.30.0.0/16".parse().unwrap()],
                internal: false,
                masquerade: true,
            },
            BridgeRules {
                device: "bt-b".into(),
                subnets: vec!["172.31.0.0/16".parse().unwrap()],
                internal: false,
                masquerade: true,
            },
        ],
        forwards: vec![PortForward {
            proto: Proto::Tcp,
            host_ip: None,
            host_port: 8080,
            container_ip: "172.30.0.2".parse().unwrap(),
            container_port: 80,
            device: "bt-a".into(),
        }],
    };
    let table = format!("berth-t{}", std::process::id());
    make(&host.0).apply(&table, &rs).unwrap();

    let _in_ctr = EchoPeer::start(&ctr, 80);
    let _outside = EchoPeer::start(&out, 80);
    // From outside to the host's address: DNAT, the client's address preserved.
    assert_eq!(peer_seen(&out, "10.99.0.1", 8080), "10.99.0.2");
    // From the host itself on loopback (masqueraded to the gateway) and on its own address
    // (kept: the container routes back to it).
    assert_eq!(peer_seen(&host, "127.0.0.1", 8080), "172.30.0.1");
    assert_eq!(peer_seen(&host, "10.99.0.1", 8080), "10.99.0.1");
    // Hairpin: the container reaches its own published port through the host.
    assert_eq!(peer_seen(&ctr, "10.99.0.1", 8080), "172.30.0.1");
    assert_eq!(peer_seen(&ctr, "172.30.0.1", 8080), "172.30.0.1");
    // Outbound: the container's traffic leaves masqueraded behind the uplink's address.
    assert_eq!(peer_seen(&ctr, "10.99.0.2", 80), "10.99.0.1");
    // Isolation: the other network cannot reach the container directly, only through the
    // published port (masqueraded behind bt-a's address).
    assert!(unreachable(&other, "172.30.0.2", 80));
    assert_eq!(peer_seen(&other, "10.99.0.1", 8080), "172.30.0.1");
    assert_eq!(peer_seen(&other, "10.99.0.2", 80), "10.99.0.1");
}
