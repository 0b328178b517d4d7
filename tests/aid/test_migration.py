"""The aid migration rebuilds the rollups (now with a product dimension) from the ledger already there."""

from __future__ import annotations

import importlib.util

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from config import ROOT
from shop.core.db import db
from tests.conftest import make_app


def _before_aid() -> str:
    """The revision the aid migration follows (it moves when branches are merged)."""
    spec = importlib.util.spec_from_file_location("m0006", ROOT / "migrations" / "versions" / "0006_aid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.down_revision


ENTRY = (
    "INSERT INTO aid_entry (programme_id, source, source_key, occurred_at, day, channel, category_id, product_id,"
    " variant_id, producer_id, township, location_id, quantity, amount_fen, qualifying, direct_purchase,"
    " created_at) VALUES (1, :s, :k, '2026-01-01 04:00:00', '2026-01-01', 'online', 1, :p, :p, 1, 'x', NULL,"
    " 1, :a, 1, 0, '2026-01-01 04:00:00')"
)


def test_upgrade_rebuilds_rollups_from_existing_entries_and_downgrade_too(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'm.db'}", None, tmp_path)
    with app.app_context():
        before = _before_aid()
        upgrade(revision=before)  # the schema before the aid migration, with a ledger in it
        db.session.execute(
            text("INSERT INTO category (id, code, name_zh, name_en, position) VALUES (1, 'c', 'c', 'c', 0);")
        )
        db.session.execute(
            text(
                "INSERT INTO producer (id, code, name_zh, name_en, legal_name, kind, township, township_en,"
                " village, linked_households, linked_people, benefit_mechanism_zh, benefit_mechanism_en,"
                " story_zh, story_en) VALUES (1, 'p', 'p', 'p', 'p', 'cooperative', 'x', '', '', 0, 0, '', '', '', '')"
            )
        )
        for pid in (1, 2):
            db.session.execute(
                text(
                    "INSERT INTO product (id, slug, category_id, producer_id, name_zh, name_en, description_zh,"
                    " description_en, origin_mark, active, created_at)"
                    f" VALUES ({pid}, 'p{pid}', 1, 1, 'p', 'p', '', '', '', 1, '2026-01-01')"
                )
            )
            db.session.execute(
                text(
                    "INSERT INTO variant (id, product_id, sku, name_zh, name_en, unit_zh, unit_en, weight_grams,"
                    f" price_fen, perishable, low_stock_threshold, active) VALUES ({pid}, {pid}, 'S{pid}', 'v', 'v',"
                    " 'u', 'u', 0, 100, 0, 5, 1)"
                )
            )
        db.session.execute(
            text(
                "INSERT INTO aid_programme (id, code, name_zh, name_en, starts_on, ends_on, target_fen)"
                " VALUES (1, 'P', 'p', 'p', '2026-01-01', '2026-12-31', 100)"
            )
        )
        for n, (pid, amount) in enumerate([(1, 100), (1, 50), (2, 7)]):
            db.session.execute(
                text(ENTRY), {"s": f"order:{n}", "k": f"order:{n}:line:1", "p": pid, "a": amount}
            )
        db.session.commit()
        upgrade(revision="0006")
        rows = db.session.execute(
            text("SELECT product_id, amount_fen, entries FROM aid_rollup ORDER BY product_id")
        ).all()
        assert [tuple(r) for r in rows] == [(1, 150, 2), (2, 7, 1)]
        db.session.rollback()
        downgrade(revision=before)
        rows = db.session.execute(text("SELECT amount_fen, entries FROM aid_rollup")).all()
        assert [tuple(r) for r in rows] == [(157, 3)]
        db.session.rollback()
        db.engine.dispose()
