"""Writes of AI suggestions: a designer asks, a worker runs the design engine, a revision results.

``suggestion_request`` is the lab designer's step (permission, side, workflow, the scans it
needs, the row, the audit event); the run is queued for a Celery worker when the request's
transaction commits (``cuspid.cases.tasks.suggestion_run_task``). ``suggestion_run`` is one
attempt, as the platform (``SystemActor``): it reads the clinic's scans, runs the engine
(``cuspid.cases.suggest``) outside any transaction while writing its progress, then stores the
result in one transaction: a revision marked ``RevisionOrigin.AI`` holding the crowns (made
through ``revision_store`` as the requesting designer, whose permission is checked again),
the viewer's segmentation as an encrypted blob owned by the patient, and the report.

A failed attempt is tried once more (``MAX_ATTEMPTS``): the first failure leaves the
suggestion pending with its error and raises ``SuggestionRetry`` for the task to retry; the
second marks it failed. Every outcome of the platform's work is audited
(``AiSuggestionReady``, ``AiSuggestionFailed``). Runs are idempotent: a suggestion that is
ready or failed is left alone, so a redelivered task does nothing.
"""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from uuid import UUID

from django.db import transaction

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.audit.actions import AuditAction
from cuspid.audit.services import audit_emit
from cuspid.cases.enums import RevisionOrigin, SuggestionStage, SuggestionStatus
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.files import InspectedFile, inspect_upload
from cuspid.cases.models import Case, DesignSuggestion
from cuspid.cases.selectors.suggestions import suggestion_scans_for
from cuspid.cases.services import (
    CASE_DATA_TYPE,
    PURPOSE,
    REVISION_FILE_KINDS,
    _locked,
    _require_side,
    _revisions_open,
    revision_store,
)
from cuspid.cases.suggest import SuggestionFailed, SuggestionOutcome, suggestion_compute
from cuspid.cases.teeth import parse_teeth
from cuspid.cases.workflow import Side
from cuspid.core import clock
from cuspid.core.actors import SystemActor
from cuspid.core.errors import InvalidInput, PermissionDenied
from cuspid.keys.blobs import blob_chunks, blob_put
from cuspid.keys.models import OwnerKind
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.models import Membership

logger = logging.getLogger(__name__)

#: Why the platform works (the ``SystemActor`` of the task).
SYSTEM_REASON = "ai_suggestion"
#: Runs of one suggestion at most: the first, and one retry.
MAX_ATTEMPTS = 2
#: A suggestion still pending or running after this long lost its worker: asking again
#: starts a new one.
STALE_AFTER = timedelta(minutes=30)
#: Codes of failures outside the engine (the engine's are ``cuspid.cases.suggest``'s).
ERROR_INTERNAL = "internal_error"
ERROR_CASE_MOVED = "case_moved_on"
ERROR_REQUESTER_GONE = "requester_gone"
# One byte per vertex of the scan as the browser loads it (at most three per triangle).
_MAX_LABEL_BYTES = 3 * 20_000_000
_ACTIVE = (SuggestionStatus.PENDING, SuggestionStatus.RUNNING)


class SuggestionRetry(Exception):
    """The first attempt failed; the task runs the suggestion once more."""


def _audit(action: AuditAction.Case, actor: Actor | SystemActor, row: DesignSuggestion) -> None:
    audit_emit(
        action=action,
        actor=actor,
        target_type="design_suggestion",
        target_id=row.id,
        subject_patient=row.patient_id,
        data_type=CASE_DATA_TYPE,
        purpose=PURPOSE,
    )


def _is_stale(row: DesignSuggestion) -> bool:
    return row.status in _ACTIVE and row.updated_at < clock.now() - STALE_AFTER


def suggestion_request(*, actor: Actor, case: Case) -> DesignSuggestion:
    """Ask the design engine for a suggestion on a case shared with the actor's lab.

    Guarantees: at most one suggestion runs per case: while one is pending or running (and
    not stale) it is returned as it is. A new one is queued for a worker when the
    transaction commits and comes back pending.

    Raises PermissionDenied without ``Perm.DesignEdit`` or from the clinic's side;
    InvalidTransition unless the case is open for revisions (accepted, in design, changes
    requested); InvalidInput when the case names no teeth or has no scan of the prepared
    jaw. Audits ``AuditAction.Case.AiSuggestionRequested`` when it creates one; a refusal
    changes and audits nothing here (the route records it).
    """
    row, created = _suggestion_open(actor, case)
    if created:
        _enqueue(row.id)
    return row


@transaction.atomic(durable=True)
def _suggestion_open(actor: Actor, case: Case) -> tuple[DesignSuggestion, bool]:
    require(actor, Perm.DesignEdit, case)
    _require_side(actor, case, Side.LAB)
    case = _locked(case)
    _revisions_open(case)
    current = (
        DesignSuggestion.objects.filter(case=case, status__in=_ACTIVE)
        .order_by("-created_at")
        .first()
    )
    if current is not None and not _is_stale(current):
        return current, False
    teeth = parse_teeth(case.teeth)
    if not teeth:
        raise InvalidInput("The case names no teeth to design.")
    prepared, opposing = suggestion_scans_for(case=case)
    if prepared is None:
        raise InvalidInput("The clinic has not uploaded a scan of the prepared jaw yet.")
    row = DesignSuggestion.objects.create(
        case=case,
        patient_id=case.patient_id,
        scan=prepared,
        antagonist=opposing,
        teeth=list(teeth),
        requested_by=actor.user,
        organization=actor.organization,
    )
    _audit(AuditAction.Case.AiSuggestionRequested, actor, row)
    return row, True


def _enqueue(suggestion_id: UUID) -> None:
    # Imported here: the task module imports this one.
    from cuspid.cases.tasks import suggestion_run_task

    transaction.on_commit(lambda: suggestion_run_task.delay(str(suggestion_id)))


def suggestion_run(*, actor: SystemActor, suggestion_id: UUID) -> DesignSuggestion | None:
    """One attempt at a pending suggestion (the task's work).

    Guarantees: idempotent: a suggestion that is ready or failed is returned unchanged, and
    ``None`` when it no longer exists. Progress (stage, percent) is written as the engine
    goes. On success, in one transaction: the AI revision with one STL per crown, the
    segmentation blob, the report, ``READY``, audited ``AiSuggestionReady``. On a failure
    (the engine's, the case having moved on, the requester's membership gone, or any
    error): the first attempt leaves it pending with its error code and raises
    SuggestionRetry; the second marks it ``FAILED``, audited ``AiSuggestionFailed``.
    """
    row = _attempt_start(suggestion_id)
    if row is None or row.status != SuggestionStatus.RUNNING:
        return row
    logger.info("ai suggestion %s: attempt %s (%s)", row.id, row.attempts, actor.reason)
    try:
        outcome = suggestion_compute(
            scan=b"".join(blob_chunks(row.scan.blob)),
            scan_format=row.scan.file_format,
            antagonist=(
                b"".join(blob_chunks(row.antagonist.blob)) if row.antagonist is not None else None
            ),
            teeth=[int(tooth) for tooth in row.teeth],
            material=row.case.material,
            progress=lambda stage, percent: _progress(row.id, stage, percent),
        )
        _progress(row.id, SuggestionStage.SAVING, 90)
        return _finish(actor, row.id, outcome)
    except SuggestionFailed as exc:
        code = exc.code
    except Exception:
        logger.exception("ai suggestion %s: attempt %s broke", row.id, row.attempts)
        code = ERROR_INTERNAL
    failed = _failed(actor, row.id, code)
    if failed.status == SuggestionStatus.PENDING:
        raise SuggestionRetry(code)
    return failed


@transaction.atomic(durable=True)
def _attempt_start(suggestion_id: UUID) -> DesignSuggestion | None:
    row = (
        DesignSuggestion.objects.select_for_update(of=("self",))
        .select_related("case", "scan__blob", "antagonist__blob")
        .filter(id=suggestion_id)
        .first()
    )
    if row is None or row.status not in _ACTIVE:
        return row
    row.attempts += 1
    row.status = SuggestionStatus.RUNNING
    row.stage = SuggestionStage.READING
    row.progress = 5
    row.save(update_fields=["attempts", "status", "stage", "progress", "updated_at"])
    return row


@transaction.atomic(durable=True)
def _progress(suggestion_id: UUID, stage: str, percent: int) -> None:
    DesignSuggestion.objects.filter(id=suggestion_id, status=SuggestionStatus.RUNNING).update(
        stage=SuggestionStage(stage), progress=max(0, min(100, percent)), updated_at=clock.now()
    )


def _requester(row: DesignSuggestion) -> Actor:
    membership = (
        Membership.objects.select_related("user", "organization")
        .filter(user_id=row.requested_by_id, organization_id=row.organization_id, is_active=True)
        .first()
    )
    if membership is None or not membership.user.is_active:
        raise SuggestionFailed(ERROR_REQUESTER_GONE)
    return Actor.of(membership)


def _finish(
    actor: SystemActor, suggestion_id: UUID, outcome: SuggestionOutcome
) -> DesignSuggestion:
    files: list[tuple[InspectedFile, str]] = []
    try:
        for crown in outcome.crowns:
            files.append(
                (
                    inspect_upload(io.BytesIO(crown.stl), allowed=REVISION_FILE_KINDS),
                    f"ai-crown-{crown.tooth}.stl",
                )
            )
        return _store(actor, suggestion_id, outcome, files)
    finally:
        for item, _name in files:
            item.stored.close()


@transaction.atomic(durable=True)
def _store(
    actor: SystemActor,
    suggestion_id: UUID,
    outcome: SuggestionOutcome,
    files: list[tuple[InspectedFile, str]],
) -> DesignSuggestion:
    row = DesignSuggestion.objects.select_for_update(of=("self",)).get(id=suggestion_id)
    if row.status != SuggestionStatus.RUNNING:
        return row
    requester = _requester(row)
    case = Case.objects.get(id=row.case_id)
    try:
        revision = revision_store(
            requester,
            case,
            files,
            "",
            origin=RevisionOrigin.AI,
        )
    except (InvalidTransition, PermissionDenied):
        raise SuggestionFailed(ERROR_CASE_MOVED) from None
    row.revision = revision
    row.labels = blob_put(
        kind=OwnerKind.PATIENT,
        owner_id=row.patient_id,
        source=io.BytesIO(outcome.labels),
        max_bytes=_MAX_LABEL_BYTES,
    )
    row.report = outcome.report()
    row.status = SuggestionStatus.READY
    row.stage = SuggestionStage.DONE
    row.progress = 100
    row.error = ""
    row.save(
        update_fields=[
            "revision",
            "labels",
            "report",
            "status",
            "stage",
            "progress",
            "error",
            "updated_at",
        ]
    )
    _audit(AuditAction.Case.AiSuggestionReady, actor, row)
    return row


@transaction.atomic(durable=True)
def _failed(actor: SystemActor, suggestion_id: UUID, code: str) -> DesignSuggestion:
    row = DesignSuggestion.objects.select_for_update(of=("self",)).get(id=suggestion_id)
    if row.status != SuggestionStatus.RUNNING:
        return row
    row.error = code
    if row.attempts < MAX_ATTEMPTS:
        row.status = SuggestionStatus.PENDING
        row.stage = SuggestionStage.QUEUED
        row.progress = 0
        row.save(update_fields=["error", "status", "stage", "progress", "updated_at"])
        return row
    row.status = SuggestionStatus.FAILED
    row.save(update_fields=["error", "status", "updated_at"])
    _audit(AuditAction.Case.AiSuggestionFailed, actor, row)
    return row
