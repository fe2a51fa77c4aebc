"""Put a dental arch scan in a canonical frame, whatever its position and orientation.

The canonical frame (right-handed, millimetres):

* origin: the area-weighted centroid of the surface; on a partial arch, moved across the
  arch onto the mirror (mid-sagittal) plane, so that x = 0 is the midline;
* +z: the occlusal direction, the way the biting surfaces face (teeth stand out of the
  gingiva towards +z);
* +y: anterior, from the open (posterior) end of the horseshoe towards the incisors;
* +x = y cross z. Because z points up for a lower jaw and down for an upper jaw, +x is the
  **patient's left on an upper jaw and the patient's right on a lower jaw**; ``Pose.left``
  gives the patient's left explicitly. In FDI terms, with x the canonical coordinate:
  upper x > 0 is quadrant 2, x < 0 quadrant 1; lower x > 0 is quadrant 4, x < 0 quadrant 3.

How it is found (every step depends on the geometry only, so a rotated and translated copy
of a scan gets the same canonical coordinates, up to rounding):

1. the occlusal axis is the smallest principal axis of the surface (an arch is much wider
   and deeper than it is tall);
2. its sign: a scan is an open shell cut on the gingival side, so the long boundary loops
   (the cut) lie on the side away from the teeth; on a closed surface (or a scan without a
   clear cut) the side whose extreme profile is bumpier (cusps and embrasures) rather than
   flat (the model's base) is occlusal;
3. the anterior direction points away from the horseshoe's open end: the emptiest angular
   sector of the surface around the centroid, seen along the occlusal axis, is posterior;
   it is then refined by the arch's left-right mirror symmetry. The mirror plane is first
   searched in every direction near that one and at every offset from the centroid, with
   each mirrored point's miss capped, so that the teeth of a partial arch that have no
   counterpart on the other side do not tilt it; a plane more than _PARTIAL_OFFSET_MM off
   the centroid means a partial arch and is kept; otherwise the arch is whole and the plane
   through the centroid is refined with every point counting in full.

Upper or lower (``detect_jaw``) is inferred from anatomy, see its docstring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import (  # type: ignore[import-untyped]  # scipy ships no stubs
    grey_closing,
    maximum_filter1d,
)
from scipy.optimize import minimize  # type: ignore[import-untyped]  # scipy ships no stubs
from scipy.spatial import cKDTree  # type: ignore[import-untyped]  # scipy ships no type stubs

from cuspid.design.mesh import Mesh
from cuspid.design.repair import boundary_loops

Jaw = Literal["upper", "lower"]

_ANGLE_BINS: Final = 72
_SYMMETRY_SAMPLES: Final = 2000
_SYMMETRY_TARGETS: Final = 40_000
_SYMMETRY_SPAN: Final = math.radians(45.0)
_SYMMETRY_COARSE_SAMPLES: Final = 400
_SYMMETRY_SHIFT_MM: Final = 20.0  # how far off the centroid the mirror plane is searched
_PARTIAL_OFFSET_MM: Final = 3.0  # a mirror plane farther off the centroid: a partial arch
_MIRROR_CAP_MM: Final = 2.0  # mirrored points farther than this from the surface: unmatched
UPPER_INCISOR_WIDTH: Final = 7.3
"""Central incisors at least this wide (mm, along the arch) are taken for upper ones; adult
upper centrals are about 8.5 mm wide, lower ones about 5.5 mm."""
UPPER_INCISOR_PERIOD: Final = 8.0
"""Incisal embrasures at least this far apart (mm) are an upper jaw's (see jaw_cue)."""
LOWER_INCISOR_PERIOD: Final = 6.5
"""Incisal embrasures closer than this (mm) are a lower jaw's (see jaw_cue)."""
AMBIGUOUS_PERIOD: Final = 9.9
"""Embrasure periods from here up may be every other lower embrasure: not used."""
WIDEST_INCISOR: Final = 10.5
"""A central incisor measured wider than this (mm) means an embrasure was missed: not used."""
FRONT_GAP_MM: Final = 4.5
"""An incisal ridge dip this deep (mm) is a missing tooth, not an embrasure (see front_gap)."""
PALATE_SHARE: Final = 0.06
"""A scan with at least this share of its area inside the horseshoe covers a palate: upper."""
INCISOR_REACH: Final = 13.0
"""Embrasures this far (mm, along the arch) from the midline bound the incisors of either jaw
(the upper centrals end about 8.5 mm out, the lower laterals about 11 mm)."""
EMBRASURE_PROMINENCE: Final = 0.3
"""An incisal ridge dip at least this deep (mm) under its +-4 mm rims is an embrasure."""
INCISOR_SPLIT: Final = 7.0
"""Front teeth narrower than this (mm) are lower incisors (5-6 mm), wider ones upper (6.5-9)."""
MIN_TOOTH_MM: Final = 3.0
"""Embrasure dips closer than this (mm) are one notch, not a tooth between two."""
TWO_TEETH_MM: Final = 10.0
"""Embrasure dips this far apart (mm) or more hold two teeth (a missed embrasure)."""
JAW_EVIDENCE: Final = 0.5
"""The summed incisor evidence (``_incisor_evidence``) must exceed this to decide a jaw."""
COARSE_EDGE_MM: Final = 0.75
"""From this median edge length (mm) the incisal ridge's sectors (1.5 edges, over 1.1 mm)
are as wide as an incisal embrasure's notch, so notches can fall between them."""
COARSE_UPPER_EVIDENCE: Final = 2.0
"""On a coarse scan (COARSE_EDGE_MM) the incisor evidence must exceed this to say upper."""


@dataclass(frozen=True, slots=True)
class Pose:
    """Where a scan lies: ``transform`` (4, 4) maps input coordinates to the canonical frame
    (module docstring); ``occlusal``, ``anterior`` and ``left`` are unit vectors in the input
    frame; ``jaw`` is the detected jaw."""

    transform: NDArray[np.float64]
    jaw: Jaw
    occlusal: NDArray[np.float64]
    anterior: NDArray[np.float64]

    @property
    def left(self) -> NDArray[np.float64]:
        """The patient's left, a unit vector in the input frame."""
        x = np.cross(self.anterior, self.occlusal)
        return x if self.jaw == "upper" else -x

    def apply(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """Input-frame points (N, 3) in canonical coordinates."""
        rotation, shift = self.transform[:3, :3], self.transform[:3, 3]
        return np.asarray(points, dtype=np.float64) @ rotation.T + shift

    def to_input(self, points: NDArray[np.floating]) -> NDArray[np.float64]:
        """Canonical points (N, 3) back in input coordinates."""
        rotation, shift = self.transform[:3, :3], self.transform[:3, 3]
        return (np.asarray(points, dtype=np.float64) - shift) @ rotation


def _surface_samples(mesh: Mesh) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Face centroids and face areas (normalised to sum 1)."""
    corners = mesh.vertices[mesh.faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    areas = 0.5 * np.linalg.norm(cross, axis=1)
    total = float(areas.sum())
    if not total > 0:
        raise ValueError("the mesh has no area")
    return corners.mean(axis=1), areas / total


def _unevenness(
    centred: NDArray[np.float64],
    normals: NDArray[np.float64],
    weights: NDArray[np.float64],
    axis: NDArray[np.float64],
    side: float,
) -> float:
    """How far from planar the faces facing along ``axis`` on one side of the scan are: the
    RMS distance of their centroids from their best-fitting plane (mm). A model's cut base
    is flat (near 0); the biting surfaces, with cusps and embrasures, are not."""
    height = centred @ axis
    middle = (height.max() + height.min()) / 2
    facing = (np.abs(normals @ axis) > math.cos(math.radians(25.0))) & (
        side * (height - middle) > 0
    )
    if weights[facing].sum() <= 0:
        return 0.0
    points, mass = centred[facing], weights[facing] / weights[facing].sum()
    mean = (mass[:, None] * points).sum(axis=0)
    spread = (mass[:, None] * (points - mean)).T @ (points - mean)
    return float(math.sqrt(max(float(np.linalg.eigvalsh(spread)[0]), 0.0)))


def _face_normals(mesh: Mesh) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Unit face normals (zero for degenerate faces) and face areas."""
    corners = mesh.vertices[mesh.faces]
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    length = np.linalg.norm(cross, axis=1)
    normals = np.divide(cross, length[:, None], out=np.zeros_like(cross), where=length[:, None] > 0)
    return normals, 0.5 * length


def _occlusal_sign(
    mesh: Mesh,
    centre: NDArray[np.float64],
    centred: NDArray[np.float64],
    axes: NDArray[np.float64],
) -> float:
    """+1 if axes[2] points occlusally, -1 if it points gingivally (module docstring, step 2).

    ``centred`` are the face centroids minus the surface centroid ``centre``.
    """
    axis = axes[2]
    loops = [loop for loop in boundary_loops(mesh.faces) if len(loop) >= 8]
    if loops:
        longest = max(loops, key=lambda loop: _loop_length(mesh, loop))
        rim = mesh.vertices[longest]
        span = float(np.ptp(centred @ axis))
        offset = float((rim.mean(axis=0) - centre) @ axis)
        if abs(offset) > 0.1 * span:
            return -1.0 if offset > 0 else 1.0
    normals, weights = _face_normals(mesh)
    up = _unevenness(centred, normals, weights, axis, 1.0)
    down = _unevenness(centred, normals, weights, axis, -1.0)
    return 1.0 if up >= down else -1.0


def _loop_length(mesh: Mesh, loop: list[int]) -> float:
    points = mesh.vertices[loop]
    return float(np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1).sum())


def _gap_angle(plane: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    """The direction (angle in the plane) of the emptiest sector around the origin."""
    angles = np.arctan2(plane[:, 1], plane[:, 0])
    bins = ((angles + math.pi) / (2 * math.pi) * _ANGLE_BINS).astype(np.int64) % _ANGLE_BINS
    mass = np.bincount(bins, weights=weights, minlength=_ANGLE_BINS)
    kernel = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    smooth = sum(k * np.roll(mass, shift) for k, shift in zip(kernel, range(-2, 3), strict=True))
    # The circular mean of the nearly empty bins around the emptiest one.
    low = int(np.argmin(smooth))
    threshold = smooth[low] + 0.1 * (smooth.max() - smooth[low])
    chosen = [low]
    for step in (1, -1):
        k = low + step
        while smooth[k % _ANGLE_BINS] <= threshold and len(chosen) < _ANGLE_BINS // 2:
            chosen.append(k)
            k += step
    centres = (np.array(chosen) + 0.5) * 2 * math.pi / _ANGLE_BINS - math.pi
    return float(math.atan2(np.sin(centres).mean(), np.cos(centres).mean()))


def _mirror_error(points: NDArray[np.float64], tree: cKDTree, angle: float, offset: float) -> float:
    """How far the points mirrored in the plane through z at ``angle``, ``offset`` mm from
    the origin, lie from the surface: the mean distance, each capped at _MIRROR_CAP_MM.

    The cap lets the part of a partial arch that has no mirror image (the teeth beyond the
    other side's last one) count as a fixed cost instead of pulling the plane towards it.
    """
    normal = np.array([-math.sin(angle), math.cos(angle), 0.0])
    mirrored = points - 2.0 * (points @ normal - offset)[:, None] * normal
    distances, _ = tree.query(mirrored, distance_upper_bound=_MIRROR_CAP_MM)
    return float(np.mean(np.minimum(distances, _MIRROR_CAP_MM)))


def _symmetry_plane(points: NDArray[np.float64], start: float) -> tuple[float, float]:
    """The arch's mirror (mid-sagittal) plane near the direction ``start``: its angle and its
    offset (mm) from the origin. A coarse grid of angles and offsets on a small sample, then
    a simplex search on a larger one.

    The offset matters for partial arches, whose centroid lies off the midline; on a full
    arch it comes out near 0.
    """
    tree = cKDTree(points[:: max(1, len(points) // _SYMMETRY_TARGETS)])
    coarse = points[:: max(1, len(points) // _SYMMETRY_COARSE_SAMPLES)]
    angles = start + np.linspace(-_SYMMETRY_SPAN, _SYMMETRY_SPAN, 31)
    offsets = np.arange(-_SYMMETRY_SHIFT_MM, _SYMMETRY_SHIFT_MM + 0.5, 1.0)
    errors = np.array(
        [[_mirror_error(coarse, tree, float(a), float(c)) for c in offsets] for a in angles]
    )
    i, j = np.unravel_index(int(np.argmin(errors)), errors.shape)
    sample = points[:: max(1, len(points) // _SYMMETRY_SAMPLES)]
    found = minimize(
        lambda v: _mirror_error(sample, tree, float(v[0]), float(v[1])),
        np.array([angles[i], offsets[j]]),
        method="Nelder-Mead",
        options={"xatol": 1e-6, "fatol": 1e-9, "initial_simplex": _simplex(angles[i], offsets[j])},
    )
    return float(found.x[0]), float(found.x[1])


def _simplex(angle: float, offset: float) -> NDArray[np.float64]:
    """A starting simplex one coarse grid step wide around (angle, offset)."""
    step = 2 * _SYMMETRY_SPAN / 30
    return np.array([[angle, offset], [angle + step, offset], [angle, offset + 1.0]])


def _full_mirror_error(points: NDArray[np.float64], tree: cKDTree, angle: float) -> float:
    """Mean distance from the points mirrored in the plane through z at ``angle`` to the surface."""
    normal = np.array([-math.sin(angle), math.cos(angle), 0.0])
    mirrored = points - 2.0 * (points @ normal)[:, None] * normal
    distances, _ = tree.query(mirrored)
    return float(np.mean(distances))


def _symmetry_angle(points: NDArray[np.float64], start: float) -> float:
    """Refine the sagittal direction ``start`` of a full arch by mirror symmetry in planes
    through the origin (its centroid), every point counting: coarse grid, then golden section
    around the best grid point."""
    tree = cKDTree(points[:: max(1, len(points) // _SYMMETRY_TARGETS)])
    sample = points[:: max(1, len(points) // _SYMMETRY_SAMPLES)]
    grid = start + np.linspace(-_SYMMETRY_SPAN, _SYMMETRY_SPAN, 91)
    errors = [_full_mirror_error(sample, tree, float(a)) for a in grid]
    best = float(grid[int(np.argmin(errors))])
    low, high = best - _SYMMETRY_SPAN / 45, best + _SYMMETRY_SPAN / 45
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = _full_mirror_error(sample, tree, a), _full_mirror_error(sample, tree, b)
    while high - low > 1e-5:
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = _full_mirror_error(sample, tree, a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = _full_mirror_error(sample, tree, b)
    return (low + high) / 2


def normalise(mesh: Mesh, *, jaw: Jaw | None = None) -> Pose:
    """Find the canonical frame of a dental arch scan (module docstring) and its jaw.

    ``jaw`` overrides the detection (when the caller knows it). Guarantees a proper rigid
    transform (rotation with determinant +1 and a translation); a rotated and translated
    copy of a mesh gets the same canonical coordinates up to rounding. Raises ValueError for
    a mesh without area.
    """
    points, weights = _surface_samples(mesh)
    centre = (weights[:, None] * points).sum(axis=0)
    centred = points - centre
    covariance = (weights[:, None] * centred).T @ centred
    _, vectors = np.linalg.eigh(covariance)
    axes = vectors[:, ::-1].T.copy()  # rows: largest, middle, smallest principal axis
    axes[2] *= _occlusal_sign(mesh, centre, centred, axes)
    axes[1] = np.cross(axes[2], axes[0])  # a right-handed in-plane basis

    # Canonical-to-be coordinates with z occlusal; then turn about z so that y is anterior.
    # The horseshoe is read at the level of the crowns (the occlusal half of the scan), so
    # that a palate, which fills the inside of an upper arch far below them, does not hide it.
    local = (mesh.vertices - centre) @ axes.T
    crown_level = local[:, 2] >= np.median(local[:, 2])
    face_level = centred @ axes[2] >= np.median(local[:, 2])
    plane = centred[face_level] @ axes[:2].T
    posterior = _gap_angle(plane, weights[face_level])
    anterior_angle, offset = _symmetry_plane(local[crown_level], posterior + math.pi)
    if abs(offset) <= _PARTIAL_OFFSET_MM:
        # A full arch: its centroid lies on the mirror plane, and with every point counting
        # (no cap) the plane's direction comes out more precisely.
        anterior_angle = _symmetry_angle(local[crown_level], posterior + math.pi)
    anterior = math.cos(anterior_angle) * axes[0] + math.sin(anterior_angle) * axes[1]
    occlusal = axes[2]
    x_axis = np.cross(anterior, occlusal)
    rotation = np.stack([x_axis, anterior, occlusal])
    # On a partial arch the origin moves across onto the mirror plane, so that x = 0 is the
    # midline.
    origin = centre - offset * x_axis if abs(offset) > _PARTIAL_OFFSET_MM else centre
    transform = np.eye(4)
    transform[:3, :3] = rotation
    transform[:3, 3] = -rotation @ origin
    provisional = Pose(transform, "lower", occlusal, anterior)
    found = jaw if jaw is not None else detect_jaw(mesh, provisional)
    return Pose(transform, found, occlusal, anterior)


def palate_share(canonical: NDArray[np.float64], weights: NDArray[np.float64]) -> float:
    """The share of the surface area lying inside the horseshoe (canonical face centroids).

    Inside means: seen along the occlusal axis, nearer to the centroid than 0.35 of the
    surface's farthest reach in the same 10-degree sector. A palate fills that region; the
    open horseshoe of a lower scan leaves it empty.
    """
    plane = canonical[:, :2]
    radius = np.hypot(plane[:, 0], plane[:, 1])
    angles = np.arctan2(plane[:, 1], plane[:, 0])
    bins = ((angles + math.pi) / (2 * math.pi) * 36).astype(np.int64) % 36
    reach = np.zeros(36)
    np.maximum.at(reach, bins, radius)
    inside = radius < 0.35 * reach[bins]
    return float(weights[inside].sum())


def incisal_profile(
    canonical: NDArray[np.float64], spacing: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """The occlusal ridge of the front of the arch: (arc length, height) samples, 0.25 mm
    apart, arc length 0 at the midline (x = 0) and positive towards +x.

    The ridge is the highest point in each thin angular sector around the centroid, over the
    front 20 mm of the arch (sectors about 1.5 ``spacing``, the mesh's typical edge length,
    wide); arc length is measured along a smooth curve fitted to the ridge.
    Returns None for too few points.
    """
    x, y, z = canonical[:, 0], canonical[:, 1], canonical[:, 2]
    front = np.flatnonzero(y > np.max(y) - 20.0)
    if len(front) < 20:
        return None
    angle = np.arctan2(x[front], y[front])
    # Sectors about 1.5 edge lengths wide where the front is, so that each one holds some
    # ridge vertices whatever the resolution.
    radius = float(np.median(np.hypot(x[front], y[front])))
    width = max(math.radians(0.5), 1.5 * spacing / max(radius, 1e-9))
    sectors = np.floor((angle + math.pi) / width).astype(np.int64)
    order = np.lexsort((-z[front], sectors))  # by sector, highest first
    first = np.ones(len(order), dtype=bool)
    first[1:] = sectors[order][1:] != sectors[order][:-1]
    ridge = front[order[first]]  # one point per sector, in angular order
    if len(ridge) < 20:
        return None
    # Arc length along a smooth fit of the ridge (its raw points zigzag across flat tops).
    phi = angle[order[first]]
    dense = np.linspace(phi[0], phi[-1], 2001)
    fit_x = np.polyval(np.polyfit(phi, x[ridge], 5), dense)
    fit_y = np.polyval(np.polyfit(phi, y[ridge], 5), dense)
    dense_arc = np.concatenate(([0.0], np.cumsum(np.hypot(np.diff(fit_x), np.diff(fit_y)))))
    dense_arc -= np.interp(0.0, dense, dense_arc)
    arc = np.interp(phi, dense, dense_arc)
    grid = np.arange(math.ceil(arc[0] / 0.25), math.floor(arc[-1] / 0.25) + 1) * 0.25
    return grid, np.interp(grid, arc, z[ridge])


def central_incisor_width(canonical: NDArray[np.float64], spacing: float) -> float | None:
    """The mean mesio-distal width (mm) of the two central incisors, from the incisal profile.

    Along the front of the arch, the occlusal ridge dips at each embrasure; the first dip of
    at least 0.3 mm on each side of the midline dip ends a central incisor. Returns None when
    no such dips are found (missing incisors, worn or flat front).
    """
    found = incisal_profile(canonical, spacing)
    return None if found is None else _central_width(*found)


def _central_width(arc: NDArray[np.float64], height: NDArray[np.float64]) -> float | None:
    height = grey_closing(height, size=3)  # single-sample dips are sampling, not embrasures
    height = np.convolve(np.pad(height, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    middle = np.flatnonzero(np.abs(arc) < 2.5)
    if len(middle) == 0:
        return None
    mid = int(middle[np.argmin(height[middle])])
    sides: list[float] = []
    for step in (1, -1):
        peak = height[mid]
        k = mid + step
        while 0 < k < len(height) - 1:
            peak = max(peak, height[k])
            local_min = height[k] <= height[k - 1] and height[k] <= height[k + 1]
            if local_min and peak - height[k] > 0.3 and abs(arc[k] - arc[mid]) > 3.0:
                sides.append(abs(float(arc[k] - arc[mid])))
                break
            k += step
    return float(np.mean(sides)) if sides else None


def incisal_period(canonical: NDArray[np.float64], spacing: float) -> float | None:
    """The dominant spacing (mm) of the embrasures along the front of the arch: the lag of
    the first strong autocorrelation peak of the incisal profile (|arc| < 12 mm) between 3.5 and
    11 mm. Returns None when the profile is too short or has no such peak."""
    found = incisal_profile(canonical, spacing)
    return None if found is None else _period(*found)


def _period(arc: NDArray[np.float64], height: NDArray[np.float64]) -> float | None:
    inside = np.abs(arc) < 12.0
    if inside.sum() < 60:
        return None
    signal = grey_closing(height, size=3)[inside]
    signal = signal - np.convolve(np.pad(signal, 20, mode="edge"), np.ones(41) / 41, "valid")
    signal -= signal.mean()
    energy = float(signal @ signal)
    if energy <= 0:
        return None
    lags = np.arange(14, 45)  # 3.5 .. 11 mm at 0.25 mm
    n = len(signal)
    correlation = np.array([signal[: n - k] @ signal[k:] / (n - k) for k in lags]) / (energy / n)
    peaks = [
        i
        for i in range(1, len(lags) - 1)
        if correlation[i] >= correlation[i - 1] and correlation[i] >= correlation[i + 1]
    ]
    if not peaks:
        return None
    # The first strong peak: multiples of the period (every other embrasure) peak too.
    strongest = max(float(correlation[i]) for i in peaks)
    if strongest <= 0:
        return None
    first = next(i for i in peaks if correlation[i] >= 0.6 * strongest)
    lag = int(lags[first])
    if lag * 0.25 >= AMBIGUOUS_PERIOD:
        # Every other embrasure, or one tooth in two? A positive correlation at half the lag
        # means the half lag is a period too.
        half = [k for k in range(lag // 2 - 1, lag // 2 + 2) if k in range(lags[0], lags[-1] + 1)]
        if half and max(float(correlation[k - lags[0]]) for k in half) > 0:
            lag //= 2
    return float(lag * 0.25)


def _gap_depth(height: NDArray[np.float64]) -> NDArray[np.float64]:
    """How far the incisal ridge lies under its +-4 mm envelope at each sample (mm)."""
    closed = grey_closing(height, size=3)
    return np.asarray(maximum_filter1d(closed, 33, mode="nearest") - closed, dtype=np.float64)


def front_gap(arc: NDArray[np.float64], height: NDArray[np.float64]) -> bool:
    """Whether the incisal ridge (``incisal_profile``) has a gap within 10 mm of the midline:
    a dip at least FRONT_GAP_MM deep under the ridge's +-4 mm envelope. Embrasures dip 1-3 mm;
    where an incisor is missing the ridge falls to the gingiva, 5 mm or more."""
    front = np.abs(arc) < 10.0
    return bool(front.any() and float(_gap_depth(height)[front].max()) >= FRONT_GAP_MM)


def _intact_central_width(arc: NDArray[np.float64], height: NDArray[np.float64]) -> float | None:
    """With a gap in the front (``front_gap``): the distance from the midline (arc 0, the
    mirror plane) to the first embrasure on the side without a gap, or None when both sides
    have one."""
    depth = _gap_depth(height)
    smooth = grey_closing(height, size=3)
    smooth = np.convolve(np.pad(smooth, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    mid = int(np.argmin(np.abs(arc)))
    widths: list[float] = []
    for step in (1, -1):
        side = (step * arc > 0) & (np.abs(arc) < 10.0)
        if not side.any() or float(depth[side].max()) >= FRONT_GAP_MM:
            continue
        peak = smooth[mid]
        k = mid + step
        while 0 < k < len(smooth) - 1:
            peak = max(peak, smooth[k])
            local_min = smooth[k] <= smooth[k - 1] and smooth[k] <= smooth[k + 1]
            if local_min and peak - smooth[k] > 0.3 and abs(arc[k]) > 3.0:
                widths.append(abs(float(arc[k])))
                break
            k += step
    return min(widths) if widths else None


def embrasure_widths(arc: NDArray[np.float64], height: NDArray[np.float64]) -> list[float]:
    """The widths (mm) of the front teeth read off the incisal ridge (``incisal_profile``):
    the distances between neighbouring embrasure dips within INCISOR_REACH mm of the midline.

    An embrasure is a local minimum of the smoothed ridge at least EMBRASURE_PROMINENCE under
    the highest ridge within 4 mm on both sides. A distance that ends at a gap (``front_gap``,
    a missing tooth) or spans TWO_TEETH_MM or more (a missed embrasure: no single incisor is
    that wide) is not a tooth's width and is left out.
    """
    smooth = grey_closing(height, size=3)
    smooth = np.convolve(np.pad(smooth, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    depth = _gap_depth(height)
    reach = 16  # 4 mm at 0.25 mm
    dips: list[tuple[float, bool]] = []
    for i in (np.flatnonzero(np.abs(arc[1:-1]) <= INCISOR_REACH) + 1).tolist():
        if not (smooth[i] <= smooth[i - 1] and smooth[i] < smooth[i + 1]):
            continue
        rim = min(smooth[max(0, i - reach) : i + 1].max(), smooth[i : i + reach + 1].max())
        if rim - smooth[i] >= EMBRASURE_PROMINENCE:
            dips.append((float(arc[i]), bool(depth[i] >= FRONT_GAP_MM)))
    return [
        b - a
        for (a, gap_a), (b, gap_b) in pairwise(dips)
        if not (gap_a or gap_b) and MIN_TOOTH_MM < b - a < TWO_TEETH_MM
    ]


def _incisor_evidence(arc: NDArray[np.float64], height: NDArray[np.float64]) -> float:
    """Signed evidence from the front teeth, > 0 for an upper jaw, < 0 for a lower one.

    Each cue adds a vote bounded by its reliability (module constants; the four upper
    incisors are about 8.5 and 6.5 mm wide, the four lower ones about 5.5 mm):

    * the median embrasure width (``embrasure_widths``) against INCISOR_SPLIT, up to +-2
      (half that from a single width);
    * without a gap in the front: the spacing of the embrasures (``incisal_period``) up to
      +-1, and the central incisors' width (``central_incisor_width``) against
      UPPER_INCISOR_WIDTH, up to -1 but only +0.5 (a missed embrasure makes a lower
      incisor look wide, nothing makes an upper one look narrow);
    * with a gap (``front_gap``), where the period and the mean width read the gap as a wide
      tooth: the intact side's central incisor, measured from the midline, up to +-1.
    """
    votes: list[float] = []
    widths = embrasure_widths(arc, height)
    if widths:
        weight = 1.0 if len(widths) >= 2 else 0.5
        votes.append(weight * _bounded((float(np.median(widths)) - INCISOR_SPLIT) / 0.5, 2.0))
    if front_gap(arc, height):
        intact = _intact_central_width(arc, height)
        if intact is not None and intact <= WIDEST_INCISOR:
            votes.append(_bounded(intact - UPPER_INCISOR_WIDTH, 1.0))
        return sum(votes)
    period = _period(arc, height)
    if period is not None and period < AMBIGUOUS_PERIOD:
        middle = 0.5 * (UPPER_INCISOR_PERIOD + LOWER_INCISOR_PERIOD)
        half_band = 0.5 * (UPPER_INCISOR_PERIOD - LOWER_INCISOR_PERIOD)
        votes.append(_bounded((period - middle) / half_band, 1.0))
    width = _central_width(arc, height)
    if width is not None and width <= WIDEST_INCISOR:
        votes.append(min(_bounded(width - UPPER_INCISOR_WIDTH, 1.0), 0.5))
    return sum(votes)


def _bounded(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


def jaw_cue(mesh: Mesh, pose: Pose) -> Jaw | None:
    """Upper or lower from anatomy alone, or None when no cue is reliable.

    A palate, at least PALATE_SHARE of the area inside the horseshoe, means upper (lower
    scans are open where the tongue is). Otherwise the front teeth vote
    (``_incisor_evidence``): upper incisors are much wider than lower ones. Evidence beyond
    +-JAW_EVIDENCE decides; weaker evidence (a worn, coarse or gapped front) gives no cue.
    On a coarse scan (median edge from COARSE_EDGE_MM) "upper" needs COARSE_UPPER_EVIDENCE:
    coarse sampling loses embrasure notches, so lower incisors merge and look as wide as
    upper ones, while nothing makes upper incisors look narrow; the error is one-sided.

    It relies on ``pose`` having the right occlusal and anterior directions and on adult
    proportions; a rigid motion of the scan does not change it.
    """
    points, weights = _surface_samples(mesh)
    if palate_share(pose.apply(points), weights) >= PALATE_SHARE:
        return "upper"
    edges = mesh.vertices[mesh.faces[:, 1]] - mesh.vertices[mesh.faces[:, 0]]
    spacing = float(np.median(np.linalg.norm(edges, axis=1)))
    found = incisal_profile(pose.apply(mesh.vertices), spacing)
    if found is None:
        return None
    evidence = _incisor_evidence(*found)
    if evidence > (COARSE_UPPER_EVIDENCE if spacing >= COARSE_EDGE_MM else JAW_EVIDENCE):
        return "upper"
    if evidence < -JAW_EVIDENCE:
        return "lower"
    return None


def detect_jaw(mesh: Mesh, pose: Pose) -> Jaw:
    """Decide whether a scan is of the upper or the lower jaw: ``jaw_cue``, or "lower" when
    it finds no reliable cue (``cuspid.design.segment`` then decides by the tooth widths).

    Treat the result as a default; on real scans it has not been measured. On synthetic
    arches (``bench/design_dev.py``, tuning seeds) the cues are right on nearly all scans
    with a palate or all four incisors; a missing incisor is bridged by symmetry.
    """
    return jaw_cue(mesh, pose) or "lower"
