//! The specs `spec::build` makes are valid `config.json` for runc: run a few through the host's
//! runc with a static busybox rootfs. Needs root, `runc` and a static `busybox` on the host;
//! skips loudly otherwise.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_runtime::merge::{merge, MergeContext};
use berth_runtime::spec::{
    all_capabilities, build, devices::host_devices, ContainerFiles, HostFacts, NetworkNamespace,
    SpecInput,
};
use berth_runtime::user::resolve;
use bollard_stubs::models::{ContainerConfig, ContainerCreateBody};
use serde_json::{json, Value};

fn find(name: &str, dirs: &[&str]) -> Option<PathBuf> {
    dirs.iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// Why this host cannot run the test, if it cannot.
fn skip_reason() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not root".into());
    }
    if find(
        "runc",
        &["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"],
    )
    .is_none()
    {
        return Some("no runc on this host".into());
    }
    let Some(bb) = find("busybox", &["/bin", "/usr/bin"]) else {
        return Some("no busybox on this host".into());
    };
    match Command::new("file").arg(&bb).output() {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("statically linked") => None,
        Ok(_) => Some("busybox is not statically linked".into()),
        Err(_) => Some("no file(1) to check that busybox is static".into()),
    }
}

/// The capabilities this process may grant (its bounding set), as the daemon would probe them.
fn host_capabilities() -> Vec<oci_spec::runtime::Capability> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX);
    all_capabilities()
        .into_iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1 << i) != 0)
        .map(|(_, c)| c)
        .collect()
}

fn host_nofile() -> (u64, u64) {
    let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    (soft, hard)
}

struct Bundle {
    dir: tempfile::TempDir,
    id: String,
}

impl Bundle {
    fn new(tag: &str) -> Bundle {
        let dir = tempfile::tempdir().expect("tempdir");
        let rootfs = dir.path().join("rootfs");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "data"] {
            std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
        }
        let bb = find("busybox", &["/bin", "/usr/bin"]).expect("busybox");
        std::fs::copy(&bb, rootfs.join("bin/busybox")).expect("copy busybox");
        for app in [
            "sh", "cat", "id", "hostname", "grep", "touch", "echo", "ls", "head",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(app)).expect("symlink");
        }
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\n",
        )
        .expect("passwd");
        std::fs::write(rootfs.join("etc/group"), "root:x:0:root\nu:x:1000:\n").expect("group");
        for (f, content) in [
            ("hostname", "spectest\n"),
            ("hosts", "127.0.0.1 localhost\n"),
            ("resolv.conf", "nameserver 127.0.0.1\n"),
        ] {
            std::fs::write(dir.path().join(f), content).expect("files");
        }
        std::fs::create_dir_all(dir.path().join("bindsrc")).expect("bindsrc");
        std::fs::write(dir.path().join("bindsrc/hello"), "from host\n").expect("hello");
        let id = format!("berth-spectest-{tag}-{}", std::process::id());
        Bundle { dir, id }
    }

    fn input(&self, request: Value) -> SpecInput {
        let image: ContainerConfig =
            serde_json::from_value(json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]})).expect("image");
        let request: ContainerCreateBody = serde_json::from_value(request).expect("request");
        let host_config = request.host_config.clone().unwrap_or_default();
        let config = merge(
            Some(&image),
            &request,
            &MergeContext {
                container_id: format!("{:0<64}", "abc"),
                host_hostname: "h".into(),
            },
        )
        .expect("merge");
        let rootfs = self.dir.path().join("rootfs");
        let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).ok();
        let group = std::fs::read_to_string(rootfs.join("etc/group")).ok();
        let user = resolve(
            config.user.as_deref().unwrap_or(""),
            host_config.group_add.as_deref().unwrap_or_default(),
            passwd.as_deref(),
            group.as_deref(),
        )
        .expect("user");
        let mut host = HostFacts {
            capabilities: host_capabilities(),
            ..HostFacts::default()
        };
        host.rlimits.insert("nofile".into(), host_nofile());
        let cgroup_v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        SpecInput {
            container_id: self.id.clone(),
            hostname: config.hostname.clone().unwrap_or_default(),
            terminal: false,
            config,
            host_config,
            rootfs: PathBuf::from("rootfs"),
            user,
            files: ContainerFiles {
                hostname: Some(self.dir.path().join("hostname")),
                hosts: Some(self.dir.path().join("hosts")),
                resolv_conf: Some(self.dir.path().join("resolv.conf")),
            },
            network: NetworkNamespace::New,
            cgroups_path: format!("/{}", self.id),
            cgroup_v2,
            init: None,
            annotations: HashMap::new(),
            default_ulimits: Vec::new(),
            devices: Vec::new(),
            host,
            seccomp: None,
            id_mappings: None,
        }
    }

    /// Write config.json and `runc run` it; (exit code, stdout + stderr).
    fn run(&self, input: &SpecInput) -> (i32, String) {
        let spec = build(input).expect("build");
        spec.save(self.dir.path().join("config.json"))
            .expect("save config.json");
        let state = self.dir.path().join("state");
        let out = Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(self.dir.path())
            .arg(&self.id)
            .output()
            .expect("run runc");
        // Whatever happened, leave no container state behind.
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["delete", "--force", &self.id])
            .output();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    }
}

#[test]
fn runc_runs_default_spec() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP runc_runs_default_spec: {why}");
        return;
    }
    let b = Bundle::new("default");
    let script = "id; hostname; cat /etc/hostname; grep CapEff /proc/self/status; \
                  echo HOME=$HOME; ls /dev; touch /proc/sys/x 2>/dev/null || echo procsys-ro; \
                  head -c1 /proc/interrupts | grep -q . || echo interrupts-masked";
    let (code, out) = b.run(&b.input(json!({"Cmd": ["sh", "-c", script]})));
    assert_eq!(code, 0, "{out}");
    for want in [
        "uid=0(root) gid=0(root)",
        "abc000000000",
        "spectest",
        "CapEff:\t00000000a80425fb",
        "HOME=/root",
        "null",
        "urandom",
        "procsys-ro",
        "interrupts-masked",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn runc_runs_user_binds_tmpfs_readonly() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP runc_runs_user_binds_tmpfs_readonly: {why}");
        return;
    }
    let b = Bundle::new("opts");
    let src = b.dir.path().join("bindsrc");
    let script = "id; cat /data/hello; touch /data/x 2>/dev/null || echo data-ro; \
                  touch /run/ok && echo run-rw; touch /etc/x 2>/dev/null || echo root-ro; \
                  grep CapEff /proc/self/status";
    let req = json!({
        "User": "u",
        "Cmd": ["sh", "-c", script],
        "HostConfig": {
            "Binds": [format!("{}:/data:ro", src.display())],
            "Tmpfs": {"/run": "size=1m"},
            "ReadonlyRootfs": true,
            "GroupAdd": ["7"],
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}]
        }
    });
    let (code, out) = b.run(&b.input(req));
    assert_eq!(code, 0, "{out}");
    for want in [
        "uid=1000(u) gid=1000(u) groups=7,1000(u)",
        "from host",
        "data-ro",
        "run-rw",
        "root-ro",
        "CapEff:\t0000000000000000",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn runc_runs_privileged() {
    if let Some(why) = skip_reason() {
        eprintln!("SKIP runc_runs_privileged: {why}");
        return;
    }
    let b = Bundle::new("priv");
    let script = "grep -E 'CapEff|CapBnd' /proc/self/status; ls /dev/null /dev/zero; \
                  head -c1 /proc/interrupts | grep -q . && echo interrupts-visible; true";
    let mut input =
        b.input(json!({"Cmd": ["sh", "-c", script], "HostConfig": {"Privileged": true}}));
    input.host.devices = host_devices().expect("host devices");
    let (code, out) = b.run(&input);
    assert_eq!(code, 0, "{out}");
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let bnd = status
        .lines()
        .find(|l| l.starts_with("CapBnd:"))
        .expect("CapBnd")
        .to_string();
    let eff = bnd.replace("CapBnd", "CapEff");
    for want in [bnd.as_str(), eff.as_str(), "/dev/null", "interrupts-visible"] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}
