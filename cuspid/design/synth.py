"""Synthetic ground truth: labelled intraoral arches that look like real scans.

An arch is one open triangle sheet swept along a horseshoe arch curve: for each station ``s``
along the curve (arc length, millimetres) a cross-section runs from the lingual cut, over the
alveolar ridge, to the buccal vestibule; crowns are raised out of that ridge as parametric
shapes per tooth type (``teeth_shapes``). Each cross-section is resampled evenly by arc
length, so steep crown walls get as many vertices as flat gingiva. Every vertex knows which
crown (if any) lifted it, which gives exact per-vertex FDI labels; the margin is where the
crown rises out of the gingiva.

The canonical frame (before the random pose), shared by both jaws and by ``synth_pair``:

* +y is anterior: the incisors are at the largest y; the arch opens towards -y.
* **-x is the patient's right, +x the patient's left, for both jaws** (upper teeth 1x and
  lower teeth 4x have x < 0; 2x and 3x have x > 0).
* +z is inferior (x, y, z right-handed): upper crowns point to +z, lower crowns to -z; the
  occlusal plane (mean cusp height of premolars and molars) is z = 0 with the upper arch
  above it (z < 0) and the lower below (z > 0); incisors reach 1-2 mm past it (overbite).
* Origin: x = 0 is the midline; y = 0 is the lower arch curve's incisal point, and the upper
  arch sits in front of it by the incisors' thickness plus an overjet of 0.5-2.5 mm.

Equivalently, in a jaw's own occlusal-up frame (crowns towards +z', incisors towards +y',
right-handed), the patient's right is at -x' for an upper jaw and at +x' for a lower jaw:
that is the rule a segmenter needs, and ``occlusal_frame`` returns that frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from cuspid.design.labels import SegmentationResult, write_labels
from cuspid.design.mesh import Mesh, write_ply
from cuspid.design.teeth_shapes import ToothType, crown_profile, crown_top, tooth_type

Jaw = Literal["upper", "lower"]
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

_RIGHT_QUADRANT: Final[dict[Jaw, int]] = {"upper": 1, "lower": 4}
_LEFT_QUADRANT: Final[dict[Jaw, int]] = {"upper": 2, "lower": 3}
_CONTACT: Final = 0.96  # tooth spacing as a share of the mesio-distal width (tight contacts)
_FOOTPRINT: Final = 1.12  # footprint radius over the visible crown's half-size
_RETROMOLAR: Final = 6.0  # gingiva kept distal of the last tooth position, mm
_GINGIVA_DEPTH: Final = 4.5  # how far the ridge falls at its nominal half-width, mm
_PALATE_REACH: Final = 28.0  # the farthest a palatal cross-section runs from the arch curve, mm


@dataclass(frozen=True, slots=True)
class SynthArch:
    """One synthetic arch with its ground truth.

    ``labels`` (N,) holds 0 for gingiva or the FDI number of the vertex's tooth; ``instances``
    (N,) holds 0 for gingiva and 1..k per tooth, numbered from the patient's right distal end
    to the left distal end. ``transform`` is the 4x4 rigid pose that took the canonical frame
    (see the module docstring) to ``mesh``; ``centroids`` maps each FDI number present to the
    mean of its vertices, in the posed frame.
    """

    mesh: Mesh
    labels: IntArray
    instances: IntArray
    jaw: Jaw
    teeth: tuple[int, ...]
    transform: FloatArray
    centroids: dict[int, FloatArray] = field(default_factory=dict)

    def canonical_vertices(self) -> FloatArray:
        """The vertices in the canonical (unposed) frame: inverse of ``transform`` applied."""
        inverse = np.linalg.inv(self.transform)
        return np.asarray(self.mesh.vertices @ inverse[:3, :3].T + inverse[:3, 3], dtype=np.float64)

    def segmentation(self) -> SegmentationResult:
        """The ground truth as a validated ``SegmentationResult``."""
        return SegmentationResult(jaw=self.jaw, labels=self.labels, instances=self.instances)


@dataclass(frozen=True, slots=True)
class _Tooth:
    fdi: int
    kind: ToothType
    center: float  # arc length of the crown centre, mm (negative: patient's right)
    md: float
    bl: float
    height: float
    rotation: float  # about the occlusal axis, radians
    shift: float  # buccal (+) / lingual (-) displacement, mm
    jitter: FloatArray

    @property
    def distal_sign(self) -> float:
        return -1.0 if self.center < 0 else 1.0

    def reach(self) -> float:
        return 0.5 * max(self.md, self.bl) + abs(self.shift) + 0.5


@dataclass(frozen=True, slots=True)
class _Curve:
    s: FloatArray
    xy: FloatArray
    normal: FloatArray
    radius: FloatArray  # radius of curvature (large where straight)

    def at(self, s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        xy = np.stack([np.interp(s, self.s, self.xy[:, k]) for k in (0, 1)], axis=1)
        normal = np.stack([np.interp(s, self.s, self.normal[:, k]) for k in (0, 1)], axis=1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        return xy, normal, np.interp(s, self.s, self.radius)


def occlusal_frame(jaw: Jaw) -> FloatArray:
    """The 4x4 map from the canonical frame to the jaw's occlusal-up frame.

    In the returned frame crowns point to +z and incisors to +y (right-handed); the patient's
    right is at -x for an upper jaw and at +x for a lower jaw (a 180° turn about y).
    """
    frame = np.eye(4)
    if jaw == "lower":
        frame[:3, :3] = np.diag([-1.0, 1.0, -1.0])
    return frame


def _arch_curve(half_length: float, s_molar: float, half_width: float, k: float) -> _Curve:
    """A symmetric horseshoe y = a (1 - |x|^k), scaled so the second-molar centre (at arc
    length ``s_molar``) sits ``half_width`` from the midline; sampled by arc length."""
    x = np.linspace(0.0, 4.0, 6000)
    y = 1.0 - x**k
    length = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    ratio = length[1:] / x[1:]
    x_molar = float(np.interp(s_molar / half_width, ratio, x[1:]))
    scale = half_width / x_molar
    s_side = np.linspace(0.0, half_length, 800)
    xs = np.interp(s_side, scale * length, scale * x)
    s = np.concatenate([-s_side[:0:-1], s_side])
    xs = np.concatenate([-xs[:0:-1], xs])
    ys = scale * (1.0 - np.abs(xs / scale) ** k)
    ys -= ys.max()  # incisors at y = 0 before centring
    xy = np.stack([xs, ys], axis=1)
    tangent = np.gradient(xy, s, axis=0)
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)  # outward (buccal)
    turn = np.gradient(np.unwrap(np.arctan2(tangent[:, 1], tangent[:, 0])), s)
    radius = 1.0 / np.maximum(np.abs(turn), 1e-6)
    return _Curve(s, xy, normal, radius)


def _make_teeth(
    jaw: Jaw,
    rng: np.random.Generator,
    missing: frozenset[int],
    crowding: float,
    third_molars: bool,
) -> tuple[list[_Tooth], list[tuple[float, float]], float, float]:
    """Teeth along the arch; also every position's (centre, nominal width) and the arc
    lengths of the second-molar centre and of the last position's distal end."""
    last = 8 if third_molars else 7
    teeth: list[_Tooth] = []
    positions: list[tuple[float, float]] = []
    size = rng.normal(1.0, 0.04)  # the patient's overall tooth size
    s_molar = 0.0
    s_end = 0.0
    for side, quadrant in ((-1.0, _RIGHT_QUADRANT[jaw]), (1.0, _LEFT_QUADRANT[jaw])):
        cursor = 0.0
        centres = []
        for position in range(1, last + 1):
            nominal = tooth_type(jaw, position)
            md = nominal.mesiodistal * size * rng.normal(1.0, 0.03)
            centre = cursor + 0.5 * md * _CONTACT
            cursor += md * _CONTACT
            centres.append((position, centre, md))
            if position == 7:
                s_molar = max(s_molar, centre)
        s_end = max(s_end, cursor)
        for index, (position, centre, md) in enumerate(centres):
            fdi = 10 * quadrant + position
            positions.append((side * centre, md))
            if fdi in missing:
                continue
            drift = 0.0
            for neighbour, direction in ((index - 1, -1.0), (index + 1, 1.0)):
                if (
                    0 <= neighbour < len(centres)
                    and 10 * quadrant + centres[neighbour][0] in missing
                ):
                    drift += direction * rng.uniform(0.2, 1.2)
            nominal = tooth_type(jaw, position)
            crowd = crowding * (1.0 if position <= 3 else 0.5)
            teeth.append(
                _Tooth(
                    fdi=fdi,
                    kind=nominal,
                    center=side * (centre + drift + rng.normal(0.0, 0.15)),
                    md=md * (1.0 + 0.1 * crowd),
                    bl=nominal.buccolingual * size * rng.normal(1.0, 0.04),
                    height=nominal.height * rng.normal(1.0, 0.06),
                    rotation=rng.normal(0.0, np.radians(3.0 + 25.0 * crowd)),
                    shift=rng.normal(0.0, 0.25 + 1.5 * crowd),
                    jitter=rng.normal(0.0, 1.0, 6),
                )
            )
    teeth.sort(key=lambda t: t.center)
    return teeth, sorted(positions), s_molar, s_end


def _ridge_half_width(s: FloatArray, positions: list[tuple[float, float]], jaw: Jaw) -> FloatArray:
    """Half-width of the alveolar ridge along the arch, following the tooth sizes."""
    centres = np.array([c for c, _ in positions])
    widths = np.array([tooth_type(jaw, _position_at(c, positions)).buccolingual for c in centres])
    return np.asarray(0.5 * np.interp(s, centres, widths) + 1.6, dtype=np.float64)


def _position_at(centre: float, positions: list[tuple[float, float]]) -> int:
    side = [c for c, _ in positions if (c < 0) == (centre < 0)]
    ranked = sorted(side, key=abs)
    return 1 + ranked.index(centre)


class _Field:
    """The arch surface as heights over (s, w): s along the arch, w across it (+ buccal)."""

    def __init__(self, jaw: Jaw, teeth: list[_Tooth], half_width: FloatArray, s: FloatArray):
        self.jaw = jaw
        self.teeth = teeth
        self.half_width_at = (s, half_width)
        self.gaps: list[tuple[float, float]] = []
        self.palate_depth = 0.0  # > 0: the palatal side levels off into a vault this deep

    def _half(self, s: FloatArray) -> FloatArray:
        return np.interp(s, *self.half_width_at)

    def evaluate(self, s: FloatArray, w: FloatArray) -> tuple[FloatArray, IntArray]:
        """Heights z(s, w) and the index of the tooth lifting each point (-1: gingiva)."""
        half = self._half(s)
        gum = -_GINGIVA_DEPTH * (np.abs(w) / half) ** 2
        if self.palate_depth > 0:
            # Palatal of the ridge the slope levels off into the vault (a soft minimum).
            vault = self.palate_depth * np.tanh(-gum / self.palate_depth)
            gum = np.where(w < 0, -vault, gum)
        for centre, width in self.gaps:  # a healed socket dips the ridge a little
            gum = gum - 0.8 * np.exp(-(((s - centre) / (0.4 * width)) ** 2))
        base = gum.copy()
        crowns: list[tuple[int, NDArray[np.bool_], FloatArray]] = []
        for index, tooth in enumerate(self.teeth):
            near = np.abs(s - tooth.center) < tooth.reach() + 1.0
            if not near.any():
                continue
            a = (s[near] - tooth.center) * tooth.distal_sign
            b = w[near] - tooth.shift
            c, d = np.cos(tooth.rotation), np.sin(tooth.rotation)
            # The footprint reaches a little past the contacts: the crown shoulders meet the
            # neighbours' where the gingiva no longer covers them.
            u = (c * a + d * b) / (0.5 * _FOOTPRINT * tooth.md)
            v = (-d * a + c * b) / (0.5 * _FOOTPRINT * tooth.bl)
            p = tooth.kind.exponent
            rho = (np.abs(u) ** p + np.abs(v) ** p) ** (1.0 / p)
            # The gingiva hugs each crown with a slightly raised collar (and papillae where
            # neighbouring collars meet).
            gum[near] += 0.9 * np.exp(-(((rho - 1.0) / 0.22) ** 2))
            top = crown_top(self.jaw, tooth.kind.position, u, v, tooth.height, tooth.jitter)
            floor = base[near] - 1.0
            crown = floor + (top - floor) * crown_profile(rho)
            crown[rho >= 1.0] = -np.inf
            crowns.append((index, near, crown))
        height = gum.copy()
        owner = np.full(s.shape, -1, dtype=np.int64)
        for index, near, crown in crowns:
            current = height[near]
            wins = crown > current
            current[wins] = crown[wins]
            height[near] = current
            ids = owner[near]
            ids[wins] = index
            owner[near] = ids
        return height, owner


def _stations(surface: _Field, start: float, stop: float, count: int) -> FloatArray:
    fine = np.linspace(start, stop, max(8 * count, 2000))
    lines = np.linspace(-3.0, 3.0, 7)
    s_grid = np.repeat(fine, len(lines))
    w_grid = np.tile(lines, len(fine))
    z, _ = surface.evaluate(s_grid, w_grid)
    slope = np.diff(z.reshape(len(fine), len(lines)), axis=0) / np.diff(fine)[:, None]
    step = np.sqrt(1.0 + (slope**2).mean(axis=1))
    # Blend with plain arc length so flat stretches are not starved of stations.
    step = 0.5 + 0.5 * step
    arc = np.concatenate([[0.0], np.cumsum(step * np.diff(fine))])
    return np.asarray(np.interp(np.linspace(0.0, arc[-1], count), arc, fine), dtype=np.float64)


def _grid_faces(n_s: int, n_t: int) -> IntArray:
    i, j = np.meshgrid(np.arange(n_s - 1), np.arange(n_t - 1), indexing="ij")
    a = (i * n_t + j).ravel()
    b = a + n_t
    c = a + 1
    d = b + 1
    return np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)]).astype(np.int64)


def _random_pose(rng: np.random.Generator) -> FloatArray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    pose = np.eye(4)
    pose[:3, :3] = q
    pose[:3, 3] = rng.uniform(-40.0, 40.0, 3)
    return pose


def _punch_holes(
    vertices: FloatArray,
    faces: IntArray,
    grid: tuple[int, int],
    holes: int,
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray]:
    """Remove ``holes`` small, separated patches of faces away from the border; return the
    kept faces and the kept vertex indices."""
    n_s, n_t = grid
    centres: list[FloatArray] = []
    radii: list[float] = []
    for _ in range(200 * max(holes, 1)):
        if len(centres) == holes:
            break
        i = rng.integers(int(0.05 * n_s) + 3, int(0.95 * n_s) - 3)
        j = rng.integers(int(0.15 * n_t) + 3, int(0.85 * n_t) - 3)
        centre = vertices[i * n_t + j]
        radius = float(rng.uniform(0.7, 1.6))
        if all(
            np.linalg.norm(centre - o) > radius + r + 3.0
            for o, r in zip(centres, radii, strict=True)
        ):
            centres.append(centre)
            radii.append(radius)
    drop = np.zeros(len(vertices), dtype=bool)
    for centre, radius in zip(centres, radii, strict=True):
        drop |= np.linalg.norm(vertices - centre, axis=1) < radius
    kept_faces = faces[~drop[faces].any(axis=1)]
    used = np.unique(kept_faces)
    return kept_faces, used


def _resolution(length: float, profile: float, target: int) -> tuple[int, int]:
    step = np.sqrt(length * profile / max(target, 100))
    n_s = max(8, round(float(length / step)) + 1)
    n_t = max(6, round(target / n_s))
    return n_s, n_t


def synth_arch(
    seed: int,
    *,
    jaw: Jaw = "lower",
    missing: Sequence[int] = (),
    target_vertices: int = 30_000,
    pose: bool = True,
    noise_mm: float = 0.02,
    holes: int = 0,
    crowding: float = 0.0,
    third_molars: bool = False,
    palate: bool = False,
    span: tuple[int, int] | None = None,
) -> SynthArch:
    """Generate one labelled arch (deterministic for a given seed and arguments).

    Guarantees: one open, connected sheet (one border loop, plus one per hole) of about
    ``target_vertices`` vertices (±30 %); labels and instances per vertex; every FDI number
    of the jaw (positions 1..7, or 1..8 with ``third_molars``) except ``missing`` is present,
    with gingiva continuing through each gap; quadrants follow the canonical frame in the
    module docstring; ``mesh.vertices == transform @ canonical`` (a random rigid pose when
    ``pose``, identity otherwise). The arch shape and tooth sizes depend on ``seed`` only,
    so the upper and lower arches of one seed belong to the same patient.

    ``palate`` (upper jaws only) continues the palatal side of the sheet into a palatal vault
    (8-14 mm deep) up to the midline, as many real upper scans show. ``span`` = (first, last)
    FDI numbers makes a partial scan: only the teeth from ``first`` to ``last`` along the arch
    (from the patient's right distal end to the left distal end, e.g. (17, 22)) are present and
    the sheet is cut 4 mm beyond them; the guarantees above then hold for those teeth.

    Raises ValueError for an unknown jaw, a missing number that is not a tooth of this jaw,
    ``target_vertices`` outside 1,000..2,000,000, negative noise or holes, or crowding
    outside 0..1.
    """
    if jaw not in ("upper", "lower"):
        raise ValueError(f"jaw must be 'upper' or 'lower', got {jaw!r}")
    last = 8 if third_molars else 7
    valid = {
        10 * q + p for q in (_RIGHT_QUADRANT[jaw], _LEFT_QUADRANT[jaw]) for p in range(1, last + 1)
    }
    absent = frozenset(int(m) for m in missing)
    if not absent <= valid:
        raise ValueError(f"missing teeth {sorted(absent - valid)} are not teeth of this {jaw} arch")
    if not 1_000 <= target_vertices <= 2_000_000:
        raise ValueError(f"target_vertices must be 1,000..2,000,000, got {target_vertices}")
    if noise_mm < 0 or holes < 0:
        raise ValueError("noise_mm and holes must not be negative")
    if not 0.0 <= crowding <= 1.0:
        raise ValueError(f"crowding must be in 0..1, got {crowding}")
    if palate and jaw != "upper":
        raise ValueError("only an upper arch has a palate")
    order = [10 * _RIGHT_QUADRANT[jaw] + p for p in range(last, 0, -1)]
    order += [10 * _LEFT_QUADRANT[jaw] + p for p in range(1, last + 1)]
    kept = set(order)
    if span is not None:
        if span[0] not in order or span[1] not in order:
            raise ValueError(f"span {span} must name two teeth of this {jaw} arch")
        first, final = sorted((order.index(span[0]), order.index(span[1])))
        kept = set(order[first : final + 1])
    absent = absent | (set(order) - kept)

    patient = np.random.default_rng([seed, 0])  # shared by both jaws of one seed
    arch_k = patient.uniform(2.0, 3.0)
    lower_width = patient.uniform(49.0, 55.0)  # between the second-molar centres, mm
    upper_width = lower_width + patient.uniform(3.0, 5.0)
    overjet = patient.uniform(0.5, 2.5)  # upper incisors' lingual face to lower's labial
    rng = np.random.default_rng([seed, 1 if jaw == "upper" else 2])
    teeth, positions, s_molar, s_end = _make_teeth(jaw, rng, absent, crowding, third_molars)
    half_width = 0.5 * (upper_width if jaw == "upper" else lower_width)
    half_length = s_end + _RETROMOLAR
    curve = _arch_curve(half_length + 1.0, s_molar, half_width, arch_k)
    s_lo, s_hi = -half_length, half_length
    if span is not None:
        ends = [t for t in teeth if t.fdi in kept]
        if ends:
            s_lo = max(s_lo, min(t.center - 0.5 * t.md for t in ends) - 4.0)
            s_hi = min(s_hi, max(t.center + 0.5 * t.md for t in ends) + 4.0)

    station = np.linspace(-half_length, half_length, 600)
    ridge = _ridge_half_width(station, positions, jaw)
    surface = _Field(jaw, teeth, ridge, station)
    surface.gaps = [
        (c, w)
        for (c, w) in positions
        if _fdi_at(jaw, c, positions) in absent and _fdi_at(jaw, c, positions) in kept
    ]
    if palate:
        surface.palate_depth = float(rng.uniform(8.0, 14.0))

    def across(s: FloatArray, count: int) -> tuple[FloatArray, FloatArray]:
        half = np.interp(s, station, ridge)
        _, _, radius = curve.at(s)
        lingual = np.minimum(half + 2.5, 0.7 * radius)
        if palate:
            # Up to 1 mm short of the midline, where the two sides' cross-sections meet, and
            # short of the centre of curvature, where neighbouring ones would cross.
            xy, normal, _ = curve.at(s)
            facing = xy[:, 0] * normal[:, 0] > 1e-6
            reach = np.where(facing, xy[:, 0] / np.where(facing, normal[:, 0], 1.0), radius)
            reach = np.minimum(np.minimum(reach - 1.0, 0.9 * radius), _PALATE_REACH)
            lingual = np.maximum(lingual, reach)
        buccal = half + 4.5
        t = np.linspace(0.0, 1.0, count)
        w = -lingual[:, None] + (buccal + lingual)[:, None] * t[None, :]
        return np.broadcast_to(s[:, None], w.shape).copy(), w

    # Estimate the mean cross-section length to pick an even grid spacing.
    probe_s, probe_w = across(np.linspace(s_lo, s_hi, 60), 400)
    probe_z, _ = surface.evaluate(probe_s.ravel(), probe_w.ravel())
    probe_z = probe_z.reshape(probe_s.shape)
    profile = float(np.hypot(np.diff(probe_w, axis=1), np.diff(probe_z, axis=1)).sum(1).mean())
    n_s, n_t = _resolution(s_hi - s_lo, profile, target_vertices)

    # Stations along the arch spaced evenly by surface arc length (measured on a few lines
    # across the crowns), so interproximal walls get as many vertices as the occlusal tables;
    # then dense cross-sections, resampled evenly by arc length within each one.
    s_cols = _stations(surface, s_lo, s_hi, n_s)
    dense = max(4 * n_t, 300)
    ds, dw = across(s_cols, dense)
    dz, _ = surface.evaluate(ds.ravel(), dw.ravel())
    dz = dz.reshape(ds.shape)
    arc = np.concatenate(
        [np.zeros((n_s, 1)), np.cumsum(np.hypot(np.diff(dw, axis=1), np.diff(dz, axis=1)), 1)],
        axis=1,
    )
    targets = np.linspace(0.0, 1.0, n_t)
    w_grid = np.empty((n_s, n_t))
    for i in range(n_s):
        w_grid[i] = np.interp(targets * arc[i, -1], arc[i], dw[i])
    s_grid = np.broadcast_to(s_cols[:, None], w_grid.shape)
    z_flat, owner = surface.evaluate(s_grid.ravel(), w_grid.ravel())

    xy, normal, _ = curve.at(s_grid.ravel())
    local = np.column_stack([xy + w_grid.ravel()[:, None] * normal, z_flat])
    # Arch midline at x = 0; the lower arch curve's incisal point at y = 0 and the upper's in
    # front of it by both incisors' half-thickness and the overjet; the occlusal plane (mean
    # cusp height of the posterior teeth) at z' = 0, so incisors overlap it (overbite).
    if jaw == "upper":
        local[:, 1] += overjet + 0.5 * (
            tooth_type("upper", 1).buccolingual + tooth_type("lower", 1).buccolingual
        )
    local[:, 2] -= _occlusal_level(z_flat, owner, teeth)
    if noise_mm > 0:
        local += rng.normal(0.0, noise_mm, local.shape)
    faces = _grid_faces(n_s, n_t)

    # Generated with the patient's right at -x' and crowns to +z' — exactly the canonical
    # frame for an upper jaw; for a lower jaw the canonical frame has crowns to -z, so mirror
    # z (the shapes are defined mesial/distal/buccal/lingual, so the result stays anatomical)
    # and flip the faces to keep normals pointing out of the tissue.
    canonical = local.copy()
    if jaw == "lower":
        canonical[:, 2] = -canonical[:, 2]
        faces = faces[:, ::-1].copy()

    labels_all = np.zeros(len(canonical), dtype=np.int64)
    instances_all = np.zeros(len(canonical), dtype=np.int64)
    has = owner >= 0
    fdi_of = np.array([t.fdi for t in teeth], dtype=np.int64)
    labels_all[has] = fdi_of[owner[has]]
    instances_all[has] = owner[has] + 1

    if holes:
        faces, used = _punch_holes(canonical, faces, (n_s, n_t), holes, rng)
        remap = np.full(len(canonical), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        faces = remap[faces]
        canonical, labels_all, instances_all = (
            canonical[used],
            labels_all[used],
            instances_all[used],
        )

    # Instances must be 1..k over the teeth actually present (a tooth never vanishes, but
    # keep the numbering dense regardless).
    present = np.unique(instances_all[instances_all > 0])
    dense_ids = np.zeros(len(teeth) + 1, dtype=np.int64)
    dense_ids[present] = np.arange(1, len(present) + 1)
    instances_all = dense_ids[instances_all]

    transform = _random_pose(np.random.default_rng([seed, 3])) if pose else np.eye(4)
    posed = canonical @ transform[:3, :3].T + transform[:3, 3]
    fdis = tuple(sorted(int(f) for f in np.unique(labels_all[labels_all > 0])))
    centroids = {f: posed[labels_all == f].mean(axis=0) for f in fdis}
    return SynthArch(
        mesh=Mesh(vertices=posed, faces=faces),
        labels=labels_all,
        instances=instances_all,
        jaw=jaw,
        teeth=fdis,
        transform=transform,
        centroids=centroids,
    )


def _occlusal_level(height: FloatArray, owner: IntArray, teeth: list[_Tooth]) -> float:
    tops = [
        float(height[owner == index].max())
        for index, tooth in enumerate(teeth)
        if tooth.kind.position >= 4 and (owner == index).any()
    ]
    if not tops:
        tops = [float(height[owner >= 0].max())] if (owner >= 0).any() else [0.0]
    return float(np.mean(tops))


def _fdi_at(jaw: Jaw, centre: float, positions: list[tuple[float, float]]) -> int:
    quadrant = _RIGHT_QUADRANT[jaw] if centre < 0 else _LEFT_QUADRANT[jaw]
    return 10 * quadrant + _position_at(centre, positions)


def _posed(arch: SynthArch, transform: FloatArray, z_shift: float) -> SynthArch:
    shift = np.eye(4)
    shift[2, 3] = z_shift
    total = transform @ shift
    vertices = arch.mesh.vertices @ total[:3, :3].T + total[:3, 3]
    return SynthArch(
        mesh=Mesh(vertices=vertices, faces=arch.mesh.faces),
        labels=arch.labels,
        instances=arch.instances,
        jaw=arch.jaw,
        teeth=arch.teeth,
        transform=total,
        centroids={f: vertices[arch.labels == f].mean(axis=0) for f in arch.teeth},
    )


def synth_pair(
    seed: int,
    *,
    missing_upper: Sequence[int] = (),
    missing_lower: Sequence[int] = (),
    target_vertices: int = 30_000,
    pose: bool = True,
    noise_mm: float = 0.02,
    holes: int = 0,
    crowding: float = 0.0,
) -> tuple[SynthArch, SynthArch]:
    """An upper and a lower arch of one patient in occlusion, under one shared pose.

    Guarantees: both arches are ``synth_arch(seed, jaw=..., pose=False, ...)`` moved apart
    along z by a small interocclusal gap (0.3 mm between the highest cusps) and then by the
    same rigid transform (``upper.transform`` and ``lower.transform`` differ only by that
    gap). Raises ValueError as ``synth_arch`` does.
    """
    jaws: tuple[tuple[Jaw, Sequence[int]], ...] = (
        ("upper", missing_upper),
        ("lower", missing_lower),
    )
    arches = [
        synth_arch(
            seed,
            jaw=jaw,
            missing=missing,
            target_vertices=target_vertices,
            pose=False,
            noise_mm=noise_mm,
            holes=holes,
            crowding=crowding,
        )
        for jaw, missing in jaws
    ]
    upper, lower = arches
    transform = _random_pose(np.random.default_rng([seed, 4])) if pose else np.eye(4)
    return _posed(upper, transform, -0.15), _posed(lower, transform, 0.15)


def write_synth(
    out_dir: Path, count: int, seed: int, *, target_vertices: int | None = None
) -> list[Path]:
    """Write ``count`` synthetic cases: ``NNN_upper.ply``, ``NNN_lower.ply`` (binary PLY)
    and ``NNN_upper.json``, ``NNN_lower.json`` (labels JSON: jaw, labels, instances).

    Case ``i`` is drawn from seed ``(seed, i)``: 0-3 missing teeth per jaw, crowding 0-0.6,
    0-3 holes, 10k-150k vertices (or ``target_vertices``), a random pose shared by both
    jaws. Guarantees the same files for the same (count, seed). Returns the paths written;
    raises OSError when a file cannot be written and ValueError when count < 1.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i in range(count):
        rng = np.random.default_rng([seed, i, 7])
        case_seed = int(rng.integers(0, 2**31 - 1))
        missing: dict[Jaw, list[int]] = {}
        for jaw in ("upper", "lower"):
            right, left = _RIGHT_QUADRANT[jaw], _LEFT_QUADRANT[jaw]
            candidates = [10 * q + p for q in (right, left) for p in range(1, 8)]
            k = int(rng.choice([0, 0, 1, 1, 2, 3]))
            missing[jaw] = sorted(int(f) for f in rng.choice(candidates, size=k, replace=False))
        target = int(np.exp(rng.uniform(np.log(10_000), np.log(150_000))))
        target = target_vertices or target
        upper, lower = synth_pair(
            case_seed,
            missing_upper=missing["upper"],
            missing_lower=missing["lower"],
            target_vertices=target,
            crowding=float(rng.uniform(0.0, 0.6)) * float(rng.random() < 0.5),
            holes=int(rng.integers(0, 4)),
            noise_mm=float(rng.uniform(0.005, 0.04)),
        )
        for arch in (upper, lower):
            stem = out_dir / f"{i:03d}_{arch.jaw}"
            write_ply(arch.mesh, stem.with_suffix(".ply"))
            write_labels(stem.with_suffix(".json"), arch.segmentation())
            written += [stem.with_suffix(".ply"), stem.with_suffix(".json")]
    return written
