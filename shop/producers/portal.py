"""What a producer's portal reads: this month's sales, stock of their goods, consignments, statements.

Every query is filtered by the one producer the account is bound to.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from shop.catalog.models import Location, Product, Variant
from shop.core import clock
from shop.core.db import db
from shop.inventory.models import StockLevel, Transfer, TransferDiscrepancy, TransferLine
from shop.producers.settlement import sale_items


def month_sales(producer_id: int) -> dict:
    """This month (Beijing) so far: net sales by channel and by product, refunds taken off."""
    start = clock.day_start(clock.month_start(clock.today()))
    items = sale_items(producer_id, clock.now(), since=start)
    by_channel: dict[str, int] = defaultdict(int)
    by_product: dict[str, dict] = {}
    for it in items:
        by_channel[it["channel"]] += it["amount_fen"]
        row = by_product.setdefault(
            it["sku"], {"sku": it["sku"], "name": it["name_zh"], "quantity": 0, "amount_fen": 0}
        )
        row["quantity"] += it["quantity"]
        row["amount_fen"] += it["amount_fen"]
    return {
        "month": clock.today().strftime("%Y-%m"),
        "total_fen": sum(by_channel.values()),
        "by_channel": dict(sorted(by_channel.items())),
        "by_product": sorted(by_product.values(), key=lambda r: -r["amount_fen"]),
    }


def stock(producer_id: int) -> list[dict]:
    """Units of the producer's goods at each location (halls, warehouse, in transit)."""
    rows = db.session.execute(
        select(Location.code, Location.name_zh, Location.kind, Variant.sku, Product.name_zh, Variant.name_zh,
               StockLevel.on_hand, StockLevel.reserved)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(Product.producer_id == producer_id, StockLevel.on_hand > 0)
        .order_by(Location.code, Variant.sku)
    )  # fmt: skip
    return [
        {"location": code, "location_name": lname, "kind": kind, "sku": sku, "name": f"{pname} {vname}",
         "on_hand": on_hand, "reserved": reserved}
        for code, lname, kind, sku, pname, vname, on_hand, reserved in rows
    ]  # fmt: skip


def consignments(producer_id: int, *, limit: int = 30) -> list[dict]:
    """Recent consignments and transfers carrying the producer's goods, with their discrepancies."""
    mine = (
        select(Variant.id)
        .join(Product, Product.id == Variant.product_id)
        .where(Product.producer_id == producer_id)
    )
    transfers = db.session.scalars(
        select(Transfer)
        .where(Transfer.id.in_(select(TransferLine.transfer_id).where(TransferLine.variant_id.in_(mine))))
        .order_by(Transfer.created_at.desc(), Transfer.id.desc())
        .limit(limit)
    ).all()
    out = []
    for t in transfers:
        lines = [ln for ln in t.lines if ln.variant.product.producer_id == producer_id]
        problems = db.session.scalars(
            select(TransferDiscrepancy).where(
                TransferDiscrepancy.transfer_id == t.id, TransferDiscrepancy.variant_id.in_(mine)
            )
        ).all()
        out.append(
            {
                "id": t.id,
                "kind": t.kind,
                "status": t.status,
                "from": t.from_location.name_zh,
                "to": t.to_location.name_zh,
                "sent_on": clock.format_local(t.created_at, "%Y-%m-%d"),
                "sent": sum(ln.quantity_sent for ln in lines),
                "received": sum(ln.quantity_received for ln in lines),
                "discrepancies": [
                    {"sku": d.variant.sku, "kind": d.kind, "quantity": d.quantity, "note": d.note}
                    for d in problems
                ],
            }
        )
    return out
