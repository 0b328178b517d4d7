"""Back-office pages: Chinese-first forms that keep what was typed and put each refusal next to its field;
money in yuan, times in Beijing time; admin-only pages refused to everyone else."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.accounts.services import create_staff_user, find_user_by_email
from shop.catalog.models import Location, Producer, Variant
from shop.core import clock
from shop.core.db import atomic, db
from tests.backoffice.helpers import ADMIN, admin_api
from tests.conftest import create_user, sign_in_session
from tests.media import files


def login(client, email: str) -> None:
    sign_in_session(client, find_user_by_email(email))


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def field_error(html: str, name: str) -> str | None:
    """The message shown next to field ``name`` (None when there is none)."""
    m = re.search(rf'id="e-{re.escape(name.replace(".", "-"))}">([^<]*)<', html)
    return m.group(1) if m else None


@pytest.fixture
def admin(client):
    create_user(ADMIN, role="admin")
    login(client, ADMIN)
    return client


def post(client, path: str, data: dict, *, form_page: str | None = None, **kw):
    token = csrf(client.get(form_page or path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, **data}, **kw)


def test_home_links_every_page_and_leaves_a_slot_for_people(admin):
    html = admin.get("/admin/").get_data(as_text=True)
    for path in ("/admin/producers", "/admin/products", "/admin/locations", "/admin/programmes"):
        assert f'href="{path}"' in html
    assert "生产主体" in html and "人员" in html and "后台" in html


def test_producer_form_shows_each_error_next_to_its_field_in_chinese_and_keeps_the_input(admin):
    r = post(
        admin,
        "/admin/producers/new",
        {
            "code": "Bad Code",
            "name": "",
            "township": "东丽区",
            "kind": "cooperative",
            "linked_households": "-3",
            "village": "南山村",
        },
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert field_error(html, "code") == "只能用小写字母、数字和短横线，2 到 60 个字符"
    assert field_error(html, "name") == "必填"
    assert field_error(html, "township") == "不是甘谷县的乡镇"
    assert field_error(html, "linked_households") == "填写 0 或正整数"
    assert 'value="南山村"' in html and "请修改下面标出的内容" in html
    assert "variants.0" not in html and "linked_households:" not in html  # no raw field paths on top


def test_an_admin_onboards_a_producer_and_a_certificate_with_its_scan(admin):
    r = post(
        admin,
        "/admin/producers/new",
        {
            "code": "xiping-coop",
            "name": "西坪镇花椒合作社",
            "township": "西坪镇",
            "kind": "cooperative",
            "linked_households": "42",
            "fee_percent": "1.5",
        },
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/producers/xiping-coop")
    assert db.session.scalar(select(Producer.fee_bp).where(Producer.code == "xiping-coop")) == 150
    today = clock.today()
    data = {
        "number": "GGFP-T-001",
        "issuer": "甘谷县乡村振兴局",
        "valid_from": (today - timedelta(days=300)).isoformat(),
        "valid_until": (today + timedelta(days=20)).isoformat(),
        "file": (
            io.BytesIO(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"),
            "scan.pdf",
            "application/pdf",
        ),
    }
    r = post(
        admin,
        "/admin/producers/xiping-coop/certificates",
        data,
        form_page="/admin/producers/xiping-coop",
        content_type="multipart/form-data",
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    scan = admin.get("/admin/certificates/GGFP-T-001/document")
    assert scan.status_code == 200 and scan.mimetype == "application/pdf" and scan.data.startswith(b"%PDF")
    assert (
        "no-store" in scan.headers["Cache-Control"] and "sandbox" in scan.headers["Content-Security-Policy"]
    )
    home = admin.get("/admin/").get_data(as_text=True)
    assert "GGFP-T-001" in home and "20" in home  # listed: it ends within 30 days

    bad = {
        **data,
        "number": "GGFP-T-002",
        "file": (io.BytesIO(files.text_renamed()), "scan.pdf", "application/pdf"),
    }
    r = post(
        admin,
        "/admin/producers/xiping-coop/certificates",
        bad,
        form_page="/admin/producers/xiping-coop",
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and field_error(r.get_data(as_text=True), "file") == "不是 PDF 或图片"


def test_product_with_two_variants_from_the_page_with_prices_in_yuan(admin):
    api = admin_api(admin)
    api.post("/api/v1/admin/categories", json={"code": "pepper", "name": "花椒"})
    api.post(
        "/api/v1/admin/producers", json={"code": "xiping-coop", "name": "西坪合作社", "township": "西坪镇"}
    )
    form = {
        "name": "西坪花椒",
        "category": "pepper",
        "producer": "xiping-coop",
        "variants.0.sku": "xp-250",
        "variants.0.name": "花椒 250克",
        "variants.0.price": "45.5",
        "variants.0.perishable": "on",
        "variants.1.sku": "XP-500",
        "variants.1.name": "花椒 500克",
        "variants.1.price": "八十",
    }
    r = post(admin, "/admin/products/new", form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and field_error(html, "variants.1.price") == "填写大于 0 的价格（元）"
    r = post(admin, "/admin/products/new", {**form, "variants.1.price": "85"})
    assert r.status_code == 302
    prices = dict(db.session.execute(select(Variant.sku, Variant.price_fen)).all())
    assert prices == {"XP-250": 4550, "XP-500": 8500}
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert 'value="45.50"' in page

    r = post(admin, "/admin/products/new", {**form, "variants.1.price": "85"})
    assert r.status_code == 422 and field_error(r.get_data(as_text=True), "variants.0.sku") == "已被占用"

    product_path = re.search(r'action="(/admin/products/\d+)/images"', page).group(1)
    r = post(admin, "/admin/variants/XP-250", {"price": "48", "active": "on"}, form_page=product_path)
    assert r.status_code == 302
    page = admin.get(product_path).get_data(as_text=True)
    assert "¥45.50" in page and "¥48.00" in page and ADMIN in page  # price history: old, new, who


def test_fair_booth_from_the_page_and_an_operator_assigned_there(admin):
    today = clock.today()
    form = {
        "code": "fair-t",
        "kind": "fair",
        "name": "展销会展位",
        "pickup": "on",
        "opens_on": today.isoformat(),
    }
    r = post(admin, "/admin/locations/new", form)
    assert (
        r.status_code == 422
        and field_error(r.get_data(as_text=True), "closes_on") == "展会展位要填写第一天和最后一天"
    )
    r = post(admin, "/admin/locations/new", {**form, "closes_on": (today + timedelta(days=2)).isoformat()})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/locations/FAIR-T")
    loc = db.session.scalar(select(Location).where(Location.code == "FAIR-T"))
    assert (loc.active_from, loc.active_until, loc.pickup) == (today, today + timedelta(days=2), True)

    create_user("op@bo.example.cn", role="operator", locations=["FAIR-T"])
    create_user("op2@bo.example.cn", role="operator", locations=["FAIR-T"])
    op2 = find_user_by_email("op2@bo.example.cn").id
    r = post(
        admin, f"/admin/locations/FAIR-T/operators/{op2}/remove", {}, form_page="/admin/locations/FAIR-T"
    )
    assert r.status_code == 302
    page = admin.get("/admin/locations/FAIR-T").get_data(as_text=True)
    assert '<option value="op2@bo.example.cn">' in page  # a candidate again
    db.session.rollback()
    assert find_user_by_email("op2@bo.example.cn").locations == []
    r = post(
        admin,
        "/admin/locations/FAIR-T/operators",
        {"email": "op2@bo.example.cn"},
        form_page="/admin/locations/FAIR-T",
    )
    assert r.status_code == 302
    db.session.rollback()
    assert [x.code for x in find_user_by_email("op2@bo.example.cn").locations] == ["FAIR-T"]


def test_programme_with_township_sub_targets_from_the_page(admin):
    year = clock.today().year + 3
    form = {
        "code": f"DL-GG-{year}",
        "name": f"{year}年消费帮扶",
        "starts_on": f"{year}-01-01",
        "ends_on": f"{year}-12-31",
        "target": "60000000",
        "note": "区里确定的目标",
        "channel_targets.hall": "8000000",
        "township_targets.西坪镇": "1,500,000",
    }
    r = post(admin, "/admin/programmes/new", {**form, "township_targets.古坡镇": "abc"})
    assert (
        r.status_code == 422
        and field_error(r.get_data(as_text=True), "township_targets.古坡镇") == "填写大于 0 的价格（元）"
    )
    r = post(admin, "/admin/programmes/new", form)
    assert r.status_code == 302
    api = admin.get(f"/api/v1/aid/programmes/DL-GG-{year}").json
    assert api["target_fen"] == 6_000_000_000 and api["note"] == "区里确定的目标"
    assert {(t["kind"], t["key"], t["target_fen"]) for t in api["targets"]} == {
        ("channel", "hall", 800_000_000),
        ("township", "西坪镇", 150_000_000),
    }


@pytest.mark.parametrize("role", ["customer", "operator", "aid_officer", "producer"])
def test_admin_pages_are_refused_to_every_other_role(client, role):
    api = admin_api(client)
    api.post("/api/v1/admin/producers", json={"code": "p1", "name": "x", "township": "西坪镇"})
    api.post("/api/v1/admin/locations", json={"code": "DL-X", "name": "x", "kind": "hall", "pickup": True})
    email = f"{role}@x.cn"
    with atomic():
        create_staff_user(
            email=email,
            password="password-123",
            role=role,
            location_codes=["DL-X"] if role == "operator" else [],
            producer_code="p1" if role == "producer" else None,
        )
    login(client, email)
    admin_only = [
        "/admin/products",
        "/admin/products/new",
        "/admin/locations",
        "/admin/locations/new",
        "/admin/locations/DL-X",
        "/admin/producers/new",
    ]
    officers = [
        "/admin/",
        "/admin/producers",
        "/admin/producers/p1",
        "/admin/programmes",
        "/admin/programmes/new",
    ]
    for path in admin_only + (officers if role != "aid_officer" else []):
        assert client.get(path).status_code == 403, path
    if role == "aid_officer":
        for path in officers:
            assert client.get(path).status_code == 200, path
        r = post(
            client, "/admin/producers/p1", {"name": "改名"}
        )  # officers read producers, admins change them
        assert r.status_code == 302 and db.session.scalar(select(Producer.name_zh)) == "x"
