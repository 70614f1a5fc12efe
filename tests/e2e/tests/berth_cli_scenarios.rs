//! Our `berth` CLI against a real berthd: every scenario the docker CLI runs.
//! The scenarios live in `berth_e2e::scenarios`, shared with the other CLI.

use berth_e2e::{scenarios, Cli};
use berth_testkit::requires_root;

#[test]
fn ping_version_and_info_negotiate() {
    requires_root!();
    scenarios::ping_version_and_info_negotiate(Cli::Berth);
}

#[test]
fn run_rm_prints_output_and_exit_code() {
    requires_root!();
    scenarios::run_rm_prints_output_and_exit_code(Cli::Berth);
}

#[test]
fn run_without_rm_keeps_the_container_with_its_exit_code() {
    requires_root!();
    scenarios::run_without_rm_keeps_the_container_with_its_exit_code(Cli::Berth);
}

#[test]
fn piped_stdin_reaches_the_container_and_half_closes() {
    requires_root!();
    scenarios::piped_stdin_reaches_the_container_and_half_closes(Cli::Berth);
}

#[test]
fn tty_and_interactive_shell_through_a_pty() {
    requires_root!();
    scenarios::tty_and_interactive_shell_through_a_pty(Cli::Berth);
}

#[test]
fn detached_lifecycle_logs_top_pause_rename_stop_start_restart() {
    requires_root!();
    scenarios::detached_lifecycle_logs_top_pause_rename_stop_start_restart(Cli::Berth);
}

#[test]
fn logs_follow_sees_new_output_until_exit() {
    requires_root!();
    scenarios::logs_follow_sees_new_output_until_exit(Cli::Berth);
}

#[test]
fn exec_runs_in_the_container_with_exit_codes() {
    requires_root!();
    scenarios::exec_runs_in_the_container_with_exit_codes(Cli::Berth);
}

#[test]
fn wait_returns_the_exit_code() {
    requires_root!();
    scenarios::wait_returns_the_exit_code(Cli::Berth);
}

#[test]
fn exit_codes_follow_docker() {
    requires_root!();
    scenarios::exit_codes_follow_docker(Cli::Berth);
}

#[test]
fn user_workdir_env_hostname_and_entrypoint() {
    requires_root!();
    scenarios::user_workdir_env_hostname_and_entrypoint(Cli::Berth);
}

#[test]
fn events_report_the_lifecycle() {
    requires_root!();
    scenarios::events_report_the_lifecycle(Cli::Berth);
}

#[test]
fn restart_policy_counts_restarts() {
    requires_root!();
    scenarios::restart_policy_counts_restarts(Cli::Berth);
}

#[test]
fn health_check_turns_healthy() {
    requires_root!();
    scenarios::health_check_turns_healthy(Cli::Berth);
}

#[test]
fn prune_removes_only_stopped_containers() {
    requires_root!();
    scenarios::prune_removes_only_stopped_containers(Cli::Berth);
}

#[test]
fn bad_input_gets_clean_errors() {
    requires_root!();
    scenarios::bad_input_gets_clean_errors(Cli::Berth);
}

#[test]
fn log_rotation_keeps_max_file() {
    requires_root!();
    scenarios::log_rotation_keeps_max_file(Cli::Berth);
}

#[test]
fn containers_survive_kill_9_of_berthd() {
    requires_root!();
    scenarios::containers_survive_kill_9_of_berthd(Cli::Berth);
}

#[test]
fn external_runc_runtime_is_selectable() {
    requires_root!();
    scenarios::external_runc_runtime_is_selectable(Cli::Berth);
}

#[test]
fn attach_to_a_running_container_and_detach() {
    requires_root!();
    scenarios::attach_to_a_running_container_and_detach(Cli::Berth);
}
