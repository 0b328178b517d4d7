"""The fulfilment scenario: paid orders through real Celery workers, against the no-op drain.

Orders are placed and paid through the shop's own services (``place_order``, then
``confirm_manual_payment`` as a hall operator does on the manual gateway), many per transaction and in
two processes, so the outbox rows and the ``shop.fulfilment.fulfil_order`` messages are exactly the ones
production writes; the after-commit relay publishes them to Redis as it does after a web request. No
worker runs meanwhile. Then a worker in the production profile starts on the ``fulfilment`` queue and
the clock runs from the first message it takes until every order has its pickup ticket
(``ready_for_pickup``) or its parcel awaiting the courier. The worker relays the second step
(``prepare_handover``) itself, after each pick commits, as in production; beat's outbox sweep only
re-sends rows whose relay failed and is not on this path, so beat does not run. The buyers' notices
queued on ``default`` wait there: sending them is another machine's work (docs/workers.md).
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import select, text

from bench.harness import (
    Report,
    Row,
    children,
    noop_drain,
    peak_rss_mb,
    py_spy,
    start_celery,
    stop_process,
)
from shop.accounts.models import User
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import atomic, db

SEED = 20261127
HALLS = ("DL-FNC", "DL-WX", "DL-JQ", "DL-ZGZ", "DL-XL", "DL-DLH", "DL-JLC")
DISTRICTS = ("河西区", "南开区", "河东区", "东丽区", "和平区", "河北区", "西青区", "津南区")


def _plan(n: int, skus: list[str], rng: random.Random) -> list[dict]:
    """Orders as a hall sees them: most picked up at DL-HM, some at other halls, a quarter delivered;
    one to three lines of the demo catalogue (popular SKUs more often); one in ten from a work unit."""
    weights = [1 / (i + 1) ** 0.8 for i in range(len(skus))]
    plan = []
    for i in range(n):
        work_unit = rng.random() < 0.10
        lines = rng.choices([1, 2, 3], weights=[60, 30, 10])[0]
        chosen: list[str] = []
        while len(chosen) < lines:
            sku = rng.choices(skus, weights=weights)[0]
            if sku not in chosen:
                chosen.append(sku)
        qty = (lambda: rng.randint(5, 20)) if work_unit else (lambda: rng.choices([1, 2, 3], [70, 20, 10])[0])
        r = rng.random()
        if r < 0.60:
            delivery = {"type": "pickup", "location": "DL-HM"}
        elif r < 0.75:
            delivery = {"type": "pickup", "location": rng.choice(HALLS)}
        else:
            delivery = {"type": "ship", "district": rng.choice(DISTRICTS)}
        plan.append(
            {"n": i, "work_unit": work_unit, "lines": [(s, qty()) for s in chosen], "delivery": delivery}
        )
    return plan


def _buyers(consumers: int = 40, work_units: int = 5) -> tuple[list[User], list[User]]:
    """Buyers who never sign in (no password to hash): their orders are placed in this process."""
    with atomic():
        rows = []
        for i in range(consumers + work_units):
            unit = i >= consumers
            email = f"bench-f-{'unit' if unit else 'buyer'}-{i}@example.cn"
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(
                    email=email,
                    name=f"压测{i}",
                    password_hash="!",
                    role="customer",
                    buyer_kind="work_unit" if unit else "consumer",
                    invoice_title=f"东丽区第{i}单位食堂" if unit else "",
                    tax_id=f"12120110MB{i:07d}X" if unit else "",
                )
                db.session.add(user)
            rows.append(user)
    return rows[:consumers], rows[consumers:]


def _receive(plan: list[dict]) -> None:
    """Receive what the orders need as fresh lots (beside the opening stock, which goes first: FEFO)."""
    from shop.inventory.services import add_stock

    need: Counter[tuple[str, str]] = Counter()
    for o in plan:
        loc = o["delivery"]["location"] if o["delivery"]["type"] == "pickup" else "GG-WH"
        for sku, q in o["lines"]:
            need[(sku, loc)] += q
    today = clock.today()
    with atomic():
        variants = {v.sku: v for v in db.session.scalars(select(Variant))}
        locations = {loc.code: loc for loc in db.session.scalars(select(Location))}
        for (sku, code), q in sorted(need.items()):
            v = variants[sku]
            add_stock(
                v,
                locations[code],
                q,
                kind="receipt",
                lot_code=f"BF-{sku}-{today:%Y%m}",
                harvested_on=today - timedelta(days=3) if v.perishable else None,
                best_before=today + timedelta(days=v.shelf_life_days) if v.shelf_life_days else None,
                reason="bench: stock for the fulfilment scenario",
                reference=f"bench-fulfilment:{sku}:{code}",
            )


def _place_and_pay(
    orders: list[dict], consumers: list[int], units: list[int], staff_id: int, batch: int
) -> list[int]:
    """Place and pay ``orders``, ``batch`` per transaction; a batch that draws an order number another
    loader drew at the same moment (unique violation, or a deadlock if two did) rolls back whole and
    runs again."""
    from sqlalchemy.exc import IntegrityError, OperationalError

    from shop.orders.services import DeliveryRequest, LineRequest, place_order
    from shop.payments.services import confirm_manual_payment

    rng = random.Random(SEED + len(orders))
    ids: list[int] = []
    start, retries = 0, 0
    while start < len(orders):
        done: list[int] = []
        try:
            with atomic():
                staff = db.session.get(User, staff_id)
                for o in orders[start : start + batch]:
                    buyer = db.session.get(User, rng.choice(units if o["work_unit"] else consumers))
                    d = o["delivery"]
                    delivery = (
                        DeliveryRequest(type="pickup", location=d["location"])
                        if d["type"] == "pickup"
                        else DeliveryRequest(
                            type="ship",
                            recipient="张三",
                            phone="13812345678",
                            district=d["district"],
                            street_address=f"友谊路 {o['n'] % 200 + 1} 号",
                        )
                    )
                    order = place_order(buyer, [LineRequest(sku, q) for sku, q in o["lines"]], delivery)
                    confirm_manual_payment(
                        order.id, staff=staff, method=rng.choice(("wechat", "alipay", "cash"))
                    )
                    done.append(order.id)
        except (IntegrityError, OperationalError):
            db.session.remove()
            retries += 1
            if retries > 5:
                raise
            continue
        ids.extend(done)
        start += batch
        db.session.expunge_all()
    db.session.remove()
    return ids


def _load_part(
    config: dict, n: int, part: str, consumers: list[int], units: list[int], staff_id: int
) -> list[int]:
    """One loader process: the orders of the DL-HM hall, or those of every other location."""
    from shop import create_app

    app = create_app(config)
    with app.app_context():
        skus = list(
            db.session.scalars(select(Variant.sku).where(~Variant.sku.like("BENCH%")).order_by(Variant.id))
        )
        db.session.rollback()
        mine = [
            o
            for o in _plan(n, skus, random.Random(SEED))
            if (o["delivery"].get("location") == "DL-HM") == (part == "DL-HM")
        ]
        return _place_and_pay(mine, consumers, units, staff_id, batch=200)


def load_paid_orders(n: int, config: dict) -> dict:
    """Place and pay ``n`` orders through the shop's services in two processes; return their id range.

    One process takes the orders picked up at DL-HM, the other every other location's, so the two never
    wait for each other's stock rows (a batch holds its reservations' row locks until it commits).
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from shop.accounts.services import create_staff_user

    skus = list(
        db.session.scalars(select(Variant.sku).where(~Variant.sku.like("BENCH%")).order_by(Variant.id))
    )
    plan = _plan(n, skus, random.Random(SEED))
    consumers, units = ([u.id for u in group] for group in _buyers())
    with atomic():
        staff = create_staff_user(
            email="bench-f-operator@example.cn",
            password="bench-operator-password",
            role="operator",
            location_codes=["DL-HM", *HALLS, "GG-WH"],
        )
    staff_id = staff.id
    started = time.perf_counter()
    _receive(plan)
    received = time.perf_counter() - started
    db.session.remove()
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        parts = [
            pool.submit(_load_part, config, n, part, consumers, units, staff_id)
            for part in ("DL-HM", "other")
        ]
        ids = [i for f in parts for i in f.result()]
    return {
        "lo": min(ids),
        "hi": max(ids),
        "orders": len(ids),
        "lines": sum(len(o["lines"]) for o in plan),
        "pickup": sum(1 for o in plan if o["delivery"]["type"] == "pickup"),
        "seconds": time.perf_counter() - started,
        "receive_seconds": received,
    }


def _fulfilled(lo: int, hi: int) -> int:
    with db.engine.connect() as c:
        return c.execute(
            text(
                "SELECT (SELECT count(*) FROM pickup_ticket WHERE order_id BETWEEN :lo AND :hi)"
                " + (SELECT count(*) FROM shipment WHERE order_id BETWEEN :lo AND :hi)"
            ),
            {"lo": lo, "hi": hi},
        ).scalar_one()


def _commits() -> int:
    """Transactions committed in the database so far. A server process reports its counts when it
    exits or has been idle a while, so this waits for the processes that just stopped to report."""
    time.sleep(2)
    with db.engine.connect() as c:
        return c.execute(
            text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()


def verify(lo: int, hi: int, n: int) -> tuple[bool, str]:
    """Stock, ledger and orders agree: each order picked exactly once, nothing negative, ledger = levels."""
    from shop.inventory.services import reconcile

    q = {"lo": lo, "hi": hi}
    with db.engine.connect() as c:
        wrong_state = c.execute(
            text("""
            SELECT count(*) FROM shop_order o
            WHERE o.id BETWEEN :lo AND :hi AND NOT (
              o.reservation_state = 'consumed' AND (
                (o.delivery_type = 'pickup' AND o.status = 'ready_for_pickup'
                 AND (SELECT count(*) FROM pickup_ticket t WHERE t.order_id = o.id) = 1
                 AND NOT EXISTS (SELECT 1 FROM shipment s WHERE s.order_id = o.id))
             OR (o.delivery_type = 'ship' AND o.status = 'fulfilling'
                 AND (SELECT count(*) FROM shipment s WHERE s.order_id = o.id) = 1
                 AND NOT EXISTS (SELECT 1 FROM pickup_ticket t WHERE t.order_id = o.id))))"""),
            q,
        ).scalar_one()
        # Every line's units left the lots once, and its reservation was consumed once, at the order's
        # location, under the order's reference.
        wrong_picks = c.execute(
            text("""
            WITH o AS (SELECT id, location_id FROM shop_order WHERE id BETWEEN :lo AND :hi),
            ordered AS (
              SELECT l.order_id, l.variant_id, l.quantity FROM order_line l JOIN o ON o.id = l.order_id),
            moved AS (
              SELECT o.id AS order_id, m.variant_id,
                     sum(-m.quantity) FILTER (WHERE m.lot_id IS NOT NULL) AS taken,
                     sum(-m.reserved_delta) AS consumed,
                     count(*) FILTER (WHERE m.lot_id IS NULL) AS consumptions,
                     bool_and(m.location_id = o.location_id) AS here
              FROM stock_movement m JOIN o ON m.reference = 'order:' || o.id
              WHERE m.kind = 'online_sale' GROUP BY o.id, m.variant_id)
            SELECT count(*) FROM ordered FULL JOIN moved USING (order_id, variant_id)
            WHERE moved.taken IS DISTINCT FROM ordered.quantity
               OR moved.consumed IS DISTINCT FROM ordered.quantity
               OR moved.consumptions IS DISTINCT FROM 1 OR NOT moved.here"""),
            q,
        ).scalar_one()
        negative = c.execute(
            text(
                "SELECT (SELECT count(*) FROM stock_level WHERE on_hand < 0 OR reserved < 0"
                " OR reserved > on_hand) + (SELECT count(*) FROM lot WHERE quantity < 0)"
            )
        ).scalar_one()
        open_messages = c.execute(
            text(
                "SELECT count(*) FROM outbox_message WHERE task LIKE 'shop.fulfilment.%'"
                " AND completed_at IS NULL"
            )
        ).scalar_one()
        failures = c.execute(text("SELECT count(*) FROM task_failure")).scalar_one()
        # The checkout scenario's bare UPDATE baseline reserves units of its own row with a raw UPDATE and
        # no movement, on purpose (the ceiling without the ledger); that row is the bench's, not the shop's.
        bare = set(
            c.execute(
                text(
                    "SELECT l.variant_id FROM stock_level l JOIN variant v ON v.id = l.variant_id"
                    " WHERE v.sku = 'BENCH-BARE'"
                )
            ).scalars()
        )
    drifts = [d for d in reconcile() if d.variant_id not in bare]
    db.session.remove()
    ok = not (wrong_state or wrong_picks or negative or open_messages or failures or drifts)
    detail = (
        f"{n:,} orders: {wrong_state} not in their post-fulfilment state, {wrong_picks} lines not picked "
        f"exactly once, {negative} negative levels or lots, {len(drifts)} ledger drifts (stock reconcile), "
        f"{open_messages} fulfilment messages not completed, {failures} failed tasks"
    )
    return ok, detail


def run(ctx, report: Report) -> None:
    import redis

    app, n = ctx["app"], ctx["orders"]
    celery_app = app.extensions["celery"]
    r = redis.Redis.from_url(ctx["redis_url"])
    if ctx.get("noop_rate"):
        conc, noop_rate = ctx["noop_concurrency"], ctx["noop_rate"]
        noop_note = "workers scenario, same run"
    else:  # run alone: measure the baseline now, with the same worker shapes the workers scenario tries
        best = None
        for c in ctx["celery_concurrency"]:
            d = noop_drain(
                celery_app, ctx["env"], ctx["out"], ctx["redis_url"], tasks=ctx["tasks"], concurrency=c
            )
            report.add(
                Row(
                    "fulfilment",
                    f"no-op drain, concurrency {c}",
                    d.rate,
                    "tasks/s",
                    notes=f"{d.tasks:,} tasks in {d.seconds:.1f} s",
                )
            )
            if best is None or d.rate > best.rate:
                best = d
        conc, noop_rate = best.concurrency, best.rate
        noop_note = "measured in this scenario"
    # A worker stopped after a drain hands the no-op messages it had prefetched back to the queue.
    left = r.llen("fulfilment")
    if left > 10:
        raise RuntimeError(f"{left} messages wait on the fulfilment queue before loading")
    r.delete("fulfilment")

    with app.app_context():
        print(f"   loading {n:,} paid orders...", flush=True)
        info = load_paid_orders(n, ctx["app_config"])
        print(
            f"   loaded in {info['seconds']:.0f} s ({info['orders'] / info['seconds']:.0f} orders/s, "
            f"stock received in {info['receive_seconds']:.1f} s)",
            flush=True,
        )
        queued = r.llen("fulfilment")
        with db.engine.connect() as c:
            unsent = c.execute(
                text(
                    "SELECT count(*) FROM outbox_message WHERE task = 'shop.fulfilment.fulfil_order'"
                    " AND sent_at IS NULL"
                )
            ).scalar_one()
        if queued != info["orders"] or unsent:
            raise RuntimeError(
                f"{queued} fulfil messages queued and {unsent} unsent for {info['orders']} orders"
            )
        lo, hi = info["lo"], info["hi"]
        commits_before = _commits()

    proc = start_celery(ctx["env"], ctx["out"], concurrency=conc, queues="fulfilment", name="fulfilment")
    spy = None
    try:
        if ctx.get("profile"):
            # The pool processes are replaced every 1,000 tasks: follow the worker's children.
            spy = py_spy(proc.pid, ctx["out"] / "fulfilment-worker-stacks.txt", subprocesses=True)
        deadline = time.time() + 3600
        while r.llen("fulfilment") >= queued and time.time() < deadline:
            time.sleep(0.005)
        t0 = time.perf_counter()
        with app.app_context():
            done = 0
            while done < info["orders"] and time.time() < deadline:
                time.sleep(0.05)
                done = _fulfilled(lo, hi)
            secs = time.perf_counter() - t0
        rss = max([peak_rss_mb(p) for p in children(proc.pid)] or [0.0])
    finally:
        if spy is not None and spy.poll() is None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        stop_process(proc)
    if done < info["orders"]:
        raise RuntimeError(f"only {done} of {info['orders']} orders fulfilled within the deadline")

    with app.app_context():
        commits = _commits() - commits_before
        ok, detail = verify(lo, hi, info["orders"])
    rate = info["orders"] / secs
    report.add(
        Row(
            "fulfilment",
            f"orders/s, {info['orders']:,} paid orders",
            rate,
            "orders/s",
            f"no-op drain (c={conc}, {noop_note})",
            noop_rate,
            ">= 0.3 of no-op",
            notes=f"{info['orders']:,} orders ({info['lines']:,} lines, {info['pickup']:,} pickups) in {secs:.1f} s; "
            f"2 tasks per order; {commits / info['orders']:.1f} transactions committed per order (pool pre-pings included); child peak RSS {rss:.0f} MB; "
            f"loaded in {info['seconds']:.0f} s",
        )
    )
    report.add(Row("fulfilment", "stock, ledger and orders agree (1 = yes)", float(ok), "", notes=detail))
    if spy is not None:
        from bench.profile import summarize

        stacks = ctx["out"] / "fulfilment-worker-stacks.txt"
        if stacks.exists():
            print("   worker profile while running tasks (inclusive share of samples, waits included):")
            for name, pct in summarize(stacks, top=45, within="FlaskTask.__call__"):
                print(f"     {pct:5.1f}%  {name}")
            print(f"   stacks in {stacks}")
