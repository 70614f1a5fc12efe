//! Images over the wire and on disk, through the real docker CLI against berthd, checked
//! against the real tools: `berth-registry` with berthd, Debian's dockerd and skopeo; berthd
//! with Debian's `docker-registry` (CNCF distribution); `docker save`/`load` between berthd
//! and dockerd; `commit`, `history` and `export`; bad input.
//!
//! Every daemon and registry here runs on temporary roots on 127.0.0.1 (which Docker treats
//! as an insecure registry, so plain HTTP) and is stopped and removed when its guard drops.
//! dockerd runs only in the tests that compare with it, with `--iptables=false
//! --bridge=none`; its containers use `--network none`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_testkit::{busybox_tar, free_port, http_get_status, requires_root, run, run_with_input, Daemon, Registry};

/// Run and expect success; returns stdout. `what` names the daemon for the failure message.
fn ok(cmd: &mut Command, log: &dyn Fn() -> String) -> String {
    let desc = format!("{cmd:?}");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{desc} failed ({code}):\nstdout: {out}\nstderr: {err}\n--- log ---\n{}", log());
    out
}

/// `docker ARGS` against berthd, expecting success.
fn bok(d: &Daemon, args: &[&str]) -> String {
    ok(d.docker().args(args), &|| d.log())
}

/// The full image id (`sha256:...`) of `name` as `docker images --no-trunc -q` prints it.
fn image_id(cmd: &mut Command, name: &str, log: &dyn Fn() -> String) -> String {
    let out = ok(cmd.args(["images", "--no-trunc", "-q", name]), log);
    let ids: Vec<&str> = out.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(ids.len(), 1, "expected one image for {name}, got {out:?}");
    assert!(ids[0].starts_with("sha256:") && ids[0].len() == 71, "{out:?}");
    ids[0].to_string()
}

/// The manifest digest a `docker push` printed (`TAG: digest: sha256:... size: N`).
fn pushed_digest(out: &str) -> String {
    let d = out
        .lines()
        .find_map(|l| l.split("digest: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in push output:\n{out}"));
    assert!(d.starts_with("sha256:") && d.len() == 71, "{out}");
    d.to_string()
}

/// `docker images --format {{.Repository}}:{{.Tag}}`, sorted.
fn image_names(cmd: &mut Command, log: &dyn Fn() -> String) -> Vec<String> {
    let out = ok(cmd.args(["images", "--format", "{{.Repository}}:{{.Tag}}"]), log);
    let mut v: Vec<String> = out.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
    v.sort();
    v
}

/// Wait until `addr` answers `GET /v2/` (or `child` exits, or 30 s pass).
fn wait_http(addr: &str, child: &mut Child) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if http_get_status(addr, "/v2/").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// Unmount everything mounted under `dir` (deepest first, lazily).
fn unmount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| p.replace("\\040", " "))
        .filter(|p| p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        let _ = Command::new("umount").arg("-l").arg(&p).stderr(Stdio::null()).status();
    }
}

/// Debian's dockerd (`docker.io`) on its own temporary data/exec roots and socket, without
/// iptables or a bridge; stopped, unmounted and removed on drop.
struct Dockerd {
    child: Option<Child>,
    dir: tempfile::TempDir,
    cgroup_parent: String,
}

impl Dockerd {
    /// Start dockerd, or `None` (the caller skips loudly) when it is not installed.
    fn start() -> Option<Dockerd> {
        let path = ["/usr/sbin/dockerd", "/usr/bin/dockerd"].into_iter().find(|p| Path::new(p).exists());
        let Some(path) = path else {
            eprintln!("SKIPPED: dockerd is not installed (scripts/deps installs docker.io)");
            return None;
        };
        let dir = tempfile::Builder::new().prefix("berth-dockerd-").tempdir_in("/tmp").expect("tempdir");
        let name = dir.path().file_name().expect("name").to_string_lossy().into_owned();
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("log");
        let cgroup_parent = format!("{name}.cg");
        let child = Command::new(path)
            .arg("--data-root").arg(dir.path().join("data"))
            .arg("--exec-root").arg(dir.path().join("exec"))
            .arg("-H").arg(format!("unix://{}", dir.path().join("docker.sock").display()))
            .arg("--pidfile").arg(dir.path().join("dockerd.pid"))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none", "--cgroup-parent", &cgroup_parent])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let d = Dockerd { child: Some(child), dir, cgroup_parent };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if run(d.docker().arg("version")).0 == 0 {
                return Some(d);
            }
            assert!(Instant::now() < deadline, "dockerd did not come up; log:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A `docker` command aimed at this dockerd.
    fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", format!("unix://{}", self.dir.path().join("docker.sock").display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .env("DOCKER_CLI_HINTS", "false");
        c
    }

    /// The last lines of dockerd's log (it is chatty).
    fn log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn ok(&self, args: &[&str]) -> String {
        ok(self.docker().args(args), &|| self.log())
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("sh")
            .arg("-c")
            .arg("ids=$(docker ps -aq); [ -z \"$ids\" ] || docker rm -f $ids")
            .envs(self.docker().get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The containerd dockerd started (it stops it on a clean shutdown; make sure).
        let containerd_pid = std::fs::read_to_string(self.dir.path().join("exec/containerd/containerd.pid"))
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok());
        if let Some(mut c) = self.child.take() {
            signal(c.id() as i32, "TERM");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(pid) = containerd_pid {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "containerd" {
                // The containerd this dockerd started, by its pid file.
                signal(pid, "KILL");
            }
        }
        unmount_under(self.dir.path());
        for d in std::fs::read_dir("/sys/fs/cgroup").map(|rd| rd.flatten().map(|e| e.path()).collect::<Vec<_>>()).unwrap_or_default() {
            let _ = std::fs::remove_dir(d.join(&self.cgroup_parent));
        }
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(&self.cgroup_parent));
    }
}

/// Send `sig` to `pid` (one process, by id).
fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).stderr(Stdio::null()).status();
}

/// Debian's `docker-registry` (CNCF distribution 2.8) serving plain HTTP on 127.0.0.1 from a
/// temporary directory; killed on drop.
struct DistRegistry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    addr: String,
}

impl DistRegistry {
    fn start() -> Option<DistRegistry> {
        let bin = "/usr/bin/docker-registry";
        if !Path::new(bin).exists() {
            eprintln!("SKIPPED: docker-registry is not installed (scripts/deps installs it)");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("berth-distreg-").tempdir_in("/tmp").expect("tempdir");
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                    dir.path().join("storage").display()
                ),
            )
            .expect("config");
            let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.path().join("registry.log")).expect("log");
            let mut child = Command::new(bin)
                .arg("serve")
                .arg(&config)
                .env_clear()
                .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("start docker-registry");
            if wait_http(&addr, &mut child) {
                return Some(DistRegistry { child: Some(child), dir, addr });
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "docker-registry did not start; log:\n{}",
            std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for DistRegistry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `skopeo ARGS` (no signature policy, an empty auth file), expecting success.
fn skopeo(work: &Path, args: &[&str]) -> String {
    let auth = work.join("auth.json");
    if !auth.exists() {
        std::fs::write(&auth, "{}").expect("auth file");
    }
    ok(
        Command::new("skopeo").arg("--insecure-policy").args(args).env("REGISTRY_AUTH_FILE", &auth),
        &String::new,
    )
}

fn have(tool: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).stdout(Stdio::null()).status().map(|s| s.success()).unwrap_or(false);
    if !found {
        eprintln!("SKIPPED: {tool} is not installed (scripts/deps installs it)");
    }
    found
}

/// Case 1: The docker CLI through berthd pushes to berth-registry, removes the image, pulls it back:
/// the same image id, a repo digest naming the pushed manifest, and it runs.
#[test]
fn push_rmi_pull_round_trip_through_berthd_and_berth_registry() {
    requires_root!();
    let d = Daemon::start();
    let r = Registry::start();
    let rlog = || format!("{}\n--- registry ---\n{}", d.log(), r.log());
    d.import_busybox("busybox:latest");
    let name = format!("{}:1", r.repo("e2e/busybox"));
    bok(&d, &["tag", "busybox:latest", &name]);
    let id = image_id(&mut d.docker(), &name, &|| d.log());
    let out = ok(d.docker().args(["push", &name]), &rlog);
    assert!(out.contains(&format!("The push refers to repository [{}]", r.repo("e2e/busybox"))), "{out}");
    let digest = pushed_digest(&out);
    assert!(out.contains(&format!("1: digest: {digest} size: ")), "{out}");
    // As dockerd does, the push records the digest reference on the local image.
    let repo_digest = format!("{}@{digest}", r.repo("e2e/busybox"));
    let digests = bok(&d, &["inspect", "--format", "{{json .RepoDigests}}", &name]);
    assert!(digests.contains(&repo_digest), "after push: {digests}");

    bok(&d, &["rmi", &name, "busybox:latest"]);
    assert!(image_names(&mut d.docker(), &|| d.log()).is_empty());

    let out = ok(d.docker().args(["pull", &name]), &rlog);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(out.contains(&format!("Status: Downloaded newer image for {name}")), "{out}");
    assert_eq!(image_id(&mut d.docker(), &name, &|| d.log()), id);
    let digests = bok(&d, &["inspect", "--format", "{{json .RepoDigests}}", &name]);
    assert_eq!(digests.trim(), format!("[\"{repo_digest}\"]"));
    // The pulled image shows its digest and runs.
    let listed = bok(&d, &["images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"]);
    assert_eq!(listed.trim(), format!("{} 1 {digest}", r.repo("e2e/busybox")));
    assert_eq!(bok(&d, &["run", "--rm", "--network", "none", &name, "echo", "pulled"]), "pulled\n");
    // Pulling again is a no-op; pulling by digest names the same image.
    let out = ok(d.docker().args(["pull", &name]), &rlog);
    assert!(out.contains(&format!("Status: Image is up to date for {name}")), "{out}");
    ok(d.docker().args(["pull", &repo_digest]), &rlog);
    assert_eq!(bok(&d, &["inspect", "--format", "{{.Id}}", &repo_digest]).trim(), id);
}

/// Case 2: skopeo copies berthd's `docker save` archive into berth-registry and from there into an
/// OCI layout; `skopeo inspect` sees it; berthd pulls what skopeo pushed (the same image id).
#[test]
fn skopeo_copies_to_and_from_berth_registry() {
    requires_root!();
    if !have("skopeo") {
        return;
    }
    let d = Daemon::start();
    let r = Registry::start();
    let work = tempfile::tempdir().expect("tempdir");
    d.import_busybox("skop:1");
    bok(&d, &["run", "--name", "mkfile", "--network", "none", "skop:1", "sh", "-c", "echo layer2 > /second.txt"]);
    bok(&d, &["commit", "mkfile", "skop:2"]);
    let id = image_id(&mut d.docker(), "skop:2", &|| d.log());
    let archive = work.path().join("saved.tar");
    bok(&d, &["save", "-o", archive.to_str().unwrap(), "skop:2"]);

    let dest = format!("docker://{}:1", r.repo("x/y"));
    skopeo(work.path(), &["copy", "--dest-tls-verify=false", &format!("docker-archive:{}", archive.display()), &dest]);
    let layout = work.path().join("oci");
    skopeo(work.path(), &["copy", "--src-tls-verify=false", &dest, &format!("oci:{}:one", layout.display())]);
    let inspect: serde_json::Value =
        serde_json::from_str(&skopeo(work.path(), &["inspect", "--tls-verify=false", &dest])).expect("inspect json");
    assert_eq!(inspect["Name"], r.repo("x/y"), "{inspect}");
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(2), "{inspect}");
    assert_eq!(inspect["Architecture"], "amd64", "{inspect}");
    assert_eq!(inspect["Os"], "linux", "{inspect}");
    // The config travelled byte for byte: its digest is still the image id.
    let raw: serde_json::Value =
        serde_json::from_str(&skopeo(work.path(), &["inspect", "--raw", "--tls-verify=false", &dest])).expect("manifest json");
    assert_eq!(raw["config"]["digest"], id.as_str(), "{raw}");

    // The OCI layout: index -> manifest -> config (the same bytes) and both layers present.
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(layout.join("index.json")).expect("index.json")).expect("index");
    let m = &index["manifests"][0];
    assert_eq!(m["annotations"]["org.opencontainers.image.ref.name"], "one", "{index}");
    let blob = |digest: &str| -> PathBuf { layout.join("blobs/sha256").join(digest.trim_start_matches("sha256:")) };
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(m["digest"].as_str().expect("digest"))).expect("manifest blob")).expect("manifest");
    // skopeo converts a Docker manifest to OCI's for an OCI layout, and its config with it
    // (new bytes, new digest); the layers stay.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(manifest["config"]["digest"].as_str().expect("config digest"))).expect("config blob"))
            .expect("config");
    let layers = bok(&d, &["inspect", "--format", "{{json .RootFS.Layers}}", "skop:2"]);
    assert_eq!(config["rootfs"]["diff_ids"], serde_json::from_str::<serde_json::Value>(&layers).expect("layers"), "{config}");
    for l in manifest["layers"].as_array().expect("layers") {
        assert!(blob(l["digest"].as_str().expect("digest")).is_file(), "missing layer {l}");
    }

    // berthd pulls the image skopeo pushed and gets the image it saved.
    bok(&d, &["rm", "mkfile"]);
    bok(&d, &["rmi", "skop:1", "skop:2"]);
    let name = format!("{}:1", r.repo("x/y"));
    ok(d.docker().args(["pull", &name]), &|| format!("{}\n--- registry ---\n{}", d.log(), r.log()));
    assert_eq!(image_id(&mut d.docker(), &name, &|| d.log()), id);
    assert_eq!(bok(&d, &["run", "--rm", "--network", "none", &name, "cat", "/second.txt"]), "layer2\n");
}

/// Case 3: Debian's dockerd pushes to and pulls from berth-registry; berthd pulls what dockerd
/// pushed, and dockerd pulls what berthd pushed (the same image ids).
#[test]
fn dockerd_pushes_to_and_pulls_from_berth_registry() {
    requires_root!();
    let Some(dd) = Dockerd::start() else { return };
    let r = Registry::start();
    let d = Daemon::start();
    let rlog = |l: String| format!("{l}\n--- registry ---\n{}", r.log());

    // dockerd -> berth-registry -> dockerd.
    let name = format!("{}:d1", r.repo("from/dockerd"));
    ok(dd.docker().arg("import").arg(busybox_tar()).arg(&name), &|| dd.log());
    let id = image_id(&mut dd.docker(), &name, &|| dd.log());
    let out = ok(dd.docker().args(["push", &name]), &|| rlog(dd.log()));
    let digest = pushed_digest(&out);
    dd.ok(&["rmi", &name]);
    let out = ok(dd.docker().args(["pull", &name]), &|| rlog(dd.log()));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(image_id(&mut dd.docker(), &name, &|| dd.log()), id);
    assert_eq!(dd.ok(&["run", "--rm", "--network", "none", &name, "echo", "dockerd"]), "dockerd\n");
    // ... and berthd pulls the same image.
    let out = ok(d.docker().args(["pull", &name]), &|| rlog(d.log()));
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(image_id(&mut d.docker(), &name, &|| d.log()), id);
    assert_eq!(bok(&d, &["run", "--rm", "--network", "none", &name, "echo", "berthd"]), "berthd\n");

    // berthd (a two-layer image) -> berth-registry -> dockerd.
    d.import_busybox("base:1");
    bok(&d, &["run", "--name", "adder", "--network", "none", "base:1", "sh", "-c", "echo from-berthd > /f.txt"]);
    let bname = format!("{}:b1", r.repo("from/berthd"));
    bok(&d, &["commit", "adder", &bname]);
    let bid = image_id(&mut d.docker(), &bname, &|| d.log());
    let out = ok(d.docker().args(["push", &bname]), &|| rlog(d.log()));
    let bdigest = pushed_digest(&out);
    let out = ok(dd.docker().args(["pull", &bname]), &|| rlog(dd.log()));
    assert!(out.contains(&format!("Digest: {bdigest}")), "{out}");
    assert_eq!(image_id(&mut dd.docker(), &bname, &|| dd.log()), bid);
    assert_eq!(dd.ok(&["run", "--rm", "--network", "none", &bname, "cat", "/f.txt"]), "from-berthd\n");
}

/// Case 4: berthd pushes to Debian's docker-registry (CNCF distribution), removes the image, pulls
/// it back and runs it.
#[test]
fn berthd_pushes_to_and_pulls_from_distribution_registry() {
    requires_root!();
    let Some(reg) = DistRegistry::start() else { return };
    let d = Daemon::start();
    let rlog = || format!("{}\n--- docker-registry ---\n{}", d.log(), reg.log());
    d.import_busybox("busybox:latest");
    bok(&d, &["run", "--name", "adder", "--network", "none", "busybox", "sh", "-c", "echo distribution > /d.txt"]);
    let name = format!("{}/dist/busybox:2", reg.addr);
    bok(&d, &["commit", "adder", &name]);
    let id = image_id(&mut d.docker(), &name, &|| d.log());
    let out = ok(d.docker().args(["push", &name]), &rlog);
    let digest = pushed_digest(&out);
    bok(&d, &["rm", "adder"]);
    bok(&d, &["rmi", &name, "busybox:latest"]);
    assert!(image_names(&mut d.docker(), &|| d.log()).is_empty());
    let out = ok(d.docker().args(["pull", &name]), &rlog);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert_eq!(image_id(&mut d.docker(), &name, &|| d.log()), id);
    assert_eq!(bok(&d, &["run", "--rm", "--network", "none", &name, "cat", "/d.txt"]), "distribution\n");
}

/// Case 5: `docker save` from dockerd loads into berthd and runs; `docker save` from berthd loads
/// into dockerd and runs; the image ids survive both ways.
#[test]
fn save_and_load_between_dockerd_and_berthd() {
    requires_root!();
    let Some(dd) = Dockerd::start() else { return };
    let d = Daemon::start();
    let work = tempfile::tempdir().expect("tempdir");

    // dockerd -> berthd: a two-layer image made by dockerd.
    ok(dd.docker().arg("import").arg(busybox_tar()).arg("dbase:1"), &|| dd.log());
    dd.ok(&["run", "--name", "dadd", "--network", "none", "dbase:1", "sh", "-c", "echo made-by-dockerd > /who"]);
    dd.ok(&["commit", "-c", "CMD [\"cat\", \"/who\"]", "dadd", "fromdockerd:1"]);
    let did = image_id(&mut dd.docker(), "fromdockerd:1", &|| dd.log());
    let dtar = work.path().join("dockerd.tar");
    dd.ok(&["save", "-o", dtar.to_str().unwrap(), "fromdockerd:1"]);
    let out = bok(&d, &["load", "-i", dtar.to_str().unwrap()]);
    assert!(out.contains("Loaded image: fromdockerd:1"), "{out}");
    assert_eq!(image_id(&mut d.docker(), "fromdockerd:1", &|| d.log()), did);
    assert_eq!(bok(&d, &["run", "--rm", "--network", "none", "fromdockerd:1"]), "made-by-dockerd\n");
    let hist = bok(&d, &["history", "-q", "fromdockerd:1"]);
    assert_eq!(hist.lines().count(), 2, "{hist}");

    // berthd -> dockerd: a two-layer image made by berthd, through stdin/stdout this time.
    d.import_busybox("bbase:1");
    bok(&d, &["run", "--name", "badd", "--network", "none", "bbase:1", "sh", "-c", "echo made-by-berthd > /who"]);
    bok(&d, &["commit", "-c", "CMD [\"cat\", \"/who\"]", "badd", "fromberthd:1"]);
    let bid = image_id(&mut d.docker(), "fromberthd:1", &|| d.log());
    let btar = work.path().join("berthd.tar");
    let saved = d.docker().args(["save", "fromberthd:1"]).stdout(Stdio::piped()).stderr(Stdio::piped()).output().expect("docker save");
    assert!(saved.status.success(), "save: {}\n{}", String::from_utf8_lossy(&saved.stderr), d.log());
    std::fs::write(&btar, &saved.stdout).expect("write archive");
    let (code, out, err) = run_with_input(dd.docker().arg("load"), &std::fs::read(&btar).expect("archive"));
    assert_eq!(code, 0, "dockerd load from stdin: {err}\n{}", dd.log());
    assert!(out.contains("Loaded image: fromberthd:1"), "{out}");
    assert_eq!(image_id(&mut dd.docker(), "fromberthd:1", &|| dd.log()), bid);
    assert_eq!(dd.ok(&["run", "--rm", "--network", "none", "fromberthd:1"]), "made-by-berthd\n");

    // Both daemons save the same image to the same layer blobs: dockerd's save of what berthd
    // made loads back into berthd as the very same image.
    let back = work.path().join("back.tar");
    dd.ok(&["save", "-o", back.to_str().unwrap(), "fromberthd:1"]);
    bok(&d, &["rmi", "fromberthd:1"]);
    bok(&d, &["load", "-i", back.to_str().unwrap()]);
    assert_eq!(image_id(&mut d.docker(), "fromberthd:1", &|| d.log()), bid);
}

/// Case 6: Bad input through berthd gets clean errors and leaves nothing behind: pull of a missing
/// repository or tag, push to a registry that is down, load of garbage.
#[test]
fn registry_and_archive_errors_are_clean() {
    requires_root!();
    let d = Daemon::start();
    let mut r = Registry::start();
    d.import_busybox("busybox:latest");
    let before = image_names(&mut d.docker(), &|| d.log());

    // A repository the registry never heard of, then a missing tag of one it has.
    for name in [format!("{}:1", r.repo("no/such")), format!("{}:nosuchtag", r.repo("e2e/there"))] {
        if name.ends_with(":nosuchtag") {
            let there = format!("{}:1", r.repo("e2e/there"));
            bok(&d, &["tag", "busybox:latest", &there]);
            bok(&d, &["push", &there]);
            bok(&d, &["rmi", &there]);
        }
        let (code, out, err) = run(d.docker().args(["pull", &name]));
        assert_ne!(code, 0, "pull of {name} succeeded: {out}");
        // dockerd: "Error response from daemon: manifest for NAME not found: manifest unknown: ..."
        assert!(err.contains("manifest unknown") || err.contains("not found"), "{err}");
        assert!(err.contains(&name), "the error does not name {name}: {err}");
        assert_eq!(image_names(&mut d.docker(), &|| d.log()), before);
    }

    // A registry that is down: dockerd says `Get "http://ADDR/v2/": dial tcp ADDR: connect:
    // connection refused` and exits 1.
    let addr = r.addr.clone();
    r.stop();
    let name = format!("{addr}/down/busybox:1");
    bok(&d, &["tag", "busybox:latest", &name]);
    let (code, out, err) = run(d.docker().args(["push", &name]));
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.to_lowercase().contains("connection refused"), "{out}\n{err}");
    assert!(err.contains(&addr), "{err}");
    bok(&d, &["rmi", &name]);

    // Garbage and a tar that is no image archive: an error, nothing loaded.
    let work = tempfile::tempdir().expect("tempdir");
    let garbage = work.path().join("garbage.tar");
    let mut bytes = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..8192 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push((x >> 24) as u8);
    }
    std::fs::write(&garbage, &bytes).expect("garbage");
    let (code, out, err) = run(d.docker().args(["load", "-i", garbage.to_str().unwrap()]));
    assert_ne!(code, 0, "load of garbage succeeded: {out}");
    // dockerd: "Error processing tar file(exit status 1): archive/tar: invalid tar header":
    // it says what is wrong, in words, without echoing the garbage.
    let lower = err.to_lowercase();
    assert!(lower.contains("tar") || lower.contains("archive"), "{err}");
    let garbage_err = err;
    let notimage = work.path().join("notimage.tar");
    std::fs::write(work.path().join("hello.txt"), "hello\n").expect("file");
    assert!(Command::new("tar").arg("-C").arg(work.path()).arg("-cf").arg(&notimage).arg("hello.txt").status().expect("tar").success());
    let (code, out, err) = run(d.docker().args(["load", "-i", notimage.to_str().unwrap()]));
    assert_ne!(code, 0, "load of a tar without an image succeeded: {out}");
    assert!(!err.trim().is_empty(), "no error message");
    let (code, _, err) = run(d.docker().args(["load", "-i", work.path().join("nonexistent.tar").to_str().unwrap()]));
    assert_ne!(code, 0);
    assert!(err.contains("no such file"), "{err}");
    assert_eq!(image_names(&mut d.docker(), &|| d.log()), before);
    let (code, out, _) = run(d.docker().args(["images", "-a", "-q"]));
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1, "images left behind by failed loads:\n{out}");
    assert!(
        !garbage_err.chars().any(|c| c == char::REPLACEMENT_CHARACTER || (c.is_control() && c != '\n')),
        "the error echoes binary input: {garbage_err:?}"
    );
}

/// Case 7: `docker commit` of a container that made a file: the new image has it, its history shows
/// the commit layer, `--change` sets its command; `docker export` has the file too.
#[test]
fn commit_history_and_export() {
    requires_root!();
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    bok(&d, &["run", "--name", "maker", "--network", "none", "busybox", "sh", "-c", "echo hello > /made.txt"]);
    let out = bok(&d, &["commit", "-m", "added file", "-a", "e2e <e2e@example.com>", "maker", "committed:1"]);
    let id = image_id(&mut d.docker(), "committed:1", &|| d.log());
    assert_eq!(out.trim(), id);
    assert_eq!(bok(&d, &["run", "--rm", "--network", "none", "committed:1", "cat", "/made.txt"]), "hello\n");
    assert_eq!(
        bok(&d, &["inspect", "--format", "{{len .RootFS.Layers}}|{{json .Config.Cmd}}|{{.Comment}}|{{.Author}}", "committed:1"]).trim(),
        "2|[\"sh\",\"-c\",\"echo hello > /made.txt\"]|added file|e2e <e2e@example.com>"
    );
    // history: the commit layer on top (its command, comment and size), the import below.
    let hist = bok(&d, &["history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}|{{.Size}}", "committed:1"]);
    let lines: Vec<&str> = hist.lines().collect();
    assert_eq!(lines.len(), 2, "{hist}");
    assert_eq!(lines[0], format!("{id}|sh -c echo hello > /made.txt|added file|6B"), "{hist}");
    assert!(lines[1].ends_with("|1.98MB") || lines[1].contains("|Imported from"), "{hist}");
    // --change: the committed image's command.
    bok(&d, &["commit", "-c", "CMD [\"cat\", \"/made.txt\"]", "-c", "ENV MADE=yes", "maker", "committed:2"]);
    assert_eq!(bok(&d, &["run", "--rm", "--network", "none", "committed:2"]), "hello\n");
    assert_eq!(bok(&d, &["run", "--rm", "--network", "none", "committed:2", "sh", "-c", "echo $MADE"]), "yes\n");
    // A commit of a commit: three layers, three history entries.
    bok(&d, &["run", "--name", "maker2", "--network", "none", "committed:1", "sh", "-c", "rm /made.txt; echo two > /two.txt"]);
    bok(&d, &["commit", "maker2", "committed:3"]);
    assert_eq!(bok(&d, &["inspect", "--format", "{{len .RootFS.Layers}}", "committed:3"]).trim(), "3");
    assert_eq!(bok(&d, &["history", "-q", "committed:3"]).lines().count(), 3);
    let (code, _, _) = run(d.docker().args(["run", "--rm", "--network", "none", "committed:3", "test", "-e", "/made.txt"]));
    assert_eq!(code, 1, "a file deleted before the commit is still in the image");

    // export: the container's whole filesystem, with the file it made.
    let work = tempfile::tempdir().expect("tempdir");
    let tar = work.path().join("export.tar");
    bok(&d, &["export", "-o", tar.to_str().unwrap(), "maker"]);
    let listing = ok(Command::new("tar").arg("-tf").arg(&tar), &String::new);
    let names: Vec<&str> = listing.lines().map(|l| l.trim_start_matches("./")).collect();
    for want in ["made.txt", "bin/busybox", "bin/sh", "etc/passwd"] {
        assert!(names.contains(&want), "{want} missing from the export:\n{listing}");
    }
    let entry = listing.lines().find(|l| l.trim_start_matches("./") == "made.txt").expect("made.txt entry");
    let content = ok(Command::new("tar").arg("-xOf").arg(&tar).arg(entry), &String::new);
    assert_eq!(content, "hello\n");
    // To stdout too, and the export of maker2 lacks the deleted file.
    let out = d.docker().args(["export", "maker2"]).stdout(Stdio::piped()).output().expect("export");
    assert!(out.status.success(), "{}", d.log());
    std::fs::write(work.path().join("export2.tar"), &out.stdout).expect("write");
    let listing = ok(Command::new("tar").arg("-tf").arg(work.path().join("export2.tar")), &String::new);
    let names: Vec<&str> = listing.lines().map(|l| l.trim_start_matches("./")).collect();
    assert!(names.contains(&"two.txt") && !names.contains(&"made.txt"), "{listing}");
    // What the container changed, as `docker diff` shows it.
    assert_eq!(bok(&d, &["diff", "maker"]).trim(), "A /made.txt");
    assert_eq!(bok(&d, &["diff", "maker2"]), "D /made.txt\nA /two.txt\n");
    // The committed image's parent is the image the container ran, and history names it by id
    // (dockerd: `402a83edb9c9 ... Imported from -`, not `<missing>`).
    let base = image_id(&mut d.docker(), "busybox:latest", &|| d.log());
    assert_eq!(bok(&d, &["inspect", "--format", "{{.Parent}}", "committed:1"]).trim(), base);
    assert!(lines[1].starts_with(&format!("{base}|")), "{hist}");
}
