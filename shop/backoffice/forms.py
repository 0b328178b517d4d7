"""Reading the back office's forms: text as people type it (yuan, dates, whole numbers) into the values
the use cases take, and their refusals into messages next to each field, in the page's language."""

from __future__ import annotations

import re
from datetime import date

from flask import Request
from flask_babel import gettext as _

from shop.backoffice import checks
from shop.core.errors import ShopError

_YUAN = re.compile(r"\d{1,9}(\.\d{1,2})?")


class FormErrors(dict):
    """field name -> message already translated; ``general`` for what belongs to no field."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, _(message))

    def from_error(self, err: ShopError, *, prefix_map: dict[str, str] | None = None) -> None:
        """Put a use case's refusal next to its fields (its ``errors``), or on top when it names none."""
        if not err.errors:
            # The title is a fixed text with a translation; the detail is English for API clients.
            self["general"] = _(err.title)
            return
        for e in err.errors:
            field = e.get("field", "")
            if field.endswith("_fen"):  # the page takes yuan in the field without the suffix
                field = field[: -len("_fen")]
            for api_name, form_name in (prefix_map or {}).items():
                if field.startswith(api_name):
                    field = form_name + field[len(api_name) :]
            self.add(field, e.get("message", ""))


def text(form, name: str) -> str:
    return (form.get(name) or "").strip()


def yuan_to_fen(raw: str, field: str, errors: FormErrors) -> int | None:
    """'68', '68.5' or '68.50' yuan -> 6850 fen; anything else is a field error."""
    raw = (raw or "").strip().replace("¥", "").replace("，", "").replace(",", "")
    if not raw:
        errors.add(field, checks.REQUIRED)
        return None
    if not _YUAN.fullmatch(raw):
        errors.add(field, checks.BAD_PRICE)
        return None
    whole, _sep, cents = raw.partition(".")
    fen = int(whole) * 100 + int((cents + "00")[:2])
    if fen <= 0:
        errors.add(field, checks.BAD_PRICE)
        return None
    return fen


def whole_number(raw: str, field: str, errors: FormErrors, *, default: int | None = 0) -> int | None:
    raw = (raw or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or len(raw) > 12:
        errors.add(field, checks.NOT_A_NUMBER)
        return None
    return int(raw)


def day(raw: str, field: str, errors: FormErrors) -> date | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.add(field, checks.BAD_DATE)
        return None


def checked(form, name: str) -> bool:
    return form.get(name) in ("on", "1", "true", "yes")


def file_bytes(request: Request, name: str, limit: int) -> bytes | None:
    """The bytes of an uploaded file field (None when no file was chosen); more than ``limit`` is cut to
    ``limit + 1`` so the use case sees it is too large."""
    storage = request.files.get(name)
    if storage is None or not storage.filename:
        return None
    return storage.read(limit + 1)
