"""The allauth adapter Cuspid configures: the accounts rules, plus sign-in auditing.

It lives here, in the presentation layer, because ``accounts`` sits below ``audit`` (the
layers contract) and the adapter is the one place allauth calls for every sign-in, sign-out
and failed password check. ``authentication_failed`` is allauth's own hook, called exactly
when its ``authenticate`` finds no user, so no signal receiver (Django's
``user_login_failed``) is needed: a failure is audited once, in the request that caused it.
Throttled attempts are refused before that hook and are not audited here.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from cuspid.accounts.adapter import AccountAdapter
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.identity import AuditActor, AuditIdentity
from cuspid.audit.services import audit_emit
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.selectors import membership_list_for_user


def _actor_signing_in(user: User) -> AuditActor:
    """The Actor the user will act as (their first membership, as ``ActorMiddleware``
    chooses), so the organisation's admins see the sign-in; just the user id without one."""
    membership = membership_list_for_user(user=user).first()
    if membership is None:
        return AuditIdentity(user_id=user.pk)
    return Actor.of(membership)


class AuditedAccountAdapter(AccountAdapter):
    """Audits ``AuditAction.Auth.SignedIn``, ``SignedOut`` and ``SignInFailed``."""

    def login(self, request: HttpRequest, user: User) -> None:
        super().login(request, user)
        audit_emit(
            action=AuditAction.Auth.SignedIn,
            actor=_actor_signing_in(user),
            target_type="user",
            target_id=str(user.pk),
            request=request,
        )

    def logout(self, request: HttpRequest) -> None:
        user = request.user
        actor: AuditActor = getattr(request, "actor", None)
        if actor is None and isinstance(user, User):
            actor = AuditIdentity(user_id=user.pk)
        super().logout(request)
        if actor is not None:
            audit_emit(action=AuditAction.Auth.SignedOut, actor=actor, request=request)

    def authentication_failed(self, request: HttpRequest, **credentials: Any) -> None:
        # No user id and no email: the attempted address may not even be an account.
        super().authentication_failed(request, **credentials)
        audit_emit(
            action=AuditAction.Auth.SignInFailed,
            actor=None,
            outcome=Outcome.DENIED,
            request=request,
        )
