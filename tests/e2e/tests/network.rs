//! Networking end to end: the real docker CLI (and a few `berth` checks) against a real berthd
//! on throwaway roots. Each test starts its own daemon, so they run in parallel; every host
//! object a test makes itself (network namespaces, veth pairs, listeners) sits behind a guard
//! that removes it on drop, and the daemon's own devices and firewall table go with `Daemon`.
//!
//! What we assert is Docker's behaviour (messages, exit codes, reachability).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_testkit::{cgroup_parent_for, requires_root, Daemon, unique, run_deadline as run_t};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A third octet for the test's private 10.23x.X.0/24 subnets, derived from the pid (each
/// 10.23x range is used by one test only).
fn octet() -> u8 {
    (std::process::id() % 250 + 2) as u8
}

/// A host shell command (30 s deadline).
fn sh(script: &str) -> (i32, String, String) {
    run_t(Command::new("sh").arg("-c").arg(script), 30)
}

/// A host shell command that must succeed.
fn sh_ok(script: &str) -> String {
    let (code, out, err) = sh(script);
    assert_eq!(code, 0, "`{script}` failed ({code}): {out}{err}");
    out
}

/// Poll `f` until it returns Ok (every 100 ms, for at most `secs`); panics with the last error.
fn poll<T>(what: &str, secs: u64, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => panic!("timed out ({secs} s) waiting for {what}; last: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// An HTTP/1.0 GET of `/` from this process; the body of a 200 answer.
fn http_get(addr: SocketAddr) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(3))).map_err(|e| e.to_string())?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: test\r\n\r\n").map_err(|e| format!("write to {addr}: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| format!("read from {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no HTTP answer from {addr}: {text:?}"))?;
    if !head.starts_with("HTTP/1.") || !head.lines().next().unwrap_or("").contains(" 200") {
        return Err(format!("{addr} answered {head:?}"));
    }
    Ok(body.to_string())
}

/// Poll until `addr` serves a page containing `want`.
fn wait_http(addr: SocketAddr, want: &str) {
    poll(&format!("http://{addr}/ to serve {want:?}"), 20, || {
        let body = http_get(addr)?;
        if body.contains(want) {
            Ok(())
        } else {
            Err(format!("body {body:?}"))
        }
    });
}

fn sock(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap_or_else(|_| panic!("bad ip {ip:?}")), port)
}

/// A TCP port free on `ip` right now (bound to port 0, then closed).
fn free_tcp_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0)).expect("bind port 0").local_addr().expect("local addr").port()
}

/// A UDP port free on all addresses right now.
fn free_udp_port() -> u16 {
    UdpSocket::bind("0.0.0.0:0").expect("bind udp port 0").local_addr().expect("local addr").port()
}

/// The host's first global IPv4 address (`ip -o -4 addr show scope global`).
fn host_ip() -> Option<String> {
    let out = sh_ok("ip -o -4 addr show scope global");
    out.lines().find_map(|l| {
        let t: Vec<&str> = l.split_whitespace().collect();
        let i = t.iter().position(|x| *x == "inet")?;
        t.get(i + 1).and_then(|a| a.split('/').next()).map(str::to_string)
    })
}

/// `ip -o -4 addr` output (iproute2's or busybox's) -> (interface, address, prefix).
fn parse_addrs(out: &str) -> Vec<(String, String, u8)> {
    out.lines()
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            let i = t.iter().position(|x| *x == "inet")?;
            let (ip, len) = t.get(i + 1)?.split_once('/')?;
            Some((t.get(1)?.trim_end_matches(':').to_string(), ip.to_string(), len.parse().ok()?))
        })
        .collect()
}

/// Is IPv4 `ip` inside `cidr`?
fn in_subnet(ip: &str, cidr: &str) -> bool {
    let (Ok(ip), Some((net, len))) = (ip.parse::<Ipv4Addr>(), cidr.split_once('/')) else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<Ipv4Addr>(), len.parse::<u32>()) else {
        return false;
    };
    if len > 32 {
        return false;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == u32::from(net) & mask
}

/// Names of the host's links.
fn host_links() -> BTreeSet<String> {
    sh_ok("ip -o link show")
        .lines()
        .filter_map(|l| l.split(": ").nth(1).map(|n| n.split('@').next().unwrap_or(n).to_string()))
        .collect()
}

/// The busybox command of a web server serving `page` on port 80.
fn httpd(page: &str) -> String {
    format!("mkdir -p /www && echo {page} > /www/index.html && exec httpd -f -p 80 -h /www")
}

/// `docker port` output -> the host port published for `container_port` (first IPv4 line).
fn published_port(port_out: &str, container_port: &str) -> Option<(String, u16)> {
    port_out.lines().find_map(|l| {
        let (k, v) = l.split_once(" -> ")?;
        if k.trim() != container_port || v.starts_with('[') {
            return None;
        }
        let (ip, port) = v.trim().rsplit_once(':')?;
        Some((ip.to_string(), port.parse().ok()?))
    })
}

/// Does `text` have one line containing every one of `words` (case-insensitive)?
fn line_with(text: &str, words: &[&str]) -> bool {
    text.lines().any(|l| {
        let l = l.to_lowercase();
        words.iter().all(|w| l.contains(&w.to_lowercase()))
    })
}

/// Does the nft rule `line` match destination port `port` (`... dport PORT ...`)?
fn matches_dport(line: &str, port: u16) -> bool {
    line.match_indices("dport ").any(|(i, m)| {
        let rest = &line[i + m.len()..];
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits == port.to_string()
    })
}

/// Kills and reaps a helper process on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A network namespace made with `ip netns add`, deleted on drop.
struct NetnsGuard(String);

impl NetnsGuard {
    fn new(name: &str) -> NetnsGuard {
        let _ = sh(&format!("ip netns del {name} 2>/dev/null"));
        let g = NetnsGuard(name.to_string());
        sh_ok(&format!("ip netns add {name}"));
        g
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = sh(&format!("ip netns del {} 2>/dev/null", self.0));
    }
}

/// A host link, deleted on drop (a veth takes its peer with it).
struct LinkGuard(String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = sh(&format!("ip link del {} 2>/dev/null", self.0));
    }
}

/// A veth pair: `host` up in the host with `host_addr` (if any), `peer` moved into the
/// namespace `ns` with `peer_addr` and up. Guards drop in reverse order: link, then namespace.
fn veth_into_netns(host: &str, host_addr: Option<&str>, peer: &str, ns: &str, peer_addr: &str) -> LinkGuard {
    let _ = sh(&format!("ip link del {host} 2>/dev/null"));
    let g = LinkGuard(host.to_string());
    sh_ok(&format!("ip link add {host} type veth peer name {peer}"));
    sh_ok(&format!("ip link set {peer} netns {ns}"));
    sh_ok(&format!("ip -n {ns} addr add {peer_addr} dev {peer} && ip -n {ns} link set {peer} up && ip -n {ns} link set lo up"));
    if let Some(a) = host_addr {
        sh_ok(&format!("ip addr add {a} dev {host}"));
    }
    sh_ok(&format!("ip link set {host} up"));
    g
}

/// A TCP server on the host answering every connection with an HTTP 200 and `body`.
struct HostServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HostServer {
    fn start(ip: &str, body: &str) -> HostServer {
        let l = TcpListener::bind((ip, 0)).expect("bind host server");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let answer = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                        let mut buf = [0u8; 1024];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(answer.as_bytes());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        HostServer { addr, stop, thread: Some(thread) }
    }
}

impl Drop for HostServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A daemon with the busybox image, and what a test needs to find the host objects it makes.
struct Net {
    d: Option<Daemon>,
    /// First 6 hex of the data root's hash: the daemon's devices and nft table carry it.
    hash6: String,
}

impl Net {
    fn new() -> Net {
        let d = Daemon::start();
        d.import_busybox("busybox:latest");
        let parent = cgroup_parent_for(&d.data_root().display().to_string());
        let hash6 = parent.trim_start_matches("berth-").chars().take(6).collect::<String>();
        assert_eq!(hash6.len(), 6, "hash of the data root: {parent}");
        Net { d: Some(d), hash6 }
    }

    fn d(&self) -> &Daemon {
        self.d.as_ref().expect("daemon")
    }

    fn d_mut(&mut self) -> &mut Daemon {
        self.d.as_mut().expect("daemon")
    }

    /// The last lines of berthd's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = self.d().log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn docker(&self, args: &[&str]) -> (i32, String, String) {
        run_t(self.d().docker().args(args), 90)
    }

    fn berth(&self, args: &[&str]) -> (i32, String, String) {
        run_t(self.d().berth().args(args), 90)
    }

    /// docker ARGS must succeed; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.docker(args);
        assert_eq!(code, 0, "docker {args:?} failed ({code}): {out}{err}\n--- berthd log (tail) ---\n{}", self.log_tail());
        out
    }

    /// berth ARGS must succeed; its stdout.
    fn bok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.berth(args);
        assert_eq!(code, 0, "berth {args:?} failed ({code}): {out}{err}\n--- berthd log (tail) ---\n{}", self.log_tail());
        out
    }

    /// docker ARGS must fail; its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let (code, out, err) = self.docker(args);
        assert_ne!(code, 0, "docker {args:?} succeeded but Docker fails it: {out}{err}");
        assert!(!err.trim().is_empty(), "docker {args:?} failed ({code}) without a message");
        err
    }

    fn inspect(&self, name: &str, fmt: &str) -> String {
        self.ok(&["inspect", "-f", fmt, name]).trim().to_string()
    }

    /// A container's address on one network.
    fn ip_on(&self, container: &str, network: &str) -> String {
        self.inspect(container, &format!("{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}"))
    }

    /// A network's first IPAM subnet.
    fn subnet(&self, network: &str) -> String {
        self.ok(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", network]).trim().to_string()
    }

    /// `ip -o -4 addr` inside a running container.
    fn container_addrs(&self, container: &str) -> Vec<(String, String, u8)> {
        parse_addrs(&self.ok(&["exec", container, "ip", "-o", "-4", "addr"]))
    }

    /// Links this daemon made: bridges `b<hash6>-*` and veths `v<hash6>*`.
    fn our_links(&self) -> BTreeSet<String> {
        let b = format!("b{}-", self.hash6);
        let v = format!("v{}", self.hash6);
        host_links().into_iter().filter(|l| l.starts_with(&b) || l.starts_with(&v)).collect()
    }

    /// The default bridge's device for a daemon on a non-default data root.
    fn default_bridge_device(&self) -> String {
        format!("b{}-0", self.hash6)
    }

    /// `nft list table ip berth-<hash6>` (empty when the table does not exist).
    fn nft(&self) -> String {
        let (code, out, _) = sh(&format!("nft list table ip berth-{}", self.hash6));
        if code == 0 {
            out
        } else {
            String::new()
        }
    }

    /// DNAT rules naming host port `port`, per chain of our table.
    fn dnat_rules(&self, port: u16) -> BTreeMap<String, usize> {
        let mut chain = String::new();
        let mut counts = BTreeMap::new();
        for line in self.nft().lines() {
            let t = line.trim();
            if let Some(rest) = t.strip_prefix("chain ") {
                chain = rest.trim_end_matches('{').trim().to_string();
            } else if t.contains("dnat") && matches_dport(t, port) {
                *counts.entry(chain.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Start a detached busybox web server serving `page`, with extra `docker run` flags.
    fn web(&self, name: &str, flags: &[&str], page: &str) {
        let cmd = httpd(page);
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sh", "-c", &cmd]);
        self.ok(&args);
    }

    /// Poll until `docker exec container timeout 5 wget -qO- url` prints `want` (Debian's
    /// busybox-static wget crashes with SIGSEGV on `-T`, so the deadline comes from `timeout`).
    fn wait_wget(&self, container: &str, url: &str, want: &str) {
        poll(&format!("{container}: wget {url} -> {want:?}"), 20, || {
            let (code, out, err) = self.docker(&["exec", container, "timeout", "5", "wget", "-qO-", url]);
            if code == 0 && out.contains(want) {
                Ok(())
            } else {
                Err(format!("exit {code}: {out}{err}"))
            }
        });
    }

    /// Poll until `docker port container` shows `container_port`; the host side.
    fn port_of(&self, container: &str, container_port: &str) -> (String, u16) {
        poll(&format!("docker port {container} {container_port}"), 10, || {
            let out = self.ok(&["port", container]);
            published_port(&out, container_port).ok_or(out)
        })
    }
}

impl Drop for Net {
    /// The daemon's own teardown, then what it leaves: berthd keeps `<exec-root>/netns`
    /// mounted (a bind mount of the directory on itself), so the temporary roots could not be
    /// removed; unmount it and remove them.
    fn drop(&mut self) {
        let Some(d) = self.d.take() else { return };
        let dir = d.dir.path().to_path_buf();
        drop(d);
        let netns = dir.join("exec/netns");
        let _ = sh(&format!(
            "for n in '{0}'/*; do [ -e \"$n\" ] && umount -l \"$n\" 2>/dev/null; done; umount -l '{0}' 2>/dev/null; true",
            netns.display()
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// Containers on a user network reach each other by name and alias through the embedded DNS;
/// a container on another network can neither resolve nor reach them.
#[test]
fn user_network_dns_aliases_and_isolation() {
    requires_root!();
    let t = Net::new();
    let n1 = unique("n1-");
    let n2 = unique("n2-");
    t.ok(&["network", "create", &n1]);
    t.ok(&["network", "create", &n2]);
    t.web("alpha", &["--network", &n1, "--network-alias", "web"], "hi-a");
    t.web("beta", &["--network", &n1], "hi-b");
    t.wait_wget("beta", "http://alpha/", "hi-a");
    t.wait_wget("beta", "http://web/", "hi-a");
    t.wait_wget("alpha", "http://beta/", "hi-b");
    let a_ip = t.ip_on("alpha", &n1);
    let b_ip = t.ip_on("beta", &n1);
    let (code, out, err) = t.docker(&["exec", "beta", "nslookup", "alpha"]);
    assert_eq!(code, 0, "nslookup alpha from beta: {out}{err}");
    assert!(out.contains(&a_ip), "nslookup alpha should answer {a_ip}: {out}");
    // Also `name.network`, the short id, and the reverse lookup.
    let short = t.inspect("alpha", "{{.Id}}")[..12].to_string();
    for q in [format!("alpha.{n1}"), short] {
        let (code, out, err) = t.docker(&["exec", "beta", "nslookup", &q]);
        assert!(code == 0 && out.contains(&a_ip), "nslookup {q} from beta should answer {a_ip}: {out}{err}");
    }
    let (code, out, err) = t.docker(&["exec", "beta", "nslookup", &a_ip]);
    assert!(code == 0 && out.contains("alpha"), "reverse lookup of {a_ip} should name alpha: {out}{err}");

    // The network's inspect lists both containers with addresses in its subnet.
    let subnet = t.subnet(&n1);
    let listed = t.ok(&["network", "inspect", "-f", "{{range $id, $c := .Containers}}{{$c.Name}} {{$c.IPv4Address}}\n{{end}}", &n1]);
    let mut seen = BTreeMap::new();
    for l in listed.lines().filter(|l| !l.trim().is_empty()) {
        let (name, addr) = l.split_once(' ').unwrap_or((l, ""));
        seen.insert(name.to_string(), addr.to_string());
    }
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), vec!["alpha".to_string(), "beta".to_string()], "{listed}");
    for (name, ip) in [("alpha", &a_ip), ("beta", &b_ip)] {
        let addr = &seen[name];
        assert!(addr.starts_with(&format!("{ip}/")), "{name}: {addr} vs {ip}");
        assert!(in_subnet(ip, &subnet), "{name}'s {ip} is outside {subnet}");
    }

    // Another network: no name resolution, no route through.
    t.ok(&["run", "-d", "--name", "gamma", "--network", &n2, "busybox", "sleep", "1000"]);
    let (_, out, err) = t.docker(&["exec", "gamma", "nslookup", "alpha"]);
    assert!(!out.contains(&a_ip), "gamma (on {n2}) resolved alpha to {a_ip}: {out}{err}");
    let (code, out, err) = t.docker(&["exec", "gamma", "timeout", "5", "wget", "-qO-", "http://alpha/"]);
    assert_ne!(code, 0, "gamma reached http://alpha/ by name across networks: {out}{err}");
    let (code, out, err) = t.docker(&["exec", "gamma", "timeout", "5", "wget", "-qO-", &format!("http://{a_ip}/")]);
    assert_ne!(code, 0, "gamma reached alpha's {a_ip} across networks (no isolation): {out}{err}");
}

/// Published ports: a loopback-only random port, 0.0.0.0 on a chosen port (loopback and the
/// host's address), UDP, and -P over --expose.
#[test]
fn published_ports_tcp_udp_and_publish_all() {
    requires_root!();
    let t = Net::new();

    // 127.0.0.1::80 -> a random port on loopback.
    t.web("p1", &["-p", "127.0.0.1::80"], "hi-p1");
    let (ip, port) = t.port_of("p1", "80/tcp");
    assert_eq!(ip, "127.0.0.1");
    assert_ne!(port, 0);
    let ps = t.ok(&["ps", "--filter", "name=p1", "--format", "{{.Ports}}"]);
    assert_eq!(ps.trim(), format!("127.0.0.1:{port}->80/tcp"), "docker ps PORTS");
    let one = t.ok(&["port", "p1", "80"]);
    assert_eq!(one.trim(), format!("127.0.0.1:{port}"));
    wait_http(sock("127.0.0.1", port), "hi-p1");
    // berth port agrees with docker port.
    assert_eq!(t.bok(&["port", "p1"]).trim(), t.ok(&["port", "p1"]).trim());

    // 0.0.0.0:PORT:80 answers on loopback and on the host's own address.
    let fixed = free_tcp_port("0.0.0.0");
    let spec = format!("0.0.0.0:{fixed}:80");
    t.web("p2", &["-p", &spec], "hi-p2");
    assert_eq!(t.port_of("p2", "80/tcp"), ("0.0.0.0".to_string(), fixed));
    wait_http(sock("127.0.0.1", fixed), "hi-p2");
    match host_ip() {
        Some(h) => {
            wait_http(sock(&h, fixed), "hi-p2");
            // Hairpin: a container reaches a published port through the host's address.
            let (code, out, err) = t.docker(&["run", "--rm", "busybox", "timeout", "5", "wget", "-qO-", &format!("http://{h}:{fixed}/")]);
            assert!(code == 0 && out.contains("hi-p2"), "container -> {h}:{fixed} (hairpin): exit {code}: {out}{err}\n{}", t.nft());
        }
        None => eprintln!("NOTE: no global IPv4 address on this host; skipped the non-loopback and hairpin checks"),
    }

    // UDP. Debian's busybox-static nc has no -u, so the listener is a host perl run inside
    // the container's network namespace (nsenter): the datagram must cross the DNAT into it.
    let uport = free_udp_port();
    let uspec = format!("{uport}:9999/udp");
    t.ok(&["run", "-d", "--name", "u1", "-p", &uspec, "busybox", "sleep", "1000"]);
    assert_eq!(t.port_of("u1", "9999/udp").1, uport);
    let pid = t.inspect("u1", "{{.State.Pid}}");
    let mut listener = ChildGuard(
        Command::new("nsenter")
            .arg(format!("--net=/proc/{pid}/ns/net"))
            .args(["perl", "-MIO::Socket::INET", "-e"])
            .arg("alarm 30; $|=1; my $s = IO::Socket::INET->new(LocalPort => 9999, Proto => 'udp') or die \"bind: $!\"; print \"ready\\n\"; $s->recv(my $b, 1500); print \"got:$b\\n\";")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn nsenter perl"),
    );
    let mut reader = BufReader::new(listener.0.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("read listener");
    assert_eq!(line.trim(), "ready", "udp listener in the container's netns did not start");
    let sender = UdpSocket::bind("0.0.0.0:0").expect("udp sender");
    let msg = unique("udp-");
    let deadline = Instant::now() + Duration::from_secs(15);
    while listener.0.try_wait().expect("try_wait").is_none() && Instant::now() < deadline {
        let _ = sender.send_to(msg.as_bytes(), ("127.0.0.1", uport));
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    assert!(rest.contains(&format!("got:{msg}")), "udp datagram to 127.0.0.1:{uport} did not reach the container's port 9999: {rest:?}\n{}", t.nft());

    // -P over --expose: a random port, in docker port and in docker ps.
    t.web("p4", &["-P", "--expose", "80"], "hi-p4");
    let (ip, rport) = t.port_of("p4", "80/tcp");
    assert_eq!(ip, "0.0.0.0");
    assert_ne!(rport, 0);
    let ps = t.ok(&["ps", "--filter", "name=p4", "--format", "{{.Ports}}"]);
    assert!(ps.contains(&format!(":{rport}->80/tcp")), "docker ps PORTS: {ps}");
    wait_http(sock("127.0.0.1", rport), "hi-p4");
}

/// An --internal network has no way out: its container cannot reach a listener on the host's
/// address, while one on a normal user network can.
#[test]
fn internal_network_has_no_way_out() {
    requires_root!();
    let Some(hip) = host_ip() else {
        eprintln!("SKIPPED internal_network_has_no_way_out: no global IPv4 address on this host");
        return;
    };
    let t = Net::new();
    let server = HostServer::start(&hip, "host-ok");
    let url = format!("http://{}/", server.addr);
    let internal = unique("int-");
    let normal = unique("norm-");
    t.ok(&["network", "create", "--internal", &internal]);
    t.ok(&["network", "create", &normal]);
    assert_eq!(t.ok(&["network", "inspect", "-f", "{{.Internal}}", &internal]).trim(), "true");
    let out = poll("a container on a normal network reaching the host", 20, || {
        let (code, out, err) = t.docker(&["run", "--rm", "--network", &normal, "busybox", "timeout", "5", "wget", "-qO-", &url]);
        if code == 0 {
            Ok(out)
        } else {
            Err(format!("exit {code}: {out}{err}"))
        }
    });
    assert_eq!(out, "host-ok");
    let (code, out, err) = t.docker(&["run", "--rm", "--network", &internal, "busybox", "timeout", "5", "wget", "-qO-", &url]);
    assert_ne!(code, 0, "a container on --internal {internal} reached {url}: {out}{err}");
}

/// network connect adds an interface from the network's subnet to a running container;
/// disconnect takes it away.
#[test]
fn connect_and_disconnect_a_running_container() {
    requires_root!();
    let t = Net::new();
    let n = unique("cn-");
    t.ok(&["network", "create", &n]);
    let subnet = t.subnet(&n);
    t.ok(&["run", "-d", "--name", "mover", "busybox", "sleep", "1000"]);
    t.ok(&["run", "-d", "--name", "other", "--network", &n, "busybox", "sleep", "1000"]);
    let before = t.container_addrs("mover");
    assert!(before.iter().any(|(i, _, _)| i == "eth0"), "{before:?}");
    assert!(!before.iter().any(|(_, ip, _)| in_subnet(ip, &subnet)), "{before:?}");

    t.ok(&["network", "connect", &n, "mover"]);
    let after = t.container_addrs("mover");
    let (ifname, ip, _) = after.iter().find(|(_, ip, _)| in_subnet(ip, &subnet)).cloned().unwrap_or_else(|| panic!("no address from {subnet} in mover after connect: {after:?}"));
    assert_ne!(ifname, "eth0", "{after:?}");
    assert!(after.iter().any(|(i, _, _)| i == "eth0"), "eth0 is gone after connect: {after:?}");
    assert_eq!(t.ip_on("mover", &n), ip);
    let (code, out, err) = t.docker(&["exec", "other", "ping", "-c1", "-W2", &ip]);
    assert_eq!(code, 0, "other (on {n}) cannot ping mover's {ip}: {out}{err}");

    t.ok(&["network", "disconnect", &n, "mover"]);
    let gone = t.container_addrs("mover");
    assert!(!gone.iter().any(|(_, a, _)| in_subnet(a, &subnet)), "{subnet} address still in mover: {gone:?}");
    let (code, out, _) = t.docker(&["exec", "mover", "ip", "link", "show", &ifname]);
    assert_ne!(code, 0, "{ifname} still exists in mover after disconnect: {out}");
    let nets = t.inspect("mover", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}");
    assert_eq!(nets, "bridge");

    // A stopped container can be connected too: it comes up on both networks.
    t.ok(&["create", "--name", "later", "busybox", "sleep", "1000"]);
    t.ok(&["network", "connect", &n, "later"]);
    t.ok(&["start", "later"]);
    let addrs = t.container_addrs("later");
    let bridge_subnet = t.subnet("bridge");
    assert!(addrs.iter().any(|(_, a, _)| in_subnet(a, &subnet)), "later has no {subnet} address: {addrs:?}");
    assert!(addrs.iter().any(|(_, a, _)| in_subnet(a, &bridge_subnet)), "later has no {bridge_subnet} address: {addrs:?}");
    let ip = t.ip_on("later", &n);
    let (code, out, err) = t.docker(&["exec", "other", "ping", "-c1", "-W2", &ip]);
    assert_eq!(code, 0, "other cannot ping later's {ip}: {out}{err}");
}

/// --ip on a user network with a --subnet; the same address twice is refused; --ip on the
/// default bridge is refused.
#[test]
fn static_ip_on_a_user_subnet() {
    requires_root!();
    let t = Net::new();
    let x = octet();
    let n = unique("st-");
    let subnet = format!("10.231.{x}.0/24");
    let ip = format!("10.231.{x}.50");
    t.ok(&["network", "create", "--subnet", &subnet, &n]);
    assert_eq!(t.subnet(&n), subnet);
    t.ok(&["run", "-d", "--name", "s1", "--network", &n, "--ip", &ip, "busybox", "sleep", "1000"]);
    let addrs = t.container_addrs("s1");
    assert!(addrs.iter().any(|(i, a, l)| i == "eth0" && *a == ip && *l == 24), "{addrs:?}");
    assert_eq!(t.ip_on("s1", &n), ip);

    let (code, _, err) = t.docker(&["run", "-d", "--name", "s2", "--network", &n, "--ip", &ip, "busybox", "sleep", "1000"]);
    assert_eq!(code, 125, "second --ip {ip}: {err}");
    assert!(line_with(&err, &["in use"]), "second --ip {ip}: {err}");
    let running = t.ok(&["ps", "--format", "{{.Names}}"]);
    assert_eq!(running.trim(), "s1", "only s1 runs");
    assert_eq!(t.ip_on("s1", &n), ip);

    let err = t.fails(&["run", "--rm", "--network", "bridge", "--ip", "172.17.0.99", "busybox", "true"]);
    assert!(line_with(&err, &["user specified IP address is supported on user defined networks only"]), "--ip on the default bridge: {err}");
}

/// --network container:X shares X's namespace: same addresses, and its server on loopback.
#[test]
fn container_network_mode_shares_the_namespace() {
    requires_root!();
    let t = Net::new();
    t.web("shared", &[], "hi-shared");
    t.wait_wget("shared", "http://127.0.0.1:80/", "hi-shared");
    let mine = t.ok(&["exec", "shared", "ip", "-o", "-4", "addr"]);
    let (code, theirs, err) = t.docker(&["run", "--rm", "--network", "container:shared", "busybox", "ip", "-o", "-4", "addr"]);
    assert_eq!(code, 0, "{err}");
    let norm = |s: &str| s.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect::<Vec<_>>();
    assert_eq!(norm(&theirs), norm(&mine));
    assert!(parse_addrs(&mine).iter().any(|(i, _, _)| i == "eth0"), "{mine}");
    let (code, out, err) = t.docker(&["run", "--rm", "--network", "container:shared", "busybox", "timeout", "5", "wget", "-qO-", "http://127.0.0.1:80/"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(out.trim(), "hi-shared");
}

/// A macvlan network on a veth whose peer lives in a throwaway namespace: the container gets
/// an address from the subnet and reaches the peer.
#[test]
fn macvlan_reaches_a_peer_on_the_parent_link() {
    requires_root!();
    let t = Net::new();
    let x = octet();
    let pid = std::process::id();
    let ns = NetnsGuard::new(&format!("berth-mv-{pid}"));
    let host = format!("mvp{}", pid % 100000);
    let peer = format!("mvq{}", pid % 100000);
    let _link = veth_into_netns(&host, None, &peer, &ns.0, &format!("10.232.{x}.2/24"));
    let mv = unique("mv-");
    let subnet = format!("10.232.{x}.0/24");
    let parent = format!("parent={host}");
    t.ok(&["network", "create", "-d", "macvlan", "--subnet", &subnet, "--gateway", &format!("10.232.{x}.1"), "-o", &parent, &mv]);
    assert_eq!(t.ok(&["network", "inspect", "-f", "{{.Driver}}", &mv]).trim(), "macvlan");
    let (code, out, err) = t.docker(&["run", "--rm", "--network", &mv, "busybox", "sh", "-c", &format!("ip -o -4 addr show eth0 && ping -c1 -W2 10.232.{x}.2")]);
    assert_eq!(code, 0, "ping over macvlan: {out}{err}\n--- berthd log (tail) ---\n{}", t.log_tail());
    let addrs = parse_addrs(&out);
    assert!(addrs.iter().any(|(i, a, _)| i == "eth0" && in_subnet(a, &subnet)), "container address not in {subnet}: {out}");
}

/// Removing containers and networks leaves no device and no DNAT rule behind, and a berthd
/// restart neither loses nor duplicates a running container's published port.
#[test]
fn cleanup_after_rm_and_across_a_daemon_restart() {
    requires_root!();
    let mut t = Net::new();
    let n1 = unique("cl1-");
    let n2 = unique("cl2-");
    t.ok(&["network", "create", &n1]);
    t.ok(&["network", "create", &n2]);
    let p1 = free_tcp_port("127.0.0.1");
    let p2 = free_tcp_port("0.0.0.0");
    t.web("w1", &["--network", &n1, "-p", &format!("127.0.0.1:{p1}:80")], "hi-w1");
    t.web("w2", &["--network", &n2, "-p", &format!("{p2}:80")], "hi-w2");
    t.web("w3", &["-p", "127.0.0.1::80"], "hi-w3");
    let (_, p3) = t.port_of("w3", "80/tcp");
    wait_http(sock("127.0.0.1", p1), "hi-w1");
    wait_http(sock("127.0.0.1", p2), "hi-w2");
    wait_http(sock("127.0.0.1", p3), "hi-w3");
    for p in [p1, p2, p3] {
        assert!(!t.dnat_rules(p).is_empty(), "no dnat rule for {p} in:\n{}", t.nft());
    }
    let links = t.our_links();
    assert!(links.iter().filter(|l| l.starts_with(&format!("v{}", t.hash6))).count() >= 3, "{links:?}");

    t.ok(&["rm", "-f", "w1", "w2", "w3"]);
    t.ok(&["network", "rm", &n1, &n2]);
    let default = t.default_bridge_device();
    poll("devices to go", 10, || {
        let left: Vec<String> = t.our_links().into_iter().filter(|l| *l != default).collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("{left:?}"))
        }
    });
    for p in [p1, p2, p3] {
        assert!(t.dnat_rules(p).is_empty(), "dnat rule for removed port {p} left:\n{}", t.nft());
        assert!(http_get(sock("127.0.0.1", p)).is_err(), "port {p} still answers after rm -f");
    }

    // A stopped container holds no port; starting it publishes again.
    let sp = free_tcp_port("127.0.0.1");
    t.web("s1", &["-p", &format!("127.0.0.1:{sp}:80")], "hi-s1");
    wait_http(sock("127.0.0.1", sp), "hi-s1");
    t.ok(&["stop", "-t", "1", "s1"]);
    assert!(t.dnat_rules(sp).is_empty(), "dnat rule for stopped s1's {sp}:\n{}", t.nft());
    poll("the stopped container's port to be free", 10, || TcpListener::bind(("127.0.0.1", sp)).map(drop).map_err(|e| e.to_string()));
    t.ok(&["start", "s1"]);
    wait_http(sock("127.0.0.1", sp), "hi-s1");
    t.ok(&["restart", "-t", "1", "s1"]);
    wait_http(sock("127.0.0.1", sp), "hi-s1");
    let c = t.dnat_rules(sp);
    assert!(!c.is_empty() && c.values().all(|&n| n == 1), "dnat rules for {sp} after start/restart: {c:?}\n{}", t.nft());
    t.ok(&["rm", "-f", "s1"]);

    // network prune removes unused networks and their devices.
    let unused = unique("cl3-");
    t.ok(&["network", "create", &unused]);
    let pruned = t.ok(&["network", "prune", "-f"]);
    assert!(pruned.lines().any(|l| l.trim() == unused), "prune output: {pruned}");
    let (code, _, _) = t.docker(&["network", "inspect", &unused]);
    assert_ne!(code, 0, "{unused} survived prune");
    let left: Vec<String> = t.our_links().into_iter().filter(|l| *l != default).collect();
    assert!(left.is_empty(), "after prune: {left:?}");

    // Restart with a running container that publishes a port.
    let rp = free_tcp_port("127.0.0.1");
    t.web("r1", &["-p", &format!("127.0.0.1:{rp}:80")], "hi-r1");
    wait_http(sock("127.0.0.1", rp), "hi-r1");
    let before = t.dnat_rules(rp);
    assert!(!before.is_empty() && before.values().all(|&c| c == 1), "dnat rules for {rp}: {before:?}\n{}", t.nft());
    t.d_mut().kill9();
    t.d_mut().spawn(&[]);
    assert_eq!(t.inspect("r1", "{{.State.Running}}"), "true");
    assert_eq!(t.ok(&["port", "r1", "80"]).trim(), format!("127.0.0.1:{rp}"));
    wait_http(sock("127.0.0.1", rp), "hi-r1");
    let after = t.dnat_rules(rp);
    assert_eq!(after, before, "dnat rules for {rp} changed across the restart:\n{}", t.nft());
    // The restarted daemon holds the port again: nobody else can take it.
    assert!(TcpListener::bind(("127.0.0.1", rp)).is_err(), "berthd does not hold 127.0.0.1:{rp} after its restart");
    t.ok(&["rm", "-f", "r1"]);
    assert!(t.dnat_rules(rp).is_empty(), "dnat rule for {rp} left after rm -f:\n{}", t.nft());
    poll("the port to be free again", 10, || TcpListener::bind(("127.0.0.1", rp)).map(drop).map_err(|e| e.to_string()));
    let left: Vec<String> = t.our_links().into_iter().filter(|l| *l != default).collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The default bridge: addresses from its subnet, inspect and /etc/hosts agree, and outbound
/// traffic is masqueraded.
#[test]
fn default_bridge_addresses_hosts_and_masquerade() {
    requires_root!();
    let t = Net::new();
    let subnet = t.subnet("bridge");
    let (code, out, err) = t.docker(&["run", "--rm", "busybox", "ip", "-o", "-4", "addr", "show", "eth0"]);
    assert_eq!(code, 0, "{err}");
    let addrs = parse_addrs(&out);
    assert!(addrs.iter().any(|(i, a, _)| i == "eth0" && in_subnet(a, &subnet)), "eth0 not in {subnet}: {out}");

    t.ok(&["run", "-d", "--name", "d1", "busybox", "sleep", "1000"]);
    let ip = t.inspect("d1", "{{.NetworkSettings.IPAddress}}");
    let eth0: Vec<String> = t.container_addrs("d1").into_iter().filter(|(i, _, _)| i == "eth0").map(|(_, a, _)| a).collect();
    assert_eq!(eth0, vec![ip.clone()]);
    assert!(in_subnet(&ip, &subnet), "{ip} not in {subnet}");
    assert_eq!(t.ip_on("d1", "bridge"), ip);
    let hostname = t.ok(&["exec", "d1", "hostname"]).trim().to_string();
    let hosts = t.ok(&["exec", "d1", "cat", "/etc/hosts"]);
    assert!(
        hosts.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.first() == Some(&ip.as_str()) && w[1..].contains(&hostname.as_str())
        }),
        "/etc/hosts lacks `{ip} {hostname}`:\n{hosts}"
    );

    // --add-host and --dns reach the files; none has only lo; host sees the host's links.
    let out = t.ok(&["run", "--rm", "--add-host", "extra.example:10.1.2.3", "--dns", "10.9.8.7", "busybox", "cat", "/etc/hosts", "/etc/resolv.conf"]);
    assert!(out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["10.1.2.3", "extra.example"]), "--add-host: {out}");
    assert!(out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["nameserver", "10.9.8.7"]), "--dns: {out}");
    let out = t.ok(&["run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"]);
    let links: Vec<&str> = out.lines().filter_map(|l| l.split(": ").nth(1)).collect();
    assert_eq!(links, ["lo"], "--network none: {out}");
    if let Some(h) = host_ip() {
        let out = t.ok(&["run", "--rm", "--network", "host", "busybox", "ip", "-o", "-4", "addr"]);
        assert!(parse_addrs(&out).iter().any(|(_, a, _)| *a == h), "--network host does not see the host's {h}: {out}");
    }

    // A remote that knows no route back to the container subnet: only masquerade gets the
    // reply home.
    let x = octet();
    let pid = std::process::id();
    let ns = NetnsGuard::new(&format!("berth-rm-{pid}"));
    let _link = veth_into_netns(&format!("rmh{}", pid % 100000), Some(&format!("10.233.{x}.1/30")), &format!("rmr{}", pid % 100000), &ns.0, &format!("10.233.{x}.2/30"));
    let routes = sh_ok(&format!("ip -n {} route", ns.0));
    assert!(!routes.contains("default"), "{routes}");
    let (code, out, err) = t.docker(&["run", "--rm", "busybox", "ping", "-c1", "-W2", &format!("10.233.{x}.2")]);
    assert_eq!(code, 0, "ping to a remote without a route back (masquerade): {out}{err}\n{}", t.nft());
}

/// Bad input fails with Docker's messages and leaves nothing behind.
#[test]
fn bad_network_input_gets_clean_errors() {
    requires_root!();
    let t = Net::new();
    let x = octet();

    // Overlapping --subnet.
    let n1 = unique("bad1-");
    t.ok(&["network", "create", "--subnet", &format!("10.234.{x}.0/24"), &n1]);
    let links = t.our_links();
    let (code, _, err) = t.docker(&["network", "create", "--subnet", &format!("10.234.{x}.128/25"), &unique("bad2-")]);
    assert_eq!(code, 1, "{err}");
    assert!(line_with(&err, &["overlaps"]), "overlapping subnet: {err}");
    assert_eq!(t.our_links(), links, "a failed network create left a device");

    // -p on a port someone else holds.
    let held = TcpListener::bind("0.0.0.0:0").expect("hold a port");
    let hp = held.local_addr().expect("addr").port();
    let links = t.our_links();
    let cmd = httpd("busy");
    let (code, _, err) = t.docker(&["run", "-d", "--name", "busy", "-p", &format!("{hp}:80"), "busybox", "sh", "-c", &cmd]);
    assert_eq!(code, 125, "-p {hp} on a held port: {err}");
    assert!(line_with(&err, &["already"]) || line_with(&err, &["in use"]), "-p {hp} on a held port: {err}");
    assert!(t.ok(&["ps", "-q"]).trim().is_empty(), "a container is left running after the failed -p");
    // As with Docker, the container was created and stays so; its start failed.
    assert_eq!(t.ok(&["ps", "-a", "--filter", "name=busy", "--format", "{{.Status}}"]).trim(), "Created");
    assert!(t.dnat_rules(hp).is_empty(), "dnat rule for the failed port {hp}:\n{}", t.nft());
    assert_eq!(t.our_links(), links, "the failed run left a device");
    drop(held);

    // network rm of a network in use.
    let n3 = unique("bad3-");
    t.ok(&["network", "create", &n3]);
    t.ok(&["run", "-d", "--name", "user", "--network", &n3, "busybox", "sleep", "1000"]);
    let links = t.our_links();
    let err = t.fails(&["network", "rm", &n3]);
    assert!(line_with(&err, &["active endpoints"]), "network rm in use: {err}");
    assert_eq!(t.ok(&["network", "inspect", "-f", "{{.Name}}", &n3]).trim(), n3);
    assert_eq!(t.our_links(), links);

    // Unknown driver.
    let links = t.our_links();
    let err = t.fails(&["network", "create", "-d", "nosuchdriver", &unique("bad4-")]);
    assert!(line_with(&err, &["not found"]), "unknown driver: {err}");
    assert_eq!(t.our_links(), links, "a failed network create left a device");
}

/// Our CLI: network create/ls/inspect/rm, run -p and port.
#[test]
fn berth_cli_networks_and_ports() {
    requires_root!();
    let t = Net::new();
    let x = octet();
    let n = unique("bn-");
    let subnet = format!("10.235.{x}.0/24");
    let id = t.bok(&["network", "create", "--subnet", &subnet, &n]);
    assert!(id.trim().len() == 64 && id.trim().chars().all(|c| c.is_ascii_hexdigit()), "network create prints the id: {id:?}");
    let ls = t.bok(&["network", "ls"]);
    let header = ls.lines().next().unwrap_or("");
    for col in ["NETWORK ID", "NAME", "DRIVER", "SCOPE"] {
        assert!(header.contains(col), "{ls}");
    }
    for name in [n.as_str(), "bridge", "host", "none"] {
        assert!(ls.lines().any(|l| l.split_whitespace().nth(1) == Some(name)), "{name} missing from berth network ls:\n{ls}");
    }
    assert!(t.ok(&["network", "ls", "--format", "{{.Name}}"]).lines().any(|l| l == n), "docker does not see berth's network");
    let json: serde_json::Value = serde_json::from_str(&t.bok(&["network", "inspect", &n])).expect("network inspect is JSON");
    let net = &json[0];
    assert_eq!(net["Name"], n.as_str(), "{json}");
    assert_eq!(net["Id"], id.trim(), "{json}");
    assert_eq!(net["Driver"], "bridge", "{json}");
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], subnet.as_str(), "{json}");
    assert_eq!(t.bok(&["network", "inspect", "-f", "{{.Driver}}", &n]).trim(), "bridge");

    // run -p and port through berth; the network is ours too.
    let cmd = httpd("hi-berth");
    t.bok(&["run", "-d", "--name", "bp", "--network", &n, "-p", "127.0.0.1::80", "busybox", "sh", "-c", &cmd]);
    let (ip, port) = poll("berth port bp", 10, || {
        let out = t.bok(&["port", "bp"]);
        published_port(&out, "80/tcp").ok_or(out)
    });
    assert_eq!(ip, "127.0.0.1");
    assert_eq!(t.bok(&["port", "bp", "80/tcp"]).trim(), format!("127.0.0.1:{port}"));
    wait_http(sock("127.0.0.1", port), "hi-berth");
    assert!(in_subnet(&t.ip_on("bp", &n), &subnet));

    // rm of a network in use fails like docker; after the container goes, it works.
    let (code, _, err) = t.berth(&["network", "rm", &n]);
    assert_ne!(code, 0);
    assert!(line_with(&err, &["active endpoints"]), "{err}");
    t.bok(&["rm", "-f", "bp"]);
    let out = t.bok(&["network", "rm", &n]);
    assert_eq!(out.trim(), n);
    let ls = t.bok(&["network", "ls"]);
    assert!(!ls.lines().any(|l| l.split_whitespace().nth(1) == Some(n.as_str())), "{ls}");
    let (code, _, err) = t.berth(&["network", "inspect", &n]);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
}

/// The harness's own parsers, on what the tools print (no root needed).
#[test]
fn harness_parses_tool_output() {
    let busybox_ip = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                      12: eth1    inet 172.19.0.3/16 brd 172.19.255.255 scope global eth1\\       valid_lft forever";
    assert_eq!(
        parse_addrs(busybox_ip),
        vec![("lo".to_string(), "127.0.0.1".to_string(), 8), ("eth1".to_string(), "172.19.0.3".to_string(), 16)]
    );
    for (ip, cidr, inside) in [
        ("172.19.0.3", "172.19.0.0/16", true),
        ("172.20.0.3", "172.19.0.0/16", false),
        ("10.231.7.50", "10.231.7.0/24", true),
        ("10.231.8.50", "10.231.7.0/24", false),
        ("1.2.3.4", "0.0.0.0/0", true),
        ("not-an-ip", "10.0.0.0/8", false),
        ("10.0.0.1", "10.0.0.0/33", false),
    ] {
        assert_eq!(in_subnet(ip, cidr), inside, "{ip} in {cidr}");
    }
    let port = "80/tcp -> 0.0.0.0:32768\n80/tcp -> [::]:32768\n9999/udp -> 127.0.0.1:40000\n";
    for (key, want) in [("80/tcp", Some(("0.0.0.0".to_string(), 32768))), ("9999/udp", Some(("127.0.0.1".to_string(), 40000))), ("81/tcp", None)] {
        assert_eq!(published_port(port, key), want, "{key}");
    }
    for (line, p, want) in [
        ("meta l4proto tcp tcp dport 8080 dnat to 172.17.0.2:80", 8080, true),
        ("meta l4proto tcp ip daddr 127.0.0.1 tcp dport 80801 dnat to 172.17.0.2:80", 8080, false),
        ("oifname \"b1-0\" ip saddr 172.17.0.0/16 ct status dnat masquerade", 16, false),
        ("tcp dport 5353", 5353, true),
    ] {
        assert_eq!(matches_dport(line, p), want, "{line} / {p}");
    }
    assert!(line_with("docker: Error response from daemon: Address already in use\n\nRun 'docker run --help'", &["already", "in use"]));
    assert!(!line_with("already\nin use", &["already", "in use"]));
}
