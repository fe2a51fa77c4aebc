"""Triangle meshes in millimetres, and reading and writing them as STL, PLY and OBJ.

The format of an input is detected from its content, never from a file name: a binary STL
is 84 + 50 * n bytes with n in its header, an ASCII STL starts with ``solid`` and has
``facet``/``vertex`` records, a PLY starts with ``ply``, and an OBJ has ``v`` and ``f`` lines.

Vertex order is part of the contract, because labels are written one per input vertex:

* PLY and OBJ keep the file's vertices exactly, in the file's order: nothing is merged,
  dropped or reordered (polygons are fanned into triangles; texture and normal indices of
  OBJ faces are ignored).
* STL has no shared vertices, only triangle corners. Identical corners (bit-equal
  coordinates) are merged into one vertex, numbered **in order of first appearance** in the
  file (see ``stl_vertex_order``). Labels for an STL are therefore one per merged vertex.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

STL_RECORD: Final = np.dtype(
    [("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")]
)
"""One facet of a binary STL: normal, three corners, attribute byte count (50 bytes)."""

_STL_HEADER: Final = b"Cuspid design engine - binary STL".ljust(80)


class UnreadableMesh(ValueError):
    """The input is not a mesh this engine can read; the message says why."""


@dataclass(frozen=True, slots=True)
class Mesh:
    """An indexed triangle mesh: vertices (N, 3) float64 in millimetres, faces (M, 3) int64.

    Construction converts the arrays to float64 / int64 and checks their shapes (ValueError
    otherwise); it does not check that indices are in range or coordinates finite: ``check``
    does, and every reader calls it.
    """

    vertices: NDArray[np.float64]
    faces: NDArray[np.int64]

    def __post_init__(self) -> None:
        vertices = np.ascontiguousarray(self.vertices, dtype=np.float64)
        faces = np.ascontiguousarray(self.faces, dtype=np.int64)
        if vertices.ndim != 2 or vertices.shape[1] != 3:
            raise ValueError(f"vertices must have shape (N, 3), not {vertices.shape}")
        if faces.size == 0:
            faces = faces.reshape(0, 3)
        if faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces must have shape (M, 3), not {faces.shape}")
        object.__setattr__(self, "vertices", vertices)
        object.__setattr__(self, "faces", faces)

    @classmethod
    def of(cls, vertices: ArrayLike, faces: ArrayLike) -> Mesh:
        """A Mesh from any array-likes (lists, float32, int32 ...), converted as above."""
        return cls(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64))

    @property
    def vertex_count(self) -> int:
        """The number of vertices."""
        return int(self.vertices.shape[0])

    @property
    def face_count(self) -> int:
        """The number of triangles."""
        return int(self.faces.shape[0])

    def check(self) -> Mesh:
        """Return self if it is a usable mesh.

        Raises UnreadableMesh when there are no vertices or no faces, a coordinate is not
        finite, or a face index is outside 0..N-1.
        """
        if self.vertex_count == 0:
            raise UnreadableMesh("the mesh has no vertices")
        if self.face_count == 0:
            raise UnreadableMesh("the mesh has no faces")
        if not np.isfinite(self.vertices).all():
            raise UnreadableMesh("the mesh has non-finite vertex coordinates (NaN or infinity)")
        if self.faces.min() < 0 or self.faces.max() >= self.vertex_count:
            raise UnreadableMesh(
                f"a face index is out of range: indices must be 0..{self.vertex_count - 1}, "
                f"found {int(self.faces.min())}..{int(self.faces.max())}"
            )
        return self


def stl_vertex_order(
    corners: NDArray[np.floating],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Merge identical triangle corners (T, 3, 3) into vertices, in order of first appearance.

    Returns (vertices (N, 3), faces (T, 3)): vertex k is the k-th distinct corner met when
    reading the triangles in order, corners 0, 1, 2 of each. Corners are identical when their
    coordinates are bit-equal (as stored in the file); no tolerance is applied here.
    """
    flat = np.ascontiguousarray(corners, dtype=np.float64).reshape(-1, 3)
    if flat.shape[0] == 0:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    flat = flat + 0.0  # -0.0 and 0.0 are the same point
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # unique rows by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    faces = rank[inverse.reshape(-1)].reshape(-1, 3).astype(np.int64)
    return flat[first[order]], faces


def _read_binary_stl(data: bytes) -> Mesh:
    count = struct.unpack_from("<I", data, 80)[0]
    records = np.frombuffer(data, dtype=STL_RECORD, count=count, offset=84)
    vertices, faces = stl_vertex_order(records["vertices"])
    return Mesh(vertices, faces)


def _read_ascii_stl(text: str) -> Mesh:
    tokens = text.split()
    starts = [i for i, token in enumerate(tokens) if token.lower() == "vertex"]
    if len(starts) % 3:
        raise UnreadableMesh("the ASCII STL is truncated: a facet does not have three vertices")
    try:
        coords = np.array([tokens[i + 1 : i + 4] for i in starts], dtype=np.float64)
    except ValueError as error:
        raise UnreadableMesh(f"the ASCII STL has a malformed vertex: {error}") from None
    if coords.size and coords.shape[1:] != (3,):
        raise UnreadableMesh("the ASCII STL is truncated: a vertex has fewer than 3 coordinates")
    vertices, faces = stl_vertex_order(coords.reshape(-1, 3, 3))
    return Mesh(vertices, faces)


def _obj_index(token: str, count: int, line: int) -> int:
    try:
        index = int(token.split("/", 1)[0])
    except ValueError:
        raise UnreadableMesh(f"OBJ line {line}: malformed face index {token!r}") from None
    if index < 0:
        index += count  # -1 is the last vertex defined so far
    else:
        index -= 1
    if not 0 <= index < count:
        raise UnreadableMesh(f"OBJ line {line}: face index {token!r} is out of range")
    return index


def _read_obj(text: str) -> Mesh:
    vertices: list[list[str]] = []
    faces: list[tuple[int, int, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        parts = raw.split()
        if not parts:
            continue
        if parts[0] == "v":
            if len(parts) < 4:
                raise UnreadableMesh(f"OBJ line {number}: a vertex needs three coordinates")
            vertices.append(parts[1:4])
        elif parts[0] == "f":
            if len(parts) < 4:
                raise UnreadableMesh(f"OBJ line {number}: a face needs at least three vertices")
            corners = [_obj_index(token, len(vertices), number) for token in parts[1:]]
            faces.extend(
                (corners[0], corners[k], corners[k + 1]) for k in range(1, len(corners) - 1)
            )
    try:
        coords = np.array(vertices, dtype=np.float64).reshape(-1, 3)
    except ValueError as error:
        raise UnreadableMesh(f"the OBJ has a malformed vertex: {error}") from None
    return Mesh(coords, np.array(faces, dtype=np.int64).reshape(-1, 3))


def _read_ply(data: bytes) -> Mesh:
    import trimesh

    try:
        loaded = trimesh.load(
            io.BytesIO(data), file_type="ply", process=False, validate=False, force="mesh"
        )
        # A PLY without faces loads as a point cloud: no ``faces``, which check() reports.
        vertices = np.asarray(getattr(loaded, "vertices", np.zeros((0, 3))), dtype=np.float64)
        faces = np.asarray(getattr(loaded, "faces", np.zeros((0, 3))), dtype=np.int64)
    except Exception as error:  # noqa: BLE001  # trimesh raises anything, struct.error to KeyError
        raise UnreadableMesh(f"the PLY cannot be read: {error or type(error).__name__}") from None
    return Mesh(vertices.reshape(-1, 3), faces.reshape(-1, 3))


def _looks_like_ascii_stl(data: bytes) -> bool:
    head = data[:1024].lstrip().lower()
    return head.startswith(b"solid") and (b"facet" in head or b"endsolid" in head)


_OBJ_KEYWORDS: Final = frozenset(
    {"v", "vt", "vn", "vp", "f", "l", "p", "g", "o", "s", "usemtl", "mtllib", "cstype", "deg"}
)


def _looks_like_obj(data: bytes) -> bool:
    """True when the first 64 kB are lines of OBJ statements (or comments), with a vertex."""
    head = data[:65536]
    if len(data) > len(head):
        head = head[: head.rfind(b"\n") + 1]  # the last line may be cut short
    text = head.decode("utf-8", errors="replace")
    keys = {line.split(maxsplit=1)[0] for line in text.splitlines() if line.strip()}
    statements = {key for key in keys if not key.startswith("#")}
    return "v" in statements and statements <= _OBJ_KEYWORDS


def detect_format(data: bytes) -> str:
    """Name the format of mesh bytes: "stl-binary", "stl-ascii", "ply" or "obj".

    Raises UnreadableMesh when the bytes are empty, a truncated binary STL, or none of these.
    """
    if not data.strip():
        raise UnreadableMesh("the file is empty")
    if data[:3] == b"ply" and data[3:4] in (b"\n", b"\r"):
        return "ply"
    if len(data) >= 84:
        count = struct.unpack_from("<I", data, 80)[0]
        if len(data) == 84 + 50 * count:
            return "stl-binary"
    if _looks_like_ascii_stl(data):
        return "stl-ascii"
    if _looks_like_obj(data):
        return "obj"
    if len(data) >= 84 and not data[:5].lower().startswith(b"solid"):
        count = struct.unpack_from("<I", data, 80)[0]
        if 84 + 50 * count > len(data) and b"\0" in data[: 84 + 50]:
            raise UnreadableMesh(
                f"the binary STL is truncated: its header announces {count} facets "
                f"({84 + 50 * count} bytes) but the file has {len(data)} bytes"
            )
    raise UnreadableMesh("unknown mesh format: expected STL (binary or ASCII), PLY or OBJ")


def read_mesh(source: Path | bytes, *, name: str = "") -> Mesh:
    """Read a binary or ASCII STL, an ASCII or binary PLY, or an OBJ, detected by content.

    Guarantees a checked Mesh (finite coordinates, at least one face, indices in range);
    PLY and OBJ keep the file's vertex order, STL corners are merged in order of first
    appearance (module docstring). ``name`` (e.g. the uploaded file's name) only prefixes
    error messages. Raises UnreadableMesh for an empty, truncated, malformed or unknown
    input, non-finite coordinates, no faces, or a face index out of range; OSError when a
    path cannot be read.
    """
    data = source.read_bytes() if isinstance(source, Path) else bytes(source)
    try:
        kind = detect_format(data)
        if kind == "stl-binary":
            mesh = _read_binary_stl(data)
        elif kind == "ply":
            mesh = _read_ply(data)
        else:
            text = data.decode("utf-8", errors="replace")
            mesh = _read_ascii_stl(text) if kind == "stl-ascii" else _read_obj(text)
        return mesh.check()
    except UnreadableMesh as error:
        if name:
            raise UnreadableMesh(f"{name}: {error}") from None
        raise


def stl_bytes(mesh: Mesh) -> bytes:
    """Encode a mesh as a binary STL (float32 corners, unit normals, zero for degenerate)."""
    corners = mesh.vertices[mesh.faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, lengths, out=np.zeros_like(normals), where=lengths > 0)
    records = np.zeros(mesh.face_count, dtype=STL_RECORD)
    records["normal"] = normals
    records["vertices"] = corners
    return _STL_HEADER + struct.pack("<I", mesh.face_count) + records.tobytes()


def write_stl(mesh: Mesh, path: Path) -> None:
    """Write a mesh to path as a binary STL (see stl_bytes). Raises OSError on I/O failure."""
    path.write_bytes(stl_bytes(mesh))


def ply_bytes(mesh: Mesh) -> bytes:
    """Encode a mesh as a binary little-endian PLY with double coordinates, order kept."""
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment Cuspid design engine\n"
        f"element vertex {mesh.vertex_count}\n"
        "property double x\nproperty double y\nproperty double z\n"
        f"element face {mesh.face_count}\n"
        "property list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    face_dtype = np.dtype([("count", "u1"), ("indices", "<i4", (3,))])
    faces = np.zeros(mesh.face_count, dtype=face_dtype)
    faces["count"] = 3
    faces["indices"] = mesh.faces
    return header + mesh.vertices.astype("<f8").tobytes() + faces.tobytes()


def write_ply(mesh: Mesh, path: Path) -> None:
    """Write a mesh to path as a binary PLY (see ply_bytes). Raises OSError on I/O failure."""
    path.write_bytes(ply_bytes(mesh))
