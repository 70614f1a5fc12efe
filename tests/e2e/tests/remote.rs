//! The remote API and the ways clients reach it: TCP with TLS (mutual with `--tlsverify`,
//! server-only with `--tls`) through the real docker CLI and berth, plain TCP refused unless
//! `--insecure-tcp`, the unix socket's mode and group, contexts shared with the docker CLI
//! (`berth context use` switching daemons), and `--userns-remap`.
//!
//! Certificates are made per test with openssl in a temporary directory; every daemon runs on
//! temporary roots and is stopped when its guard drops. The userns test creates a unique user
//! and group with its own `/etc/subuid` and `/etc/subgid` lines and removes them afterwards.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::{bin, busybox_tar, free_port, requires_root, run, run_with_input, Daemon};

/// A CA, a server certificate for 127.0.0.1/localhost and a client certificate, plus a client
/// certificate from another CA, all made with openssl.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn make() -> Option<Certs> {
        if Command::new("openssl").arg("version").stdout(Stdio::null()).status().map(|s| !s.success()).unwrap_or(true) {
            eprintln!("SKIPPED: openssl is not installed");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("berth-certs").tempdir_in("/tmp").expect("tempdir");
        let script = r#"
set -e
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca-key.pem
openssl req -x509 -new -key ca-key.pem -out ca.pem -days 2 -subj /CN=berth-test-ca 2>/dev/null
key server-key.pem
openssl req -new -key server-key.pem -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 2 -extfile server.ext 2>/dev/null
key key.pem
openssl req -new -key key.pem -out client.csr -subj /CN=client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile client.ext 2>/dev/null
mkdir other
key other/ca-key.pem
openssl req -x509 -new -key other/ca-key.pem -out other/ca.pem -days 2 -subj /CN=other-ca 2>/dev/null
key other/key.pem
openssl req -new -key other/key.pem -out other/client.csr -subj /CN=intruder 2>/dev/null
openssl x509 -req -in other/client.csr -CA other/ca.pem -CAkey other/ca-key.pem -CAcreateserial -out other/cert.pem -days 2 -extfile client.ext 2>/dev/null
"#;
        let st = Command::new("sh").arg("-c").arg(script).current_dir(dir.path()).status().expect("run openssl");
        assert!(st.success(), "making certificates failed");
        Some(Certs { dir })
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// berthd's flags for serving TLS (`verify`: require client certificates).
    fn daemon_flags(&self, verify: bool) -> Vec<String> {
        let mut f = vec![if verify { "--tlsverify" } else { "--tls" }.to_string()];
        if verify {
            f.extend(["--tlscacert".into(), self.path("ca.pem")]);
        }
        f.extend(["--tlscert".into(), self.path("server-cert.pem"), "--tlskey".into(), self.path("server-key.pem")]);
        f
    }
}

/// A client command (the docker CLI or berth) that knows nothing but what it is given: its
/// own config directory (where default certificates would be looked up: none there) and no
/// DOCKER_* variables.
fn client(program: &Path, config: &Path) -> Command {
    let mut c = Command::new(program);
    for v in ["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_TLS", "DOCKER_CERT_PATH"] {
        c.env_remove(v);
    }
    c.env("DOCKER_CONFIG", config).env("DOCKER_CLI_HINTS", "false");
    c
}

fn docker_bin() -> PathBuf {
    PathBuf::from("docker")
}

fn ok(cmd: &mut Command, d: &Daemon) -> String {
    let desc = format!("{cmd:?}");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{desc} failed: {err}\nberthd log:\n{}", d.log());
    out
}

fn fails(cmd: &mut Command) -> String {
    let desc = format!("{cmd:?}");
    let (code, out, err) = run(cmd);
    assert_ne!(code, 0, "{desc} should fail, said: {out}");
    err
}

/// Start a daemon that also listens on TCP (retrying once on a port taken meanwhile).
fn start_tcp(extra: &[String]) -> (Daemon, u16) {
    let port = free_port();
    let mut args = vec!["-H".to_string(), format!("tcp://127.0.0.1:{port}")];
    args.extend(extra.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let d = Daemon::start_with(&refs);
    (d, port)
}

#[test]
fn docker_cli_over_mutual_tls() {
    requires_root!();
    let Some(certs) = Certs::make() else { return };
    let (d, port) = start_tcp(&certs.daemon_flags(true));
    let cfg = d.dir.path().join("client-config");
    let host = format!("tcp://127.0.0.1:{port}");
    let tls_docker = || {
        let mut c = client(&docker_bin(), &cfg);
        c.args(["--tlsverify", "--tlscacert", &certs.path("ca.pem"), "--tlscert", &certs.path("cert.pem")]);
        c.args(["--tlskey", &certs.path("key.pem"), "-H", &host]);
        c
    };
    let v = ok(tls_docker().args(["version", "--format", "{{.Server.APIVersion}}"]), &d);
    assert_eq!(v.trim(), "1.47");
    // Images and containers over TLS, with stdin and output streams (the hijacked attach).
    let (code, _, err) = run(tls_docker().arg("import").arg(busybox_tar()).arg("busybox:latest"));
    assert_eq!(code, 0, "import over TLS: {err}\n{}", d.log());
    let out = ok(tls_docker().args(["run", "--rm", "busybox", "echo", "hello over tls"]), &d);
    assert_eq!(out, "hello over tls\n");
    let (code, out, err) = run_with_input(tls_docker().args(["run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z"]), b"piped in\n");
    assert_eq!((code, out.as_str()), (0, "PIPED IN\n"), "{err}");

    // No client certificate, one from another CA, plain HTTP: refused.
    let err = fails(client(&docker_bin(), &cfg).args(["--tlsverify", "--tlscacert", &certs.path("ca.pem"), "-H", &host, "version"]));
    assert!(err.contains("certificate required") || err.contains("bad certificate"), "{err}");
    let err = fails(client(&docker_bin(), &cfg).args([
        "--tlsverify",
        "--tlscacert",
        &certs.path("ca.pem"),
        "--tlscert",
        &certs.path("other/cert.pem"),
        "--tlskey",
        &certs.path("other/key.pem"),
        "-H",
        &host,
        "version",
    ]));
    assert!(err.contains("certificate") || err.contains("tls"), "{err}");
    fails(client(&docker_bin(), &cfg).args(["-H", &host, "version"]));

    // berth with the same flags, and with docker's environment variables.
    let berth = bin("berth");
    let out = ok(client(&berth, &cfg)
        .args(["--tlsverify", "--tlscacert", &certs.path("ca.pem"), "--tlscert", &certs.path("cert.pem")])
        .args(["--tlskey", &certs.path("key.pem"), "-H", &host, "run", "--rm", "busybox", "echo", "berth over tls"]), &d);
    assert_eq!(out, "berth over tls\n");
    let out = ok(client(&berth, &cfg)
        .env("DOCKER_HOST", &host)
        .env("DOCKER_TLS_VERIFY", "1")
        .env("DOCKER_CERT_PATH", certs.dir.path())
        .args(["images", "--format", "{{.Repository}}"]), &d);
    assert_eq!(out, "busybox\n");
    let err = fails(client(&berth, &cfg).args(["--tlsverify", "--tlscacert", &certs.path("ca.pem"), "-H", &host, "ps"]));
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    // A context with the TLS material, made by berth, used by both CLIs.
    let spec = format!("host={host},ca={},cert={},key={}", certs.path("ca.pem"), certs.path("cert.pem"), certs.path("key.pem"));
    ok(client(&berth, &cfg).args(["context", "create", "remote-tls", "--docker", &spec]), &d);
    let out = ok(client(&berth, &cfg).args(["--context", "remote-tls", "ps", "-a", "--format", "{{.Image}}"]), &d);
    assert_eq!(out, "");
    let v = ok(client(&docker_bin(), &cfg).args(["--context", "remote-tls", "version", "--format", "{{.Server.APIVersion}}"]), &d);
    assert_eq!(v.trim(), "1.47");
}

#[test]
fn server_only_tls_needs_no_client_certificate() {
    requires_root!();
    let Some(certs) = Certs::make() else { return };
    let (d, port) = start_tcp(&certs.daemon_flags(false));
    let cfg = d.dir.path().join("client-config");
    let host = format!("tcp://127.0.0.1:{port}");
    // --tls without --tlsverify: no client certificate, and the server is not checked (the
    // CA file docker insists on reading may be any CA).
    let other_ca = certs.path("other/ca.pem");
    let v = ok(client(&docker_bin(), &cfg).args(["--tls", "--tlscacert", &other_ca, "-H", &host, "version", "--format", "{{.Server.APIVersion}}"]), &d);
    assert_eq!(v.trim(), "1.47");
    // Checked against the CA, it verifies too.
    ok(client(&docker_bin(), &cfg).args(["--tlsverify", "--tlscacert", &certs.path("ca.pem"), "-H", &host, "info"]), &d);
    ok(client(&bin("berth"), &cfg).args(["--tls", "--tlscacert", &other_ca, "-H", &host, "ps"]), &d);
    // Like docker, --tls wants the CA file (here: none in the config directory).
    let err = fails(client(&bin("berth"), &cfg).args(["--tls", "-H", &host, "ps"]));
    assert!(err.contains("ca.pem"), "{err}");
    ok(client(&bin("berth"), &cfg).args(["--tlsverify", "--tlscacert", &certs.path("ca.pem"), "-H", &host, "ps"]), &d);
    // A client that trusts another CA refuses the server.
    let err = fails(client(&bin("berth"), &cfg).args(["--tlsverify", "--tlscacert", &certs.path("other/ca.pem"), "-H", &host, "ps"]));
    assert!(err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"), "{err}");
}

#[test]
fn plain_tcp_needs_the_insecure_flag() {
    requires_root!();
    let dir = tempfile::Builder::new().prefix("berth-t").tempdir_in("/tmp").expect("tempdir");
    let port = free_port();
    let started = Instant::now();
    let out = Command::new(bin("berthd"))
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("b.sock").display()))
        .arg("-H")
        .arg(format!("tcp://127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .output()
        .expect("run berthd");
    assert!(!out.status.success());
    assert!(started.elapsed() < Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("without TLS") && err.contains("--insecure-tcp"), "{err}");
    assert!(!dir.path().join("b.sock").exists(), "nothing listens after a refused start");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());

    // With the explicit flag, plain HTTP is served.
    let (d, port) = start_tcp(&["--insecure-tcp".to_string()]);
    let cfg = d.dir.path().join("client-config");
    let v = ok(client(&docker_bin(), &cfg).args(["-H", &format!("tcp://127.0.0.1:{port}"), "version", "--format", "{{.Server.APIVersion}}"]), &d);
    assert_eq!(v.trim(), "1.47");
    assert!(d.log().contains("without TLS"), "the daemon warns: {}", d.log());
}

fn group_gid(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/group").ok()?.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[0] == name).then(|| f[2].parse().ok()).flatten()
    })
}

#[test]
fn unix_socket_is_0660_root_and_the_daemon_group() {
    requires_root!();
    let d = Daemon::start();
    let m = std::fs::metadata(&d.socket).expect("socket");
    assert_eq!(m.mode() & 0o777, 0o660);
    assert_eq!(m.uid(), 0);
    assert_eq!(m.gid(), group_gid("docker").unwrap_or(0), "group docker if it exists, else root");
    drop(d);

    // --group names another group (by name or id).
    let (name, gid) = if let Some(g) = group_gid("daemon") { ("daemon".to_string(), g) } else { ("4242".to_string(), 4242) };
    let d = Daemon::start_with(&["--group", &name]);
    let m = std::fs::metadata(&d.socket).expect("socket");
    assert_eq!((m.mode() & 0o777, m.uid(), m.gid()), (0o660, 0, gid));
    drop(d);

    // A group that does not exist stops the daemon.
    let dir = tempfile::Builder::new().prefix("berth-t").tempdir_in("/tmp").expect("tempdir");
    let out = Command::new(bin("berthd"))
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("b.sock").display()))
        .args(["--group", "no-such-group-berth"])
        .stdin(Stdio::null())
        .output()
        .expect("run berthd");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("group no-such-group-berth not found"), "{err}");
}

#[test]
fn context_use_switches_daemons_and_docker_shares_the_contexts() {
    requires_root!();
    let a = Daemon::start();
    let b = Daemon::start();
    let cfg = a.dir.path().join("client-config");
    let berth = bin("berth");
    ok(a.docker().args(["network", "create", "only-on-a"]), &a);
    ok(b.docker().args(["network", "create", "only-on-b"]), &b);
    let networks = |cmd: &mut Command| -> String {
        let (code, out, err) = run(cmd.args(["network", "ls", "--format", "{{.Name}}"]));
        assert_eq!(code, 0, "{err}");
        out
    };
    ok(client(&berth, &cfg).args(["context", "create", "ctx-a", "--description", "first", "--docker", &format!("host={}", a.host())]), &a);
    ok(client(&berth, &cfg).args(["context", "create", "ctx-b", "--docker", &format!("host={}", b.host())]), &b);

    let (code, out, err) = run(client(&berth, &cfg).args(["context", "use", "ctx-a"]));
    assert_eq!((code, out.as_str(), err.as_str()), (0, "ctx-a\n", "Current context is now \"ctx-a\"\n"));
    let on = networks(&mut client(&berth, &cfg));
    assert!(on.contains("only-on-a") && !on.contains("only-on-b"), "{on}");
    ok(client(&berth, &cfg).args(["context", "use", "ctx-b"]), &b);
    let on = networks(&mut client(&berth, &cfg));
    assert!(on.contains("only-on-b") && !on.contains("only-on-a"), "{on}");
    assert_eq!(ok(client(&berth, &cfg).args(["context", "show"]), &b), "ctx-b\n");
    // DOCKER_CONTEXT and --context override the current one; -H and DOCKER_HOST mean default.
    let on = networks(client(&berth, &cfg).env("DOCKER_CONTEXT", "ctx-a"));
    assert!(on.contains("only-on-a"), "{on}");
    let on = networks(client(&berth, &cfg).args(["--context", "ctx-a"]));
    assert!(on.contains("only-on-a"), "{on}");
    let on = networks(client(&berth, &cfg).env("DOCKER_HOST", a.host()));
    assert!(on.contains("only-on-a"), "{on}");

    // The docker CLI sees berth's contexts and the current one ...
    let ls = ok(client(&docker_bin(), &cfg).args(["context", "ls", "--format", "{{.Name}} {{.Current}} {{.DockerEndpoint}}"]), &a);
    assert!(ls.contains(&format!("ctx-a false {}", a.host())), "{ls}");
    assert!(ls.contains(&format!("ctx-b true {}", b.host())), "{ls}");
    let on = networks(&mut client(&docker_bin(), &cfg));
    assert!(on.contains("only-on-b"), "{on}");
    // ... and berth sees docker's.
    ok(client(&docker_bin(), &cfg).args(["context", "create", "made-by-docker", "--docker", &format!("host={}", a.host())]), &a);
    ok(client(&docker_bin(), &cfg).args(["context", "use", "made-by-docker"]), &a);
    assert_eq!(ok(client(&berth, &cfg).args(["context", "show"]), &a), "made-by-docker\n");
    let on = networks(&mut client(&berth, &cfg));
    assert!(on.contains("only-on-a"), "{on}");
    let inspect = ok(client(&berth, &cfg).args(["context", "inspect", "ctx-a", "--format", "{{.Metadata.Description}} {{.Endpoints.docker.Host}}"]), &a);
    assert_eq!(inspect, format!("first {}\n", a.host()));

    // Removing: the current one only with -f; then back to default.
    let err = fails(client(&berth, &cfg).args(["context", "rm", "made-by-docker"]));
    assert!(err.contains("in use"), "{err}");
    let out = ok(client(&berth, &cfg).args(["context", "rm", "-f", "made-by-docker", "ctx-a", "ctx-b"]), &a);
    assert_eq!(out, "made-by-docker\nctx-a\nctx-b\n");
    assert_eq!(ok(client(&berth, &cfg).args(["context", "show"]), &a), "default\n");
    let ls = ok(client(&docker_bin(), &cfg).args(["context", "ls", "-q"]), &a);
    assert_eq!(ls, "default\n");
    let err = fails(client(&berth, &cfg).args(["--context", "ctx-a", "ps"]));
    assert!(err.contains("context \"ctx-a\" does not exist"), "{err}");
}

/// A throwaway user and group for `--userns-remap`, with one subordinate range of its own in
/// `/etc/subuid` and `/etc/subgid`; all removed on drop.
struct RemapUser {
    name: String,
    start: u64,
}

const REMAP_SIZE: u64 = 65536;

impl RemapUser {
    fn create() -> RemapUser {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let name = format!("bremap{}x{}", std::process::id(), nanos % 100_000);
        // A system user: useradd gives it no ranges of its own; ours goes after every range in
        // use.
        let st = Command::new("groupadd").args(["--system", &name]).status().expect("groupadd");
        assert!(st.success(), "groupadd {name}");
        let st = Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/bin/false", "--gid", &name, &name]).status().expect("useradd");
        assert!(st.success(), "useradd {name}");
        let mut end = 1_000_000u64;
        for f in ["/etc/subuid", "/etc/subgid"] {
            for l in std::fs::read_to_string(f).unwrap_or_default().lines() {
                let p: Vec<&str> = l.split(':').collect();
                if let (Some(s), Some(c)) = (p.get(1).and_then(|s| s.parse::<u64>().ok()), p.get(2).and_then(|c| c.parse::<u64>().ok())) {
                    end = end.max(s + c);
                }
            }
        }
        let start = end.div_ceil(REMAP_SIZE) * REMAP_SIZE;
        let user = RemapUser { name, start };
        for f in ["/etc/subuid", "/etc/subgid"] {
            use std::io::Write;
            let mut file = std::fs::OpenOptions::new().append(true).create(true).open(f).expect("open subid file");
            writeln!(file, "{}:{}:{}", user.name, user.start, REMAP_SIZE).expect("append subid line");
        }
        user
    }
}

impl Drop for RemapUser {
    fn drop(&mut self) {
        for f in ["/etc/subuid", "/etc/subgid"] {
            if let Ok(text) = std::fs::read_to_string(f) {
                let prefix = format!("{}:", self.name);
                let kept: String = text.lines().filter(|l| !l.starts_with(&prefix)).map(|l| format!("{l}\n")).collect();
                let _ = std::fs::write(f, kept);
            }
        }
        let _ = Command::new("userdel").arg(&self.name).stderr(Stdio::null()).status();
        let _ = Command::new("groupdel").arg(&self.name).stderr(Stdio::null()).status();
    }
}

fn status_ids(pid: &str, key: &str) -> Vec<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let line = status.lines().find(|l| l.starts_with(key)).expect("id line");
    line[key.len()..].split_whitespace().map(|v| v.parse().expect("id")).collect()
}

#[test]
fn userns_remap_runs_root_as_the_subordinate_range() {
    requires_root!();
    let user = RemapUser::create();
    let start = user.start;
    let d = Daemon::start_with(&["--userns-remap", &user.name]);
    d.import_busybox("busybox:latest");
    let vol = tempfile::Builder::new().prefix("berth-userns").tempdir_in("/tmp").expect("tempdir");
    // The remapped root has no say over the host's root-owned files: a world-writable dir.
    std::fs::set_permissions(vol.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    let bind = format!("{}:/vol", vol.path().display());
    let id = ok(
        d.docker().args(["run", "-d", "--name", "remapped", "-v", &bind, "busybox", "sh", "-c", "id -u > /vol/id; echo x > /etc/newfile; touch /vol/made; sleep 300"]),
        &d,
    );
    let id = id.trim().to_string();
    let made = vol.path().join("made");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !made.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(made.exists(), "the container did not write to its bind mount\n{}", d.log());
    // Root inside, the range's start outside.
    assert_eq!(std::fs::read_to_string(vol.path().join("id")).unwrap(), "0\n");
    let pid = ok(d.docker().args(["inspect", "-f", "{{.State.Pid}}", "remapped"]), &d);
    assert_eq!(status_ids(pid.trim(), "Uid:"), vec![start; 4]);
    assert_eq!(status_ids(pid.trim(), "Gid:"), vec![start; 4]);
    // What it creates in binds and in its writable layer belongs to the subordinate ids.
    let m = std::fs::metadata(&made).unwrap();
    assert_eq!((u64::from(m.uid()), u64::from(m.gid())), (start, start));
    let upper_file = d.data_root().join("containers").join(&id).join("upper/etc/newfile");
    let m = std::fs::metadata(&upper_file).unwrap_or_else(|e| panic!("{}: {e}", upper_file.display()));
    assert_eq!(u64::from(m.uid()), start);
    // The image's files are root's inside (idmapped layers), and execs are remapped too.
    let out = ok(d.docker().args(["exec", "remapped", "sh", "-c", "id -u; stat -c %u:%g /bin /etc/passwd; cat /proc/self/uid_map"]), &d);
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    assert_eq!(lines[..3], ["0", "0:0", "0:0"], "{out}");
    assert_eq!(lines[3].split_whitespace().collect::<Vec<_>>(), ["0", &start.to_string(), &REMAP_SIZE.to_string()], "{out}");
    // Its /etc/hosts is its root's to edit, as with dockerd.
    ok(d.docker().args(["exec", "remapped", "sh", "-c", "echo 10.9.8.7 extra >> /etc/hosts"]), &d);
    // Named volumes are handed to the remapped root (content copied up from the image too).
    let out = ok(d.docker().args(["run", "--rm", "-v", "remapvol:/etc", "busybox", "sh", "-c", "touch /etc/made && stat -c %u:%g /etc /etc/made /etc/passwd"]), &d);
    assert_eq!(out.lines().collect::<Vec<_>>(), ["0:0", "0:0", "0:0"], "{out}");
    let data = d.data_root().join("volumes/remapvol/_data");
    for p in [data.clone(), data.join("made"), data.join("passwd")] {
        let m = std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!((u64::from(m.uid()), u64::from(m.gid())), (start, start), "{}", p.display());
    }
    ok(d.docker().args(["volume", "rm", "remapvol"]), &d);
    ok(d.docker().args(["rm", "-f", "remapped"]), &d);
    // On the default bridge network as well; and --userns=host opts out.
    assert_eq!(ok(d.docker().args(["run", "--rm", "busybox", "id", "-u"]), &d), "0\n");
    let out = ok(d.docker().args(["run", "--rm", "--userns=host", "busybox", "cat", "/proc/self/uid_map"]), &d);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0", "4294967295"]);
    drop(d);

    // An unknown user stops the daemon with a clear message.
    let dir = tempfile::Builder::new().prefix("berth-t").tempdir_in("/tmp").expect("tempdir");
    let out = Command::new(bin("berthd"))
        .arg("--data-root")
        .arg(dir.path().join("data"))
        .arg("--exec-root")
        .arg(dir.path().join("exec"))
        .arg("-H")
        .arg(format!("unix://{}", dir.path().join("b.sock").display()))
        .args(["--userns-remap", "no-such-user-berth"])
        .stdin(Stdio::null())
        .output()
        .expect("run berthd");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--userns-remap no-such-user-berth: user \"no-such-user-berth\" not found"), "{err}");
}
