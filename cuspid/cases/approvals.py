"""What a clinician's approval of a design revision says, and what its signature covers.

Pure: no database, no settings, no clock. The statement a clinician approves is kept here by
version; a published version never changes (a new wording is a new version), so an approval
that names ``statement_version`` says exactly which words were shown. The server signs a
canonical JSON message (``approval_message``) with Ed25519; anyone holding the public key can
rebuild the message from an approval's fields and check the signature with a JSON library
and ``cryptography`` alone::

    message = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("ascii")
    public_key.verify(base64.b64decode(signature), message)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cuspid.core.signing import canonical_json, sign, signature_valid

#: The version of the signed message's layout; part of every message.
MESSAGE_VERSION = "cuspid-approval-v1"

#: Every statement ever shown, by version. Never edit a published text: add a version.
STATEMENTS: MappingProxyType[str, str] = MappingProxyType(
    {
        "2026-12": (
            "I have reviewed design revision {revision_number} of case {case_reference} "
            "and approve it for production as shown."
        ),
    }
)

#: The statement the approval page shows now.
CURRENT_STATEMENT_VERSION = "2026-12"


class UnknownStatement(ValueError):
    """No statement text has this version."""


def statement_text(version: str, *, revision_number: int, case_reference: str) -> str:
    """The statement of ``version`` for one revision, as the clinician reads it.

    Raises ``UnknownStatement`` for a version that was never published.
    """
    try:
        template = STATEMENTS[version]
    except KeyError:
        raise UnknownStatement(version) from None
    return template.format(revision_number=revision_number, case_reference=case_reference)


def statement_sha256(text: str) -> str:
    """SHA-256 (hex) of a statement's text as shown (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def approved_at_text(approved_at: datetime) -> str:
    """The approval time as signed: UTC, ISO 8601 with microseconds."""
    return approved_at.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True, slots=True)
class ApprovalFacts:
    """What one approval binds: who approved which exact revision, when, under which words."""

    approval_id: UUID
    case_id: UUID
    case_reference: str
    revision_id: UUID
    revision_number: int
    manifest_sha256: str
    approver_id: UUID
    approved_at: datetime
    statement_version: str

    def statement(self) -> str:
        """The statement text shown (``UnknownStatement`` for an unpublished version)."""
        return statement_text(
            self.statement_version,
            revision_number=self.revision_number,
            case_reference=self.case_reference,
        )

    def document(self) -> dict[str, object]:
        """The signed fields, as the JSON object the signature covers."""
        return {
            "v": MESSAGE_VERSION,
            "approval_id": str(self.approval_id),
            "case_id": str(self.case_id),
            "revision_id": str(self.revision_id),
            "revision_number": self.revision_number,
            "manifest_sha256": self.manifest_sha256,
            "approver_id": str(self.approver_id),
            "approved_at": approved_at_text(self.approved_at),
            "statement_version": self.statement_version,
            "statement_sha256": statement_sha256(self.statement()),
        }


def approval_message(facts: ApprovalFacts) -> bytes:
    """The bytes an approval's signature covers: canonical JSON of ``facts.document()``."""
    return canonical_json(facts.document())


def approval_sign(key: Ed25519PrivateKey, facts: ApprovalFacts) -> str:
    """The base64 Ed25519 signature of an approval."""
    return sign(key, approval_message(facts))


def approval_signature_valid(
    public_key: Ed25519PublicKey, signature: str, facts: ApprovalFacts
) -> bool:
    """Whether ``signature`` is the key's signature over exactly these facts.

    An approval naming a statement version that was never published does not verify.
    """
    try:
        message = approval_message(facts)
    except UnknownStatement:
        return False
    return signature_valid(public_key, signature, message)
