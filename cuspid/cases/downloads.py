"""How a case file leaves the server: streamed, checked, under a generic name, never cached.

Shared by the page (``views.attachment_download``) and the API (``attachment_download``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from django.http import StreamingHttpResponse

from cuspid.cases.enums import FileFormat
from cuspid.cases.models import Attachment
from cuspid.keys.blobs import blob_chunks

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


def _content(attachment: Attachment) -> Iterator[bytes]:
    # The first chunk is opened (and checked) now, so a missing or unreadable file is an
    # error answer rather than a response cut short.
    chunks = blob_chunks(attachment.blob)
    first = next(chunks, b"")
    return itertools.chain([first], chunks)


def attachment_response(attachment: Attachment) -> StreamingHttpResponse:
    """The file's plaintext as an attachment download; its SHA-256 is checked at the end."""
    response = StreamingHttpResponse(_content(attachment), content_type=attachment.content_type)
    response["Content-Length"] = str(attachment.size)
    response["Content-Disposition"] = f'attachment; filename="{download_name(attachment)}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
