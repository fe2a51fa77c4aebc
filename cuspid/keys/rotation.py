"""Rotating an owner's data key (DEK): a new primary key, re-encryption, retiring the old keys.

1. ``dek_rotate`` adds a new primary key to the owner's keyset and marks the key as rotating
   (``rotated_at``). From then on every seal uses the new key; everything sealed before still
   opens, because the old keys stay in the keyset.
2. ``dek_reencrypt`` (the background job, or the command's ``--now``) re-seals every encrypted
   field of the owner's rows, and every blob key, that an older key sealed. It works in small
   transactions and only touches what is still stale, so a crash loses nothing and running
   it again carries on where it stopped.
3. ``dek_retire`` drops the old keys once nothing they sealed remains and every process's
   DEK cache (``CUSPID_DEK_CACHE_SECONDS``) has had time to pick up the new primary: until
   then a process holding the old keyset could still seal with the old key.

A rotation under way is resumed, never doubled: ``dek_rotate`` adds no key while
``rotated_at`` is set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any
from uuid import UUID

from django.apps import apps
from django.conf import settings
from django.db import models, transaction

from cuspid.audit.actions import AuditAction
from cuspid.audit.identity import AuditActor
from cuspid.audit.services import audit_emit
from cuspid.core import clock
from cuspid.core.errors import CuspidError
from cuspid.keys.blobs import blob_reseal
from cuspid.keys.crypto import dek_cache, key_template, sealed_key_id, unwrap, wrap
from cuspid.keys.errors import KeyDestroyed
from cuspid.keys.fields import EncryptedField, KeyOwned, Sealed, encrypted_fields
from cuspid.keys.keysets import key_ids, primary_only, with_new_primary
from cuspid.keys.models import DataKey, EncryptedBlob, OwnerKind

Progress = Callable[[int], None]


class RotationUnfinished(CuspidError):
    """Old keys cannot retire yet: something they sealed remains, or caches may hold them."""

    status = 409
    code = "rotation_unfinished"
    default_detail = "The key rotation has not finished yet."


@dataclass(frozen=True, slots=True)
class Reencrypted:
    rows: int
    blobs: int


def _subject(kind: str, owner_id: UUID) -> UUID | None:
    return owner_id if kind == OwnerKind.PATIENT else None


def _live_key(kind: str, owner_id: UUID) -> DataKey:
    data_key = (
        DataKey.objects.select_for_update()
        .filter(owner_kind=kind, owner_id=owner_id, destroyed_at__isnull=True)
        .first()
    )
    if data_key is None:
        raise KeyDestroyed
    return data_key


@transaction.atomic
def dek_rotate(*, actor: AuditActor, kind: OwnerKind, owner_id: UUID) -> DataKey:
    """Give the owner's DEK a new primary key, or leave a rotation under way as it is.

    Raises ``KeyDestroyed`` when the owner has no live key. Audits
    ``AuditAction.Keys.DekRotated`` with the new key's id when it adds one.
    """
    data_key = _live_key(kind, owner_id)
    if data_key.rotated_at is not None:
        return data_key
    handle, new_id = with_new_primary(unwrap(data_key), key_template(kind))
    wrap(data_key, handle)
    data_key.rotated_at = clock.now()
    data_key.save()
    dek_cache.drop((data_key.owner_kind, data_key.owner_id))
    audit_emit(
        action=AuditAction.Keys.DekRotated,
        actor=actor,
        target_type="data_key",
        target_id=str(new_id),
        subject_patient=_subject(kind, owner_id),
    )
    return data_key


def owned_models(kind: str) -> list[type[models.Model]]:
    """Every model whose rows a DEK of this kind seals."""
    return [
        model
        for model in apps.get_models()
        if issubclass(model, KeyOwned) and model.keys_owner_kind == kind and encrypted_fields(model)
    ]


def _stale_fields(row: models.Model, fields: list[EncryptedField], primary: int) -> list[str]:
    stale = []
    for field in fields:
        value = row.__dict__.get(field.attname)
        if isinstance(value, Sealed) and sealed_key_id(value.ciphertext) != primary:
            stale.append(field.name)
    return stale


def _in_batches(
    queryset: models.QuerySet[Any],
    batch_size: int,
    handle: Callable[[Any], bool],
    progress: Callable[[int], None],
) -> int:
    """Call ``handle`` on every row, in primary-key order, one locked batch per transaction;
    ``progress(changed so far)`` runs after each batch has committed. Returns how many rows
    ``handle`` changed."""
    changed = 0
    last = None
    while True:
        with transaction.atomic():
            page = queryset.select_for_update().order_by("pk")
            if last is not None:
                page = page.filter(pk__gt=last)
            batch = list(page[:batch_size])
            changed += sum(1 for row in batch if handle(row))
        if not batch:
            return changed
        last = batch[-1].pk
        progress(changed)


def _reseal_fields(fields: list[EncryptedField], primary: int) -> Callable[[Any], bool]:
    def reseal(row: models.Model) -> bool:
        stale = _stale_fields(row, fields, primary)
        for name in stale:
            getattr(row, name)  # open with the old key; save seals with the new
        if stale:
            row.save(update_fields=stale)
        return bool(stale)

    return reseal


def _silent(changed: int) -> None:
    """No progress to report to."""


def _offset(report: Progress, before: int, changed: int) -> None:
    report(before + changed)


def dek_reencrypt(
    *, kind: OwnerKind, owner_id: UUID, batch_size: int = 100, progress: Progress | None = None
) -> Reencrypted:
    """Re-seal under the current primary key whatever an older key of the owner sealed.

    Fields are re-sealed row by row (``save(update_fields=...)`` on the stale fields only);
    blobs have their own key re-sealed, not their content (see ``blob_reseal``). Calls
    ``progress(changed so far)`` after each committed batch. Safe to run again at any time;
    returns how many rows and blobs it changed.
    """
    report: Progress = progress or _silent
    primary = DataKey.objects.get(owner_kind=kind, owner_id=owner_id).primary_key_id
    rows = 0
    for model in owned_models(kind):
        owned = model._default_manager.filter(**{model.keys_owner_field: owner_id})  # type: ignore[attr-defined]  # KeyOwned models name their owner field
        rows += _in_batches(
            owned,
            batch_size,
            _reseal_fields(encrypted_fields(model), primary),
            partial(_offset, report, rows),
        )
    stale_blobs = EncryptedBlob.objects.filter(owner_kind=kind, owner_id=owner_id).exclude(
        dek_key_id=primary
    )
    blobs = _in_batches(stale_blobs, batch_size, blob_reseal, partial(_offset, report, rows))
    return Reencrypted(rows=rows, blobs=blobs)


def _remaining(kind: str, owner_id: UUID, primary: int) -> int:
    remaining = (
        EncryptedBlob.objects.filter(owner_kind=kind, owner_id=owner_id)
        .exclude(dek_key_id=primary)
        .count()
    )
    for model in owned_models(kind):
        fields = encrypted_fields(model)
        owned = model._default_manager.filter(**{model.keys_owner_field: owner_id})  # type: ignore[attr-defined]  # KeyOwned models name their owner field
        remaining += sum(1 for row in owned.iterator() if _stale_fields(row, fields, primary))
    return remaining


def retire_after(data_key: DataKey) -> timedelta:
    """How long until the old keys may retire (zero when they may now)."""
    if data_key.rotated_at is None:
        return timedelta(0)
    ready = data_key.rotated_at + timedelta(seconds=settings.CUSPID_DEK_CACHE_SECONDS)
    return max(ready - clock.now(), timedelta(0))


@transaction.atomic
def dek_retire(*, actor: AuditActor, kind: OwnerKind, owner_id: UUID) -> list[int]:
    """Drop the owner's old keys once nothing they sealed remains; return their ids.

    Raises ``RotationUnfinished`` while stale ciphertexts remain or while caches may still
    hold the old primary (see ``retire_after``). Audits ``AuditAction.Keys.Retired`` per key.
    Returns ``[]`` when no rotation is under way.
    """
    data_key = _live_key(kind, owner_id)
    if data_key.rotated_at is None:
        return []
    wait = retire_after(data_key)
    if wait:
        raise RotationUnfinished(
            f"Old keys can retire in {int(wait.total_seconds()) + 1} s, once every process "
            "has picked up the new key."
        )
    remaining = _remaining(kind, owner_id, data_key.primary_key_id)
    if remaining:
        raise RotationUnfinished(f"{remaining} records still use an old key; re-encrypt first.")
    handle = unwrap(data_key)
    retired = [key_id for key_id in key_ids(handle) if key_id != data_key.primary_key_id]
    wrap(data_key, primary_only(handle))
    data_key.rotated_at = None
    data_key.save()
    dek_cache.drop((data_key.owner_kind, data_key.owner_id))
    for key_id in retired:
        audit_emit(
            action=AuditAction.Keys.Retired,
            actor=actor,
            target_type="data_key",
            target_id=str(key_id),
            subject_patient=_subject(kind, owner_id),
        )
    return retired
