"""Break-glass: start a grant, find the live one, record expiries. Every step is audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext

from cuspid.access.actors import OperatorActor
from cuspid.access.models import MAX_BREAK_GLASS_MINUTES, BreakGlassGrant
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.core.actors import SystemActor
from cuspid.core.errors import InvalidInput, NotFound
from cuspid.tenancy.models import Membership, Organization

EXPIRY_ACTOR = SystemActor(reason="break_glass_expiry")


def is_platform_operator(user: User) -> bool:
    """Staff of the service, signed in, with no active membership anywhere."""
    return (
        user.is_active
        and user.is_staff
        and not Membership.objects.filter(user=user, is_active=True).exists()
    )


@transaction.atomic(durable=True)
def break_glass_start(
    *, operator: User, organization: Organization, reason: str, minutes: int
) -> BreakGlassGrant:
    """Open a grant for ``minutes`` (1-60) with a stated reason; audits ``BreakGlass.Started``.

    Raises NotFound unless ``operator`` is a platform operator (nothing exists for anyone
    else here), InvalidInput for a blank reason, a duration outside 1-60 minutes, or while
    the operator already holds a live grant.
    """
    if not is_platform_operator(operator):
        raise NotFound
    if not reason.strip():
        raise InvalidInput("A reason is required.")
    if not 1 <= minutes <= MAX_BREAK_GLASS_MINUTES:
        raise InvalidInput(f"Break-glass lasts 1 to {MAX_BREAK_GLASS_MINUTES} minutes.")
    now = clock.now()
    if _live(operator, now).exists():
        raise InvalidInput(gettext("A break-glass grant is already live."))
    grant = BreakGlassGrant.objects.create(
        operator=operator,
        organization=organization,
        reason=reason.strip(),
        started_at=now,
        expires_at=now + timedelta(minutes=minutes),
    )
    audit_emit(
        action=AuditAction.BreakGlass.Started,
        actor=OperatorActor(user=operator, grant=grant),
        target_type="organization",
        target_id=str(organization.id),
        purpose="break_glass",
    )
    return grant


def _live(operator: User, now: datetime) -> QuerySet[BreakGlassGrant]:
    return BreakGlassGrant.objects.filter(
        operator=operator, ended_at__isnull=True, started_at__lte=now, expires_at__gt=now
    )


def break_glass_actor_for(*, operator: User) -> OperatorActor | None:
    """The operator's actor under their live grant, or None. Records expiries first."""
    break_glass_expire_due(operator=operator)
    now = clock.now()
    grant = _live(operator, now).select_related("organization").first()
    return None if grant is None else OperatorActor(user=operator, grant=grant)


def break_glass_expire_due(*, operator: User | None = None) -> int:
    """End every grant past its expiry (one operator's, or all); audit each ``Expired``.

    Each expiry is its own transaction, so one failure leaves the others recorded. Returns
    how many grants ended.
    """
    due = BreakGlassGrant.objects.filter(ended_at__isnull=True, expires_at__lte=clock.now())
    if operator is not None:
        due = due.filter(operator=operator)
    return sum(_expire(grant_id) for grant_id in due.values_list("id", flat=True))


@transaction.atomic(durable=True)
def _expire(grant_id: UUID) -> int:
    grant = (
        BreakGlassGrant.objects.select_for_update()
        .filter(id=grant_id, ended_at__isnull=True)
        .first()
    )
    if grant is None:
        return 0
    grant.ended_at = grant.expires_at
    grant.save(update_fields=["ended_at", "updated_at"])
    audit_emit(
        action=AuditAction.BreakGlass.Expired,
        actor=EXPIRY_ACTOR,
        target_type="break_glass_grant",
        target_id=str(grant.id),
    )
    return 1
