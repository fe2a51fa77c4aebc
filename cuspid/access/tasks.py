"""Access background work: record break-glass expiries (Celery beat, every minute)."""

from __future__ import annotations

from celery import shared_task

from cuspid.access.services import break_glass_expire_due


@shared_task(name="access.break_glass_expire")
def break_glass_expire() -> int:
    """End and audit every break-glass grant past its expiry; return how many."""
    return break_glass_expire_due()
