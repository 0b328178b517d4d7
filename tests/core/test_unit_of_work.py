import threading

import pytest
from sqlalchemy import func, select

from shop.catalog.models import Category
from shop.core.db import after_commit, atomic, db
from shop.core.errors import Conflict


class RefusedOnRecord(Conflict):
    recorded = True


def test_atomic_commits_and_runs_hooks_after_commit(any_app):
    seen = []
    with atomic():
        db.session.add(Category(code="c1", name_zh="一", name_en="one"))
        after_commit(lambda: seen.append(db.session.scalar(select(func.count()).select_from(Category))))
        assert seen == []
    assert seen == [1]


def test_atomic_rolls_back_and_drops_hooks_on_error(any_app):
    seen = []
    with pytest.raises(RuntimeError), atomic():
        db.session.add(Category(code="c1", name_zh="一", name_en="one"))
        after_commit(lambda: seen.append("sent"))
        raise RuntimeError("boom")
    assert seen == []
    assert db.session.scalar(select(func.count()).select_from(Category)) == 0


def test_nested_atomic_joins_outer_transaction(any_app):
    with pytest.raises(RuntimeError), atomic():
        with atomic():
            db.session.add(Category(code="c1", name_zh="一", name_en="one"))
        raise RuntimeError("outer fails")
    assert db.session.scalar(select(func.count()).select_from(Category)) == 0


def test_a_recorded_refusal_commits_what_was_written_then_is_raised(any_app):
    seen = []
    # Raised from a nested unit, as a use case's inside a handler's unit would be.
    with pytest.raises(RefusedOnRecord), atomic(), atomic():
        db.session.add(Category(code="c1", name_zh="一", name_en="one"))
        after_commit(lambda: seen.append("after commit"))
        raise RefusedOnRecord("kept on record")
    assert seen == ["after commit"]
    assert db.session.scalar(select(func.count()).select_from(Category)) == 1


def test_any_other_refusal_changes_nothing(any_app):
    with pytest.raises(Conflict), atomic():
        db.session.add(Category(code="c1", name_zh="一", name_en="one"))
        raise Conflict("not kept")
    assert db.session.scalar(select(func.count()).select_from(Category)) == 0


def test_after_commit_outside_unit_of_work_is_an_error(any_app):
    with pytest.raises(RuntimeError):
        after_commit(lambda: None)


def test_concurrent_writers_on_sqlite_queue_instead_of_failing(sqlite_app):
    """BEGIN IMMEDIATE: writers that read then write never hit 'database is locked' upgrade failures."""
    app = sqlite_app
    errors = []

    def writer(n):
        with app.app_context():
            try:
                for i in range(10):
                    with atomic():
                        count = db.session.scalar(select(func.count()).select_from(Category))
                        db.session.add(Category(code=f"t{n}-{i}", name_zh=str(count), name_en="x"))
            except Exception as exc:  # pragma: no cover - the failure this test guards against
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db.session.scalar(select(func.count()).select_from(Category)) == 60
