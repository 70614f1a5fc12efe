//! The real `docker` CLI against the router and the fake backend, over a unix socket: checks
//! that what the CLI sends decodes and what we answer is what it expects. Skips (loudly) when
//! no `docker` binary is on PATH.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tokio::process::Command;
use tokio::sync::oneshot;

use super::fake::Fake;
use crate::{serve_unix, Server, ServerInfo};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

struct Cli {
    host: String,
    config: std::path::PathBuf,
}

impl Cli {
    async fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Out {
        let mut cmd = Command::new("docker");
        cmd.args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_API_VERSION")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().expect("spawn docker");
        if let Some(input) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(input).await.unwrap();
            drop(pipe);
        }
        let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("docker {args:?} timed out"))
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None).await;
        assert_eq!(out.code, 0, "docker {args:?} failed: {}", out.stderr);
        out.stdout
    }
}

fn docker_on_path() -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("docker").is_file()))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cli_speaks_to_the_router() {
    if !docker_on_path() {
        eprintln!("SKIP docker_cli_speaks_to_the_router: no docker CLI on PATH");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("berth.sock");
    let config = dir.path().join("docker-config");
    std::fs::create_dir(&config).unwrap();
    let fake = Fake::new();
    let router = Server::new(Arc::new(fake.clone()), ServerInfo::default()).router();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let served = tokio::spawn(serve_unix(UnixListener::bind(&sock).unwrap(), router, async move {
        let _ = stop_rx.await;
    }));
    let cli = Cli { host: format!("unix://{}", sock.display()), config };

    assert_eq!(cli.ok(&["version", "--format", "{{.Server.APIVersion}}"]).await.trim(), "1.47");
    assert_eq!(cli.ok(&["ps", "-a", "--format", "{{.Names}}"]).await, "c1\nsilent\ntty\nup\n");

    // A full create body from the CLI decodes.
    let id = cli
        .ok(&[
            "create",
            "--name",
            "web",
            "-e",
            "A=b",
            "-p",
            "8080:80",
            "-v",
            "/tmp:/data",
            "--restart",
            "on-failure:3",
            "busybox",
            "sh",
            "-c",
            "true",
        ])
        .await;
    assert_eq!(id.trim(), "id-web");

    // run -i: attach (hijacked), wait, start; stdin piped and half-closed; output demuxed.
    let out = cli.run(&["run", "-i", "--name", "runner", "busybox", "cat"], Some(b"abc")).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "hello\n"), "stderr: {}", out.stderr);
    assert_eq!(out.stderr, "stdin closed after 3 bytes\n");
    assert_eq!(fake.rec.lock().unwrap().stdin, b"abc");

    // A TTY: one raw stream.
    let out = cli.run(&["run", "-t", "--name", "ttyrun", "busybox"], None).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "hello\n"), "stderr: {}", out.stderr);
    assert_eq!(cli.ok(&["run", "-d", "--name", "bg", "busybox"]).await.trim(), "id-bg");

    let out = cli.run(&["logs", "c1"], None).await;
    assert_eq!((out.code, out.stdout.as_str(), out.stderr.as_str()), (0, "out\n", "err\n"));

    let out = cli.run(&["exec", "up", "ls"], None).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "hello\n"), "stderr: {}", out.stderr);

    let out = cli.run(&["exec", "-i", "up", "cat"], Some(b"xyz")).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "hello\n"), "stderr: {}", out.stderr);
    assert_eq!(out.stderr, "stdin closed after 3 bytes\n");

    assert_eq!(cli.ok(&["info", "--format", "{{.Name}}"]).await.trim(), "fake");
    cli.ok(&["system", "df"]).await;
    cli.ok(&["container", "prune", "-f"]).await;
    cli.ok(&["image", "prune", "-f"]).await;
    cli.ok(&["images"]).await;
    assert_eq!(cli.ok(&["inspect", "--format", "{{.Id}}", "c1"]).await.trim(), "id1");
    assert_eq!(
        cli.ok(&["image", "inspect", "--format", "{{.Id}}", "localhost:5000/foo/bar:tag"])
            .await
            .trim(),
        "localhost:5000/foo/bar:tag"
    );
    cli.ok(&["tag", "localhost:5000/foo/bar:tag", "other:v1"]).await;
    cli.ok(&["stop", "up"]).await;
    cli.ok(&["rm", "-f", "web"]).await;

    let out = cli.run(&["import", "-", "imported/base:1"], Some(&[0u8; 1024])).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), format!("sha256:{:064x}", 1024));

    let out = cli.run(&["rm", "nope"], None).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("No such container: nope"), "{}", out.stderr);

    // Images in and out: progress streams, errors before and after the first message.
    let out = cli.ok(&["pull", "busybox"]).await;
    assert!(out.contains("Status: Downloaded newer image for busybox:latest"), "{out}");
    let out = cli.run(&["pull", "nope"], None).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("Error response from daemon: manifest for nope:latest not found"), "{}", out.stderr);
    let out = cli.run(&["pull", "broken"], None).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("unexpected EOF"), "{}", out.stderr);
    cli.ok(&["push", "localhost:5000/foo/bar:tag"]).await;
    let out = cli.run(&["push", "localhost:5000/nope"], None).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("An image does not exist locally with the tag: localhost:5000/nope"), "{}", out.stderr);
    let saved = dir.path().join("saved.tar");
    cli.ok(&["save", "-o", saved.to_str().unwrap(), "localhost:5000/foo/bar:tag"]).await;
    assert_eq!(std::fs::read(&saved).unwrap(), b"tar of localhost:5000/foo/bar:tag");
    let out = cli.ok(&["load", "-i", saved.to_str().unwrap()]).await;
    assert!(out.starts_with("Loaded image: loaded:latest\nLoaded image ID: sha256:"), "{out}");
    let out = cli.ok(&["commit", "-m", "msg", "-a", "me", "-c", "CMD [\"sh\"]", "c1", "app:v1"]).await;
    assert_eq!(out.trim(), format!("sha256:{}", "c".repeat(64)));
    let c = fake.rec.lock().unwrap().committed.take().unwrap();
    assert_eq!((c.repo.as_deref(), c.tag.as_deref(), c.comment.as_deref()), (Some("docker.io/library/app"), Some("v1"), Some("msg")));
    assert!(c.pause && c.config.is_none(), "{c:?}");
    let exported = dir.path().join("exported.tar");
    cli.ok(&["export", "-o", exported.to_str().unwrap(), "c1"]).await;
    assert_eq!(std::fs::read(&exported).unwrap(), b"rootfs of id1");
    assert_eq!(cli.ok(&["diff", "c1"]).await, "C /etc\nD /etc/group\nA /made.txt\n");
    let out = cli.run(&["login", "-u", "u", "--password-stdin", "localhost:5000"], Some(b"p\n")).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Login Succeeded"), "{}", out.stdout);
    let out = cli.run(&["login", "-u", "u", "--password-stdin", "localhost:5000"], Some(b"wrong\n")).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("401 Unauthorized"), "{}", out.stderr);

    // Networks.
    assert_eq!(
        cli.ok(&["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]).await,
        "bridge bridge local\nfront bridge local\nhost host local\nnone none local\n"
    );
    let id =
        cli.ok(&["network", "create", "--subnet", "10.9.0.0/24", "--label", "a=b", "back"]).await;
    assert_eq!(id.trim(), "net-back");
    let created = fake.rec.lock().unwrap().network_created.take().unwrap();
    assert_eq!(created.ipam.unwrap().config.unwrap()[0].subnet.as_deref(), Some("10.9.0.0/24"));
    assert_eq!(
        cli.ok(&["network", "inspect", "--format", "{{.Id}}", "back"]).await.trim(),
        "net-back"
    );
    cli.ok(&["network", "connect", "--alias", "db", "--ip", "10.9.0.9", "back", "c1"]).await;
    let (net, req) = fake.rec.lock().unwrap().connected.take().unwrap();
    assert_eq!((net.as_str(), req.container.as_str()), ("back", "c1"));
    let ep = req.endpoint_config.unwrap();
    assert_eq!(ep.aliases, Some(vec!["db".to_string()]));
    assert_eq!(ep.ipam_config.unwrap().ipv4_address.as_deref(), Some("10.9.0.9"));
    cli.ok(&["network", "disconnect", "-f", "back", "c1"]).await;
    let (_, req) = fake.rec.lock().unwrap().disconnected.take().unwrap();
    assert_eq!((req.container.as_str(), req.force), ("c1", Some(true)));
    assert_eq!(cli.ok(&["network", "rm", "back"]).await.trim(), "back");
    let out = cli.run(&["network", "rm", "bridge"], None).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("bridge is a pre-defined network"), "{}", out.stderr);
    let out = cli.run(&["network", "inspect", "nope"], None).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("network nope not found"), "{}", out.stderr);
    cli.ok(&["network", "create", "spare"]).await;
    let pruned = cli.ok(&["network", "prune", "-f"]).await;
    assert!(pruned.contains("spare"), "{pruned}");
    cli.ok(&["network", "prune", "-f"]).await;
    // The legacy top-level fields that templates still use.
    assert_eq!(
        cli.ok(&["inspect", "--format", "{{.NetworkSettings.IPAddress}}", "up"]).await.trim(),
        "172.17.0.2"
    );

    let events =
        cli.ok(&["events", "--since", "0", "--until", "1", "--format", "{{.Action}}"]).await;
    assert_eq!(events, "create\nstart\n");

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), served).await.unwrap().unwrap().unwrap();
}
