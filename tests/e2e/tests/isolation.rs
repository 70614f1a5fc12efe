//! Isolation from the inside: `berth-probe` (bind-mounted read-only into a busybox container)
//! tries one privileged operation per check, through the real docker CLI against a throwaway
//! berthd. Each check must be denied with the defaults and allowed only with the flag that
//! grants it (`--privileged`, `--cap-add X`, `--security-opt seccomp=unconfined`,
//! `--device-cgroup-rule`, ...).
//!
//! Nothing here touches the host: `/proc/sysrq-trigger` is only opened, no module is loaded
//! (`finit_module(-1)`), the hostname is set to the name it already has (and checked after),
//! the traced process is the test's own `sleep`, a block device is only opened for reading.

use std::path::PathBuf;
use std::process::{Child, Command};

use berth_testkit::{bin, requires_root, run, Daemon, unique};

/// A daemon with `busybox:latest` imported.
fn daemon_with(extra: &[&str]) -> Daemon {
    let d = Daemon::start_with(extra);
    d.import_busybox("busybox:latest");
    d
}

/// `docker run --rm -v PROBE:/probe:ro FLAGS busybox /probe ARGS`: the probe's answer line
/// (or the CLI's error output when the container did not run).
fn probe(d: &Daemon, flags: &[&str], args: &[&str]) -> String {
    let mount = format!("{}:/probe:ro", bin("berth-probe").display());
    let mut c = d.docker();
    c.args(["run", "--rm", "-v", &mount]).args(flags).arg("busybox").arg("/probe").args(args);
    let (code, out, err) = run(&mut c);
    if code != 0 {
        return format!("exit {code}: {}{}", out.trim(), err.trim());
    }
    out.trim().to_string()
}

/// A host process to trace, killed on drop.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first block device of the host, as (major, minor).
fn a_block_device() -> Option<(String, String)> {
    let mut entries: Vec<String> = std::fs::read_dir("/sys/dev/block")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    entries.sort();
    let first = entries.first()?;
    let (maj, min) = first.split_once(':')?;
    Some((maj.to_string(), min.to_string()))
}

fn host_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default().trim().to_string()
}

#[test]
fn each_check_is_denied_by_default_and_granted_only_by_its_flag() {
    requires_root!();
    let d = daemon_with(&[]);
    let sleeper = Sleeper(Command::new("sleep").arg("300").spawn().expect("spawn sleep"));
    let pid = sleeper.0.id().to_string();
    let (maj, min) = a_block_device().expect("a block device on the host");
    let rule = format!("b {maj}:{min} r");
    let hostname_before = host_hostname();
    // Without module support (this kernel has none) finit_module fails with ENOSYS once the
    // filter and the capability checks let it through: that counts as granted here.
    let modules = std::path::Path::new("/proc/modules").exists();
    let module_granted = if modules { "allowed" } else { "denied: ENOSYS" };
    if !modules {
        eprintln!("note: the kernel has no module support: finit_module granted shows as ENOSYS");
    }

    struct Row<'a> {
        args: Vec<&'a str>,
        /// Flags every run of this row gets (e.g. `--pid=host` to see the host's process).
        base: Vec<&'a str>,
        denied: &'a str,
        /// Flags that grant it, each alone (on top of `base`), and the answer then.
        grants: Vec<(Vec<&'a str>, &'a str)>,
        /// Flags that must not be enough.
        not_enough: Vec<Vec<&'a str>>,
    }
    let rows = vec![
        Row {
            args: vec!["mount"],
            base: vec![],
            denied: "denied: EPERM",
            grants: vec![(vec!["--privileged"], "allowed"), (vec!["--cap-add", "SYS_ADMIN"], "allowed")],
            // The filter off is not enough: the capability is still missing.
            not_enough: vec![vec!["--security-opt", "seccomp=unconfined"]],
        },
        Row {
            args: vec!["userns"],
            base: vec![],
            denied: "denied: EPERM",
            grants: vec![
                (vec!["--privileged"], "allowed"),
                (vec!["--security-opt", "seccomp=unconfined"], "allowed"),
                (vec!["--cap-add", "SYS_ADMIN"], "allowed"),
            ],
            not_enough: vec![vec!["--cap-add", "SYS_PTRACE"]],
        },
        Row {
            args: vec!["module"],
            base: vec![],
            denied: "denied: EPERM",
            grants: vec![(vec!["--privileged"], module_granted), (vec!["--cap-add", "SYS_MODULE"], module_granted)],
            not_enough: vec![],
        },
        Row {
            args: vec!["ptrace", &pid],
            base: vec!["--pid=host"],
            denied: "denied: EPERM",
            grants: vec![(vec!["--privileged"], "allowed"), (vec!["--cap-add", "SYS_PTRACE"], "allowed")],
            not_enough: vec![vec!["--security-opt", "seccomp=unconfined"]],
        },
        Row {
            args: vec!["hostname"],
            base: vec!["--uts=host"],
            denied: "denied: EPERM",
            grants: vec![(vec!["--privileged"], "allowed"), (vec!["--cap-add", "SYS_ADMIN"], "allowed")],
            not_enough: vec![vec!["--security-opt", "seccomp=unconfined"]],
        },
        Row {
            args: vec!["blockdev", &maj, &min],
            base: vec![],
            denied: "denied: EPERM",
            grants: vec![(vec!["--privileged"], "allowed"), (vec!["--device-cgroup-rule", &rule], "allowed")],
            not_enough: vec![vec!["--cap-add", "SYS_ADMIN"]],
        },
    ];
    let mut failures = Vec::new();
    for row in &rows {
        let got = probe(&d, &row.base, &row.args);
        if got != row.denied {
            failures.push(format!("{:?} {:?} by default: {got:?}, want {:?}", row.base, row.args, row.denied));
        }
        for (flags, want) in &row.grants {
            let all: Vec<&str> = row.base.iter().chain(flags.iter()).copied().collect();
            let got = probe(&d, &all, &row.args);
            if got != *want {
                failures.push(format!("{all:?} {:?}: {got:?}, want {want:?}", row.args));
            }
        }
        for flags in &row.not_enough {
            let all: Vec<&str> = row.base.iter().chain(flags.iter()).copied().collect();
            let got = probe(&d, &all, &row.args);
            if !got.starts_with("denied") {
                failures.push(format!("{all:?} {:?}: {got:?}, want denied", row.args));
            }
        }
    }

    // Raw sockets: NET_RAW is a default capability; dropping it denies them.
    for (flags, want) in [(vec![], "allowed"), (vec!["--cap-drop", "NET_RAW"], "denied: EPERM")] {
        let got = probe(&d, &flags, &["raw"]);
        if got != want {
            failures.push(format!("{flags:?} raw: {got:?}, want {want:?}"));
        }
    }

    // /proc/sysrq-trigger is read-only and /proc/kcore masked unless privileged (when the
    // kernel has them at all).
    for (path, args, denied) in [
        ("/proc/sysrq-trigger", "sysrq", "denied: EROFS"),
        ("/proc/kcore", "kcore", "denied: masked"),
    ] {
        if !std::path::Path::new(path).exists() {
            eprintln!("note: the kernel has no {path}: check {args:?} skipped");
            continue;
        }
        for (flags, want) in [(vec![], denied), (vec!["--privileged"], "allowed")] {
            let got = probe(&d, &flags, &[args]);
            if got != want {
                failures.push(format!("{flags:?} {args}: {got:?}, want {want:?}"));
            }
        }
    }
    drop(sleeper);
    assert_eq!(host_hostname(), hostname_before, "the host's hostname changed");
    assert!(failures.is_empty(), "isolation checks failed:\n{}\n{}", failures.join("\n"), d.log());
}

#[test]
fn no_new_privileges_keeps_a_setuid_binary_from_raising_its_uid() {
    requires_root!();
    let d = daemon_with(&[]);
    // Without the option a setuid-root copy run as nobody gets euid 0 (Docker's default too).
    assert_eq!(probe(&d, &[], &["setuid"]), "allowed");
    for opt in ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"] {
        assert_eq!(probe(&d, &["--security-opt", opt], &["setuid"]), "denied: euid 65534", "{opt}");
    }
    assert_eq!(probe(&d, &["--security-opt", "no-new-privileges=false"], &["setuid"]), "allowed");
}

#[test]
fn the_default_filter_is_on_unless_privileged_or_unconfined() {
    requires_root!();
    let d = daemon_with(&[]);
    let seccomp_mode = |flags: &[&str]| -> String {
        let mut c = d.docker();
        c.args(["run", "--rm"]).args(flags).args(["busybox", "grep", "^Seccomp:", "/proc/self/status"]);
        let (code, out, err) = run(&mut c);
        assert_eq!(code, 0, "{flags:?}: {err}");
        out.split_whitespace().nth(1).unwrap_or_default().to_string()
    };
    assert_eq!(seccomp_mode(&[]), "2");
    assert_eq!(seccomp_mode(&["--security-opt", "seccomp=unconfined"]), "0");
    assert_eq!(seccomp_mode(&["--privileged"]), "0");
    // The filter is loaded before the uid change (no no_new_privs) or right before execve
    // (with it): both start a non-root process.
    for flags in [&["--user", "65534"][..], &["--user", "65534", "--security-opt", "no-new-privileges"][..]] {
        let mut c = d.docker();
        c.args(["run", "--rm"]).args(flags).args(["busybox", "id", "-u"]);
        let (code, out, err) = run(&mut c);
        assert_eq!((code, out.trim()), (0, "65534"), "{flags:?}: {err}");
    }
    // clone3 answers ENOSYS (libcs fall back to clone), so threads and forks still work.
    let mut c = d.docker();
    c.args(["run", "--rm", "busybox", "sh", "-c", "(echo a | cat) & wait"]);
    let (code, out, err) = run(&mut c);
    assert_eq!((code, out.trim()), (0, "a"), "{err}");
}

#[test]
fn a_profile_file_replaces_the_default() {
    requires_root!();
    let d = daemon_with(&[]);
    let dir = tempfile::Builder::new().prefix("berth-seccomp").tempdir_in("/tmp").expect("tempdir");
    // Allow everything but mkdir, which fails with EACCES.
    let profile = dir.path().join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]}],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]
        }"#,
    )
    .expect("write profile");
    let opt = format!("seccomp={}", profile.display());
    let mut c = d.docker();
    c.args(["run", "--rm", "--security-opt", &opt, "busybox", "mkdir", "/x"]);
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Permission denied"), "{err}");
    // The rest is allowed: unshare(CLONE_NEWUSER) too, which the default profile denies.
    let mount = format!("{}:/probe:ro", bin("berth-probe").display());
    let mut c = d.docker();
    c.args(["run", "--rm", "--security-opt", &opt, "-v", &mount, "busybox", "/probe", "userns"]);
    let (code, out, err) = run(&mut c);
    assert_eq!((code, out.trim()), (0, "allowed"), "{err}");

    // A profile the daemon cannot decode: Docker's message, nothing runs.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#).expect("write");
    let name = unique("badseccomp");
    let mut c = d.docker();
    c.args(["run", "--name", &name, "--security-opt"]).arg(format!("seccomp={}", bad.display())).args(["busybox", "true"]);
    let (code, _, err) = run(&mut c);
    assert_ne!(code, 0);
    assert!(err.contains("Decoding seccomp profile failed"), "{err}");
    let _ = run(d.docker().args(["rm", "-f", &name]));
}

#[test]
fn exec_runs_under_the_containers_filter() {
    requires_root!();
    let d = daemon_with(&[]);
    let mount = format!("{}:/probe:ro", bin("berth-probe").display());
    let name = unique("execsec");
    let (code, _, err) = run(d.docker().args(["run", "-d", "--name", &name, "-v", &mount, "busybox", "sleep", "60"]));
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = run(d.docker().args(["exec", &name, "/probe", "userns"]));
    assert_eq!((code, out.trim()), (0, "denied: EPERM"), "{err}");
    let (code, out, err) = run(d.docker().args(["exec", &name, "grep", "^Seccomp:", "/proc/self/status"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains('2'), "{out}");
    let (code, _, err) = run(d.docker().args(["rm", "-f", &name]));
    assert_eq!(code, 0, "{err}");
}

#[test]
fn daemon_seccomp_profile_unconfined_turns_the_default_off() {
    requires_root!();
    let d = daemon_with(&["--seccomp-profile", "unconfined"]);
    assert_eq!(probe(&d, &[], &["userns"]), "allowed");
    // A container may still ask for the built-in profile.
    assert_eq!(probe(&d, &["--security-opt", "seccomp=builtin"], &["userns"]), "denied: EPERM");
}

#[test]
fn runc_gets_the_same_filter_in_its_spec() {
    requires_root!();
    let runc = ["/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if runc.is_none() {
        eprintln!("SKIPPED runc_gets_the_same_filter_in_its_spec: runc is not installed");
        return;
    }
    let d = daemon_with(&[]);
    let (code, out, _) = run(d.docker().args(["info", "--format", "{{json .Runtimes}}"]));
    if code != 0 || !out.contains("runc") {
        eprintln!("SKIPPED runc_gets_the_same_filter_in_its_spec: berthd offers no runc runtime ({out})");
        return;
    }
    assert_eq!(probe(&d, &["--runtime", "runc"], &["userns"]), "denied: EPERM");
    assert_eq!(probe(&d, &["--runtime", "runc", "--cap-add", "SYS_ADMIN"], &["mount"]), "allowed");
    assert_eq!(probe(&d, &["--runtime", "runc", "--security-opt", "seccomp=unconfined"], &["userns"]), "allowed");
}

#[test]
fn sysctls_only_in_the_containers_own_namespaces() {
    requires_root!();
    let d = daemon_with(&[]);
    let (code, out, err) = run(d.docker().args([
        "run", "--rm", "--sysctl", "kernel.shmmax=1000000", "--sysctl", "net.ipv4.ip_forward=1", "busybox", "sh", "-c",
        "cat /proc/sys/kernel/shmmax /proc/sys/net/ipv4/ip_forward",
    ]));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["1000000", "1"]);
    // (flags, message)
    let table: &[(&[&str], &str)] = &[
        (
            &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
            r#"sysctl "net.ipv4.ip_forward" not allowed in host network namespace"#,
        ),
        (
            &["--ipc", "host", "--sysctl", "kernel.shmmax=1000000"],
            r#"sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace"#,
        ),
    ];
    for (flags, msg) in table {
        let name = unique("sysctl");
        let (code, _, err) = run(d.docker().args(["run", "--name", &name]).args(*flags).args(["busybox", "true"]));
        assert_ne!(code, 0, "{flags:?}");
        assert!(err.contains(msg), "{flags:?}: {err}");
        let _ = run(d.docker().args(["rm", "-f", &name]));
    }
    // The CLI itself refuses sysctls that are in no namespace.
    let (code, _, err) = run(d.docker().args(["run", "--rm", "--sysctl", "kernel.pid_max=100", "busybox", "true"]));
    assert_ne!(code, 0);
    assert!(err.contains("sysctl 'kernel.pid_max=100' is not allowed"), "{err}");
}
