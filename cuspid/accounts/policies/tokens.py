"""Which API tokens an actor may see: those of their active organisation's members."""

from __future__ import annotations

from uuid import UUID

from cuspid.accounts.models import ApiToken
from cuspid.core.errors import NotFound
from cuspid.tenancy.actor import Actor


def access_api_token(actor: Actor, token_id: UUID) -> ApiToken:
    """The token, if a member of the actor's organisation holds it; otherwise NotFound."""
    token = ApiToken.objects.filter(
        id=token_id, membership__organization_id=actor.membership.organization_id
    ).first()
    if token is None:
        raise NotFound
    return token
