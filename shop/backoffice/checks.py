"""Field checks shared by the back office's use cases: each failure names its field and says what is
wrong in a short English message, which pages translate (messages.po) and the API returns as is."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from shop.core.errors import ValidationFailed

MAX_PRICE_FEN = 100_000_000  # one million yuan for one unit: anything above is a typo
MAX_COUNT = 10_000_000

# The messages (English msgids; Chinese in messages.po).
REQUIRED = "required"
TOO_LONG = "too long"
BAD_PRODUCER_CODE = "lower-case letters, digits and dashes, 2 to 60 characters"
BAD_LOCATION_CODE = "capital letters, digits and dashes, 2 to 40 characters"
BAD_SKU = "capital letters, digits and dashes, 2 to 60 characters"
NOT_A_TOWNSHIP = "not a township of Gangu County"
UNKNOWN_KIND = "unknown kind"
NOT_A_NUMBER = "a whole number, 0 or more"
OUT_OF_RANGE = "out of range"
BAD_PRICE = "a price above 0 yuan"
BAD_DATE = "a date written YYYY-MM-DD"
BEFORE_START = "before the first day"
FAIR_NEEDS_DATES = "a fair booth needs its first and last day"
UNKNOWN_CATEGORY = "unknown category"
UNKNOWN_PRODUCER = "unknown producer"
PRODUCER_INACTIVE = "this producer is deactivated"
ALREADY_TAKEN = "already taken"
REPEATED = "used twice in this form"
NEEDS_A_VARIANT = "at least one variant"

PRODUCER_CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,59}")
LOCATION_CODE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,39}")
SKU = re.compile(r"[A-Z0-9][A-Z0-9-]{1,59}")


class Problems:
    """Collect field errors, then raise them together (so a page marks every wrong field at once)."""

    def __init__(self) -> None:
        self.errors: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append({"field": field, "message": message})

    def text(self, field: str, value, *, max_len: int, required: bool = False) -> str:
        value = (value or "").strip() if isinstance(value, str) or value is None else value
        if not isinstance(value, str):
            self.add(field, REQUIRED)
            return ""
        if required and not value:
            self.add(field, REQUIRED)
        elif len(value) > max_len:
            self.add(field, TOO_LONG)
        return value

    def pattern(self, field: str, value, regex: re.Pattern, message: str) -> str:
        value = (value or "").strip() if isinstance(value, str) else ""
        if not value:
            self.add(field, REQUIRED)
        elif not regex.fullmatch(value):
            self.add(field, message)
        return value

    def choice(self, field: str, value, allowed: Iterable[str]) -> str:
        if value not in tuple(allowed):
            self.add(field, UNKNOWN_KIND)
        return value

    def count(self, field: str, value, *, maximum: int = MAX_COUNT) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            self.add(field, NOT_A_NUMBER)
            return 0
        if value > maximum:
            self.add(field, OUT_OF_RANGE)
        return value

    def price(self, field: str, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_PRICE_FEN:
            self.add(field, BAD_PRICE)
            return 0
        return value

    def date_range(self, first: date | None, last: date | None, *, last_field: str) -> None:
        if first and last and last < first:
            self.add(last_field, BEFORE_START)

    def raise_if_any(self, detail: str = "") -> None:
        if self.errors:
            raise ValidationFailed(
                detail or "; ".join(f"{e['field']}: {e['message']}" for e in self.errors), errors=self.errors
            )
