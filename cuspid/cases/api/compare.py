"""``/api/v1`` operations: two revisions compared: a per-vertex distance map (issue 8).

Ask for a comparison of a revision's design mesh against another revision's design surface
(same case), read its status and summary, download its distances. Each operation: the
actor, ``access_revision`` / ``access_comparison`` (404 for absent and foreign alike), the
patient named for the audited read, ``require(Perm.CaseView)``, then the service or a
selector.
"""

from uuid import UUID

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router
from ninja.responses import Status

from cuspid.access.enforce import acting_actor, acting_member
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.enums import ComparisonStatus
from cuspid.cases.models import RevisionComparison
from cuspid.cases.policies import access_revision
from cuspid.cases.policies.compare import access_comparison
from cuspid.cases.schemas.compare import ComparisonOut, ComparisonRequestIn
from cuspid.cases.services.compare import comparison_request
from cuspid.cases.views.compare import distances_response
from cuspid.patients.api import READ_ERRORS, WRITE_ERRORS
from cuspid.patients.schemas import ErrorOut

router = Router(tags=["compare"])


@router.post(
    "/revisions/{revision_id}/comparisons",
    response={200: ComparisonOut, 202: ComparisonOut, **WRITE_ERRORS},
    operation_id="comparison_request",
)
def comparison_request_api(
    request: HttpRequest, revision_id: UUID, payload: ComparisonRequestIn
) -> Status[RevisionComparison]:
    """Ask for the distance map of this revision's design mesh to ``baseline_id``'s surface.

    Idempotent: asking again returns the same comparison (a failed one is tried again).
    200 when it is decided (ready, or failed with an ``error`` code); 202 while a worker
    computes it (large meshes): read it again with ``comparison_get``. 404 for a baseline
    the caller cannot see; 422 for the same revision, another case's, or a revision without
    a design mesh.
    """
    actor = acting_member(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    require(actor, Perm.CaseView, revision.case)
    baseline = access_revision(actor, payload.baseline_id)
    comparison = comparison_request(actor=actor, revision=revision, baseline=baseline)
    return Status(202 if comparison.status == ComparisonStatus.PENDING else 200, comparison)


def _comparison(request: HttpRequest, comparison_id: UUID) -> RevisionComparison:
    actor = acting_actor(request)
    comparison = access_comparison(actor, comparison_id)
    note_subject_patient(request, comparison.patient_id)
    require(actor, Perm.CaseView, comparison.case)
    return comparison


@router.get(
    "/comparisons/{comparison_id}",
    response={200: ComparisonOut, **READ_ERRORS},
    operation_id="comparison_get",
)
def comparison_get_api(request: HttpRequest, comparison_id: UUID) -> RevisionComparison:
    """One comparison of a visible case: its status and, when ready, its summary (mm)."""
    return _comparison(request, comparison_id)


@router.get(
    "/comparisons/{comparison_id}/distances",
    response={200: None, 409: ErrorOut, **READ_ERRORS},
    operation_id="comparison_distances",
    url_name="comparison_distances",
    openapi_extra={
        "responses": {
            200: {
                "description": "Little-endian float32 distances in millimetres, one per vertex "
                "of the revision's design mesh in the order three.js's loaders read it (a "
                "binary STL: three per facet, in file order); positive outside the baseline's "
                "surface, negative inside.",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        }
    },
)
def comparison_distances_api(request: HttpRequest, comparison_id: UUID) -> StreamingHttpResponse:
    """The distances of a ready comparison, streamed and never cached; 409 until it is ready."""
    return distances_response(_comparison(request, comparison_id))
