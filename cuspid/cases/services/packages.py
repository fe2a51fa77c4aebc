"""Writes: the production package of an approved revision, and its audited downloads.

Lab staff of the lab a case is shared with turn the approved revision into one deterministic
ZIP (:mod:`cuspid.cases.packages`): its meshes, ``manifest.json`` and the work order. The
ZIP is built before the transaction opens (reading the files can take a while; nothing is
locked meanwhile), each file checked against the approval's manifest, then stored encrypted
with the patient's key in one durable transaction that also moves the case to production.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NoReturn, cast

from django.conf import settings
from django.db import transaction

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.services import audit_emit
from cuspid.cases import workflow
from cuspid.cases.enums import TimelineEntry
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.manifest import manifest_sha256
from cuspid.cases.models import Approval, Attachment, Case, ProductionPackage, Revision
from cuspid.cases.packages import Content, PackageFileMismatch, write_package
from cuspid.cases.selectors.approvals import (
    SignatureCheck,
    approval_get_for,
    approval_public_keys,
    approval_signature_check,
)
from cuspid.cases.selectors.packages import (
    package_download_name,
    package_files_for,
    package_get_for,
    work_order_for,
)
from cuspid.cases.services import (
    ACTION_PERMS,
    CASE_DATA_TYPE,
    PURPOSE,
    _locked,
    _move,
    _require_side,
    _timeline,
)
from cuspid.cases.workflow import Action, Side, State
from cuspid.cases.workorder import OrderFile, WorkOrder
from cuspid.core.errors import Conflict
from cuspid.keys.blobs import BLOB_READ_ERRORS, blob_chunks, blob_put
from cuspid.keys.models import EncryptedBlob, OwnerKind
from cuspid.tenancy.actor import Actor

logger = logging.getLogger(__name__)

# Where a package may be made: once approved (the first one starts production), or in
# production already (a lab that started production by hand still gets its package).
PRODUCTION_OPEN = frozenset({State.APPROVED, State.IN_PRODUCTION})
# The ZIP is assembled in memory up to this size, then in a temporary file.
SPOOL_BYTES = 32 * 1024 * 1024
TARGET_TYPE = "production_package"


class RevisionNotApproved(Conflict):
    """Only an approved revision goes to production."""

    code = "not_approved"
    default_detail = "This revision is not approved: only an approved revision goes to production."


class ApprovalSignatureInvalid(Conflict):
    """The approval's signature does not verify: its record was changed after signing."""

    code = "approval_invalid"
    default_detail = (
        "The approval's signature does not verify, so no package was made. "
        "Ask your administrator to run approvals_verify."
    )


class ApprovedFilesChanged(Conflict):
    """A file of the approved revision no longer hashes to what the clinician approved."""

    code = "approved_files_changed"
    default_detail = (
        "The revision's files no longer match what was approved, so no package was made. "
        "Ask your administrator to run approvals_verify."
    )


@dataclass(frozen=True, slots=True)
class PackageDownload:
    """An audited download: the package, its generic file name and its checked content."""

    package: ProductionPackage
    filename: str
    chunks: Iterator[bytes]


def _audit(
    action: AuditAction.Case,
    actor: Actor,
    case: Case,
    target: ProductionPackage | Revision,
    outcome: Outcome = Outcome.ALLOWED,
) -> None:
    audit_emit(
        action=action,
        actor=actor,
        outcome=outcome,
        # A refusal names the revision: no package exists.
        target_type=TARGET_TYPE if isinstance(target, ProductionPackage) else "revision",
        target_id=target.id,
        subject_patient=case.patient_id,
        data_type=CASE_DATA_TYPE,
        purpose=PURPOSE,
    )


def _production_open(case: Case) -> None:
    state = State(case.status)
    if state not in PRODUCTION_OPEN:
        raise InvalidTransition(
            "A production package is made once the case is approved, or while it is in production.",
            state,
            workflow.allowed_actions(state, Side.LAB),
        )


def _check_signature(approval: Approval) -> None:
    # A key this server no longer holds (an earlier one, before a rotation) cannot be checked
    # here; approvals_verify is given the old public keys. A signature that a held key
    # refuses is a changed record.
    if approval_signature_check(approval, approval_public_keys()) == SignatureCheck.INVALID:
        raise ApprovalSignatureInvalid


def _approved_files(revision: Revision, approval: Approval) -> list[tuple[Attachment, OrderFile]]:
    """The revision's files, their recorded hashes checked against the approval's manifest."""
    files = package_files_for(revision=revision)
    recorded = manifest_sha256((line.sha256, line.size) for _attachment, line in files)
    if recorded != approval.manifest_sha256 or recorded != revision.manifest_sha256:
        raise ApprovedFilesChanged
    return files


class _ApprovedFileUnreadable(Exception):
    """An approved file could not be read back: altered ciphertext, a row that no longer
    matches its content, a missing object."""


def _content(blob: EncryptedBlob) -> Content:
    def read() -> Iterator[bytes]:
        try:
            yield from blob_chunks(blob)
        # Whatever stops the approved bytes coming back as stored (the AEAD refusing altered
        # ciphertext, BlobCorrupted, a missing object): every one means the same here.
        except BLOB_READ_ERRORS as exc:
            raise _ApprovedFileUnreadable(type(exc).__name__) from exc

    return read


def _build(target: BinaryIO, order: WorkOrder, files: list[tuple[Attachment, OrderFile]]) -> None:
    contents = {line.name: _content(attachment.blob) for attachment, line in files}
    try:
        write_package(target, order, contents)
    except PackageFileMismatch:
        _refuse(order, "content does not hash to the approved SHA-256")
    except _ApprovedFileUnreadable as exc:
        _refuse(order, f"unreadable ({exc})")


def _refuse(order: WorkOrder, why: str) -> NoReturn:
    # Ids only: never a file's name or content.
    logger.error("revision %s: an approved file failed its check: %s", order.revision_id, why)
    raise ApprovedFilesChanged


def package_create(*, actor: Actor, revision: Revision) -> ProductionPackage:
    """Make the production package of an approved revision, or return the one made before.

    Guarantees: the ZIP holds exactly the approved files (each one's SHA-256 checked against
    the approval's manifest as it is read), the manifest and the work order, with no
    patient identity; the same revision always gives the same bytes. The first package of a
    case in ``approved`` moves it to ``in_production`` (``Action.START_PRODUCTION``).

    Raises PermissionDenied without ``Perm.ProductionManage`` or from the clinic's side,
    RevisionNotApproved (409) for a revision without an approval, InvalidTransition (409)
    unless the case is approved or in production; ApprovalSignatureInvalid (409) when the
    approval's signature does not verify and ApprovedFilesChanged (409) when a file no longer
    matches the approval, both audited as a denied ``AuditAction.Case.PackageCreated`` (in a
    transaction of their own: nothing else is written).
    Audits ``AuditAction.Case.PackageCreated`` (and ``ProductionStarted`` when it starts
    production); returning an existing package changes and audits nothing.
    """
    case = revision.case
    require(actor, Perm.ProductionManage, case)
    _require_side(actor, case, Side.LAB)
    existing = package_get_for(revision=revision)
    if existing is not None:
        return existing
    approval = approval_get_for(revision=revision)
    if approval is None:
        raise RevisionNotApproved
    _production_open(case)
    try:
        _check_signature(approval)
        files = _approved_files(revision, approval)
        order = work_order_for(
            revision=revision,
            approval=approval,
            files=[line for _attachment, line in files],
            lab=actor.organization,
            language=settings.LANGUAGE_CODE,
        )
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spooled:
            # A binary file object (typeshed types SpooledTemporaryFile apart from BinaryIO).
            spool = cast(BinaryIO, spooled)
            _build(spool, order, files)
            spool.seek(0)
            return _package_store(actor, revision, approval, spool)
    except (ApprovalSignatureInvalid, ApprovedFilesChanged):
        # Refused before anything was written: the refusal is recorded on its own.
        with transaction.atomic():
            _audit(AuditAction.Case.PackageCreated, actor, case, revision, Outcome.DENIED)
        raise


@transaction.atomic(durable=True)
def _package_store(
    actor: Actor, revision: Revision, approval: Approval, source: BinaryIO
) -> ProductionPackage:
    require(actor, Perm.ProductionManage, revision.case)
    case = _locked(revision.case)
    _require_side(actor, case, Side.LAB)
    # Another request may have made it while this one was building: the same bytes.
    existing = ProductionPackage.objects.filter(revision=revision).first()
    if existing is not None:
        return existing
    _production_open(case)
    blob = blob_put(kind=OwnerKind.PATIENT, owner_id=case.patient_id, source=source)
    package = ProductionPackage.objects.create(
        case=case,
        patient_id=case.patient_id,
        revision=revision,
        approval=approval,
        blob=blob,
        sha256=blob.sha256,
        size=blob.size,
        created_by=actor.user,
        organization=actor.organization,
    )
    if State(case.status) == State.APPROVED:
        require(actor, ACTION_PERMS[Action.START_PRODUCTION], case)
        _move(actor, case, Action.START_PRODUCTION)
    _timeline(actor, case, TimelineEntry.PACKAGE_CREATED, revision=revision)
    _audit(AuditAction.Case.PackageCreated, actor, case, package)
    return package


@transaction.atomic(durable=True)
def package_download(*, actor: Actor, package: ProductionPackage) -> PackageDownload:
    """Open a production package for download, and record that it was downloaded.

    Guarantees: the content is the stored ZIP, checked against its SHA-256 as it streams
    (the first segment is opened here, so an unreadable package fails before anything is
    recorded); the name is generic (``C-00042-rev2-production.zip``).

    Raises PermissionDenied without ``Perm.ProductionManage`` or from the clinic's side.
    Audits ``AuditAction.Case.PackageDownloaded``, once per download.
    """
    case = package.case
    require(actor, Perm.ProductionManage, case)
    _require_side(actor, case, Side.LAB)
    chunks = blob_chunks(package.blob)
    first = next(chunks, b"")
    _audit(AuditAction.Case.PackageDownloaded, actor, case, package)
    return PackageDownload(
        package=package,
        filename=package_download_name(package.revision),
        chunks=itertools.chain([first], chunks),
    )
