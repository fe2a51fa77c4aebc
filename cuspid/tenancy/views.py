"""Pages for organisation members, clinic-lab connections and the organisation switcher.

Organisation-scoped pages take their actor from ``acting_actor``: a member, or a platform
operator under a live break-glass grant (read-only by the matrix).
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from cuspid.access.enforce import acting_actor
from cuspid.access.interceptor import audit_switch
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.audit.enums import Outcome
from cuspid.core.errors import NotAuthenticated, NotFound
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.middleware import activate_organization
from cuspid.tenancy.policies import access_membership
from cuspid.tenancy.selectors import (
    lab_connection_list_for,
    member_list_for,
    membership_get_for_user,
)


@require_GET
def member_list(request: HttpRequest) -> HttpResponse:
    actor = acting_actor(request)
    require(actor, Perm.MemberView, actor.organization)
    members = member_list_for(actor=actor)
    return render(request, "tenancy/member_list.html", {"members": members})


@require_GET
def member_detail(request: HttpRequest, membership_id: UUID) -> HttpResponse:
    actor = acting_actor(request)
    membership = access_membership(actor, membership_id)
    require(actor, Perm.MemberView, membership)
    return render(request, "tenancy/member_detail.html", {"member": membership})


@require_GET
def connection_list(request: HttpRequest) -> HttpResponse:
    actor = acting_actor(request)
    require(actor, Perm.ConnectionView, actor.organization)
    connections = lab_connection_list_for(actor=actor)
    return render(request, "tenancy/connection_list.html", {"connections": connections})


@require_POST
def organization_switch(request: HttpRequest) -> HttpResponse:
    """Make another of the user's organisations the active one; 404 if not a member."""
    if not request.user.is_authenticated:
        raise NotAuthenticated
    wanted = request.POST.get("organization", "")
    try:
        membership = membership_get_for_user(
            user=request.user,  # authenticated above
            organization_id=UUID(wanted),
        )
    except (ValueError, NotFound):
        audit_switch(request, wanted, Outcome.DENIED)
        raise NotFound from None
    activate_organization(request, membership.organization_id)
    audit_switch(request, str(membership.organization_id), Outcome.ALLOWED, Actor.of(membership))
    # Always land on the dashboard: the page we came from belongs to the previous organisation.
    return redirect("web:dashboard")
