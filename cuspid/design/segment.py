"""Geometric tooth segmentation with FDI numbering for intraoral arch scans in any pose.

The method uses geometry only (no learned weights, nothing downloaded):

1. **Canonical frame** (``cuspid.design.pose.normalise``): +z occlusal, +y anterior, origin at
   the surface centroid; the jaw is detected there unless given.
2. **Arch curve**: the crown tips (the highest points per angular sector seen from the
   centroid) give a smooth curve r(theta) in the occlusal plane; every vertex gets its arc
   coordinate ``s`` (signed arc length from the midline, + towards canonical +x) and its
   offset ``d`` across the arch (+ buccal).
3. **Tooth vs gingiva**: the crown-top line along the arch (the highest point per 1 mm of
   ``s``, spread by a +-5 mm maximum filter so that embrasures, gaps and the retromolar pad
   do not pull it down) is the reference. A vertex is crown when it is within 3 mm of it,
   or within 7.5 mm and on a steep (axial) wall; gingiva slopes gently. The decision is
   smoothed on the mesh graph and cleaned of specks; gingiva islands ringed by tooth (up to
   a crown's area: a prepared tooth's occlusal table) are tooth. Once the teeth are split
   (step 4), each tooth's crown band is drawn again from its own highest point as well, so
   a preparation standing 2-4 mm under its neighbours keeps its walls.
4. **Instances and numbering, one side of the midline at a time**: a profile along the
   arch (crown-top height plus a share of the crown's width across the arch) dips at every
   embrasure; its minima, the ends of empty stretches and evenly spaced fallbacks are the
   candidate cuts. Dynamic programming picks the cuts and gives each piece either a slot
   (central incisor ... third molar, in order from the midline, matching expected
   mesio-distal widths and positions under one size factor per side) or "gingiva" (a gap,
   the retromolar pad). Skipped slots are missing teeth, so a gap does not shift the
   numbers of the teeth behind it. A stretch with no crown surface at all is judged whole
   (no cut inside it): unless it is short (a diastema) it stands for as many missing teeth
   as its length explains (it shows about 60 % of their widths empty, as the neighbours
   drift in and their walls flare over it), and a tooth piece that swallows one pays for
   it, so a gap is neither ignored nor absorbed by a neighbour. A piece that tops out far
   below the crowns just mesial of it is a bare ridge (a missing molar's socket, the
   retromolar pad), never a tooth. Each step of the profile reads the vertices within
   about one mesh spacing of it, so a coarse scan does not show dips inside its teeth.
   The midline (the central incisors' contact) is the embrasure nearest the arch's mirror
   plane, or, where a gap crosses that plane, one of the gap's ends (a missing central
   incisor: the gap belongs to the side that lost it) or its centre (a diastema); the
   place whose split explains both sides best, near the mirror plane, is kept.
5. **Boundaries on the creases** (``_refine``): the gingival margin is a concave crease
   where the crown's wall meets the gingiva, and neighbouring teeth meet in interproximal
   valleys. Within a band around the first boundaries (3 mm at the margin, 1 mm between
   teeth) every vertex is relabelled by a watershed on the surface's concavity, grown from
   the labels outside the band, so the regions meet on the creases. A tooth does not take
   another tooth's vertices there except near their contact.

Upper or lower: the anatomical cues of ``cuspid.design.pose.jaw_cue`` (palate, incisal
embrasure spacing, central incisor width); where they give no answer, the jaw whose expected
tooth widths the split of step 4 explains at the lower cost.

Left and right: on the canonical frame, s < 0 is the patient's right on an upper jaw and
the patient's left on a lower jaw (see ``cuspid.design.pose``).
"""

from __future__ import annotations

import heapq
import itertools
import math
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import sparse  # type: ignore[import-untyped]  # scipy ships no type stubs
from scipy.ndimage import (  # type: ignore[import-untyped]  # no stubs
    maximum_filter1d,
    minimum_filter1d,
)
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]  # no stubs
from scipy.spatial import cKDTree  # type: ignore[import-untyped]  # scipy ships no type stubs

from cuspid.design.labels import SegmentationResult
from cuspid.design.mesh import Mesh
from cuspid.design.pose import jaw_cue, normalise

Jaw = Literal["upper", "lower"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Expected bucco-lingual crown diameters (mm) for positions 1..8 (dental anatomy tables).
EXPECTED_DEPTHS: Final[dict[Jaw, tuple[float, ...]]] = {
    "upper": (7.0, 6.0, 8.0, 9.0, 9.0, 11.0, 11.0, 10.0),
    "lower": (6.0, 6.5, 7.0, 7.5, 8.0, 10.5, 10.0, 9.5),
}
#: Expected mesio-distal crown widths (mm) for positions 1..8 (central incisor .. third molar).
EXPECTED_WIDTHS: Final[dict[Jaw, tuple[float, ...]]] = {
    "upper": (8.5, 6.5, 7.5, 7.0, 6.5, 10.0, 9.0, 8.5),
    "lower": (5.0, 5.5, 7.0, 7.0, 7.0, 11.0, 10.5, 10.0),
}
_RIGHT_QUADRANT: Final[dict[Jaw, int]] = {"upper": 1, "lower": 4}
_LEFT_QUADRANT: Final[dict[Jaw, int]] = {"upper": 2, "lower": 3}

_ANGLE_BINS: Final = 120
_SLICE_MM: Final = 1.0
_ENVELOPE_BINS: Final = 5
_CROWN_TOP_MM: Final = 3.0  # within this of the crown-top line: crown
_CROWN_DEPTH_MM: Final = 7.5  # down to this, crown where the surface is steep (axial walls)
_STEEP_NZ: Final = 0.65  # |normal . occlusal| below this is a steep wall
_PROFILE_STEP_MM: Final = 0.25
_MIN_TOOTH_SHARE: Final = 0.0015
_WIDTH_WEIGHT: Final = 0.4  # mm of crown-top height per mm of crown width in the profile
_MIN_PROMINENCE: Final = 0.15
_MAX_TOOTH_MM: Final = 16.0
_WIDTH_SIGMA: Final = 3.0
_CENTRE_SIGMA: Final = 3.0
_CUT_REWARD: Final = 1.0
_SCALE_WEIGHT: Final = 50.0
_FALLBACK_STEP_MM: Final = 1.5
_GUM_COST: Final = 0.8
_FALLBACK_DEPTH: Final = -1.0
_SCALES: Final = tuple(float(v) for v in np.linspace(0.85, 1.15, 7))
_THIRD_MOLAR_PENALTY: Final = 4.0
_DEPTH_SIGMA: Final = 2.5
_GAP_FREE_MM: Final = 1.0  # an empty stretch up to this long may be a diastema
_GAP_SIGMA: Final = 2.0
_GAP_SHARE: Final = 0.6  # the share of the missing crowns' widths a gap shows empty: its
# neighbours drift into it and their walls flare over it
_DIASTEMA_SIGMA: Final = 1.0
_ABSORB_SIGMA: Final = 1.0  # an empty stretch inside one tooth's piece is a gap it absorbed
_MAX_SKIP: Final = 3
_SAMPLING_REACH: Final = 0.75  # a profile step reads vertices this many mesh spacings away
_DIP_REACH_MM: Final = 0.75  # the midline embrasure is the lowest point this far either side
_GAP_WINDOW_MM: Final = 8.0  # gaps at the midline are looked for this far either side
_MIRROR_SIGMA_MM: Final = 1.5  # the midline's spread about the arch's mirror plane
_GAP_REACH_MM: Final = 3.0  # a gap that comes this close to the mirror plane may hold it
_RIDGE_REACH_MM: Final = 12.0  # a piece is compared with the crowns this far mesial of it
_RIDGE_DROP_MM: Final = 4.0  # a piece topping out this far below them is a bare ridge
_RIDGE_CROWN_PERCENTILE: Final = 75.0  # their height: this percentile of their profile
_SAME_CUT_MM: Final = 0.2  # candidate cuts closer than this are one
_ISLAND_MAX_MM2: Final = 150.0  # a gingiva island ringed by tooth up to this area is tooth
# (a molar's occlusal table is about 80 mm2)
_AREA_PER_VERTEX: Final = 0.87  # mesh area per vertex in units of spacing**2 (two
# equilateral triangles per vertex)
_CERVICAL_FLARE_MM: Final = 0.8  # the crown region's extent across the arch exceeds the
# tabled bucco-lingual diameter by the flare of the gingival margin


class SegmentationFailed(ValueError):
    """The scan does not look like a dental arch (no teeth found, too small, no area)."""


@dataclass(frozen=True, slots=True)
class _ArchCurve:
    """A dense polyline of the arch curve in the canonical occlusal plane."""

    points: FloatArray  # (K, 2)
    s: FloatArray  # (K,) signed arc length, 0 at the midline, + towards +x
    outward: FloatArray  # (K, 2) unit normals pointing buccally


def _edges(mesh: Mesh) -> IntArray:
    faces = mesh.faces
    pairs = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    pairs = np.sort(pairs, axis=1)
    return np.unique(pairs, axis=0) if pairs.size else np.zeros((0, 2), dtype=np.int64)


def _adjacency(n: int, edges: IntArray) -> sparse.csr_matrix:
    ones = np.ones(edges.shape[0] * 2)
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    return sparse.csr_matrix((ones, (rows, cols)), shape=(n, n))


def _spacing(points: FloatArray, edges: IntArray) -> float:
    """The scan's typical vertex spacing (mm): the median edge length."""
    return float(np.median(np.linalg.norm(points[edges[:, 1]] - points[edges[:, 0]], axis=1)))


def _fit_arch_curve(points: FloatArray) -> _ArchCurve:
    """Fit r(theta) through the crown tips seen from the canonical origin (theta 0 = +y)."""
    theta = np.arctan2(points[:, 0], points[:, 1])
    radius = np.hypot(points[:, 0], points[:, 1])
    edges = np.linspace(-math.pi, math.pi, _ANGLE_BINS + 1)
    which = np.clip(np.digitize(theta, edges) - 1, 0, _ANGLE_BINS - 1)
    order = np.lexsort((-points[:, 2], which))
    counts = np.bincount(which, minlength=_ANGLE_BINS)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    centres, radii, weights = [], [], []
    # Sectors whose highest points lie well below the crowns hold no teeth (the open end of
    # the horseshoe, or a palate there): they do not shape the curve.
    crown_level = float(np.percentile(points[:, 2], 98)) - _CROWN_DEPTH_MM
    for b in range(_ANGLE_BINS):
        if counts[b] < 20:
            continue
        top = order[starts[b] : starts[b] + max(5, counts[b] // 50)]
        if float(np.median(points[top, 2])) < crown_level:
            continue
        centres.append(float(np.median(theta[top])))
        radii.append(float(np.median(radius[top])))
        weights.append(math.sqrt(counts[b]))
    if len(centres) < 8:
        raise SegmentationFailed("the scan does not look like a dental arch")
    t = np.asarray(centres)
    r = np.asarray(radii)
    # Robust smooth fit: a low-degree polynomial, refitted without the worst outliers.
    w = np.asarray(weights)
    keep = np.ones(t.size, dtype=bool)
    coef = np.polyfit(t, r, 6, w=w)
    for _ in range(2):
        resid = np.abs(np.polyval(coef, t) - r)
        keep = resid <= max(2.5 * float(np.median(resid)), 1.0)
        coef = np.polyfit(t[keep], r[keep], 6, w=w[keep])
    lo, hi = float(t.min()) - 0.15, float(t.max()) + 0.15
    grid = np.linspace(lo, hi, 4000)
    rr = np.maximum(np.polyval(coef, grid), 1.0)
    xy = np.stack([rr * np.sin(grid), rr * np.cos(grid)], axis=1)
    step = np.linalg.norm(np.diff(xy, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(step)])
    arc -= np.interp(0.0, grid, arc)
    tangent = np.gradient(xy, axis=0)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-12)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    # Outward (buccal) is away from the origin inside the horseshoe.
    flip = (normal * xy).sum(axis=1) < 0
    normal[flip] *= -1.0
    return _ArchCurve(points=xy, s=arc, outward=normal)


def _project(curve: _ArchCurve, points: FloatArray) -> tuple[FloatArray, FloatArray]:
    tree = cKDTree(curve.points)
    _, nearest = tree.query(points[:, :2])
    offset = points[:, :2] - curve.points[nearest]
    d = (offset * curve.outward[nearest]).sum(axis=1)
    return curve.s[nearest], d


def _height_below_top(s: FloatArray, z: FloatArray) -> FloatArray:
    """Height of every vertex relative to the smoothed crown-top line along the arch (<= ~0).

    The crowns' occlusal line varies slowly along the arch; the crown tops lie near it and
    the gingiva well below it. (A per-slice lower-envelope fit of the gingiva was tried first and
    was less reliable: the crown walls dominate the samples.)
    """
    lo = float(s.min())
    which = ((s - lo) / _SLICE_MM).astype(np.int64)
    top = np.full(int(which.max()) + 1, -np.inf)
    np.maximum.at(top, which, z)
    present = np.isfinite(top)
    top = np.interp(np.arange(top.size), np.flatnonzero(present), top[present])
    # The envelope over +-5 mm bridges the dips of embrasures, gaps and the retromolar pad,
    # so the gingiva there stays below the crown-top line.
    top = maximum_filter1d(top, 2 * _ENVELOPE_BINS + 1, mode="nearest")
    kernel = np.ones(7) / 7.0
    top = np.convolve(np.pad(top, 3, mode="edge"), kernel, "valid")
    return np.asarray(z - top[which], dtype=np.float64)


def _vertex_normals(mesh: Mesh, points: FloatArray) -> FloatArray:
    """Area-weighted vertex normals, oriented so that the crown tops face +z (occlusal)."""
    faces = mesh.faces
    face_normals = np.cross(
        points[faces[:, 1]] - points[faces[:, 0]], points[faces[:, 2]] - points[faces[:, 0]]
    )
    normals = np.zeros_like(points)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    high = points[:, 2] >= np.percentile(points[:, 2], 95)
    if np.median(normals[high, 2]) < 0:  # faces wound the other way round
        normals = -normals
    return normals


def _smooth(adjacency: sparse.csr_matrix, values: FloatArray, rounds: int) -> FloatArray:
    degree = np.asarray(adjacency.sum(axis=1)).ravel() + 1.0
    out = values
    for _ in range(rounds):
        out = (adjacency @ out + out) / degree
    return np.asarray(out, dtype=np.float64)


def _clean_region(
    adjacency: sparse.csr_matrix, mask: BoolArray, min_size: int, max_island: int
) -> BoolArray:
    """Drop tooth specks smaller than ``min_size`` vertices and fill the gingiva islands that
    teeth enclose, up to ``max_island`` vertices.

    Such an island is not gingiva, which runs on around the arch: it is a low, flat part of a
    tooth ringed by its steep walls, chiefly the occlusal table of a prepared tooth (reduced
    1.5-2 mm, so it falls out of the crown band). An island larger than a crown is left as it
    is (the lingual gingiva of a scan cut off at the last molars may be ringed by teeth).
    """
    out = mask.copy()
    for target, limit in ((True, min_size), (False, max_island)):
        idx = np.flatnonzero(out == target)
        if idx.size == 0:
            continue
        sub = adjacency[idx][:, idx]
        _, comp = connected_components(sub, directed=False)
        sizes = np.bincount(comp)
        small = sizes[comp] < limit
        if not target:
            small &= sizes[comp] < sizes.max()  # the gingiva itself stays
        out[idx[small]] = not target
    return out


def _tooth_mask(adjacency: sparse.csr_matrix, crown: BoolArray, spacing: float) -> BoolArray:
    """The tooth region from the per-vertex crown decision: smoothed on the mesh graph, its
    specks dropped and the gingiva islands the teeth ring filled (``_clean_region``)."""
    tooth = _smooth(adjacency, crown.astype(np.float64), 3) > 0.5
    return _clean_region(
        adjacency,
        tooth,
        max(20, int(_MIN_TOOTH_SHARE * crown.size)),
        int(_ISLAND_MAX_MM2 / (_AREA_PER_VERTEX * spacing**2)),
    )


def _own_crowns(
    z: FloatArray,
    d: FloatArray,
    steep: BoolArray,
    sides: list[tuple[float, BoolArray, FloatArray]],
    plan: list[list[tuple[float, float, int]]],
) -> BoolArray:
    """The crown decision of step 3 made per tooth of ``plan``, from the tooth's own highest
    point instead of the crown-top line: within ``_CROWN_TOP_MM`` of it, or within
    ``_CROWN_DEPTH_MM`` on a steep wall, inside the tooth's stretch of the arch.

    The crown-top line takes the highest crowns within 5 mm, so a tooth standing well under
    its neighbours (a preparation, reduced 1.5-2 mm occlusally and more than the neighbours'
    cusp heights) falls partly out of the band; for a tooth of ordinary height the two agree
    nearly everywhere."""
    out = np.zeros(z.size, dtype=bool)
    across = np.abs(d) < 8.0
    for (_sign, side, u), teeth in zip(sides, plan, strict=True):
        for start, stop, _position in teeth:
            piece = across & (u >= start) & (u < stop)
            found = side & piece
            if not found.any():
                continue
            top = float(z[found].max())
            out |= piece & ((z > top - _CROWN_TOP_MM) | ((z > top - _CROWN_DEPTH_MM) & steep))
    return out


def _smooth_normals(adjacency: sparse.csr_matrix, normals: FloatArray, rounds: int) -> FloatArray:
    out = normals
    degree = np.asarray(adjacency.sum(axis=1)).ravel() + 1.0
    for _ in range(rounds):
        out = (adjacency @ out + out) / degree[:, None]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return np.asarray(out, dtype=np.float64)


def _concavity(points: FloatArray, normals: FloatArray, edges: IntArray, n: int) -> FloatArray:
    """Per vertex, the strongest concave normal curvature along its edges (1/mm, >= 0).

    Along an edge (i, j) the normal curvature is about (n_j - n_i).(p_j - p_i) / |p_j - p_i|^2,
    negative where the surface folds inwards: the gingival margin and the interproximal
    valleys are such creases, the crowns' walls and the gingiva's slopes are not.
    """
    delta = points[edges[:, 1]] - points[edges[:, 0]]
    bend = ((normals[edges[:, 1]] - normals[edges[:, 0]]) * delta).sum(axis=1)
    curvature = bend / np.maximum((delta * delta).sum(axis=1), 1e-12)
    fold = np.maximum(-curvature, 0.0)
    out = np.zeros(n)
    np.maximum.at(out, edges[:, 0], fold)
    np.maximum.at(out, edges[:, 1], fold)
    return out


def _flood(
    adjacency: sparse.csr_matrix,
    elevation: FloatArray,
    seeds: IntArray,
    first: IntArray,
    swap: BoolArray,
) -> IntArray:
    """Watershed by priority flood: every vertex without a seed label (< 0) takes the label of
    the region that reaches it over the lowest ridge of ``elevation``, so regions meet on the
    ridges (here: concave creases).

    A tooth does not take over another tooth's vertices of the ``first`` labelling except
    where ``swap`` allows it (near their contact): it could otherwise run along the band at
    the gingival margin and climb into a small neighbour (a lower incisor) whose own seed
    is only its incisal edge. A vertex no region may take keeps its first label.
    """
    labels = seeds.tolist()
    unknown = seeds < 0
    touching = np.asarray(adjacency @ unknown.astype(np.float64)).ravel() > 0
    heap = [(float(elevation[v]), int(v)) for v in np.flatnonzero(touching & ~unknown)]
    heapq.heapify(heap)
    level = elevation.tolist()
    indptr = adjacency.indptr.tolist()
    indices = adjacency.indices.tolist()
    before = first.tolist()
    free = swap.tolist()
    while heap:
        height, v = heapq.heappop(heap)
        label = labels[v]
        for k in range(indptr[v], indptr[v + 1]):
            w = indices[k]
            if labels[w] < 0 and (label == 0 or before[w] in (0, label) or free[w]):
                labels[w] = label
                heapq.heappush(heap, (max(level[w], height), w))
    out = np.asarray(labels, dtype=np.int64)
    return np.where(out < 0, first, out)


@dataclass(frozen=True, slots=True)
class _SideProfile:
    """Profiles of one side of the arch along u = distance from the midline (mm)."""

    u: FloatArray  # (B,) bin starts, step _PROFILE_STEP_MM
    valley: FloatArray  # (B,) crown-top height + width term: dips at embrasures
    across: FloatArray  # (B,) extent of the crown across the arch (bucco-lingual), mm
    present: BoolArray  # (B,) the bin holds tooth vertices
    level: FloatArray  # (B,) highest occlusal coordinate (mm) of its crown, -inf where none


def _side_profile(
    u: FloatArray, d: FloatArray, h: FloatArray, z: FloatArray, spacing: float
) -> _SideProfile:
    """Crown-top height and crown width across the arch per step of ``u`` (tooth vertices).

    Each step reads the vertices within about one mesh spacing of it, not only its own: on
    a coarse scan (vertices ``spacing`` mm apart, more than the step) most steps would
    otherwise hold few or no vertices, and the profile would dip, and show empty stretches,
    inside every tooth.
    """
    n = int(float(u.max()) / _PROFILE_STEP_MM) + 2
    which = np.clip((u / _PROFILE_STEP_MM).astype(np.int64), 0, n - 1)
    top = np.full(n, -np.inf)
    np.maximum.at(top, which, h)
    d_hi = np.full(n, -np.inf)
    d_lo = np.full(n, np.inf)
    np.maximum.at(d_hi, which, d)
    np.minimum.at(d_lo, which, d)
    level = np.full(n, -np.inf)
    np.maximum.at(level, which, z)
    present = np.isfinite(top)
    reach = 2 * int(_SAMPLING_REACH * spacing / _PROFILE_STEP_MM) + 1
    if reach > 1:
        top = maximum_filter1d(top, reach, mode="nearest")
        d_hi = maximum_filter1d(d_hi, reach, mode="nearest")
        d_lo = -maximum_filter1d(-d_lo, reach, mode="nearest")
        level = maximum_filter1d(level, reach, mode="nearest")
        # Closed, not dilated: sampling holes fill, a real gap keeps its length.
        present = minimum_filter1d(np.isfinite(top), reach, mode="nearest")
    width = np.where(present, d_hi - d_lo, 0.0)
    top = np.where(present, top, -_CROWN_DEPTH_MM)
    # Both dip at an embrasure; only the height dips at a molar's central groove.
    valley = top + _WIDTH_WEIGHT * width
    kernel = np.exp(-0.5 * (np.arange(-4, 5) * _PROFILE_STEP_MM / 0.5) ** 2)
    kernel /= kernel.sum()
    valley = np.convolve(np.pad(valley, 4, mode="edge"), kernel, "valid")
    grid = _PROFILE_STEP_MM * np.arange(n)
    level = np.where(present, level, -np.inf)
    return _SideProfile(np.asarray(grid, dtype=np.float64), valley, width, present, level)


def _candidates(profile: _SideProfile) -> tuple[FloatArray, FloatArray]:
    """Candidate cut positions (u) and their depth (a reward): the profile's local minima and
    the ends of empty stretches (never inside one); the first is the midline (0) and the
    last the distal end."""
    v = profile.valley
    n = v.size
    window = int(2.0 / _PROFILE_STEP_MM)
    cuts: list[float] = [0.0]
    depth: list[float] = [0.0]
    for i in range(1, n - 1):
        if not (v[i] < v[i - 1] and v[i] <= v[i + 1]):
            continue
        left = v[max(0, i - window) : i + 1].max()
        right = v[i : min(n, i + window + 1)].max()
        prominence = min(left, right) - v[i]
        if prominence >= _MIN_PROMINENCE:
            cuts.append(float(profile.u[i]) + 0.5 * _PROFILE_STEP_MM)
            depth.append(min(float(prominence), 2.0))
    edges = np.flatnonzero(np.diff(profile.present.astype(np.int64)) != 0)
    for e in edges:
        cuts.append(float(profile.u[e + 1]))
        depth.append(2.0)
    last = np.flatnonzero(profile.present)
    end = float(profile.u[last[-1]]) + _PROFILE_STEP_MM if last.size else 0.0
    # Evenly spaced fallbacks, at a small cost, so that a split always exists even where
    # the profile shows no embrasure (a flat contact, a partly covered gap); none where a
    # cut was found, which the merging of near-equal cuts below would otherwise replace by
    # the fallback (an embrasure on the fallback grid lost its reward).
    found = np.asarray(cuts)
    grid = np.arange(_FALLBACK_STEP_MM, end, _FALLBACK_STEP_MM)
    grid = grid[np.abs(grid[:, None] - found[None, :]).min(axis=1) > _SAME_CUT_MM]
    cuts += grid.tolist()
    depth += [_FALLBACK_DEPTH] * grid.size
    order = np.argsort(cuts, kind="stable")
    u = np.asarray(cuts)[order]
    r = np.asarray(depth)[order]
    keep = (u < end - 0.5) & np.concatenate([[True], np.diff(u) > _SAME_CUT_MM])
    # No cut inside an empty stretch (only at its ends): a gap is judged whole.
    reach = int(0.5 / _PROFILE_STEP_MM)
    near = np.convolve(profile.present.astype(np.float64), np.ones(2 * reach + 1), "same") > 0
    at = np.clip((u / _PROFILE_STEP_MM).astype(np.int64), 0, n - 1)
    keep &= near[at] | (u == 0.0)
    return np.append(u[keep], end), np.append(r[keep], 0.0)


def _side_teeth(
    profile: _SideProfile, expected: tuple[float, ...], depths: tuple[float, ...]
) -> list[tuple[float, list[tuple[float, float, int]]]]:
    """Split one side into teeth and number them: per size factor of ``_SCALES``, the cost
    of the best split and its (start, stop, position 1..8) per tooth.

    Dynamic programming over the candidate cuts: every piece between two kept cuts is either
    empty (a gap, no tooth vertices) or one tooth in a slot after the previous tooth's; a
    piece's cost grows with the mismatch of its width and centre to the slot's expected
    ones (one size factor per side), and every kept cut earns its depth. Skipped slots are
    missing teeth, so a gap does not shift the numbering; an empty piece longer than
    ``_GAP_FREE_MM`` costs unless it skips as many slots as its length explains.
    """
    cuts, reward = _candidates(profile)
    m = len(expected)
    nc = cuts.size
    if nc < 2:
        return [(0.0, []) for _ in _SCALES]
    filled = np.concatenate([[0], np.cumsum(profile.present)])

    def share(a: float, b: float) -> float:
        i, j = int(a / _PROFILE_STEP_MM), int(b / _PROFILE_STEP_MM)
        return float(filled[min(j, filled.size - 1)] - filled[min(i, filled.size - 1)]) / max(
            j - i, 1
        )

    def empty_mm(a: float, b: float) -> float:
        """Length (mm) of the stretch between a and b that holds no tooth surface."""
        i, j = int(a / _PROFILE_STEP_MM), int(b / _PROFILE_STEP_MM)
        i, j = min(i, filled.size - 1), min(j, filled.size - 1)
        return _PROFILE_STEP_MM * float((j - i) - (filled[j] - filled[i]))

    per_scale: list[tuple[float, list[tuple[float, float, int]]]] = []
    for scale in _SCALES:
        slot_w = np.asarray(expected) * scale
        slot_c = np.cumsum(slot_w) - 0.5 * slot_w
        slot_d = np.asarray(depths) * scale + _CERVICAL_FLARE_MM
        extra = np.zeros(m)
        extra[m - 1] = _THIRD_MOLAR_PENALTY
        # cost[j, k]: best cost covering [0, cuts[j]] with the last tooth in slot k (0: none)
        cost = np.full((nc, m + 1), math.inf)
        back: dict[tuple[int, int], tuple[int, int]] = {}
        cost[0, 0] = 0.0
        for j in range(1, nc):
            for i in range(j - 1, -1, -1):
                width = cuts[j] - cuts[i]
                if width > _MAX_TOOTH_MM:
                    break
                if not np.isfinite(cost[i]).any():
                    continue
                gain = _CUT_REWARD * reward[j]
                # the piece as gingiva (a gap, the retromolar pad): the slot does not
                # advance; it costs in proportion to the crown it would discard
                filled_share = share(cuts[i], cuts[j])
                gum = _GUM_COST * width * max(filled_share - 0.3, 0.0)
                # An empty stretch of real length has no crown: missing teeth, as many as
                # its length explains (a gap closes a little as its neighbours drift in).
                gap = empty_mm(cuts[i], cuts[j])
                for k in range(m + 1):
                    if not np.isfinite(cost[i, k]):
                        continue
                    for skip in range(_MAX_SKIP + 1 if gap > _GAP_FREE_MM else 1):
                        if k + skip > m:
                            break
                        if skip == 0:
                            miss = (max(gap - _GAP_FREE_MM, 0.0) / _DIASTEMA_SIGMA) ** 2
                        else:
                            expect = _GAP_SHARE * float(slot_w[k : k + skip].sum())
                            miss = ((gap - expect) / _GAP_SIGMA) ** 2
                        value = cost[i, k] + gum + miss - gain
                        if value < cost[j, k + skip]:
                            cost[j, k + skip] = value
                            back[(j, k + skip)] = (i, -k - 1)
                lo_bin, hi_bin = int(cuts[i] / _PROFILE_STEP_MM), int(cuts[j] / _PROFILE_STEP_MM)
                if filled_share < 0.3 or _is_ridge(profile, lo_bin, hi_bin):
                    continue
                centre = 0.5 * (cuts[i] + cuts[j])
                across = profile.across[lo_bin : max(hi_bin, lo_bin + 1)]
                depth = float(np.percentile(across, 90)) if across.size else 0.0
                piece = (
                    ((width - slot_w) / _WIDTH_SIGMA) ** 2
                    + ((depth - slot_d) / _DEPTH_SIGMA) ** 2
                    + ((centre - slot_c) / _CENTRE_SIGMA) ** 2
                    + extra
                    + (max(gap - _GAP_FREE_MM, 0.0) / _ABSORB_SIGMA) ** 2
                )
                # prefix minimum of cost[i, :k] for slots k = 1..m
                prefix = np.minimum.accumulate(cost[i, :m])
                arg = np.zeros(m, dtype=np.int64)
                run = 0
                for k in range(m):
                    if cost[i, k] <= cost[i, run]:
                        run = k
                    arg[k] = run
                values = prefix + piece - gain
                for k in range(1, m + 1):
                    if values[k - 1] < cost[j, k]:
                        cost[j, k] = values[k - 1]
                        back[(j, k)] = (i, int(arg[k - 1]))
        k_end = int(np.argmin(cost[nc - 1]))
        total = float(cost[nc - 1, k_end]) + _SCALE_WEIGHT * (scale - 1.0) ** 2
        teeth: list[tuple[float, float, int]] = []
        j, k = nc - 1, k_end
        while j > 0:
            i, prev = back[(j, k)]
            if prev >= 0:
                teeth.append((float(cuts[i]), float(cuts[j]), k))
                k = prev
            else:
                k = -prev - 1
            j = i
        per_scale.append((total, teeth[::-1]))
    return per_scale


def _is_ridge(profile: _SideProfile, lo_bin: int, hi_bin: int) -> bool:
    """Whether the piece between two bins stands far below the crowns just mesial of it: the
    edentulous ridge of a missing tooth or the retromolar pad, not a crown. (The crown-top
    line follows the gingiva down where no crown is near, so the piece's own heights
    relative to that line cannot tell.)"""
    reach = int(_RIDGE_REACH_MM / _PROFILE_STEP_MM)
    before = profile.level[max(0, lo_bin - reach) : lo_bin]
    before = before[np.isfinite(before)]
    piece = profile.level[lo_bin : max(hi_bin, lo_bin + 1)]
    if before.size == 0 or piece.size == 0:
        return False
    # The crowns' height there is their upper quartile, not their highest point: a canine's
    # cusp tip stands 2-3 mm above the premolars, and a short premolar behind it is a tooth.
    crowns = float(np.percentile(before, _RIDGE_CROWN_PERCENTILE))
    return bool(float(piece.max()) < crowns - _RIDGE_DROP_MM)


def _best_per_side(
    fits: list[list[tuple[float, list[tuple[float, float, int]]]]],
) -> tuple[float, list[list[tuple[float, float, int]]]]:
    """Each side's cheapest size factor (a size factor shared by both sides was tried and
    numbered worse: crowding and drift make the sides' apparent widths differ), and the
    summed cost."""
    chosen = [min(side, key=lambda item: item[0]) for side in fits]
    return sum(total for total, _ in chosen), [teeth for _, teeth in chosen]


def _midline(
    s: FloatArray, d: FloatArray, h: FloatArray, tooth: BoolArray, spacing: float
) -> float:
    """The embrasure between the central incisors: the deepest dip of the crown profile
    within 3 mm of s = 0 (the arch's mirror plane) with tooth on both sides, or 0 when there
    is none."""
    near = tooth & (np.abs(s) < 6.0)
    if np.count_nonzero(near) < 10:
        return 0.0
    profile = _side_profile(s[near] + 6.0, d[near], h[near], h[near], spacing)
    # An embrasure is a contact: tooth on both sides of it. (Into a gap, a missing central
    # incisor, the profile falls lowest of all, but the midline does not move there.)
    present = profile.present.astype(np.float64)
    reach = int(1.5 / _PROFILE_STEP_MM)
    before = np.convolve(present, np.ones(reach), "full")[: present.size]
    after = np.convolve(present[::-1], np.ones(reach), "full")[: present.size][::-1]
    contact = (before > 0) & (after > 0) & profile.present
    # A dip, not the foot of a slope that runs on past the window (the next embrasure).
    reach_dip = int(_DIP_REACH_MM / _PROFILE_STEP_MM)
    dip = profile.valley <= minimum_filter1d(profile.valley, 2 * reach_dip + 1, mode="nearest")
    window = (profile.u > 3.0) & (profile.u < 9.0) & contact & dip
    if not window.any():
        return 0.0
    i = int(np.flatnonzero(window)[np.argmin(profile.valley[window])])
    return float(profile.u[i]) + 0.5 * _PROFILE_STEP_MM - 6.0


def _gap_midlines(
    s: FloatArray, d: FloatArray, h: FloatArray, tooth: BoolArray, spacing: float
) -> list[float]:
    """Further places for the midline where the crowns leave a gap across it: the gap's
    ends and its centre.

    The midline is the contact of the central incisors, so a gap there is either a
    diastema between them (the midline at its centre) or a missing central incisor (about
    one incisor wide, less what its neighbours drifted in): the midline is then at the
    mesial face of the central that is left, and the gap belongs to the other side, whose
    numbering skips its central. Which side that is, no local cue tells (the central and
    lateral incisors look alike); the split that explains both sides' teeth better does
    (``segment`` tries every place).
    """
    near = tooth & (np.abs(s) < _GAP_WINDOW_MM)
    if np.count_nonzero(near) < 10:
        return []
    profile = _side_profile(s[near] + _GAP_WINDOW_MM, d[near], h[near], h[near], spacing)
    present = profile.present
    out: list[float] = []
    edges = np.flatnonzero(np.diff(present.astype(np.int64)) != 0) + 1
    for start, stop in itertools.pairwise(edges):
        if present[start]:
            continue  # a run of crown, not a gap
        lo = float(profile.u[start]) - _GAP_WINDOW_MM
        hi = float(profile.u[stop]) - _GAP_WINDOW_MM
        if lo < _GAP_REACH_MM and hi > -_GAP_REACH_MM:
            out += [lo, 0.5 * (lo + hi), hi]
    return out


def _split(
    s: FloatArray,
    d: FloatArray,
    h: FloatArray,
    z: FloatArray,
    tooth: BoolArray,
    spacing: float,
    midline: float,
    jaw: Jaw,
) -> tuple[
    float,
    Jaw,
    list[tuple[float, BoolArray, FloatArray]],
    list[list[tuple[float, float, int]]],
    float,
]:
    """Both sides of ``midline`` split into teeth numbered for ``jaw``: the summed cost, the
    jaw, per side (sign, its tooth vertices, their distance u from the midline), per side
    its teeth (start, stop, position), and the midline."""
    sides: list[tuple[float, BoolArray, FloatArray]] = []
    fits = []
    for sign in (-1.0, 1.0):
        u = sign * (s - midline)
        side = tooth & (u >= 0)
        if np.count_nonzero(side) >= 10:
            sides.append((sign, side, u))
            profile = _side_profile(u[side], d[side], h[side], z[side], spacing)
            fits.append(_side_teeth(profile, EXPECTED_WIDTHS[jaw], EXPECTED_DEPTHS[jaw]))
    cost, plan = _best_per_side(fits)
    return cost, jaw, sides, plan, midline


def segment(mesh: Mesh, *, jaw: Jaw | None = None) -> SegmentationResult:
    """Label every vertex of an arch scan as gingiva (0) or an FDI tooth, with instances.

    Works in any pose (the scan is first put in its canonical frame); ``jaw`` overrides the
    upper/lower detection (module docstring). Guarantees one label and one instance id per
    input vertex, in the input's order, forming a valid ``SegmentationResult``: instances are
    numbered 1..k from the patient's right distal end to the left distal end. Raises
    SegmentationFailed for a scan that has no area or does not look like an arch.
    """
    n = mesh.vertex_count
    if n < 100 or mesh.face_count < 50:
        raise SegmentationFailed(f"a scan of {n} vertices is too small to segment")
    try:
        # The canonical frame does not depend on the jaw; the jaw is decided below.
        pose = normalise(mesh, jaw=jaw or "lower")
    except ValueError as error:
        raise SegmentationFailed(str(error)) from error
    cue = jaw if jaw is not None else jaw_cue(mesh, pose)
    p = pose.apply(mesh.vertices)
    curve = _fit_arch_curve(p)
    s, d = _project(curve, p)
    h = _height_below_top(s, p[:, 2])

    edges = _edges(mesh)
    adjacency = _adjacency(n, edges)
    spacing = _spacing(p, edges)
    normal_z = _smooth(adjacency, _vertex_normals(mesh, p)[:, 2], 2)
    steep = normal_z < _STEEP_NZ
    crown = (h > -_CROWN_TOP_MM) | ((h > -_CROWN_DEPTH_MM) & steep)
    crown &= np.abs(d) < 8.0
    tooth = _tooth_mask(adjacency, crown, spacing)
    labels = np.zeros(n, dtype=np.int64)
    instances = np.zeros(n, dtype=np.int64)
    if not tooth.any():
        return SegmentationResult(jaw=cue or "lower", labels=labels, instances=instances)

    # Without an anatomical cue, the jaw whose expected tooth widths explain the arch better.
    jaws: tuple[Jaw, ...] = (cue,) if cue is not None else ("lower", "upper")
    midlines = [_midline(s, d, h, tooth, spacing), *_gap_midlines(s, d, h, tooth, spacing)]
    options = [_split(s, d, h, p[:, 2], tooth, spacing, m, j) for m in midlines for j in jaws]
    # The midline lies on the arch's mirror plane (s = 0) but for the drift of the teeth.
    _, found, sides, plan, _ = min(
        options, key=lambda option: option[0] + (option[4] / _MIRROR_SIGMA_MM) ** 2
    )
    right_q, left_q = _RIGHT_QUADRANT[found], _LEFT_QUADRANT[found]
    # Canonical -x (s < 0) is the patient's right on an upper jaw, the left on a lower jaw.
    neg_q, pos_q = (right_q, left_q) if found == "upper" else (left_q, right_q)
    # Each tooth's crown again, measured from its own top: a prepared tooth stands 2-4 mm
    # under its neighbours' crown-top line, and the band from that line misses its walls.
    own = _own_crowns(p[:, 2], d, steep, sides, plan)
    tooth = _tooth_mask(adjacency, crown | own, spacing)
    for (sign, _side, u), teeth in zip(sides, plan, strict=True):
        quadrant = neg_q if sign < 0 else pos_q
        for start, stop, position in teeth:
            labels[tooth & (u >= start) & (u < stop)] = quadrant * 10 + position
    labels = _refine(mesh, p, adjacency, labels, spacing)
    # Instances 1..k from the patient's right distal end to the left distal end.
    present = sorted(
        {int(f) for f in np.unique(labels)} - {0},
        key=lambda f: -(f % 10) if f // 10 == right_q else f % 10,
    )
    for rank, fdi in enumerate(present):
        instances[labels == fdi] = rank + 1
    return SegmentationResult(jaw=found, labels=labels, instances=instances)


def _rings(adjacency: sparse.csr_matrix, start: BoolArray, limit: int) -> IntArray:
    """Graph distance (in edges) of every vertex from ``start``, capped at ``limit + 1``."""
    distance = np.full(start.size, limit + 1, dtype=np.int64)
    distance[start] = 0
    reached = start
    for k in range(1, limit + 1):
        reached = reached | (np.asarray(adjacency @ reached.astype(np.float64)).ravel() > 0)
        distance[reached & (distance > k)] = k
    return distance


def _refine(
    mesh: Mesh, p: FloatArray, adjacency: sparse.csr_matrix, labels: IntArray, spacing: float
) -> IntArray:
    """Move the boundaries of ``labels`` onto the concave creases near them.

    The gingival margin is a crease where the crown's wall meets the gingiva, and teeth meet
    in interproximal valleys; the first labelling (heights, arch-curve cuts) places both
    only roughly. Everything within REFINE_MARGIN_MM of a tooth-gingiva border and within
    REFINE_CONTACT_MM of a tooth-tooth border is relabelled by a watershed on concavity
    (``_flood``) from the labels kept outside that band, so each region grows until it meets
    another on a crease. A tooth whose every vertex is in the band keeps its innermost ones.
    """
    edges = _edges(mesh)
    rounds = max(1, round((REFINE_SMOOTH_MM / spacing) ** 2))
    normals = _smooth_normals(adjacency, _vertex_normals(mesh, p), rounds)
    fold = _concavity(p, normals, edges, labels.size)
    a, b = labels[edges[:, 0]], labels[edges[:, 1]]
    margin = np.zeros(labels.size, dtype=bool)
    margin[edges[(a != b) & ((a == 0) | (b == 0))].ravel()] = True
    contact = np.zeros(labels.size, dtype=bool)
    contact[edges[(a != b) & (a != 0) & (b != 0)].ravel()] = True
    margin_rounds = max(1, round(REFINE_MARGIN_MM / spacing))
    contact_rounds = max(1, round(REFINE_CONTACT_MM / spacing))
    near_contact = _rings(adjacency, contact, contact_rounds)
    inside = np.minimum(
        _rings(adjacency, margin, margin_rounds) / margin_rounds, near_contact / contact_rounds
    )
    keep = inside > 1.0
    for fdi in np.unique(labels[labels > 0]):
        own = labels == fdi
        if not (keep & own).any():
            keep |= own & (inside >= inside[own].max())
    seeds = np.where(keep, labels, -1)
    return _flood(adjacency, fold, seeds, labels, near_contact <= contact_rounds)


REFINE_MARGIN_MM: Final = 3.0
"""Half-width (mm) of the band around the tooth-gingiva border that the refinement redraws."""
REFINE_CONTACT_MM: Final = 1.0
"""Half-width (mm) of the band around a tooth-tooth border that the refinement redraws."""
REFINE_SMOOTH_MM: Final = 0.5
"""Scale (mm) over which the normals are smoothed before the concavity is measured."""
