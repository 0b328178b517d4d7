"""The scale-out scenario: one group of web and worker processes against two, as if on two machines.

``bash bench/run.sh --only scaleout`` (not part of the default run). Each group ("machine") has its own
gunicorn master (``--web-workers`` x ``--web-threads``, as the other scenarios), its own Celery worker
(``--scaleout-concurrency`` processes, its own ``--hostname``) and its own environment and data
directory; both share the one PostgreSQL database and the one Redis, as machines would. A round-robin
TCP balancer (``bench/balancer.py``, a process of its own) stands in front: one in front of group A
only, one in front of A and B, both running the whole time, so each load runs against one group and
then against two, back to back, on the same server.

Loads: the product list API, hot-SKU checkout, checkout spread over 1,000 SKUs (wrk, as the catalogue
and checkout scenarios) and the fulfilment drain (``--scaleout-orders`` paid orders loaded as the
fulfilment scenario does, drained by group A's worker, then as many again by A's and B's together).
After each: zero oversell (reservations = open orders on every level checked) and zero drift (the
stock ledger reconcile, and for the drain every check of the fulfilment scenario).

While each load runs a sampler reads, every half second, the CPU time of every process of each group
(``/proc``), of this database's PostgreSQL backends (found by their process title), of the balancer
and of wrk; the client connections to PostgreSQL per group (``ss``); and, before and after, Redis's
``INFO cpu`` and ``INFO commandstats`` and the machine's total CPU (``/proc/stat``: whatever else runs
on a shared machine shows as "other"). The table goes to ``scaleout.md`` beside the results.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import (
    BENCH,
    Report,
    Row,
    Server,
    production_env,
    python,
    start_celery,
    start_gunicorn,
    stop_process,
    wrk,
)

TICK = os.sysconf("SC_CLK_TCK")
GROUPS = ("a", "b")


# --- measuring -------------------------------------------------------------------------------------


def _procs() -> dict[int, tuple[int, str, int]]:
    """Every process: pid -> (parent pid, command name, CPU ticks so far)."""
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        rest = raw[raw.rindex(")") + 2 :].split()
        out[int(entry.name)] = (int(rest[1]), comm, int(rest[11]) + int(rest[12]))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f[:8]) - idle, sum(f[:8])


def _redis_counts(r) -> tuple[float, int, dict[str, int]]:
    cpu = r.info("cpu")
    stats = r.info("commandstats")
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
    # The sampler's own INFO calls and the drain's polling of the queue length are not the shop's work.
    mine = sum(v for k, v in calls.items() if k not in ("info", "llen"))
    return cpu["used_cpu_sys"] + cpu["used_cpu_user"], mine, calls


@dataclass
class Usage:
    """What one load cost: CPU seconds per group, peak PostgreSQL connections per group, Redis work."""

    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    pg_conns: dict[str, int] = field(default_factory=dict)
    pg_backends: int = 0
    redis_cpu: float = 0.0
    redis_cmds: int = 0
    redis_top: dict[str, int] = field(default_factory=dict)
    machine_busy: float = 0.0
    machine_capacity: float = 0.0


class Meter:
    """Samples the groups' CPU and connections while a load runs (a context manager)."""

    def __init__(self, roots: dict[str, int], db: str, redis_client, interval: float = 0.5) -> None:
        self.roots = roots  # group name -> pid of its root process (a gunicorn master, a Celery worker)
        self.db = db
        self.redis = redis_client
        self.interval = interval
        self.first: dict[int, tuple[str, int]] = {}
        self.last: dict[int, tuple[str, int]] = {}
        self.conns: dict[str, int] = {}
        self.backends = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pg_pids: dict[int, bool] = {}

    def _group(self, pid: int, procs: dict) -> str | None:
        me = os.getpid()
        seen = 0
        p = pid
        while p in procs and seen < 8:
            for name, root in self.roots.items():
                if p == root:
                    return name
            parent, comm, _ = procs[p]
            if comm == "wrk" and parent == me:
                return "wrk"
            p, seen = parent, seen + 1
        comm = procs[pid][1]
        if comm == "postgres":
            known = self._pg_pids.get(pid)
            if known is None:
                known = self._pg_pids[pid] = f" {self.db} " in _cmdline(pid)
            if known:
                return "postgres"
        return None

    def _sample(self, initial: bool = False) -> None:
        procs = _procs()
        backends = 0
        for pid, (_ppid, _comm, ticks) in procs.items():
            group = self._group(pid, procs)
            if group is None:
                continue
            backends += group == "postgres"
            if initial:
                self.first[pid] = (group, ticks)
            elif pid not in self.first:
                self.first[pid] = (group, 0)  # started during the load: all its CPU belongs to it
            self.last[pid] = (group, ticks)
        self.backends = max(self.backends, backends)
        out = subprocess.run(
            ["ss", "-Htnp", "state", "established", "( dport = :5432 )"], capture_output=True, text=True
        ).stdout
        counts: dict[str, int] = {}
        for pid in re.findall(r"pid=(\d+)", out):
            group = self._group(int(pid), procs)
            if group:
                counts[group] = counts.get(group, 0) + 1
        for g, n in counts.items():
            self.conns[g] = max(self.conns.get(g, 0), n)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> Meter:
        self._sample(initial=True)
        self._redis0 = _redis_counts(self.redis)
        self._machine0 = _machine_ticks()
        self._t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        wall = time.perf_counter() - self._t0
        busy1, total1 = _machine_ticks()
        rcpu, rcmds, rcalls = _redis_counts(self.redis)
        cpu: dict[str, float] = {}
        for pid, (group, ticks) in self.last.items():
            cpu[group] = cpu.get(group, 0.0) + (ticks - self.first[pid][1]) / TICK
        before = self._redis0[2]
        delta = {k: v - before.get(k, 0) for k, v in rcalls.items() if k not in ("info", "llen")}
        self.usage = Usage(
            wall=wall,
            cpu=cpu,
            pg_conns=dict(self.conns),
            pg_backends=self.backends,
            redis_cpu=rcpu - self._redis0[0],
            redis_cmds=rcmds - self._redis0[1],
            redis_top=dict(sorted(((k, v) for k, v in delta.items() if v), key=lambda kv: -kv[1])[:6]),
            machine_busy=(busy1 - self._machine0[0]) / TICK,
            machine_capacity=(total1 - self._machine0[1]) / TICK,
        )


# --- the groups -------------------------------------------------------------------------------------


def start_balancer(backends: list[Server], log: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            python(),
            str(BENCH / "balancer.py"),
            *[a for s in backends for a in ("--backend", f"127.0.0.1:{s.port}")],
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("w"),
        text=True,
        start_new_session=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("listening "):
        stop_process(proc)
        raise RuntimeError(f"balancer did not start: {line!r} {log.read_text()[-2000:]}")
    return proc, int(line.split()[1])


def machine_env(ctx, group: str) -> dict[str, str]:
    """The environment a machine of its own would have: the same stores and key, its own data directory."""
    data = ctx["out"] / f"machine-{group}"
    data.mkdir(exist_ok=True)
    return production_env(ctx["database_url"], ctx["redis_url"], data)


# --- the loads --------------------------------------------------------------------------------------


def _quiesce(ctx, timeout: float = 120) -> None:
    """Wait until no other session of this database is in a statement or a transaction: requests wrk
    gave up on are still running in the servers, and the reconcile below reads levels and movements in
    separate statements, so an order committing in between would look like a drift."""
    from sqlalchemy import text

    from shop.core.db import db

    deadline = time.time() + timeout
    with ctx["app"].app_context():
        while time.time() < deadline:
            busy = db.session.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND state <> 'idle'"
                )
            ).scalar_one()
            db.session.rollback()
            if not busy:
                break
            time.sleep(0.2)
        db.session.remove()


def _checks(ctx, skus: list[str]) -> tuple[bool, str]:
    """Zero oversell on ``skus`` (bench.py's check) and zero drift on the whole stock ledger, once the
    servers have finished every request."""
    from bench.bench import stock_agrees
    from shop.core.db import db
    from shop.inventory.services import reconcile

    _quiesce(ctx)
    ok, detail = stock_agrees(ctx, skus)
    with ctx["app"].app_context():
        drifts = reconcile()
        db.session.remove()
    return ok and not drifts, f"{detail}; {len(drifts)} ledger drifts (stock reconcile)"


def _fmt_usage(u: Usage, units: float, unit: str) -> dict:
    """Per-request (or per-order) costs of one load."""
    per = {g: 1000 * s / units for g, s in u.cpu.items()}
    ours = sum(u.cpu.values())
    return {
        "units": units,
        "unit": unit,
        "wall_s": round(u.wall, 2),
        "cpu_s": {g: round(s, 2) for g, s in sorted(u.cpu.items())},
        "cpu_ms_per_unit": {g: round(v, 3) for g, v in sorted(per.items())},
        "redis_cpu_ms_per_unit": round(1000 * u.redis_cpu / units, 3),
        "redis_cmds_per_unit": round(u.redis_cmds / units, 2),
        "redis_top": u.redis_top,
        "pg_conns_peak": u.pg_conns,
        "pg_backends_peak": u.pg_backends,
        "machine_busy_pct": round(100 * u.machine_busy / u.machine_capacity, 1) if u.machine_capacity else 0,
        "other_cpu_s": round(max(0.0, u.machine_busy - ours - u.redis_cpu), 2),
    }


def _wrk_load(ctx, label: str, base: str, spec: dict, roots: dict[str, int], redis_client) -> dict:
    with Meter(roots, ctx["db_name"], redis_client) as m:
        r = wrk(
            base + spec["path"],
            connections=spec["connections"],
            seconds=ctx["seconds"],
            timeout=10,
            **spec["wrk"],
        )
    cost = _fmt_usage(m.usage, max(1, r["requests"]), spec["unit"])
    print(
        f"   {label}: {r['rps']:,.1f} {spec['unit']}/s, p99 {r['p99_us'] / 1000:.0f} ms, errors {r['errors']}; "
        f"CPU s {cost['cpu_s']}, redis {cost['redis_cmds_per_unit']} cmds/{spec['unit']}, "
        f"machine {cost['machine_busy_pct']}% busy, other {cost['other_cpu_s']} s",
        flush=True,
    )
    return {"wrk": r, "cost": cost}


def _drain(ctx, groups: list[str], redis_client) -> dict:
    """Load paid orders, then drain them with the workers of ``groups`` started side by side."""
    from bench.fulfilment import _fulfilled, load_paid_orders, verify
    from shop.core.db import db

    app, n = ctx["app"], ctx["scaleout_orders"]
    redis_client.delete("fulfilment")
    with app.app_context():
        print(f"   loading {n:,} paid orders for {len(groups)} worker group(s)...", flush=True)
        info = load_paid_orders(n, ctx["app_config"])
        db.session.remove()
    queued = redis_client.llen("fulfilment")
    if queued != info["orders"]:
        raise RuntimeError(f"{queued} fulfil messages queued for {info['orders']} orders")
    conc = ctx["scaleout_concurrency"]
    with ThreadPoolExecutor(len(groups)) as pool:
        futures = {
            g: pool.submit(
                start_celery,
                machine_env(ctx, g),
                ctx["out"],
                concurrency=conc,
                queues="fulfilment",
                name=f"scaleout-worker-{g}-{len(groups)}",
                hostname=f"fulfilment-{g}@%h",
            )
            for g in groups
        }
        procs = {f"worker-{g}": f.result() for g, f in futures.items()}
    try:
        deadline = time.time() + 3600
        while redis_client.llen("fulfilment") >= queued and time.time() < deadline:
            time.sleep(0.005)
        roots = {name: p.pid for name, p in procs.items()}
        with Meter(roots, ctx["db_name"], redis_client) as m:
            t0 = time.perf_counter()
            with app.app_context():
                done = 0
                while done < info["orders"] and time.time() < deadline:
                    time.sleep(0.05)
                    done = _fulfilled(info["lo"], info["hi"])
                db.session.remove()
            secs = time.perf_counter() - t0
    finally:
        for p in procs.values():
            stop_process(p)
    if done < info["orders"]:
        raise RuntimeError(f"only {done} of {info['orders']} orders fulfilled")
    with app.app_context():
        ok, detail = verify(info["lo"], info["hi"], info["orders"])
    cost = _fmt_usage(m.usage, info["orders"], "order")
    cost["redis_cmds_per_task"] = round(m.usage.redis_cmds / (2 * info["orders"]), 2)
    rate = info["orders"] / secs
    print(
        f"   drain, {len(groups)} group(s): {rate:,.1f} orders/s ({info['orders']:,} in {secs:.1f} s); "
        f"CPU s {cost['cpu_s']}, redis {cost['redis_cmds_per_unit']} cmds/order; checks ok={ok}",
        flush=True,
    )
    return {"rate": rate, "seconds": secs, "orders": info["orders"], "ok": ok, "detail": detail, "cost": cost}


def _cost_note(cost: dict) -> str:
    per = cost["cpu_ms_per_unit"]
    web = sum(v for g, v in per.items() if g.startswith(("web-", "worker-")))
    conns = "/".join(f"{g} {n}" for g, n in sorted(cost["pg_conns_peak"].items()))
    return (
        f"CPU ms per {cost['unit']}: app {web:.2f}, PostgreSQL {per.get('postgres', 0):.2f}, "
        f"Redis {cost['redis_cpu_ms_per_unit']:.2f}, balancer {per.get('balancer', 0):.2f}, "
        f"wrk {per.get('wrk', 0):.2f}; Redis {cost['redis_cmds_per_unit']} commands per {cost['unit']}; "
        f"PostgreSQL connections peak {conns or '-'}; machine {cost['machine_busy_pct']}% busy, "
        f"other jobs {cost['other_cpu_s']} CPU s"
    )


def run(ctx, report: Report) -> None:
    import redis

    from bench.bench import customer_token
    from bench.data import load_checkout

    ctx["db_name"] = ctx["database_url"].rsplit("/", 1)[1]
    redis_client = redis.Redis.from_url(ctx["redis_url"])
    with ctx["app"].app_context():
        info = load_checkout()
    token = customer_token(ctx["web"].base)
    order = json.dumps(
        {
            "lines": [{"sku": info["hot_sku"], "quantity": 1}],
            "delivery": {"type": "pickup", "location": "DL-HM"},
        }
    )
    loads = {
        "product list API (20)": {
            "path": "/api/v1/products?per_page=20",
            "connections": 32,
            "unit": "request",
            "wrk": {},
            "skus": None,
        },
        "hot-SKU checkout": {
            "path": "/api/v1/orders",
            "connections": 64,
            "unit": "order",
            "wrk": {"script": "post.lua", "env_extra": {"WRK_BODY": order, "WRK_TOKEN": token}},
            "skus": [info["hot_sku"]],
        },
        "checkout, 1,000 SKUs spread": {
            "path": "/api/v1/orders",
            "connections": 64,
            "unit": "order",
            "wrk": {"script": "spread.lua", "env_extra": {"WRK_TOKEN": token, "WRK_SPREAD": "1000"}},
            "skus": [f"BENCH-S{i}" for i in range(1000)],
        },
    }
    results: dict = {"loads": {}, "drain": {}}
    webs: dict[str, Server] = {}
    balancers: dict[int, tuple[subprocess.Popen, int]] = {}
    try:
        for g in GROUPS:
            webs[g] = start_gunicorn(
                machine_env(ctx, g),
                ctx["out"],
                workers=ctx["web_workers"],
                threads=ctx["web_threads"],
                name=f"scaleout-web-{g}",
            )
        balancers[1] = start_balancer([webs["a"]], ctx["out"] / "balancer-1.log")
        balancers[2] = start_balancer([webs["a"], webs["b"]], ctx["out"] / "balancer-2.log")
        # Warm every process of both groups (connection pools, caches) before anything is measured.
        wrk(f"http://127.0.0.1:{balancers[2][1]}/api/v1/products?per_page=20", connections=32, seconds=3)
        for label, spec in loads.items():
            per_mode = {}
            for k in (1, 2):
                roots = {f"web-{g}": webs[g].proc.pid for g in GROUPS[:k]}
                roots["balancer"] = balancers[k][0].pid
                res = _wrk_load(
                    ctx,
                    f"{label}, {k} group(s)",
                    f"http://127.0.0.1:{balancers[k][1]}",
                    spec,
                    roots,
                    redis_client,
                )
                if spec["skus"]:
                    res["ok"], res["detail"] = _checks(ctx, spec["skus"])
                per_mode[k] = res
            results["loads"][label] = per_mode
            one, two = per_mode[1]["wrk"], per_mode[2]["wrk"]
            unit = "req/s" if spec["unit"] == "request" else "orders/s"
            for k, r in ((1, one), (2, two)):
                report.add(
                    Row(
                        "scaleout",
                        f"{label}, {k} group{'s' if k > 1 else ''}",
                        r["rps"],
                        unit,
                        "1 group" if k == 2 else "",
                        one["rps"] if k == 2 else None,
                        "2.0 on separate machines" if k == 2 else "",
                        notes=f"p50 {r['p50_us'] / 1000:.1f} ms, p99 {r['p99_us'] / 1000:.1f} ms, "
                        f"errors {r['errors']}; " + _cost_note(per_mode[k]["cost"]),
                    )
                )
            if spec["skus"]:
                for k in (1, 2):
                    report.add(
                        Row(
                            "scaleout",
                            f"{label}, {k} group(s): stock agrees (1 = yes)",
                            float(per_mode[k]["ok"]),
                            "",
                            notes=per_mode[k]["detail"],
                        )
                    )
    finally:
        for proc, _port in balancers.values():
            stop_process(proc)
        for w in webs.values():
            w.stop()
    for k in (1, 2):
        results["drain"][k] = _drain(ctx, list(GROUPS[:k]), redis_client)
    one, two = results["drain"][1], results["drain"][2]
    for k, d in ((1, one), (2, two)):
        report.add(
            Row(
                "scaleout",
                f"fulfilment drain, {k} worker group{'s' if k > 1 else ''}",
                d["rate"],
                "orders/s",
                "1 group" if k == 2 else "",
                one["rate"] if k == 2 else None,
                "2.0 on separate machines" if k == 2 else "",
                notes=f"{d['orders']:,} orders in {d['seconds']:.1f} s, concurrency "
                f"{ctx['scaleout_concurrency']} per group; Redis {d['cost']['redis_cmds_per_task']} commands "
                f"per task; " + _cost_note(d["cost"]),
            )
        )
        report.add(
            Row(
                "scaleout",
                f"fulfilment drain, {k} group(s): stock, ledger and orders agree (1 = yes)",
                float(d["ok"]),
                "",
                notes=d["detail"],
            )
        )
    (ctx["out"] / "scaleout.json").write_text(json.dumps(results, indent=2, default=str))
    (ctx["out"] / "scaleout.md").write_text(where_the_time_goes(results) + "\n")
    print(where_the_time_goes(results))


def where_the_time_goes(results: dict) -> str:
    """One table: per load and group count, CPU ms per request or order for each process group."""
    lines = [
        "| load | groups | rate | app CPU ms | PostgreSQL CPU ms | Redis CPU ms | Redis cmds | balancer CPU ms "
        "| wrk CPU ms | PG connections peak | machine busy | other jobs CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [
        (label, k, m["wrk"]["rps"], m["cost"])
        for label, modes in results["loads"].items()
        for k, m in modes.items()
    ]
    rows += [("fulfilment drain", k, d["rate"], d["cost"]) for k, d in results["drain"].items()]
    for label, k, rate, c in rows:
        per = c["cpu_ms_per_unit"]
        apps = " + ".join(f"{per[g]:.2f}" for g in sorted(per) if g.startswith(("web-", "worker-")))
        conns = ", ".join(f"{g} {n}" for g, n in sorted(c["pg_conns_peak"].items()))
        lines.append(
            f"| {label} (per {c['unit']}) | {k} | {rate:,.1f}/s | {apps} | {per.get('postgres', 0):.2f} "
            f"| {c['redis_cpu_ms_per_unit']:.2f} | {c['redis_cmds_per_unit']} | {per.get('balancer', 0):.2f} "
            f"| {per.get('wrk', 0):.2f} | {conns} (backends {c['pg_backends_peak']}) | {c['machine_busy_pct']}% "
            f"| {c['other_cpu_s']} |"
        )
    return "\n".join(lines)
