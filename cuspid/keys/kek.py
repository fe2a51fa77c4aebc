"""The master key-encryption key (KEK): a Tink AEAD keyset kept outside the database.

The embedded default keeps it as a keyset file under ``var/keys/`` (created on first use,
mode 0600, never committed). Production mounts one (``CUSPID_KEK_PATH``) and never creates
it. The KEK only wraps data keys; it never touches data.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import NamedTuple

import tink
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from tink import aead, secret_key_access


class Kek(NamedTuple):
    """The loaded KEK: its AEAD primitive (every key in the keyset opens) and the id of its
    primary key (the one that wraps from now on)."""

    aead: aead.Aead
    primary_key_id: int


_lock = threading.Lock()
_loaded: dict[Path, Kek] = {}


def register_primitives() -> None:
    """Register the Tink primitives Cuspid uses (idempotent)."""
    aead.register()


def kek_path() -> Path:
    return Path(settings.CUSPID_KEK_PATH)


def _create(path: Path) -> None:
    """Write a new AES256_GCM keyset to ``path`` (0600, in a 0700 directory); never overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    serialized = tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN)
    # O_EXCL: two processes starting at once cannot both write a different KEK.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as keyset_file:
        keyset_file.write(serialized)


def load_kek() -> Kek:
    """The KEK, loaded once per process (and per path).

    Creates the keyset file when it is missing and ``CUSPID_KEK_CREATE`` is on (the embedded
    default and tests); raises ``ImproperlyConfigured`` when it is missing otherwise.
    """
    path = kek_path()
    with _lock:
        loaded = _loaded.get(path)
        if loaded is not None:
            return loaded
        if not path.exists():
            if not settings.CUSPID_KEK_CREATE:
                raise ImproperlyConfigured(f"The master key (KEK) keyset is missing: {path}")
            _create(path)
        handle = tink.json_proto_keyset_format.parse(
            path.read_text(encoding="utf-8"), secret_key_access.TOKEN
        )
        loaded = Kek(handle.primitive(aead.Aead), handle.keyset_info().primary_key_id)
        _loaded[path] = loaded
        return loaded


def forget_loaded_kek() -> None:
    """Drop the loaded KEK so the next use reads the file again (after a rotation, in tests)."""
    with _lock:
        _loaded.clear()
