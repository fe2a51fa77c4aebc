"""Reads of approvals: one revision's approval, the keys that sign and verify them, and the
check ``approvals_verify`` runs over every approval.

Callers of :func:`approval_get_for` found the revision with ``access_revision`` and checked
``Perm.CaseView`` on its case. :func:`approvals_verify` is the operator's check (the
management command): it reads every approval and streams every approved file, and reports
ids, case references and revision numbers only, never a file name or anything about the
patient.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from cuspid.cases.approvals import (
    ApprovalFacts,
    UnknownStatement,
    approval_message,
    approval_signature_valid,
    statement_sha256,
)
from cuspid.cases.manifest import manifest_sha256
from cuspid.cases.models import Approval, Attachment, Revision
from cuspid.core.signing import load_key_file, load_public_key, public_key_id
from cuspid.keys.blobs import BLOB_READ_ERRORS, BlobCorrupted, blob_chunks

_SETTING = "CUSPID_APPROVAL_SIGNING_KEY"
_PURPOSE = "approval signing key"


def approval_signing_key() -> Ed25519PrivateKey:
    """The key that signs approvals, from ``CUSPID_APPROVAL_SIGNING_KEY``.

    Created on first use where ``CUSPID_APPROVAL_SIGNING_KEY_CREATE`` is set (embedded and
    test settings). Raises ``ImproperlyConfigured`` when the file is missing and may not be
    created (production), or holds anything but an Ed25519 private key.
    """
    return load_key_file(
        Path(settings.CUSPID_APPROVAL_SIGNING_KEY),
        create=settings.CUSPID_APPROVAL_SIGNING_KEY_CREATE,
        setting=_SETTING,
        purpose=_PURPOSE,
    )


def approval_public_keys(*, keys_dir: Path | None = None) -> dict[str, Ed25519PublicKey]:
    """The public keys that verify approvals, by key id: the configured signing key's public
    half (when its file exists; nothing is created here) and every ``*.pem`` in
    ``keys_dir`` (public keys, or private key files), e.g. the keys of earlier rotations.

    Raises ``ImproperlyConfigured`` for a configured key file that is not an Ed25519 key and
    ``ValueError`` naming a file of ``keys_dir`` that is not one.
    """
    keys: dict[str, Ed25519PublicKey] = {}
    configured = Path(settings.CUSPID_APPROVAL_SIGNING_KEY)
    if configured.exists():
        public = load_key_file(configured, create=False, setting=_SETTING, purpose=_PURPOSE)
        keys[public_key_id(public.public_key())] = public.public_key()
    if keys_dir is not None:
        for path in sorted(keys_dir.glob("*.pem")):
            try:
                key = load_public_key(path.read_bytes())
            except ValueError:
                raise ValueError(f"{path} is not an Ed25519 key") from None
            keys[public_key_id(key)] = key
    return keys


def approval_facts(approval: Approval) -> ApprovalFacts:
    """What the approval's signature covers, from its stored fields (and its case's
    reference and its revision's number)."""
    return ApprovalFacts(
        approval_id=approval.id,
        case_id=approval.case_id,
        case_reference=approval.case.reference,
        revision_id=approval.revision_id,
        revision_number=approval.revision.number,
        manifest_sha256=approval.manifest_sha256,
        approver_id=approval.approver_id,
        approved_at=approval.approved_at,
        statement_version=approval.statement_version,
    )


def approval_get_for(*, revision: Revision) -> Approval | None:
    """The approval of a visible revision, with its approver, case and revision; or None."""
    return (
        Approval.objects.select_related("approver", "case", "revision")
        .filter(revision_id=revision.id)
        .first()
    )


class SignatureCheck(StrEnum):
    VERIFIED = "verified"
    INVALID = "invalid"
    # Signed by a key this server does not hold (an earlier one, before a rotation).
    UNKNOWN_KEY = "unknown_key"


def approval_signature_check(
    approval: Approval, public_keys: dict[str, Ed25519PublicKey]
) -> SignatureCheck:
    """Whether the approval's signature verifies with the key it names, among
    ``public_keys``."""
    public_key = public_keys.get(approval.key_id)
    if public_key is None:
        return SignatureCheck.UNKNOWN_KEY
    if approval_signature_valid(public_key, approval.signature, approval_facts(approval)):
        return SignatureCheck.VERIFIED
    return SignatureCheck.INVALID


@dataclass(frozen=True, slots=True)
class ApprovalRecord:
    """An approval as pages and the API show it: the statement as read, the signed message
    and what this server finds when it checks the signature."""

    approval: Approval
    statement_text: str
    statement_sha256: str
    message: str
    signature_check: SignatureCheck


def approval_record(approval: Approval, public_keys: dict[str, Ed25519PublicKey]) -> ApprovalRecord:
    """What to show of an approval (its case and revision loaded); a statement version that
    was never published (a tampered row) shows empty texts and an invalid signature."""
    facts = approval_facts(approval)
    try:
        text = facts.statement()
    except UnknownStatement:
        return ApprovalRecord(approval, "", "", "", SignatureCheck.INVALID)
    return ApprovalRecord(
        approval=approval,
        statement_text=text,
        statement_sha256=statement_sha256(text),
        message=approval_message(facts).decode("ascii"),
        signature_check=approval_signature_check(approval, public_keys),
    )


# --- approvals_verify ------------------------------------------------------------------------


class ProblemCode(StrEnum):
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    REVISION_CHANGED = "revision_changed"
    FILE_CHANGED = "file_changed"
    FILE_UNREADABLE = "file_unreadable"
    MANIFEST_CHANGED = "manifest_changed"


_EXPLAINED: dict[ProblemCode, str] = {
    ProblemCode.UNKNOWN_KEY: "no public key with the approval's key id",
    ProblemCode.BAD_SIGNATURE: "the signature does not match the approval's fields",
    ProblemCode.REVISION_CHANGED: "the revision's manifest SHA-256 is not the approved one",
    ProblemCode.FILE_CHANGED: "the file does not hash to what was approved",
    ProblemCode.FILE_UNREADABLE: "the stored file cannot be read or decrypted",
    ProblemCode.MANIFEST_CHANGED: "the revision's files no longer make the approved manifest",
}


@dataclass(frozen=True, slots=True)
class ApprovalProblem:
    """One thing wrong with one approval (and, for a file, which file)."""

    approval_id: UUID
    case_reference: str
    revision_number: int
    code: ProblemCode
    file_id: UUID | None = None
    # For an unreadable file: the type of the error reading it (its message is not kept).
    error: str = ""

    @property
    def explanation(self) -> str:
        return f"{_EXPLAINED[self.code]} ({self.error})" if self.error else _EXPLAINED[self.code]

    def line(self) -> str:
        """The problem as one line of text: ids, reference and numbers only."""
        where = f" file {self.file_id}" if self.file_id is not None else ""
        return (
            f"approval {self.approval_id} case {self.case_reference} revision "
            f"{self.revision_number}{where}: {self.code.value}: {self.explanation}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "approval_id": str(self.approval_id),
            "case_reference": self.case_reference,
            "revision_number": self.revision_number,
            "file_id": str(self.file_id) if self.file_id is not None else None,
            "code": self.code.value,
            "detail": self.explanation,
        }


@dataclass(slots=True)
class ApprovalsReport:
    """What ``approvals_verify`` found: how many approvals and files it checked, and every
    problem (none: all verified)."""

    approvals: int = 0
    files: int = 0
    problems: list[ApprovalProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _streamed(attachment: Attachment) -> tuple[str, int]:
    """SHA-256 and size of a stored file's plaintext, read in chunks (memory stays flat).

    Raises what ``blob_chunks`` raises: ``BlobCorrupted`` when the plaintext is not what the
    blob's row records, Tink's error for altered ciphertext, ``FileNotFoundError`` for
    a missing object, ``KeyDestroyed`` once the patient's key is shredded.
    """
    digest = hashlib.sha256()
    size = 0
    for chunk in blob_chunks(attachment.blob):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def revision_stored_manifest(*, revision: Revision) -> str:
    """The manifest SHA-256 of a revision's files as they are stored now: each file streamed,
    decrypted and hashed (memory stays flat), not read from the rows.

    Raises ``BlobCorrupted`` when a file is not what its blob's row records, Tink's error for
    altered ciphertext, ``FileNotFoundError`` for a missing object, ``KeyDestroyed`` once the
    patient's key is shredded.
    """
    files = Attachment.objects.filter(revision_id=revision.id).select_related("blob")
    return manifest_sha256(_streamed(attachment) for attachment in files)


def _approval_problems(
    approval: Approval, public_keys: dict[str, Ed25519PublicKey]
) -> tuple[list[ApprovalProblem], int]:
    """The problems of one approval, and how many of its files were read."""
    revision = approval.revision
    problems: list[ApprovalProblem] = []

    def found(code: ProblemCode, file_id: UUID | None = None, error: str = "") -> None:
        problems.append(
            ApprovalProblem(
                approval.id, approval.case.reference, revision.number, code, file_id, error
            )
        )

    check = approval_signature_check(approval, public_keys)
    if check == SignatureCheck.UNKNOWN_KEY:
        found(ProblemCode.UNKNOWN_KEY)
    elif check == SignatureCheck.INVALID:
        found(ProblemCode.BAD_SIGNATURE)
    if revision.manifest_sha256 != approval.manifest_sha256:
        found(ProblemCode.REVISION_CHANGED)
    files = Attachment.objects.filter(revision_id=revision.id).select_related("blob")
    streamed: list[tuple[str, int]] = []
    unreadable = False
    for attachment in files.order_by("created_at", "id"):
        try:
            digest, size = _streamed(attachment)
        except BlobCorrupted:
            found(ProblemCode.FILE_CHANGED, attachment.id)
            unreadable = True
            continue
        except BLOB_READ_ERRORS as exc:
            # Altered ciphertext, a missing object, a shredded key, a storage error: the
            # check names the file and goes on. Only the error's type is kept.
            found(ProblemCode.FILE_UNREADABLE, attachment.id, type(exc).__name__)
            unreadable = True
            continue
        streamed.append((digest, size))
        if (digest, size) != (attachment.sha256, attachment.size):
            found(ProblemCode.FILE_CHANGED, attachment.id)
    # Files added, removed or swapped for others (with their rows made to match): the
    # manifest over what is stored now is not the one approved.
    if not unreadable and manifest_sha256(streamed) != approval.manifest_sha256:
        found(ProblemCode.MANIFEST_CHANGED)
    return problems, len(streamed)


def approvals_verify(*, public_keys: dict[str, Ed25519PublicKey]) -> ApprovalsReport:
    """Check every approval: its signature, with the public key its key id names; that its
    revision still records the approved manifest; that every file of the revision still
    decrypts and hashes (SHA-256 and size, streamed) to what its row records; and that the
    manifest over the files as stored now is the approved one.

    Raises nothing for a bad approval: each problem is in the report, naming the approval,
    the case reference, the revision number and, for a file, the file's id.
    """
    report = ApprovalsReport()
    approvals = Approval.objects.select_related("case", "revision").order_by("approved_at", "id")
    for approval in approvals.iterator(chunk_size=200):
        problems, files = _approval_problems(approval, public_keys)
        report.approvals += 1
        report.files += files
        report.problems.extend(problems)
    return report
