"""Scenario `start`: container start latency, berthd vs dockerd vs bare runc (bench/run).

Times `run --rm busybox true` with `--network none` and on the default bridge network through
the real docker CLI against berthd and against dockerd, through our `berth` CLI against
berthd, and `runc run` of the same busybox rootfs (no network namespace set up beyond its own
loopback). Every round runs every path once, the order reversed every other round, so load
drifts hit all alike. `docker ps -q` against berthd gives what the docker CLI costs by itself.
(Memory per container is measured by the fleet scenario in scale.py, at N = 10, 100, 1000.)
"""
import json
import os
import sys

import lib

NONE = ["run", "--rm", "--network", "none", "busybox", "true"]
BRIDGE = ["run", "--rm", "busybox", "true"]


def runc_bundle(ctx):
    bundle = ctx.mkdir("runc-bundle")
    lib.run(["runc", "spec"], cwd=bundle)
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        spec = json.load(f)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["true"]
    spec["root"] = {"path": ctx.busybox_rootfs(), "readonly": True}
    with open(path, "w") as f:
        json.dump(spec, f)
    return bundle


def scenario(ctx):
    runs = ctx.opts.runs
    b = lib.Berthd(ctx, "start").start()
    d = lib.Dockerd(ctx, "start").start()
    try:
        b.import_busybox()
        d.import_busybox()
        bundle = runc_bundle(ctx)
        runc_root = ctx.mkdir("runc-root")
        berth = os.path.join(ctx.bin, "berth")
        n = [0]

        def runc_once():
            n[0] += 1
            return lib.timed(["runc", "--root", runc_root, "run", "--bundle", bundle, f"bench-{ctx.id}-{n[0]}"])

        # (network, series name, op)
        paths = [
            ("none", "berthd", lambda: lib.timed(["docker"] + NONE, b.env)),
            ("none", "berthd (berth CLI)", lambda: lib.timed([berth] + NONE, b.env)),
            ("none", "dockerd", lambda: lib.timed(["docker"] + NONE, d.env)),
            ("none", "runc", runc_once),
            ("bridge", "berthd", lambda: lib.timed(["docker"] + BRIDGE, b.env)),
            ("bridge", "berthd (berth CLI)", lambda: lib.timed([berth] + BRIDGE, b.env)),
            ("bridge", "dockerd", lambda: lib.timed(["docker"] + BRIDGE, d.env)),
            ("cli", "docker CLI alone (ps -q, berthd)", lambda: lib.timed(["docker", "ps", "-q"], b.env)),
        ]
        for _, _, op in paths:  # warm up: page in binaries, first-use setup
            op()
        samples = {f"{net}/{name}": [] for net, name, _ in paths}
        for r in range(runs):
            for net, name, op in (paths if r % 2 == 0 else list(reversed(paths))):
                samples[f"{net}/{name}"].append(op())
        lib.log(f"start: {runs} rounds done")
    finally:
        d.destroy()
        b.destroy()
    return report(samples, runs)


def report(samples, runs):
    s = samples
    runc = s["none/runc"]
    rows = []
    ratios = []
    for key, v in s.items():
        net, name = key.split("/", 1)
        st = lib.summary(v)
        rr = lib.compare(f"runc/start/{key}", f"{name}, {net}", runc, v, "ms", vs="runc", base_name="runc") \
            if net != "cli" else None
        if rr and name != "runc":
            ratios.append(rr)
        rows.append([name, {"none": "none", "bridge": "bridge", "cli": "—"}[net], lib.fmt(st["median"]),
                     lib.fmt(st["p90"]), lib.fmt(st["iqr"]),
                     lib.fmt_ratio(rr["value"]) if rr else "—", lib.fmt_noise(rr["noise"]) if rr and name != "runc" else ""])
    for net in ("none", "bridge"):
        ratios.append(lib.compare(f"dockerd/start/{net}", f"`docker run --rm` ({net}), docker CLI",
                                  s[f"{net}/berthd"], s[f"{net}/dockerd"], "ms"))
    bridge_cost = {e: lib.median(s[f"bridge/{e}"]) - lib.median(s[f"none/{e}"]) for e in ("berthd", "dockerd")}
    md = [f"`run --rm busybox true`, {runs} rounds, every path once per round (order reversed every other "
          "round). Milliseconds; × runc is the path's median over bare `runc run`'s, noise its 90% bootstrap "
          "interval.", ""]
    md += lib.table(["path", "network", "median ms", "p90 ms", "IQR ms", "× runc", "noise"], rows)
    md += ["", f"A bridge network adds {bridge_cost['berthd']:.1f} ms to berthd's start and "
           f"{bridge_cost['dockerd']:.1f} ms to dockerd's (median differences). The docker CLI alone "
           f"(`ps -q`) takes {lib.median(s['cli/docker CLI alone (ps -q, berthd)']):.1f} ms of every docker-CLI path."]
    chart = lib.dist_chart("run-latency.png", "run --rm busybox true", "ms", [
        ("network none", [(n, s[f"none/{n}"]) for n in ("berthd", "berthd (berth CLI)", "dockerd", "runc")]),
        ("bridge network", [(n, s[f"bridge/{n}"]) for n in ("berthd", "berthd (berth CLI)", "dockerd")]),
    ])
    headline = []
    for net in ("none", "bridge"):
        r = next(x for x in ratios if x["key"] == f"dockerd/start/{net}")
        headline.append([f"`docker run --rm busybox true`, network {net}", f"{lib.fmt(r['base'])} ms",
                         f"{lib.fmt(r['other'])} ms", lib.fmt_ratio(r["value"])])
    headline.append(["the same through our `berth` CLI (network none)",
                     f"{lib.fmt(lib.median(s['none/berthd (berth CLI)']))} ms", "—", "—"])
    headline.append(["bare `runc run` of the same rootfs", f"{lib.fmt(lib.median(runc))} ms", "", ""])
    return {"data": {"runs": runs, "samples_ms": s, "summary_ms": {k: lib.summary(v) for k, v in s.items()},
                     "bridge_cost_ms": bridge_cost},
            "md": md, "ratios": ratios, "charts": [chart], "headline": headline, "targets": []}


if __name__ == "__main__":
    os.execv(os.path.join(lib.BENCH, "run"), [os.path.join(lib.BENCH, "run"), "--only", "start"] + sys.argv[1:])
