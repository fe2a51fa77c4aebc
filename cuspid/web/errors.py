"""Error pages: no stack traces, no versions; JSON for ``/api/`` paths."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

_CODES = {400: "bad_request", 403: "permission_denied", 404: "not_found", 500: "server_error"}
_DETAILS = {
    400: "Bad request.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    500: "Internal error. Quote the request id to support.",
}


def _page(request: HttpRequest, status: int) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _DETAILS[status], "code": _CODES[status]}, status=status)
    response = TemplateResponse(request, f"{status}.html", status=status)
    return response.render()


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _page(request, 404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: Cuspid's page (an expired or forged form) instead of Django's.

    Django's stock page names the framework and carries an inline style the CSP blocks.
    """
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "CSRF check failed.", "code": "csrf_failed"}, status=403)
    # The 400 page's advice ("go back and try again") fits an expired form; the 403 one,
    # about roles, does not.
    return TemplateResponse(request, "400.html", status=403).render()


def page_not_found_view(request: HttpRequest) -> HttpResponse:
    """A route that exists only to be closed: answers like any unknown URL."""
    return _page(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    # The 500 page must not depend on the database or on context processors that may fail.
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _DETAILS[500], "code": _CODES[500]}, status=500)
    from django.template import loader

    body = loader.get_template("500.html").render(
        {"request_id": getattr(request, "request_id", "")}
    )
    return HttpResponse(body, status=500)
