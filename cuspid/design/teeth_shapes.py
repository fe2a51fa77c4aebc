"""Parametric crown shapes per tooth type, used by the synthetic arch generator.

A crown is described in its own footprint coordinates: ``u`` runs along the arch (-1 at the
mesial contact, +1 at the distal contact), ``v`` runs across it (+1 buccal/labial, -1
lingual/palatal). The footprint is a superellipse ``|u|^p + |v|^p <= 1``; ``crown_top`` gives
the occlusal surface height above the gingival crest (millimetres) and ``crown_profile`` the
0..1 shoulder factor that turns the flat top into a crown with steep axial walls.

Sizes are mean mesio-distal / bucco-lingual crown diameters and clinical crown heights from
dental anatomy tables (Wheeler's), rounded; the generator varies them per tooth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

Jaw = Literal["upper", "lower"]
ToothKind = Literal["incisor", "canine", "premolar", "molar"]


@dataclass(frozen=True, slots=True)
class ToothType:
    """Nominal size of one tooth position (second FDI digit) in one jaw, in millimetres."""

    position: int
    kind: ToothKind
    mesiodistal: float
    buccolingual: float
    height: float
    exponent: float


def _kind(position: int) -> ToothKind:
    if position <= 2:
        return "incisor"
    if position == 3:
        return "canine"
    if position <= 5:
        return "premolar"
    return "molar"


_SIZES: Final[dict[Jaw, tuple[tuple[float, float, float], ...]]] = {
    # (mesio-distal, bucco-lingual, crown height above the crest) for positions 1..8; the
    # anterior heights are chosen so incisors overlap the posterior occlusal plane by 1-2 mm.
    "upper": (
        (8.6, 7.0, 7.2),
        (6.6, 6.2, 6.6),
        (7.6, 8.0, 7.6),
        (7.0, 9.0, 6.5),
        (6.7, 9.0, 6.0),
        (10.2, 11.0, 5.5),
        (9.2, 10.8, 5.2),
        (8.6, 10.2, 4.8),
    ),
    "lower": (
        (5.3, 5.9, 6.3),
        (5.9, 6.2, 6.3),
        (6.9, 7.6, 7.0),
        (7.0, 7.6, 6.5),
        (7.1, 8.0, 6.0),
        (11.1, 10.4, 5.5),
        (10.5, 10.1, 5.2),
        (10.0, 9.6, 4.8),
    ),
}

_EXPONENT: Final[dict[ToothKind, float]] = {
    "incisor": 2.4,
    "canine": 2.2,
    "premolar": 2.6,
    "molar": 3.2,
}


def tooth_type(jaw: Jaw, position: int) -> ToothType:
    """The nominal size of tooth ``position`` (1 = central incisor … 8 = third molar).

    Raises ValueError for a position outside 1..8.
    """
    if not 1 <= position <= 8:
        raise ValueError(f"tooth position must be 1..8, got {position}")
    md, bl, height = _SIZES[jaw][position - 1]
    kind = _kind(position)
    return ToothType(position, kind, md, bl, height, _EXPONENT[kind])


def crown_profile(rho: NDArray[np.float64], shoulder: float = 0.55) -> NDArray[np.float64]:
    """Shoulder factor of a crown: 1 on the occlusal table (rho <= shoulder), falling as a
    quarter ellipse to 0 at the footprint edge (rho = 1), so the axial walls are steep.
    """
    t = np.clip((rho - shoulder) / (1.0 - shoulder), 0.0, 1.0)
    return np.sqrt(1.0 - t * t)


def _f64(values: object) -> NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


def _bump(
    u: NDArray[np.float64], v: NDArray[np.float64], cu: float, cv: float, sigma: float
) -> NDArray[np.float64]:
    return np.exp(-((u - cu) ** 2 + (v - cv) ** 2) / (2.0 * sigma * sigma))


def crown_top(
    jaw: Jaw,
    position: int,
    u: NDArray[np.float64],
    v: NDArray[np.float64],
    height: float,
    cusp_jitter: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Occlusal surface height (mm above the gingival crest) of a crown at footprint
    coordinates (u, v); ``u`` grows distally, ``v`` buccally. ``cusp_jitter`` (at least five
    values around 0) varies cusp heights per tooth. The maximum is about ``height``.
    """
    kind = _kind(position)
    j = cusp_jitter
    if kind == "incisor":
        # A blade: the incisal edge runs mesio-distally slightly labial of the centre, the
        # crown thins towards it, the corners are rounded and the lingual fossa is hollow.
        edge = height - 3.2 * np.abs(v - 0.15) ** 1.6 - 1.2 * np.abs(u) ** 4
        fossa = 0.7 * _bump(u, v, 0.0, -0.45, 0.28)
        return _f64(edge - fossa + 0.2 * j[0] * _bump(u, v, -0.4, 0.15, 0.2))
    if kind == "canine":
        # One pointed cusp with mesial and distal cusp ridges (the distal one longer).
        ridge = np.where(u < 0.0, 2.6, 2.0) * np.abs(u) + 3.0 * np.abs(v - 0.1) ** 1.5
        return _f64(height * (1.0 + 0.04 * j[0]) - ridge)
    if kind == "premolar":
        buccal = 1.0 + 0.15 * j[0]
        lingual = (0.55 if jaw == "lower" and position == 4 else 0.8) + 0.15 * j[1]
        cusps = buccal * _bump(u, v, 0.0, 0.42, 0.32) + lingual * _bump(u, v, 0.0, -0.45, 0.3)
        groove = 0.5 * np.exp(-(v**2) / (2 * 0.08**2)) * (np.abs(u) < 0.7)
        return _f64(height - 2.2 + 2.2 * cusps - groove - 0.6 * u**2)
    # Molars: four cusps (mesio/disto x buccal/lingual); lower first molars add a distal cusp.
    tips = [(-0.45, 0.45), (0.4, 0.45), (-0.45, -0.45), (0.4, -0.45)]
    weights = [1.0, 0.9, 1.05, 0.85]
    if jaw == "upper":
        weights = [1.0, 0.9, 1.1, 0.7]  # the mesio-palatal cusp is the largest
    cusps = np.zeros_like(u)
    for k, ((cu, cv), w) in enumerate(zip(tips, weights, strict=True)):
        cusps = np.maximum(cusps, (w + 0.12 * j[k]) * _bump(u, v, cu, cv, 0.3))
    if jaw == "lower" and position == 6:
        cusps = np.maximum(cusps, (0.7 + 0.1 * j[4]) * _bump(u, v, 0.85, 0.2, 0.22))
    fissure = 0.6 * np.exp(-(v**2) / (2 * 0.07**2)) + 0.4 * np.exp(-(u**2) / (2 * 0.07**2))
    return _f64(height - 2.0 + 2.0 * cusps - fissure * (cusps < 0.9))
