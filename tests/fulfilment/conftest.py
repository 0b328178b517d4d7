import pytest

from shop.core.db import atomic
from shop.demo import seed_demo


@pytest.fixture
def shop(any_app):
    """The seeded shop on PostgreSQL and on SQLite, running outbox tasks inline after each commit, so
    paying an order runs the whole fulfilment pipeline in this process."""
    with atomic():
        seed_demo()
    settings = any_app.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    yield any_app
    settings.OUTBOX_DELIVERY = "celery"


@pytest.fixture
def queued(seeded):
    """The seeded shop on PostgreSQL; outbox messages go to Redis and nobody runs them, so a test calls
    each pipeline step itself."""
    return seeded


@pytest.fixture
def inline(seeded):
    """The seeded shop on PostgreSQL running the pipeline inline after each commit."""
    settings = seeded.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    yield seeded
    settings.OUTBOX_DELIVERY = "celery"
