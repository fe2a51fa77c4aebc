"""``/api/v1`` operations on cases: the workflow, the timeline, files and design revisions.

Each operation: the acting actor, ``access_*`` (404 for absent and foreign alike: a lab sees
a case only while it is shared with it), ``require`` the permission, then a selector or
service. The route guard (``cuspid.access.routes``) has checked the role and audits every
read; services audit the writes. Errors are the services' (``config/api.py`` maps them):
409 with the status and allowed actions for a step the state does not allow, 413/415/422
for a refused file, which stores nothing.
"""

# No ``from __future__ import annotations``: ninja reads the paginated operations' parameter
# annotations at run time, in the pagination module's namespace, where these names are unknown.

from typing import Annotated
from uuid import UUID

from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, UploadedFile
from ninja.pagination import paginate
from ninja.params.functions import File, Form
from ninja.responses import Status

from cuspid.access.enforce import acting_actor, acting_member
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.downloads import attachment_response
from cuspid.cases.models import Attachment, Case, CaseEvent, Revision
from cuspid.cases.policies import access_attachment, access_case, access_revision
from cuspid.cases.schemas import (
    AttachmentOut,
    CaseCreateIn,
    CaseEventOut,
    CaseListQuery,
    CaseOut,
    CaseSendIn,
    CaseTransitionIn,
    CaseUpdateIn,
    RevisionOut,
    TransitionErrorOut,
)
from cuspid.cases.selectors import (
    attachment_list_for,
    case_list_for,
    case_timeline_for,
    revision_list_for,
)
from cuspid.cases.services import (
    CaseDetails,
    Upload,
    attachment_add,
    case_create,
    case_send,
    case_transition,
    case_update,
    revision_create,
)
from cuspid.cases.workflow import State
from cuspid.keys.fields import preload_keys
from cuspid.patients.api import READ_ERRORS, WRITE_ERRORS, SealedPagination
from cuspid.patients.policies import access_patient
from cuspid.patients.schemas import ErrorOut

router = Router(tags=["cases"])

# Writes that move through the workflow may answer 409 (InvalidTransition).
TRANSITION_ERRORS: dict[int, type[ErrorOut]] = {**WRITE_ERRORS, 409: TransitionErrorOut}
# Uploads may also be too large (413) or of a kind not accepted (415).
UPLOAD_ERRORS: dict[int, type[ErrorOut]] = {**TRANSITION_ERRORS, 413: ErrorOut, 415: ErrorOut}


def _details(payload: CaseCreateIn | CaseUpdateIn) -> CaseDetails:
    return CaseDetails(
        case_type=payload.case_type.value,
        teeth=list(payload.teeth),
        material=payload.material.value,
        shade=payload.shade,
        due_date=payload.due_date,
        priority=payload.priority.value,
        notes=payload.notes,
    )


def _case(request: HttpRequest, case_id: UUID, perm: Perm) -> Case:
    """The visible case (404 otherwise), named as the request's subject, with ``perm``."""
    actor = acting_actor(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    require(actor, perm, case)
    return case


def requested_revision(request: HttpRequest, revision_id: UUID, perm: Perm) -> Revision:
    """The visible revision (404 otherwise), named as the request's subject, with ``perm`` on
    its case. Shared by the operations on a revision in this package's feature modules."""
    actor = acting_actor(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    require(actor, perm, revision.case)
    return revision


def _upload(file: UploadedFile) -> Upload:
    return Upload(file=file, filename=file.name or "")  # type: ignore[arg-type]  # an UploadedFile is a binary file object


# --- cases -----------------------------------------------------------------------------------


@router.get("/cases", response={200: list[CaseOut], **READ_ERRORS}, operation_id="case_list")
@paginate(SealedPagination)
def case_list_api(request: HttpRequest, filters: Query[CaseListQuery]) -> QuerySet[Case]:
    """Cases of the active organisation, most recently changed first, one page at a time.

    A clinic sees its own cases; a lab sees the cases shared with it (its inbox is
    ``status=submitted``), with ``patient: null``.
    """
    actor = acting_actor(request)
    require(actor, Perm.CaseView, actor.organization)
    # A workflow State, not a plain string: the selector checks ``status in State``, which
    # on Python 3.11 is False (and warns) for any plain string.
    status = State(filters.status.value) if filters.status else ""
    return case_list_for(actor=actor, status=status, patient_id=filters.patient_id)


@router.post("/cases", response={201: CaseOut, **WRITE_ERRORS}, operation_id="case_create")
def case_create_api(request: HttpRequest, payload: CaseCreateIn) -> Status[Case]:
    """Open a draft case for a patient of the active clinic (404 for any other patient).

    422 for bad details: a tooth that is not FDI, a bridge over one tooth, a past due date.
    """
    actor = acting_member(request)
    patient = access_patient(actor, payload.patient_id)
    note_subject_patient(request, patient.id)
    case = case_create(actor=actor, patient=patient, details=_details(payload))
    return Status(201, case)


@router.get("/cases/{case_id}", response={200: CaseOut, **READ_ERRORS}, operation_id="case_get")
def case_get_api(request: HttpRequest, case_id: UUID) -> Case:
    """One case of the active organisation (or shared with its lab); 404 for any other."""
    return _case(request, case_id, Perm.CaseView)


@router.put(
    "/cases/{case_id}", response={200: CaseOut, **TRANSITION_ERRORS}, operation_id="case_update"
)
def case_update_api(request: HttpRequest, case_id: UUID, payload: CaseUpdateIn) -> Case:
    """Replace what a case asks for; 409 once the lab has accepted it."""
    actor = acting_member(request)
    case = _case(request, case_id, Perm.CaseEdit)
    return case_update(actor=actor, case=case, details=_details(payload))


@router.post(
    "/cases/{case_id}/send",
    response={200: CaseOut, **TRANSITION_ERRORS},
    operation_id="case_send",
)
def case_send_api(request: HttpRequest, case_id: UUID, payload: CaseSendIn) -> Case:
    """Send a draft (or declined) case with at least one scan to a connected lab.

    404 for a lab the clinic is not actively connected to; 409 without a scan or from
    another status.
    """
    actor = acting_member(request)
    case = _case(request, case_id, Perm.CaseShare)
    return case_send(actor=actor, case=case, lab_id=payload.lab_id)


@router.post(
    "/cases/{case_id}/transitions",
    response={200: CaseOut, **TRANSITION_ERRORS},
    operation_id="case_transition",
)
def case_transition_api(request: HttpRequest, case_id: UUID, payload: CaseTransitionIn) -> Case:
    """Take one workflow step: accept, decline, start_design, send_for_review,
    request_changes, approve, start_production, ship, confirm_delivery, close, cancel,
    revoke_share.

    403 when the step belongs to the other side or the role lacks it; 401
    step_up_required to approve without a recent sign-in; 409 (with ``status`` and
    ``allowed_actions``) when the status does not allow it; 422 without a reason where one
    is needed (decline, request_changes).
    """
    actor = acting_member(request)
    case = _case(request, case_id, Perm.CaseView)
    return case_transition(
        actor=actor, case=case, action=payload.action.value, reason=payload.reason
    )


@router.get(
    "/cases/{case_id}/events",
    response={200: list[CaseEventOut], **READ_ERRORS},
    operation_id="case_event_list",
)
def case_event_list_api(request: HttpRequest, case_id: UUID) -> list[CaseEvent]:
    """The case's timeline, oldest first: every step, file and revision, with who did it."""
    case = _case(request, case_id, Perm.CaseView)
    events = list(case_timeline_for(case=case))
    preload_keys(events)
    return events


# --- files -----------------------------------------------------------------------------------


@router.get(
    "/cases/{case_id}/attachments",
    response={200: list[AttachmentOut], **READ_ERRORS},
    operation_id="attachment_list",
)
def attachment_list_api(request: HttpRequest, case_id: UUID) -> QuerySet[Attachment]:
    """The clinic's files of the case (scans, photos, documents), in upload order."""
    case = _case(request, case_id, Perm.CaseView)
    return attachment_list_for(case=case)


@router.post(
    "/cases/{case_id}/attachments",
    response={201: AttachmentOut, **UPLOAD_ERRORS},
    operation_id="attachment_upload",
)
def attachment_upload_api(
    request: HttpRequest,
    case_id: UUID,
    file: Annotated[UploadedFile, File(description="The scan, photo or PDF.")],
) -> Status[Attachment]:
    """Add a scan (STL, PLY, OBJ), photo (JPEG, PNG) or PDF to a case, as multipart ``file``.

    The content decides what it is, never the name. 413 over the size limit, 415 for a kind
    not accepted (archives included), 422 for a damaged, empty or implausible file; a refused
    file stores nothing. Photos are stored without their metadata.
    """
    actor = acting_member(request)
    case = _case(request, case_id, Perm.CaseEdit)
    attachment = attachment_add(actor=actor, case=case, upload=_upload(file))
    return Status(201, attachment)


@router.get(
    "/attachments/{attachment_id}/content",
    response={200: None, **READ_ERRORS},
    operation_id="attachment_download",
    url_name="attachment_download",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file's bytes, as stored.",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        }
    },
)
def attachment_download_api(request: HttpRequest, attachment_id: UUID) -> StreamingHttpResponse:
    """The content of a case file, streamed and checked against its SHA-256.

    Served as an attachment under a generic name (case reference, kind, id), never the
    uploaded one, and never cached.
    """
    actor = acting_actor(request)
    attachment = access_attachment(actor, attachment_id)
    note_subject_patient(request, attachment.patient_id)
    require(actor, Perm.CaseView, attachment.case)
    return attachment_response(attachment)


# --- revisions -------------------------------------------------------------------------------


@router.get(
    "/cases/{case_id}/revisions",
    response={200: list[RevisionOut], **READ_ERRORS},
    operation_id="revision_list",
)
def revision_list_api(request: HttpRequest, case_id: UUID) -> list[Revision]:
    """Every design revision of the case, newest first, with its files."""
    case = _case(request, case_id, Perm.CaseView)
    revisions = list(revision_list_for(case=case))
    preload_keys(revisions)
    return revisions


@router.post(
    "/cases/{case_id}/revisions",
    response={201: RevisionOut, **UPLOAD_ERRORS},
    operation_id="revision_create",
)
def revision_create_api(
    request: HttpRequest,
    case_id: UUID,
    files: Annotated[
        list[UploadedFile], File(description="The revision's design files (1 to 20 meshes).")
    ],
    note: Annotated[
        str, Form(max_length=4000, description="The designer's note for the clinic.")
    ] = "",
) -> Status[Revision]:
    """Upload design revision n+1 (the lab): multipart ``files`` (STL, PLY, OBJ) and ``note``.

    Starts the design when the case was accepted or sent back with changes. Every file is
    checked first: one refused file refuses the revision and stores nothing. 409 unless the
    case is accepted, in design or has changes requested.
    """
    actor = acting_member(request)
    case = _case(request, case_id, Perm.DesignEdit)
    revision = revision_create(
        actor=actor, case=case, uploads=[_upload(file) for file in files], note=note
    )
    return Status(201, revision)


@router.get(
    "/revisions/{revision_id}",
    response={200: RevisionOut, **READ_ERRORS},
    operation_id="revision_get",
)
def revision_get_api(request: HttpRequest, revision_id: UUID) -> Revision:
    """One design revision of a visible case, with its files and manifest hash."""
    return requested_revision(request, revision_id, Perm.CaseView)
