"""What a route-matrix test needs: the people who ask, and the checks it makes of each answer
(one audit event of the right kind; for a refusal, nothing changed, nothing leaked, and the
same answer as for an absent id).

Shared by the matrix tests whose routes are rows with a ``label``, a ``rule``, a ``names``
(the id field the route is about) and ``read()`` (``test_compare_routes``,
``test_suggestion_routes``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from django.db.models import Max
from django.test import Client

from cuspid.access import routes
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.access.bodies import normalised
from tests.factories import make_lab, make_lab_connection
from tests.factories.cases import make_patient


class MatrixRoute(Protocol):
    @property
    def label(self) -> str: ...

    @property
    def rule(self) -> routes.RouteRule: ...

    @property
    def names(self) -> str: ...

    def read(self) -> bool: ...


Route = TypeVar("Route", bound=MatrixRoute)
Ids = TypeVar("Ids")


def last_sequence() -> int:
    """The newest audit event's sequence number (0 for none)."""
    return int(AuditEvent.objects.aggregate(n=Max("sequence"))["n"] or 0)


def events_since(mark: int) -> list[AuditEvent]:
    """The audit events after ``mark``, in order."""
    return list(AuditEvent.objects.filter(sequence__gt=mark).order_by("sequence"))


def check_one_event(
    problems: list[str],
    route: MatrixRoute,
    events: list[AuditEvent],
    membership: Membership,
    outcome: Outcome,
    subject: str,
) -> None:
    """Exactly one event: ``record:read`` for a read, ``record:write_deny`` for a change,
    with the outcome, caller, patient and the route's data type; else a problem noted."""
    action = AuditAction.Record.Read if route.read() else AuditAction.Record.WriteDenied
    if len(events) != 1:
        problems.append(f"{route.label}: {[e.action for e in events]}, expected one event")
        return
    [event] = events
    seen = (event.action, event.outcome, event.actor_user_id, event.subject_patient)
    wanted = (str(action), str(outcome), membership.user.pk, subject)
    if seen != wanted:
        problems.append(f"{route.label}: audit event {seen}, expected {wanted}")
    if event.data_type != route.rule.phi_data_type:
        problems.append(f"{route.label}: data type {event.data_type!r}")


def refusal_problems(
    client: Client,
    membership: Membership,
    rows: Iterable[Route],
    ids: Ids,
    *,
    send: Callable[[Client, Route, Ids], Any],
    snapshot: Callable[[], object],
    expected: Callable[[Route], int],
    secrets: Iterable[str],
) -> list[str]:
    """Ask every row as a caller who must be refused (``expected(row)``: 403 or 404) and
    list what went wrong: a change, another status, a binary answer, a secret in the body,
    not exactly one denied audit event, or an answer unlike an absent id's (``ids`` is a
    dataclass; the row's ``names`` field is replaced by a random id)."""
    problems: list[str] = []
    shown = list(secrets)
    for route in rows:
        status = expected(route)
        before, mark = snapshot(), last_sequence()
        response = send(client, route, ids)
        body = response.getvalue() if response.streaming else response.content
        events = events_since(mark)
        if snapshot() != before:
            problems.append(f"{route.label}: the request changed something")
        if response.status_code != status:
            problems.append(f"{route.label}: {response.status_code}, expected {status}")
            continue
        if response.get("Content-Type", "").startswith("application/octet-stream"):
            problems.append(f"{route.label}: the file left")
        for value in shown:
            if value in body.decode(errors="replace"):
                problems.append(f"{route.label}: the answer shows {value}")
        check_one_event(problems, route, events, membership, Outcome.DENIED, "")
        absent_ids = replace(ids, **{route.names: uuid.uuid4()})  # type: ignore[type-var]  # ids is a dataclass
        absent = send(client, route, absent_ids)
        same = normalised(absent.content, str(getattr(absent_ids, route.names))) == (
            normalised(body, str(getattr(ids, route.names)))
        )
        if absent.status_code != status or not same:
            problems.append(f"{route.label}: answers a foreign id unlike an absent one")
    return problems


# --- who asks --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class People:
    """Clinic A's people, connected to lab L's designer; clinic B's clinician; the designer
    of lab M, which is not connected."""

    clinician: Membership
    staff: Membership
    admin: Membership
    patient_member: Membership
    designer: Membership
    other_clinician: Membership
    unconnected_designer: Membership


def people_of(
    clinic: Organization,
    other_clinic: Organization,
    lab: Organization,
    member_of: Callable[[Organization, Role], Membership],
    *,
    given_name: str,
    family_name: str,
) -> People:
    """Connect ``clinic`` to ``lab`` and make everyone a matrix test asks as, with one patient
    of the clinic named ``given_name family_name`` (whose name must never leak)."""
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = member_of(clinic, Role.CLINICIAN)
    make_patient(clinician, given_name=given_name, family_name=family_name)
    return People(
        clinician=clinician,
        staff=member_of(clinic, Role.STAFF),
        admin=member_of(clinic, Role.ORG_ADMIN),
        patient_member=member_of(clinic, Role.PATIENT),
        designer=member_of(lab, Role.DESIGNER),
        other_clinician=member_of(other_clinic, Role.CLINICIAN),
        unconnected_designer=member_of(make_lab(name="Distant Lab"), Role.DESIGNER),
    )


class Caller(StrEnum):
    """Who must be refused: four who may not see the case, two who lack the permission."""

    OTHER_CLINIC = "other clinic's clinician"
    UNCONNECTED_LAB = "unconnected lab's designer"
    REVOKED_LAB = "connected lab's designer, case withdrawn"
    PATIENT = "clinic's patient-role member"
    ADMIN = "clinic's admin"


def member_for(people: People, caller: Caller) -> Membership:
    """The membership a refused caller asks with (the withdrawn case is the test's to pick)."""
    return {
        Caller.OTHER_CLINIC: people.other_clinician,
        Caller.UNCONNECTED_LAB: people.unconnected_designer,
        Caller.REVOKED_LAB: people.designer,
        Caller.PATIENT: people.patient_member,
        Caller.ADMIN: people.admin,
    }[caller]
