"""API shapes for revision comparisons: ask for one, read its status and summary.

The distances themselves are binary (``comparison_distances``): little-endian float32, one
per vertex of the compared revision's design mesh (``mesh_id``) in the order three.js's
loaders read it (a binary STL: three per facet, in file order), in millimetres, positive
outside the baseline's surface.
"""

from __future__ import annotations

import datetime
from uuid import UUID

from django.urls import reverse
from ninja import Field, Schema

from cuspid.cases.enums import ComparisonStatus
from cuspid.cases.models import RevisionComparison
from cuspid.cases.selectors.compare import proposal_mesh_get_for


class ComparisonRequestIn(Schema):
    """Which revision of the same case to measure against."""

    baseline_id: UUID = Field(
        ...,
        description="The revision whose design surface the distances are measured to "
        "(usually the older one).",
    )


class ComparisonStatsOut(Schema):
    """The distance map's summary, in millimetres."""

    vertex_count: int = Field(..., description="Distances: one per vertex of the mesh.")
    min: float = Field(..., description="Smallest signed distance (deepest inside).")
    max: float = Field(..., description="Largest signed distance (furthest outside).")
    mean: float = Field(..., description="Mean signed distance.")
    mean_abs: float = Field(..., description="Mean absolute distance.")
    p95_abs: float = Field(..., description="95th percentile of the absolute distances.")
    max_abs: float = Field(..., description="Largest absolute distance.")


class ComparisonOut(Schema):
    """A comparison of two revisions of one case: ``revision``'s design mesh measured
    against ``baseline``'s design surface."""

    id: UUID
    case_id: UUID
    revision_id: UUID = Field(..., description="The revision the distances are drawn on.")
    baseline_id: UUID = Field(..., description="The revision they are measured to.")
    mesh_id: UUID | None = Field(
        None,
        description="The file of the revision the distances belong to (its first design "
        "mesh): one distance per vertex of it.",
    )
    status: ComparisonStatus = Field(
        ..., description="pending (computing), ready, or failed (see error)."
    )
    stats: ComparisonStatsOut | None = Field(None, description="When ready.")
    error: str | None = Field(
        None,
        description="When failed, why, as a code: unreadable, no_triangles, bad_indices, "
        "not_finite, too_large, unsupported_format, no_mesh. Asking again retries.",
    )
    distances_url: str | None = Field(
        None, description="When ready: where to download the distances (binary)."
    )
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @staticmethod
    def resolve_mesh_id(obj: RevisionComparison) -> UUID | None:
        mesh = proposal_mesh_get_for(revision=obj.revision)
        return mesh.id if mesh is not None else None

    @staticmethod
    def resolve_stats(obj: RevisionComparison) -> dict[str, object] | None:
        if obj.status != ComparisonStatus.READY or not obj.stats:
            return None
        return dict(obj.stats)

    @staticmethod
    def resolve_error(obj: RevisionComparison) -> str | None:
        if obj.status != ComparisonStatus.FAILED or not obj.stats:
            return None
        return str(obj.stats.get("error", ""))

    @staticmethod
    def resolve_distances_url(obj: RevisionComparison) -> str | None:
        if obj.status != ComparisonStatus.READY:
            return None
        return reverse("api:comparison_distances", kwargs={"comparison_id": obj.id})
