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
