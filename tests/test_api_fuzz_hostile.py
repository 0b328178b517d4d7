"""Hostile input for every API operation, from the served OpenAPI document (schemathesis).

Every operation gets input the schema does not describe: a NUL or an unpaired surrogate in any string,
key, query parameter or path segment; JSON nested 1,000 deep; a body over the size limit; a chunked body
of another type; and, for the tablets' batch of offline sales, one bad sale among good ones. Each must be
its own clear 4xx (the batch: 200 with that sale's own result), never a 5xx. (A file of its own, beside
test_api_fuzz.py, so the two long runs take the two test workers at once.)
"""

from __future__ import annotations

import json
import random
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance
from schemathesis.transport.prepare import get_exclude_headers

from tests.conftest import make_app, migrate
from tests.test_api_fuzz import ROLES, fuzz_world


@pytest.fixture(scope="module")
def hostile_app(pg_url, redis_url, tmp_path_factory):
    """A fresh world of its own: the first run's generated calls change roles, revoke tokens and sell
    the demo stock. The hall gets stock for the good sales of the batch."""
    from shop.catalog.services import get_location, variant_by_sku
    from shop.core.db import atomic
    from shop.inventory.services import add_stock

    app = make_app(pg_url, redis_url, tmp_path_factory.mktemp("hostile"))
    migrate(app)
    app.config["FUZZ_TOKENS"] = fuzz_world(app)
    with app.app_context(), atomic():
        add_stock(
            variant_by_sku("CHL-LINE-500G"), get_location("DL-HM"), 100_000, kind="receipt", lot_code="FUZZ"
        )
    return app


@pytest.fixture(scope="module")
def hostile_api_schema(hostile_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", hostile_app)


# Calls that end the caller's own sessions answer a spoiled request as designed, but with no body, query or
# text in the path they carry no spoil: the hostile run would just log its own tokens out.
hostile_schema = schemathesis.pytest.from_fixture("hostile_api_schema").exclude(
    path_regex=r"^/api/v1/(auth/logout|admin/staff/\{[a-z_]+\}/deactivate)$"
)


BAD_TEXT = ("\ud800", "\x00", "\udfff", "a\x00b")
ATTACKS = st.tuples(
    st.sampled_from(["text", "text", "deep", "large", "chunked"]),
    st.integers(0, 2**16),
    st.sampled_from(BAD_TEXT),
)
HOSTILE_ROLES = ("anonymous", "admin")
BODY_METHODS = ("POST", "PUT", "PATCH")
NOT_ROUTED = (400, 404, 405)  # the path was refused (an id out of range), or its body before routing


def _string_paths(value, path=()):
    """Paths to every string (and every key) inside a JSON value."""
    if isinstance(value, str):
        yield path, "value"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key), "key"
            yield from _string_paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _string_paths(item, (*path, i))


def _spoil(value, path, where, bad):
    """``value`` with ``bad`` added to the string (or key) at ``path``."""
    if not path:
        return value + bad
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key == head:
                new_key = key + bad if where == "key" and not rest else key
                out[new_key] = item if where == "key" and not rest else _spoil(item, rest, where, bad)
            else:
                out[key] = item
        return out
    copy = list(value)
    copy[head] = _spoil(copy[head], rest, where, bad)
    return copy


def _sale(client_sale_id: str) -> dict:
    return {
        "client_sale_id": client_sale_id,
        "lines": [{"sku": "CHL-LINE-500G", "quantity": 1}],
        "paid_with": "cash",
    }


def _hostile_call(case, attack) -> tuple[dict, tuple[int, ...] | None]:
    """The call's extra arguments for ``attack`` and the statuses it may answer (None: any 4xx)."""
    kind, seed, bad = attack
    method = case.method.upper()
    json_headers = {"Content-Type": "application/json"}
    if case.path.endswith("/sales/batch"):
        # One bad sale among good ones: the others are recorded, the bad one answered alone.
        sales = [_sale(uuid.uuid4().hex) for _ in range(3)]
        sales[seed % 3]["client_sale_id"] += bad
        return {"data": json.dumps({"sales": sales}).encode(), "headers": json_headers}, None
    if method in BODY_METHODS and kind == "deep":
        return {"data": b"[" * 1000 + b"]" * 1000, "headers": json_headers}, (400, *NOT_ROUTED)
    if method in BODY_METHODS and kind == "large":
        big = b'{"x": "' + b"a" * (1024 * 1024 + 10) + b'"}'
        # An upload endpoint takes bodies of several megabytes: there a JSON body lacks its file (422, 415)
        # or is refused as too large for JSON (413).
        takes_files = any(b.media_type == "multipart/form-data" for b in case.operation.body)
        return {"data": big, "headers": json_headers}, (
            (413, 415, 422) if takes_files else (413,)
        ) + NOT_ROUTED
    if method in BODY_METHODS and kind == "chunked":
        chunked = {"Content-Type": "text/plain", "Transfer-Encoding": "chunked"}
        return {"data": b"hello", "headers": chunked}, (415, *NOT_ROUTED)
    body = case.body if isinstance(case.body, dict | list) else None
    paths = list(_string_paths(body)) if body is not None else []
    if method in BODY_METHODS and paths:
        path, where = random.Random(seed).choice(paths)
        spoiled = _spoil(body, path, where, bad)
        return {"data": json.dumps(spoiled).encode(), "headers": json_headers}, (422, *NOT_ROUTED)
    if case.query:
        name = random.Random(seed).choice(sorted(case.query))
        return {"params": {**case.query, name: f"{case.query[name]}\x00"}}, (422, *NOT_ROUTED)
    text_params = sorted(k for k, v in (case.path_parameters or {}).items() if isinstance(v, str))
    if text_params:
        name = random.Random(seed).choice(text_params)
        case.path_parameters[name] += "\x00"
        return {}, (422, *NOT_ROUTED)
    return {}, None


def _restored_tokens(app) -> dict[str, str]:
    """Each role's user as the world made it, with a fresh token: an earlier operation of the run may have
    changed a role, deactivated an account or revoked its tokens (staff administration is fuzzed too)."""
    from shop.accounts.services import find_user_by_email, issue_token
    from shop.catalog.models import Location
    from shop.core.db import atomic, db

    tokens = {}
    with app.app_context(), atomic():
        for role, spec in ROLES.items():
            if spec:
                email, _, codes = spec
                user = find_user_by_email(email)
                user.role, user.active, user.producer_id = role, True, None
                user.locations = [db.session.query(Location).filter_by(code=c).one() for c in codes]
                tokens[role] = issue_token(user)[0]
    return tokens


@hostile_schema.given(attack=ATTACKS)
@hostile_schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_hostile_input_for_every_operation(case, attack, hostile_app):
    tokens = _restored_tokens(hostile_app)
    if "code" in (case.path_parameters or {}):
        case.path_parameters["code"] = "DL-HM"  # a real hall, so the request reaches the use case
    extra, allowed = _hostile_call(case, attack)
    # A negative case may leave out its Authorization header on purpose: then the call is anonymous.
    auth_dropped = "Authorization" in get_exclude_headers(case)
    for role in HOSTILE_ROLES:
        headers = {**extra.get("headers", {})}
        if role in tokens:
            headers["Authorization"] = f"Bearer {tokens[role]}"
        kwargs = {k: v for k, v in extra.items() if k != "headers"}
        if case.path.endswith("/sales/batch") and role == "admin":
            # Sent as is: a generated case may drop its Authorization header on purpose (missing-auth
            # checks), and this call is about the sales in the body, answered one by one.
            response = hostile_app.test_client().post(
                "/api/v1/locations/DL-HM/sales/batch", data=kwargs["data"], headers=headers
            )
            body = response.get_json()
            assert response.status_code == 200, body
            statuses = [r["status"] for r in body["results"]]
            bad = attack[1] % 3
            assert len(statuses) == 3 and statuses[bad] == 422, body  # the bad sale, answered alone
            assert all(s in (201, 200) for i, s in enumerate(statuses) if i != bad), body
            continue
        response = case.call(headers=headers, **kwargs)
        case.validate_response(response, checks=[not_a_server_error, content_type_conformance])
        status = response.status_code
        if allowed is not None and role == "admin" and not auth_dropped:
            assert status in allowed, (attack, status, response.text[:300])
        else:
            assert status < 500, (attack, status)
