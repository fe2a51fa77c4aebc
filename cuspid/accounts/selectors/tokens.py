"""Reads of API tokens: the admin's list, and the token behind a bearer value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import ApiToken
from cuspid.accounts.secrets import secret_digest
from cuspid.core import clock
from cuspid.tenancy.actor import Actor

# Longer than any token Cuspid issues ("cspd_" + 43 characters); longer values are not
# hashed or looked up.
MAX_TOKEN_LENGTH = 100


class TokenStatus(TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")
    SUSPENDED = "suspended", _("Member inactive")


def api_token_status(token: ApiToken, now: datetime) -> TokenStatus:
    """Whether the token works at ``now``; it expires at ``expires_at`` exactly."""
    if token.revoked_at is not None:
        return TokenStatus.REVOKED
    if now >= token.expires_at:
        return TokenStatus.EXPIRED
    if not token.membership.is_active:
        return TokenStatus.SUSPENDED
    return TokenStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ApiTokenRow:
    """One line of the admin's list."""

    token: ApiToken
    status: TokenStatus

    @property
    def scope_labels(self) -> list[str]:
        return [str(TokenScope(scope).label) for scope in self.token.scopes]

    @property
    def revocable(self) -> bool:
        return self.status != TokenStatus.REVOKED


def api_token_list_for(*, actor: Actor) -> list[ApiTokenRow]:
    """Every token held by a member of the actor's organisation, newest first.

    The caller checks ``Perm.ApiTokenManage``.
    """
    now = clock.now()
    tokens = (
        ApiToken.objects.filter(membership__organization_id=actor.membership.organization_id)
        .select_related("membership", "created_by")
        .order_by("-created_at")
    )
    return [ApiTokenRow(token, api_token_status(token, now)) for token in tokens]


def api_token_active_by_value(value: str) -> ApiToken | None:
    """The working token whose plain value is ``value``, with its membership, user and
    organisation; ``None`` for an unknown, revoked or expired token, an inactive membership
    or an inactive or locked account. Read from the database on every call (no cache), so
    a revocation holds from the very next request."""
    if not value or len(value) > MAX_TOKEN_LENGTH:
        return None
    token = (
        ApiToken.objects.select_related("membership__user", "membership__organization")
        .filter(token_hash=secret_digest(value))
        .first()
    )
    if token is None or api_token_status(token, clock.now()) != TokenStatus.ACTIVE:
        return None
    user = token.membership.user
    if not user.is_active or user.locked_at is not None:
        return None
    return token
