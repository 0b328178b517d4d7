"""200 buyers check out at once for a SKU with 50 units: exactly 50 win, 150 get a clear 409."""

import threading

from sqlalchemy import func, select, text

from shop.catalog.models import Location, Variant
from shop.core.db import atomic, db
from shop.inventory.services import add_stock, reconcile
from shop.orders.models import Order
from tests.orders.helpers import buyer, token

BUYERS = 200
UNITS = 50


def _stock_fifty_units(app):
    """A new SKU at the Huaming hall with exactly 50 units."""
    from shop.catalog.models import Product

    with atomic():
        product = db.session.scalar(select(Product).where(Product.slug == "line-chili"))
        v = Variant(
            product_id=product.id,
            sku="CHL-RACE",
            name_zh="抢购线椒",
            name_en="Race chili",
            unit_zh="袋",
            unit_en="bag",
            price_fen=1990,
        )
        db.session.add(v)
        db.session.flush()
        hall = db.session.scalar(select(Location).where(Location.code == "DL-HM"))
        add_stock(v, hall, UNITS, kind="receipt", reason="race stock")


def test_concurrent_checkouts_never_oversell(seeded):
    app = seeded
    _stock_fifty_units(app)
    people = [buyer(f"racer{i}@x.cn") for i in range(20)]
    tokens = [token(p) for p in people]
    db.session.rollback()
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()
    start = threading.Barrier(BUYERS)

    def checkout(i: int) -> None:
        client = app.test_client()  # each request runs in its own app context and session
        start.wait()
        r = client.post(
            "/api/v1/orders",
            json={
                "lines": [{"sku": "CHL-RACE", "quantity": 1}],
                "delivery": {"type": "pickup", "location": "DL-HM"},
            },
            headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
        )
        with lock:
            results.append((r.status_code, r.get_json()))

    threads = [threading.Thread(target=checkout, args=(i,)) for i in range(BUYERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    codes = [c for c, _ in results]
    assert codes.count(201) == UNITS, sorted(set(codes))
    assert codes.count(409) == BUYERS - UNITS
    for code, body in results:
        if code == 409:
            assert (
                body["sku"] == "CHL-RACE"
                and body["status"] == 409
                and body["type"].endswith("insufficient-stock")
            )
    db.session.rollback()
    on_hand, reserved_units = db.session.execute(
        text(
            "SELECT on_hand, reserved FROM stock_level l JOIN variant v ON v.id = l.variant_id "
            "WHERE v.sku = 'CHL-RACE'"
        )
    ).one()
    assert (on_hand, reserved_units) == (UNITS, UNITS)
    assert db.session.scalar(select(func.count()).select_from(Order)) == UNITS
    assert db.session.scalar(text("SELECT count(*) FROM stock_level WHERE on_hand < 0 OR reserved < 0")) == 0
    assert reconcile() == []
