"""The admin's audit log page."""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request

from shop.accounts.auth import require_staff_page
from shop.audit import services

bp = Blueprint("audit_web", __name__, url_prefix="/admin")


@bp.app_template_filter("audit_value")
def audit_value(value: object) -> str:
    """A detail as a person reads it: text as text (Chinese stays Chinese, not \\u escapes), lists joined,
    nested values as compact JSON that keeps its characters."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return "、".join(str(v) for v in value) or "—"
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


@bp.get("/audit")
@require_staff_page("admin")
def audit_log():
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    action = (request.args.get("action") or "").strip()[:60] or None
    rows, total = services.list_events(page=page, per_page=50, action=action)
    return render_template(
        "audit/log.html",
        events=rows,
        total=total,
        page=page,
        action=action or "",
        pages=max(1, (total + 49) // 50),
    )
