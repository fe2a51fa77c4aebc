"""Reads of tenancy data, each filtered to what the actor may see."""

from __future__ import annotations

from uuid import UUID

from django.db.models import Q, QuerySet

from cuspid.accounts.models import User
from cuspid.core.errors import NotFound
from cuspid.tenancy.actor import OrganizationActor
from cuspid.tenancy.models import LabConnection, Membership


def membership_list_for_user(*, user: User) -> QuerySet[Membership]:
    """The user's own active memberships, with their organisations, for the switcher."""
    return (
        Membership.objects.filter(user=user, is_active=True)
        .select_related("organization")
        .order_by("organization__name")
    )


def membership_get_for_user(*, user: User, organization_id: UUID) -> Membership:
    """The user's active membership in one organisation; NotFound if they hold none there."""
    try:
        return Membership.objects.select_related("organization", "user").get(
            user=user, organization_id=organization_id, is_active=True
        )
    except Membership.DoesNotExist:
        raise NotFound from None


def member_list_for(*, actor: OrganizationActor) -> QuerySet[Membership]:
    """Members of the actor's active organisation.

    The caller checks ``Perm.MemberView`` first (``cuspid.access``, a layer above).
    """
    return (
        Membership.objects.filter(organization=actor.organization)
        .select_related("user")
        .order_by("-is_active", "user__full_name", "user__email")
    )


def lab_connection_list_for(*, actor: OrganizationActor) -> QuerySet[LabConnection]:
    """Connections where the actor's organisation is the clinic or the lab.

    The caller checks ``Perm.ConnectionView`` first (``cuspid.access``, a layer above).
    """
    org = actor.organization
    return (
        LabConnection.objects.filter(Q(clinic=org) | Q(lab=org))
        .select_related("clinic", "lab")
        .order_by("created_at")
    )
