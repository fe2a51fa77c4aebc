"""When the session's user last fully authenticated (password and second factor, or a passkey).

Kept in the session under one key, written at sign-in and at step-up, read when the request's
Actor is built; ``require_recent_auth`` compares it with the step-up window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

from cuspid.core import clock

AUTHENTICATED_AT_KEY = "cuspid_authenticated_at"


class SessionLike(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...
    def __setitem__(self, key: str, value: Any) -> None: ...


def mark_authenticated(session: SessionLike) -> datetime:
    """Record a full authentication now; returns the time recorded."""
    at = clock.now()
    session[AUTHENTICATED_AT_KEY] = at.timestamp()
    return at


def authenticated_at(session: SessionLike) -> datetime | None:
    """The last full authentication recorded in ``session``, or ``None``."""
    value = session.get(AUTHENTICATED_AT_KEY)
    if not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)
