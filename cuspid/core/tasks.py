"""Kernel tasks. ``ping`` proves a worker is consuming from the broker."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="core.ping")
def ping(token: str) -> str:
    """Echo the token back; used by tests and operators to check the worker end to end."""
    return f"pong:{token}"
