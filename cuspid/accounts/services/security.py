"""Sign-in outcomes, throttles, the hard lock, step-up and password events.

Throttles are allauth's rate limits, counted in the shared cache (Redis in production, a
database table in the embedded default): ``login_failed`` (10 failed passwords per 5 minutes
per account and per IP — allauth consumes it) and Cuspid's ``mfa_failed`` (5 wrong codes per
5 minutes and 20 per hour per account — consumed here). Each refusal is audited
(``Auth.Throttled``). Independently, every failed password or code adds to the account's
``failed_sign_in_streak``; at ``CUSPID_HARD_LOCK_AFTER`` (100) in a row the account is locked
(``locked_at``) until an org admin or the platform operator unlocks it. A locked account is
refused exactly as a wrong password is (``cuspid.accounts.backends``). Any completed sign-in
or step-up resets the streak.

Every writing function here audits in one transaction.
"""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import record_authentication
from allauth.core import ratelimit
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import translation

from cuspid.access.enforce import RouteActor
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.accounts.authtime import mark_authenticated
from cuspid.accounts.models import User
from cuspid.accounts.services import sessions
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.identity import AuditActor, AuditIdentity
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.core.actors import SystemActor
from cuspid.core.errors import NotFound
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.models import Membership
from cuspid.tenancy.selectors import membership_list_for_user

# allauth rate-limit action for wrong second-factor codes (ACCOUNT_RATE_LIMITS).
MFA_FAILED = "mfa_failed"


def actor_signing_in(user: User) -> AuditActor:
    """The Actor the user will act as (their first membership, as ``ActorMiddleware``
    chooses), so the organisation's admins see the event; just the user id without one."""
    membership = membership_list_for_user(user=user).first()
    if membership is None:
        return AuditIdentity(user_id=user.pk)
    return Actor.of(membership)


def _account_for(email: str) -> User | None:
    """The account signing in with ``email``, for counting and auditing only: nothing about
    it reaches the person typing."""
    email = email.strip()
    if not email:
        return None
    return User.objects.filter(email__iexact=email).first()


def _user_target(user: User | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"target_type": "user", "target_id": str(user.pk)}


def _send_locked_mail(user: User) -> None:
    """Tell the user their account is locked and who can unlock it; nothing else."""
    with translation.override(user.language):
        subject = render_to_string("accounts/email/account_locked_subject.txt", {})
        body = render_to_string(
            "accounts/email/account_locked_message.txt",
            {"attempts": settings.CUSPID_HARD_LOCK_AFTER},
        )
    send_mail(
        subject=settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + " ".join(subject.split()),
        message=body,
        from_email=None,
        recipient_list=[user.email],
    )


def _count_failure(*, request: HttpRequest, user: User) -> None:
    """Add one to the account's failure streak; lock it (and audit, and email the user) on
    reaching ``CUSPID_HARD_LOCK_AFTER``. Runs in the caller's transaction."""
    User.objects.filter(pk=user.pk).update(failed_sign_in_streak=F("failed_sign_in_streak") + 1)
    locked = (
        User.objects.select_for_update()
        .filter(
            pk=user.pk,
            locked_at__isnull=True,
            failed_sign_in_streak__gte=settings.CUSPID_HARD_LOCK_AFTER,
        )
        .first()
    )
    if locked is None:
        return
    locked.locked_at = clock.now()
    locked.save(update_fields=["locked_at"])
    user.locked_at = locked.locked_at
    audit_emit(
        action=AuditAction.Auth.Locked,
        actor=actor_signing_in(locked),
        outcome=Outcome.DENIED,
        request=request,
        **_user_target(locked),
    )
    transaction.on_commit(lambda: _send_locked_mail(locked))


def _reset_streak(user: User) -> None:
    # Asks the table, not ``user``: the object may have been loaded before the failures.
    User.objects.filter(pk=user.pk, failed_sign_in_streak__gt=0).update(failed_sign_in_streak=0)
    user.failed_sign_in_streak = 0


@transaction.atomic(durable=True)
def sign_in_succeeded(*, request: HttpRequest, user: User) -> None:
    """Record a completed sign-in (after every stage): the step-up clock, the session's
    clocks, a reset failure streak. Audits ``AuditAction.Auth.SignedIn``."""
    mark_authenticated(request.session)
    sessions.session_started(request)
    _reset_streak(user)
    audit_emit(
        action=AuditAction.Auth.SignedIn,
        actor=actor_signing_in(user),
        target_type="user",
        target_id=str(user.pk),
        request=request,
    )


def sign_out_recorded(*, request: HttpRequest, user: User, actor: AuditActor) -> None:
    """Audit ``AuditAction.Auth.SignedOut`` for the user who just signed out."""
    audit_emit(
        action=AuditAction.Auth.SignedOut,
        actor=actor if actor is not None else AuditIdentity(user_id=user.pk),
        request=request,
    )


@transaction.atomic(durable=True)
def sign_in_failed(*, request: HttpRequest, email: str) -> None:
    """A wrong password, an unknown address or a locked account (one answer for all three).

    Audits ``AuditAction.Auth.SignInFailed`` with no actor and never the typed address; when
    the address is an account, the event names it as target and the account's failure
    streak grows (which may lock it: ``Auth.Locked``).
    """
    user = _account_for(email)
    audit_emit(
        action=AuditAction.Auth.SignInFailed,
        actor=None,
        outcome=Outcome.DENIED,
        request=request,
        **_user_target(user),
    )
    if user is not None and user.locked_at is None:
        _count_failure(request=request, user=user)


@transaction.atomic(durable=True)
def sign_in_throttled(*, request: HttpRequest, email: str) -> None:
    """A password attempt refused unchecked: too many failures for this address or this IP
    in the window. Audits ``AuditAction.Auth.Throttled`` (no actor, never the address)."""
    audit_emit(
        action=AuditAction.Auth.Throttled,
        actor=None,
        outcome=Outcome.DENIED,
        purpose="password",
        request=request,
        **_user_target(_account_for(email)),
    )


@transaction.atomic(durable=True)
def sign_in_refused_locked(*, request: HttpRequest, user: User) -> None:
    """A locked account reached the end of a sign-in without a password (a passkey).
    Audits ``AuditAction.Auth.SignInFailed``, as a locked password sign-in is."""
    audit_emit(
        action=AuditAction.Auth.SignInFailed,
        actor=None,
        outcome=Outcome.DENIED,
        request=request,
        **_user_target(user),
    )


def _mfa_key(user: User) -> str:
    return f"user:{user.pk}"


def second_factor_may_try(*, request: HttpRequest, user: User) -> bool:
    """Whether the account may try a second-factor code now: not locked, and under its
    ``mfa_failed`` limits (checked without counting: only wrong codes count)."""
    if user.locked_at is not None:
        return False
    return bool(ratelimit.consume(request, action=MFA_FAILED, key=_mfa_key(user), dry_run=True))


@transaction.atomic(durable=True)
def second_factor_throttled(*, request: HttpRequest, user: User) -> None:
    """A code refused unchecked (too many wrong codes, or the account is locked).
    Audits ``AuditAction.Auth.Throttled`` naming the account."""
    audit_emit(
        action=AuditAction.Auth.Throttled,
        actor=AuditIdentity(user_id=user.pk),
        outcome=Outcome.DENIED,
        purpose="second_factor",
        request=request,
        **_user_target(user),
    )


@transaction.atomic(durable=True)
def second_factor_failed(*, request: HttpRequest, user: User) -> None:
    """A wrong code: counts against ``mfa_failed`` and the failure streak (which may lock
    the account). Audits ``AuditAction.Auth.SecondFactorFailed`` naming the account."""
    ratelimit.consume(request, action=MFA_FAILED, key=_mfa_key(user))
    audit_emit(
        action=AuditAction.Auth.SecondFactorFailed,
        actor=AuditIdentity(user_id=user.pk),
        outcome=Outcome.DENIED,
        request=request,
        **_user_target(user),
    )
    _count_failure(request=request, user=user)


@transaction.atomic(durable=True)
def step_up_succeeded(*, request: HttpRequest, user: User, method: str) -> None:
    """The signed-in user re-authenticated (``method``: "password", "password_code" or
    "passkey"): the step-up clock restarts, allauth learns of it (so its own
    re-authentication checks agree), the failure streak resets.
    Audits ``AuditAction.Auth.SteppedUp``."""
    mark_authenticated(request.session)
    if method != "passkey":
        # allauth records the second factor (or passkey) itself when its form is saved.
        record_authentication(request, user, method="password", reauthenticated=True)
    _reset_streak(user)
    actor = getattr(request, "actor", None)
    audit_emit(
        action=AuditAction.Auth.SteppedUp,
        actor=actor if actor is not None else AuditIdentity(user_id=user.pk),
        purpose=method,
        request=request,
    )


def _unlock(*, actor: RouteActor | SystemActor, user: User, request: HttpRequest | None) -> None:
    user.failed_sign_in_streak = 0
    user.locked_at = None
    user.save(update_fields=["failed_sign_in_streak", "locked_at"])
    audit_emit(
        action=AuditAction.Auth.Unlocked,
        actor=actor,
        request=request,
        **_user_target(user),
    )


@transaction.atomic(durable=True)
def user_unlock(
    *, actor: RouteActor, membership: Membership, request: HttpRequest | None = None
) -> User:
    """An org admin lets a member of their organisation sign in again: the lock and the
    failure streak are cleared. Raises ``NotFound`` for a membership of another
    organisation, ``PermissionDenied`` without ``Perm.OrgManageMembers``.
    Audits ``AuditAction.Auth.Unlocked``."""
    if membership.organization_id != actor.organization.pk:
        raise NotFound
    require(actor, Perm.OrgManageMembers, membership)
    user = User.objects.select_for_update().get(pk=membership.user_id)
    _unlock(actor=actor, user=user, request=request)
    return user


@transaction.atomic(durable=True)
def user_unlock_by_operator(*, actor: SystemActor, user: User) -> User:
    """The platform operator unlocks an account (``manage.py account_unlock``).
    Audits ``AuditAction.Auth.Unlocked`` as the system with the operator's reason."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    _unlock(actor=actor, user=locked, request=None)
    return locked


@transaction.atomic(durable=True)
def password_changed(*, request: HttpRequest, user: User) -> int:
    """The user changed their password here: every other session ends (this one stays).
    Returns how many ended. Audits ``AuditAction.Auth.PasswordChanged``."""
    ended = sessions.sessions_end_for_password(user=user, request=request, keep_current=True)
    actor = getattr(request, "actor", None)
    audit_emit(
        action=AuditAction.Auth.PasswordChanged,
        actor=actor if actor is not None else AuditIdentity(user_id=user.pk),
        request=request,
        **_user_target(user),
    )
    return ended


@transaction.atomic(durable=True)
def password_reset_recorded(*, request: HttpRequest, user: User) -> int:
    """The user set a new password through a reset link: every session of theirs ends.
    Returns how many ended. Audits ``AuditAction.Auth.PasswordReset``."""
    ended = sessions.sessions_end_for_password(user=user, request=request, keep_current=False)
    audit_emit(
        action=AuditAction.Auth.PasswordReset,
        actor=AuditIdentity(user_id=user.pk),
        request=request,
        **_user_target(user),
    )
    return ended
