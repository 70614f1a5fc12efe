//! The classic builder end to end: the real docker CLI with `DOCKER_BUILDKIT=0`, and our
//! `berth build`, against a throwaway berthd (`POST /build`).
//!
//! The C program is compiled with gcc in a Debian bookworm base made locally by debootstrap
//! (`berth_testkit::debian_tar`, once per machine) and copied as a static binary into a
//! `scratch` stage; the rest uses the busybox base. What is shown: the program runs; an
//! unchanged rebuild is fully cached with the same image id; a changed source file
//! invalidates exactly the steps from its COPY on; `--target`; build args; `.dockerignore`;
//! a Dockerfile error names its line; a failing RUN stops the build with its output and exit
//! code; a COPY from outside the context is refused; the cache survives a berthd restart;
//! `berth build`'s own context handling (stdin, `-f` outside the context, `-q`, `--iidfile`)
//! and `berth builder prune`.

use std::path::Path;
use std::process::Command;

use berth_testkit::{requires_root, run, run_with_input, Daemon};

/// The multi-stage Dockerfile: gcc in Debian, the static binary alone in `scratch`.
const GCC_DOCKERFILE: &str = r#"FROM debian-gcc:bookworm AS build
WORKDIR /src
COPY greet.h ./
COPY hello.c ./
ARG GREETING="hello from berth"
RUN gcc -static -Os -DGREETING="\"${GREETING}\"" -o /hello hello.c
FROM scratch AS final
COPY --from=build /hello /hello
ENTRYPOINT ["/hello"]
"#;

const GREET_H: &str = "#ifndef GREETING\n#define GREETING \"hello\"\n#endif\n";
const HELLO_C: &str = "#include <stdio.h>\n#include \"greet.h\"\nint main(void) { printf(\"%s\\n\", GREETING); return 0; }\n";

/// The three-step busybox Dockerfile (the benchmark's cached-rebuild target too).
const BUSYBOX_DOCKERFILE: &str = "FROM busybox\nCOPY data.txt /data.txt\nRUN wc -c /data.txt > /size\nCMD [\"cat\", \"/size\"]\n";

/// A `docker` command for this daemon with the classic builder.
fn docker(d: &Daemon) -> Command {
    let mut c = d.docker();
    c.env("DOCKER_BUILDKIT", "0");
    c
}

/// Run, expect success, return stdout (the log of the daemon on failure).
fn ok(d: &Daemon, cmd: &mut Command) -> String {
    let desc = format!("{cmd:?}");
    let (code, out, err) = run(cmd);
    assert_eq!(code, 0, "{desc} failed ({code}):\nstdout: {out}\nstderr: {err}\n--- berthd log ---\n{}", tail(&d.log()));
    out
}

/// Run, expect failure; returns (code, stdout, stderr).
fn fails(d: &Daemon, cmd: &mut Command) -> (i32, String, String) {
    let desc = format!("{cmd:?}");
    let (code, out, err) = run(cmd);
    assert_ne!(code, 0, "{desc} should fail:\nstdout: {out}\nstderr: {err}\n--- berthd log ---\n{}", tail(&d.log()));
    (code, out, err)
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn write(dir: &Path, rel: &str, content: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

/// A context directory with these files.
fn context(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("berth-build-ctx-").tempdir_in("/tmp").expect("tempdir");
    for (rel, content) in files {
        write(dir.path(), rel, content);
    }
    dir
}

/// The steps of a classic build's output: (instruction as printed, answered from the cache).
fn steps(out: &str) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Step ") {
            let text = rest.split_once(" : ").map(|(_, t)| t).unwrap_or(rest);
            v.push((text.to_string(), false));
        } else if line.trim() == "---> Using cache" {
            if let Some(last) = v.last_mut() {
                last.1 = true;
            }
        }
    }
    v
}

/// The instructions answered from the cache, and those that were not (FROM lines left out:
/// they have no cache).
fn cached_split(out: &str) -> (Vec<String>, Vec<String>) {
    let mut hit = Vec::new();
    let mut miss = Vec::new();
    for (text, cached) in steps(out) {
        if text.to_uppercase().starts_with("FROM ") {
            continue;
        }
        if cached {
            hit.push(text);
        } else {
            miss.push(text);
        }
    }
    (hit, miss)
}

/// How many steps were answered from the cache.
fn using_cache(out: &str) -> usize {
    out.lines().filter(|l| l.trim() == "---> Using cache").count()
}

/// The short id of `Successfully built <id>`.
fn built_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no 'Successfully built' in:\n{out}"))
}

/// A daemon with the Debian gcc base imported as `debian-gcc:bookworm`, or `None` (skipped
/// loudly) when the base cannot be made here.
fn daemon_with_debian() -> Option<Daemon> {
    let d = Daemon::start();
    match d.import_debian("debian-gcc:bookworm") {
        Ok(()) => Some(d),
        Err(e) => {
            eprintln!("SKIPPED: no Debian base image: {e}");
            None
        }
    }
}

fn daemon_with_busybox() -> Daemon {
    let d = Daemon::start();
    d.import_busybox("busybox:latest");
    d
}

#[test]
fn docker_cli_builds_a_c_program_in_debian_into_scratch_and_caches_it() {
    requires_root!();
    let Some(d) = daemon_with_debian() else { return };
    let ctx = context(&[("Dockerfile", GCC_DOCKERFILE), ("greet.h", GREET_H), ("hello.c", HELLO_C)]);
    let dir = ctx.path().to_str().expect("utf-8");

    // Full build, then the program runs from the scratch image.
    let first = ok(&d, docker(&d).args(["build", "--network", "none", "-t", "hello:1", dir]));
    assert!(first.contains("Successfully tagged hello:1"), "{first}");
    let (hit, _) = cached_split(&first);
    assert!(hit.is_empty(), "a first build uses no cache:\n{first}");
    assert_eq!(ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "hello:1"])), "hello from berth\n");
    // The final image is the scratch stage: just the binary.
    let (code, _, _) = run(docker(&d).args(["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", "hello:1", "-c", "true"]));
    assert_ne!(code, 0, "the scratch stage must not contain a shell");

    // Unchanged: every step from the cache, the same image. (berthd builds independent
    // stages concurrently and their messages may interleave, so multi-stage outputs are
    // checked by counts; single-stage ones step by step.)
    let again = ok(&d, docker(&d).args(["build", "--network", "none", "-t", "hello:1", dir]));
    assert_eq!(using_cache(&again), 7, "{again}");
    assert!(!again.contains("Running in"), "no container on a cached rebuild:\n{again}");
    assert_eq!(built_id(&again), built_id(&first));

    // One source file changed: exactly the steps from its COPY on are rebuilt. `--target`
    // builds the first stage alone (its compiler is there, the final stage is not built).
    write(ctx.path(), "hello.c", &HELLO_C.replace("%s\\n", "%s!\\n"));
    let changed = ok(&d, docker(&d).args(["build", "--network", "none", "--target", "build", "-t", "hello:build", dir]));
    let (hit, miss) = cached_split(&changed);
    assert_eq!(hit, vec!["WORKDIR /src", "COPY greet.h ./"], "{changed}");
    assert_eq!(
        miss,
        vec!["COPY hello.c ./", "ARG GREETING=\"hello from berth\"", "RUN gcc -static -Os -DGREETING=\"\\\"${GREETING}\\\"\" -o /hello hello.c"],
        "{changed}"
    );
    assert!(!changed.contains("COPY --from=build"), "{changed}");
    let out = ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "hello:build", "sh", "-c", "/hello && gcc --version | head -1"]));
    assert!(out.starts_with("hello from berth!\ngcc"), "{out}");
    // The whole Dockerfile now: the first stage from the cache, the final stage's COPY of
    // the new binary and what follows rebuilt.
    let full = ok(&d, docker(&d).args(["build", "--network", "none", "-t", "hello:2", dir]));
    assert_eq!(using_cache(&full), 5, "{full}");
    assert_ne!(built_id(&full), built_id(&first));
    assert_eq!(ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "hello:2"])), "hello from berth!\n");
    // The old image is untouched.
    assert_eq!(ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "hello:1"])), "hello from berth\n");

    // A build arg: the RUN that sees it (and the final stage) is rebuilt, what comes before
    // it is not.
    let arg = ok(&d, docker(&d).args(["build", "--network", "none", "--build-arg", "GREETING=bonjour", "-t", "hello:fr", dir]));
    assert_eq!(using_cache(&arg), 4, "{arg}");
    assert_eq!(ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "hello:fr"])), "bonjour!\n");
}

#[test]
fn berth_cli_builds_the_same_program() {
    requires_root!();
    let Some(d) = daemon_with_debian() else { return };
    let ctx = context(&[("Dockerfile", GCC_DOCKERFILE), ("greet.h", GREET_H), ("hello.c", HELLO_C)]);
    let dir = ctx.path().to_str().expect("utf-8");
    let first = ok(&d, d.berth().args(["build", "--network", "none", "-t", "hello:berth", dir]));
    assert!(first.starts_with("Sending build context to Docker daemon "), "{first}");
    assert!(first.contains("Step 1/9 : FROM debian-gcc:bookworm AS build\n"), "{first}");
    assert!(first.contains("Successfully tagged hello:berth\n"), "{first}");
    assert_eq!(ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "hello:berth"])), "hello from berth\n");
    assert_eq!(ok(&d, d.berth().args(["run", "--rm", "--network", "none", "hello:berth"])), "hello from berth\n");

    // Cached, -q prints only the id, --iidfile gets it too.
    let iid = ctx.path().join("iid");
    let quiet = ok(&d, d.berth().args(["build", "-q", "--network", "none", "--iidfile", iid.to_str().expect("utf-8"), dir]));
    let id = quiet.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71 && quiet.lines().count() == 1, "{quiet:?}");
    assert_eq!(std::fs::read_to_string(&iid).expect("iidfile").trim(), id);
    let want = ok(&d, docker(&d).args(["image", "inspect", "-f", "{{.Id}}", "hello:berth"]));
    assert_eq!(want.trim(), id);
}

#[test]
fn dockerignore_keeps_files_out_of_the_context() {
    requires_root!();
    let d = daemon_with_busybox();
    let files = [(".dockerignore", "secret.txt\n"), ("secret.txt", "secret\n"), ("public.txt", "public\n")];
    let ctx = context(&files);
    let dir = ctx.path().to_str().expect("utf-8");
    // Excluded: a COPY naming it fails, for both CLIs.
    write(ctx.path(), "Dockerfile", "FROM busybox\nCOPY secret.txt /\n");
    let (code, _, err) = fails(&d, docker(&d).args(["build", "--network", "none", dir]));
    assert_eq!(code, 1);
    assert!(err.contains("secret.txt"), "{err}");
    let (code, _, err) = fails(&d, d.berth().args(["build", "--network", "none", dir]));
    assert_eq!(code, 1);
    assert!(err.contains("secret.txt"), "{err}");
    // And it is absent from a copy of the whole context; the rest is there.
    write(ctx.path(), "Dockerfile", "FROM busybox\nCOPY . /ctx/\nRUN test ! -e /ctx/secret.txt && test -e /ctx/.dockerignore && cat /ctx/public.txt\n");
    for cmd in [docker(&d), d.berth()] {
        let mut cmd = cmd;
        let out = ok(&d, cmd.args(["build", "--no-cache", "--network", "none", dir]));
        assert!(out.contains("public\n"), "{out}");
    }
}

#[test]
fn a_dockerfile_error_names_its_line() {
    requires_root!();
    let d = daemon_with_busybox();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN true\n\nBOGUS x\n")]);
    let dir = ctx.path().to_str().expect("utf-8");
    for cmd in [docker(&d), d.berth()] {
        let mut cmd = cmd;
        let (code, _, err) = fails(&d, cmd.args(["build", dir]));
        assert_eq!(code, 1, "{err}");
        let lower = err.to_lowercase();
        assert!(lower.contains("line 4") && lower.contains("unknown instruction: bogus"), "{err}");
    }
}

#[test]
fn a_failing_run_stops_the_build_with_its_code_and_output() {
    requires_root!();
    let d = daemon_with_busybox();
    let ctx = context(&[("Dockerfile", "FROM busybox\nRUN echo before-failure && exit 3\nRUN echo never-run\n")]);
    let dir = ctx.path().to_str().expect("utf-8");
    for cmd in [docker(&d), d.berth()] {
        let mut cmd = cmd;
        let (code, out, err) = fails(&d, cmd.args(["build", "--network", "none", dir]));
        assert_eq!(code, 3, "docker exits with the RUN's code:\n{out}\n{err}");
        assert!(out.contains("before-failure\n"), "{out}");
        assert!(!out.contains("never-run") && !out.contains("Step 3/3"), "{out}");
        assert!(err.contains("The command '/bin/sh -c echo before-failure && exit 3' returned a non-zero code: 3"), "{err}");
    }
    // As dockerd: the failed step's container stays for inspection (`--rm` removes only
    // after success) ...
    let ps = ok(&d, docker(&d).args(["ps", "-aq", "--filter", "status=exited"]));
    assert_eq!(ps.lines().count(), 2, "one failed container per build: {ps}");
    // ... unless `--force-rm`.
    let (code, _, _) = fails(&d, docker(&d).args(["build", "--force-rm", "--network", "none", dir]));
    assert_eq!(code, 3);
    let ps = ok(&d, docker(&d).args(["ps", "-aq"]));
    assert_eq!(ps.lines().count(), 2, "--force-rm leaves nothing: {ps}");
}

#[test]
fn copy_from_outside_the_context_is_refused() {
    requires_root!();
    let d = daemon_with_busybox();
    let parent = context(&[("outside", "not yours\n"), ("ctx/Dockerfile", "FROM busybox\nCOPY ../outside /x\n")]);
    let dir = parent.path().join("ctx");
    let dir = dir.to_str().expect("utf-8");
    for cmd in [docker(&d), d.berth()] {
        let mut cmd = cmd;
        let (code, _, err) = fails(&d, cmd.args(["build", "--network", "none", dir]));
        assert_eq!(code, 1);
        assert!(err.contains("forbidden path outside the build context: ../outside"), "{err}");
    }
}

#[test]
fn the_cache_survives_a_daemon_restart() {
    requires_root!();
    let mut d = daemon_with_busybox();
    let ctx = context(&[("Dockerfile", BUSYBOX_DOCKERFILE), ("data.txt", "twelve bytes")]);
    let dir = ctx.path().to_str().expect("utf-8");
    let first = ok(&d, docker(&d).args(["build", "--network", "none", "-t", "sized", dir]));
    assert_eq!(ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "sized"])), "12 /data.txt\n");
    d.kill9();
    d.spawn(&[]);
    let again = ok(&d, docker(&d).args(["build", "--network", "none", "-t", "sized", dir]));
    let (hit, miss) = cached_split(&again);
    assert!(miss.is_empty() && hit.len() == 3, "{again}");
    assert_eq!(built_id(&again), built_id(&first));
    // `docker image prune` keeps what the cache needs or the cache simply misses; never an error.
    ok(&d, docker(&d).args(["image", "prune", "-f"]));
    ok(&d, docker(&d).args(["build", "--network", "none", "-t", "sized", dir]));
}

#[test]
fn berth_build_contexts_from_stdin_and_outside_dockerfiles() {
    requires_root!();
    let d = daemon_with_busybox();
    // A Dockerfile on stdin, no context.
    let (code, out, err) = run_with_input(d.berth().args(["build", "--network", "none", "-t", "stdin:1", "-"]), b"FROM busybox\nRUN echo from-stdin > /f\n");
    assert_eq!(code, 0, "{out}\n{err}\n{}", tail(&d.log()));
    assert_eq!(ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "stdin:1", "cat", "/f"])), "from-stdin\n");
    // A tar on stdin, -f naming a file in it.
    let ctx = context(&[("sub/Build.df", "FROM busybox\nCOPY data.txt /d\n"), ("data.txt", "in-tar\n")]);
    let tar = Command::new("tar").arg("-C").arg(ctx.path()).args(["-cf", "-", "."]).output().expect("tar");
    let (code, out, err) = run_with_input(d.berth().args(["build", "-f", "sub/Build.df", "-t", "stdin:2", "-"]), &tar.stdout);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(ok(&d, docker(&d).args(["run", "--rm", "--network", "none", "stdin:2", "cat", "/d"])), "in-tar\n");
    // A Dockerfile outside the context (sent under a random name).
    let outside = context(&[("Outside.df", "FROM busybox\nCOPY data.txt /d\nRUN cat /d\n")]);
    let df = outside.path().join("Outside.df");
    let dir = ctx.path().to_str().expect("utf-8");
    let out = ok(&d, d.berth().args(["build", "--network", "none", "-f", df.to_str().expect("utf-8"), dir]));
    assert!(out.contains("in-tar\n"), "{out}");
    // A Dockerfile on stdin with a directory context.
    let (code, out, err) = run_with_input(d.berth().args(["build", "--network", "none", "-f", "-", dir]), b"FROM busybox\nCOPY data.txt /d\nRUN cat /d && echo via-stdin\n");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("in-tar\nvia-stdin\n"), "{out}");
    // Flag and context errors are docker's.
    let (code, _, err) = fails(&d, d.berth().args(["build", "/nonexistent/ctx"]));
    assert_eq!((code, err.trim()), (1, "unable to prepare context: path \"/nonexistent/ctx\" not found"));
    let (code, _, err) = fails(&d, d.berth().args(["build", "-f", "-", "-"]));
    assert_eq!((code, err.trim()), (1, "invalid argument: can't use stdin for both build context and dockerfile"));
}

/// docker CLI 28 sends a Dockerfile from outside the context appended to the context tar
/// without the last entry's padding and without the end-of-archive blocks (its
/// `ReplaceFileTarWrapper`); dockerd's Go reader accepts that, so must berthd.
#[test]
fn docker_cli_dockerfile_outside_the_context_in_an_unpadded_tar() {
    requires_root!();
    let d = daemon_with_busybox();
    let ctx = context(&[("data.txt", "in-ctx\n")]);
    let outside = context(&[("Outside.df", "FROM busybox\nCOPY data.txt /d\nRUN cat /d\n")]);
    let df = outside.path().join("Outside.df");
    let out = ok(&d, docker(&d).args(["build", "--network", "none", "-f", df.to_str().expect("utf-8"), ctx.path().to_str().expect("utf-8")]));
    assert!(out.contains("in-ctx\n"), "{out}");
}

#[test]
fn builder_prune_drops_the_cache() {
    requires_root!();
    let d = daemon_with_busybox();
    let ctx = context(&[("Dockerfile", BUSYBOX_DOCKERFILE), ("data.txt", "abc")]);
    let dir = ctx.path().to_str().expect("utf-8");
    ok(&d, d.berth().args(["build", "--network", "none", dir]));
    // `docker system df` counts the cache records (one per cached step).
    let df = ok(&d, docker(&d).args(["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]));
    let count = |df: &str| df.lines().find_map(|l| l.strip_prefix("Build Cache ")).map(str::to_owned);
    assert!(count(&df).is_some_and(|n| n != "0"), "{df}");
    let out = ok(&d, d.berth().args(["builder", "prune", "-a", "-f"]));
    let df = ok(&d, docker(&d).args(["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]));
    assert_eq!(count(&df).as_deref(), Some("0"), "{df}");
    assert!(out.lines().last().unwrap_or("").starts_with("Total reclaimed space: "), "{out}");
    let again = ok(&d, d.berth().args(["build", "--network", "none", dir]));
    let (hit, _) = cached_split(&again);
    assert!(hit.is_empty(), "the cache was pruned:\n{again}");
    // The docker CLI's prune speaks the same endpoint.
    let out = ok(&d, docker(&d).args(["builder", "prune", "-a", "-f"]));
    assert!(out.contains("Total reclaimed space: "), "{out}");
}

#[test]
fn step_output_parses() {
    let out = "Sending build context to Docker daemon  2.048kB\r\r\nStep 1/3 : FROM busybox\n ---> b59767dcadf9\nStep 2/3 : ENV A=1\n ---> Using cache\n ---> 2773f246cff0\nStep 3/3 : RUN echo hi\n ---> Running in 1\nhi\n ---> 6b37d844f866\nSuccessfully built 6b37d844f866\n";
    assert_eq!(
        steps(out),
        vec![("FROM busybox".to_string(), false), ("ENV A=1".to_string(), true), ("RUN echo hi".to_string(), false)]
    );
    assert_eq!(cached_split(out), (vec!["ENV A=1".to_string()], vec!["RUN echo hi".to_string()]));
    assert_eq!(built_id(out), "6b37d844f866");
}
