"""The access matrix of every patient and case route: each page and API operation, asked by
the owning clinic, another clinic, the connected lab, an unconnected lab, the lab after the
clinic withdrew the case, and the clinic's own patient-role member and admin.

What each caller gets follows from the route declarations (``cuspid.access.routes``) and the
role matrix (``cuspid.access.matrix``):

- A role that lacks the route's permission altogether is refused by the route check before
  any lookup: 403, the same answer for a foreign id as for an absent one. The patient role
  lacks every case permission (403 on every case route, and on patient changes); designers
  lack the patient permissions and the clinic's case changes (403 there); an organisation
  admin holds none of them (403 everywhere).
- A role that holds the permission but names an object it may not see gets 404, with the
  same body as for a random id: another clinic's clinician, an unconnected lab's designer,
  the connected lab once the case is withdrawn, and a patient asking for another patient's
  record. These never get 403 on a case read.
- A route that names no object (a list, the new-record forms) answers with the caller's own
  records, none of the scenario's.

Every refusal leaves exactly one denied audit event naming the caller: ``record:read`` for a
read, ``record:write_deny`` for a change. A refusal changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
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
from cuspid.cases.models import Attachment, Case, CaseEvent, Revision
from cuspid.keys.models import EncryptedBlob
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo_scans import arch_stl
from tests.access.bodies import normalised as _normalised
from tests.access.route_modules import routes_served_by
from tests.factories import make_lab, make_lab_connection
from tests.factories.cases import (
    first_scan,
    make_case,
    make_patient,
    make_revision,
    send_case,
    transition,
)

if TYPE_CHECKING:
    # The test client's response type (with .templates and .json()) is private in the stubs.
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

# Who the scenario's patient is: unusual enough that finding it in an answer means a leak.
GIVEN, FAMILY, HEALTH_CARD = "Zephyrine", "Quillfeather", "9876-543-210-ZQ"
API = "/api/v1"
READS = frozenset({"GET", "HEAD"})


class Names(StrEnum):
    """The object a request names (in its path or, for a new case, in its body)."""

    NOTHING = ""
    PATIENT = "patient_id"
    CASE = "case_id"
    ATTACHMENT = "attachment_id"
    REVISION = "revision_id"


@dataclass(frozen=True, slots=True)
class Ids:
    """The ids a request may name; the field names are the routes' path parameters."""

    patient_id: UUID
    case_id: UUID
    attachment_id: UUID
    revision_id: UUID
    # The lab a case is sent to (body of the send routes); never the object asked for.
    lab_id: UUID

    def randomised(self, names: Names) -> Ids:
        """The same ids with the named one replaced by an id that exists nowhere."""
        return self if names == Names.NOTHING else replace(self, **{names.value: uuid.uuid4()})


Body = Callable[[Ids], dict[str, Any]]


@cache
def _stl() -> bytes:
    return arch_stl(1)


def _stl_file(name: str = "scan.stl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, _stl(), content_type="model/stl")


PATIENT_FORM: dict[str, str] = {
    "given_name": "Ada",
    "family_name": "Byron",
    "date_of_birth": "1981-02-03",
    "sex": "",
    "preferred_language": "en",
}
PATIENT_JSON: dict[str, str] = {
    "given_name": "Ada",
    "family_name": "Byron",
    "date_of_birth": "1981-02-03",
    "preferred_language": "en",
}
CASE_FORM: dict[str, Any] = {
    "case_type": "crown",
    "teeth": ["36"],
    "material": "zirconia",
    "shade": "A3",
    "priority": "routine",
    "notes": "Changed by the access matrix.",
}
CASE_JSON: dict[str, Any] = {
    "case_type": "crown",
    "teeth": [36],
    "material": "zirconia",
    "shade": "A3",
    "priority": "routine",
    "notes": "Changed by the access matrix.",
}


@dataclass(frozen=True, slots=True)
class Route:
    """One row of the matrix: a page (URL name) or API operation (id) and one method."""

    kind: str  # "page" or "api"
    name: str
    method: str
    # A page's URL parameters (reversed by name), or an API operation's path template.
    path: tuple[str, ...] | str
    names: Names = Names.NOTHING
    body: Body | None = None
    json: bool = False

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


def _page(
    name: str,
    method: str = "GET",
    *params: str,
    names: Names = Names.NOTHING,
    body: Body | None = None,
) -> Route:
    return Route("page", name, method, tuple(params), names, body)


def _api(
    name: str, method: str, path: str, names: Names = Names.NOTHING, body: Body | None = None
) -> Route:
    """An operation read, or sent a multipart body (uploads)."""
    return Route("api", name, method, path, names, body)


def _json(name: str, method: str, path: str, names: Names, body: Body) -> Route:
    """An operation sent a JSON body."""
    return Route("api", name, method, path, names, body, json=True)


P, C, A, R = Names.PATIENT, Names.CASE, Names.ATTACHMENT, Names.REVISION

# Every patient and case route, each method it answers. The rows are in the order a clinic
# uses them on one draft case (the clinic's write test sends them in this order).
ROUTES: tuple[Route, ...] = (
    _page("patients:patient_list"),
    _page("patients:patient_new"),
    _page("patients:patient_new", "POST", body=lambda ids: dict(PATIENT_FORM)),
    _page("patients:patient_detail", "GET", "patient_id", names=P),
    _page("patients:patient_edit", "GET", "patient_id", names=P),
    _page(
        "patients:patient_edit", "POST", "patient_id", names=P, body=lambda ids: dict(PATIENT_FORM)
    ),
    _page("cases:case_list"),
    _page("cases:case_new"),
    _page(
        "cases:case_new",
        "POST",
        names=P,
        body=lambda ids: {**CASE_FORM, "patient": str(ids.patient_id)},
    ),
    _page("cases:case_detail", "GET", "case_id", names=C),
    _page("cases:case_edit", "GET", "case_id", names=C),
    _page("cases:case_edit", "POST", "case_id", names=C, body=lambda ids: dict(CASE_FORM)),
    _page("cases:case_files", "GET", "case_id", names=C),
    _page("cases:case_files", "POST", "case_id", names=C, body=lambda ids: {"file": _stl_file()}),
    _page("cases:case_send", "GET", "case_id", names=C),
    _page("cases:case_send", "POST", "case_id", names=C, body=lambda ids: {"lab": str(ids.lab_id)}),
    # Withdrawing moves a submitted case back to draft, so the clinic's writes can go on.
    _page(
        "cases:case_transition",
        "POST",
        "case_id",
        names=C,
        body=lambda ids: {"action": "revoke_share", "reason": ""},
    ),
    _page("cases:revision_new", "GET", "case_id", names=C),
    _page(
        "cases:revision_new",
        "POST",
        "case_id",
        names=C,
        body=lambda ids: {"design_files": _stl_file("crown.stl"), "note": "A design."},
    ),
    _page("cases:attachment_download", "GET", "attachment_id", names=A),
    _api("patient_list", "GET", "/patients"),
    _json("patient_create", "POST", "/patients", Names.NOTHING, lambda ids: dict(PATIENT_JSON)),
    _api("patient_get", "GET", "/patients/{patient_id}", P),
    _json("patient_update", "PUT", "/patients/{patient_id}", P, lambda ids: dict(PATIENT_JSON)),
    _api("case_list", "GET", "/cases"),
    _json(
        "case_create",
        "POST",
        "/cases",
        P,
        lambda ids: {**CASE_JSON, "patient_id": str(ids.patient_id)},
    ),
    _api("case_get", "GET", "/cases/{case_id}", C),
    _json("case_update", "PUT", "/cases/{case_id}", C, lambda ids: dict(CASE_JSON)),
    _json("case_send", "POST", "/cases/{case_id}/send", C, lambda ids: {"lab_id": str(ids.lab_id)}),
    _json(
        "case_transition",
        "POST",
        "/cases/{case_id}/transitions",
        C,
        lambda ids: {"action": "revoke_share"},
    ),
    _api("case_event_list", "GET", "/cases/{case_id}/events", C),
    _api("attachment_list", "GET", "/cases/{case_id}/attachments", C),
    _api(
        "attachment_upload",
        "POST",
        "/cases/{case_id}/attachments",
        C,
        lambda ids: {"file": _stl_file()},
    ),
    _api("attachment_download", "GET", "/attachments/{attachment_id}/content", A),
    _api("revision_list", "GET", "/cases/{case_id}/revisions", C),
    _api(
        "revision_create",
        "POST",
        "/cases/{case_id}/revisions",
        C,
        lambda ids: {"files": [_stl_file("crown.stl")], "note": "A design."},
    ),
    _api("revision_get", "GET", "/revisions/{revision_id}", R),
)

# The patient and case rooms of issue 7; each review feature (issue 8) has its own matrix.
CASE_MODULES = (
    "cuspid.patients.views",
    "cuspid.patients.api",
    "cuspid.cases.views",
    "cuspid.cases.api",
)


def test_the_table_covers_exactly_the_patient_and_case_routes() -> None:
    declared = routes_served_by(*CASE_MODULES)
    listed = {(route.kind, route.name) for route in ROUTES}
    assert sorted(declared - listed) == [], "declared routes missing from the matrix"
    assert sorted(listed - declared) == [], "matrix rows for routes nobody declared"
    labels = [route.label for route in ROUTES]
    assert len(labels) == len(set(labels)), "a route and method listed twice"


def test_every_row_reaches_the_route_it_names() -> None:
    ids = Ids(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    schema = Client().get(f"{API}/openapi.json").json()
    for route in ROUTES:
        url = route.url(ids)
        if route.kind == "page":
            assert resolve(url).view_name == route.name, route.label
        else:
            assert isinstance(route.path, str)
            operation = schema["paths"][API + route.path][route.method.lower()]
            assert operation["operationId"] == route.name, route.label
        if route.names != Names.NOTHING and route.body is None:
            assert str(getattr(ids, route.names.value)) in url, route.label


# --- the scenario ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    clinician: Membership
    staff: Membership
    admin: Membership
    patient_member: Membership
    other_clinician: Membership
    designer: Membership
    unconnected_designer: Membership
    patient: Patient
    # Sent to the connected lab, accepted, revision 1: the lab holds it.
    shared: Case
    shared_ids: Ids
    # Sent to the connected lab, accepted, revision 1, then withdrawn by the clinic.
    withdrawn: Case
    withdrawn_ids: Ids


@pytest.fixture(autouse=True)
def _blob_store(settings: Settings, tmp_path: Path) -> None:
    """Stored files and upload temporary files of the test under its own directory."""
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    uploads = tmp_path / "upload-tmp"
    uploads.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(uploads)


def _ids(case: Case, lab: Organization) -> Ids:
    revision = Revision.objects.get(case=case, number=1)
    return Ids(
        patient_id=case.patient_id,
        case_id=case.id,
        attachment_id=first_scan(case).id,
        revision_id=revision.id,
        lab_id=lab.id,
    )


def _sent_accepted_revised(
    clinician: Membership, designer: Membership, lab: Organization, patient: Patient
) -> Case:
    case = send_case(clinician, make_case(clinician, patient), lab)
    case = transition(designer, case, "accept")
    make_revision(designer, case)
    case.refresh_from_db()
    return case


@pytest.fixture
def scenario(
    clinic: Organization,
    other_clinic: Organization,
    lab: Organization,
    member_of: MemberOf,
) -> Scenario:
    """Clinic A with its people and one patient, clinic B, lab L connected to A, lab M not.

    Two cases of the patient, each with one scan, sent to L, accepted and revised once; the
    second then withdrawn by the clinic (L no longer holds it).
    """
    make_lab_connection(clinic=clinic, lab=lab)
    unconnected_lab = make_lab(name="Distant Lab")
    clinician = member_of(clinic, Role.CLINICIAN)
    designer = member_of(lab, Role.DESIGNER)
    patient = make_patient(clinician, given_name=GIVEN, family_name=FAMILY, health_card=HEALTH_CARD)
    shared = _sent_accepted_revised(clinician, designer, lab, patient)
    withdrawn = _sent_accepted_revised(clinician, designer, lab, patient)
    withdrawn = transition(clinician, withdrawn, "revoke_share")
    assert (withdrawn.status, withdrawn.shared_with_lab_id) == ("draft", None)
    return Scenario(
        clinician=clinician,
        staff=member_of(clinic, Role.STAFF),
        admin=member_of(clinic, Role.ORG_ADMIN),
        patient_member=member_of(clinic, Role.PATIENT),
        other_clinician=member_of(other_clinic, Role.CLINICIAN),
        designer=designer,
        unconnected_designer=member_of(unconnected_lab, Role.DESIGNER),
        patient=patient,
        shared=shared,
        shared_ids=_ids(shared, lab),
        withdrawn=withdrawn,
        withdrawn_ids=_ids(withdrawn, lab),
    )


# --- helpers ---------------------------------------------------------------------------------


def _send(client: Client, route: Route, ids: Ids) -> TestResponse:
    url = route.url(ids)
    if route.method == "GET":
        return client.get(url)
    body = route.body(ids) if route.body is not None else {}
    if route.json:
        return client.generic(route.method, url, json.dumps(body), content_type="application/json")
    assert route.method == "POST", route.label
    return client.post(url, body)


def _content(response: TestResponse) -> bytes:
    """The whole body, a streamed download included (read to the end, which closes it)."""
    return response.getvalue()


def _last_sequence() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _events_since(sequence: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def _record_events_since(sequence: int) -> list[AuditEvent]:
    return [e for e in _events_since(sequence) if e.action.startswith("record:")]


def _snapshot() -> dict[str, object]:
    """Everything a refused request must leave as it was."""
    return {
        "patients": dict(Patient.objects.values_list("id", "updated_at")),
        "cases": {
            row[0]: row[1:]
            for row in Case.objects.values_list("id", "status", "shared_with_lab_id", "updated_at")
        },
        "attachments": Attachment.objects.count(),
        "revisions": Revision.objects.count(),
        "timeline": CaseEvent.objects.count(),
        "blobs": EncryptedBlob.objects.count(),
    }


def _role(membership: Membership) -> AccessRole:
    return AccessRole(membership.role)


def _holds(membership: Membership, route: Route) -> bool:
    perm = route.rule.perm
    assert perm is not None, route.label
    return perm in permissions_of(_role(membership))


def _requested(route: Route, ids: Ids) -> str:
    return "" if route.names == Names.NOTHING else str(getattr(ids, route.names.value))


def _check_one_event(
    problems: list[str],
    route: Route,
    events: list[AuditEvent],
    membership: Membership,
    outcome: Outcome,
    subject: str,
) -> None:
    action = AuditAction.Record.Read if route.read() else AuditAction.Record.WriteDenied
    if len(events) != 1:
        problems.append(f"{route.label}: {len(events)} audit events, expected 1: {events}")
        return
    [event] = events
    seen = (event.action, event.outcome, event.actor_user_id, event.subject_patient)
    wanted = (str(action), str(outcome), membership.user.pk, subject)
    if seen != wanted:
        problems.append(f"{route.label}: audit event {seen}, expected {wanted}")
    if event.data_type != route.rule.phi_data_type:
        problems.append(f"{route.label}: data type {event.data_type!r}")


# --- refusals --------------------------------------------------------------------------------


class Caller(StrEnum):
    OTHER_CLINIC = "other clinic's clinician"
    UNCONNECTED_LAB = "unconnected lab's designer"
    REVOKED_LAB = "connected lab's designer, case withdrawn"
    PATIENT = "clinic's patient-role member"
    ADMIN = "clinic's admin"


# Callers who hold the case-read permission but may not see the case: every route behind it
# that names a case, file or revision (reads, and workflow steps) is 404 for them, never 403.
MUST_404_ON_CASE_READS = frozenset(
    {Caller.OTHER_CLINIC, Caller.UNCONNECTED_LAB, Caller.REVOKED_LAB}
)


def _caller(scenario: Scenario, caller: Caller) -> tuple[Membership, Ids]:
    membership = {
        Caller.OTHER_CLINIC: scenario.other_clinician,
        Caller.UNCONNECTED_LAB: scenario.unconnected_designer,
        Caller.REVOKED_LAB: scenario.designer,
        Caller.PATIENT: scenario.patient_member,
        Caller.ADMIN: scenario.admin,
    }[caller]
    ids = scenario.withdrawn_ids if caller == Caller.REVOKED_LAB else scenario.shared_ids
    return membership, ids


def _expected_refusal(membership: Membership, route: Route) -> int | None:
    """403 without the route's permission, 404 for a named object; None: nothing foreign."""
    if not _holds(membership, route):
        return 403
    if route.names != Names.NOTHING:
        return 404
    return None


def _leaks(body: bytes, case: Case) -> list[str]:
    text = body.decode(errors="replace")
    return [value for value in (GIVEN, FAMILY, HEALTH_CARD, case.reference) if value in text]


@pytest.mark.parametrize("caller", list(Caller), ids=lambda c: c.name.lower())
def test_a_foreign_caller_is_refused_on_every_route_and_each_refusal_is_audited(
    caller: Caller, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership, ids = _caller(scenario, caller)
    case = scenario.withdrawn if caller == Caller.REVOKED_LAB else scenario.shared
    client = signed_in(membership.user)
    problems: list[str] = []
    for route in ROUTES:
        expected = _expected_refusal(membership, route)
        if caller in MUST_404_ON_CASE_READS and route.rule.perm == Perm.CaseView and route.names:
            assert expected == 404, f"{route.label}: the declarations would answer {expected}"
        if expected is None and not route.read():
            # A new record with nothing named: the caller's own clinic, nothing foreign.
            continue
        before, mark = _snapshot(), _last_sequence()
        response = _send(client, route, ids)
        body = _content(response)
        events = _events_since(mark)
        if _snapshot() != before:
            problems.append(f"{route.label}: the request changed something")
        leaked = _leaks(body, case)
        if leaked:
            problems.append(f"{route.label}: the answer shows {leaked}")
        if expected is None:
            # A list or a blank form: the caller's own (empty) records, one allowed read.
            if response.status_code != 200:
                problems.append(f"{route.label}: {response.status_code}, expected 200")
            _check_one_event(problems, route, events, membership, Outcome.ALLOWED, "")
            continue
        if response.status_code != expected:
            problems.append(f"{route.label}: {response.status_code}, expected {expected}")
            continue
        _check_one_event(problems, route, events, membership, Outcome.DENIED, "")
        # The same answer as for an id that exists nowhere.
        random_ids = ids.randomised(route.names)
        absent = _send(client, route, random_ids)
        same = _normalised(_content(absent), _requested(route, random_ids)) == _normalised(
            body, _requested(route, ids)
        )
        if absent.status_code != expected or not same:
            problems.append(f"{route.label}: answers a foreign id unlike an absent one")
    assert problems == []


# --- the owners ------------------------------------------------------------------------------


class Owner(StrEnum):
    CLINICIAN = "clinic's clinician"
    STAFF = "clinic's staff"
    DESIGNER = "connected lab's designer"


def _owner(scenario: Scenario, owner: Owner) -> Membership:
    return {
        Owner.CLINICIAN: scenario.clinician,
        Owner.STAFF: scenario.staff,
        Owner.DESIGNER: scenario.designer,
    }[owner]


@pytest.mark.parametrize("owner", list(Owner), ids=lambda o: o.name.lower())
def test_the_case_owners_read_every_route_their_role_holds_and_each_read_is_audited(
    owner: Owner, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = _owner(scenario, owner)
    client = signed_in(membership.user)
    patient_id = str(scenario.patient.id)
    problems: list[str] = []
    for route in ROUTES:
        if not route.read():
            continue
        mark = _last_sequence()
        response = _send(client, route, scenario.shared_ids)
        body = _content(response)
        events = _events_since(mark)
        if not _holds(membership, route):
            if response.status_code != 403:
                problems.append(f"{route.label}: {response.status_code}, expected 403")
            _check_one_event(problems, route, events, membership, Outcome.DENIED, "")
            continue
        if not 200 <= response.status_code < 300:
            problems.append(f"{route.label}: {response.status_code}, expected 2xx")
            continue
        subject = "" if route.names == Names.NOTHING else patient_id
        _check_one_event(problems, route, events, membership, Outcome.ALLOWED, subject)
        if owner == Owner.DESIGNER and (GIVEN.encode() in body or FAMILY.encode() in body):
            problems.append(f"{route.label}: the lab sees who the patient is")
    assert problems == []


def test_the_clinician_may_make_every_clinic_change_and_none_is_recorded_as_a_read(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    # On the withdrawn case (a draft with a scan), in the table's order: edit, add a file,
    # send, withdraw, ... Changes are audited by their services, never as record events.
    client = signed_in(scenario.clinician.user)
    problems: list[str] = []
    for route in ROUTES:
        if route.read():
            continue
        mark = _last_sequence()
        response = _send(client, route, scenario.withdrawn_ids)
        events = _record_events_since(mark)
        if not _holds(scenario.clinician, route):
            # The lab's changes (a design revision): refused by the route check.
            if response.status_code != 403:
                problems.append(f"{route.label}: {response.status_code}, expected 403")
            _check_one_event(problems, route, events, scenario.clinician, Outcome.DENIED, "")
            continue
        if not 200 <= response.status_code < 400:
            problems.append(f"{route.label}: {response.status_code}, expected 2xx or 3xx")
        if events:
            problems.append(f"{route.label}: recorded {[e.action for e in events]}")
    assert problems == []


def test_pages_refuse_the_methods_the_table_does_not_list(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    # The table lists every method a page answers: any other is 405, and not audited.
    client = signed_in(scenario.clinician.user)
    listed = {(route.name, route.method) for route in ROUTES if route.kind == "page"}
    problems: list[str] = []
    for route in ROUTES:
        if route.kind != "page":
            continue
        for method in ("GET", "POST"):
            if (route.name, method) in listed:
                continue
            listed.add((route.name, method))
            mark = _last_sequence()
            url = route.url(scenario.shared_ids)
            response = client.get(url) if method == "GET" else client.post(url, {})
            if response.status_code != 405:
                problems.append(f"{method} {route.name}: {response.status_code}, expected 405")
            if method == "POST" and _record_events_since(mark):
                problems.append(f"{method} {route.name}: recorded an event")
    assert problems == []


def test_the_new_case_page_answers_another_clinics_patient_with_an_audited_404(
    scenario: Scenario, signed_in: SignedIn
) -> None:
    [route] = [route for route in ROUTES if route.label == "POST page cases:case_new"]
    membership = scenario.other_clinician
    mark = _last_sequence()
    response = _send(signed_in(membership.user), route, scenario.shared_ids)
    assert response.status_code == 404
    problems: list[str] = []
    _check_one_event(problems, route, _events_since(mark), membership, Outcome.DENIED, "")
    assert problems == []
