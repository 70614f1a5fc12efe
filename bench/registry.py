#!/usr/bin/env python3
"""Registry push/pull throughput: berthd -> berth-registry vs dockerd -> docker-registry.

Usage: sudo bench/registry.py [--layers N] [--layer-mib M] [--runs R] [--cross]

Makes a multi-layer image (default 4 layers of 256 MiB: half random bytes, half repeated
text, so gzip gets roughly 2:1) as a docker-save archive and `docker load`s it into a berthd
and into Debian's dockerd, both on temporary roots. Then, R times (alternating which daemon
goes first), each daemon pushes it through the real docker CLI to a fresh registry of its own
kind on 127.0.0.1 (berthd -> berth-registry, dockerd -> Debian's docker-registry), removes
the image and pulls it back. `--cross` adds berthd -> docker-registry and dockerd ->
berth-registry, which separates client speed from server speed. Reports medians, MB/s
(over the image's uncompressed size, and over the compressed bytes on the wire) and ratios in
bench/results/registry-latest.md and .json. Installs docker.io, docker-registry and skopeo
if missing (scripts/deps) and builds release binaries first. Cleans up everything it made.
"""
import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "berth")
MIB = 1 << 20


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=isinstance(cmd, str), check=True, **kw)


def quiet(cmd, env=None):
    return subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_up(addr):
    try:
        with urllib.request.urlopen(f"http://{addr}/v2/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class HashWriter:
    """A file object that hashes what it writes."""

    def __init__(self, f):
        self.f, self.h, self.n = f, hashlib.sha256(), 0

    def write(self, b):
        self.h.update(b)
        self.n += len(b)
        return self.f.write(b)

    def tell(self):
        return self.n


class Source:
    """`size` bytes from a block generator, read by tarfile in pieces."""

    def __init__(self, size, block):
        self.left, self.block, self.buf = size, block, b""

    def read(self, n=-1):
        if n < 0:
            n = self.left
        n = min(n, self.left)
        while len(self.buf) < n:
            self.buf += self.block()
        out, self.buf = self.buf[:n], self.buf[n:]
        self.left -= n
        return out


def text_block(layer):
    lines = []
    size = 0
    i = 0
    while size < MIB:
        line = f"layer {layer} line {i:08d}: the quick brown fox jumps over the lazy dog {i * 2654435761 % 4294967296:08x}\n"
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines).encode()[:MIB]


def make_archive(work, layers, layer_mib, tag):
    """A docker-save archive (legacy layout) with `layers` layers; returns (path, config digest, diff ids)."""
    out = os.path.join(work, "archive")
    os.makedirs(out)
    diff_ids = []
    files_per_layer = 4
    file_size = layer_mib * MIB // files_per_layer
    for k in range(layers):
        tmp = os.path.join(out, f"layer{k}.tmp")
        with open(tmp, "wb") as f:
            hw = HashWriter(f)
            with tarfile.open(fileobj=hw, mode="w|", format=tarfile.PAX_FORMAT) as t:
                d = tarfile.TarInfo(f"data/layer{k}")
                d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1700000000
                t.addfile(d)
                text = text_block(k)
                for j in range(files_per_layer):
                    random_part = j % 2 == 0
                    ti = tarfile.TarInfo(f"data/layer{k}/{'random' if random_part else 'text'}-{j}.bin")
                    ti.size, ti.mode, ti.mtime = file_size, 0o644, 1700000000
                    block = (lambda: os.urandom(4 * MIB)) if random_part else (lambda: text)
                    t.addfile(ti, Source(file_size, block))
        diff = hw.h.hexdigest()
        diff_ids.append("sha256:" + diff)
        os.makedirs(os.path.join(out, diff))
        os.rename(tmp, os.path.join(out, diff, "layer.tar"))
    created = "2024-01-01T00:00:00Z"
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
        "history": [{"created": created, "created_by": f"bench layer {k}"} for k in range(layers)],
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    raw = json.dumps(config, separators=(",", ":")).encode()
    cdigest = hashlib.sha256(raw).hexdigest()
    with open(os.path.join(out, cdigest + ".json"), "wb") as f:
        f.write(raw)
    manifest = [{"Config": cdigest + ".json", "RepoTags": [tag],
                 "Layers": [d.split(":")[1] + "/layer.tar" for d in diff_ids]}]
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)
    path = os.path.join(work, "image.tar")
    sh(["tar", "-C", out, "-cf", path, "."])
    shutil.rmtree(out)
    return path, "sha256:" + cdigest, diff_ids


def wait_socket(path, proc, what, log):
    for _ in range(1200):
        if os.path.exists(path):
            r = quiet(["docker", "version"], env={**os.environ, "DOCKER_HOST": "unix://" + path})
            if r.returncode == 0:
                return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    sys.exit(f"{what} did not start; see {log}")


class Registry:
    """berth-registry or docker-registry on a free 127.0.0.1 port with a fresh root."""

    def __init__(self, kind, work, n):
        self.kind = kind
        self.dir = os.path.join(work, f"{kind}-{n}")
        os.makedirs(self.dir)
        self.log = os.path.join(self.dir, "registry.log")
        for _ in range(5):
            self.addr = f"127.0.0.1:{free_port()}"
            if kind == "berth-registry":
                cmd = [os.path.join(ROOT, "target", "release", "berth-registry"), "--listen", self.addr,
                       "--root", os.path.join(self.dir, "root")]
                env = {**os.environ, "RUST_LOG": "warn", "NO_COLOR": "1"}
            else:
                cfg = os.path.join(self.dir, "config.yml")
                with open(cfg, "w") as f:
                    f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
                            f"{os.path.join(self.dir, 'root')}\n  delete:\n    enabled: true\nhttp:\n  addr: {self.addr}\n")
                cmd = ["/usr/bin/docker-registry", "serve", cfg]
                env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            self.proc = subprocess.Popen(cmd, env=env, stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
            for _ in range(600):
                if self.proc.poll() is not None or http_up(self.addr):
                    break
                time.sleep(0.05)
            if self.proc.poll() is None and http_up(self.addr):
                return
            self.stop()
        sys.exit(f"{kind} did not start; see {self.log}")

    def manifest(self, repo, tag):
        req = urllib.request.Request(f"http://{self.addr}/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join([
            "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"])})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.decode()[-800:]}")
    return dt


def image_id(env, name):
    r = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", name], env=env, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--layer-mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cross", action="store_true", help="also berthd -> docker-registry and dockerd -> berth-registry")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root")
    sh([os.path.join(ROOT, "scripts", "deps")])
    sh([os.path.join(ROOT, "scripts", "build"), "release"], stdout=subprocess.DEVNULL)
    sh(["cargo", "build", "--release", "-q", "-p", "berth-registry"], cwd=ROOT)

    work = tempfile.mkdtemp(prefix="berth-regbench-")
    procs = []
    registries = []
    try:
        tag = "bench/big:1"
        t = time.perf_counter()
        archive, cid, diff_ids = make_archive(work, a.layers, a.layer_mib, tag)
        gen_s = time.perf_counter() - t
        size = a.layers * a.layer_mib * MIB
        print(f"made {archive}: {a.layers} x {a.layer_mib} MiB layers in {gen_s:.1f} s, image {cid[:19]}", flush=True)

        bsock = os.path.join(work, "berth.sock")
        blog = os.path.join(work, "berthd.log")
        bd = subprocess.Popen([os.path.join(BIN, "berthd"), "--data-root", os.path.join(work, "bdata"),
                               "--exec-root", os.path.join(work, "bexec"), "-H", "unix://" + bsock,
                               "--iptables=false"],
                              stdout=open(blog, "w"), stderr=subprocess.STDOUT)
        procs.append(bd)
        wait_socket(bsock, bd, "berthd", blog)
        dsock = os.path.join(work, "docker.sock")
        dlog = os.path.join(work, "dockerd.log")
        dd = subprocess.Popen(["dockerd", "--data-root", os.path.join(work, "ddata"), "--exec-root",
                               os.path.join(work, "dexec"), "-H", "unix://" + dsock, "--pidfile",
                               os.path.join(work, "dockerd.pid"), "--iptables=false", "--ip6tables=false",
                               "--bridge=none"],
                              stdout=open(dlog, "w"), stderr=subprocess.STDOUT)
        procs.append(dd)
        wait_socket(dsock, dd, "dockerd", dlog)
        cfg = os.path.join(work, "docker-config")
        envs = {"berthd": {**os.environ, "DOCKER_HOST": "unix://" + bsock, "DOCKER_CONFIG": cfg},
                "dockerd": {**os.environ, "DOCKER_HOST": "unix://" + dsock, "DOCKER_CONFIG": cfg}}

        load_s = {}
        for daemon in ["berthd", "dockerd"]:
            load_s[daemon] = timed(["docker", "load", "-i", archive], envs[daemon])
            got = image_id(envs[daemon], tag)
            if got != cid:
                sys.exit(f"{daemon} loaded {got}, expected {cid}")
            print(f"{daemon}: load {load_s[daemon]:.1f} s", flush=True)
        os.remove(archive)

        pairs = [("berthd", "berth-registry"), ("dockerd", "docker-registry")]
        if a.cross:
            pairs += [("berthd", "docker-registry"), ("dockerd", "berth-registry")]
        samples = {f"{d} -> {r}": {"push_s": [], "pull_s": [], "wire_bytes": []} for d, r in pairs}
        n = 0
        for run in range(a.runs):
            order = pairs if run % 2 == 0 else list(reversed(pairs))
            for daemon, kind in order:
                n += 1
                env = envs[daemon]
                reg = Registry(kind, work, n)
                registries.append(reg)
                name = f"{reg.addr}/bench/big:1"
                sh(["docker", "tag", tag, name], env=env)
                push = timed(["docker", "push", name], env)
                m = reg.manifest("bench/big", "1")
                wire = sum(l["size"] for l in m["layers"]) + m["config"]["size"]
                sh(["docker", "rmi", tag, name], env=env, stdout=subprocess.DEVNULL)
                if image_id(env, cid) is not None:
                    sys.exit(f"{daemon}: image still present after rmi")
                pull = timed(["docker", "pull", name], env)
                if image_id(env, name) != cid:
                    sys.exit(f"{daemon}: pulled {image_id(env, name)}, expected {cid}")
                sh(["docker", "tag", name, tag], env=env)
                sh(["docker", "rmi", name], env=env, stdout=subprocess.DEVNULL)
                reg.remove()
                registries.remove(reg)
                s = samples[f"{daemon} -> {kind}"]
                s["push_s"].append(push)
                s["pull_s"].append(pull)
                s["wire_bytes"].append(wire)
                print(f"run {run + 1}: {daemon} -> {kind}: push {push:.1f} s, pull {pull:.1f} s "
                      f"({wire / MIB:.0f} MiB on the wire)", flush=True)

        med = {}
        for k, s in samples.items():
            push, pull = statistics.median(s["push_s"]), statistics.median(s["pull_s"])
            wire = statistics.median(s["wire_bytes"])
            med[k] = {"push_s": push, "pull_s": pull, "wire_bytes": wire,
                      "push_MBps": size / 1e6 / push, "pull_MBps": size / 1e6 / pull,
                      "push_wire_MBps": wire / 1e6 / push, "pull_wire_MBps": wire / 1e6 / pull}
        b, d = med["berthd -> berth-registry"], med["dockerd -> docker-registry"]
        ratios = {"push": d["push_s"] / b["push_s"], "pull": d["pull_s"] / b["pull_s"],
                  "load": load_s["dockerd"] / load_s["berthd"]}

        lines = ["# Registry push/pull: berthd -> berth-registry vs dockerd -> docker-registry", "",
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, kernel {os.uname().release}. "
                 f"Image: {a.layers} layers x {a.layer_mib} MiB ({size / 1e6:.0f} MB uncompressed; each layer half random, "
                 f"half repeated text), pushed to a fresh registry on 127.0.0.1 each run, then `rmi` and `pull`; "
                 f"{a.runs} runs per pair, alternating order, medians. Through the real docker CLI. "
                 "MB/s is over the uncompressed image size (wire MB/s: over the compressed bytes sent).", "",
                 "| pair | push s | push MB/s | push wire MB/s | pull s | pull MB/s | pull wire MB/s | on the wire MB |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for k, m in med.items():
            lines.append(f"| {k} | {m['push_s']:.1f} | {m['push_MBps']:.0f} | {m['push_wire_MBps']:.0f} | {m['pull_s']:.1f} | "
                         f"{m['pull_MBps']:.0f} | {m['pull_wire_MBps']:.0f} | {m['wire_bytes'] / 1e6:.0f} |")
        lines += ["", f"berthd vs dockerd (dockerd time / berthd time): push {ratios['push']:.2f}x, pull {ratios['pull']:.2f}x.", "",
                  f"`docker load` of the {size / 1e6:.0f} MB archive (once, before the runs): berthd {load_s['berthd']:.1f} s, "
                  f"dockerd {load_s['dockerd']:.1f} s ({ratios['load']:.2f}x). berthd gzips each layer into its content store "
                  "at load (and commit/import), so its push only uploads; dockerd compresses at every push.", ""]
        report = "\n".join(lines)
        print(report)
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        with open(os.path.join(ROOT, "bench", "results", "registry-latest.md"), "w") as f:
            f.write(report)
        with open(os.path.join(ROOT, "bench", "results", "registry-latest.json"), "w") as f:
            json.dump({"image": {"layers": a.layers, "layer_mib": a.layer_mib, "bytes": size, "id": cid},
                       "runs": a.runs, "generate_s": gen_s, "load_s": load_s, "samples": samples,
                       "median": med, "ratios_dockerd_over_berthd": ratios}, f, indent=1)
    finally:
        for r in registries:
            r.stop()
        for p in procs:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # Whatever is still mounted under the work dir (dockerd's overlays and netns, berthd's).
        mounts = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split()[4].replace("\\040", " ")
                if mp.startswith(work + "/"):
                    mounts.append(mp)
        for mp in sorted(mounts, key=len, reverse=True):
            quiet(["umount", "-l", mp])
        # berthd's host networking and cgroups carry a hash of its data root (see testkit).
        bdata = os.path.join(work, "bdata")
        h = hashlib.sha256(bdata.encode()).hexdigest()
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
