"""The route check shared by the page middleware and the API guard, and the acting actor."""

from __future__ import annotations

from django.http import HttpRequest

from cuspid.access.actors import OperatorActor
from cuspid.access.policy import can
from cuspid.access.routes import Access, RouteRule
from cuspid.access.services import break_glass_actor_for
from cuspid.accounts.models import User
from cuspid.core.errors import NotAuthenticated, NotFound, PermissionDenied
from cuspid.tenancy.actor import Actor

RouteActor = Actor | OperatorActor


def route_actor(request: HttpRequest) -> RouteActor | None:
    """Whoever acts in an organisation for this request: a member, an operator under a live
    break-glass grant (found by :func:`check_route`), or ``None``."""
    actor: Actor | None = getattr(request, "actor", None)
    if actor is not None:
        return actor
    operator: OperatorActor | None = getattr(request, "break_glass_actor", None)
    return operator


def check_route(request: HttpRequest, rule: RouteRule) -> None:
    """Raise unless the request may reach a route declared by ``rule``.

    ``NotAuthenticated`` when signed out; ``NotFound`` for a signed-in user acting in no
    organisation (nothing organisation-scoped exists for them: a platform operator without a
    live break-glass grant); ``PermissionDenied`` when the role lacks the route's permission.
    """
    if rule.access == Access.PUBLIC:
        return
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        raise NotAuthenticated
    if rule.perm is None:
        return
    if getattr(request, "actor", None) is None and user.is_staff:
        request.break_glass_actor = break_glass_actor_for(operator=user)  # type: ignore[attr-defined]  # set once, here
    actor = route_actor(request)
    if actor is None:
        raise NotFound
    if not can(actor, rule.perm):
        raise PermissionDenied


def acting_actor(request: HttpRequest) -> RouteActor:
    """The actor of an organisation-scoped view (the route check has run).

    NotAuthenticated when signed out, NotFound when nobody acts in an organisation.
    """
    if not request.user.is_authenticated:
        raise NotAuthenticated
    actor = route_actor(request)
    if actor is None:
        raise NotFound
    return actor


def member_of(actor: RouteActor) -> Actor:
    """The actor as a member who may change records; a break-glass operator only reads.

    Raises PermissionDenied for an actor that is not a member.
    """
    if not isinstance(actor, Actor):
        raise PermissionDenied
    return actor


def acting_member(request: HttpRequest) -> Actor:
    """The member a write acts as: :func:`acting_actor`, then :func:`member_of`."""
    return member_of(acting_actor(request))
