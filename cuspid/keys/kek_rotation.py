"""Rotating the master key (KEK): a new primary key, every data key re-wrapped, old keys retired.

Rotation never touches data: it opens each data key's keyset with the KEK (any of its keys)
and wraps it again with the KEK's new primary. It is resumable and safe to kill at any point:

- the new primary is written to the keyset file atomically before any data key moves;
- data keys move in batches, each in its own transaction, and each records the KEK key id
  that wraps it (``DataKey.kek_key_id``), so a second run finds what is left and goes on
  (it adds no other key while any live data key is still off the primary);
- the last batch and the "finished" audit event commit together.

One rotation at a time runs on a host (an exclusive lock on a file next to the keyset).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import tink
from django.db import transaction
from django.db.models import QuerySet
from tink import aead

from cuspid.audit.actions import AuditAction
from cuspid.audit.identity import AuditActor
from cuspid.audit.services import audit_emit
from cuspid.keys import keysets
from cuspid.keys.crypto import wrap_context
from cuspid.keys.kek import kek_keyset_load, kek_keyset_save, kek_path
from cuspid.keys.models import DataKey


class KekRotationError(Exception):
    """A KEK rotation or retirement cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class RotationReport:
    """What one run of :func:`kek_rotate` did (key ids only, never key material)."""

    primary_key_id: int
    resumed: bool
    rewrapped: int


Progress = Callable[[int, int], None]


def _silent(done: int, total: int) -> None:
    """The default progress hook: says nothing."""


def _off_primary(primary_key_id: int) -> QuerySet[DataKey]:
    """Live data keys not wrapped by the KEK's primary key (destroyed ones hold nothing)."""
    return DataKey.objects.filter(destroyed_at__isnull=True).exclude(kek_key_id=primary_key_id)


@contextmanager
def _rotation_lock() -> Iterator[None]:
    """Hold the host-wide rotation lock, or raise ``KekRotationError`` when another run holds
    it (two runs would each add a primary and wrap data keys back and forth)."""
    path = kek_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path.with_name(path.name + ".lock"), "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise KekRotationError(
                "Another master key rotation or retirement is running on this host."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def kek_add_primary() -> int:
    """Add a new AES256_GCM key to the KEK keyset as its primary and save the file atomically
    (encrypted by the KMS key when ``CUSPID_KEK_URI`` is set). Returns the new key's id.

    The older keys stay, so every data key they wrapped still opens. Processes load the new
    keyset on their next use, and new data keys are wrapped by the new primary from then on.
    """
    handle, key_id = keysets.with_new_primary(kek_keyset_load(), aead.aead_key_templates.AES256_GCM)
    kek_keyset_save(handle)
    return key_id


def _rewrap_batch(kek: aead.Aead, primary_key_id: int, batch_size: int) -> list[DataKey]:
    """Re-wrap up to ``batch_size`` data keys that are off the primary (rows locked)."""
    batch = list(_off_primary(primary_key_id).select_for_update().order_by("id")[:batch_size])
    for data_key in batch:
        context = wrap_context(data_key.owner_kind, data_key.owner_id)
        try:
            keyset = tink.proto_keyset_format.parse_encrypted(
                bytes(data_key.wrapped_keyset), kek, context
            )
        except tink.TinkError as error:
            raise KekRotationError(
                f"Data key {data_key.id} was wrapped by master key {data_key.kek_key_id}, "
                "which is not in the keyset file any more: restore the keyset file that "
                "holds it (a copy kept from before the last retirement), then run again."
            ) from error
        data_key.wrapped_keyset = tink.proto_keyset_format.serialize_encrypted(keyset, kek, context)
        data_key.kek_key_id = primary_key_id
        data_key.save(update_fields=["wrapped_keyset", "kek_key_id", "updated_at"])
    return batch


def kek_rotation_pending() -> bool:
    """Whether a rotation was interrupted: some live data key is off the KEK's primary."""
    return _off_primary(kek_keyset_load().keyset_info().primary_key_id).exists()


def kek_rotate(
    *, actor: AuditActor, progress: Progress | None = None, batch_size: int = 100
) -> RotationReport:
    """Rotate the master key, or finish the rotation a crash or a kill interrupted.

    When every live data key is already wrapped by the KEK's primary, a new rotation starts:
    :func:`kek_add_primary`, audited as ``AuditAction.Keys.KekRotated`` (purpose
    ``kek_rotation_started``, target the new primary's id). Otherwise the unfinished rotation
    resumes (purpose ``kek_rotation_resumed``) and no key is added. Then every live data key
    off the primary is re-wrapped, ``batch_size`` per transaction, calling
    ``progress(done, total)`` after each batch; the last batch commits with the
    ``kek_rotation_finished`` event. Data is not touched and stays readable throughout.

    Raises ``KekRotationError`` when another rotation runs on this host or a data key does
    not open with the KEK, and ``ValueError`` for a batch size below 1.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = progress or _silent
    with _rotation_lock():
        current = kek_keyset_load().keyset_info().primary_key_id
        resumed = _off_primary(current).exists()
        with transaction.atomic(durable=True):
            # The key goes to the file before the event commits: a crash in between leaves a
            # new primary with data keys off it, which the next run resumes (and audits).
            primary = current if resumed else kek_add_primary()
            audit_emit(
                action=AuditAction.Keys.KekRotated,
                actor=actor,
                target_type="kek",
                target_id=str(primary),
                purpose="kek_rotation_resumed" if resumed else "kek_rotation_started",
            )
        handle = kek_keyset_load()
        kek = handle.primitive(aead.Aead)
        primary = handle.keyset_info().primary_key_id
        total = _off_primary(primary).count()
        done = 0
        finished = False
        while not finished:
            with transaction.atomic(durable=True):
                batch = _rewrap_batch(kek, primary, batch_size)
                finished = not _off_primary(primary).exists()
                if finished:
                    audit_emit(
                        action=AuditAction.Keys.KekRotated,
                        actor=actor,
                        target_type="kek",
                        target_id=str(primary),
                        purpose="kek_rotation_finished",
                    )
            done += len(batch)
            if batch:
                # Data keys made meanwhile by a process still on the old primary join in.
                total = max(total, done)
                report(done, total)
    return RotationReport(primary_key_id=primary, resumed=resumed, rewrapped=done)


def kek_retire(*, actor: AuditActor) -> list[int]:
    """Drop every key but the primary from the KEK keyset; returns the retired key ids.

    Only once a rotation has finished: raises ``KekRotationError`` (saying how many remain)
    while any live data key is still wrapped by another key. Audits
    ``AuditAction.Keys.Retired`` for each retired id, committed only if the file was saved.

    Warning: database backups made before the rotation hold data keys wrapped by the retired
    keys, and the retired keys are gone for good. Keep a copy of the previous keyset file
    (as carefully as the live one) for as long as those backups must stay restorable.
    """
    with _rotation_lock(), transaction.atomic(durable=True):
        handle = kek_keyset_load()
        primary = handle.keyset_info().primary_key_id
        remaining = _off_primary(primary).count()
        if remaining:
            raise KekRotationError(
                f"{remaining} data keys are still wrapped by an older master key: finish "
                "the rotation first (python manage.py keys_rotate_kek)."
            )
        retired = [key_id for key_id in keysets.key_ids(handle) if key_id != primary]
        for key_id in retired:
            audit_emit(
                action=AuditAction.Keys.Retired,
                actor=actor,
                target_type="kek",
                target_id=str(key_id),
                purpose="kek_retirement",
            )
        if retired:
            kek_keyset_save(keysets.primary_only(handle))
        return retired
