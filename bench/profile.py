"""Profile one web worker under a wrk load with py-spy and print where its time goes.

Usage (after make bench created the database):
  BENCH_DATABASE_URL=... BENCH_REDIS_URL=... .venv/bin/python bench/profile.py checkout|list|bare

Writes a collapsed-stack file and an SVG flame graph under bench/results/profile-*/ and prints the
functions of the shop (and the libraries) with the largest inclusive share of samples.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BENCH, VENV_BIN, production_env, start_gunicorn, wrk


def summarize(collapsed: Path, top: int = 40, within: str = "") -> list[tuple[str, float]]:
    """Inclusive share of samples per function; with ``within``, of the samples whose stack has a frame
    containing it (e.g. the samples of a worker running a task, not waiting for one)."""
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit() or within not in stack:
            continue
        count = int(n)
        total += count
        seen = set()
        # With --subprocesses each stack starts with its processes ("process <pid>:<command line>").
        for frame in (f for f in stack.split(";") if not f.startswith("process ")):
            name = frame.split(" (")[0] + " (" + frame.split(" (")[-1].split(":")[0].split("/")[-1] + ")"
            if name not in seen:
                seen.add(name)
                inclusive[name] += count
    return [(name, 100.0 * c / total) for name, c in inclusive.most_common(top)] if total else []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("target", choices=["checkout", "list", "page", "bare"])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--gil", action="store_true", help="only samples holding the GIL (Python CPU time)")
    ap.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", "2")))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_WEB_THREADS", "4")))
    args = ap.parse_args()
    out = BENCH / "results" / f"profile-{args.target}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    env = production_env(os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_REDIS_URL"], out)
    web = start_gunicorn(env, out, workers=args.workers, threads=args.threads)
    try:
        from bench.bench import customer_token

        extra: dict[str, str] = {}
        script, url = "get.lua", f"{web.base}/api/_bench/bare"
        if args.target == "list":
            url = f"{web.base}/api/v1/products?per_page=20"
        elif args.target == "page":
            url = f"{web.base}/products"
        elif args.target == "checkout":
            body = {
                "lines": [{"sku": "BENCH-HOT", "quantity": 1}],
                "delivery": {"type": "pickup", "location": "DL-HM"},
            }
            extra = {"WRK_BODY": json.dumps(body), "WRK_TOKEN": customer_token(web.base)}
            script, url = "post.lua", f"{web.base}/api/v1/orders"
        worker = web.pids()[1]
        collapsed = out / "stacks.txt"
        spy = subprocess.Popen(
            [
                str(VENV_BIN / "py-spy"),
                "record",
                "--pid",
                str(worker),
                "--duration",
                str(args.seconds),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(collapsed),
                "--nonblocking",
                *(["--gil"] if args.gil else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        result: dict = {}
        t = threading.Thread(
            target=lambda: result.update(
                wrk(
                    url,
                    connections=64 if args.target == "checkout" else 32,
                    seconds=args.seconds,
                    script=script,
                    env_extra=extra,
                )
            )
        )
        t.start()
        t.join()
        spy.wait(timeout=60)
    finally:
        web.stop()
    print(f"{args.target}: {result.get('rps', 0):,.1f} req/s, p99 {result.get('p99_us', 0) / 1000:.1f} ms")
    for name, pct in summarize(collapsed):
        print(f"  {pct:5.1f}%  {name}")
    print(f"stacks in {collapsed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
