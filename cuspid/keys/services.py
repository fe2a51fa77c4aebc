"""Writes to the key hierarchy: crypto-shredding and replaying the forget list."""

from __future__ import annotations

from uuid import UUID

from django.db import transaction

from cuspid.audit.actions import AuditAction
from cuspid.audit.identity import AuditActor
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.keys.crypto import dek_cache
from cuspid.keys.forget import Forgotten, forget_list_append, forget_list_read
from cuspid.keys.models import DataKey, OwnerKind


def _destroy(data_key: DataKey) -> None:
    data_key.wrapped_keyset = b""
    data_key.destroyed_at = clock.now()
    data_key.save(update_fields=["wrapped_keyset", "destroyed_at", "updated_at"])
    dek_cache.drop((data_key.owner_kind, data_key.owner_id))


@transaction.atomic(durable=True)
def owner_keys_shred(*, actor: AuditActor, kind: OwnerKind, owner_id: UUID) -> DataKey | None:
    """Destroy the owner's data key for ever; every later read of its data raises
    ``KeyDestroyed``. Returns the destroyed key, or ``None`` when the owner had none.

    The key id goes to the forget list first (flushed to disk), then the wrapped keyset is
    erased: a crash in between leaves the key listed and so destroyed again on replay, never
    the other way round. Audits ``AuditAction.Keys.Shredded`` with the key id. The caller
    (the retention and deletion services) checks who may delete.
    """
    data_key = (
        DataKey.objects.select_for_update()
        .filter(owner_kind=kind, owner_id=owner_id, destroyed_at__isnull=True)
        .first()
    )
    if data_key is None:
        return None
    forget_list_append(Forgotten(str(kind), owner_id, data_key.primary_key_id))
    _destroy(data_key)
    audit_emit(
        action=AuditAction.Keys.Shredded,
        actor=actor,
        target_type="data_key",
        target_id=str(data_key.primary_key_id),
    )
    return data_key


@transaction.atomic(durable=True)
def forget_list_replay(*, actor: AuditActor) -> int:
    """Destroy every data key the forget list names that a restored database still holds.

    Run after a restore, before serving. Returns how many keys it destroyed; audits
    ``AuditAction.Keys.Shredded`` for each.
    """
    destroyed = 0
    for entry in forget_list_read():
        data_key = (
            DataKey.objects.select_for_update()
            .filter(owner_kind=entry.owner_kind, owner_id=entry.owner_id, destroyed_at__isnull=True)
            .first()
        )
        if data_key is None:
            continue
        _destroy(data_key)
        audit_emit(
            action=AuditAction.Keys.Shredded,
            actor=actor,
            target_type="data_key",
            target_id=str(data_key.primary_key_id),
            purpose="forget_list_replay",
        )
        destroyed += 1
    return destroyed
