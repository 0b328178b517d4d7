"""The soak: a mixed load at half the measured peak for a long time, watching errors, p99 and memory.

``bash bench/run.sh --only soak --minutes 30`` (``make soak``). Not part of the test suite, and not part
of the default ``make bench`` run.

What runs: the web server of the bench run (gunicorn, production profile), one Celery worker on every
queue and one beat (both production profile), so payments, fulfilment, notifications, the outbox sweep
and the expiry sweep all run as in production. The load is the shop's day in one mix, by weight:

| action | weight | what |
|---|---|---|
| browse | 35 | `GET /api/v1/products?per_page=20&page=1..10` |
| product | 15 | `GET /api/v1/products/<id>` |
| page | 10 | `GET /products` (the HTML list) |
| order | 12 | `POST /api/v1/orders` (pickup at DL-HM, 1-3 lines; 1 in 20 cancelled unpaid right after) |
| pay | 12 | `POST /api/v1/orders/<id>/payments/manual` (an operator confirms cash) |
| counter | 8 | `POST /api/v1/locations/DL-HM/sales` (a new client_sale_id) |
| hand over | 8 | the buyer's pickup code from `GET /api/v1/orders/<id>`, then `POST .../handovers` |

First the peak: 16 closed-loop clients run the mix for ``peak_seconds`` and the completed requests per
second are the peak. Then the soak: requests are started at half that rate (open loop, 32 sender
threads), for ``minutes``. Every interval the report records requests, errors (a 5xx, a refused
connection, or any status the action does not expect), p50 and p99, how late the sender fell behind its
schedule, and every process's resident memory (web master and workers, Celery worker and its pool,
beat, this load generator). At the end: both ledgers must reconcile (stock and aid drift 0).

Results: ``soak.csv`` (one row per interval), ``soak-rss.csv`` (one row per process and interval) and the
rows of ``results.md`` in the run's folder.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import requests

from bench.harness import ROOT, VENV_BIN, Report, Row, children, current_rss_mb, start_celery, stop_process

WEIGHTS = {"browse": 35, "product": 15, "page": 10, "order": 12, "pay": 12, "counter": 8, "handover": 8}
HALL = "DL-HM"
SOAK_LOT = "SOAK"
BUYERS = 8
SENDERS = 32
PEAK_CLIENTS = 16


@dataclass
class Shared:
    """What the actions pass on to each other: orders to pay, paid orders to hand over."""

    base: str
    buyers: list[str]
    operator: str
    skus: list[str]
    product_ids: list[int]
    to_pay: deque = field(default_factory=deque)
    to_hand_over: deque = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Interval:
    started: float
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    by_action: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.current = Interval(time.monotonic())

    def add(self, action: str, seconds: float, lag: float, error: str | None) -> None:
        with self.lock:
            cur = self.current
            cur.latencies.append(seconds)
            cur.lags.append(lag)
            cur.by_action[action] = cur.by_action.get(action, 0) + 1
            if error:
                cur.errors[action] = cur.errors.get(action, 0) + 1
                if len(cur.examples) < 5:
                    cur.examples.append(f"{action}: {error}")

    def rotate(self) -> Interval:
        with self.lock:
            done, self.current = self.current, Interval(time.monotonic())
        return done


def _pct(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Client:
    """One sender's HTTP session; each action returns an error text or None."""

    def __init__(self, shared: Shared, rng: random.Random):
        self.s = requests.Session()
        self.shared = shared
        self.rng = rng

    def _expect(self, r: requests.Response, *ok: int) -> str | None:
        if r.status_code in ok:
            return None
        return f"{r.status_code} {r.request.method} {r.request.path_url}: {r.text[:160]}"

    def browse(self) -> str | None:
        page = self.rng.randint(1, 10)
        return self._expect(self.s.get(f"{self.shared.base}/api/v1/products?per_page=20&page={page}"), 200)

    def product(self) -> str | None:
        pid = self.rng.choice(self.shared.product_ids)
        return self._expect(self.s.get(f"{self.shared.base}/api/v1/products/{pid}"), 200)

    def page(self) -> str | None:
        return self._expect(self.s.get(f"{self.shared.base}/products"), 200)

    def order(self) -> str | None:
        buyer = self.rng.randrange(len(self.shared.buyers))
        skus = self.rng.sample(self.shared.skus, self.rng.randint(1, 3))
        body = {
            "lines": [{"sku": sku, "quantity": self.rng.randint(1, 2)} for sku in skus],
            "delivery": {"type": "pickup", "location": HALL},
        }
        headers = {**_auth(self.shared.buyers[buyer]), "Idempotency-Key": uuid.uuid4().hex}
        r = self.s.post(f"{self.shared.base}/api/v1/orders", json=body, headers=headers)
        if (err := self._expect(r, 201)) is not None:
            return err
        order_id = r.json()["id"]
        if self.rng.random() < 0.05:  # the buyer changed their mind before paying
            buyer_auth = _auth(self.shared.buyers[buyer])
            c = self.s.post(
                f"{self.shared.base}/api/v1/orders/{order_id}/cancel", json={}, headers=buyer_auth
            )
            return self._expect(c, 200)
        with self.shared.lock:
            self.shared.to_pay.append((order_id, buyer))
        return None

    def pay(self) -> str | None:
        with self.shared.lock:
            item = self.shared.to_pay.popleft() if self.shared.to_pay else None
        if item is None:
            return self.browse()
        order_id, buyer = item
        r = self.s.post(
            f"{self.shared.base}/api/v1/orders/{order_id}/payments/manual",
            json={"method": "cash"},
            headers=_auth(self.shared.operator),
        )
        if (err := self._expect(r, 200)) is not None:
            return err
        with self.shared.lock:
            self.shared.to_hand_over.append((order_id, buyer, time.monotonic()))
        return None

    def counter(self) -> str | None:
        sku = self.rng.choice(self.shared.skus)
        body = {
            "client_sale_id": uuid.uuid4().hex,
            "lines": [{"sku": sku, "quantity": 1}],
            "paid_with": self.rng.choice(["wechat", "alipay", "cash", "card"]),
        }
        r = self.s.post(
            f"{self.shared.base}/api/v1/locations/{HALL}/sales",
            json=body,
            headers=_auth(self.shared.operator),
        )
        return self._expect(r, 201)

    def handover(self) -> str | None:
        with self.shared.lock:
            item = self.shared.to_hand_over.popleft() if self.shared.to_hand_over else None
        if item is None:
            return self.browse()
        order_id, buyer, paid_at = item
        r = self.s.get(
            f"{self.shared.base}/api/v1/orders/{order_id}", headers=_auth(self.shared.buyers[buyer])
        )
        if (err := self._expect(r, 200)) is not None:
            return err
        code = (
            ((r.json().get("fulfilment") or {}).get("code"))
            if r.json()["status"] == "ready_for_pickup"
            else None
        )
        if code is None:
            if time.monotonic() - paid_at > 120:  # the worker should have made the ticket long ago
                return f"order {order_id} not ready for pickup 120 s after payment ({r.json()['status']})"
            with self.shared.lock:
                self.shared.to_hand_over.append(item)
            return None
        h = self.s.post(
            f"{self.shared.base}/api/v1/fulfilment/locations/{HALL}/handovers",
            json={"code": code},
            headers=_auth(self.shared.operator),
        )
        return self._expect(h, 200)


def _act(client: Client, action: str) -> str | None:
    try:
        return getattr(client, action)()
    except requests.RequestException as exc:
        return f"{type(exc).__name__}: {exc}"[:200]


def _mix(rng: random.Random) -> str:
    return rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]


def measure_peak(shared: Shared, seconds: float) -> tuple[float, int]:
    """Completed requests per second of the mix with PEAK_CLIENTS closed-loop clients; errors seen."""
    stop = time.monotonic() + seconds
    done = [0]
    errors = [0]
    lock = threading.Lock()

    def loop(i: int) -> None:
        rng = random.Random(1000 + i)
        client = Client(shared, rng)
        while time.monotonic() < stop:
            err = _act(client, _mix(rng))
            with lock:
                done[0] += 1
                errors[0] += bool(err)

    started = time.monotonic()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(PEAK_CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.monotonic() - started), errors[0]


def run_open_loop(shared: Shared, rate: float, seconds: float, interval: float, on_interval) -> None:
    """Start requests at ``rate`` per second for ``seconds``; call ``on_interval(Interval)`` each interval."""
    recorder = Recorder()
    schedule: deque = deque()
    ready = threading.Semaphore(0)
    end = time.monotonic() + seconds
    stopping = threading.Event()

    def sender(i: int) -> None:
        rng = random.Random(i)
        client = Client(shared, rng)
        while True:
            ready.acquire()
            if stopping.is_set() and not schedule:
                return
            try:
                due, action = schedule.popleft()
            except IndexError:
                continue
            lag = max(0.0, time.monotonic() - due)
            t0 = time.perf_counter()
            err = _act(client, action)
            recorder.add(action, time.perf_counter() - t0, lag, err)

    threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(SENDERS)]
    for t in threads:
        t.start()
    rng = random.Random(7)
    gap = 1.0 / rate
    nxt = time.monotonic()
    next_report = nxt + interval
    while nxt < end:
        now = time.monotonic()
        if now < nxt:
            time.sleep(min(nxt - now, 0.05))
            continue
        schedule.append((nxt, _mix(rng)))
        ready.release()
        nxt += gap
        if now >= next_report:
            on_interval(recorder.rotate())
            next_report += interval
    stopping.set()
    for _ in threads:
        ready.release()
    for t in threads:
        t.join(timeout=30)
    on_interval(recorder.rotate())


def start_beat(env: dict[str, str], log_dir: Path) -> subprocess.Popen:
    log = log_dir / "soak-beat.log"
    return subprocess.Popen(
        [str(VENV_BIN / "celery"), "-A", "bench.worker", "beat", "--loglevel", "INFO",
         "--schedule", str(log_dir / "soak-beat-schedule")],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _prepare(ctx) -> Shared:
    """Stock for the whole run at the hall, an operator, buyers with tokens."""
    from sqlalchemy import select

    from bench.harness import http_json
    from shop.accounts.services import create_staff_user, find_user_by_email
    from shop.catalog.models import Location, Product, Variant
    from shop.core import clock
    from shop.core.db import atomic, db
    from shop.inventory.services import add_stock

    base = ctx["web"].base
    with ctx["app"].app_context():
        hall = db.session.scalar(select(Location).where(Location.code == HALL))
        variants = list(
            db.session.scalars(
                select(Variant)
                .join(Product)
                .where(Variant.active, Product.active)
                .order_by(Variant.id)
                .limit(12)
            )
        )
        with atomic():
            for v in variants:
                add_stock(
                    db.session.get(Variant, v.id),
                    hall,
                    1_000_000,
                    kind="receipt",
                    lot_code=SOAK_LOT,
                    best_before=clock.today() + timedelta(days=365),
                    reason="soak stock",
                )
        skus = [v.sku for v in variants]
        product_ids = list(db.session.scalars(select(Product.id).where(Product.active).limit(200)))
        if find_user_by_email("soak-op@example.cn") is None:
            with atomic():
                create_staff_user(
                    email="soak-op@example.cn",
                    password="soak-password-1",
                    role="operator",
                    location_codes=[HALL],
                )
        db.session.remove()
    status, body, _ = http_json(
        "POST", f"{base}/api/v1/auth/token", {"email": "soak-op@example.cn", "password": "soak-password-1"}
    )
    assert status == 200, body
    buyers = []
    for i in range(BUYERS):
        email, password = f"soak-buyer-{i}@example.cn", "soak-password-1"
        http_json(
            "POST", f"{base}/api/v1/auth/register", {"email": email, "password": password, "name": "浸泡"}
        )
        s, b, _ = http_json("POST", f"{base}/api/v1/auth/token", {"email": email, "password": password})
        assert s == 200, b
        buyers.append(b["access_token"])
    return Shared(base=base, buyers=buyers, operator=body["access_token"], skus=skus, product_ids=product_ids)


def _processes(ctx, worker: subprocess.Popen, beat: subprocess.Popen) -> dict[str, int]:
    """Every process of the shop by a stable name: web master and workers, Celery and its pool, beat."""
    web = ctx["web"].pids()
    named = {"web master": web[0], **{f"web worker {i + 1}": p for i, p in enumerate(web[1:])}}
    named["celery worker"] = worker.pid
    named.update({f"celery pool {i + 1}": p for i, p in enumerate(children(worker.pid))})
    named["celery beat"] = beat.pid
    named["load generator"] = os.getpid()
    return named


def _reconcile(ctx) -> tuple[int, int]:
    from shop.aid.reconcile import reconcile as reconcile_aid
    from shop.core.db import db
    from shop.inventory.services import reconcile

    with ctx["app"].app_context():
        stock = len(reconcile())
        db.session.rollback()
        aid = reconcile_aid(trigger="soak").difference_count
        db.session.remove()
    return stock, aid


def run(ctx, report: Report) -> None:
    minutes = ctx["minutes"]
    seconds = minutes * 60
    interval = max(10.0, min(60.0, seconds / 20))
    warmup = min(300.0, seconds * 0.2)
    out = ctx["out"]
    shared = _prepare(ctx)
    env = {**ctx["env"], "WORKER_HEARTBEAT_SECONDS": "10"}
    worker = start_celery(env, out, concurrency=2, name="soak-celery")
    beat = start_beat(env, out)
    try:
        peak, peak_errors = measure_peak(shared, ctx["peak_seconds"])
        rate = peak / 2
        print(
            f"   peak {peak:.1f} req/s ({peak_errors} errors); soaking at {rate:.1f} req/s for {minutes} min",
            flush=True,
        )
        rows: list[dict] = []
        rss_rows: list[dict] = []
        t0 = time.monotonic()

        def on_interval(iv: Interval) -> None:
            at = iv.started - t0
            procs = _processes(ctx, worker, beat)
            rss = {name: current_rss_mb(pid) for name, pid in procs.items()}
            n = len(iv.latencies)
            row = {
                "t_s": round(at),
                "requests": n,
                "req_per_s": round(n / interval, 1),
                "errors": sum(iv.errors.values()),
                "p50_ms": round(_pct(iv.latencies, 0.50) * 1000, 1),
                "p99_ms": round(_pct(iv.latencies, 0.99) * 1000, 1),
                "lag_p99_ms": round(_pct(iv.lags, 0.99) * 1000, 1),
                "rss_total_mb": round(sum(rss.values()), 1),
            }
            rows.append(row)
            rss_rows.extend({"t_s": row["t_s"], "process": k, "rss_mb": round(v, 1)} for k, v in rss.items())
            print(f"   t={row['t_s']:>5}s {row['req_per_s']:>6} req/s errors {row['errors']:>3} p99 {row['p99_ms']:>7} ms "
                  f"lag p99 {row['lag_p99_ms']:>7} ms RSS {row['rss_total_mb']:>7} MB", flush=True)  # fmt: skip
            for ex in iv.examples:
                print(f"     error: {ex}", flush=True)

        run_open_loop(shared, rate, seconds, interval, on_interval)
    finally:
        stop_process(beat)
        worker.send_signal(signal.SIGTERM)
        stop_process(worker)
    drift_stock, drift_aid = _reconcile(ctx)

    with (out / "soak.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with (out / "soak-rss.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["t_s", "process", "rss_mb"])
        w.writeheader()
        w.writerows(rss_rows)

    total = sum(r["requests"] for r in rows)
    errors = sum(r["errors"] for r in rows)
    after = [r for r in rows if r["t_s"] >= warmup] or rows[-1:]
    p99s = [r["p99_ms"] for r in after if r["requests"]]
    report.add(
        Row(
            "soak",
            "peak of the mix",
            peak,
            "req/s",
            notes=f"{PEAK_CLIENTS} closed-loop clients, {ctx['peak_seconds']} s",
        )
    )
    report.add(Row("soak", "soak rate (half the peak)", total / seconds if seconds else 0, "req/s", notes=f"{minutes} min, {total} requests"))  # fmt: skip
    report.add(Row("soak", "errors", errors, "", target="0"))
    report.add(Row("soak", "p99 after warm-up (worst interval)", max(p99s, default=0), "ms",
                   notes=f"best {min(p99s, default=0)} ms; first interval {rows[0]['p99_ms']} ms"))  # fmt: skip
    by_process: dict[str, list[tuple[int, float]]] = {}
    for r in rss_rows:
        by_process.setdefault(r["process"], []).append((r["t_s"], r["rss_mb"]))
    worst_growth, worst_name = 0.0, "-"
    for name, series in by_process.items():
        settled = [v for t, v in series if t >= warmup] or [series[-1][1]]
        growth = max(settled) - settled[0]
        if growth > worst_growth:
            worst_growth, worst_name = growth, name
    report.add(Row("soak", "RSS growth after warm-up (worst process)", worst_growth, "MB",
                   target="flat (< 10 MB)", notes=worst_name))  # fmt: skip
    report.add(Row("soak", "stock and aid drift after the run", drift_stock + drift_aid, "", target="0"))
