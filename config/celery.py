"""The Celery application. JSON only; tasks acknowledge late and retry with backoff."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, Task
from celery.signals import worker_ready

# Celery is started by its own command line; point it at the embedded settings by default.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

logger = logging.getLogger(__name__)


class CuspidTask(Task[Any, Any]):
    """Default base for every task: late ack, and retry any error with exponential backoff.

    Tasks must be idempotent (they load by id and call a service), so a retry or a
    redelivery after a worker crash repeats no side effect.
    """

    acks_late = True
    autoretry_for = (Exception,)
    retry_backoff = True
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 5


app = Celery("cuspid", task_cls=CuspidTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def sweep_delivered_messages(celery_app: Celery[Any]) -> int:
    """Delete the messages the embedded broker has delivered; return how many.

    kombu's SQLAlchemy transport marks a message invisible when it hands it to a worker and
    never deletes it, so the broker file would grow with every task ever run. An invisible
    row is never read again (acknowledgement is in the worker's memory, and a message still
    unacknowledged at a warm shutdown is queued again as a new row), so deleting them loses
    nothing. Other transports are left alone.
    """
    from kombu.transport.sqlalchemy import Channel as SQLAlchemyChannel  # only when needed
    from sqlalchemy import not_

    with celery_app.connection_for_write() as broker:
        channel = broker.default_channel
        if not isinstance(channel, SQLAlchemyChannel):
            return 0
        session = channel.session
        try:
            message = channel.message_cls
            deleted = (
                session.query(message)
                .filter(not_(message.visible))
                .delete(synchronize_session=False)
            )
            session.commit()
        finally:
            session.close()
    return int(deleted)


@worker_ready.connect
def _tidy_on_worker_start(**kwargs: Any) -> None:
    """Housekeeping no scheduler does on the embedded default: old messages and results."""
    try:
        swept = sweep_delivered_messages(app)
        # Expired results (CELERY_RESULT_EXPIRES); a no-op where the backend expires them.
        app.backend.cleanup()
    except Exception:
        logger.exception("broker housekeeping failed; the worker carries on")
        return
    if swept:
        logger.info("removed delivered messages from the embedded broker", extra={"count": swept})
