"""Reads for the 3D viewer: which meshes a revision is reviewed with, and the case's revisions.

The caller has found the revision with ``access_revision`` (404 for absent and foreign) and
checked ``Perm.CaseView`` on its case. Nothing sealed is opened here.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from cuspid.cases.enums import Layer
from cuspid.cases.models import Attachment, Revision

# The order the viewer lists its layers in: the clinic's jaws first, the lab's design on top.
LAYER_ORDER: tuple[str, ...] = (Layer.PREPARED, Layer.ANTAGONIST, Layer.PROPOSAL)


def revision_mesh_list_for(*, revision: Revision) -> list[Attachment]:
    """The meshes a revision is reviewed with: its own files (the proposal layer) and the
    clinic's scans of the case (prepared and opposing jaw), in layer order, then upload order.

    Guarantees: only files of the revision's case, only meshes (a layer is set), never another
    revision's files. One query; the files come with their case and revision (for download
    names), never with anything sealed opened.
    """
    rows = (
        Attachment.objects.filter(case_id=revision.case_id)
        .filter(Q(revision_id=revision.id) | Q(revision__isnull=True))
        .filter(layer__in=LAYER_ORDER)
        .select_related("case", "revision")
        .order_by("created_at", "id")
    )
    # Python's sort is stable: upload order holds within a layer.
    return sorted(rows, key=lambda row: LAYER_ORDER.index(row.layer))


def case_revision_list_for(*, revision: Revision) -> QuerySet[Revision]:
    """Every revision of the revision's case, newest first, with author and organisation:
    the list to switch between on the review page. One query."""
    return (
        Revision.objects.filter(case_id=revision.case_id)
        .select_related("author", "organization")
        .order_by("-number")
    )
