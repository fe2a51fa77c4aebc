"""The one NinjaAPI at ``/api/v1``: session auth with CSRF or API tokens, JSON errors, one
router per app."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Router
from ninja.errors import AuthenticationError, HttpError, ValidationError

from cuspid.access.api_guard import operation_guard
from cuspid.accounts.auth import ApiTokenAuth, SessionAuth, TokenInvalid, bearer_token_first
from cuspid.accounts.enums import TokenScope
from cuspid.cases.api import approvals as approvals_api
from cuspid.cases.api import compare as compare_api
from cuspid.cases.api import insights as insights_api
from cuspid.cases.api import packages as packages_api
from cuspid.cases.api import review as review_api
from cuspid.cases.api import review_links as review_links_api
from cuspid.cases.api import router as cases_router
from cuspid.cases.api import suggestions as suggestions_api
from cuspid.cases.api import viewer as viewer_api
from cuspid.core.errors import CuspidError
from cuspid.patients.api import router as patients_router
from cuspid.tenancy.api import router as tenancy_router

logger = logging.getLogger(__name__)

SESSION_AUTH = SessionAuth()

api = NinjaAPI(
    title="Cuspid API",
    version="1",
    description=(
        "Every operation of the Cuspid platform. Errors are `{detail, code}`. Browsers use "
        "the session (with CSRF); integrations send `Authorization: Bearer cspd_...` to the "
        "operations that list ApiTokenAuth, within the token's scopes."
    ),
    auth=SESSION_AUTH,
    urls_namespace="api",
)


def _error(request: HttpRequest, status: int, detail: object, code: str) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "code": code}, status=status)


@api.exception_handler(CuspidError)
def _cuspid_error(request: HttpRequest, exc: CuspidError) -> HttpResponse:
    return api.create_response(request, exc.body(), status=exc.status)


@api.exception_handler(TokenInvalid)
def _token_invalid(request: HttpRequest, exc: TokenInvalid) -> HttpResponse:
    response = _error(request, exc.status, exc.detail, exc.code)
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


@api.exception_handler(AuthenticationError)
def _not_authenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "Authentication required.", "not_authenticated")


_CODES = {400: "bad_request", 403: "permission_denied", 404: "not_found", 405: "method_not_allowed"}


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = "csrf_failed" if "CSRF" in exc.message else _CODES.get(exc.status_code, "error")
    return _error(request, exc.status_code, exc.message, code)


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return _error(request, 422, exc.errors, "invalid")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "Not found.", "not_found")


@api.exception_handler(Exception)
def _server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("unhandled API error")
    return _error(request, 500, "Internal error. Quote the request id to support.", "server_error")


# Operations an integration may call with an API token, and the scope each needs (None: any
# working token), one mapping per router. Every other operation takes the browser session
# only. A token also acts only as far as its member's role allows: the route rules and
# services still apply.
# - A clinic's member list includes its patients (a patient is a member), so listing or
#   reading members needs patients:read.
# - Clinic-lab connections are how cases travel between a clinic and its labs; reading them
#   belongs with reading cases (cases:read).
TENANCY_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "me_get": None,
    "organization_get": None,
    "member_list": TokenScope.PATIENTS_READ,
    "member_get": TokenScope.PATIENTS_READ,
    "lab_connection_list": TokenScope.CASES_READ,
    "lab_connection_get": TokenScope.CASES_READ,
}
# Patient records are read by integrations (a practice-management sync); registering or
# changing a patient stays with the session (a person at the clinic).
PATIENT_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "patient_list": TokenScope.PATIENTS_READ,
    "patient_get": TokenScope.PATIENTS_READ,
}
# Cases, their timeline, files and revisions: read with cases:read, changed with cases:write
# (a scanner or lab system opening cases, uploading scans and revisions). Approving still
# needs a recent sign-in, which a token never has.
CASE_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "case_list": TokenScope.CASES_READ,
    "case_get": TokenScope.CASES_READ,
    "case_event_list": TokenScope.CASES_READ,
    "attachment_list": TokenScope.CASES_READ,
    "attachment_download": TokenScope.CASES_READ,
    "revision_list": TokenScope.CASES_READ,
    "revision_get": TokenScope.CASES_READ,
    "case_create": TokenScope.CASES_WRITE,
    "case_update": TokenScope.CASES_WRITE,
    "case_send": TokenScope.CASES_WRITE,
    "case_transition": TokenScope.CASES_WRITE,
    "attachment_upload": TokenScope.CASES_WRITE,
    "revision_create": TokenScope.CASES_WRITE,
}
# Review and approval: integrations read what a review produced (meshes, pins, comments, the
# signed approval, packages, distance maps, insights) with cases:read, and a lab's production
# system builds the package with cases:write. Commenting, asking for changes, approving and
# review links stay with a person's session (approval needs a recent sign-in, which a token
# never has).
VIEWER_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "revision_mesh_list": TokenScope.CASES_READ,
}
REVIEW_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "annotation_list": TokenScope.CASES_READ,
    "comment_list": TokenScope.CASES_READ,
}
APPROVAL_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "approval_get": TokenScope.CASES_READ,
    "approval_public_key": None,
}
PACKAGE_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "package_get": TokenScope.CASES_READ,
    "package_download": TokenScope.CASES_READ,
    "package_create": TokenScope.CASES_WRITE,
}
COMPARE_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "comparison_get": TokenScope.CASES_READ,
    "comparison_distances": TokenScope.CASES_READ,
}
SUGGESTION_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "suggestion_request": TokenScope.CASES_WRITE,
    "suggestion_get": TokenScope.CASES_READ,
    "suggestion_labels": TokenScope.CASES_READ,
}
INSIGHTS_TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    "insights_get": TokenScope.CASES_READ,
}
TOKEN_SCOPES: Mapping[str, TokenScope | None] = {
    **TENANCY_TOKEN_SCOPES,
    **PATIENT_TOKEN_SCOPES,
    **CASE_TOKEN_SCOPES,
    **VIEWER_TOKEN_SCOPES,
    **REVIEW_TOKEN_SCOPES,
    **APPROVAL_TOKEN_SCOPES,
    **PACKAGE_TOKEN_SCOPES,
    **COMPARE_TOKEN_SCOPES,
    **SUGGESTION_TOKEN_SCOPES,
    **INSIGHTS_TOKEN_SCOPES,
}


def accept_tokens(router: Router, scopes: Mapping[str, TokenScope | None]) -> None:
    """Let the router's operations named in ``scopes`` take a token (first) or the session.

    Set here rather than in each app's router: apps sit below ``accounts`` in the layers.
    Raises ``LookupError`` for a name the router does not have, so a rename cannot silently
    drop token access.
    """
    found: set[str] = set()
    for path_view in router.path_operations.values():
        for operation in path_view.operations:
            name = operation.operation_id or ""
            if name in scopes:
                auth = [ApiTokenAuth(scopes[name]), SESSION_AUTH]
                operation.auth_param = auth
                operation.auth_callbacks = auth
                found.add(name)
    missing = set(scopes) - found
    if missing:
        raise LookupError(f"no such operations: {sorted(missing)}")


accept_tokens(tenancy_router, TENANCY_TOKEN_SCOPES)
accept_tokens(patients_router, PATIENT_TOKEN_SCOPES)
accept_tokens(cases_router, CASE_TOKEN_SCOPES)
accept_tokens(viewer_api.router, VIEWER_TOKEN_SCOPES)
accept_tokens(review_api.router, REVIEW_TOKEN_SCOPES)
accept_tokens(approvals_api.router, APPROVAL_TOKEN_SCOPES)
accept_tokens(packages_api.router, PACKAGE_TOKEN_SCOPES)
accept_tokens(compare_api.router, COMPARE_TOKEN_SCOPES)
accept_tokens(suggestions_api.router, SUGGESTION_TOKEN_SCOPES)
accept_tokens(insights_api.router, INSIGHTS_TOKEN_SCOPES)
# Every operation passes its route declaration (cuspid.access.routes) before ninja's auth;
# a bearer token is authenticated before that, so the route rules apply to its member.
api.add_decorator(operation_guard, mode="view")
api.add_decorator(bearer_token_first, mode="view")
api.add_router("/", tenancy_router)
api.add_router("/", patients_router)
api.add_router("/", cases_router)
# Review and approval (issue 8): one router per feature module of cuspid.cases.api.
REVIEW_ROUTERS = (
    viewer_api.router,
    review_api.router,
    approvals_api.router,
    packages_api.router,
    review_links_api.router,
    compare_api.router,
    insights_api.router,
    # AI suggestions (issue 9).
    suggestions_api.router,
)
for review_router in REVIEW_ROUTERS:
    api.add_router("/", review_router)
