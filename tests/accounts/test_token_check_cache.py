"""The bearer check's per-process copy of the account (shop.accounts.livecache): no account query per
request once a token was checked, and every way of ending a token still works on the very next request,
in this process and in another one (a second app on the same database and Redis)."""

from __future__ import annotations

import contextlib

from sqlalchemy import event, update

from shop.accounts.models import User
from shop.core.db import atomic, db
from tests.conftest import create_user, make_app


@contextlib.contextmanager
def _account_reads(app):
    """Collect the statements that read the account table while the block runs."""
    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def log(conn, cursor, statement, parameters, context, executemany):
        if "FROM user_account" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", log)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", log)


def test_a_checked_token_is_not_read_again(app, api):
    assert app.extensions["settings"].AUTH_CACHE_SECONDS > 0
    create_user("buyer@example.cn")
    phone = api.as_user("buyer@example.cn")
    assert phone.get("/api/v1/auth/me").status_code == 200
    with _account_reads(app) as seen:
        for _ in range(3):
            r = phone.get("/api/v1/auth/me")
            assert r.status_code == 200 and r.json["email"] == "buyer@example.cn"
    assert seen == []


def test_profile_changes_are_seen_on_the_next_request(app, api):
    user = create_user("buyer@example.cn")
    phone = api.as_user("buyer@example.cn")
    assert phone.get("/api/v1/auth/me").json["name"] != "新名字"
    with atomic():
        db.session.get(User, user.id).name = "新名字"
    assert phone.get("/api/v1/auth/me").json["name"] == "新名字"


def test_logout_of_a_checked_token_ends_it_at_once(app, api):
    create_user("buyer@example.cn")
    phone, laptop = api.as_user("buyer@example.cn"), api.as_user("buyer@example.cn")
    assert phone.get("/api/v1/auth/me").status_code == 200
    assert laptop.get("/api/v1/auth/me").status_code == 200
    assert phone.post("/api/v1/auth/logout").status_code == 204
    assert phone.get("/api/v1/auth/me").status_code == 401
    assert laptop.get("/api/v1/auth/me").status_code == 200


def test_password_change_deactivation_and_logout_everywhere_end_checked_tokens(app, api):
    from shop.accounts import services

    user = create_user("buyer@example.cn")

    def warm():
        t = api.as_user("buyer@example.cn")
        assert t.get("/api/v1/auth/me").status_code == 200
        return t

    phone = warm()
    with atomic():
        services.set_password(db.session.get(User, user.id), "another-password-456")
    assert phone.get("/api/v1/auth/me").status_code == 401

    with atomic():
        services.set_password(db.session.get(User, user.id), "password-123")
    phone, laptop = warm(), warm()
    assert phone.post("/api/v1/auth/logout", json={"everywhere": True}).status_code == 204
    assert laptop.get("/api/v1/auth/me").status_code == 401

    phone = warm()
    with atomic():
        db.session.get(User, user.id).active = False
    assert phone.get("/api/v1/auth/me").status_code == 401


def test_a_change_made_by_another_process_ends_this_ones_copy(app, api, pg_url, redis_url, tmp_path):
    user = create_user("buyer@example.cn")
    phone = api.as_user("buyer@example.cn")
    assert phone.get("/api/v1/auth/me").status_code == 200
    other = make_app(pg_url, redis_url, tmp_path)
    with other.app_context():
        with atomic():
            db.session.get(User, user.id).active = False
        db.session.remove()
    with _account_reads(app) as seen:
        assert phone.get("/api/v1/auth/me").status_code == 401
    assert seen  # the copy was not used: the account was read again


def test_a_lost_bump_is_bounded_by_the_copy_lifetime(app, api, monkeypatch):
    """A change the cache never hears of (here a plain UPDATE; in production a bump lost to a Redis
    outage) is seen once the copy is older than AUTH_CACHE_SECONDS: with 0 there is no copy at all."""
    user = create_user("buyer@example.cn")
    phone = api.as_user("buyer@example.cn")
    assert phone.get("/api/v1/auth/me").status_code == 200
    with atomic():
        db.session.execute(update(User).where(User.id == user.id).values(active=False))
    assert phone.get("/api/v1/auth/me").status_code == 200  # the copy, as documented
    app.extensions.pop("auth_cache")
    monkeypatch.setattr(app.extensions["settings"], "AUTH_CACHE_SECONDS", 0)
    assert phone.get("/api/v1/auth/me").status_code == 401


def test_without_redis_every_request_reads_the_account(app, api, pg_url, tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = f"redis://127.0.0.1:{s.getsockname()[1]}/0"  # bound, never listening: refused at once
    create_user("buyer@example.cn")
    token = api.as_user("buyer@example.cn").token
    offline = make_app(pg_url, dead, tmp_path)
    client = offline.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    try:
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        with _account_reads(offline) as seen:
            assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        assert seen
        assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    finally:
        s.close()
        with offline.app_context():
            db.engine.dispose()
