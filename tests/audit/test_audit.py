from datetime import date

import pytest

from shop.audit.models import AuditEvent
from shop.core import clock
from shop.core.db import db
from tests.conftest import create_user


@pytest.fixture
def admin(seeded, api):
    create_user("admin@x.cn", role="admin")
    return api.as_user("admin@x.cn")


def test_role_change_is_audited_and_revokes_tokens(seeded, api, admin):
    customer = create_user("c@x.cn")
    c_api = api.as_user("c@x.cn")
    r = admin.post(
        f"/api/v1/admin/users/{customer.id}/role", json={"role": "operator", "locations": ["DL-HM"]}
    )
    assert r.status_code == 200 and r.json["role"] == "operator" and r.json["locations"] == ["DL-HM"]
    assert c_api.get("/api/v1/auth/me").status_code == 401  # old token no longer valid
    events = admin.get("/api/v1/audit?action=user.role_change").json
    assert events["total"] == 1
    ev = events["items"][0]
    assert ev["actor_email"] == "admin@x.cn"
    assert ev["details"]["before"]["role"] == "customer" and ev["details"]["after"]["locations"] == ["DL-HM"]


def test_role_change_bad_input_changes_nothing(seeded, api, admin):
    customer = create_user("c@x.cn")
    assert admin.post(f"/api/v1/admin/users/{customer.id}/role", json={"role": "operator"}).status_code == 422
    assert admin.post(f"/api/v1/admin/users/{customer.id}/role", json={"role": "king"}).status_code == 422
    r = admin.post(
        f"/api/v1/admin/users/{customer.id}/role", json={"role": "operator", "locations": ["NOPE"]}
    )
    assert r.status_code == 422
    assert admin.post("/api/v1/admin/users/99999/role", json={"role": "customer"}).status_code == 404
    assert db.session.query(AuditEvent).filter_by(action="user.role_change").count() == 0


def test_only_admins_change_roles_and_read_the_log(seeded, api):
    create_user("officer@x.cn", role="aid_officer")
    target = create_user("c@x.cn")
    officer = api.as_user("officer@x.cn")
    assert officer.post(f"/api/v1/admin/users/{target.id}/role", json={"role": "admin"}).status_code == 403
    assert officer.get("/api/v1/audit").status_code == 403
    assert api.get("/api/v1/audit").status_code == 401


def test_certificate_add_and_revoke_are_audited(seeded, api, admin):
    producers = api.get("/api/v1/producers?per_page=100").json["items"]
    veg = next(p for p in producers if p["certificate"] is None and p["township"] == "大石镇")
    body = {
        "number": "GGFP-NEW-1",
        "issuer": "甘谷县乡村振兴局",
        "valid_from": clock.today().isoformat(),
        "valid_until": date(clock.today().year, 12, 31).isoformat(),
    }
    r = admin.post(f"/api/v1/admin/producers/{veg['id']}/certificates", json=body)
    assert r.status_code == 201, r.json
    assert api.get(f"/api/v1/producers/{veg['id']}").json["certificate"]["number"] == "GGFP-NEW-1"
    assert admin.post(f"/api/v1/admin/producers/{veg['id']}/certificates", json=body).status_code == 409
    bad = {**body, "number": "X-2", "valid_until": "2000-01-01"}
    assert admin.post(f"/api/v1/admin/producers/{veg['id']}/certificates", json=bad).status_code == 422
    r = admin.post("/api/v1/admin/certificates/GGFP-NEW-1/revoke", json={"reason": "withdrawn by county"})
    assert r.status_code == 200 and r.json["revoked"] is True
    assert api.get(f"/api/v1/producers/{veg['id']}").json["certificate"] is None
    actions = [e["action"] for e in admin.get("/api/v1/audit").json["items"]]
    assert "certificate.add" in actions and "certificate.revoke" in actions


def test_audit_never_stores_secrets(seeded):
    from shop.audit.services import record
    from shop.core.db import atomic

    with atomic():
        ev = record(None, "test", target_type="x", target_id=1, password="hunter2", card_number="4242", ok=1)
    assert ev.details == {"password": "[redacted]", "card_number": "[redacted]", "ok": 1}


def test_admin_audit_page(seeded, client):
    import re

    create_user("admin@x.cn", role="admin")
    token = re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', client.get("/login").get_data(as_text=True)
    )
    client.post(
        "/login", data={"csrf_token": token.group(1), "email": "admin@x.cn", "password": "password-123"}
    )
    r = client.get("/admin/audit")
    assert r.status_code == 200 and "user.create_or_reset" in r.get_data(as_text=True)
