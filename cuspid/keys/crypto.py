"""Seal and open bytes with an owner's data key; the one place plaintext meets a key.

Each owner (a patient or an organisation) has one DEK keyset, created on first use and
stored wrapped by the KEK. Unwrapped DEKs are kept in a small in-process cache, bounded in
size and in time. Associated data binds every ciphertext to where it belongs (table, field,
row), so a ciphertext copied elsewhere does not open.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from uuid import UUID

import tink
from django.conf import settings
from django.db import IntegrityError, transaction
from tink import aead

from cuspid.keys.errors import KeyDestroyed
from cuspid.keys.kek import load_kek
from cuspid.keys.models import DataKey, OwnerKind


def _wrap_context(kind: str, owner_id: UUID) -> bytes:
    return f"cuspid:dek:{kind}:{owner_id}".encode()


class _DekCache:
    """Unwrapped DEK primitives by owner: at most ``size`` entries, each for ``ttl`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, UUID], tuple[float, aead.Aead]] = OrderedDict()

    def get(self, key: tuple[str, UUID]) -> aead.Aead | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_at, primitive = entry
            if time.time() - stored_at > settings.CUSPID_DEK_CACHE_SECONDS:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return primitive

    def put(self, key: tuple[str, UUID], primitive: aead.Aead) -> None:
        with self._lock:
            self._entries[key] = (time.time(), primitive)
            self._entries.move_to_end(key)
            while len(self._entries) > settings.CUSPID_DEK_CACHE_SIZE:
                self._entries.popitem(last=False)

    def drop(self, key: tuple[str, UUID]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


dek_cache = _DekCache()


def _new_data_key(kind: OwnerKind, owner_id: UUID) -> DataKey:
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    kek = load_kek()
    wrapped = tink.proto_keyset_format.serialize_encrypted(
        handle, kek.aead, _wrap_context(kind, owner_id)
    )
    primary = handle.keyset_info().primary_key_id
    try:
        with transaction.atomic():
            return DataKey.objects.create(
                owner_kind=kind,
                owner_id=owner_id,
                wrapped_keyset=wrapped,
                primary_key_id=primary,
                kek_key_id=kek.primary_key_id,
            )
    except IntegrityError:
        # Another request created it first; theirs is the one.
        return DataKey.objects.get(owner_kind=kind, owner_id=owner_id)


def _primitive(kind: OwnerKind, owner_id: UUID, *, create: bool) -> aead.Aead:
    key = (str(kind), owner_id)
    cached = dek_cache.get(key)
    if cached is not None:
        return cached
    data_key = DataKey.objects.filter(owner_kind=kind, owner_id=owner_id).first()
    if data_key is None:
        if not create:
            raise KeyDestroyed
        data_key = _new_data_key(kind, owner_id)
    if data_key.destroyed_at is not None:
        raise KeyDestroyed
    handle = tink.proto_keyset_format.parse_encrypted(
        bytes(data_key.wrapped_keyset), load_kek().aead, _wrap_context(kind, owner_id)
    )
    primitive = handle.primitive(aead.Aead)
    dek_cache.put(key, primitive)
    return primitive


def seal(kind: OwnerKind, owner_id: UUID, plaintext: bytes, associated_data: bytes) -> bytes:
    """Encrypt ``plaintext`` with the owner's DEK (made on first use), bound to
    ``associated_data``."""
    return bytes(_primitive(kind, owner_id, create=True).encrypt(plaintext, associated_data))


def unseal(kind: OwnerKind, owner_id: UUID, ciphertext: bytes, associated_data: bytes) -> bytes:
    """Decrypt what :func:`seal` made for this owner and this associated data.

    Raises ``KeyDestroyed`` when the owner's key was shredded (or never existed), and
    ``tink.TinkError`` when the ciphertext or its associated data was altered or moved.
    """
    return bytes(_primitive(kind, owner_id, create=False).decrypt(ciphertext, associated_data))


def sealed_key_id(ciphertext: bytes) -> int:
    """The id of the DEK key that sealed ``ciphertext`` (Tink's 5-byte prefix: a version byte,
    then the key id, big-endian). Lets rotation find what an older key sealed without opening
    it."""
    return int.from_bytes(ciphertext[1:5], "big")
