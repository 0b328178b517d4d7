"""A producer account is bound to exactly one producer, from the CLI as from any other way in."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.accounts.services import change_role, create_staff_user
from shop.catalog.models import Producer
from shop.core.db import atomic, db
from shop.core.errors import ValidationFailed
from tests.conftest import create_user


def test_cli_creates_a_producer_account_bound_to_its_producer(seeded):
    code = db.session.scalar(select(Producer.code).order_by(Producer.id).limit(1))
    result = seeded.test_cli_runner().invoke(
        args=[
            "users",
            "create",
            "--email",
            "coop@gangu.cn",
            "--password",
            "password-123",
            "--role",
            "producer",
            "--producer",
            code,
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "coop@gangu.cn"))
    assert user.role == "producer" and user.producer_id == db.session.scalar(
        select(Producer.id).where(Producer.code == code)
    )
    assert not user.is_staff


@pytest.mark.parametrize(
    ("role", "producer", "message"),
    [
        ("producer", None, "needs its producer"),
        ("producer", "NO-SUCH", "unknown producer"),
        ("operator", "ANY", "only a producer account"),
    ],
)
def test_producer_binding_is_required_and_exclusive(seeded, role, producer, message):
    if producer == "ANY":
        producer = db.session.scalar(select(Producer.code).limit(1))
    result = seeded.test_cli_runner().invoke(
        args=["users", "create", "--email", "x@gangu.cn", "--password", "password-123", "--role", role]
        + ["--location", "DL-HM"]
        + (["--producer", producer] if producer else [])
    )
    assert result.exit_code != 0 and message in result.output
    assert db.session.scalar(select(User).where(User.email == "x@gangu.cn")) is None


def test_a_role_change_away_from_producer_unbinds_and_to_producer_needs_a_binding(seeded):
    code = db.session.scalar(select(Producer.code).limit(1))
    with atomic():
        user = create_staff_user(
            email="p@gangu.cn", password="password-123", role="producer", producer_code=code
        )
    with atomic():
        change_role(user.id, role="aid_officer")
    assert db.session.get(User, user.id).producer_id is None
    plain = create_user("c@example.cn")
    with pytest.raises(ValidationFailed), atomic():
        change_role(plain.id, role="producer")
