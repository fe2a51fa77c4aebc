"""Pages: the production package of an approved revision, and its printable work order
(issue 8).

The panel (``cases/review/_package.html``) on the revision review page shows lab staff of
the case's lab a "Create production package" button on an approved revision, then "Download
package (ZIP, n MB)" with its SHA-256 and a link to the work order; everyone else who sees
the case learns that a package exists and when it was made. The button posts to
:func:`package_create_page` (htmx swaps the panel in place; without script, the page comes
back with a message).
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from cuspid.access.enforce import RouteActor, acting_actor, member_of
from cuspid.access.interceptor import note_subject_patient
from cuspid.access.permissions import Perm
from cuspid.access.policy import can, require
from cuspid.cases.models import ProductionPackage, Revision
from cuspid.cases.policies import access_revision, side_of
from cuspid.cases.selectors.approvals import approval_get_for
from cuspid.cases.selectors.packages import package_files_for, package_get_for, work_order_for
from cuspid.cases.services.packages import (
    PRODUCTION_OPEN,
    PackageDownload,
    package_create,
    package_download,
)
from cuspid.cases.workflow import Side, State
from cuspid.cases.workorder import workorder_html
from cuspid.core.errors import Conflict, NotFound, PermissionDenied
from cuspid.tenancy.actor import Actor

PANEL_TEMPLATE = "cases/review/_package.html"


def package_response(download: PackageDownload) -> StreamingHttpResponse:
    """The package as a ZIP attachment under its generic name, never cached (the page and the
    API answer the same)."""
    response = StreamingHttpResponse(download.chunks, content_type="application/zip")
    response["Content-Length"] = str(download.package.size)
    response["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@dataclass(frozen=True, slots=True)
class PackagePanel:
    """What the package panel shows: the package (when made), and what this actor may do."""

    package: ProductionPackage | None
    approved: bool
    # Lab staff of the case's lab: they make and download packages.
    producer: bool
    may_create: bool
    error: str = ""
    # Made by the request that renders the panel (htmx): say what changed.
    just_created: bool = False

    @property
    def visible(self) -> bool:
        """Shown once there is something to tell: a package, an approval, or (to lab staff)
        what comes first."""
        return self.package is not None or self.approved or self.producer


def _is_producer(actor: RouteActor, revision: Revision) -> bool:
    case = revision.case
    return (
        isinstance(actor, Actor)
        and side_of(actor, case) == Side.LAB
        and can(actor, Perm.ProductionManage, case)
    )


def _panel(
    actor: RouteActor, revision: Revision, error: str = "", *, just_created: bool = False
) -> PackagePanel:
    package = package_get_for(revision=revision)
    producer = _is_producer(actor, revision)
    approved = package is not None or approval_get_for(revision=revision) is not None
    return PackagePanel(
        package=package,
        approved=approved,
        producer=producer,
        may_create=producer
        and package is None
        and approved
        and State(revision.case.status) in PRODUCTION_OPEN,
        error=error,
        just_created=just_created,
    )


def panel_context(request: HttpRequest, actor: RouteActor, revision: Revision) -> dict[str, object]:
    """What the package panel on the revision review page needs (merged into its context).

    The caller found the revision with ``access_revision`` and checked ``Perm.CaseView``.
    """
    return {"package_panel": _panel(actor, revision)}


def _review_url(revision_id: UUID) -> str:
    return reverse("cases:revision_review", args=[revision_id])


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _producer_revision(request: HttpRequest, revision_id: UUID) -> Revision:
    """The visible revision (404 otherwise) of a case whose lab the actor is in, with
    ``Perm.ProductionManage``."""
    actor = acting_actor(request)
    revision = access_revision(actor, revision_id)
    note_subject_patient(request, revision.patient_id)
    require(actor, Perm.ProductionManage, revision.case)
    if side_of(actor, revision.case) != Side.LAB:
        raise PermissionDenied
    return revision


@require_POST
def package_create_page(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """Make the revision's production package from the panel's button.

    With htmx, the panel comes back in place (a refusal, said plainly, with 409); without,
    the review page, with a message.
    """
    revision = _producer_revision(request, revision_id)
    member = member_of(acting_actor(request))
    error, status = "", 200
    try:
        package_create(actor=member, revision=revision)
    except Conflict as exc:
        error, status = _("No package was made. %(detail)s") % {"detail": exc.detail}, 409
    if _is_htmx(request):
        # The case row changed (in production now): read it again for the panel.
        revision = access_revision(member, revision.id)
        panel = _panel(member, revision, error, just_created=not error)
        context = {"revision": revision, "package_panel": panel}
        return render(request, PANEL_TEMPLATE, context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(
            request,
            _("Production package created. The case is in production; download it below."),
        )
    return redirect(_review_url(revision.id))


@require_GET
def package_download_page(request: HttpRequest, revision_id: UUID) -> StreamingHttpResponse:
    """The revision's production package, as a ZIP download (audited, never cached)."""
    revision = _producer_revision(request, revision_id)
    package = package_get_for(revision=revision)
    if package is None:
        raise NotFound
    member = member_of(acting_actor(request))
    return package_response(package_download(actor=member, package=package))


@require_GET
def package_workorder_page(request: HttpRequest, revision_id: UUID) -> HttpResponse:
    """The approved revision's work order as a printable page (the packaged one, with its
    stylesheet linked instead of copied in)."""
    revision = _producer_revision(request, revision_id)
    approval = approval_get_for(revision=revision)
    if approval is None:
        raise NotFound
    files = [line for _attachment, line in package_files_for(revision=revision)]
    order = work_order_for(
        revision=revision,
        approval=approval,
        files=files,
        lab=acting_actor(request).organization,
        # Printed here and now: in the reader's language (the packaged copy uses the
        # deployment's, so that every build is the same).
        language=get_language(),
    )
    html = workorder_html(order, standalone=False, back_url=_review_url(revision.id))
    return HttpResponse(html)


urlpatterns: list[URLPattern] = [
    path("revisions/<uuid:revision_id>/package/", package_create_page, name="package_create"),
    path(
        "revisions/<uuid:revision_id>/package.zip",
        package_download_page,
        name="package_download",
    ),
    path(
        "revisions/<uuid:revision_id>/workorder/",
        package_workorder_page,
        name="package_workorder",
    ),
]
