//! Volumes end to end: the real docker CLI runs the containers, `berth volume` manages the
//! volumes, against a real berthd on throwaway roots. Each test starts its own daemon; the
//! reference volume plugin runs in this process on a unix socket under `/run/docker/plugins`
//! and stores its volumes in a temporary directory, both removed when the test ends.
//!
//! What we assert is Docker's behaviour (messages, exit codes, what containers see).

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_testkit::{requires_root, Daemon, unique, run_deadline as run_t};
use serde_json::{json, Value};

/// `docker ARGS` against the daemon (60 s deadline).
fn docker(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    run_t(d.docker().args(args), 60)
}

/// `docker ARGS` that must succeed; its stdout.
fn docker_ok(d: &Daemon, args: &[&str]) -> String {
    let (code, out, err) = docker(d, args);
    assert_eq!(code, 0, "docker {args:?} failed ({code}): {out}{err}\nberthd log:\n{}", d.log());
    out
}

/// `berth ARGS` against the daemon.
fn berth(d: &Daemon, args: &[&str]) -> (i32, String, String) {
    run_t(d.berth().args(args), 60)
}

fn berth_ok(d: &Daemon, args: &[&str]) -> String {
    let (code, out, err) = berth(d, args);
    assert_eq!(code, 0, "berth {args:?} failed ({code}): {out}{err}\nberthd log:\n{}", d.log());
    out
}

/// A daemon with busybox imported as `bb:1`.
fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("bb:1");
    d
}

fn volume_names(d: &Daemon) -> Vec<String> {
    berth_ok(d, &["volume", "ls", "-q"]).lines().map(str::to_string).collect()
}

fn inspect_json(d: &Daemon, what: &[&str]) -> Value {
    let mut args = vec!["inspect"];
    args.extend_from_slice(what);
    let out = docker_ok(d, &args);
    serde_json::from_str::<Value>(&out).expect("inspect json")[0].clone()
}

/// Is something mounted at `p` on the host?
fn host_mounted(p: &Path) -> bool {
    let want = p.display().to_string();
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default().lines().any(|l| l.split(' ').nth(4) == Some(want.as_str()))
}

#[test]
fn named_volume_outlives_its_container_and_is_seen_by_another() {
    requires_root!();
    let d = daemon();
    let vol = unique("data");
    assert_eq!(berth_ok(&d, &["volume", "create", "--label", "team=db", &vol]).trim(), vol);
    docker_ok(&d, &["run", "--rm", "-v", &format!("{vol}:/data"), "bb:1", "sh", "-c", "echo kept > /data/f"]);
    let out = docker_ok(&d, &["run", "--rm", "-v", &format!("{vol}:/data:ro"), "bb:1", "cat", "/data/f"]);
    assert_eq!(out, "kept\n");

    // Inspect as docker shows it; the data lives in the mount point.
    let v: Value = serde_json::from_str::<Value>(&berth_ok(&d, &["volume", "inspect", &vol])).unwrap()[0].clone();
    assert_eq!(v["Driver"], "local");
    assert_eq!(v["Name"], vol.as_str());
    assert_eq!(v["Scope"], "local");
    assert_eq!(v["Labels"], json!({"team": "db"}));
    let mp = v["Mountpoint"].as_str().unwrap().to_string();
    assert_eq!(mp, d.data_root().join("volumes").join(&vol).join("_data").display().to_string());
    assert_eq!(std::fs::read_to_string(Path::new(&mp).join("f")).unwrap(), "kept\n");
    assert_eq!(berth_ok(&d, &["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", &vol]), format!("{vol} local\n"));

    // The container's Mounts as docker reports a named volume given with -v.
    let id = docker_ok(&d, &["create", "-v", &format!("{vol}:/data"), "bb:1", "true"]).trim().to_string();
    let c = inspect_json(&d, &[&id]);
    assert_eq!(
        c["Mounts"],
        json!([{"Type": "volume", "Name": vol, "Source": mp, "Destination": "/data", "Driver": "local", "Mode": "z", "RW": true, "Propagation": ""}])
    );
    // ls filters and ps --filter volume=.
    assert_eq!(berth_ok(&d, &["volume", "ls", "-q", "--filter", "label=team=db"]).trim(), vol);
    assert_eq!(berth_ok(&d, &["volume", "ls", "-q", "--filter", "dangling=true", "--filter", &format!("name={vol}")]).trim(), "");
    assert_eq!(docker_ok(&d, &["ps", "-aq", "--no-trunc", "--filter", &format!("volume={vol}")]).trim(), id);
    assert_eq!(docker_ok(&d, &["ps", "-aq", "--no-trunc", "--filter", "volume=/data"]).trim(), id);
    docker_ok(&d, &["rm", &id]);
    assert_eq!(berth_ok(&d, &["volume", "ls", "-q", "--filter", "dangling=true", "--filter", &format!("name={vol}")]).trim(), vol);

    let table = berth_ok(&d, &["volume", "ls", "--filter", &format!("name={vol}")]);
    assert_eq!(table, format!("DRIVER    VOLUME NAME\nlocal     {vol}\n"));
    assert_eq!(berth_ok(&d, &["volume", "rm", &vol]), format!("{vol}\n"));
    assert!(!d.data_root().join("volumes").join(&vol).exists());
    let (code, _, err) = berth(&d, &["volume", "inspect", &vol]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("get {vol}: no such volume")), "{err}");
}

#[test]
fn volumes_in_use_are_protected_and_rename_waits_for_them() {
    requires_root!();
    let d = daemon();
    let vol = unique("inuse");
    berth_ok(&d, &["volume", "create", &vol]);
    let id = docker_ok(&d, &["create", "-v", &format!("{vol}:/v"), "bb:1", "true"]).trim().to_string();
    let (code, _, err) = berth(&d, &["volume", "rm", &vol]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("remove {vol}: volume is in use - [{id}]")), "{err}");
    let (code, _, err) = docker(&d, &["volume", "rm", &vol]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("volume is in use"), "{err}");
    let (code, _, err) = docker(&d, &["volume", "rm", "-f", &vol]);
    assert_eq!(code, 1, "force does not remove a volume in use: {err}");
    let new = unique("renamed");
    let (code, _, err) = berth(&d, &["volume", "rename", &vol, &new]);
    assert_eq!(code, 1);
    assert!(err.contains("volume is in use"), "{err}");

    docker_ok(&d, &["start", "-a", &id]);
    docker_ok(&d, &["rm", &id]);
    docker_ok(&d, &["run", "--rm", "-v", &format!("{vol}:/v"), "bb:1", "sh", "-c", "echo moved > /v/f"]);
    berth_ok(&d, &["volume", "rename", &vol, &new]);
    assert_eq!(volume_names(&d).iter().filter(|n| **n == vol || **n == new).collect::<Vec<_>>(), [&new]);
    assert_eq!(docker_ok(&d, &["run", "--rm", "-v", &format!("{new}:/v"), "bb:1", "cat", "/v/f"]), "moved\n");
    let (code, _, err) = berth(&d, &["volume", "rename", &new, "bad/name"]);
    assert_eq!(code, 1);
    assert!(err.contains("includes invalid characters for a local volume name"), "{err}");
    berth_ok(&d, &["volume", "rm", &new]);
}

#[test]
fn bad_volume_names_are_refused_and_nothing_is_left() {
    requires_root!();
    let d = daemon();
    let want = "create a/b: \"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path";
    let (code, _, err) = berth(&d, &["volume", "create", "a/b"]);
    assert_eq!(code, 1);
    assert!(err.contains(want), "{err}");
    let (code, _, err) = docker(&d, &["run", "--rm", "-v", "a/b:/x", "bb:1", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains(want), "{err}");
    // A failed create makes no container and no anonymous volume.
    let (code, _, err) = docker(&d, &["create", "-v", "/anon", "-v", "a/b:/x", "bb:1", "true"]);
    assert_ne!(code, 0, "{err}");
    assert_eq!(docker_ok(&d, &["ps", "-aq"]), "");
    assert_eq!(volume_names(&d), Vec::<String>::new());
    let (code, _, err) = berth(&d, &["volume", "create", "--opt", "bogus=1", &unique("v")]);
    assert_eq!(code, 1);
    assert!(err.contains("invalid option: \"bogus\""), "{err}");
    assert_eq!(volume_names(&d), Vec::<String>::new());
}

#[test]
fn volumes_from_shares_mounts_and_ro_makes_them_read_only() {
    requires_root!();
    let d = daemon();
    let vol = unique("shared");
    let src = unique("src");
    let host = tempfile::Builder::new().prefix("berth-vol-from").tempdir_in("/tmp").unwrap();
    std::fs::write(host.path().join("h"), "bound\n").unwrap();
    let bind = format!("type=bind,src={},dst=/b", host.path().display());
    docker_ok(&d, &["run", "--name", &src, "-v", &format!("{vol}:/data"), "-v", "/anon", "--mount", &bind, "bb:1", "sh", "-c", "echo one > /data/f; echo two > /anon/g"]);
    let out = docker_ok(&d, &["run", "--rm", "--volumes-from", &src, "bb:1", "sh", "-c", "cat /data/f /anon/g /b/h; echo three >> /data/f"]);
    assert_eq!(out, "one\ntwo\nbound\n");
    let (code, out, err) = docker(&d, &["run", "--rm", "--volumes-from", &format!("{src}:ro"), "bb:1", "sh", "-c", "cat /data/f; touch /data/x"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "one\nthree\n");
    assert!(err.contains("Read-only file system"), "{err}");
    let c = inspect_json(&d, &[&src]);
    let anon = c["Mounts"].as_array().unwrap().iter().find(|m| m["Destination"] == "/anon").unwrap().clone();
    assert_eq!(anon["Type"], "volume");
    assert_eq!(anon["Name"].as_str().unwrap().len(), 64);
    docker_ok(&d, &["rm", "-v", &src]);
    // rm -v takes the anonymous volume, never the named one.
    let names = volume_names(&d);
    assert!(names.contains(&vol), "{names:?}");
    assert!(!names.contains(&anon["Name"].as_str().unwrap().to_string()), "{names:?}");
}

#[test]
fn binds_ro_is_read_only_mount_needs_a_source_and_v_creates_it() {
    requires_root!();
    let d = daemon();
    let host = tempfile::Builder::new().prefix("berth-vol-bind").tempdir_in("/tmp").unwrap();
    std::fs::write(host.path().join("f"), "host\n").unwrap();
    let h = host.path().display().to_string();
    let (code, out, err) = docker(&d, &["run", "--rm", "-v", &format!("{h}:/h:ro"), "bb:1", "sh", "-c", "cat /h/f; echo x > /h/f"]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out, "host\n");
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(std::fs::read_to_string(host.path().join("f")).unwrap(), "host\n");
    let id = docker_ok(&d, &["create", "-v", &format!("{h}:/h:ro"), "bb:1", "true"]).trim().to_string();
    assert_eq!(
        inspect_json(&d, &[&id])["Mounts"],
        json!([{"Type": "bind", "Source": h, "Destination": "/h", "Mode": "ro", "RW": false, "Propagation": "rprivate"}])
    );
    docker_ok(&d, &["rm", &id]);

    let missing = host.path().join("missing/deeper");
    let m = missing.display().to_string();
    let (code, _, err) = docker(&d, &["run", "--rm", "--mount", &format!("type=bind,src={m},dst=/x"), "bb:1", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains(&format!("invalid mount config for type \"bind\": bind source path does not exist: {m}")), "{err}");
    assert!(!missing.exists());
    docker_ok(&d, &["run", "--rm", "-v", &format!("{m}:/x"), "bb:1", "sh", "-c", "echo made > /x/f"]);
    assert_eq!(std::fs::read_to_string(missing.join("f")).unwrap(), "made\n");
    let out = docker_ok(&d, &["run", "--rm", "--mount", &format!("type=bind,src={h},dst=/m,readonly"), "bb:1", "cat", "/m/f"]);
    assert_eq!(out, "host\n");
}

#[test]
fn image_volume_gets_an_anonymous_volume_with_the_image_content() {
    requires_root!();
    let d = daemon();
    let (code, _, err) = run_t(d.docker().args(["import", "--change", "VOLUME /etc"]).arg(berth_testkit::busybox_tar()).arg("bbvol:1"), 60);
    assert_eq!(code, 0, "{err}");
    let name = unique("img");
    let out = docker_ok(&d, &["run", "--name", &name, "bbvol:1", "sh", "-c", "grep ^root: /etc/passwd; echo added > /etc/added"]);
    assert_eq!(out, "root:x:0:0:root:/root:/bin/sh\n");
    let c = inspect_json(&d, &[&name]);
    let mounts = c["Mounts"].as_array().unwrap().clone();
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    let m = &mounts[0];
    assert_eq!((m["Type"].as_str(), m["Destination"].as_str(), m["Driver"].as_str(), m["Mode"].as_str(), m["RW"].as_bool()), (Some("volume"), Some("/etc"), Some("local"), Some(""), Some(true)));
    let vol = m["Name"].as_str().unwrap().to_string();
    let v: Value = serde_json::from_str::<Value>(&berth_ok(&d, &["volume", "inspect", &vol])).unwrap()[0].clone();
    assert_eq!(v["Labels"], json!({"com.docker.volume.anonymous": ""}));
    let data = PathBuf::from(v["Mountpoint"].as_str().unwrap());
    assert!(std::fs::read_to_string(data.join("passwd")).unwrap().starts_with("root:x:0:0"));
    assert_eq!(std::fs::read_to_string(data.join("added")).unwrap(), "added\n");
    // A restart keeps the volume (no second copy-up over what the container wrote).
    assert_eq!(docker_ok(&d, &["start", "-a", &name]), "root:x:0:0:root:/root:/bin/sh\n");
    // nocopy: an empty volume stays empty.
    let out = docker_ok(&d, &["run", "--rm", "--mount", "type=volume,dst=/etc,volume-nocopy", "bbvol:1", "sh", "-c", "test -e /etc/passwd && echo copied || echo empty"]);
    assert_eq!(out, "empty\n");
    // A bind over the destination replaces the anonymous volume.
    let host = tempfile::Builder::new().prefix("berth-vol-over").tempdir_in("/tmp").unwrap();
    let id = docker_ok(&d, &["create", "-v", &format!("{}:/etc", host.path().display()), "bbvol:1", "true"]).trim().to_string();
    assert_eq!(inspect_json(&d, &[&id])["Mounts"][0]["Type"], "bind");
    docker_ok(&d, &["rm", &id]);

    docker_ok(&d, &["rm", "-v", &name]);
    assert!(!volume_names(&d).contains(&vol));
    assert!(!data.exists());
    // Without -v the anonymous volume stays, dangling, until a prune.
    let keep = unique("keep");
    docker_ok(&d, &["run", "--name", &keep, "bbvol:1", "true"]);
    let vol2 = inspect_json(&d, &[&keep])["Mounts"][0]["Name"].as_str().unwrap().to_string();
    docker_ok(&d, &["rm", &keep]);
    assert!(volume_names(&d).contains(&vol2));
    let out = berth_ok(&d, &["volume", "prune", "-f"]);
    assert!(out.contains("Deleted Volumes:") && out.contains(&vol2), "{out}");
    assert!(!volume_names(&d).contains(&vol2));
    // --rm removes the anonymous volume it made.
    docker_ok(&d, &["run", "--rm", "bbvol:1", "true"]);
    assert_eq!(volume_names(&d), Vec::<String>::new());
}

#[test]
fn local_volume_options_mount_while_used_and_events_tell() {
    requires_root!();
    let d = daemon();
    let vol = unique("tmp");
    let t0 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    berth_ok(&d, &["volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", &vol]);
    let data = d.data_root().join("volumes").join(&vol).join("_data");
    let out = docker_ok(&d, &["run", "--rm", "-v", &format!("{vol}:/t"), "bb:1", "sh", "-c", "grep ' /t ' /proc/mounts"]);
    assert!(out.starts_with("tmpfs /t tmpfs") && out.contains("size=1024k"), "{out}");
    assert!(!host_mounted(&data), "unmounted after the last user");
    let id = docker_ok(&d, &["create", "-v", &format!("{vol}:/t"), "bb:1", "true"]).trim().to_string();
    docker_ok(&d, &["start", "-a", &id]);
    docker_ok(&d, &["rm", &id]);
    berth_ok(&d, &["volume", "rm", &vol]);
    let t1 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let out = docker_ok(&d, &["events", "--since", &t0.to_string(), "--until", &t1.to_string(), "--filter", "type=volume", "--format", "{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"container\"}}"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first().copied(), Some(format!("create {vol} ").as_str()), "{out}");
    assert!(lines.contains(&format!("mount {vol} {id}").as_str()), "{out}");
    assert!(lines.contains(&format!("unmount {vol} {id}").as_str()), "{out}");
    assert_eq!(lines.last().copied(), Some(format!("destroy {vol} ").as_str()), "{out}");
}

// ---------------------------------------------------------------------------------------------
// The reference volume plugin
// ---------------------------------------------------------------------------------------------

/// A volume plugin speaking Docker's protocol on `/run/docker/plugins/<name>.sock`, keeping
/// its volumes as directories under a temporary root. Every call is logged. Stops, removes its
/// socket and its root on drop.
struct RefPlugin {
    name: String,
    socket: PathBuf,
    root: tempfile::TempDir,
    calls: Arc<Mutex<Vec<(String, Value)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RefPlugin {
    fn start() -> RefPlugin {
        let name = unique("berthref");
        std::fs::create_dir_all("/run/docker/plugins").expect("plugin dir");
        let socket = PathBuf::from(format!("/run/docker/plugins/{name}.sock"));
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).expect("bind plugin socket");
        listener.set_nonblocking(true).expect("nonblocking");
        let root = tempfile::Builder::new().prefix("berth-plugin").tempdir_in("/tmp").expect("root");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, c, s) = (root.path().to_path_buf(), calls.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        serve(conn, &r, &c);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(5)),
                    Err(_) => break,
                }
            }
        });
        RefPlugin { name, socket, root, calls, stop, thread: Some(thread) }
    }

    fn calls(&self, method: &str) -> Vec<Value> {
        self.calls.lock().unwrap().iter().filter(|(m, _)| m == method).map(|(_, v)| v.clone()).collect()
    }
}

impl Drop for RefPlugin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// Answer one request on `conn`.
fn serve(mut conn: UnixStream, root: &Path, calls: &Mutex<Vec<(String, Value)>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (path, body) = loop {
        let n = match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&buf[..i]).to_string();
        let len: usize = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().to_string()))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if buf.len() >= i + 4 + len {
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let body = serde_json::from_slice::<Value>(&buf[i + 4..i + 4 + len]).unwrap_or(json!({}));
            break (path, body);
        }
    };
    let method = path.trim_start_matches('/').to_string();
    calls.lock().unwrap().push((method.clone(), body.clone()));
    let name = body["Name"].as_str().unwrap_or("").to_string();
    let dir = root.join(&name);
    let exists = !name.is_empty() && !name.contains('/') && dir.is_dir();
    let missing = json!({"Err": format!("no such volume {name}")});
    let answer = match method.as_str() {
        "Plugin.Activate" => json!({"Implements": ["VolumeDriver"]}),
        "VolumeDriver.Create" => match std::fs::create_dir_all(&dir) {
            Ok(()) => json!({"Err": ""}),
            Err(e) => json!({"Err": e.to_string()}),
        },
        "VolumeDriver.Remove" if exists => match std::fs::remove_dir_all(&dir) {
            Ok(()) => json!({"Err": ""}),
            Err(e) => json!({"Err": e.to_string()}),
        },
        "VolumeDriver.Mount" | "VolumeDriver.Path" if exists => json!({"Mountpoint": dir.display().to_string(), "Err": ""}),
        "VolumeDriver.Unmount" if exists => json!({"Err": ""}),
        "VolumeDriver.Get" if exists => json!({"Volume": {"Name": name, "Mountpoint": dir.display().to_string()}, "Err": ""}),
        "VolumeDriver.List" => {
            let vols: Vec<Value> = std::fs::read_dir(root).map(|rd| rd.flatten().map(|e| json!({"Name": e.file_name().to_string_lossy()})).collect()).unwrap_or_default();
            json!({"Volumes": vols, "Err": ""})
        }
        "VolumeDriver.Capabilities" => json!({"Capabilities": {"Scope": "local"}}),
        _ => missing,
    };
    let b = answer.to_string();
    let _ = write!(conn, "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len());
}

#[test]
fn reference_plugin_creates_mounts_and_removes_volumes() {
    requires_root!();
    let plugin = RefPlugin::start();
    let d = daemon();
    let vol = unique("pv");
    assert_eq!(berth_ok(&d, &["volume", "create", "-d", &plugin.name, "-o", "size=1", &vol]).trim(), vol);
    assert!(plugin.root.path().join(&vol).is_dir());
    assert_eq!(plugin.calls("VolumeDriver.Create"), [json!({"Name": vol, "Opts": {"size": "1"}})]);
    let v: Value = serde_json::from_str::<Value>(&berth_ok(&d, &["volume", "inspect", &vol])).unwrap()[0].clone();
    assert_eq!(v["Driver"], plugin.name.as_str());
    assert_eq!(v["Mountpoint"], plugin.root.path().join(&vol).display().to_string());
    assert_eq!(berth_ok(&d, &["volume", "ls", "-q", "--filter", &format!("driver={}", plugin.name)]).trim(), vol);

    let name = unique("pc");
    docker_ok(&d, &["run", "--name", &name, "-v", &format!("{vol}:/p"), "bb:1", "sh", "-c", "echo via-plugin > /p/f"]);
    assert_eq!(std::fs::read_to_string(plugin.root.path().join(&vol).join("f")).unwrap(), "via-plugin\n");
    let id = inspect_json(&d, &[&name])["Id"].as_str().unwrap().to_string();
    assert_eq!(plugin.calls("VolumeDriver.Mount"), [json!({"Name": vol, "ID": id})]);
    assert_eq!(plugin.calls("VolumeDriver.Unmount"), [json!({"Name": vol, "ID": id})]);
    let m = &inspect_json(&d, &[&name])["Mounts"][0];
    assert_eq!((m["Type"].as_str(), m["Driver"].as_str()), (Some("volume"), Some(plugin.name.as_str())));
    docker_ok(&d, &["rm", &name]);

    // A volume named in a run with --volume-driver is created through the plugin.
    let vol2 = unique("pv");
    let out = docker_ok(&d, &["run", "--rm", "--volume-driver", &plugin.name, "-v", &format!("{vol2}:/q"), "bb:1", "sh", "-c", "echo two > /q/g; cat /q/g"]);
    assert_eq!(out, "two\n");
    assert!(plugin.root.path().join(&vol2).join("g").is_file());

    berth_ok(&d, &["volume", "rm", &vol, &vol2]);
    assert_eq!(plugin.calls("VolumeDriver.Remove").len(), 2);
    assert!(!plugin.root.path().join(&vol).exists());
    let (code, _, err) = berth(&d, &["volume", "create", "-d", "no-such-plugin-berth", &unique("x")]);
    assert_eq!(code, 1);
    assert!(err.contains("error looking up volume plugin no-such-plugin-berth: plugin \"no-such-plugin-berth\" not found"), "{err}");
}

#[test]
fn a_volume_mounted_for_a_container_that_died_while_berthd_was_down_is_unmounted() {
    requires_root!();
    let mut d = daemon();
    let vol = unique("tmpd");
    berth_ok(&d, &["volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs", "--opt", "o=size=1m", &vol]);
    let data = d.data_root().join("volumes").join(&vol).join("_data");
    let id = docker_ok(&d, &["run", "-d", "-v", &format!("{vol}:/t"), "bb:1", "sleep", "300"]).trim().to_string();
    assert!(host_mounted(&data), "mounted while the container runs");
    let pid: i32 = docker_ok(&d, &["inspect", "-f", "{{.State.Pid}}", &id]).trim().parse().unwrap();
    d.kill9();
    // The container's init, started by this test's daemon, dies while no berthd watches.
    run_t(Command::new("kill").args(["-9", &pid.to_string()]), 10);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    d.spawn(&[]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while host_mounted(&data) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!host_mounted(&data), "the restarted daemon unmounts the volume of the exited container");
    assert_eq!(docker_ok(&d, &["inspect", "-f", "{{.State.Status}}", &id]).trim(), "exited");
}
