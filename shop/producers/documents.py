"""A statement as a PDF (reportlab, Chinese with the built-in STSong-Light font) and as XLSX."""

from __future__ import annotations

import io

from openpyxl import Workbook
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from shop.catalog.models import Producer
from shop.core import clock
from shop.core.db import db
from shop.core.exports import safe_row
from shop.producers.models import Statement, StatementLine
from shop.producers.settlement import statement_lines

FONT = "STSong-Light"  # a CID font every PDF reader has: nothing to ship or embed
CHANNEL_ZH = {"online": "线上", "hall": "展馆", "preorder": "认购", "card": "提货卡", "work_unit": "单位采购"}
KIND_ZH = {"sale": "销售", "refund": "退款"}
STATUS_ZH = {"draft": "草稿", "approved": "已审核", "paid": "已付款"}
LINE_HEADERS = (
    "日期",
    "渠道",
    "类型",
    "单号",
    "商品编码",
    "商品",
    "数量",
    "金额(元)",
    "费率(‱)",
    "服务费(元)",
    "应付(元)",
)


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def _summary(statement: Statement, producer: Producer) -> list[tuple[str, str]]:
    return [
        ("生产主体 Producer", f"{producer.name_zh} ({producer.code})"),
        ("结算期间 Period", statement.period),
        ("状态 Status", STATUS_ZH[statement.status]),
        ("销售额 Gross (元)", yuan(statement.gross_fen)),
        ("退款 Refunds (元)", yuan(statement.refunds_fen)),
        ("服务费 Fee (元)", yuan(statement.fee_fen)),
        ("应付金额 Payable (元)", yuan(statement.payable_fen)),
        ("付款凭证号 Bank reference", statement.paid_reference or ""),
    ]


def _line_cells(line: StatementLine) -> list:
    return [
        clock.format_local(line.occurred_at, "%Y-%m-%d"),
        CHANNEL_ZH.get(line.channel, line.channel),
        KIND_ZH[line.kind],
        line.reference,
        line.sku,
        line.name_zh,
        line.quantity,
        yuan(line.amount_fen),
        line.fee_bp,
        yuan(line.fee_fen),
        yuan(line.amount_fen - line.fee_fen),
    ]


def statement_pdf(statement: Statement) -> bytes:
    """The statement on A4 in Chinese: summary, then every line."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    producer = db.session.get(Producer, statement.producer_id)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=14 * mm, bottomMargin=14 * mm,
        title=f"结算单 {producer.code} {statement.period}", author="甘谷消费帮扶商城",
    )  # fmt: skip
    title = ParagraphStyle("t", fontName=FONT, fontSize=16, leading=22)
    small = ParagraphStyle("s", fontName=FONT, fontSize=7, leading=9)
    summary = Table([[k, v] for k, v in _summary(statement, producer)], colWidths=[55 * mm, 120 * mm])
    summary.setStyle(
        TableStyle([("FONT", (0, 0), (-1, -1), FONT, 10), ("GRID", (0, 0), (-1, -1), 0.3, colors.grey)])
    )
    rows = [list(LINE_HEADERS)]
    for line in statement_lines(statement):
        cells = _line_cells(line)
        cells[5] = Paragraph(str(cells[5]), small)
        rows.append(cells)
    lines = Table(rows, repeatRows=1, colWidths=[17, 12, 9, 24, 22, 38, 9, 16, 10, 14, 16])
    lines._argW = [w * mm for w in lines._argW]
    lines.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 7),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("ALIGN", (6, 1), (-1, -1), "RIGHT"),
            ]
        )
    )
    story = [
        Paragraph(f"结算单 · {producer.name_zh} · {statement.period}", title),
        Spacer(1, 4 * mm),
        summary,
        Spacer(1, 6 * mm),
        lines,
        Spacer(1, 4 * mm),
        Paragraph(
            "应付金额 = 销售额 - 退款 - 服务费。服务费按每行销售时生效的费率计算，不足一分舍去。", small
        ),
    ]
    doc.build(story)
    return buf.getvalue()


def statement_xlsx(statement: Statement) -> bytes:
    """The statement as a workbook with Chinese headers: a summary sheet and a lines sheet."""
    producer = db.session.get(Producer, statement.producer_id)
    wb = Workbook(write_only=True)
    summary = wb.create_sheet("结算汇总")
    for key, value in _summary(statement, producer):
        summary.append(safe_row([key, value]))
    sheet = wb.create_sheet("结算明细")
    sheet.append(list(LINE_HEADERS))
    for line in statement_lines(statement):
        sheet.append(safe_row(_line_cells(line)))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
