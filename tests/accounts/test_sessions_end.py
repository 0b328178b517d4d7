"""Web sessions and bearer tokens end: logout, password reset, role change, deactivation (issue #13,
item 2). A copy of a session cookie made before logout is what an attacker on a shared hall tablet has."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from shop.accounts import services
from shop.accounts.models import RevokedToken, User
from shop.core import clock
from shop.core.db import atomic, db
from shop.inventory.models import StockMovement
from tests.accounts.helpers import csrf, inline_tasks, last_link_token, web_login, web_post
from tests.conftest import create_user

STAFF_PAGE = "/staff/orders"


def _signed_in(client) -> bool:
    return client.get(STAFF_PAGE).status_code == 200


def _copy(client, app):
    """A second browser holding a copy of ``client``'s session cookie."""
    other = app.test_client()
    cookie = client.get_cookie("session")
    other.set_cookie("session", cookie.value)
    return other


def test_a_copied_session_cookie_is_refused_after_logout(seeded, client):
    create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    assert web_login(client, "op@hall.cn").status_code == 302
    thief = _copy(client, seeded)
    assert _signed_in(thief)
    assert web_post(client, "/logout").status_code == 302
    assert not _signed_in(client)
    r = thief.get(STAFF_PAGE)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    # A stock adjustment through the copied cookie is refused too (it went through before the fix).
    before = db.session.scalar(select(func.count()).select_from(StockMovement))
    form = {
        "sku": "APL-HN-5KG",
        "quantity": "5",
        "direction": "add",
        "reason": "found",
        "csrf_token": csrf(thief),
    }
    r = thief.post("/console/DL-HM/adjust", data=form)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert db.session.scalar(select(func.count()).select_from(StockMovement)) == before


def test_logging_out_on_one_device_keeps_the_others(seeded, client):
    create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    tablet = seeded.test_client()
    assert web_login(client, "op@hall.cn").status_code == 302
    assert web_login(tablet, "op@hall.cn").status_code == 302
    web_post(client, "/logout")
    assert not _signed_in(client) and _signed_in(tablet)


def test_a_refused_session_is_forgotten_so_it_cannot_be_re_signed(seeded, client):
    create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    web_login(client, "op@hall.cn")
    thief = _copy(client, seeded)
    web_post(client, "/logout")
    thief.get("/?lang=en")  # changes the session, so it is signed again
    data = seeded.session_interface.get_signing_serializer(seeded).loads(thief.get_cookie("session").value)
    assert "_user_id" not in data and "_sid" not in data and data.get("lang") == "en"


def test_password_reset_ends_every_session_and_token_of_the_account(seeded, client, api):
    create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    web_login(client, "op@hall.cn")
    phone = api.as_user("op@hall.cn")
    with inline_tasks(seeded):
        assert api.post("/api/v1/auth/password-reset", json={"email": "op@hall.cn"}).status_code == 202
    token = last_link_token("op@hall.cn")
    assert _signed_in(client) and phone.get("/api/v1/auth/me").status_code == 200  # not before the reset
    r = api.post("/api/v1/auth/password-reset/confirm", json={"token": token, "password": "new-password-9"})
    assert r.status_code == 204
    assert not _signed_in(client)
    assert phone.get("/api/v1/auth/me").status_code == 401
    assert api.as_user("op@hall.cn", "new-password-9").get("/api/v1/auth/me").status_code == 200


def test_role_change_and_deactivation_end_web_sessions_and_tokens(seeded, api):
    admin = api.as_user(create_user("admin@x.cn", role="admin").email)
    op = create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    browser = seeded.test_client()
    web_login(browser, "op@hall.cn")
    phone = api.as_user("op@hall.cn")
    r = admin.client.open(
        f"/api/v1/admin/staff/{op.id}",
        method="PATCH",
        json={"locations": ["DL-WX"]},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert r.status_code == 200 and r.json["locations"] == ["DL-WX"]
    assert not _signed_in(browser) and phone.get("/api/v1/auth/me").status_code == 401
    web_login(browser, "op@hall.cn")
    phone = api.as_user("op@hall.cn")
    assert admin.post(f"/api/v1/admin/staff/{op.id}/deactivate").status_code == 200
    assert not _signed_in(browser) and phone.get("/api/v1/auth/me").status_code == 401
    r = api.post("/api/v1/auth/token", json={"email": "op@hall.cn", "password": "password-123"})
    assert r.status_code == 403 and r.json["type"].endswith("account-deactivated")


def test_bearer_logout_ends_that_token_only(app, api):
    create_user("buyer@example.cn")
    phone, laptop = api.as_user("buyer@example.cn"), api.as_user("buyer@example.cn")
    assert phone.post("/api/v1/auth/logout").status_code == 204
    assert phone.get("/api/v1/auth/me").status_code == 401
    assert phone.post("/api/v1/auth/logout").status_code == 401
    assert laptop.get("/api/v1/auth/me").status_code == 200
    assert db.session.scalar(select(func.count()).select_from(RevokedToken)) == 1


def test_bearer_logout_everywhere_ends_tokens_and_web_sessions(seeded, client, api):
    create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    web_login(client, "op@hall.cn")
    phone, laptop = api.as_user("op@hall.cn"), api.as_user("op@hall.cn")
    assert phone.post("/api/v1/auth/logout", json={"everywhere": True}).status_code == 204
    assert laptop.get("/api/v1/auth/me").status_code == 401 and not _signed_in(client)


def test_logout_needs_a_valid_token(app, api):
    assert api.post("/api/v1/auth/logout").status_code == 401
    r = api.post("/api/v1/auth/logout", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401 and r.content_type == "application/problem+json"


def test_sessions_from_before_versioning_and_past_their_lifetime_are_refused(seeded, client):
    user = create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    sign = seeded.session_interface.get_signing_serializer(seeded).dumps
    now = int(clock.now().timestamp())
    ttl = seeded.extensions["settings"].WEB_SESSION_TTL_SECONDS
    cases = {
        "legacy": {"_user_id": str(user.id), "_fresh": True},
        "expired": {"_user_id": f"{user.id}:{user.token_version}", "_sid": "s1", "_sid_at": now - ttl - 5},
        "current": {"_user_id": f"{user.id}:{user.token_version}", "_sid": "s2", "_sid_at": now - 60},
    }
    seen = {}
    for name, data in cases.items():
        c = seeded.test_client()
        c.set_cookie("session", sign(data))
        seen[name] = _signed_in(c)
    assert seen == {"legacy": False, "expired": False, "current": True}


def test_revocations_are_purged_once_the_token_would_have_expired(app, api):
    create_user("buyer@example.cn")
    api.as_user("buyer@example.cn").post("/api/v1/auth/logout")
    user = db.session.scalar(select(User))
    with atomic():
        services.revoke("old-one", user_id=user.id, expires_at=clock.now() - timedelta(seconds=1))
    with atomic():
        counts = services.purge_expired()
    assert counts["revoked_tokens"] == 1
    assert db.session.scalar(select(func.count()).select_from(RevokedToken)) == 1
