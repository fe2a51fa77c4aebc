"""What an uploaded case file is and whether Cuspid takes it, judged by its content.

The name and the declared content type of an upload are never consulted: the bytes decide.
``inspect_upload`` sniffs the format, refuses kinds the caller does not accept, then checks the
file the way its format needs:

- **Scans** (binary or ASCII STL, PLY, OBJ) are parsed, and must have at least one triangle,
  only finite coordinates, face indices that point at real vertices, and a largest extent
  between 1 mm and 300 mm (units are millimetres; a jaw measures tens of them). The file is
  stored as uploaded.
- **Photos** (JPEG, PNG) are decoded in full, turned upright by their EXIF orientation, and
  re-encoded without any metadata: no EXIF (so no GPS position, camera serial or date), no
  XMP, no comments, no text chunks. The ICC colour profile is kept, because shade matching
  depends on colour, unless the pixels had to be converted (then it no longer applies). The
  re-encoded image is what is stored.
- **Documents** (PDF) must open, have at least one page, and carry no encryption, JavaScript,
  launch actions or attached files. The file is stored as uploaded.
- **Archives** (ZIP, 7z, RAR, gzip, ...), including a ZIP appended to another file, are refused.

Limits, so that memory stays bounded whatever arrives (the upload itself is capped at
``CUSPID_MAX_UPLOAD_BYTES`` by ``cuspid.core.uploads``):

- a binary STL above ``CHUNKED_STL_THRESHOLD`` (16 MiB) is scanned from disk in chunks of
  ``STL_CHUNK_TRIANGLES`` (10 MB), never loaded whole: a 100 MB scan costs about 10 MiB;
  smaller ones are loaded by trimesh (about twice their size, plus trimesh itself);
- ASCII STL, OBJ and PLY files are parsed whole by trimesh, which takes several times their
  size (measured: a 24 MB binary PLY ~75 MiB, a 24 MB OBJ ~210 MiB, a 63 MB ASCII STL
  ~410 MiB), so they are refused above ``MAX_PARSED_MESH_BYTES`` (32 MiB) with a request to
  export a binary STL instead;
- PDFs above ``MAX_PDF_BYTES`` (64 MiB) are refused: checking one reads every object in it;
- photos above ``MAX_PHOTO_PIXELS`` (50 megapixels, below Pillow's decompression-bomb
  threshold) are refused before they are decoded; a 50 MP photo takes about 150 MB to decode.

Error messages are written for clinic staff and never quote the file's name or content (either
may hold patient details); parser exceptions, which might, are not chained.
"""

from __future__ import annotations

import hashlib
import re
import struct
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

import numpy as np
import numpy.typing as npt
from django.conf import settings
from PIL import Image, ImageOps
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject

from cuspid.cases.enums import AttachmentKind, FileFormat
from cuspid.core.errors import CuspidError
from cuspid.core.uploads import UploadTooLarge

_KIB = 1024
_MIB = 1024 * 1024

#: How much of the start (and of the end) of a file the format sniffing reads.
SNIFF_BYTES = 64 * _KIB
#: Binary STL files larger than this are scanned in chunks instead of loaded whole.
CHUNKED_STL_THRESHOLD = 16 * _MIB
#: Triangles read per chunk when scanning a large binary STL (50 bytes each: 10 MB).
STL_CHUNK_TRIANGLES = 200_000
#: ASCII STL, OBJ and PLY files larger than this are refused (trimesh parses them whole).
MAX_PARSED_MESH_BYTES = 32 * _MIB
#: PDFs larger than this are refused (the check reads every object).
MAX_PDF_BYTES = 64 * _MIB
#: Photos with more pixels than this are refused before decoding.
MAX_PHOTO_PIXELS = 50_000_000
#: The largest extent of a scan, in millimetres, must lie in [MIN_EXTENT_MM, MAX_EXTENT_MM].
MIN_EXTENT_MM = 1.0
MAX_EXTENT_MM = 300.0
JPEG_QUALITY = 92
#: Objects a PDF check visits at most; beyond, the document is refused as too complex.
PDF_MAX_OBJECTS = 200_000


class UnsupportedFile(CuspidError):
    """The file is not of a kind accepted here (or not of any kind Cuspid knows)."""

    status = 415
    code = "unsupported_file"
    default_detail = "This type of file is not supported."


class InvalidFile(CuspidError):
    """The file is of an accepted kind but damaged, empty, implausible or unsafe."""

    status = 422
    code = "invalid_file"
    default_detail = "The file is damaged or not valid."


@dataclass(frozen=True)
class MeshStats:
    """The size of a scan as stored in its file; coordinates are in ``units``."""

    vertex_count: int
    face_count: int
    bounds_min: tuple[float, float, float]
    bounds_max: tuple[float, float, float]
    units: str = "mm"

    @property
    def extents(self) -> tuple[float, float, float]:
        """Width, depth and height of the bounding box."""
        low, high = self.bounds_min, self.bounds_max
        return (high[0] - low[0], high[1] - low[1], high[2] - low[2])


@dataclass(frozen=True)
class InspectedFile:
    """An accepted upload: what it is, and the bytes to store (``stored``, positioned at 0).

    ``size`` and ``sha256`` describe ``stored``: the uploaded file itself for scans and PDFs,
    a new temporary file holding the re-encoded image for photos (the caller closes it).
    """

    kind: AttachmentKind
    file_format: FileFormat
    content_type: str
    size: int
    sha256: str
    stored: BinaryIO
    mesh: MeshStats | None = None
    width: int | None = None
    height: int | None = None
    page_count: int | None = None


_KIND = {
    FileFormat.STL_BINARY: AttachmentKind.SCAN,
    FileFormat.STL_ASCII: AttachmentKind.SCAN,
    FileFormat.PLY: AttachmentKind.SCAN,
    FileFormat.OBJ: AttachmentKind.SCAN,
    FileFormat.JPEG: AttachmentKind.PHOTO,
    FileFormat.PNG: AttachmentKind.PHOTO,
    FileFormat.PDF: AttachmentKind.DOCUMENT,
}
_CONTENT_TYPE = {
    FileFormat.STL_BINARY: "model/stl",
    FileFormat.STL_ASCII: "model/stl",
    # PLY has no registered media type; this is the one its tools use.
    FileFormat.PLY: "model/x-ply",
    FileFormat.OBJ: "model/obj",
    FileFormat.JPEG: "image/jpeg",
    FileFormat.PNG: "image/png",
    FileFormat.PDF: "application/pdf",
}
_FORMAT_NAME = {
    FileFormat.STL_BINARY: "STL",
    FileFormat.STL_ASCII: "STL",
    FileFormat.PLY: "PLY",
    FileFormat.OBJ: "OBJ",
    FileFormat.JPEG: "JPEG",
    FileFormat.PNG: "PNG",
    FileFormat.PDF: "PDF",
}
_ACCEPTED = {
    AttachmentKind.SCAN: "STL, PLY or OBJ scans",
    AttachmentKind.PHOTO: "JPEG or PNG photos",
    AttachmentKind.DOCUMENT: "PDF documents",
}
_KIND_NOUN = {
    AttachmentKind.SCAN: "scan",
    AttachmentKind.PHOTO: "photo",
    AttachmentKind.DOCUMENT: "document",
}


def inspect_upload(file: BinaryIO, *, allowed: frozenset[AttachmentKind]) -> InspectedFile:
    """Identify an uploaded case file by its content, check it, and say what to store.

    ``file`` is any seekable binary file (a Django ``UploadedFile`` or an open file); it is
    read, never written, and left positioned at 0. Guarantees: the result's ``kind`` is in
    ``allowed``; photos are re-encoded without metadata; ``size`` and ``sha256`` are those
    of ``stored``.

    Raises ``UnsupportedFile`` (415) for archives, unknown formats and kinds not in
    ``allowed``; ``InvalidFile`` (422) for damaged, empty, implausible or unsafe files;
    ``UploadTooLarge`` (413) above ``CUSPID_MAX_UPLOAD_BYTES``.
    """
    size = _size_of(file)
    limit: int = settings.CUSPID_MAX_UPLOAD_BYTES
    if size > limit:
        raise UploadTooLarge.over(limit)
    if size == 0:
        raise InvalidFile("The file is empty.")
    file_format = _sniff(file, size, allowed)
    kind = _KIND[file_format]
    if kind not in allowed:
        raise UnsupportedFile(
            f"This file is a {_FORMAT_NAME[file_format]} {_KIND_NOUN[kind]}, "
            f"but {_accepted_here(allowed)}"
        )

    stored: BinaryIO = file
    mesh = None
    width = height = page_count = None
    if kind is AttachmentKind.SCAN:
        mesh = _inspect_mesh(file, file_format, size)
    elif kind is AttachmentKind.PHOTO:
        stored, width, height = _reencode_photo(file, file_format)
    else:
        page_count = _inspect_pdf(file, size)
    file.seek(0)
    stored_size, sha256 = _digest(stored)
    return InspectedFile(
        kind=kind,
        file_format=file_format,
        content_type=_CONTENT_TYPE[file_format],
        size=stored_size,
        sha256=sha256,
        stored=stored,
        mesh=mesh,
        width=width,
        height=height,
        page_count=page_count,
    )


def _accepted_here(allowed: frozenset[AttachmentKind]) -> str:
    names = [_ACCEPTED[kind] for kind in AttachmentKind if kind in allowed]
    if not names:
        return "no files are accepted here."
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"only {listed} are accepted here."


def _size_of(file: IO[bytes]) -> int:
    size = file.seek(0, 2)
    file.seek(0)
    return size


def _digest(stored: IO[bytes]) -> tuple[int, str]:
    stored.seek(0)
    sha256 = hashlib.sha256()
    size = 0
    while chunk := stored.read(_MIB):
        sha256.update(chunk)
        size += len(chunk)
    stored.seek(0)
    return size, sha256.hexdigest()


# --- Sniffing ---------------------------------------------------------------------------------

_ARCHIVE_MAGIC = (
    b"PK\x03\x04",  # ZIP (and everything built on it: docx, jar, 3mf, ...)
    b"PK\x05\x06",  # empty ZIP
    b"PK\x07\x08",  # spanned ZIP
    b"\x1f\x8b\x08",  # gzip
    b"7z\xbc\xaf\x27\x1c",  # 7-Zip
    b"Rar!\x1a\x07",  # RAR 4 and 5
    b"\xfd7zXZ\x00",  # xz
    b"\x28\xb5\x2f\xfd",  # zstd
    b"\x04\x22\x4d\x18",  # lz4
    b"MSCF\x00\x00\x00\x00",  # Microsoft cabinet
    b"!<arch>\n",  # ar
    b"LZIP",  # lzip
)
_BZIP2 = re.compile(rb"BZh[1-9]1AY&SY")
_ZIP_END = b"PK\x05\x06"
_ZIP_END_SIZE = 22
_ZIP_DIRECTORY_ENTRY = b"PK\x01\x02"
_ZIP64_LOCATOR = b"PK\x06\x07"
_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_PDF_MAGIC = b"%PDF-"
_STL_HEADER_SIZE = 84
_STL_TRIANGLE = np.dtype(
    [("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attributes", "<u2")]
)
_OBJ_STATEMENTS = frozenset(
    {"v", "vn", "vt", "vp", "f", "l", "p", "o", "g", "s", "mtllib", "usemtl"}
)
#: Meaningful lines at the start of a text file that must all be OBJ statements.
_OBJ_PROBE_LINES = 50
# Control characters that never occur in a text mesh (tab, newlines and form feed may).
_BINARY_BYTES = re.compile(rb"[\x00-\x08\x0e-\x1f]")

_ARCHIVE = "Archives (ZIP, 7z, RAR, gzip and the like) are not accepted: upload the file itself."
_TRUNCATED_STL = (
    "The STL file is incomplete: its size does not match the number of triangles it "
    "declares. Export it again and upload the new file."
)


def _sniff(file: IO[bytes], size: int, allowed: frozenset[AttachmentKind]) -> FileFormat:
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    if _is_archive(file, head, size):
        raise UnsupportedFile(_ARCHIVE)
    if head.startswith(_JPEG_MAGIC):
        return FileFormat.JPEG
    if head.startswith(_PNG_MAGIC):
        return FileFormat.PNG
    if head.startswith(_PDF_MAGIC):
        return FileFormat.PDF
    # A binary STL may start with "solid" like an ASCII one: its size equation decides first.
    if _binary_stl_triangles(head, size) is not None:
        return FileFormat.STL_BINARY
    if head.startswith((b"ply\n", b"ply\r\n")):
        return FileFormat.PLY
    lines = _text_lines(head, complete=size <= len(head))
    if lines is not None:
        if lines and lines[0].lower().startswith("solid"):
            return FileFormat.STL_ASCII
        if _is_obj(lines):
            return FileFormat.OBJ
    elif _looks_like_binary_stl(head):
        raise InvalidFile(_TRUNCATED_STL)
    raise UnsupportedFile(f"This type of file is not supported: {_accepted_here(allowed)}")


def _is_archive(file: IO[bytes], head: bytes, size: int) -> bool:
    if head.startswith(_ARCHIVE_MAGIC) or _BZIP2.match(head) or head[257:262] == b"ustar":
        return True
    return _has_zip_directory_at_end(file, size)


def _has_zip_directory_at_end(file: IO[bytes], size: int) -> bool:
    """Whether a ZIP's end record, and the central directory it points back to, close the file.

    This is how unzip tools find a ZIP, so it finds one appended to any other file; requiring
    the directory's own signature where the end record says it starts keeps four chance bytes
    in a mesh from passing for a ZIP.
    """
    window = min(size, SNIFF_BYTES + _ZIP_END_SIZE)
    file.seek(size - window)
    tail = file.read(window)
    at = tail.rfind(_ZIP_END)
    while at >= 0:
        record = tail[at + 4 : at + _ZIP_END_SIZE]
        if len(record) == _ZIP_END_SIZE - 4:
            _, _, _, entries, directory_size, _, comment_size = struct.unpack("<HHHHIIH", record)
            if at + _ZIP_END_SIZE + comment_size <= len(tail):
                if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
                    if tail[max(at - 20, 0) : at].startswith(_ZIP64_LOCATOR):
                        return True
                else:
                    directory = size - window + at - directory_size
                    if directory >= 0:
                        file.seek(directory)
                        if file.read(4) == _ZIP_DIRECTORY_ENTRY:
                            return True
        at = tail.rfind(_ZIP_END, 0, at)
    return False


def _binary_stl_triangles(head: bytes, size: int) -> int | None:
    """The triangle count of a binary STL whose size matches it exactly, else None."""
    if len(head) < _STL_HEADER_SIZE:
        return None
    (count,) = struct.unpack_from("<I", head, 80)
    if size != _STL_HEADER_SIZE + count * _STL_TRIANGLE.itemsize:
        return None
    return int(count)


def _looks_like_binary_stl(head: bytes) -> bool:
    """Whether a file whose size fails the binary STL equation starts like one anyway: a
    declared triangle count, then a first triangle with a unit (or zero) normal and plausible
    coordinates. Random bytes fail this; a truncated or padded export passes."""
    if len(head) < _STL_HEADER_SIZE + _STL_TRIANGLE.itemsize:
        return False
    if struct.unpack_from("<I", head, 80)[0] == 0:
        return False
    first = np.frombuffer(head, dtype=_STL_TRIANGLE, count=1, offset=_STL_HEADER_SIZE)[0]
    normal = first["normal"].astype(np.float64)
    vertices = first["vertices"].astype(np.float64)
    if not (np.isfinite(normal).all() and np.isfinite(vertices).all()):
        return False
    if float(np.abs(vertices).max()) > 1e5:
        return False
    length = float(np.linalg.norm(normal))
    return length < 1e-6 or abs(length - 1.0) < 1e-2


def _text_lines(head: bytes, *, complete: bool) -> list[str] | None:
    """The non-empty, non-comment lines of a text file's start; None for binary content."""
    if _BINARY_BYTES.search(head):
        return None
    if not complete:
        head = head[: head.rfind(b"\n") + 1]  # the last line may be cut short
    # Latin-1 decodes any byte; the keywords that matter are ASCII either way.
    lines = (line.strip() for line in head.decode("latin-1").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _is_obj(lines: list[str]) -> bool:
    keywords = [line.split(maxsplit=1)[0] for line in lines[:_OBJ_PROBE_LINES]]
    return "v" in keywords and all(keyword in _OBJ_STATEMENTS for keyword in keywords)


# --- Scans ------------------------------------------------------------------------------------

_NO_TRIANGLES = "The scan contains no triangles."
_NOT_FINITE = "The scan contains invalid coordinates (not-a-number or infinite values)."
_BAD_INDICES = "The scan is damaged: some triangles refer to points that are not in the file."
_TOO_BIG_TO_PARSE = (
    "PLY, OBJ and text STL scans larger than 64 MB cannot be checked. "
    "Export the scan as a binary STL and upload that instead."
)

_Vertices = npt.NDArray[np.floating[Any]]
_NO_VERTICES = np.empty((0, 3))


def _unreadable(file_format: FileFormat) -> str:
    return (
        f"The {_FORMAT_NAME[file_format]} file could not be read; it may be damaged. "
        "Export it again and upload the new file."
    )


def _inspect_mesh(file: IO[bytes], file_format: FileFormat, size: int) -> MeshStats:
    file.seek(0)
    if file_format is FileFormat.STL_BINARY:
        if size > CHUNKED_STL_THRESHOLD:
            return _scan_binary_stl(file)
    elif size > MAX_PARSED_MESH_BYTES:
        raise InvalidFile(_TOO_BIG_TO_PARSE)
    loaded = _load_with_trimesh(file, file_format)
    try:
        return _stats_of_loaded(loaded)
    except (ValueError, TypeError):  # a damaged file can leave trimesh with ragged arrays
        raise InvalidFile(_unreadable(file_format)) from None


def _load_with_trimesh(file: IO[bytes], file_format: FileFormat) -> dict[str, Any]:
    # trimesh (with networkx) takes over a second to import: only processes that check scans pay.
    from trimesh.exchange.obj import load_obj
    from trimesh.exchange.ply import load_ply
    from trimesh.exchange.stl import load_stl_ascii, load_stl_binary

    # The loaders are called directly, never trimesh.load: no resolver, so a hostile mtllib
    # or texture name cannot make the server open other files; nothing is merged or reordered.
    loaders: dict[FileFormat, Callable[[IO[bytes]], Any]] = {
        FileFormat.STL_BINARY: load_stl_binary,
        FileFormat.STL_ASCII: load_stl_ascii,
        FileFormat.PLY: lambda f: load_ply(f, skip_materials=True, fix_texture=False),
        FileFormat.OBJ: lambda f: load_obj(f, skip_materials=True, maintain_order=True),
    }
    try:
        loaded = loaders[file_format](file)
    except Exception:  # noqa: BLE001 -- hostile input can make a parser raise anything; it is refused, and its message (which may quote the file) is dropped
        raise InvalidFile(_unreadable(file_format)) from None
    if not isinstance(loaded, dict):
        raise InvalidFile(_unreadable(file_format))
    return loaded


def _parts(loaded: dict[str, Any]) -> Iterable[dict[str, Any]]:
    geometry = loaded.get("geometry")
    if isinstance(geometry, dict):
        return [part for part in geometry.values() if isinstance(part, dict)]
    return [loaded]


def _stats_of_loaded(loaded: dict[str, Any]) -> MeshStats:
    vertex_count = face_count = 0
    lows: list[_Vertices] = []
    highs: list[_Vertices] = []
    for part in _parts(loaded):
        # Kept in the loader's dtype (float32 for binary formats): no copy of a large scan.
        vertices = np.asarray(part.get("vertices", _NO_VERTICES))
        if vertices.dtype.kind not in "fiu" or vertices.ndim != 2 or vertices.shape[1] != 3:
            if vertices.size:
                raise ValueError("vertices are not an (n, 3) array of numbers")
            vertices = _NO_VERTICES
        faces = part.get("faces")
        if faces is None or len(faces) == 0:
            continue
        indices = _face_indices(faces)
        if indices.size and (indices.min() < 0 or indices.max() >= len(vertices)):
            raise InvalidFile(_BAD_INDICES)
        vertex_count += len(vertices)
        face_count += len(faces)
        lows.append(vertices.min(axis=0))
        highs.append(vertices.max(axis=0))
    if face_count == 0:
        raise InvalidFile(_NO_TRIANGLES)
    return _mesh_stats(vertex_count, face_count, np.min(lows, axis=0), np.max(highs, axis=0))


def _face_indices(faces: Any) -> npt.NDArray[np.int64]:
    """Every vertex index the faces use, whether they came as one array or ragged polygons."""
    try:
        return np.asarray(faces, dtype=np.int64).ravel()
    except ValueError:  # ragged: a list of polygons of different sizes
        return np.concatenate([np.asarray(face, dtype=np.int64).ravel() for face in faces])


def _scan_binary_stl(file: IO[bytes]) -> MeshStats:
    """Bounds and counts of a binary STL read ``STL_CHUNK_TRIANGLES`` at a time.

    The caller has checked that the file's size matches its declared triangle count, so
    there is at least one triangle and every read is whole (unless the file shrinks meanwhile).
    """
    file.seek(80)
    (count,) = struct.unpack("<I", file.read(4))
    low = np.full(3, np.inf, dtype=np.float32)
    high = np.full(3, -np.inf, dtype=np.float32)
    remaining = int(count)
    while remaining:
        batch = min(remaining, STL_CHUNK_TRIANGLES)
        data = file.read(batch * _STL_TRIANGLE.itemsize)
        if len(data) != batch * _STL_TRIANGLE.itemsize:
            raise InvalidFile(_TRUNCATED_STL)
        vertices = np.frombuffer(data, dtype=_STL_TRIANGLE)["vertices"]
        # NaN propagates through min and max, infinity is one: the bounds tell finiteness.
        low = np.minimum(low, vertices.min(axis=(0, 1)))
        high = np.maximum(high, vertices.max(axis=(0, 1)))
        remaining -= batch
        del data, vertices  # before the next read, so that only one chunk is ever held
    return _mesh_stats(3 * int(count), int(count), low, high)


def _mesh_stats(vertex_count: int, face_count: int, low: _Vertices, high: _Vertices) -> MeshStats:
    """The scan's stats, once its bounds are finite and of a dental size in millimetres."""
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise InvalidFile(_NOT_FINITE)
    extent = float((high.astype(np.float64) - low.astype(np.float64)).max())
    if extent < MIN_EXTENT_MM:
        raise InvalidFile(
            f"The scan is only {extent:.2g} mm across, but dental scans measure tens of "
            "millimetres: it was probably exported in metres. Export it in millimetres."
        )
    if extent > MAX_EXTENT_MM:
        raise InvalidFile(
            f"The scan is {extent:,.0f} mm across, more than the {MAX_EXTENT_MM:.0f} mm any "
            "dental scan measures. Check that it was exported in millimetres."
        )
    lo = [float(value) for value in low]
    hi = [float(value) for value in high]
    return MeshStats(
        vertex_count=vertex_count,
        face_count=face_count,
        bounds_min=(lo[0], lo[1], lo[2]),
        bounds_max=(hi[0], hi[1], hi[2]),
    )


# --- Photos -----------------------------------------------------------------------------------

# Pillow calls a JPEG with several pictures in it (phones' depth maps) MPO.
_PILLOW_FORMATS = {FileFormat.JPEG: ["JPEG", "MPO"], FileFormat.PNG: ["PNG"]}
_PNG_MODES = frozenset({"1", "L", "LA", "I;16", "RGB", "RGBA"})
_PHOTO_DAMAGED = "The image is incomplete or damaged. Export or take it again."


def _reencode_photo(file: IO[bytes], file_format: FileFormat) -> tuple[BinaryIO, int, int]:
    """The photo, upright and without metadata, in a new temporary file; its width, height."""
    formats = _PILLOW_FORMATS[file_format]
    try:
        file.seek(0)
        with Image.open(file, formats=formats) as probe:
            _check_pixels(probe.size)
            probe.verify()
        file.seek(0)
        with Image.open(file, formats=formats) as image:
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            clean, icc_profile = _without_metadata(image, file_format)
            return _save(clean, file_format, icc_profile), clean.width, clean.height
    except CuspidError:
        raise
    except Image.DecompressionBombError:
        raise InvalidFile(_too_many_pixels()) from None
    except Exception:  # noqa: BLE001 -- a damaged or hostile image can make Pillow raise anything; it is refused, and its message is dropped
        raise InvalidFile(_PHOTO_DAMAGED) from None


def _too_many_pixels() -> str:
    megapixels = MAX_PHOTO_PIXELS // 1_000_000
    return f"The image is too large: photos of up to {megapixels} megapixels are accepted."


def _check_pixels(size: tuple[int, int]) -> None:
    width, height = size
    if width * height > MAX_PHOTO_PIXELS:
        raise InvalidFile(_too_many_pixels())


def _without_metadata(
    image: Image.Image, file_format: FileFormat
) -> tuple[Image.Image, bytes | None]:
    """The pixels in a mode the format saves, with no metadata; the ICC profile, if it
    still describes them."""
    if file_format is FileFormat.JPEG:
        mode = image.mode if image.mode in ("L", "RGB") else "RGB"
    elif image.mode in ("P", "PA") or "transparency" in image.info:
        mode = "RGBA"
    elif image.mode in _PNG_MODES:
        mode = image.mode
    else:
        mode = "RGBA" if "A" in image.getbands() else "RGB"
    icc_profile = image.info.get("icc_profile") if mode == image.mode else None
    clean = image if mode == image.mode else image.convert(mode)
    # EXIF (GPS, serial numbers, dates), XMP, comments, text chunks: none is carried over.
    clean.info = {}
    return clean, icc_profile if isinstance(icc_profile, bytes) else None


def _save(image: Image.Image, file_format: FileFormat, icc_profile: bytes | None) -> BinaryIO:
    stored = tempfile.TemporaryFile()  # noqa: SIM115 -- returned open; the caller closes it
    try:
        if file_format is FileFormat.JPEG:
            image.save(
                stored, format="JPEG", quality=JPEG_QUALITY, optimize=True, icc_profile=icc_profile
            )
        else:
            image.save(stored, format="PNG", icc_profile=icc_profile)
    except BaseException:
        stored.close()
        raise
    stored.seek(0)
    return stored


# --- Documents --------------------------------------------------------------------------------

_PDF_DAMAGED = "The PDF could not be read; it may be damaged. Save or print it to a new PDF."
_PDF_ENCRYPTED = (
    "Password-protected or encrypted PDFs are not accepted. Save the document without a "
    "password and upload it again."
)
_PDF_SCRIPT = (
    "The PDF contains scripts (JavaScript or XFA forms), which are not accepted. "
    "Print it to a new PDF and upload that."
)
_PDF_LAUNCH = (
    "The PDF contains an action that starts other programs, which is not accepted. "
    "Print it to a new PDF and upload that."
)
_PDF_ATTACHMENT = (
    "The PDF contains attached files, which are not accepted. Upload each file on its own."
)
_PDF_TOO_COMPLEX = "The PDF is too complex to check. Print it to a new PDF and upload that."
_PDF_TOO_BIG = "PDFs larger than 64 MB cannot be checked. Reduce its size and upload it again."
_PDF_NO_PAGES = "The PDF has no pages."

_PDF_KEYS = {
    "/JS": _PDF_SCRIPT,
    "/JavaScript": _PDF_SCRIPT,
    "/XFA": _PDF_SCRIPT,
    "/EmbeddedFiles": _PDF_ATTACHMENT,
    "/EmbeddedFile": _PDF_ATTACHMENT,
    "/EF": _PDF_ATTACHMENT,
    "/RichMedia": _PDF_ATTACHMENT,
    "/RichMediaContent": _PDF_ATTACHMENT,
}
# Values of /S (action type), /Type and /Subtype that mark active or attached content.
_PDF_NAMES = {
    "/JavaScript": _PDF_SCRIPT,
    "/Launch": _PDF_LAUNCH,
    "/GoToE": _PDF_ATTACHMENT,
    "/EmbeddedFile": _PDF_ATTACHMENT,
    "/FileAttachment": _PDF_ATTACHMENT,
    "/RichMedia": _PDF_ATTACHMENT,
}


def _inspect_pdf(file: IO[bytes], size: int) -> int:
    """The page count of a PDF that opens and carries nothing active."""
    if size > MAX_PDF_BYTES:
        raise InvalidFile(_PDF_TOO_BIG)
    file.seek(0)
    try:
        reader = PdfReader(file)
        if reader.is_encrypted:
            raise InvalidFile(_PDF_ENCRYPTED)
        _refuse_active_content(reader)
        page_count = len(reader.pages)
    except CuspidError:
        raise
    except Exception:  # noqa: BLE001 -- a damaged or hostile PDF can make pypdf raise anything; it is refused, and its message is dropped
        raise InvalidFile(_PDF_DAMAGED) from None
    if page_count < 1:
        raise InvalidFile(_PDF_NO_PAGES)
    return page_count


def _refuse_active_content(reader: PdfReader) -> None:
    """Walk every object reachable from the trailer; refuse scripts, launches, attachments.

    Names are compared after pypdf has decoded them, so ``/J#61vaScript`` is caught too.
    """
    pending: list[Any] = [reader.trailer]
    seen: set[tuple[int, int]] = set()
    visited = 0
    while pending:
        node = pending.pop()
        if isinstance(node, IndirectObject):
            reference = (node.idnum, node.generation)
            if reference in seen:
                continue
            seen.add(reference)
            node = node.get_object()
        visited += 1
        if visited > PDF_MAX_OBJECTS:
            raise InvalidFile(_PDF_TOO_COMPLEX)
        if isinstance(node, DictionaryObject):
            for key, value in dict.items(node):
                problem = _PDF_KEYS.get(str(key))
                if problem is None and key in ("/S", "/Type", "/Subtype"):
                    problem = _PDF_NAMES.get(str(value))
                if problem is not None:
                    raise InvalidFile(problem)
                pending.append(value)
        elif isinstance(node, ArrayObject):
            pending.extend(list.__iter__(node))
