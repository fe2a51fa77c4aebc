"""Which revision comparisons exist for an actor; absent and foreign ones raise the same
``NotFound``.

A comparison is seen with its case (``visible_cases``): by the clinic, and by the lab while
the case is shared with it.
"""

from __future__ import annotations

from uuid import UUID

from cuspid.access.enforce import RouteActor
from cuspid.cases.models import RevisionComparison
from cuspid.cases.policies import visible_cases
from cuspid.core.errors import NotFound


def access_comparison(actor: RouteActor, comparison_id: UUID) -> RevisionComparison:
    """A comparison of two revisions of a visible case, with its case, revisions and blob;
    otherwise NotFound."""
    try:
        return RevisionComparison.objects.select_related(
            "case", "revision", "baseline", "blob"
        ).get(id=comparison_id, case__in=visible_cases(actor))
    except RevisionComparison.DoesNotExist:
        raise NotFound from None
