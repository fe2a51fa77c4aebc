"""The key hierarchy: data keys wrapped by the master key, bound ciphertexts, the DEK cache,
crypto-shredding with the forget list, and replaying it after a restore."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

import pytest
import time_machine
import tink
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError
from pytest_django.fixtures import Settings
from tink import aead

from cuspid.audit.actions import AuditAction
from cuspid.audit.models import AuditEvent
from cuspid.audit.verify import audit_chain_verify
from cuspid.core.actors import SystemActor
from cuspid.keys import crypto, kek, keysets
from cuspid.keys.crypto import dek_cache, seal, unseal
from cuspid.keys.errors import KeyDestroyed
from cuspid.keys.forget import Forgotten, forget_list_read
from cuspid.keys.kek import forget_loaded_kek, load_kek
from cuspid.keys.models import DataKey, EncryptedBlob, OwnerKind
from cuspid.keys.services import forget_list_replay, owner_keys_shred

PATIENT = OwnerKind.PATIENT
AD = b"patients_patient:notes:row-1"
ACTOR = SystemActor(reason="test")


def test_the_kek_is_created_once_with_owner_only_permissions(key_files: Path) -> None:
    load_kek()
    kek_file = key_files / "kek.json"
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_files.stat().st_mode) == 0o700
    before = kek_file.read_bytes()
    forget_loaded_kek()
    load_kek()
    assert kek_file.read_bytes() == before


def test_a_kek_written_by_another_process_first_is_kept(key_files: Path) -> None:
    key_files.mkdir(mode=0o700)
    (key_files / "kek.json").write_text("theirs", encoding="utf-8")
    kek._create(key_files / "kek.json")
    assert (key_files / "kek.json").read_text(encoding="utf-8") == "theirs"


def test_production_never_makes_up_a_kek(settings: Settings) -> None:
    settings.CUSPID_KEK_CREATE = False
    with pytest.raises(ImproperlyConfigured, match="master key"):
        load_kek()


def test_a_sealed_value_opens_only_with_its_owner_and_associated_data(db: None) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    sealed = seal(PATIENT, owner, b"canary-7f3e", AD)
    assert b"canary-7f3e" not in sealed
    assert unseal(PATIENT, owner, sealed, AD) == b"canary-7f3e"
    # Moved to another field or row, or to another patient: it does not open.
    with pytest.raises(tink.TinkError):
        unseal(PATIENT, owner, sealed, b"patients_patient:notes:row-2")
    seal(PATIENT, other, b"x", AD)
    with pytest.raises(tink.TinkError):
        unseal(PATIENT, other, sealed, AD)


def test_one_data_key_per_owner_stored_wrapped(db: None) -> None:
    owner = uuid.uuid4()
    seal(PATIENT, owner, b"a", AD)
    seal(PATIENT, owner, b"b", AD)
    [data_key] = DataKey.objects.all()
    assert (data_key.owner_kind, data_key.owner_id) == (PATIENT, owner)
    assert data_key.primary_key_id > 0
    assert str(data_key) == f"data key {data_key.primary_key_id} of patient"
    # A wrapped keyset copied to another owner's row does not unwrap there.
    thief = DataKey.objects.create(
        owner_kind=PATIENT,
        owner_id=uuid.uuid4(),
        wrapped_keyset=data_key.wrapped_keyset,
        primary_key_id=data_key.primary_key_id,
    )
    with pytest.raises(tink.TinkError):
        seal(PATIENT, thief.owner_id, b"c", AD)


def test_a_lost_race_to_create_a_data_key_uses_the_winners(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = uuid.uuid4()
    sealed = seal(PATIENT, owner, b"first", AD)
    dek_cache.clear()
    original_create = DataKey.objects.create

    def duplicate(**fields: object) -> DataKey:
        raise IntegrityError("keys_datakey_one_per_owner")

    monkeypatch.setattr(DataKey.objects, "create", duplicate)
    # As if this request had not seen the row yet: it tries to create one and loses.
    assert crypto._new_data_key(PATIENT, owner).primary_key_id == (
        DataKey.objects.get(owner_id=owner).primary_key_id
    )
    monkeypatch.setattr(DataKey.objects, "create", original_create)
    assert unseal(PATIENT, owner, sealed, AD) == b"first"


def test_the_dek_cache_is_bounded_in_size_and_time(db: None, settings: Settings) -> None:
    settings.CUSPID_DEK_CACHE_SIZE = 2
    settings.CUSPID_DEK_CACHE_SECONDS = 60
    owners = [uuid.uuid4() for _ in range(3)]
    with time_machine.travel(0, tick=False) as clock:
        for owner in owners:
            seal(PATIENT, owner, b"x", AD)
        assert dek_cache.get((PATIENT, owners[0])) is None  # the oldest was evicted
        assert dek_cache.get((PATIENT, owners[2])) is not None
        clock.shift(61)
        assert dek_cache.get((PATIENT, owners[2])) is None  # and entries age out


def test_reading_an_owner_without_a_key_is_like_a_destroyed_one(db: None) -> None:
    with pytest.raises(KeyDestroyed):
        unseal(PATIENT, uuid.uuid4(), b"anything", AD)


def test_shredding_makes_every_read_fail_and_lists_the_key_outside_the_database(
    db: None,
) -> None:
    owner = uuid.uuid4()
    sealed = seal(PATIENT, owner, b"canary", AD)
    assert unseal(PATIENT, owner, sealed, AD) == b"canary"  # now cached
    destroyed = owner_keys_shred(actor=ACTOR, kind=PATIENT, owner_id=owner)
    assert destroyed is not None
    with pytest.raises(KeyDestroyed):
        unseal(PATIENT, owner, sealed, AD)
    with pytest.raises(KeyDestroyed):
        seal(PATIENT, owner, b"new", AD)
    row = DataKey.objects.get(owner_id=owner)
    assert bytes(row.wrapped_keyset) == b""
    assert row.destroyed_at is not None
    assert forget_list_read() == [Forgotten("patient", owner, destroyed.primary_key_id)]
    [event] = AuditEvent.objects.filter(action=AuditAction.Keys.Shredded)
    assert event.target_id == str(destroyed.primary_key_id)
    # Shredding twice, or an owner without a key, changes nothing.
    assert owner_keys_shred(actor=ACTOR, kind=PATIENT, owner_id=owner) is None
    assert owner_keys_shred(actor=ACTOR, kind=PATIENT, owner_id=uuid.uuid4()) is None
    assert len(forget_list_read()) == 1
    assert audit_chain_verify().ok


def test_a_restored_database_forgets_again_when_the_list_is_replayed(db: None) -> None:
    owner, kept = uuid.uuid4(), uuid.uuid4()
    sealed = seal(PATIENT, owner, b"canary", AD)
    seal(PATIENT, kept, b"stays", AD)
    backup = DataKey.objects.get(owner_id=owner)
    wrapped, key_id = bytes(backup.wrapped_keyset), backup.primary_key_id
    owner_keys_shred(actor=ACTOR, kind=PATIENT, owner_id=owner)
    # The restore brings the wrapped key back...
    DataKey.objects.filter(owner_id=owner).update(wrapped_keyset=wrapped, destroyed_at=None)
    dek_cache.clear()
    assert unseal(PATIENT, owner, sealed, AD) == b"canary"
    # ...and replaying the forget list destroys it again, and only it.
    assert forget_list_replay(actor=ACTOR) == 1
    with pytest.raises(KeyDestroyed):
        unseal(PATIENT, owner, sealed, AD)
    assert unseal(PATIENT, kept, seal(PATIENT, kept, b"ok", AD), AD) == b"ok"
    assert forget_list_replay(actor=ACTOR) == 0
    replayed = AuditEvent.objects.filter(action=AuditAction.Keys.Shredded).last()
    assert replayed is not None
    assert (replayed.target_id, replayed.purpose) == (str(key_id), "forget_list_replay")


def test_an_empty_forget_list_replays_nothing(db: None) -> None:
    assert forget_list_read() == []
    assert forget_list_replay(actor=ACTOR) == 0


def test_a_new_primary_key_never_reuses_an_id(monkeypatch: pytest.MonkeyPatch) -> None:
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    taken = keysets.key_ids(handle)[0]
    # Tink draws the fresh key's id at random; make it collide with the one in use.
    monkeypatch.setattr(tink, "new_keyset_handle", lambda template: handle)
    rotated, new_id = keysets.with_new_primary(handle, aead.aead_key_templates.AES256_GCM)
    assert new_id != taken
    assert sorted(keysets.key_ids(rotated)) == sorted([taken, new_id])
    assert keysets.key_ids(keysets.primary_only(rotated)) == [new_id]


def test_a_blob_row_names_only_its_id() -> None:
    blob = EncryptedBlob(owner_kind=PATIENT, owner_id=uuid.uuid4(), size=1, sha256="0" * 64)
    assert str(blob) == f"blob {blob.id}"
