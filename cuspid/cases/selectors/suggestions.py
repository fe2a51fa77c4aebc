"""Reads of AI suggestions: the latest of a case, the one behind a revision, the scans used."""

from __future__ import annotations

from cuspid.cases.enums import Layer
from cuspid.cases.models import Attachment, Case, DesignSuggestion, Revision


def suggestion_latest_for(*, case: Case) -> DesignSuggestion | None:
    """The case's most recent AI suggestion, with its revision; ``None`` if none was asked
    for. One query."""
    return (
        DesignSuggestion.objects.filter(case=case)
        .select_related("revision")
        .order_by("-created_at", "-id")
        .first()
    )


def suggestion_of_revision(*, revision: Revision) -> DesignSuggestion | None:
    """The AI suggestion that made ``revision`` (with its scan), or ``None`` for a designer's
    revision. One query."""
    return DesignSuggestion.objects.filter(revision=revision).select_related("scan").first()


def suggestion_scans_for(*, case: Case) -> tuple[Attachment | None, Attachment | None]:
    """The clinic's scans an AI suggestion works on: the first prepared-jaw scan and the first
    opposing-jaw scan of the case (upload order), each ``None`` when missing. One query."""
    rows = Attachment.objects.filter(
        case=case, revision__isnull=True, layer__in=(Layer.PREPARED, Layer.ANTAGONIST)
    ).order_by("created_at", "id")
    prepared = next((row for row in rows if row.layer == Layer.PREPARED), None)
    opposing = next((row for row in rows if row.layer == Layer.ANTAGONIST), None)
    return prepared, opposing
