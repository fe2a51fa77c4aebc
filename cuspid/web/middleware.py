"""Turn domain errors raised by page views into the matching error page."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from cuspid.core.errors import CuspidError, NotAuthenticated

_TEMPLATES = {403: "403.html", 404: "404.html"}


class DomainErrorMiddleware:
    """``NotFound`` → the 404 page, ``PermissionDenied`` → 403, signed out → sign-in page.

    API operations never get here: ninja maps the same errors to JSON itself.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if isinstance(exc, NotAuthenticated):
            return redirect_to_login(request.path)
        if isinstance(exc, CuspidError):
            template = _TEMPLATES.get(exc.status, "400.html")
            return TemplateResponse(request, template, status=exc.status).render()
        return None
