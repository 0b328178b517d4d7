"""Baselines for the benchmarks, served beside the shop by the bench's app only (``bench/app.py``): a
bare JSON endpoint and one conditional stock UPDATE, the ceilings the real endpoints are compared to.

They live under ``/api/`` so a request takes the same path through the shop's hooks as the API calls
they are compared to: a POST elsewhere is a page form and is refused (400) without a CSRF token."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import text

from shop.core.db import db

bp = Blueprint("bench", __name__, url_prefix="/api/_bench")


@bp.get("/bare")
def bare():
    return jsonify(ok=True)


@bp.post("/update")
def conditional_update():
    # A raw UPDATE on purpose: the ceiling of one reservation, without the ledger, the ORM or the outbox.
    level_id = request.args.get("level", 1, type=int)
    res = db.session.execute(
        text("UPDATE stock_level SET reserved = reserved + 1 WHERE id = :id AND on_hand - reserved >= 1"),
        {"id": level_id},
    )
    db.session.commit()
    return jsonify(updated=res.rowcount), (201 if res.rowcount else 409)
