"""Synthetic arch scans: closed, outward, dental-sized, deterministic; STL that trimesh reads."""

from __future__ import annotations

import io
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import trimesh
from numpy.typing import NDArray

from cuspid.web.demo_scans import (
    DEFAULT_RINGS,
    DEFAULT_SEGMENTS,
    STL_RECORD,
    Jaw,
    arch_mesh,
    arch_stl,
    binary_stl,
    large_arch_resolution,
    write_large_arch_stl,
)

JAWS: tuple[Jaw, ...] = ("upper", "lower")
MiB = 2**20


def _load_stl(data: bytes) -> trimesh.Trimesh:
    mesh = trimesh.load(io.BytesIO(data), file_type="stl")
    assert isinstance(mesh, trimesh.Trimesh)
    return mesh


def _prominent_peaks(profile: NDArray[np.float64], prominence: float) -> int:
    """Count maxima that stand at least `prominence` above the deeper of their two valleys."""
    count = 0
    for i in range(1, len(profile) - 1):
        peak = profile[i]
        if not (peak > profile[i - 1] and peak >= profile[i + 1]):
            continue
        valleys = []
        for side in (profile[i::-1], profile[i:]):
            higher = np.flatnonzero(side > peak)
            reach = side[: higher[0]] if higher.size else side
            valleys.append(reach.min())
        if peak - max(valleys) >= prominence:
            count += 1
    return count


@pytest.mark.parametrize("jaw", JAWS)
@pytest.mark.parametrize("seed", [0, 1, 42, 2**40])
def test_arch_is_a_closed_outward_surface(jaw: Jaw, seed: int) -> None:
    vertices, faces = arch_mesh(seed, jaw=jaw)

    assert vertices.dtype == np.float32
    assert faces.dtype == np.int32
    assert vertices.shape == (DEFAULT_SEGMENTS * DEFAULT_RINGS + 2, 3)
    assert faces.shape == (2 * DEFAULT_SEGMENTS * DEFAULT_RINGS, 3)
    mesh = trimesh.Trimesh(vertices, faces)
    assert len(mesh.vertices) == len(vertices), "no two vertices coincide"
    assert mesh.is_watertight
    assert mesh.is_winding_consistent
    # A tube about 100 mm long with a section of about 100 mm².
    assert 5_000 < mesh.volume < 20_000


@pytest.mark.parametrize("jaw", JAWS)
def test_arch_has_dental_proportions_for_every_seed(jaw: Jaw) -> None:
    for seed in range(40):
        vertices, _ = arch_mesh(seed, jaw=jaw)
        assert np.isfinite(vertices).all()
        width, depth, height = vertices.max(axis=0) - vertices.min(axis=0)
        assert 50 <= width <= 60, seed
        assert 45 <= depth <= 50, seed
        assert 10 <= height <= 20, seed


def test_teeth_point_away_from_the_base_towards_the_other_jaw() -> None:
    upper, _ = arch_mesh(3, jaw="upper")
    lower, _ = arch_mesh(3, jaw="lower")

    assert upper[:, 2].max() == pytest.approx(0, abs=1e-6)
    assert upper[:, 2].min() < -10
    assert lower[:, 2].min() == pytest.approx(0, abs=1e-6)
    assert lower[:, 2].max() > 10
    assert np.ptp(lower[:, 0]) < np.ptp(upper[:, 0]), "the lower arch is the narrower"


@pytest.mark.parametrize("jaw", JAWS)
@pytest.mark.parametrize("seed", [0, 5, 9])
def test_arch_carries_fourteen_crowns(jaw: Jaw, seed: int) -> None:
    segments, rings = 480, 32
    vertices, _ = arch_mesh(seed, jaw=jaw, segments=segments, rings=rings)
    sections = vertices[: segments * rings].reshape(segments, rings, 3)
    profile = np.abs(sections[..., 2].astype(np.float64)).max(axis=1)

    assert _prominent_peaks(profile, prominence=0.5) == 14


def test_same_seed_same_arch_and_other_seeds_another() -> None:
    vertices, faces = arch_mesh(11)
    again_vertices, again_faces = arch_mesh(11)
    other_vertices, other_faces = arch_mesh(12)
    lower_vertices, _ = arch_mesh(11, jaw="lower")

    np.testing.assert_array_equal(vertices, again_vertices)
    np.testing.assert_array_equal(faces, again_faces)
    np.testing.assert_array_equal(faces, other_faces)
    assert np.abs(vertices - other_vertices).max() > 0.5
    assert np.abs(vertices - lower_vertices).max() > 0.5
    assert arch_stl(11) == arch_stl(11)
    assert arch_stl(11) != arch_stl(12)


def test_finer_sampling_is_the_same_arch() -> None:
    coarse, _ = arch_mesh(4)
    vertices, faces = arch_mesh(4, segments=300, rings=40)

    assert vertices.shape == (300 * 40 + 2, 3)
    assert faces.shape == (2 * 300 * 40, 3)
    assert trimesh.Trimesh(vertices, faces).is_watertight
    np.testing.assert_allclose(vertices.min(axis=0), coarse.min(axis=0), atol=0.5)
    np.testing.assert_allclose(vertices.max(axis=0), coarse.max(axis=0), atol=0.5)


@pytest.mark.parametrize(
    "arguments",
    [
        {"seed": -1},
        {"seed": 1.5},
        {"seed": True},
        {"seed": 1, "jaw": "both"},
        {"seed": 1, "segments": 31},
        {"seed": 1, "rings": 7},
        {"seed": 1, "segments": 2**20, "rings": 2**11},
    ],
)
def test_arch_rejects_bad_arguments(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"seed|jaw|segments|vertices"):
        arch_mesh(**arguments)  # type: ignore[arg-type]  # deliberately ill-typed input


@pytest.mark.parametrize("jaw", JAWS)
def test_binary_stl_round_trips_through_trimesh(jaw: Jaw) -> None:
    vertices, faces = arch_mesh(8, jaw=jaw)
    data = binary_stl(vertices, faces)

    assert len(data) == 84 + 50 * len(faces)
    assert not data.startswith(b"solid")
    assert b"Cuspid demo" in data[:80]
    assert int.from_bytes(data[80:84], "little") == len(faces)
    mesh = _load_stl(data)
    assert len(mesh.faces) == len(faces)
    np.testing.assert_allclose(mesh.bounds, [vertices.min(axis=0), vertices.max(axis=0)], atol=1e-5)
    assert mesh.is_watertight
    assert mesh.volume > 0


def test_binary_stl_records_carry_outward_unit_normals() -> None:
    vertices, faces = arch_mesh(2)
    records = np.frombuffer(binary_stl(vertices, faces), dtype=STL_RECORD, offset=84)

    np.testing.assert_array_equal(records["vertices"], vertices[faces])
    np.testing.assert_allclose(np.linalg.norm(records["normal"], axis=1), 1.0, atol=1e-6)
    expected = trimesh.Trimesh(vertices, faces).face_normals
    assert (np.einsum("ij,ij->i", records["normal"], expected) > 0.9999).all()
    assert (records["attribute"] == 0).all()


def test_binary_stl_of_a_tetrahedron_is_the_standard_layout() -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    data = binary_stl(vertices, faces)

    assert len(data) == 84 + 4 * 50
    first = np.frombuffer(data, dtype="<f4", count=12, offset=84)
    np.testing.assert_array_equal(first, [0, 0, -1, 0, 0, 0, 0, 1, 0, 1, 0, 0])
    mesh = _load_stl(data)
    assert mesh.volume == pytest.approx(1 / 6)


@pytest.mark.parametrize(
    ("vertices", "faces"),
    [
        (np.zeros((3, 2)), np.array([[0, 1, 2]])),
        (np.array([[0, 0, 0], [1, 0, 0], [0, np.nan, 0]]), np.array([[0, 1, 2]])),
        (np.eye(3), np.array([[0, 1, 3]])),
        (np.eye(3), np.array([[0, -1, 2]])),
        (np.eye(3), np.array([[0.0, 1.0, 2.0]])),
        (np.eye(3), np.array([0, 1, 2])),
    ],
)
def test_binary_stl_rejects_malformed_meshes(
    vertices: NDArray[np.floating], faces: NDArray[np.integer]
) -> None:
    with pytest.raises(ValueError, match=r"vertices|faces"):
        binary_stl(vertices, faces)


def test_large_writer_at_the_default_size_writes_arch_stl(tmp_path: Path) -> None:
    expected = arch_stl(7)
    path = tmp_path / "arch.stl"

    assert large_arch_resolution(len(expected)) == (DEFAULT_SEGMENTS, DEFAULT_RINGS)
    assert write_large_arch_stl(path, len(expected), seed=7) == 2 * DEFAULT_SEGMENTS * DEFAULT_RINGS
    assert path.read_bytes() == expected


def test_large_writer_hits_the_target_with_a_loadable_arch(tmp_path: Path) -> None:
    target = 8_000_000
    path = tmp_path / "large.stl"

    face_count = write_large_arch_stl(path, target, seed=3)

    assert [entry.name for entry in tmp_path.iterdir()] == ["large.stl"], "no partial file left"
    size = path.stat().st_size
    assert abs(size - target) <= 0.05 * target
    assert size == 84 + 50 * face_count
    mesh = _load_stl(path.read_bytes())
    assert len(mesh.faces) == face_count
    assert mesh.is_watertight
    assert mesh.volume > 0
    vertices, _ = arch_mesh(3)
    np.testing.assert_allclose(mesh.bounds, [vertices.min(axis=0), vertices.max(axis=0)], atol=0.5)


def test_large_writer_streams_in_small_memory(tmp_path: Path) -> None:
    target = 64 * MiB
    path = tmp_path / "huge.stl"

    tracemalloc.start()
    try:
        face_count = write_large_arch_stl(path, target, seed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert abs(path.stat().st_size - target) <= 0.05 * target
    assert path.stat().st_size == 84 + 50 * face_count
    # Holding the facets would take 64 MiB; the writer keeps a chunk of under 1 MiB at a time.
    assert peak < 16 * MiB
    with path.open("rb") as stl:
        head = stl.read(84)
        stl.seek(-50, io.SEEK_END)
        last = np.frombuffer(stl.read(50), dtype=STL_RECORD)
    assert int.from_bytes(head[80:], "little") == face_count
    assert np.isfinite(last["vertices"]).all()
    assert math.isclose(float(np.linalg.norm(last["normal"])), 1.0, rel_tol=1e-6)


@pytest.mark.parametrize("target", [0, 84 + 100 * DEFAULT_SEGMENTS * DEFAULT_RINGS - 1, 2**50])
def test_large_writer_refuses_targets_it_cannot_meet(tmp_path: Path, target: int) -> None:
    path = tmp_path / "never.stl"

    with pytest.raises(ValueError, match="target_bytes"):
        write_large_arch_stl(path, target)
    assert not path.exists()


def test_large_writer_leaves_nothing_when_it_cannot_write(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_large_arch_stl(tmp_path / "missing" / "arch.stl", 1_000_000)
    assert list(tmp_path.iterdir()) == []
