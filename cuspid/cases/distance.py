"""Per-vertex distances from one mesh to another's surface: the colour map of a comparison.

Pure numpy / scipy (trimesh's format readers only): no Django, no database, no files.

**Vertex order.** The distances are one per vertex *in the order the browser's three.js
loaders produce them*, so the viewer can put them straight into a colour attribute:

- STL (binary and ASCII): non-indexed, three corners per facet in file order (``STLLoader``);
- PLY: the vertex element in file order (``PLYLoader`` keeps the faces as an index);
- OBJ: non-indexed, three corners per triangle, polygons fanned from their first corner
  ((0, 1, 2), (0, 2, 3), ...) in file order, objects one after the other (``OBJLoader``).

Meshes are read with nothing merged, reordered or repaired (trimesh's readers are called
directly, as ``process=False`` would: no resolver, so a hostile OBJ ``mtllib`` opens nothing).

**Distance.** For each vertex p of the compared mesh, the Euclidean distance to the closest
point of the baseline's triangles (point-to-triangle, not point-to-vertex). The search is a
k-d tree (``scipy.spatial.cKDTree``) over the triangles' centroids: the nearest centroids'
triangles are measured exactly (Ericson's closest point on a triangle), widening (8, then 32)
while a centroid not yet measured could still hold a closer triangle (a triangle whose
centroid is D away and whose corners lie within R of it is at least D - R away). Triangles
are grouped by size, each group with its own tree and R, so a few huge facets (a flat base,
an end cap) do not widen every point's search. The bound is loose (R is the group's largest
radius), so the search stops at ``MAX_CANDIDATES`` centroids per group and keeps the best
found: on generated arches 0.02 to 2 mm apart (200 000 triangles) that matched an exhaustive
search exactly; where it could differ, the result is too large by less than twice the
group's R (a fraction of a millimetre on a scan), never too small. Repeated vertices (a
non-indexed STL repeats each corner about six times) are measured once.

**Sign.** Positive where the vertex lies on the side the baseline's normals point to (outside
a closed surface wound outwards, the STL convention), negative inside. The side is judged
against the *angle-weighted pseudo-normal* of the closest feature (the face's normal inside
a face, the sum of the two faces' normals on an edge, the angle-weighted sum of the incident
faces' normals at a corner: Bærentzen and Aanæs, 2005), which decides the side correctly for
a closed, consistently wound surface even at sharp edges and corners. Corners of the
baseline are merged by exact coordinates to find which faces share an edge or a corner. On
an open surface (a crown's margin) the sign near the border follows the nearest face.

Units are those of the files: millimetres (``cuspid.cases.files`` refuses anything else).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree  # type: ignore[import-untyped]  # scipy ships no type information

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

#: The formats ``mesh_load`` reads: ``cuspid.cases.enums.FileFormat`` values.
STL_BINARY: Final = "stl_binary"
STL_ASCII: Final = "stl_ascii"
PLY: Final = "ply"
OBJ: Final = "obj"
MESH_FORMATS: Final = frozenset({STL_BINARY, STL_ASCII, PLY, OBJ})

#: Above this many triangles in either mesh a comparison is refused: memory grows by about
#: 0.5 kB per triangle of the baseline and per vertex of the compared mesh while computing.
MAX_TRIANGLES: Final = 2_000_000
#: How many nearest centroids a point may ask each triangle group for, at most.
MAX_CANDIDATES: Final = 32
# Nearest centroids asked for first; most points are decided by these.
_FIRST_CANDIDATES: Final = 8
# How much a point's search widens each time it is undecided.
_WIDENING: Final = 4
# Query points per pass, and point-triangle pairs per exact computation: bounds memory
# (about 0.5 kB per pair in temporaries).
_POINTS_PER_PASS: Final = 32_768
_PAIRS_PER_BATCH: Final = 1 << 20
# Groups of triangles by size: the first holds those up to twice the 90th percentile of the
# corner-to-centroid radius; each further group four times larger.
_GROUP_QUANTILE: Final = 0.9
_GROUP_GROWTH: Final = 4.0

# The closest feature of a triangle to a point (Ericson's regions).
FACE: Final = 0
CORNER_A, CORNER_B, CORNER_C = 1, 2, 3
EDGE_AB, EDGE_BC, EDGE_CA = 4, 5, 6

_STL_RECORD: Final = np.dtype(
    [("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")]
)


class MeshUnreadable(ValueError):
    """The mesh cannot be compared; ``code`` says why (stored on a failed comparison)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True, slots=True)
class LoadedMesh:
    """A mesh as the viewer loads it: ``vertices`` (n, 3) in loader order, and its surface as
    ``triangles`` (f, 3, 3) (corner coordinates, any order)."""

    vertices: Floats
    triangles: Floats


@dataclass(frozen=True, slots=True)
class DistanceStats:
    """The summary a legend shows: signed extremes and mean, and of the absolute distances
    the mean, the 95th percentile and the maximum. Millimetres."""

    vertex_count: int
    min: float
    max: float
    mean: float
    mean_abs: float
    p95_abs: float
    max_abs: float

    def as_json(self) -> dict[str, float | int]:
        """Plain numbers, rounded to a micrometre (what ``RevisionComparison.stats`` holds)."""
        return {
            "vertex_count": self.vertex_count,
            "min": round(self.min, 4),
            "max": round(self.max, 4),
            "mean": round(self.mean, 4),
            "mean_abs": round(self.mean_abs, 4),
            "p95_abs": round(self.p95_abs, 4),
            "max_abs": round(self.max_abs, 4),
        }


# --- reading ---------------------------------------------------------------------------------


def mesh_load(data: bytes, file_format: str) -> LoadedMesh:
    """Read a mesh file's bytes as the browser's loader would (see the module's docstring).

    Raises MeshUnreadable with code ``unsupported_format``, ``unreadable`` (the parser
    failed), ``no_triangles``, ``bad_indices``, ``not_finite`` or ``too_large``.
    """
    if file_format not in MESH_FORMATS:
        raise MeshUnreadable("unsupported_format")
    try:
        if file_format == STL_BINARY:
            vertices, faces = _stl_binary(data)
        elif file_format == OBJ:
            vertices, faces = _obj(data)
        else:
            vertices, faces = _with_trimesh(data, file_format)
    except MeshUnreadable:
        raise
    except Exception:  # noqa: BLE001 -- hostile input can make a parser raise anything; its message may quote the file
        raise MeshUnreadable("unreadable") from None
    if len(faces) == 0:
        raise MeshUnreadable("no_triangles")
    if len(faces) > MAX_TRIANGLES:
        raise MeshUnreadable("too_large")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshUnreadable("bad_indices")
    if not np.isfinite(vertices).all():
        raise MeshUnreadable("not_finite")
    return LoadedMesh(vertices=vertices, triangles=vertices[faces])


def _stl_binary(data: bytes) -> tuple[Floats, Ints]:
    if len(data) < 84:
        raise MeshUnreadable("unreadable")
    count = int(np.frombuffer(data, dtype="<u4", count=1, offset=80)[0])
    if len(data) < 84 + count * _STL_RECORD.itemsize:
        raise MeshUnreadable("unreadable")
    records = np.frombuffer(data, dtype=_STL_RECORD, count=count, offset=84)
    vertices = records["vertices"].reshape(-1, 3).astype(np.float64)
    return vertices, np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)


def _with_trimesh(data: bytes, file_format: str) -> tuple[Floats, Ints]:
    # trimesh (with networkx) takes a second to import: only processes that compare pay.
    from trimesh.exchange.ply import load_ply
    from trimesh.exchange.stl import load_stl_ascii

    source = io.BytesIO(data)
    loaded: Any = (
        load_stl_ascii(source)
        if file_format == STL_ASCII
        else load_ply(source, skip_materials=True, fix_texture=False)
    )
    vertices = np.asarray(loaded["vertices"], dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[-1] != 3:
        raise MeshUnreadable("unreadable")
    return vertices, _fanned(loaded.get("faces"))


def _fanned(faces: Any) -> Ints:
    """Triangles of faces given as an (f, n) array or as ragged polygons, fanned from their
    first corner."""
    if faces is None or len(faces) == 0:
        return np.zeros((0, 3), dtype=np.int64)
    polygons = [np.asarray(face, dtype=np.int64).ravel() for face in faces]
    triangles = [
        (polygon[0], polygon[j], polygon[j + 1])
        for polygon in polygons
        for j in range(1, len(polygon) - 1)
    ]
    return np.asarray(triangles, dtype=np.int64).reshape(-1, 3)


def _obj(data: bytes) -> tuple[Floats, Ints]:
    """OBJ as three.js's OBJLoader reads it: one vertex per corner of every fanned triangle."""
    positions: list[tuple[float, float, float]] = []
    corners: list[int] = []
    for raw in data.decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        if line.startswith("v "):
            values = line.split()
            positions.append((float(values[1]), float(values[2]), float(values[3])))
        elif line.startswith("f "):
            indices = [_obj_index(token, len(positions)) for token in line.split()[1:]]
            for j in range(1, len(indices) - 1):
                corners.extend((indices[0], indices[j], indices[j + 1]))
    table = np.asarray(positions, dtype=np.float64).reshape(-1, 3)
    index = np.asarray(corners, dtype=np.int64)
    if index.size and (index.min() < 0 or index.max() >= len(table)):
        raise MeshUnreadable("bad_indices")
    vertices = table[index]
    return vertices, np.arange(len(vertices), dtype=np.int64).reshape(-1, 3)


def _obj_index(token: str, count: int) -> int:
    value = int(token.split("/", 1)[0])
    # 1-based; negative counts back from the last vertex read so far.
    return value - 1 if value > 0 else count + value


def unique_rows(rows: NDArray[Any]) -> tuple[NDArray[Any], Ints]:
    """The distinct rows of a 2-D array (sorted), and for each row the index of its copy:
    ``unique[inverse]`` equals ``rows``. Compares values, so -0.0 and 0.0 are one."""
    order = np.lexsort(rows.T[::-1])
    ordered = rows[order]
    starts = np.ones(len(rows), dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    inverse = np.empty(len(rows), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], inverse


# --- the exact closest point on a triangle --------------------------------------------------


def _dot(x: Floats, y: Floats) -> Floats:
    products: Floats = np.einsum("ij,ij->i", x, y)
    return products


def _ratio(numerator: Floats, denominator: Floats) -> Floats:
    safe = np.where(denominator != 0, denominator, 1.0)
    return np.where(denominator != 0, numerator / safe, 0.0)


def closest_points(
    points: Floats, a: Floats, b: Floats, c: Floats
) -> tuple[Floats, NDArray[np.int8]]:
    """The closest point of triangle (a[i], b[i], c[i]) to points[i], and which feature of
    the triangle it lies on (``FACE``, ``CORNER_*``, ``EDGE_*``). Exact, degenerate
    triangles included (Ericson, *Real-Time Collision Detection*, 5.1.5)."""
    ab, ac = b - a, c - a
    ap, bp, cp = points - a, points - b, points - c
    d1, d2 = _dot(ab, ap), _dot(ac, ap)
    d3, d4 = _dot(ab, bp), _dot(ac, bp)
    d5, d6 = _dot(ab, cp), _dot(ac, cp)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    # Each region's test, in Ericson's order: the first that holds decides.
    regions = [
        (CORNER_A, (d1 <= 0) & (d2 <= 0)),
        (CORNER_B, (d3 >= 0) & (d4 <= d3)),
        (EDGE_AB, (vc <= 0) & (d1 >= 0) & (d3 <= 0)),
        (CORNER_C, (d6 >= 0) & (d5 <= d6)),
        (EDGE_CA, (vb <= 0) & (d2 >= 0) & (d6 <= 0)),
        (EDGE_BC, (va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0)),
    ]
    feature = np.full(len(points), FACE, dtype=np.int8)
    decided = np.zeros(len(points), dtype=bool)
    for code, holds in regions:
        chosen = holds & ~decided
        feature[chosen] = code
        decided |= chosen
    # Barycentric weights of b and c for every region at once.
    total = va + vb + vc
    v = _ratio(vb, total)
    w = _ratio(vc, total)
    on_ab = _ratio(d1, d1 - d3)
    on_ca = _ratio(d2, d2 - d6)
    on_bc = _ratio(d4 - d3, (d4 - d3) + (d5 - d6))
    v = np.select(
        [
            feature == CORNER_A,
            feature == CORNER_B,
            feature == CORNER_C,
            feature == EDGE_AB,
            feature == EDGE_CA,
            feature == EDGE_BC,
        ],
        [0.0, 1.0, 0.0, on_ab, 0.0, 1.0 - on_bc],
        v,
    )
    w = np.select(
        [
            feature == CORNER_A,
            feature == CORNER_B,
            feature == CORNER_C,
            feature == EDGE_AB,
            feature == EDGE_CA,
            feature == EDGE_BC,
        ],
        [0.0, 0.0, 1.0, 0.0, on_ca, on_bc],
        w,
    )
    return a + ab * v[:, None] + ac * w[:, None], feature


# --- the baseline surface --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Group:
    """Triangles of similar size: their ids, a tree of their centroids, their radii."""

    triangle_ids: Ints
    tree: cKDTree
    radii: Floats
    radius: float


class Surface:
    """A triangle surface prepared for closest-point queries (trees, pseudo-normals)."""

    def __init__(self, triangles: Floats) -> None:
        triangles = np.ascontiguousarray(triangles, dtype=np.float64).reshape(-1, 3, 3)
        if len(triangles) == 0:
            raise MeshUnreadable("no_triangles")
        self.triangles = triangles
        self.a = triangles[:, 0]
        self.b = triangles[:, 1]
        self.c = triangles[:, 2]
        centroids = triangles.mean(axis=1)
        radii = np.sqrt(((triangles - centroids[:, None, :]) ** 2).sum(axis=2)).max(axis=1)
        self.groups = list(_groups(centroids, radii))
        self._pseudo_normals()

    def _pseudo_normals(self) -> None:
        merged, corner_vertex = unique_rows(self.triangles.reshape(-1, 3))
        faces = corner_vertex.reshape(-1, 3)
        cross = np.cross(self.b - self.a, self.c - self.a)
        lengths = np.linalg.norm(cross, axis=1)
        normals = cross / np.where(lengths > 0, lengths, 1.0)[:, None]
        # Interior angle at each corner: the weight of the face's normal there.
        angles = np.empty((len(faces), 3))
        for k in range(3):
            here = self.triangles[:, k]
            one = self.triangles[:, (k + 1) % 3] - here
            two = self.triangles[:, (k + 2) % 3] - here
            cosine = _ratio(
                _dot(one, two), np.linalg.norm(one, axis=1) * np.linalg.norm(two, axis=1)
            )
            angles[:, k] = np.arccos(np.clip(cosine, -1.0, 1.0))
        vertex_normals = np.zeros((len(merged), 3))
        for k in range(3):
            np.add.at(vertex_normals, faces[:, k], normals * angles[:, k, None])
        # Edges AB, BC, CA of each face, as sorted vertex pairs, numbered.
        ends = np.stack([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]], axis=1)
        ends = np.sort(ends, axis=2).reshape(-1, 2)
        edges, edge_of = unique_rows(ends)
        edge_of = edge_of.reshape(-1, 3)
        edge_normals = np.zeros((len(edges), 3))
        for k in range(3):
            np.add.at(edge_normals, edge_of[:, k], normals)
        self.faces = faces
        self.face_normals = normals
        self.vertex_normals = vertex_normals
        self.edge_of = edge_of
        self.edge_normals = edge_normals

    def normal_at(self, triangle: Ints, feature: NDArray[np.int8]) -> Floats:
        """The pseudo-normal of each closest feature (not unit length; only its side counts)."""
        result = self.face_normals[triangle].copy()
        for k, code in enumerate((CORNER_A, CORNER_B, CORNER_C)):
            at = feature == code
            result[at] = self.vertex_normals[self.faces[triangle[at], k]]
        for k, code in enumerate((EDGE_AB, EDGE_BC, EDGE_CA)):
            at = feature == code
            result[at] = self.edge_normals[self.edge_of[triangle[at], k]]
        return result

    def distances(self, points: Floats, *, signed: bool = True) -> Floats:
        """The distance from each point to the surface (signed: see the module's docstring)."""
        points = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
        result = np.empty(len(points))
        for start in range(0, len(points), _POINTS_PER_PASS):
            chunk = points[start : start + _POINTS_PER_PASS]
            result[start : start + len(chunk)] = self._distances(chunk, signed)
        return result

    def _distances(self, points: Floats, signed: bool) -> Floats:
        best = np.full(len(points), np.inf)
        best_triangle = np.zeros(len(points), dtype=np.int64)
        for group in self.groups:
            self._search(group, points, best, best_triangle)
        distance: Floats = np.sqrt(best)
        if not signed:
            return distance
        closest, feature = closest_points(
            points, self.a[best_triangle], self.b[best_triangle], self.c[best_triangle]
        )
        side = _dot(points - closest, self.normal_at(best_triangle, feature))
        signed_distance: Floats = np.where(side < 0, -distance, distance)
        return signed_distance

    def _search(self, group: _Group, points: Floats, best: Floats, best_triangle: Ints) -> None:
        """Lower ``best`` (squared distances) with the group's triangles, widening each
        point's search until no further centroid can beat it."""
        size = len(group.triangle_ids)
        active = np.arange(len(points))
        asked = 0
        wanted = min(_FIRST_CANDIDATES, size)
        while active.size:
            ranks = list(range(asked + 1, wanted + 1))
            centre_distance, index = group.tree.query(points[active], k=ranks, workers=-1)
            centre_distance = centre_distance.reshape(len(active), -1)
            index = index.reshape(len(active), -1)
            # A triangle can beat the best only if its centroid distance minus its radius
            # does.
            hopeful = centre_distance - group.radii[index] < np.sqrt(best[active])[:, None]
            rows, cols = np.nonzero(hopeful)
            squared = np.full(index.shape, np.inf)
            for first in range(0, len(rows), _PAIRS_PER_BATCH):
                r = rows[first : first + _PAIRS_PER_BATCH]
                c = cols[first : first + _PAIRS_PER_BATCH]
                point = points[active[r]]
                corners = self.triangles[group.triangle_ids[index[r, c]]]
                closest, _feature = closest_points(
                    point, corners[:, 0], corners[:, 1], corners[:, 2]
                )
                squared[r, c] = ((point - closest) ** 2).sum(axis=1)
            nearest = squared.argmin(axis=1)
            candidate = squared[np.arange(len(active)), nearest]
            better = candidate < best[active]
            best[active[better]] = candidate[better]
            best_triangle[active[better]] = group.triangle_ids[index[better, nearest[better]]]
            if wanted >= min(size, MAX_CANDIDATES):
                return
            farthest = centre_distance[:, -1]
            # Undecided: a centroid not yet asked for might still hold a closer triangle
            # (never so for a point on the surface).
            reach = np.sqrt(best[active])
            undecided = (reach > 0) & (farthest - group.radius < reach)
            active = active[undecided]
            asked, wanted = wanted, min(wanted * _WIDENING, size, MAX_CANDIDATES)


def _groups(centroids: Floats, radii: Floats) -> Iterator[_Group]:
    limit = max(2.0 * float(np.quantile(radii, _GROUP_QUANTILE)), 1e-9)
    level = np.zeros(len(radii), dtype=np.int64)
    large = radii > limit
    level[large] = np.ceil(np.log(radii[large] / limit) / np.log(_GROUP_GROWTH)).astype(np.int64)
    for value in np.unique(level):
        ids = np.flatnonzero(level == value)
        yield _Group(
            triangle_ids=ids,
            tree=cKDTree(centroids[ids]),
            radii=radii[ids],
            radius=float(radii[ids].max()),
        )


# --- the comparison --------------------------------------------------------------------------


def vertex_distances(points: Floats, triangles: Floats, *, signed: bool = True) -> Floats:
    """The distance from each point to the closest point of the triangles, in their units.

    Points that repeat (a non-indexed STL repeats each corner about six times) are computed
    once. Raises MeshUnreadable(``no_triangles``) without triangles.
    """
    points = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    unique, inverse = unique_rows(points)
    return Surface(triangles).distances(unique, signed=signed)[inverse]


def distance_stats(distances: Floats) -> DistanceStats:
    """Summary of a distance map (at least one value)."""
    values = np.asarray(distances, dtype=np.float64)
    magnitude = np.abs(values)
    return DistanceStats(
        vertex_count=int(values.size),
        min=float(values.min()),
        max=float(values.max()),
        mean=float(values.mean()),
        mean_abs=float(magnitude.mean()),
        p95_abs=float(np.percentile(magnitude, 95)),
        max_abs=float(magnitude.max()),
    )


def distances_bytes(distances: Floats) -> bytes:
    """The stored form: little-endian float32, one per vertex, in loader order."""
    return np.asarray(distances, dtype="<f4").tobytes()


def mesh_distances(mesh: LoadedMesh, baseline: LoadedMesh) -> tuple[bytes, DistanceStats]:
    """Signed distances from each of ``mesh``'s vertices (loader order) to ``baseline``'s
    surface, as stored bytes, with their summary."""
    distances = vertex_distances(mesh.vertices, baseline.triangles, signed=True)
    return distances_bytes(distances), distance_stats(distances)
