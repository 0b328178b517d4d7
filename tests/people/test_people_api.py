"""Admins invite, change and deactivate people through /api/v1/admin/staff (issue #14, item 6)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.audit.models import AuditEvent
from shop.catalog.models import Producer
from shop.core.db import db
from tests.accounts.helpers import inline_tasks, last_link_token, mails_to
from tests.conftest import create_user

STAFF = "/api/v1/admin/staff"


@pytest.fixture
def admin(seeded, api):
    create_user("admin@x.cn", role="admin")
    return api.as_user("admin@x.cn")


def _patch(client, path, body):
    return client.client.open(
        path, method="PATCH", json=body, headers={"Authorization": f"Bearer {client.token}"}
    )


def _actions() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_invite_an_operator_who_then_sets_their_own_password(seeded, api, admin):
    with inline_tasks(seeded):
        r = admin.post(
            STAFF, json={"email": "Wang@Hall.cn", "name": "王芳", "role": "operator", "locations": ["DL-HM"]}
        )
    assert r.status_code == 201, r.json
    assert r.json | {"id": 0} == {
        "id": 0,
        "email": "wang@hall.cn",
        "name": "王芳",
        "role": "operator",
        "locations": ["DL-HM"],
        "producer": None,
        "active": True,
        "password_set": False,
        "buyer_kind": "consumer",
        "invoice_title": "",
        "tax_id": "",
        "verification": None,
    }
    mail = mails_to("wang@hall.cn")[0]
    assert mail.kind == "password_invite" and "展馆操作员" in mail.body
    # Nobody can sign in before the person chose a password.
    assert api.post("/api/v1/auth/token", json={"email": "wang@hall.cn", "password": ""}).status_code == 422
    assert (
        api.post("/api/v1/auth/token", json={"email": "wang@hall.cn", "password": "!unset"}).status_code
        == 401
    )
    token = last_link_token("wang@hall.cn")
    assert (
        api.post(
            "/api/v1/auth/password-reset/confirm", json={"token": token, "password": "chosen-pw-1"}
        ).status_code
        == 204
    )
    me = api.as_user("wang@hall.cn", "chosen-pw-1").get("/api/v1/auth/me").json
    assert me["locations"] == ["DL-HM"] and me["password_set"] is True
    assert {"user.invite", "user.invite_sent", "user.password_set"} <= set(_actions())


def test_invite_a_producer_account(seeded, admin):
    code = db.session.scalar(select(Producer.code).order_by(Producer.id).limit(1))
    r = admin.post(
        STAFF, json={"email": "coop@gangu.cn", "name": "合作社", "role": "producer", "producer": code}
    )
    assert r.status_code == 201 and r.json["producer"] == code and r.json["role"] == "producer"


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"role": "operator"}, "locations", 422),
        ({"role": "operator", "locations": ["NOPE"]}, "locations", 422),
        ({"role": "producer"}, "producer", 422),
        ({"role": "producer", "producer": "NOPE"}, "producer", 422),
        ({"role": "aid_officer", "producer": "NOPE"}, "producer", 422),
        ({"role": "customer"}, "role", 422),
        ({"role": "admin", "email": "admin@x.cn"}, "email", 409),
        ({"role": "admin", "email": "not-an-email"}, "email", 422),
        ({"role": "admin", "name": ""}, "name", 422),
    ],
)
def test_bad_invitations_name_the_field_and_change_nothing(seeded, admin, body, field, status):
    users = db.session.scalar(select(func.count()).select_from(User))
    r = admin.post(STAFF, json={"email": "new@x.cn", "name": "新人", **body})
    assert r.status_code == status and r.content_type == "application/problem+json"
    assert field in {e["field"] for e in r.json.get("errors", [])} or field in r.json["detail"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User)) == users


def test_an_invitation_retried_with_its_idempotency_key_is_made_once(seeded, admin):
    body = {"email": "new@x.cn", "name": "新人", "role": "aid_officer"}
    first = admin.post(STAFF, json=body, headers={"Idempotency-Key": "inv-1"})
    again = admin.post(STAFF, json=body, headers={"Idempotency-Key": "inv-1"})
    assert first.status_code == again.status_code == 201 and first.json == again.json
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = admin.post(STAFF, json={**body, "name": "别人"}, headers={"Idempotency-Key": "inv-1"})
    assert other.status_code == 422


def test_list_search_and_paging(seeded, admin):
    for n in range(5):
        create_user(f"op{n}@hall.cn", role="operator", locations=["DL-HM"])
    create_user("buyer@x.cn")
    r = admin.get(f"{STAFF}?per_page=2&page=2")
    assert r.json["total"] == 6 and len(r.json["items"]) == 2 and r.json["page"] == 2
    assert admin.get(f"{STAFF}?q=OP3").json["items"][0]["email"] == "op3@hall.cn"
    assert admin.get(f"{STAFF}?q=%25").json["total"] == 0  # a % is searched for, not a wildcard
    assert [u["email"] for u in admin.get(f"{STAFF}?role=customer").json["items"]] == ["buyer@x.cn"]
    assert admin.get(f"{STAFF}?status=invited").json["total"] == 0
    assert admin.get(f"{STAFF}?role=king").status_code == 422


def test_change_role_and_halls_is_audited_and_a_no_op_signs_nobody_out(seeded, api, admin):
    op = create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    phone = api.as_user("op@hall.cn")
    r = _patch(admin, f"{STAFF}/{op.id}", {"locations": ["DL-HM"]})
    assert r.status_code == 200 and phone.get("/api/v1/auth/me").status_code == 200
    r = _patch(admin, f"{STAFF}/{op.id}", {"role": "aid_officer", "name": "王 芳"})
    assert r.status_code == 200 and r.json["role"] == "aid_officer" and r.json["locations"] == []
    assert phone.get("/api/v1/auth/me").status_code == 401
    assert {"user.role_change", "user.rename"} <= set(_actions())


def test_deactivate_and_reactivate(seeded, api, admin):
    op = create_user("op@hall.cn", role="operator", locations=["DL-HM"])
    r = admin.post(f"{STAFF}/{op.id}/deactivate")
    assert r.status_code == 200 and r.json["active"] is False
    assert admin.post(f"{STAFF}/{op.id}/deactivate").status_code == 200  # again: nothing changes
    assert admin.post(f"{STAFF}/{op.id}/password-link").status_code == 422
    assert admin.post(f"{STAFF}/{op.id}/reactivate").json["active"] is True
    assert api.as_user("op@hall.cn").get("/api/v1/auth/me").status_code == 200
    assert _actions().count("user.deactivate") == 1 and "user.reactivate" in _actions()


def test_the_last_admin_cannot_be_removed_and_nobody_deactivates_themselves(seeded, api, admin):
    me = db.session.scalar(select(User).where(User.email == "admin@x.cn"))
    r = admin.post(f"{STAFF}/{me.id}/deactivate")
    assert r.status_code == 409 and r.json["type"].endswith("not-on-yourself")
    r = _patch(admin, f"{STAFF}/{me.id}", {"role": "aid_officer"})
    assert r.status_code == 409 and r.json["type"].endswith("last-admin")
    other = create_user("admin2@x.cn", role="admin")
    assert _patch(admin, f"{STAFF}/{me.id}", {"role": "aid_officer"}).status_code == 200
    assert api.as_user("admin2@x.cn").post(f"{STAFF}/{other.id}/deactivate").status_code == 409


def test_password_link_sends_an_invitation_again_or_a_reset(seeded, admin):
    with inline_tasks(seeded):
        invited = admin.post(STAFF, json={"email": "new@x.cn", "name": "新人", "role": "aid_officer"}).json
        assert admin.post(f"{STAFF}/{invited['id']}/password-link").status_code == 202
        create_user("op@hall.cn", role="operator", locations=["DL-HM"])
        op = db.session.scalar(select(User).where(User.email == "op@hall.cn"))
        assert admin.post(f"{STAFF}/{op.id}/password-link").status_code == 202
    assert [m.kind for m in mails_to("new@x.cn")] == ["password_invite", "password_invite"]
    assert [m.kind for m in mails_to("op@hall.cn")] == ["password_reset"]


def test_unknown_people_are_404(seeded, admin):
    assert admin.get(f"{STAFF}/99999").status_code == 404
    assert admin.post(f"{STAFF}/99999/deactivate").status_code == 404
