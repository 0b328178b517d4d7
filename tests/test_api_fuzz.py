"""Property-based fuzzing of every API operation from the served OpenAPI document (schemathesis).

Every operation is called with generated (valid and invalid) input, each case as anonymous and as two
of the signed-in roles in turn (customer, operator of one hall, aid officer, admin). Every response must be free of 5xx, carry its documented
content type and status code, and match the documented schema.

Hostile input the schema does not describe is sent by test_api_fuzz_hostile.py.
"""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import create_user, make_app, migrate, truncate_all

ROLES = {
    "anonymous": None,
    "customer": ("fuzz-customer@example.cn", "customer", []),
    "operator": ("fuzz-operator@example.cn", "operator", ["DL-HM"]),
    "aid_officer": ("fuzz-officer@example.cn", "aid_officer", []),
    "admin": ("fuzz-admin@example.cn", "admin", []),
}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, status_code_conformance]
SIGNED_IN = [role for role in ROLES if role != "anonymous"]
_turn = itertools.count()


def roles_for(case) -> list[str]:
    """Anonymous and two signed-in roles in turn, so each signed-in role gets half of every operation's
    cases.

    Sending every case as all five roles made this the slowest test of the suite; which role may do what is
    proved case by case in test_authorization_matrix.py, so here each role needs a fair share of the
    generated and boundary cases, not all of them.
    """
    first = next(_turn) % len(SIGNED_IN)
    return ["anonymous", SIGNED_IN[first], SIGNED_IN[(first + 2) % len(SIGNED_IN)]]


def fuzz_world(app) -> dict[str, str]:
    """Empty the database, seed the demo shop and one user per role; return their bearer tokens."""
    from shop.core.db import atomic
    from shop.demo import seed_demo

    truncate_all(app)
    tokens = {}
    with app.app_context():
        with atomic():
            seed_demo()
        for spec in ROLES.values():
            if spec is not None:
                email, role, locations = spec
                create_user(email, role=role, locations=locations)
        client = app.test_client()
        for role, spec in ROLES.items():
            if spec:
                resp = client.post("/api/v1/auth/token", json={"email": spec[0], "password": "password-123"})
                tokens[role] = resp.json["access_token"]
    return tokens


@pytest.fixture(scope="module")
def fuzz_app(pg_url, redis_url, tmp_path_factory):
    app = make_app(pg_url, redis_url, tmp_path_factory.mktemp("fuzz"))
    migrate(app)
    app.config["FUZZ_TOKENS"] = fuzz_world(app)
    return app


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", fuzz_app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_every_operation_for_every_role(case, fuzz_app):
    tokens = fuzz_app.config["FUZZ_TOKENS"]
    for role in roles_for(case):
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role in tokens else {}
        case.call_and_validate(headers=headers, checks=CHECKS)


# -- hostile input ------------------------------------------------------------------------------------
