"""A work unit's buyer pays pledges with a pickup card (提货卡): the filled one counts as aid under
``subscription`` (direct purchase: a verified unit), the refunded one puts its value back on the card."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shop.aid.models import AidEntry
from shop.core import clock
from shop.core.db import atomic, db
from shop.payments.models import Refund
from shop.payments.refunds import send_refund
from shop.preorders import harvest
from shop.workunits.models import PickupCard
from tests.conftest import create_user
from tests.preorders.helpers import PICKUP, PRICE, admin, campaign, close, settle_all
from tests.workunits.helpers import register_unit


def test_pledges_paid_with_a_pickup_card(seeded, api):
    create_user("admin@example.cn", role="admin")
    boss = api.as_user("admin@example.cn")
    uid = register_unit(api, "union@example.cn", title="东丽区总工会", unit_type="trade_union")
    assert boss.post(f"/api/v1/admin/work-units/{uid}/verify", json={"note": "ok"}).status_code == 200
    r = boss.post(
        "/api/v1/admin/pickup-cards",
        json={
            "buyer_unit": uid,
            "count": 1,
            "value_fen": 2 * PRICE,
            "expires_on": (clock.today() + timedelta(days=90)).isoformat(),
        },
    )
    assert r.status_code == 201, r.json
    code = r.json["cards"][0]["code"]

    c = campaign("CARD", cap=10, per_buyer=2)
    unit = api.as_user("union@example.cn")
    ids = []
    for key in ("first", "second"):
        p = unit.post(
            "/api/v1/campaigns/CARD/pledges",
            json={"quantity": 1, "delivery": PICKUP},
            headers={"Idempotency-Key": key},
        )
        assert p.status_code == 201, p.json
        paid = unit.post(f"/api/v1/orders/{p.json['order_id']}/payments/card", json={"code": code})
        assert paid.status_code == 200, paid.json
        ids.append(p.json)
    db.session.rollback()
    assert db.session.scalar(select(PickupCard.balance_fen)) == 0

    close("CARD")
    with atomic():
        done = harvest.record_harvest("CARD", units=1, actor=admin())
    assert (done.allocated_units, done.refunded_units) == (1, 1)
    settle_all(c.id)
    first, second = (unit.get(f"/api/v1/pledges/{p['id']}").json["status"] for p in ids)
    assert (first, second) == ("filled", "refunded")
    refund = db.session.scalars(select(Refund)).one()
    assert refund.gateway == "pickup_card" and refund.order_id == ids[1]["order_id"]
    send_refund(refund.id)  # the task: the card gets its value back
    db.session.rollback()
    assert db.session.scalar(select(PickupCard.balance_fen)) == PRICE
    entries = db.session.scalars(select(AidEntry)).all()
    assert [(e.channel, e.amount_fen, e.direct_purchase) for e in entries] == [("subscription", PRICE, True)]
