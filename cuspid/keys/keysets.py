"""Keyset surgery for rotation: add a new primary key, retire the others.

Python Tink has no public keyset manager (Java's ``KeysetManager``; Python's only builder
lives in ``tink.testing``), so rotation edits the keyset protocol buffer here: it takes the
single key of a freshly generated keyset, gives it an id the keyset does not use yet and makes
it the primary; retiring drops every key but the primary. Tink generates all key material;
nothing here touches it.
"""

from __future__ import annotations

import secrets

import tink
from tink import secret_key_access
from tink.proto import tink_pb2


def _keyset(handle: tink.KeysetHandle) -> tink_pb2.Keyset:
    keyset = tink_pb2.Keyset()
    keyset.ParseFromString(tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN))
    return keyset


def _handle(keyset: tink_pb2.Keyset) -> tink.KeysetHandle:
    return tink.proto_keyset_format.parse(keyset.SerializeToString(), secret_key_access.TOKEN)


def key_ids(handle: tink.KeysetHandle) -> list[int]:
    """The ids of every key in the keyset, primary included (ids are not secret)."""
    return [key.key_id for key in handle.keyset_info().key_info]


def with_new_primary(
    handle: tink.KeysetHandle, template: tink_pb2.KeyTemplate
) -> tuple[tink.KeysetHandle, int]:
    """A copy of ``handle`` with one more key, made from ``template``, as its primary.

    The older keys stay, enabled: what they sealed still opens. Returns the new handle and
    the new primary key's id.
    """
    keyset = _keyset(handle)
    fresh = _keyset(tink.new_keyset_handle(template)).key[0]
    taken = {key.key_id for key in keyset.key}
    key_id = fresh.key_id
    while key_id in taken:
        key_id = secrets.randbits(31) + 1
    fresh.key_id = key_id
    keyset.key.append(fresh)
    keyset.primary_key_id = key_id
    return _handle(keyset), key_id


def primary_only(handle: tink.KeysetHandle) -> tink.KeysetHandle:
    """A copy of ``handle`` holding only its primary key: the older keys are retired, and
    whatever they alone sealed no longer opens."""
    keyset = _keyset(handle)
    primary = [key for key in keyset.key if key.key_id == keyset.primary_key_id]
    del keyset.key[:]
    keyset.key.extend(primary)
    return _handle(keyset)
