import pytest

from tests.conftest import create_user
from tests.producers.helpers import stock_everything


@pytest.fixture
def shop(seeded):
    """The seeded shop with plenty of stock at one hall, an admin and an aid officer with passwords."""
    stock_everything()
    create_user("admin@example.cn", role="admin")
    create_user("officer@example.cn", role="aid_officer")
    return seeded


@pytest.fixture
def admin(api, shop):
    return api.as_user("admin@example.cn")


@pytest.fixture
def officer(api, shop):
    return api.as_user("officer@example.cn")
