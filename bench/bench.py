"""Run every benchmark scenario and print each figure beside its baseline measured in the same run.

Usage: make bench   (or: .venv/bin/python bench/bench.py --seconds 10)
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import BENCH, Report, Row, peak_rss_mb, production_env, start_gunicorn, wrk

SCENARIOS = {}


def scenario(name):
    def deco(fn):
        SCENARIOS[name] = fn
        return fn

    return deco


@scenario("catalogue")
def catalogue(ctx, report: Report) -> None:
    base = ctx["web"].base
    secs = ctx["seconds"]
    bare = wrk(f"{base}/api/_bench/bare", connections=32, seconds=secs)
    report.add(
        Row(
            "catalogue",
            "bare JSON endpoint req/s",
            bare["rps"],
            "req/s",
            notes=f"p99 {bare['p99_us'] / 1000:.1f} ms, errors {bare['errors']}",
        )
    )
    for label, path in [
        ("product list API (20) req/s", "/api/v1/products?per_page=20"),
        ("product list page (20) req/s", "/products"),
        ("product detail API req/s", "/api/v1/products/1"),
        ("product page req/s", "/products/huaniu-apples"),
    ]:
        r = wrk(f"{base}{path}", connections=32, seconds=secs)
        report.add(
            Row(
                "catalogue",
                label,
                r["rps"],
                "req/s",
                "bare",
                bare["rps"],
                ">= 0.5 of bare" if "list" in label else "",
                notes=f"p50 {r['p50_us'] / 1000:.1f} ms, p99 {r['p99_us'] / 1000:.1f} ms, errors {r['errors']}",
            )
        )
        report.add(Row("catalogue", label.replace("req/s", "p99"), r["p99_us"] / 1000, "ms"))


def customer_token(base: str) -> str:
    from bench.harness import http_json

    email, password = "bench-buyer@example.cn", "bench-password-1"
    http_json("POST", f"{base}/api/v1/auth/register", {"email": email, "password": password, "name": "压测"})
    status, body, _ = http_json("POST", f"{base}/api/v1/auth/token", {"email": email, "password": password})
    assert status == 200, body
    return body["access_token"]


def stock_agrees(ctx, skus: list[str]) -> tuple[bool, str]:
    """Zero oversell: every level's reserved equals what its open orders hold, and never exceeds on hand."""
    from sqlalchemy import text

    from shop.core.db import db

    with ctx["app"].app_context():
        rows = db.session.execute(
            text("""
            SELECT v.sku, sl.on_hand, sl.reserved,
                   COALESCE((SELECT SUM(ol.quantity) FROM order_line ol JOIN shop_order o ON o.id = ol.order_id
                             WHERE ol.variant_id = v.id AND o.status = 'pending_payment'), 0) AS held
            FROM stock_level sl JOIN variant v ON v.id = sl.variant_id
            JOIN location l ON l.id = sl.location_id
            WHERE l.code = 'DL-HM' AND v.sku = ANY(:skus)"""),
            {"skus": skus},
        ).all()
        bad = [r for r in rows if r.reserved != r.held or r.reserved > r.on_hand or r.reserved < 0]
        db.session.rollback()
    return (not bad, f"{len(rows)} levels checked, {len(bad)} disagree")


@scenario("checkout")
def checkout(ctx, report: Report) -> None:
    import json

    from bench.data import load_checkout

    with ctx["app"].app_context():
        info = load_checkout()
    base, secs = ctx["web"].base, ctx["seconds"]
    token = customer_token(base)
    bare = wrk(
        f"{base}/api/_bench/update?level={info['bare_level_id']}",
        connections=64,
        seconds=secs,
        script="post.lua",
        env_extra={"WRK_BODY": "{}"},
    )
    report.add(
        Row(
            "checkout",
            "bare conditional UPDATE req/s",
            bare["rps"],
            "req/s",
            notes=f"p99 {bare['p99_us'] / 1000:.1f} ms, errors {bare['errors']}",
        )
    )
    body = json.dumps(
        {
            "lines": [{"sku": info["hot_sku"], "quantity": 1}],
            "delivery": {"type": "pickup", "location": "DL-HM"},
        }
    )
    hot = wrk(
        f"{base}/api/v1/orders",
        connections=64,
        seconds=secs,
        script="post.lua",
        env_extra={"WRK_BODY": body, "WRK_TOKEN": token},
    )
    ok, detail = stock_agrees(ctx, [info["hot_sku"]])
    report.add(
        Row(
            "checkout",
            "orders/s, one hot SKU, 64 buyers",
            hot["rps"],
            "orders/s",
            "bare UPDATE",
            bare["rps"],
            ">= 0.5 of bare UPDATE",
            notes=f"errors {hot['errors']}",
        )
    )
    report.add(Row("checkout", "order p99, hot SKU", hot["p99_us"] / 1000, "ms", target="< 100 ms"))
    report.add(Row("checkout", "hot SKU stock agrees (1 = yes)", float(ok), "", notes=detail))
    spread = wrk(
        f"{base}/api/v1/orders",
        connections=64,
        seconds=secs,
        script="spread.lua",
        env_extra={"WRK_TOKEN": token, "WRK_SPREAD": "1000"},
    )
    ok, detail = stock_agrees(ctx, [f"BENCH-S{i}" for i in range(1000)])
    report.add(
        Row(
            "checkout",
            "orders/s, 1,000 SKUs spread",
            spread["rps"],
            "orders/s",
            "bare UPDATE",
            bare["rps"],
            notes=f"p99 {spread['p99_us'] / 1000:.1f} ms, errors {spread['errors']}",
        )
    )
    report.add(Row("checkout", "spread stock agrees (1 = yes)", float(ok), "", notes=detail))
    ctx["checkout_rps"] = hot["rps"]


def hot_checkout(base: str, token: str, sku: str, seconds: int) -> dict:
    import json

    body = json.dumps(
        {"lines": [{"sku": sku, "quantity": 1}], "delivery": {"type": "pickup", "location": "DL-HM"}}
    )
    return wrk(
        f"{base}/api/v1/orders",
        connections=64,
        seconds=seconds,
        script="post.lua",
        env_extra={"WRK_BODY": body, "WRK_TOKEN": token},
    )


@scenario("sqlite")
def embedded(ctx, report: Report) -> None:
    """The embedded default (SQLite file, file-system broker) under the same hot-SKU checkout."""
    import subprocess

    from bench.harness import python

    data_dir = ctx["out"] / "embedded"
    data_dir.mkdir(exist_ok=True)
    env = {k: v for k, v in ctx["env"].items() if not k.startswith(("DATABASE_", "REDIS_", "SECRET_KEY"))}
    env.update(SHOP_PROFILE="embedded", DATA_DIR=str(data_dir), SESSION_COOKIE_SECURE="false")
    subprocess.run(
        [python(), "-m", "flask", "--app", "shop", "db", "upgrade"], env=env, check=True, capture_output=True
    )
    subprocess.run(
        [
            python(),
            "-c",
            "from shop import create_app\n"
            "from bench.data import load_catalogue, load_checkout\n"
            "app = create_app()\n"
            "with app.app_context():\n"
            "    load_catalogue(0)\n"
            "    load_checkout(spread=0)\n",
        ],
        env={**env, "PYTHONPATH": str(BENCH.parent)},
        check=True,
        capture_output=True,
    )
    web = start_gunicorn(
        env, ctx["out"], workers=ctx["web_workers"], threads=ctx["web_threads"], name="web-embedded"
    )
    try:
        token = customer_token(web.base)
        r = hot_checkout(web.base, token, "BENCH-HOT", ctx["seconds"])
    finally:
        web.stop()
    pg = ctx.get("checkout_rps")
    report.add(
        Row(
            "embedded",
            "orders/s, hot SKU, SQLite",
            r["rps"],
            "orders/s",
            "PostgreSQL hot SKU" if pg else "",
            pg,
            notes=f"p99 {r['p99_us'] / 1000:.1f} ms, errors {r['errors']}",
        )
    )


@scenario("workers")
def workers_drain(ctx, report: Report) -> None:
    """How fast Celery workers in the production profile drain no-op tasks (the fulfilment ceiling)."""
    from bench.harness import noop_drain

    celery_app = ctx["app"].extensions["celery"]
    best = None
    for conc in ctx["celery_concurrency"]:
        d = noop_drain(
            celery_app, ctx["env"], ctx["out"], ctx["redis_url"], tasks=ctx["tasks"], concurrency=conc
        )
        report.add(
            Row(
                "workers",
                f"no-op drain, concurrency {conc}",
                d.rate,
                "tasks/s",
                notes=f"{d.tasks:,} tasks in {d.seconds:.1f} s; RSS main {d.main_rss_mb:.0f} MB, "
                f"child {d.child_rss_mb:.0f} MB",
            )
        )
        report.add(Row("memory", f"worker child peak RSS (concurrency {conc})", d.child_rss_mb, "MB"))
        if best is None or d.rate > best[1]:
            best = (conc, d.rate)
    ctx["noop_rate"], ctx["noop_concurrency"] = best[1], best[0]


@scenario("fulfilment")
def fulfilment(ctx, report: Report) -> None:
    """10,000 paid orders through real workers, against the no-op drain of the same worker shape."""
    from bench.fulfilment import run

    run(ctx, report)


@scenario("aid")
def aid_totals(ctx, report: Report) -> None:
    """The officers' totals endpoint at 1,000 and at 10,000,000 aid ledger entries."""
    from bench.aid import run

    run(ctx, report)


@scenario("import")
def partner_import(ctx, report: Report) -> None:
    """A 100,000-row partner-platform sales file counted into the aid ledger: time and peak memory."""
    from bench.partner_import import run

    run(ctx, report, rows=ctx.get("import_rows", 100_000))


@scenario("sql")
def sql_counts(ctx, report: Report) -> None:
    """Statements per use case, counted by an SQLAlchemy hook in the budget tests (which also enforce them)."""
    import re
    import subprocess

    from bench.harness import python

    out = subprocess.run(
        [
            python(),
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "tests/ops/test_sql_counts.py",
            "tests/payments/test_webhook_statements.py",
        ],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "TEST_REDIS_DB_BASE": os.environ.get(
                "BENCH_TEST_REDIS_DB", os.environ.get("TEST_REDIS_DB_BASE", "15")
            ),
        },
    )
    budgets = {"order placement": "<= 7 pickup, <= 9 ship (first: 10, 11)", "product list API": "<= 5"}
    for name, n in re.findall(r"SQL_COUNT (.+?)=(\d+)", out.stdout):
        report.add(
            Row("sql", f"statements: {name}", float(n), "stmts", target=budgets.get(name.split(" (")[0], ""))
        )
    if out.returncode:
        print(out.stdout[-3000:], out.stderr[-2000:])


@scenario("tune")
def tune(ctx, report: Report) -> None:
    """Only with --only tune: each gunicorn workers x threads shape on bare, product list and hot checkout."""
    from bench.data import load_checkout

    with ctx["app"].app_context():
        info = load_checkout(spread=0)
    secs = max(5, ctx["seconds"] // 2)
    for workers, threads in [(2, 1), (2, 4), (2, 8), (3, 4), (4, 2), (4, 4)]:
        web = start_gunicorn(
            ctx["env"], ctx["out"], workers=workers, threads=threads, name=f"tune-{workers}x{threads}"
        )
        try:
            token = customer_token(web.base)
            bare = wrk(f"{web.base}/api/_bench/bare", connections=32, seconds=secs)
            lst = wrk(f"{web.base}/api/v1/products?per_page=20", connections=32, seconds=secs)
            hot = hot_checkout(web.base, token, info["hot_sku"], secs)
            rss = max(peak_rss_mb(p) for p in web.pids()[1:])
        finally:
            web.stop()
        shape = f"{workers} workers x {threads} threads"
        report.add(Row("tune", f"{shape}: bare", bare["rps"], "req/s"))
        report.add(
            Row(
                "tune",
                f"{shape}: product list",
                lst["rps"],
                "req/s",
                notes=f"p99 {lst['p99_us'] / 1000:.1f} ms",
            )
        )
        report.add(
            Row(
                "tune",
                f"{shape}: hot checkout",
                hot["rps"],
                "orders/s",
                notes=f"p99 {hot['p99_us'] / 1000:.1f} ms, errors {hot['errors']}, RSS {rss:.0f} MB",
            )
        )


@scenario("soak")
def soak(ctx, report: Report) -> None:
    """Only with --only soak: the mixed load at half its peak for --minutes (bench/soak.py)."""
    from bench.soak import run

    run(ctx, report)


@scenario("scaleout")
def scaleout(ctx, report: Report) -> None:
    """Only with --only scaleout: one group of web and worker processes against two (bench/scaleout.py)."""
    from bench.scaleout import run

    run(ctx, report)


@scenario("memory")
def memory(ctx, report: Report) -> None:
    """Peak RSS of the web workers after every scenario above and 64 logins from 32 clients at once."""
    from concurrent.futures import ThreadPoolExecutor

    from bench.harness import current_rss_mb, http_json

    base = ctx["web"].base
    # 64 accounts: the sign-in budget lets one account try only a few passwords at once from one client
    # (LOGIN_MAX_FAILURES_PER_CLIENT), so 64 logins of one account at once would mostly get 429.
    accounts = [
        {"email": f"bench-login-{i}@example.cn", "password": "bench-password-1", "name": "压测"}
        for i in range(64)
    ]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda a: http_json("POST", f"{base}/api/v1/auth/register", a), accounts))

    def login(account: dict) -> int:
        body = {"email": account["email"], "password": account["password"]}
        return http_json("POST", f"{base}/api/v1/auth/token", body)[0]

    with ThreadPoolExecutor(32) as pool:
        codes = list(pool.map(login, accounts))
    assert codes.count(200) == 64, codes
    pids = ctx["web"].pids()
    workers = pids[1:] or pids
    report.add(
        Row(
            "memory",
            "web worker peak RSS (max)",
            max(peak_rss_mb(p) for p in workers),
            "MB",
            target="< 150 MB",
            notes="after 64 logins from 32 clients at once: each argon2 hash holds 19 MiB, one at a time per process",
        )
    )
    report.add(
        Row(
            "memory",
            "web worker RSS after the run (max)",
            max(current_rss_mb(p) for p in workers),
            "MB",
            target="< 150 MB",
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "10")))
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--web-workers", type=int, default=int(os.environ.get("BENCH_WEB_WORKERS", "2")))
    ap.add_argument("--web-threads", type=int, default=int(os.environ.get("BENCH_WEB_THREADS", "8")))
    ap.add_argument("--tasks", type=int, default=int(os.environ.get("BENCH_TASKS", "10000")))
    ap.add_argument("--celery-concurrency", type=int, nargs="*", default=[2, 4])
    ap.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", "10000")))
    ap.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the fulfilment worker and the aid web worker; print where their time goes",
    )
    ap.add_argument("--aid-entries", type=int, default=int(os.environ.get("BENCH_AID_ENTRIES", "10000000")))
    ap.add_argument(
        "--minutes",
        type=float,
        default=float(os.environ.get("BENCH_SOAK_MINUTES", "30")),
        help="how long the soak runs (only with --only soak)",
    )
    ap.add_argument("--import-rows", type=int, default=int(os.environ.get("BENCH_IMPORT_ROWS", "100000")))
    ap.add_argument("--peak-seconds", type=int, default=int(os.environ.get("BENCH_SOAK_PEAK_SECONDS", "30")))
    ap.add_argument(
        "--scaleout-orders",
        type=int,
        default=int(os.environ.get("BENCH_SCALEOUT_ORDERS", "2000")),
        help="paid orders per fulfilment drain of the scaleout scenario",
    )
    ap.add_argument(
        "--scaleout-concurrency",
        type=int,
        default=int(os.environ.get("BENCH_SCALEOUT_CONCURRENCY", "2")),
        help="Celery processes per worker group in the scaleout scenario",
    )
    args = ap.parse_args()

    database_url = os.environ["BENCH_DATABASE_URL"]
    redis_url = os.environ["BENCH_REDIS_URL"]
    out_dir = BENCH / "results" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)

    from bench.app import create_bench_app

    env = production_env(database_url, redis_url, out_dir)
    os.environ.update(
        {
            k: v
            for k, v in env.items()
            if k not in os.environ or k.startswith(("SHOP_", "DATABASE", "REDIS", "SECRET"))
        }
    )
    app_config = {
        "SHOP_PROFILE": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": env["SECRET_KEY"],
        "SESSION_COOKIE_SECURE": True,
        "DATA_DIR": out_dir,
    }
    app = create_bench_app(app_config)
    with app.app_context():
        from bench.data import load_catalogue

        print("loading bench data...", flush=True)
        print("  ", load_catalogue(), flush=True)

    report = Report(
        meta={
            "when": datetime.now(UTC).isoformat(),
            "machine": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "web_workers": args.web_workers,
            "web_threads": args.web_threads,
            "seconds": args.seconds,
            "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
        }
    )
    ctx = {
        "app": app,
        "app_config": app_config,
        "seconds": args.seconds,
        "web_workers": args.web_workers,
        "web_threads": args.web_threads,
        "tasks": args.tasks,
        "celery_concurrency": args.celery_concurrency,
        "orders": args.orders,
        "profile": args.profile,
        "aid_entries": args.aid_entries,
        "minutes": args.minutes,
        "peak_seconds": args.peak_seconds,
        "import_rows": args.import_rows,
        "scaleout_orders": args.scaleout_orders,
        "scaleout_concurrency": args.scaleout_concurrency,
        "env": env,
        "out": out_dir,
        "database_url": database_url,
        "redis_url": redis_url,
    }
    web = ctx["web"] = start_gunicorn(env, out_dir, workers=args.web_workers, threads=args.web_threads)
    try:
        for name, fn in SCENARIOS.items():
            if (args.only and name not in args.only) or (
                name in ("tune", "soak", "scaleout") and not args.only
            ):
                continue
            print(f"== {name}", flush=True)
            started = time.time()
            fn(ctx, report)
            print(f"   ({time.time() - started:.0f} s)", flush=True)
    finally:
        web.stop()
        # Kept even when a scenario fails: the figures of the scenarios before it are not lost.
        report.save(out_dir / "results.json")
        (out_dir / "results.md").write_text(report.markdown() + "\n")
    print()
    print(report.markdown())
    print(f"\nresults in {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
