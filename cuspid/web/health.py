"""Liveness and readiness probes. JSON, no secrets, no versions."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable

from celery import current_app
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _blobs() -> None:
    blob_dir = settings.CUSPID_BLOB_DIR
    blob_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=blob_dir, prefix=".readyz-") as probe:
        probe.write(b"ok")
        probe.flush()


def _broker() -> None:
    with current_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "blobs": _blobs,
    "broker": _broker,
}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and answering."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers, the blob directory is writable, the broker is up.

    Each check reports ``ok`` or ``fail``; the reason goes to the log, never to the response.
    """
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception:
            logger.exception("readiness check failed", extra={"check": name})
            results[name] = "fail"
    ready = all(value == "ok" for value in results.values())
    return JsonResponse(
        {"status": "ok" if ready else "fail", "checks": results}, status=200 if ready else 503
    )
