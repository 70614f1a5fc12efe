//! The real docker CLI (on PATH) against a real berthd.
//! The scenarios live in `berth_e2e::scenarios`, shared with the other CLI.

use berth_e2e::{scenarios, Cli};
use berth_testkit::requires_root;

#[test]
fn ping_version_and_info_negotiate() {
    requires_root!();
    scenarios::ping_version_and_info_negotiate(Cli::Docker);
}

#[test]
fn run_rm_prints_output_and_exit_code() {
    requires_root!();
    scenarios::run_rm_prints_output_and_exit_code(Cli::Docker);
}

#[test]
fn run_without_rm_keeps_the_container_with_its_exit_code() {
    requires_root!();
    scenarios::run_without_rm_keeps_the_container_with_its_exit_code(Cli::Docker);
}

#[test]
fn piped_stdin_reaches_the_container_and_half_closes() {
    requires_root!();
    scenarios::piped_stdin_reaches_the_container_and_half_closes(Cli::Docker);
}

#[test]
fn tty_and_interactive_shell_through_a_pty() {
    requires_root!();
    scenarios::tty_and_interactive_shell_through_a_pty(Cli::Docker);
}

#[test]
fn detached_lifecycle_logs_top_pause_rename_stop_start_restart() {
    requires_root!();
    scenarios::detached_lifecycle_logs_top_pause_rename_stop_start_restart(Cli::Docker);
}

#[test]
fn logs_follow_sees_new_output_until_exit() {
    requires_root!();
    scenarios::logs_follow_sees_new_output_until_exit(Cli::Docker);
}

#[test]
fn exec_runs_in_the_container_with_exit_codes() {
    requires_root!();
    scenarios::exec_runs_in_the_container_with_exit_codes(Cli::Docker);
}

#[test]
fn wait_returns_the_exit_code() {
    requires_root!();
    scenarios::wait_returns_the_exit_code(Cli::Docker);
}

#[test]
fn exit_codes_follow_docker() {
    requires_root!();
    scenarios::exit_codes_follow_docker(Cli::Docker);
}

#[test]
fn user_workdir_env_hostname_and_entrypoint() {
    requires_root!();
    scenarios::user_workdir_env_hostname_and_entrypoint(Cli::Docker);
}

#[test]
fn events_report_the_lifecycle() {
    requires_root!();
    scenarios::events_report_the_lifecycle(Cli::Docker);
}

#[test]
fn restart_policy_counts_restarts() {
    requires_root!();
    scenarios::restart_policy_counts_restarts(Cli::Docker);
}

#[test]
fn health_check_turns_healthy() {
    requires_root!();
    scenarios::health_check_turns_healthy(Cli::Docker);
}

#[test]
fn prune_removes_only_stopped_containers() {
    requires_root!();
    scenarios::prune_removes_only_stopped_containers(Cli::Docker);
}

#[test]
fn bad_input_gets_clean_errors() {
    requires_root!();
    scenarios::bad_input_gets_clean_errors(Cli::Docker);
}

#[test]
fn log_rotation_keeps_max_file() {
    requires_root!();
    scenarios::log_rotation_keeps_max_file(Cli::Docker);
}

#[test]
fn containers_survive_kill_9_of_berthd() {
    requires_root!();
    scenarios::containers_survive_kill_9_of_berthd(Cli::Docker);
}

#[test]
fn external_runc_runtime_is_selectable() {
    requires_root!();
    scenarios::external_runc_runtime_is_selectable(Cli::Docker);
}

#[test]
fn malformed_json_gets_400_with_a_message() {
    requires_root!();
    let d = berth_testkit::Daemon::start();
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
fn always_restarts_a_container_that_died_while_berthd_was_down() {
    requires_root!();
    let mut e = berth_e2e::Env::new(Cli::Docker);
    e.ok(&["run", "-d", "--name", "phoenix", "--restart", "always", "busybox", "sleep", "1000"]);
    let pid = e.inspect("phoenix", "{{.State.Pid}}");
    e.d.kill9();
    // The container dies while nobody watches; its monitor records the exit.
    assert!(std::process::Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    std::thread::sleep(std::time::Duration::from_millis(300));
    e.d.spawn(&[]);
    berth_e2e::wait_for("restart after recovery", || {
        e.inspect("phoenix", "{{.State.Status}} {{.RestartCount}}") == "running 1"
    });
    assert_ne!(e.inspect("phoenix", "{{.State.Pid}}"), pid);
}

#[test]
fn a_container_whose_monitor_was_killed_is_killed_at_recovery() {
    requires_root!();
    let mut e = berth_e2e::Env::new(Cli::Docker);
    e.ok(&["run", "-d", "--name", "orphan", "busybox", "sleep", "1000"]);
    let pid: i32 = e.inspect("orphan", "{{.State.Pid}}").parse().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let monitor: i32 = stat.rsplit(')').next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(std::fs::read_to_string(format!("/proc/{monitor}/comm")).unwrap().starts_with("berth-shim"));
    e.d.kill9();
    // The monitor dies on its own; the container's process outlives it, orphaned.
    assert!(std::process::Command::new("kill").args(["-9", &monitor.to_string()]).status().unwrap().success());
    berth_e2e::wait_for("monitor gone", || !std::path::Path::new(&format!("/proc/{monitor}")).exists());
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "the container died with its monitor");
    e.d.spawn(&[]);
    berth_e2e::wait_for("exited after recovery", || e.inspect("orphan", "{{.State.Status}}") == "exited");
    berth_e2e::wait_for("leftover process killed", || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| s.rsplit(')').next().unwrap().split_whitespace().next() == Some("Z"))
    });
}

#[test]
fn config_file_sets_runtimes_default_runtime_and_log_opts() {
    requires_root!();
    let Some(runc) = ["/usr/sbin/runc", "/usr/bin/runc"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
        eprintln!("SKIPPED config_file_sets_runtimes_default_runtime_and_log_opts: runc is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("daemon.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"runtimes": {{"myrunc": {{"path": "{runc}"}}}}, "default-runtime": "myrunc", "log-opts": {{"max-size": "1k", "max-file": "2"}}}}"#),
    )
    .unwrap();
    let d = berth_testkit::Daemon::start_with(&["--config-file", cfg.to_str().unwrap()]);
    d.import_busybox("busybox:latest");
    let (code, out, _) = berth_testkit::run(d.docker().args(["info", "--format", "{{.DefaultRuntime}} {{range $k, $v := .Runtimes}}{{$k}} {{end}}"]));
    assert_eq!(code, 0);
    assert!(out.starts_with("myrunc ") && out.contains("myrunc ") && out.contains("berth "), "{out}");
    let (code, out, err) = berth_testkit::run(d.docker().args(["run", "--name", "viaconf", "busybox", "sh", "-c", "i=0; while [ $i -lt 100 ]; do echo line-$i; i=$((i+1)); done"]));
    assert_eq!(code, 0, "{err}\n{}", d.log());
    assert!(out.ends_with("line-99\n"));
    // The default runtime ran it (runc's state lives under the exec root), and the log rotated.
    let (_, path, _) = berth_testkit::run(d.docker().args(["inspect", "--format", "{{.LogPath}}", "viaconf"]));
    assert!(std::path::Path::new(&format!("{}.1", path.trim())).exists(), "log did not rotate");
    assert!(d.dir.path().join("exec/runtimes").exists(), "runc was not used");
}

#[test]
fn a_half_created_container_is_cleaned_up_at_start() {
    requires_root!();
    let mut d = berth_testkit::Daemon::start();
    d.kill9();
    // What a crash between making the directory and committing the record leaves.
    let orphan = d.data_root().join("containers").join("f".repeat(64));
    std::fs::create_dir_all(orphan.join("upper")).unwrap();
    d.spawn(&[]);
    assert!(!orphan.exists(), "orphaned container directory survived a restart");
    let (code, out, _) = berth_testkit::run(d.docker().args(["ps", "-aq"]));
    assert_eq!(code, 0);
    assert!(out.trim().is_empty());
}

#[test]
fn image_healthcheck_from_import_changes_turns_healthy() {
    requires_root!();
    let d = berth_testkit::Daemon::start();
    let (code, _, err) = berth_testkit::run(d.docker().args([
        "import",
        "-c",
        "HEALTHCHECK --interval=200ms --retries=1 CMD true",
        berth_testkit::busybox_tar().to_str().unwrap(),
        "healthy:1",
    ]));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = berth_testkit::run(d.docker().args(["run", "-d", "--name", "hc2", "healthy:1", "sleep", "100"]));
    assert_eq!(code, 0, "{err}");
    berth_e2e::wait_for("healthy", || {
        berth_testkit::run(d.docker().args(["inspect", "--format", "{{.State.Health.Status}}", "hc2"])).1.trim() == "healthy"
    });
}

#[test]
fn attach_to_a_running_container_and_detach() {
    requires_root!();
    scenarios::attach_to_a_running_container_and_detach(Cli::Docker);
}

#[test]
fn detached_containers_that_exit_at_once_are_recorded() {
    requires_root!();
    // The monitor may finish (and remove its socket) before berthd connects to it.
    let e = berth_e2e::Env::new(Cli::Docker);
    for i in 0..15 {
        let name = format!("quick{i}");
        e.ok(&["run", "-d", "--name", &name, "busybox", "sh", "-c", "exit 7"]);
        assert_eq!(e.ok(&["wait", &name]).trim(), "7");
        assert_eq!(e.inspect(&name, "{{.State.Status}} {{.State.ExitCode}}"), "exited 7");
    }
}
