"""Synthetic crown preparations with known ideal crowns, built on ``synth_pair``.

A preparation is made from one tooth of a synthetic arch, in the jaw's occlusal-up frame
(crowns towards +z), by moving only the heights of that tooth's vertices, so the scan keeps
its vertex count, faces and labels:

* the **margin** runs around the tooth ``margin_height_mm`` above the gingival line (the
  boundary between the tooth's and the gingiva's vertices, per direction around the tooth;
  between the teeth, where the tooth meets its neighbour, interpolated), deeper where the
  tooth's surface rises too slowly from it for a crown of some thickness
  (``_ABOVE_CHAMFER_MM`` above the margin just inside the chamfer, down to
  ``_ABOVE_GUM_MM`` above the gingiva);
* inside the margin the tooth is cut down to a **tapered stump**: a chamfer ``chamfer_mm``
  wide rising 0.3 mm, then axial walls with a 6° taper, and everywhere at least the axial
  reduction (1.1-1.4 mm, sideways) and the occlusal reduction (1.5-1.9 mm, downwards) below
  the crown's outer surface (the surface eroded by a half-ellipsoid, ``_reduced_heights``;
  the surface within ``_SPARED_MM`` of the margin is spared, the crown thins out there);
  the stump never goes below the chamfer rising from the nearby margin;
* below the margin the tooth is untouched.

The **ideal crown** is the original tooth surface inside the margin (the outer surface)
closed onto the preparation (the intaglio, no cement gap): both share the margin ring's
vertices, so it is watertight. The antagonist is the opposing arch of the same
``synth_pair``, in the same pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree  # type: ignore[import-untyped]  # scipy ships no type stubs

from cuspid.design.circular import at_angle, circular_fill, circular_smooth
from cuspid.design.labels import FDI_BY_JAW, Jaw, SegmentationResult, jaw_of_fdi
from cuspid.design.mesh import Mesh
from cuspid.design.repair import boundary_loops, face_components
from cuspid.design.synth import occlusal_frame, synth_pair

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_BINS: Final = 72  # directions around the tooth for the gingival line and the margin
_CHAMFER_RISE_MM: Final = 0.3
_TAPER: Final = math.radians(6.0)
_OCCLUSAL_REDUCTION_MM: Final = (1.5, 1.9)  # drawn per preparation
_AXIAL_REDUCTION_MM: Final = (1.1, 1.4)  # drawn per preparation
_SPARED_MM: Final = 1.0  # the tooth's surface this close to the margin may come closer
_LOWERINGS: Final = 3  # rounds of deepening the margin (each moves it outwards a little)
_LEDGE_BAND_MM: Final = 0.3  # half-width of the ring read just inside the chamfer
_ABOVE_CHAMFER_MM: Final = 1.4  # the tooth's surface there stays this far above the margin
_ABOVE_GUM_MM: Final = 0.2  # and the margin at least this far above the gingiva
_SAMPLE_MM: Final = 0.25  # the crown's strip at the margin is sampled this finely


class PreparationFailed(ValueError):
    """The synthetic tooth could not be prepared (e.g. it is too small at this resolution)."""


@dataclass(frozen=True, slots=True)
class SynthPreparation:
    """One synthetic preparation and its ground truth, all in the scan's (posed) frame.

    ``scan`` is the arch with ``tooth`` prepared; ``segmentation`` its exact labels (the
    prepared tooth keeps its FDI number); ``antagonist`` the opposing arch; ``ideal_crown``
    the watertight, outward-wound original crown above the margin closed onto the
    preparation; ``preparation`` the prepared surface inside the margin (open, the crown's
    intaglio); ``margin`` the closed margin polyline (K, 3); ``transform`` the 4x4 pose that
    took the canonical frame of ``cuspid.design.synth`` to the scan.
    """

    scan: Mesh
    segmentation: SegmentationResult
    antagonist: Mesh
    ideal_crown: Mesh
    preparation: Mesh
    margin: FloatArray
    tooth: int
    jaw: Jaw
    transform: FloatArray


def _filled(values: FloatArray) -> FloatArray:
    """``circular_fill``, refusing a tooth whose profile has no known bin."""
    if not np.isfinite(values).any():
        raise PreparationFailed("the tooth has no gingival line")
    return circular_fill(values)


def _bin_of(angle: FloatArray) -> IntArray:
    return np.asarray(
        np.floor((angle + math.pi) / (2 * math.pi) * _BINS).astype(np.int64) % _BINS,
        dtype=np.int64,
    )


def _per_bin(index: IntArray, values: FloatArray, reduce: str) -> FloatArray:
    result = np.full(_BINS, np.nan)
    for b in np.unique(index).tolist():
        chosen = values[index == b]
        if reduce == "max":
            result[b] = chosen.max()
        elif reduce == "min":
            result[b] = chosen.min()
        else:
            result[b] = chosen.mean()
    return result


def _apply(transform: FloatArray, points: FloatArray) -> FloatArray:
    return np.asarray(points @ transform[:3, :3].T + transform[:3, 3], dtype=np.float64)


def synth_preparation(
    seed: int,
    tooth: int,
    *,
    target_vertices: int = 30_000,
    pose: bool = True,
    noise_mm: float = 0.02,
    margin_height_mm: float = 0.8,
    chamfer_mm: float = 1.0,
) -> SynthPreparation:
    """Prepare ``tooth`` (FDI) of the synthetic patient ``seed`` for a crown.

    Deterministic for the same arguments. Guarantees: ``scan`` has the vertices and faces of
    ``synth_pair(seed, ...)``'s arch of that jaw, with only the prepared tooth's heights
    changed; ``ideal_crown`` is watertight (every edge shared by two opposite faces) with
    positive volume; ``margin`` is its boundary with the preparation, closed (the last point
    joins the first). Raises ValueError (``labels.InvalidLabels``) for a number that is not
    a tooth, ``PreparationFailed`` (a ValueError) for a third molar (not generated) or a
    tooth too coarsely sampled to prepare, and ValueError as ``synth_pair`` does.
    """
    jaw = jaw_of_fdi(tooth)
    if tooth % 10 == 8 or tooth not in FDI_BY_JAW[jaw]:
        raise PreparationFailed(f"tooth {tooth} is not generated by the synthetic arches")
    upper, lower = synth_pair(seed, target_vertices=target_vertices, pose=pose, noise_mm=noise_mm)
    arch, other = (upper, lower) if jaw == "upper" else (lower, upper)
    frame = occlusal_frame(jaw)  # its own inverse (a half turn about y, or the identity)
    up = _apply(frame, arch.canonical_vertices())
    faces = arch.mesh.faces
    mine = arch.labels == tooth

    # The gingival line: tooth vertices sharing a face with gingiva, per direction (not with
    # a neighbouring tooth: teeth touch at their contacts, far above the gingiva).
    centre = up[mine, :2].mean(axis=0)
    rel = up[:, :2] - centre
    radius = np.hypot(rel[:, 0], rel[:, 1])
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    bins = _bin_of(angle)
    gingiva = arch.labels == 0
    mixed = faces[mine[faces].any(axis=1) & gingiva[faces].any(axis=1)]
    border = np.zeros(len(up), dtype=bool)
    border[mixed.reshape(-1)] = True
    border &= mine
    if border.sum() < 12 or mine.sum() < 60:
        raise PreparationFailed(f"tooth {tooth} has too few vertices at this resolution")
    gum_line = circular_smooth(_filled(_per_bin(bins[border], up[border, 2], "mean")), 2)
    rng = np.random.default_rng([seed, tooth, 11])
    occlusal = float(rng.uniform(*_OCCLUSAL_REDUCTION_MM))
    axial = float(rng.uniform(*_AXIAL_REDUCTION_MM))
    margin_line = gum_line + margin_height_mm
    for lowering in range(_LOWERINGS, -1, -1):
        z_margin = at_angle(margin_line, angle)
        above = mine & (up[:, 2] >= z_margin)
        if above.sum() < 30:
            raise PreparationFailed(f"tooth {tooth} is too short to prepare")
        r_margin = circular_smooth(_filled(_per_bin(bins[above], radius[above], "max")), 1)
        inward = at_angle(r_margin, angle) - radius
        if lowering:
            # Where the tooth's surface rises slowly from the margin (between the teeth),
            # the finish line goes deeper, so the crown is thick enough past its chamfer.
            ledge = mine & (np.abs(inward - chamfer_mm) < _LEDGE_BAND_MM)
            surface = _per_bin(bins[ledge], up[ledge, 2], "min") - _ABOVE_CHAMFER_MM
            deeper = np.fmin(margin_line, np.fmax(surface, gum_line + _ABOVE_GUM_MM))
            margin_line = circular_smooth(deeper, 1)
    # Radially inside the margin (a deep groove running down a wall stays part of the crown).
    inside = mine & (inward > 0.0) & (up[:, 2] >= z_margin - 1.0)

    # The crown region: faces wholly inside, its largest connected patch.
    patch = faces[inside[faces].all(axis=1)]
    if len(patch) == 0:
        raise PreparationFailed(f"tooth {tooth} has no surface above its margin")
    for _ in range(6):
        component = face_components(patch, len(up))
        patch = patch[component == np.bincount(component).argmax()]
        # A rim vertex where the patch touches itself (two boundary edges leave it) would
        # make the margin ambiguous: drop its faces.
        starts, outgoing = np.unique(_border_half_edges(patch)[:, 0], return_counts=True)
        pinched = starts[outgoing > 1]
        if len(pinched) == 0:
            break
        patch = patch[~np.isin(patch, pinched).any(axis=1)]
    loops = boundary_loops(patch)
    if not loops:
        raise PreparationFailed(f"the margin of tooth {tooth} is not a simple loop")
    rim = max(loops, key=len)
    used = np.unique(patch)

    # The stump: chamfer, tapered axial walls, and everywhere at least the axial (sideways)
    # and occlusal (downwards) reduction below the tooth's surface.
    t = np.maximum(inward, 0.0)
    chamfer = z_margin + _CHAMFER_RISE_MM * np.minimum(t / chamfer_mm, 1.0) ** 2
    wall = chamfer + np.maximum(t - chamfer_mm, 0.0) / math.tan(_TAPER)
    margin_up = np.column_stack([up[rim, :2], chamfer[rim]])
    reduced = _reduced_heights(
        up[used, :2], _crown_surface(up, patch, margin_up, rim), margin_up, axial, occlusal
    )
    prepared_z = up[:, 2].copy()
    floor = _chamfer_floor(up[used, :2], margin_up, chamfer_mm)
    prepared_z[used] = np.maximum(floor, np.minimum(wall[used], reduced))
    prepared_z = np.minimum(prepared_z, up[:, 2])

    scan_up = up.copy()
    scan_up[used, 2] = prepared_z[used]
    # Crown vertices: outer copies (original heights) of ``used``, then inner copies (the
    # stump); along the margin a strip joins the two, closing the crown.
    outer_index = np.full(len(up), -1, dtype=np.int64)
    outer_index[used] = np.arange(len(used))
    inner_index = outer_index + len(used)
    crown_vertices = np.concatenate([up[used], scan_up[used]])
    a, b = _border_half_edges(patch).T
    strip = np.concatenate(
        [
            np.stack([outer_index[b], outer_index[a], inner_index[a]], axis=1),
            np.stack([outer_index[b], inner_index[a], inner_index[b]], axis=1),
        ]
    )
    crown_faces = np.concatenate([outer_index[patch], inner_index[patch][:, ::-1], strip])

    to_scan = arch.transform @ frame
    crown = Mesh(_apply(to_scan, crown_vertices), crown_faces)
    prep_index = np.full(len(up), -1, dtype=np.int64)
    prep_index[used] = np.arange(len(used))
    preparation = Mesh(_apply(to_scan, scan_up[used]), prep_index[patch])
    # The margin follows the scan's orientation of the loop (outer surface winding).
    margin = _apply(to_scan, scan_up[np.asarray(rim)])
    scan = Mesh(_apply(to_scan, scan_up), faces)
    return SynthPreparation(
        scan=scan,
        segmentation=arch.segmentation(),
        antagonist=other.mesh,
        ideal_crown=_outward(crown),
        preparation=preparation,
        margin=margin,
        tooth=tooth,
        jaw=jaw,
        transform=arch.transform,
    )


def _chamfer_floor(query: FloatArray, margin: FloatArray, chamfer_mm: float) -> FloatArray:
    """The lowest the stump may go at each point ``query`` (x, y): the chamfer rising from the
    nearby margin points (the lowest of them: a scalloped margin climbs steeply between the
    teeth), or, farther than ``chamfer_mm`` from every margin point, the margin's lowest
    point (the stump's top never goes below the finish line)."""
    floor = np.full(len(query), float(margin[:, 2].min()) + _CHAMFER_RISE_MM)
    lists = cKDTree(margin[:, :2]).query_ball_point(query, chamfer_mm)
    for row, near in enumerate(lists):
        if near:
            across = np.linalg.norm(margin[near, :2] - query[row], axis=1) / chamfer_mm
            floor[row] = float((margin[near, 2] + _CHAMFER_RISE_MM * across**2).min())
    return floor


def _crown_surface(
    up: FloatArray, patch: IntArray, margin: FloatArray, rim: list[int]
) -> FloatArray:
    """Points over the ideal crown's outer surface (occlusal up): the tooth's surface inside
    the margin (vertices, edge midpoints, face centres) and, every ``_SAMPLE_MM``, the strip
    from each margin vertex's original height down to the margin."""
    corners = up[patch]
    edges = 0.5 * (corners + np.roll(corners, -1, axis=1))
    surface = [up[np.unique(patch)], edges.reshape(-1, 3), corners.mean(axis=1)]
    rise = up[np.asarray(rim), 2] - margin[:, 2]
    steps = 1 + math.ceil(float(rise.max(initial=0.0)) / _SAMPLE_MM)
    for fraction in np.linspace(0.0, 1.0, steps):
        surface.append(np.column_stack([margin[:, :2], margin[:, 2] + fraction * rise]))
    return np.concatenate(surface)


def _reduced_heights(
    query: FloatArray, surface: FloatArray, margin: FloatArray, axial: float, occlusal: float
) -> FloatArray:
    """The highest stump height at each point ``query`` (x, y) that keeps every point of the
    crown's outer surface (``surface``, occlusal up) at least ``axial`` mm away sideways and
    ``occlusal`` mm downwards: the surface eroded by a half-ellipsoid with those radii
    (infinite where no surface point is within ``axial``). The surface within
    ``_SPARED_MM`` of the margin is spared (the crown thins out to its margin there).
    """
    far, _ = cKDTree(margin).query(surface)
    tooth = surface[np.asarray(far) >= _SPARED_MM]
    height = np.full(len(query), np.inf)
    if len(tooth) == 0:
        return height
    lists = cKDTree(tooth[:, :2]).query_ball_point(query, axial)
    counts = np.fromiter((len(item) for item in lists), dtype=np.int64, count=len(query))
    rows = np.repeat(np.arange(len(query)), counts)
    near = np.fromiter((k for item in lists for k in item), dtype=np.int64, count=int(counts.sum()))
    across = np.linalg.norm(tooth[near, :2] - query[rows], axis=1)
    below = tooth[near, 2] - occlusal * np.sqrt(np.maximum(1.0 - (across / axial) ** 2, 0.0))
    np.minimum.at(height, rows, below)
    return height


def _border_half_edges(faces: IntArray) -> IntArray:
    """The half-edges (E, 2) a -> b of faces whose edge no other face uses."""
    half = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, inverse, counts = np.unique(
        np.sort(half, axis=1), axis=0, return_inverse=True, return_counts=True
    )
    return np.asarray(half[counts[inverse.reshape(-1)] == 1], dtype=np.int64)


def _outward(mesh: Mesh) -> Mesh:
    corners = mesh.vertices[mesh.faces]
    volume = np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum()
    if volume < 0:
        return Mesh(mesh.vertices, mesh.faces[:, ::-1].copy())
    return mesh
