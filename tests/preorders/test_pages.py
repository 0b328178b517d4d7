"""The admin's campaign pages (set up, publish, record the harvest) and who may open them."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from shop.core import clock
from shop.core.db import db
from shop.preorders.models import Campaign
from tests.conftest import create_user, sign_in_session
from tests.preorders.helpers import close


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_admin_sets_up_publishes_and_harvests_from_the_pages(seeded, client):
    assert client.get("/admin/campaigns").status_code in (302, 401)
    sign_in_session(client, create_user("shopper@example.cn"))
    assert client.get("/admin/campaigns").status_code == 403

    admin_client = seeded.test_client()
    sign_in_session(admin_client, create_user("boss@example.cn", role="admin"))
    page = admin_client.get("/admin/campaigns")
    assert page.status_code == 200 and "新建认购活动" in page.get_data(as_text=True)
    token = _csrf(page.get_data(as_text=True))
    local = clock.to_local(clock.now())
    body = {
        "csrf_token": token,
        "code": "PEP-2026",
        "name": "大红袍花椒认购",
        "sku": "PEP-DHP-250G",
        "price_fen": "4000",
        "cap_units": "50",
        "per_buyer_cap": "5",
        "opens_at": (local - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "closes_at": (local + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M"),
        "ships_from": (local.date() + timedelta(days=30)).isoformat(),
    }
    bad = admin_client.post("/admin/campaigns", data={**body, "sku": "NOPE", "cap_units": "x"})
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert html.count('class="field-error"') == 1  # cap_units beside its field; nothing saved
    assert db.session.scalar(select(Campaign.id)) is None
    r = admin_client.post("/admin/campaigns", data=body)
    assert r.status_code == 302
    db.session.rollback()
    c = db.session.scalar(select(Campaign).where(Campaign.code == "PEP-2026"))
    assert c.status == "draft" and clock.to_local(c.opens_at).hour == (local - timedelta(hours=1)).hour
    assert client.get("/campaigns/PEP-2026").status_code == 404  # a draft is not public

    admin_client.post("/admin/campaigns/PEP-2026/status", data={"csrf_token": token, "status": "open"})
    r = client.get("/campaigns/PEP-2026")
    assert r.status_code == 200 and 'property="og:title"' in r.get_data(as_text=True)

    close("PEP-2026")
    r = admin_client.post(
        "/admin/campaigns/PEP-2026/harvest", data={"csrf_token": token, "units": "12", "lot": "P-7"}
    )
    assert r.status_code == 302
    db.session.rollback()
    c = db.session.scalar(select(Campaign).where(Campaign.code == "PEP-2026"))
    assert c.status == "harvested" and c.harvested_units == 12 and c.harvest_lot == "P-7"
