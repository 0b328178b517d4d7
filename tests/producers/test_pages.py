"""Settlement pages for admins and the producer's households page: refusals beside the field, in Chinese."""

from __future__ import annotations

import re

from sqlalchemy import func, select, update

from shop.accounts.models import User
from shop.core.db import atomic, db
from shop.producers.models import Household, Statement
from tests.conftest import create_user, sign_in_session
from tests.producers.helpers import month_moment, paid_order, period, producer_of

CHILI = "CHL-LINE-500G"


class Form:
    """Posts forms with the session's CSRF token, read from a page as a browser would."""

    def __init__(self, client, page: str):
        self.client = client
        self.token = re.search(
            r'name="csrf_token" value="([^"]+)"', client.get(page).get_data(as_text=True)
        ).group(1)

    def post(self, url: str, data: dict | None = None):
        return self.client.post(url, data={"csrf_token": self.token, **(data or {})})


def test_an_admin_runs_approves_and_records_a_payout_once_from_the_page(shop, client):
    admin = db.session.scalar(select(User).where(User.email == "admin@example.cn"))
    sign_in_session(client, admin)
    form = Form(client, "/admin/settlements/")
    code = producer_of(CHILI).code
    paid_order([(CHILI, 2)], at=month_moment(1))
    r = form.post("/admin/settlements/run", data={"period": period(1)})
    assert r.status_code == 302
    page = client.get(f"/admin/settlements/?period={period(1)}").get_data(as_text=True)
    assert f'id="st-{code}"' in page and "草稿" in page
    assert form.post(f"/admin/settlements/{period(1)}/{code}/approve").status_code == 302
    r = form.post(f"/admin/settlements/{period(1)}/{code}/paid", data={"reference": "  "})
    assert r.status_code == 422 and "请填写银行凭证号" in r.get_data(as_text=True)
    assert (
        form.post(f"/admin/settlements/{period(1)}/{code}/paid", data={"reference": "ABC-1"}).status_code
        == 302
    )
    r = form.post(f"/admin/settlements/{period(1)}/{code}/paid", data={"reference": "ABC-2"})
    assert r.status_code == 409 and "不能重复记录" in r.get_data(as_text=True)
    assert db.session.scalar(select(Statement.paid_reference)) == "ABC-1"
    assert client.get(f"/admin/settlements/{period(1)}/{code}/pdf").data.startswith(b"%PDF-")
    r = client.get("/admin/settlements/?period=2099-01")
    assert "不是" in r.get_data(as_text=True) or "future" in r.get_data(as_text=True)


def test_a_producer_adds_households_and_sees_refusals_beside_the_field(shop, client):
    user = create_user("coop@gangu.cn", role="customer")
    with atomic():
        db.session.execute(
            update(User).where(User.id == user.id).values(role="producer", producer_id=producer_of(CHILI).id)
        )
    sign_in_session(client, db.session.get(User, user.id))
    assert "本月销售" in client.get("/producer/").get_data(as_text=True)
    form = Form(client, "/producer/households")
    r = form.post(
        "/producer/households",
        data={"action": "household", "ref": "620523199001011234", "village": "村", "members": "3"},
    )
    assert r.status_code == 422 and "像是身份证号或手机号" in r.get_data(as_text=True)
    r = form.post(
        "/producer/households",
        data={"action": "household", "ref": "XP-1", "village": "西坪村", "members": "3"},
    )
    assert r.status_code == 302
    r = form.post(
        "/producer/households",
        data={"action": "income", "household": "XP-1", "kind": "wage", "amount": "-5", "on": "2026-01-01"},
    )
    assert r.status_code == 422
    assert db.session.scalar(select(func.count(Household.id))) == 1
    # Staff pages are not a producer's.
    assert client.get("/admin/settlements/").status_code == 403
