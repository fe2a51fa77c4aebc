"""The measured quality of a crown proposal: the numbers a designer checks first.

``crown_report`` measures any crown mesh against its surroundings, independent of how the
crown was made: the margin line's length, the proximal contact to each neighbour, the
occlusal contact to the antagonist, the occlusal clearance, the minimum wall thickness over
the preparation, the volume and watertightness, and raises a warning with a stable code for
each number outside its clinical range (``ReportLimits``; the defaults are configurable, not
clinical law).

The two occlusal numbers are what a designer means by them. The **occlusal contact** is the
signed gap from the crown to the antagonist: a crown is designed in light contact with its
antagonist (0-0.2 mm by default), since a crown out of occlusion lets the opposing tooth
drift into the space and one pressing into it takes the bite. The **occlusal clearance** is
the room between the *preparation* and the antagonist, the occlusal thickness left for the
material (at least 1.0 mm for zirconia): too little is a reduction problem of the
preparation, which no crown design fixes.

Distances (point to surface, in millimetres) are computed without a spatial index library:

1. The target surface is sampled on a regular barycentric grid per triangle, fine enough that
   no sub-triangle edge is longer than ``resolution_mm`` (default 0.1 mm); the corners of
   every triangle are samples, so every vertex is one. Every point of the surface therefore
   lies within ``resolution_mm`` of a sample. The samples go into a scipy ``cKDTree``.
2. A query point takes its ``CANDIDATES`` nearest samples; the triangles they belong to are
   the candidates, and the exact point-to-triangle distance to each is computed (closest
   point on a triangle, Ericson's region test). The smallest is the answer.

The answer is the distance to an actual surface point, so it is never below the true
distance, and it is at most the distance to the nearest sample, so never more than
``resolution_mm`` above it; in practice it is exact, because the closest triangle is among
the candidates. The minimum distance between two surfaces is taken in both directions (the
grid samples of each surface against the other), so a vertex of either touching a face of
the other is found exactly and an edge crossing an edge within ``resolution_mm``.

Penetration (a negative contact, occlusal contact or clearance) is detected with the
generalised winding number: points of the other mesh inside the crown (when the crown is
watertight), and crown vertices inside the other mesh (when that one is watertight). The
value is minus the largest depth of such a point below the surface it is inside.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree  # type: ignore[import-untyped]  # scipy ships no type stubs

from cuspid.design.mesh import Mesh
from cuspid.design.repair import face_components

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

DEFAULT_RESOLUTION_MM: Final = 0.1
"""The default sampling resolution of surfaces (see the module docstring)."""
MAX_SAMPLES: Final = 400_000
"""At most this many samples per surface: a larger surface is sampled more coarsely."""
CANDIDATES: Final = 12
"""Nearest samples whose triangles are tested exactly for each query point."""
CROP_PAD_MM: Final = 5.0
"""Another mesh is first cropped to the crown's bounding box grown by this much; if nothing
lies that close, the whole mesh is used."""
_PROBES: Final = 2_000
"""Points probed first by ``_Surface.min_distance`` to bound its search radius."""
_CELL_MM: Final = 0.5
"""Cube size by which ``_Surface.min_distance`` discards far points before querying them."""
_FACING_COSINE: Final = 0.5
"""A crown face this parallel to the nearest preparation surface is outer (see
``_wall_thickness``)."""
_SMOOTHING_MM: Final = 0.6
"""The preparation's face normals are averaged over this radius (``_wall_thickness``)."""
_SMOOTHING_ROUNDS: Final = 2
"""The crown's face normals are averaged over this many vertex rings (``_wall_thickness``)."""
_TOUCHING_MM: Final = 0.01
"""Closer than this to the preparation, the direction to it does not classify a face."""
_WINDING_BLOCK: Final = 500_000
"""Point x triangle pairs evaluated at once by the winding number (memory bound)."""

DEFAULT_CLEARANCE_MM: Final[Mapping[str, float]] = MappingProxyType(
    {
        "zirconia": 1.0,
        "lithium_disilicate": 1.5,
        "pfm": 1.5,
        "gold": 0.5,
        "pmma": 1.0,
        "composite": 1.5,
        "other": 1.0,
    }
)
"""Default minimum occlusal clearance (the room between the preparation and the antagonist,
the material's occlusal thickness) per material, in mm (configurable in ReportLimits)."""


class WarningCode(StrEnum):
    """Stable codes of report warnings (part of the JSON contract)."""

    ContactOpen = "contact_open"
    ContactTight = "contact_tight"
    OcclusionOpen = "occlusion_open"
    OcclusionHeavy = "occlusion_heavy"
    ClearanceLow = "clearance_low"
    WallThin = "wall_thin"
    NotWatertight = "not_watertight"


@dataclass(frozen=True, slots=True)
class ReportLimits:
    """The clinical ranges the report checks; every field is configurable.

    Defaults: proximal contacts 0-0.1 mm (above: open contact, below 0: too tight), occlusal
    contact with the antagonist 0-0.2 mm (above: out of occlusion, below 0: pressing into
    it), occlusal clearance from the preparation to the antagonist per material
    (``DEFAULT_CLEARANCE_MM``), walls at least 0.8 mm. The wall is not measured within
    ``wall_margin_exclusion_mm`` of the margin line, where every crown thins out to its
    margin.
    """

    contact_min_mm: float = 0.0
    contact_max_mm: float = 0.1
    occlusal_contact_min_mm: float = 0.0
    occlusal_contact_max_mm: float = 0.2
    clearance_mm: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CLEARANCE_MM))
    wall_min_mm: float = 0.8
    wall_margin_exclusion_mm: float = 1.0

    def clearance_for(self, material: str) -> float:
        """The minimum occlusal clearance for ``material`` (case-insensitive).

        Raises ValueError for a material not in ``clearance_mm``.
        """
        key = material.strip().lower()
        if key not in self.clearance_mm:
            known = ", ".join(sorted(self.clearance_mm))
            raise ValueError(f"unknown crown material {material!r}; known: {known}")
        return float(self.clearance_mm[key])


DEFAULT_LIMITS: Final = ReportLimits()


@dataclass(frozen=True, slots=True)
class ReportWarning:
    """One number outside its range: a stable code, the measured value and the limit.

    ``neighbour`` is the index of the neighbour for contact warnings, None otherwise.
    """

    code: WarningCode
    value: float
    limit: float
    message: str
    neighbour: int | None = None


@dataclass(frozen=True, slots=True)
class CrownReport:
    """The measured quality of one crown proposal; lengths in mm, volume in mm^3.

    ``contacts_mm`` has one entry per neighbour, in the order given (negative: the surfaces
    overlap by that much). ``occlusal_contact_mm`` is the signed minimum gap from the crown
    to the antagonist (negative: the crown penetrates it), None without an antagonist.
    ``occlusal_clearance_mm`` is the minimum distance from the preparation to the antagonist
    (the room for the material), None without an antagonist or without a preparation (a
    pontic). ``min_wall_thickness_mm`` is None without a preparation (or when no outer crown
    surface is measured), ``volume_mm3`` None unless the crown is watertight.
    """

    material: str
    margin_length_mm: float
    contacts_mm: list[float]
    occlusal_clearance_mm: float | None
    min_wall_thickness_mm: float | None
    volume_mm3: float | None
    watertight: bool
    warnings: list[ReportWarning]
    resolution_mm: float
    occlusal_contact_mm: float | None = None

    @property
    def warning_codes(self) -> list[str]:
        """The codes of the warnings, in report order."""
        return [str(warning.code) for warning in self.warnings]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: floats rounded to 3 decimals, warning codes as strings."""
        return {key: _rounded(value) for key, value in asdict(self).items()}

    def to_json(self) -> str:
        """The report as JSON with sorted keys and floats rounded to 3 decimals."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrownReport:
        """The report from ``to_dict`` output. Raises KeyError / ValueError on bad input.

        Reports stored before ``occlusal_contact_mm`` existed read back with it None (their
        ``occlusal_clearance_mm`` was then measured from the crown, not the preparation).
        """
        warnings = [
            ReportWarning(
                code=WarningCode(item["code"]),
                value=float(item["value"]),
                limit=float(item["limit"]),
                message=str(item["message"]),
                neighbour=None if item.get("neighbour") is None else int(item["neighbour"]),
            )
            for item in data["warnings"]
        ]
        return cls(
            material=str(data["material"]),
            margin_length_mm=float(data["margin_length_mm"]),
            contacts_mm=[float(value) for value in data["contacts_mm"]],
            occlusal_clearance_mm=_optional_float(data["occlusal_clearance_mm"]),
            min_wall_thickness_mm=_optional_float(data["min_wall_thickness_mm"]),
            volume_mm3=_optional_float(data["volume_mm3"]),
            watertight=bool(data["watertight"]),
            warnings=warnings,
            resolution_mm=float(data["resolution_mm"]),
            occlusal_contact_mm=_optional_float(data.get("occlusal_contact_mm")),
        )

    @classmethod
    def from_json(cls, text: str) -> CrownReport:
        """The report from ``to_json`` output. Raises ValueError / KeyError on bad input."""
        return cls.from_dict(json.loads(text))


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]  # JSON number


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 3) + 0.0  # + 0.0: no "-0.0" in the JSON
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


# --- geometry -------------------------------------------------------------------------------


def margin_length(margin: ArrayLike) -> float:
    """The length in mm of a closed polyline (K, 3), including the segment back to the start.

    Raises ValueError unless the polyline has shape (K, 3) with K >= 2 and finite coordinates.
    """
    points = np.asarray(margin, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] < 2:
        raise ValueError(f"the margin must be a (K, 3) polyline with K >= 2, not {points.shape}")
    if not np.isfinite(points).all():
        raise ValueError("the margin has non-finite coordinates")
    return float(np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1).sum())


def _edge_keys(faces: IntArray) -> tuple[IntArray, IntArray]:
    half = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    base = int(faces.max()) + 1 if faces.size else 1
    directed = half[:, 0] * base + half[:, 1]
    ordered = np.sort(half, axis=1)
    return directed, ordered[:, 0] * base + ordered[:, 1]


def open_edge_count(mesh: Mesh) -> int:
    """Edges of ``mesh`` not shared by exactly two faces with opposite directions.

    Zero exactly when the mesh is watertight with consistent winding (trimesh's
    ``is_watertight`` and ``is_winding_consistent``); a mesh without faces counts 1.
    """
    if mesh.face_count == 0:
        return 1
    directed, undirected = _edge_keys(mesh.faces)
    _, per_edge = np.unique(undirected, return_counts=True)
    _, per_half = np.unique(directed, return_counts=True)
    # Every undirected edge used twice, and no directed half-edge used twice.
    return int((per_edge != 2).sum() + (per_half > 1).sum())


def signed_volume(mesh: Mesh) -> float:
    """The signed enclosed volume (mm^3) by the divergence theorem; positive when the faces
    wind counter-clockwise seen from outside. Meaningful only for a watertight mesh."""
    corners = mesh.vertices[mesh.faces]
    return float(
        np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6.0
    )


def _closest_on_triangles(
    points: FloatArray, a: FloatArray, b: FloatArray, c: FloatArray
) -> FloatArray:
    """The closest point on triangle (a, b, c) to each point, all (P, 3) (Ericson, 5.1.5)."""

    def dot(u: FloatArray, v: FloatArray) -> FloatArray:
        return np.asarray(np.einsum("ij,ij->i", u, v), dtype=np.float64)

    ab, ac = b - a, c - a
    ap, bp, cp = points - a, points - b, points - c
    d1, d2 = dot(ab, ap), dot(ac, ap)
    d3, d4 = dot(ab, bp), dot(ac, bp)
    d5, d6 = dot(ab, cp), dot(ac, cp)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        total = va + vb + vc
        result = a + ab * (vb / total)[:, None] + ac * (vc / total)[:, None]
        bc_w = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        ac_w = d2 / (d2 - d6)
        ab_v = d1 / (d1 - d3)
    # Ericson's early returns, applied from the last to the first so the first wins.
    regions = [
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), b + (c - b) * bc_w[:, None]),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), a + ac * ac_w[:, None]),
        ((d6 >= 0) & (d5 <= d6), c),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), a + ab * ab_v[:, None]),
        ((d3 >= 0) & (d4 <= d3), b),
        ((d1 <= 0) & (d2 <= 0), a),
    ]
    for mask, value in regions:
        result = np.where(mask[:, None], value, result)
    return np.asarray(result, dtype=np.float64)


def _grid_samples(corners: FloatArray, resolution: float) -> tuple[FloatArray, IntArray, float]:
    """Barycentric grid samples per triangle with sub-edges <= resolution, their faces, and
    the resolution reached (coarser than asked when ``MAX_SAMPLES`` would be exceeded)."""
    edges = np.stack(
        [
            np.linalg.norm(corners[:, 1] - corners[:, 0], axis=1),
            np.linalg.norm(corners[:, 2] - corners[:, 1], axis=1),
            np.linalg.norm(corners[:, 0] - corners[:, 2], axis=1),
        ],
        axis=1,
    ).max(axis=1)
    while True:
        steps = np.maximum(np.ceil(edges / resolution), 1).astype(np.int64)
        total = int(((steps + 1) * (steps + 2) // 2).sum())
        if total <= MAX_SAMPLES or steps.max() == 1:
            break
        resolution *= math.sqrt(total / MAX_SAMPLES) * 1.05
    points: list[FloatArray] = []
    owners: list[IntArray] = []
    for n in np.unique(steps).tolist():
        chosen = np.flatnonzero(steps == n)
        i, j = np.meshgrid(np.arange(n + 1), np.arange(n + 1), indexing="ij")
        keep = i + j <= n
        u, v = i[keep] / n, j[keep] / n
        weights = np.stack([1.0 - u - v, u, v], axis=1)  # (G, 3)
        grid = np.einsum("gk,fkd->fgd", weights, corners[chosen])  # (F, G, 3)
        points.append(grid.reshape(-1, 3))
        owners.append(np.repeat(chosen, len(weights)))
    reached = float((edges / steps).max()) if len(edges) else resolution
    return np.concatenate(points), np.concatenate(owners).astype(np.int64), reached


class _Surface:
    """A triangle set with exact point-to-surface distances (see the module docstring)."""

    def __init__(self, vertices: FloatArray, faces: IntArray, resolution: float) -> None:
        self.vertices = vertices
        self.faces = faces
        self.corners = vertices[faces]
        self.samples, self.owners, self.resolution = _grid_samples(self.corners, resolution)
        self.tree = cKDTree(self.samples)
        self.low = vertices[np.unique(faces)].min(axis=0)
        self.high = vertices[np.unique(faces)].max(axis=0)

    def distance(self, points: FloatArray) -> FloatArray:
        """The distance (mm) of each point to this surface."""
        return self.closest(points)[0]

    def closest(self, points: FloatArray) -> tuple[FloatArray, IntArray]:
        """The distance (mm) of each point to this surface and the index (into ``faces``)
        of the triangle the closest surface point lies on."""
        if len(points) == 0:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        k = min(CANDIDATES, len(self.samples))
        _, index = self.tree.query(points, k=k, workers=-1)
        candidates = self.owners[np.asarray(index).reshape(len(points), k)]  # (P, k)
        # Neighbouring samples mostly share a triangle: test each (point, triangle) once.
        pairs = np.unique(np.arange(len(points))[:, None] * len(self.faces) + candidates)
        point, face = np.divmod(pairs, len(self.faces))
        corners = self.corners[face]
        closest = _closest_on_triangles(points[point], corners[:, 0], corners[:, 1], corners[:, 2])
        lengths = np.linalg.norm(points[point] - closest, axis=1)
        lengths = np.where(np.isfinite(lengths), lengths, np.inf)
        # Sort by point, then by length: the first pair of each point is its closest.
        order = np.lexsort((lengths, point))
        first = order[np.unique(point[order], return_index=True)[1]]
        result = np.full(len(points), np.inf)
        owner = np.zeros(len(points), dtype=np.int64)
        result[point[first]] = lengths[first]
        owner[point[first]] = face[first]
        return np.asarray(result, dtype=np.float64), np.asarray(owner, dtype=np.int64)

    def min_distance(self, points: FloatArray) -> float:
        """The smallest distance (mm) of any of the points to this surface (inf for none).

        Only points whose nearest sample is close enough to possibly be the closest are
        measured exactly: a point's true distance is at least its sample distance minus
        the sampling resolution.
        """
        if len(points) == 0:
            return math.inf
        # A sparse probe bounds the smallest sample distance from above; the full query then
        # only looks that far (an unbounded query of far points is what makes a kd-tree
        # slow). Every point within bound + resolution is still found, so the result is the
        # same as querying everything.
        probe, _ = self.tree.query(points[:: max(1, len(points) // _PROBES)], k=1, workers=-1)
        limit = float(np.min(probe)) + self.resolution
        # Points are bucketed in cubes of _CELL_MM; a cube whose centre is farther than the
        # limit plus its half-diagonal holds no point within the limit (triangle inequality).
        cell = np.floor(points / _CELL_MM).astype(np.int64)
        cell -= cell.min(axis=0)
        span = cell.max(axis=0) + 1
        keys, inverse = np.unique(
            (cell[:, 0] * span[1] + cell[:, 1]) * span[2] + cell[:, 2], return_inverse=True
        )
        first = np.zeros(len(keys), dtype=np.int64)
        first[inverse.reshape(-1)] = np.arange(len(points))
        origin = np.floor(points.min(axis=0) / _CELL_MM)
        centre_distance, _ = self.tree.query(
            (origin + cell[first] + 0.5) * _CELL_MM,
            k=1,
            distance_upper_bound=limit + _CELL_MM * math.sqrt(3.0) / 2.0 + 1e-9,
            workers=-1,
        )
        chosen = np.flatnonzero(np.isfinite(centre_distance)[inverse.reshape(-1)])
        sampled = np.full(len(points), np.inf)
        sampled[chosen], _ = self.tree.query(
            points[chosen], k=1, distance_upper_bound=limit + 1e-9 * (1.0 + limit), workers=-1
        )
        bound = float(self.distance(points[[int(np.argmin(sampled))]])[0])
        near = points[sampled <= bound + self.resolution]
        return min(bound, float(self.distance(near).min()))

    def contains(self, points: FloatArray) -> NDArray[np.bool_]:
        """Whether each point is inside (generalised winding number > 1/2); meaningful for a
        watertight, outward-wound surface."""
        inside = np.zeros(len(points), dtype=bool)
        box = np.all((points >= self.low) & (points <= self.high), axis=1)
        chosen = np.flatnonzero(box)
        block = max(1, _WINDING_BLOCK // max(1, len(self.faces)))
        for start in range(0, len(chosen), block):
            part = chosen[start : start + block]
            rel = self.corners[None, :, :, :] - points[part][:, None, None, :]  # (P, M, 3, 3)
            a, b, c = rel[:, :, 0], rel[:, :, 1], rel[:, :, 2]
            la, lb, lc = (np.linalg.norm(x, axis=2) for x in (a, b, c))
            det = np.einsum("pmi,pmi->pm", a, np.cross(b, c))
            den = (
                la * lb * lc
                + np.einsum("pmi,pmi->pm", a, b) * lc
                + np.einsum("pmi,pmi->pm", b, c) * la
                + np.einsum("pmi,pmi->pm", c, a) * lb
            )
            winding = np.arctan2(det, den).sum(axis=1) / (2.0 * math.pi)
            inside[part] = winding > 0.5
        return inside


def _crop(mesh: Mesh, low: FloatArray, high: FloatArray) -> IntArray:
    """The faces of ``mesh`` whose bounding box overlaps the box [low, high]."""
    corners = mesh.vertices[mesh.faces]
    overlaps = np.all((corners.max(axis=1) >= low) & (corners.min(axis=1) <= high), axis=1)
    return np.asarray(mesh.faces[overlaps], dtype=np.int64)


def _in_box(points: FloatArray, low: FloatArray, high: FloatArray, pad: float) -> FloatArray:
    keep = np.all((points >= low - pad) & (points <= high + pad), axis=1)
    return np.asarray(points[keep], dtype=np.float64)


def _surface_gap(crown: _Surface, crown_watertight: bool, other: Mesh, resolution: float) -> float:
    """The minimum distance between ``crown`` (the crown, or any surface measured like it:
    the preparation) and ``other``, negative when they overlap."""
    other_watertight = open_edge_count(other) == 0
    best = math.inf
    for pad in (CROP_PAD_MM, math.inf):
        faces = _crop(other, crown.low - pad, crown.high + pad)
        if len(faces) == 0:
            continue
        near = _Surface(other.vertices, faces, resolution)
        best = near.min_distance(crown.samples)
        best = min(best, crown.min_distance(_in_box(near.samples, crown.low, crown.high, best)))
        if best < pad:
            break
    depth = 0.0
    if crown_watertight:
        candidates = _in_box(other.vertices, crown.low, crown.high, 0.0)
        inside = candidates[crown.contains(candidates)]
        if len(inside):
            depth = max(depth, float(crown.distance(inside).max()))
    if other_watertight:
        whole = _Surface(other.vertices, other.faces, resolution)
        if best > 2.0 * (crown.resolution + whole.resolution):
            # The surfaces do not meet, so each connected part of the crown is wholly inside
            # or wholly outside: one vertex of each tells (testing every vertex against a
            # large antagonist would be slow).
            parts = face_components(crown.faces, len(crown.vertices))
            _, first = np.unique(parts, return_index=True)
            part_inside = whole.contains(crown.vertices[crown.faces[first, 0]])
            vertex_part = np.full(len(crown.vertices), -1, dtype=np.int64)
            vertex_part[crown.faces.reshape(-1)] = np.repeat(parts, 3)
            used = vertex_part >= 0
            keep = np.zeros(len(crown.vertices), dtype=bool)
            keep[used] = part_inside[vertex_part[used]]
            inside = crown.vertices[keep]
        else:
            candidates = _in_box(crown.vertices, whole.low, whole.high, 0.0)
            inside = candidates[whole.contains(candidates)]
        if len(inside):
            depth = max(depth, float(whole.distance(inside).max()))
    return -depth if depth > 0.0 else best


def _outward(mesh: Mesh, watertight: bool) -> Mesh:
    if watertight and signed_volume(mesh) < 0:
        return Mesh(mesh.vertices, mesh.faces[:, ::-1].copy())
    return mesh


def _wall_thickness(
    crown: _Surface,
    prep: _Surface,
    prep_closed: bool,
    margin: FloatArray,
    exclusion: float,
    resolution: float,
) -> float | None:
    """The minimum distance from the crown's outer surface to the preparation, away from the
    margin.

    A crown face is outer when it faces the same way as the preparation's outer side at the
    closest preparation triangle: its outward normal makes an angle with that triangle's
    outward normal whose cosine is above ``_FACING_COSINE``, or at least acute while the face
    turns its back on the closest preparation point (farther than ``_TOUCHING_MM``, where
    that direction is still defined). The intaglio faces the preparation, so its normals
    point against the preparation's. This holds however close the intaglio lies (the cement
    gap is thinner than the sampling) and even where it dips into the preparation.

    Normals are smoothed, the preparation's over a radius (``_smoothed_face_normals``), the
    crown's over connected faces only (``_ring_smoothed_face_normals``, so its outer surface
    and intaglio never mix): a small fold of a scanned surface (or of an intaglio copied
    from it) does not flip the verdict. The preparation's outer side is taken from its
    signed volume when it is closed (``prep_closed``: ``prep`` then comes wound outward,
    ``_outward``), else from its vector area, which points from the margin towards the crown
    (an open preparation is the stump's surface inside the margin).
    """
    prep_normals = _smoothed_face_normals(prep.vertices, prep.faces)
    if not prep_closed:
        towards_crown = crown.vertices[np.unique(crown.faces)].mean(axis=0) - margin.mean(axis=0)
        if float(prep_normals.sum(axis=0) @ towards_crown) < 0:
            prep_normals = -prep_normals
    normals = _ring_smoothed_face_normals(crown.vertices, crown.faces)
    centroids = crown.corners.mean(axis=1)
    _, nearest = prep.closest(centroids)
    lengths = np.linalg.norm(normals, axis=1) * np.linalg.norm(prep_normals[nearest], axis=1)
    cosine = np.einsum("ij,ij->i", normals, prep_normals[nearest]) / np.maximum(lengths, 1e-300)
    # Where the two directions are far from parallel, the face must also turn its back on
    # the closest preparation point (an intaglio face looks at it).
    near = prep.corners[nearest]
    closest = _closest_on_triangles(centroids, near[:, 0], near[:, 1], near[:, 2])
    raw = np.cross(
        crown.corners[:, 1] - crown.corners[:, 0], crown.corners[:, 2] - crown.corners[:, 0]
    )
    offset = closest - centroids
    turned_away = (np.einsum("ij,ij->i", raw, offset) < 0) & (
        np.linalg.norm(offset, axis=1) > _TOUCHING_MM
    )
    outer = (cosine > _FACING_COSINE) | ((cosine > 0) & turned_away)
    points = crown.samples[outer[crown.owners]]
    if exclusion > 0 and len(points):
        dense = _resample_closed(margin, resolution / 2.0)
        near_margin, _ = cKDTree(dense).query(points)
        points = points[np.asarray(near_margin) >= exclusion]
    if len(points) == 0:
        return None
    return prep.min_distance(points)


def _smoothed_face_normals(
    vertices: FloatArray, faces: IntArray, radius: float = _SMOOTHING_MM
) -> FloatArray:
    """Per-face normals (not unit): each face's area-weighted normal plus those of the faces
    whose centres lie within ``radius`` of its centre. A fold smaller than that does not turn
    them; the two sides of a shell thicker than ``radius`` stay apart."""
    corners = vertices[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    pairs = cKDTree(corners.mean(axis=1)).query_pairs(radius, output_type="ndarray")
    total = normals.copy()
    np.add.at(total, pairs[:, 0], normals[pairs[:, 1]])
    np.add.at(total, pairs[:, 1], normals[pairs[:, 0]])
    return np.asarray(total, dtype=np.float64)


def _ring_smoothed_face_normals(
    vertices: FloatArray, faces: IntArray, rounds: int = _SMOOTHING_ROUNDS
) -> FloatArray:
    """Per-face normals (not unit) averaged over the faces connected to each face within
    ``rounds`` vertex rings: area-weighted normals summed onto vertices and back. Only
    connected faces mix, so the two sides of a thin shell stay apart (unlike averaging by
    distance)."""
    corners = vertices[faces]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    for _ in range(rounds):
        at_vertex = np.zeros((len(vertices), 3))
        for k in range(3):
            np.add.at(at_vertex, faces[:, k], normals)
        normals = at_vertex[faces].sum(axis=1)
    return np.asarray(normals, dtype=np.float64)


def _resample_closed(polyline: FloatArray, spacing: float) -> FloatArray:
    ends = np.roll(polyline, -1, axis=0)
    pieces = []
    for start, stop in zip(polyline, ends, strict=True):
        count = max(1, math.ceil(float(np.linalg.norm(stop - start)) / spacing))
        t = np.arange(count)[:, None] / count
        pieces.append(start + (stop - start) * t)
    return np.concatenate(pieces)


def _fmt(value: float) -> str:
    return f"{value:.2f} mm"


def crown_report(
    crown: Mesh,
    *,
    margin: ArrayLike,
    neighbours: Sequence[Mesh] = (),
    antagonist: Mesh | None = None,
    preparation: Mesh | None = None,
    material: str = "zirconia",
    limits: ReportLimits = DEFAULT_LIMITS,
    resolution_mm: float = DEFAULT_RESOLUTION_MM,
) -> CrownReport:
    """Measure a crown proposal against its margin, neighbours, antagonist and preparation.

    Guarantees: distances are within ``resolution_mm`` above the true surface distance (in
    practice exact, see the module docstring); contacts (proximal and occlusal) are negative
    only when penetration is detected (a point of one mesh inside the other, watertight
    one); the occlusal contact is the minimum distance from the whole crown to the
    antagonist (only the occlusal surface faces it); the clearance is the minimum distance
    from the whole preparation to the antagonist (negative only when the antagonist is
    watertight and the preparation reaches into it, or the preparation is closed and the
    antagonist reaches into it); wall thickness is measured from the crown's outer surface,
    not within ``limits.wall_margin_exclusion_mm`` of the margin; warnings come in the order
    not_watertight, contacts (per neighbour), occlusion (open or heavy), clearance, wall.

    Raises ValueError for a bad margin polyline, more than two neighbours, an unknown
    material, a non-positive resolution, or a mesh that fails ``Mesh.check``
    (``UnreadableMesh`` is a ValueError).
    """
    if not resolution_mm > 0:
        raise ValueError("resolution_mm must be positive")
    if len(neighbours) > 2:
        raise ValueError(f"a crown has at most two neighbours, got {len(neighbours)}")
    clearance_limit = limits.clearance_for(material)
    margin_points = np.asarray(margin, dtype=np.float64)
    length = margin_length(margin_points)
    for mesh in (crown, *neighbours, antagonist, preparation):
        if mesh is not None:
            mesh.check()

    open_edges = open_edge_count(crown)
    watertight = open_edges == 0
    crown = _outward(crown, watertight)
    volume = abs(signed_volume(crown)) if watertight else None
    surface = _Surface(crown.vertices, crown.faces, resolution_mm)

    warnings: list[ReportWarning] = []
    if not watertight:
        warnings.append(
            ReportWarning(
                WarningCode.NotWatertight,
                float(open_edges),
                0.0,
                f"the crown is not watertight: {open_edges} edges are not shared by exactly "
                "two consistently wound faces",
            )
        )

    contacts = [_surface_gap(surface, watertight, other, resolution_mm) for other in neighbours]
    for index, contact in enumerate(contacts):
        if contact > limits.contact_max_mm:
            warnings.append(
                ReportWarning(
                    WarningCode.ContactOpen,
                    contact,
                    limits.contact_max_mm,
                    f"open contact to neighbour {index + 1}: gap {_fmt(contact)}, "
                    f"at most {_fmt(limits.contact_max_mm)}",
                    neighbour=index,
                )
            )
        elif contact < limits.contact_min_mm:
            warnings.append(
                ReportWarning(
                    WarningCode.ContactTight,
                    contact,
                    limits.contact_min_mm,
                    f"tight contact to neighbour {index + 1}: {_fmt(contact)}, "
                    f"at least {_fmt(limits.contact_min_mm)}",
                    neighbour=index,
                )
            )

    occlusion = None
    if antagonist is not None:
        occlusion = _surface_gap(surface, watertight, antagonist, resolution_mm)
        if occlusion > limits.occlusal_contact_max_mm:
            warnings.append(
                ReportWarning(
                    WarningCode.OcclusionOpen,
                    occlusion,
                    limits.occlusal_contact_max_mm,
                    f"the crown is out of occlusion: gap to the antagonist {_fmt(occlusion)}, "
                    f"at most {_fmt(limits.occlusal_contact_max_mm)}",
                )
            )
        elif occlusion < limits.occlusal_contact_min_mm:
            warnings.append(
                ReportWarning(
                    WarningCode.OcclusionHeavy,
                    occlusion,
                    limits.occlusal_contact_min_mm,
                    f"the crown presses into the antagonist: {_fmt(occlusion)}, "
                    f"at least {_fmt(limits.occlusal_contact_min_mm)}",
                )
            )

    # The preparation, wound outward when closed, measured by clearance and wall alike.
    prep: _Surface | None = None
    prep_closed = False
    if preparation is not None:
        prep_closed = open_edge_count(preparation) == 0
        stump = _outward(preparation, prep_closed)
        prep = _Surface(stump.vertices, stump.faces, resolution_mm)

    clearance = None
    if antagonist is not None and prep is not None:
        clearance = _surface_gap(prep, prep_closed, antagonist, resolution_mm)
        if clearance < clearance_limit:
            warnings.append(
                ReportWarning(
                    WarningCode.ClearanceLow,
                    clearance,
                    clearance_limit,
                    f"the preparation leaves too little occlusal room for {material}: "
                    f"{_fmt(clearance)} to the antagonist, at least {_fmt(clearance_limit)}",
                )
            )

    wall = None
    if prep is not None:
        wall = _wall_thickness(
            surface,
            prep,
            prep_closed,
            margin_points,
            limits.wall_margin_exclusion_mm,
            resolution_mm,
        )
        if wall is not None and wall < limits.wall_min_mm:
            warnings.append(
                ReportWarning(
                    WarningCode.WallThin,
                    wall,
                    limits.wall_min_mm,
                    f"minimum wall thickness {_fmt(wall)} is below {_fmt(limits.wall_min_mm)}",
                )
            )

    return CrownReport(
        material=material.strip().lower(),
        margin_length_mm=length,
        contacts_mm=contacts,
        occlusal_clearance_mm=clearance,
        min_wall_thickness_mm=wall,
        volume_mm3=volume,
        watertight=watertight,
        warnings=warnings,
        resolution_mm=resolution_mm,
        occlusal_contact_mm=occlusion,
    )
