"""Who may see or change identity records; and step-up (recent authentication)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from django.conf import settings

from cuspid.accounts.authtime import SessionLike, authenticated_at
from cuspid.core import clock
from cuspid.core.errors import StepUpRequired


class RecentlyAuthenticated(Protocol):
    """Any actor that knows when its user last fully authenticated (a tenancy Actor does)."""

    @property
    def authenticated_at(self) -> datetime | None: ...


def is_recent_auth(at: datetime | None) -> bool:
    """Whether a full authentication at ``at`` is within the step-up window (30 min)."""
    if at is None:
        return False
    return clock.now() - at <= timedelta(seconds=settings.ACCOUNT_REAUTHENTICATION_TIMEOUT)


def has_recent_auth(actor: RecentlyAuthenticated) -> bool:
    """Whether the actor's last full authentication is within the step-up window (30 min)."""
    return is_recent_auth(actor.authenticated_at)


def session_has_recent_auth(session: SessionLike) -> bool:
    """Whether the session's last full authentication is within the step-up window."""
    return is_recent_auth(authenticated_at(session))


def require_recent_auth(actor: RecentlyAuthenticated) -> None:
    """Raise ``StepUpRequired`` unless the actor fully authenticated within the step-up window.

    Services that change security settings call it (MFA, password, trusted devices, API
    tokens); later, approval and export. The page flow sends the user to re-authenticate.
    """
    if not has_recent_auth(actor):
        raise StepUpRequired
