"""The access matrix of the AI suggestion routes: each page and API operation, asked by the
case's clinic (clinician, staff), the connected lab's designer, another clinic, an
unconnected lab, the lab after the clinic withdrew the case, and roles without the
permission the route needs.

- Asking (``cases:suggestion_request``, ``suggestion_request``) needs ``Perm.DesignEdit``:
  only a lab designer holds it, so the clinic's people are refused by the route check (403),
  and the connected lab's designer gets the suggestion.
- Watching and reading (status, report, labels) need ``Perm.CaseView``.
- A caller who holds the permission but may not see the case gets 404, the same answer as
  for an id that exists nowhere, and the labels never leave.
- Every refusal leaves exactly one denied audit event naming the caller (``record:read`` for
  a read, ``record:write_deny`` for a request), and changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
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
from cuspid.cases.models import DesignSuggestion
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
from tests.factories.cases import make_case, send_case, transition
from tests.factories.compare import use_blob_dir
from tests.factories.suggestions import ready_suggestion

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
API = "/api/v1"
GIVEN, FAMILY = "Ottoline", "Brackenridge"


@dataclass(frozen=True, slots=True)
class Ids:
    case_id: UUID
    suggestion_id: UUID


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
        value = getattr(ids, self.names)
        if self.kind == "api":
            return API + self.path.format(**{self.names: value})
        return reverse(self.name, args=[value])

    def read(self) -> bool:
        return self.method == "GET"


ROUTES: tuple[Route, ...] = (
    Route("page", "cases:suggestion_request", "POST", "", "case_id"),
    Route("page", "cases:suggestion_status", "GET", "", "suggestion_id"),
    Route("page", "cases:suggestion_labels", "GET", "", "suggestion_id"),
    Route("api", "suggestion_request", "POST", "/cases/{case_id}/ai-suggestions", "case_id"),
    Route("api", "suggestion_get", "GET", "/ai-suggestions/{suggestion_id}", "suggestion_id"),
    Route(
        "api",
        "suggestion_labels",
        "GET",
        "/ai-suggestions/{suggestion_id}/labels",
        "suggestion_id",
    ),
)


def _send(client: Client, route: Route, ids: Ids) -> Any:
    url = route.url(ids)
    if route.read():
        return client.get(url)
    if route.kind == "api":
        return client.post(url, "{}", content_type="application/json")
    return client.post(url, {})


def test_the_table_covers_exactly_the_declared_suggestion_routes() -> None:
    declared = {("page", n) for n in routes.PAGES if n.startswith("cases:suggestion_")}
    declared |= {("api", n) for n in routes.OPERATIONS if n.startswith("suggestion_")}
    assert {(r.kind, r.name) for r in ROUTES} == declared
    for route in ROUTES:
        wanted = Perm.DesignEdit if route.name.endswith("suggestion_request") else Perm.CaseView
        assert route.rule.perm == wanted, route.label
    assert routes.PAGES["cases:suggestion_labels"].phi_data_type == routes.CASE_FILE
    assert routes.OPERATIONS["suggestion_labels"].phi_data_type == routes.CASE_FILE


def test_every_row_reaches_the_route_it_names() -> None:
    ids = Ids(uuid.uuid4(), uuid.uuid4())
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


def _suggested(people: People, lab: Organization) -> Ids:
    """A case sent to the lab and accepted, with a ready suggestion (two generated scans)."""
    clinician, designer = people.clinician, people.designer
    case = transition(designer, send_case(clinician, make_case(clinician, scans=2), lab), "accept")
    return Ids(case.id, ready_suggestion(designer, case).id)


@pytest.fixture
def scenario(
    clinic: Organization, other_clinic: Organization, lab: Organization, member_of: MemberOf
) -> Scenario:
    """Two cases of one patient with a ready AI suggestion each; the second then withdrawn
    from the lab."""
    people = people_of(clinic, other_clinic, lab, member_of, given_name=GIVEN, family_name=FAMILY)
    shared, withdrawn = _suggested(people, lab), _suggested(people, lab)
    case = DesignSuggestion.objects.get(id=withdrawn.suggestion_id).case
    transition(people.clinician, case, "revoke_share")
    reference = DesignSuggestion.objects.get(id=shared.suggestion_id).case.reference
    return Scenario(people=people, shared=shared, withdrawn=withdrawn, reference=reference)


def _snapshot() -> tuple[object, ...]:
    return (
        list(DesignSuggestion.objects.values_list("id", "status", "labels_id", "updated_at")),
        EncryptedBlob.objects.count(),
    )


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", list(Caller), ids=lambda c: c.name.lower())
def test_a_foreign_caller_is_refused_on_every_suggestion_route_and_audited(
    caller: Caller, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = member_for(scenario.people, caller)
    ids = scenario.withdrawn if caller == Caller.REVOKED_LAB else scenario.shared
    client = signed_in(membership.user)
    problems = refusal_problems(
        client,
        membership,
        ROUTES,
        ids,
        send=_send,
        snapshot=_snapshot,
        expected=lambda route: (
            404 if route.rule.perm in permissions_of(AccessRole(membership.role)) else 403
        ),
        secrets=(GIVEN, FAMILY, scenario.reference),
    )
    assert problems == []


def test_the_clinics_people_may_not_ask_for_a_suggestion(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    for membership in (scenario.people.clinician, scenario.people.staff):
        client = signed_in(membership.user)
        for route in ROUTES:
            if route.read():
                continue
            before = _snapshot()
            assert _send(client, route, scenario.shared).status_code == 403, route.label
            assert _snapshot() == before


# --- the owners ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["clinician", "staff", "designer"])
def test_the_case_owners_read_every_suggestion_route_and_reads_are_audited(
    role: str, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership: Membership = getattr(scenario.people, role)
    client = signed_in(membership.user)
    suggestion = DesignSuggestion.objects.get(id=scenario.shared.suggestion_id)
    patient_id = str(suggestion.patient_id)
    problems: list[str] = []
    for route in ROUTES:
        if not route.read() and role != "designer":
            continue
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
