"""The encrypted blob store on a file system (and on a storage that is neither a file system
nor S3): streaming round trips, what lands on disk, when a file becomes visible, the sweeper,
shredding and DEK rotation. Real storage, real crypto; S3 is in test_blobs_s3.py."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import shutil
import tracemalloc
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
import tink
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, InMemoryStorage, Storage
from django.db import transaction
from pytest_django.fixtures import Settings
from tink import secret_key_access, streaming_aead

from cuspid.core import clock
from cuspid.core.actors import SystemActor
from cuspid.keys import blobs
from cuspid.keys.blobs import (
    CHUNK_SIZE,
    BlobCorrupted,
    BlobStorageError,
    BlobTooLarge,
    SweepReport,
    blob_chunks,
    blob_delete,
    blob_open,
    blob_put,
    blob_reseal,
    blobs_sweep,
)
from cuspid.keys.crypto import sealed_key_id
from cuspid.keys.errors import KeyDestroyed
from cuspid.keys.models import DataKey, EncryptedBlob, OwnerKind
from cuspid.keys.rotation import dek_retire, dek_rotate
from cuspid.keys.services import owner_keys_shred

PATIENT = OwnerKind.PATIENT
ACTOR = SystemActor(reason="test")
CANARY = b"CANARY-blob-5d1c9e"
Capture = Callable[..., Any]


@pytest.fixture
def location(tmp_path: Path) -> Path:
    return tmp_path / "blobs"


@pytest.fixture
def storage(location: Path) -> FileSystemStorage:
    return FileSystemStorage(location=location)


@pytest.fixture
def owner() -> uuid.UUID:
    return uuid.uuid4()


def stored_files(location: Path) -> dict[str, bytes]:
    """Every file under the storage root, by its name relative to it."""
    if not location.exists():
        return {}
    return {
        path.relative_to(location).as_posix(): path.read_bytes()
        for path in sorted(location.rglob("*"))
        if path.is_file()
    }


def put(
    storage: Storage, owner: uuid.UUID, data: bytes, capture: Capture, **kwargs: Any
) -> EncryptedBlob:
    """Store ``data`` and commit (run the on-commit promotion)."""
    with capture(execute=True):
        return blob_put(
            kind=PATIENT, owner_id=owner, source=io.BytesIO(data), storage=storage, **kwargs
        )


class RequestFailed(Exception):
    """The request failed after the upload: its transaction rolls back."""


def put_rolled_back(storage: Any, owner: uuid.UUID, data: bytes) -> EncryptedBlob:
    """Store ``data`` in a transaction that then rolls back; the row it had made."""
    with contextlib.suppress(RequestFailed), transaction.atomic():
        blob = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(data), storage=storage)
        raise RequestFailed
    return blob


def read_all(blob: EncryptedBlob, storage: Storage | None) -> bytes:
    with blob_open(blob, storage) as plaintext:
        return b"".join(iter(lambda: plaintext.read(CHUNK_SIZE), b""))


class Zeros(io.RawIOBase):
    """``size`` bytes of plaintext made up as they are read, so the test itself holds none."""

    def __init__(self, size: int, fail_after: int | None = None) -> None:
        super().__init__()
        self.remaining = size
        self.fail_after = fail_after
        self.served = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        if self.fail_after is not None and self.served >= self.fail_after:
            raise OSError("the upload connection dropped")
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        self.remaining -= wanted
        self.served += wanted
        return bytes(wanted)


def test_a_round_trip_through_the_configured_blob_storage(
    db: None,
    settings: Settings,
    tmp_path: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    location = tmp_path / "configured"
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(location)},
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        blob = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"scan bytes"))
    assert list(stored_files(location)) == [f"blobs/{blob.id}"]
    assert read_all(blob, None) == b"scan bytes"
    stored = EncryptedBlob.objects.get()
    assert (stored.owner_kind, stored.owner_id, stored.size) == (PATIENT, owner, 10)
    assert stored.sha256 == hashlib.sha256(b"scan bytes").hexdigest()
    assert stored.dek_key_id == sealed_key_id(bytes(stored.wrapped_key))
    assert stored.dek_key_id == DataKey.objects.get(owner_id=owner).primary_key_id
    with django_capture_on_commit_callbacks(execute=True):
        blob_delete(stored)
    assert not EncryptedBlob.objects.exists()
    assert stored_files(location) == {}


def test_a_large_file_round_trips_in_chunks_with_its_sha256(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    data = os.urandom(5 * CHUNK_SIZE + 12_345)  # several segments, the last one partial
    blob = put(storage, owner, data, django_capture_on_commit_callbacks)
    assert (blob.size, blob.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    chunks = list(blob_chunks(blob, storage, chunk_size=CHUNK_SIZE))
    assert max(len(chunk) for chunk in chunks) <= CHUNK_SIZE
    assert b"".join(chunks) == data
    [ciphertext] = stored_files(location).values()
    # Tink's header plus one 16-byte tag per segment: a little larger, never the same.
    assert len(data) < len(ciphertext) < len(data) + 1024


def test_what_is_stored_never_holds_the_plaintext(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    data = (b"patient scan " + CANARY + b"\n") * 100_000
    blob = put(storage, owner, data, django_capture_on_commit_callbacks)
    files = stored_files(location)
    assert list(files) == [f"blobs/{blob.id}"]
    for ciphertext in files.values():
        assert CANARY not in ciphertext
        assert ciphertext != data
    assert CANARY not in bytes(EncryptedBlob.objects.get().wrapped_key)
    assert read_all(blob, storage) == data
    assert CANARY.decode() not in caplog.text
    assert str(blob.id) in caplog.text  # the log names ids, nothing else


def test_a_file_under_another_blobs_name_does_not_open(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    first = put(storage, owner, b"first scan", django_capture_on_commit_callbacks)
    second = put(storage, owner, b"second scan", django_capture_on_commit_callbacks)
    shutil.copyfile(location / f"blobs/{second.id}", location / f"blobs/{first.id}")
    with pytest.raises(tink.TinkError):
        blob_open(first, storage)
    # Nor does a blob key copied to another row: it is bound to its row's id.
    first.wrapped_key = second.wrapped_key
    with pytest.raises(tink.TinkError):
        blob_open(first, storage)
    assert read_all(second, storage) == b"second scan"


def test_an_altered_or_truncated_file_fails_while_reading(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    blob = put(storage, owner, data, django_capture_on_commit_callbacks)
    path = location / f"blobs/{blob.id}"
    original = path.read_bytes()
    altered = bytearray(original)
    altered[2 * CHUNK_SIZE] ^= 1  # in the third segment: the first ones still open
    path.write_bytes(bytes(altered))
    with pytest.raises(tink.TinkError):
        read_all(blob, storage)
    path.write_bytes(original[: 2 * CHUNK_SIZE + 100])
    with pytest.raises(tink.TinkError):
        read_all(blob, storage)
    path.write_bytes(original)
    assert read_all(blob, storage) == data


def test_the_recorded_digest_is_checked_after_the_last_chunk(
    db: None,
    storage: FileSystemStorage,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    blob = put(storage, owner, b"approved design", django_capture_on_commit_callbacks)
    blob.sha256 = hashlib.sha256(b"another design").hexdigest()
    with pytest.raises(BlobCorrupted) as raised:
        list(blob_chunks(blob, storage))
    assert (raised.value.status, raised.value.code) == (500, "corrupted")


def test_nothing_is_visible_before_the_transaction_commits(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        blob = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"x"), storage=storage)
    assert list(stored_files(location)) == [f"tmp/{blob.id}"]
    [promote] = callbacks
    promote()
    assert list(stored_files(location)) == [f"blobs/{blob.id}"]


def test_a_rolled_back_upload_leaves_only_an_orphan_the_sweeper_removes(
    transactional_db: None, storage: FileSystemStorage, location: Path, owner: uuid.UUID
) -> None:
    blob = put_rolled_back(storage, owner, b"x")
    assert not EncryptedBlob.objects.exists()
    assert list(stored_files(location)) == [f"tmp/{blob.id}"]
    # Young objects may belong to a transaction still open: left alone.
    assert blobs_sweep(older_than=timedelta(hours=1), storage=storage) == SweepReport()
    with time_machine.travel(clock.now() + timedelta(hours=2)):
        report = blobs_sweep(older_than=timedelta(hours=1), storage=storage)
    assert report == SweepReport(removed_orphans=1)
    assert stored_files(location) == {}


def test_outside_a_transaction_the_blob_is_final_at_once(
    transactional_db: None, storage: FileSystemStorage, location: Path, owner: uuid.UUID
) -> None:
    blob = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"x"), storage=storage)
    assert list(stored_files(location)) == [f"blobs/{blob.id}"]
    blob_delete(blob, storage)
    assert stored_files(location) == {}


def test_a_source_over_the_limit_stores_nothing(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    with pytest.raises(BlobTooLarge) as raised:
        put(storage, owner, bytes(3 * CHUNK_SIZE), django_capture_on_commit_callbacks,
            max_bytes=2 * CHUNK_SIZE)  # fmt: skip
    assert (raised.value.status, raised.value.code) == (413, "too_large")
    assert not EncryptedBlob.objects.exists()
    assert stored_files(location) == {}
    # Exactly the limit is allowed.
    blob = put(storage, owner, bytes(2 * CHUNK_SIZE), django_capture_on_commit_callbacks,
               max_bytes=2 * CHUNK_SIZE)  # fmt: skip
    assert blob.size == 2 * CHUNK_SIZE


def test_an_error_while_writing_leaves_nothing(
    db: None, storage: FileSystemStorage, location: Path, owner: uuid.UUID
) -> None:
    source = Zeros(10 * CHUNK_SIZE, fail_after=2 * CHUNK_SIZE)
    with pytest.raises(OSError, match="connection dropped"):
        blob_put(kind=PATIENT, owner_id=owner, source=source, storage=storage)  # type: ignore[arg-type]  # a binary file
    assert not EncryptedBlob.objects.exists()
    assert stored_files(location) == {}


def test_memory_does_not_grow_with_the_file_size(
    db: None,
    storage: FileSystemStorage,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    size = 64 * CHUNK_SIZE
    tracemalloc.start()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            blob = blob_put(kind=PATIENT, owner_id=owner, source=Zeros(size), storage=storage)  # type: ignore[arg-type]  # a binary file
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        read = sum(len(chunk) for chunk in blob_chunks(blob, storage))
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (blob.size, read) == (size, size)
    # A few segments at most, for a file of 64 segments.
    assert peak_write < 8 * CHUNK_SIZE
    assert peak_read < 8 * CHUNK_SIZE


def test_the_ciphertext_reader_reads_exact_sizes_or_everything() -> None:
    streaming_aead.register()
    handle = tink.new_keyset_handle(streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB)
    primitive = handle.primitive(streaming_aead.StreamingAead)
    ciphertext = blobs._Ciphertext(io.BytesIO(b"abc" * 1000), primitive, b"ad", None)
    assert ciphertext.readable()
    first = ciphertext.read(1000)  # exactly what was asked: S3 multipart parts must be full
    assert len(first) == 1000
    whole = first + ciphertext.read()
    assert (ciphertext.read(), ciphertext.size, ciphertext.finished) == (b"", 3000, True)
    with primitive.new_decrypting_stream(io.BytesIO(whole), b"ad") as plaintext:
        assert plaintext.read() == b"abc" * 1000
    assert len(tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN)) > 0


def test_open_promotes_a_blob_whose_promotion_never_ran(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    # As if the process died between the commit and the on-commit promotion.
    with django_capture_on_commit_callbacks(execute=False):
        blob = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"x"), storage=storage)
    assert read_all(blob, storage) == b"x"
    assert list(stored_files(location)) == [f"blobs/{blob.id}"]
    (location / f"blobs/{blob.id}").unlink()
    with pytest.raises(FileNotFoundError):
        blob_open(blob, storage)


def test_the_sweeper_finishes_promotions_and_removes_orphans(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    kept = put(storage, owner, b"kept", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):  # committed, never promoted
        unpromoted = blob_put(
            kind=PATIENT, owner_id=owner, source=io.BytesIO(b"late"), storage=storage
        )
    deleted = put(storage, owner, b"row deleted", django_capture_on_commit_callbacks)
    EncryptedBlob.objects.filter(id=deleted.id).delete()  # as if the removal never ran
    for name in ("tmp/notes.txt", f"blobs/{str(uuid.uuid4()).upper()}"):
        storage.save(name, ContentFile(b"not a blob"))
    # Nothing is old enough yet: everything stays.
    assert blobs_sweep(older_than=timedelta(hours=1), storage=storage) == SweepReport(skipped=2)
    assert f"blobs/{deleted.id}" in stored_files(location)
    with time_machine.travel(clock.now() + timedelta(days=1)):
        report = blobs_sweep(older_than=timedelta(hours=1), storage=storage)
    assert report == SweepReport(promoted=1, removed_orphans=1, skipped=2)
    blob_names = {name for name in stored_files(location) if name.startswith("blobs/")}
    assert {f"blobs/{kept.id}", f"blobs/{unpromoted.id}"} < blob_names
    assert f"blobs/{deleted.id}" not in blob_names
    assert read_all(unpromoted, storage) == b"late"


def test_the_sweeper_on_an_empty_storage_does_nothing(db: None, storage: Storage) -> None:
    assert blobs_sweep(older_than=timedelta(0), storage=storage) == SweepReport()
    # An object that disappears while the sweeper looks at it is not stale, it is gone.
    assert not blobs._stale(storage, f"tmp/{uuid.uuid4()}", clock.now())


def test_after_shredding_no_blob_of_the_owner_opens(
    db: None,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    blob = put(storage, owner, CANARY, django_capture_on_commit_callbacks)
    assert read_all(blob, storage) == CANARY
    owner_keys_shred(actor=ACTOR, kind=PATIENT, owner_id=owner)
    with pytest.raises(KeyDestroyed):
        blob_open(blob, storage)
    with pytest.raises(KeyDestroyed):
        blob_reseal(blob)
    with pytest.raises(KeyDestroyed):  # and nothing new is written for a shredded owner
        put(storage, owner, b"new", django_capture_on_commit_callbacks)
    assert list(stored_files(location)) == [f"blobs/{blob.id}"]


def test_a_dek_rotation_reseals_the_blob_key_not_the_file(
    db: None,
    settings: Settings,
    storage: FileSystemStorage,
    location: Path,
    owner: uuid.UUID,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    settings.CUSPID_DEK_CACHE_SECONDS = 0  # old keys may retire as soon as nothing uses them
    blob = put(storage, owner, b"scan", django_capture_on_commit_callbacks)
    assert not blob_reseal(blob)  # sealed by the primary already
    before = stored_files(location)
    old_key = blob.dek_key_id
    data_key = dek_rotate(actor=ACTOR, kind=PATIENT, owner_id=owner)
    assert data_key.primary_key_id != old_key
    assert blob_reseal(blob)
    blob.refresh_from_db()
    assert blob.dek_key_id == data_key.primary_key_id
    assert sealed_key_id(bytes(blob.wrapped_key)) == data_key.primary_key_id
    assert not blob_reseal(blob)
    assert stored_files(location) == before  # the file was not rewritten
    assert dek_retire(actor=ACTOR, kind=PATIENT, owner_id=owner) == [old_key]
    assert read_all(blob, storage) == b"scan"


# A storage that is neither a file system nor S3 promotes by copying through the storage API.


def test_another_storage_promotes_by_copying(
    db: None, owner: uuid.UUID, django_capture_on_commit_callbacks: Capture
) -> None:
    storage = InMemoryStorage()
    blob = put(storage, owner, CANARY * 1000, django_capture_on_commit_callbacks)
    assert storage.listdir("tmp") == ([], [])
    assert storage.listdir("blobs") == ([], [str(blob.id)])
    assert read_all(blob, storage) == CANARY * 1000
    # A promotion that finds the copy made already (by another process) just tidies up.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        raced = blob_put(kind=PATIENT, owner_id=owner, source=io.BytesIO(b"r"), storage=storage)
    with storage.open(f"tmp/{raced.id}") as ciphertext:
        storage.save(f"blobs/{raced.id}", ciphertext)
    callbacks[0]()
    assert storage.listdir("tmp") == ([], [])
    assert read_all(raced, storage) == b"r"


class RenamingStorage(InMemoryStorage):
    """A storage that gives names under ``prefix`` a suffix, as storages do when a name is
    taken."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        return f"{name}-1" if name.startswith(self.prefix) else name


class ShortReadingStorage(InMemoryStorage):
    """A storage that stores only the first chunk of what it is given."""

    def _save(self, name: str, content: Any) -> str:
        first = ContentFile(next(content.chunks()))
        saved: str = super()._save(name, first)  # type: ignore[misc]  # private, not in the stubs
        return saved


def test_a_storage_that_renames_or_stops_reading_is_refused(
    db: None, owner: uuid.UUID, django_capture_on_commit_callbacks: Capture
) -> None:
    for storage in (RenamingStorage("tmp/"), ShortReadingStorage()):
        with pytest.raises(BlobStorageError):
            put(storage, owner, bytes(3 * CHUNK_SIZE), django_capture_on_commit_callbacks)
        assert storage.listdir("tmp") == ([], [])
    assert not EncryptedBlob.objects.exists()
    renaming = RenamingStorage("blobs/")
    blob = put(renaming, owner, b"x", django_capture_on_commit_callbacks)  # promotion logged
    assert renaming.listdir("blobs") == ([], [])
    with pytest.raises(BlobStorageError):
        blob_open(blob, renaming)
