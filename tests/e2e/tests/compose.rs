//! `berth compose` end to end, against a throwaway berthd: a three-service application made
//! from busybox (no registry) — `store`, a key-value store (busybox httpd: `GET /data/<key>`
//! reads, the CGI `/cgi-bin/set?key=value` writes into a named volume; healthchecked), `worker`
//! (writes `msg=$MSG` into the store, then idles) and `web` (httpd serving a built page,
//! published on an ephemeral 127.0.0.1 port) — on a user network, with `service_healthy`
//! dependencies on the store. Then the same file through Debian's docker-compose 1.29, and the
//! loader's errors on bad input.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::{requires_root, Daemon, unique, run_deadline as run_t};

/// The application's files: compose.yaml, and the two image contexts.
const COMPOSE: &str = r#"
services:
  store:
    build: ./store
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -p 80 -h /srv; while true; do sleep 1; done"]
    volumes:
      - data:/srv/data
    networks: [back]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1/cgi-bin/set?health=ok"]
      interval: 1s
      timeout: 3s
      retries: 30
  worker:
    image: busybox:latest
    environment:
      MSG: ${MSG:-hello}
    command: ["sh", "-c", "trap 'exit 0' TERM; wget -q -O- \"http://store/cgi-bin/set?msg=$$MSG\"; echo worker wrote $$MSG; while true; do sleep 1; done"]
    networks: [back]
    depends_on:
      store:
        condition: service_healthy
  web:
    build:
      context: ./web
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -p 80 -h /www; while true; do sleep 1; done"]
    ports:
      - "127.0.0.1::80"
    networks: [back]
    depends_on:
      store:
        condition: service_healthy
      worker:
        condition: service_started
networks:
  back: {}
volumes:
  data: {}
"#;

const STORE_DOCKERFILE: &str = "FROM busybox:latest\nCOPY set /srv/cgi-bin/set\nRUN chmod 0755 /srv/cgi-bin/set && mkdir -p /srv/data\n";
const STORE_SET: &str = "#!/bin/sh\nk=\"${QUERY_STRING%%=*}\"\nv=\"${QUERY_STRING#*=}\"\nprintf '%s' \"$v\" > \"/srv/data/$k\"\nprintf 'Content-Type: text/plain\\r\\n\\r\\nOK\\n'\n";
const WEB_DOCKERFILE: &str = "FROM busybox:latest\nCOPY index.html /www/index.html\n";
const WEB_INDEX: &str = "hello from berth compose\n";

/// Write the application into `dir`.
fn write_app(dir: &Path) {
    std::fs::create_dir_all(dir.join("store")).expect("mkdir store");
    std::fs::create_dir_all(dir.join("web")).expect("mkdir web");
    std::fs::write(dir.join("compose.yaml"), COMPOSE).expect("compose.yaml");
    std::fs::write(dir.join("store/Dockerfile"), STORE_DOCKERFILE).expect("store Dockerfile");
    std::fs::write(dir.join("store/set"), STORE_SET).expect("set");
    std::fs::write(dir.join("web/Dockerfile"), WEB_DOCKERFILE).expect("web Dockerfile");
    std::fs::write(dir.join("web/index.html"), WEB_INDEX).expect("index.html");
}

/// A compose command line (`berth compose -p P ...` in the app's directory).
struct App<'a> {
    d: &'a Daemon,
    dir: &'a Path,
    project: String,
}

impl App<'_> {
    fn compose(&self, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
        let mut cmd = self.d.berth();
        cmd.current_dir(self.dir).arg("compose").arg("-p").arg(&self.project).args(args);
        cmd.env_remove("MSG");
        for (k, v) in env {
            cmd.env(k, v);
        }
        run_t(&mut cmd, 240)
    }

    fn compose_ok(&self, env: &[(&str, &str)], args: &[&str]) -> (String, String) {
        let (code, out, err) = self.compose(env, args);
        assert_eq!(code, 0, "berth compose {args:?} failed ({code}):\n{out}\n{err}\nberthd log (tail):\n{}", tail(&self.d.log()));
        (out, err)
    }

    fn berth_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = run_t(self.d.berth().args(args), 60);
        assert_eq!(code, 0, "berth {args:?} failed ({code}): {out}{err}");
        out
    }

    /// Container id of `<project>-<service>-<n>`.
    fn id(&self, service: &str, n: u32) -> String {
        self.berth_ok(&["inspect", "-f", "{{.Id}}", &format!("{}-{service}-{n}", self.project)]).trim().to_string()
    }

    /// Names of the project's containers (all states).
    fn containers(&self) -> Vec<String> {
        let out = self.berth_ok(&["ps", "-a", "--filter", &format!("label=com.docker.compose.project={}", self.project), "--format", "{{.Names}}"]);
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    }

    /// `exec -T web wget -O- http://store/data/<key>` until it answers `want` (or 90 s).
    ///
    /// Why so long: berthd leaves its bridges' MAC address to the kernel, which gives a bridge
    /// the lowest MAC of its ports; when a container comes or goes the gateway's MAC (also the
    /// DNS server's) can change, and the other containers reach neither until their ARP entry
    /// fails and is renewed (tens of seconds). Reported as an engine issue; dockerd pins a MAC
    /// on the bridge when it creates it.
    fn store_value_seen_from_web(&self, key: &str, want: &str) -> String {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(90);
        let url = format!("http://store/data/{key}");
        loop {
            let (_, out, err) = self.compose(&[], &["exec", "-T", "web", "wget", "-q", "-O-", &url]);
            if out == want || Instant::now() > deadline {
                if started.elapsed() > Duration::from_secs(10) {
                    eprintln!("compose e2e: web reached the store only after {:.0?} (stale gateway MAC: see store_value_seen_from_web)", started.elapsed());
                }
                return format!("{out}{err}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// GET `path` from `addr`: the response body (None when the connection fails).
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

/// One daemon of this file at a time (they build, publish ports and wait on healthchecks; on
/// a 2-core machine shared with other builds, running them side by side only adds waiting).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The daemon with busybox imported (and the file's lock, held until the test ends), or None
/// (skip) when not root.
fn daemon() -> Option<(std::sync::MutexGuard<'static, ()>, Daemon)> {
    if !berth_testkit::is_root() {
        eprintln!("skipping: compose e2e tests need root");
        return None;
    }
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    Some((guard, d))
}

#[test]
fn compose_three_service_application() {
    requires_root!();
    let Some((_serial, d)) = daemon() else { return };
    let tmp = tempfile::Builder::new().prefix("berth-compose").tempdir().expect("tempdir");
    write_app(tmp.path());
    let app = App { d: &d, dir: tmp.path(), project: unique("app") };
    let p = app.project.clone();

    // config resolves without a daemon round trip.
    let (services, _) = app.compose_ok(&[], &["config", "--services"]);
    assert_eq!(services.lines().collect::<Vec<_>>(), vec!["store", "web", "worker"], "{services}");

    // up: images built, network and volume created, dependencies waited on.
    let since = chrono_now(&d);
    let (_, err) = app.compose_ok(&[], &["up", "-d", "--build"]);
    for line in [
        format!("Network {p}_back  Created"),
        format!("Volume \"{p}_data\"  Created"),
        format!("Container {p}-store-1  Started"),
        format!("Container {p}-store-1  Healthy"),
        format!("Container {p}-web-1  Started"),
        format!("Container {p}-worker-1  Started"),
    ] {
        assert!(err.contains(&line), "missing {line:?} in up's output:\n{err}");
    }
    let pos = |s: &str| err.find(s).unwrap_or(usize::MAX);
    assert!(pos(&format!("{p}-store-1  Healthy")) < pos(&format!("{p}-worker-1  Started")), "{err}");
    assert!(pos(&format!("{p}-store-1  Healthy")) < pos(&format!("{p}-web-1  Started")), "{err}");
    assert!(pos(&format!("{p}-worker-1  Started")) < pos(&format!("{p}-web-1  Started")), "{err}");

    // The engine's events agree: store started (and became healthy) before the others started.
    // Whole seconds: the window ends a second after now so that this second's events count.
    std::thread::sleep(Duration::from_millis(1100));
    let until = chrono_now(&d);
    let ev = app.berth_ok(&[
        "events", "--since", &since, "--until", &until, "--filter", "type=container",
        "--filter", &format!("label=com.docker.compose.project={p}"),
        "--format", "{{.Action}} {{.Actor.Attributes.name}}",
    ]);
    let at = |s: &str| ev.lines().position(|l| l.trim() == s).unwrap_or(usize::MAX);
    let store_start = at(&format!("start {p}-store-1"));
    let store_healthy = ev.lines().position(|l| l.starts_with("health_status: healthy") && l.ends_with(&format!("{p}-store-1"))).unwrap_or(usize::MAX);
    let worker_start = at(&format!("start {p}-worker-1"));
    let web_start = at(&format!("start {p}-web-1"));
    assert!(store_start < worker_start && worker_start < web_start && web_start != usize::MAX, "events out of order:\n{ev}");
    assert!(store_healthy < worker_start, "store not healthy before worker started:\n{ev}");

    // ps lists the three, running.
    let (ps, _) = app.compose_ok(&[], &["ps", "--format", "{{.Service}} {{.State}}"]);
    let mut rows: Vec<&str> = ps.lines().collect();
    rows.sort();
    assert_eq!(rows, vec!["store running", "web running", "worker running"], "{ps}");

    // The published port serves the built page.
    let (port, _) = app.compose_ok(&[], &["ps", "--format", "{{.Ports}}", "web"]);
    let addr = port.trim().split("->").next().unwrap_or("").to_string();
    assert!(addr.starts_with("127.0.0.1:"), "ports: {port}");
    let mut body = None;
    for _ in 0..50 {
        body = http_get(&addr, "/index.html");
        if body.as_deref() == Some(WEB_INDEX) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(body.as_deref(), Some(WEB_INDEX), "GET http://{addr}/index.html");

    // Name resolution between services: web reaches the store by name and reads what the
    // worker wrote there.
    assert_eq!(app.store_value_seen_from_web("msg", "hello"), "hello");
    let (ns, _) = app.compose_ok(&[], &["exec", "-T", "web", "nslookup", "store"]);
    assert!(ns.contains("Address") && ns.lines().filter(|l| l.contains("Address")).count() >= 1, "nslookup store:\n{ns}");

    // logs: the worker's line, with its prefix.
    let (logs, _) = app.compose_ok(&[], &["logs", "--no-color", "worker"]);
    assert!(logs.lines().any(|l| l == "worker-1  | worker wrote hello"), "logs:\n{logs}");

    // Data in the volume survives down and up.
    app.compose_ok(&[], &["exec", "-T", "store", "sh", "-c", "printf kept > /srv/data/marker"]);
    let (_, err) = app.compose_ok(&[], &["down"]);
    assert!(err.contains(&format!("Container {p}-web-1  Removed")), "{err}");
    assert!(app.containers().is_empty(), "containers left after down: {:?}", app.containers());
    let vols = app.berth_ok(&["volume", "ls", "-q"]);
    assert!(vols.lines().any(|v| v == format!("{p}_data")), "volume removed by down: {vols}");
    app.compose_ok(&[], &["up", "-d"]);
    assert_eq!(app.store_value_seen_from_web("marker", "kept"), "kept");

    // Changing one service's environment recreates only that service.
    let (store_id, web_id, worker_id) = (app.id("store", 1), app.id("web", 1), app.id("worker", 1));
    let (_, err) = app.compose_ok(&[("MSG", "changed")], &["up", "-d"]);
    assert!(err.contains(&format!("Container {p}-worker-1  Recreated")), "{err}");
    assert_eq!(app.id("store", 1), store_id, "store was recreated:\n{err}");
    assert_eq!(app.id("web", 1), web_id, "web was recreated:\n{err}");
    assert_ne!(app.id("worker", 1), worker_id, "worker was not recreated:\n{err}");
    assert_eq!(app.store_value_seen_from_web("msg", "changed"), "changed");

    // --scale worker=3.
    app.compose_ok(&[("MSG", "changed")], &["up", "-d", "--scale", "worker=3"]);
    let (ps, _) = app.compose_ok(&[("MSG", "changed")], &["ps", "--format", "{{.Name}}", "worker"]);
    let mut names: Vec<&str> = ps.lines().collect();
    names.sort();
    assert_eq!(names, vec![format!("{p}-worker-1"), format!("{p}-worker-2"), format!("{p}-worker-3")], "{ps}");
    assert_eq!(app.id("store", 1), store_id, "store recreated by --scale");

    // run --rm: a one-off container that goes away.
    let (out, _) = app.compose_ok(&[("MSG", "changed")], &["run", "--rm", "-T", "--no-deps", "-e", "X=one-off", "worker", "sh", "-c", "echo $X"]);
    assert_eq!(out.trim(), "one-off");
    let left: Vec<String> = app.containers().into_iter().filter(|n| n.contains("-run-")).collect();
    assert!(left.is_empty(), "run --rm left {left:?}");

    // ls knows the project.
    let ls = app.berth_ok(&["compose", "ls"]);
    assert!(ls.lines().any(|l| l.starts_with(&p) && l.contains("running(5)")), "ls:\n{ls}");

    // down -v leaves no container, network or volume behind — here from a directory without
    // the file: `-p` and the labels are enough.
    let elsewhere = tempfile::Builder::new().prefix("berth-compose").tempdir().expect("tempdir");
    let (code, out, err) = run_t(d.berth().current_dir(elsewhere.path()).args(["compose", "-p", &p, "down", "-v"]), 120);
    assert_eq!(code, 0, "file-less down -v: {out}{err}");
    assert!(err.contains(&format!("Network {p}_back  Removed")) && err.contains(&format!("Volume {p}_data  Removed")), "{err}");
    assert!(app.containers().is_empty(), "containers left: {:?}", app.containers());
    let nets = app.berth_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!nets.lines().any(|n| n.starts_with(&p)), "networks left: {nets}");
    let vols = app.berth_ok(&["volume", "ls", "-q"]);
    assert!(!vols.lines().any(|v| v.starts_with(&p)), "volumes left: {vols}");
    for img in [format!("{p}-store"), format!("{p}-web")] {
        let _ = run_t(d.berth().args(["rmi", "-f", &img]), 60);
    }
}

#[test]
fn compose_attached_up_and_lifecycle_commands() {
    requires_root!();
    let Some((_serial, d)) = daemon() else { return };
    let tmp = tempfile::Builder::new().prefix("berth-compose").tempdir().expect("tempdir");
    write_app(tmp.path());
    let app = App { d: &d, dir: tmp.path(), project: unique("life") };
    let p = app.project.clone();

    // Attached up: prefixed logs until Ctrl-C, then the containers are stopped.
    let mut child = d
        .berth()
        .current_dir(tmp.path())
        .env_remove("MSG")
        .args(["compose", "-p", &p, "up", "--build"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth compose up");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = false;
    while Instant::now() < deadline {
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            if l == "worker-1  | worker wrote hello" {
                seen = true;
                break;
            }
        }
    }
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let mut status = None;
    let stop_deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < stop_deadline {
        if let Ok(Some(st)) = child.try_wait() {
            status = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut err = String::new();
    let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
    let out = reader.join().unwrap_or_default();
    assert!(seen, "no prefixed worker line in attached up:\n{out}\n{err}");
    assert!(status.is_some_and(|s| s.success()), "attached up after Ctrl-C: {status:?}\n{out}\n{err}");
    assert!(err.contains("Gracefully stopping...") && err.contains(&format!("Container {p}-web-1  Stopped")), "{err}");
    let (ps, _) = app.compose_ok(&[], &["ps", "-a", "--format", "{{.Service}} {{.State}}"]);
    let mut rows: Vec<&str> = ps.lines().collect();
    rows.sort();
    assert_eq!(rows, vec!["store exited", "web exited", "worker exited"], "{ps}");

    // up --wait: back up, the store healthy before it returns.
    let (_, err) = app.compose_ok(&[], &["up", "-d", "--wait"]);
    assert!(err.contains(&format!("Container {p}-store-1  Healthy")), "{err}");
    let health = app.berth_ok(&["inspect", "-f", "{{.State.Health.Status}}", &format!("{p}-store-1")]);
    assert_eq!(health.trim(), "healthy");

    // exec with user, workdir, env and index.
    let (out, _) = app.compose_ok(&[], &["exec", "-T", "-u", "nobody", "-w", "/tmp", "-e", "A=b", "--index", "1", "web", "sh", "-c", "echo $A $(id -u) $(pwd)"]);
    assert_eq!(out.trim(), "b 65534 /tmp");
    let (code, _, err) = app.compose(&[], &["exec", "-T", "--index", "2", "web", "true"]);
    assert_ne!(code, 0, "exec on a missing replica succeeded");
    assert!(err.contains("not running"), "{err}");

    // top lists the store's processes under its name.
    let (top, _) = app.compose_ok(&[], &["top", "store"]);
    assert!(top.starts_with(&format!("{p}-store-1\n")) && top.contains("httpd"), "{top}");

    // events --json while a service restarts.
    let mut ev = d
        .berth()
        .current_dir(tmp.path())
        .args(["compose", "-p", &p, "events", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn events");
    let ev_out = ev.stdout.take().expect("stdout");
    let (etx, erx) = std::sync::mpsc::channel::<String>();
    let ev_reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(ev_out)).map_while(Result::ok) {
            if etx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    app.compose_ok(&[], &["restart", "worker"]);
    let mut got: Vec<serde_json::Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && !got.iter().any(|v| v["action"] == "start") {
        if let Ok(l) = erx.recv_timeout(Duration::from_millis(200)) {
            got.push(serde_json::from_str(&l).unwrap_or_else(|e| panic!("events --json line {l:?}: {e}")));
        }
    }
    let _ = ev.kill();
    let _ = ev.wait();
    drop(erx);
    let _ = ev_reader.join();
    assert!(got.iter().any(|v| v["action"] == "start" && v["service"] == "worker" && v["type"] == "container"), "{got:?}");

    // stop / start / rm.
    app.compose_ok(&[], &["stop", "worker"]);
    let (ps, _) = app.compose_ok(&[], &["ps", "--format", "{{.Service}}"]);
    assert!(!ps.lines().any(|l| l == "worker"), "worker still running: {ps}");
    app.compose_ok(&[], &["start", "worker"]);
    let (ps, _) = app.compose_ok(&[], &["ps", "--format", "{{.Service}}"]);
    assert!(ps.lines().any(|l| l == "worker"), "worker not started: {ps}");
    app.compose_ok(&[], &["rm", "-s", "-f", "worker"]);
    assert!(!app.containers().contains(&format!("{p}-worker-1")), "{:?}", app.containers());

    app.compose_ok(&[], &["down", "-v", "--rmi", "local"]);
    assert!(app.containers().is_empty(), "containers left: {:?}", app.containers());
    let images = app.berth_ok(&["images", "--format", "{{.Repository}}"]);
    assert!(!images.lines().any(|i| i.starts_with(&p)), "images left by down --rmi local: {images}");
}

const CONDITIONS: &str = r#"
services:
  migrate:
    image: busybox:latest
    command: ["sh", "-c", "echo migrated > /shared/done"]
    volumes: [shared:/shared]
  app:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; cat /shared/done; while true; do sleep 1; done"]
    volumes: [shared:/shared]
    depends_on:
      migrate:
        condition: service_completed_successfully
  broken:
    image: busybox:latest
    command: ["sh", "-c", "exit 3"]
    profiles: [broken]
  needs-broken:
    image: busybox:latest
    command: ["sleep", "1"]
    profiles: [broken]
    depends_on:
      broken:
        condition: service_completed_successfully
  sick:
    image: busybox:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
    healthcheck:
      test: ["CMD", "false"]
      interval: 1s
      timeout: 1s
      retries: 2
    profiles: [sick]
  needs-sick:
    image: busybox:latest
    command: ["sleep", "1"]
    profiles: [sick]
    depends_on:
      sick:
        condition: service_healthy
volumes:
  shared: {}
"#;

#[test]
fn compose_dependency_conditions_and_recreate_flags() {
    requires_root!();
    let Some((_serial, d)) = daemon() else { return };
    let tmp = tempfile::Builder::new().prefix("berth-compose").tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("compose.yaml"), CONDITIONS).expect("compose.yaml");
    std::fs::write(tmp.path().join("small.yaml"), "services:\n  migrate:\n    image: busybox:latest\n    command: [\"true\"]\n").expect("small.yaml");
    let app = App { d: &d, dir: tmp.path(), project: unique("cond") };
    let p = app.project.clone();

    // service_completed_successfully: app starts after migrate exited 0 and sees its work.
    let (_, err) = app.compose_ok(&[], &["up", "-d"]);
    assert!(err.contains(&format!("Container {p}-migrate-1  Exited")), "{err}");
    let exit = app.berth_ok(&["inspect", "-f", "{{.State.ExitCode}}", &format!("{p}-migrate-1")]);
    assert_eq!(exit.trim(), "0");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut logs = String::new();
    while Instant::now() < deadline && !logs.contains("app-1  | migrated") {
        logs = app.compose_ok(&[], &["logs", "app"]).0;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(logs.contains("app-1  | migrated"), "{logs}");

    // A dependency that exits non-zero stops up with its service named.
    let (code, _, err) = app.compose(&[], &["--profile", "broken", "up", "-d", "needs-broken"]);
    assert_ne!(code, 0, "up with a failing dependency succeeded: {err}");
    assert!(err.contains("broken") && err.contains("didn't complete successfully"), "{err}");
    let running = app.berth_ok(&["ps", "--format", "{{.Names}}"]);
    assert!(!running.contains("needs-broken"), "dependant started: {running}");

    // An unhealthy dependency stops up too.
    let (code, _, err) = app.compose(&[], &["--profile", "sick", "up", "-d", "needs-sick"]);
    assert_ne!(code, 0, "up with an unhealthy dependency succeeded: {err}");
    assert!(err.contains("unhealthy"), "{err}");

    // --force-recreate --no-deps recreates just the named service.
    let (app_id, migrate_id) = (app.id("app", 1), app.id("migrate", 1));
    let (_, err) = app.compose_ok(&[], &["up", "-d", "--force-recreate", "--no-deps", "app"]);
    assert_ne!(app.id("app", 1), app_id, "app not recreated: {err}");
    assert_eq!(app.id("migrate", 1), migrate_id, "migrate recreated: {err}");

    // Another file for the same project: app is an orphan, removed with --remove-orphans.
    let (_, err) = app.compose_ok(&[], &["-f", "small.yaml", "up", "-d", "--remove-orphans"]);
    let names = app.containers();
    assert!(!names.contains(&format!("{p}-app-1")), "orphan kept: {names:?}\n{err}");

    app.compose_ok(&[], &["--profile", "broken", "--profile", "sick", "down", "-v", "--remove-orphans"]);
    assert!(app.containers().is_empty(), "containers left: {:?}", app.containers());
    let vols = app.berth_ok(&["volume", "ls", "-q"]);
    assert!(!vols.lines().any(|v| v.starts_with(&p)), "volumes left: {vols}");
}

/// The daemon's idea of now (unix seconds) for `events --since/--until`.
fn chrono_now(_d: &Daemon) -> String {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs().to_string()).unwrap_or_default()
}

#[test]
fn docker_compose_1_29_brings_the_same_file_up() {
    requires_root!();
    if Command::new("docker-compose").arg("version").output().is_err() {
        eprintln!("skipping: docker-compose is not installed (scripts/deps installs it)");
        return;
    }
    let Some((_serial, d)) = daemon() else { return };
    let tmp = tempfile::Builder::new().prefix("berth-compose").tempdir().expect("tempdir");
    write_app(tmp.path());
    let p = unique("dc");
    let dc = |args: &[&str]| run_t(dc_env(&d, tmp.path(), &p, &[]).args(args), 300);
    let (code, out, err) = dc(&["up", "-d", "--build"]);
    let up_ok = code == 0;
    let state = run_t(d.berth().args(["ps", "-a", "--filter", &format!("label=com.docker.compose.project={p}"), "--format", "{{.Names}} {{.State}}"]), 60).1;
    // Through docker-compose too: exec (name resolution between services), logs, ps.
    let mut read = String::new();
    for _ in 0..60 {
        read = dc(&["exec", "-T", "web", "wget", "-q", "-O-", "http://store/data/msg"]).1;
        if read == "hello" || !up_ok {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let logs = dc(&["logs", "--no-color", "worker"]).1;
    let ps = dc(&["ps"]).1;
    // A second up changes nothing. (Recreating is left out: docker-compose 1.29 reads
    // `ContainerConfig` from `GET /images/{id}/json` to carry volumes over, a field dockerd
    // removed in 26.0 — it fails the same way against dockerd 28.)
    let (again_code, again_out, again_err) = dc(&["up", "-d"]);
    let again = format!("{again_out}{again_err}");
    let (dcode, dout, derr) = dc(&["down", "-v", "--rmi", "local"]);
    assert!(up_ok, "docker-compose up failed ({code}):\n{out}\n{err}\nberthd log (tail):\n{}", tail(&d.log()));
    assert_eq!(read, "hello", "docker-compose exec web wget http://store/data/msg");
    assert_eq!(again_code, 0, "second docker-compose up:\n{again}");
    for s in ["store_1 is up-to-date", "worker_1 is up-to-date", "web_1 is up-to-date"] {
        assert!(again.contains(s), "{s:?} not in the second up:\n{again}");
    }
    assert!(logs.contains("worker_1  | worker wrote hello"), "docker-compose logs:\n{logs}");
    assert!(ps.lines().any(|l| l.starts_with(&format!("{p}_store_1")) && l.contains("Up (healthy)")), "docker-compose ps:\n{ps}");
    let mut rows: Vec<&str> = state.lines().collect();
    rows.sort();
    assert_eq!(rows, vec![format!("{p}_store_1 running"), format!("{p}_web_1 running"), format!("{p}_worker_1 running")], "{state}");
    assert_eq!(dcode, 0, "docker-compose down failed:\n{dout}\n{derr}");
    let left = run_t(d.berth().args(["ps", "-aq", "--filter", &format!("label=com.docker.compose.project={p}")]), 60).1;
    assert!(left.trim().is_empty(), "left: {left}");
}

/// `docker-compose --ansi never -p P` against the daemon, in `dir`, with `env` set (and MSG
/// unset otherwise).
fn dc_env(d: &Daemon, dir: &Path, project: &str, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env("COMPOSE_DOCKER_CLI_BUILD", "0")
        .env("DOCKER_BUILDKIT", "0")
        .env_remove("MSG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["--ansi", "never", "-p", project]);
    cmd
}

#[test]
fn compose_bad_input_is_reported() {
    // No daemon: `config` only loads the files.
    let tmp = tempfile::Builder::new().prefix("berth-compose").tempdir().expect("tempdir");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "schema.yaml",
            "services:\n  web:\n    image: busybox\n    ports:\n      - \"not-a-port\"\n",
            &["schema.yaml", "services.web.ports"],
        ),
        (
            "cycle.yaml",
            "services:\n  a:\n    image: busybox\n    depends_on: [b]\n  b:\n    image: busybox\n    depends_on: [a]\n",
            &["cycle", "a -> b -> a"],
        ),
        (
            "required.yaml",
            "services:\n  db:\n    image: busybox\n    environment:\n      PASSWORD: ${DB_PASSWORD:?need a password}\n",
            &["DB_PASSWORD", "need a password"],
        ),
    ];
    for (file, text, wants) in cases {
        std::fs::write(tmp.path().join(file), text).expect("write");
        let mut cmd = Command::new(berth_testkit::bin("berth"));
        cmd.current_dir(tmp.path()).env("DOCKER_HOST", "unix:///nonexistent.sock").env_remove("DB_PASSWORD").args(["compose", "-p", "bad", "-f", file, "config"]);
        let (code, out, err) = run_t(&mut cmd, 30);
        assert_ne!(code, 0, "{file}: accepted:\n{out}");
        for w in *wants {
            assert!(err.contains(w), "{file}: {w:?} not in the error: {err}");
        }
    }
}
