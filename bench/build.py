"""Scenario `build`: classic-builder speed, berthd vs dockerd (`DOCKER_BUILDKIT=0`) (bench/run).

Two Dockerfiles, each built through the real docker CLI against berthd and against dockerd,
and through our `berth` CLI against berthd:

* busybox, three steps (`COPY data.txt`, `RUN wc -c`, `CMD`) — the cached-rebuild target:
  dockerd ~100 ms, berthd must take <= 30 ms through the docker CLI;
* gcc multi-stage: a C program compiled with gcc in a Debian bookworm base (debootstrap,
  cached in target/testkit/ as the e2e tests make it) and copied into `scratch`.

For each: a full build (`--no-cache`), a cached rebuild (nothing changed: every step must say
`Using cache`, else the scenario fails) and a rebuild after changing one source file (data.txt
/ hello.c, new content every time). 5 repetitions (--quick: 1; the gcc case only if the
Debian base is already made), clients interleaved per repetition, order reversed every other.
"""
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import time

import lib

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


def debian_mirror():
    """The archive apt uses for bookworm (as testkit::debian_mirror)."""
    if os.environ.get("BERTH_DEBIAN_MIRROR"):
        return os.environ["BERTH_DEBIAN_MIRROR"]
    files = ["/etc/apt/sources.list"]
    d = "/etc/apt/sources.list.d"
    if os.path.isdir(d):
        files += [os.path.join(d, f) for f in sorted(os.listdir(d))]
    for path in files:
        text = lib.read(path)
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


def debian_tar(make):
    """target/testkit/debian-bookworm-gcc.tar; made (once per machine, under the same lock as
    testkit::debian_tar) with debootstrap if missing and `make`."""
    tar = os.path.join(lib.TESTKIT, "debian-bookworm-gcc.tar")
    if os.path.isfile(tar) or not make:
        return tar if os.path.isfile(tar) else None
    if not shutil.which("debootstrap"):
        return None
    os.makedirs(lib.TESTKIT, exist_ok=True)
    with open(os.path.join(lib.TESTKIT, "debian-bookworm-gcc.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(tar):
            return tar
        work = tempfile.mkdtemp(prefix="debian-", dir=lib.TESTKIT)
        root = os.path.join(work, "rootfs")
        lib.log("build: making the Debian base with debootstrap (once per machine)...")
        try:
            r = subprocess.run(["debootstrap", "--variant=minbase", "--include=gcc,libc6-dev", "bookworm", root,
                                debian_mirror()], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            lib.unmount_under(root)
            if r.returncode != 0:
                lib.log(f"build: debootstrap failed: {r.stderr.decode()[-800:]}")
                return None
            for d in ["dev", "var/cache/apt/archives", "var/lib/apt/lists"]:
                p = os.path.join(root, d)
                for e in os.listdir(p) if os.path.isdir(p) else []:
                    q = os.path.join(p, e)
                    shutil.rmtree(q) if os.path.isdir(q) and not os.path.islink(q) else os.remove(q)
            lib.run(["tar", "--numeric-owner", "-C", root, "-cf", os.path.join(work, "debian.tar"), "."])
            os.rename(os.path.join(work, "debian.tar"), tar)
            return tar
        finally:
            lib.unmount_under(root)
            shutil.rmtree(work, ignore_errors=True)


def build(cmd, env, ctx_dir, extra=()):
    """Run one build; (ms, stdout)."""
    t = time.perf_counter()
    r = lib.run(cmd + ["build", "--network", "none", *extra, ctx_dir], env=env, check=False)
    ms = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        raise lib.BenchError(f"{' '.join(cmd)} build {ctx_dir} failed ({r.returncode}):\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
    return ms, r.stdout


def cache_hits(out):
    """How many steps came from the cache (counted: berthd builds independent stages
    concurrently, so their lines may interleave), and whether any container ran."""
    return sum(1 for line in out.splitlines() if line.strip() == "---> Using cache"), "Running in " in out


def scenario(ctx):
    opts = ctx.opts
    runs = 1 if opts.quick else 5
    dtar = debian_tar(make=not opts.quick)
    if dtar is None:
        lib.log("build: no Debian base (--quick does not make one; or debootstrap failed): gcc cases skipped")
    b = lib.Berthd(ctx, "build").start()
    d = lib.Dockerd(ctx, "build", bridge=False).start()
    try:
        envs = {}
        for name, daemon in (("berthd", b), ("dockerd", d)):
            envs[name] = {**daemon.env, "DOCKER_BUILDKIT": "0"}
            daemon.import_busybox()
            if dtar:
                daemon.docker(["import", dtar, "debian-gcc:bookworm"])
        clients = [("berthd (docker CLI)", ["docker"], "berthd"), ("berthd (berth CLI)", [os.path.join(ctx.bin, "berth")], "berthd"),
                   ("dockerd (docker CLI)", ["docker"], "dockerd")]
        # (name, Dockerfile, cacheable steps, steps still cached after the one-file change)
        cases = [("busybox", BUSYBOX_DOCKERFILE, 3, 0)]
        if dtar:
            cases.append(("gcc", GCC_DOCKERFILE, 7, 2))
        # One context per (client, Dockerfile), so a change in one never touches another.
        ctxs = {}
        for name, _, _ in clients:
            for case, dockerfile, _, _ in cases:
                cd = ctx.mkdir(f"ctx-{case}")
                with open(os.path.join(cd, "Dockerfile"), "w") as f:
                    f.write(dockerfile)
                if case == "busybox":
                    with open(os.path.join(cd, "data.txt"), "w") as f:
                        f.write("initial\n")
                else:
                    with open(os.path.join(cd, "greet.h"), "w") as f:
                        f.write(GREET_H)
                    with open(os.path.join(cd, "hello.c"), "w") as f:
                        f.write(hello_c(0))
                ctxs[(name, case)] = cd

        def change(case, cd, n):
            if case == "busybox":
                with open(os.path.join(cd, "data.txt"), "w") as f:
                    f.write(f"change {n}\n" * (n % 7 + 1))
            else:
                with open(os.path.join(cd, "hello.c"), "w") as f:
                    f.write(hello_c(n))

        samples = {}
        for case, _, _, _ in cases:
            for name, cmd, daemon in clients:
                samples[f"{case} / {name}"] = {"full": [], "cached": [], "one_file": []}
                build(cmd, envs[daemon], ctxs[(name, case)])  # warm up: fills the cache, pages in binaries
        counter = 0
        for r in range(runs):
            order = clients if r % 2 == 0 else list(reversed(clients))
            for case, _, nsteps, one_file_hits in cases:
                for name, cmd, daemon in order:
                    env, cd = envs[daemon], ctxs[(name, case)]
                    s = samples[f"{case} / {name}"]
                    counter += 1
                    change(case, cd, counter)
                    ms, out = build(cmd, env, cd, ["--no-cache"])
                    if cache_hits(out)[0]:
                        raise lib.BenchError(f"{name} {case}: --no-cache build used the cache:\n{out}")
                    s["full"].append(ms)
                    build(cmd, env, cd)  # fill the cache for this exact content
                    ms, out = build(cmd, env, cd)
                    hits, ran = cache_hits(out)
                    if ran or hits != nsteps:
                        raise lib.BenchError(f"{name} {case}: cached rebuild answered {hits} of {nsteps} steps from the cache:\n{out}")
                    s["cached"].append(ms)
                    counter += 1
                    change(case, cd, counter)
                    ms, out = build(cmd, env, cd)
                    hits, _ = cache_hits(out)
                    if hits != one_file_hits:
                        raise lib.BenchError(f"{name} {case}: after changing one file {hits} steps came from the cache, "
                                             f"expected {one_file_hits}:\n{out}")
                    s["one_file"].append(ms)
            lib.log(f"build: run {r + 1}/{runs} done")
    finally:
        d.destroy()
        b.destroy()

    md = [f"{runs} repetition(s), clients interleaved; `DOCKER_BUILDKIT=0`, `--network none`.", "",
          "- busybox: `FROM busybox`, `COPY data.txt`, `RUN wc -c`, `CMD` (3 cacheable steps); the change rewrites data.txt."]
    if dtar:
        md.append("- gcc: Debian bookworm + gcc (debootstrap) compiles hello.c statically, `COPY --from` into `scratch` "
                  "(7 cacheable steps); the change rewrites hello.c.")
    else:
        md.append("- gcc: skipped (no Debian base in target/testkit; --quick does not make one).")
    md.append("")
    md += lib.table(["Dockerfile / client", "full build ms (p90)", "cached rebuild ms (p90)", "one file changed ms (p90)"],
                    [[k] + [f"{lib.fmt(lib.median(v[x]))} ({lib.fmt(lib.pct(v[x], 90))})" for x in ("full", "cached", "one_file")]
                     for k, v in samples.items()])
    ratios = []
    for case, _, _, _ in cases:
        bs, ds = samples[f"{case} / berthd (docker CLI)"], samples[f"{case} / dockerd (docker CLI)"]
        for x, label in (("full", "full build"), ("cached", "cached rebuild"), ("one_file", "one file changed")):
            ratios.append(lib.compare(f"dockerd/build/{case}/{x}", f"build {case}: {label}", bs[x], ds[x], "ms"))
    target = lib.median(samples["busybox / berthd (docker CLI)"]["cached"])
    md += ["", f"Cached rebuild target (busybox, docker CLI -> berthd, <= 30 ms): {target:.1f} ms — "
           f"{'met' if target <= 30 else 'NOT met'}."]
    chart = lib.dist_chart("build.png", "docker build (classic builder)", "ms",
                           [(f"{case}: {label}", [(n.replace(" (docker CLI)", ""), samples[f"{case} / {n}"][x])
                                                  for n, _, _ in clients])
                            for case, _, _, _ in cases for x, label in (("full", "full"), ("cached", "cached"))],
                           log_scale=True)
    bc = samples["busybox / berthd (docker CLI)"]["cached"]
    dc = samples["busybox / dockerd (docker CLI)"]["cached"]
    headline = [["cached rebuild of a 3-step Dockerfile (classic builder)", f"{lib.fmt(lib.median(bc))} ms",
                 f"{lib.fmt(lib.median(dc))} ms", lib.fmt_ratio(lib.median(dc) / lib.median(bc))]]
    if dtar:
        bf, df = samples["gcc / berthd (docker CLI)"]["full"], samples["gcc / dockerd (docker CLI)"]["full"]
        headline.append(["full gcc multi-stage build", f"{lib.fmt(lib.median(bf))} ms", f"{lib.fmt(lib.median(df))} ms",
                         lib.fmt_ratio(lib.median(df) / lib.median(bf))])
    targets = [{"target": "builder: cached rebuild (busybox, docker CLI) <= 30 ms", "value": f"{target:.1f} ms",
                "pass": target <= 30, "note": None}]
    return {"data": {"runs": runs, "samples_ms": samples,
                     "median_ms": {k: {x: lib.median(v[x]) for x in v} for k, v in samples.items()}},
            "md": md, "ratios": ratios, "charts": [chart], "headline": headline, "targets": targets}


if __name__ == "__main__":
    run = os.path.join(lib.BENCH, "run")
    os.execv(run, [run, "--only", "build"] + sys.argv[1:])
