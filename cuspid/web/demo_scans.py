"""Synthetic dental-arch scan meshes for demo data, tests and benchmarks.

Nothing here comes from a patient: the arch is a horseshoe-shaped tube swept along a
power-law curve, with fourteen tooth-like crowns raised on it, varied a little by a seed. It
stands in for real intraoral scans until the design engine exists. Pure numpy, no Django.

Coordinates are millimetres. The arch opens towards -y with its front (the incisors) at the
largest y; occlusal is +z for the lower jaw and -z for the upper jaw, as the two halves of a
bite face each other. By default each arch stands on its own base at z = 0 (the upper one
hangs below it). With ``bite=True`` the upper arch is where an intraoral scanner's bite
registration puts it, in the lower arch's coordinate system: lifted by ``BITE_LIFT`` and
forward by ``BITE_OVERJET``, its teeth closing on the lower teeth, so that the 3D viewer shows
the two scans in occlusion as a scanner exports them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, Literal

import numpy as np
from numpy.typing import NDArray

Jaw = Literal["upper", "lower"]

STL_HEADER: Final = b"Cuspid demo dental arch - synthetic binary STL, not patient data".ljust(80)
"""The 80-byte header of every STL written here; it does not start with ``solid``."""

STL_RECORD: Final = np.dtype(
    [("normal", "<f4", (3,)), ("vertices", "<f4", (3, 3)), ("attribute", "<u2")]
)
"""One facet of a binary STL: normal, three corners, attribute byte count (50 bytes)."""

MIN_SEGMENTS: Final = 32
MIN_RINGS: Final = 8
# The default resolution; the streaming writer never goes below it, so that a large file is
# the same arch at a finer sampling, and a target of exactly this size gives arch_stl's bytes.
DEFAULT_SEGMENTS: Final = 96
DEFAULT_RINGS: Final = 24

_INT32_MAX: Final = 2**31 - 1
_UINT32_MAX: Final = 2**32 - 1
_DENSE_SAMPLES: Final = 8193
_GUM_Z: Final = 6.0  # where crowns start, above the base of the model
_MID_Z: Final = 4.0  # the centre of each cross-section; the base of the model is at 0
_FISSURE_DEPTH: Final = 0.15  # share of a posterior crown's height lost in its central groove
_FISSURE_WIDTH: Final = 0.35  # of the half-width of the section
_SECTION_EXPONENT: Final = 0.5  # superellipse n = 4: a rounded rectangle
_STREAM_FACES: Final = 16384  # facets per written chunk (about 800 kB of records)

BITE_LIFT: Final = 30.0
"""How far ``bite=True`` lifts the upper arch (mm): the cusps of the two arches meet, most
crowns a millimetre or two apart, the tallest (canines) overlapping a little."""
BITE_OVERJET: Final = 1.5
"""How far ``bite=True`` moves the upper arch forward (+y, mm): its incisors close in front."""


@dataclass(frozen=True)
class _Tooth:
    """One tooth of a half arch: mesio-distal width, crown height, bucco-lingual half-width."""

    width: float
    crown: float
    half_width: float
    posterior: bool


# From the midline backwards: central incisor, lateral incisor, canine, two premolars, two
# molars. Typical adult sizes in millimetres, rounded.
_HALF_ARCH: Final[dict[Jaw, tuple[_Tooth, ...]]] = {
    "upper": (
        _Tooth(8.5, 9.5, 3.3, posterior=False),
        _Tooth(6.5, 8.5, 3.2, posterior=False),
        _Tooth(7.5, 10.0, 3.8, posterior=False),
        _Tooth(7.0, 8.0, 4.4, posterior=True),
        _Tooth(6.5, 7.5, 4.4, posterior=True),
        _Tooth(10.0, 7.0, 5.2, posterior=True),
        _Tooth(9.0, 6.5, 5.0, posterior=True),
    ),
    "lower": (
        _Tooth(5.0, 8.5, 3.0, posterior=False),
        _Tooth(5.5, 8.5, 3.1, posterior=False),
        _Tooth(7.0, 10.0, 3.6, posterior=False),
        _Tooth(7.0, 8.0, 3.9, posterior=True),
        _Tooth(7.0, 7.5, 4.2, posterior=True),
        _Tooth(11.0, 7.0, 5.0, posterior=True),
        _Tooth(10.5, 6.5, 4.8, posterior=True),
    ),
}
# The lower arch sits inside the upper one: a little narrower, about as deep.
_JAW_WIDTH: Final[dict[Jaw, float]] = {"upper": 1.0, "lower": 0.95}


@dataclass(frozen=True)
class _Arch:
    """The seeded shape of one arch: its centre curve and its fourteen teeth."""

    half_span: float  # x of the two distal ends of the centre curve
    depth: float  # y of the front of the centre curve; the ends are at y = 0
    exponent: float  # y = depth * (1 - |x / half_span| ** exponent)
    dense_x: NDArray[np.float64]  # the centre curve, finely sampled, for arc length
    dense_s: NDArray[np.float64]  # arc length at dense_x
    centres: NDArray[np.float64]  # arc length of each tooth's centre, left end first
    half_lengths: NDArray[np.float64]  # half the mesio-distal width of each tooth
    crowns: NDArray[np.float64]  # crown heights above the gum line
    half_widths: NDArray[np.float64]  # bucco-lingual half-widths
    posterior: NDArray[np.float64]  # 1.0 for premolars and molars, else 0.0
    upper: bool


@dataclass(frozen=True)
class _Sweep:
    """Everything that varies along the arch or around the section, sampled once."""

    x: NDArray[np.float64]  # (segments,) centre curve
    y: NDArray[np.float64]
    nx: NDArray[np.float64]  # (segments,) horizontal unit normal, pointing buccally
    ny: NDArray[np.float64]
    width: NDArray[np.float64]  # (segments,) bucco-lingual half-width
    crown: NDArray[np.float64]  # (segments,) crown height above the gum line
    groove: NDArray[np.float64]  # (segments,) depth of the occlusal groove, share of the crown
    u: NDArray[np.float64]  # (rings,) section coordinate across the arch, -1 .. 1
    v: NDArray[np.float64]  # (rings,) section coordinate up the section, -1 .. 1
    fissure: NDArray[np.float64]  # (rings,) how much of the groove each section point gets
    upper: bool
    bite: bool  # the upper arch placed in occlusion with the lower one


def _arch(seed: int, jaw: Jaw) -> _Arch:
    """Draw one arch's proportions from the seed."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError("seed must be a non-negative integer")
    if jaw not in _HALF_ARCH:
        raise ValueError("jaw must be 'upper' or 'lower'")
    rng = np.random.default_rng(seed)
    half_span = float(rng.uniform(22.0, 24.5)) * _JAW_WIDTH[jaw]
    depth = float(rng.uniform(41.0, 44.0))
    exponent = float(rng.uniform(1.9, 2.3))
    teeth = _HALF_ARCH[jaw][::-1] + _HALF_ARCH[jaw]  # left end (distal) to right end
    crowns = np.array([t.crown for t in teeth]) * rng.uniform(0.9, 1.1, size=len(teeth))

    dense_x = np.linspace(-half_span, half_span, _DENSE_SAMPLES)
    dense_y = depth * (1.0 - np.abs(dense_x / half_span) ** exponent)
    steps = np.hypot(np.diff(dense_x), np.diff(dense_y))
    dense_s = np.concatenate(([0.0], np.cumsum(steps)))
    length = float(dense_s[-1])

    # Teeth fill the arch less a short margin of gum at each distal end, in proportion.
    widths = np.array([t.width for t in teeth])
    margin = 1.5
    widths *= (length - 2 * margin) / widths.sum()
    centres = margin + np.cumsum(widths) - widths / 2
    return _Arch(
        half_span=half_span,
        depth=depth,
        exponent=exponent,
        dense_x=dense_x,
        dense_s=dense_s,
        centres=centres,
        half_lengths=widths / 2,
        crowns=crowns,
        half_widths=np.array([t.half_width for t in teeth]),
        posterior=np.array([1.0 if t.posterior else 0.0 for t in teeth]),
        upper=jaw == "upper",
    )


def _sweep(arch: _Arch, segments: int, rings: int, bite: bool = False) -> _Sweep:
    """Sample the centre curve evenly by arc length, and the cross-section evenly by angle.

    Everything transcendental is computed here, once; building ring points from a _Sweep is
    plain arithmetic, so any slice of the arch gives bit-identical vertices.
    """
    s = np.linspace(0.0, float(arch.dense_s[-1]), segments)
    x = np.interp(s, arch.dense_s, arch.dense_x)
    ratio = np.abs(x / arch.half_span)
    y = arch.depth * (1.0 - ratio**arch.exponent)
    slope = -arch.depth * arch.exponent * np.sign(x) * ratio ** (arch.exponent - 1) / arch.half_span
    norm = np.hypot(1.0, slope)
    tx, ty = 1.0 / norm, slope / norm  # the curve runs from the left end to the right end
    nx, ny = -ty, tx  # the tangent turned a quarter anticlockwise: outwards, buccal

    offset = (s[:, None] - arch.centres[None, :]) / arch.half_lengths[None, :]
    bump = np.exp(-(offset**6))  # flat-topped crowns, with embrasures between them
    crown = bump @ arch.crowns
    posterior = np.minimum(bump @ arch.posterior, 1.0)
    width = np.interp(s, arch.centres, arch.half_widths)

    angle = 2 * math.pi * np.arange(rings) / rings
    cos, sin = np.cos(angle), np.sin(angle)
    u = np.sign(cos) * np.abs(cos) ** _SECTION_EXPONENT
    v = np.sign(sin) * np.abs(sin) ** _SECTION_EXPONENT
    fissure = np.exp(-((u / _FISSURE_WIDTH) ** 2))
    groove = _FISSURE_DEPTH * posterior
    return _Sweep(x, y, nx, ny, width, crown, groove, u, v, fissure, arch.upper, bite)


def _ring_points(sweep: _Sweep, start: int, stop: int) -> NDArray[np.float32]:
    """The cross-section rings of samples start..stop-1, shape (stop - start, rings, 3)."""
    part = slice(start, stop)
    lateral = sweep.width[part, None] * sweep.u[None, :]
    kept = 1.0 - sweep.groove[part, None] * sweep.fissure[None, :]
    top = _GUM_Z + sweep.crown[part, None] * kept
    above = sweep.v[None, :] >= 0
    rise = np.where(above, top - _MID_Z, _MID_Z)
    points = np.empty((stop - start, sweep.u.size, 3), dtype=np.float64)
    points[..., 0] = sweep.x[part, None] + lateral * sweep.nx[part, None]
    points[..., 1] = sweep.y[part, None] + lateral * sweep.ny[part, None]
    points[..., 2] = _MID_Z + sweep.v[None, :] * rise
    if sweep.upper:
        points[..., 2] *= -1.0
        if sweep.bite:
            points[..., 1] += BITE_OVERJET
            points[..., 2] += BITE_LIFT
    return points.astype(np.float32)


def _cap_centre(sweep: _Sweep, index: int) -> NDArray[np.float32]:
    """The centre of the cross-section at one end, shape (1, 3)."""
    if not sweep.upper:
        return np.array([[sweep.x[index], sweep.y[index], _MID_Z]], dtype=np.float32)
    y, z = sweep.y[index], -_MID_Z
    if sweep.bite:
        y, z = y + BITE_OVERJET, z + BITE_LIFT
    return np.array([[sweep.x[index], y, z]], dtype=np.float32)


def _orient(faces: NDArray[np.int32], upper: bool) -> NDArray[np.int32]:
    """Reverse the winding for the upper jaw, whose mirroring in z turned the faces inwards."""
    return faces[:, ::-1].copy() if upper else faces


def _tube_faces(strips: int, rings: int) -> NDArray[np.int32]:
    """Two triangles per quad between consecutive rings, outward for the unmirrored arch.

    Vertex i * rings + j is point j of ring i; the order is strip, then point, then the two
    triangles of the quad.
    """
    i = np.arange(strips, dtype=np.int32)[:, None]
    j = np.arange(rings, dtype=np.int32)[None, :]
    a = i * rings + j
    b = i * rings + (j + 1) % rings
    c = a + rings
    d = b + rings
    quads = np.stack([np.stack([a, d, c], axis=-1), np.stack([a, b, d], axis=-1)], axis=2)
    return quads.reshape(-1, 3)


def _cap_faces(rings: int, centre: int, first: int, *, start: bool) -> NDArray[np.int32]:
    """A fan closing one end of the tube: outward (against the sweep) at the start."""
    j = np.arange(rings, dtype=np.int32)
    here = first + j
    after = first + (j + 1) % rings
    hub = np.full(rings, centre, dtype=np.int32)
    columns = (hub, after, here) if start else (hub, here, after)
    return np.stack(columns, axis=-1)


def _check_resolution(segments: int, rings: int) -> None:
    if segments < MIN_SEGMENTS or rings < MIN_RINGS:
        raise ValueError(f"segments must be at least {MIN_SEGMENTS} and rings {MIN_RINGS}")
    if segments * rings + 2 > _INT32_MAX:
        raise ValueError("too many vertices for int32 face indices")


def arch_mesh(
    seed: int,
    *,
    jaw: Jaw = "upper",
    segments: int = DEFAULT_SEGMENTS,
    rings: int = DEFAULT_RINGS,
    bite: bool = False,
) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """Build a synthetic dental arch as an indexed triangle mesh, in millimetres.

    Returns vertices (segments * rings + 2, 3) float32 and faces (2 * segments * rings, 3)
    int32. The surface is closed, watertight and wound outwards (positive volume): a
    horseshoe about 50-60 mm wide, 45-50 mm deep and 10-20 mm tall, with fourteen crowns
    along it. The same seed and arguments always give the same arrays; seeds vary the arch's
    width, depth and curve and each crown's height. ``segments`` cross-sections run along the
    arch from the distal end at the smallest x to the other, evenly by arc length,
    each a ring of ``rings`` points: vertex ``i * rings + j`` is point j of section i, and the
    last two vertices are the centres of the end caps. ``bite=True`` places an upper arch in
    occlusion with a lower one (lifted by BITE_LIFT, forward by BITE_OVERJET); it changes
    nothing for a lower arch.

    Raises ValueError for a negative or non-integer seed, an unknown jaw, fewer than
    MIN_SEGMENTS segments or MIN_RINGS rings, or more vertices than int32 indices reach.
    """
    _check_resolution(segments, rings)
    sweep = _sweep(_arch(seed, jaw), segments, rings, bite)
    rim = segments * rings
    vertices = np.concatenate(
        [
            _ring_points(sweep, 0, segments).reshape(-1, 3),
            _cap_centre(sweep, 0),
            _cap_centre(sweep, segments - 1),
        ]
    )
    faces = np.concatenate(
        [
            _cap_faces(rings, rim, 0, start=True),
            _tube_faces(segments - 1, rings),
            _cap_faces(rings, rim + 1, rim - rings, start=False),
        ]
    )
    return vertices, _orient(faces, sweep.upper)


def _stl_records(triangles: NDArray[np.float32]) -> NDArray[np.void]:
    """Binary STL records for (n, 3, 3) triangles, with unit normals (zero if degenerate)."""
    corners = triangles.astype(np.float64)
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    lengths = np.sqrt(np.einsum("ij,ij->i", normals, normals))
    normals /= np.where(lengths > 0, lengths, 1.0)[:, None]
    records = np.zeros(len(triangles), dtype=STL_RECORD)
    records["normal"] = normals
    records["vertices"] = triangles
    return records


def _stl_preamble(face_count: int) -> bytes:
    return STL_HEADER + np.uint32(face_count).tobytes()


def binary_stl(vertices: NDArray[np.floating], faces: NDArray[np.integer]) -> bytes:
    """Encode an indexed triangle mesh as a standard binary STL.

    The result is an 80-byte header (STL_HEADER, which does not start with ``solid``), the
    facet count as little-endian uint32, then one 50-byte record per face in the given order:
    unit facet normal (right-hand rule on the face's corners), the three corners as float32,
    and a zero attribute count. Its length is always 84 + 50 * len(faces).

    Raises ValueError unless vertices is (V, 3) and finite, faces is (F, 3) integers within
    0..V-1, and F fits in uint32.
    """
    vertices = np.asarray(vertices)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or not np.isfinite(vertices).all():
        raise ValueError("vertices must be a finite (V, 3) array")
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError("faces must be an integer (F, 3) array")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError("faces index vertices that do not exist")
    if len(faces) > _UINT32_MAX:
        raise ValueError("too many faces for a binary STL")
    triangles = vertices.astype(np.float32)[faces]
    return _stl_preamble(len(faces)) + _stl_records(triangles).tobytes()


def arch_stl(
    seed: int,
    *,
    jaw: Jaw = "upper",
    segments: int = DEFAULT_SEGMENTS,
    rings: int = DEFAULT_RINGS,
    bite: bool = False,
) -> bytes:
    """The binary STL of ``arch_mesh(seed, ...)``: 84 + 100 * segments * rings bytes.

    Raises ValueError as arch_mesh does.
    """
    vertices, faces = arch_mesh(seed, jaw=jaw, segments=segments, rings=rings, bite=bite)
    return binary_stl(vertices, faces)


CROWN_CLEARANCE: Final = 0.35
"""How far (mm) crown_mesh's shell stands off the tooth it is cut from, as a crown's cement
space does, so that a viewer draws it over the scan rather than through it."""


def crown_mesh(
    seed: int,
    *,
    jaw: Jaw = "lower",
    tooth: int = 1,
    bite: bool = False,
    clearance: float = CROWN_CLEARANCE,
) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """A crown-shaped shell over one tooth of ``arch_mesh(seed, jaw=jaw, bite=bite)``: a
    stand-in for a lab's crown design proposal on that scan.

    ``tooth`` counts the arch's fourteen teeth from its distal end at the smallest x (0: the
    second molar, 1: the first molar ... 13: the other second molar). The shell is the crown
    side of the tooth's cross-sections (from just below the gum line to the occlusal
    surface), finely sampled and pushed ``clearance`` mm outwards; it is open towards the
    tooth, like a crown. Returns vertices (V, 3) float32 and faces (F, 3) int32 wound
    outwards. Raises ValueError for a bad seed or jaw, or a tooth outside 0..13.
    """
    if isinstance(tooth, bool) or not isinstance(tooth, int) or not 0 <= tooth < 14:
        raise ValueError("tooth must be 0..13")
    arch = _arch(seed, jaw)
    segments, rings = 900, 64
    sweep = _sweep(arch, segments, rings, bite)
    s = np.linspace(0.0, float(arch.dense_s[-1]), segments)
    near = np.abs(s - arch.centres[tooth]) <= arch.half_lengths[tooth] * 1.05
    first, last = int(np.argmax(near)), int(len(near) - np.argmax(near[::-1]))
    points = _ring_points(sweep, first, last).astype(np.float64)
    # The crown side of each section: the half above its middle (points 0 .. rings / 2, one
    # run, as the ring starts at angle 0).
    keep = np.flatnonzero(sweep.v >= -0.05)
    shell = points[:, keep, :]
    centre = shell.reshape(-1, 3).mean(axis=0)
    outwards = shell - centre
    outwards /= np.linalg.norm(outwards, axis=-1, keepdims=True)
    shell = shell + outwards * clearance
    strips, across = shell.shape[0] - 1, shell.shape[1] - 1
    i = np.arange(strips, dtype=np.int32)[:, None]
    j = np.arange(across, dtype=np.int32)[None, :]
    a = i * (across + 1) + j
    b, c = a + 1, a + across + 1
    d = c + 1
    faces = np.stack([np.stack([a, d, c], axis=-1), np.stack([a, b, d], axis=-1)], axis=2)
    faces = faces.reshape(-1, 3)
    vertices = shell.reshape(-1, 3).astype(np.float32)
    return vertices, _orient(faces, sweep.upper)


def crown_stl(
    seed: int,
    *,
    jaw: Jaw = "lower",
    tooth: int = 1,
    bite: bool = False,
    clearance: float = CROWN_CLEARANCE,
) -> bytes:
    """The binary STL of ``crown_mesh(seed, ...)``. Raises ValueError as crown_mesh does."""
    vertices, faces = crown_mesh(seed, jaw=jaw, tooth=tooth, bite=bite, clearance=clearance)
    return binary_stl(vertices, faces)


def _stream_arch(out: BinaryIO, sweep: _Sweep, segments: int, rings: int) -> None:
    """Write the facets of arch_mesh's face order, a few thousand at a time."""
    upper = sweep.upper
    first_ring = _ring_points(sweep, 0, 1)[0]
    last_ring = _ring_points(sweep, segments - 1, segments)[0]
    start = np.concatenate([first_ring, _cap_centre(sweep, 0)])
    start_faces = _orient(_cap_faces(rings, rings, 0, start=True), upper)
    out.write(_stl_records(start[start_faces]).data)

    strips_per_chunk = max(1, _STREAM_FACES // (2 * rings))
    chunk_faces = _orient(_tube_faces(strips_per_chunk, rings), upper)
    for first in range(0, segments - 1, strips_per_chunk):
        strips = min(strips_per_chunk, segments - 1 - first)
        points = _ring_points(sweep, first, first + strips + 1).reshape(-1, 3)
        faces = chunk_faces[: 2 * rings * strips]
        out.write(_stl_records(points[faces]).data)

    end = np.concatenate([last_ring, _cap_centre(sweep, segments - 1)])
    end_faces = _orient(_cap_faces(rings, rings, 0, start=False), upper)
    out.write(_stl_records(end[end_faces]).data)


def large_arch_resolution(target_bytes: int) -> tuple[int, int]:
    """The (segments, rings) whose arch STL is closest to target_bytes, four to one.

    Never below the defaults, so the result for arch_stl's own size is (96, 24). The STL has
    84 + 100 * segments * rings bytes, within 100 * rings of the target.

    Raises ValueError if the target is below the default arch's size or beyond what a
    binary STL can count.
    """
    smallest = 84 + 100 * DEFAULT_SEGMENTS * DEFAULT_RINGS
    if target_bytes < smallest:
        raise ValueError(f"target_bytes must be at least {smallest}")
    if target_bytes > 84 + 50 * _UINT32_MAX:
        raise ValueError("target_bytes is beyond what a binary STL can hold")
    faces = (target_bytes - 84) / 50
    rings = max(DEFAULT_RINGS, round(math.sqrt(faces / 8)))
    segments = max(DEFAULT_SEGMENTS, round(faces / (2 * rings)))
    return segments, rings


def write_large_arch_stl(
    path: Path, target_bytes: int, seed: int = 0, *, bite: bool = False
) -> int:
    """Stream a binary STL of one finely sampled upper arch, about target_bytes long, to path.

    The arch is arch_mesh(seed) at the resolution large_arch_resolution chooses (a few
    hundred parts per million off the target for sizes from 1 MB up), so it has the same
    bounds and the same watertight surface; for a target equal to len(arch_stl(seed)) the
    file is byte for byte arch_stl(seed). Facets go out in chunks of about 800 kB, so memory
    stays at a few MiB whatever the size. The file appears at path complete (written beside
    it, then renamed over it) or not at all. ``bite=True`` places it in occlusion with a lower
    arch, as arch_mesh's does. Returns the number of facets written.

    Raises ValueError as large_arch_resolution and arch_mesh do; OSError from the file.
    """
    segments, rings = large_arch_resolution(target_bytes)
    _check_resolution(segments, rings)
    sweep = _sweep(_arch(seed, "upper"), segments, rings, bite)
    face_count = 2 * segments * rings
    # A reader never sees half a file: write beside it, then rename over it.
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as out:
            out.write(_stl_preamble(face_count))
            _stream_arch(out, sweep, segments, rings)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return face_count
