"""The one clock. Services ask it for the time so tests can reason about it."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return timezone.now()
