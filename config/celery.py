"""The Celery application. JSON only; tasks acknowledge late and retry with backoff."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task

# Celery is started by its own command line; point it at the embedded settings by default.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")


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
