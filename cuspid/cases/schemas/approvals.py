"""API shapes for approvals: approving a revision, reading its signed approval, and the
public key that verifies approvals offline."""

from __future__ import annotations

import datetime
from uuid import UUID

from ninja import Field, Schema

from cuspid.cases.schemas import UserRefOut


class RevisionApproveIn(Schema):
    """Approve one revision under the statement the caller was shown."""

    statement_version: str = Field(
        ...,
        max_length=32,
        description="The version of the approval statement shown (approval_public_key lists "
        "them); an unknown version is refused with 422.",
    )


class ApprovalOut(Schema):
    """A signed approval of one exact revision, with what a verifier needs to check it.

    ``message`` is the exact signed text: canonical JSON (sorted keys, no spaces) of the
    approval's fields; ``signature`` is the base64 Ed25519 signature over its ASCII bytes,
    by the public key named ``key_id`` (approval_public_key).
    """

    id: UUID = Field(..., description="The approval's id.")
    case_id: UUID = Field(..., description="The case.")
    case_reference: str = Field(..., description='The case number as people read it ("C-00042").')
    revision_id: UUID = Field(..., description="The approved revision.")
    revision_number: int = Field(..., description="Its number within the case.")
    manifest_sha256: str = Field(..., description="The approved revision's manifest SHA-256.")
    approver: UserRefOut = Field(..., description="The clinician who approved it.")
    approved_at: datetime.datetime = Field(..., description="When (UTC).")
    statement_version: str = Field(..., description="The version of the statement approved.")
    statement_text: str = Field(..., description="The statement, as the clinician read it.")
    statement_sha256: str = Field(..., description="SHA-256 of statement_text (UTF-8).")
    algorithm: str = Field("Ed25519", description="The signature algorithm.")
    key_id: str = Field(..., description="Id of the public key that verifies the signature.")
    signature: str = Field(..., description="Base64 Ed25519 signature over message.")
    message: str = Field(..., description="The exact signed text (canonical JSON).")
    signature_check: str = Field(
        ...,
        description="What this server finds: verified, invalid, or unknown_key (signed by a "
        "key it no longer holds).",
    )


class ApprovalPublicKeyOut(Schema):
    """The key that verifies approvals signed now, and the published statement texts."""

    key_id: str = Field(
        ..., description="The key's id (the first 16 hex digits of SHA-256 over its raw 32 bytes)."
    )
    algorithm: str = Field("Ed25519", description="The signature algorithm.")
    public_key_pem: str = Field(..., description="The public key, PEM (SubjectPublicKeyInfo).")
    message_version: str = Field(..., description="The layout version every message names.")
    statements: dict[str, str] = Field(
        ...,
        description="Every statement version and its text, with {revision_number} and "
        "{case_reference} to fill in.",
    )
