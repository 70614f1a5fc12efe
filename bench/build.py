#!/usr/bin/env python3
"""Classic-builder speed: berthd vs dockerd (`DOCKER_BUILDKIT=0`), one run.

Usage: sudo bench/build.py [--runs N] [--skip-gcc] [--skip-dockerd] [--no-build] [--bin-dir DIR]

Two Dockerfiles, each built through the real docker CLI against berthd and against Debian's
dockerd (docker.io, started on temporary roots as bench/start.py does), and through our
`berth` CLI against berthd:

* busybox, three steps (`COPY data.txt`, `RUN wc -c`, `CMD`) — the cached-rebuild target:
  dockerd ~100 ms, berthd must take <= 30 ms through the docker CLI;
* gcc multi-stage: a C program compiled with gcc in a Debian bookworm base (debootstrap,
  cached in target/testkit/ as the e2e tests make it) and copied into `scratch`.

For each: a full build (`--no-cache`), a cached rebuild (nothing changed: every step must say
`Using cache`, else the run aborts) and a rebuild after changing one source file (data.txt /
hello.c, new content every time). Daemons are interleaved per repetition; medians, p90 and
dockerd/berthd ratios go to bench/results/build-latest.md and .json. Builds release binaries
first (unless --no-build). Cleans up everything it made.
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "berth")
TESTKIT = os.path.join(ROOT, "target", "testkit")

BUSYBOX_DOCKERFILE = 'FROM busybox\nCOPY data.txt /data.txt\nRUN wc -c /data.txt > /size\nCMD ["cat", "/size"]\n'
GCC_DOCKERFILE = r'''FROM debian-gcc:bookworm AS build
WORKDIR /src
COPY greet.h ./
COPY hello.c ./
ARG GREETING="hello from berth"
RUN gcc -static -Os -DGREETING="\"${GREETING}\"" -o /hello hello.c
FROM scratch AS final
COPY --from=build /hello /hello
ENTRYPOINT ["/hello"]
'''
GREET_H = '#ifndef GREETING\n#define GREETING "hello"\n#endif\n'


def hello_c(n):
    return '#include <stdio.h>\n#include "greet.h"\nint main(void) { printf("%%s %d\\n", GREETING); return 0; }\n' % n


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def quiet(cmd, env=None):
    return subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_socket(path, proc, what, log):
    for _ in range(600):
        if os.path.exists(path):
            r = quiet(["docker", "version"], env={**os.environ, "DOCKER_HOST": "unix://" + path})
            if r.returncode == 0:
                return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    sys.exit(f"{what} did not start; see {log}")


def busybox_tar(work):
    """target/testkit/busybox.tar (the e2e tests' base), else a fresh one in work."""
    cached = os.path.join(TESTKIT, "busybox.tar")
    if os.path.isfile(cached):
        return cached
    root = os.path.join(work, "busybox-rootfs")
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"]:
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
    for a in subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split():
        if a != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", a))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    tar = os.path.join(work, "busybox.tar")
    sh(["tar", "-C", root, "-cf", tar, "."])
    return tar


def debian_mirror():
    """The archive apt uses for bookworm (as testkit::debian_mirror)."""
    if os.environ.get("BERTH_DEBIAN_MIRROR"):
        return os.environ["BERTH_DEBIAN_MIRROR"]
    files = ["/etc/apt/sources.list"]
    d = "/etc/apt/sources.list.d"
    if os.path.isdir(d):
        files += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    for path in files:
        try:
            text = open(path).read()
        except OSError:
            continue
        for line in text.splitlines():
            w = [x for x in line.split() if not x.startswith("[")]
            if len(w) >= 3 and w[0] == "deb" and w[2] == "bookworm" and "security" not in w[1]:
                return w[1].rstrip("/")
        for stanza in text.split("\n\n"):
            fields = {}
            for l in stanza.splitlines():
                if ":" in l and not l.startswith("#"):
                    k, v = l.split(":", 1)
                    fields[k.strip().lower()] = v.strip()
            if "deb" in fields.get("types", "deb").split() and "bookworm" in fields.get("suites", "").split():
                for u in fields.get("uris", "").split():
                    if "security" not in u:
                        return u.rstrip("/")
    return "http://deb.debian.org/debian"


def debian_tar():
    """target/testkit/debian-bookworm-gcc.tar, made (once per machine, under the same lock as
    testkit::debian_tar) with debootstrap if missing."""
    tar = os.path.join(TESTKIT, "debian-bookworm-gcc.tar")
    if os.path.isfile(tar):
        return tar
    if not shutil.which("debootstrap"):
        return None
    os.makedirs(TESTKIT, exist_ok=True)
    import fcntl
    with open(os.path.join(TESTKIT, "debian-bookworm-gcc.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(tar):
            return tar
        work = tempfile.mkdtemp(prefix="debian-", dir=TESTKIT)
        root = os.path.join(work, "rootfs")
        print("making the Debian base with debootstrap (once per machine)...", flush=True)
        try:
            r = subprocess.run(["debootstrap", "--variant=minbase", "--include=gcc,libc6-dev", "bookworm", root,
                                debian_mirror()], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            unmount_under(root)
            if r.returncode != 0:
                print(f"debootstrap failed: {r.stderr.decode()[-800:]}", flush=True)
                return None
            for d in ["dev", "var/cache/apt/archives", "var/lib/apt/lists"]:
                p = os.path.join(root, d)
                for e in os.listdir(p) if os.path.isdir(p) else []:
                    q = os.path.join(p, e)
                    shutil.rmtree(q) if os.path.isdir(q) and not os.path.islink(q) else os.remove(q)
            sh(["tar", "--numeric-owner", "-C", root, "-cf", os.path.join(work, "debian.tar"), "."])
            os.rename(os.path.join(work, "debian.tar"), tar)
            return tar
        finally:
            unmount_under(root)
            shutil.rmtree(work, ignore_errors=True)


def unmount_under(path):
    mounts = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                mounts.append(mp)
    for mp in sorted(mounts, key=len, reverse=True):
        quiet(["umount", "-l", mp])


def build(cmd, env, ctx, extra=()):
    """Run one build; (ms, stdout)."""
    t = time.perf_counter()
    r = subprocess.run(cmd + ["build", "--network", "none", *extra, ctx], env=env, capture_output=True, text=True)
    dt = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} build {ctx} failed ({r.returncode}):\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
    return dt, r.stdout


def cache_hits(out):
    """How many steps were answered from the cache (counted: berthd builds independent stages
    concurrently, so their lines may interleave), and whether any container ran."""
    hits = sum(1 for line in out.splitlines() if line.strip() == "---> Using cache")
    return hits, "Running in " in out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-gcc", action="store_true", help="only the busybox Dockerfile")
    ap.add_argument("--skip-dockerd", action="store_true")
    ap.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    ap.add_argument("--bin-dir", default=BIN, help="where berthd, berth and berth-shim are (default target/berth)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    sh([os.path.join(ROOT, "scripts", "deps")])
    if not a.no_build:
        sh([os.path.join(ROOT, "scripts", "build"), "release"], stdout=subprocess.DEVNULL)

    work = tempfile.mkdtemp(prefix="berth-buildbench-")
    procs = []
    try:
        # Private copies: target/berth may be rebuilt by someone else while this runs (berthd
        # finds berth-shim next to itself).
        bin_dir = os.path.join(work, "bin")
        os.makedirs(bin_dir)
        for b in ["berthd", "berth", "berth-shim"]:
            shutil.copy2(os.path.join(a.bin_dir, b), os.path.join(bin_dir, b))
        btar = busybox_tar(work)
        dtar = None if a.skip_gcc else debian_tar()
        if not a.skip_gcc and dtar is None:
            print("no Debian base (debootstrap missing or failed): gcc cases skipped", flush=True)

        bsock = os.path.join(work, "berth.sock")
        blog = os.path.join(work, "berthd.log")
        bd = subprocess.Popen([os.path.join(bin_dir, "berthd"), "--data-root", os.path.join(work, "bdata"),
                               "--exec-root", os.path.join(work, "bexec"), "-H", "unix://" + bsock,
                               "--iptables=false"],
                              stdout=open(blog, "w"), stderr=subprocess.STDOUT)
        procs.append(bd)
        wait_socket(bsock, bd, "berthd", blog)
        cfg = os.path.join(work, "docker-config")
        base = {**os.environ, "DOCKER_CONFIG": cfg, "DOCKER_BUILDKIT": "0", "DOCKER_CLI_HINTS": "false"}
        envs = {"berthd": {**base, "DOCKER_HOST": "unix://" + bsock}}
        if not a.skip_dockerd:
            dsock = os.path.join(work, "docker.sock")
            dlog = os.path.join(work, "dockerd.log")
            dd = subprocess.Popen(["dockerd", "--data-root", os.path.join(work, "ddata"), "--exec-root",
                                   os.path.join(work, "dexec"), "-H", "unix://" + dsock, "--pidfile",
                                   os.path.join(work, "dockerd.pid"), "--iptables=false", "--ip6tables=false",
                                   "--bridge=none"],
                                  stdout=open(dlog, "w"), stderr=subprocess.STDOUT)
            procs.append(dd)
            wait_socket(dsock, dd, "dockerd", dlog)
            envs["dockerd"] = {**base, "DOCKER_HOST": "unix://" + dsock}
        for env in envs.values():
            sh(["docker", "import", btar, "busybox:latest"], env=env, stdout=subprocess.DEVNULL)
            if dtar:
                sh(["docker", "import", dtar, "debian-gcc:bookworm"], env=env, stdout=subprocess.DEVNULL)

        # One context per (client, Dockerfile), so a change in one never touches another.
        clients = [("berthd (docker CLI)", ["docker"], "berthd"), ("berthd (berth CLI)", [os.path.join(bin_dir, "berth")], "berthd")]
        if "dockerd" in envs:
            clients.append(("dockerd (docker CLI)", ["docker"], "dockerd"))
        # (name, Dockerfile, cacheable steps, steps still cached after the one-file change)
        cases = [("busybox", BUSYBOX_DOCKERFILE, 3, 0)]
        if dtar:
            cases.append(("gcc", GCC_DOCKERFILE, 7, 2))
        ctxs = {}
        for name, _, daemon in clients:
            for case, dockerfile, _, _ in cases:
                d = os.path.join(work, "ctx", f"{case}-{len(ctxs)}")
                os.makedirs(d)
                with open(os.path.join(d, "Dockerfile"), "w") as f:
                    f.write(dockerfile)
                if case == "busybox":
                    with open(os.path.join(d, "data.txt"), "w") as f:
                        f.write("initial\n")
                else:
                    with open(os.path.join(d, "greet.h"), "w") as f:
                        f.write(GREET_H)
                    with open(os.path.join(d, "hello.c"), "w") as f:
                        f.write(hello_c(0))
                ctxs[(name, case)] = d

        def change(case, d, n):
            if case == "busybox":
                with open(os.path.join(d, "data.txt"), "w") as f:
                    f.write(f"change {n}\n" * (n % 7 + 1))
            else:
                with open(os.path.join(d, "hello.c"), "w") as f:
                    f.write(hello_c(n))

        samples = {}
        for case, _, _, _ in cases:
            for name, cmd, daemon in clients:
                samples[(case, name)] = {"full": [], "cached": [], "one_file": []}
                # warm up: a first build fills the cache and pages in the binaries
                build(cmd, envs[daemon], ctxs[(name, case)])
        counter = 0
        for r in range(a.runs):
            order = clients if r % 2 == 0 else list(reversed(clients))
            for case, _, nsteps, one_file_hits in cases:
                for name, cmd, daemon in order:
                    env, d = envs[daemon], ctxs[(name, case)]
                    s = samples[(case, name)]
                    counter += 1
                    change(case, d, counter)
                    ms, out = build(cmd, env, d, ["--no-cache"])
                    hits, _ = cache_hits(out)
                    if hits:
                        sys.exit(f"{name} {case}: --no-cache build used the cache:\n{out}")
                    s["full"].append(ms)
                    # fill the cache for this exact content (the --no-cache build does not count)
                    build(cmd, env, d)
                    ms, out = build(cmd, env, d)
                    hits, ran = cache_hits(out)
                    if ran or hits != nsteps:
                        sys.exit(f"{name} {case}: cached rebuild answered {hits} of {nsteps} steps from the cache:\n{out}")
                    s["cached"].append(ms)
                    counter += 1
                    change(case, d, counter)
                    ms, out = build(cmd, env, d)
                    hits, _ = cache_hits(out)
                    if hits != one_file_hits:
                        sys.exit(f"{name} {case}: after changing one file {hits} steps came from the cache, "
                                 f"expected {one_file_hits}:\n{out}")
                    s["one_file"].append(ms)
            print(f"run {r + 1}/{a.runs} done", flush=True)

        med = {f"{case} / {name}": {k: statistics.median(v) for k, v in s.items()} for (case, name), s in samples.items()}
        p90 = {f"{case} / {name}": {k: sorted(v)[max(0, int(len(v) * 0.9) - 1)] for k, v in s.items()}
               for (case, name), s in samples.items()}
        lines = ["# Build: berthd vs dockerd's classic builder", "",
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, kernel {os.uname().release}, "
                 f"{a.runs} runs each, interleaved; `DOCKER_BUILDKIT=0`, `--network none`; "
                 f"load average at the end {os.getloadavg()[0]:.1f} (other builds share the machine).", "",
                 "- busybox: `FROM busybox`, `COPY data.txt`, `RUN wc -c`, `CMD` (3 cacheable steps); the change rewrites data.txt.",
                 "- gcc: Debian bookworm + gcc (debootstrap) compiles hello.c statically, `COPY --from` into `scratch` (7 cacheable steps); the change rewrites hello.c.",
                 "", "| Dockerfile / client | full build ms (p90) | cached rebuild ms (p90) | one file changed ms (p90) |",
                 "|---|---:|---:|---:|"]
        for k in med:
            m, p = med[k], p90[k]
            lines.append(f"| {k} | {m['full']:.0f} ({p['full']:.0f}) | {m['cached']:.1f} ({p['cached']:.1f}) | "
                         f"{m['one_file']:.0f} ({p['one_file']:.0f}) |")
        ratios = {}
        if "dockerd" in envs:
            lines += ["", "dockerd / berthd (both through the docker CLI; >1 means berthd is faster):", ""]
            for case, _, _, _ in cases:
                b, dk = med[f"{case} / berthd (docker CLI)"], med[f"{case} / dockerd (docker CLI)"]
                ratios[case] = {k: dk[k] / b[k] for k in b}
                lines.append(f"- {case}: full {ratios[case]['full']:.2f}x, cached {ratios[case]['cached']:.2f}x, "
                             f"one file {ratios[case]['one_file']:.2f}x")
        target = med["busybox / berthd (docker CLI)"]["cached"]
        lines += ["", f"Cached rebuild target (busybox, docker CLI -> berthd, <= 30 ms): {target:.1f} ms — "
                  f"{'met' if target <= 30 else 'NOT met'}."]
        report = "\n".join(lines) + "\n"
        print(report)
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "build-latest.md"), "w") as f:
            f.write(report)
        with open(os.path.join(ROOT, "bench", "results", "build-latest.json"), "w") as f:
            json.dump({"runs": a.runs, "samples_ms": {f"{c} / {n}": s for (c, n), s in samples.items()},
                       "median_ms": med, "p90_ms": p90, "ratios_dockerd_over_berthd": ratios}, f, indent=1)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        unmount_under(work)
        # berthd's host networking and cgroups carry a hash of its data root (see testkit).
        h = hashlib.sha256(os.path.join(work, "bdata").encode()).hexdigest()
        links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
        for line in links.splitlines():
            dev = line.split(": ")[1].split("@")[0] if ": " in line else ""
            if dev.startswith((f"b{h[:6]}-", f"v{h[:6]}", f"p{h[:6]}")):
                quiet(["ip", "link", "del", dev])
        quiet(["nft", "delete", "table", "ip", f"berth-{h[:6]}"])
        quiet(["nft", "delete", "table", "ip6", f"berth-{h[:6]}"])
        for c in os.listdir("/sys/fs/cgroup"):
            try:
                os.rmdir(os.path.join("/sys/fs/cgroup", c, f"berth-{h[:12]}"))
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
