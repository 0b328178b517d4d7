"""The Gangu consumption-aid shop: Flask application factory."""

from __future__ import annotations

import threading
from typing import Any

import click
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

# Every domain's tables, so the metadata (and Alembic) sees them all, and the aid ledger's source checks.
import shop.accounts.models
import shop.aid.models
import shop.audit.models
import shop.backoffice.models
import shop.catalog.models
import shop.core.models
import shop.counter.models
import shop.fulfilment.models
import shop.inventory.aid_reconcile  # registers the counter-sale check of the aid ledger
import shop.inventory.models
import shop.media.models
import shop.notifications.models
import shop.orders.aid_reconcile  # registers the orders check of the aid ledger
import shop.orders.models
import shop.payments.models
import shop.preorders.holds  # registers the pledge hold with the order lifecycle
import shop.preorders.models
import shop.producers.aid_reconcile  # registers the settlement check of the aid ledger
import shop.producers.models
import shop.returns.models
import shop.storefront.models
import shop.workunits.aid_reconcile  # registers the pickup-card check of the aid ledger
import shop.workunits.models  # noqa: F401
from config import ROOT, Settings, load_settings
from shop import cli
from shop.accounts import api as accounts_api
from shop.accounts import views as accounts_views
from shop.aid import api as aid_api
from shop.aid import views as aid_views
from shop.audit import api as audit_api
from shop.audit import views as audit_views
from shop.backoffice import api as backoffice_api
from shop.backoffice import views as backoffice_views
from shop.catalog import admin_api as catalog_admin_api
from shop.catalog import api as catalog_api
from shop.catalog import views as catalog_views
from shop.core import clock, web
from shop.core.api import api, init_api
from shop.core.celery_app import celery_init_app
from shop.core.db import configure_engine, db, init_replica
from shop.core.errors import register_error_handlers
from shop.core.inputs import init_guard
from shop.core.limits import limiter
from shop.core.logging import configure_logging, init_request_ids
from shop.counter import api as counter_api
from shop.counter import views as counter_views
from shop.fulfilment import api as fulfilment_api
from shop.fulfilment import views as fulfilment_views
from shop.inventory import api as inventory_api
from shop.inventory import views as inventory_views
from shop.media import views as media_views
from shop.ops import views as ops_views
from shop.ops.metrics import init_metrics
from shop.orders import api as orders_api
from shop.orders import views as orders_views
from shop.payments import api as payments_api
from shop.people import admin_api as people_api
from shop.people import views as people_views
from shop.preorders import api as preorders_api
from shop.preorders import views as preorders_views
from shop.producers import api as producers_api
from shop.producers import views as producers_views
from shop.returns import api as returns_api
from shop.returns import views as returns_views
from shop.storefront import views as storefront_views
from shop.workunits import api as workunits_api
from shop.workunits import views as workunits_views


class _Extensions(dict):
    """``app.extensions``, where an extension registered in ``lazy`` is set up on first lookup."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.lazy: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __missing__(self, key: str) -> Any:
        with self._lock:  # two threads asking at once: one sets it up, the other then finds it
            if dict.__contains__(self, key):
                return dict.__getitem__(self, key)
            init = self.lazy.get(key)
            if init is None:
                raise KeyError(key)
            init()
            del self.lazy[key]
            return dict.__getitem__(self, key)


def _init_migrate(app: Flask) -> None:
    # why: Flask-Migrate brings Alembic (about 8 MB a process); only the flask db commands need it
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)


class _MigrationCommands(click.Group):
    """``flask db ...``: Flask-Migrate's commands, loaded when they are asked for."""

    def __init__(self, app: Flask) -> None:
        super().__init__("db", help="Perform database migrations (Flask-Migrate).")
        self.app = app

    def _commands(self) -> click.Group:
        self.app.extensions["migrate"]  # the first lookup sets Flask-Migrate up
        # why: loaded when `flask db ...` runs, not by every process that builds the app
        from flask_migrate.cli import db as commands

        return commands

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # `flask db ...` was asked for: take Flask-Migrate's options (-d, -x) and its group callback.
        commands = self._commands()
        self.params, self.callback = commands.params, commands.callback
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._commands().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._commands().get_command(ctx, cmd_name)


class BoundedIntConverter(IntegerConverter):
    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the Flask app from a Settings object, a mapping of overrides, or the environment."""
    settings = config if isinstance(config, Settings) else load_settings(config)
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)

    app = Flask(__name__)
    app.extensions = _Extensions(app.extensions)
    # Path ids are 32-bit database integers: a larger number is no such resource (404), not a 500.
    app.url_map.converters["int"] = BoundedIntConverter
    app.config.from_mapping(settings.flask_config())
    app.extensions["settings"] = settings
    clock.configure(settings.SHOP_TIMEZONE)
    if settings.PROXY_FIX_X_FOR:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.PROXY_FIX_X_FOR, x_proto=1)  # type: ignore[method-assign]

    configure_logging(settings.LOG_FORMAT, settings.LOG_LEVEL)
    init_request_ids(app)
    init_guard(app)  # bad input is a 4xx before any parser or view sees it

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    init_replica(app, settings.DATABASE_REPLICA_URL, settings.replica_engine_options())

    # Flask-Migrate (and Alembic with it, about 8 MB a process) is set up the first time something asks
    # for it: the `flask db` commands, the tests' migrations. A web or worker process never does.
    app.extensions.lazy["migrate"] = lambda: _init_migrate(app)
    app.cli.add_command(_MigrationCommands(app))

    web.init_web(app)
    limiter.init_app(app)
    init_metrics(app)

    init_api(app)
    _register_blueprints(app)

    register_error_handlers(app)
    celery_init_app(app)
    cli.register(app)
    return app


def _register_blueprints(app: Flask) -> None:
    api.register_blueprint(catalog_api.blp)
    api.register_blueprint(accounts_api.blp)
    api.register_blueprint(inventory_api.blp)
    api.register_blueprint(accounts_api.admin_blp)
    api.register_blueprint(catalog_admin_api.blp)
    api.register_blueprint(audit_api.blp)
    api.register_blueprint(aid_api.blp)
    app.register_blueprint(audit_views.bp)
    api.register_blueprint(orders_api.blp)
    api.register_blueprint(payments_api.blp)
    app.register_blueprint(orders_views.bp)
    api.register_blueprint(fulfilment_api.blp)
    app.register_blueprint(fulfilment_views.bp)
    app.register_blueprint(ops_views.bp)
    app.register_blueprint(catalog_views.bp)
    app.register_blueprint(accounts_views.bp)
    app.register_blueprint(aid_views.bp)
    app.register_blueprint(inventory_views.bp)
    api.register_blueprint(returns_api.blp)
    app.register_blueprint(returns_views.bp)
    api.register_blueprint(people_api.blp)
    app.register_blueprint(people_views.bp)
    api.register_blueprint(backoffice_api.blp)
    app.register_blueprint(backoffice_views.bp)
    app.register_blueprint(media_views.bp)
    api.register_blueprint(workunits_api.blp)
    app.register_blueprint(workunits_views.bp)
    api.register_blueprint(counter_api.blp)
    app.register_blueprint(counter_views.bp)
    api.register_blueprint(producers_api.blp)
    app.register_blueprint(producers_views.bp)
    app.register_blueprint(producers_views.admin_bp)
    api.register_blueprint(preorders_api.blp)
    app.register_blueprint(preorders_views.bp)
    app.register_blueprint(storefront_views.bp)
