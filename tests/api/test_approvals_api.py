"""/api/v1 approvals: approving a revision, reading the signed record, the public key.

Clients are signed in as a real sign-in leaves them (``force_login`` past MFA); a fresh full
authentication is recorded in the session where a test needs the step-up satisfied.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.test import Client
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings

from cuspid.accounts.authtime import mark_authenticated
from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Approval, Case, Revision
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import audited_read_queries, make_lab_connection
from tests.factories.approvals import approve, latest_revision
from tests.factories.cases import make_case, make_patient, make_revision, send_case, transition

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]
GIVEN, FAMILY = "Octavie", "Brisebois"
VERSION = {"statement_version": "2026-12"}


@pytest.fixture(autouse=True)
def approval_key_path(settings: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "approval_signing_key.pem"
    settings.CUSPID_APPROVAL_SIGNING_KEY = path
    settings.CUSPID_APPROVAL_SIGNING_KEY_CREATE = True
    return path


@pytest.fixture(autouse=True)
def blob_store(settings: Settings, tmp_path: Path) -> Path:
    location = tmp_path / "blob-store"
    settings.CUSPID_BLOB_DIR = location
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    return location


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


@pytest.fixture
def designer(lab: Organization, member_of: MemberOf) -> Membership:
    return member_of(lab, Role.DESIGNER)


@pytest.fixture
def patient(clinician: Membership) -> Patient:
    return make_patient(clinician, given_name=GIVEN, family_name=FAMILY)


@pytest.fixture
def case(
    clinic: Organization,
    lab: Organization,
    clinician: Membership,
    designer: Membership,
    patient: Patient,
) -> Case:
    """Revision 1 of a crown case, awaiting the clinic's review."""
    make_lab_connection(clinic=clinic, lab=lab)
    case = send_case(clinician, make_case(clinician, patient), lab)
    case = transition(designer, case, "accept")
    make_revision(designer, case)
    return transition(designer, case, "send_for_review")


def stepped_up(client: Client) -> Client:
    """Record a full sign-in now in the client's session (approving needs one)."""
    session = client.session
    mark_authenticated(session)
    session.save()
    return client


def post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, body, content_type="application/json")


def approve_path(revision: Revision) -> str:
    return f"/api/v1/revisions/{revision.id}/approve"


def denied_events(patient: Patient) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(outcome=Outcome.DENIED, subject_patient=str(patient.id))
        .order_by("sequence")
        .values_list("action", "target_type")
    )


def test_a_clinician_approves_and_anyone_on_the_case_reads_it(
    case: Case,
    clinician: Membership,
    designer: Membership,
    signed_in: SignedIn,
    patient: Patient,
) -> None:
    revision = latest_revision(case)
    client = stepped_up(signed_in(clinician.user))
    unapproved = client.get(f"/api/v1/revisions/{revision.id}/approval")
    assert (unapproved.status_code, unapproved.json()) == (200, None)

    response = post(client, approve_path(revision), VERSION)
    assert response.status_code == 201, response.content
    body = response.json()
    approval = Approval.objects.get()
    assert body["id"] == str(approval.id)
    assert (body["case_id"], body["revision_id"], body["revision_number"]) == (
        str(case.id),
        str(revision.id),
        1,
    )
    assert body["case_reference"] == case.reference
    assert body["manifest_sha256"] == revision.manifest_sha256
    assert body["approver"] == {"id": str(clinician.user_id), "full_name": clinician.user.full_name}
    assert body["statement_version"] == "2026-12"
    assert body["statement_text"] == (
        f"I have reviewed design revision 1 of case {case.reference} and approve it for "
        "production as shown."
    )
    assert body["statement_sha256"] == hashlib.sha256(body["statement_text"].encode()).hexdigest()
    assert (body["algorithm"], body["signature_check"]) == ("Ed25519", "verified")
    assert client.get(f"/api/v1/cases/{case.id}").json()["status"] == "approved"

    # The lab reads the same record (it produces from it), without the patient's identity.
    lab_view = signed_in(designer.user).get(f"/api/v1/revisions/{revision.id}/approval")
    assert lab_view.status_code == 200
    assert lab_view.json() == body
    for value in (GIVEN, FAMILY):
        assert value not in lab_view.content.decode()

    # Offline: the public key, the message and the signature; the message says what the
    # fields say.
    key = client.get("/api/v1/approvals/public-key").json()
    assert key["key_id"] == body["key_id"]
    assert key["statements"]["2026-12"].startswith("I have reviewed design revision")
    public_key = serialization.load_pem_public_key(key["public_key_pem"].encode())
    assert isinstance(public_key, Ed25519PublicKey)
    public_key.verify(base64.b64decode(body["signature"]), body["message"].encode("ascii"))
    message = json.loads(body["message"])
    assert message == {
        "v": key["message_version"],
        "approval_id": body["id"],
        "case_id": body["case_id"],
        "revision_id": body["revision_id"],
        "revision_number": 1,
        "manifest_sha256": body["manifest_sha256"],
        "approver_id": body["approver"]["id"],
        "approved_at": message["approved_at"],
        "statement_version": "2026-12",
        "statement_sha256": body["statement_sha256"],
    }
    assert message["approved_at"].endswith("+00:00")
    assert denied_events(patient) == []


def test_without_a_recent_sign_in_the_answer_is_401_step_up(
    case: Case, clinician: Membership, signed_in: SignedIn, patient: Patient
) -> None:
    response = post(signed_in(clinician.user), approve_path(latest_revision(case)), VERSION)
    assert response.status_code == 401
    assert response.json()["code"] == "step_up_required"
    assert not Approval.objects.exists()
    assert denied_events(patient) == [(AuditAction.Case.Approved, "revision")]


@pytest.mark.parametrize(("side", "role"), [("clinic", Role.STAFF), ("lab", Role.DESIGNER)])
def test_roles_that_may_not_approve_get_403(
    side: str,
    role: Role,
    case: Case,
    clinic: Organization,
    lab: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
) -> None:
    member = member_of(clinic if side == "clinic" else lab, role)
    response = post(
        stepped_up(signed_in(member.user)), approve_path(latest_revision(case)), VERSION
    )
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert not Approval.objects.exists()
    assert AuditEvent.objects.filter(
        action=AuditAction.Record.WriteDenied, outcome=Outcome.DENIED
    ).exists()


def test_another_clinics_clinician_gets_404(
    case: Case, other_clinic: Organization, member_of: MemberOf, signed_in: SignedIn
) -> None:
    stranger = member_of(other_clinic, Role.CLINICIAN)
    response = post(
        stepped_up(signed_in(stranger.user)), approve_path(latest_revision(case)), VERSION
    )
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}
    assert not Approval.objects.exists()
    [event] = AuditEvent.objects.filter(outcome=Outcome.DENIED)
    assert (event.action, event.actor_user_id) == (AuditAction.Record.WriteDenied, stranger.user_id)


def test_a_superseded_revision_is_409(
    case: Case,
    clinician: Membership,
    designer: Membership,
    signed_in: SignedIn,
    patient: Patient,
) -> None:
    first = latest_revision(case)
    transition(clinician, case, "request_changes", "Open the distal contact.")
    make_revision(designer, Case.objects.get(pk=case.pk))
    transition(designer, Case.objects.get(pk=case.pk), "send_for_review")
    response = post(stepped_up(signed_in(clinician.user)), approve_path(first), VERSION)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Revision 1 is superseded by revision 2; review and approve the latest revision.",
        "code": "invalid_transition",
        "status": "awaiting_review",
        "allowed_actions": ["request_changes", "approve", "cancel", "revoke_share"],
    }
    assert denied_events(patient) == [(AuditAction.Case.Approved, "revision")]


def test_an_unknown_statement_version_is_422(
    case: Case, clinician: Membership, signed_in: SignedIn
) -> None:
    client = stepped_up(signed_in(clinician.user))
    response = post(client, approve_path(latest_revision(case)), {"statement_version": "1999-01"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"
    assert post(client, approve_path(latest_revision(case)), {}).status_code == 422
    assert not Approval.objects.exists()


def test_the_old_transition_no_longer_approves(
    case: Case, clinician: Membership, signed_in: SignedIn
) -> None:
    response = post(
        stepped_up(signed_in(clinician.user)),
        f"/api/v1/cases/{case.id}/transitions",
        {"action": "approve"},
    )
    assert response.status_code == 422
    assert "approval operation" in response.json()["detail"]


def test_reading_an_approval_costs_a_fixed_number_of_queries(
    case: Case,
    clinician: Membership,
    signed_in: SignedIn,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    approval = approve(clinician, latest_revision(case))
    client = signed_in(clinician.user)
    client.get(f"/api/v1/revisions/{approval.revision_id}/approval")  # the session's first
    # Session, user, memberships, MFA check; the revision (with its case and author), the
    # approval (with approver, case, revision); the audited read.
    with django_assert_num_queries(4 + 2 + audited_read_queries()):
        response = client.get(f"/api/v1/revisions/{approval.revision_id}/approval")
    assert response.status_code == 200
