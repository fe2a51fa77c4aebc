"""Case background work: computing the distance map of a large revision comparison."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task

from cuspid.cases.services.compare import SYSTEM_REASON, comparison_compute
from cuspid.core.actors import SystemActor


@shared_task(name="cases.comparison_compute")
def comparison_compute_task(comparison_id: str) -> str:
    """Compute one pending comparison; returns its status (``missing`` when it is gone).

    Idempotent: a comparison already ready or failed is left alone, so a redelivery or a
    second enqueue does nothing. Any error but a broken mesh propagates, and the task's
    base class retries it with backoff while the comparison stays pending.
    """
    comparison = comparison_compute(
        actor=SystemActor(reason=SYSTEM_REASON), comparison_id=UUID(comparison_id)
    )
    return "missing" if comparison is None else comparison.status
