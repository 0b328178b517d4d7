"""What a worker process holds before it runs anything: RSS after the boot, and which packages cost it.

Usage:
  .venv/bin/python bench/import_rss.py [--top 25] [--runs 3] [--web]
  .venv/bin/python bench/import_rss.py --celery [--drain 500]    # a real worker's pool process

Each measurement runs in a fresh interpreter (``python -c``), with the embedded default (SQLite and the
file broker in a throwaway ``DATA_DIR``) unless ``DATABASE_URL`` / ``REDIS_URL`` are set. The boot is a
worker's: import ``workers.main`` (what ``celery -A workers.main worker`` does first: it builds the app
with ``shop.create_app``, whose ``celery_init_app`` imports the task modules of ``config/celery.py``),
then ``celery_app.loader.import_default_modules()`` as the worker calls it again at start. ``--web``
boots ``shop.create_app()`` alone, as gunicorn does. A prefork child is forked from that process, so it
starts with this RSS and this ``sys.modules``.

Printed: ``VmRSS`` and ``VmHWM`` of the booted process (the median of ``--runs`` fresh runs, without any
instrumentation), then, from one more instrumented run, the packages with the largest import cost: RSS
and time spent importing each package's own modules (a module's figures leave out the modules it
imports, as ``python -X importtime`` reports self time; summed per top-level package), and how many of
its modules were loaded. The RSS per module is the growth of VmRSS while it executed, so small figures
are noisy and memory a package allocates later (first call, lazily loaded data) is not counted.

``--celery`` measures a real worker instead: it migrates a throwaway SQLite database, starts
``celery -A workers.main worker --pool prefork --concurrency 1`` on the file-system broker (the
Procfile's queues), and when it is ready (and, with ``--drain N``, has run N no-op tasks of
``bench.worker``, the benchmark's worker app: the shop's tasks plus ``bench.noop``) reads the pool
process's and the main process's VmRSS and VmHWM from ``/proc``, then stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The boot, run in the child. ``INSTRUMENT`` wraps ``importlib._bootstrap._find_and_load`` (what the
# ``import`` statement calls for a module not yet loaded, where ``-X importtime`` measures) to record
# the RSS and time of each module's own import.
CHILD = r"""
import json, os, sys, time

def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def hwm_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0

costs = {}
if os.environ.get("IMPORT_RSS_INSTRUMENT") == "1":
    import _frozen_importlib as bootstrap
    original = bootstrap._find_and_load
    stack = []

    def _find_and_load(name, import_):
        stack.append([0, 0.0])  # what the modules imported by this one cost
        r0, t0 = rss_kb(), time.perf_counter()
        try:
            return original(name, import_)
        finally:
            dr, dt = rss_kb() - r0, time.perf_counter() - t0
            child_r, child_t = stack.pop()
            if stack:
                stack[-1][0] += dr
                stack[-1][1] += dt
            own = costs.setdefault(name, [0, 0.0])
            own[0] += dr - child_r
            own[1] += dt - child_t

    bootstrap._find_and_load = _find_and_load

before = set(sys.modules)
start_rss = rss_kb()
started = time.perf_counter()
if os.environ.get("IMPORT_RSS_BOOT") == "web":
    from shop import create_app
    create_app()
else:
    import workers.main
    workers.main.celery_app.loader.import_default_modules()
boot_s = time.perf_counter() - started
print(json.dumps({
    "boot_s": boot_s,
    "rss_kb": rss_kb(),
    "hwm_kb": hwm_kb(),
    "start_rss_kb": start_rss,
    "modules": sorted(set(sys.modules) - before),
    "costs": costs,
}))
"""

# Packages worth naming in the summary when they are loaded at boot.
WATCH = (
    "reportlab",
    "openpyxl",
    "segno",
    "PIL",
    "pypinyin",
    "boto3",
    "botocore",
    "s3transfer",
    "stripe",
    "babel",
    "pandas",
    "numpy",
)


def run_child(boot: str, instrument: bool, data_dir: str) -> dict:
    env = dict(os.environ)
    env.setdefault("DATA_DIR", data_dir)
    env["IMPORT_RSS_BOOT"] = boot
    env["IMPORT_RSS_INSTRUMENT"] = "1" if instrument else "0"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"the boot failed (exit {out.returncode})")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _status_mb(pid: int, field: str) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def celery_worker(data_dir: str, drain: int, settle: float) -> dict:
    """Start a real prefork worker with one pool process (see the module docstring) and measure it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.setdefault("DATA_DIR", data_dir)
    env["WORKER_HEARTBEAT_SECONDS"] = env.get("WORKER_HEARTBEAT_SECONDS", "10")
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "shop", "db", "upgrade"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip
    app = "bench.worker" if drain else "workers.main"
    log = Path(data_dir) / "celery.log"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "celery", "-A", app, "worker", "--pool", "prefork", "--concurrency", "1",
            "--loglevel", "INFO", "--queues", "default,payments,fulfilment,reports",
        ],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 120
        while " ready." not in log.read_text():
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"the worker did not get ready:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        if drain:
            send = (
                "from bench.worker import celery_app\n"
                "with celery_app.producer_or_acquire() as producer:\n"
                f"    for i in range({drain}):\n"
                "        celery_app.send_task('bench.noop', args=[i], queue='default', producer=producer)\n"
            )
            subprocess.run([sys.executable, "-c", send], cwd=ROOT, env=env, check=True, capture_output=True)
            deadline = time.time() + 300
            while log.read_text().count("succeeded in") < drain:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"the no-op tasks were not drained:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
        time.sleep(settle)
        pool = _children(proc.pid)
        return {
            "app": app,
            "drained": drain,
            "pool_pids": pool,
            "child_rss_mb": max([_status_mb(p, "VmRSS") for p in pool] or [0.0]),
            "child_hwm_mb": max([_status_mb(p, "VmHWM") for p in pool] or [0.0]),
            "main_rss_mb": _status_mb(proc.pid, "VmRSS"),
            "main_hwm_mb": _status_mb(proc.pid, "VmHWM"),
        }
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the worker's own process group (start_new_session)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def top_package(module: str) -> str:
    return module.split(".", 1)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--top", type=int, default=25, help="packages in the table")
    ap.add_argument("--runs", type=int, default=3, help="uninstrumented boots for the RSS median")
    ap.add_argument("--web", action="store_true", help="boot shop.create_app() alone (a web process)")
    ap.add_argument("--modules", type=int, default=15, help="single modules in the second table")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of the tables")
    ap.add_argument("--celery", action="store_true", help="measure a real worker's pool process instead")
    ap.add_argument("--drain", type=int, default=0, help="with --celery: run this many no-op tasks first")
    ap.add_argument("--settle", type=float, default=3.0, help="with --celery: seconds to wait before reading")
    args = ap.parse_args()
    boot = "web" if args.web else "worker"

    if args.celery:
        with tempfile.TemporaryDirectory(prefix="import-rss-celery-") as data_dir:
            found = celery_worker(data_dir, args.drain, args.settle)
        if args.json:
            print(json.dumps(found))
            return 0
        what = f"after {args.drain} no-op tasks" if args.drain else "idle after start"
        print(f"celery -A {found['app']} worker --pool prefork --concurrency 1 ({what}, +{args.settle:g} s)")
        print(
            f"  pool process  VmRSS {found['child_rss_mb']:7.1f} MB   VmHWM {found['child_hwm_mb']:7.1f} MB"
        )
        print(f"  main process  VmRSS {found['main_rss_mb']:7.1f} MB   VmHWM {found['main_hwm_mb']:7.1f} MB")
        return 0

    with tempfile.TemporaryDirectory(prefix="import-rss-") as data_dir:
        plain = [run_child(boot, False, data_dir) for _ in range(max(1, args.runs))]
        traced = run_child(boot, True, data_dir)

    rss = statistics.median(r["rss_kb"] for r in plain) / 1024
    hwm = statistics.median(r["hwm_kb"] for r in plain) / 1024
    start = statistics.median(r["start_rss_kb"] for r in plain) / 1024
    boot_s = statistics.median(r["boot_s"] for r in plain)
    modules = plain[0]["modules"]
    loaded = sorted({top_package(m) for m in modules})
    watched = [p for p in WATCH if p in loaded]

    per_pkg: dict[str, list] = {}
    for name, (kb, secs) in traced["costs"].items():
        entry = per_pkg.setdefault(top_package(name), [0, 0.0, 0])
        entry[0] += kb
        entry[1] += secs
        entry[2] += 1
    rows = sorted(per_pkg.items(), key=lambda kv: kv[1][0], reverse=True)

    if args.json:
        print(json.dumps({
            "boot": boot, "rss_mb": round(rss, 1), "hwm_mb": round(hwm, 1), "modules": len(modules),
            "boot_s": round(boot_s, 2),
            "heavy_loaded": watched,
            "packages": {k: {"rss_mb": round(v[0] / 1024, 1), "ms": round(v[1] * 1000, 1), "modules": v[2]}
                         for k, v in rows[: args.top]},
        }))  # fmt: skip
        return 0

    print(
        f"boot: {boot} ({'shop.create_app()' if args.web else 'import workers.main + import_default_modules()'})"
    )
    print(f"python {sys.version.split()[0]}, {args.runs} fresh runs, median")
    print(f"  RSS before the boot   {start:7.1f} MB")
    print(f"  RSS after the boot    {rss:7.1f} MB   (VmHWM {hwm:.1f} MB)")
    print(f"  modules loaded        {len(modules):7d}")
    print(f"  boot wall time        {boot_s:7.2f} s")
    print(f"  heavy packages loaded {', '.join(watched) or 'none'}")
    if args.top:
        print()
        print(f"top {args.top} packages by own import RSS (one instrumented run; time is wall time):")
        print(f"  {'package':<22} {'RSS MB':>8} {'ms':>8} {'modules':>8}")
        for name, (kb, secs, count) in rows[: args.top]:
            print(f"  {name:<22} {kb / 1024:8.1f} {secs * 1000:8.1f} {count:8d}")
        total_kb = sum(v[0] for v in per_pkg.values())
        total_s = sum(v[1] for v in per_pkg.values())
        print(
            f"  {'(all packages)':<22} {total_kb / 1024:8.1f} {total_s * 1000:8.1f} {len(traced['costs']):8d}"
        )
    if args.modules:
        print()
        print(f"top {args.modules} modules by own import RSS:")
        print(f"  {'module':<46} {'RSS MB':>8} {'ms':>8}")
        single = sorted(traced["costs"].items(), key=lambda kv: kv[1][0], reverse=True)
        for name, (kb, secs) in single[: args.modules]:
            print(f"  {name:<46} {kb / 1024:8.1f} {secs * 1000:8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
