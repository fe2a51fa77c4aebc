"""Changes to PHI-scoped routes in the audit trail (``cuspid.access.interceptor.record_read``).

A change the access layer refuses (403 or 404: the service never ran) leaves one
``record:write_deny`` event. A change that went through, or that its service refused for the
input or the workflow (409, 413, 415, 422), or that failed, is the service's to audit: no
record event. Nothing is recorded for routes that are not PHI-scoped, nor for signed-out
requests. A read names the patient that the view noted with ``note_subject_patient``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.test import Client, RequestFactory
from django.urls import resolve

from cuspid.access import routes
from cuspid.access.interceptor import note_subject_patient, record_read
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.tenancy.actor import Actor
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories.cases import make_case, make_patient

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

CASE_EDIT = routes.PAGES["cases:case_edit"]
NOT_PHI = routes.PAGES["tenancy:connection_list"]
WRITES = ["POST", "PUT", "PATCH", "DELETE"]


def _events() -> list[AuditEvent]:
    return list(AuditEvent.objects.order_by("sequence"))


def _record_events() -> list[AuditEvent]:
    return [event for event in _events() if event.action.startswith("record:")]


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


@pytest.fixture
def case_id() -> uuid.UUID:
    return uuid.uuid4()


@pytest.fixture
def request_as(clinician: Membership, case_id: uuid.UUID) -> Callable[..., HttpRequest]:
    """A request to a case page as the route middleware hands it over (route resolved, actor
    built); ``signed_out=True`` for one with nobody signed in."""

    def make(method: str, *, signed_out: bool = False) -> HttpRequest:
        path = f"/cases/{case_id}/edit/"
        request = RequestFactory().generic(method, path)
        request.resolver_match = resolve(path)
        if signed_out:
            request.user = AnonymousUser()
        else:
            request.user = clinician.user
            request.actor = Actor.of(clinician)  # type: ignore[attr-defined]  # set by the tenancy middleware
        return request

    return make


# --- refused changes -------------------------------------------------------------------------


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("status", [403, 404])
def test_a_refused_change_leaves_one_write_denied_event(
    method: str,
    status: int,
    request_as: Callable[..., HttpRequest],
    clinician: Membership,
    case_id: uuid.UUID,
) -> None:
    record_read(request_as(method), CASE_EDIT, status)
    [event] = _events()
    assert (event.action, event.outcome) == (AuditAction.Record.WriteDenied, Outcome.DENIED)
    assert (event.actor_user_id, event.actor_role, event.actor_organization_id) == (
        clinician.user.pk,
        "clinician",
        clinician.organization_id,
    )
    assert (event.target_type, event.target_id, event.data_type) == ("case", str(case_id), "case")
    # Refused before any record was found: no patient is named.
    assert event.subject_patient == ""


def test_a_change_refused_after_the_lookup_names_the_patient(
    request_as: Callable[..., HttpRequest],
) -> None:
    # The view found the case, noted its patient, then the role or side refused the change.
    patient_id = uuid.uuid4()
    request = request_as("POST")
    note_subject_patient(request, patient_id)
    record_read(request, CASE_EDIT, 403)
    [event] = _events()
    assert (event.action, event.subject_patient) == (
        AuditAction.Record.WriteDenied,
        str(patient_id),
    )


# --- changes that are not the access layer's to record ---------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 302])
def test_a_change_that_went_through_leaves_no_record_event(
    status: int, request_as: Callable[..., HttpRequest]
) -> None:
    record_read(request_as("POST"), CASE_EDIT, status)
    assert _events() == []


@pytest.mark.parametrize("status", [400, 405, 409, 413, 415, 422])
def test_a_change_refused_for_its_input_or_the_workflow_leaves_no_record_event(
    status: int, request_as: Callable[..., HttpRequest]
) -> None:
    record_read(request_as("POST"), CASE_EDIT, status)
    assert _events() == []


def test_a_change_that_failed_leaves_no_record_event(
    request_as: Callable[..., HttpRequest],
) -> None:
    record_read(request_as("PUT"), CASE_EDIT, 500)
    assert _events() == []


@pytest.mark.parametrize("status", [200, 403, 404])
def test_a_change_to_a_route_that_is_not_phi_scoped_leaves_nothing(
    status: int, request_as: Callable[..., HttpRequest]
) -> None:
    record_read(request_as("POST"), NOT_PHI, status)
    assert _events() == []


@pytest.mark.parametrize("status", [302, 401, 403, 404])
def test_a_signed_out_change_leaves_nothing(
    status: int, request_as: Callable[..., HttpRequest]
) -> None:
    record_read(request_as("POST", signed_out=True), CASE_EDIT, status)
    assert _events() == []


# --- reads name their patient ----------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_a_read_names_the_patient_the_view_noted(
    method: str, request_as: Callable[..., HttpRequest], case_id: uuid.UUID
) -> None:
    patient_id = uuid.uuid4()
    request = request_as(method)
    note_subject_patient(request, patient_id)
    record_read(request, CASE_EDIT, 200)
    [event] = _events()
    assert (event.action, event.outcome, event.subject_patient, event.target_id) == (
        AuditAction.Record.Read,
        Outcome.ALLOWED,
        str(patient_id),
        str(case_id),
    )


def test_a_read_without_a_noted_patient_names_none(
    request_as: Callable[..., HttpRequest],
) -> None:
    record_read(request_as("GET"), CASE_EDIT, 404)
    [event] = _events()
    assert (event.action, event.outcome, event.subject_patient) == (
        AuditAction.Record.Read,
        Outcome.DENIED,
        "",
    )


def test_the_last_noted_patient_wins(request_as: Callable[..., HttpRequest]) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    request = request_as("GET")
    note_subject_patient(request, first)
    note_subject_patient(request, second)
    record_read(request, CASE_EDIT, 200)
    [event] = _events()
    assert event.subject_patient == str(second)


# --- through the API, end to end -------------------------------------------------------------


def _json(client: Client, method: str, path: str, body: dict[str, Any]) -> Any:
    return client.generic(method, path, json.dumps(body), content_type="application/json")


def test_an_illegal_step_is_409_and_only_the_service_has_a_say(
    clinician: Membership, signed_in: SignedIn
) -> None:
    case = make_case(clinician, scans=0)
    before = len(_events())
    response = _json(
        signed_in(clinician.user),
        "POST",
        f"/api/v1/cases/{case.id}/transitions",
        {"action": "close"},
    )
    assert response.status_code == 409
    assert _record_events() == []
    assert len(_events()) == before


def test_invalid_details_are_422_and_leave_no_record_event(
    clinician: Membership, signed_in: SignedIn
) -> None:
    patient = make_patient(clinician)
    body = {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "2999-01-01"}
    response = _json(signed_in(clinician.user), "PUT", f"/api/v1/patients/{patient.id}", body)
    assert response.status_code == 422
    assert _record_events() == []


def test_a_change_to_another_clinics_case_is_404_and_one_write_denied_event(
    clinician: Membership,
    other_clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    case = make_case(member_of(other_clinic, Role.CLINICIAN), scans=0)
    before = len(_events())
    response = _json(
        signed_in(clinician.user),
        "POST",
        f"/api/v1/cases/{case.id}/transitions",
        {"action": "cancel"},
    )
    assert response.status_code == 404
    [event] = _events()[before:]
    assert (event.action, event.outcome, event.actor_user_id, event.target_id) == (
        AuditAction.Record.WriteDenied,
        Outcome.DENIED,
        clinician.user.pk,
        str(case.id),
    )
    case.refresh_from_db()
    assert case.status == "draft"


def test_an_allowed_change_leaves_only_its_service_event(
    clinician: Membership, signed_in: SignedIn
) -> None:
    case = make_case(clinician, scans=0)
    before = len(_events())
    response = _json(
        signed_in(clinician.user),
        "POST",
        f"/api/v1/cases/{case.id}/transitions",
        {"action": "cancel"},
    )
    assert response.status_code == 200
    assert [event.action for event in _events()[before:]] == [AuditAction.Case.Cancelled]
