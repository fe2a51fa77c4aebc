"""Reads of the audit trail, each filtered to what the reader may see."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from uuid import UUID

from django.db.models import QuerySet

from cuspid.accounts.models import User
from cuspid.audit.models import AuditEvent
from cuspid.audit.policies import require_view_audit
from cuspid.tenancy.actor import Actor


@dataclass(frozen=True)
class AuditFilters:
    """Search criteria of the audit page; empty values do not filter."""

    user_id: UUID | None = None
    user_email: str = ""
    patient_id: str = ""
    action: str = ""
    outcome: str = ""
    date_from: date | None = None
    date_to: date | None = None


def _local_midnight(day: date, time_zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zoneinfo.ZoneInfo(time_zone))


def audit_event_list_for(*, actor: Actor, filters: AuditFilters) -> QuerySet[AuditEvent]:
    """Events whose actor acted for the actor's organisation, newest first; paginate it.

    Org admins only (``PermissionDenied``). Dates are whole days in the organisation's time
    zone, both ends included; an email matches its user case-insensitively.
    """
    require_view_audit(actor)
    events = AuditEvent.objects.filter(actor_organization_id=actor.membership.organization_id)
    if filters.user_id is not None:
        events = events.filter(actor_user_id=filters.user_id)
    if filters.user_email:
        users = User.objects.filter(email__iexact=filters.user_email).values("id")
        events = events.filter(actor_user_id__in=users)
    if filters.patient_id:
        events = events.filter(subject_patient=filters.patient_id)
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.outcome:
        events = events.filter(outcome=filters.outcome)
    time_zone = actor.organization.time_zone
    if filters.date_from is not None:
        events = events.filter(occurred_at__gte=_local_midnight(filters.date_from, time_zone))
    if filters.date_to is not None:
        end = _local_midnight(filters.date_to + timedelta(days=1), time_zone)
        events = events.filter(occurred_at__lt=end)
    return events.order_by("-sequence")


def patient_access_log(*, patient_id: str) -> QuerySet[AuditEvent]:
    """Who touched this patient's record: every event naming the patient, newest first.

    Each row gives the time, the actor's user id, role and organisation, the action and the
    outcome. The caller decides who may see it (the patient, their clinic's admins).
    """
    return (
        AuditEvent.objects.filter(subject_patient=patient_id)
        .only(
            "sequence",
            "occurred_at",
            "actor_user_id",
            "actor_role",
            "actor_organization_id",
            "system_reason",
            "action",
            "outcome",
        )
        .order_by("-sequence")
    )


def actor_names_for(events: Iterable[AuditEvent]) -> dict[UUID, User]:
    """The users the events name, by id, in one query (for a readable page of events)."""
    ids = {event.actor_user_id for event in events if event.actor_user_id is not None}
    return User.objects.in_bulk(ids) if ids else {}
