"""API tokens for integrations: created and revoked by organisation admins, after step-up.

A token is ``cspd_`` + 256 random bits, shown once and stored as its digest. It acts as the
membership that created it (never beyond that member's role) and only within its scopes
(``TokenScope``); it expires within a year and stops working the moment it is revoked.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.http import HttpRequest

from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import ApiToken
from cuspid.accounts.policies import require_recent_auth
from cuspid.accounts.secrets import new_secret, secret_digest
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.core.errors import InvalidInput
from cuspid.tenancy.actor import Actor

TOKEN_PREFIX = "cspd_"  # noqa: S105 -- the public prefix of every token, not a secret  # noqa: S105 -- the public prefix of every token, not a secret
HINT_LENGTH = 8
MAX_DAYS = 365
DEFAULT_DAYS = 90
# last_used_at is written at most this often per token: a busy integration would otherwise
# turn every read into a write, and "last used" to the minute is what people need.
LAST_USED_RESOLUTION = timedelta(minutes=1)
TARGET_TYPE = "api_token"
NAME_MAX = 100


def _clean_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = set(scopes)
    if not chosen:
        raise InvalidInput("Choose at least one scope.")
    unknown = chosen - set(TokenScope.values)
    if unknown:
        raise InvalidInput("Unknown scope.")
    return sorted(chosen)


@transaction.atomic(durable=True)
def api_token_create(
    *,
    actor: Actor,
    name: str,
    scopes: Iterable[str],
    expires_in_days: int = DEFAULT_DAYS,
    request: HttpRequest | None = None,
) -> tuple[ApiToken, str]:
    """Create a token bound to the actor's membership; returns it and the plain value.

    The plain value (``cspd_`` + 256 random bits) is returned here only; the row keeps its
    digest and a hint (the first characters after the prefix).
    Raises PermissionDenied without ``Perm.ApiTokenManage``; StepUpRequired when the last
    full authentication is older than the step-up window; InvalidInput for an empty name,
    no or unknown scopes, or an expiry outside 1..365 days. Audits
    ``AuditAction.Token.Created``.
    """
    require(actor, Perm.ApiTokenManage, actor.organization)
    require_recent_auth(actor)
    label = name.strip()
    if not label or len(label) > NAME_MAX:
        raise InvalidInput(f"Give the token a name of at most {NAME_MAX} characters.")
    chosen = _clean_scopes(scopes)
    if not 1 <= expires_in_days <= MAX_DAYS:
        raise InvalidInput(f"A token expires within 1 to {MAX_DAYS} days.")
    plain = new_secret(TOKEN_PREFIX)
    token = ApiToken.objects.create(
        membership=actor.membership,
        name=label,
        token_hash=secret_digest(plain),
        hint=plain[len(TOKEN_PREFIX) : len(TOKEN_PREFIX) + HINT_LENGTH],
        scopes=chosen,
        created_by=actor.user,
        expires_at=clock.now() + timedelta(days=expires_in_days),
    )
    audit_emit(
        action=AuditAction.Token.Created,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=token.id,
        request=request,
    )
    return token, plain


@transaction.atomic(durable=True)
def api_token_revoke(
    *, actor: Actor, token: ApiToken, request: HttpRequest | None = None
) -> ApiToken:
    """Revoke a token of the actor's organisation; the next request with it is refused.

    The caller found ``token`` with ``access_api_token`` (404 for another organisation's).
    Revoking a revoked token changes nothing and audits nothing. Raises PermissionDenied
    without ``Perm.ApiTokenManage``; StepUpRequired as :func:`api_token_create`.
    Audits ``AuditAction.Token.Revoked``.
    """
    require(actor, Perm.ApiTokenManage, actor.organization)
    require_recent_auth(actor)
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is not None:
        return token
    token.revoked_at = clock.now()
    token.save(update_fields=["revoked_at", "updated_at"])
    audit_emit(
        action=AuditAction.Token.Revoked,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=token.id,
        request=request,
    )
    return token


@transaction.atomic(durable=True)
def api_token_use_record(*, actor: Actor, token: ApiToken, request: HttpRequest) -> None:
    """Record one request made with ``token``: ``last_used_at`` (to the minute) and
    ``AuditAction.Token.Used`` (one event per request)."""
    now = clock.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    audit_emit(
        action=AuditAction.Token.Used,
        actor=actor,
        target_type=TARGET_TYPE,
        target_id=token.id,
        request=request,
    )


@transaction.atomic(durable=True)
def api_token_denial_record(
    *, actor: Actor, token: ApiToken, scope: TokenScope, request: HttpRequest
) -> None:
    """Audit ``AuditAction.Token.Denied`` (outcome denied) for a request outside the
    token's scopes; ``purpose`` names the missing scope."""
    audit_emit(
        action=AuditAction.Token.Denied,
        actor=actor,
        outcome=Outcome.DENIED,
        target_type=TARGET_TYPE,
        target_id=token.id,
        purpose=str(scope),
        request=request,
    )
