"""Sessions: when they started and were last used, their limits, and ending them.

Sessions are Django's, in the database. Each one the user signs in with also has a row in
allauth.usersessions' ``UserSession`` table (browser, IP, signed in, last seen) for the
"Your sessions" page. The session itself remembers when the user signed in and when it was
last used; ``SessionLimitsMiddleware`` compares those with the idle (30 min, 15 on PHI
pages) and absolute (12 h) limits. Ending a session deletes its row in both tables, so its
next request arrives signed out.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth import logout
from django.contrib.sessions.models import Session
from django.db import transaction
from django.http import HttpRequest

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.identity import AuditActor, AuditIdentity
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.core.errors import InvalidInput, NotFound
from cuspid.core.http import client_ip

if TYPE_CHECKING:  # services.devices imports services.security, which imports this module
    from cuspid.accounts.services.devices import AccountActor

# Session keys: when this session signed in (the absolute limit counts from it; step-up does
# not move it) and when it was last used (the idle limit counts from it).
SIGNED_IN_AT_KEY = "cuspid_signed_in_at"
LAST_SEEN_KEY = "cuspid_last_seen"
# "Last seen" is written at most this often, so most requests write nothing: the idle limit
# may end a session up to this much early, never late.
TOUCH_EVERY = timedelta(seconds=60)
_USER_AGENT_MAX = UserSession._meta.get_field("user_agent").max_length or 200
_UNKNOWN_IP = "0.0.0.0"  # noqa: S104 -- a placeholder stored for a client with no address, not a bind


class Expiry(StrEnum):
    """Why a session ended on its own."""

    IDLE = "idle"
    IDLE_PHI = "idle_phi"
    ABSOLUTE = "absolute"


def _stamp(at: datetime) -> float:
    return at.timestamp()


def _read(session: Any, key: str) -> datetime | None:
    value = session.get(key)
    if not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, tz=UTC)


def session_expiry(session: Any, *, now: datetime, phi: bool) -> Expiry | None:
    """Which limit this session has passed at ``now``, or ``None``; ``phi`` for a page that
    shows PHI (the shorter idle limit). A session that never recorded a time has passed none.
    """
    signed_in_at = _read(session, SIGNED_IN_AT_KEY)
    if signed_in_at is not None and now - signed_in_at >= timedelta(
        seconds=settings.CUSPID_SESSION_ABSOLUTE_SECONDS
    ):
        return Expiry.ABSOLUTE
    last_seen = _read(session, LAST_SEEN_KEY)
    if last_seen is None:
        return None
    idle = now - last_seen
    if phi and idle >= timedelta(seconds=settings.CUSPID_SESSION_IDLE_PHI_SECONDS):
        return Expiry.IDLE_PHI
    if idle >= timedelta(seconds=settings.CUSPID_SESSION_IDLE_SECONDS):
        return Expiry.IDLE
    return None


def _client_ip(request: HttpRequest) -> str:
    return client_ip(request) or _UNKNOWN_IP


def session_started(request: HttpRequest) -> None:
    """Start this session's clocks at sign-in (the caller's transaction records the rest)."""
    now = _stamp(clock.now())
    request.session[SIGNED_IN_AT_KEY] = now
    request.session[LAST_SEEN_KEY] = now


def session_touch(request: HttpRequest, *, now: datetime) -> bool:
    """Record that the signed-in session is in use, at most once a minute; whether it wrote.

    Keeps the session's last-seen time and its ``UserSession`` row (IP, browser, last seen),
    creating the row for a session that has none yet. A session with no sign-in time (one
    made without allauth's sign-in, e.g. by a test) starts its clocks here. Within a minute
    of the last write it touches nothing (no query, not even a transaction).
    """
    last_seen = _read(request.session, LAST_SEEN_KEY)
    if last_seen is not None and now - last_seen < TOUCH_EVERY:
        return False
    _session_seen(request, now=now)
    return True


@transaction.atomic(durable=True)
def _session_seen(request: HttpRequest, *, now: datetime) -> None:
    if _read(request.session, SIGNED_IN_AT_KEY) is None:
        request.session[SIGNED_IN_AT_KEY] = _stamp(now)
    request.session[LAST_SEEN_KEY] = _stamp(now)
    key = request.session.session_key  # a signed-in session has one
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:_USER_AGENT_MAX]
    fields = {"ip": _client_ip(request), "user_agent": user_agent, "last_seen_at": now}
    if not UserSession.objects.filter(session_key=key).update(**fields):
        UserSession.objects.create(session_key=key, user=request.user, created_at=now, **fields)


def _end(session_keys: Iterable[str]) -> None:
    keys = list(session_keys)
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(session_key__in=keys).delete()


def _audit_actor(request: HttpRequest, user: User) -> AuditActor:
    actor = getattr(request, "actor", None)
    return actor if actor is not None else AuditIdentity(user_id=user.pk)


@transaction.atomic(durable=True)
def session_expire(*, request: HttpRequest, expiry: Expiry) -> None:
    """End the request's session because it passed a limit: sign out (the session row goes)
    and drop its ``UserSession`` row. Audits ``Session.Expired`` with the limit as purpose."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101 -- the middleware calls this for signed-in users
    audit_emit(
        action=AuditAction.Session.Expired,
        actor=_audit_actor(request, user),
        target_type="session",
        purpose=str(expiry),
        request=request,
    )
    key = request.session.session_key
    logout(request)
    UserSession.objects.filter(session_key=key).delete()


@transaction.atomic(durable=True)
def session_revoke(*, actor: AccountActor, session_id: int, request: HttpRequest) -> None:
    """Sign out one of the actor's other sessions: its next request arrives signed out.

    Raises ``NotFound`` for a session that is not the actor's, ``InvalidInput`` for the
    current one (that is "Sign out"). Audits ``Session.Revoked``.
    """
    row = UserSession.objects.filter(user=actor.user, pk=session_id).first()
    if row is None:
        raise NotFound
    if row.session_key == request.session.session_key:
        raise InvalidInput("Use Sign out to end this session.")
    _end([row.session_key])
    audit_emit(
        action=AuditAction.Session.Revoked,
        actor=actor,
        target_type="session",
        target_id=str(session_id),
        request=request,
    )


def _end_others(*, user: User, keep: str | None) -> list[UserSession]:
    rows = list(UserSession.objects.filter(user=user).exclude(session_key=keep or ""))
    _end(row.session_key for row in rows)
    return rows


@transaction.atomic(durable=True)
def session_revoke_others(*, actor: AccountActor, request: HttpRequest) -> int:
    """Sign out every session of the actor's but this one; returns how many ended.
    Audits one ``Session.Revoked`` per session."""
    rows = _end_others(user=actor.user, keep=request.session.session_key)
    for row in rows:
        audit_emit(
            action=AuditAction.Session.Revoked,
            actor=actor,
            target_type="session",
            target_id=str(row.pk),
            request=request,
        )
    return len(rows)


def sessions_end_for_password(*, user: User, request: HttpRequest, keep_current: bool) -> int:
    """End the user's sessions after a password change (all but this one) or reset (all).

    Runs in the caller's transaction; the caller audits the password event. Sessions this
    table does not know still end: Django's session hash no longer matches the password.
    """
    keep = request.session.session_key if keep_current else None
    return len(_end_others(user=user, keep=keep))
