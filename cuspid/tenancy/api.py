"""``/api/v1`` operations for the signed-in user, organisations, members and connections."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest
from ninja import Router

from cuspid.access.enforce import acting_actor
from cuspid.access.interceptor import audit_switch
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.audit.enums import Outcome
from cuspid.core.errors import NotFound
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.middleware import activate_organization
from cuspid.tenancy.models import LabConnection, Membership
from cuspid.tenancy.policies import access_lab_connection, access_membership
from cuspid.tenancy.requests import memberships_from
from cuspid.tenancy.schemas import (
    ActiveOrganizationSetIn,
    LabConnectionOut,
    MemberOut,
    MeOut,
    OrganizationOut,
)
from cuspid.tenancy.selectors import (
    lab_connection_list_for,
    member_list_for,
    membership_get_for_user,
)

router = Router(tags=["organizations"])


def _me(request: HttpRequest, active: Membership | None) -> MeOut:
    return MeOut(
        user=request.user,  # type: ignore[arg-type]  # validated from attributes
        memberships=memberships_from(request),  # type: ignore[arg-type]  # validated from attributes
        active_organization=active.organization if active else None,  # type: ignore[arg-type]  # validated from attributes
        active_role=active.role if active else None,
    )


@router.get("/me", response=MeOut, operation_id="me_get")
def me_get_api(request: HttpRequest) -> MeOut:
    """The signed-in user, their memberships and the active organisation."""
    actor = getattr(request, "actor", None)
    return _me(request, actor.membership if actor else None)


@router.put("/me/active-organization", response=MeOut, operation_id="me_active_organization_set")
def me_active_organization_set_api(request: HttpRequest, payload: ActiveOrganizationSetIn) -> MeOut:
    """Switch the active organisation. 404 unless the user is an active member of it."""
    wanted = str(payload.organization_id)
    try:
        membership = membership_get_for_user(
            user=request.user,  # type: ignore[arg-type]  # auth guarantees a User
            organization_id=payload.organization_id,
        )
    except NotFound:
        audit_switch(request, wanted, Outcome.DENIED)
        raise
    activate_organization(request, membership.organization_id)
    audit_switch(request, wanted, Outcome.ALLOWED, Actor.of(membership))
    return _me(request, membership)


@router.get(
    "/organizations/{organization_id}", response=OrganizationOut, operation_id="organization_get"
)
def organization_get_api(request: HttpRequest, organization_id: UUID) -> OrganizationOut:
    """One organisation the caller belongs to; 404 for any other.

    Looks among the request's memberships: all of the user's for a session, only the bound
    one for an API token, so a token never reads past its membership.
    """
    for membership in memberships_from(request):
        if membership.organization_id == organization_id:
            return membership.organization  # type: ignore[return-value]  # ninja validates from attributes
    raise NotFound


@router.get("/members", response=list[MemberOut], operation_id="member_list")
def member_list_api(request: HttpRequest) -> list[Membership]:
    """Members of the active organisation (organisation admins only)."""
    actor = acting_actor(request)
    require(actor, Perm.MemberView, actor.organization)
    return list(member_list_for(actor=actor))


@router.get("/members/{membership_id}", response=MemberOut, operation_id="member_get")
def member_get_api(request: HttpRequest, membership_id: UUID) -> Membership:
    """One member of the active organisation; 404 for another organisation's member."""
    actor = acting_actor(request)
    membership = access_membership(actor, membership_id)
    require(actor, Perm.MemberView, membership)
    return membership


@router.get("/lab-connections", response=list[LabConnectionOut], operation_id="lab_connection_list")
def lab_connection_list_api(request: HttpRequest) -> list[LabConnection]:
    """The clinic-lab connections of the active organisation."""
    actor = acting_actor(request)
    require(actor, Perm.ConnectionView, actor.organization)
    return list(lab_connection_list_for(actor=actor))


@router.get(
    "/lab-connections/{connection_id}",
    response=LabConnectionOut,
    operation_id="lab_connection_get",
)
def lab_connection_get_api(request: HttpRequest, connection_id: UUID) -> LabConnection:
    """One connection of the active organisation; 404 for any other."""
    actor = acting_actor(request)
    connection = access_lab_connection(actor, connection_id)
    require(actor, Perm.ConnectionView, connection)
    return connection
