"""Official exports of the aid ledger: CSV and XLSX with Chinese headers, for a bounded date range.

One row per ledger entry (sales and refund reversals) in the range, read in keyset batches so memory stays
flat, and a 合计 row that sums exactly the rows written. The XLSX also has a 汇总 sheet with the totals
and breakdowns as the totals API reports them. The range lies within the programme's period and spans
at most ``MAX_DAYS``; the row count (known from the rollups before anything is read) is bounded too.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import IO

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from shop.aid.errors import ExportTooLarge
from shop.aid.models import AidEntry, AidProgramme, AidRollup, PartnerPlatform
from shop.aid.reports import CHANNEL_NAMES, DateRange, programme_totals, resolve_range
from shop.catalog.models import Category, Location, Producer, Product, Variant
from shop.core.db import db, read_engine
from shop.core.exports import safe_row

MAX_DAYS = 366
MAX_ROWS = {"csv": 1_000_000, "xlsx": 200_000}
BATCH = 2_000
FORMATS = ("csv", "xlsx")

HEADERS = [
    "日期",
    "来源单号",
    "记录类型",
    "渠道",
    "统计类别",
    "产品类别",
    "产品",
    "商品编码",
    "生产主体",
    "乡镇",
    "销售地点",
    "数量",
    "消费帮扶金额（元）",
    "认定扶贫产品",
    "认定证书编号",
]
DIRECT, HELPED = "直接采购", "帮助销售"
YES, NO = "是", "否"
SALE, REVERSAL = "销售", "退款冲减"
TOTAL_LABEL = "合计"


def yuan(fen: int) -> Decimal:
    """Exact yuan with two decimals (never a float): 6850 -> Decimal('68.50')."""
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ExportRequest:
    programme: AidProgramme
    range: DateRange
    format: str
    rows: int

    @property
    def filename(self) -> str:
        return f"aid-{self.programme.code}-{self.range.start:%Y%m%d}-{self.range.end:%Y%m%d}.{self.format}"


def plan_export(programme: AidProgramme, *, fmt: str, start: date | None, end: date | None) -> ExportRequest:
    """Check the range and size of an export before anything is streamed (errors are clean 422s)."""
    rng = resolve_range(programme, start, end, max_days=MAX_DAYS)
    rows = int(
        db.session.scalar(
            select(func.coalesce(func.sum(AidRollup.entries), 0)).where(
                AidRollup.programme_id == programme.id, AidRollup.day >= rng.start, AidRollup.day <= rng.end
            )
        )
        or 0
    )
    if rows > MAX_ROWS[fmt]:
        raise ExportTooLarge(
            f"{rows} ledger rows in this range; a {fmt} export holds at most {MAX_ROWS[fmt]}: narrow the range"
        )
    return ExportRequest(programme, rng, fmt, rows)


def _entry_rows(req: ExportRequest, conn: Connection) -> Iterator[tuple]:
    e = AidEntry
    stmt = (
        select(
            e.id,
            e.day,
            e.source,
            e.reverses_id,
            e.channel,
            e.direct_purchase,
            Category.name_zh,
            Product.name_zh,
            Variant.sku,
            Producer.name_zh,
            e.township,
            func.coalesce(Location.name_zh, PartnerPlatform.name_zh),
            e.quantity,
            e.amount_fen,
            e.qualifying,
            e.certificate_number,
        )
        .join(Category, Category.id == e.category_id)
        .join(Product, Product.id == e.product_id)
        .join(Variant, Variant.id == e.variant_id)
        .join(Producer, Producer.id == e.producer_id)
        .outerjoin(Location, Location.id == e.location_id)
        .outerjoin(PartnerPlatform, PartnerPlatform.id == e.platform_id)
        .where(e.programme_id == req.programme.id, e.day >= req.range.start, e.day <= req.range.end)
        .order_by(e.day, e.id)
        .limit(BATCH)
    )
    last: tuple[date, int] | None = None
    while True:
        page = (
            stmt if last is None else stmt.where(or_(e.day > last[0], and_(e.day == last[0], e.id > last[1])))
        )
        rows = conn.execute(page).all()
        yield from rows
        if len(rows) < BATCH:
            return
        last = (rows[-1][1], rows[-1][0])


def _cells(row: tuple) -> list:
    """One ledger entry as export cells; names typed by people cannot become formulas (``safe_row``)."""
    (_id, day, source, reverses_id, channel, direct, category, product, sku, producer, township, location,
     quantity, amount, qualifying, cert) = row  # fmt: skip
    return safe_row(
        [
            day,
            source,
            REVERSAL if reverses_id else SALE,
            CHANNEL_NAMES[channel][0],
            DIRECT if direct else HELPED,
            category,
            product,
            sku,
            producer,
            township,
            location or "",
            quantity,
            yuan(amount),
            YES if qualifying else NO,
            cert or "",
        ]
    )


def _total_row(quantity: int, amount: int) -> list:
    row: list = [TOTAL_LABEL] + [""] * (len(HEADERS) - 1)
    row[HEADERS.index("数量")] = quantity
    row[HEADERS.index("消费帮扶金额（元）")] = yuan(amount)
    return row


def csv_stream(req: ExportRequest) -> Iterator[str]:
    """Return the CSV as an iterator for a streamed response.

    The body is produced after the view has returned, outside the request's session, so it reads the
    ledger on its own pooled connection (no app context needed) and gives it back when done or when
    the client goes away: on the replica when planned inside ``reporting()`` (``read_engine``).
    """
    engine = read_engine()
    plain = ExportRequest(_Ref(req.programme.id, req.programme.code), req.range, req.format, req.rows)

    def body() -> Iterator[str]:
        with engine.connect() as conn:
            yield from iter_csv(plain, conn)  # type: ignore[arg-type]

    return body()


@dataclass(frozen=True)
class _Ref:
    id: int
    code: str


def iter_csv(req: ExportRequest, conn: Connection) -> Iterator[str]:
    """Yield the CSV in chunks: UTF-8 with a BOM so Excel opens the Chinese headers correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    buf.write("\ufeff")
    writer.writerow(HEADERS)
    quantity = amount = 0
    for n, row in enumerate(_entry_rows(req, conn), start=1):
        cells = _cells(row)
        quantity += row[12]
        amount += row[13]
        cells[0] = cells[0].isoformat()
        writer.writerow(cells)
        if n % 500 == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    writer.writerow(_total_row(quantity, amount))
    yield buf.getvalue()


def write_xlsx(req: ExportRequest) -> IO[bytes]:
    """Write the XLSX (汇总 and 明细 sheets) to a temporary file and return it, rewound."""
    # why: openpyxl (about 15 MB) is loaded by the processes that write a workbook, not by all at start
    from openpyxl import Workbook, cell

    wb = Workbook(write_only=True)
    summary = wb.create_sheet("汇总")
    for row in summary_rows(req):
        summary.append(safe_row(row))
    detail = wb.create_sheet("明细")
    detail.append(HEADERS)
    money_col = HEADERS.index("消费帮扶金额（元）")

    def styled(cells: list) -> list:
        day = cell.WriteOnlyCell(detail, value=cells[0])
        if isinstance(cells[0], date):
            day.number_format = "yyyy-mm-dd"
        money = cell.WriteOnlyCell(detail, value=cells[money_col])
        money.number_format = "#,##0.00"
        return [day, *cells[1:money_col], money, *cells[money_col + 1 :]]

    quantity = amount = 0
    for row in _entry_rows(req, db.session.connection()):
        quantity += row[12]
        amount += row[13]
        detail.append(styled(_cells(row)))
    detail.append(styled(_total_row(quantity, amount)))
    out = tempfile.TemporaryFile()  # noqa: SIM115 - handed to send_file, which closes it
    wb.save(out)
    out.seek(0)
    return out


def summary_rows(req: ExportRequest) -> list[list]:
    """The 汇总 sheet: totals and every breakdown, in the official wording."""
    t = programme_totals(req.programme, req.range)
    rows: list[list] = [
        ["帮扶计划", f"{req.programme.name_zh}（{req.programme.code}）"],
        ["统计期间", f"{req.range.start.isoformat()} 至 {req.range.end.isoformat()}"],
        ["消费帮扶目标（元）", yuan(t["target_fen"])],
        ["消费帮扶金额（元）", yuan(t["total_fen"])],
        ["其中：认定扶贫产品（元）", yuan(t["qualifying_fen"])],
        ["非认定产品（元）", yuan(t["non_qualifying_fen"])],
        [f"{DIRECT}（元）", yuan(t["direct_purchase_fen"])],
        [f"{HELPED}（元）", yuan(t["helped_sales_fen"])],
        ["完成进度", f"{Decimal(str(t['progress'])) * 100:.2f}%"],
        ["带动生产主体（家）", t["producers_reached"]],
        ["带动产品（种）", t["products_reached"]],
        ["联结建档立卡贫困户（户）", t["households_linked"]],
        # Pickup cards count when they pay for goods; what they still hold is reported apart, not as aid.
        ["提货卡发行金额（元，不计入帮扶）", yuan(t["card_issued_fen"])],
        ["提货卡未兑付余额（元，不计入帮扶）", yuan(t["unredeemed_card_fen"])],
        ["提货卡过期未兑付（元，不计入帮扶）", yuan(t["expired_card_fen"])],
        # Charity sales: the goods part is in the totals above (channel 义卖); the donations never are.
        ["义卖成交（件）", t["charity"]["count"]],
        ["义卖货款（元，已计入帮扶）", yuan(t["charity"]["sales_fen"])],
        ["义卖捐赠部分（元，不计入帮扶）", yuan(t["charity"]["donated_fen"])],
    ]
    for title, key in (
        ("渠道", "by_channel"),
        ("产品类别", "by_category"),
        ("乡镇", "by_township"),
        ("生产主体", "by_producer"),
        ("销售地点", "by_location"),
        ("月份", "by_month"),
        ("合作电商平台", "by_platform"),
        ("展会", "by_fair"),
    ):
        rows.append([])
        rows.append([title, "消费帮扶金额（元）", "其中：认定扶贫产品（元）"])
        rows.extend([item["name"], yuan(item["total_fen"]), yuan(item["qualifying_fen"])] for item in t[key])
    return rows
