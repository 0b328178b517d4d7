"""The flask-smorest Api object: OpenAPI generation, and problem+json for its errors."""

from __future__ import annotations

import http

import marshmallow as ma
from flask_smorest import Api as _Api
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from shop.core.db import db
from shop.core.errors import http_problem

MAX_PER_PAGE = 100


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, the body of every API error; extension members may follow (RFC 9457 3.2:
    clients ignore the ones they do not know)."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    instance = ma.fields.String(allow_none=True)
    errors = ma.fields.List(ma.fields.Dict())
    retry_after = ma.fields.Integer(metadata={"description": "seconds to wait before trying again (429)"})


class Api(_Api):
    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException):
        return http_problem(error)

    def _register_responses(self):
        """Describe every error response as application/problem+json with the Problem schema."""
        self.spec.components.schema("Problem", schema=ProblemSchema)
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["content"] = problem
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(
            "DEFAULT_ERROR",
            {"description": "Error (RFC 9457 problem details)", "content": problem},
            lazy=True,
        )


api = Api()


class PageArgs(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=100_000))
    per_page = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=MAX_PER_PAGE))


class PageSchema(ma.Schema):
    """The envelope of every paginated list: a subclass declares ``items`` (and any extra fields)."""

    total = ma.fields.Integer(required=True)
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)


def page_of(query, *, page: int, per_page: int):
    """Run a paginated select: return ``(rows, total)``; a page past the end is empty.

    The total rides along as a window function on the page's own query (one statement, not two);
    only a page past the end needs a separate count.
    """
    stmt = (
        query.add_columns(func.count().over().label("_total")).limit(per_page).offset((page - 1) * per_page)
    )
    result = db.session.execute(stmt).all()
    if result:
        return [r[0] for r in result], int(result[0][-1])
    if page == 1:
        return [], 0
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return [], total or 0


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
