"""Which invitations an actor may see: those of their active organisation."""

from __future__ import annotations

from uuid import UUID

from cuspid.accounts.models import Invitation
from cuspid.core.errors import NotFound
from cuspid.tenancy.actor import Actor


def access_invitation(actor: Actor, invitation_id: UUID) -> Invitation:
    """The invitation, if it belongs to the actor's organisation; otherwise NotFound."""
    invitation = (
        Invitation.objects.select_related("organization")
        .filter(id=invitation_id, organization_id=actor.membership.organization_id)
        .first()
    )
    if invitation is None:
        raise NotFound
    return invitation
