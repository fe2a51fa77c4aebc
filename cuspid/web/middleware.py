"""Error shaping: domain errors on pages become error pages; API errors are always JSON."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode

from cuspid.core.errors import CuspidError, NotAuthenticated, StepUpRequired
from cuspid.core.uploads import UploadTooLarge

_TEMPLATES = {403: "403.html", 404: "404.html", 413: "413.html"}


def step_up_return_path(request: HttpRequest) -> str:
    """Where the user goes back to after stepping up: the page itself for a GET; for a form
    post, the page the form was on (the Referer, when it is this site), else the dashboard.
    """
    if request.method in ("GET", "HEAD"):
        return request.get_full_path()
    referer = urlsplit(str(request.META.get("HTTP_REFERER", "")))
    if referer.netloc == request.get_host() and referer.path.startswith("/"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return reverse("web:dashboard")


class DomainErrorMiddleware:
    """``NotFound`` → the 404 page, ``PermissionDenied`` → 403, signed out → sign-in page,
    ``StepUpRequired`` → the step-up page, which comes back to the page after.

    API operations never get here: ninja maps the same errors to JSON itself.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(request.path)
        if isinstance(exc, StepUpRequired):
            query = urlencode({REDIRECT_FIELD_NAME: step_up_return_path(request)})
            return HttpResponseRedirect(f"{reverse('accounts:step_up')}?{query}")
        if isinstance(exc, CuspidError):
            template = _TEMPLATES.get(exc.status, "400.html")
            return TemplateResponse(request, template, status=exc.status).render()
        return None


_API_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "throttled",
}


class ApiErrorShapeMiddleware:
    """Every ``/api/`` error is JSON ``{"detail", "code"}``, whoever produced it.

    ninja and Cuspid's handlers already answer that way; this catches the few answers made
    below them (ninja's plain-text 405, for one). Headers such as ``Allow`` are kept.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            code = _API_CODES.get(response.status_code, "error")
            detail = HTTPStatus(response.status_code).phrase + "."
            shaped = JsonResponse({"detail": detail, "code": code}, status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    shaped[header] = response[header]
            return shaped
        return response


class UploadLimitMiddleware:
    """Answer 413 for an upload past ``CUSPID_MAX_UPLOAD_MB`` before anything reads the form.

    The upload handler (``cuspid.core.uploads``) raises while Django parses a multipart body,
    and the CSRF check parses it before any view runs, where no ``process_exception`` would
    see the error. This middleware, placed before ``CsrfViewMiddleware``, parses it first.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.content_type == "multipart/form-data":
            try:
                request.FILES  # noqa: B018 -- parsing the body is the point
            except UploadTooLarge as exc:
                if request.path.startswith("/api/"):
                    return JsonResponse(exc.body(), status=exc.status)
                limit_mb = settings.CUSPID_MAX_UPLOAD_BYTES // (1024 * 1024)
                context = {"limit_mb": limit_mb}
                return TemplateResponse(request, "413.html", context, status=exc.status).render()
        return self.get_response(request)
