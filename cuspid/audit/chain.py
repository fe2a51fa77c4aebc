"""The canonical encoding of an audit event and its hash. Pure: no database access."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

# Every AuditEvent field except ``hash``, which is computed over these.
HASHED_FIELDS: tuple[str, ...] = (
    "sequence",
    "occurred_at",
    "actor_user_id",
    "actor_role",
    "actor_organization_id",
    "system_reason",
    "subject_patient",
    "data_type",
    "action",
    "target_type",
    "target_id",
    "purpose",
    "outcome",
    "ip",
    "user_agent",
    "request_id",
    "prev_hash",
)


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # ISO-8601 in UTC, always with microseconds, so a value reads back to the same text.
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, UUID):
        return str(value)
    return value


def canonical_encoding(fields: Mapping[str, Any]) -> bytes:
    """Sorted-key JSON (UTF-8, no whitespace) of the hashed fields of one event."""
    document = {name: _canonical_value(fields[name]) for name in HASHED_FIELDS}
    return json.dumps(
        document, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def event_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical encoding."""
    return hashlib.sha256(canonical_encoding(fields)).hexdigest()
