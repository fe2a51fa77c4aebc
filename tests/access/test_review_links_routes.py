"""The access matrix of the review-link routes: each page and API operation, asked by the
owning clinic's clinician, its staff and admin, another clinic's clinician, the connected
lab, an unconnected lab and the lab after the clinic withdrew the case; and the public
routes, which only the token opens.

- Managing links needs ``Perm.ReviewLinkManage`` (clinicians): every other role is refused
  by the route check before any lookup, 403, the same for a foreign id as for an absent one.
- A clinician of another clinic holds the permission but may not see the case: 404, with
  the same body as for a random id, never 403.
- Every refusal leaves exactly one denied audit event naming the caller (``record:read``
  for a read, ``record:write_deny`` for a change), and changes nothing.
- The public routes are reached signed out; a signed-in member is nobody special there: the
  token decides, and a refused token answers the same 404 to everyone.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from django.db.models import Max
from django.test import Client
from django.urls import resolve, reverse
from pytest_django.fixtures import Settings

from cuspid.access import routes
from cuspid.access.matrix import AccessRole, permissions_of
from cuspid.access.permissions import Perm
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Attachment, ReviewLink
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.access.bodies import normalised as _normalised
from tests.factories import make_lab, make_lab_connection
from tests.factories.cases import transition
from tests.factories.review_links import (
    IDENTITY,
    SharedRevision,
    make_review_link,
    shared_revision,
)

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
API = "/api/v1"


class Names(StrEnum):
    REVISION = "revision_id"
    LINK = "link_id"


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # "page" or "api"
    name: str
    method: str
    names: Names
    path: str = ""  # an API operation's path template
    body: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.kind} {self.name}"

    @property
    def rule(self) -> routes.RouteRule:
        return (routes.PAGES if self.kind == "page" else routes.OPERATIONS)[self.name]

    def url(self, object_id: UUID) -> str:
        if self.kind == "api":
            return API + self.path.format(**{self.names.value: object_id})
        return reverse(self.name, kwargs={self.names.value: object_id})

    def send(self, client: Client, object_id: UUID) -> TestResponse:
        url = self.url(object_id)
        if self.method == "GET":
            return client.get(url)
        if self.kind == "api":
            return client.post(url, json.dumps(self.body or {}), content_type="application/json")
        return client.post(url, self.body or {})


CREATE_FORM = {"expires_in_hours": "72", "label": "Dr Roy"}
MANAGED: tuple[Route, ...] = (
    Route("page", "cases:review_link_panel", "GET", Names.REVISION),
    Route("page", "cases:review_link_panel", "POST", Names.REVISION, body=CREATE_FORM),
    Route("page", "cases:review_link_revoke", "POST", Names.LINK),
    Route(
        "api", "review_link_list", "GET", Names.REVISION, "/revisions/{revision_id}/review-links"
    ),
    Route(
        "api",
        "review_link_create",
        "POST",
        Names.REVISION,
        "/revisions/{revision_id}/review-links",
        {"label": "Dr Roy"},
    ),
    Route("api", "review_link_revoke", "POST", Names.LINK, "/review-links/{link_id}/revoke"),
)
PUBLIC_PAGES = ("cases:review_link_page", "cases:review_link_file", "cases:review_link_comment")


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


def test_the_table_covers_exactly_the_declared_review_link_routes() -> None:
    declared = {("page", n) for n in routes.PAGES if n.startswith("cases:review_link")}
    declared |= {("api", n) for n in routes.OPERATIONS if n.startswith("review_link")}
    listed = {(r.kind, r.name) for r in MANAGED} | {("page", n) for n in PUBLIC_PAGES}
    assert declared == listed
    for route in MANAGED:
        assert route.rule == routes.needs(Perm.ReviewLinkManage, phi=routes.CASE), route.label
    for name in PUBLIC_PAGES:
        assert routes.PAGES[name] == routes.PUBLIC


def test_every_row_reaches_the_route_it_names() -> None:
    schema = Client().get(f"{API}/openapi.json").json()
    object_id = uuid.uuid4()
    for route in MANAGED:
        url = route.url(object_id)
        assert str(object_id) in url
        if route.kind == "page":
            assert resolve(url).view_name == route.name
        else:
            operation = schema["paths"][API + route.path][route.method.lower()]
            assert operation["operationId"] == route.name


@dataclass(frozen=True, slots=True)
class Scenario:
    shared: SharedRevision
    withdrawn: SharedRevision
    link: ReviewLink
    withdrawn_link: ReviewLink
    token: str
    staff: Membership
    admin: Membership
    other_clinician: Membership
    lab_staff: Membership
    unconnected_designer: Membership

    def ids(self, names: Names, *, withdrawn: bool = False) -> UUID:
        if names == Names.REVISION:
            return (self.withdrawn if withdrawn else self.shared).revision.id
        return (self.withdrawn_link if withdrawn else self.link).id


@pytest.fixture
def scenario(
    clinic: Organization,
    other_clinic: Organization,
    lab: Organization,
    member_of: MemberOf,
) -> Scenario:
    """Clinic A (a clinician, staff, an admin) sharing two revised cases with lab L, the
    second withdrawn since; clinic B's clinician; lab M, not connected. One link on each."""
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = member_of(clinic, Role.CLINICIAN)
    designer = member_of(lab, Role.DESIGNER)
    shared = shared_revision(clinician, designer, lab)
    withdrawn = shared_revision(clinician, designer, lab)
    transition(clinician, withdrawn.case, "revoke_share")
    link, token = make_review_link(clinician, shared.revision)
    withdrawn_link, _ = make_review_link(clinician, withdrawn.revision)
    return Scenario(
        shared=shared,
        withdrawn=withdrawn,
        link=link,
        withdrawn_link=withdrawn_link,
        token=token,
        staff=member_of(clinic, Role.STAFF),
        admin=member_of(clinic, Role.ORG_ADMIN),
        other_clinician=member_of(other_clinic, Role.CLINICIAN),
        lab_staff=member_of(lab, Role.LAB_STAFF),
        unconnected_designer=member_of(make_lab(name="Distant Lab"), Role.DESIGNER),
    )


def _last_sequence() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _events_since(sequence: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def _snapshot() -> list[tuple[object, ...]]:
    return list(
        ReviewLink.objects.order_by("id").values_list("id", "revoked_at", "label", "open_count")
    )


class Caller(StrEnum):
    STAFF = "clinic's staff"
    ADMIN = "clinic's admin"
    OTHER_CLINIC = "other clinic's clinician"
    LAB_DESIGNER = "connected lab's designer"
    LAB_STAFF = "connected lab's staff"
    UNCONNECTED_LAB = "unconnected lab's designer"
    REVOKED_LAB = "connected lab's designer, case withdrawn"


def _caller(scenario: Scenario, caller: Caller) -> Membership:
    return {
        Caller.STAFF: scenario.staff,
        Caller.ADMIN: scenario.admin,
        Caller.OTHER_CLINIC: scenario.other_clinician,
        Caller.LAB_DESIGNER: scenario.shared.designer,
        Caller.LAB_STAFF: scenario.lab_staff,
        Caller.UNCONNECTED_LAB: scenario.unconnected_designer,
        Caller.REVOKED_LAB: scenario.shared.designer,
    }[caller]


@pytest.mark.parametrize("caller", list(Caller), ids=lambda c: c.name.lower())
def test_a_caller_other_than_the_clinic_clinician_is_refused_and_audited(
    caller: Caller, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = _caller(scenario, caller)
    holds = Perm.ReviewLinkManage in permissions_of(AccessRole(membership.role))
    expected = 404 if holds else 403
    assert (caller == Caller.OTHER_CLINIC) == holds
    client = signed_in(membership.user)
    problems: list[str] = []
    for route in MANAGED:
        object_id = scenario.ids(route.names, withdrawn=caller == Caller.REVOKED_LAB)
        before, mark = _snapshot(), _last_sequence()
        response = route.send(client, object_id)
        body = response.content
        events = _events_since(mark)
        if response.status_code != expected:
            problems.append(f"{route.label}: {response.status_code}, expected {expected}")
        if _snapshot() != before:
            problems.append(f"{route.label}: the request changed something")
        text = body.decode(errors="replace")
        leaked = [v for v in (*IDENTITY, scenario.shared.case.reference) if v in text]
        if leaked:
            problems.append(f"{route.label}: the answer shows {leaked}")
        action = (
            AuditAction.Record.Read if route.method == "GET" else AuditAction.Record.WriteDenied
        )
        seen = [(e.action, e.outcome, e.actor_user_id, e.subject_patient) for e in events]
        wanted = [(str(action), str(Outcome.DENIED), membership.user.pk, "")]
        if seen != wanted:
            problems.append(f"{route.label}: audit {seen}, expected {wanted}")
        # The same answer as for an id that exists nowhere.
        absent_id = uuid.uuid4()
        absent = route.send(client, absent_id)
        if absent.status_code != expected or _normalised(absent.content, absent_id) != (
            _normalised(body, object_id)
        ):
            problems.append(f"{route.label}: answers a foreign id unlike an absent one")
    assert problems == []


def test_the_clinic_clinician_reaches_every_route_and_each_is_audited(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    clinician = scenario.shared.clinician
    client = signed_in(clinician.user)
    patient = str(scenario.shared.patient.id)
    expected = {
        "GET page cases:review_link_panel": (200, AuditAction.Record.Read),
        "POST page cases:review_link_panel": (200, AuditAction.Case.ReviewLinkCreated),
        "GET api review_link_list": (200, AuditAction.Record.Read),
        "POST api review_link_create": (201, AuditAction.Case.ReviewLinkCreated),
        "POST page cases:review_link_revoke": (302, AuditAction.Case.ReviewLinkRevoked),
        "POST api review_link_revoke": (200, AuditAction.Case.ReviewLinkRevoked),
    }
    for route in MANAGED:
        object_id = scenario.ids(route.names)
        if route.names == Names.LINK:
            # A fresh link for each revoke: revoking a revoked one audits nothing.
            object_id = make_review_link(clinician, scenario.shared.revision)[0].id
        mark = _last_sequence()
        response = route.send(client, object_id)
        status, action = expected[route.label]
        assert response.status_code == status, route.label
        events = _events_since(mark)
        assert [(e.action, e.outcome, e.subject_patient) for e in events] == [
            (str(action), str(Outcome.ALLOWED), patient)
        ], route.label


def test_the_public_routes_open_with_the_token_alone_for_anyone(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    design = Attachment.objects.get(revision=scenario.shared.revision)
    anyone = [
        Client(),
        signed_in(scenario.other_clinician.user),
        signed_in(scenario.unconnected_designer.user),
    ]
    for client in anyone:
        page = client.get(reverse("cases:review_link_page", args=[scenario.token]))
        assert page.status_code == 200
        stream = client.get(reverse("cases:review_link_file", args=[scenario.token, design.id]))
        assert stream.status_code == 200
        assert stream.getvalue()
        guessed = "D" * 43
        refused = client.get(reverse("cases:review_link_page", args=[guessed]))
        assert refused.status_code == 404
        refused_stream = client.get(reverse("cases:review_link_file", args=[guessed, design.id]))
        assert refused_stream.status_code == 404
        # A view-only link takes no comment, whoever posts it.
        comment = client.post(
            reverse("cases:review_link_comment", args=[scenario.token]),
            {"author_name": "Dr Roy", "text": "Hello."},
        )
        assert comment.status_code == 404
