"""The encrypted blob store: files sealed with streaming AEAD, kept through Django's storage API.

Every file gets a key of its own, a Tink streaming AEAD keyset (AES256_GCM_HKDF_1MB), which is
stored in its ``EncryptedBlob`` row sealed with the owner's data key. Shredding the owner's
data key therefore makes every one of their files unreadable, and rotating it re-seals only
the small per-file keys. Both the sealed key and the ciphertext are bound to the row id
(associated data ``cuspid:blob:<id>``), so a file copied under another row's name, or a key
copied to another row, does not open.

The ciphertext lives in the ``blobs`` storage (``STORAGES["blobs"]``: a ``FileSystemStorage``
under ``var/blobs`` by default, ``S3Storage`` in production), under names made from the row
id only, never from anything a user typed:

- ``tmp/<id>`` while it is written and until the transaction that created the row commits;
- ``blobs/<id>`` once it has committed (the promotion runs in ``transaction.on_commit``).

So a rolled-back upload leaves only a temporary object, which nothing points at and
``blobs_sweep`` removes; a crash between the commit and the promotion is repaired by the next
``blob_open`` or by the sweeper. Writes and reads stream in chunks: memory does not grow with
the file's size. Nothing here logs anything but row ids.

Every public function takes the storage as an optional argument (tests pass their own) and
defaults to ``storages["blobs"]``. Callers check permissions and audit; this module does
neither, as it does not know who asks.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, BinaryIO, cast
from uuid import UUID, uuid4

import tink
from botocore.exceptions import ClientError
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.db import transaction
from storages.backends.s3 import S3Storage
from storages.utils import clean_name
from tink import secret_key_access, streaming_aead

from cuspid.core import clock
from cuspid.core.errors import CuspidError
from cuspid.keys import crypto
from cuspid.keys.errors import KeyDestroyed
from cuspid.keys.models import EncryptedBlob, OwnerKind

logger = logging.getLogger(__name__)

#: How much plaintext is encrypted (and read back) at a time: Tink's segment size, so memory
#: stays at a few segments whatever the file's size.
CHUNK_SIZE = 1 << 20
PENDING_DIR = "tmp"
FINAL_DIR = "blobs"
# How many row ids the sweeper asks the database about at once.
_SWEEP_BATCH = 1000
# What S3 answers for a missing object (HEAD says 404, GET says NoSuchKey).
_S3_MISSING = frozenset({"404", "NoSuchKey", "NotFound"})


class BlobTooLarge(CuspidError):
    """The file is larger than the caller allows; nothing was stored."""

    status = 413
    code = "too_large"
    default_detail = "The file is too large."


class BlobCorrupted(CuspidError):
    """The stored file decrypted, but not to the size and SHA-256 its row records."""

    status = 500
    code = "corrupted"
    default_detail = "The stored file failed its integrity check."


class BlobStorageError(Exception):
    """The storage did not do what the blob store needs (kept a name, read to the end)."""


# Everything that can stop a stored file coming back as it was stored: altered ciphertext
# (the AEAD refuses it), a row that no longer matches its content, a shredded data key, a
# missing or unreadable object. Callers outside ``keys`` (which may not name Tink) catch
# these to report the file, rather than catching every exception.
BLOB_READ_ERRORS: tuple[type[BaseException], ...] = (
    BlobCorrupted,
    BlobStorageError,
    KeyDestroyed,
    tink.TinkError,
    OSError,
    ClientError,
)


@dataclass(frozen=True)
class SweepReport:
    """What one ``blobs_sweep`` did: temporary objects promoted because their row had
    committed, orphans (temporary or final objects without a row) removed, and names that
    are not blob ids, left alone."""

    promoted: int = 0
    removed_orphans: int = 0
    skipped: int = 0


def _pending_name(blob_id: UUID) -> str:
    return f"{PENDING_DIR}/{blob_id}"


def _final_name(blob_id: UUID) -> str:
    return f"{FINAL_DIR}/{blob_id}"


def _associated_data(blob_id: UUID) -> bytes:
    return f"cuspid:blob:{blob_id}".encode()


def _storage(storage: Storage | None) -> Storage:
    return storage if storage is not None else storages["blobs"]


@cache
def _register() -> None:
    # Idempotent, but once per process is enough.
    streaming_aead.register()


def _new_file_key() -> tink.KeysetHandle:
    _register()
    return tink.new_keyset_handle(streaming_aead.streaming_aead_key_templates.AES256_GCM_HKDF_1MB)


def _file_key_bytes(handle: tink.KeysetHandle) -> bytes:
    return bytes(tink.proto_keyset_format.serialize(handle, secret_key_access.TOKEN))


def _unseal_file_key(blob: EncryptedBlob) -> bytes:
    """The blob's own keyset, opened with its owner's DEK (``KeyDestroyed`` once shredded)."""
    return crypto.unseal(
        OwnerKind(blob.owner_kind),
        blob.owner_id,
        bytes(blob.wrapped_key),
        _associated_data(blob.id),
    )


class _Collector:
    """Where the encrypting stream writes its ciphertext: a queue of the pieces Tink writes
    (fresh ``bytes`` each time, kept as they are), which ``_Ciphertext`` drains.

    Tink closes its destination when the encrypting stream closes; the queue stays readable.
    """

    closed = False

    def __init__(self, pieces: deque[bytes]) -> None:
        self._pieces = pieces

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self._pieces.append(data)
        return len(data)

    def close(self) -> None:
        self.closed = True


class _Ciphertext(io.RawIOBase):
    """A read-only file of the ciphertext of ``source``, encrypted as it is read.

    Tink's encrypting stream is pushed (written to) while the storage API pulls (reads from)
    what it stores; each ``read`` here encrypts just enough plaintext to answer, so the
    ciphertext never sits anywhere whole, neither in memory nor in a second file on disk.
    Counts the size and the SHA-256 of the plaintext on the way, and raises ``BlobTooLarge``
    as soon as the plaintext exceeds ``max_bytes``.
    """

    def __init__(
        self, source: BinaryIO, primitive: Any, associated_data: bytes, max_bytes: int | None
    ) -> None:
        super().__init__()
        self._source = source
        self._max_bytes = max_bytes
        self._pieces: deque[bytes] = deque()
        self._buffered = 0  # bytes in self._pieces
        self._encrypting = primitive.new_encrypting_stream(
            _Collector(self._pieces), associated_data
        )
        self._digest = hashlib.sha256()
        self.size = 0
        self.finished = False

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1, /) -> bytes:
        """Exactly ``size`` bytes (all the rest when negative), fewer only at the end: S3's
        multipart upload needs full parts."""
        wanted = sys.maxsize if size is None or size < 0 else size
        while self._buffered < wanted and not self.finished:
            self._encrypt_next_chunk()
        parts = []
        taken = 0
        while self._pieces and taken < wanted:
            piece = self._pieces.popleft()
            if len(piece) > wanted - taken:
                self._pieces.appendleft(piece[wanted - taken :])
                piece = piece[: wanted - taken]
            parts.append(piece)
            taken += len(piece)
        self._buffered -= taken
        return b"".join(parts)

    def pieces(self) -> Iterator[bytes]:
        """The ciphertext in the pieces Tink writes (128 KiB), without copying them."""
        while not self.finished:
            self._encrypt_next_chunk()
            while self._pieces:
                piece = self._pieces.popleft()
                self._buffered -= len(piece)
                yield piece

    def _encrypt_next_chunk(self) -> None:
        chunk = self._source.read(CHUNK_SIZE)
        if chunk:
            self.size += len(chunk)
            if self._max_bytes is not None and self.size > self._max_bytes:
                raise BlobTooLarge
            self._digest.update(chunk)
            self._encrypting.write(chunk)
        else:
            self._encrypting.close()  # writes the last segment, marked as the last
            self.finished = True
        self._buffered = sum(len(piece) for piece in self._pieces)


class _CiphertextFile(File):  # type: ignore[type-arg]  # File is generic in the stubs only
    """``_Ciphertext`` as a Django ``File``. Storages that iterate ``chunks()`` (the file
    system) get Tink's pieces as they come; those that ``read(n)`` (S3) get exact sizes."""

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return cast(_Ciphertext, self.file).pieces()


def _save_exactly(storage: Storage, name: str, content: File) -> None:  # type: ignore[type-arg]  # File is generic in the stubs only
    """Save ``content`` under ``name`` and nowhere else.

    Storages may pick another name when one is taken (``FileSystemStorage`` appends a suffix;
    ``S3Storage`` too when ``AWS_S3_FILE_OVERWRITE`` is off); the row id is the name, so
    another name is an error, and the copy is removed.
    """
    saved = storage.save(name, content)
    if saved != name:
        storage.delete(saved)
        raise BlobStorageError(f"The blob storage saved {name} as {saved}.")


def _flush_to_disk(storage: Storage, name: str) -> None:
    """On a file system, force the file and its directory entry to disk before the row that
    points at it commits: the database makes its commit durable, so must we the file.
    (``FileSystemStorage`` does not; S3 stores durably before it answers.)"""
    if not isinstance(storage, FileSystemStorage):
        return
    path = storage.path(name)
    for target in (path, os.path.dirname(path)):
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _s3_key(storage: S3Storage, name: str) -> str:
    # The storage's own mapping from names to keys (its ``location`` prefix included).
    return cast(str, storage._normalize_name(clean_name(name)))


@contextlib.contextmanager
def _s3_missing_is_file_not_found() -> Iterator[None]:
    """Give S3's "no such object" the exception the file-system paths raise."""
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _S3_MISSING:
            raise FileNotFoundError(str(error)) from error
        raise


def _promote(storage: Storage, blob_id: UUID) -> None:
    """Move ``tmp/<id>`` to ``blobs/<id>``; ``FileNotFoundError`` when ``tmp/<id>`` is gone
    (promoted already, or removed).

    A file system renames (atomic, and the file is already on disk). S3 copies inside the
    bucket (server side, multipart for large objects: the bytes never come through here) and
    then deletes the temporary object; the copy appears whole or not at all. Any other
    storage copies through its own API, which streams through this process.
    """
    pending, final = _pending_name(blob_id), _final_name(blob_id)
    if isinstance(storage, FileSystemStorage):
        target = storage.path(final)
        os.makedirs(
            os.path.dirname(target),
            mode=storage.directory_permissions_mode or 0o777,
            exist_ok=True,
        )
        os.replace(storage.path(pending), target)
    elif isinstance(storage, S3Storage):
        with _s3_missing_is_file_not_found():
            storage.bucket.copy(
                {"Bucket": storage.bucket_name, "Key": _s3_key(storage, pending)},
                _s3_key(storage, final),
            )
        storage.delete(pending)
    else:
        with storage.open(pending, "rb") as ciphertext:
            # A promotion that ran at the same time may have copied it already.
            if not storage.exists(final):
                _save_exactly(storage, final, ciphertext)
        storage.delete(pending)
    logger.info("blob %s promoted", blob_id)


def _remove(storage: Storage, blob_id: UUID) -> None:
    storage.delete(_final_name(blob_id))
    storage.delete(_pending_name(blob_id))
    logger.info("blob %s removed from storage", blob_id)


def _open_stored(storage: Storage, name: str) -> Any:
    """A readable file object of the stored ciphertext; ``FileNotFoundError`` when missing.

    S3 is read as the response body stream: ``S3Storage.open`` would first download the whole
    object into a spooled temporary file, held in memory by default (AWS_S3_MAX_MEMORY_SIZE=0).
    """
    if isinstance(storage, S3Storage):
        with _s3_missing_is_file_not_found():
            return storage.bucket.Object(_s3_key(storage, name)).get()["Body"]
    return storage.open(name, "rb")


def blob_put(
    *,
    kind: OwnerKind,
    owner_id: UUID,
    source: BinaryIO,
    max_bytes: int | None = None,
    storage: Storage | None = None,
) -> EncryptedBlob:
    """Store what ``source`` holds, encrypted, as a new blob of this owner.

    Streams ``source`` to its end in chunks (memory does not grow with its size), encrypting
    it under a new per-blob key and recording the plaintext's size and SHA-256. The
    ciphertext is written under ``tmp/<id>``; the row is created in the caller's transaction,
    and the object takes its final name ``blobs/<id>`` when that transaction commits. If it
    rolls back, the temporary object is an orphan for ``blobs_sweep``.

    Raises ``BlobTooLarge`` (nothing stored, no row) when ``source`` holds more than
    ``max_bytes``; ``KeyDestroyed`` when the owner's data key was shredded. On any error
    while writing, the temporary object is deleted and the error propagates.
    """
    storage = _storage(storage)
    blob_id = uuid4()
    associated_data = _associated_data(blob_id)
    file_key = _new_file_key()
    # Sealed first: a shredded owner fails here, before anything is written.
    wrapped_key = crypto.seal(kind, owner_id, _file_key_bytes(file_key), associated_data)
    ciphertext = _Ciphertext(
        source,
        file_key.primitive(streaming_aead.StreamingAead),
        associated_data,
        max_bytes,
    )
    pending = _pending_name(blob_id)
    try:
        # cast: a RawIOBase is a binary file; typeshed keeps the two types apart.
        content = _CiphertextFile(cast(BinaryIO, ciphertext), name=pending)
        _save_exactly(storage, pending, content)
        if not ciphertext.finished:
            raise BlobStorageError(f"The blob storage stopped reading {pending} before its end.")
        _flush_to_disk(storage, pending)
        blob = EncryptedBlob.objects.create(
            id=blob_id,
            owner_kind=kind,
            owner_id=owner_id,
            size=ciphertext.size,
            sha256=ciphertext.sha256,
            wrapped_key=wrapped_key,
            dek_key_id=crypto.sealed_key_id(wrapped_key),
        )
    except BaseException:
        storage.delete(pending)
        raise
    logger.info("blob %s stored", blob_id)
    # robust: the commit has happened whatever the storage says; a failed promotion is
    # logged and repaired by blob_open or blobs_sweep.
    transaction.on_commit(lambda: _promote(storage, blob_id), robust=True)
    return blob


def blob_open(blob: EncryptedBlob, storage: Storage | None = None) -> BinaryIO:
    """A file object that reads ``blob``'s plaintext, decrypting as it goes; close it after.

    Read it in chunks (``read(CHUNK_SIZE)``): memory then does not grow with the file's size.
    The first segment is decrypted here, so a file that is not this blob's fails now rather
    than at the first read. When the object is still under its temporary name (a crash
    between the commit and the promotion), it is promoted first.

    Raises ``KeyDestroyed`` when the owner's data key was shredded; ``tink.TinkError`` when
    the ciphertext was altered, truncated or belongs to another blob (here or while reading);
    ``FileNotFoundError`` when the object is missing under both names.
    """
    storage = _storage(storage)
    associated_data = _associated_data(blob.id)
    _register()
    primitive = tink.proto_keyset_format.parse(
        _unseal_file_key(blob), secret_key_access.TOKEN
    ).primitive(streaming_aead.StreamingAead)
    final = _final_name(blob.id)
    try:
        source = _open_stored(storage, final)
    except FileNotFoundError:
        logger.warning("blob %s not under its final name; promoting it", blob.id)
        with contextlib.suppress(FileNotFoundError):  # another process may have just done so
            _promote(storage, blob.id)
        source = _open_stored(storage, final)
    plaintext = primitive.new_decrypting_stream(source, associated_data)
    try:
        plaintext.peek(1)
    except BaseException:
        plaintext.close()
        raise
    return cast(BinaryIO, plaintext)


def blob_chunks(
    blob: EncryptedBlob, storage: Storage | None = None, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """The plaintext of ``blob`` in chunks, checked against its recorded size and SHA-256.

    The AEAD already refuses altered ciphertext; this also catches a row whose ``sha256`` or
    ``size`` no longer matches what was stored. The check runs after the last chunk, so a
    caller that acts on the content (signing an approval) consumes everything first. Raises
    what ``blob_open`` raises, and ``BlobCorrupted`` at the end on a mismatch.
    """
    digest = hashlib.sha256()
    size = 0
    with blob_open(blob, storage) as plaintext:
        while chunk := plaintext.read(chunk_size):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    if size != blob.size or digest.hexdigest() != blob.sha256:
        logger.error("blob %s failed its integrity check", blob.id)
        raise BlobCorrupted


def blob_delete(blob: EncryptedBlob, storage: Storage | None = None) -> None:
    """Delete ``blob``'s row now, and its stored object (under either name) once the caller's
    transaction commits. If that never happens, the object stays, still pointed at by the
    row. A crash after the commit leaves an orphan that ``blobs_sweep`` removes."""
    storage = _storage(storage)
    blob_id = blob.id
    blob.delete()
    transaction.on_commit(lambda: _remove(storage, blob_id), robust=True)


def blob_reseal(blob: EncryptedBlob) -> bool:
    """Re-seal ``blob``'s file key under its owner's current primary DEK key, after a DEK
    rotation; True when the row changed, False when it was sealed by the primary already.

    The file itself is not rewritten: it is encrypted under its own per-blob key, and the
    DEK only seals that key, so re-sealing the key (a few hundred bytes) moves the blob off
    the old DEK key completely, whatever the file's size. ``seal`` always uses the primary,
    so sealing again and comparing key ids is how to tell. Raises ``KeyDestroyed`` when the
    owner's key was shredded.
    """
    kind = OwnerKind(blob.owner_kind)
    associated_data = _associated_data(blob.id)
    resealed = crypto.seal(kind, blob.owner_id, _unseal_file_key(blob), associated_data)
    key_id = crypto.sealed_key_id(resealed)
    if key_id == blob.dek_key_id:
        return False
    blob.wrapped_key = resealed
    blob.dek_key_id = key_id
    blob.save(update_fields=["wrapped_key", "dek_key_id", "updated_at"])
    logger.info("blob %s re-sealed under data key %s", blob.id, key_id)
    return True


def _stored_ids(storage: Storage, directory: str) -> tuple[set[UUID], int]:
    """The blob ids stored under ``directory``, and how many other names it holds."""
    try:
        _directories, names = storage.listdir(directory)
    except FileNotFoundError:  # a file system before the first blob
        return set(), 0
    ids: set[UUID] = set()
    others = 0
    for name in names:
        blob_id = _as_blob_id(name)
        if blob_id is None:
            others += 1
        else:
            ids.add(blob_id)
    return ids, others


def _as_blob_id(name: str) -> UUID | None:
    """The blob id ``name`` spells, in the one form this module writes; None otherwise."""
    try:
        blob_id = UUID(name)
    except ValueError:
        return None
    return blob_id if str(blob_id) == name else None


def _rows_among(ids: set[UUID]) -> set[UUID]:
    ordered = sorted(ids)
    found: set[UUID] = set()
    for start in range(0, len(ordered), _SWEEP_BATCH):
        batch = ordered[start : start + _SWEEP_BATCH]
        found.update(EncryptedBlob.objects.filter(id__in=batch).values_list("id", flat=True))
    return found


def _stale(storage: Storage, name: str, cutoff: datetime) -> bool:
    """Whether the object was last written at or before ``cutoff`` (False once it is gone)."""
    try:
        with _s3_missing_is_file_not_found():
            modified = storage.get_modified_time(name)
    except FileNotFoundError:
        return False
    return modified <= cutoff


def blobs_sweep(*, older_than: timedelta, storage: Storage | None = None) -> SweepReport:
    """Finish or remove what crashes and rollbacks left in the blob storage.

    Only objects last written more than ``older_than`` ago are considered; it must be longer
    than any transaction that stores a blob (an hour is plenty), or an upload still in
    progress would look like a rolled-back one. A temporary object whose row exists is
    promoted (its transaction committed, the promotion did not run); one without a row is
    removed (rolled back). A final object without a row is removed (its row was deleted and
    the removal did not run). Names that are not blob ids are left alone and counted.
    """
    storage = _storage(storage)
    cutoff = clock.now() - older_than
    pending_ids, pending_others = _stored_ids(storage, PENDING_DIR)
    final_ids, final_others = _stored_ids(storage, FINAL_DIR)
    rows = _rows_among(pending_ids | final_ids)
    promoted = removed = 0
    for blob_id in sorted(pending_ids):
        if not _stale(storage, _pending_name(blob_id), cutoff):
            continue
        if blob_id in rows:
            with contextlib.suppress(FileNotFoundError):  # promoted meanwhile
                _promote(storage, blob_id)
            promoted += 1
        else:
            storage.delete(_pending_name(blob_id))
            logger.info("blob %s removed: temporary object without a row", blob_id)
            removed += 1
    for blob_id in sorted(final_ids - rows):
        if _stale(storage, _final_name(blob_id), cutoff):
            storage.delete(_final_name(blob_id))
            logger.info("blob %s removed: stored object without a row", blob_id)
            removed += 1
    report = SweepReport(
        promoted=promoted, removed_orphans=removed, skipped=pending_others + final_others
    )
    logger.info(
        "blob sweep: %s promoted, %s orphans removed, %s other names skipped",
        report.promoted,
        report.removed_orphans,
        report.skipped,
    )
    return report
