"""Halls and stock under /api/v1: stock, receipts, counter sales, adjustments, counts, transfers.

Every endpoint needs an operator (at that location) or admin bearer token. Every write has one shape
(``_unit_of_work``): one unit of work, the location or transfer it acts on checked for the caller, then
the handler parses its lines into items, calls one use case and renders; refusals are the use case's,
answered as problem+json at the edge. The batch of offline sales is the exception: each sale is its own
unit, so one sale that cannot be recorded does not hold back the rest of the tablet's queue.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

import marshmallow as ma
from flask_smorest import Blueprint
from sqlalchemy.exc import DataError

from shop.accounts.auth import api_user, ensure_location_access, require_role
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import atomic
from shop.core.errors import ShopError, error_body, invalid_input, problem_body
from shop.core.idempotency import idempotent
from shop.core.inputs import UnstorableText, items_checked_one_by_one, text_problems, text_shown
from shop.inventory import adjustments, queries, sales, transfers
from shop.inventory import schemas as s
from shop.inventory.services import reconcile

blp = Blueprint(
    "inventory_api", __name__, url_prefix="/api/v1", description="Halls and stock (operators and admins)"
)
log = logging.getLogger(__name__)
STAFF = ("operator", "admin")
SECURITY = [{"bearerAuth": []}]


def _sale_body(sale, *, replayed: bool, lots=None, user=None) -> dict:
    """The sale as answered; a new sale passes the lots it took and its operator (no reads back)."""
    if user is not None and user.id == sale.operator_id:
        operator = user.email
    else:
        operator = queries.actor_emails({sale.operator_id}).get(sale.operator_id)
    return s.sale_dict(sale, queries.sale_lots(sale) if lots is None else lots, operator, replayed=replayed)


def _stock_item(location, sku: str) -> dict:
    rows, _ = queries.location_stock(location, sku=sku, per_page=1)
    return s.stock_item_dict(rows[0])


def _movements(movements, location) -> list[dict]:
    emails = queries.actor_emails({mv.actor_id for mv in movements})
    return [s.movement_dict(mv, emails, location.code) for mv in movements]


def _unit_of_work(find: Callable[..., dict[str, Any]]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The shape of every write here: the caller, then one unit of work in which ``find(user, *args,
    **path)`` looks up what the write acts on and checks the caller may act there, and the handler gets
    it by keyword (with ``user``) to parse its lines into items, call one use case and render.

    A refusal the use case raises is answered as problem+json by the error handlers, and changes nothing
    unless the use case keeps it on record (``ShopError.recorded``).
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def run(*args: Any, **path: Any) -> Any:
            user = api_user()
            with atomic():
                return view(*args, user=user, **find(user, *args, **path))

        return run

    return decorate


def _path_location(user, *args: Any, code: str, **path: Any) -> dict[str, Any]:
    return {"location": queries.location_for(user, code), **path}


def _source_location(user, data: dict) -> dict[str, Any]:
    # Named in the body: an unknown one is a 422 on its field, not a 404.
    return {"location": queries.location_for(user, data["from_"], field_name="from")}


def _transfer_at(end: str) -> Callable[..., dict[str, Any]]:
    """The path's transfer, for the operators of its ``end`` (``to_location`` receives, ``from_location``
    calls back)."""

    def find(user, *args: Any, transfer_id: int) -> dict[str, Any]:
        transfer = queries.get_transfer(transfer_id)
        ensure_location_access(user, getattr(transfer, end))
        return {"transfer": transfer}

    return find


_at_location = _unit_of_work(_path_location)


# -- stock -----------------------------------------------------------------------------------------


@blp.route("/locations/<code>/stock")
@blp.arguments(s.StockArgs, location="query")
@blp.response(200, s.StockPageSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def stock(args: dict, code: str):
    """Stock at a location: on hand, reserved, available, and each SKU's lots first-expiry-first."""
    location = queries.location_for(api_user(), code)
    rows, total = queries.location_stock(location, **args)
    return {
        "location": location.code,
        "items": [s.stock_item_dict(r) for r in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/locations/<code>/low-stock")
@blp.response(200, s.StockListSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def low_stock(code: str):
    """SKUs whose available units are at or below their low-stock threshold."""
    location = queries.location_for(api_user(), code)
    return {"location": location.code, "items": [s.stock_item_dict(r) for r in queries.low_stock(location)]}


@blp.route("/locations/<code>/expiring")
@blp.arguments(s.ExpiringArgs, location="query")
@blp.response(200, s.ExpiringListSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def expiring(args: dict, code: str):
    """Lots with units left whose best-before is within ``days`` days (expired ones included, first)."""
    location = queries.location_for(api_user(), code)
    today = clock.today()
    lots = queries.expiring_lots(location, within_days=args["days"], on=today)
    return {
        "location": location.code,
        "days": args["days"],
        "items": [
            {
                "sku": lot.variant.sku,
                "name": lot.variant.name_zh,
                "lot": lot.code,
                "quantity": lot.quantity,
                "best_before": lot.best_before,
                "days_left": (lot.best_before - today).days,
                "expired": lot.best_before < today,
            }
            for lot in lots
        ],
    }


@blp.route("/locations/<code>/thresholds/<sku>", methods=["PUT"])
@blp.arguments(s.ThresholdSchema)
@blp.response(200, s.StockItemSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
@_at_location
def set_threshold(data: dict, *, location, user, sku: str):
    """Set the low-stock threshold of a SKU at a location (null: back to the SKU's default)."""
    variant = queries.variant_by_sku(sku)
    adjustments.set_low_stock_threshold(location, variant, data["threshold"], actor=user)
    return _stock_item(location, variant.sku)


@blp.route("/locations/<code>/movements")
@blp.arguments(s.MovementArgs, location="query")
@blp.response(200, s.MovementPageSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def movements(args: dict, code: str):
    """The stock ledger at a location, newest first, filtered by kind, SKU, lot, reference, actor, time."""
    location = queries.location_for(api_user(), code)
    page, per_page = args.pop("page"), args.pop("per_page")
    rows, total = page_of(queries.movement_query(location, **args), page=page, per_page=per_page)
    return {"items": _movements(rows, location), "total": total, "page": page, "per_page": per_page}


# -- receipts, adjustments, counts -----------------------------------------------------------------


@blp.route("/locations/<code>/receipts", methods=["POST"])
@idempotent
@blp.arguments(s.ReceiptSchema)
@blp.response(201, s.ReceiptOut)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
@_at_location
def receive(data: dict, *, location, user):
    """Receive goods into lots; with ``consignment`` receive that consignment (shortfalls recorded)."""
    if data.get("consignment"):
        transfer = queries.consignment_for(location, data["consignment"])
        items = queries.items_for(
            data["lines"], lambda v, ln: transfers.ReceiveItem(v, ln["quantity"], lot_code=ln.get("lot"))
        )
        transfers.receive_transfer(transfer, items, actor=user, note=data["note"])
        return {
            "location": location.code,
            "reference": transfer.reference_key,
            "transfer": s.transfer_dict(transfer),
        }
    items = queries.items_for(
        data["lines"],
        lambda v, ln: transfers.ReceiptItem(
            v,
            ln["quantity"],
            lot_code=ln.get("lot"),
            harvested_on=ln.get("harvested_on"),
            best_before=ln.get("best_before"),
        ),
    )
    moved = transfers.receive_goods(
        location, items, actor=user, reference=data["reference"], note=data["note"]
    )
    return {
        "location": location.code,
        "reference": moved[0].reference,
        "movements": _movements(moved, location),
        "transfer": None,
    }


@blp.route("/locations/<code>/adjustments", methods=["POST"])
@idempotent
@blp.arguments(s.AdjustmentSchema)
@blp.response(201, s.AdjustmentOut)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
@_at_location
def adjust(data: dict, *, location, user):
    """Adjust stock with a reason (spoilage, expired, damage, lost, sample, found, customer_return, other)."""
    variant = queries.variant_by_sku(data["sku"])
    moved = adjustments.adjust_stock(
        location,
        variant,
        data["quantity_delta"],
        reason=data["reason"],
        actor=user,
        note=data["note"],
        lot_code=data.get("lot"),
        harvested_on=data.get("harvested_on"),
        best_before=data.get("best_before"),
    )
    return {"movements": _movements(moved, location), "item": _stock_item(location, variant.sku)}


@blp.route("/locations/<code>/counts", methods=["POST"])
@idempotent
@blp.arguments(s.CountSchemaIn)
@blp.response(201, s.CountOut)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
@_at_location
def count(data: dict, *, location, user):
    """Record a stock count; differences become count-correction movements."""
    items = queries.items_for(
        data["lines"], lambda v, ln: adjustments.CountItem(v, ln["counted"], ln.get("lot"))
    )
    return s.count_dict(adjustments.record_count(location, items, actor=user, note=data["note"]))


# -- counter sales ---------------------------------------------------------------------------------


def _record_sale(location, data: dict, user) -> tuple[dict, int]:
    lines = queries.items_for(data["lines"], lambda v, ln: (v, ln["quantity"]))
    result = sales.record_counter_sale(
        location,
        client_sale_id=data["client_sale_id"],
        lines=lines,
        paid_with=data["paid_with"],
        actor=user,
        made_at=data.get("made_at"),
        card_code=data.get("card_code"),
    )
    body = _sale_body(result.sale, replayed=not result.created, lots=result.lots, user=user)
    return body, 201 if result.created else 200


@blp.route("/locations/<code>/sales", methods=["POST"])
@idempotent
@blp.arguments(s.SaleSchemaIn)
@blp.response(201, s.SaleSchema)
@blp.alt_response(200, schema=s.SaleSchema, description="this client_sale_id was already recorded")
@blp.doc(security=SECURITY)
@require_role(*STAFF)
@_at_location
def sell(data: dict, *, location, user):
    """Record a counter sale; the same ``client_sale_id`` again returns the first sale (200), counted once."""
    return _record_sale(location, data, user)


@blp.route("/locations/<code>/sales/batch", methods=["POST"])
@items_checked_one_by_one("sales")
@blp.arguments(s.SaleBatchSchema)
@blp.response(200, s.BatchSchemaOut)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def sell_batch(data: dict, code: str):
    """Post a tablet's queue of offline sales; each is recorded (or found again) on its own.

    Every result carries the status the single endpoint would have answered: 201 recorded, 200 already
    recorded, 4xx with a problem. Sales are handled in the order given, and whatever one sale holds (a
    NUL byte, an unpaired surrogate, a value the database refuses) answers that sale only.
    """
    user = api_user()
    return record_sale_batch(queries.location_for(user, code), data["sales"], user)


def record_sale_batch(location, sales: list, user) -> dict:
    """Record each of a tablet's queued ``sales`` (raw, as sent) at ``location`` in its own unit of work,
    in the order given; answer every result and how many were recorded, found again and refused.

    The batch endpoint here and the counter's sync (``shop.counter.views``) both answer this: each result
    carries the status the single endpoint would have answered (201, 200 for a replay, 4xx or 500 with a
    problem), and one sale that cannot be recorded does not hold back the rest.
    """
    results = [_batch_result(location, i, raw, user) for i, raw in enumerate(sales)]
    return {
        "results": results,
        "created": sum(r["status"] == 201 for r in results),
        "replayed": sum(r["status"] == 200 for r in results),
        "failed": sum(r["status"] >= 400 for r in results),
    }


def _batch_result(location, i: int, raw: Any, user) -> dict:
    """One sale of a batch in its own unit of work, answered whatever happens to it."""
    client_sale_id = raw.get("client_sale_id") if isinstance(raw, dict) else None
    shown_id = text_shown(client_sale_id) if isinstance(client_sale_id, str) else None
    try:
        if problems := text_problems(raw, prefix=f"sales.{i}"):
            raise UnstorableText(
                "; ".join(f"{p['field']}: {p['message']}" for p in problems), errors=problems
            )
        try:
            parsed = s.SaleSchemaIn().load(raw if isinstance(raw, dict) else {})
        except ma.ValidationError as exc:
            raise invalid_input(exc.messages, prefix=f"sales.{i}") from None
        with atomic():
            body, status = _record_sale(location, parsed, user)
    except ShopError as err:
        return {"client_sale_id": shown_id, "status": err.status, "sale": None, "problem": error_body(err)}
    except DataError:
        # A value the database refuses that validation let through: this sale only.
        problem = problem_body(
            422, "Invalid input", f"sales.{i}: a value is out of range", slug="validation-failed"
        )
        return {"client_sale_id": shown_id, "status": 422, "sale": None, "problem": problem}
    except Exception:
        log.exception("counter sale %s of a batch at %s failed", i, location.code)
        problem = problem_body(
            500, "Internal error", f"sales.{i} could not be recorded; retry it", slug="internal"
        )
        return {"client_sale_id": shown_id, "status": 500, "sale": None, "problem": problem}
    return {"client_sale_id": shown_id, "status": status, "sale": body, "problem": None}


@blp.route("/locations/<code>/sales")
@blp.arguments(s.SaleListArgs, location="query")
@blp.response(200, s.SalePageSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def list_sales(args: dict, code: str):
    """Counter sales at a location, newest first (``date``: only that day's)."""
    location = queries.location_for(api_user(), code)
    rows, total = page_of(
        queries.sale_query(location, on=args.get("date")), page=args["page"], per_page=args["per_page"]
    )
    lots = queries.sales_lots(rows)
    emails = queries.actor_emails({sale.operator_id for sale in rows})
    return {
        "items": [
            s.sale_dict(sale, lots.get(sale.id, {}), emails.get(sale.operator_id), replayed=False)
            for sale in rows
        ],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/locations/<code>/sales/<int:sale_id>")
@blp.response(200, s.SaleSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def get_sale(code: str, sale_id: int):
    """One counter sale with the lots its units came from."""
    location = queries.location_for(api_user(), code)
    return _sale_body(queries.get_sale(location, sale_id), replayed=False)


# -- transfers and consignments --------------------------------------------------------------------


@blp.route("/transfers", methods=["POST"])
@idempotent
@blp.arguments(s.TransferSchemaIn)
@blp.response(201, s.TransferSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
@_unit_of_work(_source_location)
def send(data: dict, *, location, user):
    """Send goods to another location (from the Gangu warehouse: a consignment); they go in transit."""
    destination = queries.location_by_code(data["to"], field_name="to")
    items = queries.items_for(
        data["lines"], lambda v, ln: transfers.SendItem(v, ln["quantity"], ln.get("lot"))
    )
    transfer = transfers.send_transfer(
        location, destination, items, actor=user, note=data["note"], reference=data["reference"]
    )
    return s.transfer_dict(transfer)


@blp.route("/transfers/<int:transfer_id>")
@blp.response(200, s.TransferSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def get_transfer(transfer_id: int):
    """One transfer with what was sent, received, damaged, short and still in transit per lot."""
    transfer = queries.get_transfer(transfer_id)
    queries.ensure_transfer_access(api_user(), transfer)
    return s.transfer_dict(transfer)


@blp.route("/transfers/<int:transfer_id>/receive", methods=["POST"])
@idempotent
@blp.arguments(s.ReceiveSchema)
@blp.response(200, s.TransferSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
@_unit_of_work(_transfer_at("to_location"))
def receive_transfer(data: dict, *, transfer, user):
    """Receive a transfer at its destination: per SKU (or lot) what arrived and what arrived damaged.

    With ``final`` (default) whatever is not reported is recorded as short and the transfer closes.
    Reporting more than is in transit is refused (409) and kept as a discrepancy; nothing is received.
    """
    items = queries.items_for(
        data["lines"],
        lambda v, ln: transfers.ReceiveItem(v, ln["quantity"], damaged=ln["damaged"], lot_code=ln.get("lot")),
    )
    transfers.receive_transfer(transfer, items, actor=user, final=data["final"], note=data["note"])
    return s.transfer_dict(transfer)


@blp.route("/transfers/<int:transfer_id>/cancel", methods=["POST"])
@blp.response(200, s.TransferSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
@_unit_of_work(_transfer_at("from_location"))
def cancel_transfer(*, transfer, user):
    """Call back a transfer nothing of which was received: every unit returns to the source's lots."""
    transfers.cancel_transfer(transfer, actor=user)
    return s.transfer_dict(transfer)


@blp.route("/locations/<code>/transfers")
@blp.arguments(s.TransferListArgs, location="query")
@blp.response(200, s.TransferPageSchema)
@blp.doc(security=SECURITY)
@require_role(*STAFF)
def list_transfers(args: dict, code: str):
    """Transfers and consignments into or out of a location, newest first."""
    location = queries.location_for(api_user(), code)
    stmt = queries.transfer_query(location, direction=args["direction"], status=args.get("status"))
    rows, total = page_of(stmt, page=args["page"], per_page=args["per_page"])
    return {
        "items": [s.transfer_dict(t) for t in rows],
        "total": total,
        "page": args["page"],
        "per_page": args["per_page"],
    }


@blp.route("/stock/reconciliation")
@blp.response(200, s.ReconcileOut)
@blp.doc(security=SECURITY)
@require_role("admin")
def reconciliation():
    """Prove every level and lot equals the sum of its movements (admins); lists any drift."""
    drifts = reconcile()
    return {"ok": not drifts, "drifts": [d.__dict__ for d in drifts]}
