"""The access matrix of the approval routes: approving (page and API), reading an approval,
and the public key; asked by the owning clinic's people, another clinic, the connected lab,
an unconnected lab and the lab after the clinic withdrew the case.

- Approving needs ``Perm.CaseApprove`` (clinicians): every other role is refused by the route
  check with 403 before any lookup, and one ``record:write_deny`` event.
- Another clinic's clinician holds the permission but may not see the revision: 404, the
  same answer as for an id that exists nowhere, and one ``record:write_deny`` event.
- Reading an approval needs ``Perm.CaseView``: the clinic's people and the lab holding the
  case read it (one ``record:read`` each, naming the patient); anyone else who holds the
  permission gets 404; a role without it, 403.
- The public key is no one's record: any signed-in user reads it, unaudited.

A refusal changes nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from pytest_django.fixtures import Settings

from cuspid.access import routes
from cuspid.access.permissions import Perm
from cuspid.accounts.authtime import mark_authenticated
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Approval, Case, Revision
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab, make_lab_connection
from tests.factories.approvals import approve
from tests.factories.cases import make_case, make_patient, make_revision, send_case, transition

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
GIVEN, FAMILY = "Ysolde", "Marchessault"
VERSION = "2026-12"


@pytest.fixture(autouse=True)
def _isolated_keys_and_blobs(settings: Settings, tmp_path: Path) -> None:
    settings.CUSPID_APPROVAL_SIGNING_KEY = tmp_path / "keys" / "approval_signing_key.pem"
    settings.CUSPID_APPROVAL_SIGNING_KEY_CREATE = True
    location = tmp_path / "blobs"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }


class Who(StrEnum):
    CLINICIAN = "clinic's clinician"
    STAFF = "clinic's staff"
    ADMIN = "clinic's admin"
    PATIENT = "clinic's patient-role member"
    DESIGNER = "connected lab's designer"
    LAB_STAFF = "connected lab's staff"
    OTHER_CLINIC = "other clinic's clinician"
    UNCONNECTED_LAB = "unconnected lab's designer"
    REVOKED_LAB = "connected lab's designer, case withdrawn"


@dataclass(frozen=True)
class Scenario:
    members: dict[Who, Membership]
    patient: Patient
    # In review, revision 1: the lab holds it; the clinic may approve it.
    in_review: Revision
    # Approved, revision 1 (the record the reads ask for).
    approved: Revision
    # Was in review, then withdrawn by the clinic: the lab no longer sees it.
    withdrawn: Revision


def _in_review(
    clinician: Membership, designer: Membership, lab: Organization, patient: Patient
) -> Revision:
    case = send_case(clinician, make_case(clinician, patient), lab)
    case = transition(designer, case, "accept")
    revision = make_revision(designer, case)
    transition(designer, Case.objects.get(pk=case.pk), "send_for_review")
    return Revision.objects.select_related("case").get(pk=revision.pk)


@pytest.fixture
def scenario(
    clinic: Organization, other_clinic: Organization, lab: Organization, member_of: MemberOf
) -> Scenario:
    make_lab_connection(clinic=clinic, lab=lab)
    clinician = member_of(clinic, Role.CLINICIAN)
    designer = member_of(lab, Role.DESIGNER)
    patient = make_patient(clinician, given_name=GIVEN, family_name=FAMILY)
    in_review = _in_review(clinician, designer, lab, patient)
    approved = _in_review(clinician, designer, lab, patient)
    approve(clinician, approved)
    withdrawn = _in_review(clinician, designer, lab, patient)
    transition(clinician, withdrawn.case, "revoke_share")
    members = {
        Who.CLINICIAN: clinician,
        Who.STAFF: member_of(clinic, Role.STAFF),
        Who.ADMIN: member_of(clinic, Role.ORG_ADMIN),
        Who.PATIENT: member_of(clinic, Role.PATIENT),
        Who.DESIGNER: designer,
        Who.LAB_STAFF: member_of(lab, Role.LAB_STAFF),
        Who.OTHER_CLINIC: member_of(other_clinic, Role.CLINICIAN),
        Who.UNCONNECTED_LAB: member_of(make_lab(name="Distant Lab"), Role.DESIGNER),
        Who.REVOKED_LAB: designer,
    }
    return Scenario(members, patient, in_review, approved, withdrawn)


def _client(signed_in: SignedIn, membership: Membership) -> Client:
    client = signed_in(membership.user)
    session = client.session
    mark_authenticated(session)  # a fresh full sign-in: step-up is never the reason here
    session.save()
    return client


def _last() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _record_events(since: int) -> list[tuple[str, str, object, str]]:
    return [
        (e.action, e.outcome, e.actor_user_id, e.subject_patient)
        for e in AuditEvent.objects.filter(
            sequence__gt=since, action__startswith="record:"
        ).order_by("sequence")
    ]


def _state() -> tuple[object, ...]:
    return (
        Approval.objects.count(),
        tuple(Case.objects.order_by("id").values_list("status", "updated_at")),
    )


def _approve_api(client: Client, revision_id: object) -> TestResponse:
    return client.post(
        f"/api/v1/revisions/{revision_id}/approve",
        json.dumps({"statement_version": VERSION}),
        content_type="application/json",
    )


def _approve_page(client: Client, revision_id: object) -> TestResponse:
    return client.post(
        reverse("cases:revision_approve", args=[revision_id]), {"statement_version": VERSION}
    )


def _approval_get(client: Client, revision_id: object) -> TestResponse:
    return client.get(f"/api/v1/revisions/{revision_id}/approval")


def test_the_routes_are_declared_as_this_matrix_assumes() -> None:
    assert routes.PAGES["cases:revision_approve"] == routes.needs(Perm.CaseApprove, phi=routes.CASE)
    assert routes.OPERATIONS["revision_approve"] == routes.needs(Perm.CaseApprove, phi=routes.CASE)
    assert routes.OPERATIONS["approval_get"] == routes.needs(Perm.CaseView, phi=routes.CASE)
    assert routes.OPERATIONS["approval_public_key"] == routes.SIGNED_IN


# --- approving ---------------------------------------------------------------------------------

APPROVE_REFUSED: dict[Who, int] = {
    Who.STAFF: 403,
    Who.ADMIN: 403,
    Who.PATIENT: 403,
    Who.DESIGNER: 403,
    Who.LAB_STAFF: 403,
    Who.UNCONNECTED_LAB: 403,
    Who.OTHER_CLINIC: 404,
}


@pytest.mark.parametrize("send", [_approve_api, _approve_page], ids=["api", "page"])
@pytest.mark.parametrize("who", list(APPROVE_REFUSED), ids=lambda w: w.name.lower())
def test_only_the_clinics_clinician_reaches_approving(
    who: Who,
    send: Callable[[Client, object], TestResponse],
    scenario: Scenario,
    signed_in: SignedIn,
) -> None:
    membership = scenario.members[who]
    client = _client(signed_in, membership)
    expected = APPROVE_REFUSED[who]
    before, mark = _state(), _last()
    response = send(client, scenario.in_review.id)
    assert response.status_code == expected
    assert _state() == before
    assert _record_events(mark) == [
        (AuditAction.Record.WriteDenied, Outcome.DENIED, membership.user.pk, "")
    ]
    for value in (GIVEN, FAMILY, scenario.in_review.case.reference):
        assert value not in response.content.decode()
    # A foreign id answers as an id that exists nowhere.
    absent = send(client, uuid.uuid4())
    assert absent.status_code == expected
    if send is _approve_api:
        assert absent.json() == response.json()


def test_the_clinician_approves_by_page_and_by_api(scenario: Scenario, signed_in: SignedIn) -> None:
    clinician = scenario.members[Who.CLINICIAN]
    client = _client(signed_in, clinician)
    response = _approve_page(client, scenario.in_review.id)
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:revision_review", args=[scenario.in_review.id])
    assert Approval.objects.filter(revision=scenario.in_review).exists()
    # Approved already: the API answers 409, with what the clinic may do now.
    again = _approve_api(client, scenario.in_review.id)
    assert again.status_code == 409
    assert again.json()["status"] == "approved"
    # The withdrawn case is the clinic's draft again: nothing to approve.
    assert _approve_api(client, scenario.withdrawn.id).status_code == 409


# --- reading -----------------------------------------------------------------------------------

READERS = (Who.CLINICIAN, Who.STAFF, Who.DESIGNER, Who.LAB_STAFF)
READ_REFUSED: dict[Who, int] = {
    Who.ADMIN: 403,
    Who.PATIENT: 403,
    Who.OTHER_CLINIC: 404,
    Who.UNCONNECTED_LAB: 404,
    Who.REVOKED_LAB: 404,
}


@pytest.mark.parametrize("who", READERS, ids=lambda w: w.name.lower())
def test_the_case_holders_read_the_approval(
    who: Who, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = scenario.members[who]
    client = _client(signed_in, membership)
    mark = _last()
    response = _approval_get(client, scenario.approved.id)
    assert response.status_code == 200
    assert response.json()["revision_id"] == str(scenario.approved.id)
    assert _record_events(mark) == [
        (AuditAction.Record.Read, Outcome.ALLOWED, membership.user.pk, str(scenario.patient.id))
    ]
    if who in (Who.DESIGNER, Who.LAB_STAFF):
        for value in (GIVEN, FAMILY):
            assert value not in response.content.decode()


@pytest.mark.parametrize("who", list(READ_REFUSED), ids=lambda w: w.name.lower())
def test_anyone_else_is_refused_reading_the_approval(
    who: Who, scenario: Scenario, signed_in: SignedIn
) -> None:
    membership = scenario.members[who]
    client = _client(signed_in, membership)
    # The revoked lab asks for the withdrawn case's revision; everyone else for the approved.
    asked = scenario.withdrawn if who == Who.REVOKED_LAB else scenario.approved
    mark = _last()
    response = _approval_get(client, asked.id)
    assert response.status_code == READ_REFUSED[who]
    assert _record_events(mark) == [
        (AuditAction.Record.Read, Outcome.DENIED, membership.user.pk, "")
    ]
    absent = _approval_get(client, uuid.uuid4())
    assert (absent.status_code, absent.json()) == (response.status_code, response.json())


def test_the_public_key_is_for_anyone_signed_in(scenario: Scenario, signed_in: SignedIn) -> None:
    for who in (Who.PATIENT, Who.OTHER_CLINIC, Who.DESIGNER):
        mark = _last()
        response = signed_in(scenario.members[who].user).get("/api/v1/approvals/public-key")
        assert response.status_code == 200
        assert response.json()["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
        assert _record_events(mark) == []
    assert Client().get("/api/v1/approvals/public-key").status_code == 401
