"""The manifest hash of a revision: one SHA-256 over its files' hashes and sizes.

Pure. File names are left out (they are sealed, and may name the patient); the order of
upload does not matter. An approval (issue 8) signs this value, so changing, adding or
removing any file of a revision changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

MANIFEST_VERSION = "cuspid-revision-manifest-v1"


def manifest_sha256(files: Iterable[tuple[str, int]]) -> str:
    """SHA-256 (hex) over ``(sha256 hex, size)`` of each file, sorted, one line each."""
    lines = sorted(f"{digest.lower()} {size}" for digest, size in files)
    text = "\n".join([MANIFEST_VERSION, *lines]) + "\n"
    return hashlib.sha256(text.encode("ascii")).hexdigest()
