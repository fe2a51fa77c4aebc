"""Parametric crown templates per tooth type, generated in code (no stored meshes).

A template describes a crown in its own coordinates: ``u`` along the arch (-1 at the mesial
contact, +1 at the distal one), ``v`` across it (+1 buccal or labial, -1 lingual or palatal),
heights in millimetres with the highest cusp tip at 0. Its outline is a superellipse
``|u|^p + |v|^p = 1`` whose exponent depends on the tooth type (squarer molars, rounder
incisors and canines); ``relief`` is the occlusal or incisal anatomy (cusps, fossae, grooves,
incisal edge) and ``wall_profile`` the 0..1 shoulder factor that turns the occlusal table
into axial walls with a height of contour near the occlusal third.

Surfaces are built on a polar grid (``polar_grid``): a centre vertex and ``rings`` rings of
``segments`` vertices each, ring ``rings`` being the outline; every crown mesh the engine
makes shares that topology, so two grids with one common outer ring close into a watertight
shell.

The anatomy is written from the textbook description of each tooth type (cusp count and
placement, incisal edge, fossae) and the mean sizes of ``teeth_shapes.tooth_type``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from cuspid.design.labels import Jaw
from cuspid.design.mesh import Mesh
from cuspid.design.teeth_shapes import ToothKind, tooth_type

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_OUTLINE_EXPONENT: Final[dict[ToothKind, float]] = {
    "incisor": 2.3,
    "canine": 2.1,
    "premolar": 2.5,
    "molar": 3.0,
}
_SHOULDER: Final = 0.6  # rho up to which the occlusal table is flat before the walls fall


def _gauss(u: FloatArray, v: FloatArray, cu: float, cv: float, su: float, sv: float) -> FloatArray:
    return np.asarray(np.exp(-0.5 * (((u - cu) / su) ** 2 + ((v - cv) / sv) ** 2)))


@dataclass(frozen=True, slots=True)
class CrownTemplate:
    """The shape of one tooth position in one jaw (see the module docstring).

    ``width`` is the mesio-distal diameter, ``depth`` the bucco-lingual one and ``height`` the
    clinical crown height, all in mm; ``exponent`` is the outline's superellipse exponent.
    """

    jaw: Jaw
    position: int
    kind: ToothKind
    width: float
    depth: float
    height: float
    exponent: float

    def outline(self, theta: FloatArray) -> FloatArray:
        """Points (S, 2) ``(u, v)`` of the unit outline in the directions ``theta`` (radians,
        counter-clockwise from +u towards +v)."""
        c, s = np.cos(theta), np.sin(theta)
        p = self.exponent
        r = (np.abs(c) ** p + np.abs(s) ** p) ** (-1.0 / p)
        return np.stack([r * c, r * s], axis=1)

    def relief(self, u: FloatArray, v: FloatArray) -> FloatArray:
        """Occlusal (incisal) anatomy: height in mm below the highest cusp tip, at template
        coordinates (u, v); at most 0. Depths scale with the template's bucco-lingual size."""
        scale = self.depth / tooth_type(self.jaw, self.position).buccolingual
        if self.kind == "incisor":
            # A labially placed incisal edge, thinning lingually into the cingulum slope,
            # with rounded incisal corners and a shallow lingual fossa.
            edge = -2.6 * np.abs(v - 0.12) ** 1.7 - 1.1 * np.abs(u) ** 4
            fossa = 0.5 * _gauss(u, v, 0.0, -0.4, 0.35, 0.22)
            height = edge - fossa
        elif self.kind == "canine":
            # One cusp, its distal slope longer than the mesial one.
            slope = np.where(u < 0.05, 2.4, 1.9) * np.abs(u - 0.05)
            height = -(slope + 2.4 * np.abs(v - 0.08) ** 1.5)
        elif self.kind == "premolar":
            lingual = 0.6 if (self.jaw == "lower" and self.position == 4) else 0.85
            cusps = np.maximum(
                _gauss(u, v, 0.0, 0.4, 0.4, 0.3), lingual * _gauss(u, v, 0.0, -0.42, 0.4, 0.28)
            )
            groove = 0.4 * np.exp(-0.5 * (v / 0.1) ** 2) * np.clip(1.0 - np.abs(u), 0.0, 1.0)
            height = 2.0 * (cusps - 1.0) - groove - 0.5 * u**2
        else:
            tips = ((-0.42, 0.42), (0.42, 0.42), (-0.42, -0.42), (0.42, -0.42))
            weights = (1.0, 0.92, 1.0, 0.8) if self.jaw == "lower" else (1.0, 0.9, 1.08, 0.72)
            cusps = np.zeros_like(u)
            for (cu, cv), w in zip(tips, weights, strict=True):
                cusps = np.maximum(cusps, w * _gauss(u, v, cu, cv, 0.32, 0.32))
            if self.jaw == "lower" and self.position == 6:
                cusps = np.maximum(cusps, 0.72 * _gauss(u, v, 0.82, 0.15, 0.22, 0.22))
            fissure = 0.45 * np.exp(-0.5 * (v / 0.09) ** 2) + 0.3 * np.exp(-0.5 * (u / 0.09) ** 2)
            height = 2.0 * (cusps - max(weights)) - fissure * (cusps < 0.85)
        height = np.minimum(height, 0.0)
        return np.asarray(scale * height, dtype=np.float64)

    def mesh(self, *, rings: int = 14, segments: int = 72) -> Mesh:
        """The template as a closed, watertight, outward-wound solid: its outer surface on a
        polar grid above a flat base at z = 0 (the outline), x along u (mm, +distal), y along
        v (+buccal), z up; the highest cusp tip at z = ``height``."""
        rho, theta, faces = polar_grid(rings, segments)
        uv = rho[:, None] * self.outline(theta)[_ring_segment(rings, segments)[1]]
        u, v = uv[:, 0], uv[:, 1]
        z = (self.height + self.relief(u, v)) * wall_profile(rho)
        top = np.stack([0.5 * self.width * u, 0.5 * self.depth * v, z], axis=1)
        base_centre = np.array([[0.0, 0.0, 0.0]])
        vertices = np.concatenate([top, base_centre])
        centre = len(top)
        outer = 1 + (rings - 1) * segments + np.arange(segments)
        base = np.stack([np.full(segments, centre), np.roll(outer, -1), outer], axis=1)
        return Mesh(vertices, np.concatenate([faces, base]))


def _ring_segment(rings: int, segments: int) -> tuple[IntArray, IntArray]:
    """Ring (0 for the centre) and segment index of every polar-grid vertex."""
    ring = np.concatenate([[0], np.repeat(np.arange(1, rings + 1), segments)])
    segment = np.concatenate([[0], np.tile(np.arange(segments), rings)])
    return ring.astype(np.int64), segment.astype(np.int64)


def polar_grid(rings: int, segments: int) -> tuple[FloatArray, FloatArray, IntArray]:
    """The polar grid shared by every crown surface.

    Returns ``rho`` per vertex (0 at the centre, 1 on the outline; rings are denser towards
    the outline, where the walls fall), ``theta`` per segment (``segments`` angles, counter-
    clockwise from 0) and the faces, wound counter-clockwise seen from +z when vertex
    ``1 + (k - 1) * segments + j`` is put at radius rho, angle theta[j]. Raises ValueError for
    fewer than 2 rings or 8 segments.
    """
    if rings < 2 or segments < 8:
        raise ValueError("a crown grid needs at least 2 rings and 8 segments")
    ring, _ = _ring_segment(rings, segments)
    levels = 1.0 - (1.0 - np.arange(rings + 1) / rings) ** 1.4
    rho = levels[ring]
    theta = np.asarray(np.arange(segments) * (2.0 * math.pi / segments), dtype=np.float64)
    j = np.arange(segments)
    nxt = (j + 1) % segments
    fan = np.stack([np.zeros(segments, dtype=np.int64), 1 + j, 1 + nxt], axis=1)
    quads = []
    for k in range(1, rings):
        a = 1 + (k - 1) * segments + j
        b = 1 + (k - 1) * segments + nxt
        c = 1 + k * segments + j
        d = 1 + k * segments + nxt
        quads += [np.stack([a, c, d], axis=1), np.stack([a, d, b], axis=1)]
    faces = np.concatenate([fan, *quads]).astype(np.int64)
    return np.asarray(rho, dtype=np.float64), theta, faces


def wall_profile(rho: FloatArray) -> FloatArray:
    """Shoulder factor: 1 on the occlusal table (rho <= 0.6), falling along a quarter
    superellipse to 0 on the outline (rho = 1), so the walls stand nearly upright."""
    t = np.clip((rho - _SHOULDER) / (1.0 - _SHOULDER), 0.0, 1.0)
    return np.asarray((1.0 - t**2.5) ** 0.5, dtype=np.float64)


def crown_template(
    jaw: Jaw,
    position: int,
    *,
    width: float | None = None,
    depth: float | None = None,
    height: float | None = None,
) -> CrownTemplate:
    """The template of tooth ``position`` (1 = central incisor … 8 = third molar) in ``jaw``,
    at the given sizes in mm (the nominal mean sizes where not given).

    Raises ValueError for a position outside 1..8 or a size that is not positive.
    """
    nominal = tooth_type(jaw, position)
    sizes = (
        nominal.mesiodistal if width is None else width,
        nominal.buccolingual if depth is None else depth,
        nominal.height if height is None else height,
    )
    if min(sizes) <= 0:
        raise ValueError(f"crown sizes must be positive, got {sizes}")
    return CrownTemplate(
        jaw=jaw,
        position=position,
        kind=nominal.kind,
        width=float(sizes[0]),
        depth=float(sizes[1]),
        height=float(sizes[2]),
        exponent=_OUTLINE_EXPONENT[nominal.kind],
    )
