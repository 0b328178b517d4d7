"""Domain errors and their RFC 9457 problem+json rendering.

Services raise ``ShopError`` subclasses; the API edge turns them into problem documents and the web
pages into flashed messages. Nothing else decides HTTP status codes.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, json, render_template, request
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

PROBLEM_BASE = "https://gangu-shop.example/problems/"


class ShopError(Exception):
    status = 400
    slug = "bad-request"
    title = "Bad request"
    # A refusal the use case keeps on record (a refused over-receipt kept as a discrepancy): the unit of
    # work (shop.core.db.atomic) commits what the use case wrote before raising it, instead of rolling
    # back, and the error is then answered as usual. Every other error changes nothing.
    recorded = False

    def __init__(self, detail: str = "", *, errors: list[dict[str, str]] | None = None, **extra: Any):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors
        self.extra = extra


class NotFound(ShopError):
    status = 404
    slug = "not-found"
    title = "Not found"


class ValidationFailed(ShopError):
    status = 422
    slug = "validation-failed"
    title = "Invalid input"


class Conflict(ShopError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class Forbidden(ShopError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class Unauthorized(ShopError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"


class Unavailable(ShopError):
    status = 503
    slug = "unavailable"
    title = "Service unavailable"


def problem_body(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, str]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The RFC 9457 problem document (a response's body, or one result of a batch): built only here."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or str(status)),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def error_body(err: ShopError) -> dict[str, Any]:
    """The problem document of a domain error."""
    return problem_body(err.status, err.title, err.detail, slug=err.slug, errors=err.errors, **err.extra)


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, str]] | None = None,
    **extra: Any,
) -> Response:
    body = problem_body(status, title, detail, slug=slug, errors=errors, **extra)
    body["instance"] = request.path if request else None
    resp = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    if isinstance(extra.get("retry_after"), int):
        resp.headers["Retry-After"] = str(extra["retry_after"])
    return resp


def problem_from_error(err: ShopError) -> Response:
    return problem(err.status, err.title, err.detail, slug=err.slug, errors=err.errors, **err.extra)


def invalid_input(messages: Any, *, prefix: str = "") -> ValidationFailed:
    """The 422 for marshmallow messages: ``errors`` as ``[{field, message}]`` (each field under ``prefix``,
    e.g. ``sales.3``), the detail listing them."""
    errors = _flatten_messages(messages)
    if prefix:
        errors = [{"field": f"{prefix}.{e['field']}", "message": e["message"]} for e in errors]
    return ValidationFailed(_errors_detail(errors), errors=errors)


def _errors_detail(errors: list[dict[str, str]]) -> str:
    return "; ".join(f"{e['field']}: {e['message']}" for e in errors)


def _flatten_messages(messages: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn marshmallow/webargs nested messages into ``[{field, message}]``."""
    out: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "form", "headers", "view_args", "files") and not prefix:
                out.extend(_flatten_messages(value, ""))
                continue
            field = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten_messages(value, field))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            out.extend({"field": prefix or "body", "message": m} for m in messages)
        else:
            for item in messages:
                out.extend(_flatten_messages(item, prefix))
    else:
        out.append({"field": prefix or "body", "message": str(messages)})
    return out


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def http_problem(exc: HTTPException) -> Response:
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    errors = _flatten_messages(messages) if messages else None
    status = exc.code or 500
    title = exc.name
    detail = exc.description or exc.name
    slug = {422: "validation-failed", 413: "too-large", 415: "unsupported-media-type"}.get(status)
    if status == 400 and messages and "json" in messages:
        detail = "The request body is not valid JSON"
    if status == 422:
        title = "Invalid input"
        detail = _errors_detail(errors or []) or detail
    resp = problem(status, title, detail, slug=slug, errors=errors)
    if status == 405 and exc.get_response().headers.get("Allow"):
        resp.headers["Allow"] = exc.get_response().headers["Allow"]
    return resp


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ShopError)
    def _shop_error(err: ShopError):
        if is_api_request():
            return problem_from_error(err)
        return render_template(
            "error.html", status=err.status, title=err.title, detail=err.detail
        ), err.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if is_api_request():
            return http_problem(exc)
        return (
            render_template("error.html", status=exc.code, title=exc.name, detail=exc.description),
            exc.code or 500,
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        if isinstance(exc, DataError):
            # A value the database cannot hold (out-of-range number...) that validation let through.
            app.logger.warning("data error: %s", exc.orig.__class__.__name__ if exc.orig else exc)
            if is_api_request():
                return problem(422, "Invalid input", "a value is out of range", slug="validation-failed")
            return render_template("error.html", status=422, title="Invalid input", detail=""), 422
        if isinstance(exc, OperationalError):
            app.logger.warning("database unavailable: %s", exc.__class__.__name__)
            if is_api_request():
                return problem(
                    503,
                    "Service unavailable",
                    "The database is unreachable; retry shortly",
                    slug="unavailable",
                )
            return render_template(
                "error.html", status=503, title="Service unavailable", detail="Database unreachable"
            ), 503
        app.logger.exception("unhandled error")
        if is_api_request():
            return problem(500, "Internal error", "An unexpected error occurred", slug="internal")
        return render_template("error.html", status=500, title="Internal error", detail=""), 500
