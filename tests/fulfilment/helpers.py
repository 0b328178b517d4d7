"""Builders for fulfilment tests: paid orders placed and paid through the real services."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import event, func, select

from shop.core.db import atomic, db
from shop.core.models import OutboxMessage
from shop.fulfilment.models import PickupTicket, Shipment
from shop.inventory.models import StockMovement
from shop.notifications.models import Notification
from shop.orders import services as orders
from shop.orders.models import Order, order_reference
from shop.payments.services import confirm_manual_payment
from tests.orders.helpers import ADDRESS

PICKUP = orders.DeliveryRequest(type="pickup", location="DL-HM")
SHIP = orders.DeliveryRequest(
    type="ship",
    recipient=ADDRESS["recipient"],
    phone=ADDRESS["phone"],
    district=ADDRESS["district"],
    street_address=ADDRESS["street_address"],
)


def operator(email: str = "op-hm@example.cn", locations=("DL-HM", "GG-WH")):
    from tests.conftest import create_user

    return create_user(email, role="operator", locations=list(locations))


def place(user, lines: list[tuple[str, int]], delivery=PICKUP) -> int:
    with atomic():
        order = orders.place_order(user, [orders.LineRequest(sku, q) for sku, q in lines], delivery)
        return order.id


def pay(order_id: int, staff) -> None:
    with atomic():
        confirm_manual_payment(order_id, staff=staff, method="cash")


def paid_order(user, staff, lines=(("CHL-LINE-500G", 2),), delivery=PICKUP) -> int:
    order_id = place(user, list(lines), delivery)
    pay(order_id, staff)
    return order_id


def order(order_id: int) -> Order:
    db.session.rollback()
    return db.session.get(Order, order_id)


def sale_movements(order_id: int) -> list[StockMovement]:
    """The online-sale movements that took this order's units from lots."""
    db.session.rollback()
    return list(
        db.session.scalars(
            select(StockMovement)
            .where(StockMovement.reference == order_reference(order_id), StockMovement.kind == "online_sale")
            .order_by(StockMovement.id)
        )
    )


def handovers(order_id: int) -> int:
    """Shipments plus pickup tickets of the order (exactly one once it is picked)."""
    db.session.rollback()
    return (db.session.scalar(select(func.count()).where(Shipment.order_id == order_id)) or 0) + (
        db.session.scalar(select(func.count()).where(PickupTicket.order_id == order_id)) or 0
    )


def notices(order_id: int, kind: str) -> int:
    db.session.rollback()
    return (
        db.session.scalar(
            select(func.count()).where(Notification.dedupe_key.like(f"order:{order_id}:{kind}:%"))
        )
        or 0
    )


@dataclass
class Counts:
    """What a task did to the database: its statements (first line of each), commits and pool checkouts."""

    statements: list[str] = field(default_factory=list)
    commits: int = 0
    checkouts: int = 0


def run_message(
    app, msg_id: int, *, hostname: str = "budget@host", counting: bool = True
) -> tuple[object, Counts]:
    """Run outbox message ``msg_id``'s task in this process as a worker would (the task base class sees
    the message id in its headers), counting its database work unless several threads run messages at
    once (``counting=False``); check the message completed."""
    db.session.rollback()
    msg = db.session.get(OutboxMessage, msg_id)
    task, payload = msg.task, dict(msg.payload)
    db.session.rollback()
    celery_task = app.extensions["celery"].tasks[task]
    counts = Counts()
    engine = db.engine

    def statement(conn, cursor, statement, parameters, context, executemany):
        counts.statements.append(statement.split("\n")[0][:120])

    def commit(conn):
        counts.commits += 1

    def checkout(dbapi_conn, record, proxy):
        counts.checkouts += 1

    hooks = [(engine, "before_cursor_execute", statement), (engine, "commit", commit)]
    hooks = [*hooks, (engine.pool, "checkout", checkout)] if counting else []
    for target, name, fn in hooks:
        event.listen(target, name, fn)
    celery_task.push_request(
        id=f"budget-{msg_id}",
        headers={"shop_outbox_id": msg_id, "shop_request_id": "budget"},
        hostname=hostname,
        is_eager=False,
        retries=0,
    )
    try:
        result = celery_task(**payload)
    finally:
        celery_task.pop_request()
        for target, name, fn in hooks:
            event.remove(target, name, fn)
    db.session.rollback()
    done = db.session.get(OutboxMessage, msg_id)
    assert done.completed_at is not None
    db.session.rollback()
    return result, counts
