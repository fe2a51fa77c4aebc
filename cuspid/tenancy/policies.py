"""Who may see which tenancy objects. Absent and foreign objects raise the same ``NotFound``.

The full role x permission matrix arrives with ``cuspid.access``; until then the rules for
organisations, members and connections live here, in one place.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q

from cuspid.core.errors import NotFound, PermissionDenied
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership


def can_manage_members(actor: Actor) -> bool:
    """Only an organisation's admins see and manage its members."""
    return actor.role == Role.ORG_ADMIN


def require_manage_members(actor: Actor) -> None:
    """Raise ``PermissionDenied`` unless the actor administers their active organisation."""
    if not can_manage_members(actor):
        raise PermissionDenied


def can_view_connections(actor: Actor) -> bool:
    """Staff of a clinic or lab (not patients) see which labs and clinics they work with."""
    return actor.role != Role.PATIENT


def require_view_connections(actor: Actor) -> None:
    """Raise ``PermissionDenied`` for roles that do not see the organisation's connections."""
    if not can_view_connections(actor):
        raise PermissionDenied


def access_membership(actor: Actor, membership_id: UUID) -> Membership:
    """The membership, if it belongs to the actor's active organisation; otherwise NotFound."""
    try:
        return Membership.objects.select_related("user", "organization").get(
            id=membership_id, organization=actor.organization
        )
    except Membership.DoesNotExist:
        raise NotFound from None


def access_lab_connection(actor: Actor, connection_id: UUID) -> LabConnection:
    """The connection, if the actor's organisation is one of its two ends; otherwise NotFound."""
    org = actor.organization
    try:
        return LabConnection.objects.select_related("clinic", "lab").get(
            Q(clinic=org) | Q(lab=org), id=connection_id
        )
    except LabConnection.DoesNotExist:
        raise NotFound from None
