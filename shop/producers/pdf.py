"""A statement laid out on A4 with reportlab, in Chinese with the built-in STSong-Light font.

Only ``documents.statement_pdf`` imports this module, and only when it renders a PDF: reportlab is
about 15 MB that a worker or web process which never renders a statement does not load at start
(tests/test_lazy_imports.py). It knows nothing of statements: it is given the texts and cells.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"  # a CID font every PDF reader has: nothing to ship or embed
LINE_WIDTHS_MM = (17, 12, 9, 24, 22, 38, 9, 16, 10, 14, 16)


def render(
    *,
    title: str,
    author: str,
    heading: str,
    summary: Sequence[tuple[str, str]],
    headers: Sequence[str],
    rows: Sequence[list],
    wrap_column: int,
    note: str,
) -> bytes:
    """The summary as a two-column table, then every row (``wrap_column`` as wrapping text), then the note."""
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf, pagesize=A4, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=14 * mm, bottomMargin=14 * mm,
        title=title, author=author,
    )  # fmt: skip
    title_style = ParagraphStyle("t", fontName=FONT, fontSize=16, leading=22)
    small = ParagraphStyle("s", fontName=FONT, fontSize=7, leading=9)
    summary_table = Table([[k, v] for k, v in summary], colWidths=[55 * mm, 120 * mm])
    summary_table.setStyle(
        TableStyle([("FONT", (0, 0), (-1, -1), FONT, 10), ("GRID", (0, 0), (-1, -1), 0.3, colors.grey)])
    )
    cells = [list(headers)]
    for row in rows:
        row = list(row)
        row[wrap_column] = Paragraph(str(row[wrap_column]), small)
        cells.append(row)
    lines = Table(cells, repeatRows=1, colWidths=list(LINE_WIDTHS_MM))
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
        Paragraph(heading, title_style),
        Spacer(1, 4 * mm),
        summary_table,
        Spacer(1, 6 * mm),
        lines,
        Spacer(1, 4 * mm),
        Paragraph(note, small),
    ]
    doc.build(story)
    return buf.getvalue()
