"""Reads for comparing two revisions: the mesh each is compared by, a comparison, and the
revisions a revision can be compared with.

The caller has found the revision with ``access_revision`` (404 for absent and foreign) and
checked ``Perm.CaseView`` on its case. Nothing sealed is opened here.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from cuspid.cases.enums import Layer
from cuspid.cases.models import Attachment, Revision, RevisionComparison


def proposal_mesh_get_for(*, revision: Revision) -> Attachment | None:
    """The mesh a revision is compared by: its first design-proposal file (upload order), with
    its blob; ``None`` when the revision has no mesh. One query."""
    return (
        Attachment.objects.filter(revision=revision, layer=Layer.PROPOSAL)
        .select_related("blob", "case", "revision")
        .order_by("created_at", "id")
        .first()
    )


def comparison_get_for(*, revision: Revision, baseline: Revision) -> RevisionComparison | None:
    """The comparison of ``revision`` against ``baseline`` (distances on ``revision``'s mesh),
    if one was requested; ``None`` otherwise. One query."""
    return (
        RevisionComparison.objects.filter(revision=revision, baseline=baseline)
        .select_related("blob")
        .first()
    )


@dataclass(frozen=True, slots=True)
class CompareTarget:
    """Another revision of the case to compare with, and which way round: the distances are
    drawn on ``newer``'s mesh, measured to ``older``'s; ``comparison`` when one exists."""

    other: Revision
    newer: Revision
    older: Revision
    comparison: RevisionComparison | None


def compare_target_list_for(*, revision: Revision) -> list[CompareTarget]:
    """The case's other revisions that have a design mesh, newest first, when ``revision``
    has one too (otherwise none), each with the comparison of the newer against the older
    if it was requested. Three queries whatever the number of revisions."""
    with_mesh = set(
        Attachment.objects.filter(case_id=revision.case_id, layer=Layer.PROPOSAL)
        .exclude(revision__isnull=True)
        .values_list("revision_id", flat=True)
    )
    if revision.id not in with_mesh:
        return []
    others = list(
        Revision.objects.filter(case_id=revision.case_id, id__in=with_mesh)
        .exclude(id=revision.id)
        .order_by("-number")
    )
    existing = {
        (c.revision_id, c.baseline_id): c
        for c in RevisionComparison.objects.filter(Q(revision=revision) | Q(baseline=revision))
    }
    targets = []
    for other in others:
        newer, older = (other, revision) if other.number > revision.number else (revision, other)
        targets.append(
            CompareTarget(
                other=other,
                newer=newer,
                older=older,
                comparison=existing.get((newer.id, older.id)),
            )
        )
    return targets
