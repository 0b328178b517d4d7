"""Partner-platform sales: imported from the platforms' CSV/XLSX exports or pushed with an API key,
each line counted once in the aid ledger under channel ``partner_platform``.

An officer uploads a file; it is stored under ``DATA_DIR/aid-imports`` and an ``AidImport`` (queued) is
written with an outbox message for the task ``shop.aid.process_import``, which reads the stored file as a
stream (a csv reader over the file, openpyxl in read-only mode for XLSX: never the whole file in memory)
in batches of ``BATCH_ROWS`` rows. Each batch is one unit of work:

1. every row is validated (columns mapped by English or Chinese header); a bad row is kept as an
   ``AidImportRejection`` with its reason and values, so it can be fixed and uploaded again;
2. the good rows' keys ``(platform, platform order id, line)`` go into ``aid_partner_sale`` with one
   ``INSERT .. ON CONFLICT DO NOTHING RETURNING``: the partial unique index decides which import counts a
   line, so a file uploaded twice, or two uploads at the same moment, count each line once (the
   concurrent loser waits for the winner's commit, then skips the line and reports it as a duplicate);
3. the lines that went in become ledger entries (source ``partner-import:<id>``, key
   ``partner-sale:<line id>``) and rollup increments, and the import's counters and ``rows_done``
   advance, all in the same commit. A task that dies resumes after ``rows_done``.

Voiding an import (with a reason) reverses its entries (source ``partner-void:<id>``; never deleted) and
frees its keys, so a corrected file can count the lines again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import secrets
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shop.accounts.models import User
from shop.aid.errors import (
    BadImport,
    ImportNotFound,
    ImportNotVoidable,
    OfficerRequired,
    PlatformKeyRefused,
    PlatformNotFound,
)
from shop.aid.models import (
    AidEntry,
    AidImport,
    AidImportRejection,
    PartnerPlatform,
    PartnerSale,
    PlatformProducer,
)
from shop.aid.reconcile import Difference, counted_by_source, register_source_checker
from shop.aid.services import count_rows, programme_on
from shop.audit.services import record as audit
from shop.catalog.models import AidCertificate, Producer, Product, Variant
from shop.core import clock
from shop.core.api import page_of
from shop.core.db import atomic, db, utcnow
from shop.core.exports import safe_row
from shop.core.outbox import enqueue

log = logging.getLogger(__name__)

CHANNEL = "partner_platform"
OFFICER_ROLES = ("aid_officer", "admin")
BATCH_ROWS = 1000
MAX_PUSH_ROWS = 1000
MAX_ORDER_ID = 64
MAX_LINE = 100_000
MAX_QUANTITY = 1_000_000
MAX_AMOUNT_FEN = 10**10  # a hundred million yuan on one line is a typo
TASK = "shop.aid.process_import"

REQUIRED = ("platform_order_id", "line", "sold_on", "sku", "quantity", "amount_fen")
# The headers each column is recognised by (compared without spaces, case-insensitively).
HEADERS: dict[str, tuple[str, ...]] = {
    "platform_order_id": ("platform_order_id", "order_id", "平台订单号", "订单号", "订单编号"),
    "line": ("line", "line_no", "行号", "订单行号", "明细行号"),
    "sold_on": ("sold_on", "date", "销售日期", "日期", "下单日期"),
    "sku": ("sku", "商品编码", "商品sku", "货号"),
    "quantity": ("quantity", "qty", "数量", "销售数量"),
    "amount_fen": ("amount_fen", "金额（分）", "金额(分)", "实付金额（分）", "实付金额(分)", "销售额（分）"),
}
_HEADER_INDEX = {"".join(name.split()).lower(): column for column, names in HEADERS.items() for name in names}


def _require_officer(user: User) -> None:
    if user.role not in OFFICER_ROLES:
        raise OfficerRequired("only aid officers import partner-platform sales")


def _bad(field_name: str, message: str) -> BadImport:
    return BadImport(f"{field_name}: {message}", errors=[{"field": field_name, "message": message}])


# -- platforms -------------------------------------------------------------------------------------


def list_platforms() -> list[PartnerPlatform]:
    return list(db.session.scalars(select(PartnerPlatform).order_by(PartnerPlatform.code)))


def get_platform(code: str) -> PartnerPlatform:
    platform = db.session.scalar(select(PartnerPlatform).where(PartnerPlatform.code == code))
    if platform is None:
        raise PlatformNotFound(f"no partner platform {code}")
    return platform


def create_platform(
    actor: User | None,
    *,
    code: str,
    name: str,
    name_en: str = "",
    operator: str = "",
    contact: str = "",
    producer_codes: Iterable[str] = (),
) -> PartnerPlatform:
    """Register a partner platform (name, operator, contact, the producers it sells for)."""
    code = code.strip().upper()
    if not code or not name.strip():
        raise _bad("code" if not code else "name", "required")
    if db.session.scalar(select(PartnerPlatform.id).where(PartnerPlatform.code == code)) is not None:
        raise _bad("code", f"platform {code} exists already")
    platform = PartnerPlatform(
        code=code,
        name_zh=name.strip(),
        name_en=name_en.strip(),
        operator=operator.strip(),
        contact=contact.strip(),
    )
    codes = sorted(set(producer_codes))
    if codes:
        found = dict(
            db.session.execute(select(Producer.code, Producer.id).where(Producer.code.in_(codes))).all()
        )
        missing = [c for c in codes if c not in found]
        if missing:
            raise _bad("producers", f"unknown producer {', '.join(missing)}")
        platform.producer_links = [PlatformProducer(producer_id=found[c]) for c in codes]
    db.session.add(platform)
    db.session.flush()
    audit(actor, "aid.platform_created", target_type="aid_platform", target_id=platform.id, code=code)
    return platform


def issue_api_key(actor: User, code: str) -> str:
    """Give the platform a new API key for pushing its sales (the old one stops working); shown once."""
    _require_officer(actor)
    platform = get_platform(code)
    key = f"pk_{platform.code.lower()}_{secrets.token_urlsafe(24)}"
    platform.api_key_hash = _key_hash(key)
    audit(actor, "aid.platform_key_issued", target_type="aid_platform", target_id=platform.id)
    return key


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def platform_for_key(key: str | None) -> PartnerPlatform:
    """The active platform whose API key this is, else 401."""
    if not key:
        raise PlatformKeyRefused("send the platform's API key in the X-Platform-Key header")
    platform = db.session.scalar(
        select(PartnerPlatform).where(PartnerPlatform.api_key_hash == _key_hash(key.strip()))
    )
    if platform is None or not platform.active:
        raise PlatformKeyRefused("unknown or withdrawn platform API key")
    return platform


# -- reading files -----------------------------------------------------------------------------------


def _map_header(header: Iterable[Any]) -> dict[str, int]:
    """Column name -> position, from a header row in English or Chinese; 422 naming what is missing."""
    positions: dict[str, int] = {}
    for i, cell in enumerate(header):
        name = "".join(str(cell if cell is not None else "").split()).lower().lstrip("\ufeff")
        column = _HEADER_INDEX.get(name)
        if column and column not in positions:
            positions[column] = i
    missing = [c for c in REQUIRED if c not in positions]
    if missing:
        raise BadImport(
            f"the file lacks the column(s) {', '.join(missing)} (see the import format in docs/aid.md)",
            errors=[{"field": f"file.{c}", "message": "column missing"} for c in missing],
        )
    return positions


def _raw_rows(path: Path, kind: str) -> Iterator[list[Any]]:
    """The file's rows as lists of cells, header first, read as a stream."""
    if kind == "csv":
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            yield from csv.reader(fh)
        return
    # why: openpyxl (about 15 MB) is loaded by the processes that read a workbook, not by all at start
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    finally:
        book.close()


def read_rows(path: Path, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number, {column: cell})`` for each data row (the header is row 1); blank rows skipped."""
    rows = _raw_rows(path, kind)
    try:
        header = next(rows)
    except StopIteration:
        raise _bad("file", "the file is empty") from None
    positions = _map_header(header)
    for number, cells in enumerate(rows, start=2):
        if not any(c not in (None, "") for c in cells):
            continue
        yield number, {c: (cells[i] if i < len(cells) else None) for c, i in positions.items()}


def check_file(path: Path, kind: str) -> None:
    """Refuse, before anything is queued, a file that cannot be read or lacks a required column."""
    try:
        rows = _raw_rows(path, kind)
        header = next(rows, None)
        if header is None:
            raise _bad("file", "the file is empty")
        _map_header(header)
        rows.close()
    except UnicodeDecodeError:
        raise _bad("file", "a CSV file must be UTF-8 (save it as 'CSV UTF-8')") from None
    except BadImport:
        raise
    except Exception as exc:  # openpyxl's many ways of saying "not a workbook"
        raise _bad("file", f"not a readable {kind.upper()} file ({type(exc).__name__})") from None


# -- validating rows ------------------------------------------------------------------------------------


class RowError(ValueError):
    pass


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise RowError(f"{name} must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise RowError(f"{name} must be a whole number")
        value = int(value)
    if not isinstance(value, int):
        raw = _text(value)
        if not raw.isdigit() or not raw.isascii():
            raise RowError(f"{name} must be a whole number ({raw!r})" if raw else f"{name} is empty")
        value = int(raw)
    if not low <= value <= high:
        raise RowError(f"{name} must be between {low} and {high}")
    return value


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raw = _text(value).replace("/", "-").replace(".", "-")
    try:
        return date.fromisoformat(raw[:10]) if len(raw) >= 8 else date.fromisoformat(raw)
    except ValueError:
        raise RowError(f"sold_on must be a date like 2026-03-18 ({_text(value)!r})") from None


@dataclass(frozen=True)
class _Sku:
    variant_id: int
    product_id: int
    category_id: int
    producer_id: int
    township: str


@dataclass
class _Resolver:
    """What rows of one import look up again and again: SKUs, programmes per day, certificates."""

    platform: PartnerPlatform
    today: date = field(default_factory=clock.today)
    skus: dict[str, _Sku | None] = field(default_factory=dict)
    programmes: dict[date, int | None] = field(default_factory=dict)
    certificates: dict[tuple[int, date], str | None] = field(default_factory=dict)
    producer_certs: dict[int, list[tuple]] = field(default_factory=dict)
    allowed: set[int] | None = None

    def __post_init__(self) -> None:
        links = self.platform.producer_links
        self.allowed = {link.producer_id for link in links} if links else None

    def load_skus(self, skus: set[str]) -> None:
        wanted = [s for s in skus if s not in self.skus]
        if not wanted:
            return
        for sku in wanted:
            self.skus[sku] = None
        rows = db.session.execute(
            select(
                Variant.sku,
                Variant.id,
                Product.id,
                Product.category_id,
                Product.producer_id,
                Producer.township,
            )
            .join(Product, Product.id == Variant.product_id)
            .join(Producer, Producer.id == Product.producer_id)
            .where(Variant.sku.in_(wanted))
        )
        new_producers = set()
        for sku, vid, pid, cid, producer_id, township in rows:
            self.skus[sku] = _Sku(vid, pid, cid, producer_id, township)
            if producer_id not in self.producer_certs:
                new_producers.add(producer_id)
        if new_producers:
            for producer_id in new_producers:
                self.producer_certs[producer_id] = []
            # Plain values, not ORM objects: the resolver outlives each batch's unit of work.
            certs = db.session.execute(
                select(
                    AidCertificate.producer_id,
                    AidCertificate.valid_from,
                    AidCertificate.valid_until,
                    AidCertificate.revoked,
                    AidCertificate.number,
                )
                .where(AidCertificate.producer_id.in_(sorted(new_producers)))
                .order_by(AidCertificate.valid_from, AidCertificate.id)
            )
            for producer_id, start, until, revoked, number in certs:
                self.producer_certs[producer_id].append((start, until, revoked, number))

    def programme(self, day: date) -> int | None:
        if day not in self.programmes:
            prog = programme_on(day)
            self.programmes[day] = prog.id if prog else None
        return self.programmes[day]

    def certificate(self, producer_id: int, day: date) -> str | None:
        """The number of the producer's certificate valid on ``day`` (as ``Producer.certificate_on``)."""
        key = (producer_id, day)
        if key not in self.certificates:
            self.certificates[key] = next(
                (
                    number
                    for start, until, revoked, number in self.producer_certs[producer_id]
                    if start <= day <= until and not revoked
                ),
                None,
            )
        return self.certificates[key]


@dataclass(frozen=True)
class _Good:
    row: int
    order_id: str
    line: int
    sold_on: date
    sku: _Sku
    quantity: int
    amount_fen: int
    programme_id: int


def _validate(number: int, cells: dict[str, Any], ctx: _Resolver) -> _Good:
    order_id = _text(cells.get("platform_order_id"))
    if not order_id:
        raise RowError("platform_order_id is empty")
    if len(order_id) > MAX_ORDER_ID or not order_id.isprintable():
        raise RowError(f"platform_order_id must be at most {MAX_ORDER_ID} printable characters")
    line = _int(cells.get("line"), "line", 1, MAX_LINE)
    sold_on = _date(cells.get("sold_on"))
    if sold_on > ctx.today:
        raise RowError(f"sold_on {sold_on} is in the future")
    programme_id = ctx.programme(sold_on)
    if programme_id is None:
        raise RowError(f"no aid programme covers {sold_on}")
    sku_text = _text(cells.get("sku"))
    sku = ctx.skus.get(sku_text)
    if sku is None:
        raise RowError(f"unknown SKU {sku_text!r}" if sku_text else "sku is empty")
    if ctx.allowed is not None and sku.producer_id not in ctx.allowed:
        raise RowError(f"SKU {sku_text} is of a producer this platform does not sell for")
    quantity = _int(cells.get("quantity"), "quantity", 1, MAX_QUANTITY)
    amount = _int(cells.get("amount_fen"), "amount_fen", 1, MAX_AMOUNT_FEN)
    return _Good(number, order_id, line, sold_on, sku, quantity, amount, programme_id)


def _shown(cells: dict[str, Any]) -> dict[str, str]:
    return {k: (v.isoformat() if isinstance(v, date) else _text(v))[:200] for k, v in cells.items()}


# -- counting a batch ----------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    accepted_fen: int = 0


def _insert():
    return pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert


def _live_key_where():
    return text("voided = false") if db.engine.dialect.name == "postgresql" else text("voided = 0")


def count_batch(imp: AidImport, ctx: _Resolver, batch: list[tuple[int, dict[str, Any]]]) -> BatchResult:
    """Validate and count one batch of rows of ``imp`` inside the caller's unit of work."""
    result = BatchResult(rows=len(batch))
    ctx.load_skus({_text(cells.get("sku")) for _, cells in batch})
    good: dict[tuple[str, int], _Good] = {}
    rejections = []
    for number, cells in batch:
        try:
            row = _validate(number, cells, ctx)
        except RowError as exc:
            rejections.append(dict(import_id=imp.id, row=number, reason=str(exc), data=_shown(cells)))
            continue
        key = (row.order_id, row.line)
        if key in good:
            result.duplicates += 1  # the same line twice in one file
            continue
        good[key] = row
    if rejections:
        db.session.execute(AidImportRejection.__table__.insert(), rejections)
        result.rejected = len(rejections)
    if good:
        # Sorted keys: every transaction takes the unique-index entries in one order (no deadlock).
        ordered = [good[k] for k in sorted(good)]
        stmt = (
            _insert()(PartnerSale.__table__)
            .on_conflict_do_nothing(
                index_elements=["platform_id", "platform_order_id", "line"], index_where=_live_key_where()
            )
            .returning(PartnerSale.id, PartnerSale.platform_order_id, PartnerSale.line)
        )
        # One statement, executed for every row (SQLAlchemy batches it into multi-row INSERTs).
        inserted = db.session.execute(
            stmt,
            [
                dict(
                    platform_id=imp.platform_id,
                    platform_order_id=g.order_id,
                    line=g.line,
                    import_id=imp.id,
                    row=g.row,
                    variant_id=g.sku.variant_id,
                    sold_on=g.sold_on,
                    quantity=g.quantity,
                    amount_fen=g.amount_fen,
                    voided=False,
                )
                for g in ordered
            ],
        ).all()
        result.duplicates += len(good) - len(inserted)
        entries = []
        for sale_id, order_id, line in sorted(inserted):
            g = good[(order_id, line)]
            cert = ctx.certificate(g.sku.producer_id, g.sold_on)
            entries.append(
                dict(
                    programme_id=g.programme_id,
                    source=imp.source,
                    source_key=f"partner-sale:{sale_id}",
                    reverses_id=None,
                    occurred_at=clock.at_local(g.sold_on),
                    day=g.sold_on,
                    channel=CHANNEL,
                    category_id=g.sku.category_id,
                    product_id=g.sku.product_id,
                    variant_id=g.sku.variant_id,
                    producer_id=g.sku.producer_id,
                    township=g.sku.township,
                    location_id=None,
                    quantity=g.quantity,
                    amount_fen=g.amount_fen,
                    qualifying=cert is not None,
                    certificate_number=cert,
                    direct_purchase=False,
                    buyer_id=None,
                    platform_id=imp.platform_id,
                    created_at=utcnow(),
                )
            )
        result.accepted = len(entries)
        result.accepted_fen = count_rows(entries)
    db.session.execute(
        update(AidImport)
        .where(AidImport.id == imp.id)
        .values(
            rows_done=AidImport.rows_done + result.rows,
            accepted=AidImport.accepted + result.accepted,
            duplicates=AidImport.duplicates + result.duplicates,
            rejected_count=AidImport.rejected_count + result.rejected,
            accepted_fen=AidImport.accepted_fen + result.accepted_fen,
        )
        .execution_options(synchronize_session=False)
    )
    return result


# -- uploads and the task ----------------------------------------------------------------------------------


def import_dir() -> Path:
    path = Path(current_app.extensions["settings"].DATA_DIR) / "aid-imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _kind(filename: str) -> str:
    name = filename.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith(".xlsx"):
        return "xlsx"
    raise _bad("file", "a .csv (UTF-8) or .xlsx file")


def start_import(officer: User, *, platform_code: str, filename: str, save_to) -> AidImport:
    """Store an uploaded sales file and queue its import; ``save_to(path)`` writes the upload there.

    The header is checked now (422 when a column is missing or the file unreadable); the rows are the
    task's. Runs inside the caller's unit of work: the task's message leaves after the commit.
    """
    _require_officer(officer)
    platform = get_platform(platform_code)
    kind = _kind(filename or "")
    stored = f"{uuid.uuid4().hex}.{kind}"
    path = import_dir() / stored
    save_to(path)
    try:
        check_file(path, kind)
    except BadImport:
        path.unlink(missing_ok=True)
        raise
    imp = AidImport(
        platform_id=platform.id,
        kind=kind,
        status="queued",
        filename=(filename or "")[-200:],
        stored_name=stored,
        size_bytes=path.stat().st_size,
        uploaded_by_id=officer.id,
    )
    db.session.add(imp)
    db.session.flush()
    audit(officer, "aid.import_uploaded", target_type="aid_import", target_id=imp.id, platform=platform.code)
    enqueue(TASK, {"import_id": imp.id}, queue="reports")
    return imp


def _batches(rows: Iterator[tuple[int, dict]], size: int) -> Iterator[list[tuple[int, dict]]]:
    batch: list[tuple[int, dict]] = []
    for item in rows:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Overtaken(Exception):
    """Another worker processed this import's rows meanwhile (a redelivered message)."""


def process_import(import_id: int, *, batch_rows: int = BATCH_ROWS) -> AidImport | None:
    """Count the rows of a queued (or interrupted) import, batch by batch; safe to run again."""
    with atomic():
        imp = db.session.get(AidImport, import_id)
        if imp is None or imp.status in ("done", "failed") or imp.kind == "api":
            return imp
        imp.status = "running"
        imp.started_at = imp.started_at or utcnow()
        offset = imp.rows_done
        platform_id = imp.platform_id
    path = import_dir() / imp.stored_name
    done = 0  # data rows seen (blank rows are not rows)
    ctx: _Resolver | None = None  # lookups kept across batches (SKUs, programmes per day, certificates)
    try:
        rows = read_rows(path, imp.kind)
        for batch in _batches(rows, batch_rows):
            if done + len(batch) <= offset:  # committed before an interruption
                done += len(batch)
                continue
            batch = batch[max(0, offset - done) :]
            with atomic():
                locked = db.session.scalar(
                    select(AidImport).where(AidImport.id == import_id).with_for_update()
                )
                if locked.rows_done != max(offset, done) or locked.status != "running":
                    raise _Overtaken
                if ctx is None:
                    ctx = _Resolver(db.session.get(PartnerPlatform, platform_id))
                count_batch(locked, ctx, batch)
            done = max(offset, done) + len(batch)
    except _Overtaken:
        log.info("aid import %s: overtaken by another worker", import_id)
        return db.session.get(AidImport, import_id)
    except (BadImport, UnicodeDecodeError, OSError, ValueError) as exc:
        message = exc.detail if isinstance(exc, BadImport) else f"{type(exc).__name__}: {exc}"
        with atomic():
            db.session.execute(
                update(AidImport)
                .where(AidImport.id == import_id)
                .values(status="failed", error=str(message)[:2000], finished_at=utcnow())
            )
        log.warning("aid import %s failed: %s", import_id, message)
        return db.session.get(AidImport, import_id)
    with atomic():
        db.session.execute(
            update(AidImport)
            .where(AidImport.id == import_id, AidImport.status == "running")
            .values(status="done", finished_at=utcnow())
        )
    return db.session.get(AidImport, import_id)


def push_sales(platform: PartnerPlatform, rows: list[dict[str, Any]]) -> AidImport:
    """Count rows a platform pushed with its API key, as an import of kind ``api`` (in the caller's unit
    of work); the rows are numbered from 1 in the order sent."""
    if not rows:
        raise _bad("rows", "at least one row")
    if len(rows) > MAX_PUSH_ROWS:
        raise _bad("rows", f"at most {MAX_PUSH_ROWS} rows per request")
    imp = AidImport(platform_id=platform.id, kind="api", status="running", started_at=utcnow())
    db.session.add(imp)
    db.session.flush()
    batch = [(i, {c: row.get(c) for c in REQUIRED}) for i, row in enumerate(rows, start=1)]
    count_batch(imp, _Resolver(platform), batch)
    imp.status, imp.finished_at = "done", utcnow()
    db.session.flush()
    db.session.refresh(imp)
    return imp


# -- reading and voiding imports ---------------------------------------------------------------------------------


def get_import(import_id: int) -> AidImport:
    imp = db.session.get(AidImport, import_id)
    if imp is None:
        raise ImportNotFound(f"no sales import {import_id}")
    return imp


def list_imports(*, platform_code: str | None, page: int, per_page: int) -> tuple[list[AidImport], int]:
    stmt = select(AidImport).order_by(AidImport.id.desc())
    if platform_code:
        stmt = stmt.where(AidImport.platform_id == get_platform(platform_code).id)
    return page_of(stmt, page=page, per_page=per_page)


def rejections(import_id: int, *, limit: int | None = None) -> list[AidImportRejection]:
    stmt = (
        select(AidImportRejection)
        .where(AidImportRejection.import_id == import_id)
        .order_by(AidImportRejection.row, AidImportRejection.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(db.session.scalars(stmt))


def rejected_csv(import_id: int) -> Iterator[str]:
    """The rejected rows of an import as CSV (the import columns, the row number and the reason; UTF-8
    with a BOM, formula-safe cells), read on its own connection so it can stream after the request."""
    engine = db.engine
    table = AidImportRejection.__table__

    def body() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["row", *REQUIRED, "reason"])
        yield "\ufeff" + buf.getvalue()
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=1000).execute(
                select(table.c.row, table.c.data, table.c.reason)
                .where(table.c.import_id == import_id)
                .order_by(table.c.row, table.c.id)
            )
            for row, data, reason in result:
                buf.seek(0)
                buf.truncate()
                writer.writerow(safe_row([row, *((data or {}).get(c, "") for c in REQUIRED), reason]))
                yield buf.getvalue()

    return body()


def void_import(officer: User, import_id: int, *, reason: str) -> AidImport:
    """Take back every line an import counted: reverse its entries (dated today) and free its keys."""
    _require_officer(officer)
    reason = (reason or "").strip()
    if not reason:
        raise _bad("reason", "required")
    imp = get_import(import_id)
    won = db.session.execute(
        update(AidImport)
        .where(
            AidImport.id == import_id,
            AidImport.status.in_(("done", "failed")),
            AidImport.voided_at.is_(None),
        )
        .values(voided_at=utcnow(), voided_by_id=officer.id, void_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(imp)
    if not won:
        if imp.voided_at is not None:
            return imp
        raise ImportNotVoidable(f"import {import_id} is {imp.status}; wait until it has finished")
    now = utcnow()
    day = clock.local_day(now)
    source = f"partner-void:{imp.id}"
    last_id = 0
    while True:
        originals = list(
            db.session.scalars(
                select(AidEntry)
                .where(AidEntry.source == imp.source, AidEntry.reverses_id.is_(None), AidEntry.id > last_id)
                .order_by(AidEntry.id)
                .limit(BATCH_ROWS)
            )
        )
        if not originals:
            break
        last_id = originals[-1].id
        count_rows(
            [
                dict(
                    programme_id=e.programme_id,
                    source=source,
                    source_key=f"partner-void:{e.source_key}",
                    reverses_id=e.id,
                    occurred_at=now,
                    day=day,
                    channel=e.channel,
                    category_id=e.category_id,
                    product_id=e.product_id,
                    variant_id=e.variant_id,
                    producer_id=e.producer_id,
                    township=e.township,
                    location_id=e.location_id,
                    quantity=-e.quantity,
                    amount_fen=-e.amount_fen,
                    qualifying=e.qualifying,
                    certificate_number=e.certificate_number,
                    direct_purchase=e.direct_purchase,
                    buyer_id=e.buyer_id,
                    platform_id=e.platform_id,
                    created_at=now,
                )
                for e in originals
            ]
        )
    db.session.execute(
        update(PartnerSale)
        .where(PartnerSale.import_id == imp.id)
        .values(voided=True)
        .execution_options(synchronize_session=False)
    )
    audit(officer, "aid.import_voided", target_type="aid_import", target_id=imp.id, reason=reason)
    return imp


def import_dict(imp: AidImport, *, rejected_limit: int = 1000) -> dict:
    return {
        "id": imp.id,
        "platform": imp.platform.code,
        "kind": imp.kind,
        "filename": imp.filename,
        "status": imp.status,
        "rows": imp.rows_done,
        "accepted": imp.accepted,
        "duplicates": imp.duplicates,
        "rejected_count": imp.rejected_count,
        "rejected": [{"row": r.row, "reason": r.reason} for r in rejections(imp.id, limit=rejected_limit)],
        "accepted_fen": imp.accepted_fen,
        "currency": "CNY",
        "error": imp.error,
        "created_at": imp.created_at,
        "started_at": imp.started_at,
        "finished_at": imp.finished_at,
        "uploaded_by": imp.uploaded_by_id,
        "voided": imp.voided_at is not None,
        "voided_at": imp.voided_at,
        "void_reason": imp.void_reason,
    }


# -- reconciliation ------------------------------------------------------------------------------------------


def _check_imports() -> Iterator[Difference]:
    """Each import's counted entries equal the amount of the lines it put in, and a voided import nets
    to zero."""
    counted = counted_by_source("partner-import:")
    lines = dict(
        db.session.execute(
            select(PartnerSale.import_id, func.sum(PartnerSale.amount_fen)).group_by(PartnerSale.import_id)
        ).all()
    )
    for import_id, amount in lines.items():
        got = counted.pop(f"partner-import:{import_id}", 0)
        if got != int(amount or 0):
            yield Difference("partner_imports", f"partner-import:{import_id}", got, int(amount or 0))
    for source, got in counted.items():
        yield Difference("partner_imports", source, got, 0, "entries without imported lines")
    voided = db.session.scalars(select(AidImport.id).where(AidImport.voided_at.is_not(None)))
    for import_id in voided:
        net = db.session.scalar(
            select(func.coalesce(func.sum(AidEntry.amount_fen), 0)).where(
                AidEntry.source.in_((f"partner-import:{import_id}", f"partner-void:{import_id}"))
            )
        )
        if int(net or 0) != 0:
            yield Difference(
                "partner_imports", f"partner-void:{import_id}", int(net), 0, "voided, not net zero"
            )


register_source_checker("partner_imports", _check_imports)
