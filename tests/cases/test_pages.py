"""The case pages: list and inbox, the three steps of a new case, the case page from each side,
workflow buttons, revisions and downloads; what a lab never sees; fixed query counts."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from pytest_django import DjangoAssertNumQueries

from cuspid.accounts.models import User
from cuspid.cases.models import Attachment, Case, Revision
from cuspid.cases.workflow import State
from cuspid.keys.crypto import dek_cache
from cuspid.tenancy.enums import ConnectionStatus, Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.web.demo_scans import arch_stl
from tests.factories import make_lab, make_lab_connection
from tests.factories.cases import (
    PATIENT_EMAIL,
    PATIENT_HEALTH_CARD,
    first_scan,
    make_case,
    make_patient,
    make_revision,
    send_case,
    transition,
)

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

HTMX = {"HX-Request": "true"}
# Everything that says who the patient is; a lab's pages show none of it.
PATIENT_IDENTITY = (
    "Ada",
    "Lovelace",
    "1980-12-10",
    PATIENT_EMAIL,
    "+1 416 555 0199",
    "416 555 0199",
    "Example Street",
    PATIENT_HEALTH_CARD,
    "CH-1001",
    "latex",
)


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


@pytest.fixture
def designer(lab: Organization, member_of: MemberOf) -> Membership:
    return member_of(lab, Role.DESIGNER)


@pytest.fixture
def clinic_client(clinician: Membership, signed_in: SignedIn) -> Client:
    return signed_in(clinician.user)


@pytest.fixture
def lab_client(designer: Membership, signed_in: SignedIn) -> Client:
    return signed_in(designer.user)


@pytest.fixture
def sent(clinician: Membership, lab: Organization, connection_: LabConnection) -> Case:
    """A crown case with one scan, sent to the lab."""
    return send_case(clinician, make_case(clinician), lab)


def _page(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.content.decode()[:2000]
    return response.content.decode()


def _stl(seed: int = 1, name: str = "Lovelace Ada lower.stl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, arch_stl(seed), content_type="model/stl")


def _messages(body: str) -> list[str]:
    return re.findall(r'<p class="message[^"]*">(.*?)</p>', body, re.S)


def _follow(client: Client, response: object) -> str:
    location = getattr(response, "headers", {})["Location"]
    return _page(client, location)


# --- who may open what ------------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in(db: None) -> None:
    for url in ("/cases/", "/cases/new/"):
        response = Client().get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_an_org_admin_holds_no_case_permission(
    clinic: Organization, member_of: MemberOf, signed_in: SignedIn, clinician: Membership
) -> None:
    case = make_case(clinician)
    client = signed_in(member_of(clinic, Role.ORG_ADMIN).user)
    assert client.get("/cases/").status_code == 403
    assert client.get(f"/cases/{case.id}/").status_code == 403
    assert 'href="/cases/"' not in _page(client, "/")


def test_a_lab_sees_no_draft_and_another_clinic_sees_nothing(
    clinician: Membership,
    lab_client: Client,
    other_clinic: Organization,
    member_of: MemberOf,
    signed_in: SignedIn,
    connection_: LabConnection,
) -> None:
    draft = make_case(clinician)
    scan = first_scan(draft)
    stranger = signed_in(member_of(other_clinic, Role.CLINICIAN).user)
    for client in (lab_client, stranger):
        assert client.get(f"/cases/{draft.id}/").status_code == 404
        assert client.get(f"/files/{scan.id}/").status_code == 404
    assert draft.reference not in _page(stranger, "/cases/")


def test_the_lab_cannot_open_the_clinics_steps(lab_client: Client, sent: Case) -> None:
    for url in (f"/cases/{sent.id}/files/", f"/cases/{sent.id}/send/", "/cases/new/"):
        assert lab_client.get(url).status_code == 403


# --- the list ---------------------------------------------------------------------------------


def test_empty_lists_say_what_comes_there(clinic_client: Client, lab_client: Client) -> None:
    clinic_body = _page(clinic_client, "/cases/")
    assert "No cases yet" in clinic_body
    assert 'href="/cases/new/"' in clinic_body
    assert "Your inbox is empty" in _page(lab_client, "/cases/")
    assert "No cases yet" in _page(lab_client, "/")


def test_the_clinic_list_names_the_patient_and_the_lab(
    clinic_client: Client, sent: Case, lab: Organization
) -> None:
    body = _page(clinic_client, "/cases/")
    assert sent.reference in body
    assert "Lovelace, Ada" in body
    assert lab.name in body
    assert "Sent to lab" in body
    dashboard = _page(clinic_client, "/")
    assert sent.reference in dashboard
    assert 'href="/cases/?status=submitted"' in dashboard


def test_the_lab_inbox_shows_the_case_and_never_the_patient(
    lab_client: Client, sent: Case, clinic: Organization, clinician: Membership
) -> None:
    make_case(clinician, make_patient(clinician, given_name="Unsent"))
    for url in ("/cases/", "/cases/?status=all", "/"):
        body = _page(lab_client, url)
        assert sent.reference in body
        assert clinic.name in body
        assert "Unsent" not in body
        for value in PATIENT_IDENTITY:
            assert value not in body, (url, value)
    assert sent.reference not in _page(lab_client, "/cases/?status=accepted")


def test_an_unknown_status_lists_nothing(clinic_client: Client, sent: Case) -> None:
    assert sent.reference not in _page(clinic_client, "/cases/?status=bogus")


def _queries(client: Client, url: str) -> int:
    # The first request of a session writes its bookkeeping; later ones compare like with like.
    assert client.get(url).status_code == 200
    dek_cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("side", ["clinic", "lab"])
def test_the_list_costs_the_same_queries_for_2_and_for_12_cases(
    clinician: Membership,
    clinic_client: Client,
    lab_client: Client,
    lab: Organization,
    connection_: LabConnection,
    django_assert_num_queries: DjangoAssertNumQueries,
    side: str,
) -> None:
    def add(count: int) -> None:
        for n in range(count):
            patient = make_patient(clinician, given_name=f"Pat{n}", health_card=f"X{n}")
            send_case(clinician, make_case(clinician, patient), lab)

    client, url = (clinic_client, "/cases/") if side == "clinic" else (lab_client, "/cases/")
    add(2)
    two = _queries(client, url)
    add(10)
    dek_cache.clear()
    with django_assert_num_queries(two):
        body = client.get(url).content.decode()
    assert len(set(re.findall(r"C-\d{5}", body))) == 12


# --- step 1: a new case -----------------------------------------------------------------------


def _details(**changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "case_type": "crown",
        "teeth": ["36"],
        "material": "zirconia",
        "shade": "A2",
        "due_date": "",
        "priority": "routine",
        "notes": "Deep margin distal.",
    }
    values.update(changes)
    return values


def test_step_1_preselects_the_patient_and_opens_a_draft(
    clinic_client: Client, clinician: Membership
) -> None:
    make_patient(clinician, given_name="Other", health_card="X1")
    patient = make_patient(clinician)
    form = _page(clinic_client, f"/cases/new/?patient={patient.id}")
    assert f'<option value="{patient.id}" selected>' in form
    assert 'name="teeth" value="18"' in form
    assert 'name="teeth" value="85"' in form
    assert 'aria-current="step"' in form

    response = clinic_client.post(
        "/cases/new/", _details(patient=str(patient.id), teeth=["11", "21"], case_type="bridge")
    )
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.id}/files/"
    assert (case.status, case.teeth, case.patient_id) == ("draft", [11, 21], patient.id)
    assert case.notes == "Deep margin distal."


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"teeth": ["19"]}, "19 is not an FDI tooth number."),
        ({"teeth": ["36"], "case_type": "bridge"}, "A bridge spans at least two teeth."),
        ({"teeth": []}, "Choose the teeth this case is for"),
        ({"due_date": "2001-01-01"}, "The due date is in the past."),
    ],
)
def test_step_1_refusals_stay_on_the_form(
    clinic_client: Client, clinician: Membership, changes: dict[str, object], message: str
) -> None:
    patient = make_patient(clinician)
    response = clinic_client.post("/cases/new/", _details(patient=str(patient.id), **changes))
    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Case.objects.exists()


def test_step_1_refuses_another_clinics_patient(
    clinic_client: Client, clinician: Membership, other_clinic: Organization, member_of: MemberOf
) -> None:
    make_patient(clinician)
    theirs = make_patient(member_of(other_clinic, Role.CLINICIAN))
    response = clinic_client.post("/cases/new/", _details(patient=str(theirs.id)))
    assert response.status_code == 404
    assert not Case.objects.exists()
    response = clinic_client.post("/cases/new/", _details(patient="not-an-id"))
    assert response.status_code == 422
    assert "Select a valid choice" in response.content.decode()


def test_step_1_without_patients_sends_to_registration(clinic_client: Client) -> None:
    body = _page(clinic_client, "/cases/new/")
    assert "Register the patient first" in body
    assert 'href="/patients/new/"' in body


def test_editing_details_of_a_draft(clinic_client: Client, clinician: Membership) -> None:
    case = make_case(clinician)
    form = _page(clinic_client, f"/cases/{case.id}/edit/")
    assert 'value="36" checked' in form
    response = clinic_client.post(f"/cases/{case.id}/edit/", _details(teeth=["46"], shade="B1"))
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.id}/files/"  # a draft goes on to step 2
    case.refresh_from_db()
    assert (case.teeth, case.shade) == ([46], "B1")


def test_details_are_locked_once_the_lab_has_accepted(
    clinic_client: Client, designer: Membership, sent: Case
) -> None:
    accepted = transition(designer, sent, "accept")
    assert f'href="/cases/{accepted.id}/edit/"' not in _page(
        clinic_client, f"/cases/{accepted.id}/"
    )
    response = clinic_client.post(f"/cases/{accepted.id}/edit/", _details(teeth=["46"]))
    assert response.status_code == 422
    assert "The lab has started on this case" in response.content.decode()
    accepted.refresh_from_db()
    assert accepted.teeth == [36]


# --- step 2: files ----------------------------------------------------------------------------


def test_step_2_stores_a_valid_scan_without_javascript(
    clinic_client: Client, clinician: Membership
) -> None:
    case = make_case(clinician, scans=0)
    response = clinic_client.post(f"/cases/{case.id}/files/", {"file": _stl()})
    assert response.status_code == 302
    attachment = Attachment.objects.get(case=case)
    assert (attachment.kind, attachment.file_format) == ("scan", "stl_binary")
    body = _follow(clinic_client, response)
    assert "File added." in body
    assert attachment.sha256[:12] in body
    assert f'title="{attachment.sha256}"' in body
    assert f"/files/{attachment.id}/" in body
    assert f'href="/cases/{case.id}/send/"' in body


def test_step_2_through_htmx_answers_the_file_list(
    clinic_client: Client, clinician: Membership
) -> None:
    case = make_case(clinician, scans=0)
    response = clinic_client.post(f"/cases/{case.id}/files/", {"file": _stl()}, headers=HTMX)
    body = response.content.decode()
    attachment = Attachment.objects.get(case=case)
    assert response.status_code == 200
    assert "<html" not in body
    assert "Added: Intraoral scan" in body
    assert f"{attachment.vertex_count} vertices, {attachment.face_count} faces" in body
    assert " mm" in body


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize(
    ("content", "status", "detail"),
    [
        (b"solid nothing\nthis is not a mesh\n", 422, "The scan contains no triangles."),
        (b"just some words", 415, "This type of file is not supported"),
    ],
)
def test_step_2_a_bad_file_is_refused_in_place_and_nothing_is_stored(
    clinic_client: Client,
    clinician: Membership,
    htmx: bool,
    content: bytes,
    status: int,
    detail: str,
) -> None:
    case = make_case(clinician, scans=0)
    upload = SimpleUploadedFile("scan.stl", content)
    headers = HTMX if htmx else None
    response = clinic_client.post(f"/cases/{case.id}/files/", {"file": upload}, headers=headers)
    body = response.content.decode()
    assert response.status_code == status
    assert "The file was not added." in body
    assert detail in body
    assert ("<html" in body) is not htmx
    assert not Attachment.objects.filter(case=case).exists()


def test_step_2_without_a_file_asks_for_one(clinic_client: Client, clinician: Membership) -> None:
    case = make_case(clinician, scans=0)
    response = clinic_client.post(f"/cases/{case.id}/files/", {})
    assert response.status_code == 422
    assert "Choose a file to upload." in response.content.decode()


def test_step_2_refuses_files_once_approved(clinic_client: Client, sent: Case) -> None:
    Case.objects.filter(id=sent.id).update(status=State.APPROVED)
    response = clinic_client.post(f"/cases/{sent.id}/files/", {"file": _stl()})
    assert response.status_code == 409
    assert "Files can no longer be added to this case." in response.content.decode()
    assert Attachment.objects.filter(case=sent).count() == 1


# --- step 3: send -----------------------------------------------------------------------------


def test_step_3_lists_active_labs_only_and_sends(
    clinic_client: Client,
    clinician: Membership,
    clinic: Organization,
    lab: Organization,
    connection_: LabConnection,
) -> None:
    pending = make_lab(name="Pending Lab")
    make_lab_connection(clinic=clinic, lab=pending, status=ConnectionStatus.PENDING)
    case = make_case(clinician)
    form = _page(clinic_client, f"/cases/{case.id}/send/")
    assert lab.name in form
    assert "Pending Lab" not in form

    response = clinic_client.post(f"/cases/{case.id}/send/", {"lab": str(pending.id)})
    assert response.status_code == 422
    response = clinic_client.post(f"/cases/{case.id}/send/", {"lab": str(lab.id)})
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.id}/"
    case.refresh_from_db()
    assert (case.status, case.shared_with_lab_id) == ("submitted", lab.id)
    assert f"Case {case.reference} sent to {lab.name}." in _follow(clinic_client, response)


def test_step_3_without_a_scan_says_so(
    clinic_client: Client, clinician: Membership, lab: Organization, connection_: LabConnection
) -> None:
    case = make_case(clinician, scans=0)
    response = clinic_client.post(f"/cases/{case.id}/send/", {"lab": str(lab.id)})
    assert response.status_code == 422
    assert "Add at least one intraoral scan" in response.content.decode()
    case.refresh_from_db()
    assert case.status == "draft"


# --- the case page ------------------------------------------------------------------------------


def test_the_clinic_sees_the_patient_the_lab_sees_only_the_case(
    clinic_client: Client, lab_client: Client, sent: Case
) -> None:
    clinic_body = _page(clinic_client, f"/cases/{sent.id}/")
    assert "Ada Lovelace" in clinic_body
    assert f"/patients/{sent.patient_id}/" in clinic_body

    lab_body = _page(lab_client, f"/cases/{sent.id}/")
    assert sent.reference in lab_body
    assert "Prep margin subgingival on the distal." in lab_body  # the clinical notes
    assert "Zirconia" in lab_body
    for value in PATIENT_IDENTITY:
        assert value not in lab_body, value
    assert str(sent.patient_id) not in lab_body
    assert f"/files/{first_scan(sent).id}/" in lab_body
    # The lab's buttons: accept and decline; none of the clinic's.
    assert 'value="accept"' in lab_body
    assert 'value="decline"' in lab_body
    assert 'value="cancel"' not in lab_body
    assert 'value="cancel"' in clinic_body
    assert 'value="accept"' not in clinic_body


def test_transitions_through_the_actions_form(
    lab_client: Client, clinic_client: Client, sent: Case, designer: Membership
) -> None:
    url = f"/cases/{sent.id}/actions/"
    response = lab_client.post(url, {"action": "accept"})
    assert response.status_code == 302
    sent.refresh_from_db()
    assert sent.status == "accepted"
    assert "Done: the case is now Accepted by lab." in _follow(lab_client, response)

    # Not from this state: a message naming the state, nothing changes.
    response = lab_client.post(url, {"action": "send_for_review"})
    body = _follow(lab_client, response)
    assert "Nothing changed: the case is Accepted by lab." in body
    sent.refresh_from_db()
    assert sent.status == "accepted"

    # The page shows the revision button now, and the timeline the steps so far.
    page = _page(lab_client, f"/cases/{sent.id}/")
    assert f'href="/cases/{sent.id}/revisions/new/"' in page
    assert "Case opened" in page
    assert "Sent to lab → Accepted by lab" in page

    # The clinic's action from the lab's side is refused outright.
    assert lab_client.post(url, {"action": "cancel"}).status_code == 403


def test_declining_needs_a_reason_and_leaves_the_lab(lab_client: Client, sent: Case) -> None:
    url = f"/cases/{sent.id}/actions/"
    body = _follow(lab_client, lab_client.post(url, {"action": "decline", "reason": " "}))
    assert "Say why, for the other side to read." in body
    response = lab_client.post(url, {"action": "decline", "reason": "We do not mill zirconia."})
    assert response["Location"] == "/cases/"
    sent.refresh_from_db()
    assert (sent.status, sent.shared_with_lab_id) == ("declined", None)
    assert lab_client.get(f"/cases/{sent.id}/").status_code == 404


def test_the_clinic_reads_the_decline_reason_on_the_timeline(
    clinic_client: Client, designer: Membership, sent: Case
) -> None:
    transition(designer, sent, "decline", "We do not mill zirconia.")
    body = _page(clinic_client, f"/cases/{sent.id}/")
    assert "We do not mill zirconia." in body
    assert "Declined by lab" in body
    assert f'href="/cases/{sent.id}/send/"' in body  # send it to another lab


def test_approving_asks_for_a_fresh_sign_in(
    clinic_client: Client, designer: Membership, sent: Case
) -> None:
    sent = transition(designer, sent, "accept")
    revision = make_revision(designer, sent)
    transition(designer, sent, "send_for_review")
    # The case page's button leads to the revision's review page, where approving happens.
    assert f'href="/revisions/{revision.id}/"' in _page(clinic_client, f"/cases/{sent.id}/")
    response = clinic_client.post(
        f"/revisions/{revision.id}/approve/", {"statement_version": "2026-12"}
    )
    assert response.status_code == 302
    # Back to the review page once the identity is confirmed, to press Approve again.
    assert response["Location"] == f"/account/step-up/?next=%2Frevisions%2F{revision.id}%2F"
    sent.refresh_from_db()
    assert sent.status == "awaiting_review"


def test_a_lab_designer_uploads_a_revision_the_clinic_sees_it(
    lab_client: Client, clinic_client: Client, designer: Membership, sent: Case
) -> None:
    transition(designer, sent, "accept")
    form = _page(lab_client, f"/cases/{sent.id}/revisions/new/")
    assert "Revision 1 of case" in form
    response = lab_client.post(
        f"/cases/{sent.id}/revisions/new/",
        {"design_files": [_stl(7, "crown.stl"), _stl(8, "crown-2.stl")], "note": "Contacts light."},
    )
    assert response.status_code == 302
    revision = Revision.objects.get(case=sent)
    assert (revision.number, revision.files.count(), revision.note) == (1, 2, "Contacts light.")
    body = _page(clinic_client, f"/cases/{sent.id}/")
    assert "Revision 1" in body
    assert "Contacts light." in body
    assert revision.manifest_sha256[:16] in body
    assert "Design revision uploaded" in body


def test_a_bad_revision_is_refused_on_the_form(
    lab_client: Client, designer: Membership, sent: Case
) -> None:
    transition(designer, sent, "accept")
    response = lab_client.post(
        f"/cases/{sent.id}/revisions/new/",
        {"design_files": [SimpleUploadedFile("x.pdf", b"%PDF-1.4 nope")], "note": ""},
    )
    assert 400 <= response.status_code < 500
    assert "The revision was not uploaded." in response.content.decode()
    assert not Revision.objects.exists()
    assert lab_client.post(f"/cases/{sent.id}/revisions/new/", {}).status_code == 422


# --- downloads ----------------------------------------------------------------------------------


def test_a_download_is_the_exact_file_under_a_generic_name(
    clinic_client: Client, lab_client: Client, sent: Case, designer: Membership
) -> None:
    scan = first_scan(sent)
    for client in (clinic_client, lab_client):
        response = client.get(f"/files/{scan.id}/")
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == arch_stl(1)  # type: ignore[attr-defined]  # a streaming response
        assert response["Content-Disposition"] == (
            f'attachment; filename="{sent.reference}-scan-{scan.id.hex[:8]}.stl"'
        )
        assert response["Cache-Control"] == "no-store"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "lower-arch" not in response["Content-Disposition"]

    sent = transition(designer, sent, "accept")
    revision = make_revision(designer, sent)
    design = revision.files.get()
    response = clinic_client.get(f"/files/{design.id}/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="{sent.reference}-rev1-scan-{design.id.hex[:8]}.stl"'
    )
    assert b"".join(response.streaming_content) == arch_stl(7)  # type: ignore[attr-defined]  # a streaming response
