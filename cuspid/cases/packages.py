"""The production package: a deterministic ZIP of an approved revision. Pure.

The same :class:`~cuspid.cases.workorder.WorkOrder` and file contents give the same bytes,
whenever and wherever they are built:

- entries sorted by name, every one dated the approval's minute (UTC), mode ``0o644``, made
  on "Unix", deflated at one fixed level, without extra fields or directory entries;
- ``manifest.json``: sorted keys, two-space indent, ASCII, a trailing newline;
- ``workorder.html`` and ``workorder.pdf`` (:mod:`cuspid.cases.workorder`, itself
  deterministic);
- the revision's meshes under the names the work order gives them (generic: the case
  reference, revision, layer and id, never the uploaded names, which may name the patient).

Each mesh's content is streamed in and checked against the size and SHA-256 the work order
states; a file that differs raises :class:`PackageFileMismatch` and the package is not
finished. Nothing here reads the database, the clock or the request.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Mapping
from typing import BinaryIO

from cuspid.cases.workorder import WorkOrder, workorder_html, workorder_pdf

FORMAT = "cuspid-production-package-v1"
MANIFEST_NAME = "manifest.json"
WORKORDER_HTML = "workorder.html"
WORKORDER_PDF = "workorder.pdf"
COMPRESS_LEVEL = 6
FILE_MODE = 0o644
_UNIX = 3
_REGULAR_FILE = 0o100000
_CHUNK = 1 << 20

# A mesh's content, read afresh each time it is called (a generator of chunks).
Content = Callable[[], Iterable[bytes]]


class PackageFileMismatch(Exception):
    """A mesh's content is not the size or SHA-256 the work order (and approval) states."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"{name} does not match its approved SHA-256")


def zip_timestamp(order: WorkOrder) -> tuple[int, int, int, int, int, int]:
    """Every entry's date: the approval's minute in UTC (ZIP dates have no time zone)."""
    moment = order.approval.approved_at.astimezone(datetime.UTC)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, 0)


def _entry(name: str, order: WorkOrder) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=zip_timestamp(order))
    info.create_system = _UNIX
    info.external_attr = (_REGULAR_FILE | FILE_MODE) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    # zipfile reads the level from this private attribute; setting it keeps the level part of
    # each entry rather than of whichever ZipFile writes it.
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  # see above
    return info


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_document(order: WorkOrder, documents: Mapping[str, bytes]) -> dict[str, object]:
    """What ``manifest.json`` says: the case, revision, files, approval and documents."""
    approval = order.approval
    return {
        "format": FORMAT,
        "case": {
            "id": str(order.case_id),
            "reference": order.case_reference,
            "case_type": order.case_type,
            "teeth": list(order.teeth),
            "tooth_notation": "FDI",
            "material": order.material,
            "shade": order.shade,
            "due_date": order.due_date.isoformat() if order.due_date else None,
            "priority": order.priority,
            "clinic": order.clinic_name,
            "lab": order.lab_name,
        },
        "revision": {
            "id": str(order.revision_id),
            "number": order.revision_number,
            "manifest_sha256": order.revision_manifest_sha256,
        },
        "files": [
            {
                "name": f.name,
                "layer": f.layer,
                "format": f.file_format,
                "sha256": f.sha256,
                "size": f.size,
            }
            for f in order.files
        ],
        "approval": {
            "id": str(approval.id),
            "approver_id": str(approval.approver_id),
            "approver_name": approval.approver_name,
            "approved_at": approval.approved_at.astimezone(datetime.UTC).isoformat(),
            "manifest_sha256": approval.manifest_sha256,
            "statement_version": approval.statement_version,
            "key_id": approval.key_id,
            "signature": approval.signature,
            "signature_algorithm": "Ed25519",
        },
        "documents": [
            {"name": name, "sha256": _sha256(data), "size": len(data)}
            for name, data in sorted(documents.items())
        ],
    }


def manifest_json(order: WorkOrder, documents: Mapping[str, bytes]) -> bytes:
    """``manifest.json``'s bytes: sorted keys, indent 2, ASCII, one trailing newline."""
    text = json.dumps(manifest_document(order, documents), sort_keys=True, indent=2)
    return (text + "\n").encode("ascii")


def _write_checked(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, content: Content, sha256: str, size: int
) -> None:
    info.file_size = size
    digest = hashlib.sha256()
    written = 0
    with archive.open(info, mode="w") as out:
        for chunk in content():
            digest.update(chunk)
            written += len(chunk)
            out.write(chunk)
    if written != size or digest.hexdigest() != sha256:
        raise PackageFileMismatch(info.filename)


def write_package(target: BinaryIO, order: WorkOrder, contents: Mapping[str, Content]) -> None:
    """Write the package of ``order`` to ``target`` (seekable, empty), meshes from ``contents``
    (one per file of the order, by name).

    Raises ``PackageFileMismatch`` when a mesh is not what the order states (``target`` then
    holds an unfinished archive: discard it), ``KeyError`` for a file without content.
    """
    documents = {
        WORKORDER_HTML: workorder_html(order).encode("utf-8"),
        WORKORDER_PDF: workorder_pdf(order),
    }
    entries: dict[str, Callable[[zipfile.ZipFile, zipfile.ZipInfo], None]] = {
        MANIFEST_NAME: _bytes_writer(manifest_json(order, documents)),
        **{name: _bytes_writer(data) for name, data in documents.items()},
    }
    for f in order.files:
        if f.name in entries:
            raise ValueError(f"two package entries named {f.name}")
        entries[f.name] = _content_writer(contents[f.name], f.sha256, f.size)
    with zipfile.ZipFile(target, mode="w", allowZip64=True) as archive:
        for name in sorted(entries):
            entries[name](archive, _entry(name, order))


def _bytes_writer(data: bytes) -> Callable[[zipfile.ZipFile, zipfile.ZipInfo], None]:
    def write(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        archive.writestr(info, data)

    return write


def _content_writer(
    content: Content, sha256: str, size: int
) -> Callable[[zipfile.ZipFile, zipfile.ZipInfo], None]:
    def write(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        _write_checked(archive, info, content, sha256, size)

    return write


def build_package(order: WorkOrder, contents: Mapping[str, Content]) -> bytes:
    """The package's bytes (in memory: for tests and small revisions; services stream with
    :func:`write_package`)."""
    out = io.BytesIO()
    write_package(out, order, contents)
    return out.getvalue()


def chunks_of(data: bytes, size: int = _CHUNK) -> Content:
    """``data`` as a mesh's content."""

    def content() -> Iterable[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    return content
