"""GET /api/v1/audit: the audit log, for admins."""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.accounts.auth import require_role
from shop.audit import services
from shop.audit.schemas import AuditArgs, AuditPageSchema

blp = Blueprint("audit_api", __name__, url_prefix="/api/v1", description="Audit log (admins)")


@blp.route("/audit")
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditPageSchema)
@require_role("admin")
def list_audit(args: dict):
    """Staff actions, newest first: refunds, adjustments, certificate edits, role changes."""
    rows, total = services.list_events(**args)
    return {"items": rows, "total": total, "page": args["page"], "per_page": args["per_page"]}
