"""Approving a design revision: the clinician's signed approval of one exact revision.

An approval moves the case from awaiting_review to approved and stores an ``Approval`` that
binds the approver, the time, the revision (id and number), the revision's manifest SHA-256
and the version of the statement the clinician was shown, signed by the server with Ed25519
(``cuspid.cases.approvals``). ``case_transition`` refuses ``approve``: this is the only way.
"""

from __future__ import annotations

from uuid import uuid4

from django.db import transaction

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.accounts.policies import require_recent_auth
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.services import audit_emit
from cuspid.cases import workflow
from cuspid.cases.approvals import STATEMENTS, ApprovalFacts, approval_sign
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import Approval, Case, Revision
from cuspid.cases.selectors.approvals import approval_signing_key, revision_stored_manifest
from cuspid.cases.services import (
    CASE_DATA_TYPE,
    PURPOSE,
    _locked,
    _require_side,
    _timeline,
    case_facts,
)
from cuspid.cases.workflow import Action, IllegalTransition, Side, State
from cuspid.core import clock
from cuspid.core.errors import CuspidError, InvalidInput
from cuspid.core.signing import public_key_id
from cuspid.keys.blobs import BlobCorrupted
from cuspid.tenancy.actor import Actor


def revision_approve(*, actor: Actor, revision: Revision, statement_version: str) -> Approval:
    """Approve the latest revision of a case in review, on behalf of the case's clinic.

    Guarantees: the case moves awaiting_review → approved with one timeline entry
    (``approve``, naming the revision), and one ``Approval`` is stored, signed over the
    approval id, case, revision id and number, the revision's manifest SHA-256, the approver,
    the time (UTC, microseconds) and the statement's version and SHA-256. Nothing changes on
    any refusal.

    Raises PermissionDenied without ``Perm.CaseApprove`` (staff, lab members) or from the
    lab's side; StepUpRequired when the last full authentication is older than the step-up
    window (30 min); InvalidInput for a statement version never published; InvalidTransition
    (409) for a revision a newer one supersedes, or a case not awaiting review;
    ``BlobCorrupted`` when the revision's files, read back, do not make its manifest (what
    is signed is what is stored); and ``ImproperlyConfigured`` when the signing key is
    missing where it may not be created.

    Audits ``AuditAction.Case.Approved`` with the approval as target; every refusal audits it
    too, DENIED, with the revision as target, in a transaction of its own (after the
    refused one rolled back).
    """
    try:
        return _approve(actor, revision, statement_version)
    except CuspidError:
        _audit_denied(actor, revision)
        raise


def _audit_denied(actor: Actor, revision: Revision) -> None:
    with transaction.atomic():
        audit_emit(
            action=AuditAction.Case.Approved,
            actor=actor,
            outcome=Outcome.DENIED,
            target_type="revision",
            target_id=revision.id,
            subject_patient=revision.patient_id,
            data_type=CASE_DATA_TYPE,
            purpose=PURPOSE,
        )


def _refused(why: str, state: State) -> InvalidTransition:
    return InvalidTransition(why, state, workflow.allowed_actions(state, Side.CLINIC))


@transaction.atomic(durable=True)
def _approve(actor: Actor, revision: Revision, statement_version: str) -> Approval:
    case: Case = revision.case
    require(actor, Perm.CaseApprove, case)
    _require_side(actor, case, Side.CLINIC)
    require_recent_auth(actor)
    if statement_version not in STATEMENTS:
        raise InvalidInput("Approve the statement shown on the page; reload it and try again.")
    # The key before the lock: production fails here, before anything is written.
    key = approval_signing_key()
    # What is signed is what is stored: every file is read back and hashed first.
    if revision_stored_manifest(revision=revision) != revision.manifest_sha256:
        raise BlobCorrupted
    case = _locked(case)
    state = State(case.status)
    latest_id, latest_number = (
        Revision.objects.filter(case=case).order_by("-number").values_list("id", "number")[0]
    )
    if latest_id != revision.id:
        raise _refused(
            f"Revision {revision.number} is superseded by revision {latest_number}; "
            "review and approve the latest revision.",
            state,
        )
    try:
        target = workflow.transition(state, Action.APPROVE, case_facts(case))
    except IllegalTransition as exc:
        raise _refused(exc.why, state) from None
    approved_at = clock.now()
    approval = Approval(
        id=uuid4(),
        case=case,
        patient_id=case.patient_id,
        revision=revision,
        approver=actor.user,
        organization=actor.organization,
        approved_at=approved_at,
        manifest_sha256=revision.manifest_sha256,
        statement_version=statement_version,
        key_id=public_key_id(key.public_key()),
    )
    facts = ApprovalFacts(
        approval_id=approval.id,
        case_id=case.id,
        case_reference=case.reference,
        revision_id=revision.id,
        revision_number=revision.number,
        manifest_sha256=revision.manifest_sha256,
        approver_id=actor.user.pk,
        approved_at=approved_at,
        statement_version=statement_version,
    )
    approval.signature = approval_sign(key, facts)
    approval.save()
    case.status = target.value
    case.status_changed_at = approved_at
    case.save(update_fields=["status", "status_changed_at", "updated_at"])
    _timeline(actor, case, Action.APPROVE.value, before=state.value, revision=revision)
    audit_emit(
        action=AuditAction.Case.Approved,
        actor=actor,
        target_type="approval",
        target_id=approval.id,
        subject_patient=case.patient_id,
        data_type=CASE_DATA_TYPE,
        purpose=PURPOSE,
    )
    return approval
