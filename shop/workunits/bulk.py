"""Bulk and welfare orders: one CSV or XLSX upload -> many orders to many addresses or pickup halls.

Every row is checked before anything is placed (columns, SKU, quantity, the address in Tianjin or the
pickup hall); any problem is answered as one 422 listing each row and column at fault. Then every order
is placed and paid on the unit's account in one unit of work: a shortage found while reserving stock
rolls all of it back, so a file is placed whole or not at all. Rows with the same recipient and address
(or the same pickup hall and person) become one order.

Columns (header row, English or Chinese, any order): ``sku`` 商品编码, ``quantity`` 数量, and either
``pickup`` 自提点 (a hall's code) or ``recipient`` 收货人, ``phone`` 电话, ``district`` 区, ``address``
详细地址; optional ``city`` 城市 (must be Tianjin) and ``note`` 备注.
"""

from __future__ import annotations

import csv
import io
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from zipfile import BadZipFile

from sqlalchemy import select

from shop.accounts.models import User
from shop.audit.services import record
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import db, utcnow
from shop.core.errors import ShopError
from shop.inventory.errors import InsufficientStock
from shop.orders.models import Order
from shop.orders.services import TIANJIN_DISTRICTS, DeliveryRequest, LineRequest, place_order
from shop.workunits.account import pay_order_on_account
from shop.workunits.errors import BadBulkFile, BulkStockShort, UnitNotVerified
from shop.workunits.models import BulkOrder, BulkOrderItem
from shop.workunits.standing import unit_of

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 2000
# Orders placed by one file, all in one request (about 300 in 20 s on two busy cores, within the web
# timeout): a bigger welfare list is uploaded as several files.
MAX_ORDERS = 500
MAX_ERRORS = 100
MAX_QUANTITY = 999
COLUMNS: dict[str, tuple[str, ...]] = {
    "recipient": ("收货人", "收件人", "姓名"),
    "phone": ("电话", "手机", "手机号", "联系电话"),
    "city": ("城市",),
    "district": ("区", "区县", "所在区"),
    "address": ("详细地址", "地址", "street_address"),
    "pickup": ("自提点", "自提", "pickup_location"),
    "sku": ("商品编码", "编码"),
    "quantity": ("数量",),
    "note": ("备注",),
}
ALIASES = {alias.lower(): name for name, aliases in COLUMNS.items() for alias in (name, *aliases)}
SHIP_COLUMNS = ("recipient", "phone", "district", "address")
PHONE_RE = re.compile(r"1[3-9]\d{9}|0\d{2,3}-?\d{7,8}")


@dataclass
class Row:
    number: int  # the row in the file (the header is row 1)
    values: dict[str, str]


@dataclass
class Group:
    delivery: DeliveryRequest
    rows: list[int] = field(default_factory=list)
    lines: OrderedDict[str, int] = field(default_factory=OrderedDict)


def _problem(errors: list[dict[str, str]], what: str) -> BadBulkFile:
    shown = errors[:MAX_ERRORS]
    more = f" (and {len(errors) - MAX_ERRORS} more)" if len(errors) > MAX_ERRORS else ""
    return BadBulkFile(
        f"{what}: " + "; ".join(f"{e['field']}: {e['message']}" for e in shown[:10]) + more, errors=shown
    )


def read_table(filename: str, data: bytes) -> list[list[str]]:
    """The file's cells as text, row by row (CSV in UTF-8, with or without BOM, or XLSX)."""
    if len(data) > MAX_BYTES:
        raise BadBulkFile(
            "the file is larger than 2 MB", errors=[{"field": "file", "message": "at most 2 MB"}]
        )
    if not data:
        raise BadBulkFile("the file is empty", errors=[{"field": "file", "message": "empty"}])
    if data[:2] == b"PK" or filename.lower().endswith(".xlsx"):
        # why: openpyxl (about 15 MB) is loaded by the processes that read a workbook, not by all at start
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (BadZipFile, KeyError, ValueError, OSError):
            raise BadBulkFile(
                "not a readable XLSX file", errors=[{"field": "file", "message": "not XLSX"}]
            ) from None
        sheet = wb.worksheets[0]
        rows = []
        for values in sheet.iter_rows(values_only=True, max_row=MAX_ROWS + 2):
            rows.append(
                [
                    "" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
                    for v in values
                ]
            )
        wb.close()
        return rows
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BadBulkFile(
            "the CSV is not UTF-8 (save it as 'CSV UTF-8')",
            errors=[{"field": "file", "message": "not UTF-8"}],
        ) from None
    if "\x00" in text:
        raise BadBulkFile("the CSV holds NUL bytes", errors=[{"field": "file", "message": "NUL byte"}])
    return [row for row in csv.reader(io.StringIO(text))][: MAX_ROWS + 2]


def parse_rows(table: list[list[str]]) -> list[Row]:
    """Map the header to known columns (a wrong column is refused, naming it) and keep non-empty rows."""
    if not table:
        raise BadBulkFile(
            "the file has no header row", errors=[{"field": "rows.1", "message": "header missing"}]
        )
    header = [h.strip() for h in table[0]]
    errors, names = [], []
    for i, h in enumerate(header):
        name = ALIASES.get(h.lower())
        if name is None and h:
            errors.append({"field": f"rows.1.{h}", "message": f"unknown column {h!r} (column {i + 1})"})
        if name in names:
            errors.append({"field": f"rows.1.{h}", "message": "column given twice"})
        names.append(name)
    for required in ("sku", "quantity"):
        if required not in names:
            errors.append({"field": f"rows.1.{required}", "message": "required column missing"})
    if "pickup" not in names and not all(c in names for c in SHIP_COLUMNS):
        missing = [c for c in SHIP_COLUMNS if c not in names]
        errors.append(
            {
                "field": "rows.1." + missing[0],
                "message": f"needs pickup, or {', '.join(SHIP_COLUMNS)} columns",
            }
        )
    if errors:
        raise _problem(errors, "wrong columns")
    rows = []
    for number, cells in enumerate(table[1:], start=2):
        values = {n: (cells[i].strip() if i < len(cells) else "") for i, n in enumerate(names) if n}
        if any(values.values()):
            rows.append(Row(number, values))
    if not rows:
        raise BadBulkFile("the file has no order rows", errors=[{"field": "rows.2", "message": "no rows"}])
    if len(rows) > MAX_ROWS:
        raise BadBulkFile(
            f"at most {MAX_ROWS} rows per file", errors=[{"field": "rows", "message": f"at most {MAX_ROWS}"}]
        )
    return rows


def group_rows(rows: list[Row], *, today) -> list[Group]:
    """Check every row; group them into orders by destination. Raises one 422 listing every bad cell."""
    skus = {r.values.get("sku", "") for r in rows}
    variants = {
        v.sku: v
        for v in db.session.scalars(select(Variant).where(Variant.sku.in_(skus)))
        if v.active and v.product.active
    }
    codes = {r.values.get("pickup", "") for r in rows} - {""}
    halls = {
        loc.code: loc
        for loc in db.session.scalars(select(Location).where(Location.code.in_(codes)))
        if loc.pickup and loc.is_active_on(today)
    }
    errors: list[dict[str, str]] = []
    groups: OrderedDict[tuple, Group] = OrderedDict()
    for row in rows:
        v, n = row.values, row.number
        bad = len(errors)

        def err(col: str, message: str, n: int = n) -> None:
            errors.append({"field": f"rows.{n}.{col}", "message": message})

        sku = v.get("sku", "")
        if sku not in variants:
            err("sku", f"unknown SKU {sku!r}" if sku else "required")
        qty_text = v.get("quantity", "")
        qty = int(qty_text) if qty_text.isdigit() else 0
        if not 1 <= qty <= MAX_QUANTITY:
            err("quantity", f"a whole number from 1 to {MAX_QUANTITY}")
        pickup = v.get("pickup", "")
        if pickup:
            if pickup not in halls:
                err("pickup", f"{pickup!r} is not a pickup hall")
            delivery = DeliveryRequest(type="pickup", location=pickup, note=v.get("note", "")[:200])
            key: tuple = ("pickup", pickup, v.get("recipient", ""), v.get("phone", ""))
        else:
            city = v.get("city", "")
            if city and city not in ("天津", "天津市", "Tianjin"):
                err("city", "deliveries go to Tianjin only")
            if not v.get("recipient"):
                err("recipient", "required")
            if not PHONE_RE.fullmatch(v.get("phone", "")):
                err("phone", "a mainland mobile or landline number")
            if v.get("district", "") not in TIANJIN_DISTRICTS:
                err("district", "a district of Tianjin (e.g. 东丽区)")
            if len(v.get("address", "")) < 4:
                err("address", "the street address in Tianjin")
            delivery = DeliveryRequest(
                type="ship",
                recipient=v.get("recipient", "")[:60],
                phone=v.get("phone", ""),
                district=v.get("district", ""),
                street_address=v.get("address", "")[:200],
                note=v.get("note", "")[:200],
            )
            key = ("ship", v.get("recipient"), v.get("phone"), v.get("district"), v.get("address"))
        if len(errors) > bad:
            continue
        group = groups.setdefault(key, Group(delivery))
        group.rows.append(n)
        group.lines[sku] = group.lines.get(sku, 0) + qty
        if group.lines[sku] > MAX_QUANTITY:
            err("quantity", f"more than {MAX_QUANTITY} of {sku} for one recipient")
    if errors:
        raise _problem(errors, f"{len({e['field'].split('.')[1] for e in errors})} rows cannot be used")
    if len(groups) > MAX_ORDERS:
        raise BadBulkFile(
            f"the file makes {len(groups)} orders; at most {MAX_ORDERS} per file: split it",
            errors=[{"field": "rows", "message": f"at most {MAX_ORDERS} orders per file"}],
        )
    return list(groups.values())


@dataclass(frozen=True)
class BulkResult:
    bulk: BulkOrder
    orders: list[Order]


def place_bulk_order(buyer: User, *, filename: str, data: bytes, now: datetime | None = None) -> BulkResult:
    """Place every order of the file and pay them on the unit's account, all or nothing."""
    now = now or utcnow()
    unit = unit_of(buyer.id)
    if unit is None or not unit.verified:
        raise UnitNotVerified(
            "bulk orders are paid on account, which only a verified work unit may do",
            verification=unit.verification if unit else None,
        )
    rows = parse_rows(read_table(filename, data))
    groups = group_rows(rows, today=clock.local_day(now))
    orders = []
    for group in groups:
        lines = [LineRequest(sku, qty) for sku, qty in group.lines.items()]
        try:
            order = place_order(buyer, lines, group.delivery, now=now)
        except InsufficientStock as exc:
            raise BulkStockShort(
                f"rows {', '.join(map(str, group.rows))}: {exc.detail}; nothing was ordered",
                errors=[{"field": f"rows.{group.rows[0]}.sku", "message": exc.detail}],
            ) from None
        except ShopError as exc:
            raise BadBulkFile(
                f"rows {', '.join(map(str, group.rows))}: {exc.detail}; nothing was ordered",
                errors=[{"field": f"rows.{group.rows[0]}", "message": exc.detail}],
            ) from None
        pay_order_on_account(order.id, buyer=buyer, now=now)
        orders.append((order, group))
    bulk = BulkOrder(
        unit_id=unit.id,
        buyer_id=buyer.id,
        filename=filename[:200],
        rows=len(rows),
        orders=len(orders),
        total_fen=sum(o.total_fen for o, _g in orders),
    )
    db.session.add(bulk)
    db.session.flush()
    for order, group in orders:
        db.session.add(
            BulkOrderItem(order_id=order.id, bulk_id=bulk.id, rows=",".join(map(str, group.rows))[:200])
        )
    db.session.flush()
    record(
        buyer, "work_unit.bulk_order", target_type="work_unit", target_id=unit.account_id,
        bulk=bulk.id, rows=len(rows), orders=len(orders), total_fen=bulk.total_fen,
    )  # fmt: skip
    return BulkResult(bulk, [o for o, _g in orders])


def bulk_orders(unit_id: int, *, limit: int = 50) -> list[BulkOrder]:
    return list(
        db.session.scalars(
            select(BulkOrder).where(BulkOrder.unit_id == unit_id).order_by(BulkOrder.id.desc()).limit(limit)
        )
    )
