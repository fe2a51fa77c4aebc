"""Approved cases and production packages for tests, made through the real services.

``approved_revision`` takes a case from draft to approved the way people would: the clinic
sends it, the lab accepts it and uploads a revision, the lab sends it for review, the
clinician approves it (signed, step-up satisfied). ``package_bytes`` reads a stored package
back, checked.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence

from cuspid.cases.models import Case, ProductionPackage, Revision
from cuspid.cases.services import Upload, revision_create
from cuspid.cases.services.packages import package_create
from cuspid.keys.blobs import blob_chunks
from cuspid.patients.models import Patient
from cuspid.tenancy.models import Membership, Organization
from cuspid.web.demo_scans import arch_stl
from tests.factories.approvals import approve
from tests.factories.cases import actor_of, make_case, send_case, transition

# What the lab's designer calls the files: names that must never reach a package.
DESIGN_FILE_NAMES = ("crown-36-for-Quillfeather.stl", "bite-Quillfeather.stl")


def design_uploads(names: Sequence[str] = DESIGN_FILE_NAMES) -> list[Upload]:
    """Generated meshes (binary STL), one per name, each different."""
    return [Upload(file=io.BytesIO(arch_stl(7 + i)), filename=name) for i, name in enumerate(names)]


def accepted_case(
    clinician: Membership,
    designer: Membership,
    lab: Organization,
    patient: Patient | None = None,
    **fields: object,
) -> Case:
    """A case of the clinician's clinic sent to ``lab`` and accepted by its designer."""
    case = send_case(clinician, make_case(clinician, patient, **fields), lab)  # type: ignore[arg-type]  # test values
    return transition(designer, case, "accept")


def reviewed_revision(
    designer: Membership, case: Case, uploads: Sequence[Upload] | None = None
) -> Revision:
    """The designer uploads a revision of ``case`` and sends it for review."""
    revision = revision_create(
        actor=actor_of(designer),
        case=case,
        uploads=list(uploads) if uploads is not None else design_uploads(),
        note="Proposal.",
    )
    transition(designer, Case.objects.get(pk=case.pk), "send_for_review")
    return Revision.objects.select_related("case").get(pk=revision.pk)


def approved_revision(
    clinician: Membership,
    designer: Membership,
    lab: Organization,
    patient: Patient | None = None,
    **fields: object,
) -> Revision:
    """Revision 1 of a new case, sent, accepted, reviewed and approved by the clinician."""
    case = accepted_case(clinician, designer, lab, patient, **fields)
    revision = reviewed_revision(designer, case)
    approve(clinician, revision)
    return fresh_revision(revision)


def fresh_revision(revision: Revision) -> Revision:
    """The revision again, with its case (and the case's clinic and lab) as stored now."""
    return Revision.objects.select_related(
        "case", "case__organization", "case__shared_with_lab", "author"
    ).get(pk=revision.pk)


def make_package(lab_staff: Membership, revision: Revision) -> ProductionPackage:
    """Lab staff make the revision's production package."""
    return package_create(actor=actor_of(lab_staff), revision=fresh_revision(revision))


def package_bytes(package: ProductionPackage) -> bytes:
    """The stored ZIP, decrypted and checked against its SHA-256."""
    return b"".join(blob_chunks(package.blob))


def package_entries(data: bytes) -> dict[str, bytes]:
    """Every entry of a ZIP, by name."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
