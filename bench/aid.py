"""The aid scenario: the officers' totals endpoint at 1,000 and at 10,000,000 aid ledger entries.

It runs on a database of its own (``<bench db>_aid``), so the 1,000-entry figure sees only its 1,000
entries (the fulfilment scenario counts its orders in the main database) and the ten million rows do not
slow the other scenarios. The catalogue is the bench's (the demo catalogue plus 200 products); the
programmes are DL-GG-2025 and DL-GG-2026 (one per calendar year, as the shop keeps them).

Entries are generated here, deterministic from a seed, and loaded with ``COPY``: sales from 1 January of
last year to today spread across channels, halls, products (few sell a lot, many a little), producers and their
townships; qualifying exactly as the shop decides it (the producer's certificate valid on the local day);
one sale in a hundred partly refunded by a negative entry reversing one of its lines, dated later and
kept in the original's programme. Their sources are ``bench-sale:<n>`` and ``bench-refund:<n>``, which
no source checker of the reconciliation claims, so the shop's full reconciliation can run afterwards.

The rollups are computed from the ledger with one ``INSERT ... SELECT ... GROUP BY``, and the per-dimension
summaries from the rollups with another, written here (not the shop's repair or fold functions) so that
the shop's reconciliation checks them independently. The last ``PENDING`` entries of each size are loaded
with the triggers on, so they wait in ``aid_unfolded`` as a sale's entries do until the next fold (no fold
runs during the bench): the totals add them to the summaries.
"""

from __future__ import annotations

import bisect
import itertools
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

import psycopg

from bench.harness import BENCH, Report, Row, http_json, py_spy, python, start_gunicorn, wrk
from shop.aid.models import ROLLUP_DIMS, ROLLUP_SUMS
from shop.core import clock

SEED = 20261127
NULL = "\\N"  # COPY text format
COLUMNS = (
    "id, programme_id, source, source_key, reverses_id, occurred_at, day, channel, category_id, product_id,"
    " variant_id, producer_id, township, location_id, quantity, amount_fen, qualifying, certificate_number,"
    " direct_purchase, buyer_id, created_at"
)
HALL_WEIGHTS = {
    "DL-HM": 30,
    "DL-FNC": 12,
    "DL-WX": 12,
    "DL-JQ": 10,
    "DL-ZGZ": 10,
    "DL-XL": 9,
    "DL-DLH": 9,
    "DL-JLC": 8,
}


@dataclass(frozen=True)
class Kind:
    """One way a sale happens: its channel, where (location code, None, or "hall": a hall by weight),
    who buys ("consumer", "work_unit" or None) and how many units a line holds."""

    channel: str
    weight: float
    location: str | None
    buyer: str | None
    quantities: tuple[int, int]


# Shares of sales (not of money): online orders picked up at a hall or delivered from the county
# warehouse, counter sales in the halls, work-unit purchases, fairs (the Tianjin fair booth on its days,
# other fairs without a location), subscriptions and charity sales.
KINDS = (
    Kind("online", 25, "hall", "consumer", (1, 3)),
    Kind("online", 20, "GG-WH", "consumer", (1, 3)),
    Kind("hall", 28, "hall", None, (1, 3)),
    Kind("work_unit", 8, "GG-WH", "work_unit", (10, 50)),
    Kind("work_unit", 4, "hall", "work_unit", (10, 50)),
    Kind("fair", 1.2, "FAIR-TJ", None, (1, 5)),
    Kind("fair", 1.8, None, None, (1, 5)),
    Kind("subscription", 7, None, "consumer", (1, 2)),
    Kind("charity_sale", 5, None, None, (1, 2)),
)


class Ledger:
    """Generates aid entries as COPY text rows, ids from 1, the same sequence for the same seed."""

    def __init__(self, conn: psycopg.Connection, *, first_day: date, last_day: date, seed: int = SEED):
        self.rng = random.Random(seed)
        q = conn.execute
        self.programmes = [
            (s, e, pid)
            for pid, s, e in q("SELECT id, starts_on, ends_on FROM aid_programme ORDER BY starts_on")
        ]
        self.locations = dict(q("SELECT code, id FROM location").fetchall())
        certs: dict[int, list] = {}
        for producer_id, number, valid_from, valid_until in q(
            "SELECT producer_id, number, valid_from, valid_until FROM aid_certificate"
            " WHERE NOT revoked ORDER BY valid_from"
        ):
            certs.setdefault(producer_id, []).append((valid_from, valid_until, number))
        self.certs = certs
        # Products by popularity: the demo catalogue's own products first, then the rest; Zipf weights.
        variants = q(
            "SELECT v.id, v.price_fen, p.id, p.category_id, p.producer_id, pr.township"
            " FROM variant v JOIN product p ON p.id = v.product_id JOIN producer pr ON pr.id = p.producer_id"
            " WHERE v.active AND p.active ORDER BY (v.sku LIKE 'BENCH%'), v.id"
        ).fetchall()
        self.variants = variants
        self.variant_cum = list(itertools.accumulate(1 / (i + 1) for i in range(len(variants))))
        self.consumers = [
            r[0] for r in q("SELECT id FROM user_account WHERE buyer_kind = 'consumer' AND role = 'customer'")
        ]
        self.work_units = [r[0] for r in q("SELECT id FROM user_account WHERE buyer_kind = 'work_unit'")]
        halls = [(self.locations[c], w) for c, w in HALL_WEIGHTS.items()]
        self.halls = [h for h, _ in halls]
        self.hall_cum = list(itertools.accumulate(w for _, w in halls))
        self.kind_cum = list(itertools.accumulate(k.weight for k in KINDS))
        days = [first_day + timedelta(days=i) for i in range((last_day - first_day).days + 1)]
        # More in autumn (apples, new chili and pepper) and at weekends.
        weights = [(1.5 if d.month >= 9 else 1.0) * (1.3 if d.weekday() >= 5 else 1.0) for d in days]
        self.days = days
        self.day_cum = list(itertools.accumulate(weights))
        fair = [d for d in days if d.month == 5 and 18 <= d.day <= 21]
        self.fair_days = fair or days
        self.last_day = last_day
        self.next_id = 1
        self.sales = 0

    def _programme(self, day: date) -> int | None:
        for start, end, pid in self.programmes:
            if start <= day <= end:
                return pid
        return None

    def _certificate(self, producer_id: int, day: date) -> str | None:
        for valid_from, valid_until, number in self.certs.get(producer_id, ()):
            if valid_from <= day <= valid_until:
                return number
        return None

    def _pick(self, cum: list[float], items: list):
        return items[bisect.bisect(cum, self.rng.random() * cum[-1])]

    def rows(self) -> Iterator[str]:
        """COPY rows, one per entry, sale after sale (1-3 lines each), forever."""
        rng = self.rng
        while True:
            self.sales += 1
            sale = self.sales
            kind = KINDS[bisect.bisect(self.kind_cum, rng.random() * self.kind_cum[-1])]
            day = (
                rng.choice(self.fair_days)
                if kind.location == "FAIR-TJ"
                else self._pick(self.day_cum, self.days)
            )
            if kind.location == "hall":
                location = self._pick(self.hall_cum, self.halls)
            else:
                location = self.locations[kind.location] if kind.location else None
            buyer = None
            if kind.buyer == "consumer":
                buyer = rng.choice(self.consumers)
            elif kind.buyer == "work_unit":
                buyer = rng.choice(self.work_units)
            moment = f"{day} {rng.randint(9, 20):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}+08"
            programme = self._programme(day)
            source = f"bench-sale:{sale}"
            direct = "t" if kind.channel == "work_unit" else "f"
            lines = rng.choices((1, 2, 3), (60, 30, 10))[0]
            picked: set[int] = set()
            written = []
            for line in range(1, lines + 1):
                v = bisect.bisect(self.variant_cum, rng.random() * self.variant_cum[-1])
                if v in picked:
                    continue
                picked.add(v)
                variant_id, price, product_id, category_id, producer_id, township = self.variants[v]
                qty = rng.randint(*kind.quantities)
                cert = self._certificate(producer_id, day)
                entry = self.next_id
                self.next_id += 1
                written.append(
                    (entry, variant_id, price, product_id, category_id, producer_id, township, qty, cert)
                )
                yield (
                    f"{entry}\t{programme or NULL}\t{source}\t{source}:line:{line}\t{NULL}\t{moment}\t{day}\t"
                    f"{kind.channel}\t{category_id}\t{product_id}\t{variant_id}\t{producer_id}\t{township}\t"
                    f"{location or NULL}\t{qty}\t{price * qty}\t{'t' if cert else 'f'}\t"
                    f"{cert or NULL}\t{direct}\t{buyer or NULL}\t{moment}\n"
                )
            if written and rng.random() < 0.01:
                # A partial refund of one line, some days later: one unit's money back (or money only).
                entry, variant_id, price, product_id, category_id, producer_id, township, qty, cert = (
                    rng.choice(written)
                )
                refund_day = min(day + timedelta(days=rng.randint(1, 30)), self.last_day)
                back = 1 if qty > 1 and rng.random() < 0.7 else 0
                amount = price * back if back else price // 2
                rid = self.next_id
                self.next_id += 1
                when = f"{refund_day} {rng.randint(9, 20):02d}:{rng.randint(0, 59):02d}:00+08"
                src = f"bench-refund:{sale}"
                yield (
                    f"{rid}\t{programme or NULL}\t{src}\t{src}:line:1\t{entry}\t{when}\t{refund_day}\t"
                    f"{kind.channel}\t{category_id}\t{product_id}\t{variant_id}\t{producer_id}\t{township}\t"
                    f"{location or NULL}\t{-back}\t{-amount}\t{'t' if cert else 'f'}\t"
                    f"{cert or NULL}\t{direct}\t{buyer or NULL}\t{when}\n"
                )


# -- loading ----------------------------------------------------------------------------------------


def copy_entries(conninfo: str, rows: Iterator[str], count: int, *, triggers: bool = True) -> float:
    """COPY the next ``count`` generated entries into aid_entry; return the seconds it took.

    Without ``triggers`` the foreign-key triggers are off for this session (``session_replication_role
    = replica``, as a restore does): every id written comes from the catalogue read above.
    """
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        if not triggers:
            conn.execute("SET session_replication_role = replica")
        with conn.cursor().copy(f"COPY aid_entry ({COLUMNS}) FROM STDIN") as cp:
            buf: list[str] = []
            for row in itertools.islice(rows, count):
                buf.append(row)
                if len(buf) == 20_000:
                    cp.write("".join(buf))
                    buf.clear()
            if buf:
                cp.write("".join(buf))
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('aid_entry', 'id'), (SELECT max(id) FROM aid_entry))"
        )
    return time.perf_counter() - started


def drop_secondary_indexes(conn: psycopg.Connection, table: str) -> list[str]:
    """Drop every index of ``table`` but its primary key; return the statements that recreate them."""
    again = []
    for name, definition in conn.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
        " AND contype = 'u'",
        (table,),
    ).fetchall():
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = %s::regclass AND NOT i.indisprimary"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (table,),
    ).fetchall():
        conn.execute(f"DROP INDEX {name}")
        again.append(definition)
    return again


_LEDGER_DIMS = ", ".join("COALESCE(location_id, 0)" if d == "location_id" else d for d in ROLLUP_DIMS)
ROLLUP_FROM_LEDGER = f"""
INSERT INTO aid_rollup ({", ".join(ROLLUP_DIMS)}, {", ".join(ROLLUP_SUMS)})
SELECT {_LEDGER_DIMS}, sum(amount_fen), sum(quantity), count(*)
FROM aid_entry WHERE programme_id IS NOT NULL
GROUP BY {_LEDGER_DIMS}
"""


def build_rollups(conninfo: str) -> float:
    """Replace the rollups by the ledger's sums (what the shop's per-entry upserts add up to); ANALYZE."""
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("TRUNCATE aid_rollup RESTART IDENTITY")
        again = drop_secondary_indexes(conn, "aid_rollup")
        conn.execute(ROLLUP_FROM_LEDGER)
        for stmt in again:
            conn.execute(stmt)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE aid_entry")
        conn.execute("ANALYZE aid_rollup")
    return time.perf_counter() - started


# The per-dimension summaries from the rollups, written here too (not the shop's fold): each rollup row
# once per grain (month, day) and dimension, under that dimension's key ("" for "all").
_SUMMARY_KEYS = {
    "all": None,
    "channel": "channel",
    "category": "category_id",
    "product": "product_id",
    "producer": "producer_id",
    "township": "township",
    "location": "location_id",
}
_MONTH = "CAST(date_trunc('month', CAST(day AS timestamp)) AS date)"
SUMMARIES_FROM_ROLLUPS = (
    "INSERT INTO aid_summary (programme_id, grain, period, dimension, key, qualifying, direct_purchase,"
    " amount_fen, quantity, entries) "
    + " UNION ALL ".join(
        f"SELECT programme_id, '{grain}', {period}, '{dim}',"
        f" {f'CAST({col} AS text)' if col else repr('')}, qualifying, direct_purchase,"
        f" sum(amount_fen), sum(quantity), sum(entries) FROM aid_rollup"
        f" GROUP BY programme_id, {period}{', ' + col if col else ''}, qualifying, direct_purchase"
        for grain, period in (("month", _MONTH), ("day", "day"))
        for dim, col in _SUMMARY_KEYS.items()
    )
)
# Entries a sale wrote that the fold has not taken yet: the totals add them to the summaries. The bench
# leaves this many pending (no fold runs during it), a few seconds' worth of sales at a busy time.
PENDING = 100
ROLLUPS_OF_PENDING = f"""
INSERT INTO aid_rollup ({", ".join(ROLLUP_DIMS)}, {", ".join(ROLLUP_SUMS)})
SELECT {_LEDGER_DIMS}, sum(amount_fen), sum(quantity), count(*)
FROM aid_entry WHERE id IN (SELECT entry_id FROM aid_unfolded)
GROUP BY {_LEDGER_DIMS}
ON CONFLICT ({", ".join(ROLLUP_DIMS)}) DO UPDATE SET
{", ".join(f"{c} = aid_rollup.{c} + EXCLUDED.{c}" for c in ROLLUP_SUMS)}
"""


def build_summaries(conninfo: str) -> float:
    """Replace the summaries by the rollups' sums, with no entry pending; ANALYZE. Returns the seconds."""
    started = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET work_mem = '256MB'")
        conn.execute("TRUNCATE aid_summary, aid_unfolded RESTART IDENTITY")
        conn.execute(SUMMARIES_FROM_ROLLUPS)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE aid_summary")
    return time.perf_counter() - started


def add_pending(conninfo: str, rows: Iterator[str], count: int) -> None:
    """COPY ``count`` more entries with the triggers on (so the shop's trigger lists them as pending, as
    a sale's INSERT would), add them to the rollups as the sale would; leave them unfolded."""
    copy_entries(conninfo, rows, count)
    with psycopg.connect(conninfo) as conn:
        conn.execute(ROLLUPS_OF_PENDING)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE aid_unfolded")


def bulk_load(conninfo: str, rows: Iterator[str], count: int) -> dict:
    """Load ``count`` more entries the fast way: secondary indexes dropped around COPY, then rebuilt."""
    t0 = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        again = drop_secondary_indexes(conn, "aid_entry")
    copy_secs = copy_entries(conninfo, rows, count, triggers=False)
    t1 = time.perf_counter()
    with psycopg.connect(conninfo) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for stmt in again:
            conn.execute(stmt)
    index_secs = time.perf_counter() - t1
    rollup_secs = build_rollups(conninfo)
    summary_secs = build_summaries(conninfo)
    return {
        "summaries": summary_secs,
        "copy": copy_secs,
        "indexes": index_secs,
        "rollups": rollup_secs,
        "total": time.perf_counter() - t0,
    }


# -- the scenario -----------------------------------------------------------------------------------


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _create_database(ctx) -> str:
    """(Re)create ``<bench db>_aid``, migrate it, return its URL."""
    base = ctx["database_url"]
    name = urlsplit(base).path.lstrip("/") + "_aid"
    url = base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(_conninfo(base.rsplit("/", 1)[0] + "/postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {**ctx["env"], "SHOP_PROFILE": "test", "DATABASE_URL": url}
    subprocess.run(
        [python(), "-m", "flask", "--app", "shop", "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
        cwd=BENCH.parent,
    )
    return url


def _drop_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_conninfo(url.rsplit("/", 1)[0] + "/postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


OFFICER = ("bench-officer@example.cn", "bench-officer-password-1")


def _seed(app) -> None:
    """The bench catalogue, last year's programme, an aid officer, and buyers who never sign in."""
    from sqlalchemy import select

    from bench.data import load_catalogue
    from shop.accounts.models import User
    from shop.accounts.services import create_staff_user
    from shop.aid.models import AidProgramme
    from shop.aid.programmes import create_programme
    from shop.core.db import atomic, db

    with app.app_context():
        load_catalogue()
        year = clock.today().year
        with atomic():
            officer = create_staff_user(email=OFFICER[0], password=OFFICER[1], role="aid_officer")
            for y in (year - 1, year):
                if (
                    db.session.scalar(select(AidProgramme.id).where(AidProgramme.code == f"DL-GG-{y}"))
                    is None
                ):
                    create_programme(
                        code=f"DL-GG-{y}",
                        name_zh=f"{y}年东丽区对口帮扶甘谷县消费帮扶",
                        name_en=f"Dongli–Gangu consumption aid {y}",
                        starts_on=date(y, 1, 1),
                        ends_on=date(y, 12, 31),
                        target_fen=50_000_000 * 100,
                        actor=officer,
                    )
            # Sub-targets as an officer sets them: the halls' channel and the biggest hall.
            from shop.aid.programmes import update_programme

            for y in (year - 1, year):
                update_programme(
                    f"DL-GG-{y}",
                    channel_targets={"hall": 10_000_000 * 100, "work_unit": 8_000_000 * 100},
                    location_targets={"DL-HM": 3_000_000 * 100},
                    actor=officer,
                )
            for i in range(200):
                db.session.add(
                    User(
                        email=f"bench-aid-buyer-{i}@example.cn",
                        name=f"买家{i}",
                        password_hash="!",
                        role="customer",
                    )
                )
            for i in range(30):
                db.session.add(
                    User(
                        email=f"bench-aid-unit-{i}@example.cn",
                        name=f"单位{i}",
                        password_hash="!",
                        role="customer",
                        buyer_kind="work_unit",
                        invoice_title=f"东丽区第{i}单位",
                        tax_id=f"12120110MB{i:07d}X",
                    )
                )
        db.session.remove()


def _explain(app, code: str, out_path, dates: tuple[date, date] | None = None) -> list[float]:
    """Run the totals once in-process, EXPLAIN ANALYZE each statement it sent; return the time of the
    whole call, then each statement's (ms)."""
    from sqlalchemy import event

    from shop.aid import programmes, reports
    from shop.core.db import db

    with app.app_context():
        sent: list[tuple[str, dict]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            sent.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            prog = programmes.get_programme(code)
            started = time.perf_counter()
            reports.programme_totals(prog, reports.resolve_range(prog, *(dates or (None, None))))
            whole = (time.perf_counter() - started) * 1000
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        db.session.rollback()
        times = [whole]
        with db.engine.connect() as conn, out_path.open("a") as f:
            for statement, params in sent:
                if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                    continue
                plan = [r[0] for r in conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)]
                f.write(
                    f"-- {code} {dates or 'whole programme'}\n{statement}\n{params!r}\n"
                    + "\n".join(plan)
                    + "\n\n"
                )
                for line in plan:
                    if line.startswith("Execution Time"):
                        times.append(float(line.split()[2]))
            conn.rollback()
        db.session.remove()
    return times


def _wait_idle(conninfo: str, quiet: float = 1.0, timeout: float = 600) -> None:
    """Wait until no query runs in the database for ``quiet`` seconds.

    When wrk stops, the server still works through the requests its connections had sent; the next
    run must not start behind them.
    """
    deadline = time.time() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        calm_since = None
        while time.time() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND pid <> pg_backend_pid()"
            ).fetchone()[0]
            now = time.time()
            if busy:
                calm_since = None
            elif calm_since is None:
                calm_since = now
            elif now - calm_since >= quiet:
                return
            time.sleep(0.1)


def _totals_wrk(base: str, token: str, code: str, seconds: int, query: str = "") -> dict:
    return wrk(
        f"{base}/api/v1/aid/programmes/{code}/totals{query}",
        connections=32,
        seconds=seconds,
        env_extra={"WRK_TOKEN": token},
        timeout=60,
    )


def _check_endpoint(base: str, token: str, code: str, conninfo: str) -> None:
    """One request: 200, and its total equals the ledger's sum for the programme."""
    status, body, _ = http_json(
        "GET", f"{base}/api/v1/aid/programmes/{code}/totals", headers={"Authorization": f"Bearer {token}"}
    )
    if status != 200:
        raise RuntimeError(f"totals answered {status}: {body}")
    with psycopg.connect(conninfo) as conn:
        ledger = conn.execute(
            "SELECT COALESCE(sum(e.amount_fen), 0) FROM aid_entry e JOIN aid_programme p ON p.id = e.programme_id"
            " WHERE p.code = %s",
            (code,),
        ).fetchone()[0]
    if body["total_fen"] != ledger:
        raise RuntimeError(f"totals say {body['total_fen']} fen, the ledger {ledger}")


def _rollup_rows(conninfo: str, code: str) -> tuple[int, int, int, int]:
    """Rollup rows of the programme, ledger entries, summary rows of the programme, entries pending."""
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT (SELECT count(*) FROM aid_rollup r JOIN aid_programme p ON p.id = r.programme_id"
            " WHERE p.code = %s), (SELECT count(*) FROM aid_entry),"
            " (SELECT count(*) FROM aid_summary s JOIN aid_programme p ON p.id = s.programme_id"
            " WHERE p.code = %s), (SELECT count(*) FROM aid_unfolded)",
            (code, code),
        ).fetchone()


def run(ctx, report: Report) -> None:
    import os

    from shop import create_app

    small, big = 1_000, ctx["aid_entries"]
    secs = ctx["seconds"]
    url = _create_database(ctx)
    conninfo = _conninfo(url)
    app = create_app(
        {
            "SHOP_PROFILE": "production",
            "DATABASE_URL": url,
            "REDIS_URL": ctx["redis_url"],
            "SECRET_KEY": ctx["env"]["SECRET_KEY"],
            "SESSION_COOKIE_SECURE": True,
            "DATA_DIR": ctx["out"],
        }
    )
    ctx["app"].extensions["celery"].set_default()  # the bench's own app stays Celery's default
    _seed(app)
    today = clock.today()
    code = f"DL-GG-{today.year}"
    with psycopg.connect(conninfo) as conn:
        ledger = Ledger(conn, first_day=date(today.year - 1, 1, 1), last_day=today)
    rows = ledger.rows()
    copy_entries(conninfo, rows, small - PENDING)
    build_rollups(conninfo)
    build_summaries(conninfo)
    add_pending(conninfo, rows, PENDING)
    explain_log = ctx["out"] / "aid-totals-plans.txt"

    web = start_gunicorn(
        {**ctx["env"], "DATABASE_URL": url},
        ctx["out"],
        workers=ctx["web_workers"],
        threads=ctx["web_threads"],
        name="web-aid",
    )
    try:
        status, body, _ = http_json(
            "POST", f"{web.base}/api/v1/auth/token", {"email": OFFICER[0], "password": OFFICER[1]}
        )
        assert status == 200, body
        token = body["access_token"]
        last_month_end = today.replace(day=1) - timedelta(days=1)
        month_range = (last_month_end.replace(day=1), last_month_end)
        month = f"?from={month_range[0]}&to={month_range[1]}"

        def measure(spy_out=None) -> tuple[dict, dict, list[float], list[float], tuple[int, ...]]:
            _check_endpoint(web.base, token, code, conninfo)
            one = _explain(app, code, explain_log)
            one_month = _explain(app, code, explain_log, month_range)
            _wait_idle(conninfo)
            spy = py_spy(web.pids()[1], spy_out, seconds=secs) if spy_out else None
            whole = _totals_wrk(web.base, token, code, secs)
            if spy is not None:
                spy.wait(timeout=120)
            _wait_idle(conninfo)
            part = _totals_wrk(web.base, token, code, secs, month)
            _wait_idle(conninfo)
            return whole, part, one, one_month, _rollup_rows(conninfo, code)

        w1, m1, one1, onem1, (rr1, n1, sr1, p1) = measure()
        print(f"   {n1:,} entries loaded; loading {big - n1:,} more...", flush=True)
        timings = bulk_load(conninfo, rows, big - n1 - PENDING)
        add_pending(conninfo, rows, PENDING)
        print(
            f"   loaded in {timings['total']:.0f} s (COPY {timings['copy']:.0f} s, indexes {timings['indexes']:.0f} s,"
            f" rollups and ANALYZE {timings['rollups']:.0f} s, summaries {timings['summaries']:.0f} s)",
            flush=True,
        )
        stacks = ctx["out"] / "aid-web-stacks.txt" if ctx.get("profile") else None
        w2, m2, one2, onem2, (rr2, n2, sr2, p2) = measure(stacks)
    finally:
        web.stop()

    def note(r: dict, rollups: int, one: list[float], summary_rows: int, pending: int) -> str:
        return (
            f"{r['requests']:,} requests, {r['rps']:.1f} req/s, errors {r['errors']}; {rollups:,} rollup rows and"
            f" {summary_rows:,} summary rows in the programme, {pending} entries pending; one call alone {one[0]:.0f} ms (its statements under EXPLAIN ANALYZE {sum(one[1:]):.0f} ms)"
        )

    report.add(
        Row(
            "aid",
            f"totals p50, {n1:,} entries",
            w1["p50_us"] / 1000,
            "ms",
            notes=note(w1, rr1, one1, sr1, p1),
        )
    )
    report.add(Row("aid", f"totals p99, {n1:,} entries", w1["p99_us"] / 1000, "ms"))
    report.add(
        Row(
            "aid",
            f"totals p50, {n2:,} entries",
            w2["p50_us"] / 1000,
            "ms",
            f"p50 at {n1:,}",
            w1["p50_us"] / 1000,
            notes=note(w2, rr2, one2, sr2, p2),
        )
    )
    report.add(
        Row(
            "aid",
            f"totals p99, {n2:,} entries",
            w2["p99_us"] / 1000,
            "ms",
            f"p99 at {n1:,}",
            w1["p99_us"] / 1000,
            "<= 1.5x the p99 at 1,000",
        )
    )
    report.add(
        Row(
            "aid",
            f"totals p99, one month, {n2:,} entries",
            m2["p99_us"] / 1000,
            "ms",
            f"one month at {n1:,}",
            m1["p99_us"] / 1000,
            notes=f"{month}; p50 {m2['p50_us'] / 1000:.0f} ms vs {m1['p50_us'] / 1000:.0f} ms;"
            f" {m2['requests']:,} vs {m1['requests']:,} requests; one call alone {onem2[0]:.0f} ms vs {onem1[0]:.0f} ms",
        )
    )
    report.add(
        Row(
            "aid",
            f"load {n2 - n1:,} entries (COPY, indexes, rollups)",
            timings["total"],
            "s",
            notes=f"COPY {timings['copy']:.0f} s, indexes {timings['indexes']:.0f} s, rollups + ANALYZE"
            f" {timings['rollups']:.0f} s, summaries {timings['summaries']:.0f} s; {PENDING} entries left pending",
        )
    )

    from shop.aid.reconcile import reconcile
    from shop.core.db import db

    with app.app_context():
        started = time.perf_counter()
        result = reconcile(trigger="bench")
        took = time.perf_counter() - started
        detail = (
            f"run {result.status}: {result.entries_checked:,} entries, {result.rollups_checked:,} rollup rows,"
            f" checks {', '.join(result.checkers)}; {result.difference_count} differences; took {took:.0f} s"
        )
        db.session.remove()
        db.engine.dispose()
    report.add(
        Row("aid", "rollups = ledger (reconcile, 1 = yes)", float(result.status == "ok"), "", notes=detail)
    )
    report.add(Row("aid", f"reconciliation time, {n2:,} entries", took, "s"))
    if stacks is not None and stacks.exists():
        from bench.profile import summarize

        print("   web worker profile at the larger ledger, while serving (inclusive share, waits included):")
        for name, pct in summarize(stacks, top=40, within="Flask.wsgi_app"):
            print(f"     {pct:5.1f}%  {name}")
    print(f"   query plans in {explain_log}")
    if not os.environ.get("BENCH_KEEP_AID_DB"):
        _drop_database(url)
