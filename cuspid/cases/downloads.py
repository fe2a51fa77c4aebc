"""How a case file leaves the server: streamed, checked, under a generic name, never cached.

Shared by the page (``views.attachment_download``) and the API (``attachment_download``), and
by the other stored files that leave the same way (a comparison's distances, a suggestion's
labels).
"""

from __future__ import annotations

import itertools

from django.http import StreamingHttpResponse

from cuspid.cases.enums import FileFormat
from cuspid.cases.models import Attachment
from cuspid.keys.blobs import blob_chunks
from cuspid.keys.models import EncryptedBlob

EXTENSIONS: dict[str, str] = {
    FileFormat.STL_BINARY: "stl",
    FileFormat.STL_ASCII: "stl",
    FileFormat.PLY: "ply",
    FileFormat.OBJ: "obj",
    FileFormat.JPEG: "jpg",
    FileFormat.PNG: "png",
    FileFormat.PDF: "pdf",
}


def download_name(attachment: Attachment) -> str:
    """A generic name: case reference, the kind (and revision) and the start of the file's
    id, e.g. ``C-00042-scan-1f2e3d4c.stl`` or ``C-00042-rev2-scan-9a8b7c6d.stl``. Never the
    uploaded name, which is sealed because it may name the patient."""
    kind = f"{attachment.kind}-{attachment.id.hex[:8]}"
    part = f"rev{attachment.revision.number}-{kind}" if attachment.revision else kind
    extension = EXTENSIONS.get(attachment.file_format, "bin")
    return f"{attachment.case.reference}-{part}.{extension}"


def blob_response(
    blob: EncryptedBlob, *, filename: str, content_type: str
) -> StreamingHttpResponse:
    """A stored file's plaintext as an attachment download named ``filename``: streamed,
    checked against its SHA-256 at the end, never cached, never sniffed.

    The first chunk is opened (and checked) before the response exists, so a missing or
    unreadable file is an error answer rather than a response cut short.
    """
    chunks = blob_chunks(blob)
    first = next(chunks, b"")
    response = StreamingHttpResponse(itertools.chain([first], chunks), content_type=content_type)
    response["Content-Length"] = str(blob.size)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def attachment_response(attachment: Attachment) -> StreamingHttpResponse:
    """The file's plaintext as an attachment download under its generic name."""
    return blob_response(
        attachment.blob, filename=download_name(attachment), content_type=attachment.content_type
    )
