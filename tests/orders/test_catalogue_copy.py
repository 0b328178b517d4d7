"""Placing an order from the process's copy of the catalogue (ORDER_CATALOGUE_CACHE_SECONDS): the copy
saves reads, never the checks. Every change below is made with a plain SQL UPDATE, which no cache hears
of, between the order that filled the copy and the next one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from shop.catalog.models import AidCertificate, Location, Product, Variant
from shop.core import clock
from shop.core.db import atomic, db
from shop.orders.models import Order, OrderLine
from tests.orders.helpers import auth, buyer, order_body, reserved

SKU = "CHL-LINE-500G"


def _place(client, headers, **kw):
    return client.post("/api/v1/orders", json=order_body(quantity=1, **kw), headers=headers)


def _change(stmt) -> None:
    with atomic():
        db.session.execute(stmt)


def _variant_id() -> int:
    db.session.rollback()
    return db.session.scalar(select(Variant.id).where(Variant.sku == SKU))


def test_a_price_changed_after_the_copy_was_made_is_the_price_charged(seeded, client, app):
    assert app.extensions["settings"].ORDER_CATALOGUE_CACHE_SECONDS > 0
    headers = auth(buyer())
    first = _place(client, headers)
    assert first.status_code == 201 and first.json["lines"][0]["unit_price_fen"] == 2800
    assert app.extensions["order_catalogue"].items  # the copy is filled
    _change(update(Variant).where(Variant.sku == SKU).values(price_fen=3100))

    second = _place(client, headers)
    assert second.status_code == 201, second.json
    assert second.json["lines"][0]["unit_price_fen"] == 3100 and second.json["total_fen"] == 3100
    db.session.rollback()
    line = db.session.scalar(select(OrderLine).join(Order).where(Order.id == second.json["id"]))
    assert line.unit_price_fen == 3100 and line.line_total_fen == 3100
    # Only the two orders exist (the refused INSERT wrote nothing), and both hold their unit.
    assert db.session.scalar(select(db.func.count()).select_from(Order)) == 2
    assert reserved(SKU, "DL-HM") == 2


def test_a_revoked_certificate_is_not_printed_on_the_next_order(seeded, client):
    headers = auth(buyer())
    first = _place(client, headers)
    number = first.json["lines"][0]["producer"]["certificate_number"]
    assert number
    _change(update(AidCertificate).where(AidCertificate.number == number).values(revoked=True))

    second = _place(client, headers)
    assert second.status_code == 201, second.json
    assert second.json["lines"][0]["producer"]["certificate_number"] != number


def test_a_certificate_that_ran_out_is_not_printed(seeded, client):
    headers = auth(buyer())
    number = _place(client, headers).json["lines"][0]["producer"]["certificate_number"]
    today = clock.local_day(clock.now())
    # The producer's certificate ends yesterday: the copy (made before) still names it.
    _change(
        update(AidCertificate)
        .where(AidCertificate.number == number)
        .values(valid_from=today - timedelta(days=400), valid_until=today - timedelta(days=1))
    )
    second = _place(client, headers)
    assert second.status_code == 201
    assert second.json["lines"][0]["producer"]["certificate_number"] != number


def test_a_variant_taken_off_sale_is_refused(seeded, client):
    headers = auth(buyer())
    assert _place(client, headers).status_code == 201
    _change(
        update(Product)
        .where(Product.id == select(Variant.product_id).where(Variant.sku == SKU).scalar_subquery())
        .values(active=False)
    )

    r = _place(client, headers)
    assert r.status_code == 422 and "unknown SKU" in r.json["detail"]
    assert reserved(SKU, "DL-HM") == 1


def test_a_hall_closed_for_pickup_is_refused(seeded, client):
    headers = auth(buyer())
    assert _place(client, headers).status_code == 201
    _change(update(Location).where(Location.code == "DL-HM").values(pickup=False))

    r = _place(client, headers)
    assert r.status_code == 422 and "not a pickup point" in r.json["detail"]
    assert reserved(SKU, "DL-HM") == 1


def test_without_the_copy_every_order_reads_the_catalogue(seeded, client, app, monkeypatch):
    monkeypatch.setattr(app.extensions["settings"], "ORDER_CATALOGUE_CACHE_SECONDS", 0)
    headers = auth(buyer())
    assert _place(client, headers).status_code == 201
    _change(update(Variant).where(Variant.sku == SKU).values(price_fen=2900))
    assert _place(client, headers).json["lines"][0]["unit_price_fen"] == 2900
    assert not app.extensions["order_catalogue"].items
