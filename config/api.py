"""The one NinjaAPI at ``/api/v1``: session auth with CSRF, JSON errors, one router per app."""

from __future__ import annotations

import logging

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import SessionAuth

from cuspid.access.api_guard import operation_guard
from cuspid.core.errors import CuspidError
from cuspid.tenancy.api import router as tenancy_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Cuspid API",
    version="1",
    description="Every operation of the Cuspid platform. Errors are `{detail, code}`.",
    auth=SessionAuth(),
    urls_namespace="api",
)


def _error(request: HttpRequest, status: int, detail: object, code: str) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "code": code}, status=status)


@api.exception_handler(CuspidError)
def _cuspid_error(request: HttpRequest, exc: CuspidError) -> HttpResponse:
    return _error(request, exc.status, exc.detail, exc.code)


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


# Every operation passes its route declaration (cuspid.access.routes) before ninja's auth.
api.add_decorator(operation_guard, mode="view")
api.add_router("/", tenancy_router)
