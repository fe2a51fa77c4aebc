"""``/api/v1`` operations for the 3D viewer: the meshes a revision is reviewed with (issue 8).

The content of each mesh streams through ``attachment_download`` (audited, never cached).
"""

# No ``from __future__ import annotations``: ninja reads the operations' annotations at run
# time.

from uuid import UUID

from django.http import HttpRequest
from ninja import Router

from cuspid.access.enforce import acting_actor
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.models import Attachment
from cuspid.cases.policies import access_revision
from cuspid.cases.schemas.viewer import RevisionMeshOut
from cuspid.cases.selectors.viewer import revision_mesh_list_for
from cuspid.patients.api import READ_ERRORS

router = Router(tags=["viewer"])


@router.get(
    "/revisions/{revision_id}/meshes",
    response={200: list[RevisionMeshOut], **READ_ERRORS},
    operation_id="revision_mesh_list",
)
def revision_mesh_list_api(request: HttpRequest, revision_id: UUID) -> list[Attachment]:
    """The meshes a revision is reviewed with, in layer order: the clinic's prepared and
    opposing jaws, then the revision's design files (the proposal)."""
    actor = acting_actor(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    require(actor, Perm.CaseView, revision.case)
    return revision_mesh_list_for(revision=revision)
