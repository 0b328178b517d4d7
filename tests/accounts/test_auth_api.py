import re

import pytest

from shop.accounts.models import User
from shop.core.db import db
from tests.conftest import create_user


def register(api, email="li@example.cn", password="password-123", name="李明", **extra):
    return api.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "name": name, **extra}
    )


def test_register_then_token_then_me(app, api):
    r = register(api)
    assert r.status_code == 201
    assert r.json["role"] == "customer" and "password" not in r.json
    tok = api.post("/api/v1/auth/token", json={"email": "li@example.cn", "password": "password-123"})
    assert tok.status_code == 200
    assert tok.json["token_type"] == "Bearer" and tok.json["expires_in"] > 0
    me = api.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tok.json['access_token']}"})
    assert me.status_code == 200 and me.json["email"] == "li@example.cn"


def test_password_is_hashed_with_argon2(app, api):
    register(api)
    user = db.session.query(User).one()
    assert user.password_hash.startswith("$argon2")
    assert "password-123" not in user.password_hash


def test_duplicate_email_is_409_and_changes_nothing(app, api):
    assert register(api).status_code == 201
    r = register(api, email="LI@example.cn")
    assert r.status_code == 409 and r.content_type == "application/problem+json"
    assert db.session.query(User).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": "password-123", "name": "x"},
        {"email": "a@b.cn", "password": "short", "name": "x"},
        {"email": "a@b.cn", "password": "password-123"},
        {"email": "a@b.cn", "password": "password-123", "name": ""},
        {"email": "a@b.cn", "password": "password-123", "name": "x", "buyer_kind": "alien"},
    ],
)
def test_register_bad_input_is_422(app, api, body):
    r = api.post("/api/v1/auth/register", json=body)
    assert r.status_code == 422
    assert r.json["errors"] and all({"field", "message"} <= set(e) for e in r.json["errors"])
    assert db.session.query(User).count() == 0


def test_malformed_json_is_400_problem(app, api):
    r = api.client.post("/api/v1/auth/register", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.content_type == "application/problem+json"


def test_work_unit_needs_invoice_title_and_tax_id(app, api):
    r = register(api, buyer_kind="work_unit")
    assert r.status_code == 422
    # The tax id of a unit is its unified social credit code, whose check character must match.
    r = register(api, buyer_kind="work_unit", invoice_title="东丽区机关食堂", tax_id="12120110MB0000000X")
    assert r.status_code == 422 and r.json["errors"][0]["field"] == "tax_id"
    r = register(api, buyer_kind="work_unit", invoice_title="东丽区机关食堂", tax_id="12120110MB0000000H")
    assert r.status_code == 201 and r.json["buyer_kind"] == "work_unit"
    assert r.json["verification"] == "pending"


def test_wrong_password_is_401_and_repeated_failures_lock(app, api):
    register(api)
    for _ in range(5):
        r = api.post("/api/v1/auth/token", json={"email": "li@example.cn", "password": "wrong-pass"})
        assert r.status_code == 401
    r = api.post("/api/v1/auth/token", json={"email": "li@example.cn", "password": "password-123"})
    assert r.status_code == 429 and r.json["retry_after"] > 0


def test_unknown_email_is_401(app, api):
    r = api.post("/api/v1/auth/token", json={"email": "ghost@example.cn", "password": "whatever1"})
    assert r.status_code == 401


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer nonsense", "Basic abc", "Bearer a.b.c"])
def test_bad_tokens_are_401(app, api, header):
    r = api.client.get("/api/v1/auth/me", headers={"Authorization": header} if header else {})
    assert r.status_code == 401 and r.content_type == "application/problem+json"


def test_token_revoked_when_password_reset(app, api):
    create_user("op@hall.cn", role="admin")
    client = api.as_user("op@hall.cn")
    assert client.get("/api/v1/auth/me").status_code == 200
    create_user("op@hall.cn", role="admin", password="new-password-1")  # resets and bumps token version
    assert client.get("/api/v1/auth/me").status_code == 401


def test_staff_roles_and_locations(seeded, api):
    create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    me = api.as_user("op@hall.cn").get("/api/v1/auth/me").json
    assert me["role"] == "operator" and me["locations"] == ["DL-HM"]


def test_cli_creates_staff_users(seeded):
    runner = seeded.test_cli_runner()
    r = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "op@x.cn",
            "--password",
            "pw-123456",
            "--role",
            "operator",
            "--location",
            "DL-WX",
        ]
    )
    assert r.exit_code == 0, r.output
    user = db.session.query(User).filter_by(email="op@x.cn").one()
    assert user.role == "operator" and [loc.code for loc in user.locations] == ["DL-WX"]
    r = runner.invoke(
        args=["users", "create", "--email", "op2@x.cn", "--password", "pw", "--role", "operator"]
    )
    assert r.exit_code != 0 and "location" in r.output
    r = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "op3@x.cn",
            "--password",
            "pw",
            "--role",
            "operator",
            "--location",
            "NOPE",
        ]
    )
    assert r.exit_code != 0


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def test_web_register_login_logout(seeded, client):
    token = _csrf(client.get("/register").get_data(as_text=True))
    r = client.post(
        "/register",
        data={"csrf_token": token, "email": "wang@example.cn", "name": "王芳", "password": "password-123"},
    )
    assert r.status_code == 302
    assert "王芳" in client.get("/").get_data(as_text=True)
    home = client.get("/").get_data(as_text=True)
    logout_token = re.search(r'name="csrf_token" value="([^"]+)"', home).group(1)
    assert client.post("/logout", data={"csrf_token": logout_token}).status_code == 302
    assert "王芳" not in client.get("/").get_data(as_text=True)
    token = _csrf(client.get("/login").get_data(as_text=True))
    r = client.post(
        "/login", data={"csrf_token": token, "email": "wang@example.cn", "password": "password-123"}
    )
    assert r.status_code == 302
    assert "王芳" in client.get("/").get_data(as_text=True)


def test_web_forms_require_csrf(seeded, client):
    r = client.post("/login", data={"email": "a@b.cn", "password": "x"})
    assert r.status_code == 400


def test_login_never_redirects_off_site(seeded, client):
    create_user("c@x.cn")
    token = _csrf(client.get("/login").get_data(as_text=True))
    r = client.post(
        "/login?next=https://evil.example/",
        data={"csrf_token": token, "email": "c@x.cn", "password": "password-123"},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"
