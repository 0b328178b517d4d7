"""CPU per order in one process: hot-SKU orders through the Flask test client, no network, no contention.

Usage (after ``bash bench/run.sh --only checkout`` loaded the bench database):
  BENCH_DATABASE_URL=... BENCH_REDIS_URL=... .venv/bin/python -m bench.cpu [--orders 300] [--profile]

(As a module: run as a script, ``bench/profile.py`` would shadow the standard library's ``profile``.)

Places ``--orders`` orders of one unit of BENCH-HOT for pickup at DL-HM (``POST /api/v1/orders``, one
bearer token) one after the other and the same number of bare conditional UPDATEs
(``POST /api/_bench/update``), and prints wall and CPU time per request for each, and the statements one
order ran. With ``--profile`` it runs the orders again under cProfile and prints the functions with the
largest cumulative share.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BODY = {"lines": [{"sku": "BENCH-HOT", "quantity": 1}], "delivery": {"type": "pickup", "location": "DL-HM"}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=300)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()

    from sqlalchemy import event, select

    from bench.app import create_bench_app
    from shop.core.db import db

    app = create_bench_app(
        {
            "SHOP_PROFILE": "production",
            "DATABASE_URL": os.environ["BENCH_DATABASE_URL"],
            "REDIS_URL": os.environ["BENCH_REDIS_URL"],
            "SECRET_KEY": "bench-" + "k" * 40,
            "RATELIMIT_ENABLED": False,
            "SESSION_COOKIE_SECURE": True,
        }
    )
    client = app.test_client()
    email, password = "bench-cpu@example.cn", "bench-password-1"
    client.post("/api/v1/auth/register", json={"email": email, "password": password, "name": "压测"})
    r = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert r.status_code == 200, r.json
    auth = {"Authorization": f"Bearer {r.json['access_token']}"}
    with app.app_context():
        from shop.catalog.models import Location, Variant
        from shop.inventory.services import level_id

        bare = db.session.scalar(select(Variant.id).where(Variant.sku == "BENCH-BARE"))
        hall = db.session.scalar(select(Location.id).where(Location.code == "DL-HM"))
        bare_level = level_id(bare, hall)
        db.session.rollback()
        engine = db.engine

    def order() -> None:
        r = client.post("/api/v1/orders", json=BODY, headers=auth)
        assert r.status_code == 201, r.json

    def update() -> None:
        r = client.post(f"/api/_bench/update?level={bare_level}")
        assert r.status_code == 201, r.json

    def timed(fn, n: int) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            fn()
        return (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n

    for _ in range(20):  # warm-up: compiled-statement caches, pools, the process caches
        order()
        update()
    seen: list[str] = []
    log = lambda *a: seen.append(a[2].split("\n")[0][:110])  # noqa: E731
    event.listen(engine, "before_cursor_execute", log)
    order()
    event.remove(engine, "before_cursor_execute", log)
    o_wall, o_cpu = timed(order, args.orders)
    u_wall, u_cpu = timed(update, args.orders)
    print(f"order:       {o_wall:6.2f} ms wall, {o_cpu:6.2f} ms CPU per request ({args.orders} in a row)")
    print(f"bare UPDATE: {u_wall:6.2f} ms wall, {u_cpu:6.2f} ms CPU per request")
    print(f"CPU ratio order/bare: {o_cpu / u_cpu:.1f}")
    print(f"statements of one order ({len(seen)}):")
    for s in seen:
        print("   ", s)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.orders):
            order()
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(45)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
