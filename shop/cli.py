"""Flask CLI commands: ``flask --app shop seed``, ``users create``, ``stock reconcile``."""

from __future__ import annotations

import secrets

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from shop.accounts.services import create_staff_user, find_user_by_email
from shop.aid.cli import aid_cli
from shop.catalog.search import refresh_search_keys
from shop.core.db import atomic
from shop.core.errors import ShopError
from shop.demo import seed_demo, seed_demo_pictures, seed_demo_work_units
from shop.inventory.services import reconcile as reconcile_stock

DEMO_STAFF = (
    ("admin@demo.gangu.local", "admin", []),
    ("huaming@demo.gangu.local", "operator", ["DL-HM"]),
    ("warehouse@demo.gangu.local", "operator", ["GG-WH"]),
    ("officer@demo.gangu.local", "aid_officer", []),
)


def register(app: Flask) -> None:
    @app.cli.command("seed")
    def seed() -> None:
        """Load the demo catalogue, halls, aid programme and opening stock (idempotent)."""
        with atomic():
            counts = seed_demo()
            counts.update(seed_demo_pictures())
        with atomic():
            counts.update(seed_demo_work_units())
        click.echo("seeded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))

    users = AppGroup("users", help="Manage staff and customer accounts.")

    @users.command("create")
    @click.option("--email", required=True)
    @click.option("--password", required=True, prompt=True, hide_input=True)
    @click.option(
        "--role",
        required=True,
        type=click.Choice(["customer", "operator", "aid_officer", "admin", "producer"]),
    )
    @click.option("--name", default="")
    @click.option("--location", "locations", multiple=True, help="location code (operators; repeatable)")
    @click.option("--producer", "producer", default=None, help="producer code (the producer role)")
    def create_user(
        email: str, password: str, role: str, name: str, locations: tuple[str, ...], producer: str | None
    ) -> None:
        """Create a user, or reset the password, role and locations of an existing one."""
        try:
            with atomic():
                user = create_staff_user(
                    email=email,
                    password=password,
                    role=role,
                    name=name,
                    location_codes=list(locations),
                    producer_code=producer,
                )
        except ShopError as err:
            raise click.ClickException(err.detail) from err
        click.echo(f"user {user.email} role={user.role} locations={','.join(locations) or '-'}")

    @users.command("ensure-demo-staff")
    def ensure_demo_staff() -> None:
        """Create the demo staff accounts (embedded profile only) with random passwords, printed once."""
        if current_app.extensions["settings"].SHOP_PROFILE != "embedded":
            raise click.ClickException("demo staff accounts exist only in the embedded profile")
        for email, role, locs in DEMO_STAFF:
            if find_user_by_email(email) is not None:
                click.echo(f"  demo {role:<11} {email} (exists; its password was printed when it was made)")
                continue
            # Random, never in the source: a shop started with demo data must not open with known logins.
            password = secrets.token_urlsafe(12)
            with atomic():
                create_staff_user(email=email, password=password, role=role, location_codes=locs)
            click.echo(f"  demo {role:<11} {email} / {password} {' '.join(locs)}")

    app.cli.add_command(users)

    stock = AppGroup("stock", help="Stock ledger tools.")

    @stock.command("reconcile")
    def reconcile() -> None:
        """Prove every stock level and lot equals the sum of its movements; exit 1 on any drift."""
        drifts = reconcile_stock()
        for d in drifts:
            click.echo(
                f"DRIFT variant={d.variant_id} location={d.location_id} lot={d.lot_id} {d.field}: "
                f"recorded {d.recorded}, ledger says {d.from_ledger}"
            )
        if drifts:
            raise SystemExit(1)
        click.echo("stock ledger reconciles: every level and lot equals the sum of its movements")

    app.cli.add_command(stock)

    app.cli.add_command(aid_cli)

    catalog = AppGroup("catalog", help="Catalogue tools.")

    @catalog.command("reindex")
    def reindex() -> None:
        """Rebuild every product's search key (names, pinyin, initials, SKUs, producer, township)."""
        with atomic():
            n = refresh_search_keys()
        click.echo(f"search keys rebuilt for {n} products")

    app.cli.add_command(catalog)
