"""Case files for tests, made on the fly: valid scans, photos and PDFs, and a bad corpus.

Valid meshes are a small dental arch in millimetres: a half-tube of radius 5 mm swept along a
horseshoe about 56 mm wide and 25 mm deep, so every format describes the same plausible jaw.
``BAD_CORPUS`` maps a name to a maker of bytes that Cuspid must refuse, and ``BAD_STATUS``
the HTTP status each refusal carries.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image
from PIL.PngImagePlugin import PngInfo
from pypdf import PdfWriter
from pypdf.actions import JavaScript
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

#: Who the made-up patient is: text that must never survive into a stored photo.
PATIENT_NAME = "Jane Q. Patient"
#: Where the made-up photo was taken (degrees, minutes, seconds).
GPS_LATITUDE = (45.0, 30.0, 12.5)
GPS_LONGITUDE = (73.0, 34.0, 5.0)

STL_TRIANGLE = np.dtype(
    [("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attributes", "<u2")]
)
_SECTIONS = 8  # quads around the half-tube's cross-section

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def arch(faces: int = 2_000, scale_mm: float = 56.0) -> tuple[Floats, Ints]:
    """Vertices and triangles of a dental arch whose width is ``scale_mm`` (about; the
    largest extent), with exactly ``faces`` triangles (at least 16)."""
    steps = max(2, -(-faces // (2 * _SECTIONS)) + 1)  # along the arch
    t = np.linspace(-1.25, 1.25, steps)
    u = np.linspace(0.0, np.pi, _SECTIONS + 1)
    centre = np.stack([23.0 * np.sin(t), 20.0 * np.cos(t), np.zeros_like(t)], axis=1)
    outward = np.stack([np.sin(t), np.cos(t), np.zeros_like(t)], axis=1)
    radius = 5.0
    vertices = (
        centre[:, None, :]
        + radius * np.cos(u)[None, :, None] * outward[:, None, :]
        + radius * np.sin(u)[None, :, None] * np.array([0.0, 0.0, 1.0])
    ).reshape(-1, 3)
    natural_width = float(np.ptp(vertices, axis=0).max())
    vertices *= scale_mm / natural_width
    rows = _SECTIONS + 1
    quads = [
        (i * rows + j, (i + 1) * rows + j, (i + 1) * rows + j + 1, i * rows + j + 1)
        for i in range(steps - 1)
        for j in range(_SECTIONS)
    ]
    triangles = [tri for a, b, c, d in quads for tri in ((a, b, c), (a, c, d))]
    return vertices, np.array(triangles[:faces], dtype=np.int64)


def stl_records(triangles: Floats) -> npt.NDArray[np.void]:
    """Binary STL records (normal, three vertices, attribute) for an (n, 3, 3) array."""
    records = np.zeros(len(triangles), dtype=STL_TRIANGLE)
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    records["normal"] = np.divide(normals, lengths, out=np.zeros_like(normals), where=lengths > 0)
    records["vertices"] = triangles
    return records


def binary_stl(records: npt.NDArray[np.void], header: bytes = b"Cuspid test arch") -> bytes:
    """A binary STL of the given records, with ``header`` padded to 80 bytes."""
    return header.ljust(80, b" ") + struct.pack("<I", len(records)) + records.tobytes()


def valid_binary_stl(faces: int = 2_000, scale_mm: float = 56.0) -> bytes:
    """A binary STL arch of ``faces`` triangles and about ``scale_mm`` across."""
    vertices, triangles = arch(faces, scale_mm)
    return binary_stl(stl_records(vertices[triangles]))


def write_large_binary_stl(path: Path, size_bytes: int) -> int:
    """Write a binary STL of at least ``size_bytes`` to ``path``, a chunk at a time (random
    triangles inside a 60 x 50 x 20 mm box); return its triangle count."""
    count = -(-(size_bytes - 84) // STL_TRIANGLE.itemsize)
    rng = np.random.default_rng(7)
    with path.open("wb") as out:
        out.write(b"Cuspid large test scan".ljust(80, b" ") + struct.pack("<I", count))
        remaining = count
        while remaining:
            batch = min(remaining, 100_000)
            corners = rng.uniform((0.0, 0.0, 0.0), (60.0, 50.0, 20.0), size=(batch, 3, 3))
            out.write(stl_records(corners).tobytes())
            remaining -= batch
    return count


def valid_ascii_stl(faces: int = 200) -> bytes:
    """An ASCII STL arch."""
    vertices, triangles = arch(faces)
    records = stl_records(vertices[triangles])
    lines = ["solid arch"]
    for record in records:
        lines.append("  facet normal {:e} {:e} {:e}".format(*record["normal"]))
        lines.append("    outer loop")
        lines.extend("      vertex {:e} {:e} {:e}".format(*corner) for corner in record["vertices"])
        lines.append("    endloop")
        lines.append("  endfacet")
    lines.append("endsolid arch")
    return ("\n".join(lines) + "\n").encode()


def valid_ply(faces: int = 400, *, binary: bool = True) -> bytes:
    """A PLY arch with shared vertices (binary little-endian unless ``binary`` is False)."""
    vertices, triangles = arch(faces)
    header = "\n".join(
        [
            "ply",
            f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
            "comment made by Cuspid's tests",
            f"element vertex {len(vertices)}",
            "property float x",
            "property float y",
            "property float z",
            f"element face {len(triangles)}",
            "property list uchar int vertex_indices",
            "end_header",
        ]
    )
    if not binary:
        body = [" ".join(f"{value:.6f}" for value in vertex) for vertex in vertices]
        body += ["3 " + " ".join(str(index) for index in tri) for tri in triangles]
        return (header + "\n" + "\n".join(body) + "\n").encode()
    face_dtype = np.dtype([("n", "u1"), ("indices", "<i4", (3,))])
    face_rows = np.zeros(len(triangles), dtype=face_dtype)
    face_rows["n"] = 3
    face_rows["indices"] = triangles
    return (header + "\n").encode() + vertices.astype("<f4").tobytes() + face_rows.tobytes()


def valid_obj(faces: int = 400) -> bytes:
    """A Wavefront OBJ arch (1-based indices), starting with a comment and an object name."""
    vertices, triangles = arch(faces)
    lines = ["# Cuspid test arch", "o arch"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in triangles]
    return ("\n".join(lines) + "\n").encode()


def _photo(width: int = 64, height: int = 48) -> Image.Image:
    """A small photo with a gradient, so that its orientation can be checked."""
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, axis=0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, axis=1)
    return Image.fromarray(np.stack([x, y, np.full_like(x, 128)], axis=2), mode="RGB")


def _exif_with_gps(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Cuspid Camera Co."
    exif[ExifTags.Base.ImageDescription] = PATIENT_NAME
    exif[ExifTags.Base.BodySerialNumber] = "SN-1234567"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = GPS_LATITUDE
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = GPS_LONGITUDE
    return exif


def _xmp() -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description about="">{PATIENT_NAME}</rdf:Description></rdf:RDF></x:xmpmeta>'
    ).encode()


def valid_jpeg_with_gps() -> bytes:
    """A 64 x 48 JPEG whose EXIF says "rotate 90 degrees" (orientation 6), with a GPS
    position, a camera serial, the patient's name in the description, XMP and a comment."""
    out = io.BytesIO()
    _photo().save(
        out,
        format="JPEG",
        quality=90,
        exif=_exif_with_gps(orientation=6),
        xmp=_xmp(),
        comment=PATIENT_NAME.encode(),
    )
    return out.getvalue()


def valid_png() -> bytes:
    """A 64 x 48 PNG carrying a text chunk with the patient's name and EXIF with GPS."""
    info = PngInfo()
    info.add_text("Description", PATIENT_NAME)
    info.add_itxt("XML:com.adobe.xmp", _xmp().decode())
    out = io.BytesIO()
    _photo().save(out, format="PNG", pnginfo=info, exif=_exif_with_gps(orientation=1))
    return out.getvalue()


def _pdf(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def valid_pdf(pages: int = 2) -> bytes:
    """A PDF of ``pages`` blank A4 pages."""
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    return _pdf(writer)


# --- The bad corpus ---------------------------------------------------------------------------


def truncated_stl() -> bytes:
    """A binary STL cut short in the middle of its triangles (an interrupted export)."""
    data = valid_binary_stl()
    return data[: len(data) - 1_234]


def nan_stl() -> bytes:
    """A binary STL with one coordinate that is not a number."""
    vertices, triangles = arch()
    records = stl_records(vertices[triangles])
    records["vertices"][10, 1, 2] = np.nan
    return binary_stl(records)


def infinite_stl() -> bytes:
    """A binary STL with one infinite coordinate."""
    vertices, triangles = arch()
    records = stl_records(vertices[triangles])
    records["vertices"][3, 0, 0] = np.inf
    return binary_stl(records)


def zero_face_stl() -> bytes:
    """A binary STL header that declares no triangles: a well-formed, empty file."""
    return binary_stl(np.zeros(0, dtype=STL_TRIANGLE))


def ten_metre_stl() -> bytes:
    """An arch 10 m wide."""
    return valid_binary_stl(scale_mm=10_000.0)


def metre_unit_stl() -> bytes:
    """An arch exported in metres: 0.056 units across."""
    return valid_binary_stl(scale_mm=0.056)


def wrong_magic() -> bytes:
    """Random bytes (a fixed seed): no known format."""
    return np.random.default_rng(1).bytes(4096)


def text_file() -> bytes:
    """A plain-text note, which is no format Cuspid takes."""
    return b"Please make the crown a little lighter than A2.\nThanks!\n"


def empty_file() -> bytes:
    return b""


def zip_renamed_stl() -> bytes:
    """A ZIP archive holding an STL (as if renamed to .stl)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("arch.stl", valid_binary_stl())
    return out.getvalue()


def gzip_stl() -> bytes:
    """A gzip-compressed STL."""
    import gzip

    return gzip.compress(valid_binary_stl())


def polyglot_png_zip() -> bytes:
    """A valid PNG with a ZIP appended: both a picture and an archive."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return valid_png() + out.getvalue()


def obj_bad_index() -> bytes:
    """An OBJ whose last face refers to a vertex that does not exist."""
    return valid_obj() + b"f 1 2 99999\n"


def ply_bad_index() -> bytes:
    """A PLY whose only triangle refers to a vertex that does not exist."""
    return (
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 1\nproperty list uchar int vertex_indices\n"
        b"end_header\n0 0 0\n20 0 0\n0 20 0\n3 0 1 7\n"
    )


def ply_point_cloud() -> bytes:
    """A PLY with vertices and no faces."""
    return (
        b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        b"property float z\nend_header\n0 0 0\n20 0 0\n0 20 0\n"
    )


def truncated_jpeg() -> bytes:
    """The first half of a JPEG."""
    data = valid_jpeg_with_gps()
    return data[: len(data) // 2]


def huge_png(side: int = 20_000) -> bytes:
    """A tiny PNG whose header claims ``side`` x ``side`` pixels (a decompression bomb)."""
    data = bytearray(valid_png())
    # IHDR is the first chunk: 8-byte signature, length, "IHDR", 13 bytes of data (width and
    # height first), then the CRC of type and data.
    struct.pack_into(">II", data, 16, side, side)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def pdf_with_javascript() -> bytes:
    """A one-page PDF that runs JavaScript when opened."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_open_action(JavaScript("app.alert('hello');"))
    return _pdf(writer)


def pdf_with_launch() -> bytes:
    """A PDF whose page opens another program when shown."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    launch = DictionaryObject(
        {NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc")}
    )
    page[NameObject("/AA")] = DictionaryObject({NameObject("/O"): launch})
    return _pdf(writer)


def pdf_with_attachment() -> bytes:
    """A PDF with a file attached."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("notes.txt", b"attached")
    return _pdf(writer)


def encrypted_pdf() -> bytes:
    """A PDF encrypted with a user password."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.encrypt(user_password="secret", owner_password="owner", algorithm="AES-128")
    return _pdf(writer)


def pdf_without_pages() -> bytes:
    """A PDF whose page tree is empty."""
    return _pdf(PdfWriter())


def damaged_pdf() -> bytes:
    """A PDF header followed by nothing a reader can use."""
    return b"%PDF-1.7\n" + b"garbage " * 64


def pdf_with_hidden_script() -> bytes:
    """JavaScript in a link's action, with its names spelled with escapes (``/J#61vaScript``,
    ``/J#53``) as a hostile file would, to slip past a search for the plain names."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    action = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("xy")}
    )
    annotation = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Annot"),
            NameObject("/Subtype"): NameObject("/Link"),
            NameObject("/Rect"): ArrayObject([]),
            NameObject("/A"): action,
        }
    )
    page[NameObject("/Annots")] = ArrayObject([annotation])
    data = _pdf(writer)
    plain = b"/S /JavaScript\n/JS (xy)"
    assert plain in data, "pypdf's output changed; update this maker"
    # Same length, so the cross-reference offsets stay right.
    return data.replace(plain, b"/S/J#61vaScript/J#53(x)", 1)


BAD_CORPUS: dict[str, Callable[[], bytes]] = {
    "truncated_stl": truncated_stl,
    "nan_stl": nan_stl,
    "infinite_stl": infinite_stl,
    "zero_face_stl": zero_face_stl,
    "ten_metre_stl": ten_metre_stl,
    "metre_unit_stl": metre_unit_stl,
    "wrong_magic": wrong_magic,
    "text_file": text_file,
    "empty_file": empty_file,
    "zip_renamed_stl": zip_renamed_stl,
    "gzip_stl": gzip_stl,
    "polyglot_png_zip": polyglot_png_zip,
    "obj_bad_index": obj_bad_index,
    "ply_bad_index": ply_bad_index,
    "ply_point_cloud": ply_point_cloud,
    "truncated_jpeg": truncated_jpeg,
    "huge_png": huge_png,
    "pdf_with_javascript": pdf_with_javascript,
    "pdf_with_hidden_script": pdf_with_hidden_script,
    "pdf_with_launch": pdf_with_launch,
    "pdf_with_attachment": pdf_with_attachment,
    "encrypted_pdf": encrypted_pdf,
    "pdf_without_pages": pdf_without_pages,
    "damaged_pdf": damaged_pdf,
}
#: 415 for what is not an accepted format at all, 422 for an accepted format that fails.
BAD_STATUS: dict[str, int] = {
    **dict.fromkeys(BAD_CORPUS, 422),
    "wrong_magic": 415,
    "text_file": 415,
    "zip_renamed_stl": 415,
    "gzip_stl": 415,
    "polyglot_png_zip": 415,
}
