import subprocess
import sys

from sqlalchemy import func, inspect, select

from shop.aid.models import AidProgramme
from shop.catalog.models import Location, Producer, Product, Variant
from shop.core.db import atomic, db
from shop.demo import seed_demo
from shop.inventory.models import StockMovement
from shop.inventory.services import reconcile
from tests.conftest import make_app, migrate


def _counts():
    return {
        m.__name__: db.session.scalar(select(func.count()).select_from(m))
        for m in (Producer, Product, Variant, Location, AidProgramme, StockMovement)
    }


def test_seed_is_idempotent(any_app):
    with atomic():
        seed_demo()
    first = _counts()
    with atomic():
        seed_demo()
    assert _counts() == first
    assert first["Location"] == 10 and first["Product"] == 11 and first["Variant"] == 14
    programme = db.session.scalar(select(AidProgramme))
    assert programme.target_fen == 50_000_000 * 100
    assert reconcile() == []


def test_seed_command(app):
    r = app.test_cli_runner().invoke(args=["seed"])
    assert r.exit_code == 0, r.output
    assert "products=11" in r.output


def test_stock_reconcile_command_reports_drift(seeded):
    runner = seeded.test_cli_runner()
    assert runner.invoke(args=["stock", "reconcile"]).exit_code == 0
    from sqlalchemy import text

    with atomic():  # tamper with a level behind the ledger's back
        db.session.execute(text("UPDATE stock_level SET on_hand = on_hand + 1 WHERE id = 1"))
    r = runner.invoke(args=["stock", "reconcile"])
    assert r.exit_code == 1 and "DRIFT" in r.output


EXPECTED_TABLES = {
    "producer",
    "product",
    "variant",
    "location",
    "stock_level",
    "stock_movement",
    "lot",
    "user_account",
    "aid_programme",
    "aid_certificate",
    "category",
    "user_location",
}


def test_migrations_upgrade_from_empty_on_postgresql(pg_url, redis_url, tmp_path):
    import psycopg

    from tests.conftest import ADMIN_URL

    name = pg_url.rsplit("/", 1)[1] + "_mig"
    admin = psycopg.connect(ADMIN_URL, autocommit=True)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        a = make_app(pg_url.rsplit("/", 1)[0] + "/" + name, redis_url, tmp_path)
        migrate(a)
        with a.app_context():
            assert set(inspect(db.engine).get_table_names()) >= EXPECTED_TABLES
            _assert_models_match_migrations()
            db.engine.dispose()
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_migrations_upgrade_from_empty_on_sqlite(tmp_path):
    a = make_app(f"sqlite:///{tmp_path / 'm.db'}", None, tmp_path)
    migrate(a)
    with a.app_context():
        assert set(inspect(db.engine).get_table_names()) >= EXPECTED_TABLES
        _assert_models_match_migrations()
        mode = db.session.execute(db.text("PRAGMA journal_mode")).scalar()
        assert mode == "wal"
        assert db.session.execute(db.text("PRAGMA foreign_keys")).scalar() == 1
        db.session.rollback()
        db.engine.dispose()


def _assert_models_match_migrations():
    """Autogenerate against the migrated schema must find nothing: the models have a migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], f"models differ from migrations; run `flask db migrate`: {diff}"


def test_config_refuses_weak_production_settings(monkeypatch):
    code = (
        "from config import load_settings, ConfigError\n"
        "import sys\n"
        "try:\n"
        "    load_settings({'SHOP_PROFILE': 'production', 'DATABASE_URL': 'postgresql://x/y',"
        " 'REDIS_URL': 'redis://x'})\n"
        "except ConfigError as e:\n"
        "    print('refused:', e); sys.exit(0)\n"
        "sys.exit(1)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and "SECRET_KEY" in r.stdout
