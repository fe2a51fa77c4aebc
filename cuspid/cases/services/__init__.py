"""Writes to cases: policy, workflow, change, timeline and audit in one durable transaction.

Every service takes the acting member and an object found by an ``access_*`` policy, checks
the role's permission on it (``require``), checks the workflow (``workflow.transition``),
changes the rows, appends one timeline entry (``CaseEvent``) and emits one audit event per
change. Uploaded files are inspected (``files.inspect_upload``) before the transaction opens,
and stored encrypted with the patient's key inside it; a refused file stores nothing.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import Max

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.audit.actions import AuditAction
from cuspid.audit.services import audit_emit
from cuspid.cases import workflow
from cuspid.cases.enums import (
    AttachmentKind,
    CaseType,
    Layer,
    Material,
    Priority,
    RevisionOrigin,
    TimelineEntry,
)
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.files import InspectedFile, inspect_upload
from cuspid.cases.manifest import manifest_sha256
from cuspid.cases.models import Attachment, Case, CaseEvent, Revision
from cuspid.cases.policies import side_of
from cuspid.cases.teeth import InvalidTooth, parse_teeth
from cuspid.cases.workflow import Action, CaseFacts, IllegalTransition, Side, State
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, NotFound, PermissionDenied
from cuspid.keys.blobs import blob_put
from cuspid.keys.models import OwnerKind
from cuspid.patients.models import Patient
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import ConnectionStatus
from cuspid.tenancy.models import LabConnection, Organization

CASE_DATA_TYPE = "case"
PURPOSE = "treatment"
MAX_FILES_PER_REVISION = 20
MAX_NOTE_CHARS = 4000

# The permission each workflow action needs on the case (the matrix says which roles hold it).
ACTION_PERMS: dict[Action, Perm] = {
    Action.SUBMIT: Perm.CaseShare,
    Action.ACCEPT: Perm.CaseAccept,
    Action.DECLINE: Perm.CaseAccept,
    Action.START_DESIGN: Perm.DesignEdit,
    Action.SEND_FOR_REVIEW: Perm.DesignEdit,
    Action.REQUEST_CHANGES: Perm.CaseEdit,
    Action.APPROVE: Perm.CaseApprove,
    Action.START_PRODUCTION: Perm.CaseStatusSet,
    Action.SHIP: Perm.CaseStatusSet,
    Action.CONFIRM_DELIVERY: Perm.CaseEdit,
    Action.CLOSE: Perm.CaseEdit,
    Action.CANCEL: Perm.CaseEdit,
    Action.REVOKE_SHARE: Perm.CaseShare,
}

ACTION_AUDIT: dict[Action, AuditAction.Case] = {
    Action.SUBMIT: AuditAction.Case.Submitted,
    Action.ACCEPT: AuditAction.Case.Accepted,
    Action.DECLINE: AuditAction.Case.Declined,
    Action.START_DESIGN: AuditAction.Case.DesignStarted,
    Action.SEND_FOR_REVIEW: AuditAction.Case.SentForReview,
    Action.REQUEST_CHANGES: AuditAction.Case.ChangesRequested,
    Action.APPROVE: AuditAction.Case.Approved,
    Action.START_PRODUCTION: AuditAction.Case.ProductionStarted,
    Action.SHIP: AuditAction.Case.Shipped,
    Action.CONFIRM_DELIVERY: AuditAction.Case.Delivered,
    Action.CLOSE: AuditAction.Case.Closed,
    Action.CANCEL: AuditAction.Case.Cancelled,
    Action.REVOKE_SHARE: AuditAction.Case.ShareRevoked,
}

# Actions after which the lab no longer holds the case.
_ENDS_SHARE = frozenset({Action.DECLINE, Action.REVOKE_SHARE})
CLINIC_FILE_KINDS = frozenset({AttachmentKind.SCAN, AttachmentKind.PHOTO, AttachmentKind.DOCUMENT})
REVISION_FILE_KINDS = frozenset({AttachmentKind.SCAN})


@dataclass(frozen=True, slots=True)
class CaseDetails:
    """What the clinic asks the lab to make."""

    case_type: str
    teeth: Sequence[object]
    material: str
    shade: str = ""
    due_date: datetime.date | None = None
    priority: str = Priority.ROUTINE
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file: its content (seekable), the name the uploader gave it and, for a
    clinic's scan, the jaw it shows (``Layer.PREPARED`` or ``Layer.ANTAGONIST``; blank: the
    first scan is the prepared jaw, later ones the opposing jaw)."""

    file: BinaryIO
    filename: str
    layer: str = ""


def _checked(details: CaseDetails, *, today: datetime.date | None = None) -> dict[str, object]:
    """Model values for ``details``; raises InvalidInput naming what is wrong."""
    if details.case_type not in CaseType.values:
        raise InvalidInput("Choose a case type from the list.")
    if details.material not in Material.values:
        raise InvalidInput("Choose a material from the list.")
    if details.priority not in Priority.values:
        raise InvalidInput("Choose routine or rush.")
    try:
        teeth = parse_teeth(details.teeth)
    except InvalidTooth as exc:
        raise InvalidInput(str(exc)) from None
    if not teeth and details.case_type not in (CaseType.NIGHT_GUARD, CaseType.OTHER):
        raise InvalidInput("Choose the teeth this case is for (FDI numbers, e.g. 36).")
    if details.case_type == CaseType.BRIDGE and len(teeth) < 2:
        raise InvalidInput("A bridge spans at least two teeth.")
    shade = details.shade.strip()
    if len(shade) > 32:
        raise InvalidInput("The shade is at most 32 characters (e.g. A2 or 2M2).")
    if today is not None and details.due_date is not None and details.due_date < today:
        raise InvalidInput("The due date is in the past.")
    notes = details.notes.strip()
    if len(notes) > MAX_NOTE_CHARS:
        raise InvalidInput(f"Clinical notes are at most {MAX_NOTE_CHARS} characters.")
    return {
        "case_type": details.case_type,
        "teeth": list(teeth),
        "material": details.material,
        "shade": shade,
        "due_date": details.due_date,
        "priority": details.priority,
        "notes": notes or None,
    }


def _audit(
    action: AuditAction.Case, actor: Actor, case: Case, target: Revision | Attachment | None = None
) -> None:
    audit_emit(
        action=action,
        actor=actor,
        target_type="case" if target is None else type(target).__name__.lower(),
        target_id=case.id if target is None else target.id,
        subject_patient=case.patient_id,
        data_type=CASE_DATA_TYPE,
        purpose=PURPOSE,
    )


def _timeline(
    actor: Actor,
    case: Case,
    entry: str,
    *,
    before: str = "",
    note: str = "",
    revision: Revision | None = None,
) -> CaseEvent:
    return CaseEvent.objects.create(
        case=case,
        patient_id=case.patient_id,
        entry=entry,
        from_status=before,
        to_status=case.status if before else "",
        actor=actor.user,
        organization=actor.organization,
        revision=revision,
        note=note or None,
    )


def _locked(case: Case) -> Case:
    """The case row again, locked until the transaction ends (PostgreSQL; SQLite serialises
    writers anyway), so two transitions cannot both start from the same state."""
    # Only the case row: PostgreSQL cannot lock the nullable side of the lab's outer join.
    return (
        Case.objects.select_for_update(of=("self",))
        .select_related("organization", "shared_with_lab")
        .get(pk=case.pk)
    )


def _require_side(actor: Actor, case: Case, side: Side) -> None:
    if side_of(actor, case) != side:
        raise PermissionDenied


def case_facts(case: Case) -> CaseFacts:
    """What the workflow's guards need: a scan, a lab, revisions since the last change request
    or the last sending."""
    # A revision counts for review only if it answers the latest request: made after the
    # last change request, and after the case was last sent (a new lab starts afresh).
    last_request = (
        CaseEvent.objects.filter(case=case, entry__in=[Action.REQUEST_CHANGES, Action.SUBMIT])
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    revisions = Revision.objects.filter(case=case)
    since = revisions.filter(created_at__gt=last_request) if last_request else revisions
    return CaseFacts(
        has_scan=Attachment.objects.filter(
            case=case, revision__isnull=True, kind=AttachmentKind.SCAN
        ).exists(),
        has_lab=case.shared_with_lab_id is not None,
        revision_count=revisions.count(),
        revisions_since_changes=since.count(),
    )


def _move(
    actor: Actor, case: Case, action: Action, *, facts: CaseFacts | None = None, note: str = ""
) -> CaseEvent:
    """Apply one transition to a locked case: state, timeline entry, audit event."""
    state = State(case.status)
    side = side_of(actor, case)
    try:
        target = workflow.transition(
            state, action, facts if facts is not None else case_facts(case)
        )
    except IllegalTransition as exc:
        raise InvalidTransition(exc.why, state, workflow.allowed_actions(state, side)) from None
    case.status = target.value
    case.status_changed_at = clock.now()
    if action in _ENDS_SHARE:
        case.shared_with_lab = None
    case.save(update_fields=["status", "status_changed_at", "shared_with_lab", "updated_at"])
    event = _timeline(actor, case, action.value, before=state.value, note=note)
    _audit(ACTION_AUDIT[action], actor, case)
    return event


@transaction.atomic(durable=True)
def case_create(*, actor: Actor, patient: Patient, details: CaseDetails) -> Case:
    """Open a draft case for a patient of the actor's clinic.

    Raises PermissionDenied without ``Perm.CaseEdit`` on the patient, InvalidInput for bad
    details (unknown type or material, a tooth that is not FDI, a past due date). Audits
    ``AuditAction.Case.Created``.
    """
    require(actor, Perm.CaseEdit, patient)
    values = _checked(details, today=clock.now().date())
    # The clinic row serialises case numbering on PostgreSQL; the constraint backs it up.
    Organization.objects.select_for_update().filter(pk=patient.organization_id).exists()
    last = Case.objects.filter(organization_id=patient.organization_id).aggregate(n=Max("number"))
    case = Case(
        organization_id=patient.organization_id,
        patient=patient,
        number=(last["n"] or 0) + 1,
        created_by=actor.user,
        **values,
    )
    case.save()
    _timeline(actor, case, TimelineEntry.CREATED)
    _audit(AuditAction.Case.Created, actor, case)
    return case


@transaction.atomic(durable=True)
def case_update(*, actor: Actor, case: Case, details: CaseDetails) -> Case:
    """Change what a case asks for, until a lab has accepted it.

    Raises PermissionDenied without ``Perm.CaseEdit`` or from the lab's side, InvalidTransition
    once the lab has accepted it, InvalidInput for bad details. Audits
    ``AuditAction.Case.Updated``.
    """
    require(actor, Perm.CaseEdit, case)
    case = _locked(case)
    _require_side(actor, case, Side.CLINIC)
    state = State(case.status)
    if state not in workflow.DETAILS_OPEN:
        raise InvalidTransition(
            "The lab has started on this case; its details can no longer change.",
            state,
            workflow.allowed_actions(state, Side.CLINIC),
        )
    for name, value in _checked(details).items():
        setattr(case, name, value)
    case.save()
    _timeline(actor, case, TimelineEntry.UPDATED)
    _audit(AuditAction.Case.Updated, actor, case)
    return case


@transaction.atomic(durable=True)
def case_send(*, actor: Actor, case: Case, lab_id: UUID) -> Case:
    """Share a case with one lab the clinic is actively connected to, and submit it.

    Raises PermissionDenied without ``Perm.CaseShare`` or from the lab's side, NotFound for a
    lab the clinic is not actively connected to, InvalidTransition unless the case is a draft
    (or was declined) with at least one scan. Audits ``AuditAction.Case.Submitted``.
    """
    require(actor, Perm.CaseShare, case)
    case = _locked(case)
    _require_side(actor, case, Side.CLINIC)
    connection = (
        LabConnection.objects.select_related("lab")
        .filter(clinic_id=case.organization_id, lab_id=lab_id, status=ConnectionStatus.ACTIVE)
        .first()
    )
    if connection is None:
        raise NotFound("No active connection to this lab.")
    facts = case_facts(case)
    facts = CaseFacts(
        has_scan=facts.has_scan,
        has_lab=True,
        revision_count=facts.revision_count,
        revisions_since_changes=facts.revisions_since_changes,
    )
    case.shared_with_lab = connection.lab
    _move(actor, case, Action.SUBMIT, facts=facts)
    return case


@transaction.atomic(durable=True)
def case_transition(*, actor: Actor, case: Case, action: str, reason: str = "") -> Case:
    """Take one workflow step other than sending (``case_send``) and uploading revisions.

    Raises InvalidInput for an unknown action, for ``approve`` (a revision is approved with
    ``services.approvals.revision_approve``, which signs it) or a missing reason (declining
    and requesting changes say why), PermissionDenied when the role lacks the action's
    permission or acts from the wrong side of the case, InvalidTransition (409) when the
    state does not allow it. Audits the action's ``AuditAction.Case`` event.
    """
    try:
        step = Action(action)
    except ValueError:
        raise InvalidInput("Unknown case action.") from None
    if step == Action.SUBMIT:
        raise InvalidInput("Send a case with the send operation, which names the lab.")
    if step == Action.APPROVE:
        raise InvalidInput(
            "Approve a revision through the approval operation, which signs that revision."
        )
    require(actor, ACTION_PERMS[step], case)
    case = _locked(case)
    _require_side(actor, case, workflow.SIDES[step])
    reason = reason.strip()
    if step in workflow.REASON_REQUIRED and not reason:
        raise InvalidInput("Say why, for the other side to read.")
    if len(reason) > MAX_NOTE_CHARS:
        raise InvalidInput(f"The reason is at most {MAX_NOTE_CHARS} characters.")
    _move(actor, case, step, note=reason)
    return case


CLINIC_LAYERS = frozenset({Layer.PREPARED, Layer.ANTAGONIST})


def _layer(case: Case, inspected: InspectedFile, asked: str, revision: Revision | None) -> str:
    """The viewer layer of a new file: a revision's meshes are the proposal; a clinic's scan
    is the jaw asked for, else the prepared jaw first and the opposing jaw after."""
    if inspected.mesh is None:
        return ""
    if revision is not None:
        return Layer.PROPOSAL.value
    if asked:
        return asked
    prepared = Attachment.objects.filter(
        case=case, revision__isnull=True, layer=Layer.PREPARED
    ).exists()
    return (Layer.ANTAGONIST if prepared else Layer.PREPARED).value


def _store(
    actor: Actor,
    case: Case,
    inspected: InspectedFile,
    filename: str,
    revision: Revision | None = None,
    layer: str = "",
) -> Attachment:
    blob = blob_put(
        kind=OwnerKind.PATIENT,
        owner_id=case.patient_id,
        source=inspected.stored,
        max_bytes=settings.CUSPID_MAX_UPLOAD_BYTES,
    )
    if (blob.sha256, blob.size) != (inspected.sha256, inspected.size):
        # The inspected bytes are the stored bytes; anything else is a bug, not bad input.
        raise RuntimeError("stored file differs from the inspected file")
    mesh = inspected.mesh
    return Attachment.objects.create(
        case=case,
        patient_id=case.patient_id,
        revision=revision,
        kind=inspected.kind.value,
        file_format=inspected.file_format.value,
        content_type=inspected.content_type,
        filename=filename.strip()[:255] or "upload",
        size=blob.size,
        sha256=blob.sha256,
        blob=blob,
        uploaded_by=actor.user,
        organization=actor.organization,
        vertex_count=mesh.vertex_count if mesh else None,
        face_count=mesh.face_count if mesh else None,
        bounds={"min": list(mesh.bounds_min), "max": list(mesh.bounds_max)} if mesh else None,
        units=mesh.units if mesh else "",
        layer=_layer(case, inspected, layer, revision),
        width=inspected.width,
        height=inspected.height,
        page_count=inspected.page_count,
    )


def _attachments_open(case: Case) -> None:
    state = State(case.status)
    if state not in workflow.ATTACHMENTS_OPEN:
        raise InvalidTransition(
            "Files can no longer be added to this case.",
            state,
            workflow.allowed_actions(state, Side.CLINIC),
        )


def attachment_add(*, actor: Actor, case: Case, upload: Upload) -> Attachment:
    """Add a scan, photo or PDF to a case of the actor's clinic, encrypted.

    The file is checked by content before anything is written: a refused file (wrong type,
    archive, broken or absurd mesh, oversize) raises ``UnsupportedFile`` / ``InvalidFile`` /
    ``UploadTooLarge`` and leaves no row and no blob. Raises PermissionDenied without
    ``Perm.CaseEdit`` or from the lab's side, InvalidTransition once the case is approved or
    ended. Audits ``AuditAction.Case.AttachmentAdded``.
    """
    require(actor, Perm.CaseEdit, case)
    _require_side(actor, case, Side.CLINIC)
    _attachments_open(case)
    if upload.layer and upload.layer not in CLINIC_LAYERS:
        raise InvalidInput("A scan shows the prepared jaw or the opposing jaw.")
    inspected = inspect_upload(upload.file, allowed=CLINIC_FILE_KINDS)
    try:
        return _attachment_store(actor, case, inspected, upload.filename, upload.layer)
    finally:
        if inspected.stored is not upload.file:
            inspected.stored.close()


@transaction.atomic(durable=True)
def _attachment_store(
    actor: Actor, case: Case, inspected: InspectedFile, filename: str, layer: str
) -> Attachment:
    require(actor, Perm.CaseEdit, case)
    case = _locked(case)
    _attachments_open(case)
    attachment = _store(actor, case, inspected, filename, layer=layer)
    _timeline(actor, case, TimelineEntry.ATTACHMENT_ADDED)
    _audit(AuditAction.Case.AttachmentAdded, actor, case, attachment)
    return attachment


def revision_create(
    *,
    actor: Actor,
    case: Case,
    uploads: Sequence[Upload],
    note: str = "",
    based_on: Revision | None = None,
) -> Revision:
    """Upload design revision n+1 of a case shared with the actor's lab.

    Every file is checked by content first (meshes only: STL, PLY, OBJ); a refused file
    stores nothing. Starts the design when the case was accepted or sent back with changes.
    The revision records its files' hashes and a manifest SHA-256 over them, and never
    changes afterwards. Raises PermissionDenied without ``Perm.DesignEdit`` or from the
    clinic's side, InvalidInput without files or with too many, InvalidTransition unless the
    case is accepted, in design or has changes requested; InvalidInput when ``based_on`` (the
    revision the designer started from, an AI suggestion say) is not one of the case's. Audits
    ``AuditAction.Case.RevisionCreated`` (and ``DesignStarted`` when it starts the design).
    """
    require(actor, Perm.DesignEdit, case)
    _require_side(actor, case, Side.LAB)
    if based_on is not None and based_on.case_id != case.id:
        raise InvalidInput("A revision can only start from another revision of its case.")
    if not uploads:
        raise InvalidInput("Add at least one design file.")
    if len(uploads) > MAX_FILES_PER_REVISION:
        raise InvalidInput(f"A revision holds at most {MAX_FILES_PER_REVISION} files.")
    if len(note.strip()) > MAX_NOTE_CHARS:
        raise InvalidInput(f"The note is at most {MAX_NOTE_CHARS} characters.")
    _revisions_open(case)
    inspected: list[tuple[InspectedFile, str]] = []
    try:
        for upload in uploads:
            inspected.append(
                (inspect_upload(upload.file, allowed=REVISION_FILE_KINDS), upload.filename)
            )
        with transaction.atomic(durable=True):
            return revision_store(actor, case, inspected, note.strip(), based_on=based_on)
    finally:
        for item, _name in inspected:
            item.stored.close()


def _revisions_open(case: Case) -> None:
    state = State(case.status)
    if state not in workflow.REVISIONS_OPEN:
        raise InvalidTransition(
            "Design revisions can be uploaded once the case is accepted, and until it is sent "
            "for review.",
            state,
            workflow.allowed_actions(state, Side.LAB),
        )


@transaction.atomic
def revision_store(
    actor: Actor,
    case: Case,
    inspected: list[tuple[InspectedFile, str]],
    note: str,
    *,
    origin: RevisionOrigin = RevisionOrigin.DESIGNER,
    based_on: Revision | None = None,
) -> Revision:
    """Store checked files as the case's next revision (``revision_create``'s transaction;
    the AI suggestion's too, with ``origin=AI``, inside its own). Checks permission, side and
    workflow again under the case's lock; audits and records the timeline entry."""
    require(actor, Perm.DesignEdit, case)
    case = _locked(case)
    _require_side(actor, case, Side.LAB)
    _revisions_open(case)
    if State(case.status) != State.IN_DESIGN:
        _move(actor, case, Action.START_DESIGN)
    last = Revision.objects.filter(case=case).aggregate(n=Max("number"))
    files = [(item.sha256, item.size) for item, _name in inspected]
    revision = Revision(
        case=case,
        patient_id=case.patient_id,
        number=(last["n"] or 0) + 1,
        author=actor.user,
        organization=actor.organization,
        note=note or None,
        manifest_sha256=manifest_sha256(files),
        origin=origin,
        based_on=based_on,
    )
    revision.save()
    for item, name in inspected:
        _store(actor, case, item, name, revision)
    _timeline(actor, case, TimelineEntry.REVISION_CREATED, revision=revision)
    _audit(AuditAction.Case.RevisionCreated, actor, case, revision)
    return revision
