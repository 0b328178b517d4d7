"""Order states and the only ways between them.

Every status change goes through ``advance()``: it checks the transition table and updates with
``WHERE status = <the status we saw>``, so when two transactions race (a webhook paying the order while
the expiry sweep expires it) exactly one wins and the other gets BadTransition, changing nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.attributes import set_committed_value

from shop.core.db import db
from shop.orders.errors import BadTransition
from shop.orders.models import Order, OrderStatusChange

AFTER_FULFILMENT = ("ready_for_pickup", "shipped", "completed")
REFUNDABLE = ("paid", "fulfilling", *AFTER_FULFILMENT, "partially_refunded")
# Picked (the reservation became sale movements on lots) but still in the shop: a refund puts the goods
# back on the shelf and the rest, if any, is still handed over.
PICKED_NOT_HANDED_OVER = ("fulfilling", "ready_for_pickup")
# The goods left the shop (with the courier, or handed over at the hall): a refund puts nothing back
# unless they are returned (``restock_location``); a partial refund makes the order partially_refunded.
HANDED_OVER = ("shipped", "completed", "partially_refunded")

TRANSITIONS: dict[str, frozenset[str]] = {
    "pending_payment": frozenset({"paid", "cancelled", "expired"}),
    # A payment that arrives late: re-reserved and paid, or refunded automatically.
    "expired": frozenset({"paid", "refunded"}),
    "paid": frozenset({"fulfilling", "cancelled", "refunded"}),
    "fulfilling": frozenset({"ready_for_pickup", "shipped", "refunded"}),
    "ready_for_pickup": frozenset({"completed", "refunded", "partially_refunded"}),
    "shipped": frozenset({"completed", "refunded", "partially_refunded"}),
    "completed": frozenset({"refunded", "partially_refunded"}),
    "partially_refunded": frozenset({"refunded"}),
    "cancelled": frozenset(),
    "refunded": frozenset(),
}
OPEN = ("pending_payment", "paid", "fulfilling", "ready_for_pickup", "shipped")


def can_move(frm: str, to: str) -> bool:
    return to in TRANSITIONS.get(frm, frozenset())


def advance(order: Order, to: str, *, actor_id: int | None = None, reason: str = "", **values: Any) -> None:
    """Move ``order`` to ``to`` if the table allows it and nobody moved it meanwhile; log the change."""
    db.session.flush()  # pending attribute changes must not be lost by the refresh below
    frm = order.status
    if not can_move(frm, to):
        raise BadTransition(f"order {order.number} is {frm}; it cannot become {to}", status_now=frm)
    # The row as the update left it comes back in the same statement (no reload of the order).
    attrs = sa_inspect(Order).column_attrs
    row = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == frm)
        .values(status=to, **values)
        .returning(*(a.columns[0] for a in attrs))
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        db.session.refresh(order)
        raise BadTransition(
            f"order {order.number} changed meanwhile (now {order.status})", status_now=order.status
        )
    for attr, value in zip(attrs, row, strict=True):
        set_committed_value(order, attr.key, value)
    db.session.add(
        OrderStatusChange(order_id=order.id, from_status=frm, to_status=to, actor_id=actor_id, reason=reason)
    )
    db.session.flush()


def advance_many(
    orders: list[Order], to: str, *, actor_id: int | None = None, reason: str = "", **values: Any
) -> None:
    """``advance`` for several orders in the same status at once: one UPDATE and one INSERT of their
    status changes, whatever their number. The caller holds their row locks (a batch of the pipeline),
    so none can have moved meanwhile; if one did, BadTransition and nothing of this changes."""
    if not orders:
        return
    db.session.flush()
    frm = orders[0].status
    for order in orders:
        if order.status != frm or not can_move(frm, to):
            raise BadTransition(
                f"order {order.number} is {order.status}; it cannot become {to}", status_now=order.status
            )
    attrs = sa_inspect(Order).column_attrs
    by_id = {order.id: order for order in orders}
    rows = db.session.execute(
        update(Order)
        .where(Order.id.in_(list(by_id)), Order.status == frm)
        .values(status=to, **values)
        .returning(*(a.columns[0] for a in attrs))
        .execution_options(synchronize_session=False)
    ).all()
    if len(rows) != len(by_id):
        raise BadTransition(f"{len(by_id) - len(rows)} of the orders changed meanwhile", status_now="")
    id_index = next(i for i, a in enumerate(attrs) if a.key == "id")
    for row in rows:
        order = by_id[row[id_index]]
        for attr, value in zip(attrs, row, strict=True):
            set_committed_value(order, attr.key, value)
    db.session.execute(
        insert(OrderStatusChange),
        [
            {"order_id": oid, "from_status": frm, "to_status": to, "actor_id": actor_id, "reason": reason}
            for oid in sorted(by_id)
        ],
    )
