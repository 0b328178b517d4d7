"""The admin's audit log page."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from shop.accounts.auth import require_staff_page
from shop.audit import services

bp = Blueprint("audit_web", __name__, url_prefix="/admin")


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
