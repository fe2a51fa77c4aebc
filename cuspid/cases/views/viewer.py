"""Pages: the 3D review page of a revision, and the configuration every viewer is drawn from.

The review page shows one revision of a case in the 3D viewer (its design files and the
clinic's scans of the case, streamed through the audited ``cases:attachment_download``) with
the review panels of the other features beside it: annotations and comments, approval,
production package, review links and compare. Each of those modules has a
``panel_context(request, actor, revision)``; the page merges them into its context.

:func:`viewer_config` builds the JSON the viewer partial (``cases/review/_viewer.html``) is
rendered with; the review-link page and the compare page build theirs with it too, passing
their own ``url_for`` when the files are streamed from elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.views.decorators.http import require_GET

from cuspid.access.enforce import RouteActor, acting_actor
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import can, require
from cuspid.cases.downloads import EXTENSIONS
from cuspid.cases.enums import Layer
from cuspid.cases.models import Attachment, Revision
from cuspid.cases.policies import access_revision, side_of
from cuspid.cases.selectors.viewer import case_revision_list_for, revision_mesh_list_for
from cuspid.keys.fields import preload_keys
from cuspid.tenancy.actor import Actor


@dataclass(frozen=True, slots=True)
class ColorMap:
    """A per-vertex distance map to paint on one mesh of a viewer.

    ``url`` serves little-endian float32 distances in millimetres, one per vertex of the
    mesh's ``position`` attribute in loader order (a binary STL: three per facet, in file
    order); ``max_mm`` is where the blue-white-red scale saturates.
    """

    mesh_id: UUID
    url: str
    max_mm: float


@dataclass(frozen=True, slots=True)
class LabelMap:
    """A per-vertex tooth segmentation to paint on one mesh of a viewer.

    ``url`` serves one unsigned byte per vertex of the mesh in loader order (as ``ColorMap``):
    0 for gingiva, otherwise the tooth's FDI number; each tooth gets its own colour and the
    legend lists the teeth found.
    """

    mesh_id: UUID
    url: str


def attachment_url(attachment: Attachment) -> str:
    """Where a signed-in member streams a mesh: the audited, never cached file download."""
    return reverse("cases:attachment_download", args=[attachment.id])


def _labels(meshes: Sequence[Attachment]) -> list[str]:
    """Each mesh's label: its layer's name, numbered when a layer holds several meshes."""
    totals: dict[str, int] = {}
    for mesh in meshes:
        totals[mesh.layer] = totals.get(mesh.layer, 0) + 1
    seen: dict[str, int] = {}
    labels = []
    for mesh in meshes:
        name = str(Layer(mesh.layer).label)
        seen[mesh.layer] = seen.get(mesh.layer, 0) + 1
        labels.append(f"{name} {seen[mesh.layer]}" if totals[mesh.layer] > 1 else name)
    return labels


def viewer_config(
    meshes: Sequence[Attachment],
    *,
    can_pin: bool = False,
    color_map: ColorMap | None = None,
    label_map: LabelMap | None = None,
    url_for: Callable[[Attachment], str] = attachment_url,
) -> dict[str, object]:
    """The configuration of one viewer, for ``{{ viewer_config|json_script:... }}``.

    ``{"meshes": [{"id", "url", "layer", "label", "faces", "bytes", "format"}], "canPin":
    bool, "colorMap": null | {"meshId", "url", "maxMm"}, "labelMap": null | {"meshId",
    "url"}}``. Labels name the layer (translated),
    never the uploaded file name; ``format`` is ``stl``, ``ply`` or ``obj`` (the viewer sniffs
    the bytes when it is missing). ``url_for`` gives each mesh's URL (default: the signed-in
    download, ``cases:attachment_download``); the caller has checked the actor may read every
    mesh passed in.
    """
    return {
        "meshes": [
            {
                "id": str(mesh.id),
                "url": url_for(mesh),
                "layer": mesh.layer,
                "label": label,
                "faces": mesh.face_count or 0,
                "bytes": mesh.size,
                "format": EXTENSIONS.get(mesh.file_format, ""),
            }
            for mesh, label in zip(meshes, _labels(meshes), strict=True)
        ],
        "canPin": can_pin,
        "colorMap": None
        if color_map is None
        else {
            "meshId": str(color_map.mesh_id),
            "url": color_map.url,
            "maxMm": color_map.max_mm,
        },
        "labelMap": None
        if label_map is None
        else {"meshId": str(label_map.mesh_id), "url": label_map.url},
    }


def _panels(request: HttpRequest, actor: RouteActor, revision: Revision) -> dict[str, object]:
    """What the other features' panels need, each from its own module."""
    # Imported here: the panel modules import their own views, which may import this one.
    from cuspid.cases.views import (
        approvals,
        compare,
        packages,
        review,
        review_links,
        suggestions,
    )

    context: dict[str, object] = {}
    for module in (review, approvals, packages, review_links, compare, suggestions):
        context.update(module.panel_context(request, actor, revision))
    return context


@require_GET
def revision_review(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """One revision in the 3D viewer, with the review panels beside it."""
    actor = acting_actor(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    case = revision.case
    require(actor, Perm.CaseView, case)
    revisions = list(case_revision_list_for(revision=revision))
    # The notes of the case's revisions are sealed with the patient's key: open it once.
    preload_keys(revisions)
    shown = next(r for r in revisions if r.id == revision.id)
    meshes = revision_mesh_list_for(revision=revision)
    can_pin = isinstance(actor, Actor) and can(actor, Perm.CaseComment, case)
    panels = _panels(request, actor, revision)
    label_map = panels.get("label_map")
    context = {
        **panels,
        "case": case,
        "revision": revision,
        "revision_organization": shown.organization,
        "side": side_of(actor, case),
        "actor": actor,
        "is_latest": revisions[0].id == revision.id,
        "revisions": revisions,
        "latest_revision": revisions[0],
        "meshes": meshes,
        "viewer_config": viewer_config(
            meshes,
            can_pin=can_pin,
            label_map=label_map if isinstance(label_map, LabelMap) else None,
        ),
    }
    return render(request, "cases/review/revision_review.html", context)


urlpatterns: list[URLPattern] = [
    path("revisions/<uuid:revision_id>/", revision_review, name="revision_review"),
]
