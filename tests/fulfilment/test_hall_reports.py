"""What the scheduler tells hall operators: stock alerts and the daily sales summary, once each."""

from datetime import timedelta

from sqlalchemy import select, update

from shop.catalog.models import Location, Variant
from shop.core import clock
from shop.core.db import atomic, db
from shop.fulfilment import services
from shop.fulfilment.hall_reports import hall_summary, send_hall_summaries, send_stock_alerts, stock_alerts
from shop.fulfilment.models import PickupTicket, Shipment
from shop.inventory.sales import record_counter_sale
from shop.inventory.services import add_stock
from shop.notifications.models import Notification
from shop.orders.models import Order
from tests.fulfilment.helpers import SHIP, operator, paid_order, place
from tests.orders.helpers import buyer


def _loc(code):
    return db.session.scalar(select(Location).where(Location.code == code))


def _variant(sku):
    return db.session.scalar(select(Variant).where(Variant.sku == sku))


def _notes(kind, code):
    db.session.rollback()
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.kind == kind, Notification.location_id == _loc(code).id)
            .order_by(Notification.id)
        )
    )


def test_low_stock_and_expiring_lots_are_told_once_until_the_list_changes(shop):
    today = clock.today()
    hall = _loc("DL-HM")
    place(buyer(), [("CHL-LINE-500G", 16)])  # 20 on hand, 16 reserved: 4 left, threshold 5
    with atomic():
        add_stock(
            _variant("APL-FJ-5KG"),
            hall,
            2,
            kind="receipt",
            lot_code="FUJI-OLD",
            best_before=today + timedelta(days=3),
        )
        add_stock(
            _variant("APL-FJ-5KG"),
            hall,
            1,
            kind="receipt",
            lot_code="FUJI-GONE",
            best_before=today - timedelta(days=1),
        )
    alerts = stock_alerts(hall, on=today, expiring_days=7)
    assert {(a.kind, a.sku, a.lot_code) for a in alerts} == {
        ("low", "CHL-LINE-500G", ""),
        ("expiring", "APL-FJ-5KG", "FUJI-OLD"),
        ("expired", "APL-FJ-5KG", "FUJI-GONE"),
    }
    assert send_stock_alerts() >= 1
    first = _notes("stock_alert", "DL-HM")
    assert len(first) == 1 and "CHL-LINE-500G" in first[0].body and "FUJI-GONE" in first[0].body
    assert send_stock_alerts() == 0 and len(_notes("stock_alert", "DL-HM")) == 1  # same list, same day

    place(buyer("b2@example.cn"), [("PEP-DHP-250G", 16)])
    send_stock_alerts()
    notes = _notes("stock_alert", "DL-HM")
    assert len(notes) == 2 and "PEP-DHP-250G" in notes[1].body


def test_daily_summary_counts_pickups_parcels_and_counter_sales_of_the_day(shop):
    staff = operator()
    yesterday = clock.today() - timedelta(days=1)
    noon = clock.at_local(yesterday)
    handed = paid_order(buyer(), staff, lines=[("CHL-LINE-500G", 2)])
    waiting = paid_order(buyer("w@example.cn"), staff, lines=[("APL-HN-5KG", 1)])
    code = db.session.scalar(select(PickupTicket.code).where(PickupTicket.order_id == handed))
    with atomic():
        services.hand_over(_loc("DL-HM"), code, staff=staff)
    parcel = paid_order(buyer("p@example.cn"), staff, lines=[("PEP-DHP-250G", 3)], delivery=SHIP)
    with atomic():
        services.ship_order(parcel, staff=staff, courier="sf", tracking_number="SF1234567890")
    with atomic():  # it all happened yesterday
        db.session.execute(
            update(PickupTicket).where(PickupTicket.order_id == handed).values(handed_over_at=noon)
        )
        db.session.execute(update(Shipment).where(Shipment.order_id == parcel).values(shipped_at=noon))
        hall = _loc("DL-HM")
        for sale_id, paid_with, lines in (
            ("tablet-1", "wechat", [(_variant("SHOE-HEMP-40"), 1), (_variant("CHL-OIL-250G"), 2)]),
            ("tablet-2", "cash", [(_variant("CHL-OIL-250G"), 1)]),
        ):
            record_counter_sale(
                hall, client_sale_id=sale_id, lines=lines, paid_with=paid_with, actor=staff, made_at=noon
            )
    db.session.rollback()
    s = hall_summary(_loc("DL-HM"), yesterday)
    assert (s.pickups, s.pickups_fen) == (1, 2 * 2800)
    assert s.counter_by_method == {"wechat": (1, 9800 + 4400), "cash": (1, 2200)}
    assert (s.counter_sales, s.counter_fen) == (2, 9800 + 4400 + 2200)
    assert s.total_fen == 2 * 2800 + 9800 + 4400 + 2200 and s.waiting_pickups == 1
    w = hall_summary(_loc("GG-WH"), yesterday)
    assert (w.parcels, w.parcels_fen) == (1, db.session.get(Order, parcel).total_fen)
    assert hall_summary(_loc("DL-HM"), clock.today()).pickups == 0  # another day

    assert send_hall_summaries(day=yesterday) >= 2
    send_hall_summaries(now=clock.now())  # the nightly run for the same day: nobody is told twice
    notes = _notes("hall_summary", "DL-HM")
    total = 2 * 2800 + 9800 + 4400 + 2200
    assert len(notes) == 1 and f"¥{total // 100}.00" in notes[0].subject.replace(",", "")
    assert "Online pickups handed over: 1" in notes[0].body and "Counter sales: 2" in notes[0].body
    assert "微信 WeChat Pay: 1" in notes[0].body
    assert waiting  # still waiting for its buyer


def test_a_sale_at_a_low_stock_sku_does_not_repeat_the_digest(shop):
    place(buyer(), [("CHL-LINE-500G", 16)])
    send_stock_alerts()
    place(buyer("again@example.cn"), [("CHL-LINE-500G", 1)])  # 4 available -> 3: same list
    assert send_stock_alerts() == 0 and len(_notes("stock_alert", "DL-HM")) == 1
