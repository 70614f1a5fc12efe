//! Our `berth` CLI against a real berthd: the same flows as the docker CLI tests.

use berth_e2e::wait_for;
use berth_testkit::{busybox_tar, requires_root, run, run_with_input, Daemon};

fn daemon() -> Daemon {
    let d = Daemon::start();
    let (code, _, err) = run(d.berth().arg("import").arg(busybox_tar()).arg("busybox:latest"));
    assert_eq!(code, 0, "berth import failed: {err}\n{}", d.log());
    d
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let (code, out, err) = run(d.berth().args(args));
    assert_eq!(code, 0, "berth {args:?} failed ({code}): {err}\n--- berthd log ---\n{}", d.log());
    out
}

#[test]
fn berth_run_rm_attach_and_exit_code() {
    requires_root!();
    let d = daemon();
    let (code, out, err) = run(d.berth().args(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo hi; exit 3"]));
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, "hi\n");
    let (code, out, _) = run_with_input(d.berth().args(["run", "-i", "--rm", "busybox", "cat"]), b"piped\n");
    assert_eq!(code, 0);
    assert_eq!(out, "piped\n");
    wait_for("removal", || ok(&d, &["ps", "-aq"]).trim().is_empty());
}

#[test]
fn berth_lifecycle_ps_inspect_logs_exec_stop_rm() {
    requires_root!();
    let d = daemon();
    ok(&d, &["run", "-d", "--name", "svc", "-l", "app=web", "busybox", "sh", "-c", "echo up; sleep 1000"]);
    let ps = ok(&d, &["ps"]);
    let header = ps.lines().next().unwrap();
    for col in ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(ps.contains("svc") && ps.contains("Up "), "{ps}");
    assert_eq!(ok(&d, &["ps", "--filter", "label=app=web", "--format", "{{.Names}}"]).trim(), "svc");
    assert_eq!(ok(&d, &["inspect", "--format", "{{.State.Status}}", "svc"]).trim(), "running");
    wait_for("log", || ok(&d, &["logs", "svc"]) == "up\n");
    assert_eq!(ok(&d, &["exec", "svc", "echo", "inside"]), "inside\n");
    let top = ok(&d, &["top", "svc"]);
    assert!(top.contains("sleep 1000"), "{top}");
    ok(&d, &["pause", "svc"]);
    ok(&d, &["unpause", "svc"]);
    ok(&d, &["rename", "svc", "svc2"]);
    ok(&d, &["stop", "-t", "1", "svc2"]);
    assert_eq!(ok(&d, &["wait", "svc2"]).trim(), "137");
    ok(&d, &["rm", "svc2"]);
    assert!(ok(&d, &["ps", "-aq"]).trim().is_empty());
}

#[test]
fn berth_images_tag_rmi_info_version_df() {
    requires_root!();
    let d = daemon();
    ok(&d, &["tag", "busybox:latest", "mybox:v1"]);
    let images = ok(&d, &["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert!(images.contains("busybox:latest") && images.contains("mybox:v1"), "{images}");
    ok(&d, &["rmi", "mybox:v1"]);
    assert!(!ok(&d, &["images"]).contains("mybox"));
    assert_eq!(ok(&d, &["version", "--format", "{{.Server.APIVersion}}"]).trim(), "1.47");
    assert!(ok(&d, &["info"]).contains("overlay2"));
    let df = ok(&d, &["system", "df"]);
    assert!(df.contains("Images") && df.contains("Containers"), "{df}");
}

#[test]
fn berth_errors_are_one_line_with_docker_exit_codes() {
    requires_root!();
    let d = daemon();
    let (code, _, err) = run(d.berth().args(["run", "--rm", "busybox", "nosuchcmd"]));
    assert_eq!(code, 127, "{err}");
    let (code, _, err) = run(d.berth().args(["inspect", "nope"]));
    assert_ne!(code, 0);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (code, _, err) = run(d.berth().args(["run", "--rm", "nosuchimage"]));
    assert_eq!(code, 125, "{err}");
}
