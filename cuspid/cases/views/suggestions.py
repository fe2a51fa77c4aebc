"""Pages: asking for an AI suggestion, watching it run, and its segmentation in the viewer.

The case page's "AI suggestion" panel (``case_panel_context``) offers a lab designer "Request
AI suggestion" (``suggestion_request_page``) and shows the latest run: a progress bar while a
worker runs it (the block polls ``suggestion_status`` with HTMX and reloads the page once it
is decided), the error and a "Try again" button when it failed, the link to its revision when
it is ready. On that revision's review page (``panel_context``) the prepared jaw's scan is
painted by tooth (``suggestion_labels`` streams the labels to the viewer) and the engine's
report is shown, with "Start the next revision from this suggestion".

Each view: the actor, ``access_case`` / ``access_suggestion`` (the same 404 for absent and
foreign), the patient named for the audited read, ``require``, then the service or a
selector. Asking needs a member; a break-glass operator only looks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
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
from cuspid.access.policy import can, require
from cuspid.cases import workflow
from cuspid.cases.downloads import blob_response
from cuspid.cases.enums import SuggestionStatus
from cuspid.cases.errors import InvalidTransition
from cuspid.cases.models import Case, DesignSuggestion, Revision
from cuspid.cases.policies import access_case, side_of
from cuspid.cases.policies.suggestions import access_suggestion
from cuspid.cases.selectors.suggestions import suggestion_latest_for, suggestion_of_revision
from cuspid.cases.services.suggestions import suggestion_request
from cuspid.cases.views.viewer import LabelMap
from cuspid.cases.workflow import Side, State
from cuspid.core.errors import Conflict, InvalidInput
from cuspid.tenancy.actor import Actor

# How often a page waiting for the worker asks again (seconds).
POLL_SECONDS = 2
# Why a suggestion failed, by its code (``cuspid.cases.suggest``, the service).
ERROR_MESSAGES: dict[str, str | Promise] = {
    "unreadable_scan": gettext_lazy("The prepared jaw's scan could not be read."),
    "segmentation_failed": gettext_lazy(
        "The teeth could not be found on the prepared jaw's scan. Check that it shows a "
        "dental arch."
    ),
    "no_tooth_in_jaw": gettext_lazy(
        "None of the case's teeth is on the prepared jaw's scan (upper and lower jaw differ)."
    ),
    "no_crown": gettext_lazy("No crown could be proposed for the case's teeth."),
    "case_moved_on": gettext_lazy(
        "The case changed while the suggestion ran (sent for review, withdrawn, or your "
        "access changed)."
    ),
    "requester_gone": gettext_lazy("The designer who asked is no longer a member of the lab."),
}
UNKNOWN_ERROR = gettext_lazy("Something went wrong on our side.")
JAW_LABELS: dict[str, str | Promise] = {
    "upper": gettext_lazy("upper jaw"),
    "lower": gettext_lazy("lower jaw"),
}


def error_text(code: str) -> str:
    """What a failure code means, for people."""
    return str(ERROR_MESSAGES.get(code, UNKNOWN_ERROR)) if code else ""


@dataclass(frozen=True, slots=True)
class SuggestionPanel:
    """The case page's AI suggestion block."""

    suggestion: DesignSuggestion | None
    may_request: bool

    @property
    def running(self) -> bool:
        return self.suggestion is not None and self.suggestion.status in (
            SuggestionStatus.PENDING,
            SuggestionStatus.RUNNING,
        )

    @property
    def retrying(self) -> bool:
        """The first attempt failed and a second one is queued or running."""
        return self.running and self.suggestion is not None and bool(self.suggestion.error)

    @property
    def error(self) -> str:
        return error_text(self.suggestion.error) if self.suggestion is not None else ""


def _may_request(actor: RouteActor, case: Case) -> bool:
    return (
        isinstance(actor, Actor)
        and side_of(actor, case) == Side.LAB
        and State(case.status) in workflow.REVISIONS_OPEN
        and can(actor, Perm.DesignEdit, case)
    )


def case_panel_context(actor: RouteActor, case: Case) -> dict[str, object]:
    """What the case page's AI suggestion block needs (merged into its context)."""
    suggestion = suggestion_latest_for(case=case)
    return {
        "suggestion_panel": SuggestionPanel(
            suggestion=suggestion, may_request=_may_request(actor, case)
        ),
        "suggestion_poll_seconds": POLL_SECONDS,
    }


@require_POST
def suggestion_request_page(request: HttpRequest, case_id: UUID) -> HttpResponse:
    """Ask for an AI suggestion; back to the case page, where its progress shows."""
    actor = acting_actor(request)
    case = access_case(actor, case_id)
    note_subject_patient(request, case.patient_id)
    member = member_of(actor)
    try:
        suggestion_request(actor=member, case=case)
    except (InvalidInput, InvalidTransition) as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(
            request, _("The AI suggestion is on its way. This page shows its progress.")
        )
    return redirect(reverse("cases:case_detail", args=[case.id]) + "#ai-suggestion")


@require_GET
def suggestion_status(request: HttpRequest, suggestion_id: UUID) -> HttpResponse:
    """The progress block of a suggestion (the case page's HTMX poll); once it is decided,
    the answer asks the page to reload."""
    actor = acting_actor(request)
    suggestion = access_suggestion(actor, suggestion_id)
    note_subject_patient(request, suggestion.patient_id)
    require(actor, Perm.CaseView, suggestion.case)
    panel = SuggestionPanel(suggestion=suggestion, may_request=_may_request(actor, suggestion.case))
    response = render(
        request,
        "cases/_suggestion_status.html",
        {
            "suggestion_panel": panel,
            "suggestion_poll_seconds": POLL_SECONDS,
            "case": suggestion.case,
        },
    )
    if not panel.running:
        response["HX-Refresh"] = "true"
    return response


def labels_response(suggestion: DesignSuggestion) -> StreamingHttpResponse:
    """A ready suggestion's labels (one byte per scan vertex), streamed, checked against their
    SHA-256 at the end, never cached. Conflict when not ready."""
    if suggestion.status != SuggestionStatus.READY or suggestion.labels is None:
        raise Conflict("The segmentation is not ready.")
    name = f"{suggestion.case.reference}-ai-suggestion-labels.u8"
    return blob_response(suggestion.labels, filename=name, content_type="application/octet-stream")


@require_GET
def suggestion_labels(request: HttpRequest, suggestion_id: UUID) -> StreamingHttpResponse:
    """The segmentation of a ready suggestion of a visible case, for the viewer."""
    actor = acting_actor(request)
    suggestion = access_suggestion(actor, suggestion_id)
    note_subject_patient(request, suggestion.patient_id)
    require(actor, Perm.CaseView, suggestion.case)
    return labels_response(suggestion)


@dataclass(frozen=True, slots=True)
class CrownFigures:
    """One crown's report as the review page lists it: (what, value, outside its range)."""

    tooth: int
    rows: list[tuple[str, str, bool]]
    warnings: list[str]


def _mm(value: object) -> str:
    return "—" if not isinstance(value, int | float) else f"{value:.2f} mm"


def _warning_text(warning: dict[str, Any], *, legacy: bool = False) -> str:
    """A report warning in the reader's language, from its code and numbers.

    ``legacy``: the report predates the occlusal contact, when its clearance was measured
    from the crown (not the preparation) to the antagonist; its clearance warning keeps the
    wording it had then.
    """
    values = {"value": _mm(warning.get("value")), "limit": _mm(warning.get("limit"))}
    neighbour = warning.get("neighbour")
    values["n"] = str(int(neighbour) + 1) if isinstance(neighbour, int) else "?"
    texts = {
        "contact_open": _("Open contact with neighbour %(n)s: %(value)s, at most %(limit)s."),
        "contact_tight": _("Too tight on neighbour %(n)s: %(value)s, at least %(limit)s."),
        "occlusion_open": _(
            "The crown is out of occlusion: %(value)s from the antagonist, at most %(limit)s."
        ),
        "occlusion_heavy": _(
            "The crown presses into the antagonist: %(value)s, at least %(limit)s."
        ),
        "clearance_low": _(
            "The preparation leaves too little occlusal room: %(value)s to the antagonist, "
            "at least %(limit)s for this material."
        ),
        "wall_thin": _("Thinnest wall %(value)s, at least %(limit)s."),
        "not_watertight": _("The crown mesh is not closed (watertight)."),
    }
    if legacy:
        texts["clearance_low"] = _(
            "Occlusal clearance %(value)s, at least %(limit)s for this material."
        )
    return texts.get(str(warning.get("code", "")), _("A figure is outside its range.")) % values


def _crown_figures(entry: dict[str, Any]) -> CrownFigures:
    report = entry.get("report") or {}
    warnings = [w for w in report.get("warnings") or [] if isinstance(w, dict)]
    codes = {str(w.get("code", "")) for w in warnings}
    # Reports stored before the occlusal contact existed measured the clearance from the
    # crown: they keep their old row and wording.
    legacy = "occlusal_contact_mm" not in report
    volume = report.get("volume_mm3")
    rows = [
        (_("Margin line length"), _mm(report.get("margin_length_mm")), False),
        *[
            (
                _("Contact with neighbour %(n)s") % {"n": n + 1},
                _mm(value),
                any(
                    w.get("neighbour") == n and str(w.get("code", "")).startswith("contact")
                    for w in warnings
                ),
            )
            for n, value in enumerate(report.get("contacts_mm") or [])
        ],
        *(
            [
                (
                    _("Occlusal contact"),
                    _mm(report.get("occlusal_contact_mm")),
                    bool(codes & {"occlusion_open", "occlusion_heavy"}),
                )
            ]
            if not legacy
            else []
        ),
        (
            _("Occlusal clearance") if legacy else _("Occlusal clearance (preparation)"),
            _mm(report.get("occlusal_clearance_mm")),
            "clearance_low" in codes,
        ),
        (_("Thinnest wall"), _mm(report.get("min_wall_thickness_mm")), "wall_thin" in codes),
        (_("Volume"), "—" if not isinstance(volume, int | float) else f"{volume:.1f} mm³", False),
        (
            _("Watertight"),
            _("Yes") if report.get("watertight") else _("No"),
            "not_watertight" in codes,
        ),
    ]
    return CrownFigures(
        tooth=int(entry.get("tooth", 0)),
        rows=rows,
        warnings=[_warning_text(w, legacy=legacy) for w in warnings],
    )


def label_map_for(suggestion: DesignSuggestion) -> LabelMap:
    """The viewer's label map of a ready suggestion: its scan, painted by tooth."""
    return LabelMap(
        mesh_id=suggestion.scan_id, url=reverse("cases:suggestion_labels", args=[suggestion.id])
    )


def panel_context(request: HttpRequest, actor: RouteActor, revision: Revision) -> dict[str, object]:
    """What the review page needs for a revision made by the design engine: its label map
    (merged into the viewer's configuration by the page) and its report."""
    suggestion = suggestion_of_revision(revision=revision)
    if suggestion is None or suggestion.status != SuggestionStatus.READY:
        return {"ai_panel": None}
    report = suggestion.report or {}
    return {
        "ai_panel": {
            "suggestion": suggestion,
            "jaw": JAW_LABELS.get(str(report.get("jaw", "")), ""),
            "teeth_found": report.get("teeth_found", []),
            "crowns": [_crown_figures(entry) for entry in report.get("crowns", [])],
            "skipped": [int(entry.get("tooth", 0)) for entry in report.get("skipped", [])],
            "may_revise": _may_request(actor, revision.case),
        },
        "label_map": label_map_for(suggestion),
    }


urlpatterns: list[URLPattern] = [
    path(
        "cases/<uuid:case_id>/ai-suggestions/",
        suggestion_request_page,
        name="suggestion_request",
    ),
    path(
        "ai-suggestions/<uuid:suggestion_id>/status/",
        suggestion_status,
        name="suggestion_status",
    ),
    path(
        "ai-suggestions/<uuid:suggestion_id>/labels/",
        suggestion_labels,
        name="suggestion_labels",
    ),
]
