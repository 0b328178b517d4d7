"""A statement as a PDF (reportlab, Chinese with the built-in STSong-Light font) and as XLSX.

reportlab (through ``shop.producers.pdf``) and openpyxl are imported when a document is made, not with
this module: every worker and web process imports it at start, few of them ever render a statement.
"""

from __future__ import annotations

import io

from shop.catalog.models import Producer
from shop.core import clock
from shop.core.db import db
from shop.core.exports import safe_row
from shop.producers.models import Statement, StatementLine
from shop.producers.settlement import statement_lines

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
    # why: reportlab (about 15 MB) is loaded by the processes that render a PDF, not by all at start
    from shop.producers import pdf

    producer = db.session.get(Producer, statement.producer_id)
    return pdf.render(
        title=f"结算单 {producer.code} {statement.period}",
        author="甘谷消费帮扶商城",
        heading=f"结算单 · {producer.name_zh} · {statement.period}",
        summary=_summary(statement, producer),
        headers=LINE_HEADERS,
        rows=[_line_cells(line) for line in statement_lines(statement)],
        wrap_column=LINE_HEADERS.index("商品"),
        note="应付金额 = 销售额 - 退款 - 服务费。服务费按每行销售时生效的费率计算，不足一分舍去。",
    )


def statement_xlsx(statement: Statement) -> bytes:
    """The statement as a workbook with Chinese headers: a summary sheet and a lines sheet."""
    # why: openpyxl (about 15 MB) is loaded by the processes that write a workbook, not by all at start
    from openpyxl import Workbook

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
