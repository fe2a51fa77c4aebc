"""The Ed25519 key that signs audit checkpoints, kept in a file outside the database."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _key_path() -> Path:
    return Path(settings.CUSPID_AUDIT_SIGNING_KEY)


def _create_key(path: Path) -> None:
    """Write a new key (PKCS#8 PEM, mode 0600); never overwrite one that already exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process made it first; use theirs
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)


def load_signing_key() -> Ed25519PrivateKey:
    """The checkpoint signing key from ``CUSPID_AUDIT_SIGNING_KEY``.

    Created on first use where ``CUSPID_AUDIT_SIGNING_KEY_CREATE`` is set (embedded and test
    settings); production raises ``ImproperlyConfigured`` when the file is missing, as it does
    when the file holds anything but an Ed25519 private key.
    """
    path = _key_path()
    if not path.exists():
        if not settings.CUSPID_AUDIT_SIGNING_KEY_CREATE:
            raise ImproperlyConfigured(
                f"CUSPID_AUDIT_SIGNING_KEY: no audit signing key at {path}; provision one"
            )
        _create_key(path)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"CUSPID_AUDIT_SIGNING_KEY: {path} is not an Ed25519 key")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> str:
    """The public half, as PEM (SubjectPublicKeyInfo), for verifying checkpoints offline."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )


def public_key_id(public_key: Ed25519PublicKey) -> str:
    """A short id of a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(sequence: int, head_hash: str, signed_at: datetime) -> bytes:
    """What a checkpoint signature covers: sorted-key JSON of sequence, head hash and time."""
    document = {
        "head_hash": head_hash,
        "sequence": sequence,
        "signed_at": signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign_checkpoint(
    key: Ed25519PrivateKey, sequence: int, head_hash: str, signed_at: datetime
) -> str:
    """The base64 Ed25519 signature of a checkpoint."""
    signature = key.sign(checkpoint_message(sequence, head_hash, signed_at))
    return base64.b64encode(signature).decode("ascii")


def checkpoint_signature_valid(
    public_key: Ed25519PublicKey,
    signature: str,
    sequence: int,
    head_hash: str,
    signed_at: datetime,
) -> bool:
    """Whether ``signature`` is the key's signature over this checkpoint."""
    try:
        public_key.verify(
            base64.b64decode(signature, validate=True),
            checkpoint_message(sequence, head_hash, signed_at),
        )
    except (InvalidSignature, ValueError):
        return False
    return True
