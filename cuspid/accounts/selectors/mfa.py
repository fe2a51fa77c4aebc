"""Reads about second factors: who must have one, and what a user has enrolled."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from allauth.mfa.models import Authenticator

from cuspid.accounts.models import User
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership

# The authenticators that count as a second factor; recovery codes only back them up.
SECOND_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def mfa_required_for(user: User, *, memberships: Iterable[Membership] | None = None) -> bool:
    """Whether ``user`` must have a second factor: platform staff, and anyone holding an
    active membership in a role other than patient (DESIGN.md: "MFA required for every staff
    and lab account"). Patients are offered MFA but not forced.

    ``memberships`` are the user's active memberships when the caller already has them
    (``ActorMiddleware`` puts them on the request); otherwise one query asks.
    """
    if user.is_staff:
        return True
    if memberships is not None:
        return any(m.role != Role.PATIENT and m.is_active for m in memberships)
    return Membership.objects.filter(user=user, is_active=True).exclude(role=Role.PATIENT).exists()


def has_second_factor(user: User, *, excluding_id: int | None = None) -> bool:
    """Whether ``user`` has a TOTP or WebAuthn authenticator (other than ``excluding_id``)."""
    authenticators = Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTOR_TYPES)
    if excluding_id is not None:
        authenticators = authenticators.exclude(pk=excluding_id)
    return bool(authenticators.exists())


@dataclass(frozen=True, slots=True)
class MfaOverview:
    """What the security page shows about a user's second factors."""

    totp_active: bool
    passkey_count: int
    recovery_codes_left: int | None  # ``None``: no recovery codes set up

    @property
    def enabled(self) -> bool:
        return self.totp_active or self.passkey_count > 0


def mfa_overview_for(user: User) -> MfaOverview:
    """The user's own second factors, in one query."""
    totp_active = False
    passkeys = 0
    codes_left: int | None = None
    for authenticator in Authenticator.objects.filter(user_id=user.pk):
        if authenticator.type == Authenticator.Type.TOTP:
            totp_active = True
        elif authenticator.type == Authenticator.Type.WEBAUTHN:
            passkeys += 1
        else:
            codes_left = len(authenticator.wrap().get_unused_codes())
    return MfaOverview(
        totp_active=totp_active, passkey_count=passkeys, recovery_codes_left=codes_left
    )
