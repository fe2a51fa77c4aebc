"""The API's route check, keyed by operation id (``routes.OPERATIONS``).

``operation_guard`` is installed on the NinjaAPI with ``api.add_decorator(..., mode="view")``:
ninja hands it each operation's bound ``run``, whose ``__self__`` is the operation. It runs
before ninja's own authentication, so an undeclared operation never reaches its code.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponseBase, JsonResponse

from cuspid.access.enforce import check_route
from cuspid.access.interceptor import record_route
from cuspid.access.routes import operation_rule
from cuspid.core.errors import CuspidError, NotFound

logger = logging.getLogger(__name__)

OperationRun = Callable[..., HttpResponseBase]


def _error(exc: CuspidError) -> JsonResponse:
    return JsonResponse(exc.body(), status=exc.status)


def operation_guard(run: OperationRun) -> OperationRun:
    """Wrap one operation: refuse it unless declared and allowed; audit PHI reads."""
    operation_id: str | None = getattr(getattr(run, "__self__", None), "operation_id", None)
    rule = operation_rule(operation_id)

    @functools.wraps(run)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if rule is None:
            logger.error("undeclared API operation refused", extra={"route": operation_id})
            return _error(NotFound())
        try:
            check_route(request, rule)
        except CuspidError as exc:
            response: HttpResponseBase = _error(exc)
        else:
            response = run(request, *args, **kwargs)
        record_route(request, rule, response.status_code)
        return response

    return guarded
