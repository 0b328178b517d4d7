"""Who may read or change a producer's settlement and households."""

from __future__ import annotations

from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog.models import Producer
from shop.core.db import db
from shop.core.errors import NotFound
from shop.producers.errors import NotYourProducer

READERS = ("admin", "aid_officer", "producer")
WRITERS = ("admin", "producer")


class ProducerNotFound(NotFound):
    slug = "producer-not-found"
    title = "Producer not found"


def producer_by_code(code: str) -> Producer:
    producer = db.session.scalar(select(Producer).where(Producer.code == code))
    if producer is None:
        raise ProducerNotFound(f"producer {code!r} does not exist")
    return producer


def producer_for(user: User, code: str, *, write: bool = False) -> Producer:
    """The producer ``code`` if ``user`` may act on it: staff of the programme, or its own account.

    A producer account asking about any other producer (existing or not) gets the same 403, so it
    cannot probe which codes exist.
    """
    if user.role == "producer":
        own = db.session.get(Producer, user.producer_id) if user.producer_id else None
        if own is None or own.code != code:
            raise NotYourProducer("a producer account sees only its own producer")
        return own
    if user.role not in (WRITERS if write else READERS):
        raise NotYourProducer(f"requires role {' or '.join(WRITERS if write else READERS)}")
    return producer_by_code(code)
