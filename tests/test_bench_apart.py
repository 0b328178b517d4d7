"""Benchmark baselines live under bench/: the shop and its workers neither serve nor register them, the
bench's own app and worker do (and its bare UPDATE reaches the database)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bench.app import create_bench_app
from shop.catalog.models import Location, Variant
from shop.core.db import db
from shop.inventory.models import StockLevel
from tests.inventory.factories import level, make_world, put

ROOT = Path(__file__).resolve().parents[1]
SECRET = "test-secret-key-of-sufficient-length-123456"

# Run in a fresh interpreter: this test process has imported bench/ (below), the shop's must not need to.
LIST_BENCH_THINGS = """
import json, sys
import workers.main
app = workers.main.flask_app
print(json.dumps({
    "rules": [r.rule for r in app.url_map.iter_rules() if "bench" in r.rule],
    "blueprints": [b for b in app.blueprints if "bench" in b],
    "tasks": [t for t in workers.main.celery_app.tasks if "bench" in t],
    "modules": [m for m in sys.modules if m == "bench" or m.startswith("bench.")],
}))
"""


def test_the_shop_and_its_workers_carry_no_benchmark_baseline(pg_url, redis_url, tmp_path):
    env = {
        **os.environ,
        "SHOP_PROFILE": "test",
        "DATABASE_URL": pg_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": SECRET,
    }
    out = subprocess.run(
        [sys.executable, "-c", LIST_BENCH_THINGS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {"rules": [], "blueprints": [], "tasks": [], "modules": []}


def test_the_bench_app_serves_the_baselines_and_registers_the_noop(app, pg_url, redis_url, tmp_path):
    bench_app = create_bench_app(
        {
            "SHOP_PROFILE": "test",
            "DATABASE_URL": pg_url,
            "REDIS_URL": redis_url,
            "DATA_DIR": tmp_path,
            "SECRET_KEY": SECRET,
            "RATELIMIT_ENABLED": False,
        }
    )
    make_world()
    put("SHOE-1", "DL-HM", 1)
    row = db.session.scalar(
        select(StockLevel.id)
        .join(Variant, StockLevel.variant_id == Variant.id)
        .join(Location, StockLevel.location_id == Location.id)
        .where(Variant.sku == "SHOE-1", Location.code == "DL-HM")
    )
    db.session.rollback()
    client = bench_app.test_client()
    assert client.get("/api/_bench/bare").json == {"ok": True}
    url = f"/api/_bench/update?level={row}"
    first, second = client.post(url, json={}), client.post(url, json={})
    assert (first.status_code, first.json) == (201, {"updated": 1})
    assert (second.status_code, second.json) == (409, {"updated": 0})  # the conditional UPDATE held
    assert level("SHOE-1", "DL-HM") == (1, 1)
    assert "bench.noop" in bench_app.extensions["celery"].tasks
