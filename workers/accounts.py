"""Account tasks: the reset mail behind POST /api/v1/auth/password-reset, and the purge of what expired."""

from __future__ import annotations

import logging

from celery import shared_task

from shop.accounts import passwords
from shop.accounts.services import purge_expired
from shop.core.db import atomic
from shop.core.periodic import claim_period

log = logging.getLogger(__name__)


@shared_task(name=passwords.SEND_TASK, ignore_result=True)
def send_password_link_task(email: str) -> bool:
    """Look the address up and, for an active account, make a link and queue the mail (safe to repeat:
    a repeat sends another link, each working once)."""
    with atomic():
        return passwords.send_reset_link(email)


@shared_task(name="shop.accounts.purge_expired", ignore_result=True)
def purge_expired_task() -> dict[str, int]:
    """Delete revoked-token rows, sign-in counters and password links past their use."""
    if not claim_period("shop.accounts.purge_expired"):
        return {}
    with atomic():
        counts = purge_expired()
    log.info("accounts purge: %s", counts)
    return counts
