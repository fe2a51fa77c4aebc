"""Ed25519 signing keys kept in files outside the database, and what signs with them.

One key file per purpose (audit checkpoints, approvals), each named by its own setting. The
embedded default creates a missing key on first use (PKCS#8 PEM, mode 0600, never
overwriting one that exists); production refuses to run without a provisioned key. A public
key is named by a short id (the first 16 hex digits of SHA-256 over its raw bytes), which
signed records store so a verifier can pick the right key after a rotation. Messages are
canonical JSON (sorted keys, no spaces, ASCII), so anyone can rebuild and check them with a
JSON library and ``cryptography`` alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.core.exceptions import ImproperlyConfigured


def create_key_file(path: Path) -> None:
    """Write a new Ed25519 key to ``path`` (PKCS#8 PEM, mode 0600, its folder 0700).

    Never overwrites a key that exists: when another process made one first, theirs is kept.
    """
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


def load_key_file(path: Path, *, create: bool, setting: str, purpose: str) -> Ed25519PrivateKey:
    """The Ed25519 private key in ``path``, created first when missing and ``create`` is set.

    ``setting`` names the setting the path comes from and ``purpose`` what the key signs
    (e.g. "audit signing key"), for the operator reading the error. Raises
    ``ImproperlyConfigured`` when the file is missing and may not be created, and when it
    holds anything but an unencrypted Ed25519 private key.
    """
    if not path.exists():
        if not create:
            raise ImproperlyConfigured(f"{setting}: no {purpose} at {path}; provision one")
        create_key_file(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ImproperlyConfigured(f"{setting}: {path} is not an Ed25519 key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{setting}: {path} is not an Ed25519 key")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public half of ``key`` as PEM (SubjectPublicKeyInfo), for verifying offline."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def public_key_id(public_key: Ed25519PublicKey) -> str:
    """A short id of a public key: the first 16 hex digits of SHA-256 over its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """The Ed25519 public key in a PEM file: a public key, or the public half of a private
    key file. Raises ``ValueError`` for anything else."""
    if b"PRIVATE KEY" in pem:
        private = serialization.load_pem_private_key(pem, password=None)
        if isinstance(private, Ed25519PrivateKey):
            return private.public_key()
        raise ValueError("not an Ed25519 key")
    public = serialization.load_pem_public_key(pem)
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError("not an Ed25519 key")
    return public


def canonical_json(document: Mapping[str, object]) -> bytes:
    """``document`` as canonical JSON bytes: sorted keys, ``,`` and ``:`` without spaces,
    non-ASCII escaped. The same document always gives the same bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode(
        "ascii"
    )


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    """The Ed25519 signature of ``message``, base64 (standard alphabet, padded)."""
    return base64.b64encode(key.sign(message)).decode("ascii")


def signature_valid(public_key: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    """Whether ``signature`` (base64) is the key's signature over ``message``; a signature
    that is not base64 is not valid."""
    try:
        public_key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):  # binascii.Error is a ValueError
        return False
    return True
