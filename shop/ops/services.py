"""Readiness checks for the database and the Celery broker; who may read /metrics."""

from __future__ import annotations

import hmac
import ipaddress

import redis
from flask import current_app, request
from sqlalchemy import text

from shop.core.db import db


def check_database() -> tuple[bool, str]:
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        return True, "ok"
    except Exception as exc:  # any failure means "not ready"
        db.session.rollback()
        return False, exc.__class__.__name__


def check_broker() -> tuple[bool, str]:
    settings = current_app.extensions["settings"]
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem://"):
        folder = settings.broker_folder
        return (folder.is_dir(), "ok" if folder.is_dir() else f"missing {folder}")
    if url.startswith(("redis://", "rediss://")):
        try:
            client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
            client.ping()
            return True, "ok"
        except Exception as exc:
            return False, exc.__class__.__name__
    if url.startswith("memory://"):
        return True, "ok"
    return False, f"unsupported broker {url.split(':', 1)[0]}"


def metrics_allowed() -> bool:
    """True when this request may read /metrics: from a ``METRICS_ALLOW_FROM`` address, or carrying
    ``Authorization: Bearer <METRICS_TOKEN>``."""
    settings = current_app.extensions["settings"]
    header = request.headers.get("Authorization", "")
    if settings.METRICS_TOKEN and header[:7].lower() == "bearer ":
        given = header[7:].strip().encode("utf-8", "surrogatepass")
        if hmac.compare_digest(given, settings.METRICS_TOKEN.encode()):
            return True
    try:
        client = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped:
        client = client.ipv4_mapped
    return any(client in net for net in settings.metrics_networks)
