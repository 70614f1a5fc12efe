//! `cp` through the real docker CLI and berth against berthd: a tree with modes, set-id bits,
//! a symlink, a hard link and foreign owners goes into running and stopped containers and
//! back out; a bind mount of a running container is reached through its mount namespace, a
//! stopped one's through the grafted bind; `-a` gives the files to the container's user;
//! Docker's errors for a missing path, a missing container, a directory onto a file, a file
//! onto a directory and a read-only root filesystem.
//!
//! Ownership follows dockerd rather than its documentation: into a container the archive's
//! owners are kept (the client sends them), `-a` with a container `User` chowns everything
//! to that user; out of a container the files belong to whoever runs `cp` (root here).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use berth_testkit::{requires_root, run, run_with_input, Daemon};

/// Which CLI drives a case.
#[derive(Debug, Clone, Copy)]
enum Cli {
    Docker,
    Berth,
}

fn cli(d: &Daemon, which: Cli) -> Command {
    match which {
        Cli::Docker => d.docker(),
        Cli::Berth => d.berth(),
    }
}

/// Run and expect success; returns stdout.
fn ok(d: &Daemon, cmd: &mut Command) -> String {
    let desc = format!("{cmd:?}");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{desc} failed ({code}):\nstdout: {out}\nstderr: {err}\n--- log ---\n{}", d.log());
    out
}

/// Run and expect failure; returns stderr.
fn fails(d: &Daemon, cmd: &mut Command) -> String {
    let desc = format!("{cmd:?}");
    let (code, out, err) = run(cmd);
    assert_ne!(code, 0, "{desc} should have failed:\nstdout: {out}\nstderr: {err}\n--- log ---\n{}", d.log());
    err
}

/// The local tree every case copies: `tree/f` (4750, 1234:5678, hard-linked as `sub/h`),
/// `tree/x` (0600), `tree/l -> f`, `tree/sub` (0700, 1234:5678).
fn make_tree(root: &Path) {
    let t = root.join("tree");
    fs::create_dir_all(t.join("sub")).unwrap();
    fs::write(t.join("f"), "hello\n").unwrap();
    fs::write(t.join("x"), "secret\n").unwrap();
    std::os::unix::fs::symlink("f", t.join("l")).unwrap();
    fs::hard_link(t.join("f"), t.join("sub/h")).unwrap();
    for p in ["f", "sub"] {
        std::os::unix::fs::lchown(t.join(p), Some(1234), Some(5678)).unwrap();
    }
    fs::set_permissions(t.join("f"), fs::Permissions::from_mode(0o4750)).unwrap();
    fs::set_permissions(t.join("x"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(t.join("sub"), fs::Permissions::from_mode(0o700)).unwrap();
}

/// `cp CONTAINER:PATH -` listed by the system tar: name -> (mode string, "uid/gid", link).
fn listing(d: &Daemon, which: Cli, src: &str) -> BTreeMap<String, (String, String, String)> {
    let out = cli(d, which).args(["cp", src, "-"]).stdin(Stdio::null()).output().expect("cp to stdout");
    assert!(out.status.success(), "cp {src} - failed: {}\n{}", String::from_utf8_lossy(&out.stderr), d.log());
    let (code, list, err) = run_with_input(Command::new("tar").args(["-tv", "--numeric-owner", "-f", "-"]), &out.stdout);
    assert_eq!(code, 0, "tar: {err}");
    let mut m = BTreeMap::new();
    for line in list.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // mode owner size date time name [-> target | link to target]
        if f.len() < 6 {
            continue;
        }
        let link = if f.len() > 6 { f[6..].join(" ") } else { String::new() };
        m.insert(f[5].trim_end_matches('/').to_string(), (f[0].to_string(), f[1].to_string(), link));
    }
    m
}

/// What the copied tree must look like in the container, named under `base`, with `owner`
/// for the entries that are 1234:5678 locally and `root_owner` for the rest.
fn expect_tree(base: &str, owner: &str, root_owner: &str) -> BTreeMap<String, (String, String, String)> {
    let e = |mode: &str, o: &str, link: &str| (mode.to_string(), o.to_string(), link.to_string());
    let mut m = BTreeMap::new();
    m.insert(base.to_string(), e("drwxr-xr-x", root_owner, ""));
    m.insert(format!("{base}/f"), e("-rwsr-x---", owner, ""));
    m.insert(format!("{base}/l"), e("lrwxrwxrwx", root_owner, "-> f"));
    m.insert(format!("{base}/sub"), e("drwx------", owner, ""));
    m.insert(format!("{base}/sub/h"), e("hrwsr-x---", owner, &format!("link to {base}/f")));
    m.insert(format!("{base}/x"), e("-rw-------", root_owner, ""));
    m
}

/// The tree copied back out: contents, modes, the symlink and the hard link, owned by root.
fn check_local_copy(dir: &Path) {
    assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "hello\n");
    assert_eq!(fs::read_to_string(dir.join("x")).unwrap(), "secret\n");
    let mode = |p: &str| fs::symlink_metadata(dir.join(p)).unwrap().mode() & 0o7777;
    assert_eq!((mode("f"), mode("x"), mode("sub")), (0o4750, 0o600, 0o700), "{}", dir.display());
    assert_eq!(fs::read_link(dir.join("l")).unwrap(), Path::new("f"));
    let ino = |p: &str| fs::metadata(dir.join(p)).unwrap().ino();
    assert_eq!(ino("f"), ino("sub/h"), "hard link kept");
    for p in ["f", "sub", "sub/h", "x"] {
        let md = fs::symlink_metadata(dir.join(p)).unwrap();
        assert_eq!((md.uid(), md.gid()), (0, 0), "{p} belongs to whoever runs cp");
    }
}

fn round_trip(d: &Daemon, which: Cli, running: bool, tmp: &Path) {
    let case = format!("{which:?}-{}", if running { "running" } else { "stopped" });
    let bind = tmp.join(format!("bind-{case}"));
    fs::create_dir_all(&bind).unwrap();
    let vol = format!("{}:/mnt", bind.display());
    let name = format!("cp-{}", case.to_lowercase());
    if running {
        ok(d, d.docker().args(["run", "-d", "--name", &name, "--network", "none", "-v", &vol, "busybox", "sleep", "1000"]));
    } else {
        // Started once and stopped (its bundle has the bind), then one never started.
        ok(d, d.docker().args(["run", "--name", &name, "--network", "none", "-v", &vol, "busybox", "true"]));
    }
    let tree = tmp.join("tree");
    let tree_s = tree.display().to_string();

    // In: into an existing directory (keeps the name), and to a new name.
    ok(d, cli(d, which).args(["cp", &tree_s, &format!("{name}:/")]));
    ok(d, cli(d, which).args(["cp", &tree_s, &format!("{name}:/renamed")]));
    // The content of a directory (`/.`) into a new directory.
    ok(d, cli(d, which).args(["cp", &format!("{tree_s}/."), &format!("{name}:/content")]));
    assert_eq!(listing(d, which, &format!("{name}:/tree")), expect_tree("tree", "1234/5678", "0/0"), "{case}");
    assert_eq!(listing(d, which, &format!("{name}:/renamed")), expect_tree("renamed", "1234/5678", "0/0"), "{case}");
    assert_eq!(listing(d, which, &format!("{name}:/content")), expect_tree("content", "1234/5678", "0/0"), "{case}");

    // Into the bind mount: the host directory receives it.
    ok(d, cli(d, which).args(["cp", &format!("{tree_s}/f"), &format!("{name}:/mnt/copied")]));
    assert_eq!(fs::read_to_string(bind.join("copied")).unwrap(), "hello\n", "{case}: through the bind mount");
    fs::write(bind.join("from-host"), "host\n").unwrap();
    let out = tmp.join(format!("out-{case}"));
    fs::create_dir_all(&out).unwrap();
    ok(d, cli(d, which).args(["cp", &format!("{name}:/mnt/from-host"), &out.display().to_string()]));
    assert_eq!(fs::read_to_string(out.join("from-host")).unwrap(), "host\n", "{case}");

    // Out: to a new local name, and into an existing directory.
    ok(d, cli(d, which).args(["cp", &format!("{name}:/renamed"), &out.join("back").display().to_string()]));
    check_local_copy(&out.join("back"));
    ok(d, cli(d, which).args(["cp", &format!("{name}:/tree"), &out.display().to_string()]));
    check_local_copy(&out.join("tree"));
    // A single file to a new name; a symlink is copied as a link unless -L.
    ok(d, cli(d, which).args(["cp", &format!("{name}:/tree/x"), &out.join("x2").display().to_string()]));
    assert_eq!(fs::read_to_string(out.join("x2")).unwrap(), "secret\n");
    ok(d, cli(d, which).args(["cp", &format!("{name}:/tree/l"), &out.join("l2").display().to_string()]));
    assert_eq!(fs::read_link(out.join("l2")).unwrap(), Path::new("f"));
    ok(d, cli(d, which).args(["cp", "-L", &format!("{name}:/tree/l"), &out.join("l3").display().to_string()]));
    assert_eq!(fs::read_to_string(out.join("l3")).unwrap(), "hello\n", "{case}: -L follows");

    // -a: a container with a User gets everything owned by that user.
    let owned = format!("{name}-user");
    ok(d, d.docker().args(["create", "--name", &owned, "--network", "none", "-u", "4321:8765", "busybox", "true"]));
    ok(d, cli(d, which).args(["cp", "-a", &tree_s, &format!("{owned}:/")]));
    assert_eq!(listing(d, which, &format!("{owned}:/tree")), expect_tree("tree", "4321/8765", "4321/8765"), "{case} -a");
    ok(d, d.docker().args(["rm", "-f", &name, &owned]));
}

#[test]
fn cp_round_trips_a_tree_through_both_clis_running_and_stopped() {
    requires_root!();
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let tmp = tempfile::Builder::new().prefix("berth-cp-").tempdir_in("/tmp").unwrap();
    make_tree(tmp.path());
    for which in [Cli::Docker, Cli::Berth] {
        for running in [true, false] {
            round_trip(&d, which, running, tmp.path());
        }
    }
}

#[test]
fn cp_into_a_never_started_container_and_from_a_tar_on_stdin() {
    requires_root!();
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let tmp = tempfile::Builder::new().prefix("berth-cp-").tempdir_in("/tmp").unwrap();
    make_tree(tmp.path());
    let tarball = Command::new("tar").args(["-C", &tmp.path().display().to_string(), "-cf", "-", "tree"]).output().unwrap();
    assert!(tarball.status.success(), "{}", String::from_utf8_lossy(&tarball.stderr));
    for which in [Cli::Docker, Cli::Berth] {
        let name = format!("fresh-{which:?}").to_lowercase();
        ok(&d, d.docker().args(["create", "--name", &name, "--network", "none", "busybox", "true"]));
        let (c, o, e) = run_with_input(cli(&d, which).args(["cp", "-", &format!("{name}:/etc")]), &tarball.stdout);
        assert_eq!(c, 0, "{which:?}: {o}{e}\n{}", d.log());
        assert_eq!(listing(&d, which, &format!("{name}:/etc/tree")), expect_tree("tree", "1234/5678", "0/0"), "{which:?}");
        // `-` as the source needs a directory.
        let (c, _, e) = run_with_input(cli(&d, which).args(["cp", "-", &format!("{name}:/etc/passwd")]), &tarball.stdout);
        assert_ne!(c, 0, "{which:?}");
        assert!(e.contains(&format!("destination \"{name}:/etc/passwd\" must be a directory")), "{which:?}: {e}");
        // dockerd's events for the two directions.
        let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
        let events = ok(
            &d,
            d.docker().args(["events", "--since", "0", "--until", &until.to_string(), "--filter", &format!("container={name}"), "--format", "{{.Action}}"]),
        );
        assert!(events.lines().any(|l| l == "extract-to-dir"), "{which:?}: {events}");
        assert!(events.lines().any(|l| l == "archive-path"), "{which:?}: {events}");
        ok(&d, d.docker().args(["rm", "-f", &name]));
    }
}

#[test]
fn cp_errors_read_as_docker() {
    requires_root!();
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let tmp = tempfile::Builder::new().prefix("berth-cp-").tempdir_in("/tmp").unwrap();
    make_tree(tmp.path());
    let tree = tmp.path().join("tree").display().to_string();
    let out = tmp.path().join("out").display().to_string();
    ok(&d, d.docker().args(["run", "-d", "--name", "errs", "--network", "none", "busybox", "sleep", "1000"]));
    ok(&d, d.docker().args(["run", "-d", "--name", "ro", "--read-only", "--network", "none", "busybox", "sleep", "1000"]));
    ok(&d, d.docker().args(["exec", "errs", "mkdir", "-p", "/d/f"]));
    for which in [Cli::Docker, Cli::Berth] {
        let e = fails(&d, cli(&d, which).args(["cp", "errs:/nope", &out]));
        assert!(e.contains("Error response from daemon: Could not find the file /nope in container errs"), "{which:?}: {e}");
        let e = fails(&d, cli(&d, which).args(["cp", &tree, "errs:/nodir/x"]));
        assert!(e.contains("Could not find the file /nodir in container errs"), "{which:?}: {e}");
        let e = fails(&d, cli(&d, which).args(["cp", "nosuch:/etc", &out]));
        assert!(e.contains("No such container: nosuch"), "{which:?}: {e}");
        // A directory onto a file (decided by the client).
        let e = fails(&d, cli(&d, which).args(["cp", &tree, "errs:/etc/hostname"]));
        assert!(e.contains("cannot copy directory"), "{which:?}: {e}");
        // A file onto a directory (refused by the daemon: noOverwriteDirNonDir).
        let e = fails(&d, cli(&d, which).args(["cp", &format!("{tree}/f"), "errs:/d/"]));
        assert!(e.contains("cannot overwrite directory \"/d/f\" with non-directory \"/d\""), "{which:?}: {e}");
        // A file into a directory that does not exist.
        let e = fails(&d, cli(&d, which).args(["cp", &format!("{tree}/f"), "errs:/newdir/"]));
        assert!(e.contains("no such directory"), "{which:?}: {e}");
        let e = fails(&d, cli(&d, which).args(["cp", &tree, "ro:/"]));
        assert!(e.contains("container rootfs is marked read-only"), "{which:?}: {e}");
        let e = fails(&d, cli(&d, which).args(["cp", "errs:/etc", "nosuch:/etc"]));
        assert!(e.contains("copying between containers is not supported"), "{which:?}: {e}");
        let e = fails(&d, cli(&d, which).args(["cp", &tree, &out]));
        assert!(e.contains("must specify at least one container source"), "{which:?}: {e}");
    }
}

#[test]
fn cp_reaches_named_volumes_of_running_and_stopped_containers() {
    requires_root!();
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let tmp = tempfile::Builder::new().prefix("berth-cp-").tempdir_in("/tmp").unwrap();
    make_tree(tmp.path());
    let f = tmp.path().join("tree/f").display().to_string();
    ok(&d, d.docker().args(["volume", "create", "cpvol"]));
    ok(&d, d.docker().args(["run", "-d", "--name", "vrun", "--network", "none", "-v", "cpvol:/data", "busybox", "sleep", "1000"]));
    for which in [Cli::Docker, Cli::Berth] {
        let name = format!("in-{which:?}");
        ok(&d, cli(&d, which).args(["cp", &f, &format!("vrun:/data/{name}")]));
        // The container sees it in its volume.
        assert_eq!(ok(&d, d.docker().args(["exec", "vrun", "cat", &format!("/data/{name}")])), "hello\n", "{which:?}");
    }
    ok(&d, d.docker().args(["stop", "-t", "0", "vrun"]));
    // Stopped: the volume is grafted where the container had it.
    for which in [Cli::Docker, Cli::Berth] {
        let out = tmp.path().join(format!("out-{which:?}"));
        ok(&d, cli(&d, which).args(["cp", "vrun:/data/in-Docker", &out.display().to_string()]));
        assert_eq!(fs::read_to_string(&out).unwrap(), "hello\n", "{which:?}");
        ok(&d, cli(&d, which).args(["cp", &f, &format!("vrun:/data/stopped-{which:?}")]));
    }
    // Another container on the volume sees what was copied while the first was stopped.
    let seen = ok(&d, d.docker().args(["run", "--rm", "--network", "none", "-v", "cpvol:/v", "busybox", "ls", "/v"]));
    let mut names: Vec<&str> = seen.split_whitespace().collect();
    names.sort();
    assert_eq!(names, ["in-Berth", "in-Docker", "stopped-Berth", "stopped-Docker"]);
    ok(&d, d.docker().args(["rm", "-f", "vrun"]));
    ok(&d, d.docker().args(["volume", "rm", "cpvol"]));
}

#[test]
fn cp_on_a_terminal_reports_what_it_copied_as_docker() {
    requires_root!();
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    let tmp = tempfile::Builder::new().prefix("berth-cp-").tempdir_in("/tmp").unwrap();
    make_tree(tmp.path());
    let f = tmp.path().join("tree/x").display().to_string();
    ok(&d, d.docker().args(["create", "--name", "tty", "--network", "none", "busybox", "true"]));
    let berth = berth_testkit::bin("berth").display().to_string();
    for (which, prog) in [(Cli::Docker, "docker".to_string()), (Cli::Berth, berth)] {
        let back = tmp.path().join(format!("back-{which:?}")).display().to_string();
        // `script` gives the CLI a terminal, so it is not quiet: one 6-byte file is a
        // 2048-byte archive (header, one block, the two end blocks).
        let line = format!("{prog} cp {f} tty:/x-{which:?} && {prog} cp tty:/x-{which:?} {back}");
        let out = ok(
            &d,
            Command::new("script")
                .args(["-qfec", &line, "/dev/null"])
                .env("DOCKER_HOST", d.host())
                .env("DOCKER_CONFIG", d.dir.path().join("docker-config")),
        );
        assert!(out.contains(&format!("Successfully copied 2.05kB to tty:/x-{which:?}")), "{which:?}: {out:?}");
        assert!(out.contains(&format!("Successfully copied 2.05kB to {back}")), "{which:?}: {out:?}");
        // -q silences it.
        let line = format!("{prog} cp -q {f} tty:/q-{which:?}");
        let out = ok(&d, Command::new("script").args(["-qfec", &line, "/dev/null"]).env("DOCKER_HOST", d.host()).env("DOCKER_CONFIG", d.dir.path().join("docker-config")));
        assert!(!out.contains("Successfully"), "{which:?}: {out:?}");
    }
}
