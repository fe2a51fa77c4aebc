"""Random secrets handed to people (tokens, links, device cookies) and how they are stored.

Each is 256 bits from the operating system's CSPRNG (``secrets``), shown or set once, and
stored only as its SHA-256 hex digest. A fast hash is right here: the value is random and
long, so it cannot be guessed offline, and lookups by digest are constant-time in effect.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def new_secret(prefix: str = "") -> str:
    """A fresh URL-safe secret of 256 random bits, with an optional readable prefix."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def secret_digest(value: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
