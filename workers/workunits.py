"""Work-unit tasks: the monthly statements."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task

from shop.core import clock
from shop.core.db import atomic
from shop.workunits.account import send_monthly_statements


@shared_task(name="shop.workunits.monthly_statements", ignore_result=True)
def monthly_statements_task() -> int:
    """Tell each unit manager that last month's statement is ready (once per unit and month, however
    often this runs: each notice has its own key)."""
    last_month = clock.month_start(clock.today()) - timedelta(days=1)
    with atomic():
        return send_monthly_statements(last_month)
