"""Field errors as a buyer reads them: beside the field, in the page's language.

Use cases report ``errors: [{"field": "delivery.address.phone", "message": "..."}]`` in the API's
English; the pages show each one under its own input (``errors["phone"]``) in the page's language.
"""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shop.core.errors import ShopError

MESSAGES = {
    "required": _l("Please fill this in."),
    "a mainland mobile or landline number": _l("Please enter an 11-digit mobile number or a landline."),
    "a district of Tianjin": _l("Please choose a district of Tianjin."),
    "not a pickup point": _l("Please choose one of the pickup halls."),
    "not open on that day": _l("This hall does not take pickup orders today."),
    "too long": _l("This is too long."),
    "address book full": _l("Your address book is full; remove an address first."),
}


def field_name(path: str) -> str:
    """``delivery.address.phone`` -> ``phone``; ``delivery.location`` -> ``location``."""
    return path.rsplit(".", 1)[-1] if path else "form"


def field_errors(err: ShopError) -> dict[str, str]:
    """One message per form field, in the page's language; a problem without fields goes under "form"."""
    out: dict[str, str] = {}
    for e in err.errors or []:
        name = field_name(str(e.get("field", "")))
        message = MESSAGES.get(str(e.get("message", "")))
        out.setdefault(name, str(message) if message else _("Please check this."))
    if not out:
        out["form"] = err.detail
    return out
