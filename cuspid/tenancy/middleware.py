"""Build the request's Actor once: the signed-in user acting through their active membership."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from cuspid.accounts.authtime import authenticated_at
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.selectors import membership_list_for_user

ACTIVE_ORGANIZATION_SESSION_KEY = "cuspid_active_organization"


def activate_organization(request: HttpRequest, organization_id: UUID) -> None:
    """Remember the chosen organisation in the session (the caller checked membership)."""
    request.session[ACTIVE_ORGANIZATION_SESSION_KEY] = str(organization_id)


class ActorMiddleware:
    """Set ``request.actor`` to the Actor of the active membership, or ``None``.

    The active organisation is kept in the session. When it is missing or the membership was
    deactivated, the user's first active membership is chosen. Users with no membership
    (platform operators) get ``None``. The organisation's time zone is activated so dates
    render in clinic time.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        actor: Actor | None = None
        if request.user.is_authenticated:
            memberships = list(membership_list_for_user(user=request.user))
            wanted = request.session.get(ACTIVE_ORGANIZATION_SESSION_KEY)
            chosen = next((m for m in memberships if str(m.organization_id) == wanted), None)
            if chosen is None and memberships:
                chosen = memberships[0]
                activate_organization(request, chosen.organization_id)
            if chosen is not None:
                chosen.user = request.user
                actor = Actor.of(chosen, authenticated_at=authenticated_at(request.session))
            request.memberships = memberships  # type: ignore[attr-defined]  # read by nav/switcher
        request.actor = actor  # type: ignore[attr-defined]  # the one place it is set
        if actor is not None:
            try:
                timezone.activate(zoneinfo.ZoneInfo(actor.organization.time_zone))
            except zoneinfo.ZoneInfoNotFoundError:
                timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
