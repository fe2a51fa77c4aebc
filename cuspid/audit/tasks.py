"""Audit background work: the periodic checkpoint (Celery beat, every 10 minutes)."""

from __future__ import annotations

from celery import shared_task

from cuspid.audit.services import audit_checkpoint_sign
from cuspid.core.actors import SystemActor


@shared_task(name="audit.checkpoint")
def checkpoint() -> int | None:
    """Sign the chain head; return the checkpoint's sequence, or None when nothing was new."""
    signed = audit_checkpoint_sign(actor=SystemActor(reason="scheduled_checkpoint"))
    return signed.sequence if signed is not None else None
