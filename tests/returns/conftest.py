import pytest


@pytest.fixture
def inline_outbox(seeded, monkeypatch):
    """Outbox tasks run inline after each commit (refunds are sent), except fulfilment: orders stay paid."""
    monkeypatch.delitem(seeded.extensions["celery"].tasks, "shop.fulfilment.fulfil_order")
    settings = seeded.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    yield seeded
    settings.OUTBOX_DELIVERY = "celery"


@pytest.fixture
def inline(seeded):
    """The whole pipeline inline: paying an order picks it and makes its pickup ticket."""
    settings = seeded.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    yield seeded
    settings.OUTBOX_DELIVERY = "celery"
