"""Structured logs: one JSON object a line, a request id on each, and no PHI.

The access line written for each request carries the method, the path *without* its query
string, the resolved route, the status and the duration — never a body, a query string, an
email address or a name. :class:`RedactFilter` scrubs email addresses and query strings from
every other record too, as a second line of defence for messages written by libraries.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

access_logger = logging.getLogger("cuspid.access")

_INCOMING_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_QUERY = re.compile(r"(/[^\s?\"']*)\?[^\s\"']*")
# A review link's address carries its token (/review/<token>/...): logged as /review/….
_REVIEW_LINK = re.compile(r"/review/[^/\s?\"']+")

# Attributes every LogRecord has; anything else on a record was passed through ``extra=``.
# (uvicorn adds ``color_message``, the same text with terminal colour codes.)
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


def redact(text: str) -> str:
    """Remove email addresses, URL query strings and review-link tokens from log text."""
    return _REVIEW_LINK.sub("/review/…", _QUERY.sub(r"\1", _EMAIL.sub("[email]", text)))


class RedactFilter(logging.Filter):
    """Rewrite each record's message with :func:`redact` before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _scrubbed(value: Any) -> Any:
    """An ``extra=`` value made safe for the log: text redacted, objects as redacted text.

    Libraries attach objects whose text carries PHI (Django puts the request, whose repr
    holds the full path and query string, on every ``django.request`` record).
    """
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {str(k): _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrubbed(v) for v in value]
    return redact(value if isinstance(value, str) else str(value))


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time (UTC), level, logger, message, request id.

    Fields passed through ``extra=`` and the exception text are redacted like the message.
    """

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in payload:
                payload[key] = _scrubbed(value)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str, ensure_ascii=False)


# URL captures that carry a secret (invitation tokens, password-reset keys) are not logged.
_SECRET_CAPTURE = re.compile(r"key|token|uidb36", re.IGNORECASE)


def _loggable_path(path: str, captures: dict[str, Any]) -> str:
    """``path`` with the values of secret-bearing URL captures replaced by ``[secret]``."""
    for name, value in captures.items():
        if _SECRET_CAPTURE.search(name) and isinstance(value, str) and value:
            path = path.replace(value, "[secret]")
    return path


class RequestLogMiddleware:
    """Give each request an id, return it as ``X-Request-ID``, and write one access line.

    An incoming ``X-Request-ID`` from a proxy is kept when it is a plain token (8-64 letters,
    digits, dashes); anything else is replaced, so a client cannot inject text into logs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        request.request_id = request_id  # type: ignore[attr-defined]  # set once per request here
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            self._log(request, response.status_code, started)
            return response
        finally:
            request_id_var.reset(token)

    @staticmethod
    def _log(request: HttpRequest, status: int, started: float) -> None:
        match = getattr(request, "resolver_match", None)
        user = getattr(request, "user", None)
        actor = getattr(request, "actor", None)
        access_logger.info(
            "request",
            extra={
                "method": request.method,
                "path": _loggable_path(request.path, match.kwargs if match else {}),
                "route": match.route if match else None,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
                "organization_id": str(actor.organization.id) if actor else None,
            },
        )
