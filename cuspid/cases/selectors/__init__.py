"""Reads of cases, their files, revisions and timeline, filtered to what the actor may see.

Callers check ``Perm.CaseView`` on the case (or the organisation, for lists) first. List
reads are one query whatever their length; pages and endpoints call
``cuspid.keys.fields.preload_keys`` on what they show, so opening sealed fields costs one
more query per page, not one per patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils.functional import Promise

from cuspid.access.enforce import RouteActor
from cuspid.cases.enums import CaseStatus
from cuspid.cases.models import Attachment, Case, CaseEvent, Revision
from cuspid.cases.policies import visible_cases
from cuspid.cases.workflow import State


def case_list_for(
    *, actor: RouteActor, status: str = "", patient_id: UUID | None = None
) -> QuerySet[Case]:
    """The actor's visible cases, most recently changed first, by state and patient.

    A lab's inbox is ``status="submitted"``: cases sent to it and not yet accepted.
    Each row carries ``scan_count`` and ``revision_count``.
    """
    cases = visible_cases(actor).select_related("organization", "shared_with_lab", "patient")
    if status:
        known = status in {state.value for state in State}
        cases = cases.filter(status=status) if known else cases.none()
    if patient_id is not None:
        cases = cases.filter(patient_id=patient_id)
    return cases.annotate(
        scan_count=Count(
            "attachments", filter=Q(attachments__revision__isnull=True), distinct=True
        ),
        revision_count=Count("revisions", distinct=True),
    ).order_by("-status_changed_at", "-number")


def case_timeline_for(*, case: Case) -> QuerySet[CaseEvent]:
    """Every step of a visible case, oldest first, with who took it."""
    return (
        CaseEvent.objects.filter(case=case)
        .select_related("actor", "organization", "revision")
        .order_by("created_at", "id")
    )


def attachment_list_for(*, case: Case) -> QuerySet[Attachment]:
    """The clinic's files of a visible case (scans, photos, documents), in upload order."""
    return (
        Attachment.objects.filter(case=case, revision__isnull=True)
        .select_related("uploaded_by")
        .order_by("created_at", "id")
    )


def revision_list_for(*, case: Case) -> QuerySet[Revision]:
    """Every design revision of a visible case, newest first, with its files and the
    revision it started from."""
    files = Attachment.objects.order_by("created_at", "id")
    return (
        Revision.objects.filter(case=case)
        .select_related("author", "organization", "based_on")
        .prefetch_related(Prefetch("files", queryset=files))
        .order_by("-number")
    )


@dataclass(frozen=True, slots=True)
class StatusCount:
    status: str
    label: str | Promise
    count: int


def case_count_by_status(actor: RouteActor) -> dict[str, int]:
    """How many of the actor's visible cases are in each state (one grouped query)."""
    rows = visible_cases(actor).order_by().values_list("status").annotate(n=Count("id"))
    return dict(rows)


def case_status_counts(actor: RouteActor) -> list[StatusCount]:
    """The states the actor's visible cases are in, in workflow order, with their counts.

    The caller checks ``Perm.CaseView`` first. One query.
    """
    counts = case_count_by_status(actor)
    return [
        StatusCount(status, label, counts[status])
        for status, label in CaseStatus.choices
        if counts.get(status)
    ]
