"""``/api/v1`` operations: approving a revision with a signed approval, reading it, and the
public key that verifies approvals offline (issue 8).

Approving needs a member of the case's clinic whose role holds ``Perm.CaseApprove``
(clinicians) and a recent full sign-in (401 ``step_up_required`` otherwise; an API token
never has one). Reading an approval is for anyone who sees the case, the lab included.
"""

# No ``from __future__ import annotations``: ninja reads the operations' annotations at run
# time.

from uuid import UUID

from django.http import HttpRequest
from ninja import Router
from ninja.responses import Status

from cuspid.access.enforce import acting_member
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.cases.api import TRANSITION_ERRORS, requested_revision
from cuspid.cases.approvals import MESSAGE_VERSION, STATEMENTS
from cuspid.cases.models import Approval
from cuspid.cases.policies import access_revision
from cuspid.cases.schemas import UserRefOut
from cuspid.cases.schemas.approvals import ApprovalOut, ApprovalPublicKeyOut, RevisionApproveIn
from cuspid.cases.selectors.approvals import (
    approval_get_for,
    approval_public_keys,
    approval_record,
    approval_signing_key,
)
from cuspid.cases.services.approvals import revision_approve
from cuspid.core.signing import public_key_id, public_key_pem
from cuspid.patients.api import READ_ERRORS
from cuspid.patients.schemas import ErrorOut

router = Router(tags=["approvals"])

ALGORITHM = "Ed25519"

# Approving may also need a fresh sign-in (401 step_up_required).
APPROVE_ERRORS: dict[int, type[ErrorOut]] = {**TRANSITION_ERRORS, 401: ErrorOut}


def _out(approval: Approval) -> ApprovalOut:
    record = approval_record(approval, approval_public_keys())
    return ApprovalOut(
        id=approval.id,
        case_id=approval.case_id,
        case_reference=approval.case.reference,
        revision_id=approval.revision_id,
        revision_number=approval.revision.number,
        manifest_sha256=approval.manifest_sha256,
        approver=UserRefOut(id=approval.approver.pk, full_name=approval.approver.full_name),
        approved_at=approval.approved_at,
        statement_version=approval.statement_version,
        statement_text=record.statement_text,
        statement_sha256=record.statement_sha256,
        algorithm=ALGORITHM,
        key_id=approval.key_id,
        signature=approval.signature,
        message=record.message,
        signature_check=record.signature_check.value,
    )


@router.post(
    "/revisions/{revision_id}/approve",
    response={201: ApprovalOut, **APPROVE_ERRORS},
    operation_id="revision_approve",
)
def revision_approve_api(
    request: HttpRequest, revision_id: UUID, payload: RevisionApproveIn
) -> Status[ApprovalOut]:
    """Approve the latest revision of a case awaiting review (a clinician of its clinic).

    Moves the case to approved and answers the signed approval. 403 for a role that may not
    approve (staff, lab members); 401 ``step_up_required`` without a full sign-in in the last
    30 minutes; 409 for a revision a newer one supersedes or a case not awaiting review;
    422 for an unknown statement version. Every refusal is audited.
    """
    actor = acting_member(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    approval = revision_approve(
        actor=actor, revision=revision, statement_version=payload.statement_version
    )
    return Status(201, _out(approval))


@router.get(
    "/revisions/{revision_id}/approval",
    response={200: ApprovalOut | None, **READ_ERRORS},
    operation_id="approval_get",
)
def approval_get_api(request: HttpRequest, revision_id: UUID) -> ApprovalOut | None:
    """The signed approval of a revision, with its message, signature and key id; ``null``
    while the revision is not approved (404 for a revision the caller does not see)."""
    revision = requested_revision(request, revision_id, Perm.CaseView)
    approval = approval_get_for(revision=revision)
    return _out(approval) if approval is not None else None


@router.get(
    "/approvals/public-key",
    response={200: ApprovalPublicKeyOut},
    operation_id="approval_public_key",
)
def approval_public_key_api(request: HttpRequest) -> ApprovalPublicKeyOut:
    """The Ed25519 public key that verifies approvals signed now, and every statement text.

    To verify an approval offline: check that ``key_id`` matches, then verify the base64
    ``signature`` over the ASCII bytes of ``message`` (approval_get) with this key; rebuild
    ``message`` from the approval's fields to be sure it says what they say.
    """
    key = approval_signing_key().public_key()
    return ApprovalPublicKeyOut(
        key_id=public_key_id(key),
        algorithm=ALGORITHM,
        public_key_pem=public_key_pem(key),
        message_version=MESSAGE_VERSION,
        statements=dict(STATEMENTS),
    )
