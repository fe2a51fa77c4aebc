"""The Ed25519 key that signs audit checkpoints, kept in a file outside the database.

The key file handling is the shared one (``cuspid.core.signing``); this module names the
setting and says what a checkpoint signature covers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings

from cuspid.core import signing
from cuspid.core.signing import public_key_id

__all__ = [
    "checkpoint_message",
    "checkpoint_signature_valid",
    "load_signing_key",
    "public_key_id",
    "public_key_pem",
    "sign_checkpoint",
]


def _key_path() -> Path:
    return Path(settings.CUSPID_AUDIT_SIGNING_KEY)


def _create_key(path: Path) -> None:
    """Write a new key (PKCS#8 PEM, mode 0600); never overwrite one that already exists."""
    signing.create_key_file(path)


def load_signing_key() -> Ed25519PrivateKey:
    """The checkpoint signing key from ``CUSPID_AUDIT_SIGNING_KEY``.

    Created on first use where ``CUSPID_AUDIT_SIGNING_KEY_CREATE`` is set (embedded and test
    settings); production raises ``ImproperlyConfigured`` when the file is missing, as it does
    when the file holds anything but an Ed25519 private key.
    """
    return signing.load_key_file(
        _key_path(),
        create=settings.CUSPID_AUDIT_SIGNING_KEY_CREATE,
        setting="CUSPID_AUDIT_SIGNING_KEY",
        purpose="audit signing key",
    )


def public_key_pem(key: Ed25519PrivateKey) -> str:
    """The public half, as PEM (SubjectPublicKeyInfo), for verifying checkpoints offline."""
    return signing.public_key_pem(key)


def checkpoint_message(sequence: int, head_hash: str, signed_at: datetime) -> bytes:
    """What a checkpoint signature covers: sorted-key JSON of sequence, head hash and time."""
    return signing.canonical_json(
        {
            "head_hash": head_hash,
            "sequence": sequence,
            "signed_at": signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
        }
    )


def sign_checkpoint(
    key: Ed25519PrivateKey, sequence: int, head_hash: str, signed_at: datetime
) -> str:
    """The base64 Ed25519 signature of a checkpoint."""
    return signing.sign(key, checkpoint_message(sequence, head_hash, signed_at))


def checkpoint_signature_valid(
    public_key: Ed25519PublicKey,
    signature: str,
    sequence: int,
    head_hash: str,
    signed_at: datetime,
) -> bool:
    """Whether ``signature`` is the key's signature over this checkpoint."""
    return signing.signature_valid(
        public_key, signature, checkpoint_message(sequence, head_hash, signed_at)
    )
