"""Pages for organisation members, clinic-lab connections and the organisation switcher."""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from cuspid.core.errors import NotAuthenticated, NotFound
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.decorators import actor_required
from cuspid.tenancy.middleware import activate_organization
from cuspid.tenancy.policies import access_membership, require_manage_members
from cuspid.tenancy.selectors import (
    lab_connection_list_for,
    member_list_for,
    membership_get_for_user,
)


@require_GET
@actor_required
def member_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    members = member_list_for(actor=actor)
    return render(request, "tenancy/member_list.html", {"members": members})


@require_GET
@actor_required
def member_detail(request: HttpRequest, actor: Actor, membership_id: UUID) -> HttpResponse:
    membership = access_membership(actor, membership_id)
    require_manage_members(actor)
    return render(request, "tenancy/member_detail.html", {"member": membership})


@require_GET
@actor_required
def connection_list(request: HttpRequest, actor: Actor) -> HttpResponse:
    connections = lab_connection_list_for(actor=actor)
    return render(request, "tenancy/connection_list.html", {"connections": connections})


@require_POST
def organization_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's organisations the active one; 404 if not a member."""
    if not request.user.is_authenticated:
        raise NotAuthenticated
    try:
        organization_id = UUID(request.POST.get("organization", ""))
    except ValueError:
        raise NotFound from None
    membership = membership_get_for_user(
        user=request.user,  # authenticated above
        organization_id=organization_id,
    )
    activate_organization(request, membership.organization_id)
    # Always land on the dashboard: the page we came from belongs to the previous organisation.
    return redirect("web:dashboard")
