"""``flask --app shop aid reconcile [--repair]``: prove the aid rollups and sources add up."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from shop.aid.reconcile import reconcile

aid_cli = AppGroup("aid", help="Consumption-aid ledger tools.")


@aid_cli.command("reconcile")
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild the rollups from the ledger if they differ (logged in the run). Never touches the ledger.",
)
def reconcile_command(repair: bool) -> None:
    """Check rollups against the ledger and the ledger against its sources; exit 1 on any difference."""
    run = reconcile(repair=repair, trigger="cli")
    for d in run.differences:
        click.echo(
            f"DIFF [{d['check']}] {d['key']}: recorded {d['recorded']}, expected {d['expected']} ({d['detail']})"
        )
    if run.difference_count > len(run.differences):
        click.echo(f"... and {run.difference_count - len(run.differences)} more")
    click.echo(
        f"run {run.id}: {run.status}; {run.entries_checked} entries, {run.rollups_checked} rollup rows, "
        f"checks: {', '.join(run.checkers)}; {run.difference_count} differences"
    )
    if run.status == "repaired":
        click.echo("rollups rebuilt from the ledger; they now equal it")
    elif run.status != "ok":
        raise SystemExit(1)
