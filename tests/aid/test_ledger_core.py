import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from shop.aid.models import AidEntry, AidRollup
from shop.aid.services import SaleLine, headline, local_day, programme_total_fen, record_sale, reverse_sale
from shop.catalog.models import AidCertificate, Producer, Variant
from shop.core.db import atomic, db


def _variant(sku: str) -> Variant:
    return db.session.scalar(select(Variant).where(Variant.sku == sku))


def _sum_ledger() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(AidEntry.amount_fen), 0))))


def _sum_rollups() -> int:
    return int(db.session.scalar(select(func.coalesce(func.sum(AidRollup.amount_fen), 0))))


@pytest.fixture
def seeded_any(any_app):
    from shop.demo import seed_demo

    with atomic():
        seed_demo()
    return any_app


def test_sale_counted_once_and_rollups_follow(seeded_any):
    apples = _variant("APL-HN-5KG")
    now = datetime.now(UTC)
    for _ in range(3):  # retries of the same source count once
        with atomic():
            entries = record_sale(
                source="order:1", occurred_at=now, channel="online", lines=[SaleLine(apples.id, 2, 13600)]
            )
    assert len(entries) == 1 and entries[0].qualifying is True
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 1
    assert _sum_ledger() == _sum_rollups() == 13600
    assert headline()["total_fen"] == 13600


def test_refund_reverses_and_keeps_rollups_equal(seeded_any):
    apples = _variant("APL-HN-5KG")
    now = datetime.now(UTC)
    with atomic():
        record_sale(
            source="order:1", occurred_at=now, channel="online", lines=[SaleLine(apples.id, 2, 13600)]
        )
    with atomic():
        reverse_sale(
            source="refund:1",
            original_source="order:1",
            occurred_at=now,
            lines=[SaleLine(apples.id, 1, 6800)],
        )
    with atomic():  # retried refund processing
        reverse_sale(
            source="refund:1",
            original_source="order:1",
            occurred_at=now,
            lines=[SaleLine(apples.id, 1, 6800)],
        )
    assert _sum_ledger() == _sum_rollups() == 6800


def test_certificate_expired_the_day_before_is_non_qualifying(seeded_any):
    powder = _variant("PEP-PWD-100G")  # its producer's certificate ended last year
    with atomic():
        (entry,) = record_sale(
            source="counter-sale:9",
            occurred_at=datetime.now(UTC),
            channel="hall",
            lines=[SaleLine(powder.id, 1, 1800)],
        )
    assert entry.qualifying is False and entry.certificate_number is None
    shoes = _variant("SHOE-HEMP-40")
    producer = db.session.get(Producer, shoes.product.producer_id)
    sale_day = local_day(datetime.now(UTC))
    with atomic():
        for cert in producer.certificates:
            cert.valid_until = sale_day - timedelta(days=1)
            cert.valid_from = min(cert.valid_from, sale_day - timedelta(days=30))
    db.session.expire_all()
    with atomic():
        (entry,) = record_sale(
            source="counter-sale:10",
            occurred_at=datetime.now(UTC),
            channel="hall",
            lines=[SaleLine(shoes.id, 1, 9800)],
        )
    assert entry.qualifying is False
    with atomic():
        db.session.add(
            AidCertificate(
                producer_id=producer.id,
                number="RENEWED-1",
                issuer="x",
                valid_from=sale_day,
                valid_until=date(sale_day.year + 1, 12, 31),
            )
        )
    db.session.expire_all()
    with atomic():
        (entry,) = record_sale(
            source="counter-sale:11",
            occurred_at=datetime.now(UTC),
            channel="hall",
            lines=[SaleLine(shoes.id, 1, 9800)],
        )
    assert entry.qualifying is True and entry.certificate_number == "RENEWED-1"
    prog = headline()
    assert prog["total_fen"] == 9800  # only the qualifying sale counts toward the target


def test_concurrent_duplicates_count_once(seeded):
    app = seeded
    apples = _variant("APL-HN-5KG").id
    results = []

    def count():
        with app.app_context():
            try:
                with atomic():
                    record_sale(
                        source="order:77",
                        occurred_at=datetime.now(UTC),
                        channel="online",
                        lines=[SaleLine(apples, 1, 6800)],
                    )
                results.append("ok")
            except Exception as exc:  # the loser of the unique source_key race rolls back
                results.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=count) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert "ok" in results
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 1
    assert _sum_rollups() == 6800
    from shop.aid.services import current_programme

    assert programme_total_fen(current_programme()) == 6800
