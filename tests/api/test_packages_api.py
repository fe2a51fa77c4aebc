"""/api/v1 production packages: lab staff create and download the package of an approved
revision; the clinic reads that it exists; everyone else is refused the way the access rules
say; the ZIP's manifest matches the approved files; every download is audited."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db.models import Max
from django.test import Client
from pytest_django.fixtures import Settings

from cuspid.accounts.enums import TokenScope
from cuspid.accounts.models import User
from cuspid.accounts.services.tokens import api_token_create
from cuspid.audit.actions import AuditAction
from cuspid.audit.enums import Outcome
from cuspid.audit.models import AuditEvent
from cuspid.cases.models import Attachment, Case, ProductionPackage, Revision
from cuspid.tenancy.enums import Role
from cuspid.tenancy.models import Membership, Organization
from tests.factories import make_lab
from tests.factories.cases import actor_of, make_patient, transition
from tests.factories.packages import accepted_case, approved_revision, reviewed_revision

MemberOf = Callable[[Organization, Role], Membership]
SignedIn = Callable[[User], Client]

API = "/api/v1"
NOT_FOUND = {"detail": "Not found.", "code": "not_found"}
DENIED = {
    "detail": "You do not have permission to perform this action.",
    "code": "permission_denied",
}
GIVEN, FAMILY, HEALTH_CARD = "Ottoline", "Brackenbury", "5555-111-222-OB"


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


class People:
    def __init__(self, clinic: Organization, lab: Organization, member_of: MemberOf) -> None:
        self.clinician = member_of(clinic, Role.CLINICIAN)
        self.designer = member_of(lab, Role.DESIGNER)
        self.lab_staff = member_of(lab, Role.LAB_STAFF)
        self.other_lab_staff = member_of(make_lab(name="Distant Lab"), Role.LAB_STAFF)
        self.lab = lab


@pytest.fixture
def people(
    clinic: Organization, lab: Organization, connection_: object, member_of: MemberOf
) -> People:
    return People(clinic, lab, member_of)


@pytest.fixture
def approved(people: People) -> Revision:
    patient = make_patient(
        people.clinician, given_name=GIVEN, family_name=FAMILY, health_card=HEALTH_CARD
    )
    return approved_revision(people.clinician, people.designer, people.lab, patient)


def _create(client: Client, revision: Revision) -> Any:
    return client.post(f"{API}/revisions/{revision.id}/package", content_type="application/json")


def _last() -> int:
    return int(AuditEvent.objects.aggregate(last=Max("sequence"))["last"] or 0)


def _since(mark: int) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(sequence__gt=mark)
        .order_by("sequence")
        .values_list("action", "outcome")
    )


def test_lab_staff_create_then_download_a_package_whose_manifest_matches_the_approved_files(
    people: People, approved: Revision, signed_in: SignedIn
) -> None:
    client = signed_in(people.lab_staff.user)
    created = _create(client, approved)
    assert created.status_code == 201
    body = created.json()
    package = ProductionPackage.objects.get(revision=approved)
    reference = approved.case.reference
    assert body["id"] == str(package.id)
    assert body["revision_id"] == str(approved.id)
    assert body["file_name"] == f"{reference}-rev1-production.zip"
    assert body["download_url"] == f"{API}/revisions/{approved.id}/package/content"
    assert body["organization"]["name"] == people.lab.name
    assert (body["sha256"], body["size"]) == (package.sha256, package.size)
    assert Case.objects.get(pk=approved.case_id).status == "in_production"

    mark = _last()
    download = client.get(body["download_url"])
    assert download.status_code == 200
    assert download["Cache-Control"] == "no-store"
    assert download["Content-Type"] == "application/zip"
    assert download["Content-Disposition"] == f'attachment; filename="{body["file_name"]}"'
    data = download.getvalue()
    assert hashlib.sha256(data).hexdigest() == body["sha256"]
    # One audited read by the route guard, one download event by the service.
    assert sorted(_since(mark)) == sorted(
        [
            (AuditAction.Record.Read, Outcome.ALLOWED),
            (AuditAction.Case.PackageDownloaded, Outcome.ALLOWED),
        ]
    )
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        approved_files = {a.sha256: a.size for a in Attachment.objects.filter(revision=approved)}
        assert len(manifest["files"]) == len(approved_files) == 2
        for line in manifest["files"]:
            content = archive.read(line["name"])
            assert hashlib.sha256(content).hexdigest() == line["sha256"]
            assert approved_files[line["sha256"]] == len(content) == line["size"]
        text = b"".join(archive.read(name) for name in archive.namelist()).decode("latin-1")
    for value in (GIVEN, FAMILY, HEALTH_CARD):
        assert value not in text


def test_creating_again_answers_the_same_package(
    people: People, approved: Revision, signed_in: SignedIn
) -> None:
    client = signed_in(people.lab_staff.user)
    first = _create(client, approved).json()
    mark = _last()
    second = _create(client, approved)
    assert second.status_code == 201
    assert second.json() == first
    assert [a for a, _o in _since(mark) if a.startswith("case:")] == []


def test_the_clinic_reads_that_a_package_exists_but_may_not_make_or_download_it(
    people: People, approved: Revision, signed_in: SignedIn
) -> None:
    clinic = signed_in(people.clinician.user)
    url = f"{API}/revisions/{approved.id}/package"
    assert clinic.get(url).json() == {
        "detail": "This revision has no production package yet.",
        "code": "not_found",
    }
    assert _create(clinic, approved).json() == DENIED
    signed = signed_in(people.lab_staff.user)
    _create(signed, approved)
    seen = clinic.get(url)
    assert seen.status_code == 200
    assert seen.json()["created_by"]["id"] == str(people.lab_staff.user.pk)
    assert clinic.get(f"{url}/content").status_code == 403
    for value in (GIVEN, FAMILY, HEALTH_CARD):
        assert value not in seen.content.decode()


def test_the_designer_may_not_make_or_download_a_package(
    people: People, approved: Revision, signed_in: SignedIn
) -> None:
    designer = signed_in(people.designer.user)
    response = _create(designer, approved)
    assert (response.status_code, response.json()) == (403, DENIED)
    _create(signed_in(people.lab_staff.user), approved)
    assert designer.get(f"{API}/revisions/{approved.id}/package/content").status_code == 403
    # Reading that it exists is part of seeing the case.
    assert designer.get(f"{API}/revisions/{approved.id}/package").status_code == 200


def test_another_lab_gets_404_like_for_a_revision_that_does_not_exist(
    people: People, approved: Revision, signed_in: SignedIn
) -> None:
    _create(signed_in(people.lab_staff.user), approved)
    other = signed_in(people.other_lab_staff.user)
    mark = _last()
    for response in (
        _create(other, approved),
        other.get(f"{API}/revisions/{approved.id}/package"),
        other.get(f"{API}/revisions/{approved.id}/package/content"),
    ):
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert [o for _a, o in _since(mark)] == [Outcome.DENIED] * 3


def test_a_revision_that_is_not_approved_answers_409(people: People, signed_in: SignedIn) -> None:
    case = accepted_case(people.clinician, people.designer, people.lab)
    revision = reviewed_revision(people.designer, case)
    response = _create(signed_in(people.lab_staff.user), revision)
    assert response.status_code == 409
    assert response.json()["code"] == "not_approved"
    assert ProductionPackage.objects.count() == 0


def test_a_shipped_case_without_a_package_answers_409_with_its_status(
    people: People, approved: Revision, signed_in: SignedIn
) -> None:
    case = Case.objects.get(pk=approved.case_id)
    transition(people.lab_staff, case, "start_production")
    transition(people.lab_staff, Case.objects.get(pk=case.pk), "ship")
    response = _create(signed_in(people.lab_staff.user), approved)
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["status"] == "shipped"


def test_a_tampered_approved_file_answers_409_and_is_audited(
    people: People, approved: Revision, signed_in: SignedIn
) -> None:
    attachment = Attachment.objects.filter(revision=approved).first()
    assert attachment is not None
    Attachment.objects.filter(pk=attachment.pk).update(sha256="f" * 64)
    mark = _last()
    response = _create(signed_in(people.lab_staff.user), approved)
    assert response.status_code == 409
    assert response.json()["code"] == "approved_files_changed"
    assert (AuditAction.Case.PackageCreated, Outcome.DENIED) in _since(mark)
    assert ProductionPackage.objects.count() == 0
    assert Case.objects.get(pk=approved.case_id).status == "approved"


def test_the_openapi_document_lists_the_package_operations() -> None:
    schema = Client().get(f"{API}/openapi.json").json()
    path = f"{API}/revisions/{{revision_id}}/package"
    assert schema["paths"][path]["post"]["operationId"] == "package_create"
    assert schema["paths"][path]["get"]["operationId"] == "package_get"
    content = schema["paths"][f"{path}/content"]["get"]
    assert content["operationId"] == "package_download"
    assert "application/zip" in content["responses"]["200"]["content"]


def _lab_token(membership: Membership, *scopes: TokenScope) -> dict[str, str]:
    """A token bound to ``membership`` (only an admin makes tokens, for their own membership:
    the member is an admin for that moment, then gets its role back)."""
    role = membership.role
    membership.role = Role.ORG_ADMIN
    membership.save(update_fields=["role"])
    _row, plain = api_token_create(
        actor=actor_of(membership), name="Mill", scopes=list(scopes), expires_in_days=30
    )
    membership.role = role
    membership.save(update_fields=["role"])
    return {"Authorization": f"Bearer {plain}"}


def test_a_lab_system_builds_with_cases_write_and_downloads_with_cases_read(
    people: People, approved: Revision
) -> None:
    reader = _lab_token(people.lab_staff, TokenScope.CASES_READ)
    refused = Client().post(
        f"{API}/revisions/{approved.id}/package", content_type="application/json", headers=reader
    )
    assert refused.status_code == 403
    assert refused.json()["code"] == "scope_missing"
    assert not ProductionPackage.objects.exists()
    writer = _lab_token(people.lab_staff, TokenScope.CASES_READ, TokenScope.CASES_WRITE)
    made = Client().post(
        f"{API}/revisions/{approved.id}/package", content_type="application/json", headers=writer
    )
    assert made.status_code == 201
    download = Client().get(f"{API}/revisions/{approved.id}/package/content", headers=reader)
    assert download.status_code == 200
    content = b"".join(download.streaming_content)  # type: ignore[attr-defined]  # a StreamingHttpResponse
    assert hashlib.sha256(content).hexdigest() == made.json()["sha256"]
