"""Second factors: the audit trail of what allauth.mfa does, and who must keep a factor.

allauth.mfa enrols, removes and checks authenticators itself and reports each event only as
a signal; ``cuspid.accounts.receivers`` hands them to the functions here, which audit them.
"""

from __future__ import annotations

import time

from allauth.mfa import app_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value
from allauth.mfa.utils import decrypt
from django.db import transaction
from django.http import HttpRequest

from cuspid.accounts.models import User
from cuspid.accounts.selectors.mfa import SECOND_FACTOR_TYPES, has_second_factor, mfa_required_for
from cuspid.accounts.services.security import actor_signing_in
from cuspid.audit.actions import AuditAction
from cuspid.audit.identity import AuditActor
from cuspid.audit.services import audit_emit
from cuspid.core.actors import SystemActor
from cuspid.tenancy.actor import Actor

TARGET_TYPE = "authenticator"


def _actor(request: HttpRequest | None, user: User) -> AuditActor:
    """The request's Actor when it is this user's (signed in); otherwise the Actor the user
    signs in as (mid sign-in, before ``request.actor`` exists)."""
    actor = getattr(request, "actor", None)
    if isinstance(actor, Actor) and actor.user.pk == user.pk:
        return actor
    return actor_signing_in(user)


def _audit(
    action: AuditAction.Mfa | AuditAction.Auth,
    *,
    request: HttpRequest | None,
    user: User,
    authenticator: Authenticator,
) -> None:
    audit_emit(
        action=action,
        actor=_actor(request, user),
        target_type=TARGET_TYPE,
        # A removed authenticator has lost its pk; receivers kept it (remember_deleted_pk).
        target_id=str(getattr(authenticator, "cuspid_deleted_pk", None) or authenticator.pk),
        request=request,
    )


@transaction.atomic(durable=True)
def mfa_authenticator_added(
    *, request: HttpRequest | None, user: User, authenticator: Authenticator
) -> None:
    """An authenticator (TOTP, passkey, or the recovery codes made with the first one) was
    enrolled. Audits ``Mfa.Enrolled``."""
    _audit(AuditAction.Mfa.Enrolled, request=request, user=user, authenticator=authenticator)


@transaction.atomic(durable=True)
def mfa_authenticator_removed(
    *, request: HttpRequest | None, user: User, authenticator: Authenticator
) -> None:
    """An authenticator was removed. Audits ``Mfa.Removed``."""
    _audit(AuditAction.Mfa.Removed, request=request, user=user, authenticator=authenticator)


@transaction.atomic(durable=True)
def mfa_recovery_codes_regenerated(
    *, request: HttpRequest | None, user: User, authenticator: Authenticator
) -> None:
    """A new set of recovery codes replaced the old. Audits ``Mfa.RecoveryCodesRegenerated``."""
    _audit(
        AuditAction.Mfa.RecoveryCodesRegenerated,
        request=request,
        user=user,
        authenticator=authenticator,
    )


@transaction.atomic(durable=True)
def mfa_authenticator_used(
    *,
    request: HttpRequest | None,
    user: User,
    authenticator: Authenticator,
    passwordless: bool,
) -> None:
    """An authenticator passed a check. A passkey used instead of the password audits
    ``Auth.PasskeySignedIn``; a recovery code (single use) audits ``Auth.RecoveryCodeUsed``.
    Ordinary TOTP and passkey second factors are covered by ``Auth.SignedIn`` and
    ``Auth.SteppedUp``, so nothing more is recorded for them."""
    if passwordless:
        action: AuditAction.Auth | None = AuditAction.Auth.PasskeySignedIn
    elif authenticator.type == Authenticator.Type.RECOVERY_CODES:
        action = AuditAction.Auth.RecoveryCodeUsed
    else:
        action = None
    if action is not None:
        _audit(action, request=request, user=user, authenticator=authenticator)


def can_remove_authenticator(authenticator: Authenticator) -> bool:
    """Whether the authenticator's owner may remove it: not the last TOTP or passkey of an
    account that must have MFA (recovery codes alone are no second factor)."""
    if authenticator.type not in SECOND_FACTOR_TYPES:
        return True
    user = authenticator.user
    if not mfa_required_for(user):
        return True
    return has_second_factor(user, excluding_id=authenticator.pk)


def totp_current_code(user: User) -> str | None:
    """The code the user's authenticator app shows now, or ``None`` without TOTP.

    For the demo's ``demo_totp`` command and tests only: it reads the stored secret.
    """
    authenticator = Authenticator.objects.filter(
        user_id=user.pk, type=Authenticator.Type.TOTP
    ).first()
    if authenticator is None:
        return None
    secret = decrypt(authenticator.data["secret"])
    counter = int(time.time()) // app_settings.TOTP_PERIOD
    return str(format_hotp_value(hotp_value(secret, counter)))


@transaction.atomic(durable=True)
def totp_enrol_with_secret(*, actor: SystemActor, user: User, secret: str) -> Authenticator:
    """Enrol ``user`` in TOTP with a known secret, plus recovery codes (the demo seed and
    test fixtures, which must print or compute codes). Idempotent: an existing TOTP with the
    same secret is kept; one with another secret is replaced. Audits ``Mfa.Enrolled`` for
    each authenticator it creates."""
    existing = Authenticator.objects.filter(user_id=user.pk, type=Authenticator.Type.TOTP).first()
    if existing is not None and decrypt(existing.data["secret"]) == secret:
        totp = existing
    else:
        if existing is not None:
            existing.delete()
        totp = TOTP.activate(user, secret).instance
        _audit_system(actor, totp)
    if not Authenticator.objects.filter(
        user_id=user.pk, type=Authenticator.Type.RECOVERY_CODES
    ).exists():
        _audit_system(actor, RecoveryCodes.activate(user).instance)
    return totp


def _audit_system(actor: SystemActor, authenticator: Authenticator) -> None:
    audit_emit(
        action=AuditAction.Mfa.Enrolled,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=str(authenticator.pk),
    )
