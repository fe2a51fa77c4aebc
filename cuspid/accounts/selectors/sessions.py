"""Reads about a user's sessions and how they can re-authenticate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.sessions.models import Session

from cuspid.accounts.models import User
from cuspid.accounts.selectors.devices import browser_label
from cuspid.core import clock


@dataclass(frozen=True, slots=True)
class SessionRow:
    """One line of the "Your sessions" page."""

    id: int
    browser: str
    ip: str
    signed_in_at: datetime
    last_seen_at: datetime
    current: bool


def session_list_for(*, user: User, current_key: str | None) -> list[SessionRow]:
    """The user's live sessions, this one first, then the most recently seen (one query).

    Live: the session still exists and has been used within the idle limit and the absolute
    limit (a session past them ends at its next request; it is not shown meanwhile).
    """
    now = clock.now()
    rows = (
        UserSession.objects.filter(
            user=user,
            session_key__in=Session.objects.filter(expire_date__gt=now).values("session_key"),
            last_seen_at__gt=now - timedelta(seconds=settings.CUSPID_SESSION_IDLE_SECONDS),
            created_at__gt=now - timedelta(seconds=settings.CUSPID_SESSION_ABSOLUTE_SECONDS),
        )
        .only("id", "session_key", "ip", "user_agent", "created_at", "last_seen_at")
        .order_by("-last_seen_at", "-id")
    )
    listed = [
        SessionRow(
            id=row.pk,
            browser=browser_label(row.user_agent),
            ip=row.ip,
            signed_in_at=row.created_at,
            last_seen_at=row.last_seen_at,
            current=row.session_key == current_key,
        )
        for row in rows
    ]
    return sorted(listed, key=lambda row: not row.current)


@dataclass(frozen=True, slots=True)
class StepUpMethods:
    """How a user can re-authenticate: ``code`` — password and a code (TOTP or recovery
    code); ``passkey`` — a passkey; ``password`` — whether the password form is offered
    (always, unless the account's only second factor is a passkey)."""

    code: bool
    passkey: bool

    @property
    def password(self) -> bool:
        return self.code or not self.passkey


def step_up_methods_for(*, user: User) -> StepUpMethods:
    """The user's ways to re-authenticate, from their authenticators (one query)."""
    types = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    return StepUpMethods(
        code=bool(types & {Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES}),
        passkey=Authenticator.Type.WEBAUTHN in types,
    )
