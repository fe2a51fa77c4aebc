"""Pages: "Your sessions" (list, revoke one, sign out all others), and an admin's
"Unlock sign-in" for a member whose account hit the hard lock."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cuspid.access.enforce import acting_actor
from cuspid.accounts.selectors.sessions import session_list_for
from cuspid.accounts.services.security import user_unlock
from cuspid.accounts.services.sessions import session_revoke, session_revoke_others
from cuspid.accounts.views.devices import account_actor
from cuspid.tenancy.policies import access_membership


@login_required
@require_GET
def session_list(request: HttpRequest) -> HttpResponse:
    """Each live session of the user's: browser, IP, signed in, last seen; this one marked."""
    actor = account_actor(request)
    rows = session_list_for(user=actor.user, current_key=request.session.session_key)
    others = sum(1 for row in rows if not row.current)
    return render(request, "accounts/session_list.html", {"sessions": rows, "others": others})


@login_required
@require_POST
def session_revoke_view(request: HttpRequest, session_id: int) -> HttpResponse:
    """Sign out one other session; it is signed out at its very next request."""
    session_revoke(actor=account_actor(request), session_id=session_id, request=request)
    messages.success(request, _("That session was signed out."))
    return redirect("accounts:session_list")


@login_required
@require_POST
def session_revoke_others_view(request: HttpRequest) -> HttpResponse:
    """Sign out every session but this one."""
    ended = session_revoke_others(actor=account_actor(request), request=request)
    if ended:
        messages.success(request, _("Every other session was signed out."))
    else:
        messages.info(request, _("There were no other sessions to sign out."))
    return redirect("accounts:session_list")


@require_POST
def member_unlock(request: HttpRequest, membership_id: UUID) -> HttpResponse:
    """An org admin lets a locked member sign in again (404 for another organisation's)."""
    actor = acting_actor(request)
    membership = access_membership(actor, membership_id)
    user_unlock(actor=actor, membership=membership, request=request)
    messages.success(request, _("This member can sign in again."))
    return redirect("tenancy:member_detail", membership_id=membership.pk)


urlpatterns: list[URLPattern] = [
    path("account/sessions/", session_list, name="session_list"),
    path("account/sessions/<int:session_id>/revoke/", session_revoke_view, name="session_revoke"),
    path(
        "account/sessions/revoke-others/", session_revoke_others_view, name="session_revoke_others"
    ),
    path("members/<uuid:membership_id>/unlock/", member_unlock, name="member_unlock"),
]
