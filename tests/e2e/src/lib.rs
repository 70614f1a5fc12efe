//! End-to-end scenarios, each run once through the real docker CLI and once through `berth`
//! (see `tests/docker_cli.rs` and `tests/berth_cli.rs`), against a real berthd on throwaway
//! roots with a busybox image built from the host's `busybox-static`.

use std::process::Command;
use std::time::{Duration, Instant};

use berth_testkit::{bin, busybox_tar, run, run_with_input, Daemon};

/// Which client drives a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    /// The real docker CLI on PATH.
    Docker,
    /// Our `berth`.
    Berth,
}

/// A daemon with the busybox image, and the CLI that drives it.
pub struct Env {
    /// The daemon.
    pub d: Daemon,
    /// The client.
    pub cli: Cli,
}

impl Env {
    /// Start a daemon and import `busybox:latest` through `cli`.
    pub fn new(cli: Cli) -> Env {
        let e = Env { d: Daemon::start(), cli };
        e.ok(&["import", busybox_tar().to_str().expect("utf-8 path"), "busybox:latest"]);
        e
    }

    /// The CLI's program.
    pub fn program(&self) -> String {
        match self.cli {
            Cli::Docker => "docker".into(),
            Cli::Berth => bin("berth").display().to_string(),
        }
    }

    /// A command of the CLI aimed at the daemon.
    pub fn cmd(&self) -> Command {
        match self.cli {
            Cli::Docker => self.d.docker(),
            Cli::Berth => self.d.berth(),
        }
    }

    /// Run and expect success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = run(self.cmd().args(args));
        assert_eq!(code, 0, "{:?} {args:?} failed ({code}): {err}\n--- berthd log ---\n{}", self.cli, self.d.log());
        out
    }

    /// `inspect --format`.
    pub fn inspect(&self, name: &str, fmt: &str) -> String {
        self.ok(&["inspect", "--format", fmt, name]).trim().to_string()
    }

    fn script(&self, args: &str) -> Command {
        let mut c = Command::new("script");
        c.args(["-qfec", &format!("{} {args}", self.program()), "/dev/null"])
            .env("DOCKER_HOST", self.d.host())
            .env("DOCKER_CONFIG", self.d.dir.path().join("docker-config"));
        c
    }

    /// Run `CLI ARGS` under a pseudo-terminal (util-linux `script`), feeding `input`.
    pub fn in_pty(&self, args: &str, input: &str) -> (i32, String) {
        let (code, out, _) = run_with_input(&mut self.script(args), input.as_bytes());
        (code, out)
    }

    /// Like [`Env::in_pty`], typing each piece of input after a pause, as a person does once
    /// the CLI has put its terminal in raw mode (before that, the terminal's line discipline
    /// would hold control keys such as ^Q).
    pub fn typed_in_pty(&self, args: &str, steps: &[&str]) -> (i32, String) {
        use std::io::Write;
        let mut child = self.script(args).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().expect("spawn script");
        let mut stdin = child.stdin.take().expect("stdin");
        for s in steps {
            std::thread::sleep(Duration::from_millis(400));
            let _ = stdin.write_all(s.as_bytes());
            let _ = stdin.flush();
        }
        std::thread::sleep(Duration::from_millis(400));
        drop(stdin);
        let out = child.wait_with_output().expect("wait for script");
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Poll `f` until it holds (15 s at most).
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

/// The scenarios: each takes the CLI to drive.
pub mod scenarios {
    use super::*;

    /// Scenario `ping_version_and_info_negotiate`.
    pub fn ping_version_and_info_negotiate(cli: Cli) {
        let e = Env::new(cli);
        let v = e.ok(&["version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}"]);
        assert_eq!(v.trim(), "1.47 linux");
        let info = e.ok(&["info", "--format", "{{.Driver}} {{.OSType}} {{.Containers}}"]);
        assert_eq!(info.trim(), "overlay2 linux 0");
    }

    /// Scenario `run_rm_prints_output_and_exit_code`.
    pub fn run_rm_prints_output_and_exit_code(cli: Cli) {
        let e = Env::new(cli);
        let (code, out, err) = run(e.cmd().args(["run", "--rm", "--network", "none", "busybox", "sh", "-c", "echo hi; echo oops >&2; exit 3"]));
        assert_eq!(code, 3, "stderr: {err}\n{}", e.d.log());
        assert_eq!(out, "hi\n");
        assert!(err.contains("oops"), "{err}");
        wait_for("auto removal", || e.ok(&["ps", "-aq"]).trim().is_empty());
    }

    /// Scenario `run_without_rm_keeps_the_container_with_its_exit_code`.
    pub fn run_without_rm_keeps_the_container_with_its_exit_code(cli: Cli) {
        let e = Env::new(cli);
        let (code, out, _) = run(e.cmd().args(["run", "--name", "keep", "busybox", "sh", "-c", "echo kept; exit 4"]));
        assert_eq!(code, 4);
        assert_eq!(out, "kept\n");
        assert_eq!(e.inspect("keep", "{{.State.Status}} {{.State.ExitCode}}"), "exited 4");
        assert_eq!(e.ok(&["logs", "keep"]), "kept\n");
        let ps = e.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
        assert!(ps.starts_with("keep Exited (4)"), "{ps}");
    }

    /// Scenario `piped_stdin_reaches_the_container_and_half_closes`.
    pub fn piped_stdin_reaches_the_container_and_half_closes(cli: Cli) {
        let e = Env::new(cli);
        let (code, out, err) = run_with_input(e.cmd().args(["run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo end"]), b"line one\nline two\n");
        assert_eq!(code, 0, "{err}\n{}", e.d.log());
        assert_eq!(out, "line one\nline two\nend\n");
    }

    /// Scenario `tty_and_interactive_shell_through_a_pty`.
    pub fn tty_and_interactive_shell_through_a_pty(cli: Cli) {
        let e = Env::new(cli);
        let (code, out) = e.in_pty("run -t --rm busybox sh -c 'tty; echo cols=$(stty size)'", "");
        assert_eq!(code, 0, "{out}\n{}", e.d.log());
        // The terminal comes from the container's own devpts, as with runc.
        assert!(out.contains("/dev/pts/0"), "{out}");
        let (code, out) = e.in_pty("run -it --rm busybox sh", "echo hi-$((1+2))\nexit 7\n");
        assert_eq!(code, 7, "{out}\n{}", e.d.log());
        assert!(out.contains("hi-3"), "{out}");
    }

    /// Scenario `detached_lifecycle_logs_top_pause_rename_stop_start_restart`.
    pub fn detached_lifecycle_logs_top_pause_rename_stop_start_restart(cli: Cli) {
        let e = Env::new(cli);
        let id = e.ok(&["run", "-d", "--name", "web", "busybox", "sh", "-c", "echo started; while true; do sleep 0.1; done"]);
        assert_eq!(id.trim().len(), 64);
        assert_eq!(e.inspect("web", "{{.State.Status}}"), "running");
        wait_for("log line", || e.ok(&["logs", "web"]).contains("started"));
        let top = e.ok(&["top", "web"]);
        assert!(top.contains("PID") && top.contains("sh -c"), "{top}");
        e.ok(&["pause", "web"]);
        assert_eq!(e.inspect("web", "{{.State.Status}} {{.State.Paused}}"), "paused true");
        e.ok(&["unpause", "web"]);
        assert_eq!(e.inspect("web", "{{.State.Status}}"), "running");
        e.ok(&["rename", "web", "web2"]);
        assert_eq!(e.inspect("web2", "{{.Name}}"), "/web2");
        e.ok(&["stop", "-t", "1", "web2"]);
        assert_eq!(e.inspect("web2", "{{.State.Status}} {{.State.ExitCode}}"), "exited 137");
        e.ok(&["start", "web2"]);
        assert_eq!(e.inspect("web2", "{{.State.Running}}"), "true");
        e.ok(&["restart", "-t", "1", "web2"]);
        assert_eq!(e.inspect("web2", "{{.State.Running}}"), "true");
        wait_for("two starts in the log", || e.ok(&["logs", "web2"]).matches("started").count() >= 3);
        e.ok(&["rm", "-f", "web2"]);
        assert!(e.ok(&["ps", "-aq"]).trim().is_empty());
    }

    /// Scenario `logs_follow_sees_new_output_until_exit`.
    pub fn logs_follow_sees_new_output_until_exit(cli: Cli) {
        let e = Env::new(cli);
        e.ok(&["run", "-d", "--name", "ticker", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo tick$i; sleep 0.2; done"]);
        let (code, out, _) = run(e.cmd().args(["logs", "-f", "ticker"]));
        assert_eq!(code, 0);
        assert_eq!(out, "tick1\ntick2\ntick3\ntick4\ntick5\n");
        let tail = e.ok(&["logs", "--tail", "2", "ticker"]);
        assert_eq!(tail, "tick4\ntick5\n");
        let ts = e.ok(&["logs", "-t", "--tail", "1", "ticker"]);
        assert!(ts.contains("Z tick5"), "{ts}");
    }

    /// Scenario `exec_runs_in_the_container_with_exit_codes`.
    pub fn exec_runs_in_the_container_with_exit_codes(cli: Cli) {
        let e = Env::new(cli);
        e.ok(&["run", "-d", "--name", "box", "-e", "FOO=bar", "busybox", "sleep", "1000"]);
        assert_eq!(e.ok(&["exec", "box", "sh", "-c", "echo $FOO $(hostname)"]).split_whitespace().next(), Some("bar"));
        let (code, _, _) = run(e.cmd().args(["exec", "box", "sh", "-c", "exit 9"]));
        assert_eq!(code, 9);
        let (code, out, err) = run_with_input(e.cmd().args(["exec", "-i", "box", "sh", "-c", "cat | wc -l"]), b"a\nb\nc\n");
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.trim(), "3");
        let (code, _, err) = run(e.cmd().args(["exec", "box", "nosuchcmd"]));
        assert_eq!(code, 127, "{err}");
        let (code, out) = e.in_pty("exec -t box tty", "");
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("/dev/pts/"), "{out}");
        let (code, out) = e.in_pty("exec -it box sh", "echo in-$((2*3))\nexit 5\n");
        assert_eq!(code, 5, "{out}");
        assert!(out.contains("in-6"), "{out}");
        // The exec'd process sees the container's pid namespace.
        let ps = e.ok(&["exec", "box", "ps"]);
        assert!(ps.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("sleep 1000")), "{ps}");
    }

    /// Scenario `wait_returns_the_exit_code`.
    pub fn wait_returns_the_exit_code(cli: Cli) {
        let e = Env::new(cli);
        e.ok(&["run", "-d", "--name", "waiter", "busybox", "sh", "-c", "sleep 0.3; exit 5"]);
        assert_eq!(e.ok(&["wait", "waiter"]).trim(), "5");
    }

    /// Scenario `exit_codes_follow_docker`.
    pub fn exit_codes_follow_docker(cli: Cli) {
        let e = Env::new(cli);
        let (code, _, err) = run(e.cmd().args(["run", "--rm", "busybox", "nosuchcommand"]));
        assert_eq!(code, 127, "{err}");
        assert!(err.contains("executable file not found"), "{err}");
        let (code, _, err) = run(e.cmd().args(["run", "--rm", "busybox", "/etc/passwd"]));
        assert_eq!(code, 126, "{err}");
        e.ok(&["run", "-d", "--name", "k1", "busybox", "sleep", "100"]);
        e.ok(&["kill", "k1"]);
        assert_eq!(e.ok(&["wait", "k1"]).trim(), "137");
        // pid 1 ignores signals it has no handler for, so let sleep run under --init.
        e.ok(&["run", "-d", "--init", "--name", "k2", "busybox", "sleep", "100"]);
        e.ok(&["kill", "-s", "USR1", "k2"]);
        assert_eq!(e.ok(&["wait", "k2"]).trim(), "138");
    }

    /// Scenario `user_workdir_env_hostname_and_entrypoint`.
    pub fn user_workdir_env_hostname_and_entrypoint(cli: Cli) {
        let e = Env::new(cli);
        let out = e.ok(&["run", "--rm", "-u", "nobody", "-w", "/tmp/work", "-e", "A=1", "--hostname", "boxy", "busybox", "sh", "-c", "id -u; pwd; echo $A; hostname"]);
        assert_eq!(out, "65534\n/tmp/work\n1\nboxy\n");
        let out = e.ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "from", "entrypoint"]);
        assert_eq!(out, "from entrypoint\n");
        let out = e.ok(&["run", "--rm", "--init", "busybox", "ps"]);
        assert!(out.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("docker-init")), "{out}");
    }

    /// Scenario `events_report_the_lifecycle`.
    pub fn events_report_the_lifecycle(cli: Cli) {
        use std::io::BufRead;
        use std::sync::{Arc, Mutex};
        let e = Env::new(cli);
        let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut ev = e
            .cmd()
            .args(["events", "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}", "--filter", "type=container"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let seen = Arc::new(Mutex::new(String::new()));
        let reader = {
            let seen = seen.clone();
            let out = ev.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                    seen.lock().unwrap().push_str(&(line + "\n"));
                }
            })
        };
        // A marker event shows the subscription is live before the real test begins.
        wait_for("the events stream", || {
            let _ = run(e.cmd().args(["rm", "-f", "evtmark"]));
            e.ok(&["create", "--name", "evtmark", "busybox", "true"]);
            seen.lock().unwrap().contains("container create evtmark")
        });
        e.ok(&["run", "--name", "evt", "busybox", "true"]);
        e.ok(&["rm", "evt"]);
        wait_for("destroy event", || seen.lock().unwrap().contains("container destroy evt\n"));
        let _ = ev.kill();
        let _ = ev.wait();
        let _ = reader.join();
        let text = seen.lock().unwrap().clone();
        for action in ["create", "attach", "start", "die", "destroy"] {
            assert!(text.contains(&format!("container {action} evt\n")), "missing {action} in:\n{text}");
        }
        // The same, replayed from history with --since/--until.
        let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
        let replay = e.ok(&["events", "--since", &start.to_string(), "--until", &until.to_string(), "--filter", "event=die", "--format", "{{.Action}} {{.Actor.Attributes.exitCode}}"]);
        assert_eq!(replay.trim(), "die 0");
    }

    /// Scenario `restart_policy_counts_restarts`.
    pub fn restart_policy_counts_restarts(cli: Cli) {
        let e = Env::new(cli);
        e.ok(&["run", "-d", "--name", "flaky", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 1"]);
        wait_for("two restarts", || e.inspect("flaky", "{{.RestartCount}} {{.State.Status}}") == "2 exited");
        assert_eq!(e.inspect("flaky", "{{.State.ExitCode}} {{.HostConfig.RestartPolicy.Name}}"), "1 on-failure");
    }

    /// Scenario `health_check_turns_healthy`.
    pub fn health_check_turns_healthy(cli: Cli) {
        let e = Env::new(cli);
        e.ok(&["run", "-d", "--name", "hc", "--health-cmd", "test -e /tmp/ready", "--health-interval", "200ms", "--health-retries", "1", "busybox", "sh", "-c", "sleep 1; touch /tmp/ready; sleep 100"]);
        assert_eq!(e.inspect("hc", "{{.State.Health.Status}}"), "starting");
        wait_for("healthy", || e.inspect("hc", "{{.State.Health.Status}}") == "healthy");
        let ps = e.ok(&["ps", "--format", "{{.Status}}"]);
        assert!(ps.contains("(healthy)"), "{ps}");
    }

    /// Scenario `prune_removes_only_stopped_containers`.
    pub fn prune_removes_only_stopped_containers(cli: Cli) {
        let e = Env::new(cli);
        e.ok(&["run", "--name", "done1", "busybox", "true"]);
        e.ok(&["run", "-d", "--name", "alive", "busybox", "sleep", "100"]);
        let out = e.ok(&["container", "prune", "-f"]);
        assert!(out.contains("Deleted Containers"), "{out}");
        let left = e.ok(&["ps", "-a", "--format", "{{.Names}}"]);
        assert_eq!(left.trim(), "alive");
    }

    /// Scenario `bad_input_gets_clean_errors`.
    pub fn bad_input_gets_clean_errors(cli: Cli) {
        let e = Env::new(cli);
        let (code, _, err) = run(e.cmd().args(["run", "--rm", "nosuchimage:1"]));
        assert_eq!(code, 125, "{err}");
        let (code, _, err) = run(e.cmd().args(["inspect", "nosuchcontainer"]));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("No such object") || err.contains("No such container"), "{err}");
        e.ok(&["create", "--name", "dup", "busybox", "true"]);
        // `docker create` exits 1 on a daemon error (`run` exits 125).
        let (code, _, err) = run(e.cmd().args(["create", "--name", "dup", "busybox", "true"]));
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("is already in use"), "{err}");
        let (code, _, err) = run(e.cmd().args(["run", "--name", "bad name", "busybox", "true"]));
        assert_eq!(code, 125, "{err}");
        assert!(err.contains("Invalid container name"), "{err}");
        let (code, _, err) = run(e.cmd().args(["run", "--restart", "always", "--rm", "busybox", "true"]));
        assert_ne!(code, 0, "{err}");
        // Nothing half-made is left behind by the failures.
        assert_eq!(e.ok(&["ps", "-a", "--format", "{{.Names}}"]).trim(), "dup");
    }

    /// Scenario `log_rotation_keeps_max_file`.
    pub fn log_rotation_keeps_max_file(cli: Cli) {
        let e = Env::new(cli);
        e.ok(&["run", "--name", "chatty", "--log-opt", "max-size=2k", "--log-opt", "max-file=2", "busybox", "sh", "-c", "i=0; while [ $i -lt 300 ]; do echo line-$i; i=$((i+1)); done"]);
        let id = e.inspect("chatty", "{{.Id}}");
        let path = e.inspect("chatty", "{{.LogPath}}");
        assert!(path.contains(&id));
        assert!(std::fs::metadata(&path).unwrap().len() <= 2048);
        assert!(std::path::Path::new(&format!("{path}.1")).exists());
        assert!(!std::path::Path::new(&format!("{path}.2")).exists());
        let logs = e.ok(&["logs", "chatty"]);
        assert!(logs.ends_with("line-299\n"), "{logs}");
    }

    /// Scenario `containers_survive_kill_9_of_berthd`.
    pub fn containers_survive_kill_9_of_berthd(cli: Cli) {
        let mut e = Env::new(cli);
        e.ok(&["run", "-d", "--name", "survivor", "busybox", "sh", "-c", "echo before; sleep 2; echo during; sleep 1000"]);
        e.ok(&["run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1; echo bye; exit 4"]);
        let pid = e.inspect("survivor", "{{.State.Pid}}");
        let quitter_id = e.inspect("quitter", "{{.Id}}");
        let survivor_log = e.inspect("survivor", "{{.LogPath}}");
        e.d.kill9();
        // While berthd is down: the quitter exits (its monitor records it) and the survivor
        // writes more output (its monitor logs it).
        let exit_file = e.d.data_root().join("containers").join(&quitter_id).join("exit.json");
        wait_for("the quitter's exit while berthd is down", || exit_file.exists());
        wait_for("the survivor's output while berthd is down", || {
            std::fs::read_to_string(&survivor_log).unwrap_or_default().contains("during")
        });
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists(), "container died with berthd");
        e.d.spawn(&[]);
        assert_eq!(e.inspect("survivor", "{{.State.Status}} {{.State.Pid}}"), format!("running {pid}"));
        assert_eq!(e.inspect("quitter", "{{.State.Status}} {{.State.ExitCode}}"), "exited 4");
        assert_eq!(e.ok(&["logs", "quitter"]), "bye\n");
        assert_eq!(e.ok(&["logs", "survivor"]), "before\nduring\n");
        assert_eq!(e.ok(&["exec", "survivor", "echo", "still here"]), "still here\n");
        e.ok(&["stop", "-t", "1", "survivor"]);
        assert_eq!(e.inspect("survivor", "{{.State.Status}}"), "exited");
    }

    /// Scenario `external_runc_runtime_is_selectable`.
    pub fn external_runc_runtime_is_selectable(cli: Cli) {
        if Command::new("runc").arg("--version").output().is_err() {
            eprintln!("SKIPPED external_runc_runtime_is_selectable: runc is not installed");
            return;
        }
        let e = Env::new(cli);
        let (code, out, err) = run(e.cmd().args(["run", "--rm", "--runtime", "runc", "busybox", "sh", "-c", "echo via runc; exit 2"]));
        assert_eq!(code, 2, "{err}\n{}", e.d.log());
        assert_eq!(out, "via runc\n");
        let (code, out) = e.in_pty("run -it --rm --runtime runc busybox sh", "echo tty-$((4+4))\nexit 0\n");
        assert_eq!(code, 0, "{out}");
        assert!(out.contains("tty-8"), "{out}");
    }

    /// Scenario `attach_to_a_running_container_and_detach`.
    pub fn attach_to_a_running_container_and_detach(cli: Cli) {
        let e = Env::new(cli);
        e.ok(&["run", "-dit", "--name", "att", "busybox", "sh"]);
        // Type a command, then the detach sequence (ctrl-p ctrl-q): the container keeps running.
        let (code, out) = e.typed_in_pty("attach att", &["echo att-$((6*7))\n", "\x10\x11"]);
        // docker attach reports the detach as an error (exit 1); berth does the same.
        assert_eq!(code, 1, "{out}\n{}", e.d.log());
        assert!(out.contains("read escape sequence"), "{out}");
        assert!(out.contains("att-42"), "{out}");
        assert_eq!(e.inspect("att", "{{.State.Running}}"), "true");
        // Attach again and leave the shell: now it exits.
        let (code, out) = e.typed_in_pty("attach att", &["exit 3\n"]);
        assert_eq!(code, 3, "{out}");
        assert_eq!(e.inspect("att", "{{.State.Status}} {{.State.ExitCode}}"), "exited 3");
    }
}
