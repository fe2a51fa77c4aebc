"""The synthetic arch generator: determinism, labels, numbering sides, gaps, pose, holes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.sparse import coo_matrix  # type: ignore[import-untyped]  # scipy ships no type stubs
from scipy.sparse.csgraph import connected_components  # type: ignore[import-untyped]  # same

from cuspid.design.labels import read_labels
from cuspid.design.mesh import read_mesh
from cuspid.design.synth import SynthArch, occlusal_frame, synth_arch, synth_pair, write_synth

SMALL = 12_000


def _boundary_loops(faces: NDArray[np.int64], vertex_count: int) -> int:
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    border = unique[counts == 1]
    graph = coo_matrix(
        (np.ones(len(border)), (border[:, 0], border[:, 1])), shape=(vertex_count, vertex_count)
    )
    _, component = connected_components(graph, directed=False)
    return len(np.unique(component[np.unique(border)]))


def _components(arch: SynthArch) -> int:
    faces = arch.mesh.faces
    n = arch.mesh.vertices.shape[0]
    rows = np.concatenate([faces[:, 0], faces[:, 1]])
    cols = np.concatenate([faces[:, 1], faces[:, 2]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    count, _ = connected_components(graph, directed=False)
    return int(count)


def _canonical(arch: SynthArch) -> NDArray[np.float64]:
    return arch.canonical_vertices()


def test_same_seed_gives_identical_arrays() -> None:
    first = synth_arch(5, target_vertices=SMALL, holes=2, crowding=0.4)
    second = synth_arch(5, target_vertices=SMALL, holes=2, crowding=0.4)
    assert np.array_equal(first.mesh.vertices, second.mesh.vertices)
    assert np.array_equal(first.mesh.faces, second.mesh.faces)
    assert np.array_equal(first.labels, second.labels)
    assert np.array_equal(first.instances, second.instances)
    assert np.array_equal(first.transform, second.transform)
    other = synth_arch(6, target_vertices=SMALL)
    assert other.mesh.vertices.shape != first.mesh.vertices.shape or not np.allclose(
        other.mesh.vertices, first.mesh.vertices
    )


@pytest.mark.parametrize(
    ("jaw", "missing"),
    [("lower", ()), ("upper", ()), ("lower", (36, 41)), ("upper", (12, 25, 27))],
)
def test_labels_per_vertex_and_teeth_present(jaw: str, missing: tuple[int, ...]) -> None:
    arch = synth_arch(11, jaw=jaw, missing=missing, target_vertices=SMALL)  # type: ignore[arg-type]  # parametrised literal
    n = arch.mesh.vertices.shape[0]
    assert arch.labels.shape == (n,)
    assert arch.instances.shape == (n,)
    assert arch.labels.dtype == arch.instances.dtype == np.int64
    quadrants = (1, 2) if jaw == "upper" else (4, 3)
    expected = {10 * q + p for q in quadrants for p in range(1, 8)} - set(missing)
    assert set(arch.teeth) == expected
    assert set(np.unique(arch.labels)) == expected | {0}
    assert set(np.unique(arch.instances)) == set(range(len(expected) + 1))
    arch.segmentation()  # validates: one label per instance, gingiva is instance 0
    assert set(arch.centroids) == expected
    # Gingiva is a large share of a real scan, teeth too.
    share = float((arch.labels == 0).mean())
    assert 0.25 < share < 0.8


@pytest.mark.parametrize("jaw", ["upper", "lower"])
def test_patient_right_is_minus_x_and_crowns_point_the_documented_way(jaw: str) -> None:
    arch = synth_arch(3, jaw=jaw, target_vertices=SMALL, crowding=0.6)  # type: ignore[arg-type]  # parametrised literal
    v = _canonical(arch)
    right, left = (1, 2) if jaw == "upper" else (4, 3)
    # Every crown on its side; central incisors meet at the midline and may cross it a hair.
    for quadrant, sign in ((right, -1.0), (left, 1.0)):
        x = sign * v[arch.labels // 10 == quadrant, 0]
        assert (x > -1.0).all()
        assert (x[arch.labels[arch.labels // 10 == quadrant] % 10 > 1] > 0).all()
        for fdi in (f for f in arch.teeth if f // 10 == quadrant):
            assert sign * v[arch.labels == fdi, 0].mean() > 1.0
    # Incisors at the front (+y) of their molars.
    front, molar = (v[arch.labels == 10 * right + p, 1].mean() for p in (1, 6))
    assert front > molar + 15
    # Crowns point to +z for the upper jaw and to -z for the lower (z is inferior).
    teeth_z = v[arch.labels > 0, 2].mean()
    gum_z = v[arch.labels == 0, 2].mean()
    assert (teeth_z > gum_z) if jaw == "upper" else (teeth_z < gum_z)
    # In the jaw's occlusal-up frame the patient's right is -x (upper) or +x (lower).
    frame = occlusal_frame(arch.jaw)
    up = v @ frame[:3, :3].T
    assert up[arch.labels > 0, 2].mean() > up[arch.labels == 0, 2].mean()
    side = np.sign(up[arch.labels // 10 == right, 0].mean())
    assert side == (-1.0 if jaw == "upper" else 1.0)


def test_missing_tooth_leaves_gingiva_in_the_gap() -> None:
    arch = synth_arch(8, jaw="lower", missing=(36,), target_vertices=SMALL, pose=False)
    v = arch.mesh.vertices
    gap = 0.5 * (arch.centroids[35] + arch.centroids[37])
    near = np.linalg.norm(v[:, :2] - gap[:2], axis=1) < 2.5
    assert near.sum() > 20
    assert (arch.labels[near] == 0).all()
    full = synth_arch(8, jaw="lower", target_vertices=SMALL, pose=False)
    assert 9.0 < np.linalg.norm(full.centroids[35] - full.centroids[37]) / 2 + 5 < 20.0


def test_pose_is_the_transform_of_the_unposed_arch() -> None:
    flat = synth_arch(21, target_vertices=SMALL, pose=False)
    posed = synth_arch(21, target_vertices=SMALL)
    assert np.array_equal(flat.transform, np.eye(4))
    rotation = posed.transform[:3, :3]
    assert np.allclose(rotation @ rotation.T, np.eye(3))
    assert np.isclose(np.linalg.det(rotation), 1)
    expected = flat.mesh.vertices @ rotation.T + posed.transform[:3, 3]
    assert np.allclose(posed.mesh.vertices, expected)
    assert np.array_equal(posed.labels, flat.labels)
    for fdi, centroid in flat.centroids.items():
        assert np.allclose(rotation @ centroid + posed.transform[:3, 3], posed.centroids[fdi])


@pytest.mark.parametrize("target", [10_000, 40_000])
def test_vertex_count_follows_the_target(target: int) -> None:
    arch = synth_arch(2, target_vertices=target)
    assert 0.7 * target <= arch.mesh.vertices.shape[0] <= 1.3 * target


@pytest.mark.parametrize("holes", [0, 1, 3])
def test_one_connected_sheet_with_a_border_loop_per_hole(holes: int) -> None:
    arch = synth_arch(4, target_vertices=SMALL, holes=holes)
    assert _components(arch) == 1
    assert _boundary_loops(arch.mesh.faces, arch.mesh.vertices.shape[0]) == 1 + holes
    assert arch.mesh.faces.max() < arch.mesh.vertices.shape[0]
    assert len(np.unique(arch.mesh.faces)) == arch.mesh.vertices.shape[0]  # no loose vertices
    faces = arch.mesh.faces
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), 1)
    assert np.unique(edges, axis=0, return_counts=True)[1].max() == 2  # edge-manifold
    # Normals point out of the tissue: towards the crowns' side (+z upper, -z lower).
    v = arch.canonical_vertices()[faces]
    normals = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    assert normals[:, 2].sum() < 0  # a lower jaw (the default) faces -z


def test_noise_moves_vertices_by_about_its_sigma() -> None:
    clean = synth_arch(9, target_vertices=SMALL, pose=False, noise_mm=0.0)
    noisy = synth_arch(9, target_vertices=SMALL, pose=False, noise_mm=0.05)
    offset = noisy.mesh.vertices - clean.mesh.vertices
    assert 0.03 < float(offset.std()) < 0.07


def test_third_molars_are_optional() -> None:
    arch = synth_arch(1, jaw="upper", target_vertices=SMALL, third_molars=True)
    assert {18, 28} <= set(arch.teeth)
    assert len(arch.teeth) == 16


def test_molars_are_larger_than_incisors() -> None:
    arch = synth_arch(12, jaw="lower", target_vertices=SMALL, pose=False)
    v = arch.mesh.vertices

    def spread(fdi: int) -> float:
        points = v[arch.labels == fdi, :2]
        return float(np.linalg.norm(points - points.mean(0), axis=1).max())

    assert spread(46) > 1.5 * spread(41)
    width = abs(arch.centroids[47][0] - arch.centroids[37][0])
    assert 40.0 < width < 60.0


def test_pair_shares_one_pose_and_is_in_occlusion() -> None:
    upper, lower = synth_pair(13, target_vertices=SMALL)
    shared = upper.transform @ np.linalg.inv(lower.transform)
    assert np.allclose(shared[:3, :3], np.eye(3))
    flat_upper, flat_lower = synth_pair(13, target_vertices=SMALL, pose=False)
    # Canonical frame: z inferior, the upper arch above (smaller z), crowns facing each other.
    assert flat_upper.mesh.vertices[:, 2].mean() < flat_lower.mesh.vertices[:, 2].mean()
    upper_tips = flat_upper.mesh.vertices[flat_upper.labels > 0, 2].max()
    lower_tips = flat_lower.mesh.vertices[flat_lower.labels > 0, 2].min()
    assert 0.0 < upper_tips - lower_tips < 4.0  # the incisors' overbite
    assert (upper.jaw, lower.jaw) == ("upper", "lower")


def test_invalid_arguments_raise() -> None:
    with pytest.raises(ValueError, match="missing"):
        synth_arch(1, jaw="lower", missing=(11,))
    with pytest.raises(ValueError, match="target_vertices"):
        synth_arch(1, target_vertices=10)
    with pytest.raises(ValueError, match="crowding"):
        synth_arch(1, crowding=2.0)
    with pytest.raises(ValueError, match="jaw"):
        synth_arch(1, jaw="middle")  # type: ignore[arg-type]  # the error path under test
    with pytest.raises(ValueError, match="palate"):
        synth_arch(1, jaw="lower", palate=True)
    with pytest.raises(ValueError, match="span"):
        synth_arch(1, jaw="lower", span=(11, 34))


def test_write_synth_writes_readable_meshes_and_labels(tmp_path: Path) -> None:
    written = write_synth(tmp_path, 1, 3, target_vertices=SMALL)
    names = sorted(p.name for p in written)
    assert names == ["000_lower.json", "000_lower.ply", "000_upper.json", "000_upper.ply"]
    for jaw in ("upper", "lower"):
        mesh = read_mesh(tmp_path / f"000_{jaw}.ply")
        result = read_labels(tmp_path / f"000_{jaw}.json")
        assert result.jaw == jaw
        assert result.labels.shape == (mesh.vertices.shape[0],)
        data = json.loads((tmp_path / f"000_{jaw}.json").read_text())
        assert set(data) == {"jaw", "labels", "instances"}
    again = tmp_path / "again"
    write_synth(again, 1, 3, target_vertices=SMALL)
    assert (again / "000_upper.ply").read_bytes() == (tmp_path / "000_upper.ply").read_bytes()


def test_a_palate_fills_the_inside_of_an_upper_arch() -> None:
    plain = synth_arch(4, jaw="upper", target_vertices=SMALL)
    vault = synth_arch(4, jaw="upper", target_vertices=SMALL, palate=True)
    assert _components(vault) == 1
    assert _boundary_loops(vault.mesh.faces, len(vault.labels)) == 1
    assert vault.teeth == plain.teeth
    inner = _canonical(vault)
    outer = _canonical(plain)
    # The palatal side reaches the midline behind the incisors, far below the crowns.
    behind = (np.abs(inner[:, 0]) < 3.0) & (inner[:, 1] < -20.0)
    assert behind.any()
    assert not ((np.abs(outer[:, 0]) < 3.0) & (outer[:, 1] < -20.0)).any()
    assert np.all(inner[behind, 2] < -6.0)


@pytest.mark.parametrize(("jaw", "span"), [("upper", (17, 24)), ("lower", (33, 43))])
def test_a_span_makes_a_partial_arch(jaw: str, span: tuple[int, int]) -> None:
    arch = synth_arch(4, jaw=jaw, span=span, target_vertices=SMALL)  # type: ignore[arg-type]
    first = {"upper": [17, 16, 15, 14, 13, 12, 11, 21, 22, 23, 24]}
    expected = first[jaw] if jaw == "upper" else [43, 42, 41, 31, 32, 33]
    assert sorted(arch.teeth) == sorted(expected)
    assert _components(arch) == 1
    full = synth_arch(4, jaw=jaw, target_vertices=SMALL)  # type: ignore[arg-type]
    assert np.ptp(_canonical(arch)[:, 0]) < np.ptp(_canonical(full)[:, 0])
