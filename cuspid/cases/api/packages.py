"""``/api/v1`` operations: the production package of an approved revision (issue 8).

Lab staff of the lab a case is shared with create the package (a deterministic ZIP of the
approved files, ``manifest.json`` and the work order) and download it; anyone who sees the
case may read that it exists and when it was made. Each operation: the acting actor,
``access_revision`` (404 for absent and foreign alike), ``require`` the permission, then a
selector or service. The route guard audits every read; the services audit creating and
each download.
"""

# No ``from __future__ import annotations``: ninja reads the operations' annotations at run
# time.

from uuid import UUID

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Router
from ninja.responses import Status

from cuspid.access.enforce import acting_member
from cuspid.access.permissions import Perm
from cuspid.cases.api import TRANSITION_ERRORS, requested_revision
from cuspid.cases.models import ProductionPackage, Revision
from cuspid.cases.schemas.packages import ProductionPackageOut
from cuspid.cases.selectors.packages import package_get_for
from cuspid.cases.services.packages import package_create, package_download
from cuspid.cases.views.packages import package_response
from cuspid.core.errors import NotFound
from cuspid.patients.api import READ_ERRORS

router = Router(tags=["production"])


def _package(revision: Revision) -> ProductionPackage:
    package = package_get_for(revision=revision)
    if package is None:
        raise NotFound("This revision has no production package yet.")
    return package


@router.post(
    "/revisions/{revision_id}/package",
    response={201: ProductionPackageOut, **TRANSITION_ERRORS},
    operation_id="package_create",
)
def package_create_api(request: HttpRequest, revision_id: UUID) -> Status[ProductionPackage]:
    """Make the production package of an approved revision (lab staff of the case's lab).

    The first package moves the case from approved to in_production. Asking again answers
    the package made before (the same bytes). 409 (``not_approved``) for a revision without
    an approval, 409 with the case's ``status`` unless the case is approved or in production,
    409 (``approved_files_changed`` / ``approval_invalid``) when the approved files or the
    approval's signature no longer check out: nothing is made.
    """
    actor = acting_member(request)
    revision = requested_revision(request, revision_id, Perm.ProductionManage)
    package = package_create(actor=actor, revision=revision)
    return Status(201, package)


@router.get(
    "/revisions/{revision_id}/package",
    response={200: ProductionPackageOut, **READ_ERRORS},
    operation_id="package_get",
)
def package_get_api(request: HttpRequest, revision_id: UUID) -> ProductionPackage:
    """The production package of a revision: when and by whom it was made, its size and
    SHA-256. 404 when the revision has none (yet)."""
    revision = requested_revision(request, revision_id, Perm.CaseView)
    return _package(revision)


@router.get(
    "/revisions/{revision_id}/package/content",
    response={200: None, **READ_ERRORS},
    operation_id="package_download",
    url_name="package_download",
    openapi_extra={
        "responses": {
            200: {
                "description": "The package (a ZIP), checked against its SHA-256 as it streams.",
                "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def package_download_api(request: HttpRequest, revision_id: UUID) -> StreamingHttpResponse:
    """Download the production package (lab staff of the case's lab): a ZIP under a generic
    name (``C-00042-rev2-production.zip``), never cached. Every download is audited."""
    actor = acting_member(request)
    revision = requested_revision(request, revision_id, Perm.ProductionManage)
    return package_response(package_download(actor=actor, package=_package(revision)))
