//! The real docker CLI (on PATH) against a real berthd on throwaway roots.
//!
//! Each test starts its own daemon and imports a busybox image built from the host's
//! `busybox-static`, so tests run in parallel and leave nothing behind.

use std::process::Command;
use std::time::{Duration, Instant};

use berth_testkit::{requires_root, run, run_with_input, Daemon};

fn daemon() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    d
}

fn ok(d: &Daemon, args: &[&str]) -> String {
    let (code, out, err) = run(d.docker().args(args));
    assert_eq!(code, 0, "docker {args:?} failed ({code}): {err}\n--- berthd log ---\n{}", d.log());
    out
}

fn inspect(d: &Daemon, name: &str, fmt: &str) -> String {
    ok(d, &["inspect", "--format", fmt, name]).trim().to_string()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// Run a command under a pseudo-terminal (util-linux `script`), feeding `input`.
fn in_pty(d: &Daemon, cmdline: &str, input: &str) -> (i32, String) {
    let mut c = Command::new("script");
    c.args(["-qfec", cmdline, "/dev/null"]).env("DOCKER_HOST", d.host()).env("DOCKER_CONFIG", d.dir.path().join("docker-config"));
    let (code, out, _) = run_with_input(&mut c, input.as_bytes());
    (code, out)
}

#[test]
fn ping_version_and_info_negotiate() {
    requires_root!();
    let d = Daemon::start();
    let v = ok(&d, &["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"]);
    assert_eq!(v.trim(), "1.47 linux");
    let info = ok(&d, &["info", "--format", "{{.Driver}} {{.OSType}} {{.Containers}}"]);
    assert_eq!(info.trim(), "overlay2 linux 0");
}

#[test]
fn run_rm_prints_output_and_exit_code() {
    requires_root!();
    let d = daemon();
    let (code, out, err) = run(d.docker().args(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 3"]));
    assert_eq!(code, 3, "stderr: {err}\n{}", d.log());
    assert_eq!(out, "hi\n");
    assert!(err.contains("oops"), "{err}");
    wait_for("auto removal", || ok(&d, &["ps", "-aq"]).trim().is_empty());
}

#[test]
fn run_without_rm_keeps_the_container_with_its_exit_code() {
    requires_root!();
    let d = daemon();
    let (code, out, _) = run(d.docker().args(["run", "--name", "keep", "busybox", "sh", "-c", "echo kept; exit 4"]));
    assert_eq!(code, 4);
    assert_eq!(out, "kept\n");
    assert_eq!(inspect(&d, "keep", "{{.State.Status}} {{.State.ExitCode}}"), "exited 4");
    assert_eq!(ok(&d, &["logs", "keep"]), "kept\n");
    let ps = ok(&d, &["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.starts_with("keep Exited (4)"), "{ps}");
}

#[test]
fn piped_stdin_reaches_the_container_and_half_closes() {
    requires_root!();
    let d = daemon();
    let (code, out, err) = run_with_input(d.docker().args(["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo end"]), b"line one\nline two\n");
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert_eq!(out, "line one\nline two\nend\n");
}

#[test]
fn tty_and_interactive_shell_through_a_pty() {
    requires_root!();
    let d = daemon();
    let (code, out) = in_pty(&d, "docker run -t --rm busybox sh -c 'tty; echo cols=$(stty size)'", "");
    assert_eq!(code, 0, "{out}\n{}", d.log());
    assert!(out.contains("/dev/"), "{out}");
    let (code, out) = in_pty(&d, "docker run -it --rm busybox sh", "echo hi-$((1+2))\nexit 7\n");
    assert_eq!(code, 7, "{out}\n{}", d.log());
    assert!(out.contains("hi-3"), "{out}");
}

#[test]
fn detached_lifecycle_logs_top_pause_rename_stop_start_restart() {
    requires_root!();
    let d = daemon();
    let id = ok(&d, &["run", "-d", "--name", "web", "busybox", "sh", "-c", "echo started; while true; do sleep 0.1; done"]);
    assert_eq!(id.trim().len(), 64);
    assert_eq!(inspect(&d, "web", "{{.State.Status}}"), "running");
    wait_for("log line", || ok(&d, &["logs", "web"]).contains("started"));
    let top = ok(&d, &["top", "web"]);
    assert!(top.contains("PID") && top.contains("sh -c"), "{top}");
    ok(&d, &["pause", "web"]);
    assert_eq!(inspect(&d, "web", "{{.State.Status}} {{.State.Paused}}"), "paused true");
    ok(&d, &["unpause", "web"]);
    assert_eq!(inspect(&d, "web", "{{.State.Status}}"), "running");
    ok(&d, &["rename", "web", "web2"]);
    assert_eq!(inspect(&d, "web2", "{{.Name}}"), "/web2");
    ok(&d, &["stop", "-t", "1", "web2"]);
    assert_eq!(inspect(&d, "web2", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
    ok(&d, &["start", "web2"]);
    assert_eq!(inspect(&d, "web2", "{{.State.Running}}"), "true");
    ok(&d, &["restart", "-t", "1", "web2"]);
    assert_eq!(inspect(&d, "web2", "{{.State.Running}}"), "true");
    wait_for("two starts in the log", || ok(&d, &["logs", "web2"]).matches("started").count() >= 3);
    ok(&d, &["rm", "-f", "web2"]);
    assert!(ok(&d, &["ps", "-aq"]).trim().is_empty());
}

#[test]
fn logs_follow_sees_new_output_until_exit() {
    requires_root!();
    let d = daemon();
    ok(&d, &["run", "-d", "--name", "ticker", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo tick$i; sleep 0.2; done"]);
    let (code, out, _) = run(d.docker().args(["logs", "-f", "ticker"]));
    assert_eq!(code, 0);
    assert_eq!(out, "tick1\ntick2\ntick3\ntick4\ntick5\n");
    let tail = ok(&d, &["logs", "--tail", "2", "ticker"]);
    assert_eq!(tail, "tick4\ntick5\n");
    let ts = ok(&d, &["logs", "-t", "--tail", "1", "ticker"]);
    assert!(ts.contains("Z tick5"), "{ts}");
}

#[test]
fn exec_runs_in_the_container_with_exit_codes() {
    requires_root!();
    let d = daemon();
    ok(&d, &["run", "-d", "--name", "box", "-e", "FOO=bar", "busybox", "sleep", "1000"]);
    assert_eq!(ok(&d, &["exec", "box", "sh", "-c", "echo $FOO $(hostname)"]).split_whitespace().next(), Some("bar"));
    let (code, _, _) = run(d.docker().args(["exec", "box", "sh", "-c", "exit 9"]));
    assert_eq!(code, 9);
    let (code, out, err) = run_with_input(d.docker().args(["exec", "-i", "box", "sh", "-c", "cat | wc -l"]), b"a\nb\nc\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "3");
    let (code, _, err) = run(d.docker().args(["exec", "box", "nosuchcmd"]));
    assert_eq!(code, 127, "{err}");
    let (code, out) = in_pty(&d, "docker exec -it box sh", "echo in-$((2*3))\nexit 5\n");
    assert_eq!(code, 5, "{out}");
    assert!(out.contains("in-6"), "{out}");
    // The exec'd process sees the container's pid namespace.
    let ps = ok(&d, &["exec", "box", "ps"]);
    assert!(ps.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep 1000")), "{ps}");
}

#[test]
fn wait_returns_the_exit_code() {
    requires_root!();
    let d = daemon();
    ok(&d, &["run", "-d", "--name", "waiter", "busybox", "sh", "-c", "sleep 0.3; exit 5"]);
    assert_eq!(ok(&d, &["wait", "waiter"]).trim(), "5");
}

#[test]
fn exit_codes_follow_docker() {
    requires_root!();
    let d = daemon();
    let (code, _, err) = run(d.docker().args(["run", "--rm", "busybox", "nosuchcommand"]));
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("executable file not found"), "{err}");
    let (code, _, err) = run(d.docker().args(["run", "--rm", "busybox", "/etc/passwd"]));
    assert_eq!(code, 126, "{err}");
    ok(&d, &["run", "-d", "--name", "k1", "busybox", "sleep", "100"]);
    ok(&d, &["kill", "k1"]);
    assert_eq!(ok(&d, &["wait", "k1"]).trim(), "137");
    // pid 1 ignores signals it has no handler for, so let sleep run under --init.
    ok(&d, &["run", "-d", "--init", "--name", "k2", "busybox", "sleep", "100"]);
    ok(&d, &["kill", "-s", "USR1", "k2"]);
    assert_eq!(ok(&d, &["wait", "k2"]).trim(), "138");
}

#[test]
fn user_workdir_env_hostname_and_entrypoint() {
    requires_root!();
    let d = daemon();
    let out = ok(&d, &["run", "--rm", "-u", "nobody", "-w", "/tmp/work", "-e", "A=1", "--hostname", "boxy", "busybox", "sh", "-c", "id -u; pwd; echo $A; hostname"]);
    assert_eq!(out, "65534\n/tmp/work\n1\nboxy\n");
    let out = ok(&d, &["run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint"]);
    assert_eq!(out, "from entrypoint\n");
    let out = ok(&d, &["run", "--rm", "--init", "busybox", "ps"]);
    assert!(out.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("docker-init")), "{out}");
}

#[test]
fn events_report_the_lifecycle() {
    requires_root!();
    let d = daemon();
    let since = ok(&d, &["version", "--format", "{{.Server.Version}}"]);
    let _ = since;
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut ev = d.docker().args(["events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", "--filter", "container=evt"]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    ok(&d, &["run", "--name", "evt", "busybox", "true"]);
    ok(&d, &["rm", "evt"]);
    std::thread::sleep(Duration::from_millis(300));
    let _ = ev.kill();
    let out = ev.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for action in ["create", "attach", "start", "die", "destroy"] {
        assert!(text.contains(&format!("container {action} evt")), "missing {action} in:\n{text}");
    }
    // The same, replayed from history with --since/--until.
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let replay = ok(&d, &["events", "--since", &start.to_string(), "--until", &until.to_string(), "--filter", "event=die", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}"]);
    assert_eq!(replay.trim(), "die 0");
}

#[test]
fn restart_policy_counts_restarts() {
    requires_root!();
    let d = daemon();
    ok(&d, &["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1"]);
    wait_for("two restarts", || inspect(&d, "flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited");
    assert_eq!(inspect(&d, "flaky", "{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}"), "1 on-failure");
}

#[test]
fn health_check_turns_healthy() {
    requires_root!();
    let d = daemon();
    ok(&d, &["run", "-d", "--name", "hc", "--health-cmd", "test -e /tmp/ready", "--health-interval", "200ms", "--health-retries", "1", "busybox", "sh", "-c", "sleep 1; touch /tmp/ready; sleep 100"]);
    assert_eq!(inspect(&d, "hc", "{{.State.Health.Status}}"), "starting");
    wait_for("healthy", || inspect(&d, "hc", "{{.State.Health.Status}}") == "healthy");
    let ps = ok(&d, &["ps", "--format", "{{.Status}}"]);
    assert!(ps.contains("(healthy)"), "{ps}");
}

#[test]
fn prune_removes_only_stopped_containers() {
    requires_root!();
    let d = daemon();
    ok(&d, &["run", "--name", "done1", "busybox", "true"]);
    ok(&d, &["run", "-d", "--name", "alive", "busybox", "sleep", "100"]);
    let out = ok(&d, &["container", "prune", "-f"]);
    assert!(out.contains("Deleted Containers"), "{out}");
    let left = ok(&d, &["ps", "-a", "--format", "{{.Names}}"]);
    assert_eq!(left.trim(), "alive");
}

#[test]
fn bad_input_gets_clean_errors() {
    requires_root!();
    let d = daemon();
    let (code, _, err) = run(d.docker().args(["run", "--rm", "nosuchimage:1"]));
    assert_eq!(code, 125, "{err}");
    let (code, _, err) = run(d.docker().args(["inspect", "nosuchcontainer"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("No such object") || err.contains("No such container"), "{err}");
    ok(&d, &["create", "--name", "dup", "busybox", "true"]);
    // `docker create` exits 1 on a daemon error (`run` exits 125).
    let (code, _, err) = run(d.docker().args(["create", "--name", "dup", "busybox", "true"]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is already in use"), "{err}");
    let (code, _, err) = run(d.docker().args(["run", "--name", "bad name", "busybox", "true"]));
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("Invalid container name"), "{err}");
    let (code, _, err) = run(d.docker().args(["run", "--restart", "always", "--rm", "busybox", "true"]));
    assert_ne!(code, 0, "{err}");
    // Nothing half-made is left behind by the failures.
    assert_eq!(ok(&d, &["ps", "-a", "--format", "{{.Names}}"]).trim(), "dup");
}

#[test]
fn malformed_json_gets_400_with_a_message() {
    requires_root!();
    let d = Daemon::start();
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    let body = "{not json";
    write!(s, "POST /v1.47/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("{\"message\":"), "{resp}");
}

#[test]
fn log_rotation_keeps_max_file() {
    requires_root!();
    let d = daemon();
    ok(&d, &["run", "--name", "chatty", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"]);
    let id = inspect(&d, "chatty", "{{.Id}}");
    let path = inspect(&d, "chatty", "{{.LogPath}}");
    assert!(path.contains(&id));
    assert!(std::fs::metadata(&path).unwrap().len() <= 2048);
    assert!(std::path::Path::new(&format!("{path}.1")).exists());
    assert!(!std::path::Path::new(&format!("{path}.2")).exists());
    let logs = ok(&d, &["logs", "chatty"]);
    assert!(logs.ends_with("line-299\n"), "{logs}");
}

#[test]
fn containers_survive_kill_9_of_berthd() {
    requires_root!();
    let mut d = daemon();
    ok(&d, &["run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo before; sleep 2; echo during; sleep 1000"]);
    ok(&d, &["run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1; echo bye; exit 4"]);
    let pid = inspect(&d, "survivor", "{{.State.Pid}}");
    d.kill9();
    std::thread::sleep(Duration::from_millis(2500));
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "container died with berthd");
    d.spawn(&[]);
    assert_eq!(inspect(&d, "survivor", "{{.State.Status}} {{.State.Pid}}"), format!("running {pid}"));
    assert_eq!(inspect(&d, "quitter", "{{.State.Status}} {{.State.ExitCode}}"), "exited 4");
    assert_eq!(ok(&d, &["logs", "quitter"]), "bye\n");
    assert_eq!(ok(&d, &["logs", "survivor"]), "before\nduring\n");
    assert_eq!(ok(&d, &["exec", "survivor", "echo", "still here"]), "still here\n");
    ok(&d, &["stop", "-t", "1", "survivor"]);
    assert_eq!(inspect(&d, "survivor", "{{.State.Status}}"), "exited");
}

#[test]
fn external_runc_runtime_is_selectable() {
    requires_root!();
    if Command::new("runc").arg("--version").output().is_err() {
        eprintln!("SKIPPED external_runc_runtime_is_selectable: runc is not installed");
        return;
    }
    let d = daemon();
    let (code, out, err) = run(d.docker().args(["run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "echo via runc; exit 2"]));
    assert_eq!(code, 2, "{err}\n{}", d.log());
    assert_eq!(out, "via runc\n");
    let (code, out) = in_pty(&d, "docker run -it --rm --runtime runc busybox sh", "echo tty-$((4+4))\nexit 0\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("tty-8"), "{out}");
}
