"""Pages: two revisions of a case compared, with a per-vertex distance colour map.

``revision_compare`` shows the newer revision's design beside (or over) the older one's, the
newer one painted by its distance to the older one's surface (blue inside, red outside,
legend in millimetres), with the summary figures. The map is computed once per pair by
``comparison_request``: at once for small meshes, by a worker for large ones, while the
page polls (HTMX) and reloads itself when it is ready. ``comparison_distances`` streams the
distances to the viewer. The review page's compare panel (``panel_context``) lists the
case's other revisions to compare with.

Each view: the actor, ``access_revision`` / ``access_comparison`` (the same 404 for absent
and foreign), the patient named for the audited read, ``require(Perm.CaseView)``, then a
selector or the service. Asking for a comparison needs a member; a break-glass operator
only looks at those that exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from cuspid.access.enforce import RouteActor, acting_actor, member_of
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import require
from cuspid.cases.downloads import blob_response
from cuspid.cases.enums import ComparisonStatus
from cuspid.cases.models import Attachment, Revision, RevisionComparison
from cuspid.cases.policies import access_revision
from cuspid.cases.policies.compare import access_comparison
from cuspid.cases.selectors.compare import (
    CompareTarget,
    compare_target_list_for,
    comparison_get_for,
    proposal_mesh_get_for,
)
from cuspid.cases.services.compare import comparison_request
from cuspid.cases.views.viewer import ColorMap, viewer_config
from cuspid.core.errors import Conflict, InvalidInput, NotFound
from cuspid.tenancy.actor import Actor

SIDE_BY_SIDE = "side"
# The overlaid reference design's layer in the viewer: not one of the case's layers, so it
# has its own row (visibility, opacity) and the viewer's neutral colour.
REFERENCE_LAYER = "reference"
OVERLAID = "overlay"
# Where the colour scale saturates: the 95th percentile of the distances, rounded up to one
# of these (mm), so most of the surface uses the whole scale and the legend reads cleanly.
SCALE_STEPS_MM: tuple[float, ...] = (0.05, 0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 5.0)
# How often a page waiting for a worker asks again (seconds).
POLL_SECONDS = 2
# Why a comparison failed, by its code; any other code: a mesh could not be read.
ERROR_MESSAGES: dict[str, str | Promise] = {
    "too_large": gettext_lazy("One of the meshes is too large to compare."),
    "no_mesh": gettext_lazy("One of the revisions has no design mesh any more."),
}


def legend_scale_mm(stats: dict[str, object] | None) -> float:
    """The colour scale's end (mm) for a ready comparison's stats."""
    value = (stats or {}).get("p95_abs", 0.0)
    p95 = float(value) if isinstance(value, int | float) else 0.0
    return next((step for step in SCALE_STEPS_MM if p95 <= step), SCALE_STEPS_MM[-1])


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _pair(request: HttpRequest, revision_id: UUID, baseline_id: UUID) -> tuple[Revision, Revision]:
    """Two revisions of one visible case (404 otherwise), the patient named, CaseView held."""
    actor = acting_actor(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    require(actor, Perm.CaseView, revision.case)
    baseline = access_revision(actor, baseline_id)
    if baseline.case_id != revision.case_id or baseline.id == revision.id:
        raise NotFound
    return revision, baseline


def _design_label(revision: Revision) -> str:
    return _("Revision %(number)s design") % {"number": revision.number}


def _config(
    meshes: list[tuple[Attachment, Revision]],
    color_map: ColorMap | None,
    *,
    reference: Revision | None = None,
) -> dict[str, object]:
    """A viewer's configuration, each mesh labelled with its revision. Overlaid, the
    ``reference`` revision's meshes get a layer of their own (drawn in the viewer's neutral
    grey, with their own visibility and opacity) instead of sharing the design's."""
    config = viewer_config([mesh for mesh, _revision in meshes], color_map=color_map)
    # viewer_config's documented shape: a list of one dict per mesh.
    entries = cast(list[dict[str, object]], config["meshes"])
    for entry, (_mesh, revision) in zip(entries, meshes, strict=True):
        entry["label"] = _design_label(revision)
        if reference is not None and revision.id == reference.id:
            entry["layer"] = REFERENCE_LAYER
    return config


@dataclass(frozen=True, slots=True)
class CompareStatus:
    """What the status block of the compare page says."""

    comparison: RevisionComparison | None
    may_request: bool
    error: str = ""

    @property
    def pending(self) -> bool:
        return self.comparison is not None and self.comparison.status == ComparisonStatus.PENDING

    @property
    def ready(self) -> bool:
        return self.comparison is not None and self.comparison.status == ComparisonStatus.READY

    @property
    def failed(self) -> bool:
        return self.comparison is not None and self.comparison.status == ComparisonStatus.FAILED


def _error_text(comparison: RevisionComparison | None) -> str:
    if comparison is None or comparison.status != ComparisonStatus.FAILED:
        return ""
    code = str((comparison.stats or {}).get("error", ""))
    return str(ERROR_MESSAGES.get(code, _("One of the meshes could not be read.")))


def _status_context(
    actor: RouteActor, revision: Revision, baseline: Revision, comparison: RevisionComparison | None
) -> dict[str, object]:
    return {
        "revision": revision,
        "baseline": baseline,
        "status": CompareStatus(
            comparison=comparison,
            may_request=isinstance(actor, Actor),
            error=_error_text(comparison),
        ),
        "poll_seconds": POLL_SECONDS,
    }


@require_GET
def revision_compare(request: HttpRequest, revision_id: UUID, baseline_id: UUID) -> HttpResponse:
    """The two designs side by side or overlaid, the newer painted by distance; when asked
    by the page's HTMX poll, only the status block (and a reload once it is decided)."""
    actor = acting_actor(request)
    revision, baseline = _pair(request, revision_id, baseline_id)
    comparison = comparison_get_for(revision=revision, baseline=baseline)
    status = _status_context(actor, revision, baseline, comparison)
    if _is_htmx(request):
        response = render(request, "cases/review/_compare_status.html", status)
        if comparison is not None and comparison.status != ComparisonStatus.PENDING:
            response["HX-Refresh"] = "true"
        return response
    mesh = proposal_mesh_get_for(revision=revision)
    base = proposal_mesh_get_for(revision=baseline)
    layout = OVERLAID if request.GET.get("layout") == OVERLAID else SIDE_BY_SIDE
    context: dict[str, object] = {
        **status,
        "case": revision.case,
        "actor": actor,
        "layout": layout,
        "side_by_side": SIDE_BY_SIDE,
        "overlaid": OVERLAID,
        "has_meshes": mesh is not None and base is not None,
    }
    if mesh is not None and base is not None:
        color_map = None
        if comparison is not None and comparison.status == ComparisonStatus.READY:
            scale = legend_scale_mm(comparison.stats)
            context["scale_mm"] = scale
            color_map = ColorMap(
                mesh_id=mesh.id,
                url=reverse("cases:comparison_distances", args=[comparison.id]),
                max_mm=scale,
            )
        if layout == OVERLAID:
            context["overlay_config"] = _config(
                [(mesh, revision), (base, baseline)], color_map, reference=baseline
            )
        else:
            context["baseline_config"] = _config([(base, baseline)], None)
            context["revision_config"] = _config([(mesh, revision)], color_map)
    return render(request, "cases/review/compare.html", context)


@require_POST
def revision_compare_request(
    request: HttpRequest, revision_id: UUID, baseline_id: UUID
) -> HttpResponse:
    """Ask for the comparison (computed at once when small) and show the compare page."""
    actor = acting_actor(request)
    revision, baseline = _pair(request, revision_id, baseline_id)
    member = member_of(actor)
    try:
        comparison_request(actor=member, revision=revision, baseline=baseline)
    except InvalidInput as exc:
        messages.error(request, exc.detail)
        return redirect("cases:revision_review", revision_id=revision.id)
    return redirect("cases:revision_compare", revision_id=revision.id, baseline_id=baseline.id)


def distances_response(comparison: RevisionComparison) -> StreamingHttpResponse:
    """A ready comparison's distances (float32, little-endian, one per vertex), streamed,
    checked against their SHA-256 at the end, never cached. Conflict when not ready."""
    if comparison.status != ComparisonStatus.READY or comparison.blob is None:
        raise Conflict("The distance map is not ready.")
    name = (
        f"{comparison.case.reference}-rev{comparison.revision.number}"
        f"-vs-rev{comparison.baseline.number}-distances.f32"
    )
    return blob_response(comparison.blob, filename=name, content_type="application/octet-stream")


@require_GET
def comparison_distances(request: HttpRequest, comparison_id: UUID) -> StreamingHttpResponse:
    """The distances of a ready comparison of a visible case, for the viewer."""
    actor = acting_actor(request)
    comparison = access_comparison(actor, comparison_id)
    note_subject_patient(request, comparison.patient_id)
    require(actor, Perm.CaseView, comparison.case)
    return distances_response(comparison)


@dataclass(frozen=True, slots=True)
class ComparePanel:
    """The review page's compare panel: the revisions to compare this one with."""

    visible: bool
    targets: list[CompareTarget]
    may_request: bool


def panel_context(request: HttpRequest, actor: RouteActor, revision: Revision) -> dict[str, object]:
    """What this feature's panel on the revision review page needs (merged into its context)."""
    targets = compare_target_list_for(revision=revision)
    has_mesh = bool(targets) or proposal_mesh_get_for(revision=revision) is not None
    return {
        "compare_panel": ComparePanel(
            visible=has_mesh,
            targets=targets,
            may_request=isinstance(actor, Actor),
        )
    }


urlpatterns: list[URLPattern] = [
    path(
        "revisions/<uuid:revision_id>/compare/<uuid:baseline_id>/",
        revision_compare,
        name="revision_compare",
    ),
    path(
        "revisions/<uuid:revision_id>/compare/<uuid:baseline_id>/request/",
        revision_compare_request,
        name="revision_compare_request",
    ),
    path(
        "comparisons/<uuid:comparison_id>/distances/",
        comparison_distances,
        name="comparison_distances",
    ),
]
