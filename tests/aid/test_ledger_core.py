import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from shop.aid.models import AidEntry, AidRollup
from shop.aid.services import SaleLine, headline, programme_total_fen, record_sale, reverse_sale
from shop.catalog.models import AidCertificate, Producer, Variant
from shop.core import clock
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
    sale_day = clock.today()
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
    barrier = threading.Barrier(6)

    def count():
        with app.app_context():
            try:
                barrier.wait()  # all six deliveries of the same webhook at once
                with atomic():
                    record_sale(
                        source="order:77",
                        occurred_at=datetime.now(UTC),
                        channel="online",
                        lines=[SaleLine(apples, 1, 6800)],
                    )
                results.append("ok")
            except Exception as exc:
                results.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=count) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Losers of the unique source_key race roll back only their savepoint: every caller's unit of work
    # (a payment, a counter sale) still commits, and the sale is counted once.
    assert results == ["ok"] * 6
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 1
    assert _sum_rollups() == 6800
    from shop.aid.services import current_programme

    assert programme_total_fen(current_programme()) == 6800


def test_retried_unit_of_work_counts_once(seeded_any):
    """A task that counts a sale and then crashes before commit leaves nothing; its retries count once."""
    apples = _variant("APL-HN-5KG").id
    now = datetime.now(UTC)

    def task(crash: bool) -> None:
        with atomic():
            record_sale(
                source="order:5", occurred_at=now, channel="online", lines=[SaleLine(apples, 1, 6800)]
            )
            if crash:
                raise ConnectionError("worker lost the broker after counting")

    with pytest.raises(ConnectionError):
        task(crash=True)
    assert _sum_ledger() == _sum_rollups() == 0
    task(crash=False)  # the retry
    task(crash=False)  # a duplicate delivery after success (acks_late)
    assert db.session.scalar(select(func.count()).select_from(AidEntry)) == 1
    assert _sum_ledger() == _sum_rollups() == 6800


def test_refunds_never_take_back_more_than_was_counted(seeded_any):
    from shop.aid.errors import NothingToReverse, RefundExceedsSale

    apples, chili = _variant("APL-HN-5KG").id, _variant("CHL-LINE-500G").id
    now = datetime.now(UTC)
    with atomic():
        record_sale(
            source="order:8",
            occurred_at=now,
            channel="online",
            lines=[SaleLine(apples, 2, 13600), SaleLine(chili, 1, 2800)],
        )
    for n in (1, 2):  # two partial refunds of one apple box each: exactly the counted line
        with atomic():
            reverse_sale(
                source=f"refund:{n}",
                original_source="order:8",
                occurred_at=now,
                lines=[SaleLine(apples, 1, 6800)],
            )
    with pytest.raises(RefundExceedsSale), atomic():
        reverse_sale(
            source="refund:3", original_source="order:8", occurred_at=now, lines=[SaleLine(apples, 1, 1)]
        )
    with pytest.raises(NothingToReverse), atomic():
        reverse_sale(
            source="refund:4", original_source="order:9", occurred_at=now, lines=[SaleLine(chili, 1, 2800)]
        )
    assert _sum_ledger() == _sum_rollups() == 2800


def test_concurrent_refunds_of_the_same_line_reverse_it_once(seeded):
    """Two refunds of the whole line racing each other: one reverses it, the other is refused."""
    app = seeded
    apples = _variant("APL-HN-5KG").id
    with atomic():
        record_sale(
            source="order:21",
            occurred_at=datetime.now(UTC),
            channel="online",
            lines=[SaleLine(apples, 1, 6800)],
        )
    results = []
    barrier = threading.Barrier(2)

    def refund(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                with atomic():
                    reverse_sale(
                        source=f"refund:{n}",
                        original_source="order:21",
                        occurred_at=datetime.now(UTC),
                        lines=[SaleLine(apples, 1, 6800)],
                    )
                results.append("ok")
            except Exception as exc:
                results.append(type(exc).__name__)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=refund, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["RefundExceedsSale", "ok"]
    assert _sum_ledger() == _sum_rollups() == 0


def test_qualifying_uses_the_local_day_in_china(seeded_any):
    """A sale at 23:30 Beijing time on the certificate's last day counts; at 00:30 the next day it does not."""
    from zoneinfo import ZoneInfo

    shoes = _variant("SHOE-HEMP-40")
    producer = db.session.get(Producer, shoes.product.producer_id)
    last_day = date(clock.today().year, 6, 30)
    with atomic():
        for cert in producer.certificates:
            cert.valid_until = last_day
    db.session.expire_all()
    tz = ZoneInfo("Asia/Shanghai")
    late = datetime(last_day.year, 6, 30, 23, 30, tzinfo=tz).astimezone(UTC)  # 15:30 UTC, same UTC day
    after = datetime(last_day.year, 7, 1, 0, 30, tzinfo=tz).astimezone(UTC)  # still 30 June in UTC
    with atomic():
        (a,) = record_sale(
            source="counter-sale:1", occurred_at=late, channel="hall", lines=[SaleLine(shoes.id, 1, 9800)]
        )
        (b,) = record_sale(
            source="counter-sale:2", occurred_at=after, channel="hall", lines=[SaleLine(shoes.id, 1, 9800)]
        )
    assert (a.day, a.qualifying) == (last_day, True)
    assert (b.day, b.qualifying) == (date(last_day.year, 7, 1), False)


def test_work_unit_sales_are_direct_purchase_and_keep_the_buyer(seeded_any):
    from tests.conftest import create_user

    unit = create_user("canteen@unit.cn")
    apples = _variant("APL-HN-5KG").id
    now = datetime.now(UTC)
    with atomic():
        (entry,) = record_sale(
            source="order:30",
            occurred_at=now,
            channel="work_unit",
            lines=[SaleLine(apples, 10, 68000)],
            buyer_id=unit.id,
        )
    with atomic():
        (rev,) = reverse_sale(
            source="refund:30", original_source="order:30", occurred_at=now, lines=[SaleLine(apples, 1, 6800)]
        )
    assert entry.direct_purchase is True and entry.buyer_id == unit.id
    assert rev.direct_purchase is True and rev.buyer_id == unit.id and rev.amount_fen == -6800


def test_bad_lines_are_refused_before_anything_is_written(seeded_any):
    from shop.aid.errors import BadSaleLine, UnknownChannel

    apples = _variant("APL-HN-5KG").id
    now = datetime.now(UTC)
    for kwargs, error in (
        ({"channel": "online", "lines": [SaleLine(apples, 0, 100)]}, BadSaleLine),
        ({"channel": "online", "lines": [SaleLine(apples, 1, -5)]}, BadSaleLine),
        ({"channel": "online", "lines": [SaleLine(999_999, 1, 100)]}, BadSaleLine),
        ({"channel": "teleshopping", "lines": [SaleLine(apples, 1, 100)]}, UnknownChannel),
    ):
        with pytest.raises(error), atomic():
            record_sale(source="order:40", occurred_at=now, **kwargs)
    assert _sum_ledger() == 0 and db.session.scalar(select(func.count()).select_from(AidEntry)) == 0


def test_sale_outside_every_programme_is_kept_but_counts_nowhere(seeded_any):
    apples = _variant("APL-HN-5KG").id
    long_ago = datetime(2001, 5, 1, 4, tzinfo=UTC)
    with atomic():
        (entry,) = record_sale(
            source="order:50", occurred_at=long_ago, channel="online", lines=[SaleLine(apples, 1, 6800)]
        )
    assert entry.programme_id is None
    assert _sum_ledger() == 6800 and _sum_rollups() == 0


def test_concurrent_sales_sharing_rollup_rows_in_opposite_order_do_not_deadlock(seeded):
    """Two payments touching the same two rollup rows, their lines in opposite order, many times over."""
    app = seeded
    apples, chili = _variant("APL-HN-5KG").id, _variant("CHL-LINE-500G").id
    rounds = 8
    barrier = threading.Barrier(2)
    results = []

    def pay(name: str, first: int, second: int) -> None:
        with app.app_context():
            for n in range(rounds):
                try:
                    barrier.wait()
                    with atomic():
                        record_sale(
                            source=f"order:{name}{n}",
                            occurred_at=datetime.now(UTC),
                            channel="online",
                            lines=[SaleLine(first, 1, 100), SaleLine(second, 1, 100)],
                        )
                    results.append("ok")
                except Exception as exc:
                    results.append(type(exc).__name__)
                finally:
                    db.session.remove()

    threads = [
        threading.Thread(target=pay, args=("a", apples, chili)),
        threading.Thread(target=pay, args=("b", chili, apples)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["ok"] * 2 * rounds
    assert _sum_ledger() == _sum_rollups() == 2 * 2 * rounds * 100


def test_amount_only_refund_reverses_money_not_goods(seeded_any):
    apples = _variant("APL-HN-5KG").id
    now = datetime.now(UTC)
    with atomic():
        record_sale(source="order:60", occurred_at=now, channel="online", lines=[SaleLine(apples, 2, 13600)])
    with atomic():
        (rev,) = reverse_sale(
            source="refund:60", original_source="order:60", occurred_at=now, lines=[SaleLine(apples, 0, 1000)]
        )
    assert (rev.quantity, rev.amount_fen) == (0, -1000)
    assert _sum_ledger() == _sum_rollups() == 12600
