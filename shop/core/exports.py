"""Cells for spreadsheets the shop hands out (CSV and XLSX exports): text can never become a formula.

A name typed by a producer, an admin or a buyer that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab
or carriage return, which some spreadsheets strip before looking) is read as a formula by Excel, WPS and
LibreOffice when the file is opened: ``=HYPERLINK(...)`` or ``=cmd|...`` in a programme or product name
would run on an officer's PC. openpyxl even stores such a string as a live formula in an XLSX.

Every export passes every cell through ``safe_cell`` (or a whole row through ``safe_row``): such text
gets a leading apostrophe, the spreadsheet convention for "this is text", and is shown as written.
Numbers, dates and ``Decimal`` amounts pass unchanged, so sums still work. This is the one place the
rule lives (docs/architecture.md, "Exports"); a new export uses it rather than its own escaping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection"), plus their
# full-width forms, which Chinese input methods type and some spreadsheets also accept.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def safe_cell(value: Any) -> Any:
    """Return ``value`` as it may go into a spreadsheet cell: text that would start a formula is
    prefixed with an apostrophe; anything that is not text is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    """``safe_cell`` applied to every value of a row."""
    return [safe_cell(v) for v in values]
