"""The forget list: the ids of destroyed data keys, kept outside the database.

Backups of the database still hold wrapped data keys; restoring one would bring a shredded
patient back. The forget list lives beside the KEK (``var/keys/`` or a mounted volume), is
only ever appended to, and is replayed after a restore, before serving.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from django.conf import settings


@dataclass(frozen=True, slots=True)
class Forgotten:
    owner_kind: str
    owner_id: UUID
    key_id: int


def forget_list_path() -> Path:
    return Path(settings.CUSPID_FORGET_LIST)


def forget_list_append(entry: Forgotten) -> None:
    """Append one entry and flush it to disk before returning."""
    path = forget_list_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    line = f"{entry.owner_kind} {entry.owner_id} {entry.key_id}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def forget_list_read() -> list[Forgotten]:
    """Every entry, oldest first; an empty list when nothing was ever forgotten."""
    path = forget_list_path()
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="ascii").splitlines():
        kind, owner_id, key_id = line.split()
        entries.append(Forgotten(kind, UUID(owner_id), int(key_id)))
    return entries
