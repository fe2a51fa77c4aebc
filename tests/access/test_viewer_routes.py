"""The access matrix of the 3D viewer's routes: the review page of a revision
(``cases:revision_review``) and the list of its meshes (``revision_mesh_list``), asked by the
owning clinic, the connected lab, another clinic, an unconnected lab, the lab after the clinic
withdrew the case, and the clinic's admin.

- The case's own people (clinician, staff, the lab's designer and lab staff) get 200 and one
  allowed ``record:read`` naming the patient.
- Another clinic, an unconnected lab and the lab after the withdrawal get 404, the same answer
  as for a revision that exists nowhere, and exactly one denied ``record:read``.
- An organisation admin holds no case permission: 403 before any lookup, audited too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

import pytest
from django.db.models import Max
from django.test import Client
from django.urls import reverse

from cuspid.access import routes
from cuspid.access.permissions import Perm
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Case, Revision
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.access.bodies import normalised as _normalised
from tests.factories import make_lab, make_lab_connection
from tests.factories.cases import make_case, make_patient, make_revision, send_case, transition

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
GIVEN, FAMILY = "Zephyrine", "Quillfeather"


@dataclass(frozen=True, slots=True)
class Route:
    kind: str  # "page" or "api"
    name: str

    def url(self, revision_id: UUID) -> str:
        if self.kind == "page":
            return reverse(self.name, kwargs={"revision_id": revision_id})
        return f"/api/v1/revisions/{revision_id}/meshes"

    @property
    def rule(self) -> routes.RouteRule:
        return (routes.PAGES if self.kind == "page" else routes.OPERATIONS)[self.name]


ROUTES = (Route("page", "cases:revision_review"), Route("api", "revision_mesh_list"))


def test_the_routes_are_declared_as_case_reads() -> None:
    for route in ROUTES:
        assert route.rule == routes.needs(Perm.CaseView, phi=routes.CASE)
    assert routes.PAGES["cases:attachment_download"].phi_data_type == routes.CASE_FILE
    assert Client().get("/api/v1/openapi.json").json()["paths"][
        "/api/v1/revisions/{revision_id}/meshes"
    ]["get"]["operationId"] == ("revision_mesh_list")


@dataclass(frozen=True, slots=True)
class Scenario:
    people: dict[str, Membership]
    shared: Revision
    withdrawn: Revision


def _revised(
    clinician: Membership, designer: Membership, lab: Organization, patient: object
) -> Case:
    case = send_case(clinician, make_case(clinician, patient), lab)  # type: ignore[arg-type]  # a Patient
    case = transition(designer, case, "accept")
    make_revision(designer, case)
    return case


@pytest.fixture
def scenario(
    clinic: Organization, other_clinic: Organization, lab: Organization, member_of: MemberOf
) -> Scenario:
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = member_of(clinic, Role.CLINICIAN)
    designer = member_of(lab, Role.DESIGNER)
    patient = make_patient(clinician, given_name=GIVEN, family_name=FAMILY)
    shared = _revised(clinician, designer, lab, patient)
    withdrawn = _revised(clinician, designer, lab, patient)
    transition(clinician, withdrawn, "revoke_share")
    people = {
        "clinician": clinician,
        "staff": member_of(clinic, Role.STAFF),
        "designer": designer,
        "lab_staff": member_of(lab, Role.LAB_STAFF),
        "admin": member_of(clinic, Role.ORG_ADMIN),
        "other_clinic": member_of(other_clinic, Role.CLINICIAN),
        "unconnected_lab": member_of(make_lab(name="Distant Lab"), Role.DESIGNER),
    }
    return Scenario(
        people=people,
        shared=Revision.objects.get(case=shared),
        withdrawn=Revision.objects.get(case=withdrawn),
    )


def _mark() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _record_events(since: int) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(sequence__gt=since).order_by("sequence")
    return [event for event in events if event.action.startswith("record:")]


def _get(client: Client, url: str) -> TestResponse:
    response = client.get(url)
    response.getvalue()  # read to the end
    return response


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize("who", ["clinician", "staff", "designer", "lab_staff"])
def test_the_cases_people_open_it_and_the_read_is_audited(
    route: Route, who: str, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = scenario.people[who]
    client = signed_in(membership.user)
    mark = _mark()
    response = _get(client, route.url(scenario.shared.id))

    assert response.status_code == 200
    [event] = _record_events(mark)
    assert (event.action, event.outcome, event.actor_user_id, event.subject_patient) == (
        str(AuditAction.Record.Read),
        str(Outcome.ALLOWED),
        membership.user.pk,
        str(scenario.shared.patient_id),
    )
    assert event.data_type == routes.CASE
    if membership.organization.is_clinic is False:
        assert GIVEN not in response.content.decode()
        assert FAMILY not in response.content.decode()


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize("who", ["other_clinic", "unconnected_lab", "revoked_lab"])
def test_a_foreign_caller_gets_the_same_404_as_for_nothing_and_one_denied_event(
    route: Route, who: str, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = scenario.people["designer" if who == "revoked_lab" else who]
    revision = scenario.withdrawn if who == "revoked_lab" else scenario.shared
    client = signed_in(membership.user)
    mark = _mark()
    response = _get(client, route.url(revision.id))

    assert response.status_code == 404
    [event] = _record_events(mark)
    assert (event.action, event.outcome, event.actor_user_id, event.subject_patient) == (
        str(AuditAction.Record.Read),
        str(Outcome.DENIED),
        membership.user.pk,
        "",
    )
    body = response.getvalue()
    assert GIVEN.encode() not in body
    assert revision.case.reference.encode() not in body
    nowhere = uuid.uuid4()
    absent = _get(client, route.url(nowhere))
    assert absent.status_code == 404
    assert _normalised(absent.getvalue(), nowhere) == _normalised(body, revision.id)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_an_org_admin_is_refused_before_any_lookup(
    route: Route, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = scenario.people["admin"]
    mark = _mark()
    response = _get(signed_in(membership.user), route.url(scenario.shared.id))

    assert response.status_code == 403
    [event] = _record_events(mark)
    assert (event.outcome, event.actor_user_id, event.subject_patient) == (
        str(Outcome.DENIED),
        membership.user.pk,
        "",
    )


def test_the_page_answers_only_get(scenario: Scenario, signed_in: SignedIn) -> None:
    client = signed_in(scenario.people["clinician"].user)
    url = ROUTES[0].url(scenario.shared.id)
    assert client.post(url, {}).status_code == 405


def test_signed_out_visitors_are_sent_to_sign_in(scenario: Scenario) -> None:
    response = Client().get(ROUTES[0].url(scenario.shared.id))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
