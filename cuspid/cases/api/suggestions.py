"""``/api/v1`` operations: AI design suggestions (issue 9).

Ask the design engine for a suggestion on a case (a lab designer), read its progress and
report, download its segmentation. Each operation: the actor, ``access_case`` /
``access_suggestion`` (404 for absent and foreign alike), the patient named for the audited
read, then the service or a selector.
"""

from uuid import UUID

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router
from ninja.responses import Status

from cuspid.access.enforce import acting_actor, acting_member
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.models import DesignSuggestion
from cuspid.cases.policies import access_case
from cuspid.cases.policies.suggestions import access_suggestion
from cuspid.cases.schemas.suggestions import SuggestionOut
from cuspid.cases.services.suggestions import suggestion_request
from cuspid.cases.views.suggestions import labels_response
from cuspid.patients.api import READ_ERRORS, WRITE_ERRORS
from cuspid.patients.schemas import ErrorOut

router = Router(tags=["ai suggestions"])


@router.post(
    "/cases/{case_id}/ai-suggestions",
    response={202: SuggestionOut, 409: ErrorOut, **WRITE_ERRORS},
    operation_id="suggestion_request",
)
def suggestion_request_api(request: HttpRequest, case_id: UUID) -> Status[DesignSuggestion]:
    """Ask the design engine to segment the prepared jaw's scan and propose the case's crowns.

    A worker runs it (seconds to a minute): read it with ``suggestion_get`` until it is
    ready (its ``revision_id`` is the new revision marked AI suggestion) or failed. While one
    runs, asking again returns it. 409 unless the case is open for design; 422 when the case
    names no teeth or has no prepared-jaw scan.
    """
    actor = acting_member(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    return Status(202, suggestion_request(actor=actor, case=case))


def _suggestion(request: HttpRequest, suggestion_id: UUID) -> DesignSuggestion:
    actor = acting_actor(request)
    suggestion = access_suggestion(actor, suggestion_id)
    note_subject_patient(request, suggestion.patient_id)
    require(actor, Perm.CaseView, suggestion.case)
    return suggestion


@router.get(
    "/ai-suggestions/{suggestion_id}",
    response={200: SuggestionOut, **READ_ERRORS},
    operation_id="suggestion_get",
)
def suggestion_get_api(request: HttpRequest, suggestion_id: UUID) -> DesignSuggestion:
    """One AI suggestion of a visible case: status, progress and, when ready, its report."""
    return _suggestion(request, suggestion_id)


@router.get(
    "/ai-suggestions/{suggestion_id}/labels",
    response={200: None, 409: ErrorOut, **READ_ERRORS},
    operation_id="suggestion_labels",
    openapi_extra={
        "responses": {
            200: {
                "description": "One unsigned byte per vertex of the prepared jaw's scan in the "
                "order three.js's loaders read it (a binary STL: three per facet, in file "
                "order): 0 for gingiva, otherwise the tooth's FDI number.",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        }
    },
)
def suggestion_labels_api(request: HttpRequest, suggestion_id: UUID) -> StreamingHttpResponse:
    """The segmentation of a ready suggestion, streamed and never cached; 409 until ready."""
    return labels_response(_suggestion(request, suggestion_id))
