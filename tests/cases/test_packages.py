"""Production packages: the deterministic ZIP, its manifest and work order, the service that
makes it (and moves the case to production), its audited downloads, and the review page's
panel.

Everything goes through the real services on the test database (signed approvals, encrypted
blobs, audit chain); ZIPs are opened and every entry hashed.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pypdf
import pytest
import time_machine
from django.db.models import Max
from django.test import Client
from django.urls import reverse
from django.utils import translation
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.enums import TimelineEntry
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.manifest import manifest_sha256
from cuspid.cases.models import Approval, Attachment, Case, CaseEvent, ProductionPackage, Revision
from cuspid.cases.packages import (
    COMPRESS_LEVEL,
    MANIFEST_NAME,
    WORKORDER_HTML,
    WORKORDER_PDF,
    Content,
    PackageFileMismatch,
    build_package,
    chunks_of,
    manifest_json,
    zip_timestamp,
)
from cuspid.cases.selectors.packages import (
    package_download_name,
    package_file_name,
    package_get_for,
)
from cuspid.cases.services.packages import (
    ApprovalSignatureInvalid,
    ApprovedFilesChanged,
    RevisionNotApproved,
    _package_store,
    package_download,
)
from cuspid.cases.workflow import State
from cuspid.cases.workorder import (
    ApprovalRecord,
    OrderFile,
    WorkOrder,
    workorder_html,
    workorder_pdf,
)
from cuspid.core.errors import PermissionDenied
from cuspid.keys.blobs import blob_put
from cuspid.keys.models import EncryptedBlob, OwnerKind
from cuspid.patients.models import Patient
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo_scans import arch_stl
from tests.factories import make_lab
from tests.factories.cases import actor_of, make_patient, transition
from tests.factories.packages import (
    DESIGN_FILE_NAMES,
    accepted_case,
    approved_revision,
    fresh_revision,
    make_package,
    package_bytes,
    package_entries,
    reviewed_revision,
)

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

# Who the case is for: every value unusual enough that finding it in a package means a leak.
PATIENT_FIELDS: dict[str, object] = {
    "given_name": "Zephyrine",
    "family_name": "Quillfeather",
    "date_of_birth": datetime.date(1971, 7, 29),
    "email": "zephyrine.q@patient.example",
    "phone": "+1 613 555 0142",
    "address": "42 Wobbleton Crescent, Kanata",
    "health_card": "9876-543-210-ZQ",
    "chart_number": "CH-4242",
    "notes": "Prefers afternoon appointments.",
}
PHI_STRINGS = [
    "Zephyrine",
    "Quillfeather",
    "zephyrine.q@patient.example",
    "555 0142",
    "Wobbleton",
    "9876-543-210-ZQ",
    "CH-4242",
    "afternoon appointments",
    "1971-07-29",
    "1971",
    "29/07",
    "07/29",
    "July 29",
    *DESIGN_FILE_NAMES,
    "crown-36-for",
]
NOTES = "Prep margin subgingival on the distal.\nContacts: tight mesial."


@dataclass(frozen=True)
class Team:
    """A clinic and its lab, one member per working role, and a second, unconnected lab."""

    clinic: Organization
    lab: Organization
    clinician: Membership
    staff: Membership
    designer: Membership
    lab_staff: Membership
    other_lab_staff: Membership
    patient: Patient


@pytest.fixture(autouse=True)
def blob_store(settings: Settings, tmp_path: Path) -> Path:
    """Every stored file of the test under its own directory."""
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
def team(clinic: Organization, lab: Organization, connection_: object, member_of: MemberOf) -> Team:
    clinician = member_of(clinic, Role.CLINICIAN)
    clinician.user.full_name = "Dr Amara Okafor"
    clinician.user.save(update_fields=["full_name"])
    other_lab = make_lab(name="Distant Lab")
    return Team(
        clinic=clinic,
        lab=lab,
        clinician=clinician,
        staff=member_of(clinic, Role.STAFF),
        designer=member_of(lab, Role.DESIGNER),
        lab_staff=member_of(lab, Role.LAB_STAFF),
        other_lab_staff=member_of(other_lab, Role.LAB_STAFF),
        patient=make_patient(clinician, **PATIENT_FIELDS),
    )


@pytest.fixture
def approved(team: Team) -> Revision:
    """Revision 1 of a bridge 44-46, approved by the clinician: the case is approved."""
    return approved_revision(
        team.clinician, team.designer, team.lab, team.patient, teeth=(44, 45, 46), notes=NOTES
    )


def _last_sequence() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _events_since(mark: int) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(sequence__gt=mark)
        .order_by("sequence")
        .values_list("action", "outcome")
    )


def _case(revision: Revision) -> Case:
    return Case.objects.get(pk=revision.case_id)


def _snapshot() -> tuple[int, int, int, list[str]]:
    return (
        ProductionPackage.objects.count(),
        EncryptedBlob.objects.count(),
        CaseEvent.objects.count(),
        list(Case.objects.order_by("id").values_list("status", flat=True)),
    )


# --- the pure builder --------------------------------------------------------------------------

MESH = arch_stl(3)
OTHER_MESH = arch_stl(4)


def _order(**changes: object) -> WorkOrder:
    order = WorkOrder(
        case_id=uuid.UUID(int=1),
        case_reference="C-00042",
        case_type="bridge",
        teeth=(44, 45, 46),
        material="zirconia",
        shade="A2",
        due_date=datetime.date(2031, 3, 14),
        priority="rush",
        notes=NOTES,
        clinic_name="North Clinic",
        lab_name="Bright Lab",
        revision_id=uuid.UUID(int=2),
        revision_number=2,
        revision_manifest_sha256="a" * 64,
        approval=ApprovalRecord(
            id=uuid.UUID(int=3),
            approver_id=uuid.UUID(int=4),
            approver_name="Dr Émile Roy",
            approved_at=datetime.datetime(2031, 3, 1, 15, 30, 12, tzinfo=datetime.UTC),
            manifest_sha256="a" * 64,
            statement_version="v1",
            key_id="0123456789abcdef",
            signature="c2lnbmF0dXJl" * 7,
        ),
        files=(
            OrderFile(
                "C-00042-rev2-proposal-0000000a.stl",
                "proposal",
                "stl_binary",
                hashlib.sha256(MESH).hexdigest(),
                len(MESH),
            ),
            OrderFile(
                "C-00042-rev2-proposal-0000000b.stl",
                "proposal",
                "stl_binary",
                hashlib.sha256(OTHER_MESH).hexdigest(),
                len(OTHER_MESH),
            ),
        ),
        time_zone="America/Toronto",
        language="en",
    )
    return replace(order, **changes)  # type: ignore[arg-type]  # test values


def _contents(chunk: int = 1 << 20) -> dict[str, Content]:
    return {
        "C-00042-rev2-proposal-0000000a.stl": chunks_of(MESH, chunk),
        "C-00042-rev2-proposal-0000000b.stl": chunks_of(OTHER_MESH, chunk),
    }


def test_the_same_order_gives_the_same_bytes_whatever_the_chunks_language_or_time() -> None:
    first = build_package(_order(), _contents())
    with translation.override("fr"), time_machine.travel("2040-01-01 09:00Z"):
        second = build_package(_order(), _contents(4096))
    assert first == second
    # An input that differs gives different bytes: the build is not a constant.
    assert build_package(_order(shade="A3"), _contents()) != first


def test_the_zip_is_sorted_dated_by_the_approval_and_has_fixed_modes_and_no_extras() -> None:
    data = build_package(_order(), _contents())
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        assert archive.comment == b""
        assert archive.testzip() is None
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert names == [
        "C-00042-rev2-proposal-0000000a.stl",
        "C-00042-rev2-proposal-0000000b.stl",
        MANIFEST_NAME,
        WORKORDER_HTML,
        WORKORDER_PDF,
    ]
    for info in infos:
        assert info.date_time == (2031, 3, 1, 15, 30, 0)
        assert info.external_attr >> 16 == 0o100644
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_DEFLATED
        assert info.extra == b""
        assert not info.is_dir()
        assert info.flag_bits & 0x08 == 0  # sizes in the header, no data descriptor
    assert zip_timestamp(_order()) == (2031, 3, 1, 15, 30, 0)
    assert COMPRESS_LEVEL == 6


def test_the_manifest_is_canonical_json_naming_case_revision_files_and_approval() -> None:
    data = build_package(_order(), _contents())
    entries = package_entries(data)
    raw = entries[MANIFEST_NAME]
    manifest = json.loads(raw)
    assert raw == (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode("ascii")
    assert manifest["format"] == "cuspid-production-package-v1"
    assert manifest["case"] == {
        "id": str(uuid.UUID(int=1)),
        "reference": "C-00042",
        "case_type": "bridge",
        "teeth": [44, 45, 46],
        "tooth_notation": "FDI",
        "material": "zirconia",
        "shade": "A2",
        "due_date": "2031-03-14",
        "priority": "rush",
        "clinic": "North Clinic",
        "lab": "Bright Lab",
    }
    assert manifest["revision"] == {
        "id": str(uuid.UUID(int=2)),
        "number": 2,
        "manifest_sha256": "a" * 64,
    }
    assert manifest["approval"]["approver_name"] == "Dr Émile Roy"
    assert manifest["approval"]["approved_at"] == "2031-03-01T15:30:12+00:00"
    assert manifest["approval"]["signature_algorithm"] == "Ed25519"
    for line in manifest["files"]:
        content = entries[line["name"]]
        assert (hashlib.sha256(content).hexdigest(), len(content)) == (line["sha256"], line["size"])
    for document in manifest["documents"]:
        content = entries[document["name"]]
        assert hashlib.sha256(content).hexdigest() == document["sha256"]
    assert [d["name"] for d in manifest["documents"]] == [WORKORDER_HTML, WORKORDER_PDF]


def test_a_manifest_without_a_due_date_says_null() -> None:
    manifest = json.loads(manifest_json(_order(due_date=None), {}))
    assert manifest["case"]["due_date"] is None
    assert manifest["documents"] == []


@pytest.mark.parametrize(
    "content",
    [MESH[:-1], MESH[:-1] + bytes([MESH[-1] ^ 1]), OTHER_MESH],
    ids=["shorter", "one byte changed", "another file"],
)
def test_a_mesh_that_is_not_what_the_order_states_stops_the_build(content: bytes) -> None:
    contents = _contents()
    contents["C-00042-rev2-proposal-0000000a.stl"] = chunks_of(content)
    with pytest.raises(PackageFileMismatch) as refused:
        build_package(_order(), contents)
    assert refused.value.name == "C-00042-rev2-proposal-0000000a.stl"


def test_a_file_named_like_a_document_is_refused() -> None:
    files = (replace(_order().files[0], name=MANIFEST_NAME),)
    with pytest.raises(ValueError, match="two package entries"):
        build_package(_order(files=files), {MANIFEST_NAME: chunks_of(MESH)})


def _pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_work_order_says_what_to_make_with_an_fdi_chart_and_the_approval() -> None:
    order = _order()
    html = workorder_html(order)
    text = _pdf_text(workorder_pdf(order))
    for document in (html, text):
        for expected in (
            "Work order C-00042",
            "North Clinic",
            "Bright Lab",
            "Bridge",
            "44, 45, 46",
            "Zirconia",
            "A2",
            "2031-03-14",
            "Rush",
            "Prep margin subgingival on the distal.",
            "Dr Émile Roy",
            # The approval in the lab's time zone (15:30 UTC is 10:30 in Toronto in March).
            "2031-03-01 10:30 (America/Toronto)",
            "C-00042-rev2-proposal-0000000a.stl",
            "Design proposal",
        ):
            assert expected in document, expected
    compact = "".join(text.split())
    assert hashlib.sha256(MESH).hexdigest() in compact
    assert "0123456789abcdef" in compact
    assert html.count('class="marked') == 3
    # Permanent teeth only: no primary rows.
    assert "Upper primary" not in html
    assert "Upper primary" not in text


def test_primary_teeth_add_the_primary_arches_lined_up_on_the_midline() -> None:
    order = _order(case_type="crown", teeth=(55,))
    html = workorder_html(order)
    assert "Upper primary" in html
    assert "Lower primary" in html
    assert html.count('class="marked') == 1
    assert "Upper primary" in _pdf_text(workorder_pdf(order))


def test_the_packaged_work_order_carries_its_styles_and_the_page_links_them() -> None:
    packaged = workorder_html(_order())
    assert "<style>" in packaged
    assert "@media print" in packaged
    assert "<link" not in packaged
    assert "<script" not in packaged
    page = workorder_html(_order(), standalone=False, back_url="/revisions/x/")
    assert "<style" not in page
    assert 'href="/static/web/review/workorder' in page
    assert 'href="/revisions/x/"' in page
    assert "data-print-page" in page


def test_the_work_order_reads_in_its_own_language() -> None:
    with translation.override("en"):
        french = workorder_html(_order(language="fr"))
    assert 'lang="fr"' in french
    assert workorder_pdf(_order(language="fr")) == workorder_pdf(_order(language="fr"))


def test_empty_notes_shade_and_teeth_read_as_such() -> None:
    order = _order(case_type="night_guard", teeth=(), shade="", notes="", due_date=None)
    html = workorder_html(order)
    assert "No clinical notes." in html
    assert 'class="marked' not in html
    text = _pdf_text(workorder_pdf(order))
    assert "No clinical notes." in text
    assert "Night guard" in text


# --- package_create ------------------------------------------------------------------------------


def test_lab_staff_make_the_package_and_the_case_moves_to_production(
    team: Team, approved: Revision
) -> None:
    mark = _last_sequence()
    package = make_package(team.lab_staff, approved)
    case = _case(approved)
    assert case.status == State.IN_PRODUCTION
    assert _events_since(mark) == [
        (AuditAction.Case.ProductionStarted, Outcome.ALLOWED),
        (AuditAction.Case.PackageCreated, Outcome.ALLOWED),
    ]
    created = AuditEvent.objects.get(action=AuditAction.Case.PackageCreated)
    assert (created.target_type, created.target_id) == ("production_package", str(package.id))
    assert created.subject_patient == str(team.patient.id)
    events = list(
        CaseEvent.objects.filter(case=case)
        .order_by("-created_at", "-id")[:2]
        .values_list("entry", "from_status", "to_status", "revision_id")
    )
    assert events == [
        (TimelineEntry.PACKAGE_CREATED, "", "", approved.id),
        ("start_production", "approved", "in_production", None),
    ]
    approval = Approval.objects.get(revision=approved)
    assert (package.revision_id, package.approval_id, package.case_id) == (
        approved.id,
        approval.id,
        case.id,
    )
    assert (package.created_by_id, package.organization_id) == (
        team.lab_staff.user.pk,
        team.lab.id,
    )
    blob = package.blob
    assert (blob.owner_kind, blob.owner_id) == (OwnerKind.PATIENT, team.patient.id)
    data = package_bytes(package)
    assert (package.sha256, package.size) == (hashlib.sha256(data).hexdigest(), len(data))


def test_the_manifest_hashes_are_the_approved_files(team: Team, approved: Revision) -> None:
    package = make_package(team.lab_staff, approved)
    entries = package_entries(package_bytes(package))
    manifest = json.loads(entries[MANIFEST_NAME])
    approval = Approval.objects.get(revision=approved)
    files = {f.sha256: f for f in Attachment.objects.filter(revision=approved)}
    uploaded = {hashlib.sha256(arch_stl(7 + i)).hexdigest() for i in range(2)}
    assert set(files) == uploaded
    listed = manifest["files"]
    assert len(listed) == 2
    for line in listed:
        content = entries[line["name"]]
        digest = hashlib.sha256(content).hexdigest()
        assert digest == line["sha256"]
        attachment = files[digest]
        assert (line["size"], line["layer"]) == (attachment.size, "proposal")
        assert line["name"] == package_file_name(approved, attachment)
    pairs = [(line["sha256"], line["size"]) for line in listed]
    assert manifest_sha256(pairs) == approval.manifest_sha256 == approved.manifest_sha256
    assert manifest["approval"] == {
        "id": str(approval.id),
        "approver_id": str(team.clinician.user.pk),
        "approver_name": "Dr Amara Okafor",
        "approved_at": approval.approved_at.astimezone(datetime.UTC).isoformat(),
        "manifest_sha256": approval.manifest_sha256,
        "statement_version": approval.statement_version,
        "key_id": approval.key_id,
        "signature": approval.signature,
        "signature_algorithm": "Ed25519",
    }
    assert manifest["case"]["reference"] == approved.case.reference
    assert manifest["case"]["teeth"] == [44, 45, 46]
    assert manifest["revision"]["number"] == 1


def test_two_builds_of_one_revision_are_byte_identical(
    team: Team, approved: Revision, member_of: MemberOf
) -> None:
    first = make_package(team.lab_staff, approved)
    first_bytes = package_bytes(first)
    # Remove the package (the case stays in production, where a package may be made again)
    # and build it once more, later, by another member, in another language.
    other_staff = member_of(team.lab, Role.LAB_STAFF)
    ProductionPackage.objects.filter(pk=first.pk).delete()
    with (
        translation.override("fr"),
        time_machine.travel(datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=3)),
    ):
        second = make_package(other_staff, approved)
    assert second.pk != first.pk
    assert package_bytes(second) == first_bytes
    assert second.sha256 == first.sha256
    assert _case(approved).status == State.IN_PRODUCTION


def test_asking_again_answers_the_package_made_before_and_changes_nothing(
    team: Team, approved: Revision
) -> None:
    package = make_package(team.lab_staff, approved)
    before, mark = _snapshot(), _last_sequence()
    again = make_package(team.lab_staff, approved)
    assert again.pk == package.pk
    assert _snapshot() == before
    assert _events_since(mark) == []


def test_a_package_made_meanwhile_by_another_request_is_the_one_answered(
    team: Team, approved: Revision
) -> None:
    package = make_package(team.lab_staff, approved)
    before = _snapshot()
    approval = Approval.objects.get(revision=approved)
    raced = _package_store(
        actor_of(team.lab_staff), fresh_revision(approved), approval, io.BytesIO(b"")
    )
    assert raced.pk == package.pk
    assert _snapshot() == before


def test_a_case_put_in_production_by_hand_gets_its_package_without_moving(
    team: Team, approved: Revision
) -> None:
    transition(team.lab_staff, _case(approved), "start_production")
    mark = _last_sequence()
    package = make_package(team.lab_staff, approved)
    assert _events_since(mark) == [(AuditAction.Case.PackageCreated, Outcome.ALLOWED)]
    assert _case(approved).status == State.IN_PRODUCTION
    assert package_get_for(revision=approved) == package


def test_a_revision_that_is_not_approved_is_refused(team: Team) -> None:
    case = accepted_case(team.clinician, team.designer, team.lab, team.patient)
    revision = reviewed_revision(team.designer, case)
    before = _snapshot()
    with pytest.raises(RevisionNotApproved) as refused:
        make_package(team.lab_staff, revision)
    assert refused.value.status == 409
    assert _snapshot() == before


def test_an_approved_case_that_has_moved_on_without_a_package_is_refused(
    team: Team, approved: Revision
) -> None:
    transition(team.lab_staff, _case(approved), "start_production")
    transition(team.lab_staff, _case(approved), "ship")
    before = _snapshot()
    with pytest.raises(InvalidTransition) as refused:
        make_package(team.lab_staff, approved)
    assert refused.value.state == State.SHIPPED
    assert _snapshot() == before


@pytest.mark.parametrize("role", ["designer", "clinician", "staff"])
def test_only_lab_staff_of_the_case_lab_make_or_download_packages(
    role: str, team: Team, approved: Revision
) -> None:
    member: Membership = getattr(team, role)
    with pytest.raises(PermissionDenied):
        make_package(member, approved)
    package = make_package(team.lab_staff, approved)
    with pytest.raises(PermissionDenied):
        package_download(actor=actor_of(member), package=package)


def _refused_as_changed(team: Team, revision: Revision, error: type[Exception]) -> None:
    before, mark = _snapshot(), _last_sequence()
    with pytest.raises(error) as refused:
        make_package(team.lab_staff, revision)
    assert getattr(refused.value, "status", None) == 409
    assert _snapshot() == before
    assert _events_since(mark) == [(AuditAction.Case.PackageCreated, Outcome.DENIED)]
    denied = AuditEvent.objects.order_by("-sequence")[0]
    assert (denied.target_type, denied.target_id) == ("revision", str(revision.id))
    assert denied.actor_user_id == team.lab_staff.user.pk


def test_a_file_whose_recorded_hash_changed_after_approval_is_refused(
    team: Team, approved: Revision
) -> None:
    attachment = Attachment.objects.filter(revision=approved).first()
    assert attachment is not None
    Attachment.objects.filter(pk=attachment.pk).update(sha256="0" * 64)
    _refused_as_changed(team, approved, ApprovedFilesChanged)


def test_a_file_whose_stored_content_was_swapped_after_approval_is_refused(
    team: Team, approved: Revision
) -> None:
    attachment = Attachment.objects.filter(revision=approved).order_by("id").first()
    assert attachment is not None
    # A blob of the same patient, other content: it decrypts and checks against its own row,
    # but not against the approved hash.
    swapped = blob_put(
        kind=OwnerKind.PATIENT, owner_id=team.patient.id, source=io.BytesIO(arch_stl(99))
    )
    Attachment.objects.filter(pk=attachment.pk).update(blob=swapped)
    _refused_as_changed(team, approved, ApprovedFilesChanged)


def test_a_file_whose_ciphertext_was_altered_is_refused(
    team: Team, approved: Revision, blob_store: Path
) -> None:
    attachment = Attachment.objects.filter(revision=approved).order_by("id").first()
    assert attachment is not None
    # Under its final name once its transaction has committed; the test's never does.
    names = [blob_store / d / str(attachment.blob_id) for d in ("blobs", "tmp")]
    stored = next(path for path in names if path.exists())
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stored.write_bytes(bytes(data))
    _refused_as_changed(team, approved, ApprovedFilesChanged)


def test_an_approval_whose_signature_does_not_verify_is_refused(
    team: Team, approved: Revision
) -> None:
    Approval.objects.filter(revision=approved).update(statement_version="v0-forged")
    _refused_as_changed(team, approved, ApprovalSignatureInvalid)


# --- what the package never holds --------------------------------------------------------------


def test_the_package_names_no_patient_and_no_uploaded_file_name(
    team: Team, approved: Revision
) -> None:
    package = make_package(team.lab_staff, approved)
    data = package_bytes(package)
    entries = package_entries(data)
    texts = {name: content.decode("latin-1") for name, content in entries.items()}
    texts["workorder.pdf (text)"] = _pdf_text(entries[WORKORDER_PDF])
    texts["zip"] = data.decode("latin-1")
    texts["names"] = "\n".join(entries)
    problems = [
        f"{value!r} in {name}"
        for name, text in texts.items()
        for value in PHI_STRINGS
        if value.casefold() in text.casefold()
    ]
    assert problems == []
    # What it does say: the case by its reference, the notes, the approver.
    assert approved.case.reference in texts["workorder.pdf (text)"]
    assert "Prep margin subgingival" in texts[WORKORDER_HTML]
    assert "Dr Amara Okafor" in texts[WORKORDER_HTML]


# --- package_download ----------------------------------------------------------------------------


def test_each_download_is_audited_once_and_streams_the_stored_zip(
    team: Team, approved: Revision
) -> None:
    package = make_package(team.lab_staff, approved)
    for _ in range(2):
        mark = _last_sequence()
        download = package_download(actor=actor_of(team.lab_staff), package=package)
        assert _events_since(mark) == [(AuditAction.Case.PackageDownloaded, Outcome.ALLOWED)]
        content = b"".join(download.chunks)
        assert hashlib.sha256(content).hexdigest() == package.sha256
    assert download.filename == f"{approved.case.reference}-rev1-production.zip"
    assert package_download_name(approved) == download.filename
    assert AuditEvent.objects.filter(action=AuditAction.Case.PackageDownloaded).count() == 2


def test_another_lab_sees_no_package(team: Team, approved: Revision) -> None:
    package = make_package(team.lab_staff, approved)
    with pytest.raises(PermissionDenied):
        package_download(actor=actor_of(team.other_lab_staff), package=package)
    with pytest.raises(PermissionDenied):
        make_package(team.other_lab_staff, approved)


# --- the review page's panel, the work order page and the page download ----------------------


def _review(client: Client, revision: Revision) -> str:
    response = client.get(reverse("cases:revision_review", args=[revision.id]))
    assert response.status_code == 200
    return response.content.decode()


def test_lab_staff_see_the_create_button_on_an_approved_revision(
    team: Team, approved: Revision, signed_in: SignedIn
) -> None:
    page = _review(signed_in(team.lab_staff.user), approved)
    assert "Create production package" in page
    assert reverse("cases:package_create", args=[approved.id]) in page
    # The clinic learns that the lab has not made it yet; no button.
    clinic_page = _review(signed_in(team.clinician.user), approved)
    assert "The lab has not created the production package yet." in clinic_page
    assert "Create production package" not in clinic_page


def test_the_panel_tells_lab_staff_to_wait_for_the_approval(
    team: Team, signed_in: SignedIn
) -> None:
    case = accepted_case(team.clinician, team.designer, team.lab, team.patient)
    revision = reviewed_revision(team.designer, case)
    page = _review(signed_in(team.lab_staff.user), revision)
    assert "once the clinic approves this revision" in page
    # The designer is not told anything about packages yet.
    assert 'id="package-panel"' not in _review(signed_in(team.designer.user), revision)


def test_creating_from_the_panel_with_htmx_swaps_in_the_download(
    team: Team, approved: Revision, signed_in: SignedIn
) -> None:
    client = signed_in(team.lab_staff.user)
    response = client.post(
        reverse("cases:package_create", args=[approved.id]), headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    package = ProductionPackage.objects.get(revision=approved)
    assert "Download package (ZIP," in body
    assert package.sha256 in body
    assert reverse("cases:package_download", args=[approved.id]) in body
    assert "<html" not in body
    assert _case(approved).status == State.IN_PRODUCTION
    # The clinic now sees that it exists and when, without a download.
    clinic_page = _review(signed_in(team.clinician.user), approved)
    assert "By Bright Lab on" in clinic_page
    assert reverse("cases:package_download", args=[approved.id]) not in clinic_page


def test_creating_without_script_comes_back_to_the_review_page(
    team: Team, approved: Revision, signed_in: SignedIn
) -> None:
    client = signed_in(team.lab_staff.user)
    response = client.post(reverse("cases:package_create", args=[approved.id]), follow=True)
    assert response.redirect_chain[-1][0] == reverse("cases:revision_review", args=[approved.id])
    assert "Production package created." in response.content.decode()


def test_a_refusal_comes_back_in_the_panel_or_as_a_message(team: Team, signed_in: SignedIn) -> None:
    case = accepted_case(team.clinician, team.designer, team.lab, team.patient)
    revision = reviewed_revision(team.designer, case)
    client = signed_in(team.lab_staff.user)
    url = reverse("cases:package_create", args=[revision.id])
    response = client.post(url, headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert "No package was made. This revision is not approved" in response.content.decode()
    response = client.post(url, follow=True)
    assert "No package was made." in response.content.decode()
    assert ProductionPackage.objects.count() == 0


def test_the_page_download_streams_the_zip_under_a_generic_name(
    team: Team, approved: Revision, signed_in: SignedIn
) -> None:
    package = make_package(team.lab_staff, approved)
    client = signed_in(team.lab_staff.user)
    mark = _last_sequence()
    response = client.get(reverse("cases:package_download", args=[approved.id]))
    assert response.status_code == 200
    content = response.getvalue()
    assert hashlib.sha256(content).hexdigest() == package.sha256
    assert response["Content-Type"] == "application/zip"
    assert response["Cache-Control"] == "no-store"
    assert response["Content-Length"] == str(package.size)
    name = f"{approved.case.reference}-rev1-production.zip"
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    actions = [action for action, _outcome in _events_since(mark)]
    assert actions.count(AuditAction.Case.PackageDownloaded) == 1
    assert actions.count(AuditAction.Record.Read) == 1


def test_the_page_download_of_a_revision_without_package_is_404(
    team: Team, approved: Revision, signed_in: SignedIn
) -> None:
    response = signed_in(team.lab_staff.user).get(
        reverse("cases:package_download", args=[approved.id])
    )
    assert response.status_code == 404


def test_the_work_order_page_is_printable_and_links_its_styles(
    team: Team, approved: Revision, signed_in: SignedIn
) -> None:
    response = signed_in(team.lab_staff.user).get(
        reverse("cases:package_workorder", args=[approved.id])
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert f"Work order {approved.case.reference}" in body
    assert "<style" not in body
    assert "web/review/workorder" in body
    assert "web/review/packages" in body
    assert "Quillfeather" not in body
    assert "Zephyrine" not in body


def test_the_work_order_page_of_an_unapproved_revision_is_404(
    team: Team, signed_in: SignedIn
) -> None:
    case = accepted_case(team.clinician, team.designer, team.lab, team.patient)
    revision = reviewed_revision(team.designer, case)
    response = signed_in(team.lab_staff.user).get(
        reverse("cases:package_workorder", args=[revision.id])
    )
    assert response.status_code == 404


def test_pages_refuse_the_clinic_side_even_with_the_permission(
    team: Team, approved: Revision, signed_in: SignedIn, member_of: MemberOf
) -> None:
    # A clinic-side member whose role held ProductionManage would still be on the wrong side:
    # the views check the side as the services do. Simulated with the lab staff's role at the
    # clinic (an admin misconfiguration the matrix allows for lab roles only).
    odd = member_of(team.clinic, Role.LAB_STAFF)
    client = signed_in(odd.user)
    for name in ("cases:package_workorder", "cases:package_download"):
        assert client.get(reverse(name, args=[approved.id])).status_code == 403
    assert client.post(reverse("cases:package_create", args=[approved.id])).status_code == 403
