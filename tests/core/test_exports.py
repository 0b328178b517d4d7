"""Spreadsheet cells the shop hands out can never be formulas (issue #13, item 9): one helper,
``shop.core.exports.safe_cell``, and every module that writes CSV or XLSX uses it."""

from __future__ import annotations

import ast
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from shop.core.exports import safe_cell, safe_row

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text",
    ['=HYPERLINK("http://x","y")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "＝1+1"],
)
def test_text_that_would_start_a_formula_is_kept_as_text(text):
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["甘谷线椒", "order:12", "", "a=b", 5, -5, Decimal("-68.00"), None])
def test_everything_else_passes_unchanged(value):
    assert safe_cell(value) == value


def test_a_row_keeps_dates_and_amounts():
    day = date(2026, 1, 2)
    assert safe_row([day, "=1", Decimal("1.50"), 3]) == [day, "'=1", Decimal("1.50"), 3]


WRITERS = {"writer", "DictWriter", "Workbook"}  # csv.writer, csv.DictWriter, openpyxl.Workbook


def _writes_spreadsheets(tree: ast.Module) -> bool:
    """Whether the module makes a CSV writer or an XLSX workbook (reading a file people upload is not
    writing one)."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").split(".")[0] in ("csv", "openpyxl")
            and any(a.name in WRITERS for a in node.names)
        ):
            return True
        if isinstance(node, ast.Attribute) and node.attr in WRITERS:
            base = node.value
            if isinstance(base, ast.Name) and base.id in ("csv", "openpyxl"):
                return True
    return False


def _uses_safe_cells(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom) and node.module == "shop.core.exports" for node in ast.walk(tree)
    )


def test_every_module_that_writes_csv_or_xlsx_uses_the_one_helper():
    writers = []
    for path in sorted((ROOT / "shop").rglob("*.py")):
        if path.name == "exports.py" and path.parent.name == "core":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if _writes_spreadsheets(tree):
            writers.append((path.relative_to(ROOT).as_posix(), _uses_safe_cells(tree)))
    assert writers, "the aid exports write CSV and XLSX"
    assert [name for name, safe in writers if not safe] == [], "use shop.core.exports.safe_cell"
