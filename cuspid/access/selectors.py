"""Reads of break-glass grants: an organisation's admins see who broke the glass on it."""

from __future__ import annotations

from django.db.models import QuerySet

from cuspid.access.models import BreakGlassGrant
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.accounts.models import User
from cuspid.tenancy.actor import Actor


def break_glass_list_for(*, actor: Actor) -> QuerySet[BreakGlassGrant]:
    """Grants on the actor's organisation, newest first. PermissionDenied without
    ``Perm.BreakGlassView``."""
    require(actor, Perm.BreakGlassView, actor.organization)
    return BreakGlassGrant.objects.filter(organization=actor.organization).select_related(
        "operator"
    )


def break_glass_list_for_operator(*, operator: User) -> QuerySet[BreakGlassGrant]:
    """The operator's own grants, newest first."""
    return BreakGlassGrant.objects.filter(operator=operator).select_related("organization")
