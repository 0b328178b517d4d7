"""Password reset by emailed link: no account enumeration, single use, expiry, mail after commit."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shop.accounts.models import PasswordToken
from shop.core import clock
from shop.core.db import atomic, db
from shop.core.models import OutboxMessage
from tests.accounts.helpers import csrf, inline_tasks, last_link_token, mails_to
from tests.conftest import IsolatedClient, create_user, make_app

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"


def _outbox_tasks() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(OutboxMessage.task).order_by(OutboxMessage.id)))


def test_the_answer_is_the_same_whether_or_not_the_account_exists(app, api):
    create_user("li@example.cn")
    known = api.post(RESET, json={"email": "li@example.cn"})
    unknown = api.post(RESET, json={"email": "ghost@example.cn"})
    assert known.status_code == unknown.status_code == 202
    assert known.json == unknown.json
    # The request only queues the look-up: the same single outbox write either way, no mail yet.
    assert _outbox_tasks() == ["shop.accounts.send_password_link"] * 2
    assert mails_to("li@example.cn") == []


def test_the_link_is_mailed_after_commit_chinese_first(app, api):
    create_user("li@example.cn")
    with inline_tasks(app):
        api.post(RESET, json={"email": "LI@example.cn"})
        api.post(RESET, json={"email": "ghost@example.cn"})
    mails = mails_to("li@example.cn")
    assert len(mails) == 1 and mails[0].kind == "password_reset"
    body = mails[0].body
    assert "重设密码" in mails[0].subject and body.index("设置新密码") < body.index("choose a new password")
    assert "/password/set?token=" in body
    assert mails_to("ghost@example.cn") == []
    # Only the hash of the token is stored.
    token = last_link_token("li@example.cn")
    assert db.session.scalar(select(func.count()).where(PasswordToken.token_hash == token)) == 0


def test_a_link_sets_the_password_once(app, api):
    create_user("li@example.cn")
    with inline_tasks(app):
        api.post(RESET, json={"email": "li@example.cn"})
    token = last_link_token("li@example.cn")
    assert api.post(CONFIRM, json={"token": token, "password": "new-password-1"}).status_code == 204
    again = api.post(CONFIRM, json={"token": token, "password": "new-password-2"})
    assert again.status_code == 422 and again.json["errors"][0]["field"] == "token"
    assert (
        api.post(
            "/api/v1/auth/token", json={"email": "li@example.cn", "password": "password-123"}
        ).status_code
        == 401
    )
    assert api.as_user("li@example.cn", "new-password-1").get("/api/v1/auth/me").status_code == 200


def test_a_new_password_ends_the_other_links(app, api):
    create_user("li@example.cn")
    with inline_tasks(app):
        api.post(RESET, json={"email": "li@example.cn"})
        first = last_link_token("li@example.cn")
        api.post(RESET, json={"email": "li@example.cn"})
        second = last_link_token("li@example.cn")
    assert first != second
    assert api.post(CONFIRM, json={"token": second, "password": "new-password-1"}).status_code == 204
    assert api.post(CONFIRM, json={"token": first, "password": "new-password-2"}).status_code == 422


def test_an_expired_link_is_refused(app, api):
    create_user("li@example.cn")
    with inline_tasks(app):
        api.post(RESET, json={"email": "li@example.cn"})
    with atomic():
        db.session.execute(update(PasswordToken).values(expires_at=clock.now() - timedelta(seconds=1)))
    r = api.post(CONFIRM, json={"token": last_link_token("li@example.cn"), "password": "new-password-1"})
    assert r.status_code == 422 and r.content_type == "application/problem+json"


def test_a_deactivated_account_gets_no_link_and_cannot_use_an_old_one(app, api):
    create_user("admin@x.cn", role="admin")
    op = create_user("op@x.cn", role="aid_officer")
    with inline_tasks(app):
        api.post(RESET, json={"email": "op@x.cn"})
    token = last_link_token("op@x.cn")
    assert api.as_user("admin@x.cn").post(f"/api/v1/admin/staff/{op.id}/deactivate").status_code == 200
    assert api.post(CONFIRM, json={"token": token, "password": "new-password-1"}).status_code == 422
    with inline_tasks(app):
        api.post(RESET, json={"email": "op@x.cn"})
    assert len(mails_to("op@x.cn")) == 1  # the one from before the deactivation


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {},
        {"email": "a@b.cn", "extra": 1},
    ],
)
def test_bad_reset_requests_are_422(app, api, body):
    assert api.post(RESET, json=body).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"token": "x", "password": "short"},
        {"token": "", "password": "long-enough-1"},
        {"password": "long-enough"},
    ],
)
def test_bad_confirmations_are_422(app, api, body):
    r = api.post(CONFIRM, json=body)
    assert r.status_code == 422 and r.json["errors"]


def test_two_tabs_using_one_link_at_once_set_one_password(app, api):
    create_user("li@example.cn")
    with inline_tasks(app):
        api.post(RESET, json={"email": "li@example.cn"})
    token = last_link_token("li@example.cn")
    statuses = []

    def confirm(pw):
        c = app.test_client()
        statuses.append(c.post(CONFIRM, json={"token": token, "password": pw}).status_code)

    threads = [threading.Thread(target=confirm, args=(f"new-password-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [204, 422, 422, 422]


def test_reset_mails_are_limited_per_address_and_per_client(app, pg_url, redis_url, tmp_path):
    limited = make_app(
        pg_url,
        redis_url,
        tmp_path,
        RATELIMIT_ENABLED=True,
        RATE_LIMIT_PASSWORD_RESET_EMAIL="2/hour",
        RATE_LIMIT_PASSWORD_RESET="4/minute",
    )
    c = limited.test_client()
    assert [c.post(RESET, json={"email": "li@example.cn"}).status_code for _ in range(3)] == [202, 202, 429]
    assert c.post(RESET, json={"email": "wang@example.cn"}).status_code == 202
    assert c.post(RESET, json={"email": "zhao@example.cn"}).status_code == 429  # 4 a minute from one client


# -- the pages -------------------------------------------------------------------------------------


def test_forgot_password_page_shows_errors_next_to_the_field_in_chinese(app, client):
    r = client.post(
        "/password/forgot", data={"csrf_token": csrf(client, "/password/forgot"), "email": "nope"}
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and 'id="email-error"' in html and "请输入有效的电子邮件地址" in html
    r = client.post(
        "/password/forgot", data={"csrf_token": csrf(client, "/password/forgot"), "email": "ghost@example.cn"}
    )
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert "ghost@example.cn" in client.get("/login").get_data(as_text=True)  # the same message for anyone


def test_set_password_page(app, client):
    create_user("li@example.cn")
    with inline_tasks(app):
        client.post(
            "/password/forgot",
            data={"csrf_token": csrf(client, "/password/forgot"), "email": "li@example.cn"},
        )
    token = last_link_token("li@example.cn")
    opened = client.get(f"/password/set?token={token}")
    # The token leaves the address bar at once (shared tablets keep history; later requests' Referer).
    assert opened.status_code == 303 and opened.headers["Location"] == "/password/set"
    page = client.get("/password/set")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "设置密码" in html and f'value="{token}"' in html
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    form = {"csrf_token": csrf(client, "/password/set"), "token": token}
    r = client.post("/password/set", data={**form, "password": "new-password-1", "confirm": "other-password"})
    html = r.get_data(as_text=True)
    assert 'id="confirm-error"' in html and "两次输入的密码不一致" in html
    r = client.post("/password/set", data={**form, "password": "new-password-1", "confirm": "new-password-1"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    r = client.post("/password/set", data={**form, "password": "new-password-2", "confirm": "new-password-2"})
    assert "链接无效" in r.get_data(as_text=True)


def test_an_invitation_link_works_on_the_same_page(app, api):
    create_user("admin@x.cn", role="admin")
    admin = api.as_user("admin@x.cn")
    r = admin.post("/api/v1/admin/staff", json={"email": "new@x.cn", "name": "新同事", "role": "aid_officer"})
    assert r.status_code == 201 and r.json["password_set"] is False
    c = IsolatedClient(app)
    token = last_link_token("new@x.cn")
    assert c.post(CONFIRM, json={"token": token, "password": "chosen-password-1"}).status_code == 204
    assert api.as_user("new@x.cn", "chosen-password-1").get("/api/v1/auth/me").json["password_set"] is True
