"""Scenarios `fleet` and `parallel`: many containers at once, berthd vs dockerd (bench/run).

fleet — for N in 10, 100, 1000 (--quick: 10, 100), alternating berthd N=10, dockerd N=10,
berthd N=100, ...: start N `run -d busybox sleep 3600` on the default bridge network from 8
parallel docker CLI clients (total time); with all N running, measure
  * memory per container: the monitors' (berth-shim / containerd-shim-runc-v2) RSS, PSS and
    private memory; the daemon's RSS growth since just before the fleet started (berthd;
    dockerd + containerd); the system's MemAvailable drop per container minus the container
    processes' own PSS; and "beyond the processes" = monitor PSS + daemon RSS growth;
  * GET /containers/json and GET /containers/{id}/json latency over the unix socket (a fresh
    connection per request, to the last byte) and `docker ps` / `docker inspect` through the CLI;
  * restart: SIGTERM the daemon, start it again (dockerd runs with --live-restore), time until
    it answers /_ping and lists all N running; then `kill -9` one container's process and wait
    (bounded) until the daemon reports it exited, which proves it reconnected to its monitors;
  * removal of all N (8 clients, `rm -f`).
For berthd at the largest N the fleet is also started through our `berth` CLI. dockerd's fleet
is capped at --dockerd-max containers and stops taking new containers after --dockerd-budget
seconds; the report says when either happened.

parallel — 8 clients each doing 25 `run -d` (200 containers; --quick 8 x 5) against each
daemon (docker CLI; berthd also through `berth`): per-op latency distribution and total.
"""
import os
import random
import signal
import sys
import time

import lib

CLIENTS = 8


def sizes(opts):
    return [10, 100] if opts.quick else [10, 100, 1000]


def start_fleet(daemon, names, cli, deadline=None):
    return lib.parallel(CLIENTS, names, lambda nm: lib.timed(
        cli + ["run", "-d", "--name", nm, "busybox", "sleep", "3600"], env=daemon.env), deadline)


def inspect(daemon, cid):
    return daemon.api_json("GET", f"/containers/{cid}/json", timeout=30)


def restart(daemon, expected):
    """Stop the daemon with SIGTERM and start it again: seconds until /_ping answers and until
    all `expected` containers are listed running; then prove reconnection with kill -9."""
    ids = daemon.container_ids()
    stop_s = daemon.stop()
    t = time.perf_counter()
    daemon.spawn()
    ping_s = None
    end = time.monotonic() + 300
    listed = 0
    while True:
        if time.monotonic() > end:
            raise lib.BenchError(f"{daemon.kind} restart: after 300 s it lists {listed} of {expected} running "
                                 f"(ping {'ok' if ping_s else 'no'}); log {daemon.log_path}")
        if daemon.proc.poll() is not None:
            raise lib.BenchError(f"{daemon.kind} exited during restart:\n{daemon.log_tail()}")
        if ping_s is None:
            if daemon.ping():
                ping_s = time.perf_counter() - t
            else:
                time.sleep(0.005)
                continue
        try:
            cs = daemon.api_json("GET", "/containers/json", timeout=60)
            listed = sum(1 for c in cs if c.get("State") == "running")
            if listed >= expected:
                break
        except (OSError, lib.BenchError, ValueError):
            pass
        time.sleep(0.005)
    ready_s = time.perf_counter() - t
    # Reconnected? kill -9 one container's process behind the daemon's back: the daemon learns
    # of the exit only through its (re)connection to the container's monitor.
    victim = random.choice(ids)
    pid = inspect(daemon, victim)["State"]["Pid"]
    if not pid:
        raise lib.BenchError(f"{daemon.kind}: container {victim[:12]} has no pid after the restart")
    os.kill(pid, signal.SIGKILL)
    t = time.perf_counter()
    while True:
        st = inspect(daemon, victim)["State"]
        if not st.get("Running"):
            break
        if time.perf_counter() - t > 30:
            raise lib.BenchError(f"{daemon.kind}: container {victim[:12]}'s process {pid} was killed but the "
                                 "daemon still reports it running after 30 s: not reconnected after the restart")
        time.sleep(0.01)
    noticed_ms = (time.perf_counter() - t) * 1000
    return {"stop_s": stop_s, "ping_s": ping_s, "ready_s": ready_s, "exit_noticed_ms": noticed_ms,
            "exit_code": st.get("ExitCode"), "reconnected": True}


def fleet_once(ctx, daemon, n, want, berth_cli):
    opts = ctx.opts
    r = {"requested": n, "target": want}
    time.sleep(1)
    idle_rss = daemon.rss_kib()
    idle_avail = lib.mem_available_kib()
    names = [f"f{ctx.id}-{n}-{i}" for i in range(want)]
    deadline = time.monotonic() + opts.dockerd_budget if daemon.kind == "dockerd" else None
    lib.log(f"fleet: {daemon.kind} starting {want} containers")
    res = start_fleet(daemon, names, ["docker"], deadline)
    r["start_s"] = res["total_s"]
    r["start_op_ms"] = res["ms"]
    r["started"] = len(res["done"])
    r["start_errors"] = [m[:300] for _, m in res["errors"][:5]]
    r["start_error_count"] = len(res["errors"])
    if res["cut"]:
        r["cut_by_budget"] = {"budget_s": opts.dockerd_budget, "not_started": res["cut"]}
    running = daemon.container_ids()
    r["running"] = k = len(running)
    lib.log(f"fleet: {daemon.kind} {k} running after {r['start_s']:.1f} s"
            + (f" ({len(res['errors'])} failed: {res['errors'][0][1][:200]})" if res["errors"] else "")
            + (f" (budget of {opts.dockerd_budget} s reached)" if res["cut"] else ""))
    if k == 0:
        raise lib.BenchError(f"{daemon.kind}: no container running after starting {want}")

    time.sleep(2)
    inside, mons = daemon.container_procs()
    mon = lib.smaps(mons)
    procs = lib.smaps(inside)
    rss = daemon.rss_kib()
    avail = lib.mem_available_kib()
    r["memory_kib"] = {
        "monitors": len(mons), "container_procs": len(inside),
        "monitor_rss": mon["rss"] / k, "monitor_pss": mon["pss"] / k, "monitor_uss": mon["uss"] / k,
        "daemon_rss_idle": idle_rss, "daemon_rss": rss, "daemon_growth": (rss - idle_rss) / k,
        "procs_pss": procs["pss"] / k,
        "system": (idle_avail - avail) / k - procs["pss"] / k,
        "beyond_procs": mon["pss"] / k + (rss - idle_rss) / k,
    }

    samples = max(20, opts.runs)
    lat = {"ps_api": [], "inspect_api": [], "ps_cli": [], "inspect_cli": []}
    for _ in range(samples):
        lat["ps_api"].append(lib.api_ms(daemon.sock, "/containers/json"))
        lat["inspect_api"].append(lib.api_ms(daemon.sock, f"/containers/{random.choice(running)}/json"))
    for _ in range(max(10, samples // 2)):
        lat["ps_cli"].append(daemon.docker_ms(["ps"]))
        lat["inspect_cli"].append(daemon.docker_ms(["inspect", random.choice(running)]))
    r["latency_ms"] = lat

    lib.log(f"fleet: {daemon.kind} restart with {k} running")
    r["restart"] = restart(daemon, k)
    lib.log(f"fleet: {daemon.kind} back in {r['restart']['ready_s']:.2f} s, removing")
    rm = daemon.remove_all(CLIENTS)
    r["remove_s"] = rm["total_s"]

    if berth_cli:
        names = [f"g{ctx.id}-{n}-{i}" for i in range(want)]
        lib.log(f"fleet: berthd starting {want} containers through the berth CLI")
        res = start_fleet(daemon, names, [os.path.join(ctx.bin, "berth")])
        r["berth_cli"] = {"start_s": res["total_s"], "start_op_ms": res["ms"], "started": len(res["done"]),
                          "running": len(daemon.container_ids()), "errors": [m[:300] for _, m in res["errors"][:5]]}
        daemon.remove_all(CLIENTS)
    return r


def recover(daemon):
    """After a failed step: the daemon up and without containers, or BenchError."""
    if daemon.proc is None or daemon.proc.poll() is not None or not daemon.ping():
        try:
            daemon.stop(timeout=30)
        except lib.BenchError:
            pass
        daemon.start()
    daemon.force_remove_all()
    left = daemon.container_ids(all_=True)
    if left:
        raise lib.BenchError(f"{daemon.kind}: {len(left)} containers could not be removed")


def scenario_fleet(ctx):
    opts = ctx.opts
    ns = sizes(opts)
    b = lib.Berthd(ctx, "fleet").start()
    d = lib.Dockerd(ctx, "fleet", live_restore=True).start()
    res = {"berthd": {}, "dockerd": {}}
    errors, notes = [], []
    dockerd_stopped = None
    try:
        for daemon in (b, d):
            daemon.import_busybox()
            daemon.docker(["run", "--rm", "busybox", "true"])  # warm up
        for n in ns:
            for daemon in (b, d):
                want = n
                if daemon is d:
                    if dockerd_stopped:
                        notes.append(f"dockerd N={n}: skipped ({dockerd_stopped})")
                        continue
                    if n > opts.dockerd_max:
                        want = opts.dockerd_max
                        if any(m == want for m in res["dockerd"]):
                            notes.append(f"dockerd N={n}: not run, capped at {want} containers (--dockerd-max "
                                         f"{opts.dockerd_max}), measured as N={want}")
                            continue
                        notes.append(f"dockerd N={n}: capped at {want} containers (--dockerd-max {opts.dockerd_max})")
                try:
                    r = fleet_once(ctx, daemon, n, want, berth_cli=(daemon is b and n == ns[-1]))
                    res[daemon.kind][n] = r
                    if daemon is d and r.get("cut_by_budget"):
                        notes.append(f"dockerd N={n}: capped at {r['started']} containers: the "
                                     f"{opts.dockerd_budget} s budget (--dockerd-budget) ran out")
                        dockerd_stopped = f"dockerd needed more than {opts.dockerd_budget} s at N={n}"
                except lib.BenchError as e:
                    lib.log(f"fleet: {daemon.kind} N={n} FAILED: {e}")
                    errors.append(f"{daemon.kind} N={n}: {e}")
                    res[daemon.kind][n] = {"requested": n, "error": str(e)}
                    try:
                        recover(daemon)
                    except lib.BenchError as e2:
                        errors.append(f"{daemon.kind}: no recovery: {e2}")
                        if daemon is d:
                            dockerd_stopped = "dockerd failed"
                        else:
                            raise
    finally:
        d.destroy()
        b.destroy()
    return fleet_report(res, ns, errors, notes, opts)


def _ok(res, kind, n):
    r = res[kind].get(n)
    return r if r and "error" not in r else None


def fleet_report(res, ns, errors, notes, opts):
    nmax = ns[-1]
    md = [f"N detached `busybox sleep 3600` on the default bridge network, started by {CLIENTS} parallel docker CLI "
          "clients; the daemons alternate (berthd N=10, dockerd N=10, berthd N=100, ...). dockerd runs with "
          "`--live-restore` so that its containers survive its restart, as berthd's always do.", ""]
    for note in notes:
        md.append(f"- **{note}**")
    if notes:
        md.append("")
    rows = []
    for n in ns:
        for kind in ("berthd", "dockerd"):
            r = res[kind].get(n)
            if r is None:
                continue
            if "error" in r:
                rows.append([kind, n, "FAILED", r["error"][:120], "", "", "", ""])
                continue
            rs = r["restart"]
            rows.append([kind, n, r["running"], lib.fmt(r["start_s"]),
                         lib.fmt(r["start_s"] * 1000 / max(r["started"], 1)), lib.fmt(r["remove_s"]),
                         f"{lib.fmt(rs['ready_s'])} ({lib.fmt(rs['ping_s'])})", lib.fmt(rs["exit_noticed_ms"])])
            if r.get("berth_cli"):
                bc = r["berth_cli"]
                rows.append(["berthd (berth CLI)", n, bc["running"], lib.fmt(bc["start_s"]),
                             lib.fmt(bc["start_s"] * 1000 / max(bc["started"], 1)), "", "", ""])
    md += ["Start, removal and restart (seconds; restart = until /_ping answers and all N are listed running, "
           "/_ping alone in parentheses; exit noticed = ms from `kill -9` of a container's process after the "
           "restart until the daemon reports it exited):", ""]
    md += lib.table(["daemon", "N", "running", "start all s", "ms per container", "remove all s", "restart s (ping)",
                     "exit noticed ms"], rows)
    rows = []
    for n in ns:
        for kind in ("berthd", "dockerd"):
            r = _ok(res, kind, n)
            if not r:
                continue
            m = r["memory_kib"]
            rows.append([kind, r["running"], lib.fmt(m["monitor_rss"]), lib.fmt(m["monitor_pss"]), lib.fmt(m["monitor_uss"]),
                         lib.fmt(m["daemon_rss"] / 1024), lib.fmt(m["daemon_growth"]), f"**{lib.fmt(m['beyond_procs'])}**",
                         lib.fmt(m["system"]), lib.fmt(m["procs_pss"])])
    md += ["", "Memory per container (KiB; daemon RSS in MiB — dockerd's is dockerd + containerd). *Beyond the "
           "processes* = monitor PSS + daemon RSS growth since just before the fleet; *system* = MemAvailable drop "
           "per container minus the container processes' own PSS (it also counts kernel memory: namespaces, veths, "
           "cgroups, mounts — and whatever else the machine did meanwhile).", ""]
    md += lib.table(["daemon", "N", "monitor RSS", "monitor PSS", "monitor private", "daemon RSS MiB",
                     "daemon growth", "beyond processes", "system", "container procs PSS"], rows)
    rows = []
    for n in ns:
        for kind in ("berthd", "dockerd"):
            r = _ok(res, kind, n)
            if not r:
                continue
            lat = r["latency_ms"]
            rows.append([kind, r["running"]] + [f"{lib.fmt(lib.median(lat[k]))} ({lib.fmt(lib.pct(lat[k], 90))})"
                                                for k in ("ps_api", "inspect_api", "ps_cli", "inspect_cli")])
    md += ["", "Latency with all N running, median (p90) ms: API = one request on a fresh unix-socket connection, "
           "to the last byte of the body; CLI = the docker CLI process, start to exit.", ""]
    md += lib.table(["daemon", "N", "GET /containers/json", "GET /containers/{id}/json", "docker ps", "docker inspect"], rows)
    if errors:
        md += ["", "**Failures:**", ""] + [f"- {e}" for e in errors]

    # ratios (dockerd over berthd), per N where both ran
    ratios = []
    for n in ns:
        rb, rd = _ok(res, "berthd", n), _ok(res, "dockerd", n)
        if not (rb and rd):
            continue
        at = f"N={n}" + (f", dockerd {rd['running']}" if rd["running"] != rb["running"] else "")
        ratios.append(lib.compare(f"dockerd/fleet/start/{n}", f"start N `run -d`, time per container ({at})",
                                  rb["start_s"] * 1000 / max(rb["started"], 1), rd["start_s"] * 1000 / max(rd["started"], 1), "ms"))
        ratios.append(lib.compare(f"dockerd/fleet/memory/{n}", f"memory beyond processes per container ({at})",
                                  rb["memory_kib"]["beyond_procs"], rd["memory_kib"]["beyond_procs"], "KiB"))
        if rd["running"] == rb["running"]:  # these grow with N: no ratio between different N
            for k, label in (("ps_api", "GET /containers/json"), ("inspect_api", "GET /containers/{id}/json"),
                             ("ps_cli", "docker ps"), ("inspect_cli", "docker inspect")):
                ratios.append(lib.compare(f"dockerd/fleet/{k}/{n}", f"{label} ({at})", rb["latency_ms"][k],
                                          rd["latency_ms"][k], "ms"))
            ratios.append(lib.compare(f"dockerd/fleet/restart/{n}", f"daemon restart until all listed ({at})",
                                      rb["restart"]["ready_s"], rd["restart"]["ready_s"], "s"))
        ratios.append(lib.compare(f"dockerd/fleet/remove/{n}", f"remove all, time per container ({at})",
                                  rb["remove_s"] * 1000 / rb["running"], rd["remove_s"] * 1000 / rd["running"], "ms"))

    # issue 7's targets: berthd at N=1000
    rb = _ok(res, "berthd", nmax)
    checked = nmax >= 1000
    why = None if checked else f"not checked: --quick stops at N={nmax}"

    def target(name, value, ok):
        return {"target": name, "value": value, "pass": (bool(ok) if checked else None), "note": why}

    targets = []
    if rb:
        m, lat, rs = rb["memory_kib"], rb["latency_ms"], rb["restart"]
        targets = [
            target("1000 `run -d busybox sleep` running at once", f"{rb['running']} running", rb["running"] >= 1000),
            target("... started in <= 30 s (8 docker CLI clients)", f"{rb['start_s']:.1f} s", rb["start_s"] <= 30),
        ]
        bc = rb.get("berth_cli")
        if bc:
            targets.append(target("... started in <= 30 s (8 `berth` CLI clients)",
                                  f"{bc['start_s']:.1f} s ({bc['running']} running)",
                                  bc["start_s"] <= 30 and bc["running"] >= 1000))
        targets += [
            target("<= 1 MiB per container beyond the container processes (monitor PSS + daemon RSS growth)",
                   f"{m['beyond_procs']:.0f} KiB (monitor PSS {m['monitor_pss']:.0f} + daemon {m['daemon_growth']:.0f}); "
                   f"system MemAvailable figure {m['system']:.0f} KiB", m["beyond_procs"] <= 1024),
            target("`ps` (GET /containers/json) <= 20 ms at N=1000",
                   f"median {lib.median(lat['ps_api']):.1f} ms, p90 {lib.pct(lat['ps_api'], 90):.1f} ms",
                   lib.median(lat["ps_api"]) <= 20),
            target("berthd restart <= 1 s with every container reconnected",
                   f"{rs['ready_s']:.2f} s to list all {rb['running']} running; a kill -9 after it noticed in "
                   f"{rs['exit_noticed_ms']:.0f} ms", rs["ready_s"] <= 1 and rs["reconnected"]),
        ]
    else:
        targets = [{"target": "berthd fleet at N=%d" % nmax, "value": "FAILED", "pass": False if checked else None,
                    "note": why}]

    # charts
    def pts(kind, f):
        out = []
        for n in ns:
            r = _ok(res, kind, n)
            if r:
                out.append((r["running"], f(r)))
        return out

    bc = rb.get("berth_cli") if rb else None
    charts = [
        lib.xy_chart("fleet-time.png", f"start N detached containers ({CLIENTS} clients)", "containers", "seconds",
                     [("berthd", pts("berthd", lambda r: r["start_s"])), ("dockerd", pts("dockerd", lambda r: r["start_s"])),
                      ("berthd (berth CLI)", [(bc["running"], bc["start_s"])] if bc else [])],
                     log_x=True, log_y=True, limits=[("target 30 s", 30)]),
        lib.xy_chart("fleet-memory.png", "memory per container beyond its processes (monitor PSS + daemon RSS growth)",
                     "containers", "KiB",
                     [("berthd", pts("berthd", lambda r: r["memory_kib"]["beyond_procs"])),
                      ("dockerd", pts("dockerd", lambda r: r["memory_kib"]["beyond_procs"]))],
                     log_x=True, limits=[("target 1 MiB", 1024)]),
        lib.xy_chart("system-memory.png", "MemAvailable drop per container minus the container processes' PSS",
                     "containers", "KiB",
                     [("berthd", pts("berthd", lambda r: r["memory_kib"]["system"])),
                      ("dockerd", pts("dockerd", lambda r: r["memory_kib"]["system"]))], log_x=True),
        lib.xy_chart("daemon-rss.png", "daemon RSS with N containers running (dockerd: + containerd)", "containers", "MiB",
                     [("berthd", pts("berthd", lambda r: r["memory_kib"]["daemon_rss"] / 1024)),
                      ("dockerd", pts("dockerd", lambda r: r["memory_kib"]["daemon_rss"] / 1024))], log_x=True),
        lib.xy_chart("restart.png", "daemon restart until all N are listed running", "containers", "seconds",
                     [("berthd", pts("berthd", lambda r: r["restart"]["ready_s"])),
                      ("dockerd", pts("dockerd", lambda r: r["restart"]["ready_s"]))],
                     log_x=True, log_y=True, limits=[("target 1 s", 1)]),
        lib.xy_chart("ps-latency-vs-n.png", "GET /containers/json, median", "containers", "ms",
                     [("berthd", pts("berthd", lambda r: lib.median(r["latency_ms"]["ps_api"]))),
                      ("dockerd", pts("dockerd", lambda r: lib.median(r["latency_ms"]["ps_api"])))],
                     log_x=True, log_y=True, limits=[("target 20 ms", 20)]),
        lib.dist_chart("api-latency.png", "GET /containers/json (list) and /containers/{id}/json (inspect) with N running",
                       "ms",
                       [(f"{label}, N={n}", [(kind, (_ok(res, kind, n) or {}).get("latency_ms", {}).get(k, []))
                                             for kind in ("berthd", "dockerd")])
                        for n in ns for k, label in (("ps_api", "list"), ("inspect_api", "inspect"))],
                       log_scale=True),
        lib.dist_chart("cli-latency.png", "docker ps and docker inspect with N running", "ms",
                       [(f"{label}, N={n}", [(kind, (_ok(res, kind, n) or {}).get("latency_ms", {}).get(k, []))
                                             for kind in ("berthd", "dockerd")])
                        for n in ns for k, label in (("ps_cli", "ps"), ("inspect_cli", "inspect"))],
                       log_scale=True),
    ]

    headline = []
    rd = _ok(res, "dockerd", nmax) or next((_ok(res, "dockerd", n) for n in reversed(ns) if _ok(res, "dockerd", n)), None)
    if rb:
        def dv(f, unit):
            if not rd:
                return "—"
            cap = f" (N={rd['running']}, capped)" if rd["running"] < rb["running"] else ""
            return f"{lib.fmt(f(rd))} {unit}{cap}"

        def rv(f, per_n):
            """dockerd's value over berthd's; N-dependent figures only between equal N."""
            if not rd or (not per_n and rd["running"] != rb["running"]):
                return "—" if not rd else "— (different N)"
            return lib.fmt_ratio(f(rd) / f(rb)) if f(rb) else "—"

        def per_container(r):
            return r["start_s"] / max(r["started"], 1)

        headline = [
            [f"start {rb['running']} `run -d` ({CLIENTS} docker CLI clients)", f"{lib.fmt(rb['start_s'])} s",
             dv(lambda r: r["start_s"], "s"), rv(per_container, True) + (" per container" if rd else "")],
            [f"memory per container beyond its processes, N={rb['running']}",
             f"{lib.fmt(rb['memory_kib']['beyond_procs'])} KiB",
             dv(lambda r: r["memory_kib"]["beyond_procs"], "KiB"), rv(lambda r: r["memory_kib"]["beyond_procs"], True)],
            [f"GET /containers/json, N={rb['running']} (median)", f"{lib.fmt(lib.median(rb['latency_ms']['ps_api']))} ms",
             dv(lambda r: lib.median(r["latency_ms"]["ps_api"]), "ms"), rv(lambda r: lib.median(r["latency_ms"]["ps_api"]), False)],
            [f"daemon restart until all {rb['running']} listed", f"{lib.fmt(rb['restart']['ready_s'])} s",
             dv(lambda r: r["restart"]["ready_s"], "s"), rv(lambda r: r["restart"]["ready_s"], False)],
        ]
    return {"data": {"sizes": ns, "clients": CLIENTS, "dockerd_max": opts.dockerd_max,
                     "dockerd_budget_s": opts.dockerd_budget, "results": {k: {str(n): v for n, v in r.items()}
                                                                          for k, r in res.items()},
                     "notes": notes, "errors": errors},
            "md": md, "ratios": ratios, "charts": [c for c in charts if c], "targets": targets,
            "headline": headline, "notes": notes, "errors": errors}


def scenario_parallel(ctx):
    per = 5 if ctx.opts.quick else 25
    b = lib.Berthd(ctx, "parallel").start()
    d = lib.Dockerd(ctx, "parallel").start()
    out = {}
    try:
        for daemon in (b, d):
            daemon.import_busybox()
            daemon.docker(["run", "--rm", "busybox", "true"])  # warm up
        berth = [os.path.join(ctx.bin, "berth")]
        for name, daemon, cli in (("berthd", b, ["docker"]), ("dockerd", d, ["docker"]), ("berthd (berth CLI)", b, berth)):
            names = [f"p{ctx.id}-{len(out)}-{i}" for i in range(CLIENTS * per)]
            time.sleep(1)
            res = start_fleet(daemon, names, cli)
            if res["errors"]:
                raise lib.BenchError(f"{name}: {len(res['errors'])} of {len(names)} `run -d` failed: {res['errors'][0][1]}")
            running = len(daemon.container_ids())
            rm = daemon.remove_all(CLIENTS)
            out[name] = {"total_s": res["total_s"], "op_ms": res["ms"], "running": running, "remove_s": rm["total_s"]}
            lib.log(f"parallel: {name}: {len(names)} in {res['total_s']:.1f} s, median op {lib.median(res['ms']):.0f} ms")
    finally:
        d.destroy()
        b.destroy()
    n = CLIENTS * per
    rows = [[k, v["running"], lib.fmt(v["total_s"]), lib.fmt(lib.median(v["op_ms"])), lib.fmt(lib.pct(v["op_ms"], 90)),
             lib.fmt(max(v["op_ms"])), lib.fmt(v["remove_s"])] for k, v in out.items()]
    md = [f"{CLIENTS} clients each run {per} `run -d busybox sleep 3600` one after another (default bridge network), "
          f"{n} containers in all; then all are removed (8 clients, `rm -f`).", ""]
    md += lib.table(["client → daemon", "running", "total s", "per op median ms", "p90 ms", "max ms", "remove all s"], rows)
    ratios = [lib.compare("dockerd/parallel/op", f"parallel `run -d` per op ({CLIENTS}×{per})",
                          out["berthd"]["op_ms"], out["dockerd"]["op_ms"], "ms"),
              lib.compare("dockerd/parallel/total", f"parallel `run -d` total ({CLIENTS}×{per})",
                          out["berthd"]["total_s"], out["dockerd"]["total_s"], "s")]
    chart = lib.dist_chart("parallel-latency.png", f"run -d from {CLIENTS} parallel clients ({n} containers)", "ms",
                           [(f"{CLIENTS} clients × {per}", [(k, out[k]["op_ms"]) for k in ("berthd", "berthd (berth CLI)", "dockerd")])],
                           log_scale=True)
    headline = [[f"`run -d` from {CLIENTS} parallel clients, per op (median)", f"{lib.fmt(lib.median(out['berthd']['op_ms']))} ms",
                 f"{lib.fmt(lib.median(out['dockerd']['op_ms']))} ms", lib.fmt_ratio(ratios[0]["value"])]]
    return {"data": {"clients": CLIENTS, "per_client": per, "results": out}, "md": md, "ratios": ratios,
            "charts": [chart], "headline": headline, "targets": []}


if __name__ == "__main__":
    run = os.path.join(lib.BENCH, "run")
    os.execv(run, [run, "--only", "fleet,parallel"] + sys.argv[1:])
