"""Officer data is for aid officers and administrators: 401 without a token, 403 problem for others."""

from __future__ import annotations

import pytest

from tests.aid.conftest import CODE
from tests.conftest import create_user

OFFICER_ENDPOINTS = [
    ("get", f"/api/v1/aid/programmes/{CODE}/totals"),
    ("get", f"/api/v1/aid/programmes/{CODE}/export?format=csv"),
    ("get", f"/api/v1/aid/programmes/{CODE}/export?format=xlsx"),
    ("get", f"/api/v1/aid/programmes/{CODE}/work-units"),
    ("get", "/api/v1/aid/offshop-sales"),
    ("get", "/api/v1/aid/offshop-sales/1"),
    ("post", "/api/v1/aid/offshop-sales"),
    ("post", "/api/v1/aid/offshop-sales/1/approve"),
    ("post", "/api/v1/aid/offshop-sales/1/reject"),
    ("post", "/api/v1/aid/offshop-sales/1/void"),
    ("get", "/api/v1/aid/reconciliation-runs"),
    ("post", "/api/v1/aid/programmes"),
    ("patch", f"/api/v1/aid/programmes/{CODE}"),
]


def _call(api, method: str, url: str):
    headers = {"Authorization": f"Bearer {api.token}"} if api.token else {}
    if method == "get":
        return api.client.get(url, headers=headers)
    return getattr(api.client, method)(url, json={"reason": "x"}, headers=headers)


@pytest.mark.parametrize("method,url", OFFICER_ENDPOINTS)
def test_officer_endpoints_refuse_everyone_else(seeded, api, method, url):
    create_user("buyer@example.cn")
    create_user("hall@dongli.cn", role="operator", locations=["DL-HM"])
    r = _call(api, method, url)
    assert r.status_code == 401 and r.content_type == "application/problem+json", r.get_data(as_text=True)
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    for email in ("buyer@example.cn", "hall@dongli.cn"):
        r = _call(api.as_user(email), method, url)
        assert r.status_code == 403, (email, r.get_data(as_text=True))
        assert r.content_type == "application/problem+json" and r.json["status"] == 403


def test_officers_and_admins_are_let_in(seeded, api):
    create_user("officer@aid.gov.cn", role="aid_officer")
    create_user("admin@aid.gov.cn", role="admin")
    for email in ("officer@aid.gov.cn", "admin@aid.gov.cn"):
        client = api.as_user(email)
        assert client.get(f"/api/v1/aid/programmes/{CODE}/totals").status_code == 200
        assert client.get("/api/v1/aid/offshop-sales").status_code == 200
        assert client.get("/api/v1/aid/reconciliation-runs").status_code == 200


def test_public_endpoints_need_no_token(seeded, api):
    assert api.get("/api/v1/aid/programmes").status_code == 200
    assert api.get(f"/api/v1/aid/programmes/{CODE}").status_code == 200
    assert api.get(f"/api/v1/aid/programmes/{CODE}/progress").status_code == 200
