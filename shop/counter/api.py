"""The hall tablet's snapshot under /api/v1 (operator of the location, or admin)."""

from __future__ import annotations

from flask_smorest import Blueprint

from shop.accounts.auth import api_user, require_role
from shop.counter import services
from shop.counter.schemas import SnapshotSchema
from shop.inventory import queries

blp = Blueprint("counter_api", __name__, url_prefix="/api/v1", description="Hall counter tablets")


@blp.route("/locations/<code>/counter/snapshot")
@blp.response(200, SnapshotSchema)
@blp.doc(security=[{"bearerAuth": []}])
@require_role("operator", "admin")
def snapshot(code: str):
    """What a hall tablet keeps to sell offline: active SKUs with price and sellable units, today's sales."""
    return services.snapshot(queries.location_for(api_user(), code))
