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
from django.views.decorators.http import require_safe
from kombu.transport.sqlalchemy import Channel as SQLAlchemyChannel
from kombu.transport.virtual import Channel as VirtualChannel

logger = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 3


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
    # Opening a connection proves little for the embedded (SQLAlchemy) transport, which only
    # touches its database when a queue is used; declaring the default queue does touch it
    # (on Redis it is one harmless LLEN). A real AMQP server is checked by the handshake,
    # and re-declaring its durable queue with other arguments would be refused.
    with current_app.connection_for_write(connect_timeout=BROKER_TIMEOUT_SECONDS) as broker:
        broker.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT_SECONDS)
        channel = broker.default_channel
        if isinstance(channel, VirtualChannel):
            try:
                channel.queue_declare(queue=current_app.conf.task_default_queue)
            finally:
                if isinstance(channel, SQLAlchemyChannel):
                    # kombu never closes a channel's session: without this every probe would
                    # hold a pooled connection until garbage collection; fifteen exhaust the pool.
                    channel.session.close()


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "blobs": _blobs,
    "broker": _broker,
}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and answering."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
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
