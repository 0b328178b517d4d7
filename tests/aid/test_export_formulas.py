"""Names that start like a formula stay text in both exports (issue #13, item 9)."""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation

from openpyxl import load_workbook
from sqlalchemy import select

from shop.aid.models import AidProgramme
from shop.catalog.models import Location, Producer, Product
from shop.core.db import atomic, db
from tests.aid.conftest import CODE, load_known_set

DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "＝")
NAMES = {
    "programme": '=HYPERLINK("http://evil.example","点此")',
    "producer": "+cmd|' /C calc'!A0",
    "product": "-2+3+cmd|' /C calc'!A0",
    "location": "@SUM(1,1)*cmd|' /C calc'!A0",
}


def _number(text: str) -> bool:
    try:
        Decimal(text)
    except InvalidOperation:
        return False
    return True


def _rename() -> None:
    with atomic():
        db.session.scalar(select(AidProgramme).where(AidProgramme.code == CODE)).name_zh = NAMES["programme"]
        db.session.scalar(select(Producer).where(Producer.name_zh == "甘谷线椒专业合作社")).name_zh = NAMES[
            "producer"
        ]
        db.session.scalar(select(Product).where(Product.name_zh == "花牛苹果")).name_zh = NAMES["product"]
        db.session.scalar(select(Location).where(Location.code == "DL-HM")).name_zh = NAMES["location"]


def test_csv_cells_never_start_a_formula(officer_api, seeded):
    _rename()
    load_known_set()
    r = officer_api.get(f"/api/v1/aid/programmes/{CODE}/export?format=csv")
    assert r.status_code == 200
    rows = list(csv.reader(io.StringIO(r.get_data().decode("utf-8").removeprefix("\ufeff"))))
    cells = [c for row in rows for c in row]
    assert not [c for c in cells if c.startswith(DANGEROUS) and not _number(c)]  # -68.00 is a number
    for name in ("producer", "product", "location"):
        assert "'" + NAMES[name] in cells  # shown as written, behind the text marker


def test_xlsx_cells_are_never_formulas(officer_api, seeded):
    _rename()
    load_known_set()
    r = officer_api.get(f"/api/v1/aid/programmes/{CODE}/export?format=xlsx")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.get_data()))
    cells = [cell for ws in wb.worksheets for row in ws.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not [t for t in texts if t.startswith(DANGEROUS)]
    assert any(NAMES["programme"] in t for t in texts)  # the summary names the programme
    for name in ("producer", "product", "location"):
        assert "'" + NAMES[name] in texts
