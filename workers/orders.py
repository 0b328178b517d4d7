"""Order tasks: expire unpaid orders (beat, every minute)."""

from __future__ import annotations

import logging

from celery import shared_task

from shop.core.periodic import claim_period
from shop.orders.services import expire_unpaid_orders

log = logging.getLogger(__name__)


@shared_task(name="shop.orders.expire_unpaid", ignore_result=True)
def expire_unpaid_task() -> int:
    """Expire orders whose reservation ran out unpaid, releasing their stock."""
    if not claim_period("shop.orders.expire_unpaid"):
        return 0
    return expire_unpaid_orders()
