"""The access matrix of the compare routes: each page and API operation, asked by the case's
clinic (clinician, staff), the connected lab's designer, another clinic, an unconnected lab,
the lab after the clinic withdrew the case, and roles without the case-read permission.

- Every compare route needs ``Perm.CaseView``: an organisation admin and a patient-role
  member are refused by the route check (403), whatever the id.
- A caller who holds it but may not see the case (another clinic, an unconnected lab, the
  lab once the case is withdrawn) gets 404, the same answer as for an id that exists nowhere,
  and the distances never leave.
- Every refusal leaves exactly one denied audit event naming the caller (``record:read`` for
  a read, ``record:write_deny`` for a request), and changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from django.test import Client
from django.urls import resolve, reverse
from pytest_django.fixtures import Settings

from cuspid.access import routes
from cuspid.access.matrix import AccessRole, permissions_of
from cuspid.access.permissions import Perm
from cuspid.accounts.models import User
from cuspid.audit.enums import Outcome
from cuspid.cases.models import RevisionComparison
from cuspid.cases.services.compare import comparison_request
from cuspid.keys.models import EncryptedBlob
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.access.route_audit import (
    Caller,
    People,
    check_one_event,
    events_since,
    last_sequence,
    member_for,
    people_of,
    refusal_problems,
)
from tests.factories.cases import actor_of, transition
from tests.factories.compare import case_with_revisions, sphere_stl, use_blob_dir

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
API = "/api/v1"
GIVEN, FAMILY = "Zephyrine", "Quillfeather"


@dataclass(frozen=True, slots=True)
class Ids:
    revision_id: UUID
    baseline_id: UUID
    comparison_id: UUID


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # "page" or "api"
    name: str
    method: str
    path: str  # the API path template; pages are reversed by name
    names: str  # the id the route is about (randomised to ask for an absent one)

    @property
    def label(self) -> str:
        return f"{self.method} {self.kind} {self.name}"

    @property
    def rule(self) -> routes.RouteRule:
        return (routes.PAGES if self.kind == "page" else routes.OPERATIONS)[self.name]

    def url(self, ids: Ids) -> str:
        if self.kind == "api":
            return API + self.path.format(
                revision_id=ids.revision_id, comparison_id=ids.comparison_id
            )
        if self.names == "comparison_id":
            return reverse(self.name, args=[ids.comparison_id])
        return reverse(self.name, args=[ids.revision_id, ids.baseline_id])

    def read(self) -> bool:
        return self.method == "GET"


ROUTES: tuple[Route, ...] = (
    Route("page", "cases:revision_compare", "GET", "", "revision_id"),
    Route("page", "cases:revision_compare_request", "POST", "", "revision_id"),
    Route("page", "cases:comparison_distances", "GET", "", "comparison_id"),
    Route(
        "api", "comparison_request", "POST", "/revisions/{revision_id}/comparisons", "revision_id"
    ),
    Route("api", "comparison_get", "GET", "/comparisons/{comparison_id}", "comparison_id"),
    Route(
        "api",
        "comparison_distances",
        "GET",
        "/comparisons/{comparison_id}/distances",
        "comparison_id",
    ),
)


def _send(client: Client, route: Route, ids: Ids) -> Any:
    url = route.url(ids)
    if route.read():
        return client.get(url)
    if route.kind == "api":
        body = json.dumps({"baseline_id": str(ids.baseline_id)})
        return client.post(url, body, content_type="application/json")
    return client.post(url, {})


def test_the_table_covers_exactly_the_declared_compare_routes() -> None:
    pages = {
        "cases:revision_compare",
        "cases:revision_compare_request",
        "cases:comparison_distances",
    }
    operations = {name for name in routes.OPERATIONS if name.startswith("comparison_")}
    assert pages <= set(routes.PAGES)
    listed = {(r.kind, r.name) for r in ROUTES}
    assert listed == {("page", p) for p in pages} | {("api", o) for o in operations}
    for route in ROUTES:
        assert route.rule.perm == Perm.CaseView, route.label
    assert routes.PAGES["cases:comparison_distances"].phi_data_type == routes.CASE_FILE
    assert routes.OPERATIONS["comparison_distances"].phi_data_type == routes.CASE_FILE


def test_every_row_reaches_the_route_it_names() -> None:
    ids = Ids(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    schema = Client().get(f"{API}/openapi.json").json()
    for route in ROUTES:
        if route.kind == "page":
            assert resolve(route.url(ids)).view_name == route.name, route.label
        else:
            operation = schema["paths"][API + route.path][route.method.lower()]
            assert operation["operationId"] == route.name, route.label


# --- the scenario ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    people: People
    shared: Ids
    withdrawn: Ids
    reference: str


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    use_blob_dir(settings, tmp_path)


def _compared(people: People, lab: Organization) -> Ids:
    clinician = people.clinician
    meshes = [sphere_stl(2, 10.0), sphere_stl(2, 10.2)]
    made = case_with_revisions(clinician, people.designer, lab, meshes)
    older, newer = made.revisions
    comparison = comparison_request(actor=actor_of(clinician), revision=newer, baseline=older)
    return Ids(newer.id, older.id, comparison.id)


@pytest.fixture
def scenario(
    clinic: Organization, other_clinic: Organization, lab: Organization, member_of: MemberOf
) -> Scenario:
    """Two cases of one patient with two revisions compared; the second then withdrawn from
    the lab."""
    people = people_of(clinic, other_clinic, lab, member_of, given_name=GIVEN, family_name=FAMILY)
    shared, withdrawn = _compared(people, lab), _compared(people, lab)
    case = RevisionComparison.objects.get(id=withdrawn.comparison_id).case
    transition(people.clinician, case, "revoke_share")
    reference = RevisionComparison.objects.get(id=shared.comparison_id).case.reference
    return Scenario(people=people, shared=shared, withdrawn=withdrawn, reference=reference)


def _snapshot() -> tuple[object, ...]:
    return (
        list(RevisionComparison.objects.values_list("id", "status", "blob_id", "updated_at")),
        EncryptedBlob.objects.count(),
    )


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", list(Caller), ids=lambda c: c.name.lower())
def test_a_foreign_caller_is_refused_on_every_compare_route_and_audited(
    caller: Caller, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = member_for(scenario.people, caller)
    ids = scenario.withdrawn if caller == Caller.REVOKED_LAB else scenario.shared
    holds = Perm.CaseView in permissions_of(AccessRole(membership.role))
    assert holds == (caller not in (Caller.PATIENT, Caller.ADMIN))
    expected = 404 if holds else 403
    client = signed_in(membership.user)
    problems = refusal_problems(
        client,
        membership,
        ROUTES,
        ids,
        send=_send,
        snapshot=_snapshot,
        expected=lambda route: expected,
        secrets=(GIVEN, FAMILY, scenario.reference),
    )
    assert problems == []


def test_a_baseline_the_caller_cannot_see_answers_like_an_absent_one(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    # The clinic's own revision against the withdrawn case's: the lab sees only one of them.
    client = signed_in(scenario.people.designer.user)
    mixed = replace(scenario.shared, baseline_id=scenario.withdrawn.baseline_id)
    absent = replace(scenario.shared, baseline_id=uuid.uuid4())
    for route in ROUTES:
        if route.names != "revision_id":
            continue
        before = _snapshot()
        foreign, missing = _send(client, route, mixed), _send(client, route, absent)
        assert (foreign.status_code, missing.status_code) == (404, 404), route.label
        assert _snapshot() == before


# --- the owners ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinician", "staff", "designer"])
def test_the_case_owners_reach_every_compare_route_and_reads_are_audited(
    role: str, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership: Membership = getattr(scenario.people, role)
    client = signed_in(membership.user)
    patient_id = str(RevisionComparison.objects.get(id=scenario.shared.comparison_id).patient_id)
    problems: list[str] = []
    for route in ROUTES:
        mark = last_sequence()
        response = _send(client, route, scenario.shared)
        body = response.getvalue() if response.streaming else response.content
        if not 200 <= response.status_code < 400:
            problems.append(f"{route.label}: {response.status_code}")
            continue
        records = [e for e in events_since(mark) if e.action.startswith("record:")]
        if route.read():
            check_one_event(problems, route, records, membership, Outcome.ALLOWED, patient_id)
        elif records:
            problems.append(f"{route.label}: a request recorded {[e.action for e in records]}")
        if role == "designer" and (GIVEN.encode() in body or FAMILY.encode() in body):
            problems.append(f"{route.label}: the lab sees who the patient is")
    assert problems == []
