import pytest

from tests.conftest import create_user
from tests.workunits.helpers import stock


@pytest.fixture
def shop(seeded):
    """The seeded shop on PostgreSQL with hemp shoes stocked at two halls, an admin and an aid officer."""
    stock()
    create_user("admin@example.cn", role="admin")
    create_user("officer@example.cn", role="aid_officer")
    return seeded


@pytest.fixture
def admin(api, shop):
    return api.as_user("admin@example.cn")


@pytest.fixture
def officer(api, shop):
    return api.as_user("officer@example.cn")
