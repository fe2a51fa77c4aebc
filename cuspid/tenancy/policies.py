"""Which tenancy objects exist for an actor. Absent and foreign objects raise the same ``NotFound``.

What a role may do with them is ``cuspid.access`` (``require(actor, Perm.X, obj)``), checked
by the callers above this app: tenancy's models, services, selectors and policies sit below
``access`` in the layers and do not import it.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q

from cuspid.core.errors import NotFound
from cuspid.tenancy.actor import OrganizationActor
from cuspid.tenancy.models import LabConnection, Membership


def access_membership(actor: OrganizationActor, membership_id: UUID) -> Membership:
    """The membership, if it belongs to the actor's active organisation; otherwise NotFound."""
    try:
        return Membership.objects.select_related("user", "organization").get(
            id=membership_id, organization=actor.organization
        )
    except Membership.DoesNotExist:
        raise NotFound from None


def access_lab_connection(actor: OrganizationActor, connection_id: UUID) -> LabConnection:
    """The connection, if the actor's organisation is one of its two ends; otherwise NotFound."""
    org = actor.organization
    try:
        return LabConnection.objects.select_related("clinic", "lab").get(
            Q(clinic=org) | Q(lab=org), id=connection_id
        )
    except LabConnection.DoesNotExist:
        raise NotFound from None
