"""Administration of producers' aid certificates (admins and aid officers)."""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.catalog import services
from shop.catalog.schemas import CertificateInSchema, CertificateSchema, RevokeSchema
from shop.core.db import atomic
from shop.core.idempotency import idempotent

blp = Blueprint(
    "catalog_admin_api", __name__, url_prefix="/api/v1/admin", description="Catalogue administration"
)


@blp.route("/producers/<int:producer_id>/certificates", methods=["POST"])
@idempotent
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(CertificateInSchema)
@blp.response(201, CertificateSchema)
@require_role("admin", "aid_officer")
def add_certificate(data: dict, producer_id: int):
    """Register a producer's aid certificate."""
    with atomic():
        cert = services.add_certificate(producer_id, actor=api_user(), **data)
    return cert


@blp.route("/certificates/<string:number>/revoke", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(RevokeSchema)
@blp.response(200, CertificateSchema)
@require_role("admin", "aid_officer")
def revoke_certificate(data: dict, number: str):
    """Revoke a certificate; later sales of the producer's products stop qualifying."""
    with atomic():
        cert = services.revoke_certificate(number, reason=data["reason"], actor=api_user())
    return cert
