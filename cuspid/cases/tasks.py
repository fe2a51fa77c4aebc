"""Case background work: a large revision comparison's distance map; an AI suggestion."""

from __future__ import annotations

from uuid import UUID

from celery import shared_task

from cuspid.cases.services.compare import SYSTEM_REASON, comparison_compute
from cuspid.cases.services.suggestions import SYSTEM_REASON as SUGGESTION_REASON
from cuspid.cases.services.suggestions import suggestion_run
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


@shared_task(name="cases.suggestion_run", max_retries=1)
def suggestion_run_task(suggestion_id: str) -> str:
    """Run one AI suggestion; returns its status (``missing`` when it is gone).

    Idempotent: a suggestion already ready or failed is left alone. The first failed attempt
    raises ``SuggestionRetry`` (leaving it pending), and the task's base class retries it once
    with backoff; the second attempt's failure marks it failed.
    """
    suggestion = suggestion_run(
        actor=SystemActor(reason=SUGGESTION_REASON), suggestion_id=UUID(suggestion_id)
    )
    return "missing" if suggestion is None else suggestion.status
