import pytest

from tests.inventory.factories import make_world


@pytest.fixture
def world(app):
    """The small inventory world (two SKUs, halls DL-HM and DL-WX, their operators) on PostgreSQL."""
    return make_world()


@pytest.fixture
def any_world(any_app):
    """The same world on PostgreSQL and on the embedded SQLite default."""
    return make_world()
