"""Scenario `registry`: push/pull throughput, berthd -> berth-registry vs dockerd -> docker-registry.

Makes a multi-layer image (4 layers of 256 MiB; --quick: 2 of 16 MiB; each layer half random
bytes, half repeated text, so gzip gets roughly 2:1) as a docker-save archive and `docker
load`s it into a berthd and a dockerd. Then, 3 times (--quick: once), alternating which daemon
goes first, each daemon pushes it through the real docker CLI to a fresh registry of its own
kind on 127.0.0.1 (berthd -> berth-registry, dockerd -> Debian's docker-registry), removes the
image and pulls it back. --registry-cross adds berthd -> docker-registry and dockerd ->
berth-registry, which separates client speed from server speed. MB/s is over the image's
uncompressed size (wire MB/s: over the compressed bytes on the wire).
"""
import hashlib
import json
import os
import shutil
import socket
import sys
import tarfile
import time
import urllib.error
import urllib.request

import lib

MIB = 1 << 20
TAG = "bench/big:1"


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
    lines, size, i = [], 0, 0
    while size < MIB:
        line = f"layer {layer} line {i:08d}: the quick brown fox jumps over the lazy dog {i * 2654435761 % 4294967296:08x}\n"
        lines.append(line)
        size += len(line)
        i += 1
    return "".join(lines).encode()[:MIB]


def make_archive(work, layers, layer_mib):
    """A docker-save archive (legacy layout) with `layers` layers; returns (path, config digest)."""
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
        "architecture": "amd64", "os": "linux", "created": created,
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/bin/sh"]},
        "history": [{"created": created, "created_by": f"bench layer {k}"} for k in range(layers)],
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    raw = json.dumps(config, separators=(",", ":")).encode()
    cdigest = hashlib.sha256(raw).hexdigest()
    with open(os.path.join(out, cdigest + ".json"), "wb") as f:
        f.write(raw)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump([{"Config": cdigest + ".json", "RepoTags": [TAG],
                    "Layers": [d.split(":")[1] + "/layer.tar" for d in diff_ids]}], f)
    path = os.path.join(work, "image.tar")
    lib.run(["tar", "-C", out, "-cf", path, "."])
    shutil.rmtree(out)
    return path, "sha256:" + cdigest


class Registry:
    """berth-registry or docker-registry on a free 127.0.0.1 port with a fresh root."""

    def __init__(self, ctx, kind):
        self.kind = kind
        self.dir = ctx.mkdir(kind)
        self.proc = None
        ctx.defer(kind, self.remove)
        self.log = os.path.join(self.dir, "registry.log")
        for _ in range(5):
            self.addr = f"127.0.0.1:{free_port()}"
            if kind == "berth-registry":
                cmd = [os.path.join(ctx.bin, "berth-registry"), "--listen", self.addr, "--root", os.path.join(self.dir, "root")]
                env = {**os.environ, "RUST_LOG": "warn", "NO_COLOR": "1"}
            else:
                cfg = os.path.join(self.dir, "config.yml")
                with open(cfg, "w") as f:
                    f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: "
                            f"{os.path.join(self.dir, 'root')}\n  delete:\n    enabled: true\nhttp:\n  addr: {self.addr}\n")
                cmd = ["/usr/bin/docker-registry", "serve", cfg]
                env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
            self.proc = lib.subprocess.Popen(cmd, env=env, stdin=lib.subprocess.DEVNULL, stdout=open(self.log, "a"),
                                             stderr=lib.subprocess.STDOUT, start_new_session=True)
            for _ in range(600):
                if self.proc.poll() is not None or http_up(self.addr):
                    break
                time.sleep(0.05)
            if self.proc.poll() is None and http_up(self.addr):
                return
            self.stop()
        raise lib.BenchError(f"{kind} did not start; see {self.log}")

    def manifest(self, repo, tag):
        req = urllib.request.Request(f"http://{self.addr}/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join([
            "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"])})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except lib.subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def remove(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def image_id(daemon, name):
    r = lib.run(["docker", "image", "inspect", "--format", "{{.Id}}", name], env=daemon.env, check=False)
    return r.stdout.strip() if r.returncode == 0 else None


def scenario(ctx):
    opts = ctx.opts
    layers, layer_mib, runs = (2, 16, 1) if opts.quick else (4, 256, 3)
    size = layers * layer_mib * MIB
    work = ctx.mkdir("registry")
    t = time.perf_counter()
    archive, cid = make_archive(work, layers, layer_mib)
    lib.log(f"registry: made a {layers} x {layer_mib} MiB image in {time.perf_counter() - t:.1f} s")
    b = lib.Berthd(ctx, "registry").start()
    d = lib.Dockerd(ctx, "registry", bridge=False).start()
    daemons = {"berthd": b, "dockerd": d}
    try:
        load_s = {}
        for name, daemon in daemons.items():
            load_s[name] = lib.timed(["docker", "load", "-i", archive], env=daemon.env) / 1000
            got = image_id(daemon, TAG)
            if got != cid:
                raise lib.BenchError(f"{name} loaded {got}, expected {cid}")
            lib.log(f"registry: {name} load {load_s[name]:.1f} s")
        os.remove(archive)
        pairs = [("berthd", "berth-registry"), ("dockerd", "docker-registry")]
        if opts.registry_cross:
            pairs += [("berthd", "docker-registry"), ("dockerd", "berth-registry")]
        samples = {f"{dn} -> {rk}": {"push_s": [], "pull_s": [], "wire_bytes": []} for dn, rk in pairs}
        for r in range(runs):
            for dn, kind in (pairs if r % 2 == 0 else list(reversed(pairs))):
                daemon = daemons[dn]
                reg = Registry(ctx, kind)
                name = f"{reg.addr}/bench/big:1"
                daemon.docker(["tag", TAG, name])
                push = lib.timed(["docker", "push", name], env=daemon.env) / 1000
                m = reg.manifest("bench/big", "1")
                wire = sum(l["size"] for l in m["layers"]) + m["config"]["size"]
                daemon.docker(["rmi", TAG, name])
                if image_id(daemon, cid) is not None:
                    raise lib.BenchError(f"{dn}: image still present after rmi")
                pull = lib.timed(["docker", "pull", name], env=daemon.env) / 1000
                if image_id(daemon, name) != cid:
                    raise lib.BenchError(f"{dn}: pulled {image_id(daemon, name)}, expected {cid}")
                daemon.docker(["tag", name, TAG])
                daemon.docker(["rmi", name])
                reg.remove()
                s = samples[f"{dn} -> {kind}"]
                s["push_s"].append(push)
                s["pull_s"].append(pull)
                s["wire_bytes"].append(wire)
                lib.log(f"registry run {r + 1}: {dn} -> {kind}: push {push:.1f} s, pull {pull:.1f} s ({wire / MIB:.0f} MiB on the wire)")
    finally:
        d.destroy()
        b.destroy()
        shutil.rmtree(work, ignore_errors=True)

    med = {}
    for k, s in samples.items():
        push, pull, wire = lib.median(s["push_s"]), lib.median(s["pull_s"]), lib.median(s["wire_bytes"])
        med[k] = {"push_s": push, "pull_s": pull, "wire_bytes": wire, "push_MBps": size / 1e6 / push,
                  "pull_MBps": size / 1e6 / pull, "push_wire_MBps": wire / 1e6 / push, "pull_wire_MBps": wire / 1e6 / pull}
    sb, sd = samples["berthd -> berth-registry"], samples["dockerd -> docker-registry"]
    ratios = [lib.compare("dockerd/registry/push", f"push {size / 1e6:.0f} MB (each to its own registry)", sb["push_s"], sd["push_s"], "s"),
              lib.compare("dockerd/registry/pull", f"pull {size / 1e6:.0f} MB (each from its own registry)", sb["pull_s"], sd["pull_s"], "s"),
              lib.compare("dockerd/registry/load", f"`docker load` of the {size / 1e6:.0f} MB archive", load_s["berthd"], load_s["dockerd"], "s")]
    md = [f"Image: {layers} layers × {layer_mib} MiB ({size / 1e6:.0f} MB uncompressed; each layer half random, half "
          f"repeated text), pushed to a fresh registry on 127.0.0.1 each run, then `rmi` and `pull`; {runs} run(s) per "
          "pair, alternating order, medians; through the real docker CLI. MB/s is over the uncompressed image size "
          "(wire MB/s: over the compressed bytes sent).", ""]
    md += lib.table(["pair", "push s", "push MB/s", "push wire MB/s", "pull s", "pull MB/s", "pull wire MB/s", "on the wire MB"],
                    [[k, f"{m['push_s']:.1f}", f"{m['push_MBps']:.0f}", f"{m['push_wire_MBps']:.0f}", f"{m['pull_s']:.1f}",
                      f"{m['pull_MBps']:.0f}", f"{m['pull_wire_MBps']:.0f}", f"{m['wire_bytes'] / 1e6:.0f}"] for k, m in med.items()])
    md += ["", f"`docker load` of the archive (once, before the runs): berthd {load_s['berthd']:.1f} s, dockerd "
           f"{load_s['dockerd']:.1f} s. berthd compresses each layer when it enters its store (load, commit, import), so "
           "its push only uploads; dockerd compresses at every push."]
    chart = lib.dist_chart("registry.png", f"push and pull of a {size / 1e6:.0f} MB image", "s",
                           [(op, [(k.split(" -> ")[0] + ("" if k in ("berthd -> berth-registry", "dockerd -> docker-registry")
                                                           else f" → {k.split(' -> ')[1]}"), s[f"{op}_s"])
                                  for k, s in samples.items()]) for op in ("push", "pull")])
    headline = [[f"push {size / 1e6:.0f} MB to its own registry on loopback", f"{lib.fmt(lib.median(sb['push_s']))} s",
                 f"{lib.fmt(lib.median(sd['push_s']))} s", lib.fmt_ratio(ratios[0]["value"])],
                ["pull it back", f"{lib.fmt(lib.median(sb['pull_s']))} s", f"{lib.fmt(lib.median(sd['pull_s']))} s",
                 lib.fmt_ratio(ratios[1]["value"])]]
    return {"data": {"image": {"layers": layers, "layer_mib": layer_mib, "bytes": size, "id": cid}, "runs": runs,
                     "load_s": load_s, "samples": samples, "median": med},
            "md": md, "ratios": ratios, "charts": [chart], "headline": headline, "targets": []}


if __name__ == "__main__":
    run = os.path.join(lib.BENCH, "run")
    os.execv(run, [run, "--only", "registry"] + sys.argv[1:])
