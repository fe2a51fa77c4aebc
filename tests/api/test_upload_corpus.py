"""Refused uploads store nothing: every file of the bad corpus, an oversize scan and a revision
with one bad file each get a clear 4xx, and leave no row, no blob, no stored or temporary
file and no audit event of an added file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from pytest_django.fixtures import Settings

from cuspid.accounts.models import User
from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Attachment, Case, CaseEvent, Revision
from cuspid.keys.models import EncryptedBlob
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import LabConnection, Membership, Organization
from cuspid.web.demo_scans import arch_stl
from tests.cases.corpus import BAD_CORPUS, BAD_STATUS, valid_pdf, write_large_binary_stl
from tests.factories.cases import make_case, send_case, transition

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

MIB = 1024 * 1024
# The uploader's file name names the patient, as scanners' exports often do: no answer may
# repeat it.
PATIENT_NAME = "Zebulon Quixley"
CODES = {413: "too_large", 415: "unsupported_file", 422: "invalid_file"}


@pytest.fixture(autouse=True)
def stores(settings: Settings, tmp_path: Path) -> tuple[Path, Path]:
    """The blob store and the upload temporary directory of this test, both empty."""
    blobs = tmp_path / "blob-store"
    settings.CUSPID_BLOB_DIR = blobs
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blobs)},
        },
    }
    uploads = tmp_path / "upload-tmp"
    uploads.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(uploads)
    return blobs, uploads


def _files_under(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


def _stored(stores: tuple[Path, Path]) -> dict[str, list[str]]:
    """What the blob store holds under its two names (``tmp/``, ``blobs/``) and anything
    else, and what is left in the upload temporary directory."""
    blobs, uploads = stores
    names = _files_under(blobs)
    return {
        "tmp": [n for n in names if n.startswith("tmp/")],
        "blobs": [n for n in names if n.startswith("blobs/")],
        "other": [n for n in names if not n.startswith(("tmp/", "blobs/"))],
        "upload_tmp": _files_under(uploads),
    }


NOTHING: dict[str, list[str]] = {"tmp": [], "blobs": [], "other": [], "upload_tmp": []}


def _counts() -> dict[str, int]:
    return {
        "attachments": Attachment.objects.count(),
        "revisions": Revision.objects.count(),
        "blobs": EncryptedBlob.objects.count(),
        "timeline": CaseEvent.objects.count(),
        "attachment_audit": AuditEvent.objects.filter(
            action=AuditAction.Case.AttachmentAdded
        ).count(),
        "revision_audit": AuditEvent.objects.filter(
            action=AuditAction.Case.RevisionCreated
        ).count(),
    }


def _upload_name(corpus_name: str) -> str:
    """The name the file claims, by what it pretends to be (the content decides anyway)."""
    if "pdf" in corpus_name:
        extension = "pdf"
    elif "jpeg" in corpus_name:
        extension = "jpg"
    elif "png" in corpus_name:
        extension = "png"
    elif corpus_name.startswith("obj"):
        extension = "obj"
    elif corpus_name.startswith("ply"):
        extension = "ply"
    else:
        extension = "stl"
    return f"{PATIENT_NAME} {corpus_name}.{extension}"


def _assert_clear_refusal(response: Any, status: int) -> None:
    assert response.status_code == status
    body = response.json()
    assert body["code"] == CODES[status]
    detail = body["detail"]
    assert isinstance(detail, str)
    assert len(detail) > 15
    assert detail.endswith(".")
    assert "Zebulon" not in detail
    assert "Traceback" not in detail


@pytest.fixture
def clinician(clinic: Organization, member_of: MemberOf) -> Membership:
    return member_of(clinic, Role.CLINICIAN)


@pytest.fixture
def draft(clinician: Membership) -> Case:
    return make_case(clinician, scans=0)


@pytest.mark.parametrize("name", sorted(BAD_CORPUS))
def test_a_bad_file_is_refused_and_leaves_nothing(
    name: str,
    clinician: Membership,
    draft: Case,
    signed_in: SignedIn,
    stores: tuple[Path, Path],
) -> None:
    before = _counts()
    upload = SimpleUploadedFile(_upload_name(name), BAD_CORPUS[name]())
    response = signed_in(clinician.user).post(
        f"/api/v1/cases/{draft.id}/attachments", {"file": upload}
    )
    _assert_clear_refusal(response, BAD_STATUS[name])
    assert _counts() == before
    assert _stored(stores) == NOTHING


def test_a_good_file_after_a_refused_one_is_stored(
    clinician: Membership, draft: Case, signed_in: SignedIn, stores: tuple[Path, Path]
) -> None:
    # The control: the same request with a valid scan stores exactly one file.
    client = signed_in(clinician.user)
    refused = client.post(
        f"/api/v1/cases/{draft.id}/attachments",
        {"file": SimpleUploadedFile("scan.stl", BAD_CORPUS["nan_stl"]())},
    )
    assert refused.status_code == 422
    accepted = client.post(
        f"/api/v1/cases/{draft.id}/attachments",
        {"file": SimpleUploadedFile("scan.stl", arch_stl(1))},
    )
    assert accepted.status_code == 201
    (blob,) = EncryptedBlob.objects.all()
    stored = _stored(stores)
    # Not yet committed (the test's transaction never commits), so under its temporary name.
    assert stored == {**NOTHING, "tmp": [f"tmp/{blob.id}"]}
    assert AuditEvent.objects.filter(action=AuditAction.Case.AttachmentAdded).count() == 1


@pytest.mark.parametrize(
    ("size", "how"),
    [
        # The declared length already exceeds the limit and its margin: refused unread.
        (3 * MIB, "declared"),
        # Within the margin: refused while the file streams in, its partial copy removed.
        (MIB + MIB // 2, "streamed"),
    ],
)
def test_an_oversize_scan_is_413_and_leaves_nothing(
    size: int,
    how: str,
    settings: Settings,
    clinician: Membership,
    draft: Case,
    signed_in: SignedIn,
    stores: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    settings.CUSPID_MAX_UPLOAD_BYTES = MIB
    big = tmp_path / "outside" / "big-scan.stl"
    big.parent.mkdir()
    write_large_binary_stl(big, size)
    assert big.stat().st_size >= size
    before = _counts()
    with big.open("rb") as handle:
        response = signed_in(clinician.user).post(
            f"/api/v1/cases/{draft.id}/attachments", {"file": handle}
        )
    _assert_clear_refusal(response, 413)
    assert "1 MB" in response.json()["detail"]
    assert _counts() == before
    assert _stored(stores) == NOTHING


@pytest.fixture
def accepted(
    clinician: Membership,
    lab: Organization,
    connection_: LabConnection,
    member_of: MemberOf,
) -> tuple[Case, Membership]:
    designer = member_of(lab, Role.DESIGNER)
    case = transition(designer, send_case(clinician, make_case(clinician), lab), "accept")
    return case, designer


@pytest.mark.parametrize("bad", ["truncated_stl", "zip_renamed_stl", "valid_pdf_as_design"])
def test_a_revision_with_one_bad_file_stores_nothing(
    bad: str,
    accepted: tuple[Case, Membership],
    signed_in: SignedIn,
    stores: tuple[Path, Path],
) -> None:
    case, designer = accepted
    before = _counts()
    stored_before = _stored(stores)
    if bad == "valid_pdf_as_design":
        # A PDF is a fine clinic document but no design file: 415 here.
        data, status = valid_pdf(), 415
    else:
        data, status = BAD_CORPUS[bad](), BAD_STATUS[bad]
    response = signed_in(designer.user).post(
        f"/api/v1/cases/{case.id}/revisions",
        {
            "files": [
                SimpleUploadedFile("crown-36.stl", arch_stl(7)),
                SimpleUploadedFile(f"{PATIENT_NAME} crown-37.stl", data),
            ],
            "note": "First proposal.",
        },
    )
    _assert_clear_refusal(response, status)
    assert _counts() == before
    assert _stored(stores) == stored_before
    case.refresh_from_db()
    # Not even the design was started: the revision was refused as a whole.
    assert case.status == "accepted"


def test_an_oversize_revision_file_is_413_and_stores_nothing(
    settings: Settings,
    accepted: tuple[Case, Membership],
    signed_in: SignedIn,
    stores: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    settings.CUSPID_MAX_UPLOAD_BYTES = MIB
    case, designer = accepted
    big = tmp_path / "outside" / "big-design.stl"
    big.parent.mkdir()
    write_large_binary_stl(big, MIB + MIB // 4)
    before = _counts()
    stored_before = _stored(stores)
    with big.open("rb") as handle:
        response = signed_in(designer.user).post(
            f"/api/v1/cases/{case.id}/revisions",
            {"files": [SimpleUploadedFile("crown-36.stl", arch_stl(7)), handle]},
        )
    _assert_clear_refusal(response, 413)
    assert _counts() == before
    assert _stored(stores) == stored_before
