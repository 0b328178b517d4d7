"""Baselines for the benchmarks, served by the same server as the shop (only with BENCH_ENDPOINTS=true):
a bare JSON endpoint and one conditional stock UPDATE, the ceilings the real endpoints are compared to.
Also an SQLAlchemy hook that counts statements per request (X-SQL-Statements, with SQL_COUNT_HEADER)."""

from __future__ import annotations

from flask import Blueprint, Flask, g, jsonify, request
from sqlalchemy import event, text

from shop.core.db import db

bp = Blueprint("bench", __name__, url_prefix="/_bench")


@bp.get("/bare")
def bare():
    return jsonify(ok=True)


@bp.post("/update")
def conditional_update():
    level_id = request.args.get("level", 1, type=int)
    res = db.session.execute(
        text("UPDATE stock_level SET reserved = reserved + 1 WHERE id = :id AND on_hand - reserved >= 1"),
        {"id": level_id},
    )
    db.session.commit()
    return jsonify(updated=res.rowcount), (201 if res.rowcount else 409)


def init_sql_counter(app: Flask) -> None:
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        from flask import has_request_context

        if has_request_context():
            g.sql_statements = g.get("sql_statements", 0) + 1

    @app.after_request
    def _header(resp):
        resp.headers["X-SQL-Statements"] = str(g.get("sql_statements", 0))
        return resp
