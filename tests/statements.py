"""Statements per request, for the statement budgets (tests/ops/test_sql_counts.py) and the catalogue
cache tests: an SQLAlchemy hook counts what each request sends and an ``X-SQL-Statements`` response
header reports it. A test tool, added to a test's own app; the shop does not ship it."""

from __future__ import annotations

from flask import Flask, g, has_request_context
from sqlalchemy import event

from shop.core.db import db

HEADER = "X-SQL-Statements"


def count_statements(app: Flask) -> Flask:
    """Make ``app`` answer every request with the number of SQL statements it ran; return ``app``."""
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        if has_request_context():
            g.sql_statements = g.get("sql_statements", 0) + 1

    @app.after_request
    def _header(resp):
        resp.headers[HEADER] = str(g.get("sql_statements", 0))
        return resp

    return app
