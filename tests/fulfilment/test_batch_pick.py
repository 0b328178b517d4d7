"""Set-based picking: when paid orders queue up, one pick task takes several of them in one transaction
(``services.pick_waiting``) and hands them over in one more (``services.prepare_handovers``).

Run the way a worker runs the tasks (the outbox message id in the task's headers), on PostgreSQL, with
nobody consuming the queue, so each test decides which message runs when.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
import redis as redis_lib
from sqlalchemy import func, select, text

from shop.catalog.models import Location, Variant
from shop.core import clock, outbox
from shop.core.celery_app import COMPLETED_IN_BATCH
from shop.core.db import atomic, db
from shop.core.models import OutboxMessage
from shop.fulfilment import services
from shop.fulfilment.models import PickupTicket, Shipment
from shop.fulfilment.services import PICKED_ELSEWHERE
from shop.inventory.models import Lot, StockLevel, StockMovement
from shop.inventory.services import add_stock, reconcile
from shop.orders.models import OrderStatusChange
from tests.fulfilment.helpers import SHIP, notices, operator, order, paid_order, run_message, sale_movements
from tests.orders.helpers import buyer

PICK = "shop.fulfilment.fulfil_order"
HANDOVER = "shop.fulfilment.prepare_handover"


def _open(task: str) -> list[OutboxMessage]:
    db.session.rollback()
    rows = list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.task == task, OutboxMessage.completed_at.is_(None))
            .order_by(OutboxMessage.id)
        )
    )
    db.session.rollback()
    return rows


def _pick_message(order_id: int) -> int:
    return next(m.id for m in _open(PICK) if m.payload.get("order_id") == order_id)


def _variant(sku: str) -> Variant:
    return db.session.scalar(select(Variant).where(Variant.sku == sku))


def _hall(code: str = "DL-HM") -> Location:
    return db.session.scalar(select(Location).where(Location.code == code))


def _paid_orders(n: int, staff, lines=(("CHL-LINE-500G", 1), ("PEP-DHP-250G", 2)), **kw) -> list[int]:
    return [paid_order(buyer(f"batch{i}@example.cn"), staff, lines=list(lines), **kw) for i in range(n)]


def test_one_task_picks_the_waiting_orders_and_their_own_tasks_then_stop(queued):
    staff = operator()
    ids = [*_paid_orders(5, staff), paid_order(buyer("ship@example.cn"), staff, delivery=SHIP)]
    levels_before = {
        (lv.variant_id, lv.location_id): (lv.on_hand, lv.reserved)
        for lv in db.session.scalars(select(StockLevel))
    }
    db.session.rollback()

    outcome, _pick = run_message(queued, _pick_message(ids[0]))
    assert outcome == "picked 6 orders"
    assert all(order(i).status == "fulfilling" and order(i).reservation_state == "consumed" for i in ids)
    assert _open(PICK) == []  # every order's pick message completed with the batch

    # The ledger says what one pick per order would: per line, the reservation consumed and the lots.
    for oid in ids:
        o = order(oid)
        for line in o.lines:
            rows = [m for m in sale_movements(oid) if m.variant_id == line.variant_id]
            assert sum(m.reserved_delta for m in rows if m.lot_id is None) == -line.quantity
            assert sum(-m.quantity for m in rows if m.lot_id) == line.quantity
    taken = Counter()
    for oid in ids:
        for m in sale_movements(oid):
            taken[(m.variant_id, m.location_id)] += -m.quantity
    for lv in db.session.scalars(select(StockLevel)):
        on_hand, reserved = levels_before[(lv.variant_id, lv.location_id)]
        n = taken[(lv.variant_id, lv.location_id)]
        assert (lv.on_hand, lv.reserved) == (on_hand - n, reserved - n)
    assert reconcile() == []
    db.session.rollback()
    changes = db.session.scalar(
        select(func.count()).where(
            OrderStatusChange.order_id.in_(ids), OrderStatusChange.to_status == "fulfilling"
        )
    )
    assert changes == len(ids)

    # One hand-over message for the batch: tickets with distinct codes, the parcel, one notice each.
    [handover] = _open(HANDOVER)
    assert sorted(handover.payload["order_ids"]) == sorted(ids)
    outcome, _ = run_message(queued, handover.id)
    assert outcome == "5 ready for pickup, 1 awaiting dispatch"
    codes = db.session.scalars(select(PickupTicket.code).where(PickupTicket.order_id.in_(ids))).all()
    assert len(codes) == 5 and len(set(codes)) == 5 and all(c.isdigit() and len(c) == 6 for c in codes)
    assert db.session.scalar(select(func.count()).where(Shipment.order_id == ids[-1])) == 1
    assert (
        all(order(i).status == "ready_for_pickup" for i in ids[:5]) and order(ids[-1]).status == "fulfilling"
    )
    assert all(notices(i, "ready_for_pickup") == 1 for i in ids[:5]) and notices(ids[-1], "preparing") == 1
    # The six notices go out through one sending task (the payments' notices were queued one by one).
    [send] = [m for m in _open("shop.notifications.send") if "notification_ids" in m.payload]
    assert len(send.payload["notification_ids"]) == 6
    outcome, _ = run_message(queued, send.id)
    assert outcome == ", ".join(["stored"] * 6)

    # The hand-over delivered again changes nothing.
    with atomic():
        db.session.execute(
            OutboxMessage.__table__.update().where(OutboxMessage.id == handover.id).values(completed_at=None)
        )
    outcome, _ = run_message(queued, handover.id)
    assert outcome == "skipped: no order waiting for its hand-over" or outcome.startswith("0 ready")
    assert db.session.scalar(select(func.count()).where(PickupTicket.order_id.in_(ids))) == 5


def _hint_keys(app) -> list[bytes]:
    return sorted(redis_lib.Redis.from_url(app.extensions["settings"].REDIS_URL).keys("shop:outbox:done:*"))


def test_a_message_picked_in_a_batch_stops_on_its_hint_without_touching_the_database(queued):
    staff = operator()
    ids = _paid_orders(3, staff)
    messages = [_pick_message(i) for i in ids]
    run_message(queued, messages[0])
    # One hint per message the batch completed for other tasks (not its own: it is being delivered).
    assert len(_hint_keys(queued)) == 2
    db.session.rollback()
    movements = db.session.scalar(select(func.count()).select_from(StockMovement))
    db.session.rollback()
    outcome, counts = run_message(queued, messages[1])
    assert outcome == COMPLETED_IN_BATCH
    assert counts.statements == [] and counts.checkouts == 0
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == movements


def test_without_its_hint_a_message_picked_in_a_batch_reads_its_row_and_stops(queued):
    """Redis lost the hints (restarted, or evicted them): the delivery reads its own row, finds it
    completed and stops, as it does without Redis."""
    staff = operator()
    ids = _paid_orders(3, staff)
    messages = [_pick_message(i) for i in ids]
    run_message(queued, messages[0])
    redis_lib.Redis.from_url(queued.extensions["settings"].REDIS_URL).flushdb()
    db.session.rollback()
    movements = db.session.scalar(select(func.count()).select_from(StockMovement))
    db.session.rollback()
    outcome, counts = run_message(queued, messages[1])
    assert outcome == PICKED_ELSEWHERE
    # Its own message read and found completed: nothing else read or written.
    assert len(counts.statements) == 1, counts.statements
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == movements


def test_a_hint_speaks_only_for_its_own_message_and_payload(queued):
    """A key names the database, the message id and a digest of the payload: a message with the same id
    but another payload (a database restored from a backup, another shop on the same Redis) is run."""
    staff = operator()
    first, second = _paid_orders(2, staff)
    message = _pick_message(first)
    hints = outbox._hints()
    client = hints.redis.client()
    client.set(hints.key(message, {"order_id": second}), 1)
    client.set(hints.key(message, {"order_id": first}).replace(hints.database, "another_shop"), 1)
    outcome, _ = run_message(queued, message)
    assert outcome == "picked 2 orders"
    assert (order(first).status, order(second).status) == ("fulfilling", "fulfilling")


def test_a_batch_that_rolls_back_leaves_no_hint(queued, monkeypatch):
    staff = operator()
    ids = _paid_orders(3, staff)
    messages = [_pick_message(i) for i in ids]

    def fail(*_args, **_kwargs):
        raise RuntimeError("the hand-over message could not be written")

    monkeypatch.setattr(services, "enqueue", fail)
    with pytest.raises(RuntimeError):
        run_message(queued, messages[0])
    assert _hint_keys(queued) == []
    monkeypatch.undo()
    assert len(_open(PICK)) == 3
    outcome, _ = run_message(queued, messages[1])
    assert outcome == "picked 3 orders"


def test_a_failing_redis_only_costs_the_read_of_the_row(queued, monkeypatch):
    staff = operator()
    ids = _paid_orders(3, staff)
    messages = [_pick_message(i) for i in ids]
    run_message(queued, messages[0])
    # Redis stops answering: the hint cannot be read, the delivery reads its row instead.
    monkeypatch.setattr(outbox._hints().redis, "url", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(outbox._hints().redis, "_client", None)
    outcome, counts = run_message(queued, messages[1])
    assert outcome == PICKED_ELSEWHERE and len(counts.statements) == 1
    # ... and is left alone a while (no connect attempt per task).
    assert outbox._hints().redis.client() is None


@pytest.mark.parametrize("n", [2, 8])
def test_a_batch_costs_the_same_statements_whatever_its_size(queued, n):
    """Measured when written: 22 statements for a batch of pickups of two-line orders (whatever their
    number), and 14 for their hand-over; a lone order's pick is 22 too (test_task_statements)."""
    staff = operator()
    ids = _paid_orders(n, staff)
    outcome, pick = run_message(queued, _pick_message(ids[0]))
    assert outcome == f"picked {n} orders"
    [handover] = _open(HANDOVER)
    outcome, hand = run_message(queued, handover.id)
    assert outcome == f"{n} ready for pickup, 0 awaiting dispatch"
    print(f"SQL_COUNT batch of {n}: pick {len(pick.statements)}, hand-over {len(hand.statements)}")
    assert len(pick.statements) <= 22, "\n".join(pick.statements)
    assert len(hand.statements) <= 14, "\n".join(hand.statements)
    assert (pick.commits, pick.checkouts, hand.commits, hand.checkouts) == (2, 1, 2, 1)


def test_batch_size_one_picks_only_its_own_order(queued):
    queued.extensions["settings"].FULFILMENT_BATCH_SIZE = 1
    try:
        staff = operator()
        ids = _paid_orders(3, staff)
        outcome, _ = run_message(queued, _pick_message(ids[1]))
        assert outcome == "picked"
        assert [order(i).status for i in ids] == ["paid", "fulfilling", "paid"]
        assert len(_open(PICK)) == 2
    finally:
        queued.extensions["settings"].FULFILMENT_BATCH_SIZE = 25


def test_a_batch_that_cannot_be_picked_whole_picks_its_own_order_alone(queued):
    """One waiting order's reserved units are only left in expired lots: the batch falls back to its own
    order, and the other orders keep their open messages (the expired one is flagged by its own task)."""
    staff = operator()
    mine = paid_order(buyer("mine@example.cn"), staff, lines=[("CHL-LINE-500G", 1)])
    other = paid_order(buyer("other@example.cn"), staff, lines=[("CHL-LINE-500G", 1)])
    stale = paid_order(buyer("stale@example.cn"), staff, lines=[("VEG-HL-10KG", 2)])
    with atomic():
        db.session.execute(
            Lot.__table__.update()
            .where(Lot.variant_id == _variant("VEG-HL-10KG").id, Lot.location_id == _hall().id)
            .values(best_before=clock.today() - timedelta(days=1))
        )
    outcome, _ = run_message(queued, _pick_message(mine))
    assert outcome == "picked"
    assert (order(mine).status, order(other).status, order(stale).status) == ("fulfilling", "paid", "paid")
    assert sorted(m.payload["order_id"] for m in _open(PICK)) == sorted([other, stale])
    outcome, _ = run_message(queued, _pick_message(stale))
    assert outcome.startswith("short")
    assert order(stale).needs_attention and sale_movements(stale) == []
    assert reconcile() == []


def test_lots_leave_first_expiry_first_across_the_batch(queued):
    staff = operator()
    veg = _variant("VEG-HL-10KG")
    with atomic():  # an older lot of 3 arrives after the seeded one: it must leave first
        add_stock(
            veg, _hall(), 3, kind="receipt", lot_code="VEG-OLD", best_before=clock.today() + timedelta(days=2)
        )
    ids = _paid_orders(3, staff, lines=[("VEG-HL-10KG", 2)])
    outcome, _ = run_message(queued, _pick_message(ids[2]))
    assert outcome == "picked 3 orders"
    picks = {oid: [(m.lot.code, -m.quantity) for m in sale_movements(oid) if m.lot_id] for oid in ids}
    seeded = f"VEG-HL-10KG-{clock.today():%Y%m}"
    # In order id order: the first two units and one more from the old lot, then the seeded lot.
    assert picks == {
        ids[0]: [("VEG-OLD", 2)],
        ids[1]: [("VEG-OLD", 1), (seeded, 1)],
        ids[2]: [(seeded, 2)],
    }
    assert reconcile() == []


def test_orders_another_transaction_holds_are_left_to_their_own_tasks(queued):
    staff = operator()
    ids = _paid_orders(3, staff)
    engine = db.engine
    with engine.connect() as other:  # an operator's transaction holds the third order's row
        other.execute(text("SELECT id FROM shop_order WHERE id = :id FOR UPDATE"), {"id": ids[2]})
        outcome, _ = run_message(queued, _pick_message(ids[0]))
        assert outcome == "picked 2 orders"
        other.rollback()
    assert [order(i).status for i in ids] == ["fulfilling", "fulfilling", "paid"]
    assert [m.payload["order_id"] for m in _open(PICK)] == [ids[2]]
    outcome, _ = run_message(queued, _pick_message(ids[2]))
    assert outcome == "picked" and order(ids[2]).status == "fulfilling"


def test_concurrent_pick_tasks_pick_every_order_exactly_once(queued):
    """Four workers take the messages of 40 two-line orders at once (their lines in both orders): each
    order is picked once, nothing deadlocks, stock and ledger agree."""
    app = queued
    staff = operator()
    with atomic():
        for sku in ("CHL-LINE-500G", "PEP-DHP-250G"):
            add_stock(_variant(sku), _hall(), 40, kind="receipt", lot_code=f"{sku}-MORE", best_before=None)
    ids = []
    for i in range(40):
        lines = [("CHL-LINE-500G", 1), ("PEP-DHP-250G", 1)]
        ids.append(paid_order(buyer(f"c{i}@example.cn"), staff, lines=lines if i % 2 else lines[::-1]))
    messages = [_pick_message(i) for i in ids]
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(mine: list[int], name: str) -> None:
        with app.app_context():
            for msg_id in mine:
                try:
                    outcome, _ = run_message(app, msg_id, hostname=name, counting=False)
                    with lock:
                        outcomes.append(outcome)
                except BaseException as exc:  # a deadlock or a lost message would surface here
                    errors.append(exc)
                finally:
                    db.session.remove()

    threads = [threading.Thread(target=worker, args=(messages[k::4], f"w{k}@host")) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    picked = [1 if o == "picked" else int(o.split()[1]) for o in outcomes if o.startswith("picked")]
    assert sum(picked) == 40 and len(outcomes) == 40
    assert all(order(i).status == "fulfilling" for i in ids) and _open(PICK) == []
    for oid in ids:
        assert sorted(-m.quantity for m in sale_movements(oid) if m.lot_id) == [1, 1]
    assert reconcile() == []


def test_a_step_whose_message_a_batch_holds_completes_it_after_its_commit(queued):
    """Another task's batch took this order's message (then skipped the order, locked by this step):
    the step does not wait for that batch inside its transaction (the batch may be waiting for the
    step's stock rows); its message is marked completed right after the step commits, once released."""
    staff = operator()
    order_id = paid_order(buyer("held@example.cn"), staff)
    msg_id = _pick_message(order_id)
    other = db.engine.connect()
    other.execute(text("SELECT id FROM outbox_message WHERE id = :id FOR UPDATE"), {"id": msg_id})
    release = threading.Timer(1.5, other.rollback)
    release.start()
    try:
        outcome, counts = run_message(queued, msg_id)
    finally:
        release.join()
        other.close()
    assert outcome == "picked" and order(order_id).status == "fulfilling"
    # The step's own commit, then the base class's completion in a transaction of its own.
    assert counts.commits == 3, counts.statements
    assert reconcile() == []
