"""API shapes for production packages: what the package of an approved revision is, and
where lab staff download it. Nothing about the patient: a package names the case only."""

from __future__ import annotations

import datetime
from uuid import UUID

from django.urls import reverse
from ninja import Field, Schema

from cuspid.cases.models import ProductionPackage
from cuspid.cases.schemas import OrganizationRefOut, UserRefOut
from cuspid.cases.selectors.packages import package_download_name


class ProductionPackageOut(Schema):
    """The deterministic ZIP made from an approved revision: its meshes, ``manifest.json``
    and the work order (``workorder.html``, ``workorder.pdf``)."""

    id: UUID = Field(..., description="The package's id.")
    case_id: UUID = Field(..., description="The case.")
    revision_id: UUID = Field(..., description="The approved revision it was made from.")
    approval_id: UUID = Field(..., description="The signed approval it carries.")
    file_name: str = Field(
        ..., description='Its generic file name, e.g. "C-00042-rev2-production.zip".'
    )
    sha256: str = Field(..., description="SHA-256 of the ZIP (hex); the same for every build.")
    size: int = Field(..., description="Size of the ZIP in bytes.")
    organization: OrganizationRefOut = Field(..., description="The lab that made it.")
    created_by: UserRefOut = Field(..., description="Who made it (lab staff).")
    created_at: datetime.datetime = Field(..., description="When it was made.")
    download_url: str = Field(
        ..., description="Where lab staff of the lab download it (package_download)."
    )

    @staticmethod
    def resolve_file_name(obj: ProductionPackage) -> str:
        return package_download_name(obj.revision)

    @staticmethod
    def resolve_download_url(obj: ProductionPackage) -> str:
        return reverse("api:package_download", kwargs={"revision_id": obj.revision_id})
