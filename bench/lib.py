"""Shared helpers of the benchmark suite (bench/run and its scenario modules).

One copy of everything the scenarios have in common: a run's work directory, private binaries
and unique names (Context); berthd and dockerd on private roots, sockets and bridges (Berthd,
Dockerd); the busybox image made from Debian's busybox-static; timing commands and parallel
clients; Docker API calls over the unix socket; memory read from /proc; machine facts;
statistics (median, percentiles, bootstrap noise of a ratio); chart and table builders; and
cleanup that always runs (containers, daemons, mounts, bridges and veths, nft tables, cgroups,
temporary directories).

Nothing here touches the host's own docker or berth: every daemon gets its own data root, exec
root, socket, config file, cgroup parent and bridge, and all traffic stays on loopback or in
the daemons' own bridges.
"""
import hashlib
import http.client
import ipaddress
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
TARGET_BIN = os.path.join(ROOT, "target", "berth")
TESTKIT = os.path.join(ROOT, "target", "testkit")

# Set when the run is interrupted (Ctrl-C, SIGTERM): parallel clients stop taking new work.
STOP = threading.Event()


class BenchError(Exception):
    """A scenario failed; the message says what and where to look."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Commands

_children = set()
_children_lock = threading.Lock()


def _communicate(cmd, timeout, **kw):
    """Popen + communicate, the child tracked so that an interrupt can end it (kill_children)."""
    if STOP.is_set():
        raise BenchError("interrupted")
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kw)
    with _children_lock:
        _children.add(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise BenchError(f"{' '.join(cmd)}: no answer after {timeout} s") from None
    finally:
        with _children_lock:
            _children.discard(p)
    return p.returncode, out, err


def kill_children():
    """End the commands still running (on interrupt): SIGTERM, then SIGKILL."""
    with _children_lock:
        kids = list(_children)
    for p in kids:
        if p.poll() is None:
            p.terminate()
    end = time.monotonic() + 5
    for p in kids:
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def run(cmd, env=None, timeout=600, check=True, cwd=None):
    """Run a command, capturing its output; BenchError (with the output's tail) if it fails."""
    code, out, err = _communicate(cmd, timeout, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
    r = subprocess.CompletedProcess(cmd, code, out, err)
    if check and code != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({code}): {(err or out)[-800:].strip()}")
    return r


def quiet(cmd):
    """Run a cleanup command, ignoring its outcome."""
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=120).returncode
    except (OSError, subprocess.TimeoutExpired):
        return -1


def timed(cmd, env=None, timeout=600):
    """Milliseconds a command takes (output discarded); BenchError if it fails."""
    t = time.perf_counter()
    code, _, err = _communicate(cmd, timeout, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ms = (time.perf_counter() - t) * 1000
    if code != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({code}): {err.decode(errors='replace')[-800:].strip()}")
    return ms


def parallel(clients, items, op, deadline=None):
    """Run op(item) (which returns milliseconds) for every item from `clients` threads; client k
    takes items k, k+clients, ... in order, as `clients` shells each running its own loop would.
    A client stops taking work after `deadline` (time.monotonic()) or on interrupt.

    Returns {"total_s", "ms": [per op, in completion order], "done": [items], "errors":
    [(item, message)], "cut": items never started (deadline or interrupt)}."""
    shares = [items[k::clients] for k in range(clients)]
    lock = threading.Lock()
    out = {"ms": [], "done": [], "errors": [], "cut": 0}

    def worker(share):
        for i, it in enumerate(share):
            if STOP.is_set() or (deadline is not None and time.monotonic() > deadline):
                with lock:
                    out["cut"] += len(share) - i
                return
            try:
                ms = op(it)
            except Exception as e:  # a failed op is recorded; the others go on
                with lock:
                    out["errors"].append((it, str(e)))
                continue
            with lock:
                out["ms"].append(ms)
                out["done"].append(it)

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in shares if s]
    t = time.perf_counter()
    for th in threads:
        th.start()
    try:
        for th in threads:
            while th.is_alive():
                th.join(0.5)
    except BaseException:
        STOP.set()
        kill_children()
        for th in threads:
            th.join(30)
        raise
    out["total_s"] = time.perf_counter() - t
    return out


# ---------------------------------------------------------------------------------------------
# Docker API over a unix socket

class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._unix_path)
        self.sock = s


def api(sock, method, path, body=None, timeout=60):
    """One request on a fresh connection (as a CLI makes it); returns (status, body bytes)."""
    conn = _UnixHTTPConnection(sock, timeout)
    try:
        headers, data = {}, None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def api_ms(sock, path):
    """Milliseconds for GET path, from connect to the last byte of the body; BenchError unless 200."""
    t = time.perf_counter()
    status, body = api(sock, "GET", path)
    ms = (time.perf_counter() - t) * 1000
    if status != 200:
        raise BenchError(f"GET {path}: {status} {body[:300]!r}")
    return ms


# ---------------------------------------------------------------------------------------------
# /proc

def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def smaps(pids):
    """Sum of RSS, PSS and private (USS) memory in KiB over pids (smaps_rollup)."""
    out = {"rss": 0, "pss": 0, "uss": 0}
    for p in pids:
        for line in read(f"/proc/{p}/smaps_rollup").splitlines():
            k, _, v = line.partition(":")
            w = v.split()
            if not w or not w[0].isdigit():
                continue
            n = int(w[0])
            if k == "Rss":
                out["rss"] += n
            elif k == "Pss":
                out["pss"] += n
            elif k in ("Private_Clean", "Private_Dirty"):
                out["uss"] += n
    return out


def rss_kib(pid):
    for line in read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def ppid(pid):
    s = read(f"/proc/{pid}/stat")
    # comm may contain spaces and parentheses: the fields after the last ')' are fixed
    rest = s[s.rfind(")") + 2:].split()
    return int(rest[1]) if len(rest) > 1 else 0


def cmdline(pid):
    return read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()


def pids():
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def procs_in_cgroup(marker):
    """Processes whose cgroup path (any hierarchy) contains `marker`."""
    return [p for p in pids() if marker in read(f"/proc/{p}/cgroup")]


def mem_available_kib(reads=3, gap=0.2):
    """MemAvailable, the median of a few reads (KiB)."""
    vals = []
    for i in range(reads):
        for line in read("/proc/meminfo").splitlines():
            if line.startswith("MemAvailable:"):
                vals.append(int(line.split()[1]))
        if i + 1 < reads:
            time.sleep(gap)
    return median(vals)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def kill_wait(pid, sig=signal.SIGTERM, timeout=30):
    """Signal pid and wait until it is gone (SIGKILL after timeout); returns seconds."""
    t = time.perf_counter()
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return 0.0
    end = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < end:
        time.sleep(0.01)
    if alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return time.perf_counter() - t


# ---------------------------------------------------------------------------------------------
# Host cleanup

def unmount_under(path):
    """Lazily unmount everything mounted at or below path, deepest first."""
    mounts = []
    for line in read("/proc/self/mountinfo").splitlines():
        mp = line.split()[4].replace("\\040", " ")
        if mp == path or mp.startswith(path + "/"):
            mounts.append(mp)
    for mp in sorted(set(mounts), key=len, reverse=True):
        quiet(["umount", "-l", mp])


def links():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    names = []
    for line in out.splitlines():
        parts = line.split(": ")
        if len(parts) > 1:
            names.append(parts[1].split("@")[0])
    return names


def delete_links(names=(), prefixes=()):
    for dev in links():
        if dev in names or (prefixes and dev.startswith(tuple(prefixes))):
            quiet(["ip", "link", "del", dev])


def remove_cgroups(name):
    """Remove the cgroup directory `name` (and what is below it) in every hierarchy."""
    base = "/sys/fs/cgroup"
    dirs = [os.path.join(base, name)]
    if os.path.isdir(base):
        dirs += [os.path.join(base, h, name) for h in os.listdir(base)]
    for d in dirs:
        if not os.path.isdir(d):
            continue
        for sub, _, _ in sorted(os.walk(d), key=lambda w: -len(w[0])):
            try:
                os.rmdir(sub)
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# Statistics

def median(v):
    return pct(v, 50)


def pct(v, p):
    """The p-th percentile with linear interpolation (None for no samples)."""
    s = sorted(v)
    if not s:
        return None
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(v):
    if not v:
        return {"n": 0}
    return {"n": len(v), "median": median(v), "p90": pct(v, 90), "p5": pct(v, 5), "p25": pct(v, 25),
            "p75": pct(v, 75), "p95": pct(v, 95), "iqr": pct(v, 75) - pct(v, 25), "min": min(v),
            "max": max(v), "mean": sum(v) / len(v)}


def ratio_noise(num, den, iters=2000, seed=7):
    """The 5th and 95th percentiles of median(num)/median(den) over bootstrap resamples of both
    sample sets: the ratio's noise. None if either side has fewer than 3 samples."""
    if len(num) < 3 or len(den) < 3:
        return None
    rnd = random.Random(seed)
    rs = []
    for _ in range(iters):
        a = [num[rnd.randrange(len(num))] for _ in num]
        b = [den[rnd.randrange(len(den))] for _ in den]
        mb = median(b)
        if mb:
            rs.append(median(a) / mb)
    return [pct(rs, 5), pct(rs, 95)] if rs else None


def compare(key, label, base, other, unit, vs="dockerd", base_name="berthd"):
    """A ratio other/base of medians (or of single values) with its noise.

    `vs` names what `other` is: for "dockerd" the ratio is dockerd's time over berthd's (> 1:
    berthd is faster); for "runc" it is a path's time over bare runc's (base = runc)."""
    bs = base if isinstance(base, list) else [base]
    os_ = other if isinstance(other, list) else [other]
    b, o = median(bs), median(os_)
    return {"key": key, "label": label, "unit": unit, "vs": vs, "base_name": base_name,
            "base": b, "other": o, "value": (o / b) if b else None,
            "noise": ratio_noise(os_, bs), "n": [len(bs), len(os_)]}


# ---------------------------------------------------------------------------------------------
# Formatting, tables and charts

def fmt(x, unit=""):
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    a = abs(x)
    s = f"{x:.2f}" if a < 10 else f"{x:.1f}" if a < 100 else f"{x:.0f}"
    return f"{s} {unit}".strip() if unit else s


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def fmt_noise(n):
    return "single sample" if not n else f"{n[0]:.2f}–{n[1]:.2f}"


def table(headers, rows, left=1):
    """Markdown table lines; the first `left` columns left-aligned, the rest right-aligned."""
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join(["---"] * left + ["---:"] * (len(headers) - left)) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return out


def dist_chart(file, title, unit, groups, log_scale=False):
    """A distribution chart: groups = [(label, [(series name, samples)])]; empty series dropped."""
    gs = []
    for label, series in groups:
        ss = [{"name": n, "samples": [float(x) for x in s]} for n, s in series if s]
        if ss:
            gs.append({"label": label, "series": ss})
    if not gs:
        return None
    return {"file": file, "kind": "distribution", "title": title, "unit": unit, "log": log_scale, "groups": gs}


def xy_chart(file, title, x_label, y_label, series, log_x=False, log_y=False, limits=()):
    """An xy chart: series = [(name, [(x, y)])]; series without points dropped."""
    ss = [{"name": n, "points": [[float(x), float(y)] for x, y in pts if y is not None]} for n, pts in series]
    ss = [s for s in ss if s["points"]]
    if not ss:
        return None
    return {"file": file, "kind": "xy", "title": title, "x_label": x_label, "y_label": y_label,
            "log_x": log_x, "log_y": log_y, "series": ss,
            "limits": [{"label": l, "y": float(y)} for l, y in limits]}


# ---------------------------------------------------------------------------------------------
# Machine facts

def version(line):
    """The version in a `--version` line ("Docker version 20.10.24+dfsg1, build 5d6db84" ->
    "20.10.24+dfsg1"); the line itself if none is recognised."""
    m = re.search(r"(?:version\s+|\s)v?(\d+\.\d+[\w.+~-]*)", line)
    return m.group(1).rstrip(",") if m else line


def machine_facts():
    def first(cmd):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr).strip() else "?"
        except (OSError, subprocess.TimeoutExpired):
            return "missing"

    model = "?"
    for line in read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1])
    osname = "?"
    for line in read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            osname = line.split("=", 1)[1].strip('"')
    commit = run(["git", "-C", ROOT, "rev-parse", "HEAD"], check=False).stdout.strip() or "?"
    dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"], check=False).stdout.strip()
    cg = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") and not os.path.isdir("/sys/fs/cgroup/memory") \
        else "v1 (hybrid)" if os.path.isdir("/sys/fs/cgroup/unified") else "v1"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "ram_gib": round(mem / 1048576, 1),
        "kernel": os.uname().release,
        "os": osname,
        "cgroups": cg,
        "docker_cli": version(first(["docker", "--version"])),
        "dockerd": version(first(["dockerd", "--version"])),
        "containerd": version(first(["containerd", "--version"])),
        "runc": version(first(["runc", "--version"])),
        "berth_commit": commit + (" (+ uncommitted changes)" if dirty else ""),
        "python": platform.python_version(),
        "load_start": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------------------------------------
# The run: work dir, binaries, names, cleanup

class Context:
    """One benchmark run: options, a work directory, private copies of the binaries (target/berth
    may be rebuilt while we run), unique names and subnets, and a cleanup stack that runs in
    reverse order whatever happens."""

    def __init__(self, opts):
        self.opts = opts
        self.id = os.urandom(3).hex()
        self.work = tempfile.mkdtemp(prefix=f"berth-bench-{self.id}-")
        self._cleanups = []
        self._seq = 0
        self._subnets = []
        self._busybox = None
        self.bin = os.path.join(self.work, "bin")
        os.makedirs(self.bin)
        for b in ["berthd", "berth", "berth-shim", "berth-registry"]:
            src = os.path.join(TARGET_BIN, b)
            if os.path.exists(src):
                shutil.copy2(src, os.path.join(self.bin, b))
        self.docker_config = os.path.join(self.work, "docker-config")
        os.makedirs(self.docker_config)

    def defer(self, label, fn):
        self._cleanups.append((label, fn))

    def cleanup(self):
        while self._cleanups:
            label, fn = self._cleanups.pop()
            try:
                fn()
            except BaseException as e:  # keep cleaning whatever else there is
                log(f"cleanup {label}: {e!r}")
        unmount_under(self.work)
        shutil.rmtree(self.work, ignore_errors=True)

    def seq(self):
        self._seq += 1
        return self._seq

    def mkdir(self, name):
        d = os.path.join(self.work, f"{name}-{self.seq()}")
        os.makedirs(d)
        return d

    def ifname(self, prefix):
        return f"{prefix}{self.id}{self.seq():x}"[:15]

    def subnet(self):
        """A free /20 in 10.200-254.x.0: nothing on the host routes it, nor does this run use it."""
        used = list(self._subnets)
        out = subprocess.run(["ip", "-4", "-o", "route", "show", "table", "all"], capture_output=True, text=True).stdout
        out += subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
        for w in out.split():
            if "/" in w or w.count(".") == 3:
                try:
                    used.append(ipaddress.ip_network(w, strict=False))
                except ValueError:
                    pass
        for second in range(200, 255):
            for third in range(0, 256, 16):
                n = ipaddress.ip_network(f"10.{second}.{third}.0/20")
                if not any(n.overlaps(u) for u in used if u.prefixlen > 0):
                    self._subnets.append(n)
                    return n
        raise BenchError("no free /20 in 10.200.0.0-10.254.255.255")

    def client_env(self, sock):
        env = {k: v for k, v in os.environ.items()
               if k not in ("DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS")}
        env.update({"DOCKER_HOST": "unix://" + sock, "DOCKER_CONFIG": self.docker_config,
                    "DOCKER_CLI_HINTS": "false"})
        return env

    def busybox_rootfs(self):
        """A root filesystem of Debian's static busybox and its applets (made once per run)."""
        root = os.path.join(self.work, "busybox-rootfs")
        if not os.path.isdir(root):
            for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"]:
                os.makedirs(os.path.join(root, d), exist_ok=True)
            shutil.copy("/bin/busybox", os.path.join(root, "bin", "busybox"))
            applets = run(["/bin/busybox", "--list"]).stdout.split()
            for a in applets:
                if a != "busybox":
                    os.symlink("busybox", os.path.join(root, "bin", a))
            with open(os.path.join(root, "etc", "passwd"), "w") as f:
                f.write("root:x:0:0:root:/root:/bin/sh\n")
            with open(os.path.join(root, "etc", "group"), "w") as f:
                f.write("root:x:0:\n")
        return root

    def busybox_tar(self):
        if self._busybox is None:
            tar = os.path.join(self.work, "busybox.tar")
            run(["tar", "--numeric-owner", "-C", self.busybox_rootfs(), "-cf", tar, "."])
            self._busybox = tar
        return self._busybox


# ---------------------------------------------------------------------------------------------
# Daemons

class Daemon:
    """A daemon on private roots under the run's work dir, reached over its own unix socket.

    The process gets its own session, so a Ctrl-C in the terminal reaches only bench/run, which
    then removes the containers and stops the daemon in order. destroy() is idempotent and is
    also on the run's cleanup stack."""

    kind = "?"

    def __init__(self, ctx, tag, bridge=True):
        self.ctx = ctx
        self.tag = tag
        self.dir = ctx.mkdir(f"{self.kind}-{tag}")
        self.sock = os.path.join(self.dir, "api.sock")
        self.log_path = os.path.join(self.dir, f"{self.kind}.log")
        self.env = ctx.client_env(self.sock)
        self.proc = None
        self.bridge = ctx.ifname("bb" if self.kind == "berthd" else "bd") if bridge else None
        self.subnet = ctx.subnet() if bridge else None
        self._destroyed = False
        ctx.defer(f"{self.kind} {tag}", self.destroy)

    # lifecycle
    def argv(self):
        raise NotImplementedError

    def spawn(self):
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=open(self.log_path, "a"),
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def start(self, timeout=120):
        self.spawn()
        self.wait_ready(timeout)
        return self

    def ping(self):
        try:
            status, body = api(self.sock, "GET", "/_ping", timeout=10)
            return status == 200
        except OSError:
            return False

    def wait_ready(self, timeout=120):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.ping():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise BenchError(f"{self.kind} did not come up (exit {self.proc.poll()}); log {self.log_path}:\n{self.log_tail()}")

    def log_tail(self, n=15):
        return "\n".join(read(self.log_path).splitlines()[-n:])

    def stop(self, timeout=120):
        """SIGTERM and wait for the process to exit; returns seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        t = time.perf_counter()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise BenchError(f"{self.kind} did not stop within {timeout} s of SIGTERM (killed)")
        return time.perf_counter() - t

    def daemon_pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def rss_kib(self):
        """The daemon's resident memory (for dockerd: dockerd + containerd)."""
        return sum(rss_kib(p) for p in self.daemon_pids())

    # clients
    def docker(self, args, timeout=300):
        return run(["docker"] + args, env=self.env, timeout=timeout).stdout

    def docker_ms(self, args, timeout=300):
        return timed(["docker"] + args, env=self.env, timeout=timeout)

    def api_json(self, method, path, body=None, timeout=120):
        status, data = api(self.sock, method, path, body, timeout)
        if status >= 300:
            raise BenchError(f"{self.kind}: {method} {path}: {status} {data[:300]!r}")
        return json.loads(data) if data.strip() else None

    def container_ids(self, all_=False):
        return [c["Id"] for c in self.api_json("GET", "/containers/json" + ("?all=1" if all_ else ""))]

    def import_busybox(self):
        self.docker(["import", self.ctx.busybox_tar(), "busybox:latest"])

    # container processes
    def cgroup_marker(self):
        raise NotImplementedError

    def container_procs(self):
        """(container processes, their monitors): processes in this daemon's container cgroups,
        and the parents that watch them (berth-shim / containerd-shim-runc-v2)."""
        inside = set(procs_in_cgroup(self.cgroup_marker()))
        mons = {ppid(p) for p in inside} - inside - {0, 1}
        return sorted(inside), sorted(mons)

    # removal
    def remove_all(self, clients=8, cli=None):
        """Remove every container with `rm -f ID` from `clients` parallel CLI clients; seconds."""
        ids = self.container_ids(all_=True)
        cmd = cli or ["docker"]
        res = parallel(clients, ids, lambda i: timed(cmd + ["rm", "-f", i], env=self.env))
        if res["errors"]:
            raise BenchError(f"{self.kind}: rm -f failed for {len(res['errors'])} containers: {res['errors'][0][1]}")
        return res

    def force_remove_all(self):
        """Cleanup: every container gone through the API, sequentially, errors ignored."""
        try:
            ids = self.container_ids(all_=True)
        except (OSError, BenchError, ValueError):
            return
        for i in ids:
            try:
                api(self.sock, "DELETE", f"/containers/{i}?force=1&v=1", timeout=60)
            except OSError:
                pass

    def destroy(self):
        if self._destroyed:
            return
        failing = sys.exc_info()[0]  # called from a `finally` while a scenario fails?
        if self.proc is not None and self.proc.poll() is not None and self.proc.returncode not in (0, -15):
            self.keep_log(f"exited by itself ({self.proc.returncode})")
        elif failing is not None and not issubclass(failing, KeyboardInterrupt):
            self.keep_log("was running when the scenario failed")
        if self.proc is not None and self.proc.poll() is None and self.ping():
            self.force_remove_all()
        try:
            self.stop(timeout=60)
        except BenchError as e:
            log(str(e))
        self._reap()
        unmount_under(self.dir)
        if self.bridge:
            delete_links(names=[self.bridge])
        self._host_cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)
        self._destroyed = True  # only now: an interrupted destroy() runs again from the cleanup stack

    def keep_log(self, why):
        """Copy the daemon's log out of the work dir (which the cleanup removes) and say where."""
        dest = f"{self.ctx.work.rstrip('/')}-{self.kind}-{self.tag}.log"
        try:
            shutil.copy(self.log_path, dest)
        except OSError:
            return
        log(f"{self.kind} ({self.tag}) {why}; its log is kept at {dest}:\n{self.log_tail()}")

    def _reap(self):
        """Kill what may survive the daemon: container processes and monitors of ours."""
        inside, mons = self.container_procs()
        for p in inside + mons + [p for p in pids() if self.dir in cmdline(p)]:
            try:
                os.kill(p, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.2)

    def _host_cleanup(self):
        pass


class Berthd(Daemon):
    """berthd from the run's private binaries, with its own --bridge/--bip (no nft rules:
    --iptables=false, as dockerd is run)."""

    kind = "berthd"
    monitor_name = "berth-shim"

    def __init__(self, ctx, tag, bridge=True):
        super().__init__(ctx, tag, bridge)
        self.data = os.path.join(self.dir, "data")
        self.exec_root = os.path.join(self.dir, "exec")
        # berthd names its cgroups, veths and nft tables after a hash of its data root.
        self.hash = hashlib.sha256(self.data.encode()).hexdigest()

    def argv(self):
        a = [os.path.join(self.ctx.bin, "berthd"), "--data-root", self.data, "--exec-root", self.exec_root,
             "-H", "unix://" + self.sock, "--iptables=false"]
        if self.bridge:
            a += ["--bridge", self.bridge, "--bip", f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}"]
        return a

    def cgroup_marker(self):
        return f"/berth-{self.hash[:12]}/"

    def _host_cleanup(self):
        h6 = self.hash[:6]
        delete_links(prefixes=[f"b{h6}-", f"v{h6}", f"p{h6}"])
        for fam in ("ip", "ip6", "inet"):
            quiet(["nft", "delete", "table", fam, f"berth-{h6}"])
        remove_cgroups(f"berth-{self.hash[:12]}")


class Dockerd(Daemon):
    """Debian's dockerd (and the containerd it starts) on private roots: its own config file
    (the host's /etc/docker/daemon.json is not read), pidfile, trust key, cgroup parent,
    --iptables=false and --ip-forward=false (the host's firewall and sysctls stay as they are),
    and a bridge we create; --live-restore when asked (the restart scenario)."""

    kind = "dockerd"
    monitor_name = "containerd-shim"

    def __init__(self, ctx, tag, bridge=True, live_restore=False):
        super().__init__(ctx, tag, bridge)
        self.live_restore = live_restore
        self.data = os.path.join(self.dir, "data")
        self.exec_root = os.path.join(self.dir, "exec")
        self.cgroup_parent = f"berth-bench-{ctx.id}-{ctx.seq()}"
        self.config = os.path.join(self.dir, "daemon.json")
        with open(self.config, "w") as f:
            json.dump({"deprecated-key-path": os.path.join(self.dir, "key.json")}, f)
        if self.bridge:
            if run(["ip", "link", "add", self.bridge, "type", "bridge"], check=False).returncode != 0:
                raise BenchError(f"cannot create bridge {self.bridge}")
            run(["ip", "addr", "add", f"{self.subnet.network_address + 1}/{self.subnet.prefixlen}", "dev", self.bridge])
            run(["ip", "link", "set", self.bridge, "up"])

    def argv(self):
        a = ["dockerd", "--config-file", self.config, "--data-root", self.data, "--exec-root", self.exec_root,
             "-H", "unix://" + self.sock, "--pidfile", os.path.join(self.dir, "dockerd.pid"),
             "--iptables=false", "--ip6tables=false", "--ip-forward=false",
             f"--cgroup-parent=/{self.cgroup_parent}", f"--bridge={self.bridge or 'none'}"]
        if self.live_restore:
            a.append("--live-restore")
        return a

    def containerd_pid(self):
        try:
            return int(read(os.path.join(self.exec_root, "containerd", "containerd.pid")).strip())
        except ValueError:
            return None

    def daemon_pids(self):
        out = super().daemon_pids()
        c = self.containerd_pid()
        if c and alive(c):
            out.append(c)
        return out

    def cgroup_marker(self):
        return f"/{self.cgroup_parent}/"

    def _host_cleanup(self):
        remove_cgroups(self.cgroup_parent)
