"""An order's lifecycle: the steps every domain that moves an order builds on.

Load and lock an order, its lines as stock to move, release and re-reserve its stock, mark it paid (aid
ledger, fulfilment message, the buyer's notice), tell the buyer, flag it for staff. Payments and
fulfilment use these; the order use cases (``services.py``: place, cancel, expire, reads) sit above
payments and fulfilment, so nothing here imports either of them.

Every change starts with ``lock_order``, decides on fresh state, and changes the status only through
``states.advance`` (a conditional UPDATE on the status it saw).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import lazyload

from shop.accounts.models import User
from shop.aid.services import SaleLine, record_sale
from shop.catalog.models import Product, Variant
from shop.core.db import db
from shop.core.outbox import enqueue
from shop.inventory.errors import InsufficientStock
from shop.notifications.services import notify as queue_notification
from shop.orders import reservations
from shop.orders.errors import NotYourOrder, OrderNotFound
from shop.orders.models import Order, OrderLine
from shop.orders.states import advance
from shop.workunits.standing import AidStanding, buyer_standing


@dataclass(frozen=True)
class Hold:
    """What an order of another kind holds instead of stock while it waits (``state``), how to give it
    back (``release``) or take it again for a late payment (``retake``, False when it cannot), and what
    its domain does once it is paid (``paid``: it is counted and fulfilled there, not here)."""

    state: str
    release: Callable[[Order], None]
    retake: Callable[[Order], bool]
    paid: Callable[[Order], None]


# Registered by the domain that owns the kind (a harvest pledge: shop.preorders.holds), so the lifecycle
# stays below it. An order of a registered kind is counted and fulfilled by its domain, not at payment.
_HOLDS: dict[str, Hold] = {}


def register_hold(kind: str, hold: Hold) -> None:
    _HOLDS[kind] = hold


def is_holding(order: Order) -> bool:
    """Whether the order still holds what it needs to be paid for (stock, or its kind's hold)."""
    hold = _HOLDS.get(order.kind)
    return order.reservation_state == "held" or (hold is not None and order.reservation_state == hold.state)


def get_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise OrderNotFound(f"order {order_id} does not exist")
    return order


def ensure_buyer(order: Order, user: User) -> None:
    if order.user_id != user.id and user.role != "admin":
        raise NotYourOrder("only the buyer can do this")


def lock_order(order_id: int) -> Order:
    """Lock the order row for this transaction and return it freshly loaded.

    A no-op UPDATE takes the row lock on PostgreSQL (SQLite already holds the database write lock), so
    everything decided after this sees the latest committed state and no concurrent change interleaves;
    it returns the locked row (``RETURNING``), so the order is not read again.
    """
    order = db.session.scalars(
        update(Order).where(Order.id == order_id).values(id=Order.id).returning(Order),
        execution_options={"populate_existing": True, "synchronize_session": False},
    ).first()
    if order is None:
        raise OrderNotFound(f"order {order_id} does not exist")
    return order


def line_pairs(order: Order, quantities: dict[int, int] | None = None) -> list[tuple[Variant, int]]:
    """(variant, quantity) for each line; ``quantities`` maps line id to a quantity to use instead."""
    out = []
    for line in order.lines:
        qty = line.quantity if quantities is None else quantities.get(line.id, 0)
        if qty:
            out.append((db.session.get(Variant, line.variant_id), qty))
    return out


def release_reservation(order: Order, *, reason: str, actor_id: int | None = None) -> None:
    """Give back everything the order still holds (lines not refunded yet); mark it released."""
    hold = _HOLDS.get(order.kind)
    if hold is not None and order.reservation_state == hold.state:
        hold.release(order)
        order.reservation_state = "released"
        db.session.flush()
        return
    if order.reservation_state != "held":
        return
    still_held = {line.id: line.quantity - line.refunded_quantity for line in order.lines}
    reservations.release_lines(
        order.location, line_pairs(order, still_held), reference=order.reference_key, reason=reason
    )
    order.reservation_state = "released"
    db.session.flush()


def re_reserve(order: Order, *, on) -> bool:
    """Try to reserve a released order's lines again at its location; return whether it worked."""
    hold = _HOLDS.get(order.kind)
    if hold is not None:
        if not hold.retake(order):
            return False
        order.reservation_state = hold.state
        db.session.flush()
        return True
    try:
        reservations.reserve_at(order.location, line_pairs(order), reference=order.reference_key, on=on)
    except InsufficientStock:
        return False
    order.reservation_state = "held"
    db.session.flush()
    return True


# What the buyer is told, in Chinese and English (mails carry both; pages show the page's language).
NOTICES = {
    "paid": ("订单已付款，谢谢！", "Your order is paid. Thank you!"),
    "expired": (
        "订单未按时付款，已失效，商品已重新上架。",
        "Your order was not paid in time and has expired.",
    ),
    "cancelled": ("订单已取消。", "Your order was cancelled."),
    "refunded": ("订单已办理退款。", "A refund was issued for your order."),
    "auto_refunded": (
        "您的付款无法用于此订单，已自动退回。",
        "Your payment could not be used for this order and was refunded automatically.",
    ),
    "payment_failed": ("付款未成功，您可以重新付款。", "Your payment did not go through; you can try again."),
}


def notify(order: Order, kind: str, *, ref: object = "") -> None:
    """Tell the buyer about their order: a notification queued in this unit of work, sent by a task.

    ``ref`` tells apart repeated events of one kind (each refund); the same event is told once.
    """
    zh, en = NOTICES[kind]
    settings = current_app.extensions["settings"]
    link = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/orders/{order.id}"
    queue_notification(
        dedupe_key=f"order:{order.id}:{kind}:{ref}",
        kind=f"order_{kind}",
        subject=f"{zh} {en} · {order.number}"[:200],
        body=f"{zh}\n{en}\n\n订单号 Order {order.number}\n{link}",
        # The buyer's email; their granted locations (staff only) are not loaded with it.
        user=db.session.get(User, order.user_id, options=[lazyload(User.locations)]),
    )


def flag(order: Order, note: str) -> None:
    """Mark the order for staff attention with a note (kept, newest last)."""
    order.needs_attention = True
    order.attention_note = ((order.attention_note + "\n") if order.attention_note else "") + note[:500]
    db.session.flush()
    # Staff of the order's location see it in their notifications, and in /staff/orders?attention=1.
    queue_notification(
        dedupe_key=f"order:{order.id}:attention:{order.attention_note.count(chr(10))}",
        kind="order_attention",
        subject=f"订单需处理 Order needs attention · {order.number}",
        body=note,
        location_id=order.location_id,
    )


def aid_lock_order(line: OrderLine) -> tuple[int, int, int]:
    """Sort key for sale lines sent to the aid ledger: (category, producer, variant).

    The aid rollup rows a payment or refund bumps are keyed by category and producer; taking them in this
    one order in every transaction means two concurrent payments (or refunds) cannot deadlock on them.
    """
    return (db.session.get(Variant, line.variant_id).product.category_id, line.producer_id, line.variant_id)


def in_aid_lock_order(lines: list[OrderLine]) -> list[OrderLine]:
    """``lines`` sorted by ``aid_lock_order``, with one query for all their categories."""
    categories = dict(
        db.session.execute(
            select(Variant.id, Product.category_id)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_({ln.variant_id for ln in lines}))
        ).all()
    )
    return sorted(lines, key=lambda ln: (categories[ln.variant_id], ln.producer_id, ln.variant_id))


def mark_paid(
    order: Order,
    *,
    amount_fen: int,
    paid_at: datetime,
    actor_id: int | None,
    reason: str,
    standing: AidStanding | None = None,
) -> None:
    """Record the order as paid: status, aid ledger, fulfilment message and the buyer's notice.

    The caller holds the order lock and has checked that the reservation is held. How the aid ledger
    counts the order is decided now and kept in its entries: a unit's direct purchase only if the buyer
    buys for a unit verified at this moment (``standing``: a pickup card pays as its unit), helped sales
    otherwise, whatever the account calls itself.
    """
    hold = _HOLDS.get(order.kind)
    advance(
        order,
        "paid",
        actor_id=actor_id,
        reason=reason,
        paid_at=paid_at,
        paid_fen=Order.paid_fen + amount_fen,
        # Counted below in this same transaction (set in the status change's UPDATE, not one of its own).
        **({} if hold is not None else {"aid_counted": True}),
    )
    if hold is not None:
        # A pledge is counted and fulfilled when its harvest fills it (shop.preorders), not now.
        notify(order, "paid")
        hold.paid(order)
        return
    standing = standing or buyer_standing(order.user_id, order.buyer_kind)
    ordered = in_aid_lock_order(list(order.lines))
    record_sale(
        source=order.reference_key,
        occurred_at=paid_at,
        channel="work_unit" if standing.direct_purchase else "online",
        lines=[SaleLine(ln.variant_id, ln.quantity, ln.line_total_fen, order.location_id) for ln in ordered],
        direct_purchase=standing.direct_purchase,
        buyer_id=standing.buyer_id,
    )
    notify(order, "paid")
    # The fulfilment task turns the reservation into a sale movement; the reservation stays until then.
    # (Queued after the notice, so both outbox rows go in with one INSERT at the next flush.)
    enqueue("shop.fulfilment.fulfil_order", {"order_id": order.id}, queue="fulfilment")


def lock_orders(order_ids: list[int]) -> list[Order]:
    """Lock these orders' rows (ascending id, waiting for each) and return them freshly loaded; their
    lines load only if read."""
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.id.in_(sorted(order_ids)))
            .order_by(Order.id)
            .with_for_update(of=Order)
            .options(lazyload(Order.lines))
            .execution_options(populate_existing=True)
        )
    )


def lock_paid_orders(order_ids: list[int]) -> list[Order]:
    """Of these orders, lock those paid and waiting for their pick that no other transaction holds now
    (SKIP LOCKED: a batch takes what is free, it never waits), with their lines."""
    return list(
        db.session.scalars(
            select(Order)
            .where(Order.id.in_(sorted(order_ids)), Order.status == "paid", Order.reservation_state == "held")
            .order_by(Order.id)
            .with_for_update(of=Order, skip_locked=True)
            .execution_options(populate_existing=True)
        )
    )
