"""``Idempotency-Key`` for create-style POSTs: a retry gets the first answer, never a second effect.

The record of the key is inserted in the same transaction as the use case and holds the response, so
either both the effect and its recorded answer commit, or neither does. A concurrent duplicate waits on
the key's unique index and then replays the stored answer. The same key with a different body (or on
another path) is refused with 422. Keys belong to their caller: the accounts domain, which knows who holds
a bearer token, names the caller of a request (``scope_by``), so one buyer's key never answers another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, make_response, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.core.db import atomic, db
from shop.core.errors import ShopError, ValidationFailed, problem_from_error
from shop.core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200
_caller_scope: Callable[[], str] | None = None


class IdempotencyKeyReused(ValidationFailed):
    slug = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


def scope_by(fn: Callable[[], str]) -> Callable[[], str]:
    """Register the function naming the caller of the current request ("user:<id>", or "anon")."""
    global _caller_scope
    _caller_scope = fn
    return fn


def _scope() -> str:
    if _caller_scope is None:  # never share keys between callers because nobody said who is calling
        raise RuntimeError("no idempotency scope registered (shop.accounts.auth registers it)")
    return _caller_scope()


def _fingerprint() -> str:
    h = hashlib.sha256()
    h.update(request.method.encode())
    h.update(b"\0")
    h.update(request.path.encode())
    h.update(b"\0")
    if request.mimetype == "multipart/form-data":
        # A multipart body's boundary is random per request: compare the fields and files it carries.
        for name, value in sorted(request.form.items(multi=True)):
            h.update(f"{name}={value}".encode() + b"\0")
        for name, upload in sorted(request.files.items(multi=True), key=lambda kv: kv[0]):
            h.update(f"{name}:{upload.filename}".encode() + b"\0")
            h.update(hashlib.sha256(upload.read()).digest())
            upload.seek(0)
        return h.hexdigest()
    h.update(request.get_data(cache=True))
    return h.hexdigest()


def _replay(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used for a different request; use a new key",
            errors=[{"field": HEADER, "message": "already used with another body"}],
        )
    mimetype = "application/problem+json" if record.status >= 400 else "application/json"
    resp = Response(record.body, status=record.status, mimetype=mimetype)
    resp.headers["Idempotent-Replayed"] = "true"
    return resp


def idempotent(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a create-style view (place it right under ``@blp.route``)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any):
        key = request.headers.get(HEADER)
        if key is None:
            return fn(*args, **kwargs)
        key = key.strip()
        if not key or len(key) > MAX_KEY_LENGTH:
            raise ValidationFailed(
                f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters",
                errors=[{"field": HEADER, "message": "invalid length"}],
            )
        scope, fingerprint = _scope(), _fingerprint()
        existing = db.session.scalar(
            select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
        )
        if existing is not None:
            return _replay(existing, fingerprint)
        try:
            with atomic():
                record = IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint, status=0, body="")
                db.session.add(record)
                db.session.flush()  # a concurrent duplicate blocks here until we commit
                try:
                    resp = fn(*args, **kwargs)
                except ShopError as err:
                    if not err.recorded:
                        raise
                    resp = problem_from_error(err)  # kept on record: its answer is the key's too
                if not isinstance(resp, Response):
                    resp = make_response(resp)
                record.status = resp.status_code
                record.body = resp.get_data(as_text=True)
        except IntegrityError:
            db.session.rollback()
            existing = db.session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
                )
            )
            if existing is None:
                raise
            return _replay(existing, fingerprint)
        return resp

    return wrapper
