"""The access matrix of the review routes (pins, comments, the review flow, mentions): each page
and API operation asked by the owning clinic, another clinic, the connected lab, an unconnected
lab, the lab after the clinic withdrew the case, and the clinic's patient-role member and admin.

- A role without the route's permission gets 403 before any lookup.
- A role with it that names an object it may not see gets 404, the same answer as for an id
  that exists nowhere: another clinic, an unconnected lab, the lab after the withdrawal (for
  its own pins and mentions too), someone else's mention.
- Every such refusal leaves exactly one denied audit event naming the caller
  (``record:read`` for a read, ``record:write_deny`` for a change) and changes nothing.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
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
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Annotation, Case, Comment, Mention
from cuspid.cases.selectors.review import mention_list_for
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.access.bodies import normalised as _normalised
from tests.factories import make_lab
from tests.factories.cases import actor_of, transition
from tests.factories.review import ReviewTeam, make_comment, make_pin, make_review_team, member

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

SignedIn = Callable[[User], Client]
API = "/api/v1"
GIVEN, FAMILY = "Zephyrine", "Quillfeather"
SECRET = "Nightguard worn nightly."
READS = frozenset({"GET", "HEAD"})


class Names(StrEnum):
    NOTHING = ""
    REVISION = "revision_id"
    ANNOTATION = "annotation_id"
    MENTION = "mention_id"


@dataclass(frozen=True, slots=True)
class Ids:
    revision_id: UUID
    annotation_id: UUID
    mention_id: UUID

    def randomised(self, names: Names) -> Ids:
        return self if names == Names.NOTHING else replace(self, **{names.value: uuid.uuid4()})


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # "page" or "api"
    name: str
    method: str
    path: tuple[str, ...] | str
    names: Names = Names.NOTHING
    body: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.kind} {self.name}"

    @property
    def rule(self) -> routes.RouteRule:
        return (routes.PAGES if self.kind == "page" else routes.OPERATIONS)[self.name]

    def url(self, ids: Ids) -> str:
        if isinstance(self.path, str):
            return API + self.path.format(**asdict(ids))
        values = asdict(ids)
        return reverse(self.name, kwargs={key: values[key] for key in self.path})

    def read(self) -> bool:
        return self.method in READS


R, N, M = Names.REVISION, Names.ANNOTATION, Names.MENTION
PIN_FORM = {"point": "1,2,3", "normal": "0,0,1", "text": "A pin."}
PIN_JSON = {"point": [1, 2, 3], "normal": [0, 0, 1], "text": "A pin."}

ROUTES: tuple[Route, ...] = (
    Route("page", "cases:revision_annotations", "GET", ("revision_id",), R),
    Route("page", "cases:annotation_new", "POST", ("revision_id",), R, PIN_FORM),
    Route("page", "cases:annotation_remove", "POST", ("annotation_id",), N, {}),
    Route("page", "cases:revision_comments", "GET", ("revision_id",), R),
    Route("page", "cases:comment_new", "POST", ("revision_id",), R, {"body": "A comment."}),
    Route("page", "cases:revision_send_for_review", "POST", ("revision_id",), R, {}),
    Route("page", "cases:revision_request_changes", "POST", ("revision_id",), R, {"reason": "x"}),
    Route("page", "cases:mention_list", "GET", ()),
    Route("page", "cases:mention_open", "POST", ("mention_id",), M, {}),
    Route("page", "cases:mention_read_all", "POST", (), Names.NOTHING, {}),
    Route("api", "annotation_list", "GET", "/revisions/{revision_id}/annotations", R),
    Route("api", "annotation_create", "POST", "/revisions/{revision_id}/annotations", R, PIN_JSON),
    Route("api", "annotation_delete", "DELETE", "/annotations/{annotation_id}", N),
    Route("api", "comment_list", "GET", "/revisions/{revision_id}/comments", R),
    Route("api", "comment_create", "POST", "/revisions/{revision_id}/comments", R, {"body": "x"}),
    Route(
        "api",
        "review_request_changes",
        "POST",
        "/revisions/{revision_id}/request-changes",
        R,
        {"reason": "x"},
    ),
    Route("api", "mention_list", "GET", "/mentions"),
    Route("api", "mention_read", "POST", "/mentions/{mention_id}/read", M, {}),
    Route("api", "mention_read_all", "POST", "/mentions/read", Names.NOTHING, {}),
)

REVIEW_PAGES = {
    "cases:revision_annotations",
    "cases:annotation_new",
    "cases:annotation_remove",
    "cases:revision_comments",
    "cases:comment_new",
    "cases:revision_send_for_review",
    "cases:revision_request_changes",
    "cases:mention_list",
    "cases:mention_open",
    "cases:mention_read_all",
}
REVIEW_OPERATIONS = {
    "annotation_list",
    "annotation_create",
    "annotation_delete",
    "comment_list",
    "comment_create",
    "review_request_changes",
    "mention_list",
    "mention_read",
    "mention_read_all",
}


def test_the_table_covers_exactly_the_review_routes() -> None:
    listed = {(r.kind, r.name) for r in ROUTES}
    declared = {("page", n) for n in REVIEW_PAGES} | {("api", n) for n in REVIEW_OPERATIONS}
    assert listed == declared
    assert set(routes.PAGES) >= REVIEW_PAGES
    assert set(routes.OPERATIONS) >= REVIEW_OPERATIONS
    labels = [r.label for r in ROUTES]
    assert len(labels) == len(set(labels))


def test_every_row_reaches_the_route_it_names(db: None) -> None:
    ids = Ids(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    schema = Client().get(f"{API}/openapi.json").json()
    for route in ROUTES:
        if route.kind == "page":
            assert resolve(route.url(ids)).view_name == route.name, route.label
        else:
            assert isinstance(route.path, str)
            operation = schema["paths"][API + route.path][route.method.lower()]
            assert operation["operationId"] == route.name, route.label


# --- the scenario ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    team: ReviewTeam
    admin: Membership
    patient_member: Membership
    other_clinician: Membership
    unconnected_designer: Membership
    shared_ids: Ids
    # The second case, withdrawn from the lab: the designer's own pin and mention on it.
    withdrawn_ids: Ids


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


def _ids_on(team: ReviewTeam, case_team: ReviewTeam) -> Ids:
    """A pin by the designer and a mention of the designer on ``case_team``'s revision."""
    pin = make_pin(team.designer, case_team.revision, SECRET)
    comment = make_comment(team.clinician, case_team.revision, f"@dev.patel {SECRET}")
    mention = Mention.objects.get(comment=comment, user=team.designer.user)
    return Ids(case_team.revision.id, pin.id, mention.id)


@pytest.fixture
def scenario(clinic: Organization, other_clinic: Organization, lab: Organization) -> Scenario:
    team = make_review_team(clinic, lab, patient_name=(GIVEN, FAMILY))
    shared_ids = _ids_on(team, team)
    # A second case of the same clinic and lab, with the same people.
    from tests.factories.cases import make_case, make_revision, send_case

    case = send_case(team.clinician, make_case(team.clinician, team.patient), lab)
    case = transition(team.designer, case, "accept")
    second = replace(team, case=case, revision=make_revision(team.designer, case))
    withdrawn_ids = _ids_on(team, second)
    transition(team.clinician, Case.objects.get(pk=case.pk), "revoke_share")
    return Scenario(
        team=team,
        admin=member(clinic, Role.ORG_ADMIN, "Ann Admin"),
        patient_member=member(clinic, Role.PATIENT, "Pat Patient"),
        other_clinician=member(other_clinic, Role.CLINICIAN, "Olga Other"),
        unconnected_designer=member(make_lab(name="Distant Lab"), Role.DESIGNER, "Una Far"),
        shared_ids=shared_ids,
        withdrawn_ids=withdrawn_ids,
    )


# --- helpers ---------------------------------------------------------------------------------


def _send(client: Client, route: Route, ids: Ids) -> TestResponse:
    url = route.url(ids)
    if route.method == "GET":
        return client.get(url)
    if route.method == "DELETE":
        return client.delete(url)
    if route.kind == "api":
        return client.post(url, json.dumps(route.body or {}), content_type="application/json")
    return client.post(url, route.body or {})


def _last() -> int:
    return int(AuditEvent.objects.aggregate(n=Max("sequence"))["n"] or 0)


def _events_since(mark: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=mark).order_by("sequence"))


def _mentions() -> dict[UUID, datetime.datetime | None]:
    return dict(Mention.objects.values_list("id", "read_at"))


def _snapshot() -> dict[str, object]:
    return {
        "cases": dict(Case.objects.values_list("id", "status")),
        "pins": sorted(str(i) for i in Annotation.objects.values_list("id", flat=True)),
        "comments": Comment.objects.count(),
        "mentions": dict(Mention.objects.values_list("id", "read_at")),
    }


def _holds(membership: Membership, route: Route) -> bool:
    perm = route.rule.perm
    return perm is None or perm in permissions_of(AccessRole(membership.role))


def _requested(route: Route, ids: Ids) -> str:
    return "" if route.names == Names.NOTHING else str(getattr(ids, route.names.value))


def _one_event(
    problems: list[str],
    route: Route,
    events: list[AuditEvent],
    membership: Membership,
    outcome: Outcome,
    subject: str,
) -> None:
    if not route.rule.phi:
        if events:
            problems.append(f"{route.label}: not PHI, yet recorded {[e.action for e in events]}")
        return
    action = AuditAction.Record.Read if route.read() else AuditAction.Record.WriteDenied
    if len(events) != 1:
        problems.append(f"{route.label}: {len(events)} audit events, expected 1")
        return
    [event] = events
    seen = (event.action, event.outcome, event.actor_user_id, event.subject_patient)
    wanted = (str(action), str(outcome), membership.user.pk, subject)
    if seen != wanted:
        problems.append(f"{route.label}: audit event {seen}, expected {wanted}")


class Caller(StrEnum):
    OTHER_CLINIC = "other clinic's clinician"
    UNCONNECTED_LAB = "unconnected lab's designer"
    REVOKED_LAB = "connected lab's designer, case withdrawn"
    PATIENT = "clinic's patient-role member"
    ADMIN = "clinic's admin"


def _caller(scenario: Scenario, caller: Caller) -> tuple[Membership, Ids]:
    membership = {
        Caller.OTHER_CLINIC: scenario.other_clinician,
        Caller.UNCONNECTED_LAB: scenario.unconnected_designer,
        Caller.REVOKED_LAB: scenario.team.designer,
        Caller.PATIENT: scenario.patient_member,
        Caller.ADMIN: scenario.admin,
    }[caller]
    ids = scenario.withdrawn_ids if caller == Caller.REVOKED_LAB else scenario.shared_ids
    return membership, ids


@pytest.mark.parametrize("caller", list(Caller), ids=lambda c: c.name.lower())
def test_a_foreign_caller_is_refused_on_every_route_and_each_refusal_is_audited(
    caller: Caller, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership, ids = _caller(scenario, caller)
    client = signed_in(membership.user)
    problems: list[str] = []
    for route in ROUTES:
        before, mentions_before, mark = _snapshot(), _mentions(), _last()
        response = _send(client, route, ids)
        body = response.content
        events = _events_since(mark)
        text = body.decode(errors="replace")
        leaked = [v for v in (GIVEN, FAMILY, SECRET) if v in text]
        if leaked:
            problems.append(f"{route.label}: the answer shows {leaked}")
        if route.names == Names.NOTHING:
            # The caller's own (empty) mentions: nothing of the scenario's.
            if not 200 <= response.status_code < 400:
                problems.append(f"{route.label}: {response.status_code}")
            # Marking all read changes the caller's own mentions on cases they see, only.
            after = _snapshot()
            own = {m.id for m in mention_list_for(actor=actor_of(membership))}
            changed = {k for k, v in _mentions().items() if mentions_before[k] != v}
            if changed - own or {**before, "mentions": None} != {**after, "mentions": None}:
                problems.append(f"{route.label}: the request changed something")
            continue
        if _snapshot() != before:
            problems.append(f"{route.label}: the request changed something")
        expected = 403 if not _holds(membership, route) else 404
        if response.status_code != expected:
            problems.append(f"{route.label}: {response.status_code}, expected {expected}")
            continue
        _one_event(problems, route, events, membership, Outcome.DENIED, "")
        random_ids = ids.randomised(route.names)
        absent = _send(client, route, random_ids)
        same = _normalised(absent.content, _requested(route, random_ids)) == _normalised(
            body, _requested(route, ids)
        )
        if absent.status_code != expected or not same:
            problems.append(f"{route.label}: answers a foreign id unlike an absent one")
    assert problems == []


class Owner(StrEnum):
    CLINICIAN = "clinic's clinician"
    STAFF = "clinic's staff"
    DESIGNER = "connected lab's designer"
    LAB_STAFF = "connected lab's staff"


@pytest.mark.parametrize("owner", list(Owner), ids=lambda o: o.name.lower())
def test_the_case_owners_read_every_route_their_role_holds_and_each_read_is_audited(
    owner: Owner, scenario: Scenario, signed_in: SignedIn
) -> None:
    team = scenario.team
    membership = {
        Owner.CLINICIAN: team.clinician,
        Owner.STAFF: team.staff,
        Owner.DESIGNER: team.designer,
        Owner.LAB_STAFF: team.lab_staff,
    }[owner]
    client = signed_in(membership.user)
    problems: list[str] = []
    for route in ROUTES:
        if not route.read():
            continue
        mark = _last()
        response = _send(client, route, scenario.shared_ids)
        events = _events_since(mark)
        if not 200 <= response.status_code < 300:
            problems.append(f"{route.label}: {response.status_code}")
            continue
        subject = "" if route.names == Names.NOTHING else str(team.patient.id)
        _one_event(problems, route, events, membership, Outcome.ALLOWED, subject)
        if owner in (Owner.DESIGNER, Owner.LAB_STAFF) and GIVEN in response.content.decode():
            problems.append(f"{route.label}: the lab sees who the patient is")
    assert problems == []


def test_lab_staff_and_the_wrong_side_are_refused_the_writes_their_role_lacks(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    team = scenario.team
    checks = [
        (team.lab_staff, "cases:annotation_new", 403),
        (team.lab_staff, "cases:comment_new", 403),
        (team.lab_staff, "cases:revision_send_for_review", 403),
        (team.clinician, "cases:revision_send_for_review", 403),
        (team.designer, "cases:revision_request_changes", 403),
        (team.lab_staff, "annotation_create", 403),
        (team.designer, "review_request_changes", 403),
    ]
    by_name = {r.name: r for r in ROUTES}
    problems: list[str] = []
    for who, name, expected in checks:
        route = by_name[name]
        before, mark = _snapshot(), _last()
        response = _send(signed_in(who.user), route, scenario.shared_ids)
        if response.status_code != expected:
            problems.append(f"{who.role} {route.label}: {response.status_code}")
        if _snapshot() != before:
            problems.append(f"{who.role} {route.label}: changed something")
        _one_event(problems, route, _events_since(mark), who, Outcome.DENIED, "")
    assert problems == []


def test_the_owners_writes_go_through_and_none_is_recorded_as_a_read(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    team = scenario.team
    ids = scenario.shared_ids
    steps: list[tuple[Membership, str]] = [
        (team.designer, "cases:annotation_new"),
        (team.clinician, "annotation_create"),
        (team.staff, "cases:comment_new"),
        (team.designer, "comment_create"),
        (team.designer, "cases:mention_open"),
        (team.designer, "mention_read"),
        (team.designer, "cases:mention_read_all"),
        (team.designer, "mention_read_all"),
        (team.designer, "cases:annotation_remove"),
        (team.designer, "cases:revision_send_for_review"),
        (team.clinician, "cases:revision_request_changes"),
    ]
    by_name = {r.name: r for r in ROUTES}
    problems: list[str] = []
    for who, name in steps:
        route = by_name[name]
        mark = _last()
        response = _send(signed_in(who.user), route, ids)
        if not 200 <= response.status_code < 400:
            problems.append(f"{route.label}: {response.status_code}")
        records = [e.action for e in _events_since(mark) if e.action.startswith("record:")]
        if records:
            problems.append(f"{route.label}: recorded {records}")
    assert problems == []
    assert Case.objects.get(pk=team.case.pk).status == "changes_requested"
    # The API's change request, on a case back in review.
    from tests.factories.cases import make_revision

    make_revision(team.designer, Case.objects.get(pk=team.case.pk), note="Second.")
    latest = team.case.revisions.order_by("-number").first()
    assert latest is not None
    transition(team.designer, Case.objects.get(pk=team.case.pk), "send_for_review")
    response = _send(
        signed_in(team.clinician.user),
        by_name["review_request_changes"],
        replace(ids, revision_id=latest.id),
    )
    assert response.status_code == 201
    # The API removes its author's pin; anyone else's is 403 (the clinic sees it: not 404).
    theirs = make_pin(team.designer, team.revision)
    mine = make_pin(team.clinician, team.revision)
    clinic = signed_in(team.clinician.user)
    assert clinic.delete(f"{API}/annotations/{theirs.id}").status_code == 403
    assert clinic.delete(f"{API}/annotations/{mine.id}").status_code == 204
