"""A worker or web process does not load the heavy libraries that only a few code paths use.

Every prefork child of a Celery worker is forked from a process that imported ``workers.main`` (the app
from ``shop.create_app``, whose Celery setup imports every task module), so whatever that import loads
every child holds: pypinyin's dictionaries, reportlab, openpyxl, segno, Pillow, boto3 and stripe made a
child hold about 200 MB instead of about 120 MB (docs/benchmarks.md, "Worker memory: lazy imports").
Those libraries are imported inside the functions that use them; Flask-Migrate and Alembic (about 8 MB)
are set up on the first lookup of the extension, which only the `flask db` commands and migrating tests
make. The boots run in fresh interpreters:
this test process has long imported them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Loaded only by a process that renders a PDF, writes or reads a workbook, computes a search key, draws
# a QR code, opens an image, uses a bucket or talks to Stripe.
LAZY = ("reportlab", "openpyxl", "pypinyin", "segno", "PIL", "boto3", "botocore", "s3transfer", "stripe")
# Loaded only by the `flask db` commands and whatever else migrates (Flask-Migrate, on first lookup).
MIGRATIONS = ("alembic", "flask_migrate", "mako")
# The modules that use them: loaded at start, so their absence above is not for want of importing them.
USERS = (
    "shop.producers.documents",
    "shop.aid.exports",
    "shop.aid.imports",
    "shop.workunits.bulk",
    "shop.workunits.quotas",
    "shop.catalog.search",
    "shop.storefront.services",
    "shop.preorders.views",
    "shop.media.images",
    "shop.media.storage",
    "shop.payments.gateways",
    "shop.demo",
)

BOOT = {
    # What `celery -A workers.main worker` does before it forks its pool: import the module (which builds
    # the app), then import the task modules again as the worker does at start.
    "worker": "import workers.main; workers.main.celery_app.loader.import_default_modules()",
    # What gunicorn does with 'shop:create_app()'.
    "web": "from shop import create_app; create_app()",
}
REPORT = "import json, sys; print(json.dumps(sorted(sys.modules)))"
# After the boot, the paths that need them still work and load them then.
USE = """
from shop.catalog.search import _pinyin_forms
from shop.storefront.services import qr_svg
assert _pinyin_forms("苹果") == ["pingguo", "ping guo", "pg"], _pinyin_forms("苹果")
assert qr_svg("https://example.test/o/1").lstrip().startswith(b"<svg")
"""


def _loaded_after(code: str, tmp_path: Path, **env_extra: str) -> set[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_STORAGE", "PAYMENT_GATEWAY")
    }
    env.update(SHOP_PROFILE="embedded", DATA_DIR=str(tmp_path / "var"), **env_extra)
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\n{REPORT}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _top_packages(modules: set[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in modules}


@pytest.mark.parametrize("boot", ["worker", "web"])
@pytest.mark.parametrize("store", ["embedded", "postgresql"])
def test_heavy_libraries_are_not_loaded_at_start(boot, store, tmp_path, request):
    env = {}
    if store == "postgresql":
        env = {
            "DATABASE_URL": request.getfixturevalue("pg_url"),
            "REDIS_URL": request.getfixturevalue("redis_url"),
        }
    loaded = _loaded_after(BOOT[boot], tmp_path, **env)
    assert not [m for m in USERS if m not in loaded], "the boot no longer imports the modules checked"
    assert not sorted(_top_packages(loaded) & set(LAZY)), f"loaded at {boot} start"
    assert not sorted(_top_packages(loaded) & set(MIGRATIONS)), f"migrations loaded at {boot} start"
    if boot == "worker":
        assert "workers.producers" in loaded and "workers.aid" in loaded  # the task modules came in


def test_the_lazy_paths_load_what_they_need(tmp_path):
    loaded = _top_packages(_loaded_after(f"{BOOT['worker']}\n{USE}", tmp_path))
    assert {"pypinyin", "segno"} <= loaded
    assert not {"reportlab", "openpyxl"} & loaded
