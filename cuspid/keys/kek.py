"""The master key-encryption key (KEK): a Tink AEAD keyset kept outside the database.

The embedded default keeps it as a keyset file under ``var/keys/`` (created on first use,
mode 0600, never committed). Production mounts one (``CUSPID_KEK_PATH``) and never creates
it; with ``CUSPID_KEK_URI`` set, that file is itself encrypted by a key in a KMS (envelope
encryption: the KMS is asked once per process to open the keyset, never once per data key).
The KEK only wraps data keys; it never touches data.

Every process notices when the file changes on disk (a rotation by ``keys_rotate_kek`` in
another process) and loads it again, so web and worker processes pick up a new primary key
without a restart.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

import tink
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from tink import aead, prf, secret_key_access, streaming_aead

# Associated data of the KMS encryption of the keyset file: names what the ciphertext is, so
# a KMS ciphertext made for something else does not open as the KEK.
KMS_CONTEXT = b"cuspid:kek"
# The one KMS Tink's Python integration and this module support; the region comes from the
# key's ARN, so the client talks to the key's own region.
_AWS_KMS_URI = re.compile(r"aws-kms://arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d+:.+")


class Kek(NamedTuple):
    """The loaded KEK: its AEAD primitive (every key in the keyset opens) and the id of its
    primary key (the one that wraps from now on)."""

    aead: aead.Aead
    primary_key_id: int


# What identifies one version of the keyset file: a rotation replaces the file (a new inode),
# and an edit in place changes its time or size.
_Stamp = tuple[int, int, int]

_lock = threading.Lock()
_loaded: dict[Path, tuple[_Stamp, Kek]] = {}


def register_primitives() -> None:
    """Register the Tink primitives Cuspid uses (idempotent): AEAD for data keys and fields,
    streaming AEAD for blobs, PRF for blind indexes."""
    aead.register()
    streaming_aead.register()
    prf.register()


def kek_path() -> Path:
    return Path(settings.CUSPID_KEK_PATH)


def _kms_aead(uri: str) -> aead.Aead:
    """The AEAD of the KMS key ``uri`` names (an AWS KMS key; nothing else is supported)."""
    match = _AWS_KMS_URI.fullmatch(uri)
    if match is None:
        scheme = uri.split("://", 1)[0] if "://" in uri else "(none)"
        raise ImproperlyConfigured(
            "CUSPID_KEK_URI must name an AWS KMS key, "
            "aws-kms://arn:aws:kms:<region>:<account>:key/<key id>; "
            f"the URI given has scheme {scheme!r} or is not a full key ARN"
        )
    # Imported here, not at the top: boto3 costs half a second at every process start, and
    # only deployments with a KMS key need it.
    import boto3
    from tink.integration import awskms

    # Plain boto3: it takes the credentials and AWS_ENDPOINT_URL from the environment, as
    # every AWS client on the host does.
    client = boto3.client("kms", region_name=match["region"])
    return awskms.new_client(boto3_client=client, key_uri=uri).get_aead(uri)


def _parse(text: str) -> tink.KeysetHandle:
    uri = settings.CUSPID_KEK_URI
    if uri:
        return tink.json_proto_keyset_format.parse_encrypted(text, _kms_aead(uri), KMS_CONTEXT)
    return tink.json_proto_keyset_format.parse(text, secret_key_access.TOKEN)


def _serialize(handle: tink.KeysetHandle) -> str:
    uri = settings.CUSPID_KEK_URI
    if uri:
        return str(
            tink.json_proto_keyset_format.serialize_encrypted(handle, _kms_aead(uri), KMS_CONTEXT)
        )
    return str(tink.json_proto_keyset_format.serialize(handle, secret_key_access.TOKEN))


def _write_temporary(directory: Path, text: str) -> Path:
    """``text`` in a new file of ``directory`` (mode 0600, flushed to disk); returns its path."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # mkstemp creates the file with mode 0600 and a name no other writer can take.
    fd, name = tempfile.mkstemp(prefix=".kek-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as keyset_file:
            keyset_file.write(text)
            keyset_file.flush()
            os.fsync(keyset_file.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _fsync_directory(directory: Path) -> None:
    """Make a rename or link in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _create(path: Path) -> None:
    """Write a new AES256_GCM keyset to ``path`` (0600, in a 0700 directory); never overwrite.

    The keyset is written whole to a temporary file first and then linked to ``path``: a
    crash leaves either no KEK or a complete one, and of two processes starting at once only
    the first one's KEK is kept (the link fails if ``path`` exists).
    """
    handle = tink.new_keyset_handle(aead.aead_key_templates.AES256_GCM)
    temporary = _write_temporary(path.parent, _serialize(handle))
    try:
        os.link(temporary, path)
    except FileExistsError:
        return
    finally:
        temporary.unlink()
    _fsync_directory(path.parent)


def _ensure_exists(path: Path) -> None:
    """Create the keyset file when it is missing and ``CUSPID_KEK_CREATE`` is on (the embedded
    default and tests); raise ``ImproperlyConfigured`` when it is missing otherwise."""
    if path.exists():
        return
    if not settings.CUSPID_KEK_CREATE:
        raise ImproperlyConfigured(f"The master key (KEK) keyset is missing: {path}")
    _create(path)


def _stamp(status: os.stat_result) -> _Stamp:
    return (status.st_ino, status.st_mtime_ns, status.st_size)


def _read(path: Path) -> tuple[_Stamp, tink.KeysetHandle]:
    """The keyset in ``path`` and the stamp of the very version read (stat of the open file,
    so a rotation landing between the two cannot pair one version's stamp with another's
    keys)."""
    with path.open(encoding="utf-8") as keyset_file:
        stamp = _stamp(os.fstat(keyset_file.fileno()))
        text = keyset_file.read()
    return stamp, _parse(text)


def load_kek() -> Kek:
    """The KEK, loaded once per process and again whenever its file changes on disk.

    Costs one ``stat`` per call while the file is unchanged (and no KMS call). Creates the
    keyset file when it is missing and ``CUSPID_KEK_CREATE`` is on; raises
    ``ImproperlyConfigured`` when it is missing otherwise or when ``CUSPID_KEK_URI`` is not a
    supported KMS key, and ``tink.TinkError`` when the file does not open (wrong KMS key,
    altered file).
    """
    path = kek_path()
    with _lock:
        try:
            current: _Stamp | None = _stamp(path.stat())
        except FileNotFoundError:
            _ensure_exists(path)
            current = None
        loaded = _loaded.get(path)
        if loaded is not None and loaded[0] == current:
            return loaded[1]
        stamp, handle = _read(path)
        kek = Kek(handle.primitive(aead.Aead), handle.keyset_info().primary_key_id)
        _loaded[path] = (stamp, kek)
        return kek


def kek_keyset_load() -> tink.KeysetHandle:
    """The KEK keyset itself, read from its file now (never cached), for rotation.

    Creates the file first as :func:`load_kek` does. The handle holds key material: it never
    leaves ``cuspid.keys``.
    """
    path = kek_path()
    with _lock:
        _ensure_exists(path)
    return _read(path)[1]


def kek_keyset_save(handle: tink.KeysetHandle) -> None:
    """Replace the KEK keyset file with ``handle``, atomically and durably.

    The new keyset goes to a temporary file (0600, same directory, fsynced), replaces the old
    one in one rename, and the directory is fsynced: a crash at any point leaves either the
    old keyset or the new one, whole. With ``CUSPID_KEK_URI`` set it is encrypted by the KMS
    key first. Other processes load it on their next use.
    """
    path = kek_path()
    temporary = _write_temporary(path.parent, _serialize(handle))
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink()
        raise
    _fsync_directory(path.parent)


def forget_loaded_kek() -> None:
    """Drop the loaded KEK so the next use reads the file again (in tests)."""
    with _lock:
        _loaded.clear()
