"""Pages reach their view only as their route declaration allows (``routes.PAGES``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse

from cuspid.access.enforce import check_route
from cuspid.access.interceptor import record_route
from cuspid.access.routes import RouteRule, is_api_operation_view, page_rule
from cuspid.core.errors import NotAuthenticated, NotFound, PermissionDenied

logger = logging.getLogger(__name__)


class RouteAccessMiddleware:
    """Check each page against its declaration before the view runs; audit PHI reads.

    Fail closed: a page with no declaration answers 404 and logs an error. Signed out →
    sign-in page; no organisation → 404; the role lacks the permission → 403. After the
    view, a read (GET/HEAD) of a PHI-scoped page emits one ``record:read`` audit event with
    the outcome its status shows. API operations are checked by ``api_guard`` instead.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        rule: RouteRule | None = getattr(request, "route_rule", None)
        if rule is not None:
            record_route(request, rule, response.status_code)
        return response

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        if is_api_operation_view(view_func):
            return None
        match = request.resolver_match
        view_name = match.view_name if match is not None else ""
        rule = page_rule(view_name)
        if rule is None:
            logger.error("undeclared route refused", extra={"route": view_name})
            raise Http404
        request.route_rule = rule  # type: ignore[attr-defined]  # read back in __call__
        try:
            check_route(request, rule)
        except NotAuthenticated:
            return redirect_to_login(request.path)
        except NotFound:
            raise Http404 from None
        except PermissionDenied:
            raise DjangoPermissionDenied from None
        return None
