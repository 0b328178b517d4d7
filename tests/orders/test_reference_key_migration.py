"""One key per order in both ledgers: a database written before migration 0012 (stock movements under
``order:<number>``, aid entries under ``order:<id>``) is upgraded, and both reconciliations still find
nothing to report while old and new orders use the same key in both ledgers."""

from __future__ import annotations

import importlib.util

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import func, select, text

from config import ROOT
from shop.accounts.models import User
from shop.aid.models import AidEntry
from shop.aid.reconcile import reconcile as reconcile_aid
from shop.catalog.models import Location, Variant
from shop.core.db import atomic, db
from shop.demo import seed_demo
from shop.fulfilment.queries import pick_lines
from shop.inventory.models import StockMovement
from shop.inventory.services import add_stock, reconcile
from shop.orders import services as orders
from shop.orders.models import Order, order_reference
from shop.payments.services import confirm_manual_payment
from shop.returns.services import refund_order
from tests.conftest import create_user

PICKUP = orders.DeliveryRequest(type="pickup", location="DL-HM")
TYPED = "order:typed-by-hand"  # an operator's free-text reference that names no order


def _migration_0012():
    spec = importlib.util.spec_from_file_location(
        "m0012", ROOT / "migrations" / "versions" / "0012_order_reference_key.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_0012(step: str) -> None:
    """Run migration 0012's ``upgrade`` or ``downgrade`` on today's schema, in its own transaction.

    The rewrite is data only, so it runs against a database at the newest revision into which rows were
    written as the shop wrote them before it; later migrations (new columns) cannot break this test.
    """
    db.session.remove()
    with db.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        getattr(_migration_0012(), step)()


@pytest.fixture(params=["postgresql", "sqlite"])
def old_app(request):
    """The app on PostgreSQL or SQLite, with outbox tasks run inline."""
    app = request.getfixturevalue("app" if request.param == "postgresql" else "sqlite_app")
    app.extensions["settings"].OUTBOX_DELIVERY = "inline"
    yield app
    app.extensions["settings"].OUTBOX_DELIVERY = "celery"


def _user(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def _place(user, sku: str, quantity: int) -> int:
    with atomic():
        return orders.place_order(user, [orders.LineRequest(sku, quantity)], PICKUP).id


def _pay(order_id: int, staff) -> None:
    with atomic():
        confirm_manual_payment(order_id, staff=staff, method="cash")


def _stock_refs(order_id: int, number: str) -> set[str]:
    db.session.rollback()
    return set(
        db.session.scalars(
            select(StockMovement.reference).where(
                StockMovement.reference.in_([order_reference(order_id), f"order:{number}"])
            )
        )
    )


def _aid_sources(order_id: int, number: str) -> set[str]:
    return set(
        db.session.scalars(
            select(AidEntry.source).where(AidEntry.source.in_([order_reference(order_id), f"order:{number}"]))
        )
    )


def _no_drift(app) -> None:
    db.session.rollback()
    assert reconcile() == []
    run = reconcile_aid(trigger="test")
    assert run.status == "ok" and run.difference_count == 0, run.differences
    runner = app.test_cli_runner()
    stock_cli = runner.invoke(args=["stock", "reconcile"])
    assert stock_cli.exit_code == 0, stock_cli.output
    aid_cli = runner.invoke(args=["aid", "reconcile"])
    assert aid_cli.exit_code == 0, aid_cli.output


def test_upgrade_gives_old_orders_the_one_key_and_both_ledgers_still_reconcile(old_app):
    with atomic():
        seed_demo()
    staff = create_user("op-ref@example.cn", role="operator", locations=["DL-HM"])
    buyer = create_user("buyer-ref@example.cn")
    fulfilled = _place(buyer, "CHL-LINE-500G", 2)  # reserved, paid, counted, picked
    _pay(fulfilled, staff)
    refunded = _place(buyer, "APL-HN-5KG", 2)  # paid, then one unit refunded
    _pay(refunded, staff)
    with atomic():
        refund_order(refunded, staff=staff, reason="bruised", lines=[{"sku": "APL-HN-5KG", "quantity": 1}])
    cancelled = _place(buyer, "PEP-DHP-250G", 1)  # reserved, then released
    with atomic():
        orders.cancel_order(cancelled, actor=buyer)
    waiting = _place(buyer, "CHL-OIL-250G", 1)  # still holds its reservation
    with atomic():
        hall = db.session.scalar(select(Location).where(Location.code == "DL-HM"))
        variant = db.session.scalar(select(Variant).where(Variant.sku == "CHL-OIL-250G"))
        add_stock(variant, hall, 1, kind="receipt", reference=TYPED)

    ids = (fulfilled, refunded, cancelled, waiting)
    numbers = {i: db.session.get(Order, i).number for i in ids}
    # What the shop wrote before this issue: stock movements under the order number.
    with atomic():
        for i in ids:
            db.session.execute(
                text("UPDATE stock_movement SET reference = :old WHERE reference = :new"),
                {"old": f"order:{numbers[i]}", "new": order_reference(i)},
            )
    for i in ids:
        assert _stock_refs(i, numbers[i]) == {f"order:{numbers[i]}"}
    assert _aid_sources(fulfilled, numbers[fulfilled]) == {order_reference(fulfilled)}  # two keys
    _no_drift(old_app)

    _run_0012("upgrade")

    for i in ids:
        assert _stock_refs(i, numbers[i]) == {order_reference(i)}, i
    for i in (fulfilled, refunded):
        assert _aid_sources(i, numbers[i]) == {order_reference(i)} == _stock_refs(i, numbers[i])
    assert db.session.scalar(select(func.count()).where(StockMovement.reference == TYPED)) == 1
    old_form = StockMovement.reference.like("order:%-%") & (StockMovement.reference != TYPED)
    assert db.session.scalar(select(func.count()).where(old_form)) == 0
    _no_drift(old_app)
    # The new code finds the old order's lots under its key.
    db.session.rollback()
    picked = pick_lines(db.session.get(Order, fulfilled))
    assert sum(p.quantity for line in picked for p in line.picks) == 2

    # Old and new rows side by side: an order placed now, and the old ones moving on.
    staff, buyer = _user("op-ref@example.cn"), _user("buyer-ref@example.cn")
    fresh = _place(buyer, "CHL-LINE-500G", 1)
    _pay(fresh, staff)
    with atomic():
        orders.cancel_order(waiting, actor=buyer)
    with atomic():
        refund_order(refunded, staff=staff, reason="the rest", lines=[{"sku": "APL-HN-5KG", "quantity": 1}])
    fresh_number = db.session.get(Order, fresh).number
    assert _stock_refs(fresh, fresh_number) == {order_reference(fresh)} == _aid_sources(fresh, fresh_number)
    kinds = set(
        db.session.scalars(
            select(StockMovement.kind).where(StockMovement.reference == order_reference(waiting))
        )
    )
    assert kinds == {"reservation", "release"}  # the old reservation and the new release share the key
    _no_drift(old_app)

    # Down and up again: the rewrite is reversible and changes nothing the second time.
    _run_0012("downgrade")
    assert _stock_refs(fresh, fresh_number) == {f"order:{fresh_number}"}
    _run_0012("upgrade")
    for i in (*ids, fresh):
        number = numbers.get(i, fresh_number)
        assert _stock_refs(i, number) == {order_reference(i)}, i
    _no_drift(old_app)
