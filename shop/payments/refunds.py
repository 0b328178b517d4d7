"""Refunds: full or partial, by staff or automatic, always sent through the order's gateway after commit.

The refund's unit of work records everything the shop owes to its books at once: the refund row, the
refunded lines and amounts on the order, the aid ledger reversal, the stock (reserved units released
when the goods were not picked yet; picked units put back into their lots when the goods were picked but
not handed over; returned goods put back with ``add_stock(kind="return")`` after hand-over), the order's
status and an outbox message. A pickup ticket or parcel left with nothing to hand over is voided by the
use case above payments and fulfilment (``shop.returns.services.refund_order``). The task ``shop.payments.send_refund`` then calls the gateway with the
idempotency key ``refund-<id>``; the gateway's webhook (or its answer) settles the refund.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update

from shop.aid.services import SaleLine, reverse_sale
from shop.catalog.models import Location, Variant
from shop.core.db import atomic, db, utcnow
from shop.core.outbox import enqueue
from shop.inventory import services as stock
from shop.orders import lifecycle as orders
from shop.orders.errors import BadTransition
from shop.orders.models import Order, OrderLine
from shop.orders.states import HANDED_OVER, PICKED_NOT_HANDED_OVER, REFUNDABLE, advance, can_move
from shop.payments.errors import InvalidRefund, NothingToRefund, RefundTooLarge
from shop.payments.gateways import get_gateway
from shop.payments.models import Payment, Refund
from shop.payments.queries import counted_payment


@dataclass
class Allocation:
    line: OrderLine
    quantity: int
    amount_fen: int


def _spread(amount: int, weights: list[int]) -> list[int]:
    """Split ``amount`` in proportion to ``weights`` in whole fen (largest remainder), summing exactly."""
    total = sum(weights)
    if total == 0:
        return [0] * len(weights)
    raw = [amount * w for w in weights]
    parts = [r // total for r in raw]
    left = amount - sum(parts)
    order = sorted(range(len(weights)), key=lambda i: raw[i] % total, reverse=True)
    for i in order[:left]:
        parts[i] += 1
    return parts


def _remaining(line: OrderLine) -> int:
    return line.line_total_fen - line.refunded_fen


def _allocate(
    order: Order, *, amount_fen: int | None, lines: list[dict] | None, full: bool
) -> tuple[list[Allocation], int, bool]:
    """Decide what a refund covers: (line allocations, total amount, whether it refunds everything)."""
    refundable = order.refundable_fen
    if amount_fen is not None and amount_fen <= 0:
        raise InvalidRefund("amount_fen must be positive", errors=[{"field": "amount_fen", "message": "> 0"}])
    if amount_fen is not None and amount_fen > refundable:
        raise RefundTooLarge(
            f"at most {refundable} fen is left to refund on order {order.number}",
            errors=[{"field": "amount_fen", "message": f"at most {refundable}"}],
        )
    if full or (not lines and (amount_fen is None or amount_fen == refundable)):
        allocs = [
            Allocation(line, line.quantity - line.refunded_quantity, _remaining(line))
            for line in order.lines
            if line.quantity > line.refunded_quantity or _remaining(line) > 0
        ]
        return allocs, refundable, True
    if lines:
        by_sku = {line.sku: line for line in order.lines}
        allocs, errors = [], []
        for i, item in enumerate(lines):
            line = by_sku.get(item["sku"])
            qty = item["quantity"]
            if line is None:
                errors.append({"field": f"lines.{i}.sku", "message": f"{item['sku']} is not in this order"})
            elif qty < 1 or qty > line.quantity - line.refunded_quantity:
                errors.append(
                    {
                        "field": f"lines.{i}.quantity",
                        "message": f"1 to {line.quantity - line.refunded_quantity}",
                    }
                )
            elif any(a.line.id == line.id for a in allocs):
                errors.append({"field": f"lines.{i}.sku", "message": "listed twice"})
            else:
                allocs.append(Allocation(line, qty, min(line.unit_price_fen * qty, _remaining(line))))
        if errors:
            raise InvalidRefund("; ".join(e["message"] for e in errors), errors=errors)
        lines_total = sum(a.amount_fen for a in allocs)
        if amount_fen is not None:
            if amount_fen > lines_total:
                raise RefundTooLarge(
                    f"{amount_fen} fen is more than those lines cost ({lines_total} fen)",
                    errors=[{"field": "amount_fen", "message": f"at most {lines_total} for these lines"}],
                )
            for a, part in zip(allocs, _spread(amount_fen, [a.amount_fen for a in allocs]), strict=True):
                a.amount_fen = part
            lines_total = amount_fen
        if lines_total > refundable:
            raise RefundTooLarge(f"at most {refundable} fen is left to refund on order {order.number}")
        if lines_total <= 0:
            raise NothingToRefund("those lines were already refunded")
        return allocs, lines_total, False
    # An amount without lines (a goodwill or price refund): spread over the lines, any rest is shipping.
    assert amount_fen is not None
    pool = [_remaining(line) for line in order.lines]
    on_lines = min(amount_fen, sum(pool))
    allocs = [
        Allocation(line, 0, part)
        for line, part in zip(order.lines, _spread(on_lines, pool), strict=True)
        if part > 0
    ]
    return allocs, amount_fen, False


def create_refund(
    order: Order,
    *,
    reason: str,
    actor_id: int | None,
    amount_fen: int | None = None,
    lines: list[dict] | None = None,
    full: bool = False,
    restock_at: Location | None = None,
    cancelling: bool = False,
) -> Refund:
    """Refund (part of) a paid order, whose row the caller has locked; see the module docstring."""
    if order.status not in REFUNDABLE:
        raise BadTransition(f"order {order.number} is {order.status}; nothing was paid to refund")
    if order.refundable_fen <= 0:
        raise NothingToRefund(f"order {order.number} has been refunded in full")
    # Picked from the lots but not handed over yet (a pickup waiting at the hall, a parcel not shipped):
    # the refunded units go back into the lots they came from, here, through the stock ledger.
    picked_here = order.reservation_state == "consumed" and order.status in PICKED_NOT_HANDED_OVER
    if restock_at is not None and (order.reservation_state != "consumed" or picked_here):
        where = order.location.code
        raise InvalidRefund(
            "the goods have not left the shop: "
            + (
                f"they go back on the shelf at {where} by themselves"
                if picked_here
                else "their reservation is released, nothing comes back"
            ),
            errors=[{"field": "restock_location", "message": "only for goods that were handed over"}],
        )
    allocs, amount, everything = _allocate(order, amount_fen=amount_fen, lines=lines, full=full)
    payment = counted_payment(order)
    if payment is None:
        raise NothingToRefund(f"order {order.number} has no payment to refund")
    refund = Refund(
        order_id=order.id,
        payment_id=payment.id,
        gateway=payment.gateway,
        amount_fen=amount,
        currency=order.currency,
        reason=reason[:200],
        lines=[{"sku": a.line.sku, "quantity": a.quantity, "amount_fen": a.amount_fen} for a in allocs],
        restocked_at_id=restock_at.id if restock_at else None,
        created_by_id=actor_id,
    )
    db.session.add(refund)
    for a in allocs:
        a.line.refunded_quantity += a.quantity
        a.line.refunded_fen += a.amount_fen
    order.refunded_fen += amount
    db.session.flush()

    reference = f"refund:{refund.id}"
    moved = [(db.session.get(Variant, a.line.variant_id), a.quantity) for a in allocs if a.quantity]
    if order.reservation_state == "held" and moved:
        # The goods never left: their reserved units go back to sale.
        stock.release(moved, order.location, reference=reference, reason="order refunded", actor_id=actor_id)
    if picked_here and moved:
        stock.put_back_picked(
            moved,
            order.location,
            picked_reference=order.reference_key,
            reference=reference,
            actor_id=actor_id,
        )
    if order.reservation_state == "held" and all(ln.refunded_quantity == ln.quantity for ln in order.lines):
        order.reservation_state = "released"
    if restock_at is not None:
        for variant, qty in moved:
            stock.add_stock(
                variant,
                restock_at,
                qty,
                kind="return",
                actor_id=actor_id,
                reason="refund return",
                reference=reference,
            )
    if order.aid_counted and allocs:
        reverse_sale(
            source=reference,
            original_source=order.reference_key,
            occurred_at=utcnow(),
            lines=[
                SaleLine(a.line.variant_id, a.quantity, a.amount_fen, order.location_id)
                for a in sorted(allocs, key=lambda a: orders.aid_lock_order(a.line))
            ],
        )
    if everything or order.refunded_fen >= order.paid_fen:
        # Nothing is left to fulfil: any units still held go back too.
        orders.release_reservation(order, reason="order refunded", actor_id=actor_id)
        if not cancelling and can_move(order.status, "refunded"):
            advance(order, "refunded", actor_id=actor_id, reason=reason, closed_at=utcnow())
    elif order.status in HANDED_OVER and order.status != "partially_refunded":
        advance(order, "partially_refunded", actor_id=actor_id, reason=reason)
    db.session.flush()
    enqueue("shop.payments.send_refund", {"refund_id": refund.id}, queue="payments")
    if not cancelling:
        orders.notify(order, "refunded", ref=refund.id)
    return refund


def refund_payment(order: Order, payment: Payment, *, reason: str) -> Refund:
    """Give back one whole payment the shop must not keep (never counted: no aid, no stock involved)."""
    refund = Refund(
        order_id=order.id,
        payment_id=payment.id,
        gateway=payment.gateway,
        amount_fen=payment.amount_fen,
        currency=payment.currency,
        reason=reason[:200],
        lines=[],
        automatic=True,
    )
    db.session.add(refund)
    order.refunded_fen += payment.amount_fen
    db.session.flush()
    enqueue("shop.payments.send_refund", {"refund_id": refund.id}, queue="payments")
    return refund


# -- sending and settling ---------------------------------------------------------------------------


def send_refund(refund_id: int) -> str:
    """Send a pending refund to its gateway (a task, after the refund's commit); safe to run twice.

    The network call happens with no transaction open; the result is stored with a conditional update
    so a retry, or a webhook that settled the refund meanwhile, is never overwritten.
    """
    refund = db.session.get(Refund, refund_id)
    if refund is None or refund.status != "pending" or refund.provider_ref:
        return "nothing to send"
    payment = db.session.get(Payment, refund.payment_id)
    db.session.rollback()
    result = get_gateway(refund.gateway).refund(refund, payment)
    with atomic():
        values = {"attempts": Refund.attempts + 1, "failure": result.failure}
        if result.provider_ref:
            values["provider_ref"] = result.provider_ref
        if result.status != "pending":
            values["status"] = result.status
            values["settled_at"] = utcnow()
        db.session.execute(
            update(Refund).where(Refund.id == refund_id, Refund.status == "pending").values(**values)
        )
        if result.status == "failed":
            order = orders.lock_order(refund.order_id)
            orders.flag(order, f"refund {refund_id} of {refund.amount_fen} fen failed: {result.failure}")
    return result.status


def settle_refund(refund: Refund, *, status: str, provider_ref: str | None, failure: str = "") -> str:
    """Record the gateway's final word on a refund (from a webhook); pending refunds only move forward."""
    if provider_ref and not refund.provider_ref:
        refund.provider_ref = provider_ref
    if refund.status != "pending" or status == "pending":
        db.session.flush()
        return f"refund {refund.id} {refund.status}"
    refund.status = status
    refund.settled_at = utcnow()
    refund.failure = failure[:500]
    db.session.flush()
    if status == "failed":
        order = orders.lock_order(refund.order_id)
        orders.flag(order, f"refund {refund.id} of {refund.amount_fen} fen failed at the gateway: {failure}")
    return f"refund {refund.id} {status}"
