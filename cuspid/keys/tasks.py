"""Key background work: finishing a DEK rotation (re-encrypt, then retire the old keys), and
sweeping what crashes and rollbacks left in the blob storage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from celery import Task, shared_task

from cuspid.core.actors import SystemActor
from cuspid.keys.blobs import blobs_sweep
from cuspid.keys.models import DataKey, OwnerKind
from cuspid.keys.rotation import dek_reencrypt, dek_retire, retire_after


@shared_task(name="keys.dek_rotation_finish", bind=True)
def dek_rotation_finish(self: Task[Any, Any], kind: str, owner_id: str) -> list[int]:
    """Re-encrypt what the owner's old keys sealed, then retire them; returns the retired ids.

    Idempotent: a redelivery re-encrypts only what is still stale. While caches may still
    hold the old primary, it re-queues itself for when they cannot.
    """
    owner_kind, owner = OwnerKind(kind), UUID(owner_id)
    dek_reencrypt(kind=owner_kind, owner_id=owner)
    wait = retire_after(DataKey.objects.get(owner_kind=owner_kind, owner_id=owner))
    if wait:
        # Stragglers sealed by a stale cache meanwhile are caught by the next run.
        raise self.retry(countdown=int(wait.total_seconds()) + 1, max_retries=None)
    return dek_retire(actor=SystemActor(reason="dek_rotation"), kind=owner_kind, owner_id=owner)


# Longer than any transaction that stores a blob, so an upload still in progress is never
# taken for a rolled-back one.
SWEEP_GRACE = timedelta(hours=6)


@shared_task(name="keys.blobs_sweep")
def blobs_sweep_task() -> dict[str, int]:
    """Promote committed uploads whose promotion did not run and remove orphans (hourly)."""
    report = blobs_sweep(older_than=SWEEP_GRACE)
    return {
        "promoted": report.promoted,
        "removed": report.removed_orphans,
        "skipped": report.skipped,
    }
