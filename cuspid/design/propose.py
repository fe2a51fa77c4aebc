"""Crown proposals: a watertight crown for a prepared tooth (or a pontic for a gap).

``propose_crown`` works in the scan's canonical frame (``pose.normalise``: +z occlusal) and
returns everything in the scan's input frame:

1. **Segmentation** (``segment`` unless given) names the tooth's vertices and its neighbours:
   the teeth one position mesial and distal (across the midline for a central incisor). A
   prepared tooth is shorter than its neighbours and a segmentation may bleed into it or
   miss it: a neighbour's label past that neighbour's contact towards the tooth is taken
   off (``_without_bleed``), and with both neighbours found, a stump standing between them
   (``_find_stump``) is joined to the tooth's label when that misses over a quarter of it.
2. **Local frame**: ``u`` runs from the mesial to the distal neighbour, ``v`` buccally (away
   from the arch's inside), z occlusally.
3. **Margin line** (prepared tooth): around the preparation, per direction, the outermost
   flat surface above the tooth's gingival line: the ledge of a chamfer or shoulder, whose
   outer edge is the sharpest bend between the unprepared root surface and the finish
   line. It is smoothed along the loop. For a gap, the pontic's base outline on the ridge.
4. **Template** (``crown_templates``) for the tooth type, its mesio-distal halves scaled to
   reach the neighbours' proximal surfaces, its bucco-lingual size from the margin and the
   neighbours, its cusp height from the neighbours' heights above their gingiva. The
   outline ring is warped onto the margin, so the crown emerges from the finish line.
5. **Contacts** are adjusted (each half of the crown separately) until the gap to each
   neighbour's surface is about ``CONTACT_TARGET_MM``; the **occlusal surface** is put in
   light contact with the antagonist (``OCCLUSAL_TARGET_MM``, inside the report's occlusal
   contact range): raised as a whole when it stands clear of it (by at most
   ``OCCLUSAL_RAISE_MAX_MM``, a template is not stretched further), lowered smoothly where
   it would press into it, and the contacts refitted (moving the marginal ridges changes
   them); the occlusal contact is then corrected by the report's exact measure
   (``_occlude``). Throughout, the outer surface is pushed out along the preparation's
   normals to the report's minimum wall thickness (plus ``WALL_SLACK_MM``) away from the
   margin, except where that would push it into a neighbour (``_Walls``): the minimum wall
   wins over the occlusal contact (a preparation reduced too little leaves a crown pressing
   into the antagonist, and the report warns occlusion_heavy and clearance_low), the
   proximal contact over the wall.
6. **Intaglio**: the preparation's own triangles inside the margin (never a neighbour's,
   holes left where the preparation dips below a scalloped margin filled), offset by the
   cement gap along their normals, joined to the outer surface's margin ring by a band of
   triangles; where that surface is not one clean disc running alongside the margin ring,
   the preparation's height field sampled on the outer surface's polar grid, sharing its
   margin ring. Either way the crown is one closed, outward-wound shell (checked).

The report (``crown_report``) measures the result against the margin, neighbours,
antagonist and preparation; the proposal does not hide its warnings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree  # type: ignore[import-untyped]  # scipy ships no type stubs

from cuspid.design.circular import circular_fill, circular_smooth
from cuspid.design.crown_report import (
    DEFAULT_LIMITS,
    CrownReport,
    ReportLimits,
    crown_report,
    open_edge_count,
    signed_volume,
)
from cuspid.design.crown_templates import CrownTemplate, crown_template, polar_grid, wall_profile
from cuspid.design.labels import Jaw, SegmentationResult, jaw_of_fdi
from cuspid.design.mesh import Mesh
from cuspid.design.pose import Pose, normalise
from cuspid.design.repair import boundary_loops, face_components
from cuspid.design.segment import SegmentationFailed, segment
from cuspid.design.teeth_shapes import tooth_type

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

CEMENT_GAP_MM: Final = 0.05
"""The intaglio lies this far off the preparation (the cement space)."""
CONTACT_TARGET_MM: Final = 0.03
"""Proximal gap aimed at, inside the default 0-0.1 mm contact range."""
OCCLUSAL_TARGET_MM: Final = 0.05
"""Gap to the antagonist aimed at (light occlusal contact), inside the default 0-0.2 mm
occlusal contact range of the report."""
OCCLUSAL_RAISE_MAX_MM: Final = 0.5
"""The template's occlusal surface is raised towards the antagonist by at most this much
(a crown still farther away is left out of occlusion, and the report says so)."""
WALL_SLACK_MM: Final = 0.1
"""The outer surface is kept this much beyond the minimum wall thickness from the
preparation (``ReportLimits.wall_min_mm``), away from the margin."""
_PUSH_REACH_MM: Final = 0.3  # pushed from this much inside the report's margin exclusion
_PUSH_ROUNDS: Final = 3  # the outer surface is pushed out this many times (each is exact
# for the nearest preparation point; the next catches points that came near another)
MIN_TOOTH_VERTICES: Final = 40
"""A tooth (or neighbour) with fewer labelled vertices counts as absent."""

_RINGS: Final = 20
_SEGMENTS: Final = 120
_BINS: Final = 72
_MAX_BAND_MM: Final = 3.0  # longest edge allowed between the margin ring and the intaglio
_MARGIN_ABOVE_GUM_MM: Final = 2.5  # a finish line lies at most this far above the gingiva
_FLAT_NZ: Final = 0.72  # a vertex normal this close to occlusal is on a flat surface
_CORRECTIONS: Final = 2  # contact corrections by the report's exact measure
_CONTACT_RANGE_MM: Final = (0.005, 0.08)  # a contact outside this is corrected
_OCCLUSAL_RANGE_MM: Final = (0.01, 0.12)  # an occlusal contact outside this is corrected
_OCCLUSAL_STEP_MM: Final = 0.5  # the largest exact occlusal correction at once
_BESIDE_MM: Final = 0.2  # a point behind a neighbour's vertex normal and this close to its
# line is inside the neighbour (farther beside it, it is past the neighbour's border)
_STUMP_ABOVE_GUM_MM: Final = 0.5  # a stump's vertices stand this far above the gingiva
_STUMP_HEIGHT_MM: Final = 2.5  # and its top at least this far
_TOP_SHARE: Final = 0.3  # a neighbour's highest vertices, its occlusal third
_BLEED_SLACK_MM: Final = 0.5  # a neighbour reaches at most this far past its occlusal
# third's proximal extent (the stump beside it is cut back 1 mm or more) ...
_PROXIMAL_FACING: Final = 0.5  # ... except down its proximal wall, facing the tooth this
_STEEP_NZ: Final = 0.6  # much (horizontal part of the unit normal) and this steep


class ProposalFailed(ValueError):
    """No crown can be proposed for this scan and tooth; the message says why."""


@dataclass(frozen=True, slots=True)
class CrownProposal:
    """A proposed crown in the scan's input frame.

    ``crown`` is watertight and outward-wound (positive volume); ``margin`` the closed margin
    polyline (K, 3) it sits on; ``report`` its measured quality; ``neighbours`` the FDI
    numbers of the neighbours it was fitted between (mesial first); ``pontic`` True when the
    tooth was missing and the crown is a pontic on the ridge.
    """

    crown: Mesh
    report: CrownReport
    margin: FloatArray
    tooth: int
    neighbours: tuple[int, ...] = ()
    pontic: bool = False


def neighbour_positions(tooth: int) -> tuple[int, int | None]:
    """The FDI numbers of the mesial and distal neighbours of ``tooth`` (None beyond the
    third molar); a central incisor's mesial neighbour is the other central incisor.

    Raises InvalidLabels (a ValueError) for a number that is not a permanent tooth.
    """
    jaw_of_fdi(tooth)
    quadrant, position = divmod(tooth, 10)
    if position == 1:
        other = {1: 2, 2: 1, 3: 4, 4: 3}[quadrant]
        mesial = 10 * other + 1
    else:
        mesial = tooth - 1
    return mesial, (tooth + 1 if position < 8 else None)


# --- geometry helpers ------------------------------------------------------------------------


def _vertex_normals(vertices: FloatArray, faces: IntArray) -> FloatArray:
    corners = vertices[faces]
    face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    normals = np.zeros_like(vertices)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_normals)
    lengths = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.asarray(
        np.divide(normals, lengths, out=np.zeros_like(normals), where=lengths > 0),
        dtype=np.float64,
    )


def _bins(angle: FloatArray, n: int) -> IntArray:
    return np.asarray(np.floor((angle + math.pi) / (2 * math.pi) * n).astype(np.int64) % n)


class _HeightField:
    """The highest surface point above each query position (x, y), over a set of faces."""

    def __init__(self, vertices: FloatArray, faces: IntArray) -> None:
        self.corners = vertices[faces]
        centroids = self.corners[:, :, :2].mean(axis=1)
        self.reach = float(
            np.linalg.norm(self.corners[:, :, :2] - centroids[:, None], axis=2).max(initial=0.0)
        )
        self.tree = cKDTree(centroids)
        self.vertex_tree = cKDTree(vertices[np.unique(faces), :2])
        self.vertex_z = vertices[np.unique(faces), 2]

    def height(self, xy: FloatArray) -> tuple[FloatArray, BoolArray]:
        """Heights at ``xy`` (Q, 2) and whether a face lies above each point (else the
        height of the nearest vertex)."""
        result, _ = self.locate(xy)
        found = np.isfinite(result)
        if not found.all():
            _, nearest = self.vertex_tree.query(xy[~found])
            result[~found] = self.vertex_z[np.asarray(nearest)]
        return result, found

    def locate(self, xy: FloatArray) -> tuple[FloatArray, IntArray]:
        """The highest face above each point of ``xy`` (Q, 2), and its height there;
        -1 and -inf where no face is above."""
        result = np.full(len(xy), -np.inf)
        owner = np.full(len(xy), -1, dtype=np.int64)
        lists = self.tree.query_ball_point(xy, self.reach + 1e-9)
        counts = np.fromiter((len(item) for item in lists), dtype=np.int64, count=len(xy))
        if counts.sum():
            query = np.repeat(np.arange(len(xy)), counts)
            face = np.fromiter(
                (f for item in lists for f in item), dtype=np.int64, count=int(counts.sum())
            )
            a, b, c = (self.corners[face, k] for k in range(3))
            p = xy[query]
            v0, v1, v2 = b[:, :2] - a[:, :2], c[:, :2] - a[:, :2], p - a[:, :2]
            den = v0[:, 0] * v1[:, 1] - v1[:, 0] * v0[:, 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                s = (v2[:, 0] * v1[:, 1] - v1[:, 0] * v2[:, 1]) / den
                t = (v0[:, 0] * v2[:, 1] - v2[:, 0] * v0[:, 1]) / den
            hit = (s >= -1e-9) & (t >= -1e-9) & (s + t <= 1 + 1e-9) & np.isfinite(s)
            z = a[:, 2] + s * (b[:, 2] - a[:, 2]) + t * (c[:, 2] - a[:, 2])
            query, face, z = query[hit], face[hit], z[hit]
            order = np.argsort(z, kind="stable")  # the highest face written last wins
            result[query[order]] = z[order]
            owner[query[order]] = face[order]
        return result, owner


@dataclass(frozen=True, slots=True)
class _Frame:
    """The tooth's local frame in canonical coordinates: origin, distal and buccal axes."""

    origin: FloatArray  # (2,) xy
    distal: FloatArray  # (2,)
    buccal: FloatArray  # (2,)

    def local(self, points: FloatArray) -> FloatArray:
        rel = points[:, :2] - self.origin
        return np.stack([rel @ self.distal, rel @ self.buccal, points[:, 2]], axis=1)

    def canonical(self, local: FloatArray) -> FloatArray:
        xy = self.origin + local[:, :1] * self.distal + local[:, 1:2] * self.buccal
        return np.concatenate([xy, local[:, 2:3]], axis=1)


@dataclass(frozen=True, slots=True)
class _Neighbour:
    fdi: int
    points: FloatArray  # local coordinates
    normals: FloatArray  # local coordinates
    faces: IntArray  # scan faces wholly on this tooth
    side: float  # -1 mesial, +1 distal


def _local_normals(frame: _Frame, normals: FloatArray) -> FloatArray:
    return np.stack(
        [normals[:, :2] @ frame.distal, normals[:, :2] @ frame.buccal, normals[:, 2]], 1
    )


# --- the proposal ----------------------------------------------------------------------------


@dataclass
class _Fit:
    """The adjustable crown parameters in local coordinates."""

    centre: FloatArray  # (2,) u, v of the outline's centre
    mesial: float  # half-widths, mm
    distal: float
    depth: float
    tip: float  # z of the highest cusp tip


def _margin_from_preparation(
    local: FloatArray,
    normals: FloatArray,
    faces: IntArray,
    tooth: BoolArray,
    gingiva: BoolArray,
    region: BoolArray,
    centre: FloatArray,
) -> FloatArray:
    """The margin loop (``_BINS``, 3) in local coordinates, around ``centre``; ``gingiva``
    marks the vertices labelled gingiva (not the tooth's)."""
    rel = local[:, :2] - centre
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    radius = np.hypot(rel[:, 0], rel[:, 1])
    index = _bins(angle, _BINS)
    # The gingival line: the tooth's vertices sharing a face with gingiva, not with a
    # neighbour (teeth touch at their contacts, far above the gingiva); across the
    # directions without any it is interpolated (or, without any at all, the tooth's
    # lowest vertices per direction).
    mixed = faces[tooth[faces].any(axis=1) & gingiva[faces].any(axis=1)]
    border = np.zeros(len(local), dtype=bool)
    border[mixed.reshape(-1)] = True
    border &= tooth
    gum = np.full(_BINS, np.nan)
    for b in range(_BINS):
        chosen = border & (index == b)
        if chosen.any():
            gum[b] = float(np.mean(local[chosen, 2]))
    if not np.isfinite(gum).any():
        for b in range(_BINS):
            if (tooth & (index == b)).any():
                gum[b] = float(np.percentile(local[tooth & (index == b), 2], 5))
    if not np.isfinite(gum).any():
        raise ProposalFailed("the prepared tooth has no gingival line")
    gum = circular_smooth(circular_fill(gum), 2)
    # A finish line lies near the gingiva: flat surfaces higher up are the occlusal table.
    low = (local[:, 2] > gum[index] + 0.2) & (local[:, 2] < gum[index] + _MARGIN_ABOVE_GUM_MM)
    flat = region & (normals[:, 2] > _FLAT_NZ) & low & (radius > 0.5)
    r = np.full(_BINS, np.nan)
    z = np.full(_BINS, np.nan)
    for b in range(_BINS):
        chosen = np.flatnonzero(flat & (index == b))
        if len(chosen) == 0:
            chosen = np.flatnonzero(tooth & low & (index == b))
        if len(chosen):
            best = chosen[np.argmax(radius[chosen])]
            r[b], z[b] = radius[best], local[best, 2]
    if np.isfinite(r).sum() < _BINS // 3:
        raise ProposalFailed("the preparation's margin line cannot be found")
    r = circular_smooth(circular_fill(r), 1)
    # A radial outlier (a flat spot on the gingiva) would pull the loop out: cap each bin at
    # its neighbourhood's median plus 1 mm.
    rolled = np.stack([np.roll(r, k) for k in range(-3, 4)])
    r = np.minimum(r, np.median(rolled, axis=0) + 1.0)
    z = circular_smooth(circular_fill(z), 2)
    theta = -math.pi + (np.arange(_BINS) + 0.5) * 2 * math.pi / _BINS
    return np.stack([centre[0] + r * np.cos(theta), centre[1] + r * np.sin(theta), z], axis=1)


def _margin_on_ridge(field: _HeightField, fit: _Fit) -> FloatArray:
    """A pontic's base outline: an ellipse inside the crown's outline, on the ridge."""
    theta = -math.pi + (np.arange(_BINS) + 0.5) * 2 * math.pi / _BINS
    half_u = 0.8 * 0.5 * (fit.mesial + fit.distal)
    half_v = 0.8 * 0.5 * fit.depth
    uv = fit.centre + np.stack([half_u * np.cos(theta), half_v * np.sin(theta)], axis=1)
    z, _ = field.height(uv)
    return np.concatenate([uv, z[:, None]], axis=1)


def _margin_at(margin: FloatArray, centre: FloatArray, angle: FloatArray) -> FloatArray:
    """Margin points at directions ``angle`` seen from ``centre`` (periodic interpolation)."""
    rel = margin[:, :2] - centre
    phi = np.arctan2(rel[:, 1], rel[:, 0])
    order = np.argsort(phi)
    phi, points = phi[order], margin[order]
    phi_ext = np.concatenate([phi - 2 * math.pi, phi, phi + 2 * math.pi])
    radius = np.tile(np.hypot(*(points[:, :2] - centre).T), 3)
    z = np.tile(points[:, 2], 3)
    r = np.interp(angle, phi_ext, radius)
    return np.stack(
        [
            centre[0] + r * np.cos(angle),
            centre[1] + r * np.sin(angle),
            np.interp(angle, phi_ext, z),
        ],
        axis=1,
    )


class _Walls:
    """Keeps the crown's outer surface at least a wall thickness from the preparation, away
    from the margin, without pushing it into a neighbour (local coordinates)."""

    def __init__(
        self,
        preparation: tuple[FloatArray, FloatArray],
        neighbours: list[_Neighbour],
        thickness: float,
        exclusion: float,
    ) -> None:
        self.preparation = cKDTree(preparation[0])
        self.normals = preparation[1]
        points = [n.points for n in neighbours]
        self.neighbours = cKDTree(np.concatenate(points)) if points else None
        self.thickness = thickness
        self.exclusion = exclusion

    def push(self, points: FloatArray, ring: FloatArray, movable: BoolArray) -> FloatArray:
        """``points`` with each ``movable`` one away from the margin ``ring`` (farther than
        ``exclusion`` less ``_PUSH_REACH_MM``) moved along the preparation's outward normal at
        its nearest preparation point until it stands ``thickness`` off that point (also
        when it had sunk into the preparation), unless that would bring it within
        ``CONTACT_TARGET_MM`` of a neighbour (there the proximal contact decides, and the
        report tells)."""
        result = points.copy()
        far, _ = cKDTree(_densified(ring)).query(points)
        reach = self.exclusion - _PUSH_REACH_MM
        chosen = np.flatnonzero(movable & (np.asarray(far) > reach))
        for _ in range(_PUSH_ROUNDS):
            distance, index = self.preparation.query(result[chosen])
            index = np.asarray(index)
            normal = self.normals[index]
            offset = result[chosen] - self.preparation.data[index]
            along = np.einsum("ij,ij->i", offset, normal)
            thin = (np.asarray(distance) < self.thickness) & (along < self.thickness)
            if not thin.any():
                break
            rows = chosen[thin]
            moved = result[rows] + (self.thickness - along[thin])[:, None] * normal[thin]
            if self.neighbours is not None:
                gap, _ = self.neighbours.query(moved)
                clear = np.asarray(gap) > CONTACT_TARGET_MM
                rows, moved = rows[clear], moved[clear]
            result[rows] = moved
        return result


class _Builder:
    """Builds the crown's two grids (outer and intaglio) in local coordinates."""

    def __init__(
        self,
        template: CrownTemplate,
        margin: FloatArray,
        centre: FloatArray,
        field: _HeightField,
        walls: _Walls | None,
    ) -> None:
        self.template = template
        self.rho, self.theta, self.grid_faces = polar_grid(_RINGS, _SEGMENTS)
        ring = np.concatenate([[0], np.repeat(np.arange(1, _RINGS + 1), _SEGMENTS)])
        self.segment = np.concatenate([[0], np.tile(np.arange(_SEGMENTS), _RINGS)])
        self.outline = template.outline(self.theta)
        self.margin = margin
        self.field = field
        self.walls = walls
        self.rim = ring == _RINGS
        self.margin_centre = centre  # the margin loop is star-shaped around it

    def margin_ring(self, fit: _Fit) -> FloatArray:
        outline = fit.centre + self._scaled(self.outline, fit)
        rel = outline - self.margin_centre
        return _margin_at(self.margin, self.margin_centre, np.arctan2(rel[:, 1], rel[:, 0]))

    def _scaled(self, uv: FloatArray, fit: _Fit) -> FloatArray:
        half_u = np.where(uv[:, 0] >= 0, fit.distal, fit.mesial)
        return np.stack([uv[:, 0] * half_u, 0.5 * fit.depth * uv[:, 1]], axis=1)

    def intaglio(self, fit: _Fit) -> FloatArray:
        """The intaglio on the polar grid: the height field of the preparation (or ridge)
        under the margin loop, ``CEMENT_GAP_MM`` above it (used for pontics, and where the
        preparation's own surface cannot be used)."""
        ring = self.margin_ring(fit)
        target = ring[self.segment]
        xy = self.margin_centre + self.rho[:, None] * (target[:, :2] - self.margin_centre)
        z, _ = self.field.height(xy)
        z = z + CEMENT_GAP_MM * np.clip(1.0 - (self.rho - 0.9) / 0.1, 0.0, 1.0)
        points = np.concatenate([xy, z[:, None]], axis=1)
        points[self.rim] = ring
        return points

    def outer(
        self, fit: _Fit, lowering: FloatArray | None = None, *, walls: bool = True
    ) -> FloatArray:
        """The outer grid: the template's surface at ``fit``, its occlusal surface lowered by
        ``lowering`` (mm per grid vertex, negative raises it), then pushed out to the
        minimum wall (unless ``walls`` is False)."""
        ring = self.margin_ring(fit)
        uv = self.rho[:, None] * self.outline[self.segment]
        xy = fit.centre + self._scaled(uv, fit)
        rim_xy = fit.centre + self._scaled(self.outline[self.segment], fit)
        margin = ring[self.segment]
        blend = np.clip((self.rho - 0.72) / 0.28, 0.0, 1.0)
        blend = blend * blend * (3.0 - 2.0 * blend)
        xy = xy + blend[:, None] * (margin[:, :2] - rim_xy)
        top = fit.tip + self.template.relief(uv[:, 0], uv[:, 1])
        if lowering is not None:
            top = top - lowering
        profile = wall_profile(self.rho)
        z = margin[:, 2] + (top - margin[:, 2]) * profile
        points = np.concatenate([xy, z[:, None]], axis=1)
        points[self.rim] = ring
        if walls and self.walls is not None:
            points = self.walls.push(points, ring, ~self.rim)
        return points

    def mesh(self, outer: FloatArray, inner: FloatArray) -> Mesh:
        count = len(outer)
        inner_index = np.arange(count) + count
        inner_index[self.rim] = np.flatnonzero(self.rim)
        keep = ~self.rim
        remap = np.full(2 * count, -1, dtype=np.int64)
        remap[:count] = np.arange(count)
        remap[count:][keep] = count + np.arange(int(keep.sum()))
        remap[count:][~keep] = np.flatnonzero(self.rim)
        vertices = np.concatenate([outer, inner[keep]])
        faces = np.concatenate([self.grid_faces, remap[self.grid_faces + count][:, ::-1]]).astype(
            np.int64
        )
        return Mesh(vertices, faces)


def _signed_gap(points: FloatArray, neighbour: _Neighbour) -> float:
    """Approximate signed distance from crown points to a neighbour's surface (negative
    inside), from the nearest neighbour vertex and its normal: a point is inside when it
    lies behind that normal within ``_BESIDE_MM`` of its line (not far beside the vertex,
    as past the neighbour's border with the gingiva)."""
    tree = cKDTree(neighbour.points)
    distance, index = tree.query(points)
    index = np.asarray(index)
    offset = points - neighbour.points[index]
    along = np.einsum("ij,ij->i", offset, neighbour.normals[index])
    beside = np.sqrt(np.maximum(distance**2 - along**2, 0.0))
    inside = (along < 0) & (beside < _BESIDE_MM)
    signed = np.where(inside, along, distance)
    return float(signed.min())


def _fit_contacts(
    builder: _Builder,
    fit: _Fit,
    neighbours: list[_Neighbour],
    lowering: FloatArray | None = None,
) -> None:
    """Move each half of the crown until its gap to that neighbour is about the target: a
    secant step, then bisection once the target is bracketed (the walls above the margin
    region are measured; the contact does not depend on the margin ring). ``lowering`` is
    the occlusal surface's lowering for the antagonist, when it is known (lowering the
    marginal ridges can open a contact)."""
    walls = builder.rho < 0.92
    brackets = {n.side: [0.5, math.inf] for n in neighbours}  # half-widths: open, tight
    for _ in range(12):
        outer = builder.outer(fit, lowering)[walls]
        done = True
        for neighbour in neighbours:
            gap = _signed_gap(outer, neighbour)
            current = fit.distal if neighbour.side > 0 else fit.mesial
            low, high = brackets[neighbour.side]
            if abs(gap - CONTACT_TARGET_MM) <= 0.015:
                continue
            done = False
            if gap > CONTACT_TARGET_MM:
                low = max(low, current)
            else:
                high = min(high, current)
            brackets[neighbour.side] = [low, high]
            step = current + float(np.clip(gap - CONTACT_TARGET_MM, -1.0, 1.0))
            if math.isfinite(high) and not low < step < high:
                step = 0.5 * (low + high)
            if neighbour.side > 0:
                fit.distal = max(1.0, step)
            else:
                fit.mesial = max(1.0, step)
        if done:
            break


def _correct_contacts(
    builder: _Builder,
    fit: _Fit,
    neighbours: list[_Neighbour],
    local: FloatArray,
    lowering: FloatArray | None,
) -> None:
    """Correct each half-width by the contact the report measures (exact surface distance
    and penetration, where ``_fit_contacts`` steered by an estimate from the neighbours'
    vertices and normals), at most ``_CORRECTIONS`` times, while a contact is outside
    ``_CONTACT_RANGE_MM``."""
    present = [n for n in neighbours if len(n.faces)]
    meshes = [_compact(Mesh(local, n.faces)) for n in present]
    for _ in range(_CORRECTIONS):
        crown = builder.mesh(builder.outer(fit, lowering), builder.intaglio(fit))
        report = crown_report(crown, margin=builder.margin_ring(fit), neighbours=meshes)
        done = True
        for neighbour, contact in zip(present, report.contacts_mm, strict=True):
            if _CONTACT_RANGE_MM[0] <= contact <= _CONTACT_RANGE_MM[1]:
                continue
            done = False
            step = float(np.clip(contact - CONTACT_TARGET_MM, -1.0, 1.0))
            if neighbour.side > 0:
                fit.distal = max(1.0, fit.distal + step)
            else:
                fit.mesial = max(1.0, fit.mesial + step)
        if done:
            break


def _occlusal_gaps(
    outer: FloatArray, tree: cKDTree, antagonist: FloatArray, normals: FloatArray, reach: float
) -> FloatArray:
    """Estimated signed gap from each outer grid point to the antagonist (negative inside
    it; inf farther than ``reach``): the distance along the nearest antagonist vertex's
    normal, which approaches the distance to its surface (the vertex distance overestimates
    it between coarse vertices), or minus the vertex distance behind it."""
    distance, index = tree.query(outer, distance_upper_bound=reach)
    gaps = np.full(len(outer), np.inf)
    close = np.isfinite(distance)
    if close.any():
        nearest = np.asarray(index)[close]
        offset = outer[close] - antagonist[nearest]
        along = np.einsum("ij,ij->i", offset, normals[nearest])
        gaps[close] = np.where(along < 0, -distance[close], along)
    return gaps


def _occlusal_lowering(
    builder: _Builder, fit: _Fit, antagonist: FloatArray, normals: FloatArray
) -> FloatArray | None:
    """The occlusal surface's lowering (mm per grid vertex, negative: raised) that puts it
    in light contact with the antagonist; None when it is nowhere near the antagonist.

    Guarantees (by the vertex estimate ``_occlusal_gaps``): the whole occlusal surface is
    raised by the smaller of its gap less ``OCCLUSAL_TARGET_MM`` and
    ``OCCLUSAL_RAISE_MAX_MM`` when it stands clear; then lowered smoothly (Gaussian bumps)
    wherever it comes closer than the target, except at points the minimum wall holds up
    (lowering cannot move them, and must not sink the surface around them).
    """
    tree = cKDTree(antagonist)
    reach = OCCLUSAL_RAISE_MAX_MM + 3.0
    inner = ~builder.rim
    gaps = _occlusal_gaps(builder.outer(fit), tree, antagonist, normals, reach)
    lowest = float(gaps[inner].min())
    if not math.isfinite(lowest):
        return None
    raise_by = float(np.clip(lowest - OCCLUSAL_TARGET_MM, 0.0, OCCLUSAL_RAISE_MAX_MM))
    lowering = np.full(len(builder.rho), -raise_by)
    spread = 1.2
    for _ in range(8):
        outer = builder.outer(fit, lowering)
        held = np.linalg.norm(outer - builder.outer(fit, lowering, walls=False), axis=1) > 1e-9
        gaps = _occlusal_gaps(outer, tree, antagonist, normals, reach)
        need = np.where(np.isfinite(gaps), OCCLUSAL_TARGET_MM - gaps, 0.0)
        need[builder.rim | held] = 0.0
        if need.max() <= 0.01:
            break
        worst = np.flatnonzero(need > 0.01)
        d2 = ((outer[:, None, :2] - outer[None, worst, :2]) ** 2).sum(axis=2)
        bump = (need[worst][None, :] * np.exp(-d2 / (2 * spread**2))).max(axis=1)
        lowering = lowering + bump * 1.05
    return lowering


def _occlude(
    builder: _Builder,
    fit: _Fit,
    antagonist: Mesh,
    lowering: FloatArray,
) -> FloatArray:
    """``lowering`` shifted as a whole, at most twice, until the occlusal contact the report
    measures (exact, with penetration) lies within ``_OCCLUSAL_RANGE_MM`` (the vertex
    estimate that steered ``_occlusal_lowering`` is not exact); a shift that does not bring
    it closer to ``OCCLUSAL_TARGET_MM`` (the minimum wall holds the surface) is undone, and
    the surface is never raised by more than ``OCCLUSAL_RAISE_MAX_MM`` in all. The
    antagonist is in local coordinates."""

    def measure(candidate: FloatArray) -> float:
        crown = builder.mesh(builder.outer(fit, candidate), builder.intaglio(fit))
        report = crown_report(crown, margin=builder.margin_ring(fit), antagonist=antagonist)
        gap = report.occlusal_contact_mm
        return math.inf if gap is None else gap  # never None: an antagonist was given

    gap = measure(lowering)
    for _ in range(_CORRECTIONS):
        if _OCCLUSAL_RANGE_MM[0] <= gap <= _OCCLUSAL_RANGE_MM[1]:
            break
        # A positive step raises the surface (lowers it less).
        room = OCCLUSAL_RAISE_MAX_MM + float(lowering[~builder.rim].min())
        step = float(np.clip(gap - OCCLUSAL_TARGET_MM, -_OCCLUSAL_STEP_MM, _OCCLUSAL_STEP_MM))
        step = min(step, max(room, 0.0))
        if abs(step) < 1e-3:
            break
        candidate = lowering - step
        moved = measure(candidate)
        if abs(moved - OCCLUSAL_TARGET_MM) >= abs(gap - OCCLUSAL_TARGET_MM):
            break
        lowering, gap = candidate, moved
    return lowering


def _neighbour(
    fdi: int,
    side: float,
    local: FloatArray,
    normals: FloatArray,
    labels: IntArray,
    faces: IntArray,
) -> _Neighbour | None:
    mask = labels == fdi
    if mask.sum() < MIN_TOOTH_VERTICES:
        return None
    return _Neighbour(
        fdi=fdi,
        points=local[mask],
        normals=normals[mask],
        faces=faces[mask[faces].all(axis=1)],
        side=side,
    )


def _neighbour_height(neighbour: _Neighbour, jaw: str, local_gum: float) -> float:
    """The neighbour's cusp height above the gingiva, relative to its nominal height."""
    position = neighbour.fdi % 10
    nominal = tooth_type("upper" if jaw == "upper" else "lower", position).height
    top = float(np.percentile(neighbour.points[:, 2], 99))
    return (top - local_gum) / nominal


def propose_crown(
    scan: Mesh,
    tooth: int,
    *,
    antagonist: Mesh | None = None,
    segmentation: SegmentationResult | None = None,
    jaw: Jaw | None = None,
    material: str = "zirconia",
    limits: ReportLimits = DEFAULT_LIMITS,
) -> CrownProposal:
    """Propose a crown for ``tooth`` (FDI) on ``scan``: a prepared tooth, or a gap.

    Guarantees: the crown is watertight (every edge shared by two opposite faces) with
    positive volume, in the scan's input frame; its margin ring is the detected margin line
    (``margin``, closed, in the input frame); it is fitted between the neighbours present
    (mesial and distal) and, with an antagonist, its occlusal surface is brought into light
    contact with it (``OCCLUSAL_TARGET_MM``; raised by at most ``OCCLUSAL_RAISE_MAX_MM``,
    never left pressing into it unless the minimum wall over the preparation holds it
    there); ``report`` is ``crown_report`` of it with those neighbours,
    the antagonist and the preparation. Without a prepared tooth (fewer than
    ``MIN_TOOTH_VERTICES`` labelled vertices, and no stump standing between both neighbours
    where the label is missing) the crown is a pontic resting on the ridge between both
    neighbours.

    ``jaw`` ("upper" or "lower"), when the caller knows it, is passed to ``segment`` instead
    of detecting it, and must be the tooth's jaw.

    Raises ProposalFailed (a ValueError) for a number that is not a tooth, a tooth of the
    other jaw (given, or detected by the segmentation), an unknown material, a scan that
    cannot be segmented, a tooth without neighbours (or a gap without both), a margin that
    cannot be found, or geometry the construction cannot handle; InvalidLabels when a given
    segmentation does not cover the scan; UnreadableMesh for an unusable mesh (both are
    ValueErrors, raised before any work).
    """
    scan.check()
    try:
        mesial_fdi, distal_fdi = neighbour_positions(tooth)
        tooth_jaw = jaw_of_fdi(tooth)
        limits.clearance_for(material)  # an unknown material is refused before any work
    except ValueError as error:
        raise ProposalFailed(str(error)) from None
    if antagonist is not None:
        antagonist.check()
    if jaw is not None and jaw != tooth_jaw:
        raise ProposalFailed(f"tooth {tooth} is not in the {jaw} jaw")
    if segmentation is None:
        try:
            segmentation = segment(scan, jaw=jaw)
        except SegmentationFailed as error:
            raise ProposalFailed(f"the scan cannot be segmented: {error}") from None
    segmentation.require_vertex_count(scan.vertex_count)
    if segmentation.jaw != tooth_jaw:
        raise ProposalFailed(f"tooth {tooth} is not in this scan's jaw ({segmentation.jaw})")
    try:
        pose = normalise(scan, jaw=segmentation.jaw)
    except ValueError as error:
        raise ProposalFailed(f"the scan cannot be oriented: {error}") from None
    try:
        return _propose(
            scan,
            tooth,
            antagonist,
            segmentation,
            pose,
            material,
            limits,
            (mesial_fdi, distal_fdi),
        )
    except ProposalFailed:
        raise
    except (ValueError, IndexError, np.linalg.LinAlgError) as error:
        # Degenerate geometry (an empty direction bin, a flat neighbour ...) on a scan this
        # engine does not understand: a clear refusal, not a traceback.
        raise ProposalFailed(f"the crown cannot be built on this scan: {error}") from error


def _propose(
    scan: Mesh,
    tooth: int,
    antagonist: Mesh | None,
    seg: SegmentationResult,
    pose: Pose,
    material: str,
    limits: ReportLimits,
    candidates: tuple[int, int | None],
) -> CrownProposal:
    canonical = pose.apply(scan.vertices)
    faces = scan.faces
    normals = _vertex_normals(canonical, faces)
    teeth = seg.labels > 0
    if teeth.any() and normals[teeth, 2].mean() < 0:
        normals = -normals  # the scan is wound inwards
    labels = _without_bleed(canonical, normals, faces, seg.labels, tooth, candidates)
    mine = labels == tooth
    found: list[tuple[int, float, NDArray[np.bool_]]] = []
    for fdi, side in ((candidates[0], -1.0), (candidates[1], 1.0)):
        if fdi is not None and int((labels == fdi).sum()) >= MIN_TOOTH_VERTICES:
            found.append((fdi, side, labels == fdi))
    if len(found) == 2:
        # A prepared tooth is shorter than its neighbours and a segmentation may miss it (or
        # much of it, labelling its lower part gingiva): a stump standing between the
        # neighbours is the preparation, joined to the label when that misses over a
        # quarter of it (a true label differs from it only by some gingiva at its foot).
        stump = _find_stump(canonical, faces, labels, tooth, found[0][2], found[1][2])
        if stump is not None and int((stump & ~mine).sum()) > int(mine.sum()) // 3:
            mine = mine | stump
    pontic = int(mine.sum()) < MIN_TOOTH_VERTICES
    if not found:
        raise ProposalFailed(f"no neighbouring tooth of {tooth} is found in the scan")
    if pontic and len(found) < 2:
        raise ProposalFailed(
            f"tooth {tooth} is missing and a pontic needs both neighbours in the scan"
        )

    # Local frame: distal axis between the neighbours (or from one of them to the tooth),
    # buccal axis away from the inside of the arch.
    xy = canonical[:, :2]
    means = {side: xy[mask].mean(axis=0) for _, side, mask in found}
    origin = 0.5 * (means[-1.0] + means[1.0]) if pontic else xy[mine].mean(axis=0)
    if len(means) == 2:
        distal = means[1.0] - means[-1.0]
    elif -1.0 in means:
        distal = origin - means[-1.0]
    else:
        distal = means[1.0] - origin
    distal = distal / np.linalg.norm(distal)
    buccal = np.array([-distal[1], distal[0]])
    if np.dot(buccal, origin - xy[teeth].mean(axis=0)) < 0:
        buccal = -buccal
    frame = _Frame(origin, distal, buccal)
    local = frame.local(canonical)
    local_normals = _local_normals(frame, normals)
    neighbours = [
        n
        for fdi, side, _ in found
        if (n := _neighbour(fdi, side, local, local_normals, labels, faces)) is not None
    ]

    nominal = tooth_type(jaw_of_fdi(tooth), tooth % 10)
    # Size: the neighbours' extents in this frame against their nominal sizes.
    ratios = []
    for n in neighbours:
        ntype = tooth_type(jaw_of_fdi(n.fdi), n.fdi % 10)
        band = n.points[:, 2] > np.percentile(n.points[:, 2], 30)
        v = n.points[band, 1]
        ratios.append((np.percentile(v, 98) - np.percentile(v, 2)) / ntype.buccolingual)
    size = float(np.clip(np.median(ratios), 0.8, 1.25)) if ratios else 1.0

    # The preparation and the gingiva around it, never a neighbour (the crown cannot rest
    # on one, and a margin reaching towards it must not climb its proximal surface).
    others = (labels > 0) & ~mine
    region_faces = faces[((mine | _near(mine, faces, 2)) & ~others)[faces].all(axis=1)]
    if pontic:
        near = (np.hypot(local[:, 0], local[:, 1]) < 8.0) & ~teeth
        region_faces = faces[near[faces].all(axis=1)]
    field = _HeightField(local, region_faces)

    # Proximal surfaces: each neighbour's extreme along u, near the crown's line.
    contact: dict[float, float] = {}
    for n in neighbours:
        band = np.abs(n.points[:, 1]) < 0.3 * nominal.buccolingual * size
        band &= n.points[:, 2] > np.percentile(n.points[:, 2], 40)
        u = n.points[band, 0] if band.sum() > 5 else n.points[:, 0]
        contact[n.side] = float(u.max() if n.side < 0 else u.min())

    if pontic:
        centre_v = float(np.mean([np.median(n.points[:, 1]) for n in neighbours]))
        gum_z = float(np.percentile(local[np.hypot(local[:, 0], local[:, 1]) < 3.0, 2], 90))
    else:
        centre_v = float(np.median(local[mine, 1]))
        gum_z = float(np.percentile(local[mine, 2], 3))
    mesial_end = contact.get(-1.0, contact.get(1.0, 0.0) - nominal.mesiodistal * size)
    distal_end = contact.get(1.0, mesial_end + nominal.mesiodistal * size)
    centre_u = 0.5 * (mesial_end + distal_end)
    half = max(1.5, 0.5 * (distal_end - mesial_end))

    heights = [_neighbour_height(n, jaw_of_fdi(tooth), _gum_of(n)) for n in neighbours]
    rel_height = float(np.clip(np.median(heights), 0.6, 1.4))
    fit = _Fit(
        centre=np.array([centre_u, centre_v]),
        mesial=half,
        distal=half,
        depth=nominal.buccolingual * size,
        tip=0.0,
    )
    if pontic:
        margin = _margin_on_ridge(field, fit)
        gum_z = float(np.median(margin[:, 2]))
    else:
        margin = _margin_from_preparation(
            local,
            local_normals,
            faces,
            mine,
            (labels == 0) & ~mine,
            mine | _near(mine, faces, 1),
            np.array([0.0, 0.0]),
        )
        extent = np.percentile(margin[:, 1], 98) - np.percentile(margin[:, 1], 2)
        fit.depth = 0.5 * fit.depth + 0.5 * (extent + 1.6)
        fit.centre[1] = 0.5 * (np.percentile(margin[:, 1], 98) + np.percentile(margin[:, 1], 2))
    neighbour_tops = [float(np.percentile(n.points[:, 2], 99)) for n in neighbours]
    crown_height = nominal.height * rel_height * size
    fit.tip = 0.5 * (gum_z + crown_height) + 0.5 * float(np.mean(neighbour_tops))
    template = crown_template(
        jaw_of_fdi(tooth), tooth % 10, width=2 * half, depth=fit.depth, height=crown_height
    )
    walls = None
    if not pontic:
        inside = faces[(mine & _inside_margin(local, margin))[faces].all(axis=1)]
        if len(inside):
            walls = _Walls(
                _surface_samples(local, local_normals, inside),
                neighbours,
                limits.wall_min_mm + WALL_SLACK_MM,
                limits.wall_margin_exclusion_mm,
            )
    builder = _Builder(
        template,
        margin,
        fit.centre.copy() if pontic else np.zeros(2),
        field,
        walls,
    )
    _fit_contacts(builder, fit, neighbours)

    lowering = None
    if antagonist is not None:
        opposite = pose.apply(antagonist.vertices)
        opposite_normals = _vertex_normals(opposite, antagonist.faces)
        opposite_local = frame.local(opposite)
        opp_normals_local = _local_normals(frame, opposite_normals)
        above = np.hypot(opposite_local[:, 0] - fit.centre[0], opposite_local[:, 1]) < 8.0
        if above.any() and opp_normals_local[above, 2].mean() > 0:
            opp_normals_local = -opp_normals_local  # its occlusal surface faces down here
        lowering = _occlusal_lowering(builder, fit, opposite_local, opp_normals_local)
        if lowering is not None:
            _fit_contacts(builder, fit, neighbours, lowering)
    _correct_contacts(builder, fit, neighbours, local, lowering)
    if antagonist is not None and lowering is not None:
        opposite_mesh = _compact(Mesh(opposite_local, antagonist.faces))
        lowering = _occlude(builder, fit, opposite_mesh, lowering)
    outer = builder.outer(fit, lowering)
    crown_local = None
    if not pontic:
        crown_local = _with_conformal_intaglio(
            outer,
            builder,
            local,
            local_normals,
            faces,
            mine,
            others,
            builder.margin_ring(fit),
        )
    if crown_local is None:
        crown_local = builder.mesh(outer, builder.intaglio(fit))

    def to_input(points: FloatArray) -> FloatArray:
        return pose.to_input(frame.canonical(points))

    crown = Mesh(to_input(crown_local.vertices), crown_local.faces)
    if signed_volume(crown) < 0:
        crown = Mesh(crown.vertices, crown.faces[:, ::-1].copy())
    margin_input = to_input(builder.margin_ring(fit))
    neighbour_meshes = [Mesh(scan.vertices, n.faces) for n in neighbours if len(n.faces)]
    preparation = None
    if not pontic:
        prepared = mine & _inside_margin(local, builder.margin_ring(fit))
        prep_faces = faces[prepared[faces].all(axis=1)]
        if len(prep_faces):
            preparation = Mesh(scan.vertices, prep_faces)
    report = crown_report(
        crown,
        margin=margin_input,
        neighbours=[_compact(m) for m in neighbour_meshes],
        antagonist=antagonist,
        preparation=None if preparation is None else _compact(preparation),
        material=material,
        limits=limits,
    )
    return CrownProposal(
        crown=crown,
        report=report,
        margin=margin_input,
        tooth=tooth,
        neighbours=tuple(n.fdi for n in neighbours),
        pontic=pontic,
    )


def _without_bleed(
    canonical: FloatArray,
    normals: FloatArray,
    faces: IntArray,
    labels: IntArray,
    tooth: int,
    candidates: tuple[int, int | None],
) -> IntArray:
    """``labels`` with each neighbour's label taken off the vertices that lie past its
    proximal contact towards the tooth (canonical frame, +z occlusal): a segmentation
    bleeds from a tall neighbour into the low prepared stump beside it.

    A crown is widest mesio-distally near its contact (the height of contour), so little of
    the neighbour lies more than ``_BLEED_SLACK_MM`` past the proximal extent of its
    occlusal third (``_TOP_SHARE`` of its vertices, above the stump and the gingiva) along
    the arch towards the tooth; what does is its proximal wall bulging below the contact,
    steep and facing the tooth (``_PROXIMAL_FACING``, ``_STEEP_NZ``), and keeps its label.
    The other vertices past that extent connected to the tooth's label become the tooth's;
    the rest (papilla, bare stump) become gingiva, where ``_find_stump`` and the margin may
    still claim them.
    """
    result = labels.copy()
    xy = canonical[:, :2]
    masks = [labels == fdi if fdi is not None else None for fdi in candidates]
    present = [m for m in masks if m is not None and int(m.sum()) >= MIN_TOOTH_VERTICES]
    mine = labels == tooth
    if int(mine.sum()) >= MIN_TOOTH_VERTICES:
        target = xy[mine].mean(axis=0)
    elif len(present) == 2:
        target = 0.5 * (xy[present[0]].mean(axis=0) + xy[present[1]].mean(axis=0))
    else:
        return result
    z = canonical[:, 2]
    bleed = np.zeros(len(labels), dtype=bool)
    for index, mask in enumerate(present):
        centre = xy[mask].mean(axis=0)
        # Along the arch: towards the other neighbour when both are there.
        goal = xy[present[1 - index]].mean(axis=0) if len(present) == 2 else target
        toward = goal - centre
        length = float(np.linalg.norm(toward))
        if length < 1e-6:
            continue
        toward = toward / length
        reach = (xy - centre) @ toward
        top = mask & (z >= np.percentile(z[mask], 100.0 * (1.0 - _TOP_SHARE)))
        extent = float(np.percentile(reach[top], 99))
        wall = (normals[:, :2] @ toward > _PROXIMAL_FACING) & (normals[:, 2] < _STEEP_NZ)
        bleed |= mask & (reach > extent + _BLEED_SLACK_MM) & ~wall
    if not bleed.any():
        return result
    result[bleed] = 0
    patch = faces[(bleed | mine)[faces].all(axis=1)]
    if len(patch) and mine.any():
        component = face_components(patch, len(labels))
        touching = np.unique(component[mine[patch].any(axis=1)])
        joined = np.zeros(len(labels), dtype=bool)
        joined[patch[np.isin(component, touching)].reshape(-1)] = True
        result[joined & bleed] = tooth
    return result


def _find_stump(
    canonical: FloatArray,
    faces: IntArray,
    labels: IntArray,
    tooth: int,
    mesial: BoolArray,
    distal: BoolArray,
) -> BoolArray | None:
    """The vertices (canonical frame, +z occlusal) of a preparation stump standing between
    the mesial and distal neighbours, found by geometry alone; None when there is none.

    Looked for among the vertices labelled gingiva or ``tooth`` between the neighbours'
    proximal extents and within their bucco-lingual width: those higher than
    ``_STUMP_ABOVE_GUM_MM`` above the neighbours' gingival level (their lowest points,
    interpolated along the arch between them). Their largest connected patch is a stump when
    it has at least ``MIN_TOOTH_VERTICES`` vertices, rises at least ``_STUMP_HEIGHT_MM``
    above that level and spans at least a third of the space between the neighbours (a
    ridge or a papilla does neither).
    """
    xy, z = canonical[:, :2], canonical[:, 2]
    start, stop = xy[mesial].mean(axis=0), xy[distal].mean(axis=0)
    along = stop - start
    span = float(np.linalg.norm(along))
    if span < 1e-6:
        return None
    along = along / span
    across = np.array([-along[1], along[0]])
    origin = 0.5 * (start + stop)
    u, w = (xy - origin) @ along, (xy - origin) @ across
    low, high = float(np.percentile(u[mesial], 95)), float(np.percentile(u[distal], 5))
    if high - low < 2.0:
        return None
    centre_w = 0.5 * float(np.median(w[mesial]) + np.median(w[distal]))
    half_w = 0.5 * max(
        float(np.percentile(w[side], 98) - np.percentile(w[side], 2)) for side in (mesial, distal)
    )
    gum = np.interp(
        u,
        [low, high],
        [float(np.percentile(z[mesial], 3)), float(np.percentile(z[distal], 3))],
    )
    free = (labels == 0) | (labels == tooth)
    window = free & (u > low - 0.3) & (u < high + 0.3) & (np.abs(w - centre_w) < half_w)
    raised = window & (z > gum + _STUMP_ABOVE_GUM_MM)
    patch = faces[raised[faces].all(axis=1)]
    if len(patch) == 0:
        return None
    component = face_components(patch, len(canonical))
    best = patch[component == np.bincount(component).argmax()]
    stump = np.zeros(len(canonical), dtype=bool)
    stump[best.reshape(-1)] = True
    if int(stump.sum()) < MIN_TOOTH_VERTICES:
        return None
    if float((z - gum)[stump].max()) < _STUMP_HEIGHT_MM:
        return None
    if float(np.ptp(u[stump])) < (high - low) / 3.0:
        return None
    return stump


def _inside_margin(
    local: FloatArray, margin: FloatArray, slack: float = 0.05, floor: float = 0.2
) -> BoolArray:
    """Vertices (local coordinates) within the margin loop seen from above (plus ``slack``),
    and not more than ``floor`` below the margin there (the point of the loop in the same
    direction), nor below the loop's lowest point by more than 3 mm (a deep groove)."""
    centre = margin[:, :2].mean(axis=0)
    rel = local[:, :2] - centre
    angle = np.arctan2(rel[:, 1], rel[:, 0])
    edge = _margin_at(margin, centre, angle)
    reach = np.hypot(*(edge[:, :2] - centre).T)
    radius = np.hypot(rel[:, 0], rel[:, 1])
    return np.asarray(
        (radius <= reach + slack)
        & ((local[:, 2] >= edge[:, 2] - floor) | (radius < 0.8 * reach))
        & (local[:, 2] >= margin[:, 2].min() - 3.0)
    )


def _with_conformal_intaglio(
    outer: FloatArray,
    builder: _Builder,
    local: FloatArray,
    normals: FloatArray,
    faces: IntArray,
    tooth: BoolArray,
    others: BoolArray,
    ring: FloatArray,
) -> Mesh | None:
    """The crown with the preparation's own triangles, offset by the cement gap along their
    normals, as its intaglio, joined to the outer surface's margin ring by a zipper band.
    Vertices of ``others`` (the other teeth) are never part of it.

    None when the preparation inside the margin is not one disc with one boundary loop (the
    caller falls back to the grid intaglio), so the result is always watertight.
    """
    near = _near(tooth, faces, 4) & ~others
    inside = near & _inside_margin(local, ring, slack=0.1, floor=0.6)
    within = near & _inside_margin(local, ring, slack=0.1, floor=math.inf)
    patch = _with_holes_filled(faces[inside[faces].all(axis=1)], faces[within[faces].all(axis=1)])
    for _ in range(4):
        if len(patch) < 20:
            return None
        component = face_components(patch, len(local))
        patch = patch[component == np.bincount(component).argmax()]
        starts, outgoing = np.unique(_border_edges(patch)[:, 0], return_counts=True)
        pinched = starts[outgoing > 1]
        if len(pinched) == 0:
            break
        patch = patch[~np.isin(patch, pinched).any(axis=1)]
    else:
        return None
    corners = local[patch]
    if np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])[:, 2].sum() < 0:
        patch = patch[:, ::-1]  # face up in local coordinates
    loops = boundary_loops(patch)
    if len(loops) != 1 or len(loops[0]) < 8:
        return None
    used = np.unique(patch)
    index = np.full(len(local), -1, dtype=np.int64)
    index[used] = np.arange(len(used))
    offset = local[used] + CEMENT_GAP_MM * normals[used]

    rim = np.flatnonzero(builder.rim)  # outer vertex ids of the margin ring, ccw
    loop = index[np.asarray(loops[0])]
    start = int(np.argmin(np.linalg.norm(offset[loop] - ring[0], axis=1)))
    loop = np.roll(loop, -start)
    base = len(outer)
    band = _zipper(outer[rim], rim, offset[loop], loop + base, builder.margin_centre)
    every = np.concatenate([outer, offset])
    # Each band triangle has one rim vertex and one loop vertex at (positions 1, 2) or
    # (2, 0) ...: measure the edges joining the two loops only.
    across = np.concatenate([band[:, [0, 2]], band[:, [1, 2]]])
    across = across[(across[:, 0] < base) != (across[:, 1] < base)]
    if np.linalg.norm(every[across[:, 0]] - every[across[:, 1]], axis=1).max() > _MAX_BAND_MM:
        return None  # the loops do not run side by side: the band would cut across
    vertices = np.concatenate([outer, offset])
    crown_faces = np.concatenate([builder.grid_faces, index[patch][:, ::-1] + base, band]).astype(
        np.int64
    )
    mesh = Mesh(vertices, crown_faces)
    return mesh if open_edge_count(mesh) == 0 else None


def _with_holes_filled(patch: IntArray, candidates: IntArray) -> IntArray:
    """``patch`` plus each connected group of the other ``candidates`` faces that it
    encloses (every boundary vertex of the group is a vertex of ``patch``): a preparation
    dipping below the margin between the teeth leaves holes in the patch, not a second rim."""
    if len(patch) == 0:
        return patch
    count = int(max(patch.max(), candidates.max(initial=0))) + 1
    weights = np.array([count * count, count, 1])
    keys = np.sort(patch, axis=1) @ weights
    other = candidates[~np.isin(np.sort(candidates, axis=1) @ weights, keys)]
    if len(other) == 0:
        return patch
    on_patch = np.zeros(count, dtype=bool)
    on_patch[patch.reshape(-1)] = True
    group = face_components(other, count)
    added = [patch]
    for label in np.unique(group).tolist():
        faces = other[group == label]
        border = np.unique(_border_edges(faces))
        if len(border) and on_patch[border].all():
            added.append(faces)
    return np.concatenate(added)


def _border_edges(faces: IntArray) -> IntArray:
    """The half-edges (E, 2) of ``faces`` that no other of them shares, as wound."""
    half = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, inverse, counts = np.unique(
        np.sort(half, axis=1), axis=0, return_inverse=True, return_counts=True
    )
    return np.asarray(half[counts[inverse.reshape(-1)] == 1], dtype=np.int64)


def _zipper(
    rim_points: FloatArray,
    rim_ids: IntArray,
    loop_points: FloatArray,
    loop_ids: IntArray,
    centre: FloatArray,
) -> IntArray:
    """Triangles joining two closed loops running the same way round the same centre (the
    rim's half-edges used backwards, the loop's forwards, both starting side by side): both
    are merged by the share of their length seen along the occlusal axis, so neither runs
    ahead of the other."""

    def turns(points: FloatArray) -> FloatArray:
        # The share of the loop's length seen from above (vertical runs add nothing, so
        # the loop's steps up and down a wall pair with one rim point).
        steps = np.linalg.norm(np.diff(points[:, :2], axis=0, append=points[:1, :2]), axis=1)
        length = np.concatenate([[0.0], np.cumsum(steps)[:-1]])
        return np.asarray(length / max(float(steps.sum()), 1e-12), dtype=np.float64)

    rim_turn = np.append(turns(rim_points), 1.0)
    loop_turn = np.append(turns(loop_points), 1.0)
    n_rim, n_loop = len(rim_ids), len(loop_ids)
    i = j = 0
    triangles = []
    while i < n_loop or j < n_rim:
        advance_rim = i >= n_loop or (j < n_rim and rim_turn[j + 1] <= loop_turn[i + 1])
        if advance_rim:
            triangles.append((rim_ids[(j + 1) % n_rim], rim_ids[j], loop_ids[i % n_loop]))
            j += 1
        else:
            triangles.append((loop_ids[i], loop_ids[(i + 1) % n_loop], rim_ids[j % n_rim]))
            i += 1
    return np.asarray(triangles, dtype=np.int64)


def _gum_of(neighbour: _Neighbour) -> float:
    return float(np.percentile(neighbour.points[:, 2], 3))


def _near(mask: BoolArray, faces: IntArray, rings: int) -> BoolArray:
    """Vertices within ``rings`` edges of ``mask``."""
    grown = mask.copy()
    for _ in range(rings):
        touched = grown[faces].any(axis=1)
        grown = grown.copy()
        grown[faces[touched].reshape(-1)] = True
    return grown


def _surface_samples(
    points: FloatArray, normals: FloatArray, faces: IntArray
) -> tuple[FloatArray, FloatArray]:
    """The faces' vertices, edge midpoints and centres (a surface sampled about half as
    finely as its mesh) and their unit normals (averaged from the vertex normals)."""

    def samples(values: FloatArray) -> FloatArray:
        corners = values[faces]
        edges = 0.5 * (corners + np.roll(corners, -1, axis=1))
        return np.concatenate([values[np.unique(faces)], edges.reshape(-1, 3), corners.mean(1)])

    directions = samples(normals)
    lengths = np.linalg.norm(directions, axis=1, keepdims=True)
    return samples(points), directions / np.maximum(lengths, 1e-12)


def _densified(loop: FloatArray, steps: int = 4) -> FloatArray:
    """A closed polyline with ``steps - 1`` points added evenly on each segment."""
    ends = np.roll(loop, -1, axis=0)
    fractions = np.arange(steps)[:, None, None] / steps
    return np.asarray((loop + fractions * (ends - loop)).reshape(-1, 3), dtype=np.float64)


def _compact(mesh: Mesh) -> Mesh:
    """The mesh without unused vertices."""
    used, faces = np.unique(mesh.faces, return_inverse=True)
    return Mesh(mesh.vertices[used], faces.reshape(-1, 3))
