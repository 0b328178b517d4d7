"""The benchmark's baseline task: does nothing, so its drain rate is the workers' and broker's ceiling."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="bench.noop", ignore_result=True)
def noop_task(n: int = 0) -> int:
    """Do nothing (the fulfilment figure is compared to how fast the same workers drain these)."""
    return n
