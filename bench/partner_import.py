"""The partner-import scenario: a 100,000-row platform sales file counted into the aid ledger.

The file is generated here, deterministic from a seed: 100,000 data rows of one platform (GG-TMALL),
orders of one to three lines spread from 1 January to today over every SKU of the bench catalogue, with
one row in a hundred a repeat of an earlier line (counted as a duplicate) and one in a thousand bad (an
unknown SKU). Each import runs in a fresh process of its own (``python -m bench.partner_import run``),
the shop's app in the production profile, exactly as the Celery task does it: ``start_import`` stores
the file and queues it, then ``process_import`` streams and counts it. That process reports the time
``process_import`` took, the process's peak RSS before the import (the app loaded) and at its end
(``getrusage``): the growth is what the import held in memory.

Figures, each beside the baseline measured in the same run:

- the 100,000-row import, against reading and parsing the same file with the csv module alone;
- the same file uploaded again (every line already counted: all duplicates);
- peak memory of the 100,000-row import against a 10,000-row import (streaming: it must not grow with
  the file), and the reconciliation status afterwards (ledger, rollups and imported lines agree).
"""

from __future__ import annotations

import csv
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from bench.harness import BENCH, Report, Row, python

SEED = 20261204
PLATFORM = "GG-TMALL"


def write_file(path: Path, rows: int, skus: list[str], *, start: date, end: date) -> Path:
    rng = random.Random(SEED + rows)
    days = (end - start).days + 1
    written = 0
    order = 0
    recent: list[list] = []
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["platform_order_id", "line", "sold_on", "sku", "quantity", "amount_fen"])
        while written < rows:
            order += 1
            sold_on = (start + timedelta(days=rng.randrange(days))).isoformat()
            for line in range(1, rng.randint(1, 3) + 1):
                if written >= rows:
                    break
                if recent and rng.random() < 0.01:
                    row = rng.choice(recent)  # a line the platform exported twice
                elif rng.random() < 0.001:
                    row = [f"TM{order:08d}", line, sold_on, "NO-SUCH-SKU", 1, 100]
                else:
                    qty = rng.randint(1, 4)
                    row = [
                        f"TM{order:08d}",
                        line,
                        sold_on,
                        rng.choice(skus),
                        qty,
                        qty * rng.randint(800, 9800),
                    ]
                    recent = [*recent, row][-1000:]
                w.writerow(row)
                written += 1
    return path


def csv_only_seconds(path: Path) -> float:
    """The baseline: read and parse the file with the csv module, nothing else."""
    t0 = time.perf_counter()
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for _ in csv.reader(fh):
            pass
    return time.perf_counter() - t0


def import_in_fresh_process(ctx, path: Path) -> dict:
    cfg = ctx["app_config"]
    out = subprocess.run(
        [
            python(),
            "-m",
            "bench.partner_import",
            "run",
            json.dumps({**cfg, "DATA_DIR": str(cfg["DATA_DIR"])}),
            str(path),
        ],
        cwd=BENCH.parent,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(ctx, report: Report, rows: int = 100_000) -> None:
    app = ctx["app"]
    with app.app_context():
        from sqlalchemy import select

        from shop.catalog.models import Variant
        from shop.core import clock
        from shop.core.db import db

        skus = sorted(db.session.scalars(select(Variant.sku)))
        today = clock.today()
    folder = Path(ctx["app_config"]["DATA_DIR"])
    big = write_file(folder / "partner-100k.csv", rows, skus, start=date(today.year, 1, 1), end=today)
    small = write_file(folder / "partner-10k.csv", rows // 10, skus, start=date(today.year, 1, 1), end=today)
    base = csv_only_seconds(big)
    first = import_in_fresh_process(ctx, big)
    again = import_in_fresh_process(ctx, big)
    tenth = import_in_fresh_process(ctx, small)
    print("   ", first, "\n   ", again, "\n   ", tenth, flush=True)
    report.add(
        Row("partner import", f"{rows:,} rows imported", first["seconds"], "s", "csv read only", base,
            "< 60 s", f"{first['accepted']:,} accepted, {first['duplicates']:,} duplicates, "
            f"{first['rejected']:,} rejected; {first['rows'] / first['seconds']:,.0f} rows/s; "
            f"{first.get('cpu_seconds', 0):.1f} s CPU in the importing process")
    )  # fmt: skip
    report.add(
        Row("partner import", "same file again (all duplicates)", again["seconds"], "s", "csv read only", base,
            "", f"{again['accepted']:,} accepted, {again['duplicates']:,} duplicates")
    )  # fmt: skip
    report.add(
        Row("partner import", f"peak RSS, {rows:,} rows", first["peak_mb"], "MB", f"{rows // 10:,} rows",
            tenth["peak_mb"], "flat (streamed)", f"app loaded before import: {first['before_mb']:.1f} MB")
    )  # fmt: skip
    report.add(
        Row(
            "partner import",
            "reconciliation after",
            0 if again["reconcile"] == "ok" else 1,
            "",
            notes=again["reconcile"],
        )
    )


def _child(cfg: dict, path: str) -> None:
    """Import one file the way the task does, in this fresh process; print the figures as JSON."""
    sys.path.insert(0, str(BENCH.parent))
    from bench.app import create_bench_app

    app = create_bench_app(cfg)
    with app.app_context():
        from sqlalchemy import select

        from shop.accounts.models import User
        from shop.accounts.services import create_staff_user
        from shop.aid import imports
        from shop.aid.reconcile import reconcile
        from shop.core.db import atomic, db

        with atomic():
            officer = db.session.scalar(select(User).where(User.email == "bench-officer@aid.gov.cn"))
            if officer is None:
                officer = create_staff_user(
                    email="bench-officer@aid.gov.cn", password="bench-password-123", role="aid_officer",
                    location_codes=[],
                )  # fmt: skip
            src = Path(path)
            imp = imports.start_import(
                officer, platform_code=PLATFORM, filename=src.name,
                save_to=lambda dest: shutil.copyfile(src, dest),
            )  # fmt: skip
            import_id = imp.id
        db.session.remove()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        before, cpu0 = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime
        t0 = time.perf_counter()
        imp = imports.process_import(import_id)
        seconds = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_SELF)
        peak, cpu = usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime - cpu0
        result = {
            "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu, 2),  # this process's own CPU time (the database's is apart)
            "rows": imp.rows_done,
            "accepted": imp.accepted,
            "duplicates": imp.duplicates,
            "rejected": imp.rejected_count,
            "status": imp.status,
            "before_mb": round(before, 1),
            "peak_mb": round(peak, 1),
        }
        result["reconcile"] = reconcile(repair=False, trigger="bench").status
    print(json.dumps(result), flush=True)


if __name__ == "__main__":  # pragma: no cover - the bench's child process
    if len(sys.argv) == 4 and sys.argv[1] == "run":
        _child(json.loads(sys.argv[2]), sys.argv[3])
    else:
        sys.exit("usage: python -m bench.partner_import run CONFIG_JSON FILE")
