"""API shapes for the 3D viewer: the meshes a revision is reviewed with.

Never a file's uploaded name (it is sealed and may name the patient): a mesh is known by its
id, its layer and a generic label.
"""

from __future__ import annotations

from uuid import UUID

from django.urls import reverse
from ninja import Field, Schema

from cuspid.cases.enums import Layer
from cuspid.cases.models import Attachment


class RevisionMeshOut(Schema):
    """One mesh of a revision's review: a file of the revision, or one of the clinic's scans."""

    id: UUID = Field(..., description="The file's id.")
    layer: Layer = Field(
        ...,
        description="prepared (the clinic's prepared jaw), antagonist (the opposing jaw) "
        "or proposal (the revision's design).",
    )
    label: str = Field(..., description="The layer's name, in the request's language.")
    file_format: str = Field(..., description="stl_binary, stl_ascii, ply or obj.")
    face_count: int | None = Field(..., description="Triangles.")
    vertex_count: int | None = Field(..., description="Vertices.")
    size: int = Field(..., description="Size in bytes.")
    sha256: str = Field(..., description="SHA-256 of the stored bytes (hex).")
    units: str = Field(..., description="Coordinate units (mm).")
    bounds: dict[str, list[float]] | None = Field(
        ..., description='Bounding box, {"min": [x, y, z], "max": [x, y, z]}.'
    )
    revision_id: UUID | None = Field(
        ..., description="The revision it belongs to; null for the clinic's scans."
    )
    download_url: str = Field(..., description="Where to stream its content (never cached).")

    @staticmethod
    def resolve_label(obj: Attachment) -> str:
        return str(Layer(obj.layer).label)

    @staticmethod
    def resolve_download_url(obj: Attachment) -> str:
        return reverse("api:attachment_download", kwargs={"attachment_id": obj.id})
