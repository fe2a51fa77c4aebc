"""Seal and open bytes with an owner's data key; the one place plaintext meets a key.

Each owner (a patient or an organisation) has one DEK keyset, created on first use and
stored wrapped by the KEK. Unwrapped DEKs are kept in a small in-process cache, bounded in
size and in time. Associated data binds every ciphertext to where it belongs (table, field,
row), so a ciphertext copied elsewhere does not open.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import tink
from django.conf import settings
from django.db import IntegrityError, transaction
from tink import aead, prf
from tink.proto import tink_pb2

from cuspid.keys.errors import KeyDestroyed
from cuspid.keys.kek import load_kek
from cuspid.keys.models import DataKey, OwnerKind


def wrap_context(kind: str, owner_id: UUID) -> bytes:
    """The associated data that binds a wrapped keyset to its owner."""
    return f"cuspid:dek:{kind}:{owner_id}".encode()


class _DekCache:
    """Unwrapped DEK primitives by owner: at most ``size`` entries, each for ``ttl`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, UUID], tuple[float, Any]] = OrderedDict()

    def get(self, key: tuple[str, UUID]) -> Any:
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

    def put(self, key: tuple[str, UUID], primitive: Any) -> None:
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


def key_template(kind: str) -> tink_pb2.KeyTemplate:
    """What a data key of this kind is: an HMAC-SHA256 PRF for blind indexes, AES256-GCM for
    everything else."""
    if kind == OwnerKind.INDEX:
        return prf.prf_key_templates.HMAC_SHA256
    return aead.aead_key_templates.AES256_GCM


def _new_data_key(kind: OwnerKind, owner_id: UUID) -> DataKey:
    handle = tink.new_keyset_handle(key_template(kind))
    data_key = DataKey(owner_kind=kind, owner_id=owner_id)
    wrap(data_key, handle)
    try:
        with transaction.atomic():
            data_key.save(force_insert=True)
            return data_key
    except IntegrityError:
        # Another request created it first; theirs is the one.
        return DataKey.objects.get(owner_kind=kind, owner_id=owner_id)


def unwrap(data_key: DataKey) -> tink.KeysetHandle:
    """The data key's keyset, opened with the KEK (any of its keys)."""
    return tink.proto_keyset_format.parse_encrypted(
        bytes(data_key.wrapped_keyset),
        load_kek().aead,
        wrap_context(data_key.owner_kind, data_key.owner_id),
    )


def wrap(data_key: DataKey, handle: tink.KeysetHandle) -> None:
    """Store ``handle`` in ``data_key``, wrapped by the KEK's primary key (not saved)."""
    kek = load_kek()
    data_key.wrapped_keyset = tink.proto_keyset_format.serialize_encrypted(
        handle, kek.aead, wrap_context(data_key.owner_kind, data_key.owner_id)
    )
    data_key.kek_key_id = kek.primary_key_id
    data_key.primary_key_id = handle.keyset_info().primary_key_id


def _primitive(kind: OwnerKind, owner_id: UUID, *, create: bool) -> Any:
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
    handle = unwrap(data_key)
    primitive = handle.primitive(prf.PrfSet if kind == OwnerKind.INDEX else aead.Aead)
    dek_cache.put(key, primitive)
    return primitive


def dek_preload(kind: OwnerKind, owner_ids: Iterable[UUID]) -> None:
    """Open the data keys of these owners in one query and cache them.

    For pages of rows from many owners (a patient list): without it, each owner's first
    field costs a query. Owners without a live key are left out; reading their fields then
    raises as usual.
    """
    missing = {owner for owner in owner_ids if dek_cache.get((str(kind), owner)) is None}
    if not missing:
        return
    data_keys = DataKey.objects.filter(
        owner_kind=kind, owner_id__in=missing, destroyed_at__isnull=True
    )
    for data_key in data_keys:
        handle = unwrap(data_key)
        primitive = handle.primitive(prf.PrfSet if kind == OwnerKind.INDEX else aead.Aead)
        dek_cache.put((str(kind), data_key.owner_id), primitive)


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


def prf_compute(organization_id: UUID, data: bytes) -> bytes:
    """32 bytes of the organisation's blind-index PRF over ``data`` (key made on first use)."""
    primitive = _primitive(OwnerKind.INDEX, organization_id, create=True)
    return bytes(primitive.primary().compute(data, 32))


def sealed_key_id(ciphertext: bytes) -> int:
    """The id of the DEK key that sealed ``ciphertext`` (Tink's 5-byte prefix: a version byte,
    then the key id, big-endian). Lets rotation find what an older key sealed without opening
    it."""
    return int.from_bytes(ciphertext[1:5], "big")


# The platform's own key (kind ``system``): seals secrets that belong to no patient or
# organisation, such as second-factor secrets.
SYSTEM_OWNER = UUID(int=0)
_SEALED_PREFIX = "tink1:"


def seal_secret(text: str, purpose: str) -> str:
    """``text`` sealed with the platform key, as printable text (for text columns).

    ``purpose`` (e.g. "mfa") is the associated data: a secret sealed for one purpose does not
    open for another.
    """
    ciphertext = seal(OwnerKind.SYSTEM, SYSTEM_OWNER, text.encode(), f"cuspid:{purpose}".encode())
    return _SEALED_PREFIX + base64.urlsafe_b64encode(ciphertext).decode("ascii")


def unseal_secret(token: str, purpose: str) -> str:
    """The text :func:`seal_secret` sealed. Raises ``ValueError`` for text it did not make."""
    if not token.startswith(_SEALED_PREFIX):
        raise ValueError("not a sealed secret")
    ciphertext = base64.urlsafe_b64decode(token.removeprefix(_SEALED_PREFIX))
    return unseal(OwnerKind.SYSTEM, SYSTEM_OWNER, ciphertext, f"cuspid:{purpose}".encode()).decode()
