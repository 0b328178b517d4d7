"""The flask-smorest Api object: OpenAPI generation, and problem+json for its errors."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest import Api as _Api
from werkzeug.exceptions import HTTPException

from shop.core.errors import http_problem

MAX_PER_PAGE = 100


class Api(_Api):
    def handle_http_exception(self, error: HTTPException):
        return http_problem(error)


api = Api()


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100_000))
    per_page = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE))


class ProblemSchema(ma.Schema):
    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    instance = ma.fields.String(allow_none=True)
    errors = ma.fields.List(ma.fields.Dict())


def page_of(query, *, page: int, per_page: int):
    """Run a paginated select: return ``(rows, total)``; a page past the end is empty."""
    from sqlalchemy import func, select

    from shop.core.db import db

    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total or 0


def init_api(app) -> None:
    app.config.setdefault("API_SPEC_OPTIONS", {})
    app.config["API_SPEC_OPTIONS"].update(
        {
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer"},
                }
            },
            "info": {
                "description": "JSON API of the Gangu consumption-aid shop. Money is integer fen (CNY).",
            },
        }
    )
    api.init_app(app)
    api.spec.components.schema("Problem", schema=ProblemSchema)
