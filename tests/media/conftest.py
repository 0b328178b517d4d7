"""Media tests run the outbox's tasks inline after each commit, as a worker would right after it."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(autouse=True)
def empty_media_dir(app):
    """The app (and its data directory) lives for the session: each test starts with no media files."""
    shutil.rmtree(app.extensions["settings"].media_dir, ignore_errors=True)


@pytest.fixture
def inline_app(app):
    settings = app.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    yield app
    settings.OUTBOX_DELIVERY = "celery"
