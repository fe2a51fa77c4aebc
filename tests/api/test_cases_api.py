"""/api/v1 cases: the workflow end to end, what each side sees, files, revisions, errors,
tokens, the OpenAPI document and the list endpoints' query counts."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings

from cuspid.accounts.authtime import mark_authenticated
from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import User
from cuspid.accounts.services.tokens import api_token_create
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.cases.manifest import manifest_sha256
from cuspid.cases.models import Attachment, Case, Revision
from cuspid.keys.crypto import dek_cache
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.web.demo_scans import arch_stl
from tests.factories import audited_read_queries
from tests.factories.cases import (
    actor_of,
    first_scan,
    make_case,
    make_patient,
    make_revision,
    send_case,
    transition,
)

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
DENIED = {
    "detail": "You do not have permission to perform this action.",
    "code": "permission_denied",
}
# Who the case is for, every detail unusual enough that finding it in a response means it
# leaked; the upload's own name carries the patient's name too, as scanners' exports do.
GIVEN, FAMILY = "Zebulon", "Quixley"
PATIENT_FIELDS: dict[str, Any] = {
    "given_name": GIVEN,
    "family_name": FAMILY,
    "email": "zebulon.quixley@patient.example",
    "phone": "+1 902 555 0177",
    "address": "77 Lighthouse Lane, Lunenburg",
    "health_card": "4444-777-999-QX",
    "chart_number": "CH-7777",
    "notes": "Anxious about needles.",
}
SCAN_NAME = f"{GIVEN}-{FAMILY}-lower-arch.stl"
PHI_STRINGS = [
    GIVEN,
    FAMILY,
    "Quixley",
    PATIENT_FIELDS["email"],
    PATIENT_FIELDS["phone"],
    PATIENT_FIELDS["address"],
    PATIENT_FIELDS["health_card"],
    PATIENT_FIELDS["chart_number"],
    PATIENT_FIELDS["notes"],
    "1980-12-10",
    "lower-arch",
]
CASE_BODY: dict[str, Any] = {
    "case_type": "crown",
    "teeth": [36],
    "material": "zirconia",
    "shade": "A2",
    "priority": "routine",
    "notes": "Prep margin subgingival on the distal.",
}
DOWNLOAD_NAME = re.compile(
    r'^attachment; filename="C-\d{5}-(scan|photo|document|rev\d+)-[0-9a-f]{8}'
    r'\.(stl|ply|obj|jpg|png|pdf)"$'
)


@pytest.fixture(autouse=True)
def blob_store(settings: Settings, tmp_path: Path) -> Path:
    """Every stored file of the test under its own directory, and upload temp files too."""
    location = tmp_path / "blob-store"
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
    return location


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


@pytest.fixture
def designer(lab: Organization, member_of: MemberOf) -> Membership:
    return member_of(lab, Role.DESIGNER)


@pytest.fixture
def lab_staff(lab: Organization, member_of: MemberOf) -> Membership:
    return member_of(lab, Role.LAB_STAFF)


@pytest.fixture
def clinic_client(clinician: Membership, signed_in: SignedIn) -> Client:
    return signed_in(clinician.user)


@pytest.fixture
def lab_client(designer: Membership, signed_in: SignedIn) -> Client:
    return signed_in(designer.user)


@pytest.fixture
def patient(clinician: Membership) -> Patient:
    return make_patient(clinician, **PATIENT_FIELDS)


def _post(
    client: Client, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Any:
    return client.post(path, body, content_type="application/json", headers=headers)


def _step(client: Client, case_id: object, action: str, reason: str = "") -> Any:
    return _post(
        client, f"/api/v1/cases/{case_id}/transitions", {"action": action, "reason": reason}
    )


def _upload(client: Client, case_id: object, data: bytes, name: str = SCAN_NAME) -> Any:
    return client.post(
        f"/api/v1/cases/{case_id}/attachments", {"file": SimpleUploadedFile(name, data)}
    )


def _recently_signed_in(client: Client) -> None:
    """Record a full sign-in now in the client's session (approving needs one)."""
    session = client.session
    mark_authenticated(session)
    session.save()


def _no_phi(response: Any) -> None:
    text = response.content.decode()
    leaked = [value for value in PHI_STRINGS if value in text]
    assert leaked == []


# --- the workflow, end to end ----------------------------------------------------------------


def test_a_case_goes_from_draft_to_closed_through_the_api(
    clinic_client: Client,
    lab_client: Client,
    lab: Organization,
    connection_: LabConnection,
    patient: Patient,
    lab_staff: Membership,
    signed_in: SignedIn,
) -> None:
    created = _post(clinic_client, "/api/v1/cases", {**CASE_BODY, "patient_id": str(patient.id)})
    assert created.status_code == 201
    case = created.json()
    case_id = case["id"]
    assert case["status"] == "draft"
    assert case["reference"] == "C-00001"
    assert case["teeth"] == [36]
    assert case["side"] == "clinic"
    assert case["patient"] == {
        "id": str(patient.id),
        "given_name": GIVEN,
        "family_name": FAMILY,
        "date_of_birth": "1980-12-10",
    }
    assert case["allowed_actions"] == ["submit", "cancel"]

    scan = arch_stl(1)
    uploaded = _upload(clinic_client, case_id, scan)
    assert uploaded.status_code == 201
    attachment = uploaded.json()
    assert attachment["kind"] == "scan"
    assert attachment["file_format"] == "stl_binary"
    assert attachment["size"] == len(scan)
    assert attachment["sha256"] == hashlib.sha256(scan).hexdigest()
    assert attachment["vertex_count"] > 0
    assert attachment["face_count"] > 0
    assert attachment["units"] == "mm"
    assert attachment["revision_id"] is None
    assert attachment["download_url"] == f"/api/v1/attachments/{attachment['id']}/content"
    assert "filename" not in attachment

    # The lab does not know the case before it is sent.
    assert lab_client.get(f"/api/v1/cases/{case_id}").json() == NOT_FOUND
    sent = _post(clinic_client, f"/api/v1/cases/{case_id}/send", {"lab_id": str(lab.id)})
    assert sent.status_code == 200
    assert sent.json()["status"] == "submitted"
    assert sent.json()["lab"] == {"id": str(lab.id), "kind": "lab", "name": lab.name}

    inbox = lab_client.get("/api/v1/cases", {"status": "submitted"}).json()
    assert [c["id"] for c in inbox["items"]] == [case_id]
    assert inbox["items"][0]["allowed_actions"] == ["accept", "decline"]
    accepted = _step(lab_client, case_id, "accept")
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["side"] == "lab"

    designs = [arch_stl(7), arch_stl(8)]
    revised = lab_client.post(
        f"/api/v1/cases/{case_id}/revisions",
        {
            "files": [
                SimpleUploadedFile("crown-36.stl", designs[0]),
                SimpleUploadedFile("crown-36-b.stl", designs[1]),
            ],
            "note": "First proposal.",
        },
    )
    assert revised.status_code == 201
    revision = revised.json()
    assert revision["number"] == 1
    assert revision["note"] == "First proposal."
    assert revision["case_id"] == case_id
    assert revision["manifest_sha256"] == manifest_sha256(
        (hashlib.sha256(data).hexdigest(), len(data)) for data in designs
    )
    assert sorted(f["sha256"] for f in revision["files"]) == sorted(
        hashlib.sha256(data).hexdigest() for data in designs
    )
    assert {f["revision_id"] for f in revision["files"]} == {revision["id"]}
    assert lab_client.get(f"/api/v1/cases/{case_id}").json()["status"] == "in_design"

    in_review = _step(lab_client, case_id, "send_for_review")
    assert in_review.json()["status"] == "awaiting_review"
    clinic_view = clinic_client.get(f"/api/v1/cases/{case_id}").json()
    assert clinic_view["allowed_actions"] == [
        "request_changes",
        "approve",
        "cancel",
        "revoke_share",
    ]

    asked = _step(clinic_client, case_id, "request_changes", "Open the contact with 35 a little.")
    assert asked.status_code == 200
    assert asked.json()["status"] == "changes_requested"

    second = lab_client.post(
        f"/api/v1/cases/{case_id}/revisions",
        {"files": [SimpleUploadedFile("crown-36-v2.stl", arch_stl(9))], "note": "Contact opened."},
    )
    assert second.status_code == 201
    assert second.json()["number"] == 2
    assert _step(lab_client, case_id, "send_for_review").json()["status"] == "awaiting_review"

    # Approving signs the latest revision (cuspid.cases.api.approvals); it needs a recent
    # sign-in.
    approve_path = f"/api/v1/revisions/{second.json()['id']}/approve"
    refused = _post(clinic_client, approve_path, {"statement_version": "2026-12"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "step_up_required"
    _recently_signed_in(clinic_client)
    assert _post(clinic_client, approve_path, {"statement_version": "2026-12"}).status_code == 201
    assert clinic_client.get(f"/api/v1/cases/{case_id}").json()["status"] == "approved"

    production = signed_in(lab_staff.user)
    assert _step(production, case_id, "start_production").json()["status"] == "in_production"
    assert _step(production, case_id, "ship").json()["status"] == "shipped"
    assert _step(clinic_client, case_id, "confirm_delivery").json()["status"] == "delivered"
    closed = _step(clinic_client, case_id, "close")
    assert closed.json()["status"] == "closed"
    assert closed.json()["allowed_actions"] == []

    events = clinic_client.get(f"/api/v1/cases/{case_id}/events").json()
    assert [e["entry"] for e in events] == [
        "created",
        "attachment_added",
        "submit",
        "accept",
        "start_design",
        "revision_created",
        "send_for_review",
        "request_changes",
        "start_design",
        "revision_created",
        "send_for_review",
        "approve",
        "start_production",
        "ship",
        "confirm_delivery",
        "close",
    ]
    changes = events[7]
    assert changes["note"] == "Open the contact with 35 a little."
    assert (changes["from_status"], changes["to_status"]) == (
        "awaiting_review",
        "changes_requested",
    )
    assert changes["organization"]["id"] == str(patient.organization_id)

    revisions = clinic_client.get(f"/api/v1/cases/{case_id}/revisions").json()
    assert [r["number"] for r in revisions] == [2, 1]
    one = clinic_client.get(f"/api/v1/revisions/{revision['id']}").json()
    assert one["manifest_sha256"] == revision["manifest_sha256"]
    assert len(one["files"]) == 2
    # The clinic's own files only; a revision's files are listed with the revision.
    files = clinic_client.get(f"/api/v1/cases/{case_id}/attachments").json()
    assert [f["id"] for f in files] == [attachment["id"]]


def test_every_step_is_audited_once(
    clinic_client: Client, lab: Organization, connection_: LabConnection, patient: Patient
) -> None:
    case_id = _post(
        clinic_client, "/api/v1/cases", {**CASE_BODY, "patient_id": str(patient.id)}
    ).json()["id"]
    _upload(clinic_client, case_id, arch_stl(1))
    _post(clinic_client, f"/api/v1/cases/{case_id}/send", {"lab_id": str(lab.id)})
    actions = list(
        AuditEvent.objects.filter(subject_patient=str(patient.id))
        .exclude(action__startswith="patient:")
        .order_by("sequence")
        .values_list("action", flat=True)
    )
    assert actions == [
        AuditAction.Case.Created,
        AuditAction.Case.AttachmentAdded,
        AuditAction.Case.Submitted,
    ]


# --- errors ----------------------------------------------------------------------------------


def test_a_step_the_status_does_not_allow_is_409_with_status_and_allowed_actions(
    clinic_client: Client, clinician: Membership, lab: Organization, connection_: LabConnection
) -> None:
    case = send_case(clinician, make_case(clinician), lab)
    _recently_signed_in(clinic_client)
    response = _step(clinic_client, case.id, "confirm_delivery")
    assert response.status_code == 409
    assert response.json() == {
        "detail": "A case that is submitted cannot confirm delivery.",
        "code": "invalid_transition",
        "status": "submitted",
        "allowed_actions": ["cancel", "revoke_share"],
    }
    case.refresh_from_db()
    assert case.status == "submitted"


def test_sending_without_a_scan_is_409(
    clinic_client: Client, clinician: Membership, lab: Organization, connection_: LabConnection
) -> None:
    case = make_case(clinician, scans=0)
    response = _post(clinic_client, f"/api/v1/cases/{case.id}/send", {"lab_id": str(lab.id)})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_transition"
    assert body["status"] == "draft"
    assert "scan" in body["detail"]


def test_sending_to_an_unconnected_lab_is_404(
    clinic_client: Client, clinician: Membership, lab: Organization
) -> None:
    case = make_case(clinician)
    response = _post(clinic_client, f"/api/v1/cases/{case.id}/send", {"lab_id": str(lab.id)})
    assert response.status_code == 404
    case.refresh_from_db()
    assert (case.status, case.shared_with_lab_id) == ("draft", None)


def test_details_cannot_change_once_the_lab_accepted(
    clinic_client: Client,
    clinician: Membership,
    designer: Membership,
    lab: Organization,
    connection_: LabConnection,
) -> None:
    case = make_case(clinician)
    changed = {**CASE_BODY, "teeth": [36, 37], "case_type": "bridge"}
    assert clinic_client.put(
        f"/api/v1/cases/{case.id}", changed, content_type="application/json"
    ).json()["teeth"] == [36, 37]
    transition(designer, send_case(clinician, case, lab), "accept")
    response = clinic_client.put(
        f"/api/v1/cases/{case.id}", CASE_BODY, content_type="application/json"
    )
    assert response.status_code == 409
    assert response.json()["status"] == "accepted"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"teeth": [19]}, "invalid"),
        ({"teeth": []}, "invalid"),
        ({"case_type": "bridge", "teeth": [36]}, "invalid"),
        ({"due_date": "2001-01-01"}, "invalid"),
        ({"teeth": ["eleven"]}, "invalid"),
        ({"material": "unobtainium"}, "invalid"),
    ],
)
def test_bad_case_details_are_422(
    clinic_client: Client, patient: Patient, change: dict[str, Any], code: str
) -> None:
    body = {**CASE_BODY, "patient_id": str(patient.id), **change}
    response = _post(clinic_client, "/api/v1/cases", body)
    assert response.status_code == 422
    assert response.json()["code"] == code
    assert not Case.objects.exists()


def test_a_reason_is_needed_to_decline(
    lab_client: Client, clinician: Membership, lab: Organization, connection_: LabConnection
) -> None:
    case = send_case(clinician, make_case(clinician), lab)
    assert _step(lab_client, case.id, "decline").status_code == 422
    declined = _step(lab_client, case.id, "decline", "We do not make zirconia bridges.")
    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    # Declined, the case is no longer the lab's to see.
    assert lab_client.get(f"/api/v1/cases/{case.id}").json() == NOT_FOUND


def test_a_step_of_the_other_side_is_403(
    clinic_client: Client, clinician: Membership, lab: Organization, connection_: LabConnection
) -> None:
    case = send_case(clinician, make_case(clinician), lab)
    response = _step(clinic_client, case.id, "accept")
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.status == "submitted"


def test_lab_staff_may_not_upload_a_design(
    clinician: Membership,
    designer: Membership,
    lab_staff: Membership,
    lab: Organization,
    connection_: LabConnection,
    signed_in: SignedIn,
) -> None:
    case = transition(designer, send_case(clinician, make_case(clinician), lab), "accept")
    response = signed_in(lab_staff.user).post(
        f"/api/v1/cases/{case.id}/revisions",
        {"files": [SimpleUploadedFile("crown.stl", arch_stl(3))]},
    )
    assert response.status_code == 403
    assert not Revision.objects.exists()


def test_the_lab_may_not_add_clinic_files(
    lab_client: Client, clinician: Membership, lab: Organization, connection_: LabConnection
) -> None:
    case = send_case(clinician, make_case(clinician), lab)
    response = _upload(lab_client, case.id, arch_stl(2))
    assert response.status_code == 403
    assert Attachment.objects.filter(case=case).count() == 1


def test_staff_without_share_or_approval_see_only_their_actions(
    clinic: Organization, clinician: Membership, member_of: MemberOf, signed_in: SignedIn
) -> None:
    case = make_case(clinician)
    client = signed_in(member_of(clinic, Role.STAFF).user)
    assert client.get(f"/api/v1/cases/{case.id}").json()["allowed_actions"] == ["cancel"]


# --- tenancy: what each side sees ------------------------------------------------------------


def test_the_lab_never_sees_who_the_case_is_for(
    clinic_client: Client,
    lab_client: Client,
    clinician: Membership,
    designer: Membership,
    patient: Patient,
    lab: Organization,
    connection_: LabConnection,
) -> None:
    case_id = _post(
        clinic_client, "/api/v1/cases", {**CASE_BODY, "patient_id": str(patient.id)}
    ).json()["id"]
    scan_id = _upload(clinic_client, case_id, arch_stl(1)).json()["id"]
    case = send_case(clinician, Case.objects.get(id=case_id), lab)
    case = transition(designer, case, "accept")
    revision = make_revision(designer, case)
    responses = {
        "case_get": lab_client.get(f"/api/v1/cases/{case_id}"),
        "case_list": lab_client.get("/api/v1/cases"),
        "case_event_list": lab_client.get(f"/api/v1/cases/{case_id}/events"),
        "attachment_list": lab_client.get(f"/api/v1/cases/{case_id}/attachments"),
        "revision_list": lab_client.get(f"/api/v1/cases/{case_id}/revisions"),
        "revision_get": lab_client.get(f"/api/v1/revisions/{revision.id}"),
        "case_transition": _step(lab_client, case_id, "send_for_review"),
    }
    for name, response in responses.items():
        assert response.status_code == 200, name
        _no_phi(response)
    assert responses["case_get"].json()["patient"] is None
    assert responses["case_transition"].json()["patient"] is None
    assert [c["patient"] for c in responses["case_list"].json()["items"]] == [None]
    # The case's own notes are for the lab; the patient's are not.
    assert responses["case_get"].json()["notes"] == CASE_BODY["notes"]
    download = lab_client.get(f"/api/v1/attachments/{scan_id}/content")
    assert download.status_code == 200
    assert GIVEN not in download["Content-Disposition"]
    # The clinic's side names the patient, but never the uploaded file's name.
    clinic_case = clinic_client.get(f"/api/v1/cases/{case_id}")
    assert clinic_case.json()["patient"]["family_name"] == FAMILY
    assert (
        "lower-arch"
        not in clinic_client.get(f"/api/v1/cases/{case_id}/attachments").content.decode()
    )


def test_another_clinics_case_answers_like_a_random_id(
    clinic_client: Client, other_clinic: Organization, member_of: MemberOf
) -> None:
    stranger = member_of(other_clinic, Role.CLINICIAN)
    case = make_case(stranger)
    scan = first_scan(case)
    paths = [
        f"/api/v1/cases/{case.id}",
        f"/api/v1/cases/{case.id}/events",
        f"/api/v1/cases/{case.id}/attachments",
        f"/api/v1/cases/{case.id}/revisions",
        f"/api/v1/attachments/{scan.id}/content",
    ]
    for path in paths:
        assert clinic_client.get(path).json() == NOT_FOUND, path
    random = uuid.uuid4()
    assert clinic_client.get(f"/api/v1/cases/{random}").json() == NOT_FOUND
    assert clinic_client.get(f"/api/v1/revisions/{random}").json() == NOT_FOUND
    assert _step(clinic_client, case.id, "cancel").json() == NOT_FOUND
    assert _upload(clinic_client, case.id, arch_stl(2)).json() == NOT_FOUND
    assert clinic_client.get("/api/v1/cases").json() == {"items": [], "count": 0}
    # Nor may a case be opened for another clinic's patient.
    body = {**CASE_BODY, "patient_id": str(case.patient_id)}
    assert _post(clinic_client, "/api/v1/cases", body).json() == NOT_FOUND
    case.refresh_from_db()
    assert case.status == "draft"
    assert Attachment.objects.filter(case=case).count() == 1


def test_a_withdrawn_case_leaves_the_lab_at_once(
    clinic_client: Client,
    lab_client: Client,
    clinician: Membership,
    lab: Organization,
    connection_: LabConnection,
) -> None:
    case = send_case(clinician, make_case(clinician), lab)
    scan = first_scan(case)
    assert lab_client.get(f"/api/v1/attachments/{scan.id}/content").status_code == 200
    assert _step(clinic_client, case.id, "revoke_share").json()["status"] == "draft"
    assert lab_client.get(f"/api/v1/cases/{case.id}").json() == NOT_FOUND
    assert lab_client.get(f"/api/v1/attachments/{scan.id}/content").json() == NOT_FOUND
    assert lab_client.get("/api/v1/cases").json()["count"] == 0


def test_list_filters_by_status_and_patient(
    clinic_client: Client, clinician: Membership, lab: Organization, connection_: LabConnection
) -> None:
    patient = make_patient(clinician)
    draft = make_case(clinician, patient)
    sent = send_case(clinician, make_case(clinician, patient), lab)
    elsewhere = make_case(clinician)
    by_status = clinic_client.get("/api/v1/cases", {"status": "submitted"}).json()
    assert [c["id"] for c in by_status["items"]] == [str(sent.id)]
    by_patient = clinic_client.get("/api/v1/cases", {"patient_id": str(patient.id)}).json()
    assert {c["id"] for c in by_patient["items"]} == {str(draft.id), str(sent.id)}
    everything = clinic_client.get("/api/v1/cases").json()
    assert everything["count"] == 3
    assert str(elsewhere.id) in {c["id"] for c in everything["items"]}
    assert clinic_client.get("/api/v1/cases", {"status": "sideways"}).status_code == 422


# --- downloads -------------------------------------------------------------------------------


def test_a_download_is_the_exact_bytes_under_a_generic_name(
    clinic_client: Client, clinician: Membership
) -> None:
    case = make_case(clinician, scans=0)
    scan = arch_stl(5)
    attachment_id = _upload(clinic_client, case.id, scan).json()["id"]
    response = clinic_client.get(f"/api/v1/attachments/{attachment_id}/content")
    assert response.status_code == 200
    assert response.streaming
    assert response.getvalue() == scan
    assert response["Content-Type"] == "model/stl"
    assert response["Content-Length"] == str(len(scan))
    assert response["Content-Disposition"] == (
        f'attachment; filename="{case.reference}-scan-{uuid.UUID(attachment_id).hex[:8]}.stl"'
    )
    assert DOWNLOAD_NAME.match(response["Content-Disposition"])
    assert response["Cache-Control"] == "no-store"
    assert response["X-Content-Type-Options"] == "nosniff"
    (read,) = AuditEvent.objects.filter(action=AuditAction.Record.Read, data_type="case_file")
    assert read.subject_patient == str(case.patient_id)


def test_a_revision_file_downloads_under_its_revision(
    lab_client: Client,
    clinician: Membership,
    designer: Membership,
    lab: Organization,
    connection_: LabConnection,
) -> None:
    case = transition(designer, send_case(clinician, make_case(clinician), lab), "accept")
    revision = make_revision(designer, case)
    (design,) = revision.files.all()
    response = lab_client.get(f"/api/v1/attachments/{design.id}/content")
    assert response["Content-Disposition"] == (
        f'attachment; filename="{case.reference}-rev1-scan-{design.id.hex[:8]}.stl"'
    )
    assert response.getvalue() == arch_stl(7)


# --- API tokens ------------------------------------------------------------------------------


def _token(membership: Membership, *scopes: TokenScope) -> dict[str, str]:
    """Headers with a token bound to ``membership``. Only an organisation admin makes tokens,
    for their own membership, so the member is an admin for that moment and then gets its
    role back: the token acts with that role, as it would after a role change."""
    role = membership.role
    membership.role = Role.ORG_ADMIN
    membership.save(update_fields=["role"])
    _row, plain = api_token_create(
        actor=actor_of(membership), name="Scanner", scopes=list(scopes), expires_in_days=30
    )
    membership.role = role
    membership.save(update_fields=["role"])
    return {"Authorization": f"Bearer {plain}"}


def test_a_cases_read_token_reads_cases_but_cannot_write(
    clinician: Membership, patient: Patient
) -> None:
    case = make_case(clinician, patient)
    scan = first_scan(case)
    auth = _token(clinician, TokenScope.CASES_READ)
    reader = Client()
    assert reader.get("/api/v1/cases", headers=auth).json()["count"] == 1
    assert reader.get(f"/api/v1/cases/{case.id}", headers=auth).json()["patient"]["id"] == str(
        patient.id
    )
    assert reader.get(f"/api/v1/cases/{case.id}/events", headers=auth).status_code == 200
    assert reader.get(f"/api/v1/attachments/{scan.id}/content", headers=auth).status_code == 200
    writes = [
        _post(reader, "/api/v1/cases", {**CASE_BODY, "patient_id": str(patient.id)}, headers=auth),
        _post(reader, f"/api/v1/cases/{case.id}/transitions", {"action": "cancel"}, headers=auth),
        reader.post(
            f"/api/v1/cases/{case.id}/attachments",
            {"file": SimpleUploadedFile("scan.stl", arch_stl(2))},
            headers=auth,
        ),
    ]
    for response in writes:
        assert response.status_code == 403
        assert response.json()["code"] == "scope_missing"
    assert Case.objects.count() == 1
    case.refresh_from_db()
    assert case.status == "draft"
    assert Attachment.objects.count() == 1


def test_a_cases_write_token_opens_a_case_and_adds_a_scan(
    clinician: Membership, patient: Patient
) -> None:
    auth = _token(clinician, TokenScope.CASES_READ, TokenScope.CASES_WRITE)
    client = Client()
    created = _post(
        client, "/api/v1/cases", {**CASE_BODY, "patient_id": str(patient.id)}, headers=auth
    )
    assert created.status_code == 201
    case_id = created.json()["id"]
    uploaded = client.post(
        f"/api/v1/cases/{case_id}/attachments",
        {"file": SimpleUploadedFile("scan.stl", arch_stl(2))},
        headers=auth,
    )
    assert uploaded.status_code == 201
    # The token acts as its member.
    assert Case.objects.get(id=case_id).created_by_id == clinician.user_id
    assert Attachment.objects.get(case_id=case_id).uploaded_by_id == clinician.user_id


# --- the OpenAPI document --------------------------------------------------------------------

OPERATIONS = {
    ("get", "/api/v1/patients", "patient_list"),
    ("post", "/api/v1/patients", "patient_create"),
    ("get", "/api/v1/patients/{patient_id}", "patient_get"),
    ("put", "/api/v1/patients/{patient_id}", "patient_update"),
    ("get", "/api/v1/cases", "case_list"),
    ("post", "/api/v1/cases", "case_create"),
    ("get", "/api/v1/cases/{case_id}", "case_get"),
    ("put", "/api/v1/cases/{case_id}", "case_update"),
    ("post", "/api/v1/cases/{case_id}/send", "case_send"),
    ("post", "/api/v1/cases/{case_id}/transitions", "case_transition"),
    ("get", "/api/v1/cases/{case_id}/events", "case_event_list"),
    ("get", "/api/v1/cases/{case_id}/attachments", "attachment_list"),
    ("post", "/api/v1/cases/{case_id}/attachments", "attachment_upload"),
    ("get", "/api/v1/attachments/{attachment_id}/content", "attachment_download"),
    ("get", "/api/v1/cases/{case_id}/revisions", "revision_list"),
    ("post", "/api/v1/cases/{case_id}/revisions", "revision_create"),
    ("get", "/api/v1/revisions/{revision_id}", "revision_get"),
}
REQUEST_BODIES = {
    "patient_create": ("application/json", "PatientCreateIn"),
    "patient_update": ("application/json", "PatientUpdateIn"),
    "case_create": ("application/json", "CaseCreateIn"),
    "case_update": ("application/json", "CaseUpdateIn"),
    "case_send": ("application/json", "CaseSendIn"),
    "case_transition": ("application/json", "CaseTransitionIn"),
    "attachment_upload": ("multipart/form-data", None),
    "revision_create": ("multipart/form-data", None),
}


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for item in schema["paths"].values()
        for operation in item.values()
    }


def test_the_openapi_document_lists_every_patient_and_case_operation() -> None:
    schema = Client().get("/api/v1/openapi.json").json()
    listed = {
        (method, path, operation["operationId"])
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    assert listed >= OPERATIONS
    operations = _operations(schema)
    for _method, _path, name in OPERATIONS:
        operation = operations[name]
        assert operation["description"], name
        success = operation["responses"].get("200") or operation["responses"]["201"]
        assert success["content"], name
        for status in ("403", "404"):
            assert "ErrorOut" in str(operation["responses"][status]), (name, status)
    for name, (media, ref) in REQUEST_BODIES.items():
        content = operations[name]["requestBody"]["content"]
        assert list(content) == [media], name
        if ref is not None:
            assert content[media]["schema"]["$ref"].endswith(f"/{ref}"), name
    upload_form = operations["revision_create"]["requestBody"]["content"]["multipart/form-data"]
    assert upload_form["schema"]["properties"]["files"]["type"] == "array"
    assert "note" in upload_form["schema"]["properties"]
    assert "TransitionErrorOut" in str(operations["case_transition"]["responses"]["409"])
    for name in ("attachment_upload", "revision_create"):
        assert {"413", "415", "422"} <= set(operations[name]["responses"]), name
    components = schema["components"]["schemas"]
    # Field descriptions reach the document; the lab-facing case shape has no patient detail.
    assert components["CaseCreateIn"]["properties"]["teeth"]["description"]
    assert components["PatientOut"]["properties"]["health_card"]["description"]
    case_fields = set(components["CaseOut"]["properties"])
    assert not case_fields & {"email", "phone", "health_card", "address", "date_of_birth"}
    assert set(components["PatientRefOut"]["properties"]) == {
        "id",
        "given_name",
        "family_name",
        "date_of_birth",
    }
    assert "filename" not in components["AttachmentOut"]["properties"]


def test_the_openapi_document_marks_which_operations_take_tokens() -> None:
    operations = _operations(Client().get("/api/v1/openapi.json").json())
    for name in ("case_list", "case_create", "attachment_download", "patient_get"):
        assert {"ApiTokenAuth": []} in operations[name]["security"], name
    for name in ("patient_create", "patient_update"):
        assert operations[name]["security"] == [{"SessionAuth": []}], name


# --- query counts ----------------------------------------------------------------------------


def _queries(client: Client, path: str) -> int:
    """The queries one request costs in a session already in use (the first request of a
    session records it), with no data key in memory, as a fresh worker would have."""
    assert client.get("/api/v1/me").status_code == 200
    dek_cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_the_clinic_case_list_costs_the_same_for_2_or_12_cases(
    clinic_client: Client,
    clinician: Membership,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    for _ in range(2):
        make_case(clinician, scans=0)
    with_two = _queries(clinic_client, "/api/v1/cases")
    # Session, user, memberships, MFA check; count, page (cases with clinic, lab, patient),
    # the data keys of their patients; the audited read.
    assert with_two == 3 + 1 + 3 + audited_read_queries()
    for _ in range(10):
        make_case(clinician, scans=0)
    dek_cache.clear()
    with django_assert_num_queries(with_two):
        response = clinic_client.get("/api/v1/cases")
    items = response.json()["items"]
    assert len(items) == 12
    assert all(item["patient"]["given_name"] == "Ada" for item in items)


def test_the_lab_case_list_costs_the_same_for_2_or_12_cases(
    lab_client: Client,
    clinician: Membership,
    lab: Organization,
    connection_: LabConnection,
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    for _ in range(2):
        send_case(clinician, make_case(clinician), lab)
    with_two = _queries(lab_client, "/api/v1/cases")
    assert with_two == 3 + 1 + 3 + audited_read_queries()
    for _ in range(10):
        send_case(clinician, make_case(clinician), lab)
    dek_cache.clear()
    with django_assert_num_queries(with_two):
        response = lab_client.get("/api/v1/cases")
    items = response.json()["items"]
    assert len(items) == 12
    assert all(item["patient"] is None for item in items)
    assert all(item["notes"] == "Prep margin subgingival on the distal." for item in items)
