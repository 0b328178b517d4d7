"""Structured logs: one JSON object per line with the request id, carried from web into Celery tasks."""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import uuid

from flask import Flask, g, request
from pythonjsonlogger.json import JsonFormatter

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_ID_HEADER = "X-Request-ID"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(fmt: str, level: str) -> None:
    """Install one handler on the root logger (idempotent across app factories in one process)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_shop", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._shop = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(level.upper())


def current_request_id() -> str:
    return request_id_var.get()


def init_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign_request_id():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
        g._request_id_token = request_id_var.set(rid)

    @app.after_request
    def _echo_request_id(resp):
        rid = g.get("request_id")
        if rid:
            resp.headers[REQUEST_ID_HEADER] = rid
        return resp

    @app.teardown_request
    def _reset_request_id(_exc):
        token = g.pop("_request_id_token", None)
        if token is not None:
            request_id_var.reset(token)
