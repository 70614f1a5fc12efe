#!/usr/bin/env python3
"""Container start latency and per-container memory: berthd vs dockerd vs bare runc, one run.

Usage: sudo bench/start.py [--runs N] [--containers N] [--skip-dockerd]

Times `run --rm --network none busybox true` through the real docker CLI against berthd and
against Debian's dockerd (installed here if missing), through our `berth` CLI against berthd,
and `runc run` of the same rootfs; runs are interleaved so load drifts hit all alike. The same
on each daemon's default bridge network gives the start latency networking adds. Then
starts N detached `sleep` containers on each daemon and reports memory per container (the
monitor/shim processes' RSS, PSS and private memory) and the daemon's RSS growth.
Writes bench/results/start-latest.md and .json.
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


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def quiet(cmd, env=None):
    return subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_rootfs(path):
    os.makedirs(path)
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"]:
        os.makedirs(os.path.join(path, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(path, "bin/busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", os.path.join(path, "bin", a))
    with open(os.path.join(path, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")


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


def mem_of(pids):
    """Sum RSS, PSS and private (USS) KiB over pids."""
    rss = pss = uss = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    k, v = line.split(":", 1)
                    n = int(v.split()[0]) if v.split() else 0
                    if k == "Rss":
                        rss += n
                    elif k == "Pss":
                        pss += n
                    elif k in ("Private_Clean", "Private_Dirty"):
                        uss += n
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return rss, pss, uss


def pids_named(name):
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == name:
                        out.append(int(p))
            except OSError:
                pass
    return out


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed(cmd, env=None):
    t = time.perf_counter()
    r = quiet(cmd, env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.decode()[-500:]}")
    return dt * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--skip-dockerd", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    sh([os.path.join(ROOT, "scripts", "deps")])
    if not a.skip_dockerd and not shutil.which("dockerd"):
        sh("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null")
    sh([os.path.join(ROOT, "scripts", "build"), "release"], stdout=subprocess.DEVNULL)

    work = tempfile.mkdtemp(prefix="berth-bench-")
    procs = []
    try:
        rootfs = os.path.join(work, "rootfs")
        make_rootfs(rootfs)
        tar = os.path.join(work, "busybox.tar")
        sh(["tar", "-C", rootfs, "-cf", tar, "."])

        bsock = os.path.join(work, "berth.sock")
        blog = os.path.join(work, "berthd.log")
        bdata = os.path.join(work, "bdata")
        bd = subprocess.Popen([os.path.join(BIN, "berthd"), "--data-root", bdata,
                               "--exec-root", os.path.join(work, "bexec"), "-H", "unix://" + bsock,
                               "--bridge", "bbench0", "--bip", "10.198.0.1/24"],
                              stdout=open(blog, "w"), stderr=subprocess.STDOUT)
        procs.append(bd)
        wait_socket(bsock, bd, "berthd", blog)
        benv = {**os.environ, "DOCKER_HOST": "unix://" + bsock}
        sh(["docker", "import", tar, "busybox:latest"], env=benv, stdout=subprocess.DEVNULL)

        denv = None
        dd = None
        if not a.skip_dockerd:
            dsock = os.path.join(work, "docker.sock")
            dlog = os.path.join(work, "dockerd.log")
            # dockerd's bridge made by us (so nothing of the host's is touched), without
            # iptables (so the host's FORWARD policy stays as it is).
            quiet(["ip", "link", "add", "dbench0", "type", "bridge"])
            quiet(["ip", "addr", "add", "10.199.0.1/24", "dev", "dbench0"])
            quiet(["ip", "link", "set", "dbench0", "up"])
            dd = subprocess.Popen(["dockerd", "--data-root", os.path.join(work, "ddata"), "--exec-root",
                                   os.path.join(work, "dexec"), "-H", "unix://" + dsock, "--pidfile",
                                   os.path.join(work, "dockerd.pid"), "--iptables=false", "--bridge=dbench0"],
                                  stdout=open(dlog, "w"), stderr=subprocess.STDOUT)
            procs.append(dd)
            wait_socket(dsock, dd, "dockerd", dlog)
            denv = {**os.environ, "DOCKER_HOST": "unix://" + dsock}
            sh(["docker", "import", tar, "busybox:latest"], env=denv, stdout=subprocess.DEVNULL)

        bundle = os.path.join(work, "bundle")
        os.makedirs(bundle)
        sh(["runc", "spec"], cwd=bundle)
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["true"]
        spec["root"] = {"path": rootfs, "readonly": True}
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(spec, f)

        run = ["run", "--rm", "--network", "none", "busybox", "true"]
        run_bridge = ["run", "--rm", "busybox", "true"]
        cases = {
            "berthd (docker CLI)": lambda: timed(["docker"] + run, benv),
            "berthd bridge (docker CLI)": lambda: timed(["docker"] + run_bridge, benv),
            "berthd (berth CLI)": lambda: timed([os.path.join(BIN, "berth")] + run, benv),
            "bare runc run": None,
        }
        if denv:
            cases["dockerd (docker CLI)"] = lambda: timed(["docker"] + run, denv)
            cases["dockerd bridge (docker CLI)"] = lambda: timed(["docker"] + run_bridge, denv)
        # What the docker CLI costs by itself: a trivial request (`ps -q` of an empty list).
        cases["docker CLI alone (ps -q, berthd)"] = lambda: timed(["docker", "ps", "-q"], benv)
        n = [0]

        def runc_once():
            n[0] += 1
            return timed(["runc", "--root", os.path.join(work, "runc"), "run", "--bundle", bundle, f"bench{n[0]}"])
        cases["bare runc run"] = runc_once
        # warm up every path once
        for f in cases.values():
            f()
        samples = {k: [] for k in cases}
        for _ in range(a.runs):
            for k, f in cases.items():
                samples[k].append(f())
        med = {k: statistics.median(v) for k, v in samples.items()}
        runc = med["bare runc run"]

        # memory: N detached containers on each daemon
        def fleet(env, daemon_pid, shim_name):
            base = rss_kib(daemon_pid)
            t = time.perf_counter()
            for i in range(a.containers):
                quiet(["docker", "run", "-d", "--network", "none", "--name", f"m{i}", "busybox", "sleep", "3600"], env)
            total = time.perf_counter() - t
            time.sleep(1)
            shims = pids_named(shim_name)
            rss, pss, uss = mem_of(shims)
            grow = rss_kib(daemon_pid) - base
            quiet(["sh", "-c", "docker rm -f $(docker ps -aq)"], env)
            k = max(len(shims), 1)
            return {"containers": a.containers, "start_total_s": total, "monitors": len(shims),
                    "rss_kib": rss / k, "pss_kib": pss / k, "uss_kib": uss / k,
                    "daemon_growth_kib_per_container": grow / a.containers}
        mem = {"berthd": fleet(benv, bd.pid, "berth-shim")}
        if denv:
            mem["dockerd"] = fleet(denv, dd.pid, "containerd-shim")

        lines = ["# Container start: berthd vs dockerd vs bare runc", "",
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, kernel {os.uname().release}, "
                 f"{a.runs} runs each, interleaved. `run --rm --network none busybox true`.", "",
                 "| path | median ms | p90 ms | × bare runc |", "|---|---:|---:|---:|"]
        for k, v in samples.items():
            p90 = sorted(v)[int(len(v) * 0.9) - 1]
            lines.append(f"| {k} | {med[k]:.1f} | {p90:.1f} | {med[k] / runc:.2f} |")
        lines += ["", "Start latency a bridge network adds over `--network none` (median difference):", "",
                  f"- berthd: {med['berthd bridge (docker CLI)'] - med['berthd (docker CLI)']:.1f} ms"]
        if denv:
            lines += [f"- dockerd: {med['dockerd bridge (docker CLI)'] - med['dockerd (docker CLI)']:.1f} ms"]
            lines += ["", f"berthd vs dockerd through the same docker CLI: {med['dockerd (docker CLI)'] / med['berthd (docker CLI)']:.1f}x faster "
                      f"(none), {med['dockerd bridge (docker CLI)'] / med['berthd bridge (docker CLI)']:.1f}x faster (bridge)."]
        lines += ["", f"Memory with {a.containers} detached `sleep` containers (per container, KiB):", "",
                  "| daemon | monitor RSS | monitor PSS | monitor private | daemon RSS growth | start all (s) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for k, m in mem.items():
            lines.append(f"| {k} | {m['rss_kib']:.0f} | {m['pss_kib']:.0f} | {m['uss_kib']:.0f} | "
                         f"{m['daemon_growth_kib_per_container']:.0f} | {m['start_total_s']:.1f} |")
        report = "\n".join(lines) + "\n"
        print(report)
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "start-latest.md"), "w") as f:
            f.write(report)
        with open(os.path.join(ROOT, "bench", "results", "start-latest.json"), "w") as f:
            json.dump({"samples_ms": samples, "median_ms": med, "memory": mem}, f, indent=1)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        quiet(["sh", "-c", f"umount -R {work}/ddata/* 2>/dev/null; true"])
        hash6 = hashlib.sha256(os.path.join(work, "bdata").encode()).hexdigest()[:6]
        for link in ["bbench0", "dbench0"]:
            quiet(["ip", "link", "del", link])
        quiet(["nft", "delete", "table", "ip", f"berth-{hash6}"])
        quiet(["nft", "delete", "table", "ip6", f"berth-{hash6}"])
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
