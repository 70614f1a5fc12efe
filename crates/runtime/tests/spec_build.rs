//! Table and snapshot tests of `berth_runtime::spec::build`.

use std::collections::HashMap;
use std::path::PathBuf;

use berth_runtime::merge::{merge, MergeContext};
use berth_runtime::spec::{build, ContainerFiles, HostFacts, NetworkNamespace, SpecInput};
use berth_runtime::user::resolve;
use bollard_stubs::models::{ContainerConfig, ContainerCreateBody, HostConfig};
use expect_test::{expect, Expect};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Rebuild a JSON value with sorted object keys and sorted capability sets (they are hash
/// sets in the OCI types), so that snapshots are stable.
fn canon(v: &Value, key: &str) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                out.insert(k.clone(), canon(&m[k], k));
            }
            Value::Object(out)
        }
        Value::Array(a) => {
            let mut items: Vec<Value> = a.iter().map(|x| canon(x, "")).collect();
            if matches!(
                key,
                "bounding" | "effective" | "permitted" | "inheritable" | "ambient"
            ) {
                items.sort_by_key(|x| x.to_string());
            }
            Value::Array(items)
        }
        other => other.clone(),
    }
}

fn json_of(spec: &Spec) -> Value {
    canon(&serde_json::to_value(spec).expect("serialize spec"), "")
}

/// A container as Docker would create it from a busybox-like image with `docker run`.
fn input(request: Value) -> SpecInput {
    let image: ContainerConfig = serde_json::from_value(json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"]
    }))
    .expect("image");
    let request: ContainerCreateBody = serde_json::from_value(request).expect("request");
    let host_config: HostConfig = request.host_config.clone().unwrap_or_default();
    let config = merge(
        Some(&image),
        &request,
        &MergeContext {
            container_id: ID.into(),
            host_hostname: "host".into(),
        },
    )
    .expect("merge");
    let user = resolve(
        config.user.as_deref().unwrap_or(""),
        host_config.group_add.as_deref().unwrap_or_default(),
        Some("root:x:0:0:root:/root:/bin/sh\n"),
        Some("root:x:0:root\n"),
    )
    .expect("user");
    let mut host = HostFacts::default();
    host.rlimits.insert("nofile".into(), (1024, 524288));
    host.rlimits.insert("nproc".into(), (63000, 63000));
    SpecInput {
        container_id: ID.into(),
        hostname: config.hostname.clone().unwrap_or_default(),
        terminal: config.tty.unwrap_or(false),
        config,
        host_config,
        rootfs: PathBuf::from("/var/lib/berth/containers/x/rootfs"),
        user,
        files: ContainerFiles {
            hostname: Some("/var/lib/berth/containers/x/hostname".into()),
            hosts: Some("/var/lib/berth/containers/x/hosts".into()),
            resolv_conf: Some("/var/lib/berth/containers/x/resolv.conf".into()),
        },
        network: NetworkNamespace::New,
        cgroups_path: format!("/berth/{ID}"),
        cgroup_v2: true,
        init: None,
        annotations: HashMap::new(),
        default_ulimits: Vec::new(),
        devices: Vec::new(),
        host,
        seccomp: None,
        id_mappings: None,
    }
}

#[test]
fn defaults_snapshot() {
    let spec = build(&input(json!({"Image": "busybox"}))).expect("build");
    let text = serde_json::to_string_pretty(&json_of(&spec)).expect("pretty");
    expect![[r#"
        {
          "hostname": "0123456789ab",
          "linux": {
            "cgroupsPath": "/berth/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "devices": [
              {
                "fileMode": 438,
                "gid": 0,
                "major": 1,
                "minor": 3,
                "path": "/dev/null",
                "type": "c",
                "uid": 0
              },
              {
                "fileMode": 438,
                "gid": 0,
                "major": 1,
                "minor": 5,
                "path": "/dev/zero",
                "type": "c",
                "uid": 0
              },
              {
                "fileMode": 438,
                "gid": 0,
                "major": 1,
                "minor": 7,
                "path": "/dev/full",
                "type": "c",
                "uid": 0
              },
              {
                "fileMode": 438,
                "gid": 0,
                "major": 1,
                "minor": 8,
                "path": "/dev/random",
                "type": "c",
                "uid": 0
              },
              {
                "fileMode": 438,
                "gid": 0,
                "major": 1,
                "minor": 9,
                "path": "/dev/urandom",
                "type": "c",
                "uid": 0
              },
              {
                "fileMode": 438,
                "gid": 0,
                "major": 5,
                "minor": 0,
                "path": "/dev/tty",
                "type": "c",
                "uid": 0
              }
            ],
            "maskedPaths": [
              "/proc/asound",
              "/proc/acpi",
              "/proc/interrupts",
              "/proc/kcore",
              "/proc/keys",
              "/proc/latency_stats",
              "/proc/timer_list",
              "/proc/timer_stats",
              "/proc/sched_debug",
              "/proc/scsi",
              "/sys/firmware",
              "/sys/devices/virtual/powercap"
            ],
            "namespaces": [
              {
                "type": "mount"
              },
              {
                "type": "network"
              },
              {
                "type": "uts"
              },
              {
                "type": "pid"
              },
              {
                "type": "ipc"
              },
              {
                "type": "cgroup"
              }
            ],
            "readonlyPaths": [
              "/proc/bus",
              "/proc/fs",
              "/proc/irq",
              "/proc/sys",
              "/proc/sysrq-trigger"
            ],
            "resources": {
              "blockIO": {},
              "devices": [
                {
                  "access": "rwm",
                  "allow": false
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 5,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 3,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 9,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 8,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 5,
                  "minor": 0,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 5,
                  "minor": 1,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": false,
                  "major": 10,
                  "minor": 229,
                  "type": "c"
                },
                {
                  "access": "m",
                  "allow": true,
                  "type": "c"
                },
                {
                  "access": "m",
                  "allow": true,
                  "type": "b"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 3,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 8,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 7,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 5,
                  "minor": 0,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 5,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 1,
                  "minor": 9,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 136,
                  "type": "c"
                },
                {
                  "access": "rwm",
                  "allow": true,
                  "major": 5,
                  "minor": 2,
                  "type": "c"
                }
              ]
            },
            "sysctl": {
              "net.ipv4.ip_unprivileged_port_start": "0",
              "net.ipv4.ping_group_range": "0 2147483647"
            }
          },
          "mounts": [
            {
              "destination": "/proc",
              "options": [
                "nosuid",
                "noexec",
                "nodev"
              ],
              "source": "proc",
              "type": "proc"
            },
            {
              "destination": "/dev",
              "options": [
                "nosuid",
                "strictatime",
                "mode=755",
                "size=65536k"
              ],
              "source": "tmpfs",
              "type": "tmpfs"
            },
            {
              "destination": "/dev/pts",
              "options": [
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5"
              ],
              "source": "devpts",
              "type": "devpts"
            },
            {
              "destination": "/sys",
              "options": [
                "nosuid",
                "noexec",
                "nodev",
                "ro"
              ],
              "source": "sysfs",
              "type": "sysfs"
            },
            {
              "destination": "/sys/fs/cgroup",
              "options": [
                "ro",
                "nosuid",
                "noexec",
                "nodev"
              ],
              "source": "cgroup",
              "type": "cgroup"
            },
            {
              "destination": "/dev/mqueue",
              "options": [
                "nosuid",
                "noexec",
                "nodev"
              ],
              "source": "mqueue",
              "type": "mqueue"
            },
            {
              "destination": "/dev/shm",
              "options": [
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                "size=67108864"
              ],
              "source": "shm",
              "type": "tmpfs"
            },
            {
              "destination": "/etc/resolv.conf",
              "options": [
                "rbind",
                "rprivate"
              ],
              "source": "/var/lib/berth/containers/x/resolv.conf",
              "type": "bind"
            },
            {
              "destination": "/etc/hostname",
              "options": [
                "rbind",
                "rprivate"
              ],
              "source": "/var/lib/berth/containers/x/hostname",
              "type": "bind"
            },
            {
              "destination": "/etc/hosts",
              "options": [
                "rbind",
                "rprivate"
              ],
              "source": "/var/lib/berth/containers/x/hosts",
              "type": "bind"
            }
          ],
          "ociVersion": "1.0.2-dev",
          "process": {
            "args": [
              "sh"
            ],
            "capabilities": {
              "bounding": [
                "CAP_AUDIT_WRITE",
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FOWNER",
                "CAP_FSETID",
                "CAP_KILL",
                "CAP_MKNOD",
                "CAP_NET_BIND_SERVICE",
                "CAP_NET_RAW",
                "CAP_SETFCAP",
                "CAP_SETGID",
                "CAP_SETPCAP",
                "CAP_SETUID",
                "CAP_SYS_CHROOT"
              ],
              "effective": [
                "CAP_AUDIT_WRITE",
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FOWNER",
                "CAP_FSETID",
                "CAP_KILL",
                "CAP_MKNOD",
                "CAP_NET_BIND_SERVICE",
                "CAP_NET_RAW",
                "CAP_SETFCAP",
                "CAP_SETGID",
                "CAP_SETPCAP",
                "CAP_SETUID",
                "CAP_SYS_CHROOT"
              ],
              "permitted": [
                "CAP_AUDIT_WRITE",
                "CAP_CHOWN",
                "CAP_DAC_OVERRIDE",
                "CAP_FOWNER",
                "CAP_FSETID",
                "CAP_KILL",
                "CAP_MKNOD",
                "CAP_NET_BIND_SERVICE",
                "CAP_NET_RAW",
                "CAP_SETFCAP",
                "CAP_SETGID",
                "CAP_SETPCAP",
                "CAP_SETUID",
                "CAP_SYS_CHROOT"
              ]
            },
            "cwd": "/",
            "env": [
              "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
              "HOSTNAME=0123456789ab",
              "HOME=/root"
            ],
            "oomScoreAdj": 0,
            "terminal": false,
            "user": {
              "additionalGids": [
                0,
                0
              ],
              "gid": 0,
              "uid": 0
            }
          },
          "root": {
            "path": "/var/lib/berth/containers/x/rootfs"
          }
        }"#]].assert_eq(&text);
}

/// One line per mount: destination type source [options].
fn mounts(s: &Spec) -> String {
    s.mounts()
        .iter()
        .flatten()
        .map(|m| {
            format!(
                "{} {} {} [{}]\n",
                m.destination().display(),
                m.typ().as_deref().unwrap_or("-"),
                m.source()
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                m.options().clone().unwrap_or_default().join(",")
            )
        })
        .collect()
}

fn section(s: &Spec, path: &str) -> String {
    let v = json_of(s);
    let mut cur = &v;
    for p in path.split('.') {
        cur = &cur[p];
    }
    format!("{path}: {cur}\n")
}

/// Build, then render what `show` picks, or the error with its kind.
fn check(request: Value, tweak: impl FnOnce(&mut SpecInput), show: &[&str], want: Expect) {
    let mut i = input(request);
    tweak(&mut i);
    let out = match build(&i) {
        Err(e) => {
            use berth_errdefs::HasKind;
            format!("error ({}): {e}\n", e.kind())
        }
        Ok(s) => {
            let mut out = String::new();
            for what in show {
                if *what == "mounts" {
                    out.push_str(&mounts(&s));
                } else {
                    out.push_str(&section(&s, what));
                }
            }
            out
        }
    };
    want.assert_eq(&out);
}

#[test]
fn privileged() {
    check(
        json!({"HostConfig": {"Privileged": true}}),
        |i| {
            let mut d = oci_spec::runtime::LinuxDevice::default();
            d.set_path("/dev/sda".into());
            d.set_typ(oci_spec::runtime::LinuxDeviceType::B);
            d.set_major(8);
            d.set_minor(0);
            i.host.devices = vec![d];
        },
        &[
            "process.capabilities.bounding",
            "linux.maskedPaths",
            "linux.readonlyPaths",
            "linux.devices",
            "linux.resources.devices",
            "mounts",
        ],
        expect![[r#"
            process.capabilities.bounding: ["CAP_AUDIT_CONTROL","CAP_AUDIT_READ","CAP_AUDIT_WRITE","CAP_BLOCK_SUSPEND","CAP_BPF","CAP_CHECKPOINT_RESTORE","CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_KILL","CAP_LEASE","CAP_LINUX_IMMUTABLE","CAP_MAC_ADMIN","CAP_MAC_OVERRIDE","CAP_MKNOD","CAP_NET_ADMIN","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST","CAP_NET_RAW","CAP_PERFMON","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYSLOG","CAP_SYS_ADMIN","CAP_SYS_BOOT","CAP_SYS_CHROOT","CAP_SYS_MODULE","CAP_SYS_NICE","CAP_SYS_PACCT","CAP_SYS_PTRACE","CAP_SYS_RAWIO","CAP_SYS_RESOURCE","CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_WAKE_ALARM"]
            linux.maskedPaths: null
            linux.readonlyPaths: null
            linux.devices: [{"major":8,"minor":0,"path":"/dev/sda","type":"b"}]
            linux.resources.devices: [{"access":"rwm","allow":true}]
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev]
            /sys/fs/cgroup cgroup cgroup [nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /dev/shm tmpfs shm [nosuid,noexec,nodev,mode=1777,size=67108864]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,rprivate]
        "#]],
    );
}

#[test]
fn cap_add_and_drop() {
    check(
        json!({"HostConfig": {"CapAdd": ["NET_ADMIN", "cap_sys_time"], "CapDrop": ["CAP_MKNOD", "net_raw"]}}),
        |_| {},
        &[
            "process.capabilities.bounding",
            "process.capabilities.inheritable",
            "process.capabilities.ambient",
        ],
        expect![[r#"
            process.capabilities.bounding: ["CAP_AUDIT_WRITE","CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_NET_ADMIN","CAP_NET_BIND_SERVICE","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT","CAP_SYS_TIME"]
            process.capabilities.inheritable: null
            process.capabilities.ambient: null
        "#]],
    );
}

#[test]
fn cap_add_all_minus_drops() {
    check(
        json!({"HostConfig": {"CapAdd": ["all"], "CapDrop": ["SYS_ADMIN", "CAP_NET_ADMIN"]}}),
        |_| {},
        &["process.capabilities.effective"],
        expect![[r#"
            process.capabilities.effective: ["CAP_AUDIT_CONTROL","CAP_AUDIT_READ","CAP_AUDIT_WRITE","CAP_BLOCK_SUSPEND","CAP_BPF","CAP_CHECKPOINT_RESTORE","CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_DAC_READ_SEARCH","CAP_FOWNER","CAP_FSETID","CAP_IPC_LOCK","CAP_IPC_OWNER","CAP_KILL","CAP_LEASE","CAP_LINUX_IMMUTABLE","CAP_MAC_ADMIN","CAP_MAC_OVERRIDE","CAP_MKNOD","CAP_NET_BIND_SERVICE","CAP_NET_BROADCAST","CAP_NET_RAW","CAP_PERFMON","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYSLOG","CAP_SYS_BOOT","CAP_SYS_CHROOT","CAP_SYS_MODULE","CAP_SYS_NICE","CAP_SYS_PACCT","CAP_SYS_PTRACE","CAP_SYS_RAWIO","CAP_SYS_RESOURCE","CAP_SYS_TIME","CAP_SYS_TTY_CONFIG","CAP_WAKE_ALARM"]
        "#]],
    );
}

#[test]
fn cap_drop_all_keeps_only_adds() {
    check(
        json!({"HostConfig": {"CapAdd": ["chown"], "CapDrop": ["ALL"]}}),
        |_| {},
        &["process.capabilities.permitted"],
        expect![[r#"
            process.capabilities.permitted: ["CAP_CHOWN"]
        "#]],
    );
}

#[test]
fn cap_unknown_and_unavailable() {
    check(
        json!({"HostConfig": {"CapAdd": ["CAP_FLY"]}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): unknown capability: "CAP_FLY"
    "#]],
    );
    check(
        json!({"HostConfig": {"CapAdd": ["BPF"]}}),
        |i| {
            i.host
                .capabilities
                .retain(|c| *c != oci_spec::runtime::Capability::Bpf)
        },
        &[],
        expect![[r#"
            error (invalid argument): capability not supported by your kernel or not available in the current environment: "CAP_BPF"
        "#]],
    );
}

#[test]
fn readonly_rootfs() {
    check(
        json!({"HostConfig": {"ReadonlyRootfs": true, "Tmpfs": {"/run": ""}}}),
        |_| {},
        &["root", "mounts"],
        expect![[r#"
            root: {"path":"/var/lib/berth/containers/x/rootfs","readonly":true}
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev,ro]
            /sys/fs/cgroup cgroup cgroup [ro,nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /dev/shm tmpfs shm [nosuid,noexec,nodev,mode=1777,size=67108864]
            /run tmpfs tmpfs [noexec,nosuid,nodev,rprivate]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,ro,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,ro,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,ro,rprivate]
        "#]],
    );
}

#[test]
fn tmpfs_mounts() {
    check(
        json!({"HostConfig": {
            "Tmpfs": {"/run": "rw,exec,size=64m", "/tmp": ""},
            "Mounts": [{"Type": "tmpfs", "Target": "/cache", "ReadOnly": true,
                        "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 448}}]
        }}),
        |_| {},
        &["mounts"],
        expect![[r#"
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev,ro]
            /sys/fs/cgroup cgroup cgroup [ro,nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /dev/shm tmpfs shm [nosuid,noexec,nodev,mode=1777,size=67108864]
            /run tmpfs tmpfs [nosuid,nodev,rprivate,rw,exec,size=64m]
            /tmp tmpfs tmpfs [noexec,nosuid,nodev,rprivate]
            /cache tmpfs tmpfs [noexec,nosuid,nodev,rprivate,ro,mode=700,size=1m]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,rprivate]
        "#]],
    );
    check(
        json!({"HostConfig": {"Tmpfs": {"/run": "bogus"}}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): invalid tmpfs option "bogus"
    "#]],
    );
}

#[test]
fn binds() {
    check(
        json!({"HostConfig": {
            "Binds": ["/srv/data:/data:ro", "/srv/rw:/rw", "/srv/shared:/a/b/shared:rshared,z"],
            "Mounts": [{"Type": "bind", "Source": "/srv/api", "Target": "/api", "ReadOnly": true,
                        "BindOptions": {"NonRecursive": true}}]
        }}),
        |_| {},
        &["linux.rootfsPropagation", "mounts"],
        expect![[r#"
            linux.rootfsPropagation: "shared"
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev,ro]
            /sys/fs/cgroup cgroup cgroup [ro,nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /dev/shm tmpfs shm [nosuid,noexec,nodev,mode=1777,size=67108864]
            /data bind /srv/data [rbind,ro,rprivate]
            /rw bind /srv/rw [rbind,rprivate]
            /api bind /srv/api [bind,ro,rprivate]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,rprivate]
            /a/b/shared bind /srv/shared [rbind,rshared]
        "#]],
    );
    check(
        json!({"HostConfig": {"Binds": ["/srv/data:/data:ro"]}}),
        |i| i.host.recursive_readonly = true,
        &["mounts"],
        expect![[r#"
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev,ro]
            /sys/fs/cgroup cgroup cgroup [ro,nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /dev/shm tmpfs shm [nosuid,noexec,nodev,mode=1777,size=67108864]
            /data bind /srv/data [rbind,rro,rprivate]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,rprivate]
        "#]],
    );
}

#[test]
fn bind_errors() {
    check(
        json!({"HostConfig": {"Binds": ["myvol:/data"]}}),
        |_| {},
        &[],
        expect![[r#"
        error (not implemented): named volumes are not supported yet: 'myvol'
    "#]],
    );
    check(
        json!({"HostConfig": {"Binds": ["/data"]}}),
        |_| {},
        &[],
        expect![[r#"
        error (not implemented): anonymous volumes are not supported yet: '/data'
    "#]],
    );
    check(
        json!({"HostConfig": {"Binds": ["/srv:data"]}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): invalid volume specification: '/srv:data': invalid mount config for type "bind": invalid mount path: 'data' mount path must be absolute
    "#]],
    );
    check(
        json!({"HostConfig": {"Binds": ["/srv:/data:rx"]}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): invalid mode: rx
    "#]],
    );
    check(
        json!({"HostConfig": {"Binds": ["/a:/data", "/b:/data"]}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): duplicate mount point: /data
    "#]],
    );
    check(
        json!({"HostConfig": {"Mounts": [{"Type": "volume", "Source": "v", "Target": "/v"}]}}),
        |_| {},
        &[],
        expect![[r#"
            error (not implemented): mounts of type volume are not supported yet
        "#]],
    );
}

#[test]
fn host_network() {
    check(
        json!({"HostConfig": {"NetworkMode": "host"}}),
        |i| i.network = NetworkNamespace::Host,
        &["linux.namespaces", "linux.sysctl", "hostname", "mounts"],
        expect![[r#"
            linux.namespaces: [{"type":"mount"},{"type":"uts"},{"type":"pid"},{"type":"ipc"},{"type":"cgroup"}]
            linux.sysctl: null
            hostname: "host"
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev,ro]
            /sys/fs/cgroup cgroup cgroup [ro,nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /dev/shm tmpfs shm [nosuid,noexec,nodev,mode=1777,size=67108864]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,rprivate]
        "#]],
    );
    check(
        json!({"HostConfig": {"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}}}),
        |i| i.network = NetworkNamespace::Host,
        &[],
        expect![[r#"
            error (invalid argument): sysctl "net.ipv4.ip_forward" not allowed in host network namespace
        "#]],
    );
}

#[test]
fn joined_and_owned_network_namespaces() {
    check(
        json!({}),
        |i| i.network = NetworkNamespace::Owned("/run/berth/netns/x".into()),
        &["linux.namespaces", "linux.sysctl"],
        expect![[r#"
            linux.namespaces: [{"type":"mount"},{"path":"/run/berth/netns/x","type":"network"},{"type":"uts"},{"type":"pid"},{"type":"ipc"},{"type":"cgroup"}]
            linux.sysctl: {"net.ipv4.ip_unprivileged_port_start":"0","net.ipv4.ping_group_range":"0 2147483647"}
        "#]],
    );
    check(
        json!({}),
        |i| i.network = NetworkNamespace::Joined("/proc/42/ns/net".into()),
        &["linux.namespaces", "linux.sysctl"],
        expect![[r#"
            linux.namespaces: [{"type":"mount"},{"path":"/proc/42/ns/net","type":"network"},{"type":"uts"},{"type":"pid"},{"type":"ipc"},{"type":"cgroup"}]
            linux.sysctl: null
        "#]],
    );
}

#[test]
fn init() {
    check(
        json!({"Entrypoint": ["/bin/app"], "Cmd": ["--flag"]}),
        |i| i.init = Some("/usr/libexec/berth/docker-init".into()),
        &["process.args", "mounts"],
        expect![[r#"
            process.args: ["/sbin/docker-init","--","/bin/app","--flag"]
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev,ro]
            /sys/fs/cgroup cgroup cgroup [ro,nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /dev/shm tmpfs shm [nosuid,noexec,nodev,mode=1777,size=67108864]
            /sbin/docker-init bind /usr/libexec/berth/docker-init [bind,ro]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,rprivate]
        "#]],
    );
    // No init in the host's PID namespace.
    check(
        json!({"HostConfig": {"PidMode": "host"}}),
        |i| i.init = Some("/usr/libexec/berth/docker-init".into()),
        &["process.args", "linux.namespaces"],
        expect![[r#"
            process.args: ["sh"]
            linux.namespaces: [{"type":"mount"},{"type":"network"},{"type":"uts"},{"type":"ipc"},{"type":"cgroup"}]
        "#]],
    );
}

#[test]
fn ulimits() {
    check(
        json!({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2000000}]}}),
        |_| {},
        &[],
        expect![[r#"
            error (invalid argument): ulimit nofile: hard limit 2000000 is above the host's hard limit 524288
        "#]],
    );
    check(
        json!({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 4096, "Hard": 2048}]}}),
        |_| {},
        &[],
        expect![[r#"
            error (invalid argument): ulimit nofile: soft limit must be less than or equal to hard limit: 4096 > 2048
        "#]],
    );
    check(
        json!({"HostConfig": {"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}}),
        |_| {},
        &[],
        expect![[r#"
            error (invalid argument): invalid ulimit type: bogus
        "#]],
    );
    check(
        json!({"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 524288},
                                          {"Name": "core", "Soft": -1, "Hard": -1}]}}),
        |i| {
            i.default_ulimits = serde_json::from_value(json!([
                {"Name": "nofile", "Soft": 1048576, "Hard": 1048576},
                {"Name": "nproc", "Soft": 1048576, "Hard": 1048576}
            ]))
            .expect("ulimits");
        },
        &["process.rlimits"],
        expect![[r#"
            process.rlimits: [{"hard":524288,"soft":1024,"type":"RLIMIT_NOFILE"},{"hard":18446744073709551615,"soft":18446744073709551615,"type":"RLIMIT_CORE"},{"hard":63000,"soft":63000,"type":"RLIMIT_NPROC"}]
        "#]],
    );
}

#[test]
fn resources() {
    check(
        json!({"HostConfig": {"NanoCpus": 1500000000i64, "CpuShares": 512, "CpusetCpus": "0-1",
                              "Memory": 268435456, "MemorySwap": 536870912,
                              "MemoryReservation": 134217728, "PidsLimit": 100, "BlkioWeight": 300}}),
        |_| {},
        &[
            "linux.resources.cpu",
            "linux.resources.memory",
            "linux.resources.pids",
            "linux.resources.blockIO",
        ],
        expect![[r#"
            linux.resources.cpu: {"cpus":"0-1","period":100000,"quota":150000,"shares":512}
            linux.resources.memory: {"limit":268435456,"reservation":134217728,"swap":536870912}
            linux.resources.pids: {"limit":100}
            linux.resources.blockIO: {"weight":300}
        "#]],
    );
    check(
        json!({"HostConfig": {"CpuPeriod": 50000, "CpuQuota": 25000, "PidsLimit": 0}}),
        |_| {},
        &["linux.resources.cpu", "linux.resources.pids"],
        expect![[r#"
            linux.resources.cpu: {"period":50000,"quota":25000}
            linux.resources.pids: {"limit":-1}
        "#]],
    );
    check(
        json!({"HostConfig": {"NanoCpus": 1000000000i64, "CpuQuota": 25000}}),
        |_| {},
        &[],
        expect![[r#"
            error (invalid argument): Conflicting options: Nano CPUs and CPU Quota cannot both be set
        "#]],
    );
    check(
        json!({"HostConfig": {"Memory": 1024}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): Minimum memory limit allowed is 6MB
    "#]],
    );
}

#[test]
fn namespace_modes() {
    check(
        json!({"HostConfig": {"IpcMode": "none", "UTSMode": "host", "CgroupnsMode": "host"}}),
        |_| {},
        &["linux.namespaces", "hostname", "mounts"],
        expect![[r#"
            linux.namespaces: [{"type":"mount"},{"type":"network"},{"type":"pid"},{"type":"ipc"}]
            hostname: null
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev,ro]
            /sys/fs/cgroup cgroup cgroup [ro,nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,rprivate]
        "#]],
    );
    check(
        json!({"HostConfig": {"IpcMode": "host", "ShmSize": 1048576}}),
        |i| i.cgroup_v2 = false,
        &["linux.namespaces", "mounts"],
        expect![[r#"
            linux.namespaces: [{"type":"mount"},{"type":"network"},{"type":"uts"},{"type":"pid"}]
            /proc proc proc [nosuid,noexec,nodev]
            /dev tmpfs tmpfs [nosuid,strictatime,mode=755,size=65536k]
            /dev/pts devpts devpts [nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5]
            /sys sysfs sysfs [nosuid,noexec,nodev,ro]
            /sys/fs/cgroup cgroup cgroup [ro,nosuid,noexec,nodev]
            /dev/mqueue mqueue mqueue [nosuid,noexec,nodev]
            /dev/shm bind /dev/shm [rbind,rprivate]
            /etc/resolv.conf bind /var/lib/berth/containers/x/resolv.conf [rbind,rprivate]
            /etc/hostname bind /var/lib/berth/containers/x/hostname [rbind,rprivate]
            /etc/hosts bind /var/lib/berth/containers/x/hosts [rbind,rprivate]
        "#]],
    );
    check(
        json!({"HostConfig": {"IpcMode": "bogus"}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): invalid IPC mode: bogus
    "#]],
    );
    check(
        json!({"HostConfig": {"PidMode": "container:abc"}}),
        |_| {},
        &[],
        expect![[r#"
        error (not implemented): joining another container's PID namespace is not supported yet
    "#]],
    );
}

#[test]
fn security_sysctls_devices_process() {
    check(
        json!({"Tty": true, "User": "1000:1000", "WorkingDir": "/work", "Domainname": "example.com",
               "Env": ["FOO=bar", "PATH=/custom"],
               "HostConfig": {"SecurityOpt": ["no-new-privileges:true", "seccomp=unconfined"],
                              "Sysctls": {"net.core.somaxconn": "1024", "kernel.shmmax": "1"},
                              "OomScoreAdj": 500, "ConsoleSize": [40, 120], "GroupAdd": ["5"],
                              "DeviceCgroupRules": ["c 42:* rmw", "b 8:0 r"],
                              "Annotations": {"a": "1"}}}),
        |_| {},
        &[
            "process",
            "linux.sysctl",
            "linux.resources.devices",
            "annotations",
        ],
        expect![[r#"
            process: {"args":["sh"],"capabilities":{"bounding":["CAP_AUDIT_WRITE","CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_MKNOD","CAP_NET_BIND_SERVICE","CAP_NET_RAW","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"],"effective":["CAP_AUDIT_WRITE","CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_MKNOD","CAP_NET_BIND_SERVICE","CAP_NET_RAW","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"],"permitted":["CAP_AUDIT_WRITE","CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_MKNOD","CAP_NET_BIND_SERVICE","CAP_NET_RAW","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"]},"consoleSize":{"height":40,"width":120},"cwd":"/work","env":["PATH=/custom","HOSTNAME=0123456789ab","TERM=xterm","FOO=bar","HOME=/"],"noNewPrivileges":true,"oomScoreAdj":500,"terminal":true,"user":{"additionalGids":[1000,5],"gid":1000,"uid":1000}}
            linux.sysctl: {"kernel.domainname":"example.com","kernel.shmmax":"1","net.core.somaxconn":"1024","net.ipv4.ip_unprivileged_port_start":"0","net.ipv4.ping_group_range":"0 2147483647"}
            linux.resources.devices: [{"access":"rwm","allow":false},{"access":"rwm","allow":true,"major":1,"minor":5,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":3,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":9,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":8,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":0,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":1,"type":"c"},{"access":"rwm","allow":false,"major":10,"minor":229,"type":"c"},{"access":"rmw","allow":true,"major":42,"type":"c"},{"access":"r","allow":true,"major":8,"minor":0,"type":"b"},{"access":"m","allow":true,"type":"c"},{"access":"m","allow":true,"type":"b"},{"access":"rwm","allow":true,"major":1,"minor":3,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":8,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":7,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":0,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":5,"type":"c"},{"access":"rwm","allow":true,"major":1,"minor":9,"type":"c"},{"access":"rwm","allow":true,"major":136,"type":"c"},{"access":"rwm","allow":true,"major":5,"minor":2,"type":"c"}]
            annotations: {"a":"1"}
        "#]],
    );
    check(
        json!({"HostConfig": {"SecurityOpt": ["foo=bar"]}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): invalid --security-opt: "foo=bar"
    "#]],
    );
    check(
        json!({"HostConfig": {"Sysctls": {"vm.swappiness": "1"}}}),
        |_| {},
        &[],
        expect![[r#"
        error (invalid argument): sysctl "vm.swappiness" is not in a separate kernel namespace
    "#]],
    );
    check(
        json!({"HostConfig": {"DeviceCgroupRules": ["x 1:2 rwm"]}}),
        |_| {},
        &[],
        expect![[r#"
            error (invalid argument): invalid device cgroup format 'x 1:2 rwm'
        "#]],
    );
    check(
        json!({"HostConfig": {"MaskedPaths": [], "ReadonlyPaths": ["/proc/sys"]}}),
        |_| {},
        &["linux.maskedPaths", "linux.readonlyPaths"],
        expect![[r#"
            linux.maskedPaths: []
            linux.readonlyPaths: ["/proc/sys"]
        "#]],
    );
}

#[test]
fn spec_round_trips_through_config_json() {
    let spec = build(&input(json!({"HostConfig": {"Binds": ["/srv:/srv:ro"]}}))).expect("build");
    let text = serde_json::to_string(&spec).expect("serialize");
    let back: Spec = serde_json::from_str(&text).expect("parse config.json");
    assert_eq!(back, spec);
}
