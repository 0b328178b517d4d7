import pytest

from tests.conftest import ApiClient
from tests.inventory.factories import make_world


@pytest.fixture
def world(app):
    """The small inventory world on PostgreSQL."""
    return make_world()


@pytest.fixture
def any_world(any_app):
    """The small inventory world on PostgreSQL and on the embedded SQLite default."""
    return make_world()


@pytest.fixture
def any_api(any_app):
    return ApiClient(any_app.test_client())
