"""The access matrix of the production package routes: every page and API operation, asked
by each kind of caller.

- Lab staff of the lab the case is shared with make, download and print (2xx).
- Roles without the route's permission get 403 from the route check, before any lookup:
  clinicians, staff and designers on the production routes (they may read that a package
  exists: ``package_get``), admins and patients everywhere.
- Roles that hold the permission but may not see the case get 404, the same answer as for a
  revision that exists nowhere: another clinic, an unconnected lab, the connected lab once
  the clinic withdrew the case.

Every refusal leaves exactly one denied audit event naming the caller (``record:read`` for a
read, ``record:write_deny`` for a change), names no patient and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.db.models import Max
from django.test import Client
from django.urls import resolve, reverse
from pytest_django.fixtures import Settings

from cuspid.access import routes
from cuspid.access.matrix import AccessRole, permissions_of
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Case, CaseEvent, ProductionPackage, Revision
from cuspid.keys.models import EncryptedBlob
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.access.bodies import normalised as _normalised
from tests.factories import make_lab, make_lab_connection
from tests.factories.cases import make_patient, transition
from tests.factories.packages import (
    accepted_case,
    approved_revision,
    make_package,
    reviewed_revision,
)

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

GIVEN, FAMILY, HEALTH_CARD = "Wilhelmina", "Thistlewood", "7777-222-333-WT"
API = "/api/v1"


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # "page" or "api"
    name: str
    method: str
    # A page's URL name is reversed with the revision id; an API path is formatted with it.
    path: str = ""
    htmx: bool = False

    @property
    def label(self) -> str:
        return f"{self.method} {self.kind} {self.name}"

    @property
    def rule(self) -> routes.RouteRule:
        return (routes.PAGES if self.kind == "page" else routes.OPERATIONS)[self.name]

    def url(self, revision_id: UUID) -> str:
        if self.kind == "api":
            return API + self.path.format(revision_id=revision_id)
        return reverse(self.name, kwargs={"revision_id": revision_id})

    def read(self) -> bool:
        return self.method == "GET"


ROUTES: tuple[Route, ...] = (
    Route("page", "cases:package_create", "POST"),
    Route("page", "cases:package_create", "POST", htmx=True),
    Route("page", "cases:package_download", "GET"),
    Route("page", "cases:package_workorder", "GET"),
    Route("api", "package_create", "POST", "/revisions/{revision_id}/package"),
    Route("api", "package_get", "GET", "/revisions/{revision_id}/package"),
    Route("api", "package_download", "GET", "/revisions/{revision_id}/package/content"),
)
PAGE_NAMES = ("cases:package_create", "cases:package_download", "cases:package_workorder")
OPERATION_IDS = ("package_create", "package_get", "package_download")


def test_the_table_covers_exactly_the_declared_package_routes() -> None:
    declared = {("page", name) for name in routes.PAGES if name.startswith("cases:package_")}
    declared |= {("api", name) for name in routes.OPERATIONS if name.startswith("package_")}
    listed = {(route.kind, route.name) for route in ROUTES}
    assert listed == declared
    assert declared == {("page", n) for n in PAGE_NAMES} | {("api", n) for n in OPERATION_IDS}


def test_every_row_reaches_the_route_it_names() -> None:
    revision_id = uuid.uuid4()
    schema = Client().get(f"{API}/openapi.json").json()
    for route in ROUTES:
        url = route.url(revision_id)
        if route.kind == "page":
            assert resolve(url).view_name == route.name
        else:
            operation = schema["paths"][API + route.path][route.method.lower()]
            assert operation["operationId"] == route.name


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


@dataclass(frozen=True, slots=True)
class Scenario:
    patient: Patient
    # Approved, package made: the case is in production.
    shared: Revision
    # Revision 1 of a case the clinic withdrew from the lab while it was in design.
    withdrawn: Revision
    members: dict[Caller, Membership]


class Caller(StrEnum):
    CLINICIAN = "clinic's clinician"
    STAFF = "clinic's staff"
    ADMIN = "clinic's admin"
    PATIENT = "clinic's patient-role member"
    OTHER_CLINIC = "other clinic's clinician"
    DESIGNER = "connected lab's designer"
    LAB_STAFF = "connected lab's staff"
    UNCONNECTED_LAB = "unconnected lab's staff"
    REVOKED_LAB = "connected lab's staff, case withdrawn"


@pytest.fixture
def scenario(
    clinic: Organization, other_clinic: Organization, lab: Organization, member_of: MemberOf
) -> Scenario:
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = member_of(clinic, Role.CLINICIAN)
    designer = member_of(lab, Role.DESIGNER)
    lab_staff = member_of(lab, Role.LAB_STAFF)
    patient = make_patient(clinician, given_name=GIVEN, family_name=FAMILY, health_card=HEALTH_CARD)
    shared = approved_revision(clinician, designer, lab, patient)
    make_package(lab_staff, shared)
    case = accepted_case(clinician, designer, lab, patient)
    withdrawn = reviewed_revision(designer, case)
    transition(clinician, Case.objects.get(pk=case.pk), "request_changes", "Shorter margin.")
    transition(clinician, Case.objects.get(pk=case.pk), "revoke_share")
    assert Case.objects.get(pk=case.pk).shared_with_lab_id is None
    members = {
        Caller.CLINICIAN: clinician,
        Caller.STAFF: member_of(clinic, Role.STAFF),
        Caller.ADMIN: member_of(clinic, Role.ORG_ADMIN),
        Caller.PATIENT: member_of(clinic, Role.PATIENT),
        Caller.OTHER_CLINIC: member_of(other_clinic, Role.CLINICIAN),
        Caller.DESIGNER: designer,
        Caller.LAB_STAFF: lab_staff,
        Caller.UNCONNECTED_LAB: member_of(make_lab(name="Distant Lab"), Role.LAB_STAFF),
        Caller.REVOKED_LAB: lab_staff,
    }
    return Scenario(patient=patient, shared=shared, withdrawn=withdrawn, members=members)


def _last() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _record_events(mark: int) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(sequence__gt=mark, action__startswith="record:").order_by(
            "sequence"
        )
    )


def _snapshot() -> dict[str, object]:
    return {
        "cases": list(Case.objects.order_by("id").values_list("status", "updated_at")),
        "packages": ProductionPackage.objects.count(),
        "blobs": EncryptedBlob.objects.count(),
        "timeline": CaseEvent.objects.count(),
    }


def _send(client: Client, route: Route, revision_id: UUID) -> Any:
    url = route.url(revision_id)
    if route.method == "GET":
        return client.get(url)
    headers = {"HX-Request": "true"} if route.htmx else None
    return client.post(url, headers=headers)


def _expected(caller: Caller, route: Route) -> int:
    """What the access rules answer this caller on this route."""
    perm = route.rule.perm
    assert perm is not None
    if perm not in permissions_of(AccessRole(_ROLES[caller])):
        return 403
    if caller in (Caller.OTHER_CLINIC, Caller.UNCONNECTED_LAB, Caller.REVOKED_LAB):
        return 404
    if route.method == "POST" and route.kind == "api":
        return 201
    if route.method == "POST" and not route.htmx:
        return 302
    return 200


_ROLES = {
    Caller.CLINICIAN: Role.CLINICIAN,
    Caller.STAFF: Role.STAFF,
    Caller.ADMIN: Role.ORG_ADMIN,
    Caller.PATIENT: Role.PATIENT,
    Caller.OTHER_CLINIC: Role.CLINICIAN,
    Caller.DESIGNER: Role.DESIGNER,
    Caller.LAB_STAFF: Role.LAB_STAFF,
    Caller.UNCONNECTED_LAB: Role.LAB_STAFF,
    Caller.REVOKED_LAB: Role.LAB_STAFF,
}


@pytest.mark.parametrize("caller", list(Caller), ids=lambda c: c.name.lower())
def test_each_caller_gets_what_the_rules_say_and_every_refusal_is_one_denied_event(
    caller: Caller, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = scenario.members[caller]
    revision = scenario.withdrawn if caller == Caller.REVOKED_LAB else scenario.shared
    client = signed_in(membership.user)
    problems: list[str] = []
    for route in ROUTES:
        expected = _expected(caller, route)
        before, mark = _snapshot(), _last()
        response = _send(client, route, revision.id)
        body = response.getvalue()
        events = _record_events(mark)
        if response.status_code != expected:
            problems.append(f"{route.label}: {response.status_code}, expected {expected}")
            continue
        leaked = [v for v in (GIVEN, FAMILY, HEALTH_CARD) if v.encode() in body]
        if leaked:
            problems.append(f"{route.label}: the answer shows {leaked}")
        if _snapshot() != before:
            problems.append(f"{route.label}: the request changed something")
        if expected >= 400:
            action = AuditAction.Record.Read if route.read() else AuditAction.Record.WriteDenied
            seen = [(e.action, e.outcome, e.actor_user_id, e.subject_patient) for e in events]
            wanted = [(str(action), str(Outcome.DENIED), membership.user.pk, "")]
            if seen != wanted:
                problems.append(f"{route.label}: audit {seen}, expected {wanted}")
            if expected == 404:
                absent_id = uuid.uuid4()
                absent = _send(client, route, absent_id)
                same = _normalised(absent.getvalue(), absent_id) == _normalised(body, revision.id)
                if absent.status_code != 404 or not same:
                    problems.append(f"{route.label}: a foreign id answers unlike an absent one")
        elif route.read():
            reads = [(e.action, e.outcome, e.subject_patient) for e in events]
            wanted_reads = [
                (str(AuditAction.Record.Read), str(Outcome.ALLOWED), str(scenario.patient.id))
            ]
            if reads != wanted_reads:
                problems.append(f"{route.label}: reads {reads}, expected {wanted_reads}")
    assert problems == []


def test_the_lab_staffs_download_is_also_audited_by_the_service(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    client = signed_in(scenario.members[Caller.LAB_STAFF].user)
    for route in ROUTES:
        if route.name not in ("cases:package_download", "package_download"):
            continue
        mark = _last()
        assert _send(client, route, scenario.shared.id).status_code == 200
        downloads = AuditEvent.objects.filter(
            sequence__gt=mark, action=AuditAction.Case.PackageDownloaded
        )
        assert downloads.count() == 1, route.label
