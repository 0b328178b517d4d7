"""Readiness checks for the database and the Celery broker."""

from __future__ import annotations

import redis
from flask import current_app
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
