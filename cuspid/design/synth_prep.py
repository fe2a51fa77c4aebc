"""Synthetic crown preparations with known ideal crowns, built on ``synth_pair``.

A preparation is made from one tooth of a synthetic arch, in the jaw's occlusal-up frame
(crowns towards +z), by moving only the heights of that tooth's vertices, so the scan keeps
its vertex count, faces and labels:

* the **margin** runs around the tooth ``margin_height_mm`` above the gingival line (the
  boundary between the tooth's and the gingiva's vertices, per direction around the tooth);
* inside the margin the tooth is cut down to a **tapered stump**: a chamfer ``chamfer_mm``
  wide rising 0.3 mm, then axial walls with a 6° taper, and the occlusal surface lowered by
  the occlusal reduction (1.5-2.0 mm, drawn from the seed);
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

from cuspid.design.labels import FDI_BY_JAW, Jaw, SegmentationResult, jaw_of_fdi
from cuspid.design.mesh import Mesh
from cuspid.design.repair import boundary_loops, face_components
from cuspid.design.synth import occlusal_frame, synth_pair

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_BINS: Final = 72  # directions around the tooth for the gingival line and the margin
_CHAMFER_RISE_MM: Final = 0.3
_TAPER: Final = math.radians(6.0)


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


def _circular_fill(values: FloatArray) -> FloatArray:
    """Fill NaN bins of a circular profile by periodic linear interpolation."""
    known = np.flatnonzero(np.isfinite(values))
    if len(known) == 0:
        raise PreparationFailed("the tooth has no gingival line")
    n = len(values)
    x = np.concatenate([known - n, known, known + n])
    y = np.tile(values[known], 3)
    return np.asarray(np.interp(np.arange(n), x, y), dtype=np.float64)


def _circular_smooth(values: FloatArray, width: int) -> FloatArray:
    kernel = np.ones(2 * width + 1) / (2 * width + 1)
    padded = np.concatenate([values[-width:], values, values[:width]])
    return np.asarray(np.convolve(padded, kernel, mode="valid"), dtype=np.float64)


def _bin_of(angle: FloatArray) -> IntArray:
    return np.asarray(
        np.floor((angle + math.pi) / (2 * math.pi) * _BINS).astype(np.int64) % _BINS,
        dtype=np.int64,
    )


def _per_bin(index: IntArray, values: FloatArray, reduce: str) -> FloatArray:
    result = np.full(_BINS, np.nan)
    for b in np.unique(index).tolist():
        chosen = values[index == b]
        result[b] = chosen.max() if reduce == "max" else chosen.mean()
    return result


def _at_angle(profile: FloatArray, angle: FloatArray) -> FloatArray:
    """Periodic linear interpolation of a per-bin profile at angles (bin centres)."""
    centres = -math.pi + (np.arange(_BINS) + 0.5) * 2 * math.pi / _BINS
    x = np.concatenate([centres - 2 * math.pi, centres, centres + 2 * math.pi])
    return np.asarray(np.interp(angle, x, np.tile(profile, 3)), dtype=np.float64)


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

    # The gingival line: tooth vertices sharing a face with gingiva, per direction.
    centre = up[mine, :2].mean(axis=0)
    rel = up[:, :2] - centre
    radius = np.hypot(rel[:, 0], rel[:, 1])
    bins = _bin_of(np.arctan2(rel[:, 1], rel[:, 0]))
    mixed = faces[mine[faces].any(axis=1) & ~mine[faces].all(axis=1)]
    border = np.zeros(len(up), dtype=bool)
    border[mixed.reshape(-1)] = True
    border &= mine
    if border.sum() < 12 or mine.sum() < 60:
        raise PreparationFailed(f"tooth {tooth} has too few vertices at this resolution")
    gum_line = _circular_smooth(_circular_fill(_per_bin(bins[border], up[border, 2], "mean")), 2)
    rng = np.random.default_rng([seed, tooth, 11])
    reduction = float(rng.uniform(1.5, 2.0))
    z_margin = _at_angle(gum_line + margin_height_mm, np.arctan2(rel[:, 1], rel[:, 0]))

    above = mine & (up[:, 2] >= z_margin)
    if above.sum() < 30:
        raise PreparationFailed(f"tooth {tooth} is too short to prepare")
    r_margin = _circular_smooth(_circular_fill(_per_bin(bins[above], radius[above], "max")), 1)
    inward = _at_angle(r_margin, np.arctan2(rel[:, 1], rel[:, 0])) - radius
    # Radially inside the margin (a deep groove running down a wall stays part of the crown).
    inside = mine & (inward > 0.0) & (up[:, 2] >= z_margin - 1.0)

    # The stump: chamfer, tapered axial walls, reduced occlusal surface.
    t = np.maximum(inward, 0.0)
    chamfer = z_margin + _CHAMFER_RISE_MM * np.minimum(t / chamfer_mm, 1.0) ** 2
    wall = chamfer + np.maximum(t - chamfer_mm, 0.0) / math.tan(_TAPER)
    prepared_z = np.maximum(z_margin, np.minimum(wall, up[:, 2] - reduction))
    prepared_z = np.minimum(prepared_z, up[:, 2])

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
