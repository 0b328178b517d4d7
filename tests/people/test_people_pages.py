"""The admins' people pages, Chinese-first with errors next to their fields; the audit log reads as text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from shop.accounts.models import User
from shop.audit.models import AuditEvent
from shop.core.db import atomic, db
from tests.accounts.helpers import csrf, inline_tasks, mails_to, web_login
from tests.conftest import create_user


@pytest.fixture
def admin_client(seeded, client):
    create_user("admin@x.cn", role="admin")
    assert web_login(client, "admin@x.cn").status_code == 302
    return client


def _form(client, path: str) -> str:
    return csrf(client, path)


def test_only_admins_see_the_people_pages(seeded, client):
    create_user("officer@x.cn", role="aid_officer")
    assert client.get("/admin/people/").status_code == 302  # sign in first
    web_login(client, "officer@x.cn")
    assert client.get("/admin/people/").status_code == 403
    assert client.get("/admin/people/invite").status_code == 403


def test_list_search_and_paging(admin_client):
    for n in range(30):
        create_user(f"op{n:02d}@hall.cn", role="operator", locations=["DL-HM"])
    html = admin_client.get("/admin/people/").get_data(as_text=True)
    for text in ("人员", "展馆操作员", "共 31 人", "1 / 2"):
        assert text in html, text
    html = admin_client.get("/admin/people/?q=op07").get_data(as_text=True)
    assert "op07@hall.cn" in html and "op08@hall.cn" not in html
    assert "op29@hall.cn" in admin_client.get("/admin/people/?page=2").get_data(as_text=True)


def test_invite_form_shows_errors_next_to_their_fields(admin_client):
    token = _form(admin_client, "/admin/people/invite")
    r = admin_client.post(
        "/admin/people/invite",
        data={"csrf_token": token, "email": "admin@x.cn", "name": "", "role": "operator"},
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert re.search(r'id="name-error"[^>]*>请填写此项', html)
    r = admin_client.post(
        "/admin/people/invite",
        data={"csrf_token": token, "email": "new@x.cn", "name": "新同事", "role": "operator"},
    )
    assert re.search(r'id="locations-error"[^>]*>请为操作员至少选择一个展馆', r.get_data(as_text=True))
    r = admin_client.post(
        "/admin/people/invite",
        data={"csrf_token": token, "email": "admin@x.cn", "name": "重复", "role": "admin"},
    )
    assert re.search(r'id="email-error"[^>]*>此邮箱已有账户', r.get_data(as_text=True))
    assert "locations:" not in r.get_data(as_text=True)  # no raw field paths


def test_invite_change_deactivate_and_reactivate_from_the_pages(admin_client, seeded):
    token = _form(admin_client, "/admin/people/invite")
    with inline_tasks(seeded):
        r = admin_client.post(
            "/admin/people/invite",
            data={
                "csrf_token": token,
                "email": "wang@hall.cn",
                "name": "王芳",
                "role": "operator",
                "locations": ["DL-HM", "DL-WX"],
            },
        )
    assert r.status_code == 302
    assert "邀请已发送至 wang@hall.cn" in admin_client.get("/admin/people/").get_data(as_text=True)
    assert mails_to("wang@hall.cn")
    user = db.session.scalar(select(User).where(User.email == "wang@hall.cn"))
    page = admin_client.get(f"/admin/people/{user.id}").get_data(as_text=True)
    assert "已邀请，尚未设置密码" in page and 'value="DL-WX" checked' in page
    r = admin_client.post(
        f"/admin/people/{user.id}",
        data={"csrf_token": token, "name": "王芳", "role": "aid_officer"},
    )
    assert r.status_code == 302
    db.session.rollback()
    assert db.session.get(User, user.id).role == "aid_officer"
    r = admin_client.post(f"/admin/people/{user.id}/deactivate", data={"csrf_token": token})
    assert r.status_code == 302
    assert "已停用" in admin_client.get(r.headers["Location"]).get_data(as_text=True)
    admin_client.post(f"/admin/people/{user.id}/reactivate", data={"csrf_token": token})
    db.session.rollback()
    assert db.session.get(User, user.id).active is True


def test_the_audit_log_shows_chinese_as_text_in_beijing_time(admin_client):
    token = _form(admin_client, "/admin/people/invite")
    admin_client.post(
        "/admin/people/invite",
        data={"csrf_token": token, "email": "new@x.cn", "name": "微山湖", "role": "aid_officer"},
    )
    with atomic():
        db.session.execute(
            update(AuditEvent)
            .where(AuditEvent.action == "user.invite")
            .values(created_at=datetime(2026, 3, 1, 16, 30, tzinfo=UTC))
        )
    html = admin_client.get("/admin/audit?action=user.").get_data(as_text=True)
    assert "微山湖" in html and "\\u5fae" not in html
    assert "2026-03-02 00:30" in html  # 16:30 UTC is half past midnight the next day in Beijing
    assert "certificate." not in html  # the filter by prefix lists user.* only
