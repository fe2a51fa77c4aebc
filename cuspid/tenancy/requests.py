"""Typed access to what the middleware attached to a request."""

from __future__ import annotations

from django.http import HttpRequest

from cuspid.core.errors import NotAuthenticated, NotFound
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.models import Membership


def actor_from(request: HttpRequest) -> Actor:
    """The request's Actor. NotAuthenticated when signed out; NotFound without a membership.

    A user with no organisation (a platform operator) gets NotFound for every
    organisation-scoped resource: nothing there exists for them.
    """
    if not request.user.is_authenticated:
        raise NotAuthenticated
    actor: Actor | None = getattr(request, "actor", None)
    if actor is None:
        raise NotFound
    return actor


def memberships_from(request: HttpRequest) -> list[Membership]:
    """The signed-in user's active memberships, loaded once by ``ActorMiddleware``."""
    memberships: list[Membership] = getattr(request, "memberships", [])
    return memberships
