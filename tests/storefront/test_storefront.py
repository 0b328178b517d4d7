"""Storefront use cases and pages without a browser: search by pinyin and initials on the stored key, the
key kept current by the back office, hall-aware availability remembered with the cart, the address book,
the order timeline, the return request, QR codes, short links and the favicon."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from shop.backoffice import producers as bo_producers
from shop.backoffice import products as bo_products
from shop.catalog import services as catalog
from shop.catalog.models import Product
from shop.catalog.search import refresh_search_keys, search_key
from shop.core.db import atomic, db
from shop.fulfilment import services as fulfilment
from shop.orders.models import Order
from shop.payments import services as payments
from shop.returns.models import RefundRequest
from shop.storefront import services
from shop.storefront.models import BuyerAddress
from tests.conftest import create_user, sign_in_session


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


def _names(**filters) -> list[str]:
    rows, _total = catalog.list_products(page=1, per_page=50, **filters)
    return [p.name_zh for p in rows]


# -- search -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("q", ["苹果", "pingguo", "ping guo", "PG", "hnpg", "APL-HN", "huaniu", "apple"])
def test_search_finds_apples_by_chinese_pinyin_initials_sku_and_english(seeded, q):
    assert any("苹果" in name for name in _names(q=q)), q


def test_search_by_producer_and_township_in_pinyin(seeded):
    apple = db.session.scalar(select(Product).where(Product.name_zh.like("%苹果%")))
    township = apple.producer.township
    from pypinyin import lazy_pinyin

    assert apple.name_zh in _names(q="".join(lazy_pinyin(township)))
    assert apple.name_zh in _names(q=township)
    assert apple.name_zh in _names(q=apple.producer.name_zh)


def test_search_treats_percent_and_underscore_as_text(seeded):
    assert _names(q="%") == [] and _names(q="_") == []


def test_the_key_is_stored_and_search_is_one_query_on_it(seeded):
    keys = db.session.scalars(select(Product.search_key)).all()
    assert keys and all(k for k in keys)
    # The stored key alone finds it: the live-name fallback cannot match pinyin.
    assert db.session.scalar(select(func.count()).where(Product.search_key.like("%pingguo%"))) >= 1


def test_back_office_changes_keep_the_key_current(seeded):
    admin = create_user("admin@x.cn", role="admin")
    product = db.session.scalar(select(Product).where(Product.slug == "line-chili"))
    with atomic():
        bo_products.update_product(product.id, actor=admin, name="甘谷朝天椒")
    assert "ctj" in product.search_key and "甘谷朝天椒" in _names(q="chaotianjiao")
    with atomic():
        bo_products.add_variant(
            product.id, actor=admin, sku="CHL-XTRA-1KG", name="一公斤装", unit="袋", price_fen=9900
        )
    assert "甘谷朝天椒" in _names(q="chl-xtra")
    producer = product.producer
    with atomic():
        bo_producers.update_producer(producer.code, actor=admin, name="辣椒红合作社")
    assert "甘谷朝天椒" in _names(q="ljhhzs")
    assert product.search_key == search_key(product)


def test_reindex_rebuilds_a_key_that_was_emptied(seeded):
    with atomic():
        for p in db.session.scalars(select(Product)):
            p.search_key = ""
    assert not any("苹果" in n for n in _names(q="pingguo"))
    with atomic():
        refresh_search_keys()
    assert any("苹果" in n for n in _names(q="pingguo"))


def test_search_page_suggests_something_when_nothing_matches(seeded, client):
    html = client.get("/products?q=zzzzqqq").get_data(as_text=True)
    assert 'id="no-results"' in html and "试试这些" in html


@pytest.mark.parametrize("sort", ["price", "newest", "popular"])
def test_sorts_list_every_product_once(seeded, client, sort):
    everything = sorted(_names())
    assert sorted(_names(sort=sort)) == everything
    assert client.get(f"/products?sort={sort}").status_code == 200


def test_price_sort_is_cheapest_first(seeded):
    rows, _ = catalog.list_products(page=1, per_page=50, sort="price")
    cheapest = [min(v.price_fen for v in p.variants if v.active) for p in rows]
    assert cheapest == sorted(cheapest)


# -- hall or delivery -------------------------------------------------------------------------------


def test_product_page_shows_the_chosen_halls_stock_and_the_cart_remembers_it(seeded, client):
    page = client.get("/products/line-chili").get_data(as_text=True)
    assert "选择自提展馆或配送" in page
    client.post("/cart/add", data={"sku": "CHL-LINE-500G", "quantity": "1", "csrf_token": _csrf(page)})
    r = client.post(
        "/delivery-choice",
        data={"choice": "DL-HM", "csrf_token": _csrf(page), "next": "/products/line-chili"},
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/products/line-chili")
    page = client.get("/products/line-chili").get_data(as_text=True)
    sku_avail = dict(re.findall(r'data-variant="([^"]+)".*?data-available="(\d+)"', page, re.S))
    assert sku_avail["CHL-LINE-500G"] == "20"  # the hall's, not 200 + 8 x 20 over every location
    cart = client.get("/cart").get_data(as_text=True)
    assert re.search(r'<option value="DL-HM"\s+selected', cart)
    apples = client.get("/products/huaniu-apples").get_data(as_text=True)
    assert "采收日期" in apples  # fresh produce: the hall's first lot's harvest and best-before dates


def test_a_choice_outside_the_halls_is_forgotten(seeded, client):
    page = client.get("/products/line-chili").get_data(as_text=True)
    r = client.post("/delivery-choice", data={"choice": "GG-WH", "csrf_token": _csrf(page)})
    assert r.status_code == 302
    with client.session_transaction() as sess:
        assert services.CHOICE_KEY not in sess


def test_delivery_availability_is_the_best_shipping_location(seeded):
    from shop.catalog.services import variant_by_sku

    v = variant_by_sku("CHL-LINE-500G")
    got = services.availability_for([v.id], services.DeliveryChoice("ship"))
    hall = services.availability_for([v.id], services.DeliveryChoice("pickup", "DL-HM"))
    assert got[v.id] == 200 and hall[v.id] == 20


# -- address book -----------------------------------------------------------------------------------


def _address(user, **kw):
    data = {
        "recipient": "李四",
        "phone": "13900001111",
        "district": "东丽区",
        "street_address": "先锋路 1 号",
    }
    with atomic():
        return services.save_address(user, **(data | kw))


def test_address_book_has_one_default(seeded):
    user = create_user("book@x.cn")
    first = _address(user)
    second = _address(user, district="河西区", make_default=True)
    db.session.expire_all()
    assert [a.id for a in services.addresses(user)] == [second.id, first.id]
    assert db.session.get(BuyerAddress, first.id).is_default is False
    with atomic():
        services.delete_address(user, second.id)
    assert services.addresses(user)[0].is_default


def test_address_outside_tianjin_is_refused_beside_the_field(seeded, client):
    user = create_user("book2@x.cn")
    sign_in_session(client, user)
    page = client.get("/account/addresses").get_data(as_text=True)
    r = client.post(
        "/account/addresses",
        data={
            "recipient": "",
            "phone": "12",
            "district": "朝阳区",
            "street_address": "x",
            "csrf_token": _csrf(page),
        },
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'id="district-error"' in html and "请选择天津市的区" in html and 'id="phone-error"' in html
    assert db.session.scalar(select(func.count()).select_from(BuyerAddress)) == 0


def test_nobody_changes_another_buyers_address(seeded, client):
    owner = create_user("own@x.cn")
    entry = _address(owner)
    other = create_user("other@x.cn")
    sign_in_session(client, other)
    page = client.get("/account/addresses").get_data(as_text=True)
    r = client.post(f"/account/addresses/{entry.id}/delete", data={"csrf_token": _csrf(page)})
    assert r.status_code == 404 and db.session.get(BuyerAddress, entry.id) is not None


def test_concurrent_first_addresses_make_one_default(seeded, app):
    """Four tabs save the buyer's first address at once: four rows, exactly one default."""
    user = create_user("race@x.cn")
    user_id = user.id
    clients = []
    for _ in range(4):
        c = app.test_client()  # each request runs in its own app context and session
        sign_in_session(c, user)
        clients.append((c, _csrf(c.get("/account/addresses").get_data(as_text=True))))
    db.session.rollback()
    barrier = threading.Barrier(4)
    statuses = []

    def add(c, token):
        barrier.wait()
        data = {
            "recipient": "李四",
            "phone": "13900001111",
            "district": "东丽区",
            "street_address": "先锋路 1 号",
        }
        statuses.append(c.post("/account/addresses", data={**data, "csrf_token": token}).status_code)

    threads = [threading.Thread(target=add, args=pair) for pair in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [302] * 4
    rows = db.session.scalars(select(BuyerAddress).where(BuyerAddress.user_id == user_id)).all()
    assert len(rows) == 4 and sum(r.is_default for r in rows) == 1


def test_checkout_ships_to_the_saved_default_address(seeded, client):
    user = create_user("ship@x.cn")
    entry = _address(user, district="河东区")
    sign_in_session(client, user)
    page = client.get("/products/line-chili").get_data(as_text=True)
    client.post("/cart/add", data={"sku": "CHL-LINE-500G", "quantity": "1", "csrf_token": _csrf(page)})
    page = client.get("/checkout").get_data(as_text=True)
    assert re.search(rf'<option value="{entry.id}"\s+selected', page)
    token = re.search(r'name="checkout_token" value="([^"]+)"', page).group(1)
    r = client.post(
        "/checkout",
        data={
            "csrf_token": _csrf(page),
            "checkout_token": token,
            "delivery_type": "ship",
            "address_id": entry.id,
        },
    )
    assert r.status_code == 302
    order = db.session.scalar(select(Order))
    assert order.district == "河东区" and order.recipient == "李四"


# -- orders: timeline, transfer, QR, return ---------------------------------------------------------


def _ready_pickup_order(client, email="qr@x.cn"):
    buyer = create_user(email)
    sign_in_session(client, buyer)
    page = client.get("/products/line-chili").get_data(as_text=True)
    client.post("/cart/add", data={"sku": "CHL-LINE-500G", "quantity": "1", "csrf_token": _csrf(page)})
    page = client.get("/checkout").get_data(as_text=True)
    token = re.search(r'name="checkout_token" value="([^"]+)"', page).group(1)
    data = {
        "csrf_token": _csrf(page),
        "checkout_token": token,
        "delivery_type": "pickup",
        "location": "DL-HM",
    }
    assert client.post("/checkout", data=data).status_code == 302
    order = db.session.scalar(select(Order).where(Order.user_id == buyer.id))
    html = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'id="transfer-instructions"' in html and order.number in html
    staff = create_user(f"staff-{email}", role="operator", locations=["DL-HM"])
    with atomic():
        payments.confirm_manual_payment(order.id, staff=staff, method="cash")
    with atomic():
        fulfilment.pick_order(order.id)
    with atomic():
        fulfilment.prepare_handover(order.id)
    return buyer, staff, order


def test_pickup_qr_is_the_buyers_alone(seeded, client, app):
    _buyer, _staff, order = _ready_pickup_order(client)
    html = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert f'src="/orders/{order.id}/pickup-qr.svg"' in html and 'id="timeline"' in html
    r = client.get(f"/orders/{order.id}/pickup-qr.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml" and b"<svg" in r.data
    assert "no-store" in r.headers["Cache-Control"]
    other = app.test_client()
    sign_in_session(other, create_user("nosy@x.cn"))
    assert other.get(f"/orders/{order.id}/pickup-qr.svg").status_code == 404
    assert app.test_client().get(f"/orders/{order.id}/pickup-qr.svg").status_code == 302  # sign in first


def test_pickup_qr_encodes_the_code(seeded, client):
    _buyer, _staff, order = _ready_pickup_order(client, "code@x.cn")
    code = re.search(r'id="pickup-code">(\d{6})<', client.get(f"/orders/{order.id}").get_data(as_text=True))
    assert code
    assert client.get(f"/orders/{order.id}/pickup-qr.svg").data == services.qr_svg(code.group(1), scale=8)


def test_timeline_marks_each_step_in_beijing_time(seeded, client):
    _buyer, _staff, order = _ready_pickup_order(client, "tl@x.cn")
    steps = {s.key: s for s in services.timeline(order, fulfilment_of(order))}
    assert steps["placed"].done and steps["paid"].done and steps["ready_for_pickup"].done
    assert not steps["picked_up"].done
    html = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "时间均为北京时间" in html


def fulfilment_of(order):
    from shop.fulfilment.queries import fulfilment_of as f

    return f(order)


def test_buyer_asks_for_a_return_after_pickup_and_staff_see_it(seeded, client):
    _buyer, staff, order = _ready_pickup_order(client, "ret@x.cn")
    code = re.search(r'id="pickup-code">(\d{6})<', client.get(f"/orders/{order.id}").get_data(as_text=True))
    with atomic():
        fulfilment.hand_over(order.location, code.group(1), staff=staff)
    html = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert 'id="return"' in html
    r = client.post(
        f"/orders/{order.id}/return", data={"reason": "damaged", "note": "压坏了", "csrf_token": _csrf(html)}
    )
    assert r.status_code == 302
    req = db.session.scalar(select(RefundRequest).where(RefundRequest.order_id == order.id))
    assert req.reason == "damaged" and req.status == "open" and req.note == "压坏了"
    # A second one while the first is open changes nothing.
    client.post(f"/orders/{order.id}/return", data={"reason": "wrong_item", "csrf_token": _csrf(html)})
    assert db.session.scalar(select(func.count()).where(RefundRequest.order_id == order.id)) == 1


# -- QR codes, short links, favicon, the aid story --------------------------------------------------


def test_short_link_and_page_qr(seeded, client):
    product = db.session.scalar(select(Product).where(Product.slug == "line-chili"))
    r = client.get(f"/p/{product.id}")
    assert r.status_code == 301 and r.headers["Location"].endswith("/products/line-chili")
    assert client.get("/p/999999").status_code == 404
    r = client.get(f"/qr.svg?path=/p/{product.id}")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert client.get("/qr.svg?path=https://evil.example/").status_code == 404
    assert client.get("/qr.svg?path=//evil.example/").status_code == 404
    html = client.get("/products/line-chili").get_data(as_text=True)
    assert 'property="og:title"' in html and 'property="og:url"' in html and f"/p/{product.id}" in html
    assert client.get("/go").status_code == 301
    html = client.get("/aid/progress").get_data(as_text=True)
    assert 'property="og:title"' in html and "/qr.svg?path=/go" in html and 'id="aid-story"' in html
    assert "北京时间" in html


def test_favicon_is_served(seeded, client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"


def test_aid_story_counts_producers_and_their_households_once(seeded, client):
    _buyer, _staff, order = _ready_pickup_order(client, "story@x.cn")
    story = services.compute_aid_story()
    producer = order.lines[0]
    assert story["total_fen"] > 0 and story["producers_reached"] == 1
    from shop.catalog.models import Producer

    assert story["households_linked"] == db.session.get(Producer, producer.producer_id).linked_households
