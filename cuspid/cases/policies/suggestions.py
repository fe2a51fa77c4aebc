"""Who may see an AI suggestion: anyone who sees its case (the same 404 otherwise)."""

from __future__ import annotations

from uuid import UUID

from cuspid.access.enforce import RouteActor
from cuspid.cases.models import DesignSuggestion
from cuspid.cases.policies import visible_cases
from cuspid.core.errors import NotFound


def access_suggestion(actor: RouteActor, suggestion_id: UUID) -> DesignSuggestion:
    """An AI suggestion of a visible case, with its case, revision and labels blob; otherwise
    NotFound (absent and foreign alike)."""
    try:
        return DesignSuggestion.objects.select_related("case", "revision", "labels", "scan").get(
            id=suggestion_id, case__in=visible_cases(actor)
        )
    except DesignSuggestion.DoesNotExist:
        raise NotFound from None
