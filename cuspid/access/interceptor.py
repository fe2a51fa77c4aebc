"""Audit every read of a PHI-scoped route (one ``record:read`` event per request), and
organisation switches.

Called by ``RouteAccessMiddleware`` (pages) and ``operation_guard`` (API) once the response
exists, so views never have to remember. It runs after the view has returned, outside any
transaction the view opened, so the record of a denial survives the view's rollback.
"""

from __future__ import annotations

from uuid import UUID

from django.http import HttpRequest

from cuspid.access.actors import OperatorActor
from cuspid.access.enforce import route_actor
from cuspid.access.matrix import AccessRole
from cuspid.access.routes import RouteRule
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.identity import AuditActor, AuditIdentity
from cuspid.audit.services import audit_emit, code_or_blank

READ_METHODS = frozenset({"GET", "HEAD"})


def read_outcome(status: int) -> Outcome:
    """Allowed below 400, error from 500, denied otherwise (403 and 404 above all)."""
    if status >= 500:
        return Outcome.ERROR
    if status >= 400:
        return Outcome.DENIED
    return Outcome.ALLOWED


def audit_actor(request: HttpRequest) -> AuditActor:
    """Who read: the request's actor, else the signed-in user acting in no organisation."""
    actor = route_actor(request)
    if actor is not None:
        return actor
    role = AccessRole.PLATFORM_OPERATOR if request.user.is_staff else ""
    return AuditIdentity(user_id=request.user.pk, role=str(role))


def _target_id(request: HttpRequest) -> str:
    """The id the route names (e.g. ``membership_id``), when it is a plain code."""
    match = request.resolver_match
    values = [str(v) for v in match.kwargs.values()] if match is not None else []
    return code_or_blank(values[0]) if values else ""


def record_route(request: HttpRequest, rule: RouteRule, status: int) -> None:
    """Audit one request to a declared route: its PHI read and its break-glass use."""
    record_read(request, rule, status)
    operator = getattr(request, "break_glass_actor", None)
    if isinstance(operator, OperatorActor) and getattr(request, "actor", None) is None:
        match = request.resolver_match
        audit_emit(
            action=AuditAction.BreakGlass.Accessed,
            actor=operator,
            outcome=read_outcome(status),
            target_type="route",
            target_id=code_or_blank(match.view_name if match is not None else ""),
            data_type=rule.phi_data_type,
            purpose="break_glass",
            request=request,
        )


SUBJECT_PATIENT_ATTRIBUTE = "audit_subject_patient"


def note_subject_patient(request: HttpRequest, patient_id: UUID) -> None:
    """Name the patient a PHI route is about, for its read event (the patient's access log).

    Views and operations call it once they have found the record with an ``access_*``
    policy; a request that never found one records no patient.
    """
    setattr(request, SUBJECT_PATIENT_ATTRIBUTE, patient_id)


def record_read(request: HttpRequest, rule: RouteRule, status: int) -> None:
    """Emit ``AuditAction.Record.Read`` for a signed-in read of a PHI-scoped route, and
    ``AuditAction.Record.WriteDenied`` for a refused change to one.

    Does nothing for routes that are not PHI-scoped, for allowed or failed writes (their
    services audit themselves) and for signed-out requests (refused before anything is read).
    """
    if not rule.phi or not request.user.is_authenticated:
        return
    outcome = read_outcome(status)
    if request.method in READ_METHODS:
        action = AuditAction.Record.Read
    elif outcome == Outcome.DENIED and status in (403, 404):
        action = AuditAction.Record.WriteDenied
    else:
        return
    audit_emit(
        action=action,
        actor=audit_actor(request),
        outcome=outcome,
        target_type=rule.phi_data_type,
        target_id=_target_id(request),
        subject_patient=getattr(request, SUBJECT_PATIENT_ATTRIBUTE, None),
        data_type=rule.phi_data_type,
        request=request,
    )


def audit_switch(
    request: HttpRequest, organization_id: str, outcome: Outcome, actor: AuditActor = None
) -> None:
    """Emit ``AuditAction.Org.Switched`` for a switch of the active organisation.

    ``actor`` is the actor in the organisation switched to; a refused switch is recorded
    against the request's current actor. An id that is not a plain code is left out.
    """
    audit_emit(
        action=AuditAction.Org.Switched,
        actor=actor if actor is not None else audit_actor(request),
        outcome=outcome,
        target_type="organization",
        target_id=code_or_blank(organization_id),
        request=request,
    )
