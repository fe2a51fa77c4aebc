"""Reads of production packages and of what a package is built from.

Callers find the revision with ``access_revision`` (404 for absent and foreign alike) and
check the permission on its case first: ``Perm.CaseView`` to learn that a package exists,
``Perm.ProductionManage`` for its content and its work order.
"""

from __future__ import annotations

from cuspid.cases.downloads import EXTENSIONS
from cuspid.cases.models import Approval, Attachment, ProductionPackage, Revision
from cuspid.cases.workorder import ApprovalRecord, OrderFile, WorkOrder
from cuspid.tenancy.models import Organization


def package_get_for(*, revision: Revision) -> ProductionPackage | None:
    """The revision's production package with its blob, case, revision, lab and author, or
    ``None``. One query."""
    return (
        ProductionPackage.objects.select_related(
            "blob", "case", "revision__case", "created_by", "organization"
        )
        .filter(revision=revision)
        .first()
    )


def package_file_name(revision: Revision, attachment: Attachment) -> str:
    """A mesh's name in the package: case reference, revision, layer and the start of its id,
    e.g. ``C-00042-rev2-proposal-9a8b7c6d.stl``. Never the uploaded name (it may name the
    patient)."""
    layer = attachment.layer or attachment.kind
    extension = EXTENSIONS.get(attachment.file_format, "bin")
    return (
        f"{revision.case.reference}-rev{revision.number}-{layer}-{attachment.id.hex[:8]}"
        f".{extension}"
    )


def package_download_name(revision: Revision) -> str:
    """The ZIP's generic name, e.g. ``C-00042-rev2-production.zip``."""
    return f"{revision.case.reference}-rev{revision.number}-production.zip"


def package_files_for(*, revision: Revision) -> list[tuple[Attachment, OrderFile]]:
    """The revision's files with their blobs, each with its line in the work order, sorted by
    package name. One query."""
    files = Attachment.objects.select_related("blob").filter(revision=revision)
    lines = [
        (
            attachment,
            OrderFile(
                name=package_file_name(revision, attachment),
                layer=attachment.layer,
                file_format=attachment.file_format,
                sha256=attachment.sha256,
                size=attachment.size,
            ),
        )
        for attachment in files
    ]
    return sorted(lines, key=lambda pair: pair[1].name)


def work_order_for(
    *,
    revision: Revision,
    approval: Approval,
    files: list[OrderFile],
    lab: Organization,
    language: str,
) -> WorkOrder:
    """The work order of an approved revision for ``lab`` (the one the case is shared with):
    the case's request (no patient identity), the clinic, the approval and ``files``; dates
    in the lab's time zone, labels in ``language``."""
    case = revision.case
    return WorkOrder(
        case_id=case.id,
        case_reference=case.reference,
        case_type=case.case_type,
        teeth=tuple(case.teeth),
        material=case.material,
        shade=case.shade,
        due_date=case.due_date,
        priority=case.priority,
        notes=case.notes or "",
        clinic_name=case.organization.name,
        lab_name=lab.name,
        revision_id=revision.id,
        revision_number=revision.number,
        revision_manifest_sha256=revision.manifest_sha256,
        approval=ApprovalRecord(
            id=approval.id,
            approver_id=approval.approver_id,
            approver_name=approval.approver.full_name,
            approved_at=approval.approved_at,
            manifest_sha256=approval.manifest_sha256,
            statement_version=approval.statement_version,
            key_id=approval.key_id,
            signature=approval.signature,
        ),
        files=tuple(files),
        time_zone=lab.time_zone,
        language=language,
    )
