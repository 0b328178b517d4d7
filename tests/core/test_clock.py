"""The shop's clock against the server's own zone: stock days, aid days and the times staff read are
Beijing time (``SHOP_TIMEZONE``) whether the process runs in UTC or far west of it, right after local
midnight included; and nothing in ``shop/`` or ``workers/`` asks the server for its date or zone."""

from __future__ import annotations

import os
import re
import time as systime
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from shop.aid.models import AidEntry
from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import atomic, db
from shop.core.web import localtime
from shop.demo import seed_demo
from shop.fulfilment.hall_reports import hall_summary, send_hall_summaries, send_stock_alerts
from shop.inventory.models import CounterSale, Lot, StockMovement
from shop.inventory.sales import record_counter_sale
from shop.inventory.services import add_stock
from shop.notifications.models import Notification
from shop.orders import services as orders
from shop.orders.models import order_reference
from shop.payments.services import confirm_manual_payment
from tests.conftest import create_user

ROOT = Path(__file__).resolve().parents[2]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# Far from Beijing on both sides of UTC's date line for the instants used below: 00:30 Beijing time is
# the previous day in UTC (16:30) and in Los Angeles (08:30 or 09:30).
SERVER_ZONES = ("UTC", "America/Los_Angeles")


@pytest.fixture(params=SERVER_ZONES)
def server_zone(request):
    """Run the test in a process whose own zone (``TZ``) is not the shop's; restore it after."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    systime.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        systime.tzset()


@pytest.fixture
def shop(server_zone, any_app):
    """The seeded shop (PostgreSQL and SQLite) with outbox tasks run inline, in a foreign server zone."""
    with atomic():
        seed_demo()
    settings = any_app.extensions["settings"]
    settings.OUTBOX_DELIVERY = "inline"
    yield any_app
    settings.OUTBOX_DELIVERY = "celery"


def _server_date(moment: datetime) -> date:
    """What ``date.today()`` would have said at ``moment`` on this server."""
    return datetime.fromtimestamp(moment.timestamp()).date()


def _login(client, email: str) -> None:
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    r = client.post("/login", data={"csrf_token": token, "email": email, "password": "password-123"})
    assert r.status_code == 302, r.get_data(as_text=True)[:500]


def _loc(code: str) -> Location:
    return db.session.scalar(select(Location).where(Location.code == code))


def _variant(sku: str) -> Variant:
    return db.session.scalar(select(Variant).where(Variant.sku == sku))


def _entries(source: str) -> list[AidEntry]:
    db.session.rollback()
    return list(db.session.scalars(select(AidEntry).where(AidEntry.source == source)))


def test_counter_sales_after_local_midnight_are_on_the_beijing_day(shop):
    day = clock.today() - timedelta(days=1)  # yesterday in Beijing: both sales below are in the past
    after_midnight = clock.at_local(day, time(0, 30))
    afternoon = clock.at_local(day, time(16, 11))
    # The server's own calendar puts 00:30 Beijing time on the day before: that is what is tested.
    assert _server_date(after_midnight) == day - timedelta(days=1)
    assert systime.strftime("%H:%M", systime.localtime(afternoon.timestamp())) != "16:11"

    staff = create_user("op-zone@example.cn", role="operator", locations=["DL-HM"])
    hall = _loc("DL-HM")
    apples = _variant("APL-FJ-5KG")
    with atomic():
        # Past its best-before on the Beijing day of the sale, not yet on the server's date of it.
        add_stock(apples, hall, 2, kind="receipt", lot_code="ZONE-OLD", best_before=day - timedelta(days=1))
        add_stock(apples, hall, 5, kind="receipt", lot_code="ZONE-NEW", best_before=day + timedelta(days=30))
    with atomic():
        early = record_counter_sale(
            hall,
            client_sale_id="zone-0030",
            lines=[(apples, 1)],
            paid_with="cash",
            actor=staff,
            made_at=after_midnight,
        ).sale
        late = record_counter_sale(
            hall,
            client_sale_id="zone-1611",
            lines=[(_variant("CHL-OIL-250G"), 1)],
            paid_with="wechat",
            actor=staff,
            made_at=afternoon,
        ).sale
        early_id, early_ref, late_id, late_ref = early.id, early.reference_key, late.id, late.reference_key

    # Stock day: the expired lot was skipped, as on the Beijing date of the sale.
    db.session.rollback()
    taken = db.session.scalars(select(StockMovement.lot_id).where(StockMovement.reference == early_ref)).all()
    codes = {db.session.get(Lot, lot_id).code for lot_id in taken}
    assert codes and "ZONE-OLD" not in codes
    assert db.session.scalar(select(Lot.quantity).where(Lot.code == "ZONE-OLD")) == 2

    # Aid day of both counter sales.
    assert {e.day for e in _entries(early_ref)} == {day}
    assert {e.day for e in _entries(late_ref)} == {day}

    # The hall's daily summary counts both on the Beijing day, none on the day before; the nightly run
    # 30 minutes after the next local midnight reports that day.
    summary = hall_summary(_loc("DL-HM"), day)
    assert summary.counter_by_method == {"cash": (1, 5800), "wechat": (1, 2200)}
    assert hall_summary(_loc("DL-HM"), day - timedelta(days=1)).counter_sales == 0
    send_hall_summaries(now=clock.at_local(day + timedelta(days=1), time(0, 30)))
    db.session.rollback()
    note = db.session.scalar(
        select(Notification).where(Notification.dedupe_key == f"hall-summary:{hall.id}:{day.isoformat()}")
    )
    assert note is not None and "Counter sales: 2" in note.body and day.isoformat() in note.subject

    # Alerts at 00:30 Beijing time: the old lot is expired on that day (the server's date would say
    # it expires today).
    send_stock_alerts(now=after_midnight)
    db.session.rollback()
    alert = db.session.scalar(
        select(Notification).where(
            Notification.kind == "stock_alert",
            Notification.location_id == hall.id,
            Notification.dedupe_key.like(f"stock-alerts:{hall.id}:{day.isoformat()}:%"),
        )
    )
    assert alert is not None
    assert any(line.startswith("已过期 Expired") and "ZONE-OLD" in line for line in alert.body.splitlines())

    # Staff pages: the day's sales list and the receipt show Beijing times.
    client = shop.test_client()
    _login(client, "op-zone@example.cn")
    listing = client.get(f"/console/DL-HM/sales?date={day.isoformat()}").get_data(as_text=True)
    assert ">00:30<" in listing and ">16:11<" in listing
    before = client.get(f"/console/DL-HM/sales?date={(day - timedelta(days=1)).isoformat()}")
    assert f"/sales/{early_id}" not in before.get_data(as_text=True)
    receipt = client.get(f"/console/DL-HM/sales/{late_id}").get_data(as_text=True)
    assert f"{day.isoformat()} 16:11" in receipt
    db.session.rollback()
    assert db.session.get(CounterSale, late_id).made_at is not None


def test_online_sale_after_local_midnight_is_on_the_beijing_day(shop):
    day = clock.today() - timedelta(days=1)
    placed, paid = clock.at_local(day, time(0, 20)), clock.at_local(day, time(0, 30))
    assert _server_date(paid) == day - timedelta(days=1)

    buyer = create_user("buyer-zone@example.cn")
    staff = create_user("op-zone@example.cn", role="operator", locations=["DL-HM"])
    with atomic():
        order = orders.place_order(
            buyer,
            [orders.LineRequest("CHL-LINE-500G", 2)],
            orders.DeliveryRequest(type="pickup", location="DL-HM"),
            now=placed,
        )
        order_id, number = order.id, order.number
    with atomic():
        confirm_manual_payment(order_id, staff=staff, method="cash", now=paid)

    assert number[:6] == day.strftime("%y%m%d")  # the order number starts with the Beijing date
    db.session.rollback()
    entries = _entries(order_reference(order_id))
    assert entries and {e.day for e in entries} == {day}

    client = shop.test_client()
    _login(client, "op-zone@example.cn")
    page = client.get(f"/staff/orders/{order_id}").get_data(as_text=True)
    assert f"{day.isoformat()} 00:20" in page


def test_localtime_filter_reads_stored_times_in_the_shop_zone(server_zone):
    aware = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    assert localtime(aware) == "2026-03-02 00:30"
    assert localtime(aware.replace(tzinfo=None)) == "2026-03-02 00:30"  # SQLite hands back naive UTC
    assert localtime("2026-03-01T08:11:00+00:00", "%H:%M") == "16:11"
    assert localtime(None) == "" and localtime("") == ""
    assert clock.day_range(date(2026, 3, 2)) == (
        datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 16, 0, tzinfo=UTC),
    )


# What asks the server for its own date, time or zone instead of the shop's clock.
SERVER_TIME = re.compile(
    r"\bdate\.today\(|\bdatetime\.now\(|\bdatetime\.today\(|\bdatetime\.utcnow\(|\btime\.localtime\("
    r"|\.astimezone\(\)|\bfromtimestamp\([^,()]*\)"
)
# Templates print times through the ``localtime`` filter, never by hand.
TEMPLATE_TIME = re.compile(r"\.astimezone\(|\.strftime\(")


def _offences(pattern: re.Pattern, paths) -> list[str]:
    found = []
    for path in paths:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    return found


def test_only_the_clock_module_reads_the_time_of_day():
    assert SERVER_TIME.search("    today = date.today()") and SERVER_TIME.search("datetime.now(UTC)")
    assert SERVER_TIME.search("made_at.astimezone().date()") and not SERVER_TIME.search("clock.today()")
    clock_file = ROOT / "shop" / "core" / "clock.py"
    sources = [p for d in ("shop", "workers") for p in sorted((ROOT / d).rglob("*.py")) if p != clock_file]
    assert len(sources) > 50
    assert _offences(SERVER_TIME, sources) == [], "use shop.core.clock (now, today, local_day, day_range)"
    templates = sorted((ROOT / "shop" / "templates").rglob("*.html"))
    assert templates and _offences(TEMPLATE_TIME, templates) == [], "print times with |localtime"
