"""inspect_upload: valid files are identified by content and measured; bad ones get a 4xx."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import ExifTags, Image, ImageCms
from pytest_django import Settings

from cuspid.cases import files
from cuspid.cases.enums import AttachmentKind, FileFormat
from cuspid.cases.files import (
    InspectedFile,
    InvalidFile,
    UnsupportedFile,
    inspect_upload,
)
from cuspid.core.errors import CuspidError
from cuspid.core.uploads import UploadTooLarge
from tests.cases import corpus

ALL = frozenset(AttachmentKind)
SCANS = frozenset({AttachmentKind.SCAN})
MIB = 1024 * 1024


def _inspect(data: bytes, allowed: frozenset[AttachmentKind] = ALL) -> InspectedFile:
    return inspect_upload(io.BytesIO(data), allowed=allowed)


def _stored_bytes(result: InspectedFile) -> bytes:
    data = result.stored.read()
    result.stored.seek(0)
    return data


def _expected_bounds(
    faces: int, *, float32: bool
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    vertices, triangles = corpus.arch(faces)
    used = vertices[np.unique(triangles)]
    if float32:
        used = used.astype(np.float32).astype(np.float64)
    low, high = used.min(axis=0), used.max(axis=0)
    return (low[0], low[1], low[2]), (high[0], high[1], high[2])


# --- valid scans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "file_format", "content_type", "faces", "vertices", "float32"),
    [
        (corpus.valid_binary_stl, FileFormat.STL_BINARY, "model/stl", 2_000, 6_000, True),
        (corpus.valid_ascii_stl, FileFormat.STL_ASCII, "model/stl", 200, 600, False),
        (corpus.valid_ply, FileFormat.PLY, "model/x-ply", 400, 234, True),
        (corpus.valid_obj, FileFormat.OBJ, "model/obj", 400, 234, False),
    ],
)
def test_a_valid_scan_is_identified_and_measured_in_millimetres(
    make: Callable[[], bytes],
    file_format: FileFormat,
    content_type: str,
    faces: int,
    vertices: int,
    float32: bool,
) -> None:
    data = make()

    result = _inspect(data)

    assert (result.kind, result.file_format, result.content_type) == (
        AttachmentKind.SCAN,
        file_format,
        content_type,
    )
    assert result.mesh is not None
    assert (result.mesh.face_count, result.mesh.vertex_count) == (faces, vertices)
    low, high = _expected_bounds(faces, float32=float32)
    assert result.mesh.bounds_min == pytest.approx(low, abs=1e-5)
    assert result.mesh.bounds_max == pytest.approx(high, abs=1e-5)
    assert result.mesh.units == "mm"
    assert max(result.mesh.extents) == pytest.approx(56.0, rel=1e-3)
    assert (result.width, result.height, result.page_count) == (None, None, None)
    # Scans are stored exactly as uploaded.
    assert _stored_bytes(result) == data
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_an_ascii_ply_is_measured_like_the_binary_one() -> None:
    text = _inspect(corpus.valid_ply(binary=False)).mesh
    binary = _inspect(corpus.valid_ply()).mesh
    assert text is not None
    assert binary is not None
    assert (text.face_count, text.vertex_count) == (binary.face_count, binary.vertex_count)
    assert text.bounds_max == pytest.approx(binary.bounds_max, abs=1e-5)


def test_a_binary_stl_whose_header_starts_with_solid_is_binary() -> None:
    vertices, triangles = corpus.arch()
    data = corpus.binary_stl(corpus.stl_records(vertices[triangles]), header=b"solid arch")

    result = _inspect(data)

    assert result.file_format is FileFormat.STL_BINARY
    assert result.mesh is not None
    assert result.mesh.face_count == 2_000


def test_zip_signature_bytes_inside_a_mesh_do_not_make_it_an_archive() -> None:
    vertices, triangles = corpus.arch()
    records = corpus.stl_records(vertices[triangles])
    # The last triangle's normal spells a ZIP end-of-directory signature, with no directory.
    records["normal"][-1] = np.frombuffer(b"PK\x05\x06" + bytes(8), dtype="<f4")
    data = corpus.binary_stl(records)
    assert b"PK\x05\x06" in data[-64:]

    assert _inspect(data).file_format is FileFormat.STL_BINARY


def test_the_file_and_the_stored_bytes_are_left_at_the_start() -> None:
    upload = io.BytesIO(corpus.valid_obj())
    upload.seek(17)

    result = inspect_upload(upload, allowed=ALL)

    assert upload.tell() == 0
    assert result.stored is upload


# --- large binary STL ------------------------------------------------------------------------


def test_a_large_binary_stl_is_scanned_in_chunks_to_the_same_stats_as_trimesh(
    tmp_path: Path,
) -> None:
    import trimesh

    path = tmp_path / "large.stl"
    count = corpus.write_large_binary_stl(path, 20 * MIB)
    size = path.stat().st_size
    assert size > files.CHUNKED_STL_THRESHOLD

    tracemalloc.start()
    try:
        with path.open("rb") as upload:
            result = inspect_upload(upload, allowed=SCANS)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Loading the file whole (as trimesh does) would hold all of it at once, and more.
    assert peak < size * 0.75
    mesh = trimesh.load_mesh(path, process=False)
    assert result.mesh is not None
    assert result.mesh.face_count == len(mesh.faces) == count
    assert result.mesh.vertex_count == len(mesh.vertices) == 3 * count
    assert result.mesh.bounds_min == tuple(float(v) for v in mesh.bounds[0])
    assert result.mesh.bounds_max == tuple(float(v) for v in mesh.bounds[1])
    assert result.size == size
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_large_binary_stl_with_a_nan_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "large.stl"
    count = corpus.write_large_binary_stl(path, 17 * MIB)
    with path.open("r+b") as out:
        # The z of the last vertex of the last triangle, deep in the last chunk.
        out.seek(84 + 50 * (count - 1) + 12 + 32)
        out.write(np.float32(np.nan).tobytes())

    with path.open("rb") as upload, pytest.raises(InvalidFile, match="not-a-number"):
        inspect_upload(upload, allowed=SCANS)


def test_a_text_mesh_too_large_to_parse_asks_for_a_binary_stl(tmp_path: Path) -> None:
    path = tmp_path / "large.obj"
    path.write_bytes(b"v 1 2 3\n" * ((files.MAX_PARSED_MESH_BYTES // 8) + 1))

    with path.open("rb") as upload, pytest.raises(InvalidFile, match="binary STL"):
        inspect_upload(upload, allowed=SCANS)


# --- photos -----------------------------------------------------------------------------------


def test_a_jpeg_is_turned_upright_and_stored_without_gps_exif_xmp_or_comment() -> None:
    original = corpus.valid_jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as before:  # the corpus really carries all of it
        assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)
        assert {"exif", "xmp", "comment"} <= set(before.info)

    result = _inspect(original)

    assert (result.kind, result.file_format, result.content_type) == (
        AttachmentKind.PHOTO,
        FileFormat.JPEG,
        "image/jpeg",
    )
    stored = _stored_bytes(result)
    assert result.stored is not None
    assert result.size == len(stored)
    assert result.sha256 == hashlib.sha256(stored).hexdigest()
    assert corpus.PATIENT_NAME.encode() not in stored
    assert b"Exif" not in stored
    assert b"SN-1234567" not in stored
    with Image.open(io.BytesIO(stored)) as after:
        assert after.format == "JPEG"
        exif = after.getexif()
        assert len(exif) == 0
        assert exif.get_ifd(ExifTags.IFD.GPSInfo) == {}
        assert not {"exif", "xmp", "comment"} & set(after.info)
        # Orientation 6 turned the 64 x 48 picture a quarter clockwise: the red gradient
        # that ran left to right now runs top to bottom.
        assert after.size == (48, 64) == (result.width, result.height)
        rgb = after.convert("RGB")
        top, bottom = rgb.getpixel((40, 2)), rgb.getpixel((40, 61))
        assert isinstance(top, tuple)
        assert isinstance(bottom, tuple)
        assert top[0] < 40 < 215 < bottom[0]


def test_a_png_is_stored_without_text_chunks_or_exif() -> None:
    original = corpus.valid_png()
    assert b"tEXt" in original
    assert b"eXIf" in original

    result = _inspect(original)

    assert (result.file_format, result.width, result.height) == (FileFormat.PNG, 64, 48)
    stored = _stored_bytes(result)
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf"):
        assert chunk not in stored
    assert corpus.PATIENT_NAME.encode() not in stored
    with Image.open(io.BytesIO(stored)) as after:
        assert len(after.getexif()) == 0
        assert after.tobytes() == Image.open(io.BytesIO(original)).tobytes()


def _jpeg(mode: str, icc_profile: bytes) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (16, 16)).save(out, format="JPEG", icc_profile=icc_profile)
    return out.getvalue()


def test_the_colour_profile_is_kept_while_it_still_describes_the_pixels() -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

    rgb = _inspect(_jpeg("RGB", srgb))
    cmyk = _inspect(_jpeg("CMYK", srgb))

    with Image.open(rgb.stored) as kept, Image.open(cmyk.stored) as converted:
        assert kept.info.get("icc_profile") == srgb
        assert converted.mode == "RGB"
        assert "icc_profile" not in converted.info


def test_a_palette_png_with_transparency_is_stored_as_rgba() -> None:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 255, 255])
    out = io.BytesIO()
    image.save(out, format="PNG", transparency=1)

    result = _inspect(out.getvalue())

    with Image.open(result.stored) as stored:
        assert stored.mode == "RGBA"
        assert stored.getpixel((0, 0)) == (255, 255, 255, 0)


def test_a_photo_over_the_pixel_limit_is_refused_before_decoding() -> None:
    # 7,500 x 7,500 = 56 MP: above Cuspid's 50 MP, below Pillow's own bomb threshold.
    with pytest.raises(InvalidFile, match="megapixels"):
        _inspect(corpus.huge_png(side=7_500))


# --- documents --------------------------------------------------------------------------------


def test_a_pdf_is_stored_as_uploaded_with_its_page_count() -> None:
    data = corpus.valid_pdf(pages=3)

    result = _inspect(data)

    assert (result.kind, result.file_format, result.content_type) == (
        AttachmentKind.DOCUMENT,
        FileFormat.PDF,
        "application/pdf",
    )
    assert result.page_count == 3
    assert result.mesh is None
    assert _stored_bytes(result) == data
    assert result.sha256 == hashlib.sha256(data).hexdigest()


def test_a_pdf_too_large_to_check_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "large.pdf"
    path.write_bytes(corpus.valid_pdf().ljust(files.MAX_PDF_BYTES + 1, b" "))

    with path.open("rb") as upload, pytest.raises(InvalidFile, match="64 MB"):
        inspect_upload(upload, allowed=ALL)


def test_a_pdf_with_more_objects_than_the_check_visits_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(files, "PDF_MAX_OBJECTS", 3)

    with pytest.raises(InvalidFile, match="too complex"):
        _inspect(corpus.valid_pdf(pages=4))


# --- the bad corpus ---------------------------------------------------------------------------

MESSAGES = {
    "truncated_stl": "incomplete",
    "nan_stl": "not-a-number",
    "infinite_stl": "infinite",
    "zero_face_stl": "no triangles",
    "ten_metre_stl": "10,000 mm across",
    "metre_unit_stl": "exported in metres",
    "wrong_magic": "not supported",
    "text_file": "not supported",
    "empty_file": "empty",
    "zip_renamed_stl": "Archives",
    "gzip_stl": "Archives",
    "polyglot_png_zip": "Archives",
    "obj_bad_index": "could not be read",
    "ply_bad_index": "refer to points that are not in the file",
    "ply_point_cloud": "no triangles",
    "truncated_jpeg": "incomplete or damaged",
    "huge_png": "megapixels",
    "pdf_with_javascript": "JavaScript",
    "pdf_with_hidden_script": "JavaScript",
    "pdf_with_launch": "starts other programs",
    "pdf_with_attachment": "attached files",
    "encrypted_pdf": "encrypted",
    "pdf_without_pages": "no pages",
    "damaged_pdf": "could not be read",
}


def test_every_bad_file_has_a_status_and_a_message() -> None:
    assert set(corpus.BAD_CORPUS) == set(corpus.BAD_STATUS) == set(MESSAGES)


@pytest.mark.parametrize("name", sorted(corpus.BAD_CORPUS))
def test_a_bad_file_is_refused_with_a_clear_4xx(name: str) -> None:
    data = corpus.BAD_CORPUS[name]()

    with pytest.raises(CuspidError) as refused:
        _inspect(data)

    error = refused.value
    assert error.status == corpus.BAD_STATUS[name]
    assert isinstance(error, UnsupportedFile if error.status == 415 else InvalidFile)
    assert error.code == ("unsupported_file" if error.status == 415 else "invalid_file")
    assert MESSAGES[name] in error.detail
    assert corpus.PATIENT_NAME not in error.detail


def test_a_kind_not_accepted_here_is_refused_naming_what_is() -> None:
    with pytest.raises(UnsupportedFile) as refused:
        _inspect(corpus.valid_pdf(), allowed=SCANS)
    assert refused.value.status == 415
    assert refused.value.detail == (
        "This file is a PDF document, but only STL, PLY or OBJ scans are accepted here."
    )

    with pytest.raises(UnsupportedFile, match="only JPEG or PNG photos and PDF documents"):
        _inspect(
            corpus.valid_binary_stl(),
            allowed=frozenset({AttachmentKind.PHOTO, AttachmentKind.DOCUMENT}),
        )


def test_a_refused_kind_is_refused_before_it_is_checked() -> None:
    # A PDF with a script, offered where only photos go: the kind answers, not the script.
    with pytest.raises(UnsupportedFile):
        _inspect(corpus.pdf_with_javascript(), allowed=frozenset({AttachmentKind.PHOTO}))


def test_a_file_over_the_upload_limit_is_refused(settings: Settings) -> None:
    settings.CUSPID_MAX_UPLOAD_BYTES = 1_000

    with pytest.raises(UploadTooLarge) as refused:
        _inspect(corpus.valid_binary_stl())
    assert refused.value.status == 413


# --- hostile input never gets past as a 500 --------------------------------------------------


def _inspect_or_refusal(data: bytes) -> InspectedFile | CuspidError:
    """The inspection, or the deliberate refusal; anything else (a bug) propagates."""
    try:
        return _inspect(data)
    except CuspidError as error:
        return error


VALID = [
    corpus.valid_binary_stl(faces=64),
    corpus.valid_ascii_stl(faces=16),
    corpus.valid_ply(faces=32),
    corpus.valid_ply(faces=32, binary=False),
    corpus.valid_obj(faces=32),
    corpus.valid_jpeg_with_gps(),
    corpus.valid_png(),
    corpus.valid_pdf(pages=1),
]


@hypothesis_settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    original=st.sampled_from(VALID),
    cut=st.integers(min_value=0, max_value=1 << 20),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6),
)
def test_damaged_files_are_accepted_or_refused_with_a_4xx_never_an_error(
    original: bytes, cut: int, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(original[: max(1, len(original) - cut % len(original))])
    for position, value in flips:
        data[position % len(data)] = value
    outcome = _inspect_or_refusal(bytes(data))
    if isinstance(outcome, CuspidError):
        assert 400 <= outcome.status < 500
    else:
        assert outcome.kind in ALL
        assert outcome.size == len(_stored_bytes(outcome))


@hypothesis_settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_are_accepted_or_refused_with_a_4xx(data: bytes) -> None:
    outcome = _inspect_or_refusal(data)
    if isinstance(outcome, CuspidError):
        assert 400 <= outcome.status < 500
    else:
        assert outcome.kind in ALL
