"""The aid ledger reconciles with its sources: paid orders and counter sales."""

from sqlalchemy import text

from shop.aid.reconcile import reconcile
from shop.core.db import atomic, db
from shop.orders.models import order_reference
from tests.conftest import create_user


def test_orders_and_counter_sales_reconcile_and_tampering_is_reported(seeded, api):
    create_user("buyer@example.cn")
    create_user("admin@example.cn", role="admin")
    buyer, admin = api.as_user("buyer@example.cn"), api.as_user("admin@example.cn")
    body = {
        "lines": [{"sku": "APL-HN-5KG", "quantity": 2}],
        "delivery": {"type": "pickup", "location": "DL-HM"},
    }
    order = buyer.post("/api/v1/orders", json=body).json
    assert (
        admin.post(f"/api/v1/orders/{order['id']}/payments/manual", json={"method": "cash"}).status_code
        == 200
    )
    sale = {
        "client_sale_id": "chk-1",
        "lines": [{"sku": "CHL-OIL-250G", "quantity": 3}],
        "paid_with": "wechat",
    }
    assert admin.post("/api/v1/locations/DL-HM/sales", json=sale).status_code == 201

    run = reconcile(trigger="test")
    assert run.status == "ok", run.differences
    assert {"orders", "counter_sales"} <= set(run.checkers)

    with atomic():  # an order's counted entries edited behind the ledger's back
        db.session.execute(
            text("UPDATE aid_entry SET amount_fen = amount_fen - 100 WHERE source = :s"),
            {"s": order_reference(order["id"])},
        )
        db.session.execute(text("DELETE FROM aid_entry WHERE source LIKE 'counter-sale:%'"))
    run = reconcile(trigger="test")
    assert run.status != "ok"
    keys = {d["key"] for d in run.differences}
    assert order_reference(order["id"]) in keys
    assert any(k.startswith("counter-sale:") for k in keys)
